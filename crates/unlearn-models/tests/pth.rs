//! PyTorch checkpoints (`tests/fixtures/pth`, real `torch.save` output from
//! `scripts/make_pth_fixtures.py`): a state dict loads and gives PyTorch's logits, a wrapped
//! one is unwrapped and its `module.` prefixes stripped, the legacy format reads the same,
//! and a pickled module or a pickle
//! that would run code is refused by name without running anything.

use std::path::PathBuf;

use candle_core::{Device, Tensor};
use unlearn_models::{checkpoint, pth, Arch, ModelError, ModelSpec};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pth")
        .join(name)
}

fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("JSON")
}

fn values(v: &serde_json::Value) -> Vec<f32> {
    v["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn spec() -> ModelSpec {
    ModelSpec {
        arch: Arch::SmallCnn,
        input_shape: [1, 4, 4],
        num_classes: 10,
    }
}

/// The logits of the reference inputs; the model applies the file's own input
/// normalisation, if it has one.
fn logits_of(path: &std::path::Path) -> Vec<f32> {
    let want = expected();
    let x = values(&want["inputs"]);
    let x = Tensor::from_vec(x, (3, 1, 4, 4), &Device::Cpu).unwrap();
    let model = checkpoint::load_with_spec(path, &spec(), &Device::Cpu).expect("loads");
    model
        .forward(&x, false)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

fn assert_close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    let worst = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-5, "largest difference to PyTorch {worst}");
}

#[test]
fn a_state_dict_gives_pytorchs_logits() {
    let got = logits_of(&fixture("small-cnn-1x4x4.pth"));
    assert_close(&got, &values(&expected()["logits"]));
    let names = pth::read(&fixture("small-cnn-1x4x4.pth")).unwrap();
    let want: Vec<String> = expected()["tensors"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(names.tensors.keys().cloned().collect::<Vec<_>>(), want);
}

#[test]
fn a_wrapped_state_dict_is_unwrapped_and_its_prefixes_stripped() {
    let ckpt = pth::read(&fixture("small-cnn-salun.pth")).unwrap();
    assert_eq!(ckpt.unwrapped_from.as_deref(), Some("state_dict"));
    assert!(ckpt
        .renamed
        .iter()
        .any(|(from, to)| from == "module.conv1.weight" && to == "conv1.weight"));
    // pth::read keeps the SalUn normalisation buffers as tensors; checkpoint::read takes
    // them out as the input normalisation, and the model loaded from the file applies it
    // and gives PyTorch's logits.
    let mean = ckpt.tensors["normalize.mean"].to_vec1::<f32>().unwrap();
    assert!((mean[0] - 0.2860).abs() < 1e-6);
    let read = checkpoint::read(&fixture("small-cnn-salun.pth")).unwrap();
    let n = read.normalization.clone().expect("normalisation");
    assert!((n.mean[0] - 0.2860).abs() < 1e-6 && (n.std[0] - 0.3530).abs() < 1e-6);
    assert_eq!(read.dropped.len(), 2);
    let got = logits_of(&fixture("small-cnn-salun.pth"));
    assert_close(&got, &values(&expected()["logits_salun_normalised"]));
}

#[test]
fn code_in_a_pickle_is_refused_by_name_and_never_run() {
    let marker = std::path::Path::new("/tmp/unlearn-evil-ran");
    let _ = std::fs::remove_file(marker);
    for (file, named) in [
        ("evil.pth", "posix.system"),
        ("small-cnn-1x4x4.whole-module.pth", "__main__.SmallCnn"),
    ] {
        let err = pth::read(&fixture(file)).unwrap_err();
        assert!(matches!(err, ModelError::BadCheckpoint { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(named), "{file}: {text}");
        assert!(text.contains("never run"), "{text}");
    }
    assert!(!marker.exists(), "the pickle's command ran");
}

#[test]
fn the_legacy_format_gives_the_same_logits() {
    let got = logits_of(&fixture("small-cnn-1x4x4.legacy.pth"));
    assert_close(&got, &values(&expected()["logits"]));
    let legacy = pth::read(&fixture("small-cnn-1x4x4.legacy.pth")).unwrap();
    let zip = pth::read(&fixture("small-cnn-1x4x4.pth")).unwrap();
    assert_eq!(
        legacy.tensors.keys().collect::<Vec<_>>(),
        zip.tensors.keys().collect::<Vec<_>>()
    );
}

#[test]
fn a_truncated_legacy_file_is_refused() {
    let bytes = std::fs::read(fixture("small-cnn-1x4x4.legacy.pth")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.pth");
    std::fs::write(&path, &bytes[..bytes.len() - 1000]).unwrap();
    let err = pth::read(&path).unwrap_err().to_string();
    assert!(err.contains("storage"), "{err}");
}
