//! PyTorch files users actually have (issue #33), real `torch.save` output from
//! `scripts/make_pth_layout_fixtures.py` in `tests/fixtures/pth/layouts`: pickle protocols 4
//! and 5 (zip and legacy), channels_last, step-2, transposed and expanded (stride-0) tensors,
//! and big-endian archives all give PyTorch's logits or values; an unknown byte order, a
//! TorchScript archive, complex and bool tensors, a pickle nesting 200,000 lists and a
//! 100000×100000 tensor are each refused with a message naming what it is.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use unlearn_models::{checkpoint, pth, Arch, ModelError, ModelSpec};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pth")
        .join(name)
}

fn json(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(fixture(name)).expect("fixture");
    serde_json::from_str(&text).expect("JSON")
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn logits_of(path: &Path) -> Vec<f32> {
    let x = floats(&json("expected.json")["inputs"]["values"]);
    let x = Tensor::from_vec(x, (3, 1, 4, 4), &Device::Cpu).unwrap();
    let spec = ModelSpec {
        arch: Arch::SmallCnn,
        input_shape: [1, 4, 4],
        num_classes: 10,
    };
    let model = checkpoint::load_with_spec(path, &spec, &Device::Cpu)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    model
        .forward(&x, false)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

fn assert_close(name: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{name}");
    let worst = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        worst < 1e-5,
        "{name}: largest difference to PyTorch {worst}"
    );
}

fn refusal(path: &Path) -> String {
    let err = pth::read(path).expect_err("refused");
    assert!(matches!(err, ModelError::BadCheckpoint { .. }), "{err:?}");
    err.to_string()
}

#[test]
fn protocols_strides_and_byte_orders_give_pytorchs_logits() {
    let plain = floats(&json("expected.json")["logits"]["values"]);
    for name in [
        "proto4.pth",
        "proto5.pth",
        "proto4.legacy.pth",
        "channels-last.pth",
        "big-endian.pth",
    ] {
        assert_close(
            name,
            &logits_of(&fixture(&format!("layouts/{name}"))),
            &plain,
        );
    }
    let want = json("layouts/layouts-expected.json");
    for name in ["strided", "expanded"] {
        let got = logits_of(&fixture(&format!("layouts/{name}.pth")));
        assert_close(name, &got, &floats(&want[name]));
    }
    // A legacy file in protocol 4 is a legacy file, not a safetensors one.
    assert_eq!(
        pth::sniff(&fixture("layouts/proto4.legacy.pth")),
        Some(pth::PthFormat::LegacyPickle)
    );
    assert_eq!(
        pth::sniff(&fixture("small-cnn-1x4x4.legacy.pth")),
        Some(pth::PthFormat::LegacyPickle)
    );
}

#[test]
fn big_endian_storages_of_every_width_are_swapped() {
    let ckpt = pth::read(&fixture("layouts/big-endian-mixed.pth")).unwrap();
    let want = &json("layouts/layouts-expected.json")["mixed"];
    for name in ["half", "bf16", "double"] {
        let got = ckpt.tensors[name]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let expect: Vec<f32> = floats(&want[name]);
        assert_eq!(got, expect, "{name}");
    }
    assert_eq!(ckpt.counters["bn.num_batches_tracked"], 258);
    // An unknown byte order is refused, naming it and what was expected.
    let err = refusal(&fixture("layouts/byteorder-middle.pth"));
    assert!(
        err.contains("says 'middle'") && err.contains("expected 'little' or 'big'"),
        "{err}"
    );
}

#[test]
fn files_that_are_not_float_state_dicts_are_named_for_what_they_are() {
    let err = refusal(&fixture("layouts/torchscript.pt"));
    assert!(
        err.contains("TorchScript") && err.contains("torch.save(") && !err.contains("compressed"),
        "{err}"
    );
    let err = refusal(&fixture("layouts/complex.pth"));
    assert!(
        err.contains("'phase' is a complex64 tensor") && !err.contains("pickled model"),
        "{err}"
    );
    let err = refusal(&fixture("layouts/bool.pth"));
    assert!(
        err.contains("'mask' is a bool tensor") && !err.contains("U8"),
        "{err}"
    );
}

/// Minimal stored zip: `entries` under root folder `deep/`, with CRCs.
fn stored_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let name = format!("deep/{name}");
        let crc = crc32fast::hash(data);
        let local = out.len() as u32;
        let head = |sig: u32, out: &mut Vec<u8>, central: bool| {
            out.extend(sig.to_le_bytes());
            if central {
                out.extend(20u16.to_le_bytes());
            }
            out.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend(crc.to_le_bytes());
            out.extend((data.len() as u32).to_le_bytes());
            out.extend((data.len() as u32).to_le_bytes());
            out.extend((name.len() as u16).to_le_bytes());
            out.extend(0u16.to_le_bytes());
            if central {
                out.extend([0u8; 10]);
                out.extend(local.to_le_bytes());
            }
            out.extend(name.as_bytes());
        };
        head(0x0403_4b50, &mut out, false);
        out.extend(*data);
        head(0x0201_4b50, &mut central, true);
    }
    let at = out.len() as u32;
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]);
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(at.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

#[test]
fn deep_nesting_and_huge_shapes_are_refused_with_their_limits() {
    let dir = tempfile::tempdir().unwrap();
    // data.pkl nesting 200,000 lists (~400 KB): this overflowed the stack (exit 134).
    let n = 200_000;
    let mut pickle = vec![0x80, 0x02];
    pickle.extend(std::iter::repeat_n(b']', n));
    pickle.extend(std::iter::repeat_n(b'a', n - 1));
    pickle.push(b'.');
    let deep = dir.path().join("deep.pth");
    std::fs::write(&deep, stored_zip(&[("data.pkl", &pickle)])).unwrap();
    let err = refusal(&deep);
    assert!(err.contains("nests deeper than 1000 levels"), "{err}");
    // The fuzz seeds: 1,500 levels, and torch.zeros(1).expand(100000, 100000).
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz-corpus/pth");
    let err = refusal(&corpus.join("bad-deep-nesting.pth"));
    assert!(err.contains("deeper than 1000"), "{err}");
    let err = refusal(&corpus.join("bad-huge-shape.pth"));
    assert!(
        err.contains("[100000, 100000]") && err.contains("more than 268435456 elements"),
        "{err}"
    );
}
