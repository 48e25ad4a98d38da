//! Feature extraction over a split: shapes, labels, order, backdoor view, file round trip.

use candle_core::Device;
use unlearn_data::{make_split, DataSource, Dataset, SplitConfig};
use unlearn_features::{extract, ExtractOptions, FeatureError};
use unlearn_metrics::FeatureBundle;
use unlearn_models::{Arch, Model, ModelSpec};

fn data() -> Dataset {
    DataSource::Embedded.load().unwrap()
}

fn model(ds: &Dataset, input_shape: [usize; 3]) -> Model {
    let spec = ModelSpec {
        arch: Arch::SmallCnn,
        input_shape,
        num_classes: ds.num_classes,
    };
    // The data's normalisation where the model takes the data's channels.
    let normalization = (input_shape[0] == ds.input_shape()[0]).then(|| ds.normalization.clone());
    Model::new(&spec, &Device::Cpu, 1)
        .unwrap()
        .with_normalization(normalization)
        .unwrap()
}

#[test]
fn bundle_follows_the_split_and_round_trips() {
    let ds = data();
    let split = make_split(
        &ds,
        &SplitConfig {
            scenario: "random:0.05".parse().unwrap(),
            seed: 3,
            val_fraction: 0.1,
        },
    )
    .unwrap();
    let m = model(&ds, ds.input_shape());
    let opts = ExtractOptions {
        max_retain: Some(700),
        batch_size: 256,
        ..Default::default()
    };
    let b = extract(&m, &ds, &split, &opts).unwrap();
    assert_eq!(b.retain.labels.len(), 700);
    assert_eq!(b.forget.labels.len(), split.forget.len());
    assert_eq!(b.test.labels.len(), ds.test.len());
    assert_eq!(b.val.as_ref().unwrap().labels.len(), split.val.len());
    assert_eq!(b.dim(), 128);
    // Rows are in split order: labels equal the dataset's labels of those indices.
    let want: Vec<u32> = split
        .forget
        .iter()
        .map(|&i| ds.train.labels[i as usize])
        .collect();
    assert_eq!(b.forget.labels, want);
    assert_eq!(b.metadata["scenario"], "random:0.05");
    assert_eq!(b.metadata["dataset_fingerprint"], ds.fingerprint);
    // The features are g(x): the head applied to them gives the logits.
    let z = candle_core::Tensor::from_vec(
        b.forget.features.data().to_vec(),
        (b.forget.labels.len(), 128),
        &Device::Cpu,
    )
    .unwrap();
    let logits = m
        .head(&z)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let max = logits
        .iter()
        .zip(b.forget.logits.data())
        .map(|(a, c)| (a - c).abs())
        .fold(0f32, f32::max);
    assert!(max < 1e-4, "{max}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.safetensors");
    b.save_safetensors(&path, &b.metadata).unwrap();
    let back = FeatureBundle::load(&path).unwrap();
    assert_eq!(back.forget, b.forget);
    assert_eq!(back.metadata["split_sha256"], split.content_hash());
}

#[test]
fn backdoor_splits_carry_triggered_test_logits() {
    let ds = data();
    let split = make_split(
        &ds,
        &SplitConfig {
            scenario: "backdoor:0.02,target=2".parse().unwrap(),
            seed: 0,
            val_fraction: 0.1,
        },
    )
    .unwrap();
    let m = model(&ds, ds.input_shape());
    let b = extract(
        &m,
        &ds,
        &split,
        &ExtractOptions {
            max_retain: Some(300),
            include_val: false,
            ..Default::default()
        },
    )
    .unwrap();
    let t = b.triggered.as_ref().expect("triggered test set");
    assert_eq!(
        t.labels.len(),
        ds.test.labels.iter().filter(|&&l| l != 2).count()
    );
    assert!(t.labels.iter().all(|&l| l != 2));
    // Forget samples are seen as trained: relabelled to the target.
    assert!(b.forget.labels.iter().all(|&l| l == 2));
    assert!(b.val.is_none());
}

#[test]
fn a_model_for_other_inputs_is_refused() {
    let ds = data();
    let split = make_split(
        &ds,
        &SplitConfig {
            scenario: "random:0.1".parse().unwrap(),
            seed: 0,
            val_fraction: 0.1,
        },
    )
    .unwrap();
    let m = model(&ds, [3, 32, 32]);
    let err = extract(&m, &ds, &split, &ExtractOptions::default()).unwrap_err();
    assert!(matches!(err, FeatureError::ShapeMismatch { .. }), "{err}");
    assert!(err.to_string().contains("[3, 32, 32]"), "{err}");
}
