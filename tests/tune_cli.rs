//! `unlearn tune` end to end on the embedded data: real trials against a real retrain model,
//! the same trials for the same seed, resume after a half-written line, a refused foreign
//! folder, and a `best.toml` that `unlearn forget --config` takes.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

use common::{ok, p, unlearn, SmallRun};

/// A split with a small training set, an original and a retrain model (one epoch each).
fn small_run(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = SmallRun::new(dir);
    (run.split, run.original, run.retrain)
}

fn tune(run: &(PathBuf, PathBuf, PathBuf), out: &Path, extra: &[&str]) -> Output {
    let (split, orig, retrain) = run;
    let mut args = vec![
        "tune",
        "--method",
        "ga",
        "--checkpoint",
        p(orig),
        "--reference",
        p(retrain),
        "--split",
        p(split),
        "--trials",
        "4",
        "--startup",
        "2",
        "--set",
        "epochs=1",
        "--seed",
        "3",
        "--quiet",
        "--out",
        p(out),
    ];
    args.extend_from_slice(extra);
    unlearn(&args)
}

/// The lines of `trials.jsonl` without their wall times.
fn trials_without_seconds(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("trials.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            v
        })
        .collect()
}

#[test]
fn tune_searches_resumes_and_repeats_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let run = small_run(tmp.path());
    let a = tmp.path().join("a");
    let out = ok(tune(&run, &a, &[]));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("best of 4 trials"), "{said}");
    let trials = trials_without_seconds(&a);
    assert_eq!(trials.len(), 4);
    let phases: Vec<&str> = trials
        .iter()
        .map(|t| t["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["default", "random", "tpe", "tpe"]);
    // The defaults trial sets nothing; the others set lr only (epochs is fixed by --set).
    assert!(trials[0]["set"].as_object().unwrap().is_empty());
    for t in &trials[1..] {
        let set = t["set"].as_object().unwrap();
        assert_eq!(set.keys().collect::<Vec<_>>(), ["lr"], "{t}");
        let lr: f64 = set["lr"].as_str().unwrap().parse().unwrap();
        assert!((1e-4..=1e-2).contains(&lr), "{lr}");
        assert!(t["objective"].as_f64().unwrap().is_finite(), "{t}");
        assert!(
            t["steps"].as_u64().unwrap() >= 1,
            "a real run takes steps: {t}"
        );
    }
    // The best trial is the one with the lowest objective, and best.toml holds its values.
    let best = trials
        .iter()
        .min_by(|x, y| {
            x["objective"]
                .as_f64()
                .unwrap()
                .total_cmp(&y["objective"].as_f64().unwrap())
        })
        .unwrap();
    let toml = std::fs::read_to_string(a.join("best.toml")).unwrap();
    assert!(toml.contains("[ga]\nepochs = 1\n"), "{toml}");
    if let Some(lr) = best["set"].get("lr") {
        assert!(
            toml.contains(&format!("lr = {}", lr.as_str().unwrap())),
            "{toml}"
        );
    }

    // The same seed in another folder: the same trials (wall times aside).
    let b = tmp.path().join("b");
    ok(tune(&run, &b, &[]));
    assert_eq!(trials_without_seconds(&b), trials);
    assert_eq!(std::fs::read_to_string(b.join("best.toml")).unwrap(), toml);

    // A killed search: one complete line and half of the next. The rerun drops the half
    // line, runs the rest and ends where the uninterrupted search did.
    let text = std::fs::read_to_string(b.join("trials.jsonl")).unwrap();
    let first_end = text.find('\n').unwrap() + 1;
    std::fs::write(b.join("trials.jsonl"), &text[..first_end + 40]).unwrap();
    ok(tune(&run, &b, &[]));
    assert_eq!(trials_without_seconds(&b), trials);

    // A folder of another search is refused, naming what differs.
    let o = tune(&run, &b, &["--objective", "avg_gap_output"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("holds another search") && err.contains("objective"),
        "{err}"
    );

    // best.toml goes straight to --config, and the run has the chosen values.
    let (split, orig, _) = &run;
    let m = tmp.path().join("tuned.safetensors");
    ok(unlearn(&[
        "forget",
        "--method",
        "ga",
        "--checkpoint",
        p(orig),
        "--split",
        p(split),
        "--config",
        p(&a.join("best.toml")),
        "--seed",
        "3",
        "--quiet",
        "--out",
        p(&m),
    ]));
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("tuned.safetensors.record.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["params"]["epochs"], 1);
    if let Some(lr) = best["set"].get("lr") {
        let lr: f64 = lr.as_str().unwrap().parse().unwrap();
        assert_eq!(record["params"]["lr"].as_f64().unwrap(), lr);
    }
}

#[test]
fn tune_refuses_bad_requests_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("t");
    let none = unlearn(&[
        "tune",
        "--method",
        "ga",
        "--checkpoint",
        "missing.safetensors",
        "--reference",
        "missing-too.safetensors",
        "--split",
        "missing.json",
        "--out",
        p(&out),
    ]);
    assert!(!none.status.success());
    let err = String::from_utf8_lossy(&none.stderr);
    assert!(err.contains("missing.json"), "{err}");
    let space = tmp.path().join("space.toml");
    std::fs::write(&space, "lr_typo = { low = 1e-3, high = 1e-2 }\n").unwrap();
    let run = small_run(tmp.path());
    let o = tune(&run, &out, &["--space", p(&space)]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("'lr_typo' is not a parameter of ga"), "{err}");
    let o = tune(&run, &out, &["--objective", "2*ua"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected avg_gap_output"));
}

#[test]
fn a_search_space_is_checked_whole_before_trial_0() {
    let tmp = tempfile::tempdir().unwrap();
    let run = small_run(tmp.path());
    let out = tmp.path().join("t");
    let space = tmp.path().join("space.toml");
    let refused = |text: &str, needles: &[&str]| {
        std::fs::write(&space, text).unwrap();
        let before = std::fs::read(&space).unwrap();
        let o = tune(&run, &out, &["--space", p(&space)]);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(1), "{text}: {err}");
        for n in needles {
            assert!(err.contains(n), "{text}: expected '{n}' in {err}");
        }
        assert!(!out.exists(), "{text}: {} was left", out.display());
        assert_eq!(std::fs::read(&space).unwrap(), before);
    };
    refused(
        "lr = { low = 0.001, high = 0.01, logg = true }\n",
        &["'lr': unknown key 'logg'"],
    );
    refused("exclude = [\"nope\"]\n", &["'exclude' names 'nope'"]);
    refused(
        "batch_size = { low = 0, high = 0 }\n",
        &[
            "batch_size = 0 (its low end",
            "a whole number ≥ 1",
            "nothing was run",
        ],
    );
    refused(
        "momentum = { low = -0.5, high = 0.5 }\n",
        &["momentum = -0.5 (its low end", "a number in [0, 1)"],
    );
    refused(
        "momentum = { low = 0.5, high = 1.5 }\n",
        &["momentum = 1.5 (its high end"],
    );
    refused(
        "lr = { low = 1e-3, high = 1e-2 }\nepochs = { low = 0.5, high = 3.7 }\n",
        &["'epochs': a whole-number parameter takes whole bounds"],
    );
    // An entry for a parameter that --set fixes is dropped, with a warning (epochs=1 is set).
    std::fs::write(&space, "epochs = { low = 1, high = 3 }\n").unwrap();
    let o = ok(tune(&run, &out, &["--space", p(&space)]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("searches 'epochs', but --set epochs=1 fixes it: that entry is dropped"),
        "{err}"
    );
}
