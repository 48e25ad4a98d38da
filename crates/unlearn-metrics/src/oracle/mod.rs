//! Per-example kernels of an oracle-ensemble evaluation (`reproduce --oracles N`).
//!
//! An *oracle ensemble* is a set of K models retrained without the forget set; the
//! unlearning method under test is run M times (seeds). For every evaluated example the
//! kernels below compare the M method values with the K oracle values:
//!
//! * [`margin`] / [`margins`]: the true-class logit minus the logsumexp of the other
//!   logits, clipped to `±clip` ([`MarginParams`]).
//! * [`klom`] / [`klom_example`] (KLoM, as in EasyDUB): the KL divergence between the
//!   histogram of the method's margins and that of the oracle's margins, with P50 / P95
//!   summaries ([`KlomParams`]).
//! * [`lira_scores`] / [`lira_attack`] (a per-example likelihood-ratio attack in the
//!   spirit of U-LiRA): Gaussians fitted per example on half of the models, held-out
//!   margins scored with a log-likelihood ratio, and the ROC of method versus oracle
//!   scores ([`roc`], [`roc_report`]): AUC, TPR at low FPR and a Hanley–McNeil interval.
//! * [`permutation_test`]: the attack's null distribution over *models* (the M + K models
//!   relabelled at random, the attack rerun), giving a band `0.5 ± h` and a p-value that
//!   hold however correlated one model's scores are ([`PermutationParams`]).
//! * [`outside_energy`]: the energy of an L2-normalised feature row outside a retain
//!   subspace, `1 − ‖V_kᵀ z‖²`.
//! * [`example_values`] / [`ensemble_test`]: the whole per-example test of one method
//!   against an oracle ensemble, built from the kernels above. [`example_values`] turns one
//!   model's [`FeatureBundle`](crate::FeatureBundle) into its forget-set margins and
//!   outside energies ([`ExampleValues`]); [`ensemble_test`] stacks M method and K oracle
//!   models into `examples × models` matrices and runs [`klom`] and [`lira_attack`] on
//!   each statistic, giving an [`EnsembleTest`] of two [`PerExampleTest`]s with
//!   parameters [`EnsembleParams`] and a thinned curve ([`Roc::thin`], [`RocPoints`]).
//!
//! # Formalisation (this project's choices)
//!
//! * **Histogram range.** For each example the `bins` equal-width bins span `[lo, hi]`,
//!   the minimum and maximum of the *union* of its method and oracle values. When
//!   `lo == hi` the range is widened to `[lo − 0.5, hi + 0.5]`. Bin edges and the
//!   assignment of values to bins reproduce `numpy.histogram(x, bins, range=(lo, hi))`
//!   exactly (edges `lo + i·(hi − lo)/bins`, right-open bins except the last, which is
//!   closed).
//! * **Smoothing.** `eps` (default `1e-6`) is added to every bin count before
//!   normalising each histogram to sum 1, so no bin is empty.
//! * **KL direction.** KLoM is `KL(method ‖ oracle) = Σ_b p_b ln(p_b / q_b)` with `p`
//!   the unlearned (method) histogram and `q` the oracle histogram, in nats
//!   (`scipy.stats.entropy(p, q)`).
//! * **Percentiles.** `numpy.percentile`'s default linear interpolation.
//! * **Likelihood-ratio split.** Of M method models the first `⌊M/2⌋` (columns) fit the
//!   method Gaussian and the remaining `M − ⌊M/2⌋` are held out; likewise for the oracle.
//!   Variances are population variances (`ddof = 0`) floored at `min_var`.
//! * **ROC.** Held-out method scores are positives, held-out oracle scores negatives.
//!   The curve is `sklearn.metrics.roc_curve(..., drop_intermediate=False)`: one point
//!   per distinct score (descending), preceded by `(0, 0)` at threshold `+∞`. The AUC
//!   counts ties as one half (`roc_auc_score`); TPR at an FPR target is the largest TPR
//!   among curve points whose FPR is at most the target.
//! * **Energy basis.** In [`example_values`] each model's forget features are measured
//!   against that model's *own* retain subspace: `V_k` from
//!   [`retain_basis`](crate::retain_basis) of its retain features (`k` by
//!   [`EnsembleParams::k`], `classes` = the number of logit columns, at most
//!   [`EnsembleParams::max_reference`] rows subsampled with [`EnsembleParams::seed`]).
//! * **Degenerate examples.** An example whose value is the same under every model (e.g.
//!   an energy of exactly 1) is not an error: its histogram range widens to `±0.5` and
//!   its Gaussians' variances floor at `min_var`, so its KLoM is 0 and its scores tie.
//! * **ROC thinning** ([`Roc::thin`]): a curve of at most `max_points` points is kept as
//!   is; otherwise the first and last points are kept and, for each of the `max_points − 2`
//!   interior FPR values `j/(max_points − 1)`, the curve point with the largest TPR at FPR
//!   at most that value, without repeats. The thinned curve is a subsequence of the full
//!   one, so it stays monotone; its points lie on the full curve.
//!
//! An AUC near 0.5 and a KLoM near 0 mean the method's models are indistinguishable from
//! the oracle's on that example set.

use serde::{Deserialize, Serialize};

use crate::error::{MetricsError, Result};
use crate::matrix::Matrix;

mod energy;
mod ensemble;
mod klom;
mod lira;
mod permutation;

pub use energy::outside_energy;
pub use ensemble::{
    ensemble_test, example_values, EnsembleParams, EnsembleTest, ExampleValues, PerExampleTest,
    DEFAULT_ROC_POINTS,
};
pub use klom::{common_range, histogram, klom, klom_example, percentile, KlomParams, KlomReport};
pub use lira::{
    lira_attack, lira_scores, roc, roc_report, AttackReport, AucInterval, Gaussian, LiraParams,
    LiraScores, Roc, RocPoints, TprAtFpr,
};
pub use permutation::{
    attack_auc, model_permutations, null_band, permutation_aucs, permutation_test,
    permutation_test_of, PermutationParams, PermutationTest, DEFAULT_LEVEL, DEFAULT_PERMUTATIONS,
    MIN_PERMUTATIONS,
};

/// Default margin clip, `±100`.
pub const DEFAULT_CLIP: f64 = 100.0;
/// Default number of histogram bins for KLoM.
pub const DEFAULT_BINS: usize = 20;
/// Default per-bin smoothing for KLoM.
pub const DEFAULT_EPS: f64 = 1e-6;
/// Default variance floor of the per-example Gaussians.
pub const DEFAULT_MIN_VAR: f64 = 1e-6;
/// The FPR targets reported by default: 1% and 0.1%.
pub const DEFAULT_FPR_TARGETS: [f64; 2] = [0.01, 0.001];
/// The standard normal 97.5% quantile (`scipy.stats.norm.ppf(0.975)`), for 95% intervals.
pub const Z_975: f64 = 1.959_963_984_540_054;
/// Largest `max |V_kᵀ V_k − I|` accepted by [`outside_energy`] (room for `f32` bases).
pub const ORTHONORMAL_TOL: f64 = 1e-4;

fn invalid(name: &str, value: impl ToString, reason: &str) -> MetricsError {
    MetricsError::InvalidParameter {
        name: name.into(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn check_finite<T: Copy + Into<f64>>(array: &str, data: &[T]) -> Result<()> {
    match data.iter().position(|&v| !v.into().is_finite()) {
        Some(index) => Err(MetricsError::NonFinite {
            array: array.into(),
            index,
        }),
        None => Ok(()),
    }
}

fn check_models(what: &str, found: usize) -> Result<()> {
    if found < 2 {
        return Err(MetricsError::TooFewSamples {
            what: what.into(),
            needed: 2,
            found,
        });
    }
    Ok(())
}

/// Checks that the method and oracle matrices have the same examples (rows), at least
/// one example and at least two models (columns) each, and only finite values.
fn check_pair(method: &Matrix<f64>, oracle: &Matrix<f64>) -> Result<()> {
    if method.rows() != oracle.rows() {
        return Err(MetricsError::LengthMismatch {
            what: "examples (rows) of oracle vs method".into(),
            expected: method.rows(),
            found: oracle.rows(),
        });
    }
    if method.rows() == 0 {
        return Err(MetricsError::TooFewSamples {
            what: "examples (rows of method)".into(),
            needed: 1,
            found: 0,
        });
    }
    check_models("method models (columns of method)", method.cols())?;
    check_models("oracle models (columns of oracle)", oracle.cols())?;
    check_finite("method", method.data())?;
    check_finite("oracle", oracle.data())
}

// ----- Margins -----

/// Parameters of [`margin`] and [`margins`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarginParams {
    /// Margins are clipped to `[−clip, clip]` (default [`DEFAULT_CLIP`]); must be
    /// positive (`+∞` disables clipping).
    pub clip: f64,
}

impl Default for MarginParams {
    fn default() -> Self {
        Self { clip: DEFAULT_CLIP }
    }
}

impl MarginParams {
    /// Fails with [`MetricsError::InvalidParameter`] naming `clip` unless `clip > 0`.
    pub fn check(&self) -> Result<()> {
        if self.clip.is_nan() || self.clip <= 0.0 {
            return Err(invalid("clip", self.clip, "must be positive"));
        }
        Ok(())
    }
}

/// The margin of one logit row: `z_y − logsumexp_{j ≠ y} z_j`, clipped to `±clip`.
///
/// Computed in `f64` (from `f32` or `f64` logits). Needs at least two classes, a label
/// below the number of classes and finite logits.
pub fn margin<T: Copy + Into<f64>>(
    logits: &[T],
    label: usize,
    params: &MarginParams,
) -> Result<f64> {
    params.check()?;
    margin_checked(logits, label, params.clip, "logits", 0)
}

fn margin_checked<T: Copy + Into<f64>>(
    logits: &[T],
    label: usize,
    clip: f64,
    array: &str,
    row: usize,
) -> Result<f64> {
    if logits.len() < 2 {
        return Err(MetricsError::TooFewSamples {
            what: format!("classes (logit columns) of {array}"),
            needed: 2,
            found: logits.len(),
        });
    }
    if label >= logits.len() {
        return Err(MetricsError::LabelOutOfRange {
            array: array.into(),
            index: row,
            label: i64::try_from(label).unwrap_or(i64::MAX),
            classes: logits.len(),
        });
    }
    if let Some(j) = logits.iter().position(|&v| !v.into().is_finite()) {
        return Err(MetricsError::NonFinite {
            array: array.into(),
            index: row * logits.len() + j,
        });
    }
    // logsumexp of the others as scipy: max + log1p(Σ_{j ≠ argmax} exp(z_j − max)).
    let others = logits
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != label)
        .map(|(_, &v)| v.into());
    let (mut arg, mut max) = (usize::MAX, f64::NEG_INFINITY);
    for (j, v) in others.clone().enumerate() {
        if v > max {
            (arg, max) = (j, v);
        }
    }
    let rest: f64 = others
        .enumerate()
        .filter(|&(j, _)| j != arg)
        .map(|(_, v)| (v - max).exp())
        .sum();
    let lse = max + rest.ln_1p();
    Ok((logits[label].into() - lse).clamp(-clip, clip))
}

/// [`margin`] of every row of an `N × C` row-major logit matrix; `labels` has `N` entries.
pub fn margins<T: Copy + Into<f64>>(
    logits: &Matrix<T>,
    labels: &[u32],
    params: &MarginParams,
) -> Result<Vec<f64>> {
    params.check()?;
    if labels.len() != logits.rows() {
        return Err(MetricsError::LengthMismatch {
            what: "labels vs logits rows".into(),
            expected: logits.rows(),
            found: labels.len(),
        });
    }
    logits
        .iter_rows()
        .zip(labels)
        .enumerate()
        .map(|(i, (row, &y))| margin_checked(row, y as usize, params.clip, "logits", i))
        .collect()
}
