//! Provenance and bad-input checks end to end (issue #14; `docs/reliability.md` names each
//! test): a checkpoint of another split, features of another split, a hand-edited manifest,
//! a damaged or foreign resume state, non-finite weights, endless or escaping inputs, and
//! counts out of range. Each is an error with a non-zero exit that names the thing (or, with
//! `--force` where stated, a warning), and leaves the inputs unchanged.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{
    assert_clean_failure, bytes, ok, p, small_split, stderr, train_one_epoch, unlearn, SmallRun,
};
use unlearn_models::checkpoint::{self, RawTensor};

fn features(ckpt: &Path, split: &Path, out: &Path) {
    ok(unlearn(&[
        "features",
        "--checkpoint",
        p(ckpt),
        "--split",
        p(split),
        "--quiet",
        "--out",
        p(out),
    ]));
}

#[test]
fn artefacts_of_another_split_are_refused_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let run = SmallRun::new(dir.path());
    // Seed 2 draws another validation set, hence another training list.
    let other = small_split(dir.path(), "other.json", 2);
    let before = bytes(&run.original);
    let forget = |split: &Path, force: bool| {
        let mut args = vec![
            "forget",
            "--method",
            "ga",
            "--checkpoint",
            p(&run.original),
            "--split",
            p(split),
            "--set",
            "epochs=1",
            "--quiet",
            "--out",
        ];
        let out = dir.path().join("ga.safetensors");
        let out = out.to_str().unwrap().to_string();
        args.push(&out);
        if force {
            args.push("--force");
        }
        unlearn(&args)
    };
    let o = forget(&other, false);
    assert_clean_failure(&o, "was trained on another training list");
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert!(!dir.path().join("ga.safetensors").exists());
    let o = ok(forget(&other, true));
    assert!(stderr(&o).contains("warning: checkpoint"), "{}", stderr(&o));
    assert_eq!(bytes(&run.original), before);

    // Features of the model on one split, a reference extracted on another.
    let f_this = dir.path().join("orig.this.safetensors");
    let f_other = dir.path().join("retrain.other.safetensors");
    features(&run.original, &run.split, &f_this);
    features(&run.retrain, &other, &f_other);
    let metrics = |force: bool| {
        let mut args = vec![
            "metrics",
            "--features",
            p(&f_this),
            "--reference",
            p(&f_other),
        ];
        if force {
            args.push("--force");
        }
        unlearn(&args)
    };
    assert_clean_failure(&metrics(false), "was extracted on another split");
    let o = ok(metrics(true));
    assert!(stderr(&o).contains("warning: reference"), "{}", stderr(&o));

    // A retrain given as the original is refused by name.
    let o = unlearn(&[
        "tune",
        "--method",
        "ga",
        "--checkpoint",
        p(&run.retrain),
        "--reference",
        p(&run.retrain),
        "--split",
        p(&run.split),
        "--trials",
        "1",
        "--quiet",
        "--out",
        p(&dir.path().join("tune")),
    ]);
    assert_clean_failure(&o, "is a retrained model");
}

#[test]
fn a_manifest_whose_scenario_does_not_describe_its_lists_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let split = small_split(dir.path(), "split.json", 1);
    let text = String::from_utf8(bytes(&split)).unwrap();
    let edited = text.replacen("\"random:0.2\"", "\"random:0.3\"", 1);
    assert_ne!(edited, text, "the scenario is stored as a string");
    let hand = dir.path().join("hand.json");
    std::fs::write(&hand, &edited).unwrap();
    let eval = |force: bool| {
        let mut args = vec!["train", "--split", p(&hand), "--epochs", "1", "--quiet"];
        let out = dir.path().join("m.safetensors");
        let out = out.to_str().unwrap().to_string();
        args.extend(["--out", &out]);
        if force {
            args.push("--force");
        }
        unlearn(&args)
    };
    let o = eval(false);
    assert_clean_failure(&o, "does not describe its forget list");
    assert!(stderr(&o).contains("random:0.3"), "{}", stderr(&o));
    assert_eq!(bytes(&hand), edited.as_bytes());
    let o = ok(eval(true));
    assert!(stderr(&o).contains("warning: split"), "{}", stderr(&o));
}

#[test]
fn a_damaged_or_foreign_resume_state_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let split = small_split(dir.path(), "split.json", 1);
    let out = dir.path().join("m.safetensors");
    let state = dir.path().join("m.safetensors.state");
    // Kill a run once its first epoch's state is on disk.
    let mut child = Command::new(env!("CARGO_BIN_EXE_unlearn"))
        .args([
            "train",
            "--split",
            p(&split),
            "--epochs",
            "40",
            "--seed",
            "1",
        ])
        .args(["--quiet", "--out", p(&out)])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while !state.exists() {
        assert!(t0.elapsed().as_secs() < 120, "no state after 2 minutes");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.exists());
    let resume = |seed: &str| {
        unlearn(&[
            "train",
            "--split",
            p(&split),
            "--epochs",
            "40",
            "--seed",
            seed,
            "--quiet",
            "--out",
            p(&out),
        ])
    };
    // Another seed: refused, and the reason says which.
    assert_clean_failure(&resume("2"), "it belongs to a run with seed 1");
    // 64 damaged bytes in the weights: refused, nothing written.
    let mut damaged = bytes(&state);
    let n = damaged.len();
    for b in &mut damaged[n - 200..n - 136] {
        *b ^= 0x5a;
    }
    std::fs::write(&state, &damaged).unwrap();
    let o = resume("1");
    assert_clean_failure(&o, "the file is damaged");
    assert!(!out.exists(), "no checkpoint from a damaged state");
    assert_eq!(bytes(&state), damaged, "the state is left for inspection");
}

/// `path` rewritten with every value of `tensor` replaced by `value`.
fn poisoned_copy(path: &Path, out: &Path, tensor: &str, value: f32) {
    let ckpt = checkpoint::read(path).unwrap();
    let mut tensors = BTreeMap::new();
    for (name, t) in &ckpt.tensors {
        let raw = if name == tensor {
            let bad = t.ones_like().unwrap().affine(value as f64, 0.0).unwrap();
            RawTensor::from_tensor(&bad).unwrap()
        } else {
            RawTensor::from_tensor(t).unwrap()
        };
        tensors.insert(name.clone(), raw);
    }
    for (name, v) in &ckpt.counters {
        tensors.insert(name.clone(), RawTensor::scalar_i64(*v));
    }
    std::fs::write(out, checkpoint::safetensors_bytes(&tensors, &ckpt.metadata)).unwrap();
}

#[test]
fn non_finite_endless_and_escaping_inputs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = SmallRun::new(dir.path());
    let name = checkpoint::read(&run.original)
        .unwrap()
        .tensors
        .keys()
        .find(|k| k.ends_with("weight"))
        .cloned()
        .unwrap();
    let nan = dir.path().join("nan.safetensors");
    poisoned_copy(&run.original, &nan, &name, f32::NAN);
    let eval = |ckpt: &str| unlearn(&["eval", "--checkpoint", ckpt, "--split", p(&run.split)]);
    assert_clean_failure(&eval(p(&nan)), &format!("contains NaN in {name}"));
    let inf = dir.path().join("inf.safetensors");
    poisoned_copy(&run.original, &inf, &name, f32::INFINITY);
    assert_clean_failure(&eval(p(&inf)), "contains an infinity");

    // An endless stream is refused without reading it.
    let t0 = std::time::Instant::now();
    assert_clean_failure(&eval("/dev/zero"), "is a character device");
    assert!(t0.elapsed().as_secs() < 20);
    // A length field larger than the file.
    let lie = dir.path().join("lie.safetensors");
    let mut b = (1u64 << 40).to_le_bytes().to_vec();
    b.extend_from_slice(b"{}");
    std::fs::write(&lie, &b).unwrap();
    assert_clean_failure(&eval(p(&lie)), "header claims 1099511627776 bytes");
    // Hub addresses that would leave the cache.
    assert_clean_failure(
        &eval("hf://org/repo/../../etc/passwd"),
        "may not contain '..'",
    );
}

#[test]
fn counts_and_schedules_out_of_range_are_refused_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let split = small_split(dir.path(), "split.json", 1);
    let out = dir.path().join("m.safetensors");
    let usage = |args: &[&str], needle: &str| {
        let o = unlearn(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle) && err.contains("at least 1"), "{err}");
    };
    let train = ["train", "--split", p(&split), "--quiet", "--out", p(&out)];
    usage(
        &[&train[..], &["--batch-size", "0"]].concat(),
        "--batch-size",
    );
    usage(&[&train[..], &["--epochs", "0"]].concat(), "--epochs");
    let features = [
        "features",
        "--checkpoint",
        "x",
        "--split",
        p(&split),
        "--out",
        "y",
    ];
    usage(
        &[&features[..], &["--batch-size", "0"]].concat(),
        "--batch-size",
    );
    usage(
        &[&features[..], &["--max-retain", "0"]].concat(),
        "--max-retain",
    );
    let forget = [
        "forget",
        "--method",
        "ga",
        "--checkpoint",
        "x",
        "--split",
        p(&split),
    ];
    usage(
        &[&forget[..], &["--out", "y", "--monitor", "0"]].concat(),
        "--monitor",
    );
    let tune = [
        "tune",
        "--method",
        "ga",
        "--checkpoint",
        "x",
        "--reference",
        "r",
    ];
    usage(
        &[&tune[..], &["--split", "s", "--out", "o", "--trials", "0"]].concat(),
        "--trials",
    );
    for (extra, needle) in [
        (
            &["--epochs", "2", "--warmup-epochs", "3"][..],
            "warmup_epochs",
        ),
        (&["--schedule", "multistep:5,3"][..], "milestones"),
        (&["--schedule", "multistep:0,3"][..], "milestones"),
        (&["--clip-grad-norm=-1"][..], "clip_grad_norm"),
    ] {
        let o = unlearn(&[&train[..], extra].concat());
        assert_clean_failure(&o, needle);
        assert!(!out.exists());
    }
    // Training on a split whose checkpoint exists is fine; a truncated checkpoint is not.
    train_one_epoch(&split, "train", 0, &out);
    let whole = bytes(&out);
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let o = unlearn(&["eval", "--checkpoint", p(&cut), "--split", p(&split)]);
    assert_clean_failure(&o, "cut.safetensors");
}
