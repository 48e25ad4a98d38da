//! Loss terms shared by the methods (all differentiable candle expressions).

use std::collections::HashMap;

use candle_core::{Device, Tensor, D};
use candle_nn::ops::{log_softmax, softmax};
use unlearn_models::Model;

/// Mean cross-entropy of logits against u32 labels.
pub fn ce(logits: &Tensor, labels: &Tensor) -> candle_core::Result<Tensor> {
    candle_nn::loss::cross_entropy(logits, labels)
}

/// Distillation loss `T² · KL(softmax(t/T) ‖ softmax(s/T))`, mean over the batch
/// (Hinton et al.; the `DistillKL` of SCRUB and of MUDA's recover stage).
/// `teacher` is treated as a constant.
pub fn distill_kl(student: &Tensor, teacher: &Tensor, t: f64) -> candle_core::Result<Tensor> {
    let n = student.dim(0)? as f64;
    let log_ps = log_softmax(&(student / t)?, D::Minus1)?;
    let teacher = (teacher.detach() / t)?;
    let pt = softmax(&teacher, D::Minus1)?;
    let log_pt = log_softmax(&teacher, D::Minus1)?;
    let kl = (pt * (log_pt - log_ps)?)?.sum_all()?;
    kl * (t * t / n)
}

/// `Σ_θ ‖θ‖₁` over the trainable parameters of `model` (ℓ1-sparse unlearning).
pub fn l1_norm(model: &Model) -> candle_core::Result<Tensor> {
    let mut total: Option<Tensor> = None;
    for (_, var) in model.store().parameters() {
        let s = var.as_tensor().abs()?.sum_all()?;
        total = Some(match total {
            None => s,
            Some(t) => (t + s)?,
        });
    }
    match total {
        Some(t) => Ok(t),
        None => Tensor::new(0f32, model.device()),
    }
}

/// `DA_batch = (1/n) Σ ‖V_kᵀ ẑ‖²` with `ẑ = z / ‖z‖` (spec §3.2), differentiable in `z`;
/// `v_k` (d × k, orthonormal columns) is a constant.
pub fn da_batch(features: &Tensor, v_k: &Tensor) -> candle_core::Result<Tensor> {
    let norm = (features.sqr()?.sum_keepdim(D::Minus1)? + 1e-12)?.sqrt()?;
    let z = features.broadcast_div(&norm)?;
    let proj = z.matmul(&v_k.detach())?;
    proj.sqr()?.sum(D::Minus1)?.mean_all()
}

/// The labels of `indices`, taken from `map` where present and from `fallback` otherwise.
pub fn relabel(
    indices: &[u32],
    map: &HashMap<u32, u32>,
    fallback: &[u32],
    device: &Device,
) -> candle_core::Result<Tensor> {
    let labels: Vec<u32> = indices
        .iter()
        .map(|i| {
            map.get(i)
                .copied()
                .unwrap_or_else(|| fallback.get(*i as usize).copied().unwrap_or(0))
        })
        .collect();
    Tensor::from_vec(labels, indices.len(), device)
}
