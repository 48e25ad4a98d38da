//! The seed-corpus generator (`regenerate_corpus`, an ignored test). Every file is derived
//! from fixed seeds, so running it again reproduces `tests/fuzz-corpus/` byte for byte.
//! Files are small valid inputs, except those named `bad-*` (which must be rejected).

use std::collections::BTreeMap;
use std::path::Path;

use unlearn_data::split::{make_split, SplitConfig};
use unlearn_data::DataSource;
use unlearn_metrics::{FeatureBundle, Matrix, SplitData, TriggeredData};
use unlearn_models::checkpoint::{self, RawTensor};
use unlearn_models::{Arch, CheckpointMeta, Model, ModelSpec};

use crate::encode;
use crate::mutate::Rng;

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("create corpus folder");
    std::fs::write(dir.join(name), bytes).expect("write corpus file");
}

/// `n` images of `h × w`: a dark background with one bright random rectangle each, so the
/// gzip seeds hold runs (back-references) as well as literals.
fn images(rng: &mut Rng, n: usize, h: usize, w: usize) -> Vec<u8> {
    let mut px = vec![0u8; n * h * w];
    for img in px.chunks_mut(h * w) {
        let (r0, c0) = (rng.below(h / 2), rng.below(w / 2));
        for r in r0..r0 + h / 2 {
            for c in c0..c0 + w / 2 {
                img[r * w + c] = 128 + rng.below(128) as u8;
            }
        }
    }
    px
}

/// A 10-class IDX dataset of 8×8 images: 40 training images (4 per class, raw files) and 10
/// test images (gzip files).
fn idx(root: &Path, rng: &mut Rng) {
    let dir = root.join("idx");
    let train_labels: Vec<u8> = (0..40).map(|i| (i % 10) as u8).collect();
    let test_labels: Vec<u8> = (0..10).collect();
    let train = images(rng, 40, 8, 8);
    let test = images(rng, 10, 8, 8);
    write(
        &dir,
        "train-images-idx3-ubyte",
        &encode::idx(&[40, 8, 8], &train),
    );
    write(
        &dir,
        "train-labels-idx1-ubyte",
        &encode::idx(&[40], &train_labels),
    );
    let t_images = encode::gzip(&encode::idx(&[10, 8, 8], &test));
    write(&dir, "t10k-images-idx3-ubyte.gz", &t_images);
    let t_labels = encode::gzip(&encode::idx(&[10], &test_labels));
    write(&dir, "t10k-labels-idx1-ubyte.gz", &t_labels);
}

fn cifar_records(rng: &mut Rng, labels: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in labels {
        out.extend(*l);
        out.extend(images(rng, 3, 32, 32));
    }
    out
}

fn cifar(root: &Path, rng: &mut Rng) {
    let dir = root.join("cifar10");
    for k in 1..=5u8 {
        let batch = cifar_records(rng, &[&[k - 1]]);
        write(&dir, &format!("data_batch_{k}.bin"), &batch);
    }
    write(&dir, "test_batch.bin", &cifar_records(rng, &[&[5], &[9]]));
    let names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n";
    write(&dir, "batches.meta.txt", names.as_bytes());
    let dir = root.join("cifar100");
    write(
        &dir,
        "train.bin",
        &cifar_records(rng, &[&[0, 0], &[19, 99]]),
    );
    write(&dir, "test.bin", &cifar_records(rng, &[&[4, 42]]));
    let names: String = (0..100).map(|c| format!("class_{c:02}\n")).collect();
    write(&dir, "fine_label_names.txt", names.as_bytes());
}

fn dict(descr: &str, fortran: bool, shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let order = if fortran { "True" } else { "False" };
    format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}")
}

fn le_bytes<const N: usize, T: Copy>(values: &[T], f: fn(T) -> [u8; N]) -> Vec<u8> {
    values.iter().flat_map(|&v| f(v)).collect()
}

fn npy(root: &Path) {
    let dir = root.join("npy");
    let i64s = le_bytes(&[0i64, 3, 7, 12, 39], i64::to_le_bytes);
    write(
        &dir,
        "forget_int64.npy",
        &encode::npy(1, &dict("<i8", false, &[5]), &i64s),
    );
    let i32s = le_bytes(&[1i32, 2, 30], i32::to_le_bytes);
    write(
        &dir,
        "forget_int32.npy",
        &encode::npy(1, &dict("<i4", false, &[3]), &i32s),
    );
    let u16s = le_bytes(&[4u16, 5, 6, 65535], u16::to_be_bytes);
    let be = encode::npy(1, &dict(">u2", false, &[4]), &u16s);
    write(&dir, "forget_uint16_be.npy", &be);
    let v2 = encode::npy(2, &dict("<i8", false, &[5]), &i64s);
    write(&dir, "forget_v2_int64.npy", &v2);
    write(
        &dir,
        "forget_empty.npy",
        &encode::npy(1, &dict("<i8", false, &[0]), &[]),
    );
}

fn matrix(rng: &mut Rng, rows: usize, cols: usize) -> Matrix<f32> {
    let data = (0..rows * cols)
        .map(|_| rng.below(2001) as f32 / 1000.0 - 1.0)
        .collect();
    Matrix::new(rows, cols, data).expect("matrix shape")
}

fn split(rng: &mut Rng, name: &str, n: usize) -> SplitData {
    let labels = (0..n).map(|i| (i % 2) as u32).collect();
    SplitData::new(name, matrix(rng, n, 3), matrix(rng, n, 2), labels).expect("split")
}

/// The npy entries of a stored `.npz` as `numpy.savez` would write them; the logits are
/// `<f8` in Fortran order, which the reader transposes.
fn npz_entries(b: &FeatureBundle) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (name, s) in b.splits() {
        let (n, d, c) = (s.features.rows(), s.features.cols(), s.logits.cols());
        let f = le_bytes(s.features.data(), f32::to_le_bytes);
        out.push((
            format!("{name}_features.npy"),
            encode::npy(1, &dict("<f4", false, &[n, d]), &f),
        ));
        let mut col_major = Vec::new();
        for j in 0..c {
            for i in 0..n {
                col_major.push(f64::from(s.logits.data()[i * c + j]));
            }
        }
        let l = le_bytes(&col_major, f64::to_le_bytes);
        out.push((
            format!("{name}_logits.npy"),
            encode::npy(1, &dict("<f8", true, &[n, c]), &l),
        ));
        let labels: Vec<i64> = s.labels.iter().map(|&v| i64::from(v)).collect();
        let y = le_bytes(&labels, i64::to_le_bytes);
        out.push((
            format!("{name}_labels.npy"),
            encode::npy(1, &dict("<i8", false, &[n]), &y),
        ));
    }
    out
}

fn features(root: &Path, rng: &mut Rng) {
    let dir = root.join("features");
    let (retain, forget, test, val) = (
        split(rng, "retain", 4),
        split(rng, "forget", 2),
        split(rng, "test", 3),
        split(rng, "val", 2),
    );
    let triggered = TriggeredData {
        logits: matrix(rng, 2, 2),
        labels: vec![0, 1],
    };
    let meta = BTreeMap::from([("model".to_string(), "fuzz-seed".to_string())]);
    let b =
        FeatureBundle::new(retain, forget, test, Some(val), Some(triggered), meta).expect("bundle");
    std::fs::create_dir_all(&dir).expect("create corpus folder");
    b.save_safetensors(dir.join("features.safetensors"), &BTreeMap::new())
        .expect("save safetensors");
    b.save_npz(dir.join("features.npz")).expect("save npz");
    let mut npz = std::fs::read(dir.join("features.npz")).expect("read npz");
    encode::zip_fixed_times(&mut npz);
    write(&dir, "features.npz", &npz);
    let plain = FeatureBundle::new(
        b.retain.clone(),
        b.forget.clone(),
        b.test.clone(),
        None,
        None,
        BTreeMap::new(),
    )
    .expect("bundle");
    write(
        &dir,
        "features-stored.npz",
        &encode::zip_stored(&npz_entries(&plain)),
    );
}

fn checkpoints(root: &Path) {
    let dir = root.join("checkpoint");
    let spec = ModelSpec {
        arch: Arch::SmallCnn,
        input_shape: [1, 4, 4],
        num_classes: 2,
    };
    let model = Model::new(&spec, &candle_core::Device::Cpu, 0).expect("model");
    let mut meta = CheckpointMeta::for_model(&model);
    meta.dataset = "idx:fuzz".into();
    meta.subset = "train".into();
    std::fs::create_dir_all(&dir).expect("create corpus folder");
    checkpoint::save(&model, &meta, &dir.join("small-cnn-1x4x4.safetensors")).expect("save");
    let mut tensors = BTreeMap::new();
    let f32s = |v: &[f32]| le_bytes(v, f32::to_le_bytes);
    let weight = RawTensor {
        dtype: "F32",
        shape: vec![2, 3],
        bytes: f32s(&[0.5, -1.0, 2.0, 0.0, 1.5, -0.25]),
    };
    tensors.insert("fc1.weight".to_string(), weight);
    let bias = RawTensor {
        dtype: "F32",
        shape: vec![4],
        bytes: f32s(&[0.0, 1.0, 2.0, 3.0]),
    };
    tensors.insert("conv1.bias".to_string(), bias);
    tensors.insert(
        "bn1.num_batches_tracked".to_string(),
        RawTensor::scalar_i64(7),
    );
    let tiny = checkpoint::safetensors_bytes(&tensors, &meta.to_map());
    write(&dir, "tiny-meta.safetensors", &tiny);
    let header_len = u64::from_le_bytes(tiny[..8].try_into().expect("8 bytes")) as usize;
    write(
        &dir,
        "bad-truncated-header.safetensors",
        &tiny[..8 + header_len / 2],
    );
}

fn manifests(root: &Path) {
    let dir = root.join("manifest");
    let ds = DataSource::Idx {
        dir: root.join("idx"),
    }
    .load()
    .expect("the corpus IDX dataset loads");
    for (file, scenario) in [
        ("split-random.json", "random:0.1"),
        ("split-class.json", "class:3"),
        ("split-backdoor.json", "backdoor:0.05"),
    ] {
        let cfg = SplitConfig {
            scenario: scenario.parse().expect("scenario"),
            seed: 0,
            val_fraction: 0.25,
        };
        let m = make_split(&ds, &cfg).expect("split");
        m.save(&dir.join(file)).expect("save manifest");
    }
}

/// Writes every seed file under `root` (the corpus folder).
pub fn generate(root: &Path) {
    let mut rng = Rng::new(0x5eed);
    idx(root, &mut rng);
    cifar(root, &mut rng);
    npy(root);
    features(root, &mut rng);
    checkpoints(root);
    manifests(root);
    imported(root);
}

/// Images and parquet shards: copies of the import fixtures, written by Pillow and by
/// Hugging Face `datasets` (`scripts/make_import_fixtures.py`), the tools users make them with.
fn imported(root: &Path) {
    let fixtures = root.join("../../crates/unlearn-data/tests/fixtures/import");
    for (from, to) in [
        ("colour-folder/train/a/grey.png", "images/grey.png"),
        ("colour-folder/train/b/rgb.png", "images/rgb.png"),
        ("colour-folder/test/b/photo.jpg", "images/photo.jpg"),
        ("colour-folder/test/a/grey.bmp", "images/grey.bmp"),
        ("colour-folder/test/b/lossless.webp", "images/lossless.webp"),
        (
            "digits-parquet/data/train-00000-of-00002.parquet",
            "parquet/plain.parquet",
        ),
        (
            "digits-parquet/data/train-00001-of-00002.parquet",
            "parquet/snappy.parquet",
        ),
        (
            "digits-parquet/data/test-00000-of-00001.parquet",
            "parquet/zstd.parquet",
        ),
    ] {
        let bytes = std::fs::read(fixtures.join(from)).expect("an import fixture");
        let (dir, name) = to.split_once('/').expect("folder/name");
        write(&root.join(dir), name, &bytes);
    }
}
