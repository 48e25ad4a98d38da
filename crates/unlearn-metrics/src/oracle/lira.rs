//! The per-example likelihood-ratio attack and its ROC (AUC, TPR at FPR, Hanley–McNeil).

use serde::{Deserialize, Serialize};

use super::{check_finite, check_pair, invalid, DEFAULT_FPR_TARGETS, DEFAULT_MIN_VAR, Z_975};
use crate::error::{MetricsError, Result};
use crate::matrix::Matrix;

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

/// A ROC curve's points without thresholds, e.g. thinned for a figure ([`Roc::thin`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RocPoints {
    /// False-positive rates, non-decreasing.
    pub fpr: Vec<f64>,
    /// True-positive rates, non-decreasing.
    pub tpr: Vec<f64>,
}

impl Roc {
    /// The curve thinned to at most `max_points` points (values below 2 count as 2).
    ///
    /// A curve of at most `max_points` points is returned as is. Otherwise the first and
    /// last points are kept and, for each interior FPR grid value `g_j = j/(max_points − 1)`,
    /// `j = 1, …, max_points − 2`, the curve point with the largest TPR among those with
    /// `FPR ≤ g_j` (the last such point, as the curve is monotone); a point chosen twice is
    /// kept once. The result is a subsequence of the curve, so it stays monotone, and
    /// [`Roc::tpr_at_fpr`] at any grid value is the same on both.
    pub fn thin(&self, max_points: usize) -> RocPoints {
        let max_points = max_points.max(2);
        let n = self.fpr.len().min(self.tpr.len());
        if n <= max_points {
            return RocPoints {
                fpr: self.fpr[..n].to_vec(),
                tpr: self.tpr[..n].to_vec(),
            };
        }
        let mut keep = vec![0usize];
        let denom = (max_points - 1) as f64;
        for j in 1..max_points - 1 {
            let g = j as f64 / denom;
            // Points 0..count have FPR ≤ g; count ≥ 1 since the curve starts at FPR 0.
            let count = self.fpr[..n].partition_point(|&f| f <= g);
            let idx = count.saturating_sub(1);
            if keep.last().is_some_and(|&last| idx > last) {
                keep.push(idx);
            }
        }
        if keep.last().is_some_and(|&last| last < n - 1) {
            keep.push(n - 1);
        }
        RocPoints {
            fpr: keep.iter().map(|&i| self.fpr[i]).collect(),
            tpr: keep.iter().map(|&i| self.tpr[i]).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A curve with one point per score: positives and negatives interleaved.
    fn long_roc() -> Roc {
        let pos: Vec<f64> = (0..300).map(|i| f64::from(i) * 0.01 + 0.5).collect();
        let neg: Vec<f64> = (0..300).map(|i| f64::from(i) * 0.01 + 0.005).collect();
        roc(&pos, &neg).unwrap()
    }

    #[test]
    fn thin_keeps_short_curves() {
        let r = roc(&[0.9, 0.4], &[0.1, 0.5]).unwrap();
        let t = r.thin(101);
        assert_eq!(t.fpr, r.fpr);
        assert_eq!(t.tpr, r.tpr);
    }

    #[test]
    fn thin_bounds_ends_and_monotone() {
        let r = long_roc();
        assert_eq!(r.fpr.len(), 601);
        for max_points in [2, 3, 11, 101] {
            let t = r.thin(max_points);
            assert!(t.fpr.len() <= max_points, "{max_points}: {}", t.fpr.len());
            assert_eq!(t.fpr.len(), t.tpr.len());
            assert_eq!((t.fpr[0], t.tpr[0]), (0.0, 0.0));
            assert_eq!((*t.fpr.last().unwrap(), *t.tpr.last().unwrap()), (1.0, 1.0));
            for w in t.fpr.windows(2).chain(t.tpr.windows(2)) {
                assert!(w[0] <= w[1], "{max_points}: not monotone");
            }
            // No repeated points.
            for i in 1..t.fpr.len() {
                assert!((t.fpr[i], t.tpr[i]) != (t.fpr[i - 1], t.tpr[i - 1]));
            }
        }
        assert_eq!(r.thin(0), r.thin(2));
        assert_eq!(r.thin(2).fpr, vec![0.0, 1.0]);
    }

    #[test]
    fn thin_picks_largest_tpr_at_each_grid_value() {
        let r = long_roc();
        let t = r.thin(11);
        for j in 1..10 {
            let g = f64::from(j) / 10.0;
            let want = r.tpr_at_fpr(g).unwrap();
            let got = t
                .fpr
                .iter()
                .zip(&t.tpr)
                .filter(|(&f, _)| f <= g)
                .map(|(_, &v)| v)
                .fold(0.0, f64::max);
            assert_eq!(got, want, "grid value {g}");
        }
        // Every kept point lies on the full curve.
        for (f, v) in t.fpr.iter().zip(&t.tpr) {
            assert!(r.fpr.iter().zip(&r.tpr).any(|(a, b)| a == f && b == v));
        }
    }
}
