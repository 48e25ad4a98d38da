//! DA — dimensional alignment of forget/test features with the retain eigenspace.
//!
//! Spec §3.2: rows are L2-normalised; the retain reference is a seeded
//! subsample of at most `max_reference` rows; `M_r = Z_rᵀ Z_r / n_r` (uncentred);
//! eigenvalues descending; `V_k` = first `k` eigenvectors; for a probe set `Z`,
//! `DA = (1/n) Σ ‖V_kᵀ z‖²` ∈ [0, 1]. The alignment curve `A(j)` is DA with `j`
//! eigenvectors, and the `subspace` variant is `‖V_kᵀ W_k‖_F² / k` with `W_k` the
//! top-`k` eigenvectors of the probe's own second-moment matrix.
//!
//! Functions for use during training (MUDA): [`retain_basis`] computes `V_k`
//! from raw retain features; [`da_with_basis`] evaluates DA of a feature batch
//! against a given `V_k`.

use serde::{Deserialize, Serialize};

use crate::error::{MetricsError, Result};
use crate::linalg;
use crate::matrix::Matrix;
use crate::streams::{stream, Purpose};

/// How the subspace dimension `k` is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub enum KRule {
    /// `k` = number of classes (the class subspace). The default.
    #[default]
    Classes,
    /// A fixed `k` (1 ≤ k ≤ d).
    Fixed(usize),
    /// The smallest `k` whose eigenvalues hold a share `τ` ∈ (0, 1] of the total.
    Auto(f64),
}

impl KRule {
    /// Resolves the rule to a concrete `k` given the retain spectrum (descending).
    pub fn resolve(self, eigenvalues: &[f64], classes: usize) -> Result<usize> {
        let d = eigenvalues.len();
        let k = match self {
            KRule::Classes => classes.min(d),
            KRule::Fixed(k) => k,
            KRule::Auto(tau) => {
                if !(tau > 0.0 && tau <= 1.0) {
                    return Err(MetricsError::InvalidParameter {
                        name: "k (auto τ)".into(),
                        value: tau.to_string(),
                        reason: "τ must lie in (0, 1]".into(),
                    });
                }
                let total: f64 = eigenvalues.iter().map(|v| v.max(0.0)).sum();
                if total <= 0.0 {
                    return Err(MetricsError::Numerical {
                        what: "k rule auto".into(),
                        reason: "the retain spectrum is all zero".into(),
                    });
                }
                let mut acc = 0.0;
                let mut k = d;
                for (i, v) in eigenvalues.iter().enumerate() {
                    acc += v.max(0.0);
                    // Relative slack so that τ = 1 is reachable despite rounding.
                    if acc >= tau * total * (1.0 - 1e-12) {
                        k = i + 1;
                        break;
                    }
                }
                k
            }
        };
        if k == 0 || k > d {
            return Err(MetricsError::InvalidParameter {
                name: "k".into(),
                value: k.to_string(),
                reason: format!("must satisfy 1 ≤ k ≤ d = {d}"),
            });
        }
        Ok(k)
    }
}

impl std::str::FromStr for KRule {
    type Err = MetricsError;

    /// Parses `classes`, a positive integer (`10`), or `auto:τ` (`auto:0.95`).
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: &str| MetricsError::InvalidParameter {
            name: "k".into(),
            value: s.to_string(),
            reason: reason.to_string(),
        };
        let t = s.trim();
        if t.eq_ignore_ascii_case("classes") {
            Ok(KRule::Classes)
        } else if let Some(tau) = t.strip_prefix("auto:") {
            tau.parse::<f64>()
                .map(KRule::Auto)
                .map_err(|_| bad("expected auto:τ with τ a number in (0, 1]"))
        } else {
            t.parse::<usize>()
                .map(KRule::Fixed)
                .map_err(|_| bad("expected `classes`, a positive integer or `auto:τ`"))
        }
    }
}

impl std::fmt::Display for KRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KRule::Classes => write!(f, "classes"),
            KRule::Fixed(k) => write!(f, "{k}"),
            KRule::Auto(t) => write!(f, "auto:{t}"),
        }
    }
}

/// The eigendecomposition of the retain second-moment matrix.
#[derive(Debug, Clone)]
pub struct RetainEigen {
    /// Feature dimension.
    pub d: usize,
    /// Eigenvalues of `M_r`, descending (length `d`).
    pub eigenvalues: Vec<f64>,
    /// Eigenvectors, row-major `d × d`; column `j` belongs to `eigenvalues[j]`.
    pub vectors: Vec<f64>,
    /// Rows used for `M_r` (after subsampling).
    pub n_reference: usize,
}

/// The `k` leading eigenvectors of the retain reference, ready for [`da_with_basis`].
#[derive(Debug, Clone)]
pub struct RetainBasis {
    /// Feature dimension.
    pub d: usize,
    /// Subspace dimension.
    pub k: usize,
    /// `V_k`, row-major `d × k`, `f32`.
    pub v_k: Vec<f32>,
    /// The full retain spectrum (descending).
    pub eigenvalues: Vec<f64>,
}

/// The DA reference subsample (sorted indices) of at most `max` of `n` rows; all rows
/// when `n ≤ max`. Drawn from the [`Purpose::DaReference`] stream of `seed`.
pub fn reference_indices(n: usize, max: usize, seed: u64) -> Vec<usize> {
    sample_rows(n, max, seed, Purpose::DaReference)
}

/// A seeded subsample (sorted indices) of at most `max` of `n` rows, from the `purpose`
/// stream of `seed`; all rows when `n ≤ max`.
pub fn sample_rows(n: usize, max: usize, seed: u64, purpose: Purpose) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    let mut rng = stream(seed, purpose);
    let mut idx = rand::seq::index::sample(&mut rng, n, max).into_vec();
    idx.sort_unstable();
    idx
}

fn second_moment_eigen(z: &Matrix<f64>) -> Result<(Vec<f64>, Vec<f64>)> {
    let (n, d) = (z.rows(), z.cols());
    let mut g = linalg::gram(z.data(), n, d)?;
    let inv = 1.0 / n as f64;
    for v in &mut g {
        *v *= inv;
    }
    linalg::symmetric_eigen_desc(&g, d)
}

impl RetainEigen {
    /// Builds `M_r` from already L2-normalised retain rows (the subsample is
    /// taken here: `max_reference` rows, seeded by `seed`).
    pub fn from_normalized(z: &Matrix<f64>, max_reference: usize, seed: u64) -> Result<Self> {
        if z.rows() == 0 {
            return Err(MetricsError::TooFewSamples {
                what: "DA retain reference".into(),
                needed: 1,
                found: 0,
            });
        }
        if max_reference == 0 {
            return Err(MetricsError::InvalidParameter {
                name: "max_reference".into(),
                value: "0".into(),
                reason: "at least one reference row is needed".into(),
            });
        }
        let idx = reference_indices(z.rows(), max_reference, seed);
        let sub;
        let zr = if idx.len() == z.rows() {
            z
        } else {
            sub = z.select_rows(&idx)?;
            &sub
        };
        let (eigenvalues, vectors) = second_moment_eigen(zr)?;
        Ok(Self {
            d: z.cols(),
            eigenvalues,
            vectors,
            n_reference: zr.rows(),
        })
    }

    /// `V_j` for the first `j` columns, row-major `d × j`.
    pub fn leading(&self, j: usize) -> Vec<f64> {
        let (d, j) = (self.d, j.min(self.d));
        let mut out = Vec::with_capacity(d * j);
        for r in 0..d {
            out.extend_from_slice(&self.vectors[r * d..r * d + j]);
        }
        out
    }

    /// The alignment curve `A(1..=jmax)` of normalised probe rows `z`
    /// (`A(j)` = mean squared norm of the projection on the first `j` eigenvectors).
    pub fn curve(&self, z: &Matrix<f64>, jmax: usize) -> Result<Vec<f64>> {
        if z.cols() != self.d {
            return Err(MetricsError::WidthMismatch {
                what: "DA probe features".into(),
                expected: self.d,
                found: z.cols(),
            });
        }
        if z.rows() == 0 {
            return Err(MetricsError::TooFewSamples {
                what: "DA probe".into(),
                needed: 1,
                found: 0,
            });
        }
        let j = jmax.min(self.d);
        let p = linalg::matmul(z.data(), z.rows(), self.d, &self.leading(j), j)?;
        let mut col = vec![0.0f64; j];
        for r in p.chunks_exact(j.max(1)) {
            for (c, v) in col.iter_mut().zip(r) {
                *c += v * v;
            }
        }
        let inv = 1.0 / z.rows() as f64;
        let mut acc = 0.0;
        Ok(col
            .into_iter()
            .map(|c| {
                acc += c * inv;
                acc
            })
            .collect())
    }

    /// `‖V_kᵀ W_k‖_F² / k` with `W_k` the top-`k` eigenvectors of the probe's `M`.
    pub fn subspace(&self, z: &Matrix<f64>, k: usize) -> Result<f64> {
        if z.rows() == 0 {
            return Err(MetricsError::TooFewSamples {
                what: "DA subspace probe".into(),
                needed: 1,
                found: 0,
            });
        }
        let d = self.d;
        let (_, w) = second_moment_eigen(z)?;
        let mut s = 0.0;
        for a in 0..k {
            for b in 0..k {
                let dot: f64 = (0..d).map(|r| self.vectors[r * d + a] * w[r * d + b]).sum();
                s += dot * dot;
            }
        }
        Ok(s / k as f64)
    }
}

/// Computes `V_k` from raw (unnormalised) retain features, row-major `n × d`.
///
/// Rows are L2-normalised; at most `max_reference` rows (seeded subsample) enter
/// `M_r = ZᵀZ/n`; `k` follows `rule` (with `classes` for [`KRule::Classes`]).
pub fn retain_basis(
    features: &[f32],
    n: usize,
    d: usize,
    rule: KRule,
    classes: usize,
    max_reference: usize,
    seed: u64,
) -> Result<RetainBasis> {
    let m = Matrix::new(n, d, features.to_vec())?;
    if let Some(index) = m.first_non_finite() {
        return Err(MetricsError::NonFinite {
            array: "retain features".into(),
            index,
        });
    }
    let eig = RetainEigen::from_normalized(&m.l2_normalized_f64(), max_reference, seed)?;
    let k = rule.resolve(&eig.eigenvalues, classes)?;
    Ok(RetainBasis {
        d,
        k,
        v_k: eig.leading(k).into_iter().map(|v| v as f32).collect(),
        eigenvalues: eig.eigenvalues,
    })
}

/// DA of a batch of raw features (row-major `n × d`, L2-normalised here) against a
/// given `V_k` (row-major `d × k`, orthonormal columns): `(1/n) Σ ‖V_kᵀ z‖²`.
pub fn da_with_basis(v_k: &[f32], d: usize, k: usize, features: &[f32], n: usize) -> Result<f64> {
    if v_k.len() != d * k {
        return Err(MetricsError::LengthMismatch {
            what: "V_k (d × k)".into(),
            expected: d * k,
            found: v_k.len(),
        });
    }
    let m = Matrix::new(n, d, features.to_vec())?;
    if let Some(index) = m.first_non_finite() {
        return Err(MetricsError::NonFinite {
            array: "DA batch features".into(),
            index,
        });
    }
    if n == 0 {
        return Err(MetricsError::TooFewSamples {
            what: "DA batch".into(),
            needed: 1,
            found: 0,
        });
    }
    let z = m.l2_normalized_f64();
    let v: Vec<f64> = v_k.iter().map(|&x| f64::from(x)).collect();
    let p = linalg::matmul(z.data(), n, d, &v, k)?;
    Ok(p.iter().map(|x| x * x).sum::<f64>() / n as f64)
}
