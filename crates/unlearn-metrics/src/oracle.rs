//! Per-example kernels of an oracle-ensemble evaluation (issue #17, first slice).
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
//! * [`outside_energy`]: the energy of an L2-normalised feature row outside a retain
//!   subspace, `1 − ‖V_kᵀ z‖²`.
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
//!
//! An AUC near 0.5 and a KLoM near 0 mean the method's models are indistinguishable from
//! the oracle's on that example set.

use serde::{Deserialize, Serialize};

use crate::error::{MetricsError, Result};
use crate::matrix::Matrix;

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

// ----- KLoM -----

/// Parameters of [`klom`] and [`klom_example`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KlomParams {
    /// Number of equal-width histogram bins (default [`DEFAULT_BINS`]); at least 1.
    pub bins: usize,
    /// Smoothing added to every bin count (default [`DEFAULT_EPS`]); positive and finite.
    pub eps: f64,
}

impl Default for KlomParams {
    fn default() -> Self {
        Self {
            bins: DEFAULT_BINS,
            eps: DEFAULT_EPS,
        }
    }
}

impl KlomParams {
    /// Fails with [`MetricsError::InvalidParameter`] naming `bins` (0) or `eps` (not a
    /// positive finite number).
    pub fn check(&self) -> Result<()> {
        if self.bins == 0 {
            return Err(invalid("bins", self.bins, "must be at least 1"));
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(invalid("eps", self.eps, "must be positive and finite"));
        }
        Ok(())
    }
}

/// KLoM over a set of examples: per-example values and their P50 / P95.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KlomReport {
    /// `KL(method ‖ oracle)` per example (row), in nats.
    pub per_example: Vec<f64>,
    /// Median of `per_example` (`numpy.percentile`, linear).
    pub p50: f64,
    /// 95th percentile of `per_example` (`numpy.percentile`, linear).
    pub p95: f64,
}

/// The common histogram range of two sets: `[min, max]` of their union, widened to
/// `[a − 0.5, a + 0.5]` when every value equals `a` (as `numpy.histogram`).
///
/// Fails on empty input or non-finite values, or when the width overflows.
pub fn common_range(a: &[f64], b: &[f64]) -> Result<(f64, f64)> {
    if a.is_empty() && b.is_empty() {
        return Err(MetricsError::TooFewSamples {
            what: "values for a histogram range".into(),
            needed: 1,
            found: 0,
        });
    }
    check_finite("histogram values", a)?;
    check_finite("histogram values", b)?;
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in a.iter().chain(b) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo == hi {
        (lo, hi) = (lo - 0.5, hi + 0.5);
    }
    if !(hi - lo).is_finite() {
        return Err(MetricsError::Numerical {
            what: "histogram range".into(),
            reason: format!("width of [{lo}, {hi}] overflows f64"),
        });
    }
    Ok((lo, hi))
}

/// Counts of `values` in `bins` equal-width bins over `[lo, hi]`, exactly as
/// `numpy.histogram(values, bins, range=(lo, hi))`; values outside the range are ignored.
///
/// Fails unless `bins ≥ 1`, `lo < hi` with a finite width, and every value is finite.
pub fn histogram(values: &[f64], lo: f64, hi: f64, bins: usize) -> Result<Vec<u64>> {
    if bins == 0 {
        return Err(invalid("bins", bins, "must be at least 1"));
    }
    if !(lo < hi && (hi - lo).is_finite()) {
        return Err(invalid(
            "histogram range",
            format!("[{lo}, {hi}]"),
            "needs lo < hi and a finite width",
        ));
    }
    check_finite("histogram values", values)?;
    // numpy.linspace(lo, hi, bins + 1): i·step + lo, with the last edge exactly hi.
    let step = (hi - lo) / bins as f64;
    let mut edges: Vec<f64> = (0..=bins).map(|i| i as f64 * step + lo).collect();
    edges[bins] = hi;
    let mut counts = vec![0u64; bins];
    for &x in values.iter().filter(|&&x| x >= lo && x <= hi) {
        let f = (x - lo) / (hi - lo) * bins as f64;
        let mut idx = (f as usize).min(bins - 1);
        // The same ±1 corrections as numpy, against the edges themselves.
        if idx > 0 && x < edges[idx] {
            idx -= 1;
        }
        if idx != bins - 1 && x >= edges[idx + 1] {
            idx += 1;
        }
        counts[idx] += 1;
    }
    Ok(counts)
}

fn smoothed(counts: &[u64], eps: f64) -> Vec<f64> {
    let raw: Vec<f64> = counts.iter().map(|&c| c as f64 + eps).collect();
    let total: f64 = raw.iter().sum();
    raw.into_iter().map(|v| v / total).collect()
}

/// KLoM of one example: `KL(method ‖ oracle)` between the smoothed histograms of its
/// method margins and its oracle margins over their [`common_range`] (see the module
/// documentation for the formalisation). Each set needs at least two finite values.
pub fn klom_example(method: &[f64], oracle: &[f64], params: &KlomParams) -> Result<f64> {
    params.check()?;
    check_models("method models", method.len())?;
    check_models("oracle models", oracle.len())?;
    check_finite("method", method)?;
    check_finite("oracle", oracle)?;
    klom_checked(method, oracle, params)
}

fn klom_checked(method: &[f64], oracle: &[f64], params: &KlomParams) -> Result<f64> {
    let (lo, hi) = common_range(method, oracle)?;
    let p = smoothed(&histogram(method, lo, hi, params.bins)?, params.eps);
    let q = smoothed(&histogram(oracle, lo, hi, params.bins)?, params.eps);
    Ok(p.iter().zip(&q).map(|(&pb, &qb)| pb * (pb / qb).ln()).sum())
}

/// KLoM of every example: row `i` of `method` (`N × M`) holds example `i`'s margins under
/// the M method models, row `i` of `oracle` (`N × K`) those under the K oracle models.
///
/// Needs `N ≥ 1`, `M ≥ 2`, `K ≥ 2` and finite values.
pub fn klom(method: &Matrix<f64>, oracle: &Matrix<f64>, params: &KlomParams) -> Result<KlomReport> {
    params.check()?;
    check_pair(method, oracle)?;
    let per_example = method
        .iter_rows()
        .zip(oracle.iter_rows())
        .map(|(m, o)| klom_checked(m, o, params))
        .collect::<Result<Vec<f64>>>()?;
    Ok(KlomReport {
        p50: percentile(&per_example, 50.0)?,
        p95: percentile(&per_example, 95.0)?,
        per_example,
    })
}

/// The `q`-th percentile (`0 ≤ q ≤ 100`) of `values` with `numpy.percentile`'s default
/// linear interpolation (virtual index `(n − 1)·q/100`).
pub fn percentile(values: &[f64], q: f64) -> Result<f64> {
    if !(0.0..=100.0).contains(&q) {
        return Err(invalid("percentile", q, "must be in [0, 100]"));
    }
    if values.is_empty() {
        return Err(MetricsError::TooFewSamples {
            what: "values for a percentile".into(),
            needed: 1,
            found: 0,
        });
    }
    check_finite("percentile values", values)?;
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let virt = (v.len() - 1) as f64 * (q / 100.0);
    let prev = (virt.floor() as usize).min(v.len() - 1);
    let next = (prev + 1).min(v.len() - 1);
    let t = virt - prev as f64;
    let (a, b) = (v[prev], v[next]);
    let diff = b - a;
    // numpy's _lerp: a + diff·t, or b − diff·(1 − t) from t = 0.5 on.
    Ok(if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    })
}

// ----- Per-example likelihood-ratio attack -----

/// A univariate Gaussian fitted to a set of margins.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Gaussian {
    /// Sample mean.
    pub mean: f64,
    /// Population variance (`ddof = 0`), floored at the fit's `min_var`.
    pub var: f64,
}

impl Gaussian {
    /// Fits mean and variance (`ddof = 0`, at least `min_var`) to `samples`.
    ///
    /// Needs at least one finite sample and a positive finite `min_var`.
    pub fn fit(samples: &[f64], min_var: f64) -> Result<Self> {
        if !(min_var.is_finite() && min_var > 0.0) {
            return Err(invalid("min_var", min_var, "must be positive and finite"));
        }
        if samples.is_empty() {
            return Err(MetricsError::TooFewSamples {
                what: "samples for a Gaussian fit".into(),
                needed: 1,
                found: 0,
            });
        }
        check_finite("Gaussian samples", samples)?;
        Ok(Self::fit_checked(samples, min_var))
    }

    fn fit_checked(samples: &[f64], min_var: f64) -> Self {
        let n = samples.len() as f64;
        let mean = samples.iter().sum::<f64>() / n;
        let var = samples
            .iter()
            .map(|&x| (x - mean) * (x - mean))
            .sum::<f64>()
            / n;
        Self {
            mean,
            var: var.max(min_var),
        }
    }

    /// `log N(x; mean, var)` (natural log).
    pub fn log_pdf(&self, x: f64) -> f64 {
        let d = x - self.mean;
        -0.5 * d * d / self.var - 0.5 * (2.0 * std::f64::consts::PI * self.var).ln()
    }

    /// The log-likelihood ratio `log N(x; self) − log N(x; other)`.
    pub fn log_ratio(&self, other: &Gaussian, x: f64) -> f64 {
        self.log_pdf(x) - other.log_pdf(x)
    }
}

/// Parameters of [`lira_scores`] and [`lira_attack`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiraParams {
    /// Variance floor of every fitted Gaussian (default [`DEFAULT_MIN_VAR`]).
    pub min_var: f64,
    /// FPRs at which [`lira_attack`] reports the TPR (default [`DEFAULT_FPR_TARGETS`]).
    pub fpr_targets: Vec<f64>,
}

impl Default for LiraParams {
    fn default() -> Self {
        Self {
            min_var: DEFAULT_MIN_VAR,
            fpr_targets: DEFAULT_FPR_TARGETS.to_vec(),
        }
    }
}

impl LiraParams {
    /// Fails with [`MetricsError::InvalidParameter`] naming `min_var` (not positive and
    /// finite) or `fpr_targets` (a target outside `[0, 1]`).
    pub fn check(&self) -> Result<()> {
        if !(self.min_var.is_finite() && self.min_var > 0.0) {
            return Err(invalid(
                "min_var",
                self.min_var,
                "must be positive and finite",
            ));
        }
        check_fpr_targets(&self.fpr_targets)
    }
}

fn check_fpr_targets(targets: &[f64]) -> Result<()> {
    match targets.iter().find(|t| !(0.0..=1.0).contains(*t)) {
        Some(t) => Err(invalid("fpr_targets", t, "every target must be in [0, 1]")),
        None => Ok(()),
    }
}

/// Per-example likelihood-ratio scores of held-out models.
#[derive(Debug, Clone, PartialEq)]
pub struct LiraScores {
    /// Per example, the Gaussian of its method margins on the fit half.
    pub method_fit: Vec<Gaussian>,
    /// Per example, the Gaussian of its oracle margins on the fit half.
    pub oracle_fit: Vec<Gaussian>,
    /// `N × (M − ⌊M/2⌋)`: scores of the held-out method margins (positives).
    pub positives: Matrix<f64>,
    /// `N × (K − ⌊K/2⌋)`: scores of the held-out oracle margins (negatives).
    pub negatives: Matrix<f64>,
}

/// Fits, per example, a Gaussian to the first `⌊M/2⌋` method margins and one to the first
/// `⌊K/2⌋` oracle margins, and scores every held-out margin `x` (method and oracle) with
/// `log N(x; μ_method, σ²_method) − log N(x; μ_oracle, σ²_oracle)`.
///
/// `method` is `N × M`, `oracle` `N × K` (rows are examples); needs `N ≥ 1`, `M ≥ 2`,
/// `K ≥ 2` and finite values. Only `min_var` of `params` is used.
pub fn lira_scores(
    method: &Matrix<f64>,
    oracle: &Matrix<f64>,
    params: &LiraParams,
) -> Result<LiraScores> {
    params.check()?;
    check_pair(method, oracle)?;
    let (fm, fo) = (method.cols() / 2, oracle.cols() / 2);
    let (mut method_fit, mut oracle_fit) = (Vec::new(), Vec::new());
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for (m, o) in method.iter_rows().zip(oracle.iter_rows()) {
        let gm = Gaussian::fit_checked(&m[..fm], params.min_var);
        let go = Gaussian::fit_checked(&o[..fo], params.min_var);
        pos.extend(m[fm..].iter().map(|&x| gm.log_ratio(&go, x)));
        neg.extend(o[fo..].iter().map(|&x| gm.log_ratio(&go, x)));
        method_fit.push(gm);
        oracle_fit.push(go);
    }
    let n = method.rows();
    Ok(LiraScores {
        method_fit,
        oracle_fit,
        positives: Matrix::new(n, method.cols() - fm, pos)?,
        negatives: Matrix::new(n, oracle.cols() - fo, neg)?,
    })
}

/// A ROC curve of positives against negatives, as `sklearn.metrics.roc_curve` with
/// `drop_intermediate=False`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Roc {
    /// False-positive rates, non-decreasing from 0 to 1.
    pub fpr: Vec<f64>,
    /// True-positive rates, non-decreasing from 0 to 1.
    pub tpr: Vec<f64>,
    /// Thresholds (score ≥ threshold is called positive), decreasing; the first is `+∞`.
    pub thresholds: Vec<f64>,
    /// Area under the curve, ties counted one half (`roc_auc_score`).
    pub auc: f64,
    /// Number of positives.
    pub n_pos: usize,
    /// Number of negatives.
    pub n_neg: usize,
}

/// The ROC of `positives` (label 1) against `negatives` (label 0); higher scores mean
/// "positive". Needs at least one of each and finite scores.
///
/// The AUC is computed exactly from the counts (`Σ Δfp·(tp_prev + tp) / (2·P·N)`), which
/// equals the trapezoidal area of the curve and the Mann–Whitney statistic with ties 1/2.
pub fn roc(positives: &[f64], negatives: &[f64]) -> Result<Roc> {
    for (what, set) in [
        ("positive scores", positives),
        ("negative scores", negatives),
    ] {
        if set.is_empty() {
            return Err(MetricsError::TooFewSamples {
                what: what.into(),
                needed: 1,
                found: 0,
            });
        }
    }
    check_finite("positive scores", positives)?;
    check_finite("negative scores", negatives)?;
    let mut all: Vec<(f64, bool)> = positives.iter().map(|&s| (s, true)).collect();
    all.extend(negatives.iter().map(|&s| (s, false)));
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (n_pos, n_neg) = (positives.len(), negatives.len());
    let (mut fpr, mut tpr, mut thresholds) = (vec![0.0], vec![0.0], vec![f64::INFINITY]);
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut area2: u128 = 0;
    let mut i = 0;
    while i < all.len() {
        let s = all[i].0;
        let (tp0, fp0) = (tp, fp);
        while i < all.len() && all[i].0 == s {
            if all[i].1 {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        area2 += u128::from(fp - fp0) * u128::from(tp0 + tp);
        fpr.push(fp as f64 / n_neg as f64);
        tpr.push(tp as f64 / n_pos as f64);
        thresholds.push(s);
    }
    let auc = area2 as f64 / (2.0 * n_pos as f64 * n_neg as f64);
    Ok(Roc {
        fpr,
        tpr,
        thresholds,
        auc,
        n_pos,
        n_neg,
    })
}

/// A Hanley–McNeil (1982) standard error of an AUC and the normal 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AucInterval {
    /// Standard error: `sqrt((A(1−A) + (P−1)(Q1−A²) + (N−1)(Q2−A²)) / (P·N))` with
    /// `Q1 = A/(2−A)`, `Q2 = 2A²/(1+A)`.
    pub se: f64,
    /// `max(0, A − z·se)` with `z =` [`Z_975`].
    pub lower: f64,
    /// `min(1, A + z·se)`.
    pub upper: f64,
}

impl Roc {
    /// The largest TPR among curve points whose FPR is at most `target` (`0 ≤ target ≤ 1`);
    /// the `(0, 0)` point makes it 0 when no threshold reaches so low an FPR.
    pub fn tpr_at_fpr(&self, target: f64) -> Result<f64> {
        check_fpr_targets(&[target])?;
        Ok(self
            .fpr
            .iter()
            .zip(&self.tpr)
            .filter(|(&f, _)| f <= target)
            .map(|(_, &t)| t)
            .fold(0.0, f64::max))
    }

    /// The Hanley–McNeil standard error of [`Roc::auc`] and its 95% normal interval
    /// (clipped to `[0, 1]`). It assumes exponential score distributions; it is a quick
    /// guide, not a substitute for a bootstrap over models.
    pub fn hanley_mcneil(&self) -> AucInterval {
        let a = self.auc;
        let (p, n) = (self.n_pos as f64, self.n_neg as f64);
        let q1 = a / (2.0 - a);
        let q2 = 2.0 * a * a / (1.0 + a);
        let var = (a * (1.0 - a) + (p - 1.0) * (q1 - a * a) + (n - 1.0) * (q2 - a * a)) / (p * n);
        let se = var.max(0.0).sqrt();
        AucInterval {
            se,
            lower: (a - Z_975 * se).max(0.0),
            upper: (a + Z_975 * se).min(1.0),
        }
    }
}

/// TPR at one FPR target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TprAtFpr {
    /// The FPR target.
    pub fpr: f64,
    /// The largest TPR whose FPR is at most the target.
    pub tpr: f64,
}

/// Summary of an attack's ROC: AUC with its interval and TPR at low FPRs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackReport {
    /// Area under the ROC curve (0.5 = indistinguishable).
    pub auc: f64,
    /// Hanley–McNeil standard error and 95% interval of the AUC.
    pub auc_interval: AucInterval,
    /// TPR at each requested FPR target, in the order given.
    pub tpr_at_fpr: Vec<TprAtFpr>,
    /// The full curve (for figures).
    pub roc: Roc,
}

/// [`roc`] of `positives` against `negatives` with its AUC interval and the TPR at each of
/// `fpr_targets` (each in `[0, 1]`).
pub fn roc_report(
    positives: &[f64],
    negatives: &[f64],
    fpr_targets: &[f64],
) -> Result<AttackReport> {
    check_fpr_targets(fpr_targets)?;
    let roc = roc(positives, negatives)?;
    let tpr_at_fpr = fpr_targets
        .iter()
        .map(|&fpr| roc.tpr_at_fpr(fpr).map(|tpr| TprAtFpr { fpr, tpr }))
        .collect::<Result<Vec<_>>>()?;
    Ok(AttackReport {
        auc: roc.auc,
        auc_interval: roc.hanley_mcneil(),
        tpr_at_fpr,
        roc,
    })
}

/// The per-example likelihood-ratio attack end to end: [`lira_scores`], then
/// [`roc_report`] of all held-out method scores (positives) against all held-out oracle
/// scores (negatives) at `params.fpr_targets`.
pub fn lira_attack(
    method: &Matrix<f64>,
    oracle: &Matrix<f64>,
    params: &LiraParams,
) -> Result<(LiraScores, AttackReport)> {
    let scores = lira_scores(method, oracle, params)?;
    let report = roc_report(
        scores.positives.data(),
        scores.negatives.data(),
        &params.fpr_targets,
    )?;
    Ok((scores, report))
}

// ----- Feature space -----

/// Per row of `features` (`n × d`), the energy outside the span of `basis` (`d × k`,
/// row-major, orthonormal columns): `1 − ‖V_kᵀ z‖²` with `z` the row L2-normalised in
/// `f64`, clipped to `[0, 1]` against rounding. Rows of norm 0 stay 0 (the crate's
/// convention), so their value is 1.
///
/// Fails when the widths disagree, `k` is 0 or above `d`, a value is not finite, or
/// `max |V_kᵀ V_k − I|` exceeds [`ORTHONORMAL_TOL`] (error naming `basis`).
pub fn outside_energy<T, U>(features: &Matrix<T>, basis: &Matrix<U>) -> Result<Vec<f64>>
where
    T: Copy + Into<f64>,
    U: Copy + Into<f64>,
{
    let (d, k) = (basis.rows(), basis.cols());
    if features.cols() != d {
        return Err(MetricsError::WidthMismatch {
            what: "features vs basis rows".into(),
            expected: d,
            found: features.cols(),
        });
    }
    if k == 0 || k > d {
        return Err(invalid(
            "basis",
            format!("{d}x{k}"),
            "needs 1 <= k <= d columns",
        ));
    }
    check_finite("features", features.data())?;
    check_finite("basis", basis.data())?;
    let v: Vec<f64> = basis.data().iter().map(|&x| x.into()).collect();
    let mut worst = 0.0f64;
    for a in 0..k {
        for b in 0..k {
            let dot: f64 = (0..d).map(|i| v[i * k + a] * v[i * k + b]).sum();
            worst = worst.max((dot - if a == b { 1.0 } else { 0.0 }).abs());
        }
    }
    if worst > ORTHONORMAL_TOL {
        return Err(invalid(
            "basis",
            format!("{d}x{k}"),
            &format!("columns are not orthonormal: max |VᵀV − I| = {worst:e}"),
        ));
    }
    let mut proj = vec![0.0f64; k];
    let out = features
        .iter_rows()
        .map(|row| {
            let z: Vec<f64> = row.iter().map(|&x| x.into()).collect();
            let norm = z.iter().map(|x| x * x).sum::<f64>().sqrt();
            let inv = if norm > 0.0 { 1.0 / norm } else { 0.0 };
            proj.iter_mut().for_each(|p| *p = 0.0);
            for (i, &zi) in z.iter().enumerate() {
                let zi = zi * inv;
                for (p, &vij) in proj.iter_mut().zip(&v[i * k..(i + 1) * k]) {
                    *p += zi * vij;
                }
            }
            let inside: f64 = proj.iter().map(|p| p * p).sum();
            (1.0 - inside).clamp(0.0, 1.0)
        })
        .collect();
    Ok(out)
}
