//! The oracle-ensemble kernels ([`unlearn_metrics::oracle`]) against numpy / scipy /
//! scikit-learn, plus parameter errors and sanity cases.
//!
//! `tests/fixtures/oracle_expected.json` comes from `tests/reference/oracle_reference.py`
//! (numpy 2.4, scipy 1.17, scikit-learn 1.9). Tolerances, with the reason for each:
//!
//! * margins, KL values, percentiles, Gaussian fits, AUC, Hanley–McNeil SE: relative
//!   `1e-9` (plus `1e-12` absolute for values that are 0), f64 on both sides, only the
//!   order of floating-point operations differs;
//! * likelihood-ratio scores: `1e-9 · max(|w|, 1)`: each score is the difference of two
//!   log-densities that reach ~1e6 where the variance is floored at 1e-6;
//! * histogram counts, ROC FPR / TPR points and TPR at FPR: exact (same integer counts,
//!   same single division); the script asserts that no two distinct attack scores are
//!   within 1e-9, so the score order cannot flip under rounding;
//! * outside energy: absolute `1e-12` (values in [0, 1], clipped at 0);
//! * permutation test: the AUC of every relabelling to relative `1e-12` (ratios of the same
//!   integer counts; the script asserts no near-tied scores in any relabelling), the
//!   band's half-width and the p-value to relative `1e-12`.
//!
//! Run with `--nocapture` to see the worst differences measured.

use std::path::PathBuf;

use serde_json::Value;
use unlearn_metrics::oracle::{
    attack_auc, common_range, histogram, klom, klom_example, lira_attack, lira_scores, margin,
    margins, null_band, outside_energy, percentile, permutation_aucs, roc, roc_report, KlomParams,
    LiraParams, MarginParams,
};
use unlearn_metrics::{Matrix, MetricsError};

fn expected() -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oracle_expected.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn vecf(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn flat(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().flat_map(vecf).collect()
}

fn usize_of(v: &Value) -> usize {
    v.as_u64().unwrap() as usize
}

/// Asserts `|g − w| ≤ rel·max(|w|, floor) + abs` element-wise; returns the worst
/// `|g − w| / max(|w|, floor)`.
fn close(got: &[f64], want: &[f64], rel: f64, floor: f64, abs: f64, what: &str) -> f64 {
    assert_eq!(got.len(), want.len(), "{what} length");
    let mut worst = 0.0f64;
    for (j, (g, w)) in got.iter().zip(want).enumerate() {
        let scale = w.abs().max(floor);
        let d = (g - w).abs();
        assert!(d <= rel * scale + abs, "{what}[{j}]: {g} vs {w}");
        if scale > 0.0 {
            worst = worst.max(d / scale);
        }
    }
    eprintln!("{what}: worst relative difference {worst:e}");
    worst
}

#[test]
fn margins_match_scipy_logsumexp() {
    let e = &expected()["margins"];
    let c = usize_of(&e["classes"]);
    let labels: Vec<u32> = e["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect();
    let n = labels.len();
    let logits = Matrix::new(n, c, vecf(&e["logits"])).unwrap();
    let p = MarginParams::default();
    let got = margins(&logits, &labels, &p).unwrap();
    close(&got, &vecf(&e["expected"]), 1e-9, 0.0, 1e-12, "margins f64");
    // The slice form agrees with the batch form bit for bit.
    for (i, &y) in labels.iter().enumerate() {
        assert_eq!(margin(logits.row(i), y as usize, &p).unwrap(), got[i]);
    }
    // python: logits.astype(float32).astype(float64); f32 in, f64 arithmetic.
    let l32: Vec<f32> = vecf(&e["logits_f32"]).iter().map(|&v| v as f32).collect();
    let l32 = Matrix::new(n, c, l32).unwrap();
    let got = margins(&l32, &labels, &p).unwrap();
    close(
        &got,
        &vecf(&e["expected_f32"]),
        1e-9,
        0.0,
        1e-12,
        "margins f32",
    );
    let small = MarginParams {
        clip: e["clip_small"].as_f64().unwrap(),
    };
    let got = margins(&logits, &labels, &small).unwrap();
    close(
        &got,
        &vecf(&e["expected_clip_small"]),
        1e-9,
        0.0,
        1e-12,
        "margins clip 1.5",
    );
}

#[test]
fn klom_matches_numpy_histogram_and_scipy_entropy() {
    let exp = expected();
    let e = &exp["klom"];
    let (m, k) = (usize_of(&e["models_method"]), usize_of(&e["models_oracle"]));
    let method = vecf(&e["method"]);
    let oracle = vecf(&e["oracle"]);
    let n = method.len() / m;
    let method = Matrix::new(n, m, method).unwrap();
    let oracle = Matrix::new(n, k, oracle).unwrap();
    let params = KlomParams {
        bins: usize_of(&exp["params"]["bins"]),
        eps: exp["params"]["eps"].as_f64().unwrap(),
    };
    // python: np.histogram(x, bins, range=(union.min(), union.max())): exact counts.
    for i in 0..n {
        let (lo, hi) = common_range(method.row(i), oracle.row(i)).unwrap();
        for (set, row) in [
            ("hist_method", method.row(i)),
            ("hist_oracle", oracle.row(i)),
        ] {
            let want: Vec<u64> = e[set][i]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .collect();
            assert_eq!(
                histogram(row, lo, hi, params.bins).unwrap(),
                want,
                "{set} {i}"
            );
        }
    }
    // python: scipy.stats.entropy(p_method, q_oracle); np.percentile(per, [50, 95]).
    let r = klom(&method, &oracle, &params).unwrap();
    close(
        &r.per_example,
        &vecf(&e["per_example"]),
        1e-9,
        0.0,
        1e-12,
        "KLoM",
    );
    assert_eq!(r.per_example[1], 0.0, "identical sets give exactly 0");
    let p = [r.p50, r.p95];
    let want = [e["p50"].as_f64().unwrap(), e["p95"].as_f64().unwrap()];
    close(&p, &want, 1e-9, 0.0, 0.0, "KLoM P50/P95");
    assert_eq!(
        klom_example(method.row(7), oracle.row(7), &params).unwrap(),
        r.per_example[7]
    );
}

#[test]
fn lira_scores_and_roc_match_scipy_and_sklearn() {
    let exp = expected();
    let e = &exp["klom"];
    let (m, k) = (usize_of(&e["models_method"]), usize_of(&e["models_oracle"]));
    let method = vecf(&e["method"]);
    let n = method.len() / m;
    let method = Matrix::new(n, m, method).unwrap();
    let oracle = Matrix::new(n, k, vecf(&e["oracle"])).unwrap();
    let l = &exp["lira"];
    let params = LiraParams {
        min_var: exp["params"]["min_var"].as_f64().unwrap(),
        ..Default::default()
    };
    // python: x[:, :M//2].mean(1), np.maximum(x[:, :M//2].var(1), min_var).
    let s = lira_scores(&method, &oracle, &params).unwrap();
    let mm: Vec<f64> = s.method_fit.iter().map(|g| g.mean).collect();
    let mv: Vec<f64> = s.method_fit.iter().map(|g| g.var).collect();
    let om: Vec<f64> = s.oracle_fit.iter().map(|g| g.mean).collect();
    let ov: Vec<f64> = s.oracle_fit.iter().map(|g| g.var).collect();
    close(
        &mm,
        &vecf(&l["method_mean"]),
        1e-9,
        0.0,
        1e-12,
        "method mean",
    );
    close(&mv, &vecf(&l["method_var"]), 1e-9, 0.0, 0.0, "method var");
    close(
        &om,
        &vecf(&l["oracle_mean"]),
        1e-9,
        0.0,
        1e-12,
        "oracle mean",
    );
    close(&ov, &vecf(&l["oracle_var"]), 1e-9, 0.0, 0.0, "oracle var");
    assert_eq!(s.method_fit[6].var, params.min_var, "floored");
    // python: norm.logpdf(x, mu_m, sd_m) - norm.logpdf(x, mu_o, sd_o) on the held-out half.
    let pos = flat(&l["positives"]);
    let neg = flat(&l["negatives"]);
    close(s.positives.data(), &pos, 1e-9, 1.0, 0.0, "LR positives");
    close(s.negatives.data(), &neg, 1e-9, 1.0, 0.0, "LR negatives");
    let (_, report) = lira_attack(&method, &oracle, &params).unwrap();
    check_roc(&report, &l["roc"], "LiRA");
}

#[test]
fn permutation_test_matches_numpy_relabellings() {
    let exp = expected();
    let e = &exp["klom"];
    let (m, k) = (usize_of(&e["models_method"]), usize_of(&e["models_oracle"]));
    let p = &exp["permutation"];
    let first = usize_of(&p["first_row"]);
    let method = vecf(&e["method"]);
    let n = method.len() / m;
    let method = Matrix::new(n - first, m, method[first * m..].to_vec()).unwrap();
    let oracle = vecf(&e["oracle"]);
    let oracle = Matrix::new(n - first, k, oracle[first * k..].to_vec()).unwrap();
    let params = LiraParams {
        min_var: exp["params"]["min_var"].as_f64().unwrap(),
        ..Default::default()
    };
    let perms: Vec<Vec<usize>> = p["permutations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q.as_array().unwrap().iter().map(usize_of).collect())
        .collect();
    assert_eq!(perms.len(), 40);
    // python: roc_auc_score of the attack rerun on pooled[:, π[:M]] vs pooled[:, π[M:]].
    let aucs = permutation_aucs(&method, &oracle, &params, &perms).unwrap();
    close(&aucs, &vecf(&p["aucs"]), 1e-12, 0.0, 0.0, "permuted AUCs");
    let auc = attack_auc(&method, &oracle, &params).unwrap();
    close(
        &[auc],
        &[p["auc"].as_f64().unwrap()],
        1e-12,
        0.0,
        0.0,
        "AUC",
    );
    // python: np.quantile(|AUC_π − 0.5|, level), (1 + #{≥ observed}) / (1 + P).
    let band = null_band(auc, &vecf(&p["aucs"]), p["level"].as_f64().unwrap()).unwrap();
    let want_hw = p["half_width"].as_f64().unwrap();
    close(
        &[band.half_width],
        &[want_hw],
        1e-12,
        0.0,
        0.0,
        "half-width",
    );
    assert_eq!(band.p_value, p["p_value"].as_f64().unwrap());
    assert_eq!(band.permutations, 40);
    // The fixture's method differs from its oracle (60% of examples shifted): p < 0.05.
    assert!(band.p_value < 0.05 && !band.within_band(), "{band:?}");
}

#[test]
fn roc_with_ties_matches_sklearn() {
    let exp = expected();
    let e = &exp["roc_ties"];
    let targets = vecf(&e["fpr_targets"]);
    let report = roc_report(&vecf(&e["positives"]), &vecf(&e["negatives"]), &targets).unwrap();
    check_roc(&report, e, "ROC with ties");
}

fn check_roc(r: &unlearn_metrics::oracle::AttackReport, e: &Value, what: &str) {
    // python: roc_auc_score(y, s); roc_curve(y, s, drop_intermediate=False).
    let auc = e["auc"].as_f64().unwrap();
    close(&[r.auc], &[auc], 1e-9, 0.0, 0.0, &format!("{what} AUC"));
    // Rates exactly: sklearn's fps / n_neg and tps / n_pos from the script's integer
    // counts (serde_json's default float parser may be 1 ULP off, so the counts, not the
    // printed rates, are the reference); the printed rates within 1 ULP as a cross-check.
    let (np, nn) = (usize_of(&e["n_pos"]), usize_of(&e["n_neg"]));
    assert_eq!((r.roc.n_pos, r.roc.n_neg), (np, nn), "{what} sizes");
    let rate = |key: &str, n: usize| -> Vec<f64> {
        e[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap() as f64 / n as f64)
            .collect()
    };
    assert_eq!(r.roc.fpr, rate("fps", nn), "{what} fpr");
    assert_eq!(r.roc.tpr, rate("tps", np), "{what} tpr");
    close(
        &r.roc.fpr,
        &vecf(&e["fpr"]),
        1e-15,
        0.0,
        0.0,
        &format!("{what} fpr"),
    );
    close(
        &r.roc.tpr,
        &vecf(&e["tpr"]),
        1e-15,
        0.0,
        0.0,
        &format!("{what} tpr"),
    );
    assert_eq!(r.roc.thresholds[0], f64::INFINITY);
    let thr = &r.roc.thresholds[1..];
    close(
        thr,
        &vecf(&e["thresholds_finite"]),
        1e-9,
        1.0,
        0.0,
        &format!("{what} thresholds"),
    );
    // python: tps[fpr <= t].max() / n_pos: exact.
    let got: Vec<f64> = r.tpr_at_fpr.iter().map(|t| t.tpr).collect();
    assert_eq!(got, rate("tp_at_fpr", np), "{what} TPR at FPR");
    close(
        &got,
        &vecf(&e["tpr_at_fpr"]),
        1e-15,
        0.0,
        0.0,
        &format!("{what} TPR@FPR"),
    );
    let fprs: Vec<f64> = r.tpr_at_fpr.iter().map(|t| t.fpr).collect();
    assert_eq!(fprs, vecf(&e["fpr_targets"]));
    // python: Hanley–McNeil formula; lower/upper = auc ∓ norm.ppf(0.975)·se.
    let ci = vecf(&e["auc_ci95"]);
    let i = r.auc_interval;
    close(
        &[i.se, i.lower, i.upper],
        &[e["auc_se"].as_f64().unwrap(), ci[0], ci[1]],
        1e-9,
        0.0,
        0.0,
        &format!("{what} Hanley–McNeil"),
    );
}

#[test]
fn outside_energy_matches_numpy() {
    let e = &expected()["outside_energy"];
    let (d, k) = (usize_of(&e["d"]), usize_of(&e["k"]));
    let f: Vec<f32> = vecf(&e["features_f32"]).iter().map(|&v| v as f32).collect();
    let f = Matrix::new(f.len() / d, d, f).unwrap();
    let basis = Matrix::new(d, k, vecf(&e["basis"])).unwrap();
    let got = outside_energy(&f, &basis).unwrap();
    close(
        &got,
        &vecf(&e["expected"]),
        0.0,
        1.0,
        1e-12,
        "outside energy",
    );
    assert_eq!(got[1], 1.0, "zero row");
    // An f32 basis (as `RetainBasis::v_k`) passes the orthonormality check.
    let b32: Vec<f32> = basis.data().iter().map(|&v| v as f32).collect();
    let b32 = Matrix::new(d, k, b32).unwrap();
    let got32 = outside_energy(&f, &b32).unwrap();
    close(&got32, &got, 0.0, 1.0, 1e-6, "outside energy, f32 basis");
}

// ---------------------------------------------------------------------------------------
// Errors: the crate's error, naming the field, never a panic.
// ---------------------------------------------------------------------------------------

fn param_name(e: MetricsError) -> String {
    match e {
        MetricsError::InvalidParameter { name, .. } => name,
        other => panic!("expected InvalidParameter, got {other:?}"),
    }
}

fn grid(rows: usize, cols: usize, f: impl Fn(usize, usize) -> f64) -> Matrix<f64> {
    let data = (0..rows * cols).map(|i| f(i / cols, i % cols)).collect();
    Matrix::new(rows, cols, data).unwrap()
}

#[test]
fn parameter_errors_name_the_field() {
    let m = grid(3, 4, |i, j| (i * 4 + j) as f64 * 0.3);
    let o = grid(3, 4, |i, j| (i + j) as f64 * 0.2);
    let bad = KlomParams {
        bins: 0,
        ..Default::default()
    };
    assert_eq!(param_name(klom(&m, &o, &bad).unwrap_err()), "bins");
    assert_eq!(param_name(bad.check().unwrap_err()), "bins");
    for eps in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let bad = KlomParams {
            eps,
            ..Default::default()
        };
        assert_eq!(
            param_name(klom_example(m.row(0), o.row(0), &bad).unwrap_err()),
            "eps"
        );
    }
    for clip in [0.0, -3.0, f64::NAN] {
        let p = MarginParams { clip };
        assert_eq!(
            param_name(margin(&[1.0f32, 2.0], 0, &p).unwrap_err()),
            "clip"
        );
    }
    for min_var in [0.0, -1.0, f64::NAN] {
        let p = LiraParams {
            min_var,
            ..Default::default()
        };
        assert_eq!(param_name(lira_scores(&m, &o, &p).unwrap_err()), "min_var");
    }
    let p = LiraParams {
        fpr_targets: vec![0.01, 1.5],
        ..Default::default()
    };
    assert_eq!(
        param_name(lira_attack(&m, &o, &p).unwrap_err()),
        "fpr_targets"
    );
    assert_eq!(
        param_name(percentile(&[1.0], 101.0).unwrap_err()),
        "percentile"
    );
    assert_eq!(
        param_name(histogram(&[1.0], 2.0, 2.0, 3).unwrap_err()),
        "histogram range"
    );
}

#[test]
fn too_few_models_and_bad_inputs_are_errors() {
    let one = grid(3, 1, |i, _| i as f64);
    let four = grid(3, 4, |i, j| (i + j) as f64);
    let kp = KlomParams::default();
    let lp = LiraParams::default();
    for r in [
        klom(&one, &four, &kp).map(|_| ()),
        klom(&four, &one, &kp).map(|_| ()),
        lira_scores(&one, &four, &lp).map(|_| ()),
        lira_scores(&four, &one, &lp).map(|_| ()),
        klom_example(&[1.0], &[1.0, 2.0], &kp).map(|_| ()),
    ] {
        match r.unwrap_err() {
            MetricsError::TooFewSamples {
                what,
                needed,
                found,
            } => {
                assert!(what.contains("models"), "{what}");
                assert_eq!((needed, found), (2, 1));
            }
            other => panic!("{other:?}"),
        }
    }
    let mut nan = four.clone().into_data();
    nan[5] = f64::NAN;
    let nan = Matrix::new(3, 4, nan).unwrap();
    for (r, arr) in [
        (klom(&nan, &four, &kp).map(|_| ()), "method"),
        (klom(&four, &nan, &kp).map(|_| ()), "oracle"),
        (lira_scores(&nan, &four, &lp).map(|_| ()), "method"),
    ] {
        match r.unwrap_err() {
            MetricsError::NonFinite { array, index } => {
                assert_eq!((array.as_str(), index), (arr, 5))
            }
            other => panic!("{other:?}"),
        }
    }
    let mp = MarginParams::default();
    assert!(matches!(
        margin(&[1.0f64, f64::NAN, 0.0], 0, &mp),
        Err(MetricsError::NonFinite { index: 1, .. })
    ));
    assert!(matches!(
        margin(&[1.0f32, 2.0], 2, &mp),
        Err(MetricsError::LabelOutOfRange { classes: 2, .. })
    ));
    assert!(matches!(
        margin(&[1.0f32], 0, &mp),
        Err(MetricsError::TooFewSamples { needed: 2, .. })
    ));
    let l = Matrix::new(2, 3, vec![0.0f32; 6]).unwrap();
    assert!(matches!(
        margins(&l, &[0], &mp),
        Err(MetricsError::LengthMismatch { .. })
    ));
    assert!(matches!(
        klom(&grid(2, 4, |_, _| 0.0), &four, &kp),
        Err(MetricsError::LengthMismatch { .. })
    ));
    assert!(matches!(
        roc(&[], &[1.0]),
        Err(MetricsError::TooFewSamples { .. })
    ));
    assert!(matches!(
        roc(&[1.0], &[f64::INFINITY]),
        Err(MetricsError::NonFinite { .. })
    ));
    assert!(matches!(
        klom(
            &grid(2, 2, |_, _| f64::MAX),
            &grid(2, 2, |_, _| -f64::MAX),
            &kp
        ),
        Err(MetricsError::Numerical { .. })
    ));
    // A basis whose columns are not orthonormal, and mismatched widths.
    let f = grid(2, 3, |i, j| (i + j + 1) as f64);
    let b = grid(3, 2, |_, _| 1.0);
    assert_eq!(param_name(outside_energy(&f, &b).unwrap_err()), "basis");
    assert!(matches!(
        outside_energy(&f, &grid(4, 2, |i, j| (i == j) as u8 as f64)),
        Err(MetricsError::WidthMismatch { .. })
    ));
}

// ---------------------------------------------------------------------------------------
// Sanity
// ---------------------------------------------------------------------------------------

/// A deterministic pseudo-random margin in roughly [−3, 3] (no RNG dependency needed).
fn wobble(i: usize, j: usize) -> f64 {
    let x = ((i * 7919 + j * 104_729) % 1000) as f64 / 1000.0;
    6.0 * x - 3.0
}

#[test]
fn identical_method_and_oracle_are_indistinguishable() {
    let m = grid(40, 8, wobble);
    let r = klom(&m, &m, &KlomParams::default()).unwrap();
    assert!(r.per_example.iter().all(|&v| v == 0.0));
    assert_eq!((r.p50, r.p95), (0.0, 0.0));
    // Identical score sets: every threshold moves both rates together, AUC exactly 1/2.
    let s: Vec<f64> = (0..200).map(|i| wobble(i, 3)).collect();
    let rep = roc_report(&s, &s, &[0.01, 0.001]).unwrap();
    assert_eq!(rep.auc, 0.5);
    assert!(rep.auc_interval.lower < 0.5 && rep.auc_interval.upper > 0.5);
    // The LR attack on identical ensembles: positives and negatives come from the same
    // held-out columns, so the AUC is 1/2.
    let (_, rep) = lira_attack(&m, &m, &LiraParams::default()).unwrap();
    assert!((rep.auc - 0.5).abs() < 1e-12, "{}", rep.auc);
}

#[test]
fn separated_method_and_oracle_are_distinguished() {
    let m = grid(40, 8, |i, j| 20.0 + wobble(i, j));
    let o = grid(40, 8, |i, j| -20.0 + wobble(i, j + 8));
    let r = klom(&m, &o, &KlomParams::default()).unwrap();
    // Disjoint supports: KL ≈ ln(1/eps)·(mass of p) — large.
    assert!(r.p50 > 5.0, "{}", r.p50);
    let (_, rep) = lira_attack(&m, &o, &LiraParams::default()).unwrap();
    assert_eq!(rep.auc, 1.0);
    assert!(rep.tpr_at_fpr.iter().all(|t| t.tpr == 1.0));
    let rep = roc_report(&[2.0, 3.0, 4.0], &[-1.0, 0.0, 1.0], &[0.0]).unwrap();
    assert_eq!((rep.auc, rep.tpr_at_fpr[0].tpr), (1.0, 1.0));
    // All ties: AUC 1/2, and at FPR 0 nothing is detected.
    let rep = roc_report(&[1.0; 5], &[1.0; 7], &[0.0]).unwrap();
    assert_eq!((rep.auc, rep.tpr_at_fpr[0].tpr), (0.5, 0.0));
}
