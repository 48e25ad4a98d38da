//! Helpers shared by the end-to-end tests of the `unlearn` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `unlearn` with `args` (no `UNLEARN_DATA` from the caller's environment).
pub fn unlearn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_unlearn"))
        .args(args)
        .env_remove("UNLEARN_DATA")
        .output()
        .expect("the binary runs")
}

/// A path as an argument.
pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// The bytes of a file the test made.
pub fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("readable")
}

/// The command's stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Fails unless the command succeeded; returns it.
pub fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

/// Fails unless the command failed cleanly: exit 1, no panic, `needle` in the message.
pub fn assert_clean_failure(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "expected exit 1, stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
}

/// A split of the embedded data with a small training set (`random:0.2`, 90 % held out for
/// validation) made with `seed`.
pub fn small_split(dir: &Path, name: &str, seed: u64) -> PathBuf {
    let split = dir.join(name);
    ok(unlearn(&[
        "split",
        "--scenario",
        "random:0.2",
        "--val-fraction",
        "0.9",
        "--seed",
        &seed.to_string(),
        "--out",
        p(&split),
    ]));
    split
}

/// Trains one epoch on `subset` of `split` into `out`.
pub fn train_one_epoch(split: &Path, subset: &str, seed: u64, out: &Path) {
    ok(unlearn(&[
        "train",
        "--split",
        p(split),
        "--subset",
        subset,
        "--epochs",
        "1",
        "--seed",
        &seed.to_string(),
        "--quiet",
        "--out",
        p(out),
    ]));
}

/// A split with an original and a retrain model (one epoch each) in `dir`.
pub struct SmallRun {
    pub split: PathBuf,
    pub original: PathBuf,
    pub retrain: PathBuf,
}

impl SmallRun {
    pub fn new(dir: &Path) -> SmallRun {
        let split = small_split(dir, "split.json", 1);
        let original = dir.join("orig.safetensors");
        let retrain = dir.join("retrain.safetensors");
        train_one_epoch(&split, "train", 0, &original);
        train_one_epoch(&split, "retain", 0, &retrain);
        SmallRun {
            split,
            original,
            retrain,
        }
    }
}
