//! Data behind the report's feature-space figures.
//!
//! * [`spectrum_energy`]: the retain eigen-spectrum (spec §3.2, step 1: `M_r = Z_rᵀ Z_r / n_r`
//!   on L2-normalised retain rows, the same seeded reference subsample as DA) and, for each
//!   retain eigenvector `v_j`, the energy of the forget, test and retain probes along it,
//!   `E(j) = (1/n) Σ_z (v_jᵀ z)²` on L2-normalised rows. Each vector is normalised to sum 1,
//!   so a probe that lives where the retain data lives has the same profile as the spectrum;
//!   the cumulative sum of the forget energy over the first `k` directions is DA_f (up to the
//!   normalisation, which is 1 for rows of unit norm).
//! * [`pca2`]: a 2-D PCA fitted on the L2-normalised retain features (the reference
//!   subsample), centred by their mean, and the projections of at most `max_points` forget
//!   and retain rows (a seeded sample, [`crate::da::reference_indices`]).
//!
//! [`plot_data`] computes both for one bundle; `unlearn metrics --plot-data` writes it as JSON.

use serde::{Deserialize, Serialize};

use crate::da::{reference_indices, sample_rows, RetainEigen};
use crate::error::{MetricsError, Result};
use crate::features_file::FeatureBundle;
use crate::linalg;
use crate::matrix::Matrix;
use crate::streams::Purpose;

/// The retain spectrum and the per-direction energy of each probe (each sums to 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpectrumEnergy {
    /// Retain eigenvalues, descending, normalised to sum 1 (length `d`).
    pub eigenvalues: Vec<f64>,
    /// Mean squared projection of the forget rows on each retain eigenvector, normalised.
    pub forget: Vec<f64>,
    /// The same for the test rows.
    pub test: Vec<f64>,
    /// The same for all retain rows (equals `eigenvalues` when no subsample was taken).
    pub retain: Vec<f64>,
}

/// A 2-D PCA of retain and forget features, fitted on the retain features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pca2 {
    /// Share of the retain variance along the two components (explained variance ratio).
    pub explained: [f64; 2],
    /// Forget rows in PCA coordinates (at most `max_points`).
    pub forget: Vec<[f32; 2]>,
    /// Retain rows in PCA coordinates (at most `max_points`).
    pub retain: Vec<[f32; 2]>,
}

/// Everything the per-run figures need, as written by `unlearn metrics --plot-data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlotData {
    /// Spectrum and probe energies.
    pub spectrum: SpectrumEnergy,
    /// 2-D PCA.
    pub pca2: Pca2,
}

/// How the figure data is computed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlotConfig {
    /// Seed of the retain reference subsample and of the point samples (default 0).
    pub seed: u64,
    /// At most this many retain rows enter `M_r` and the PCA fit (default 10,000, as DA).
    pub max_reference: usize,
    /// At most this many points per set in the PCA scatter (default 500).
    pub max_points: usize,
}

impl Default for PlotConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            max_reference: 10_000,
            max_points: 500,
        }
    }
}

fn nonempty(what: &str, n: usize) -> Result<()> {
    if n == 0 {
        return Err(MetricsError::TooFewSamples {
            what: what.to_string(),
            needed: 1,
            found: 0,
        });
    }
    Ok(())
}

fn normalise(v: Vec<f64>, what: &str) -> Result<Vec<f64>> {
    let total: f64 = v.iter().sum();
    if !(total > 0.0 && total.is_finite()) {
        return Err(MetricsError::Numerical {
            what: what.to_string(),
            reason: format!("total energy is {total}, cannot normalise"),
        });
    }
    Ok(v.into_iter().map(|x| x / total).collect())
}

/// Mean squared projection of the rows of `z` on each column of the `d × d` basis.
fn energy(eig: &RetainEigen, z: &Matrix<f64>, what: &str) -> Result<Vec<f64>> {
    if z.cols() != eig.d {
        return Err(MetricsError::WidthMismatch {
            what: format!("{what} features (vs retain)"),
            expected: eig.d,
            found: z.cols(),
        });
    }
    nonempty(what, z.rows())?;
    let d = eig.d;
    let p = linalg::matmul(z.data(), z.rows(), d, &eig.vectors, d)?;
    let mut e = vec![0.0f64; d];
    for row in p.chunks_exact(d) {
        for (acc, v) in e.iter_mut().zip(row) {
            *acc += v * v;
        }
    }
    let inv = 1.0 / z.rows() as f64;
    normalise(e.into_iter().map(|x| x * inv).collect(), what)
}

/// The retain spectrum and forget/test/retain energy per retain eigenvector.
///
/// Errors on an invalid bundle, an empty retain/forget/test set, or all-zero features.
pub fn spectrum_energy(bundle: &FeatureBundle, cfg: &PlotConfig) -> Result<SpectrumEnergy> {
    bundle.validate()?;
    nonempty("retain set", bundle.retain.len())?;
    let zr = bundle.retain.features.l2_normalized_f64();
    let eig = RetainEigen::from_normalized(&zr, cfg.max_reference, cfg.seed)?;
    let eigenvalues = normalise(
        eig.eigenvalues.iter().map(|v| v.max(0.0)).collect(),
        "retain spectrum",
    )?;
    Ok(SpectrumEnergy {
        eigenvalues,
        forget: energy(
            &eig,
            &bundle.forget.features.l2_normalized_f64(),
            "forget set",
        )?,
        test: energy(&eig, &bundle.test.features.l2_normalized_f64(), "test set")?,
        retain: energy(&eig, &zr, "retain set")?,
    })
}

/// 2-D PCA fitted on the (L2-normalised, subsampled) retain features; forget and retain
/// points projected after centring by the retain mean.
///
/// Errors on an invalid bundle, `max_points == 0`, fewer than two retain rows, empty forget
/// set, or retain features with no variance.
pub fn pca2(bundle: &FeatureBundle, cfg: &PlotConfig) -> Result<Pca2> {
    bundle.validate()?;
    if cfg.max_points == 0 {
        return Err(MetricsError::InvalidParameter {
            name: "max_points".into(),
            value: "0".into(),
            reason: "at least one point per set is needed".into(),
        });
    }
    if cfg.max_reference < 2 {
        return Err(MetricsError::InvalidParameter {
            name: "max_reference".into(),
            value: cfg.max_reference.to_string(),
            reason: "PCA needs at least two reference rows".into(),
        });
    }
    let d = bundle.dim();
    if d < 2 {
        return Err(MetricsError::BadShape {
            name: "retain_features".into(),
            shape: vec![bundle.retain.len(), d],
            expected: "at least two feature columns for a 2-D PCA".into(),
        });
    }
    let n_r = bundle.retain.len();
    if n_r < 2 {
        return Err(MetricsError::TooFewSamples {
            what: "PCA retain set".into(),
            needed: 2,
            found: n_r,
        });
    }
    nonempty("PCA forget set", bundle.forget.len())?;
    let zr = bundle.retain.features.l2_normalized_f64();
    let fit = zr.select_rows(&reference_indices(n_r, cfg.max_reference, cfg.seed))?;
    let n = fit.rows();
    let mut mean = vec![0.0f64; d];
    for row in fit.iter_rows() {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    for m in &mut mean {
        *m /= n as f64;
    }
    let centred: Vec<f64> = fit
        .iter_rows()
        .flat_map(|row| row.iter().zip(&mean).map(|(v, m)| v - m))
        .collect();
    let mut cov = linalg::gram(&centred, n, d)?;
    let inv = 1.0 / (n - 1) as f64;
    for v in &mut cov {
        *v *= inv;
    }
    let (values, vectors) = linalg::symmetric_eigen_desc(&cov, d)?;
    let total: f64 = values.iter().map(|v| v.max(0.0)).sum();
    if !(total > 0.0 && total.is_finite()) {
        return Err(MetricsError::Numerical {
            what: "PCA of the retain features".into(),
            reason: "the retain features have no variance".into(),
        });
    }
    let explained = [values[0].max(0.0) / total, values[1].max(0.0) / total];
    let components: Vec<f64> = (0..d)
        .flat_map(|r| [vectors[r * d], vectors[r * d + 1]])
        .collect();
    let project = |z: &Matrix<f64>| -> Result<Vec<[f32; 2]>> {
        let idx = sample_rows(z.rows(), cfg.max_points, cfg.seed, Purpose::FigurePoints);
        let sel = z.select_rows(&idx)?;
        let centred: Vec<f64> = sel
            .iter_rows()
            .flat_map(|row| row.iter().zip(&mean).map(|(v, m)| v - m))
            .collect();
        let p = linalg::matmul(&centred, sel.rows(), d, &components, 2)?;
        Ok(p.chunks_exact(2)
            .map(|c| [c[0] as f32, c[1] as f32])
            .collect())
    };
    Ok(Pca2 {
        explained,
        forget: project(&bundle.forget.features.l2_normalized_f64())?,
        retain: project(&zr)?,
    })
}

/// [`spectrum_energy`] and [`pca2`] of one bundle.
pub fn plot_data(bundle: &FeatureBundle, cfg: &PlotConfig) -> Result<PlotData> {
    Ok(PlotData {
        spectrum: spectrum_energy(bundle, cfg)?,
        pca2: pca2(bundle, cfg)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features_file::SplitData;

    fn split(name: &str, rows: &[[f32; 3]], classes: usize) -> SplitData {
        let n = rows.len();
        let f: Vec<f32> = rows.iter().flatten().copied().collect();
        let y: Vec<u32> = (0..n).map(|i| (i % classes) as u32).collect();
        let mut l = vec![0.0f32; n * classes];
        for (i, &c) in y.iter().enumerate() {
            l[i * classes + c as usize] = 1.0;
        }
        SplitData::new(
            name,
            Matrix::new(n, 3, f).unwrap(),
            Matrix::new(n, classes, l).unwrap(),
            y,
        )
        .unwrap()
    }

    fn bundle(forget: &[[f32; 3]]) -> FeatureBundle {
        let retain: Vec<[f32; 3]> = (0..40)
            .map(|i| {
                let t = i as f32 * 0.3;
                [1.0 + 0.5 * t.sin(), 0.2 * t.cos(), 0.0]
            })
            .collect();
        FeatureBundle::new(
            split("retain", &retain, 2),
            split("forget", forget, 2),
            split("test", &retain[..10], 2),
            None,
            None,
            Default::default(),
        )
        .unwrap()
    }

    #[test]
    fn energies_sum_to_one_and_off_manifold_forget_sits_in_the_tail() {
        // Retain rows span the x-y plane; the forget rows point along z.
        let b = bundle(&[[0.0, 0.0, 1.0], [0.1, 0.0, -2.0]]);
        let s = spectrum_energy(&b, &PlotConfig::default()).unwrap();
        for v in [&s.eigenvalues, &s.forget, &s.test, &s.retain] {
            assert_eq!(v.len(), 3);
            assert!((v.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
        assert!(s.eigenvalues[2] < 1e-12);
        assert!(s.forget[2] > 0.99, "{:?}", s.forget);
        for (a, b) in s.retain.iter().zip(&s.eigenvalues) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    #[test]
    fn pca_caps_points_and_explains_the_retain_variance() {
        let forget: Vec<[f32; 3]> = (0..30).map(|i| [1.0, 0.01 * i as f32, 0.0]).collect();
        let b = bundle(&forget);
        let cfg = PlotConfig {
            max_points: 12,
            ..Default::default()
        };
        let p = pca2(&b, &cfg).unwrap();
        assert_eq!(p.forget.len(), 12);
        assert_eq!(p.retain.len(), 12);
        assert!(p.explained[0] >= p.explained[1]);
        assert!((p.explained[0] + p.explained[1] - 1.0).abs() < 1e-9);
        // Deterministic for a seed.
        assert_eq!(p, pca2(&b, &cfg).unwrap());
        let bad = PlotConfig {
            max_points: 0,
            ..Default::default()
        };
        assert!(matches!(
            pca2(&b, &bad),
            Err(MetricsError::InvalidParameter { .. })
        ));
    }

    #[test]
    fn zero_features_are_an_error_not_a_panic() {
        let b = bundle(&[[0.0, 0.0, 0.0]]);
        assert!(matches!(
            spectrum_energy(&b, &PlotConfig::default()),
            Err(MetricsError::Numerical { .. })
        ));
    }
}
