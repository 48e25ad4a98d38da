//! Output-space quantities: accuracies, softmax and the per-sample MIA features.
//!
//! Probabilities are computed in `f64` from the `f32` logits (max-subtracted
//! softmax). Logarithms clamp their argument to `[1e-30, 1]` (the clamp used by
//! the SalUn / Unlearn-Sparse code for `log p`), so a probability that
//! underflowed to 0 contributes `log 1e-30 ≈ −69.08` instead of `−∞`.

use crate::error::{MetricsError, Result};
use crate::matrix::{argmax, Matrix};

/// Lower clamp applied before every logarithm.
pub const LOG_CLAMP: f64 = 1e-30;

fn clamped_ln(p: f64) -> f64 {
    p.clamp(LOG_CLAMP, 1.0).ln()
}

/// Percentage of the rows whose `argmax` is the class `expected(label)`, over the rows
/// where it is `Some`; `None` when there are none.
fn hit_rate(
    logits: &Matrix<f32>,
    labels: &[u32],
    expected: impl Fn(u32) -> Option<usize>,
) -> Option<f64> {
    let mut total = 0usize;
    let mut hit = 0usize;
    for (r, &y) in logits.iter_rows().zip(labels) {
        let Some(class) = expected(y) else {
            continue;
        };
        total += 1;
        if argmax(r) == class {
            hit += 1;
        }
    }
    (total > 0).then(|| 100.0 * hit as f64 / total as f64)
}

/// Accuracy in percent of `argmax(logits)` against `labels`, over the rows
/// selected by `keep` (all rows when `None`). Returns `None` for an empty selection.
pub fn accuracy(
    logits: &Matrix<f32>,
    labels: &[u32],
    keep: Option<&dyn Fn(u32) -> bool>,
) -> Option<f64> {
    hit_rate(logits, labels, |y| {
        keep.is_none_or(|k| k(y)).then_some(y as usize)
    })
}

/// Attack success rate of a backdoor, in percent: the share of triggered images whose true
/// class is not `target` that the model assigns to `target` (`None` when there are none).
/// The one ASR of the toolkit: `unlearn metrics`, `unlearn eval` and the pipeline use it.
pub fn attack_success_rate(logits: &Matrix<f32>, labels: &[u32], target: u32) -> Option<f64> {
    hit_rate(logits, labels, |y| (y != target).then_some(target as usize))
}

/// Row-wise softmax in `f64`, row-major `n × classes`.
pub fn softmax(logits: &Matrix<f32>) -> Vec<f64> {
    let mut out = Vec::with_capacity(logits.data().len());
    for r in logits.iter_rows() {
        let m = r
            .iter()
            .fold(f64::NEG_INFINITY, |a, &b| a.max(f64::from(b)));
        let start = out.len();
        let mut s = 0.0;
        for &v in r {
            let e = (f64::from(v) - m).exp();
            s += e;
            out.push(e);
        }
        for v in &mut out[start..] {
            *v /= s;
        }
    }
    out
}

/// The per-sample MIA feature families of the SalUn protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MiaVariant {
    /// 1 when `argmax == label`, else 0 (used without an SVC for efficacy).
    Correctness,
    /// Softmax probability of the true class, `p_y`.
    Confidence,
    /// Shannon entropy `−Σ p_i log p_i`.
    Entropy,
    /// Modified entropy (Song & Mittal 2021):
    /// `−(1−p_y) log p_y − Σ_{i≠y} p_i log(1−p_i)`.
    MEntropy,
    /// The full softmax vector.
    Prob,
}

impl MiaVariant {
    /// All variants in report order.
    pub const ALL: [MiaVariant; 5] = [
        MiaVariant::Correctness,
        MiaVariant::Confidence,
        MiaVariant::Entropy,
        MiaVariant::MEntropy,
        MiaVariant::Prob,
    ];

    /// The report key (`correctness`, `confidence`, `entropy`, `m_entropy`, `prob`).
    pub fn name(self) -> &'static str {
        match self {
            MiaVariant::Correctness => "correctness",
            MiaVariant::Confidence => "confidence",
            MiaVariant::Entropy => "entropy",
            MiaVariant::MEntropy => "m_entropy",
            MiaVariant::Prob => "prob",
        }
    }
}

/// Per-sample attack features: row-major `n × width` where width is 1, or
/// `classes` for [`MiaVariant::Prob`]. Returns `(data, width)`.
pub fn mia_features(
    logits: &Matrix<f32>,
    labels: &[u32],
    variant: MiaVariant,
) -> Result<(Vec<f64>, usize)> {
    if labels.len() != logits.rows() {
        return Err(MetricsError::LengthMismatch {
            what: "MIA labels vs logits rows".into(),
            expected: logits.rows(),
            found: labels.len(),
        });
    }
    let c = logits.cols();
    if let Some(i) = labels.iter().position(|&y| y as usize >= c) {
        return Err(MetricsError::LabelOutOfRange {
            array: "MIA labels".into(),
            index: i,
            label: i64::from(labels[i]),
            classes: c,
        });
    }
    let p = softmax(logits);
    let rows = p.chunks_exact(c.max(1)).zip(labels);
    let out = match variant {
        MiaVariant::Prob => return Ok((p, c)),
        MiaVariant::Correctness => logits
            .iter_rows()
            .zip(labels)
            .map(|(r, &y)| if argmax(r) == y as usize { 1.0 } else { 0.0 })
            .collect(),
        MiaVariant::Confidence => rows.map(|(r, &y)| r[y as usize]).collect(),
        MiaVariant::Entropy => rows.map(|(r, _)| entropy(r)).collect(),
        MiaVariant::MEntropy => rows.map(|(r, &y)| m_entropy(r, y as usize)).collect(),
    };
    Ok((out, 1))
}

/// Shannon entropy of one probability row, `−Σ p_i log max(p_i, 1e-30)`.
pub fn entropy(p: &[f64]) -> f64 {
    -p.iter().map(|&v| v * clamped_ln(v)).sum::<f64>()
}

/// Modified entropy of one probability row with true class `y`:
/// `−(1−p_y) log p_y − Σ_{i≠y} p_i log(1−p_i)`, logs clamped to `[1e-30, 1]`.
pub fn m_entropy(p: &[f64], y: usize) -> f64 {
    let mut s = 0.0;
    for (i, &v) in p.iter().enumerate() {
        if i == y {
            s -= (1.0 - v) * clamped_ln(v);
        } else {
            s -= v * clamped_ln(1.0 - v);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m_entropy_matches_hand_computation() {
        let p = [0.7, 0.2, 0.1];
        let want = -(0.3f64) * 0.7f64.ln() - 0.2 * 0.8f64.ln() - 0.1 * 0.9f64.ln();
        assert!((m_entropy(&p, 0) - want).abs() < 1e-15);
        // A confidently correct sample has m-entropy near 0; the buggy formula does not.
        assert!(m_entropy(&[1.0, 0.0], 0).abs() < 1e-12);
        assert!(m_entropy(&[0.0, 1.0], 0) > 60.0); // −log(1e-30) ≈ 69
    }

    #[test]
    fn accuracy_with_filter() {
        let m = Matrix::new(3, 2, vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0]).unwrap();
        assert_eq!(accuracy(&m, &[0, 1, 1], None), Some(100.0 * 2.0 / 3.0));
        let only1 = |y: u32| y == 1;
        assert_eq!(accuracy(&m, &[0, 1, 1], Some(&only1)), Some(50.0));
        let none = |_: u32| false;
        assert_eq!(accuracy(&m, &[0, 1, 1], Some(&none)), None);
    }
}
