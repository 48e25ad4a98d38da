//! KLoM: the KL divergence between an example's method and oracle margin histograms.

use serde::{Deserialize, Serialize};

use super::{check_finite, check_models, check_pair, invalid, DEFAULT_BINS, DEFAULT_EPS};
use crate::error::{MetricsError, Result};
use crate::matrix::Matrix;

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
