//! ResNet-18 checkpoints in the layouts users bring (`tests/fixtures/pth/resnet18_*.pth.gz`,
//! real `torch.save` output from `scripts/make_pth_fixtures.py`): each loads into its
//! architecture through `checkpoint::read` and gives PyTorch's logits
//! (`resnet18-expected.json`) within 1e-4 of the largest; kuangliu names are mapped to
//! torchvision's and SalUn's normalisation buffers become the input normalisation.

use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use unlearn_models::{checkpoint, Arch, ModelSpec, Naming, Normalization};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pth")
        .join(name)
}

fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("resnet18-expected.json")).expect("json");
    serde_json::from_str(&text).expect("JSON")
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

/// The fixture gunzipped into `dir` under its own name (less `.gz`).
fn gunzip(name: &str, dir: &Path) -> PathBuf {
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(fixture(name)).expect("fixture"))
        .read_to_end(&mut bytes)
        .expect("gunzip");
    let out = dir.join(name.strip_suffix(".gz").expect(".gz"));
    std::fs::write(&out, bytes).expect("write");
    out
}

/// The two images scaled to `[0, 1]` (`x / 255` in f32, as `ToTensor` gives): the model
/// normalises them.
fn inputs() -> Tensor {
    let want = expected();
    let pixels: Vec<f32> = floats(&want["inputs"]["values"]);
    let x: Vec<f32> = pixels.iter().map(|p| p / 255.0).collect();
    Tensor::from_vec(x, (2, 3, 32, 32), &Device::Cpu).expect("tensor")
}

struct Loaded {
    ckpt: checkpoint::LoadedCheckpoint,
    relative_error: f32,
}

/// Loads the fixture into `arch`, runs the two images through the model normalising with
/// `normalization` (or, if `None`, with the one the loader read from the file) and
/// compares with PyTorch's logits.
fn check(name: &str, arch: Arch, normalization: Option<Normalization>) -> Loaded {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = gunzip(name, dir.path());
    let want = &expected()["models"][name];
    let ckpt = checkpoint::read(&path).expect("reads");
    let mut names: Vec<&str> = ckpt.tensors.keys().map(String::as_str).collect();
    names.extend(ckpt.counters.keys().map(String::as_str));
    assert_eq!(
        names.len(),
        122,
        "{name}: 62 float tensors and 20 BN counters... {names:?}"
    );
    let spec = ModelSpec {
        arch,
        input_shape: [3, 32, 32],
        num_classes: 10,
    };
    let model = checkpoint::load_with_spec(&path, &spec, &Device::Cpu).expect("loads");
    let model = match normalization {
        Some(n) => model.with_normalization(Some(n)).expect("fits"),
        None => {
            assert!(model.normalization().is_some(), "{name}: the file's own");
            model
        }
    };
    let got = model
        .forward(&inputs(), false)
        .expect("forward")
        .flatten_all()
        .expect("flat")
        .to_vec1::<f32>()
        .expect("values");
    let want = floats(&want["logits"]["values"]);
    assert_eq!(got.len(), want.len());
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let scale = want.iter().map(|v| v.abs()).fold(0f32, f32::max);
    let relative_error = worst / scale;
    println!("{name}: max|a-b|/max|b| = {relative_error:e} (max|b| = {scale})");
    assert!(
        relative_error <= 1e-4,
        "{name}: {relative_error} off PyTorch's logits"
    );
    Loaded {
        ckpt,
        relative_error,
    }
}

fn comparator() -> Normalization {
    Normalization {
        mean: vec![0.4914, 0.4822, 0.4465],
        std: vec![0.2023, 0.1994, 0.2010],
    }
}

fn salun() -> Normalization {
    Normalization {
        mean: vec![0.4914, 0.4822, 0.4465],
        std: vec![0.2470, 0.2435, 0.2616],
    }
}

#[test]
fn comparator_checkpoints_give_pytorchs_logits() {
    for name in [
        "resnet18_cifar10_full.pth.gz",
        "resnet18_cifar10_no_3.pth.gz",
    ] {
        let l = check(name, Arch::ResNet18Cifar, Some(comparator()));
        assert_eq!(l.ckpt.naming, Naming::Torchvision);
        assert!(l.ckpt.renamed.is_empty() && l.ckpt.dropped.is_empty());
        assert!(l.ckpt.normalization.is_none());
        assert!(l.relative_error <= 1e-4);
    }
}

#[test]
fn a_legacy_format_resnet_gives_pytorchs_logits() {
    let l = check(
        "resnet18_cifar10_full.legacy.pth.gz",
        Arch::ResNet18Cifar,
        Some(comparator()),
    );
    assert!(l.ckpt.renamed.is_empty());
}

#[test]
fn kuangliu_names_are_mapped_to_torchvisions() {
    let l = check(
        "resnet18_kuangliu_cifar10.pth.gz",
        Arch::ResNet18Cifar,
        Some(comparator()),
    );
    assert_eq!(l.ckpt.naming, Naming::Kuangliu);
    let renamed = &l.ckpt.renamed;
    // Every tensor had `module.`; each is listed once, from its name in the file.
    assert_eq!(renamed.len(), 122);
    for (from, to) in [
        (
            "module.layer2.0.shortcut.0.weight",
            "layer2.0.downsample.0.weight",
        ),
        (
            "module.layer4.0.shortcut.1.running_var",
            "layer4.0.downsample.1.running_var",
        ),
        (
            "module.layer3.0.shortcut.1.num_batches_tracked",
            "layer3.0.downsample.1.num_batches_tracked",
        ),
        ("module.linear.weight", "fc.weight"),
        ("module.linear.bias", "fc.bias"),
        ("module.conv1.weight", "conv1.weight"),
    ] {
        assert!(
            renamed.iter().any(|(f, t)| f == from && t == to),
            "{from} -> {to} not in {renamed:?}"
        );
    }
    assert!(l.ckpt.dropped.is_empty());
    assert!(!l
        .ckpt
        .tensors
        .keys()
        .any(|k| k.contains("shortcut") || k.starts_with("linear.")));
}

#[test]
fn the_imagenet_stem_challenge_layout_gives_pytorchs_logits() {
    let l = check(
        "resnet18_imagenet_stem_cifar10.pth.gz",
        Arch::ResNet18,
        Some(salun()),
    );
    assert_eq!(l.ckpt.naming, Naming::Torchvision);
    assert_eq!(l.ckpt.tensors["conv1.weight"].dims(), &[64, 3, 7, 7]);
}

#[test]
fn salun_normalisation_buffers_become_the_input_normalisation() {
    let l = check("resnet18_salun_cifar10.pth.gz", Arch::ResNet18Cifar, None);
    let n = l.ckpt.normalization.clone().expect("normalisation read");
    let want = salun();
    for (got, want) in n
        .mean
        .iter()
        .chain(&n.std)
        .zip(want.mean.iter().chain(&want.std))
    {
        assert!((got - want).abs() < 1e-7, "{n:?}");
    }
    assert_eq!(
        l.ckpt.dropped,
        vec![
            (
                "module.normalize.mean".to_string(),
                "input normalisation".to_string()
            ),
            (
                "module.normalize.std".to_string(),
                "input normalisation".to_string()
            ),
        ]
    );
    assert!(!l.ckpt.tensors.contains_key("normalize.mean"));
    assert!(l
        .ckpt
        .renamed
        .iter()
        .all(|(f, t)| f.strip_prefix("module.") == Some(t)));
    assert_eq!(l.ckpt.renamed.len(), 122);
}
