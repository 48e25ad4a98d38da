//! MIA-efficacy: the SVC membership-inference attack of SalUn / Unlearn-Sparse.
//!
//! Shadow members = the first `n` retain rows (label 1), shadow non-members = the
//! first `n` test rows (label 0), `n = min(|retain|, |test|, mia_max)`. An RBF SVC
//! (`C = 3`, `γ = 1/n_features`) is fit per feature variant; efficacy is the
//! percentage of forget samples predicted non-member. The `correctness` variant
//! uses no SVC: its efficacy is the percentage of forget samples misclassified.

use serde::{Deserialize, Serialize};

use crate::error::{MetricsError, Result};
use crate::features_file::SplitData;
use crate::output::{mia_features, MiaVariant};
use crate::svm::{Svc, SvcParams};

/// MIA-efficacy per variant, in percent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MiaReport {
    /// Share of forget samples misclassified (no SVC).
    pub correctness: f64,
    /// SVC on the true-class probability (the variant papers call "MIA").
    pub confidence: f64,
    /// SVC on the prediction entropy.
    pub entropy: f64,
    /// SVC on the modified entropy (correct formula).
    pub m_entropy: f64,
    /// SVC on the full softmax vector.
    pub prob: f64,
}

/// Efficacy (percent of `forget` predicted non-member) of one SVC variant.
///
/// `correctness` is handled without an SVC (percent misclassified).
pub fn mia_efficacy(
    retain: &SplitData,
    test: &SplitData,
    forget: &SplitData,
    variant: MiaVariant,
    mia_max: usize,
    params: &SvcParams,
) -> Result<f64> {
    if forget.is_empty() {
        return Err(MetricsError::TooFewSamples {
            what: "MIA forget set".into(),
            needed: 1,
            found: 0,
        });
    }
    if variant == MiaVariant::Correctness {
        let (f, _) = mia_features(&forget.logits, &forget.labels, variant)?;
        let wrong = f.iter().filter(|&&v| v == 0.0).count();
        return Ok(100.0 * wrong as f64 / f.len() as f64);
    }
    let n = retain.len().min(test.len()).min(mia_max);
    if n == 0 {
        return Err(MetricsError::TooFewSamples {
            what: "MIA shadow members / non-members".into(),
            needed: 1,
            found: 0,
        });
    }
    let (mem, w) = mia_features(&retain.logits.head(n), &retain.labels[..n], variant)?;
    let (non, _) = mia_features(&test.logits.head(n), &test.labels[..n], variant)?;
    let mut x = mem;
    x.extend_from_slice(&non);
    let y: Vec<bool> = (0..2 * n).map(|i| i < n).collect();
    let svc = Svc::fit(&x, 2 * n, w, &y, params)?;
    let (f, _) = mia_features(&forget.logits, &forget.labels, variant)?;
    let pred = svc.predict(&f)?;
    let non_member = pred.iter().filter(|&&m| !m).count();
    Ok(100.0 * non_member as f64 / pred.len() as f64)
}

/// All five variants with the protocol's SVC (`C = 3`, `γ = 'auto'`, tol `1e-3`).
pub fn mia_all(
    retain: &SplitData,
    test: &SplitData,
    forget: &SplitData,
    mia_max: usize,
) -> Result<MiaReport> {
    use rayon::prelude::*;
    let p = SvcParams::default();
    // The variants are independent SVCs (each single-threaded but for its kernel rows):
    // fitted side by side.
    let v = MiaVariant::ALL
        .par_iter()
        .map(|&variant| mia_efficacy(retain, test, forget, variant, mia_max, &p))
        .collect::<Result<Vec<f64>>>()?;
    Ok(MiaReport {
        correctness: v[0],
        confidence: v[1],
        entropy: v[2],
        m_entropy: v[3],
        prob: v[4],
    })
}
