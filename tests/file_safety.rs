//! The output policy end to end (issue #14; `docs/reliability.md` names each test): an
//! output is never an input or another output, links are written through and never
//! replaced, devices and FIFOs are refused, an unwritable location is found before any work,
//! and two writers on one output never lose a result silently. Every refusal leaves the
//! inputs byte-identical, exits 1 and names both roles.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{assert_clean_failure, bytes, ok, p, stderr, unlearn, SmallRun};

/// The `seed` a toolkit checkpoint records.
fn seed_of(path: &Path) -> String {
    let ckpt = unlearn_models::checkpoint::read(path).expect("a checkpoint");
    ckpt.metadata.get("seed").cloned().unwrap_or_default()
}

#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_kept() {
    let dir = tempfile::tempdir().unwrap();
    let run = SmallRun::new(dir.path());
    let before = bytes(&run.original);
    let alias = dir.path().join("alias.safetensors");
    std::os::unix::fs::symlink(&run.original, &alias).unwrap();
    for out in [&run.original, &alias] {
        let o = unlearn(&[
            "forget",
            "--method",
            "ga",
            "--checkpoint",
            p(&run.original),
            "--split",
            p(&run.split),
            "--set",
            "epochs=1",
            "--quiet",
            "--out",
            p(out),
        ]);
        assert_clean_failure(&o, "is also the --checkpoint");
        assert!(stderr(&o).contains("--out"), "{}", stderr(&o));
    }
    assert_eq!(bytes(&run.original), before, "the original is untouched");
    assert!(std::fs::symlink_metadata(&alias)
        .unwrap()
        .file_type()
        .is_symlink());

    // `train --log` on the split manifest: refused before a line is appended.
    let split_before = bytes(&run.split);
    let o = unlearn(&[
        "train",
        "--split",
        p(&run.split),
        "--epochs",
        "1",
        "--quiet",
        "--log",
        p(&run.split),
        "--out",
        p(&dir.path().join("m.safetensors")),
    ]);
    assert_clean_failure(&o, "--log");
    assert!(stderr(&o).contains("is also the --split"), "{}", stderr(&o));
    assert_eq!(bytes(&run.split), split_before);
    assert!(!dir.path().join("m.safetensors").exists());

    // Two outputs of one command on one path: `--json` over `--features`.
    let feats = dir.path().join("f.safetensors");
    ok(unlearn(&[
        "features",
        "--checkpoint",
        p(&run.original),
        "--split",
        p(&run.split),
        "--quiet",
        "--out",
        p(&feats),
    ]));
    let feats_before = bytes(&feats);
    let o = unlearn(&["metrics", "--features", p(&feats), "--json", p(&feats)]);
    assert_clean_failure(&o, "--json");
    assert!(stderr(&o).contains("is also the --features"));
    assert_eq!(bytes(&feats), feats_before);
}

#[test]
fn links_are_written_through_and_devices_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = SmallRun::new(dir.path());
    // A link to a file: the file is replaced, the link stays a link.
    let real = dir.path().join("models/real.json");
    std::fs::create_dir_all(real.parent().unwrap()).unwrap();
    std::fs::write(&real, b"old").unwrap();
    let link = dir.path().join("eval.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    ok(unlearn(&[
        "eval",
        "--checkpoint",
        p(&run.original),
        "--split",
        p(&run.split),
        "--json",
        p(&link),
    ]));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let v: serde_json::Value = serde_json::from_slice(&bytes(&real)).unwrap();
    assert!(v["ta"].as_f64().is_some(), "{v}");

    // A character device and a FIFO are refused, before any training.
    let fifo = dir.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    for (out, found) in [
        (Path::new("/dev/null"), "is a character device"),
        (fifo.as_path(), "is a FIFO"),
        (dir.path(), "is a directory"),
    ] {
        let o = unlearn(&[
            "train",
            "--split",
            p(&run.split),
            "--epochs",
            "1",
            "--quiet",
            "--out",
            p(out),
        ]);
        assert_clean_failure(&o, found);
        assert!(!stderr(&o).contains("training"), "refused before work");
    }
    let meta = std::fs::metadata("/dev/null").unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(
        &meta.file_type()
    ));
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo_like());
}

/// `FileTypeExt::is_fifo` under a name that reads well in the assertion above.
trait FifoLike {
    fn is_fifo_like(&self) -> bool;
}
impl FifoLike for std::fs::FileType {
    fn is_fifo_like(&self) -> bool {
        std::os::unix::fs::FileTypeExt::is_fifo(self)
    }
}

#[test]
fn an_unwritable_location_is_found_before_work() {
    let dir = tempfile::tempdir().unwrap();
    let run = SmallRun::new(dir.path());
    let t0 = std::time::Instant::now();
    let o = unlearn(&[
        "train",
        "--split",
        p(&run.split),
        "--epochs",
        "50",
        "--quiet",
        "--out",
        "/proc/no-such-folder/m.safetensors",
    ]);
    assert_clean_failure(&o, "nothing was run");
    // 50 epochs take minutes; the refusal is immediate (generous bound for a loaded CI box).
    assert!(t0.elapsed().as_secs() < 20, "{:?}", t0.elapsed());
}

#[test]
fn two_writers_on_one_output_never_lose_a_result_silently() {
    let dir = tempfile::tempdir().unwrap();
    let run = SmallRun::new(dir.path());
    let out = dir.path().join("race.safetensors");
    let spawn = |seed: &str| {
        Command::new(env!("CARGO_BIN_EXE_unlearn"))
            .args([
                "train",
                "--split",
                p(&run.split),
                "--epochs",
                "3",
                "--seed",
                seed,
                "--quiet",
                "--out",
                p(&out),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawns")
    };
    let a = spawn("11");
    let b = spawn("22");
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let winners: Vec<(&str, &std::process::Output)> = [("11", &a), ("22", &b)]
        .into_iter()
        .filter(|(_, o)| o.status.success())
        .collect();
    // The outcome: one run writes the file and says so; the other fails at once, naming the
    // output and its lock, and prints no "wrote" line. (Both may succeed only if the second
    // started after the first finished, which three epochs make unlikely; then the file is
    // the last one's and both said so.)
    match winners.as_slice() {
        [(seed, w)] => {
            let loser = if *seed == "11" { &b } else { &a };
            assert_clean_failure(loser, "is being written by another process");
            assert!(!stderr(loser).contains("wrote"));
            assert!(stderr(w).contains("wrote"));
            assert_eq!(seed_of(&out), *seed, "the file holds the winner's model");
        }
        [_, _] => {
            let last = seed_of(&out);
            assert!(last == "11" || last == "22");
        }
        _ => panic!("neither run succeeded: {} / {}", stderr(&a), stderr(&b)),
    }
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.ends_with(".lock") || n.starts_with(".tmp")),
        "no lock or temporary file is left: {names:?}"
    );
}
