//! Loss terms shared by the methods (all differentiable candle expressions).

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::ops::{log_softmax, softmax};
use unlearn_metrics::{retain_basis, KRule, RetainBasis};
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

/// `Σ_θ ‖θ‖₁` over the trainable parameters of `model` (ℓ1-sparse unlearning), in the
/// parameters' dtype.
///
/// The sum is accumulated in f64: a float32 sum over ResNet-18's 11 M weights was off by
/// about 1e-3 relative (the loss that the trace reports parted from PyTorch's
/// `torch.linalg.norm(…, ord=1)` by 2.5e-3 in the parity case). The gradient, `sign(θ)`, is
/// the same bits either way.
pub fn l1_norm(model: &Model) -> candle_core::Result<Tensor> {
    let mut total: Option<Tensor> = None;
    let mut dtype = DType::F32;
    for (_, var) in model.store().parameters() {
        dtype = var.dtype();
        let s = var.as_tensor().abs()?.to_dtype(DType::F64)?.sum_all()?;
        total = Some(match total {
            None => s,
            Some(t) => (t + s)?,
        });
    }
    match total {
        Some(t) => t.to_dtype(dtype),
        None => Tensor::new(0f32, model.device())?.to_dtype(dtype),
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

/// `DA_batch` of the centred form: `ẑ = (z − μ) / ‖z − μ‖`, then `(1/n) Σ ‖V_kᵀ ẑ‖²` as in
/// [`da_batch`]; `mean` (μ, shape `d` or `1 × d`) and `v_k` are constants.
pub fn da_batch_centred(
    features: &Tensor,
    mean: &Tensor,
    v_k: &Tensor,
) -> candle_core::Result<Tensor> {
    da_batch(&features.broadcast_sub(&mean.detach())?, v_k)
}

/// `DA_batch` of the per-class form: `(1/n) Σ_i ‖V_{y_i}ᵀ ẑ_i‖²` with `ẑ_i = z_i / ‖z_i‖`, where
/// `V_{y_i}` is `class_bases[y_i]` (d × k_c, orthonormal columns) when that is present and
/// `global` otherwise (no entry, or a label beyond `class_bases`). Differentiable in
/// `features`; the bases are constants.
pub fn da_batch_per_class(
    features: &Tensor,
    labels: &[u32],
    class_bases: &[Option<Tensor>],
    global: &Tensor,
) -> candle_core::Result<Tensor> {
    let n = features.dim(0)?;
    if labels.len() != n {
        candle_core::bail!(
            "da_batch_per_class: {} labels for {n} features",
            labels.len()
        );
    }
    let norm = (features.sqr()?.sum_keepdim(D::Minus1)? + 1e-12)?.sqrt()?;
    let z = features.broadcast_div(&norm)?;
    // Rows grouped by the subspace they are scored against (`None`: the global one).
    let mut groups: std::collections::BTreeMap<Option<usize>, Vec<u32>> = Default::default();
    for (row, &y) in labels.iter().enumerate() {
        let c = y as usize;
        let key = matches!(class_bases.get(c), Some(Some(_))).then_some(c);
        groups.entry(key).or_default().push(row as u32);
    }
    let mut total: Option<Tensor> = None;
    for (key, rows) in groups {
        let v = match key {
            Some(c) => class_bases[c].as_ref().unwrap_or(global),
            None => global,
        };
        let len = rows.len();
        let idx = Tensor::from_vec(rows, len, features.device())?;
        let s = z
            .index_select(&idx, 0)?
            .matmul(&v.detach())?
            .sqr()?
            .sum_all()?;
        total = Some(match total {
            None => s,
            Some(t) => (t + s)?,
        });
    }
    match total {
        Some(t) => t / n as f64,
        None => Tensor::new(f32::NAN, features.device()),
    }
}

/// The mean row μ of `features` (row-major `n × d`, accumulated in f64) and the rows minus
/// it: the centred DA form's reference (its basis is that of the rows minus μ).
pub fn centre_rows(features: &[f32], n: usize, d: usize) -> (Vec<f32>, Vec<f32>) {
    let mut sum = vec![0f64; d];
    for row in features.chunks_exact(d.max(1)).take(n) {
        for (s, &x) in sum.iter_mut().zip(row) {
            *s += f64::from(x);
        }
    }
    let mean: Vec<f32> = sum.iter().map(|s| (s / n.max(1) as f64) as f32).collect();
    let centred = features
        .chunks_exact(d.max(1))
        .take(n)
        .flat_map(|row| row.iter().zip(&mean).map(|(x, m)| x - m))
        .collect();
    (mean, centred)
}

/// One retain subspace per class `0..classes` for the per-class DA form, from the rows of
/// `features` (row-major, `labels.len() × d`) with that label: the basis of
/// [`unlearn_metrics::retain_basis`] under `rule` (`classes` for [`KRule::Classes`]), its
/// `k` capped by the class's sample count. `None` for a class with fewer than 2 rows (such
/// samples are scored against the global subspace).
pub fn class_bases(
    features: &[f32],
    labels: &[u32],
    d: usize,
    rule: KRule,
    classes: usize,
    seed: u64,
) -> unlearn_metrics::Result<Vec<Option<RetainBasis>>> {
    (0..classes)
        .map(|c| {
            let rows: Vec<f32> = features
                .chunks_exact(d.max(1))
                .zip(labels)
                .filter(|(_, &y)| y as usize == c)
                .flat_map(|(row, _)| row.iter().copied())
                .collect();
            let n = rows.len() / d.max(1);
            if n < 2 {
                return Ok(None);
            }
            let basis = retain_basis(&rows, n, d, rule, classes, n, seed)?;
            Ok(Some(leading_columns(basis, n)))
        })
        .collect()
}

/// `basis` with at most `j` columns (the leading ones).
fn leading_columns(basis: RetainBasis, j: usize) -> RetainBasis {
    if basis.k <= j {
        return basis;
    }
    let v_k = basis
        .v_k
        .chunks_exact(basis.k)
        .flat_map(|row| row[..j].iter().copied())
        .collect();
    RetainBasis { k: j, v_k, ..basis }
}
