//! Training a classifier on the train or retain part of a split: the original model and the
//! retrain oracle. `unlearn train` and the pipeline's original/retrain steps both call
//! [`train_checkpoint`].

use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::Device;
use serde::{Deserialize, Serialize};
use unlearn_data::{Dataset, SplitManifest};
use unlearn_models::{checkpoint, Arch, CheckpointMeta, Model, ModelSpec};
use unlearn_train::{engine, DataView, Recipe};

use crate::error::Result;

/// Which part of a split a model trains on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subset {
    /// retain ∪ forget: the original model.
    Train,
    /// retain only: the retrained (oracle) model.
    Retain,
}

impl Subset {
    /// The name recorded in checkpoint metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Subset::Train => "train",
            Subset::Retain => "retain",
        }
    }
}

/// One training run.
pub struct TrainJob<'a> {
    /// The data.
    pub ds: &'a Dataset,
    /// The split.
    pub manifest: &'a SplitManifest,
    /// The recipe (a preset's, possibly overridden).
    pub recipe: &'a Recipe,
    /// The architecture; `None`: the data's default.
    pub arch: Option<Arch>,
    /// Which part of the split.
    pub subset: Subset,
    /// Seed of initialisation, data order and augmentation.
    pub seed: u64,
    /// Device.
    pub device: &'a Device,
    /// The checkpoint to write (atomically); resumable state goes to `<out>.state`.
    pub out: &'a Path,
    /// Append one JSON line per epoch here.
    pub log: Option<&'a Path>,
    /// Start afresh even if a saved state exists.
    pub no_resume: bool,
    /// Draw progress bars (on a terminal).
    pub progress: bool,
}

/// What a finished training run reports.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    /// Loss of the last epoch.
    pub final_loss: f64,
    /// Accuracy on the split's test list, in percent.
    pub test_accuracy: f64,
    /// Seconds of training (this invocation's epochs).
    pub seconds: f64,
}

/// The path of a run's resumable state.
pub fn state_path(out: &Path) -> PathBuf {
    PathBuf::from(format!("{}.state", out.display()))
}

/// Trains, writes the checkpoint with its metadata, and evaluates it on the test list.
pub fn train_checkpoint(job: &TrainJob) -> Result<TrainSummary> {
    let ds = job.ds;
    let arch = job
        .arch
        .unwrap_or_else(|| Arch::default_for(ds.input_shape()));
    let spec = ModelSpec {
        arch,
        input_shape: ds.input_shape(),
        num_classes: ds.num_classes,
    };
    // A model trained on the data normalises its inputs with the data's statistics.
    let model = Model::new(&spec, job.device, job.seed)?
        .with_normalization(Some(ds.normalization.clone()))?;
    let train_images = job.manifest.poisoned_train(ds);
    let indices = match job.subset {
        Subset::Train => &job.manifest.train,
        Subset::Retain => &job.manifest.retain,
    };
    let view = DataView {
        images: &train_images,
        indices,
        augmentation: ds.augmentation,
    };
    let state = state_path(job.out);
    if job.no_resume {
        let _ = std::fs::remove_file(&state);
    }
    let mut log_file = match job.log {
        Some(p) => Some(unlearn_io::open_append(p, "--log")?),
        None => None,
    };
    let record = engine::train(
        &model,
        &view,
        job.recipe,
        job.seed,
        engine::RunOptions {
            progress: job.progress,
            log: log_file.as_mut().map(|f| f as &mut dyn Write),
            state_path: Some(state),
        },
    )?;
    let mut meta = CheckpointMeta::for_model(&model);
    meta.dataset = ds.source.to_string();
    meta.dataset_fingerprint = ds.fingerprint.clone();
    meta.split_sha256 = job.manifest.content_hash();
    // What the weights depend on: the training list (and, for a backdoor split, the
    // poisoning), so another split of the same training set can reuse this model.
    meta.extra
        .insert("train_sha256".into(), job.manifest.train_identity());
    meta.subset = job.subset.as_str().to_string();
    if meta.subset == "retain" {
        // What a retrained model never saw, for the provenance of a given oracle.
        meta.extra
            .insert("forget_scenario".into(), job.manifest.scenario.to_string());
    }
    meta.recipe = job.recipe.to_json();
    meta.seed = job.seed;
    meta.epochs = job.recipe.epochs;
    checkpoint::save(&model, &meta, job.out)?;
    let test_view = DataView {
        images: &ds.test,
        indices: &job.manifest.test,
        ..view
    };
    let test = engine::evaluate(&model, &test_view, job.recipe.eval_batch_size)?;
    Ok(TrainSummary {
        final_loss: record.epochs.last().map(|e| e.loss).unwrap_or(f64::NAN),
        test_accuracy: test.accuracy,
        seconds: record.seconds,
    })
}

/// Seconds of the last training run recorded in a per-epoch JSON log (a resumed run's
/// epochs add up; a restart from epoch 1 starts the count again).
pub fn logged_train_seconds(log: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(log).ok()?;
    let mut last_run = 0.0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        if v["epoch"] == 1 {
            last_run = 0.0;
        }
        last_run += v["seconds"].as_f64()?;
    }
    Some(last_run)
}
