//! PyTorch checkpoints through the `unlearn` commands (issue #15): real `torch.save` files
//! (`crates/unlearn-models/tests/fixtures/pth/`, made by `scripts/make_pth_fixtures.py`)
//! used directly with `--arch`, imported with `unlearn import`, and given to `reproduce`
//! as the original and the oracle.
//!
//! The test set of a tiny CIFAR-10 folder holds the fixtures' two probe images, so the
//! logits `unlearn features` writes can be compared with PyTorch's for them: the model's
//! own input normalisation (SalUn buffers, `--normalize`, or an imported checkpoint's
//! metadata) must be what the commands feed it.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};

use common::{assert_clean_failure, ok, p, stderr, unlearn};

const COMPARATOR_NORM: &str = "mean=0.4914,0.4822,0.4465,std=0.2023,0.1994,0.2010";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../unlearn-models/tests/fixtures/pth")
        .join(name)
}

fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("resnet18-expected.json")).expect("json");
    serde_json::from_str(&text).expect("JSON")
}

/// The gzipped fixture `name` unpacked into `dir` (without `.gz`).
fn gunzip(name: &str, dir: &Path) -> PathBuf {
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(fixture(name)).expect("fixture"))
        .read_to_end(&mut bytes)
        .expect("gunzip");
    let out = dir.join(name.strip_suffix(".gz").expect(".gz"));
    std::fs::write(&out, bytes).expect("write");
    out
}

/// A CIFAR-10 folder: five training batches of 12 synthetic images (labels cycling), and a
/// test batch whose first two images are the fixtures' probe images (labels 0 and 1),
/// followed by 18 synthetic ones.
fn tiny_cifar(dir: &Path) -> PathBuf {
    let root = dir.join("cifar");
    std::fs::create_dir_all(&root).expect("mkdir");
    let synthetic = |n: usize, seed: usize, v: &mut Vec<u8>| {
        for r in 0..n {
            let label = (r + seed) % 10;
            v.push(label as u8);
            v.extend((0..3072).map(|i| ((i * 7 + r * 31 + seed * 13 + label * 40) % 256) as u8));
        }
    };
    for b in 1..=5 {
        let mut v = Vec::new();
        synthetic(12, b, &mut v);
        std::fs::write(root.join(format!("data_batch_{b}.bin")), v).expect("write");
    }
    let pixels: Vec<u8> = expected()["inputs"]["values"]
        .as_array()
        .expect("pixels")
        .iter()
        .map(|x| x.as_u64().expect("uint8") as u8)
        .collect();
    let mut test = Vec::new();
    for (label, image) in pixels.chunks(3072).enumerate() {
        test.push(label as u8);
        test.extend_from_slice(image);
    }
    synthetic(18, 9, &mut test);
    std::fs::write(root.join("test_batch.bin"), test).expect("write");
    root
}

/// The first two test logits in a features file.
fn probe_logits(features: &Path) -> Vec<f32> {
    let bytes = std::fs::read(features).expect("features");
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("safetensors");
    let view = st.tensor("test_logits").expect("test_logits");
    let values: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    values[..20].to_vec()
}

fn assert_close(got: &[f32], model: &str) {
    let want: Vec<f32> = expected()["models"][model]["logits"]["values"]
        .as_array()
        .expect("logits")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect();
    assert_eq!(got.len(), want.len(), "{model}");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = got
        .iter()
        .zip(&want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        worst <= 1e-4 * scale,
        "{model}: max |unlearn − PyTorch| = {worst}, scale {scale}\n{got:?}\n{want:?}"
    );
}

fn split(data: &str, dir: &Path) -> PathBuf {
    let out = dir.join("split.json");
    ok(unlearn(&[
        "split",
        "--data",
        data,
        "--scenario",
        "class:3",
        "--val-fraction",
        "0",
        "--out",
        p(&out),
    ]));
    out
}

fn features(data: &str, split: &Path, checkpoint: &str, extra: &[&str], out: &Path) {
    let mut args = vec![
        "features",
        "--data",
        data,
        "--split",
        p(split),
        "--checkpoint",
        checkpoint,
        "--quiet",
        "--out",
        p(out),
    ];
    args.extend_from_slice(extra);
    ok(unlearn(&args));
}

#[test]
fn pytorch_files_give_pytorch_logits_in_every_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = tiny_cifar(dir.path());
    let data = format!("cifar10:{}", root.display());
    let split = split(&data, dir.path());
    let salun = gunzip("resnet18_salun_cifar10.pth.gz", dir.path());
    let kuangliu = gunzip("resnet18_kuangliu_cifar10.pth.gz", dir.path());
    let imagenet = gunzip("resnet18_imagenet_stem_cifar10.pth.gz", dir.path());

    // SalUn layout: its normalize.* buffers are the model's input normalisation.
    let f = dir.path().join("salun.features.safetensors");
    features(&data, &split, p(&salun), &["--arch", "resnet18-cifar"], &f);
    assert_close(&probe_logits(&f), "resnet18_salun_cifar10.pth.gz");

    // kuangliu names, wrapped in {"net": module.*}: --normalize gives the statistics.
    let f = dir.path().join("kuangliu.features.safetensors");
    let norm = ["--arch", "resnet18-cifar", "--normalize", COMPARATOR_NORM];
    features(&data, &split, p(&kuangliu), &norm, &f);
    assert_close(&probe_logits(&f), "resnet18_kuangliu_cifar10.pth.gz");
    // Without it the data's CIFAR statistics are used, and the logits are not PyTorch's.
    let f = dir.path().join("kuangliu-data-norm.features.safetensors");
    features(
        &data,
        &split,
        p(&kuangliu),
        &["--arch", "resnet18-cifar"],
        &f,
    );
    let got = probe_logits(&f);
    let run = std::panic::catch_unwind(|| assert_close(&got, "resnet18_kuangliu_cifar10.pth.gz"));
    assert!(run.is_err(), "the normalisation made no difference");

    // The ImageNet stem (NeurIPS 2023 challenge layout) on 32×32 images.
    let f = dir.path().join("imagenet.features.safetensors");
    let salun_norm = "mean=0.4914,0.4822,0.4465,std=0.247,0.2435,0.2616";
    let args = ["--arch", "resnet18", "--normalize", salun_norm];
    features(&data, &split, p(&imagenet), &args, &f);
    assert_close(&probe_logits(&f), "resnet18_imagenet_stem_cifar10.pth.gz");

    // Imported once, the checkpoint carries its normalisation: no --arch, no --normalize.
    let imported = dir.path().join("kuangliu.safetensors");
    let report = dir.path().join("import.json");
    let o = ok(unlearn(&[
        "import",
        "--from",
        p(&kuangliu),
        "--arch",
        "resnet18-cifar",
        "--normalize",
        COMPARATOR_NORM,
        "--json",
        p(&report),
        "--out",
        p(&imported),
    ]));
    let text = stderr(&o);
    assert!(text.contains("module.linear.weight → fc.weight"), "{text}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    assert_eq!(report["missing"].as_array().map(Vec::len), Some(0));
    assert_eq!(report["misshaped"].as_array().map(Vec::len), Some(0));
    assert!(report["renamed"].as_array().expect("renamed").len() >= 100);
    let f = dir.path().join("imported.features.safetensors");
    features(&data, &split, p(&imported), &[], &f);
    assert_close(&probe_logits(&f), "resnet18_kuangliu_cifar10.pth.gz");

    // `forget` takes a foreign original directly, and the unlearned model keeps its
    // normalisation.
    let unlearned = dir.path().join("ft.safetensors");
    ok(unlearn(&[
        "forget",
        "--method",
        "ft",
        "--data",
        &data,
        "--split",
        p(&split),
        "--checkpoint",
        p(&salun),
        "--arch",
        "resnet18-cifar",
        "--set",
        "epochs=1",
        "--quiet",
        "--out",
        p(&unlearned),
    ]));
    let bytes = std::fs::read(&unlearned).expect("unlearned");
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).expect("header");
    let meta = header.metadata().clone().expect("metadata");
    assert_eq!(
        meta.get("input_std").map(String::as_str),
        Some("[0.247,0.2435,0.2616]")
    );
}

#[test]
fn partial_or_misfit_pytorch_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = fixture("small-cnn-1x4x4.pth");
    // A small CNN is not a ResNet-18: refused with the mapping, nothing written.
    let out = dir.path().join("r18.safetensors");
    let o = unlearn(&[
        "import",
        "--from",
        p(&small),
        "--arch",
        "resnet18-cifar",
        "--out",
        p(&out),
    ]);
    assert_clean_failure(&o, "does not match resnet18-cifar exactly");
    let err = stderr(&o);
    assert!(
        err.contains("missing (") && err.contains("mis-shaped ("),
        "{err}"
    );
    assert!(!out.exists());
    // --allow-partial writes it and says so in the metadata.
    ok(unlearn(&[
        "import",
        "--from",
        p(&small),
        "--arch",
        "resnet18-cifar",
        "--allow-partial",
        "--out",
        p(&out),
    ]));
    let bytes = std::fs::read(&out).expect("written");
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).expect("header");
    let meta = header.metadata().clone().expect("metadata");
    assert!(meta.contains_key("x.imported_partial"), "{meta:?}");

    // The SalUn small CNN: its buffers are consumed as the normalisation, not dropped
    // silently; the JSON report says where each tensor went.
    let salun = dir.path().join("salun.safetensors");
    let o = ok(unlearn(&[
        "import",
        "--from",
        p(&fixture("small-cnn-salun.pth")),
        "--arch",
        "small-cnn",
        "--json",
        "-",
        "--out",
        p(&salun),
    ]));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json report");
    assert_eq!(report["input_shape"], serde_json::json!([1, 4, 4]));
    assert_eq!(report["normalization"]["mean"], serde_json::json!([0.286]));
    let dropped = report["dropped"].to_string();
    assert!(dropped.contains("normalize.mean"), "{dropped}");

    // A normalisation for three channels does not fit a one-channel model.
    let o = unlearn(&[
        "import",
        "--from",
        p(&small),
        "--arch",
        "small-cnn",
        "--normalize",
        COMPARATOR_NORM,
        "--out",
        p(&dir.path().join("x.safetensors")),
    ]);
    assert_clean_failure(
        &o,
        "3 channels of normalisation for a model of 1 input channels",
    );
    // Malformed --normalize, and a pickle that would run code.
    let o = unlearn(&[
        "import",
        "--from",
        p(&small),
        "--arch",
        "small-cnn",
        "--normalize",
        "mean=0.5,std=0",
        "--out",
        p(&dir.path().join("y.safetensors")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("std 0 is not a positive finite number"));
    let o = unlearn(&[
        "import",
        "--from",
        p(&fixture("evil.pth")),
        "--arch",
        "small-cnn",
        "--out",
        p(&dir.path().join("z.safetensors")),
    ]);
    assert_clean_failure(&o, "posix.system");
    // The output may not be the input.
    let copy = dir.path().join("copy.safetensors");
    std::fs::copy(&out, &copy).expect("copy");
    let o = unlearn(&["import", "--from", p(&copy), "--out", p(&copy)]);
    assert_clean_failure(&o, "--out");
}

/// A `.npy` file of little-endian int64 indices.
fn npy_i64(path: &Path, values: &[i64]) {
    let header = format!(
        "{{'descr': '<i8', 'fortran_order': False, 'shape': ({},), }}",
        values.len()
    );
    let mut padded = header.into_bytes();
    while (10 + padded.len() + 1) % 64 != 0 {
        padded.push(b' ');
    }
    padded.push(b'\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(padded.len() as u16).to_le_bytes());
    bytes.extend_from_slice(&padded);
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).expect("write npy");
}

#[test]
fn a_forget_list_of_an_external_protocol_indexes_the_whole_training_set() {
    // The NeurIPS 2023 challenge ships `forget_idx.npy` against the full training set, and
    // its models hold nothing out: `--val-fraction 0` keeps every image in train.
    let dir = tempfile::tempdir().expect("tempdir");
    let root = tiny_cifar(dir.path());
    let data = format!("cifar10:{}", root.display());
    let forget = dir.path().join("forget_idx.npy");
    npy_i64(&forget, &[0, 7, 59]);
    let out = dir.path().join("split.json");
    ok(unlearn(&[
        "split",
        "--data",
        &data,
        "--forget-npy",
        p(&forget),
        "--val-fraction",
        "0",
        "--out",
        p(&out),
    ]));
    let split: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("split")).expect("json");
    assert_eq!(split["forget"], serde_json::json!([0, 7, 59]));
    assert_eq!(split["val"].as_array().map(Vec::len), Some(0));
    assert_eq!(split["train"].as_array().map(Vec::len), Some(60));
    assert_eq!(split["retain"].as_array().map(Vec::len), Some(57));
    // An index past the training set is an error naming it.
    npy_i64(&forget, &[60]);
    let o = unlearn(&[
        "split",
        "--data",
        &data,
        "--forget-npy",
        p(&forget),
        "--out",
        p(&dir.path().join("bad.json")),
    ]);
    assert_clean_failure(
        &o,
        "index 60 is out of range for a training set of 60 images",
    );
}
