//! Feature extraction: runs a model in eval mode over every part of a split and collects
//! penultimate features `z = g(x)`, logits and labels, as the metrics crate's
//! [`FeatureBundle`].
//!
//! The bundle is saved as safetensors with tensors `retain_features`, `retain_logits`,
//! `retain_labels`, `forget_…`, `test_…`, `val_…` (and, for the backdoor scenario,
//! `triggered_logits` / `triggered_labels`: test images of the non-target classes stamped with
//! the trigger through the same data path as training), plus metadata naming the checkpoint,
//! the split and the dataset. The same names in a `.npz` written by numpy are the way in for
//! models trained elsewhere.
//!
//! Images reach the model exactly as in training, minus augmentation (in `[0, 1]`; the model
//! applies its own input normalisation): the split's training
//! view ([`unlearn_data::SplitManifest::poisoned_train`]) for retain, forget and validation, the
//! official test set for test.
//!
//! # Example
//! ```
//! use candle_core::Device;
//! use unlearn_data::{make_split, DataSource, SplitConfig};
//! use unlearn_models::{Arch, Model, ModelSpec};
//! use unlearn_features::{extract, ExtractOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ds = DataSource::Embedded.load()?;
//! let split = make_split(&ds, &SplitConfig { scenario: "random:0.02".parse()?, seed: 0, val_fraction: 0.1 })?;
//! let spec = ModelSpec { arch: Arch::SmallCnn, input_shape: ds.input_shape(), num_classes: 10 };
//! let model = Model::new(&spec, &Device::Cpu, 0)?.with_normalization(Some(ds.normalization.clone()))?;
//! let opts = ExtractOptions { max_retain: Some(500), ..Default::default() };
//! let bundle = extract(&model, &ds, &split, &opts)?;
//! assert_eq!(bundle.forget.features.rows(), split.forget.len());
//! assert_eq!(bundle.forget.features.cols(), 128);
//! assert_eq!(bundle.retain.labels.len(), 500);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

use std::collections::BTreeMap;

use candle_core::{DType, Tensor};
use unlearn_data::{Dataset, ImageSet, SplitManifest};
use unlearn_metrics::features_file::{FeatureBundle, SplitData, TriggeredData};
use unlearn_metrics::Matrix;
use unlearn_models::Model;
use unlearn_train::engine::{self, DataView};

/// Everything that can go wrong while extracting features.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    /// A tensor operation failed.
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// The model pass failed.
    #[error(transparent)]
    Train(#[from] unlearn_train::TrainError),
    /// The bundle is inconsistent or could not be written.
    #[error(transparent)]
    Metrics(#[from] unlearn_metrics::MetricsError),
    /// The model does not fit the data.
    #[error("model expects input {expected:?} with {classes} classes, but the data has input {found:?} with {data_classes} classes")]
    ShapeMismatch {
        /// Model input shape.
        expected: [usize; 3],
        /// Data input shape.
        found: [usize; 3],
        /// Model classes.
        classes: usize,
        /// Data classes.
        data_classes: usize,
    },
}

/// Result with [`FeatureError`].
pub type Result<T> = std::result::Result<T, FeatureError>;

/// How to extract.
#[derive(Clone, Debug)]
pub struct ExtractOptions {
    /// Batch size of the forward passes.
    pub batch_size: usize,
    /// Also extract the validation split.
    pub include_val: bool,
    /// Keep at most this many retain samples (the first ones of the sorted retain list;
    /// the metrics use at most 10,000 anyway). `None`: all.
    pub max_retain: Option<usize>,
    /// Show a progress bar on a terminal.
    pub progress: bool,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        Self {
            batch_size: 500,
            include_val: true,
            max_retain: None,
            progress: false,
        }
    }
}

/// Features, logits and labels of `indices` of `images`, in index order.
pub fn extract_view(
    model: &Model,
    view: &DataView,
    batch_size: usize,
    name: &str,
    mut on_batch: impl FnMut(),
) -> Result<SplitData> {
    let (n, d, c) = (view.len(), model.feature_dim(), model.spec().num_classes);
    let mut feats = Vec::with_capacity(n * d);
    let mut logits_all = Vec::with_capacity(n * c);
    let mut labels = Vec::with_capacity(n);
    engine::for_each_batch(model, view, batch_size, |b, logits, z| {
        feats.extend(flat(z)?);
        logits_all.extend(flat(logits)?);
        labels.extend(b.y.to_vec1::<u32>()?);
        on_batch();
        Ok(())
    })?;
    Ok(SplitData::new(
        name,
        Matrix::new(n, d, feats)?,
        Matrix::new(n, c, logits_all)?,
        labels,
    )?)
}

fn flat(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()
}

/// Runs `model` over the retain, forget, test (and validation) parts of `split` and, for a
/// backdoor split, over the triggered test images.
pub fn extract(
    model: &Model,
    ds: &Dataset,
    split: &SplitManifest,
    opts: &ExtractOptions,
) -> Result<FeatureBundle> {
    let spec = model.spec();
    if spec.input_shape != ds.input_shape() || spec.num_classes != ds.num_classes {
        return Err(FeatureError::ShapeMismatch {
            expected: spec.input_shape,
            found: ds.input_shape(),
            classes: spec.num_classes,
            data_classes: ds.num_classes,
        });
    }
    let train_images = split.poisoned_train(ds);
    let retain: &[u32] = match opts.max_retain {
        Some(m) if m < split.retain.len() => &split.retain[..m],
        _ => &split.retain,
    };
    let triggered = split
        .scenario
        .backdoor()
        .map(|spec| unlearn_data::triggered_test(ds, spec));
    let total = retain.len()
        + split.forget.len()
        + split.test.len()
        + if opts.include_val { split.val.len() } else { 0 }
        + triggered.as_ref().map(|t| t.0.len()).unwrap_or(0);
    let bs = opts.batch_size.max(1);
    let pb = engine::progress_bar(total.div_ceil(bs) as u64, "features", opts.progress);
    let tick = || pb.inc(1);
    let retain_d = extract_view(
        model,
        &view_of(ds, &train_images, retain),
        bs,
        "retain",
        tick,
    )?;
    let forget_d = extract_view(
        model,
        &view_of(ds, &train_images, &split.forget),
        bs,
        "forget",
        tick,
    )?;
    let test_d = extract_view(model, &view_of(ds, &ds.test, &split.test), bs, "test", tick)?;
    let val_d = if opts.include_val && !split.val.is_empty() {
        Some(extract_view(
            model,
            &view_of(ds, &train_images, &split.val),
            bs,
            "val",
            tick,
        )?)
    } else {
        None
    };
    let trig = match &triggered {
        Some((images, _)) => {
            let local: Vec<u32> = (0..images.len() as u32).collect();
            let d = extract_view(model, &view_of(ds, images, &local), bs, "triggered", tick)?;
            Some(TriggeredData {
                logits: d.logits,
                labels: d.labels,
            })
        }
        None => None,
    };
    pb.finish_and_clear();
    let mut meta = BTreeMap::new();
    meta.insert("arch".into(), spec.arch.name().to_string());
    meta.insert("dataset".into(), ds.source.to_string());
    meta.insert("dataset_fingerprint".into(), ds.fingerprint.clone());
    meta.insert("split_sha256".into(), split.content_hash());
    meta.insert("scenario".into(), split.scenario.to_string());
    meta.insert("seed".into(), split.seed.to_string());
    Ok(FeatureBundle::new(
        retain_d, forget_d, test_d, val_d, trig, meta,
    )?)
}

fn view_of<'a>(ds: &'a Dataset, images: &'a ImageSet, indices: &'a [u32]) -> DataView<'a> {
    DataView {
        images,
        indices,
        augmentation: ds.augmentation,
    }
}

/// The backdoor's attack success rate on `model`, in percent, for a backdoor split (`None`
/// otherwise): the triggered test images of the non-target classes, scored by
/// [`unlearn_metrics::output::attack_success_rate`].
pub fn backdoor_asr(
    model: &Model,
    ds: &Dataset,
    manifest: &SplitManifest,
    batch_size: usize,
) -> Result<Option<f64>> {
    let Some(spec) = manifest.scenario.backdoor() else {
        return Ok(None);
    };
    let (triggered, idx) = unlearn_data::triggered_test(ds, spec);
    let local: Vec<u32> = (0..idx.len() as u32).collect();
    let view = DataView {
        images: &triggered,
        indices: &local,
        augmentation: ds.augmentation,
    };
    let data = extract_view(model, &view, batch_size, "triggered", || {})?;
    Ok(unlearn_metrics::output::attack_success_rate(
        &data.logits,
        &data.labels,
        spec.target,
    ))
}
