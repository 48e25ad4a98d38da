//! The study end to end with the `cifar10` and `cifar100` presets (ResNet-18,
//! the paper's recipe, every training capped at one epoch) on tiny synthetic CIFAR files:
//! the pipeline runs, writes its results and report, the checkpoints carry the preset's
//! recipe, a second run into a fresh folder reproduces every number and checkpoint byte
//! for byte, and a rerun into the same folder redoes nothing.
//!
//! The study runs in this process, through the same library call as `unlearn reproduce`
//! and `cargo xtask reproduce` ([`run_reproduce`] with the in-process executor).

use std::path::{Path, PathBuf};

use unlearn_pipeline::cluster::ExecutorOptions;
use unlearn_pipeline::{run_reproduce, Preset, ReproduceRequest, StudyConfig};

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// CIFAR-10 binary files: five training batches of `per_file` records and a test batch of
/// `test` records (label byte + 3,072 pixel bytes), labels cycling over the classes.
fn write_tiny_cifar10(dir: &Path, per_file: usize, test: usize) {
    let file = |n: usize, seed: usize| {
        let mut v = Vec::with_capacity(n * 3073);
        for r in 0..n {
            let label = (r + seed) % 10;
            v.push(label as u8);
            v.extend((0..3072).map(|i| ((i * 7 + r * 31 + seed * 13 + label * 40) % 256) as u8));
        }
        v
    };
    for b in 1..=5 {
        std::fs::write(dir.join(format!("data_batch_{b}.bin")), file(per_file, b)).expect("write");
    }
    std::fs::write(dir.join("test_batch.bin"), file(test, 9)).expect("write");
}

/// CIFAR-100 binary files (`train.bin`, `test.bin`): coarse byte, fine byte, 3,072 pixels.
fn write_tiny_cifar100(dir: &Path, train: usize, test: usize) {
    let file = |n: usize, seed: usize| {
        let mut v = Vec::with_capacity(n * 3074);
        for r in 0..n {
            let fine = (r + seed) % 100;
            v.push((fine / 5) as u8);
            v.push(fine as u8);
            v.extend((0..3072).map(|i| ((i * 7 + r * 31 + seed * 13 + fine * 3) % 256) as u8));
        }
        v
    };
    std::fs::write(dir.join("train.bin"), file(train, 1)).expect("write");
    std::fs::write(dir.join("test.bin"), file(test, 9)).expect("write");
}

/// `reproduce --preset <preset> --data <data> --epochs 1 --scenarios <scenarios>
/// --methods ft,muda --min-set-size 2 --quiet --out <out>`. Tiny smoke data: a class holds 3
/// to 6 training images, fewer than the metrics' default floor of 10 per set.
fn reproduce(preset: Preset, data: &str, scenarios: &str, out: &Path) {
    let mut config = StudyConfig::new(preset, out);
    config.data = Some(data.to_string());
    config.epochs_cap = Some(1);
    config.scenarios = scenarios
        .split(',')
        .map(|s| s.parse().expect("a scenario"))
        .collect();
    config.methods = Some(vec!["ft".into(), "muda".into()]);
    config.min_set_size = 2;
    config.quiet = true;
    let request = ReproduceRequest {
        config,
        executor: ExecutorOptions {
            jobs: unlearn_pipeline::cluster::Jobs::Count(1),
            ..Default::default()
        },
        cost: false,
    };
    let outcome = run_reproduce(&request, "test")
        .unwrap_or_else(|e| panic!("reproduce {preset:?} {scenarios} failed: {e}"));
    assert!(outcome.is_some(), "the study ran here and wrote its report");
}

fn records(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("results.jsonl"))
        .expect("results.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The records without wall-clock times (the only thing a rerun may change).
fn numbers(dir: &Path) -> Vec<serde_json::Value> {
    records(dir)
        .into_iter()
        .map(|mut r| {
            if let Some(o) = r.as_object_mut() {
                o.remove("seconds");
                o.remove("rte_ratio");
            }
            r
        })
        .collect()
}

fn metadata(ckpt: &Path) -> serde_json::Value {
    let bytes = std::fs::read(ckpt).expect("checkpoint");
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).expect("header");
    header["__metadata__"].clone()
}

/// The safetensors header without `x.original_checkpoint`, and the tensor bytes.
fn header_and_data(ckpt: &Path) -> (serde_json::Value, Vec<u8>) {
    let bytes = std::fs::read(ckpt).expect("checkpoint");
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).expect("header");
    if let Some(m) = header["__metadata__"].as_object_mut() {
        m.remove("x.original_checkpoint");
    }
    (header, bytes[8 + n..].to_vec())
}

fn checkpoints(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let path = e.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "safetensors")
                && !path.to_string_lossy().contains("features")
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn cifar10_preset_runs_end_to_end_and_reruns_bit_for_bit() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("cifar10");
    std::fs::create_dir(&data_dir).expect("mkdir");
    write_tiny_cifar10(&data_dir, 12, 40);
    let data = format!("cifar10:{}", p(&data_dir));
    let first = tmp.path().join("first");
    let scenarios = "random:0.2,class:3,backdoor:0.1";
    reproduce(Preset::Cifar10, &data, scenarios, &first);
    let recs = records(&first);
    // original + retrain + 2 methods, per scenario.
    assert_eq!(recs.len(), 3 * 4, "{recs:#?}");
    for r in &recs {
        assert_eq!(r["preset"], "cifar10");
        assert!(r.get("failure").is_none(), "failed run: {r}");
        assert!(r["metrics"]["ta"].as_f64().is_some(), "no TA in {r}");
        assert!(r["metrics"]["avg_gap_feature"].as_f64().is_some());
        if r["scenario"] == "backdoor:0.1" {
            assert!(r["metrics"]["asr"].as_f64().is_some(), "no ASR in {r}");
        }
    }
    assert!(first.join("report.md").exists() && first.join("results.csv").exists());
    let ckpts = checkpoints(&first);
    assert!(ckpts.len() >= 3 * 3, "{ckpts:?}");
    for c in &ckpts {
        let meta = metadata(c);
        assert_eq!(meta["arch"], "resnet18-cifar", "{}", c.display());
        assert_eq!(meta["num_classes"], "10");
    }
    // The original carries the paper's recipe (epochs capped by --epochs).
    let original = ckpts
        .iter()
        .find(|c| c.to_string_lossy().contains("originals"))
        .expect("an original");
    let recipe: serde_json::Value =
        serde_json::from_str(metadata(original)["recipe"].as_str().expect("recipe")).expect("json");
    assert_eq!(recipe["preset"], "cifar10");
    assert_eq!(recipe["batch_size"], 256);
    assert_eq!(recipe["optimizer"]["lr"], 0.1);
    assert_eq!(recipe["optimizer"]["momentum"], 0.9);
    assert_eq!(recipe["optimizer"]["weight_decay"], 5e-4);

    // Same command into a fresh folder: identical numbers and checkpoint bytes.
    let second = tmp.path().join("second");
    reproduce(Preset::Cifar10, &data, scenarios, &second);
    assert_eq!(numbers(&first), numbers(&second));
    let again = checkpoints(&second);
    assert_eq!(ckpts.len(), again.len());
    for (x, y) in ckpts.iter().zip(&again) {
        // Byte for byte, except the original's path, which names the output folder.
        let (hx, dx) = header_and_data(x);
        let (hy, dy) = header_and_data(y);
        assert_eq!(
            hx,
            hy,
            "{} and {}: headers differ",
            x.display(),
            y.display()
        );
        assert!(
            dx == dy,
            "{} and {}: tensor bytes differ",
            x.display(),
            y.display()
        );
    }

    // Into the same folder again: every step is found done (keys match), nothing changes.
    let before = std::fs::metadata(original)
        .expect("meta")
        .modified()
        .expect("mtime");
    reproduce(Preset::Cifar10, &data, scenarios, &first);
    let after = std::fs::metadata(original)
        .expect("meta")
        .modified()
        .expect("mtime");
    assert_eq!(before, after, "the original was retrained");
    assert_eq!(numbers(&first), numbers(&second));
}

#[test]
fn cifar100_preset_runs_end_to_end() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("cifar100");
    std::fs::create_dir(&data_dir).expect("mkdir");
    write_tiny_cifar100(&data_dir, 300, 200);
    let data = format!("cifar100:{}", p(&data_dir));
    let out = tmp.path().join("out");
    reproduce(Preset::Cifar100, &data, "class:3", &out);
    let recs = records(&out);
    assert_eq!(recs.len(), 4, "{recs:#?}");
    for r in &recs {
        assert_eq!(r["preset"], "cifar100");
        assert!(r.get("failure").is_none(), "failed run: {r}");
    }
    for c in checkpoints(&out) {
        assert_eq!(metadata(&c)["num_classes"], "100", "{}", c.display());
    }
}
