//! The small, fixed unlearning runs that the PyTorch parity replays check
//! (`scripts/parity/`): shared by the `parity_case` example, which writes a case's files for
//! the replay, and by `tests/parity.rs`, which reruns the case and compares the result with
//! the replay's committed summary. Everything here is deterministic on the CPU.

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::BTreeMap;

use candle_core::Device;
use unlearn_data::{
    make_split, Augmentation, DataSource, Dataset, ImageSet, SplitConfig, SplitManifest,
};
use unlearn_methods::{registry, run, Overrides, RunRecord, UnlearnContext};
use unlearn_models::checkpoint::{self, RawTensor};
use unlearn_models::{Arch, CheckpointMeta, Model, ModelSpec};
use unlearn_train::{engine, DataView, Recipe, RunOptions, Trace};

/// The nine methods with a public reference implementation.
pub const METHODS: [&str; 9] = [
    "ft", "ga", "neggrad+", "rl", "bs", "be", "l1", "salun", "scrub",
];

/// The two architectures: the small CNN, and ResNet-18 (ImageNet stem, so BatchNorm runs in
/// training mode on 7×7 maps of the 28×28 images and the case stays fast).
pub const ARCHS: [Arch; 2] = [Arch::SmallCnn, Arch::ResNet18];

/// Forget and retain samples of the case (a seeded `random:0.1` split of the embedded
/// data, cut to these sizes) and the batch size: 5 forget and 15 retain batches an epoch.
pub const FORGET: usize = 40;
pub const RETAIN: usize = 120;
pub const BATCH: usize = 8;

/// Each method's settings: small batches and enough epochs for at least 20 steps; SCRUB
/// decays its lr after epochs 1 and 2 so that the schedule is exercised.
///
/// On ResNet-18 the methods that train on retain data take lr 0.001: at 0.01, batches of 8
/// and BatchNorm over 8 values at 1×1, the PyTorch replay itself moved by 1.7e-1 (FT) when
/// the original was perturbed by 1e-7, so no implementation could be compared with it.
pub fn overrides(arch: Arch, method: &str) -> Vec<String> {
    let mut sets = vec![format!("batch_size={BATCH}")];
    sets.extend(
        match method {
            "ft" => vec!["epochs=2", "lr=0.01"],
            "ga" => vec!["epochs=4", "lr=0.0005"],
            "neggrad+" => vec!["epochs=2", "lr=0.01", "beta=0.9"],
            "rl" => vec!["epochs=2", "lr=0.01"],
            "bs" => vec!["epochs=4", "lr=0.01"],
            "be" => vec!["epochs=4", "lr=0.01"],
            "l1" => vec!["epochs=2", "lr=0.01", "alpha=0.0005"],
            "salun" => vec!["epochs=2", "lr=0.01"],
            "scrub" => vec![
                "epochs=3",
                "max_epochs=2",
                "lr=0.01",
                "forget_batch_size=8",
                "lr_decay_epochs=1,2",
                "lr_decay_rate=0.5",
            ],
            _ => vec![],
        }
        .into_iter()
        .map(String::from),
    );
    let retain_based = ["ft", "neggrad+", "rl", "l1", "salun", "scrub"];
    if arch == Arch::ResNet18 && retain_based.contains(&method) {
        sets.push("lr=0.001".to_string());
    }
    sets
}

/// The data (with random crops and flips, so that the replays rebuild augmented batches),
/// the case's split and the training images.
pub fn data() -> (Dataset, SplitManifest, ImageSet) {
    let mut ds = DataSource::Embedded.load().expect("the embedded data");
    ds.augmentation = Augmentation::CropFlip { padding: 2 };
    let cfg = SplitConfig {
        scenario: "random:0.1".parse().expect("a scenario"),
        seed: 0,
        val_fraction: 0.1,
    };
    let mut split = make_split(&ds, &cfg).expect("a split");
    split.forget.truncate(FORGET);
    split.retain.truncate(RETAIN);
    let images = split.poisoned_train(&ds);
    (ds, split, images)
}

/// The original: `arch` trained from seed 0 for one epoch on the first 512 retain and
/// forget samples (batch 32), so that it classifies well above chance.
pub fn original(arch: Arch, ds: &Dataset, split: &SplitManifest) -> Model {
    let spec = ModelSpec {
        arch,
        input_shape: ds.input_shape(),
        num_classes: ds.num_classes,
    };
    let model = Model::new(&spec, &Device::Cpu, 0)
        .expect("a model")
        .with_normalization(Some(ds.normalization.clone()))
        .expect("the data's normalisation");
    let mut train: Vec<u32> = split.forget.iter().chain(&split.retain).copied().collect();
    let more = (0..ds.train.len() as u32)
        .filter(|i| !train.contains(i))
        .take(512 - train.len());
    train.extend(more.collect::<Vec<_>>());
    train.sort_unstable();
    let view = DataView {
        images: &ds.train,
        indices: &train,
        augmentation: ds.augmentation,
    };
    let mut recipe = Recipe::preset("quick").expect("a recipe");
    recipe.epochs = 1;
    recipe.batch_size = 32;
    engine::train(&model, &view, &recipe, 0, RunOptions::default()).expect("training");
    model
}

/// A finished case: the unlearned model, its record and its trace.
pub struct Case {
    pub original: Model,
    pub unlearned: Model,
    pub record: RunRecord,
    pub trace: Trace,
    pub ds: Dataset,
    pub images: ImageSet,
}

/// Runs `method` on the case's original of `arch`, traced.
pub fn run_case(arch: Arch, method: &str) -> Case {
    run_case_with(arch, method, &[])
}

/// [`run_case`] with `extra` `key=value` settings after the case's own (to cut a case
/// short while looking for where two runs part).
pub fn run_case_with(arch: Arch, method: &str, extra: &[String]) -> Case {
    let (ds, split, images) = data();
    let original = original(arch, &ds, &split);
    run_on(original, ds, split, images, method, extra)
}

/// Runs `method` on a given `original` (from [`original`]) of the case's data.
pub fn run_on(
    original: Model,
    ds: Dataset,
    split: SplitManifest,
    images: ImageSet,
    method: &str,
    extra: &[String],
) -> Case {
    let recipe = Recipe::preset("quick").expect("a recipe");
    let arch = original.spec().arch;
    let mut sets = overrides(arch, method);
    sets.extend(extra.iter().cloned());
    let overrides = Overrides::new(&sets, None).expect("overrides");
    let m = registry::build(method, "quick", &overrides).expect("the method");
    let trace = RefCell::new(Trace::new());
    let mut ctx = UnlearnContext::new(&original, &ds, &images, &split, &recipe, 0);
    ctx.monitor = 64;
    ctx.trace = Some(&trace);
    let out = run(&m, &ctx).unwrap_or_else(|f| panic!("{method}: {}", f.error));
    Case {
        original,
        unlearned: out.model,
        record: out.record,
        trace: trace.into_inner(),
        ds,
        images,
    }
}

/// The training images as `unlearn data export` writes them.
pub fn export_bytes(ds: &Dataset, images: &ImageSet) -> Vec<u8> {
    let [c, h, w] = images.shape();
    let n = images.len();
    let mut tensors = BTreeMap::new();
    let raw = |dtype, shape, bytes| RawTensor {
        dtype,
        shape,
        bytes,
    };
    tensors.insert(
        "images".to_string(),
        raw("U8", vec![n, c, h, w], images.images.clone()),
    );
    let labels = images
        .labels
        .iter()
        .flat_map(|&l| (l as i64).to_le_bytes())
        .collect();
    tensors.insert("labels".to_string(), raw("I64", vec![n], labels));
    let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mean = &ds.normalization.mean;
    tensors.insert("mean".to_string(), raw("F32", vec![mean.len()], f32s(mean)));
    let std = &ds.normalization.std;
    tensors.insert("std".to_string(), raw("F32", vec![std.len()], f32s(std)));
    let mut meta = BTreeMap::new();
    let aug = match ds.augmentation {
        Augmentation::None => "none".to_string(),
        Augmentation::CropFlip { padding } => format!("crop_flip:{padding}"),
    };
    meta.insert("augmentation".to_string(), aug);
    meta.insert("num_classes".to_string(), ds.num_classes.to_string());
    checkpoint::safetensors_bytes(&tensors, &meta)
}

/// Saves a model with the toolkit's metadata.
pub fn save(model: &Model, path: &std::path::Path) {
    checkpoint::save(model, &CheckpointMeta::for_model(model), path).expect("a checkpoint");
}
