//! Fast CPU kernels for the training step, as candle custom ops with their own backward.
//!
//! The layers call the functions of this module; each one takes the fast path for
//! contiguous-or-not `f32` tensors on the CPU and falls back to candle's own ops otherwise
//! (CUDA, other dtypes, or for a model whose [`Kernels`] choice is `Reference`), so candle's tensor API stays the
//! surface and the fast path is an implementation detail.
//!
//! - [`conv2d`]: convolution (+ bias) via im2col / col2im and the `gemm` crate, forward and
//!   backward (input, weight and bias gradients in one pass over the batch).
//! - [`conv2d_relu_max_pool2d`]: convolution + bias + ReLU + max-pool as one op (the small
//!   CNN's blocks): the full-resolution activation never becomes a tensor.
//! - [`relu_max_pool2d`]: ReLU fused with a non-overlapping max-pool (they commute).
//! - [`max_pool2d`]: the portable non-overlapping max-pool the fused ops fall back to off
//!   the CPU (PyTorch's gradient; candle 0.11's own `max_pool2d` backward scales it by 1/k²).
//! - [`batch_norm_train`] / [`batch_norm_eval`]: BatchNorm as one pass each way; the
//!   `_act` variants fuse a residual add and a ReLU ([`BnAct`]) into the same op.
//!
//! 3 × 3 stride-1 convolutions with at least 16 input channels (ResNet's) run as Winograd
//! F(2×2, 3×3) (`winograd.rs`); the others, and the fused convolution + pool, as im2col.
//!
//! # Determinism
//! Work is split into groups of images whose size depends only on the tensor shapes,
//! never on the thread count, and each group runs single-threaded `gemm`. Reductions over
//! the batch (weight and bias gradients, BatchNorm statistics) sum per-group partial
//! results in group order, so every output element has a fixed summation order: the same
//! inputs give the same bytes whatever the number of threads or their scheduling.

/// Defines `$name`, which runs `$imp` compiled for AVX2 when the CPU has it and as is
/// otherwise: the same operations either way (IEEE adds, subtractions and products, no
/// fused multiply-adds, no reassociation), so the same bits.
macro_rules! avx2_dispatch {
    ($name:ident => $imp:ident ( $($arg:ident : $ty:ty),* )) => {
        avx2_dispatch!($name => $imp ( $($arg : $ty),* ) -> ());
    };
    ($name:ident => $imp:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty) => {
        fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) -> $ret {
                    $imp($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2 (checked just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            $imp($($arg),*)
        }
    };
}

mod bn;
mod conv;
mod dense;
mod pool;
mod winograd;

use candle_core::{CpuStorage, DType, Device, Layout, Storage, Tensor};

pub use bn::{batch_norm_eval, batch_norm_eval_act, batch_norm_train, batch_norm_train_act, BnAct};
pub use conv::{conv2d, conv2d_relu_max_pool2d};
pub use pool::{max_pool2d, max_pool2d_padded, relu_max_pool2d};

/// Which implementation a model's layers run. An explicit choice that each model holds
/// ([`crate::ParamStore::kernels`]), never a process-wide switch: two models in one process
/// may differ, and no call elsewhere changes a model's numerics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Kernels {
    /// This module's kernels on CPU `f32` tensors (candle's ops elsewhere).
    #[default]
    Fast,
    /// candle's reference ops everywhere (for benchmarks and cross-checks).
    Reference,
}

impl Kernels {
    /// The choice of a model built without one: [`Kernels::Fast`], unless the environment
    /// variable `UNLEARN_KERNELS` is `off` or `0` (read when the model is built).
    pub fn from_env() -> Self {
        match std::env::var("UNLEARN_KERNELS") {
            Ok(v) if matches!(v.trim(), "off" | "0") => Kernels::Reference,
            _ => Kernels::Fast,
        }
    }
}

/// Whether the fast path applies to these tensors: `kernels` is [`Kernels::Fast`], all on
/// the CPU, all `f32`.
fn applies(kernels: Kernels, ts: &[&Tensor]) -> bool {
    kernels == Kernels::Fast
        && ts
            .iter()
            .all(|t| matches!(t.device(), Device::Cpu) && t.dtype() == DType::F32)
}

fn msg(s: impl Into<String>) -> candle_core::Error {
    candle_core::Error::Msg(s.into())
}

/// The contiguous `f32` data of a CPU storage under `layout`.
fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => Err(msg("fast kernel: non-contiguous input")),
    }
}

/// Runs `f` on the contiguous `f32` data of a CPU tensor (copying it first when strided).
fn with_data<R>(
    t: &Tensor,
    f: impl FnOnce(&[f32]) -> candle_core::Result<R>,
) -> candle_core::Result<R> {
    let t = if t.is_contiguous() {
        t.clone()
    } else {
        t.contiguous()?
    };
    let (s, l) = t.storage_and_layout();
    match &*s {
        Storage::Cpu(cs) => f(slice(cs, l)?),
        _ => Err(msg("fast kernel: tensor not on the CPU")),
    }
}

/// A CPU `f32` tensor from a vector.
fn tensor(v: Vec<f32>, shape: &[usize]) -> candle_core::Result<Tensor> {
    Tensor::from_vec(v, shape, &Device::Cpu)
}

/// Groups of consecutive images: `(images per group, number of groups)`. A function of the
/// shapes only (see the module docs on determinism): at most 4 groups (fewer, larger GEMMs
/// pack their operands fewer times), and at most `max_cols` im2col columns per group
/// unless one image alone is wider.
fn groups(n: usize, cols_per_image: usize, max_cols: usize) -> (usize, usize) {
    let n = n.max(1);
    let mut per = n.div_ceil(n.min(4));
    let cap = (max_cols / cols_per_image.max(1)).max(1);
    per = per.min(cap);
    (per, n.div_ceil(per))
}
