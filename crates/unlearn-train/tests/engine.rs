//! The training loop: it learns, it is deterministic, it resumes, it refuses divergence.

use candle_core::Device;
use unlearn_data::{make_split, DataSource, Dataset, SplitConfig};
use unlearn_models::{checkpoint, Arch, CheckpointMeta, Model, ModelSpec};
use unlearn_train::{engine, DataView, Recipe, RunOptions, TrainError};

fn data() -> Dataset {
    DataSource::Embedded.load().unwrap()
}

fn spec(ds: &Dataset) -> ModelSpec {
    ModelSpec {
        arch: Arch::SmallCnn,
        input_shape: ds.input_shape(),
        num_classes: ds.num_classes,
    }
}

fn small_recipe(epochs: usize) -> Recipe {
    let mut r = Recipe::preset("quick").unwrap();
    r.epochs = epochs;
    r
}

#[test]
fn one_epoch_learns_and_is_byte_deterministic() {
    let ds = data();
    let idx: Vec<u32> = (0..2000).collect();
    let view = DataView {
        images: &ds.train,
        indices: &idx,
        augmentation: ds.augmentation,
    };
    let test_idx: Vec<u32> = (0..2000).collect();
    let test = DataView {
        images: &ds.test,
        indices: &test_idx,
        ..view
    };
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    for run in 0..2 {
        let model = Model::new(&spec(&ds), &Device::Cpu, 11)
            .unwrap()
            .with_normalization(Some(ds.normalization.clone()))
            .unwrap();
        let rec =
            engine::train(&model, &view, &small_recipe(1), 11, RunOptions::default()).unwrap();
        assert_eq!(rec.epochs.len(), 1);
        let acc = engine::evaluate(&model, &test, 500).unwrap().accuracy;
        assert!(
            acc > 40.0,
            "one epoch on 2,000 images should beat chance (10%) by far, got {acc}"
        );
        let p = dir.path().join(format!("m{run}.safetensors"));
        checkpoint::save(&model, &CheckpointMeta::for_model(&model), &p).unwrap();
        bytes.push(std::fs::read(&p).unwrap());
    }
    assert!(
        bytes[0] == bytes[1],
        "same seed, same data, CPU ⇒ identical checkpoint bytes"
    );
}

#[test]
fn a_resumed_run_ends_with_the_same_bytes() {
    let ds = data();
    let idx: Vec<u32> = (0..600).collect();
    let view = DataView {
        images: &ds.train,
        indices: &idx,
        augmentation: ds.augmentation,
    };
    let recipe = small_recipe(3);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("run.state");

    // Uninterrupted.
    let full = Model::new(&spec(&ds), &Device::Cpu, 2)
        .unwrap()
        .with_normalization(Some(ds.normalization.clone()))
        .unwrap();
    engine::train(
        &full,
        &view,
        &recipe,
        2,
        RunOptions {
            state_path: Some(state.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(!state.exists(), "the state file is removed on success");

    // "Killed" during epoch 2: the run log fails on its second line, which stops the run
    // after epoch 1's state was saved, as a kill between epochs would.
    let partial = Model::new(&spec(&ds), &Device::Cpu, 2)
        .unwrap()
        .with_normalization(Some(ds.normalization.clone()))
        .unwrap();
    let mut log = Vec::new();
    let err = engine::train(
        &partial,
        &view,
        &recipe,
        2,
        RunOptions {
            state_path: Some(state.clone()),
            log: Some(&mut FailAfter {
                lines: 1,
                inner: &mut log,
            }),
            ..Default::default()
        },
    );
    assert!(
        err.is_err(),
        "the log writer fails on the second epoch, like a kill"
    );
    assert!(state.exists(), "state after epoch 1 was kept");
    let resumed = Model::new(&spec(&ds), &Device::Cpu, 2)
        .unwrap()
        .with_normalization(Some(ds.normalization.clone()))
        .unwrap();
    let rec = engine::train(
        &resumed,
        &view,
        &recipe,
        2,
        RunOptions {
            state_path: Some(state.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(rec.resumed_from, Some(1));
    assert_eq!(rec.epochs.len(), 3);
    let a = checkpoint::model_tensors(&full).unwrap();
    let b = checkpoint::model_tensors(&resumed).unwrap();
    for (name, t) in &a {
        assert!(
            t.bytes == b[name].bytes,
            "tensor {name} differs after resume"
        );
    }
}

/// A writer that fails once it has been given `lines` lines (simulates a crash mid-run).
struct FailAfter<'a> {
    lines: usize,
    inner: &'a mut Vec<u8>,
}

impl std::io::Write for FailAfter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let seen = self.inner.iter().filter(|&&b| b == b'\n').count();
        if seen >= self.lines {
            return Err(std::io::Error::other("simulated crash"));
        }
        self.inner.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn divergence_is_an_error_not_a_nan_checkpoint() {
    let ds = data();
    let idx: Vec<u32> = (0..512).collect();
    let view = DataView {
        images: &ds.train,
        indices: &idx,
        augmentation: ds.augmentation,
    };
    let mut recipe = small_recipe(2);
    recipe.optimizer.set_lr(1e12);
    let model = Model::new(&spec(&ds), &Device::Cpu, 0)
        .unwrap()
        .with_normalization(Some(ds.normalization.clone()))
        .unwrap();
    let err = engine::train(&model, &view, &recipe, 0, RunOptions::default()).unwrap_err();
    assert!(matches!(err, TrainError::Diverged { .. }), "{err}");
    assert!(err.to_string().contains("diverged"), "{err}");
}

#[test]
fn presets_follow_the_specification() {
    let c = Recipe::preset("cifar10").unwrap();
    assert_eq!((c.epochs, c.batch_size), (182, 256));
    assert_eq!(c.optimizer.lr(), 0.1);
    let s = &c.schedule;
    assert!((s.lr_at(0.1, 90, 0, 196, 182) - 0.1).abs() < 1e-12);
    assert!((s.lr_at(0.1, 91, 0, 196, 182) - 0.01).abs() < 1e-12);
    assert!((s.lr_at(0.1, 136, 0, 196, 182) - 0.001).abs() < 1e-12);
    assert!(matches!(
        Recipe::preset("imagenet"),
        Err(TrainError::UnknownPreset(_))
    ));
    let mut bad = Recipe::preset("quick").unwrap();
    bad.epochs = 0;
    assert!(bad.validate().is_err());
}

#[test]
fn split_indices_drive_training() {
    // The retain subset of a class split never shows the forgotten class to the model.
    let ds = data();
    let split = make_split(
        &ds,
        &SplitConfig {
            scenario: "class:3".parse().unwrap(),
            seed: 0,
            val_fraction: 0.1,
        },
    )
    .unwrap();
    assert!(split
        .retain
        .iter()
        .all(|&i| ds.train.labels[i as usize] != 3));
    let view = DataView {
        images: &ds.train,
        indices: &split.retain,
        augmentation: ds.augmentation,
    };
    let order = view.epoch_order(0, 0);
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, split.retain);
    assert_ne!(order, view.epoch_order(0, 1));
}

/// A trainable parameter the loss does not reach is an error naming it, raised before any
/// parameter is updated; a parameter frozen on purpose may go without a gradient and is
/// left bit-identical.
#[test]
fn a_parameter_cut_from_the_graph_is_reported_by_name() {
    use unlearn_train::{Optimizer, OptimizerConfig, SgdConfig};
    let ds = data();
    let model = Model::new(&spec(&ds), &Device::Cpu, 3)
        .unwrap()
        .with_normalization(Some(ds.normalization.clone()))
        .unwrap();
    let idx: Vec<u32> = (0..32).collect();
    let view = DataView {
        images: &ds.train,
        indices: &idx,
        augmentation: ds.augmentation,
    };
    let batch = view.batch(&idx, &Device::Cpu, None).unwrap();
    let sgd = OptimizerConfig::Sgd(SgdConfig::default());
    let snapshot = |m: &Model| {
        m.store()
            .parameters()
            .into_iter()
            .map(|(n, v)| {
                let bits: Vec<u32> = v
                    .as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
                    .iter()
                    .map(|x| x.to_bits())
                    .collect();
                (n, bits)
            })
            .collect::<Vec<_>>()
    };
    // conv2's output is cut from the graph: conv1 and conv2 get no gradient.
    let cut_loss = |m: &Model| {
        let z = m.features(&batch.x, true).unwrap().detach();
        engine::cross_entropy(&m.head(&z).unwrap(), &batch.y).unwrap()
    };
    let before = snapshot(&model);
    let mut opt = Optimizer::new(sgd.clone(), model.store().parameters(), None).unwrap();
    let grads = cut_loss(&model).backward().unwrap();
    let err = opt.step(&grads).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, TrainError::NoGradient { count: 6, .. }),
        "{msg}"
    );
    for name in [
        "conv1.weight",
        "conv1.bias",
        "conv2.weight",
        "conv2.bias",
        "fc1.weight",
        "fc1.bias",
    ] {
        assert!(msg.contains(name), "{name} not named in: {msg}");
    }
    assert!(!msg.contains("fc.weight"), "{msg}");
    assert_eq!(snapshot(&model), before, "nothing may be updated");

    // The same cut, declared: the feature extractor is frozen on purpose.
    let mut opt = Optimizer::new(sgd, model.store().parameters(), None).unwrap();
    assert_eq!(opt.freeze(|n| !model.is_head_tensor(n)), 6);
    opt.step(&grads).unwrap();
    let after = snapshot(&model);
    for ((name, a), (_, b)) in after.iter().zip(&before) {
        assert_eq!(a != b, model.is_head_tensor(name), "{name}");
    }
}

/// One epoch of the ViT, without weight decay, changes every one of its float tensors
/// (candle-nn's fused attention softmax and layer norm have no backward pass; a ViT built
/// on them left the queries, keys and layer norms at their initial values).
#[test]
fn one_vit_epoch_changes_every_tensor() {
    let ds = data();
    let spec = ModelSpec {
        arch: Arch::VitTiny,
        input_shape: ds.input_shape(),
        num_classes: ds.num_classes,
    };
    let model = Model::new(&spec, &Device::Cpu, 5)
        .unwrap()
        .with_normalization(Some(ds.normalization.clone()))
        .unwrap();
    let before = model.store().snapshot().unwrap();
    let idx: Vec<u32> = (0..256).collect();
    let view = DataView {
        images: &ds.train,
        indices: &idx,
        augmentation: ds.augmentation,
    };
    let mut recipe = small_recipe(1);
    recipe.batch_size = 64;
    if let unlearn_train::OptimizerConfig::Sgd(c) = &mut recipe.optimizer {
        c.weight_decay = 0.0;
        c.lr = 0.01;
    }
    engine::train(&model, &view, &recipe, 5, RunOptions::default()).unwrap();
    let after = model.store().snapshot().unwrap();
    assert_eq!(after.len(), 104, "the 102 ViT tensors and the head's 2");
    let unchanged: Vec<&String> = after
        .iter()
        .filter(|(name, t)| {
            let d = (*t - &before[*name])
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            d == 0.0
        })
        .map(|(n, _)| n)
        .collect();
    assert!(
        unchanged.is_empty(),
        "tensors left unchanged: {unchanged:?}"
    );
}
