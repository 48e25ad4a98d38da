//! The crate's only door to dense linear algebra.
//!
//! Products go through `gemm` (cache-blocked, SIMD, multithreaded through rayon);
//! the symmetric eigendecomposition goes through `nalgebra`. Every matrix here is
//! a row-major `f64` slice, so callers never see either library's types.

use crate::error::{MetricsError, Result};

fn check_len(what: &str, data: &[f64], rows: usize, cols: usize) -> Result<()> {
    if data.len() != rows * cols {
        return Err(MetricsError::LengthMismatch {
            what: what.to_string(),
            expected: rows * cols,
            found: data.len(),
        });
    }
    Ok(())
}

fn parallelism(flops: usize) -> gemm::Parallelism {
    // Below a few MFLOP the thread hand-off costs more than it saves.
    if flops < 1 << 22 {
        gemm::Parallelism::None
    } else {
        gemm::Parallelism::Rayon(0)
    }
}

/// `Zᵀ Z` for a row-major `n × d` matrix `z`; returns the row-major `d × d` result.
pub fn gram(z: &[f64], n: usize, d: usize) -> Result<Vec<f64>> {
    check_len("gram input", z, n, d)?;
    let mut out = vec![0.0f64; d * d];
    if n == 0 || d == 0 {
        return Ok(out);
    }
    // SAFETY: all pointers are valid for the strides and extents given:
    // lhs = Zᵀ (d × n) read from `z` with row stride 1 and column stride d,
    // rhs = Z (n × d) with row stride d and column stride 1,
    // dst is a fresh d × d row-major buffer.
    unsafe {
        gemm::gemm(
            d,
            d,
            n,
            out.as_mut_ptr(),
            1,
            d as isize,
            false,
            z.as_ptr(),
            d as isize,
            1,
            z.as_ptr(),
            1,
            d as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism(n * d * d),
        );
    }
    // Symmetrise exactly (the product is symmetric up to rounding order).
    for i in 0..d {
        for j in (i + 1)..d {
            let v = 0.5 * (out[i * d + j] + out[j * d + i]);
            out[i * d + j] = v;
            out[j * d + i] = v;
        }
    }
    Ok(out)
}

/// `A B` for row-major `a` (`m × k`) and `b` (`k × n`); returns row-major `m × n`.
pub fn matmul(a: &[f64], m: usize, k: usize, b: &[f64], n: usize) -> Result<Vec<f64>> {
    check_len("matmul lhs", a, m, k)?;
    check_len("matmul rhs", b, k, n)?;
    let mut out = vec![0.0f64; m * n];
    if m == 0 || n == 0 || k == 0 {
        return Ok(out);
    }
    // SAFETY: row-major operands with the strides below, extents checked above.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism(m * n * k),
        );
    }
    Ok(out)
}

/// `A Bᵀ` for row-major `a` (`m × k`) and `b` (`n × k`); returns row-major `m × n`.
pub fn matmul_bt(a: &[f64], m: usize, k: usize, b: &[f64], n: usize) -> Result<Vec<f64>> {
    check_len("matmul_bt lhs", a, m, k)?;
    check_len("matmul_bt rhs", b, n, k)?;
    let mut out = vec![0.0f64; m * n];
    if m == 0 || n == 0 || k == 0 {
        return Ok(out);
    }
    // SAFETY: rhs = Bᵀ (k × n) read from row-major `b` with row stride 1, column stride k.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            k as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism(m * n * k),
        );
    }
    Ok(out)
}

/// Eigendecomposition of a symmetric row-major `d × d` matrix.
///
/// Returns `(values, vectors)` with eigenvalues in descending order and
/// `vectors` row-major `d × d` whose column `j` is the unit eigenvector of
/// `values[j]`. Each eigenvector's sign is fixed so that its entry of largest
/// magnitude is positive (eigenvectors are only defined up to sign; the metrics
/// built on them are sign-invariant).
pub fn symmetric_eigen_desc(m: &[f64], d: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    check_len("symmetric eigendecomposition input", m, d, d)?;
    if let Some(i) = m.iter().position(|v| !v.is_finite()) {
        return Err(MetricsError::NonFinite {
            array: "symmetric matrix".into(),
            index: i,
        });
    }
    if d == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let mat = nalgebra::DMatrix::from_row_slice(d, d, m);
    let eig = nalgebra::SymmetricEigen::try_new(mat, f64::EPSILON, 0).ok_or_else(|| {
        MetricsError::Numerical {
            what: "symmetric eigendecomposition".into(),
            reason: "QR iterations did not converge".into(),
        }
    })?;
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let values: Vec<f64> = order.iter().map(|&i| eig.eigenvalues[i]).collect();
    let mut vectors = vec![0.0f64; d * d];
    for (jn, &jo) in order.iter().enumerate() {
        let col = eig.eigenvectors.column(jo);
        let mut best = 0.0f64;
        for v in col.iter() {
            if v.abs() > best.abs() {
                best = *v;
            }
        }
        let sign = if best < 0.0 { -1.0 } else { 1.0 };
        for i in 0..d {
            vectors[i * d + jn] = sign * col[i];
        }
    }
    Ok((values, vectors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gram_and_matmul_agree_with_naive() {
        let (n, d) = (7, 3);
        let z: Vec<f64> = (0..n * d).map(|i| ((i * 37) % 11) as f64 - 5.0).collect();
        let g = gram(&z, n, d).unwrap();
        for i in 0..d {
            for j in 0..d {
                let want: f64 = (0..n).map(|r| z[r * d + i] * z[r * d + j]).sum();
                assert!((g[i * d + j] - want).abs() < 1e-12);
            }
        }
        let b: Vec<f64> = (0..d * 2).map(|i| i as f64).collect();
        let p = matmul(&z, n, d, &b, 2).unwrap();
        let bt: Vec<f64> = vec![b[0], b[2], b[4], b[1], b[3], b[5]];
        let q = matmul_bt(&z, n, d, &bt, 2).unwrap();
        for r in 0..n {
            for c in 0..2 {
                let want: f64 = (0..d).map(|t| z[r * d + t] * b[t * 2 + c]).sum();
                assert!((p[r * 2 + c] - want).abs() < 1e-12);
                assert!((q[r * 2 + c] - want).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn eigen_descending() {
        // diag(1, 3, 2) rotated trivially.
        let m = vec![1.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 2.0];
        let (vals, vecs) = symmetric_eigen_desc(&m, 3).unwrap();
        assert_eq!(vals, vec![3.0, 2.0, 1.0]);
        assert!((vecs[3] - 1.0).abs() < 1e-12); // column 0 is e_1
        assert!(symmetric_eigen_desc(&[1.0, f64::NAN, 0.0, 1.0], 2).is_err());
    }
}
