//! Bad input on the newer features (issue #33), end to end through the `unlearn` binary:
//! each is refused (or warned about) with a message naming the thing and what was expected,
//! and the exit code; nothing crashes, inputs stay as they were and no output is left.
//!
//! - `import`: a pickle nesting 200,000 lists, an input shape of 1×100000×100000 and a model
//!   too large for its input, an archive whose byte order is `middle`, a TorchScript archive,
//!   complex and bool tensors, a `--normalize` std whose inverse is not finite in f32; and
//!   what loads: big-endian and protocol-4 files, a file whose `normalize.std = 0` buffer
//!   `--normalize` replaces.
//! - `reproduce`: duplicated methods or scenarios, empty lists, `--min-set-size 1`, Slurm
//!   options with the local executor, `--cost` (writes nothing, checks the plan against the
//!   data), negative numbers (`--val-fraction`, `--retain-budget`, `--seeds`), and the
//!   provenance of `--original` / `--oracle` (the original itself, the same weights, a
//!   model retrained without another scenario, a missing file).

mod common;

use std::path::{Path, PathBuf};

use common::{assert_clean_failure, bytes, ok, p, stderr, unlearn, SmallRun};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../unlearn-models/tests/fixtures/pth")
        .join(name)
}

/// A stored zip `deep/data.pkl` holding `pickle` (CRC-32 from the crate the reader uses).
fn zip_with_pickle(pickle: &[u8]) -> Vec<u8> {
    let name = b"deep/data.pkl";
    let crc = crc32(pickle);
    let mut out = Vec::new();
    let fields = |out: &mut Vec<u8>| {
        out.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend(crc.to_le_bytes());
        out.extend((pickle.len() as u32).to_le_bytes());
        out.extend((pickle.len() as u32).to_le_bytes());
        out.extend((name.len() as u16).to_le_bytes());
        out.extend(0u16.to_le_bytes());
    };
    out.extend(0x0403_4b50u32.to_le_bytes());
    fields(&mut out);
    out.extend(name);
    out.extend(pickle);
    let at = out.len() as u32;
    out.extend(0x0201_4b50u32.to_le_bytes());
    out.extend(20u16.to_le_bytes());
    fields(&mut out);
    out.extend([0u8; 10]);
    out.extend(0u32.to_le_bytes());
    out.extend(name);
    let size = out.len() as u32 - at;
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0, 0, 0, 0, 1, 0, 1, 0]);
    out.extend(size.to_le_bytes());
    out.extend(at.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `unlearn import --from <from> --arch small-cnn --out <out>` plus `extra`.
fn import(from: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["import", "--from", p(from), "--arch", "small-cnn"];
    args.extend_from_slice(extra);
    args.extend(["--out", p(out)]);
    unlearn(&args)
}

#[test]
fn import_refuses_deep_huge_and_foreign_files_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.safetensors");
    // 200,000 nested lists: this overflowed the stack and aborted (exit 134).
    let n = 200_000;
    let mut pickle = vec![0x80, 0x02];
    pickle.extend(std::iter::repeat_n(b']', n));
    pickle.extend(std::iter::repeat_n(b'a', n - 1));
    pickle.push(b'.');
    let deep = dir.path().join("deep.pth");
    std::fs::write(&deep, zip_with_pickle(&pickle)).unwrap();
    let before = bytes(&deep);
    let o = import(&deep, &out, &[]);
    assert_clean_failure(&o, "nests deeper than 1000 levels");
    assert_eq!(bytes(&deep), before, "the input changed");
    assert!(!out.exists(), "an output was left");

    // A bare pickle (no torch.save magic number) nesting as deep: named as not a legacy
    // torch.save file, not taken for safetensors.
    let bare = dir.path().join("bare.pth");
    std::fs::write(&bare, &pickle).unwrap();
    let o = import(&bare, &out, &[]);
    assert_clean_failure(
        &o,
        "a legacy torch.save file starts with the pickled magic number",
    );
    assert!(!out.exists());

    // An input shape far past any image: clap refuses it (exit 2), naming the limits.
    let plain = fixture("small-cnn-1x4x4.pth");
    let o = import(&plain, &out, &["--input-shape", "1,100000,100000"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("sides 1..=4096"), "{}", stderr(&o));
    // An image shape whose model would not fit: refused before it is built (was an abort).
    let o = import(&plain, &out, &["--input-shape", "1,4096,4096"]);
    assert_clean_failure(&o, "8589935872 parameters");
    assert_clean_failure(&o, "32.0 GiB");
    assert!(!out.exists());

    for (file, needles) in [
        (
            "layouts/byteorder-middle.pth",
            &["says 'middle'", "expected 'little' or 'big'"][..],
        ),
        (
            "layouts/torchscript.pt",
            &["TorchScript", "torch.save("][..],
        ),
        (
            "layouts/complex.pth",
            &["'phase' is a complex64 tensor"][..],
        ),
        ("layouts/bool.pth", &["'mask' is a bool tensor"][..]),
    ] {
        let o = import(&fixture(file), &out, &[]);
        for needle in needles {
            assert_clean_failure(&o, needle);
        }
        assert!(!stderr(&o).contains("pickled model") && !stderr(&o).contains("U8"));
        assert!(!out.exists(), "{file}");
    }
}

#[test]
fn import_reads_big_endian_and_protocol_4_files_and_normalize_overrides_the_files() {
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "layouts/big-endian.pth",
        "layouts/proto4.legacy.pth",
        "layouts/channels-last.pth",
    ] {
        let out = dir.path().join("m.safetensors");
        ok(import(&fixture(file), &out, &["--input-shape", "1,4,4"]));
        assert!(out.exists(), "{file}");
        std::fs::remove_file(&out).unwrap();
    }
    // normalize.std = 0 in the file: refused alone, loaded when --normalize replaces it.
    let std0 = fixture("layouts/normalize-std0.pth");
    let out = dir.path().join("n.safetensors");
    let o = import(&std0, &out, &[]);
    assert_clean_failure(&o, "std 0 is not a positive finite number");
    assert!(!out.exists());
    let o = ok(import(&std0, &out, &["--normalize", "mean=0.5,std=0.25"]));
    assert!(
        stderr(&o).contains("replaced by --normalize"),
        "{}",
        stderr(&o)
    );
    assert!(out.exists());
    // A NaN std is judged as a std (not as a damaged file), and --normalize replaces it too.
    let nan = fixture("layouts/normalize-nan.pth");
    let o = import(&nan, &out, &[]);
    assert_clean_failure(&o, "std NaN is not a positive finite number");
    assert!(!stderr(&o).contains("damaged"), "{}", stderr(&o));
    std::fs::remove_file(&out).unwrap();
    ok(import(&nan, &out, &["--normalize", "mean=0.5,std=0.25"]));
    assert!(out.exists());
    // A std whose inverse overflows f32 (1e-45 is subnormal): refused up front.
    let o = import(&std0, &out, &["--normalize", "mean=0.5,std=1e-45"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1/std is not a finite f32"),
        "{}",
        stderr(&o)
    );
}

/// `unlearn reproduce --epochs 1 --quiet --out <out>` plus `args`.
fn reproduce(out: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["reproduce", "--epochs", "1", "--quiet", "--out", p(out)];
    all.extend_from_slice(args);
    unlearn(&all)
}

#[test]
fn reproduce_refuses_options_that_would_do_nothing_or_twice() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("study");
    let refused = |args: &[&str], code: i32, needle: &str| {
        let o = reproduce(&out, args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"));
        assert!(!out.exists(), "{args:?} left {}", out.display());
    };
    refused(
        &["--methods", "ft,ft", "--scenarios", "random:0.1", "--cost"],
        1,
        "--methods lists ft more than once",
    );
    refused(
        &[
            "--methods",
            "ft",
            "--scenarios",
            "random:0.1,random:0.1",
            "--cost",
        ],
        1,
        "--scenarios lists random:0.1 more than once",
    );
    refused(&["--scenarios", "", "--cost"], 2, "the list is empty");
    refused(&["--methods", "", "--cost"], 1, "--methods lists no method");
    refused(&["--min-set-size", "1", "--cost"], 2, "at least 2");
    refused(
        &["--partition", "gpu", "--cost"],
        1,
        "--partition is only for --executor slurm",
    );
    refused(
        &["--executor", "slurm", "--jobs", "4", "--cost"],
        1,
        "--jobs 4 is for --executor local",
    );
    refused(
        &["--val-fraction", "-0.1", "--cost"],
        1,
        "--val-fraction -0.1: expected 0 <= fraction < 1",
    );
    refused(
        &["--val-fraction", "-1e-9", "--cost"],
        1,
        "--val-fraction -0.000000001: expected 0 <= fraction < 1",
    );
    // Every option takes a negative number to its own check, not "unexpected argument".
    refused(
        &["--retain-budget", "-0.5", "--cost"],
        1,
        "--retain-budget -0.5: expected a share of the retain set in (0, 1]",
    );
    refused(
        &["--seeds", "-1", "--cost"],
        2,
        "'-1' is not a whole number of at least 1",
    );
    // --cost checks the plan against the data as a run would: the embedded data has 10.
    refused(&["--scenarios", "class:11", "--cost"], 1, "class 11");
    // A good --cost prints the plan and writes nothing.
    let o = ok(reproduce(
        &out,
        &["--methods", "ft", "--scenarios", "class:3", "--cost"],
    ));
    assert!(!String::from_utf8_lossy(&o.stdout).is_empty());
    assert!(!out.exists(), "--cost created {}", out.display());
}

#[test]
fn given_models_are_checked_for_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let run = SmallRun::new(dir.path());
    let out = dir.path().join("study");
    let study = |original: &Path, oracle: &Path, extra: &[&str]| {
        let oracle = format!("class:3={}", p(oracle));
        let mut args = vec![
            "--methods",
            "ft",
            "--scenarios",
            "class:3",
            "--original",
            p(original),
            "--oracle",
            &oracle,
            "--cost",
        ];
        args.extend_from_slice(extra);
        reproduce(&out, &args)
    };
    // The oracle is the original itself: trained with class 3.
    let o = study(&run.original, &run.original, &[]);
    assert_clean_failure(&o, "is the --original itself");
    assert_clean_failure(&o, "was trained on 'train'");
    assert_clean_failure(&o, "--force");
    // The same weights in another file (an import of the original).
    let copy = dir.path().join("copy.safetensors");
    ok(unlearn(&[
        "import",
        "--from",
        p(&run.original),
        "--arch",
        "small-cnn",
        "--out",
        p(&copy),
    ]));
    let o = study(&run.original, &copy, &[]);
    assert_clean_failure(&o, "has the same weights as --original");
    // A retrained model as the original.
    let o = study(&run.retrain, &run.retrain, &[]);
    assert_clean_failure(&o, "is a retrained model");
    // --force goes on with a warning.
    let o = ok(study(&run.original, &run.original, &["--force"]));
    assert!(
        stderr(&o).contains("warning: --oracle class:3=")
            && stderr(&o).contains("(going on: --force)"),
        "{}",
        stderr(&o)
    );
    // A model retrained without another scenario (random:0.2) has seen class 3.
    let o = study(&run.original, &run.retrain, &[]);
    assert_clean_failure(
        &o,
        "was retrained without random:0.2 (its metadata), not without class:3",
    );
    // A missing file names the option that gave it.
    let o = study(&run.original, &dir.path().join("nope.safetensors"), &[]);
    assert_clean_failure(&o, "--oracle class:3=");
    assert_clean_failure(&o, "nope.safetensors: No such file");
    assert_eq!(
        stderr(&o).matches("No such file").count(),
        1,
        "{}",
        stderr(&o)
    );
    // A proper oracle (retrained without class 3) passes without a word.
    let class3 = dir.path().join("class3.json");
    ok(unlearn(&[
        "split",
        "--scenario",
        "class:3",
        "--val-fraction",
        "0.9",
        "--out",
        p(&class3),
    ]));
    let oracle = dir.path().join("oracle3.safetensors");
    common::train_one_epoch(&class3, "retain", 0, &oracle);
    let o = ok(study(&run.original, &oracle, &[]));
    assert!(!stderr(&o).contains("trained on"), "{}", stderr(&o));
    assert!(!out.exists(), "--cost created {}", out.display());
}
