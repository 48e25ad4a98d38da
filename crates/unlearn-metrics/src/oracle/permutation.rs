//! A permutation test of the likelihood-ratio attack over *models*.
//!
//! The attack's AUC pools `N × (M − ⌊M/2⌋)` method scores against `N × (K − ⌊K/2⌋)`
//! oracle scores. The scores of one model are correlated (they share its training noise),
//! so an interval that counts every score as independent (Hanley–McNeil,
//! [`Roc::hanley_mcneil`](super::Roc::hanley_mcneil)) is too narrow when only a few models
//! are scored. Under the null hypothesis that the method's models and the oracles come from
//! one distribution, the M + K models are exchangeable: relabelling them at random and
//! rerunning the whole attack (fit halves included) draws from the AUC's null distribution,
//! whatever the correlation between examples or within a model.
//!
//! # Formalisation (this project's choices)
//!
//! * **Pooling.** The columns of `method` (models `0..M`) and `oracle` (models
//!   `M..M+K`) are pooled. A permutation `π` of `0..M+K` makes models `π[0..M]` the
//!   method side (in that order, so `π[0..⌊M/2⌋]` fit its Gaussian) and `π[M..M+K]` the
//!   oracle side; [`lira_scores`] and the AUC are then computed as for the real labels.
//! * **Permutations.** `permutations` uniform random permutations, drawn by Fisher–Yates
//!   shuffles ([`rand::seq::SliceRandom::shuffle`]) of `0..M+K` from one
//!   `ChaCha8Rng`, the [`Purpose::ModelPermutations`] stream of `seed`, one after the
//!   other ([`model_permutations`]).
//! * **Band.** The null half-width `h` is the `level` quantile (numpy's linear
//!   interpolation, [`percentile`](super::percentile)) of `|AUC_π − 0.5|` over the
//!   permutations. The attack cannot tell the models apart at that level when
//!   `|AUC − 0.5| ≤ h`, i.e. when the AUC lies within `0.5 ± h`.
//! * **p-value.** Two-sided, `(1 + #{π : |AUC_π − 0.5| ≥ |AUC − 0.5|}) / (1 + P)`
//!   (Phipson & Smyth 2010: never 0, exact for random permutations).

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::{check_pair, invalid, lira_scores, percentile, roc, LiraParams};
use crate::error::{MetricsError, Result};
use crate::matrix::Matrix;
use crate::streams::{stream, Purpose};

/// Default number of model permutations.
pub const DEFAULT_PERMUTATIONS: usize = 1000;
/// Default level of the null band (a 95% band).
pub const DEFAULT_LEVEL: f64 = 0.95;
/// Fewest permutations accepted: with fewer, a 95% band has no tail to speak of.
pub const MIN_PERMUTATIONS: usize = 20;

/// Parameters of [`permutation_test`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PermutationParams {
    /// Number of random model permutations (default [`DEFAULT_PERMUTATIONS`]; at least
    /// [`MIN_PERMUTATIONS`]).
    pub permutations: usize,
    /// Level of the band `0.5 ± h` (default [`DEFAULT_LEVEL`]); in `(0, 1)`.
    pub level: f64,
    /// Seed of the permutations (default 0).
    pub seed: u64,
}

impl Default for PermutationParams {
    fn default() -> Self {
        Self {
            permutations: DEFAULT_PERMUTATIONS,
            level: DEFAULT_LEVEL,
            seed: 0,
        }
    }
}

impl PermutationParams {
    /// Fails with [`MetricsError::InvalidParameter`] naming `permutations` (below
    /// [`MIN_PERMUTATIONS`]) or `level` (outside `(0, 1)`).
    pub fn check(&self) -> Result<()> {
        if self.permutations < MIN_PERMUTATIONS {
            return Err(invalid(
                "permutations",
                self.permutations,
                &format!("must be at least {MIN_PERMUTATIONS}"),
            ));
        }
        if !(self.level > 0.0 && self.level < 1.0) {
            return Err(invalid("level", self.level, "must lie in (0, 1)"));
        }
        Ok(())
    }
}

/// The result of [`permutation_test`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PermutationTest {
    /// The AUC of the attack under the real labels.
    pub auc: f64,
    /// Null half-width `h`: the attack is at chance at the band's level when
    /// `|auc − 0.5| ≤ h`.
    pub half_width: f64,
    /// Two-sided permutation p-value of `|auc − 0.5|`.
    pub p_value: f64,
    /// Number of permutations drawn.
    pub permutations: usize,
    /// Level of the band.
    pub level: f64,
}

impl PermutationTest {
    /// Whether the AUC lies within the null band `0.5 ± half_width`.
    pub fn within_band(&self) -> bool {
        (self.auc - 0.5).abs() <= self.half_width
    }
}

/// `count` random permutations of `0..models`, drawn as described in the module docs.
pub fn model_permutations(models: usize, count: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = stream(seed, Purpose::ModelPermutations);
    (0..count)
        .map(|_| {
            let mut p: Vec<usize> = (0..models).collect();
            p.shuffle(&mut rng);
            p
        })
        .collect()
}

/// The attack's AUC under the real labels (`method` `N × M`, `oracle` `N × K`).
pub fn attack_auc(method: &Matrix<f64>, oracle: &Matrix<f64>, lira: &LiraParams) -> Result<f64> {
    let s = lira_scores(method, oracle, lira)?;
    Ok(roc(s.positives.data(), s.negatives.data())?.auc)
}

/// The attack's AUC under each of `permutations` (each a permutation of `0..M+K`; see the
/// module docs for how one relabels the pooled models).
///
/// Fails with [`MetricsError::InvalidParameter`] naming `permutations` when one is not a
/// permutation of `0..M+K`, and with [`lira_scores`]'s errors.
pub fn permutation_aucs(
    method: &Matrix<f64>,
    oracle: &Matrix<f64>,
    lira: &LiraParams,
    permutations: &[Vec<usize>],
) -> Result<Vec<f64>> {
    lira.check()?;
    check_pair(method, oracle)?;
    let (n, m) = (method.rows(), method.cols());
    let total = m + oracle.cols();
    // The pooled `N × (M + K)` values, once: row i is method row i, then oracle row i.
    let pooled: Vec<f64> = method
        .iter_rows()
        .zip(oracle.iter_rows())
        .flat_map(|(a, b)| a.iter().chain(b).copied())
        .collect();
    let pooled = &pooled;
    let side = |models: &[usize]| {
        let data = (0..n)
            .flat_map(|i| models.iter().map(move |&j| pooled[i * total + j]))
            .collect();
        Matrix::new(n, models.len(), data)
    };
    permutations
        .iter()
        .enumerate()
        .map(|(index, p)| {
            check_permutation(p, total, index)?;
            attack_auc(&side(&p[..m])?, &side(&p[m..])?, lira)
        })
        .collect()
}

fn check_permutation(p: &[usize], total: usize, index: usize) -> Result<()> {
    let mut seen = vec![false; total];
    let ok = p.len() == total
        && p.iter()
            .all(|&j| j < total && !std::mem::replace(&mut seen[j], true));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "permutations",
            format!("entry {index} of length {}", p.len()),
            &format!("every entry must be a permutation of 0..{total} (method + oracle models)"),
        ))
    }
}

/// The band and p-value of an observed AUC against null AUCs (see the module docs).
///
/// Fails with [`MetricsError::TooFewSamples`] for no null AUC, with
/// [`MetricsError::InvalidParameter`] naming `level` outside `(0, 1)`, and with
/// [`MetricsError::NonFinite`] for a non-finite AUC.
pub fn null_band(auc: f64, null_aucs: &[f64], level: f64) -> Result<PermutationTest> {
    if !(level > 0.0 && level < 1.0) {
        return Err(invalid("level", level, "must lie in (0, 1)"));
    }
    if null_aucs.is_empty() {
        return Err(MetricsError::TooFewSamples {
            what: "null AUCs".into(),
            needed: 1,
            found: 0,
        });
    }
    super::check_finite("observed AUC", &[auc])?;
    let dev: Vec<f64> = null_aucs.iter().map(|a| (a - 0.5).abs()).collect();
    let half_width = percentile(&dev, level * 100.0)?;
    let observed = (auc - 0.5).abs();
    let extreme = dev.iter().filter(|&&d| d >= observed).count();
    Ok(PermutationTest {
        auc,
        half_width,
        p_value: (1 + extreme) as f64 / (1 + dev.len()) as f64,
        permutations: dev.len(),
        level,
    })
}

/// The permutation test of the attack: the real AUC ([`attack_auc`]), the AUCs of
/// `params.permutations` random model relabellings ([`model_permutations`] of `0..M+K`
/// with `params.seed`, [`permutation_aucs`]) and their [`null_band`] at `params.level`.
pub fn permutation_test(
    method: &Matrix<f64>,
    oracle: &Matrix<f64>,
    lira: &LiraParams,
    params: &PermutationParams,
) -> Result<PermutationTest> {
    let auc = attack_auc(method, oracle, lira)?;
    permutation_test_of(auc, method, oracle, lira, params)
}

/// [`permutation_test`] for an attack whose real AUC (`auc`) is already known, e.g. from
/// [`lira_attack`](super::lira_attack)'s report: only the relabellings are computed.
pub fn permutation_test_of(
    auc: f64,
    method: &Matrix<f64>,
    oracle: &Matrix<f64>,
    lira: &LiraParams,
    params: &PermutationParams,
) -> Result<PermutationTest> {
    params.check()?;
    let perms = model_permutations(
        method.cols() + oracle.cols(),
        params.permutations,
        params.seed,
    );
    let null = permutation_aucs(method, oracle, lira, &perms)?;
    null_band(auc, &null, params.level)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(rows: usize, cols: usize, f: impl Fn(usize, usize) -> f64) -> Matrix<f64> {
        let f = &f;
        let data = (0..rows)
            .flat_map(|i| (0..cols).map(move |j| f(i, j)))
            .collect();
        Matrix::new(rows, cols, data).unwrap()
    }

    #[test]
    fn identity_permutation_gives_the_real_auc() {
        let method = grid(30, 6, |i, j| (i as f64 * 0.37 + j as f64 * 1.3).sin() + 0.4);
        let oracle = grid(30, 6, |i, j| (i as f64 * 0.37 - j as f64 * 0.7).cos());
        let lira = LiraParams::default();
        let identity: Vec<usize> = (0..12).collect();
        let got = permutation_aucs(&method, &oracle, &lira, &[identity]).unwrap();
        assert_eq!(got, vec![attack_auc(&method, &oracle, &lira).unwrap()]);
    }

    #[test]
    fn model_level_noise_widens_the_band() {
        // Every model adds one offset to all its examples: scores within a model are
        // perfectly correlated, so a per-score interval is far too narrow, while the
        // permutation band (over models) is wide and covers the observed AUC.
        let offset = |j: usize| [0.9, -0.4, 0.2, -1.1, 0.6, -0.2, 1.3, -0.7][j];
        let noise = |i: usize, j: usize| 0.05 * ((i * 7 + j * 13) as f64).sin();
        let method = grid(200, 4, |i, j| i as f64 * 0.01 + offset(j) + noise(i, j));
        let oracle = grid(200, 4, |i, j| {
            i as f64 * 0.01 + offset(j + 4) + noise(i, j + 4)
        });
        let lira = LiraParams::default();
        let t = permutation_test(&method, &oracle, &lira, &PermutationParams::default()).unwrap();
        assert!(t.half_width > 0.3, "{t:?}");
        assert!(t.within_band() && t.p_value > 0.05, "{t:?}");
        let s = lira_scores(&method, &oracle, &lira).unwrap();
        let hm = roc(s.positives.data(), s.negatives.data())
            .unwrap()
            .hanley_mcneil();
        assert!(hm.upper - hm.lower < 0.2, "{hm:?}");
    }

    #[test]
    fn shifted_models_are_outside_the_band() {
        let noise = |i: usize, j: usize| ((i * 31 + j * 17) as f64 * 0.61).sin();
        let method = grid(100, 8, |i, j| i as f64 * 0.05 + 3.0 + noise(i, j));
        let oracle = grid(100, 8, |i, j| i as f64 * 0.05 + noise(i, j + 8));
        let p = PermutationParams {
            permutations: 200,
            ..Default::default()
        };
        let t = permutation_test(&method, &oracle, &LiraParams::default(), &p).unwrap();
        assert!(t.auc > 0.9 && !t.within_band(), "{t:?}");
        // Few of 200 relabellings are as extreme: p at its floor or close.
        assert!(t.p_value < 0.05, "{t:?}");
        assert_eq!(t.permutations, 200);
    }

    #[test]
    fn permutations_are_seeded_and_valid() {
        let a = model_permutations(16, 5, 3);
        assert_eq!(a, model_permutations(16, 5, 3));
        assert_ne!(a, model_permutations(16, 5, 4));
        for p in &a {
            let mut s = p.clone();
            s.sort_unstable();
            assert_eq!(s, (0..16).collect::<Vec<_>>());
        }
    }

    #[test]
    fn bad_inputs_are_named() {
        let method = grid(5, 2, |i, j| (i + j) as f64);
        let oracle = grid(5, 2, |i, j| (i * j) as f64);
        let lira = LiraParams::default();
        for bad in [vec![0, 1, 2], vec![0, 1, 2, 2], vec![0, 1, 2, 4]] {
            let e = permutation_aucs(&method, &oracle, &lira, &[vec![0, 1, 2, 3], bad])
                .unwrap_err()
                .to_string();
            assert!(e.contains("permutations") && e.contains("entry 1"), "{e}");
        }
        let few = PermutationParams {
            permutations: 5,
            ..Default::default()
        };
        let e = permutation_test(&method, &oracle, &lira, &few).unwrap_err();
        assert!(e.to_string().contains("permutations"), "{e}");
        let lvl = PermutationParams {
            level: 1.0,
            ..Default::default()
        };
        assert!(lvl.check().unwrap_err().to_string().contains("level"));
        assert!(null_band(0.5, &[], 0.95).is_err());
        assert!(null_band(f64::NAN, &[0.5], 0.95).is_err());
        let t = null_band(0.5, &[0.4, 0.6, 0.5, 0.55], 0.5).unwrap();
        assert_eq!(t.p_value, 1.0);
    }
}
