//! `unlearn features` and `unlearn metrics` end to end, and `eval --full`.

use std::path::Path;
use std::process::{Command, Output};

fn unlearn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_unlearn"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

/// The files of one small run: a split, an original and a retrain model (one epoch each)
/// and their features.
struct Run {
    dir: tempfile::TempDir,
    split: std::path::PathBuf,
    orig: std::path::PathBuf,
    f_orig: std::path::PathBuf,
    f_retrain: std::path::PathBuf,
}

fn small_run() -> Run {
    let dir = tempfile::tempdir().unwrap();
    let split = dir.path().join("split.json");
    // A small training set (val takes 90%) keeps the two trainings short.
    ok(unlearn(&[
        "split",
        "--scenario",
        "random:0.2",
        "--val-fraction",
        "0.9",
        "--seed",
        "1",
        "--out",
        p(&split),
    ]));
    let orig = dir.path().join("orig.safetensors");
    let retrain = dir.path().join("retrain.safetensors");
    for (subset, out) in [("train", &orig), ("retain", &retrain)] {
        ok(unlearn(&[
            "train",
            "--split",
            p(&split),
            "--subset",
            subset,
            "--epochs",
            "1",
            "--quiet",
            "--out",
            p(out),
        ]));
    }
    let f_orig = dir.path().join("orig.features.safetensors");
    let f_retrain = dir.path().join("retrain.features.npz");
    ok(unlearn(&[
        "features",
        "--checkpoint",
        p(&orig),
        "--split",
        p(&split),
        "--max-retain",
        "2000",
        "--quiet",
        "--out",
        p(&f_orig),
    ]));
    ok(unlearn(&[
        "features",
        "--checkpoint",
        p(&retrain),
        "--split",
        p(&split),
        "--max-retain",
        "2000",
        "--quiet",
        "--out",
        p(&f_retrain),
    ]));

    Run {
        dir,
        split,
        orig,
        f_orig,
        f_retrain,
    }
}

/// `unlearn metrics --json -` with the reference: every metric is there.
fn metrics_with_reference(run: &Run) -> (Output, serde_json::Value) {
    let (f_orig, f_retrain) = (&run.f_orig, &run.f_retrain);
    let first = ok(unlearn(&[
        "metrics",
        "--features",
        p(f_orig),
        "--reference",
        p(f_retrain),
        "--json",
        "-",
    ]));
    let v: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    for key in [
        "fa",
        "ua",
        "ra",
        "ta",
        "nmi",
        "f1",
        "avg_gap_output",
        "avg_gap_feature",
    ] {
        assert!(v[key].as_f64().is_some(), "{key} missing in {v}");
    }
    for key in ["correctness", "confidence", "entropy", "m_entropy", "prob"] {
        assert!(v["mia"][key].as_f64().is_some(), "mia.{key} missing");
    }
    assert!(v["da"]["forget"].as_f64().unwrap() <= 1.0);
    assert_eq!(v["da"]["k"], 10);
    assert!(v["lp"]["forget"].as_f64().is_some());
    assert!(v["gap"].as_object().unwrap().contains_key("ua"));
    (first, v)
}

/// The reference's metrics are kept next to it and reused.
fn reference_metrics_are_kept(run: &Run, first: &Output) {
    let (dir, f_orig, f_retrain) = (&run.dir, &run.f_orig, &run.f_retrain);
    // The reference's metrics are kept next to it and reused: a second call, and a call
    // after the kept copy was damaged, give the same bytes.
    let kept: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|q| {
            q.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("retrain.features.npz.metrics-"))
        })
        .collect();
    assert_eq!(kept.len(), 1, "one kept reference report: {kept:?}");
    let again = |what: &str| {
        let o = ok(unlearn(&[
            "metrics",
            "--features",
            p(f_orig),
            "--reference",
            p(f_retrain),
            "--json",
            "-",
        ]));
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&first.stdout),
            "{what}"
        );
    };
    again("with the kept reference report");
    std::fs::write(&kept[0], "{ not a report").unwrap();
    again("after the kept report was damaged");
}

/// `--plot-data`: the figure data (spectrum energies sum to 1, PCA coordinates per sample).
fn plot_data_is_written(run: &Run) {
    let (dir, f_orig) = (&run.dir, &run.f_orig);
    // --plot-data: the figure data (spectrum energies sum to 1, PCA coordinates per sample).
    let plot = dir.path().join("plot.json");
    ok(unlearn(&[
        "metrics",
        "--features",
        p(f_orig),
        "--plot-data",
        p(&plot),
    ]));
    let pd: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plot).unwrap()).unwrap();
    for key in ["eigenvalues", "forget", "test"] {
        let v: Vec<f64> = pd["spectrum"][key]
            .as_array()
            .unwrap_or_else(|| panic!("spectrum.{key} missing in {pd}"))
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(v.len(), 128, "spectrum.{key}");
        assert!(
            (v.iter().sum::<f64>() - 1.0).abs() < 1e-6,
            "spectrum.{key} sums to 1"
        );
    }
    let forget_points = pd["pca2"]["forget"].as_array().expect("pca2.forget");
    assert!(!forget_points.is_empty() && forget_points[0].as_array().unwrap().len() == 2);
}

#[test]
fn features_then_metrics_with_a_reference() {
    let run = small_run();
    let (first, v) = metrics_with_reference(&run);
    reference_metrics_are_kept(&run, &first);
    plot_data_is_written(&run);
    let (dir, split, orig, f_orig, f_retrain) =
        (&run.dir, &run.split, &run.orig, &run.f_orig, &run.f_retrain);
    // The table mode prints the retrain column.
    let o = ok(unlearn(&[
        "metrics",
        "--features",
        p(f_orig),
        "--reference",
        p(f_retrain),
    ]));
    assert!(String::from_utf8_lossy(&o.stdout).contains("retrain"));

    // eval --full gives the same metrics in one go.
    let o = ok(unlearn(&[
        "eval",
        "--full",
        "--checkpoint",
        p(orig),
        "--split",
        p(split),
        "--json",
        "-",
    ]));
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(e["da"]["forget"].as_f64().is_some());
    assert_eq!(e["fa"], v["fa"]);

    // Bad input: a features file without the forget arrays.
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"not a safetensors file").unwrap();
    let o = unlearn(&["metrics", "--features", p(&bad)]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.safetensors") && !err.contains("panicked"),
        "{err}"
    );
}
