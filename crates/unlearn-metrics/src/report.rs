//! The configuration, the report and [`evaluate`], which computes every metric.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cluster::{kmeans, nmi, pairwise_f1};
use crate::da::{KRule, RetainEigen};
use crate::error::{MetricsError, Result};
use crate::features_file::{FeatureBundle, SplitData};
use crate::lp::{stratified_split, LogRegParams, LogisticRegression, LpReport};
use crate::matrix::Matrix;
use crate::mia::{mia_all, MiaReport};
use crate::output::accuracy;

/// What [`evaluate`] computes and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsConfig {
    /// Subspace dimension rule for DA (default: number of classes).
    pub k: KRule,
    /// Seed of every random choice: the DA reference subsample, the LP split and
    /// the k-means initialisations (default 0).
    pub seed: u64,
    /// Class scenario: the forgotten classes; `ta` is then measured on the other
    /// classes and `ta_forgotten` on these.
    pub forgotten_classes: Option<Vec<u32>>,
    /// Backdoor scenario: the target class for ASR.
    pub backdoor_target: Option<u32>,
    /// At most this many retain rows build the DA reference (default 10,000).
    pub max_reference: usize,
    /// At most this many shadow members and as many non-members for MIA (default 10,000).
    pub mia_max: usize,
    /// k-means restarts (default 10).
    pub kmeans_restarts: usize,
    /// The fewest samples each of the retain, forget and test sets needs (default
    /// [`MIN_SET_SIZE`]; at least 2). This project's formalisation of "one forget sample is
    /// not a result": one floor for every metric.
    pub min_set_size: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            k: KRule::Classes,
            seed: 0,
            forgotten_classes: None,
            backdoor_target: None,
            max_reference: 10_000,
            mia_max: 10_000,
            kmeans_restarts: 10,
            min_set_size: MIN_SET_SIZE,
        }
    }
}

/// DA values (fractions in [0, 1]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DaReport {
    /// DA of the forget features (DA_f).
    pub forget: f64,
    /// DA of the test features (DA_t).
    pub test: f64,
    /// The subspace dimension used.
    pub k: usize,
    /// `‖V_kᵀ W_k‖_F² / k` with `W_k` from the forget features.
    pub subspace: f64,
}

/// Alignment curves `A(1..=min(d, 4·classes))`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curves {
    /// Forget probe.
    pub forget: Vec<f64>,
    /// Test probe.
    pub test: Vec<f64>,
}

/// Every metric of one model (accuracies and MIA in percent; DA, NMI, F1 fractions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsReport {
    /// Forget accuracy.
    pub fa: f64,
    /// Unlearning accuracy, `100 − fa`.
    pub ua: f64,
    /// Retain accuracy.
    pub ra: f64,
    /// Test accuracy (on the remaining classes in the class scenario).
    pub ta: f64,
    /// Validation accuracy, when the bundle has a `val` split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub va: Option<f64>,
    /// Test accuracy on the forgotten classes (class scenario).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ta_forgotten: Option<f64>,
    /// Attack success rate (backdoor scenario).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asr: Option<f64>,
    /// MIA-efficacy per variant.
    pub mia: MiaReport,
    /// Dimensional alignment.
    pub da: DaReport,
    /// Linear probe.
    pub lp: LpReport,
    /// NMI of k-means clusters vs labels, in [0, 1].
    pub nmi: f64,
    /// Pairwise F1 of k-means clusters vs labels, in [0, 1].
    pub f1: f64,
    /// Alignment curves.
    pub curves: Curves,
    /// Retain eigenvalues (descending).
    pub spectrum: Vec<f64>,
    /// Samples per split.
    pub counts: BTreeMap<String, usize>,
}

impl MetricsReport {
    /// Pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| MetricsError::Format {
            path: "<report>".into(),
            reason: e.to_string(),
        })
    }
}

/// The default of [`MetricsConfig::min_set_size`]: the fewest samples a retain, forget or
/// test set may have for [`evaluate`] to report anything (every metric has the same floor).
pub const MIN_SET_SIZE: usize = 10;

fn need(what: &str, needed: usize, found: usize) -> Result<()> {
    if found < needed {
        return Err(MetricsError::TooFewSamples {
            what: what.to_string(),
            needed,
            found,
        });
    }
    Ok(())
}

fn select(m: &Matrix<f64>, idx: &[usize]) -> Result<Matrix<f64>> {
    m.select_rows(idx)
}

/// Computes every metric of spec §3 for one bundle.
///
/// Features are L2-normalised per row (in `f64`) before DA, LP and clustering.
/// Errors on invalid bundles or configurations, and when a set is too small:
/// empty retain/forget sets, a test set with fewer than two samples, a
/// clustering set with fewer samples than classes, a probe-fit half with a
/// single class.
pub fn evaluate(bundle: &FeatureBundle, cfg: &MetricsConfig) -> Result<MetricsReport> {
    bundle.validate()?;
    let classes = bundle.classes();
    let d = bundle.dim();
    let (r, f, t) = (&bundle.retain, &bundle.forget, &bundle.test);
    // One rule for every metric: each set needs `min_set_size` samples (default
    // MIN_SET_SIZE; never under 2, the test set is split into probe halves) (an accuracy, an
    // attack or a subspace energy over one or two samples is not a result).
    let floor = cfg.min_set_size.max(2);
    need("the retain set", floor, r.len())?;
    need("the forget set", floor, f.len())?;
    need("the test set", floor, t.len())?;

    let (fa, ra, va, ta, ta_forgotten) = output_accuracies(bundle, cfg)?;
    let asr = backdoor_asr(bundle, cfg)?;
    let mia = mia_all(r, t, f, cfg.mia_max)?;

    // Feature space.
    let zr = r.features.l2_normalized_f64();
    let zf = f.features.l2_normalized_f64();
    let zt = t.features.l2_normalized_f64();
    let eig = RetainEigen::from_normalized(&zr, cfg.max_reference, cfg.seed)?;
    let k = cfg.k.resolve(&eig.eigenvalues, classes)?;
    let curve_len = d.min(4 * classes);
    let jmax = k.max(curve_len);
    let mut cf = eig.curve(&zf, jmax)?;
    let mut ct = eig.curve(&zt, jmax)?;
    let da = DaReport {
        forget: cf[k - 1],
        test: ct[k - 1],
        k,
        subspace: eig.subspace(&zf, k)?,
    };
    cf.truncate(curve_len);
    ct.truncate(curve_len);

    let lp = linear_probe(&zt, &zf, t, f, cfg.seed)?;
    let (nmi_v, f1) = clustering(&zt, &zf, t, f, classes, cfg)?;

    let mut counts = BTreeMap::new();
    for (name, s) in bundle.splits() {
        counts.insert(name.to_string(), s.len());
    }
    if let Some(tr) = &bundle.triggered {
        counts.insert("triggered".to_string(), tr.labels.len());
    }
    Ok(MetricsReport {
        fa,
        ua: 100.0 - fa,
        ra,
        ta,
        va,
        ta_forgotten,
        asr,
        mia,
        da,
        lp,
        nmi: nmi_v,
        f1,
        curves: Curves {
            forget: cf,
            test: ct,
        },
        spectrum: eig.eigenvalues,
        counts,
    })
}

/// FA, RA, VA, TA and (for forgotten classes) TA on those classes, in percent.
type Accuracies = (f64, f64, Option<f64>, f64, Option<f64>);

fn output_accuracies(bundle: &FeatureBundle, cfg: &MetricsConfig) -> Result<Accuracies> {
    let classes = bundle.classes();
    let (r, f, t) = (&bundle.retain, &bundle.forget, &bundle.test);
    let fa = accuracy(&f.logits, &f.labels, None).unwrap_or(0.0);
    let ra = accuracy(&r.logits, &r.labels, None).unwrap_or(0.0);
    let va = bundle
        .val
        .as_ref()
        .and_then(|v| accuracy(&v.logits, &v.labels, None));
    let (ta, ta_forgotten) = match &cfg.forgotten_classes {
        None => (accuracy(&t.logits, &t.labels, None).unwrap_or(0.0), None),
        Some(fc) => {
            if let Some(&c) = fc.iter().find(|&&c| c as usize >= classes) {
                return Err(MetricsError::InvalidParameter {
                    name: "forgotten_classes".into(),
                    value: c.to_string(),
                    reason: format!("the model has {classes} classes"),
                });
            }
            let remaining = |y: u32| !fc.contains(&y);
            let forgotten = |y: u32| fc.contains(&y);
            let ta = accuracy(&t.logits, &t.labels, Some(&remaining)).ok_or_else(|| {
                MetricsError::TooFewSamples {
                    what: "test samples of the remaining classes".into(),
                    needed: 1,
                    found: 0,
                }
            })?;
            (ta, accuracy(&t.logits, &t.labels, Some(&forgotten)))
        }
    };
    Ok((fa, ra, va, ta, ta_forgotten))
}

/// The backdoor's ASR over the triggered test images, when the bundle has them and the
/// configuration names the target.
fn backdoor_asr(bundle: &FeatureBundle, cfg: &MetricsConfig) -> Result<Option<f64>> {
    let classes = bundle.classes();
    Ok(match (cfg.backdoor_target, &bundle.triggered) {
        (Some(target), Some(tr)) => {
            if target as usize >= classes {
                return Err(MetricsError::InvalidParameter {
                    name: "backdoor_target".into(),
                    value: target.to_string(),
                    reason: format!("the model has {classes} classes"),
                });
            }
            crate::output::attack_success_rate(&tr.logits, &tr.labels, target)
        }
        _ => None,
    })
}

/// A logistic-regression probe fitted on a stratified half of the normalised test
/// features, scored on the forget set and the other half.
fn linear_probe(
    zt: &Matrix<f64>,
    zf: &Matrix<f64>,
    t: &SplitData,
    f: &SplitData,
    seed: u64,
) -> Result<LpReport> {
    let d = zt.cols();
    let (fit_idx, eval_idx) = stratified_split(&t.labels, 0.5, seed);
    need("probe-eval half of the test set", 1, eval_idx.len())?;
    let xfit = select(zt, &fit_idx)?;
    let yfit: Vec<u32> = fit_idx.iter().map(|&i| t.labels[i]).collect();
    let probe =
        LogisticRegression::fit(xfit.data(), xfit.rows(), d, &yfit, &LogRegParams::default())?;
    let xeval = select(zt, &eval_idx)?;
    let yeval: Vec<u32> = eval_idx.iter().map(|&i| t.labels[i]).collect();
    Ok(LpReport {
        forget: probe.accuracy(zf.data(), &f.labels)?,
        test: probe.accuracy(xeval.data(), &yeval)?,
    })
}

/// k-means on the normalised forget features (joined by the test features when the forget
/// set is one class), scored by NMI and pairwise F1 against the labels.
fn clustering(
    zt: &Matrix<f64>,
    zf: &Matrix<f64>,
    t: &SplitData,
    f: &SplitData,
    classes: usize,
    cfg: &MetricsConfig,
) -> Result<(f64, f64)> {
    let d = zt.cols();
    let forget_spans = f.labels.iter().any(|&y| y != f.labels[0]);
    let (cx, cy) = if forget_spans {
        (zf.clone(), f.labels.clone())
    } else {
        let mut y = f.labels.clone();
        y.extend_from_slice(&t.labels);
        (zf.vstack(zt)?, y)
    };
    let km = kmeans(
        cx.data(),
        cx.rows(),
        d,
        classes,
        cfg.kmeans_restarts,
        cfg.seed,
    )?;
    Ok((nmi(&cy, &km.labels)?, pairwise_f1(&cy, &km.labels)?))
}
