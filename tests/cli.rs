//! The `unlearn` binary end to end: happy paths on the embedded data, and bad input that must
//! give a clear message, a non-zero exit, no panic and no output file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn unlearn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_unlearn"))
        .args(args)
        .env_remove("UNLEARN_DATA")
        .output()
        .expect("the binary runs")
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Fails with the message unless the command failed cleanly (exit 1, no panic).
fn assert_clean_failure(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "expected exit 1, stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
}

/// Fails unless the command line was refused before any work, as clap refuses a bad value
/// (exit 2, the value and what was expected named, no panic).
fn assert_usage_error(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "expected exit 2, stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
    assert!(
        err.contains("expected one of"),
        "the accepted values in: {err}"
    );
}

fn write_idx(dir: &Path, train_labels: &[u8], test_labels: &[u8]) {
    let images = |n: usize| {
        let mut v = vec![0, 0, 8, 3];
        for d in [n as u32, 28, 28] {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend((0..n * 784).map(|i| (i % 251) as u8));
        v
    };
    let labels = |l: &[u8]| {
        let mut v = vec![0, 0, 8, 1];
        v.extend_from_slice(&(l.len() as u32).to_be_bytes());
        v.extend_from_slice(l);
        v
    };
    std::fs::write(
        dir.join("train-images-idx3-ubyte"),
        images(train_labels.len()),
    )
    .unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), labels(train_labels)).unwrap();
    std::fs::write(
        dir.join("t10k-images-idx3-ubyte"),
        images(test_labels.len()),
    )
    .unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), labels(test_labels)).unwrap();
}

#[test]
fn every_command_has_help_with_examples() {
    for args in [
        vec!["--help"],
        vec!["split", "--help"],
        vec!["train", "--help"],
        vec!["eval", "--help"],
        vec!["data", "info", "--help"],
    ] {
        let o = unlearn(&args);
        assert!(o.status.success());
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("Examples:"), "{args:?}: {out}");
    }
}

#[test]
fn data_info_describes_the_embedded_subset() {
    let o = unlearn(&["data", "info", "--data", "embedded", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["num_train"], 10_000);
    assert_eq!(v["num_test"], 2_000);
    assert_eq!(v["num_classes"], 10);
}

#[test]
fn split_is_deterministic_and_checks_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.json");
    let b = dir.path().join("b.json");
    for out in [&a, &b] {
        let o = unlearn(&[
            "split",
            "--data",
            "embedded",
            "--scenario",
            "random:0.1",
            "--seed",
            "4",
            "--out",
            p(out),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());

    for (scenario, needle) in [
        ("random:1.5", "1.5"),
        ("random:0", "0"),
        ("random:-0.1", "-0.1"),
        ("class:10", "10"),
        ("backdoor:0.05,target=12", "12"),
        ("shuffle:0.1", "shuffle"),
    ] {
        let out = dir.path().join("bad.json");
        let o = unlearn(&[
            "split",
            "--data",
            "embedded",
            "--scenario",
            scenario,
            "--out",
            p(&out),
        ]);
        assert_clean_failure(&o, needle);
        assert!(!out.exists(), "{scenario}: no output file on error");
    }
}

#[test]
fn forget_sets_import_from_npy() {
    let dir = tempfile::tempdir().unwrap();
    // np.save("forget.npy", np.array([3, 1, 4, 1592, 65], dtype=np.int64)) written by hand.
    let mut header = b"{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }".to_vec();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
    npy.extend_from_slice(&header);
    for v in [3i64, 1, 4, 1592, 65] {
        npy.extend_from_slice(&v.to_le_bytes());
    }
    let npy_path = dir.path().join("forget.npy");
    std::fs::write(&npy_path, npy).unwrap();
    let out = dir.path().join("split.json");
    let o = unlearn(&[
        "split",
        "--data",
        "embedded",
        "--forget-npy",
        p(&npy_path),
        "--out",
        p(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let forget: Vec<u64> = v["forget"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    assert_eq!(forget, vec![1, 3, 4, 65, 1592]);
}

#[test]
fn corrupt_data_files_are_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    write_idx(dir.path(), &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], &[0, 1]);
    let ok = unlearn(&["data", "info", "--data", &format!("idx:{}", p(dir.path()))]);
    assert!(ok.status.success(), "{}", stderr(&ok));

    // Truncated image file.
    let f = dir.path().join("train-images-idx3-ubyte");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() - 100]).unwrap();
    let o = unlearn(&["data", "info", "--data", &format!("idx:{}", p(dir.path()))]);
    assert_clean_failure(&o, "train-images-idx3-ubyte");

    // Wrong magic number.
    let mut bad = bytes.clone();
    bad[3] = 9;
    std::fs::write(&f, &bad).unwrap();
    let o = unlearn(&["data", "info", "--data", &format!("idx:{}", p(dir.path()))]);
    assert_clean_failure(&o, "train-images-idx3-ubyte");

    // Label out of range.
    write_idx(dir.path(), &[0, 1, 2, 3, 4, 5, 6, 7, 8, 42], &[0, 1]);
    let o = unlearn(&["data", "info", "--data", &format!("idx:{}", p(dir.path()))]);
    assert_clean_failure(&o, "42");

    // Missing folder: says where it looked.
    let o = unlearn(&["data", "info", "--data", "idx:/nonexistent/folder"]);
    assert_clean_failure(&o, "/nonexistent/folder");
    let o = unlearn(&["data", "info", "--data", "nonsense"]);
    assert_clean_failure(&o, "nonsense");
}

#[test]
fn train_then_eval_on_the_embedded_data() {
    let dir = tempfile::tempdir().unwrap();
    let split = dir.path().join("split.json");
    let o = unlearn(&[
        "split",
        "--data",
        "embedded",
        "--scenario",
        "class:3",
        "--seed",
        "0",
        "--out",
        p(&split),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ckpt = dir.path().join("retrain.safetensors");
    let log = dir.path().join("log.jsonl");
    let o = unlearn(&[
        "train",
        "--split",
        p(&split),
        "--subset",
        "retain",
        "--epochs",
        "1",
        "--seed",
        "0",
        "--quiet",
        "--out",
        p(&ckpt),
        "--log",
        p(&log),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(ckpt.exists());
    assert!(
        !PathBuf::from(format!("{}.state", p(&ckpt))).exists(),
        "no state left after success"
    );
    let lines = std::fs::read_to_string(&log).unwrap();
    let epoch: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(epoch["epoch"], 1);

    let o = unlearn(&[
        "eval",
        "--checkpoint",
        p(&ckpt),
        "--split",
        p(&split),
        "--json",
        "-",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for key in ["fa", "ra", "va", "ta"] {
        assert!(v[key].as_f64().is_some(), "{key} missing: {v}");
    }
    // Trained without class 3, the model cannot predict it: FA is (near) zero, RA is high.
    assert!(v["fa"].as_f64().unwrap() < 5.0, "{v}");
    assert!(v["ra"].as_f64().unwrap() > 60.0, "{v}");

    // The checkpoint into the wrong architecture: every problem listed, exit 1.
    let o = unlearn(&[
        "eval",
        "--checkpoint",
        p(&ckpt),
        "--arch",
        "resnet18-cifar",
        "--split",
        p(&split),
    ]);
    assert_clean_failure(&o, "missing tensor 'layer1.0.conv1.weight'");

    // A truncated checkpoint.
    let bytes = std::fs::read(&ckpt).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..1000]).unwrap();
    let o = unlearn(&["eval", "--checkpoint", p(&cut), "--split", p(&split)]);
    assert_clean_failure(&o, "cut.safetensors");
}

#[test]
fn divergence_and_bad_hyper_parameters_leave_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let split = dir.path().join("split.json");
    let o = unlearn(&[
        "split",
        "--scenario",
        "random:0.5",
        "--val-fraction",
        "0.9",
        "--out",
        p(&split),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("m.safetensors");
    let o = unlearn(&[
        "train",
        "--split",
        p(&split),
        "--subset",
        "retain",
        "--epochs",
        "1",
        "--lr",
        "1e12",
        "--quiet",
        "--out",
        p(&out),
    ]);
    assert_clean_failure(&o, "diverged");
    assert!(!out.exists());
    let o = unlearn(&[
        "train",
        "--split",
        p(&split),
        "--epochs",
        "0",
        "--quiet",
        "--out",
        p(&out),
    ]);
    // Counts are checked by one parser for every command: a usage error naming the flag.
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--epochs") && err.contains("at least 1"),
        "{err}"
    );
    let o = unlearn(&[
        "train",
        "--split",
        p(&split),
        "--arch",
        "resnet50",
        "--quiet",
        "--out",
        p(&out),
    ]);
    // `--arch` is parsed into the architecture enum by clap: a usage error.
    assert_usage_error(&o, "resnet50");
    assert!(!out.exists());
}

#[test]
fn a_split_for_other_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("idx");
    std::fs::create_dir_all(&idx).unwrap();
    let labels: Vec<u8> = (0..100).map(|i| (i % 10) as u8).collect();
    write_idx(&idx, &labels, &labels[..20]);
    let split = dir.path().join("split.json");
    let o = unlearn(&[
        "split",
        "--data",
        &format!("idx:{}", p(&idx)),
        "--out",
        p(&split),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("m.safetensors");
    let o = unlearn(&[
        "train",
        "--data",
        "embedded",
        "--split",
        p(&split),
        "--quiet",
        "--out",
        p(&out),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!stderr(&o).contains("panicked"));
    assert!(!out.exists());
}
