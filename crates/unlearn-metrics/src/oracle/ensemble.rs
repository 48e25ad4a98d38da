//! The per-example test of one unlearning method's models against an oracle ensemble,
//! built only from the kernels of [`super`]: margins and outside energies per model
//! ([`example_values`]), then KLoM and the likelihood-ratio attack on each statistic
//! ([`ensemble_test`]).

use serde::{Deserialize, Serialize};

use super::{
    check_models, invalid, klom, lira_attack, margins, outside_energy, permutation_test_of,
    AttackReport, KlomParams, KlomReport, LiraParams, MarginParams, PermutationParams,
    PermutationTest, RocPoints, TprAtFpr,
};
use crate::error::{MetricsError, Result};
use crate::features_file::FeatureBundle;
use crate::matrix::Matrix;
use crate::KRule;

/// Default number of ROC points kept for figures ([`EnsembleParams::roc_points`]).
pub const DEFAULT_ROC_POINTS: usize = 101;

/// Parameters of the whole test (each part checked by its own `check()`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleParams {
    /// Margin clip (default 100).
    pub margin: MarginParams,
    /// KLoM histogram bins (default 20) and smoothing.
    pub klom: KlomParams,
    /// Variance floor and FPR targets (default 1% and 0.1%) of the attack.
    pub lira: LiraParams,
    /// The attack's permutation test over models (default 1,000 permutations, a 95% band,
    /// seed 0).
    #[serde(default)]
    pub permutation: PermutationParams,
    /// Rule for the retain subspace dimension of the energy (default [`KRule::Classes`]).
    pub k: KRule,
    /// At most this many retain rows enter the retain basis (default
    /// [`MetricsConfig::default`](crate::MetricsConfig)'s `max_reference`, 10,000).
    pub max_reference: usize,
    /// Seed of the retain-row subsample of the retain basis (default 0).
    pub seed: u64,
    /// Points kept of each ROC for figures ([`Roc::thin`](super::Roc::thin); default
    /// [`DEFAULT_ROC_POINTS`]); at least 2.
    pub roc_points: usize,
}

impl Default for EnsembleParams {
    fn default() -> Self {
        Self {
            margin: MarginParams::default(),
            klom: KlomParams::default(),
            lira: LiraParams::default(),
            permutation: PermutationParams::default(),
            k: KRule::Classes,
            max_reference: crate::MetricsConfig::default().max_reference,
            seed: 0,
            roc_points: DEFAULT_ROC_POINTS,
        }
    }
}

impl EnsembleParams {
    /// Checks every part: [`MarginParams::check`], [`KlomParams::check`],
    /// [`LiraParams::check`], [`PermutationParams::check`], then fails with [`MetricsError::InvalidParameter`] naming
    /// `k` (`Fixed(0)` or `Auto(τ)` with `τ ∉ (0, 1]`), `max_reference` (0) or
    /// `roc_points` (below 2).
    pub fn check(&self) -> Result<()> {
        self.margin.check()?;
        self.klom.check()?;
        self.lira.check()?;
        self.permutation.check()?;
        match self.k {
            KRule::Fixed(0) => return Err(invalid("k", "Fixed(0)", "must be at least 1")),
            KRule::Auto(tau) if !(tau > 0.0 && tau <= 1.0) => {
                return Err(invalid("k", format!("Auto({tau})"), "τ must lie in (0, 1]"));
            }
            _ => {}
        }
        if self.max_reference == 0 {
            return Err(invalid("max_reference", 0, "must be at least 1"));
        }
        if self.roc_points < 2 {
            return Err(invalid("roc_points", self.roc_points, "must be at least 2"));
        }
        Ok(())
    }
}

/// One model's per-example values on the forget set.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleValues {
    /// The forget labels (identify the examples; equal across the models compared).
    pub labels: Vec<u32>,
    /// Clipped margin of each forget example ([`margins`]).
    pub margins: Vec<f64>,
    /// Energy of each forget feature outside the model's own retain subspace, in `[0, 1]`.
    pub energy: Vec<f64>,
}

/// One model's [`ExampleValues`] from its [`FeatureBundle`]: the [`margins`] of
/// `bundle.forget.logits` with `bundle.forget.labels`, and the [`outside_energy`] of each
/// forget feature against the model's *own* retain subspace `V_k`
/// ([`retain_basis`](crate::retain_basis) of `bundle.retain.features` with `params.k`,
/// `classes` = the number of logit columns, `params.max_reference` and `params.seed`).
pub fn example_values(bundle: &FeatureBundle, params: &EnsembleParams) -> Result<ExampleValues> {
    params.check()?;
    let forget = &bundle.forget;
    let margins = margins(&forget.logits, &forget.labels, &params.margin)?;
    let retain = &bundle.retain.features;
    let basis = crate::retain_basis(
        retain.data(),
        retain.rows(),
        retain.cols(),
        params.k,
        bundle.retain.logits.cols(),
        params.max_reference,
        params.seed,
    )?;
    let v_k = Matrix::new(basis.d, basis.k, basis.v_k)?;
    let energy = outside_energy(&forget.features, &v_k)?;
    Ok(ExampleValues {
        labels: forget.labels.clone(),
        margins,
        energy,
    })
}

/// One statistic's test (margins or energy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerExampleTest {
    /// Median per-example KLoM, in nats.
    pub klom_p50: f64,
    /// 95th percentile of the per-example KLoM, in nats.
    pub klom_p95: f64,
    /// AUC of the likelihood-ratio attack (0.5 = indistinguishable from the oracle).
    pub auc: f64,
    /// Lower end of the Hanley–McNeil 95% interval of `auc`. It counts every (example,
    /// held-out model) score as independent, so it is too narrow when few models are
    /// scored; the verdict uses the permutation band instead.
    pub auc_lower: f64,
    /// Upper end of the Hanley–McNeil 95% interval of `auc`.
    pub auc_upper: f64,
    /// Half-width `h` of the permutation null band over models
    /// ([`permutation_test`](super::permutation_test)): the attack is at chance when `|auc − 0.5| ≤ h`.
    pub auc_null_half_width: f64,
    /// Two-sided permutation p-value of `|auc − 0.5|`.
    pub auc_p_value: f64,
    /// Number of model permutations behind `auc_null_half_width` and `auc_p_value`.
    pub permutations: usize,
    /// TPR at each of the parameters' FPR targets, in order.
    pub tpr_at_fpr: Vec<TprAtFpr>,
    /// The ROC thinned to at most [`EnsembleParams::roc_points`] points.
    pub roc: RocPoints,
}

impl PerExampleTest {
    fn new(
        klom: &KlomReport,
        attack: &AttackReport,
        null: &PermutationTest,
        roc_points: usize,
    ) -> Self {
        Self {
            klom_p50: klom.p50,
            klom_p95: klom.p95,
            auc: attack.auc,
            auc_lower: attack.auc_interval.lower,
            auc_upper: attack.auc_interval.upper,
            auc_null_half_width: null.half_width,
            auc_p_value: null.p_value,
            permutations: null.permutations,
            tpr_at_fpr: attack.tpr_at_fpr.clone(),
            roc: attack.roc.thin(roc_points),
        }
    }

    /// Whether the attack is at chance: `|auc − 0.5|` within the permutation band.
    pub fn indistinguishable(&self) -> bool {
        (self.auc - 0.5).abs() <= self.auc_null_half_width
    }
}

/// The result of [`ensemble_test`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleTest {
    /// Number of method models (M).
    pub models: usize,
    /// Number of oracle models (K).
    pub oracles: usize,
    /// Number of forget examples (N).
    pub examples: usize,
    /// The parameters used.
    pub params: EnsembleParams,
    /// The test on the clipped margins.
    pub margin: PerExampleTest,
    /// The test on the outside energies.
    pub energy: PerExampleTest,
}

/// Checks that every model holds the same examples as `method[0]`, in the same order.
fn check_same_examples(
    reference: &ExampleValues,
    set: &str,
    models: &[ExampleValues],
) -> Result<()> {
    let n = reference.labels.len();
    for (i, m) in models.iter().enumerate() {
        for (what, len) in [
            ("labels", m.labels.len()),
            ("margins", m.margins.len()),
            ("energy", m.energy.len()),
        ] {
            if len != n {
                return Err(MetricsError::LengthMismatch {
                    what: format!("{what} of {set} model {i} vs labels of method model 0"),
                    expected: n,
                    found: len,
                });
            }
        }
        if let Some(j) = (0..n).find(|&j| m.labels[j] != reference.labels[j]) {
            return Err(invalid(
                &format!("labels of {set} model {i}"),
                format!("label {} at example {j}", m.labels[j]),
                &format!(
                    "method model 0 has label {} there: the models must hold the same \
                     forget examples in the same order",
                    reference.labels[j]
                ),
            ));
        }
    }
    Ok(())
}

/// The `examples × models` matrix of one statistic (rows = examples, columns = models).
fn stack(models: &[ExampleValues], value: fn(&ExampleValues) -> &[f64]) -> Result<Matrix<f64>> {
    let n = models.first().map_or(0, |m| value(m).len());
    let mut data = Vec::with_capacity(n * models.len());
    for i in 0..n {
        data.extend(models.iter().map(|m| value(m)[i]));
    }
    Matrix::new(n, models.len(), data)
}

/// [`klom`] and [`lira_attack`] of one statistic, summarised.
fn statistic_test(
    method: &[ExampleValues],
    oracles: &[ExampleValues],
    value: fn(&ExampleValues) -> &[f64],
    params: &EnsembleParams,
) -> Result<PerExampleTest> {
    let (m, o) = (stack(method, value)?, stack(oracles, value)?);
    let kl = klom(&m, &o, &params.klom)?;
    let (_, attack) = lira_attack(&m, &o, &params.lira)?;
    let null = permutation_test_of(attack.auc, &m, &o, &params.lira, &params.permutation)?;
    Ok(PerExampleTest::new(&kl, &attack, &null, params.roc_points))
}

/// The per-example test of one method against an oracle ensemble.
///
/// `method` holds one [`ExampleValues`] per unlearned model (M ≥ 2), `oracles` one per
/// oracle retrain (K ≥ 2). Builds the `N × M` and `N × K` matrices of margins and of
/// energies, then runs [`klom`], [`lira_attack`] and [`permutation_test`](super::permutation_test) on each.
///
/// Fails with [`MetricsError::TooFewSamples`] for fewer than two models on either side,
/// with [`MetricsError::LengthMismatch`] (naming the model) when a model's vectors do not
/// all have `method[0]`'s number of examples, with [`MetricsError::InvalidParameter`]
/// (naming the model and the example) when its labels differ from `method[0]`'s, and
/// with the kernels' errors (no example, non-finite values, invalid parameters).
pub fn ensemble_test(
    method: &[ExampleValues],
    oracles: &[ExampleValues],
    params: &EnsembleParams,
) -> Result<EnsembleTest> {
    params.check()?;
    check_models("method models", method.len())?;
    check_models("oracle models", oracles.len())?;
    let reference = &method[0];
    check_same_examples(reference, "method", method)?;
    check_same_examples(reference, "oracle", oracles)?;
    Ok(EnsembleTest {
        models: method.len(),
        oracles: oracles.len(),
        examples: reference.labels.len(),
        params: params.clone(),
        margin: statistic_test(method, oracles, |m| &m.margins, params)?,
        energy: statistic_test(method, oracles, |m| &m.energy, params)?,
    })
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::features_file::SplitData;

    fn normal(rng: &mut ChaCha8Rng) -> f64 {
        // Box–Muller; 1 − u keeps the logarithm finite.
        let (u, v): (f64, f64) = (rng.random(), rng.random());
        (-2.0 * (1.0 - u).ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// `models` draws of `n` examples: example `i` has margin `mean_i + shift + N(0, 1)` and
    /// energy `clamp(e_i + 0.05·N(0, 1), 0, 1)`, with per-example centres fixed by `seed`.
    fn draw(
        models: usize,
        n: usize,
        shift: f64,
        seed: u64,
        rng: &mut ChaCha8Rng,
    ) -> Vec<ExampleValues> {
        let mut centres = ChaCha8Rng::seed_from_u64(seed);
        let means: Vec<(f64, f64)> = (0..n)
            .map(|_| {
                (
                    centres.random_range(-3.0..3.0),
                    centres.random_range(0.1..0.9),
                )
            })
            .collect();
        (0..models)
            .map(|_| ExampleValues {
                labels: (0..n).map(|i| (i % 10) as u32).collect(),
                margins: means.iter().map(|m| m.0 + shift + normal(rng)).collect(),
                energy: means
                    .iter()
                    .map(|m| (m.1 + 0.05 * normal(rng)).clamp(0.0, 1.0))
                    .collect(),
            })
            .collect()
    }

    #[test]
    fn same_distribution_is_indistinguishable() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let method = draw(16, 200, 0.0, 1, &mut rng);
        let oracles = draw(16, 200, 0.0, 1, &mut rng);
        let t = ensemble_test(&method, &oracles, &EnsembleParams::default()).unwrap();
        assert_eq!((t.models, t.oracles, t.examples), (16, 16, 200));
        for (what, s) in [("margin", &t.margin), ("energy", &t.energy)] {
            assert!((s.auc - 0.5).abs() < 0.05, "{what}: AUC {}", s.auc);
            assert!(s.auc_lower < 0.5 && 0.5 < s.auc_upper, "{what}: {s:?}");
            assert!(s.auc_lower < s.auc && s.auc < s.auc_upper, "{what}");
            assert!(
                s.indistinguishable() && s.auc_p_value > 0.05,
                "{what}: {s:?}"
            );
            assert_eq!(s.permutations, 1000, "{what}");
            assert!(s.klom_p50.is_finite() && s.klom_p50 >= 0.0, "{what}");
            assert!(s.klom_p95 >= s.klom_p50, "{what}");
            assert_eq!(s.tpr_at_fpr.len(), 2);
            assert!(s.roc.fpr.len() <= 101 && s.roc.fpr.len() == s.roc.tpr.len());
        }
    }

    #[test]
    fn shifted_margins_are_detected() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let method = draw(16, 200, 3.0, 1, &mut rng);
        let oracles = draw(16, 200, 0.0, 1, &mut rng);
        let same = draw(16, 200, 0.0, 1, &mut rng);
        let p = EnsembleParams::default();
        let t = ensemble_test(&method, &oracles, &p).unwrap();
        assert!(t.margin.auc >= 0.9, "AUC {}", t.margin.auc);
        assert!(t.margin.auc_lower > 0.5);
        assert!(!t.margin.indistinguishable() && t.margin.auc_p_value < 0.01);
        assert!(
            t.margin.tpr_at_fpr[0].tpr > 0.1,
            "{:?}",
            t.margin.tpr_at_fpr
        );
        // The energies were drawn alike: no separation there.
        assert!(
            (t.energy.auc - 0.5).abs() < 0.05,
            "energy AUC {}",
            t.energy.auc
        );
        let base = ensemble_test(&same, &oracles, &p).unwrap();
        assert!(t.margin.klom_p50 > 2.0 * base.margin.klom_p50);
        assert_eq!(t.margin.roc.fpr.len(), 101);
        assert_eq!(t.margin.roc.fpr[0], 0.0);
        assert_eq!(t.margin.roc.tpr.last(), Some(&1.0));
    }

    #[test]
    fn mismatched_examples_name_the_model() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let method = draw(3, 20, 0.0, 1, &mut rng);
        let oracles = draw(3, 20, 0.0, 1, &mut rng);
        let p = EnsembleParams::default();

        let mut bad = method.clone();
        bad[2].labels[5] += 1;
        let e = ensemble_test(&bad, &oracles, &p).unwrap_err();
        assert!(matches!(e, MetricsError::InvalidParameter { .. }), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains("method model 2") && msg.contains("example 5"),
            "{msg}"
        );

        let mut bad = oracles.clone();
        bad[1].labels.swap(0, 1);
        let msg = ensemble_test(&method, &bad, &p).unwrap_err().to_string();
        assert!(msg.contains("oracle model 1"), "{msg}");

        let mut bad = oracles.clone();
        bad[0].energy.pop();
        let e = ensemble_test(&method, &bad, &p).unwrap_err();
        assert!(matches!(
            e,
            MetricsError::LengthMismatch {
                expected: 20,
                found: 19,
                ..
            }
        ));
        assert!(e.to_string().contains("energy of oracle model 0"), "{e}");

        let e = ensemble_test(&method[..1], &oracles, &p).unwrap_err();
        assert!(matches!(
            e,
            MetricsError::TooFewSamples {
                needed: 2,
                found: 1,
                ..
            }
        ));
        let e = ensemble_test(&method, &oracles[..1], &p).unwrap_err();
        assert!(e.to_string().contains("oracle models"), "{e}");
    }

    #[test]
    fn identical_energies_do_not_fail() {
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        let mut method = draw(4, 30, 0.0, 1, &mut rng);
        let mut oracles = draw(4, 30, 0.0, 1, &mut rng);
        // Example 0: energy exactly 1 under every model (e.g. a zero feature row).
        for m in method.iter_mut().chain(oracles.iter_mut()) {
            m.energy[0] = 1.0;
        }
        let t = ensemble_test(&method, &oracles, &EnsembleParams::default()).unwrap();
        assert!(t.energy.auc.is_finite() && t.energy.klom_p95.is_finite());
        // Every value the same everywhere: KLoM 0 and an AUC of exactly one half.
        for m in method.iter_mut().chain(oracles.iter_mut()) {
            m.energy.iter_mut().for_each(|e| *e = 0.25);
        }
        let t = ensemble_test(&method, &oracles, &EnsembleParams::default()).unwrap();
        assert_eq!((t.energy.klom_p50, t.energy.klom_p95), (0.0, 0.0));
        assert_eq!(t.energy.auc, 0.5);
        assert_eq!(t.energy.roc.fpr, vec![0.0, 1.0]);
    }

    /// Three classes in 4-D: class `c` along axis `c` (plus a small offset), logits
    /// favouring the true class.
    fn split(name: &str, n: usize, shift: usize) -> SplitData {
        let (mut f, mut l, mut y) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            let c = (i + shift) % 3;
            let mut row = [0.05 * (i % 5) as f32; 4];
            row[c] += 1.0;
            f.extend_from_slice(&row);
            let mut logit = [0.1 * (i % 4) as f32; 3];
            logit[c] = 2.0 + (i % 7) as f32 * 0.3;
            l.extend_from_slice(&logit);
            y.push(c as u32);
        }
        let f = Matrix::new(n, 4, f).unwrap();
        SplitData::new(name, f, Matrix::new(n, 3, l).unwrap(), y).unwrap()
    }

    #[test]
    fn example_values_of_a_bundle() {
        let mut forget = split("forget", 12, 1);
        // Row 10 points along the axis no retain class uses, row 11 is zero.
        let mut data = forget.features.clone().into_data();
        data[40..44].copy_from_slice(&[0.0, 0.0, 0.0, 2.0]);
        data[44..48].copy_from_slice(&[0.0; 4]);
        forget.features = Matrix::new(12, 4, data).unwrap();
        let bundle = FeatureBundle::new(
            split("retain", 60, 0),
            forget,
            split("test", 30, 2),
            None,
            None,
            Default::default(),
        )
        .unwrap();
        let p = EnsembleParams::default();
        let v = example_values(&bundle, &p).unwrap();
        let want = margins(&bundle.forget.logits, &bundle.forget.labels, &p.margin).unwrap();
        assert_eq!(v.margins, want);
        assert_eq!(v.labels, bundle.forget.labels);
        assert_eq!(v.energy.len(), 12);
        assert!(
            v.energy.iter().all(|e| (0.0..=1.0).contains(e)),
            "{:?}",
            v.energy
        );
        assert!(v.energy[..10].iter().all(|&e| e < 0.05), "{:?}", v.energy);
        assert!(v.energy[10] > 0.9, "{:?}", v.energy);
        assert_eq!(v.energy[11], 1.0);
        // k = d leaves no energy outside the subspace.
        let all = EnsembleParams {
            k: KRule::Fixed(4),
            ..p.clone()
        };
        let v4 = example_values(&bundle, &all).unwrap();
        assert!(v4.energy[..11].iter().all(|&e| e < 1e-6), "{:?}", v4.energy);
        let bad = EnsembleParams { roc_points: 1, ..p };
        let e = example_values(&bundle, &bad).unwrap_err();
        assert!(e.to_string().contains("roc_points"), "{e}");
    }

    #[test]
    fn params_defaults_checks_and_serde() {
        let p = EnsembleParams::default();
        assert_eq!(
            p.max_reference,
            crate::MetricsConfig::default().max_reference
        );
        assert_eq!((p.klom.bins, p.roc_points, p.seed), (20, 101, 0));
        assert_eq!(p.lira.fpr_targets, vec![0.01, 0.001]);
        assert_eq!((p.margin.clip, p.k), (100.0, KRule::Classes));
        p.check().unwrap();
        let q = EnsembleParams {
            k: KRule::Auto(0.9),
            max_reference: 500,
            seed: 3,
            roc_points: 11,
            ..p.clone()
        };
        for params in [p.clone(), q] {
            let json = serde_json::to_string(&params).unwrap();
            let back: EnsembleParams = serde_json::from_str(&json).unwrap();
            assert_eq!(back, params);
        }
        for (bad, name) in [
            (
                EnsembleParams {
                    k: KRule::Fixed(0),
                    ..p.clone()
                },
                "k",
            ),
            (
                EnsembleParams {
                    k: KRule::Auto(1.5),
                    ..p.clone()
                },
                "k",
            ),
            (
                EnsembleParams {
                    max_reference: 0,
                    ..p.clone()
                },
                "max_reference",
            ),
            (
                EnsembleParams {
                    roc_points: 0,
                    ..p.clone()
                },
                "roc_points",
            ),
        ] {
            match bad.check() {
                Err(MetricsError::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        let mut bad = p.clone();
        bad.klom.bins = 0;
        assert!(bad.check().unwrap_err().to_string().contains("bins"));
    }
}
