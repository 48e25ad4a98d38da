//! `reproduce --oracles N` end to end on the embedded data (every training capped at one
//! epoch): N oracle retrains, N originals, a run per method and original and N held-out
//! retrains; every record compared with the ensemble (mean ± std, z-scores) and carrying
//! the per-example tests (KLoM, the likelihood-ratio attack, feature energy); the sanity
//! checks of the tests themselves (held-out retrains indistinguishable, the original
//! distinguishable on class forgetting); the cost printed first; a rerun redoes nothing.

mod common;

use std::path::Path;

use common::{assert_clean_failure, ok, p, stderr, unlearn};
use serde_json::Value;

const N: usize = 4;

fn study(out: &Path, extra: &[&str]) -> std::process::Output {
    let n = N.to_string();
    let mut args = vec![
        "reproduce",
        "--oracles",
        &n,
        "--methods",
        "ft,ga",
        "--scenarios",
        "class:3",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        p(out),
    ];
    args.extend_from_slice(extra);
    unlearn(&args)
}

fn records(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out.join("results.jsonl"))
        .expect("results.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn f(v: &Value, ptr: &str) -> f64 {
    v.pointer(ptr)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{ptr} missing in {v}"))
}

#[test]
fn oracle_ensemble_study_reports_gaps_and_per_example_tests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("study");

    // The cost comes first and names what is trained.
    let cost = ok(study(&out, &["--cost"]));
    let text = String::from_utf8_lossy(&cost.stdout).into_owned();
    for needle in [
        "4 originals",
        "4 oracle retrains",
        "4 retrains",
        "8 unlearning runs",
        "4 per-example tests",
    ] {
        assert!(text.contains(needle), "'{needle}' not in: {text}");
    }
    assert!(!out.join("results.jsonl").exists(), "--cost ran the study");

    let run = ok(study(&out, &[]));
    assert!(stderr(&run).contains("estimate:"), "{}", stderr(&run));
    let recs = records(&out);
    // 4 members × (retrain, original, ft, ga).
    assert_eq!(recs.len(), 4 * N, "{recs:?}");
    for r in &recs {
        let m = r["method"].as_str().unwrap_or_default();
        assert_eq!(f(r, "/metrics/reference/n") as usize, N, "{m}");
        assert!(r.pointer("/metrics/reference/ua/std").is_some(), "{m}");
        assert!(r.pointer("/metrics/z").is_some_and(Value::is_object), "{m}");
        let auc = f(r, "/metrics/oracle_tests/margin/auc");
        assert!((0.0..=1.0).contains(&auc), "{m}: {auc}");
        let (p50, p95) = (
            f(r, "/metrics/oracle_tests/margin/klom_p50"),
            f(r, "/metrics/oracle_tests/margin/klom_p95"),
        );
        assert!(p50 >= 0.0 && p95 >= p50, "{m}: KLoM {p50} {p95}");
        f(r, "/metrics/oracle_tests/energy/auc");
        assert_eq!(f(r, "/metrics/oracle_tests/oracles") as usize, N);
    }
    let of = |method: &str| {
        recs.iter()
            .find(|r| r["method"] == method)
            .unwrap_or_else(|| panic!("no {method} record"))
    };
    // The original saw class 3, the oracles never did: the attack tells them apart.
    let original_auc = f(of("original"), "/metrics/oracle_tests/margin/auc");
    assert!(
        original_auc >= 0.9,
        "original vs oracles AUC {original_auc}"
    );
    // Held-out retrains are oracles with other seeds: the AUC lies within the permutation
    // band over models, 0.5 ± h.
    let retrain = of("retrain");
    let (auc, h, p) = (
        f(retrain, "/metrics/oracle_tests/margin/auc"),
        f(retrain, "/metrics/oracle_tests/margin/auc_null_half_width"),
        f(retrain, "/metrics/oracle_tests/margin/auc_p_value"),
    );
    assert!(
        (auc - 0.5).abs() <= h && p > 0.05,
        "held-out retrain AUC {auc}, band 0.5 ± {h}, p {p}"
    );
    assert_eq!(
        f(retrain, "/metrics/oracle_tests/margin/permutations") as usize,
        1000
    );
    // The per-score (Hanley–McNeil) interval is still recorded, for comparison.
    let (lo, hi) = (
        f(retrain, "/metrics/oracle_tests/margin/auc_lower"),
        f(retrain, "/metrics/oracle_tests/margin/auc_upper"),
    );
    assert!(lo <= auc && auc <= hi, "[{lo}, {hi}] around {auc}");
    // The original is outside its band with a small p-value.
    let original = of("original");
    assert!(
        f(original, "/metrics/oracle_tests/margin/auc_p_value") < 0.05,
        "original p-value"
    );
    // Every member has its own original and held-out retrain.
    let mut seeds: Vec<u64> = recs
        .iter()
        .filter(|r| r["method"] == "original")
        .map(|r| r["seed"].as_u64().unwrap_or(99))
        .collect();
    seeds.sort_unstable();
    assert_eq!(seeds, (0..N as u64).collect::<Vec<_>>());
    for k in 0..N {
        assert!(out
            .join(format!("class-3/oracles/oracle{k}.safetensors"))
            .exists());
    }
    let originals = std::fs::read_dir(out.join("originals"))
        .expect("originals")
        .count();
    assert!(originals >= N, "{originals} files in originals/");

    let report = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    assert!(report.contains("oracles (n = 4)"), "{report}");
    assert!(report.contains("Per-example tests"), "{report}");

    // A rerun redoes nothing and gives the same records.
    let again = ok(study(&out, &[]));
    assert!(stderr(&again).contains(", 0 to run"), "{}", stderr(&again));
    assert_eq!(records(&out), recs);
}

#[test]
fn oracles_refuses_what_it_cannot_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("x");
    assert_clean_failure(
        &unlearn(&["reproduce", "--oracles", "1", "--out", p(&out), "--cost"]),
        "at least 2",
    );
    assert_clean_failure(
        &unlearn(&[
            "reproduce",
            "--oracles",
            "4",
            "--seeds",
            "2",
            "--out",
            p(&out),
            "--cost",
        ]),
        "drop --seeds 2",
    );
    // A usage error (clap's exit 2) names the option.
    let o = unlearn(&[
        "reproduce",
        "--oracles",
        "4",
        "--klom-bins",
        "0",
        "--out",
        p(&out),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--klom-bins"), "{}", stderr(&o));
    assert!(!out.join("results.jsonl").exists());
}
