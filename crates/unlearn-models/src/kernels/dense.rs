//! The dense primitives both convolution paths build on (im2col in `conv.rs`, Winograd in
//! `winograd.rs`): a strided single-threaded GEMM and a fixed-order sum. Kept apart so that
//! neither convolution module depends on the other for them.

use gemm::{gemm, Parallelism};

/// `dst[m×n] (=|+=) lhs · rhs` with explicit row/column strides, single-threaded.
#[allow(clippy::too_many_arguments)]
pub(super) fn mm(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
) {
    debug_assert!(m == 0 || n == 0 || dst.len() >= (m - 1) * dst_rs + n);
    debug_assert!(m == 0 || k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    debug_assert!(k == 0 || n == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    // SAFETY: the slices cover every index the strides reach (asserted above in debug
    // builds, guaranteed by the callers' shape arithmetic), and `dst` does not alias.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        )
    }
}

/// Sum in a fixed order: eight `f32` lanes over blocks of 256, blocks added in `f64`.
pub(super) fn sum(v: &[f32]) -> f64 {
    v.chunks(256)
        .map(|b| {
            let mut lanes = [0f32; 8];
            let mut it = b.chunks_exact(8);
            for c in &mut it {
                for (l, x) in lanes.iter_mut().zip(c) {
                    *l += *x;
                }
            }
            let tail: f32 = it.remainder().iter().sum();
            lanes.iter().map(|l| *l as f64).sum::<f64>() + tail as f64
        })
        .sum()
}
