//! Loading what every step and command reads: the data, a split manifest, a checkpoint.
//! One loader and one shape check for the whole toolkit.

use std::path::Path;

use candle_core::Device;
use unlearn_data::{DataSource, Dataset, SplitManifest};
use unlearn_models::{checkpoint, hub, Arch, CheckpointMeta, Model, ModelSpec};
use unlearn_train::Preset;

use super::provenance::{check_scenario, OnMismatch};
use crate::error::{PipelineError, Result};

/// Loads a data source given in `unlearn --data` syntax (`embedded`, `fashion-mnist[:dir]`,
/// `idx:<dir>`, `cifar10[:dir]`, …).
pub fn load_dataset(spec: &str) -> Result<Dataset> {
    let source: DataSource = spec.parse()?;
    Ok(source.load()?)
}

/// Loads a split manifest and checks that it was made from `ds` (an error) and that its
/// scenario describes its forget list (`on` decides, see [`check_scenario`]).
pub fn load_split(path: &Path, ds: &Dataset, on: OnMismatch) -> Result<SplitManifest> {
    let manifest = SplitManifest::load(path)?;
    manifest.check_dataset(ds)?;
    check_scenario(&path.display().to_string(), &manifest, ds, on)?;
    Ok(manifest)
}

/// The preset that fits a data set when none is named: `quick` for the embedded subset,
/// `cifar10`/`cifar100` for CIFAR, `fmnist` for any other data.
pub fn default_preset(ds: &Dataset) -> Preset {
    match ds.name.as_str() {
        "embedded-fashion-mnist" => Preset::Quick,
        "cifar10" => Preset::Cifar10,
        "cifar100" => Preset::Cifar100,
        _ => Preset::Fmnist,
    }
}

/// What a model's weights depend on, besides its recipe and seed: the training list's
/// SHA-256, plus the scenario when it poisons images (backdoor). Two splits of one training
/// set with the same identity can share an original model.
pub fn train_identity(manifest: &SplitManifest) -> String {
    let scenario = manifest.scenario.to_string();
    if manifest.scenario.backdoor().is_some() {
        format!("{}/{scenario}", manifest.sha256.train)
    } else {
        manifest.sha256.train.clone()
    }
}

/// Checks that `model` takes `ds`'s images and predicts its classes; the error names the
/// checkpoint (`label`) and both shapes.
pub fn check_fits(model: &Model, ds: &Dataset, label: &str) -> Result<()> {
    let spec = model.spec();
    if spec.input_shape != ds.input_shape() || spec.num_classes != ds.num_classes {
        return Err(PipelineError::ShapeMismatch {
            checkpoint: label.to_string(),
            model_input: spec.input_shape,
            model_classes: spec.num_classes,
            data: ds.name.clone(),
            data_input: ds.input_shape(),
            data_classes: ds.num_classes,
        });
    }
    Ok(())
}

/// A loaded checkpoint: the model and, for this toolkit's checkpoints, its metadata.
pub struct LoadedModel {
    /// The model.
    pub model: Model,
    /// The metadata; `None` when the architecture was given for a foreign checkpoint.
    pub meta: Option<CheckpointMeta>,
}

/// Loads a checkpoint (a path or `hf://org/repo/file[@revision]`) for use with `ds`.
///
/// With `arch`, the file needs no metadata of this toolkit (a state dict written by
/// PyTorch) and the shape comes from the data; without it, the metadata says what to build.
/// Either way the model must fit `ds` ([`check_fits`]).
pub fn load_model(
    checkpoint_spec: &str,
    arch: Option<Arch>,
    ds: &Dataset,
    device: &Device,
) -> Result<LoadedModel> {
    let path = hub::resolve_checkpoint(checkpoint_spec)?;
    let loaded = match arch {
        Some(arch) => {
            let spec = ModelSpec {
                arch,
                input_shape: ds.input_shape(),
                num_classes: ds.num_classes,
            };
            LoadedModel {
                model: checkpoint::load_with_spec(&path, &spec, device)?,
                meta: None,
            }
        }
        None => {
            let (model, meta) = checkpoint::load(&path, device)?;
            LoadedModel {
                model,
                meta: Some(meta),
            }
        }
    };
    check_fits(&loaded.model, ds, checkpoint_spec)?;
    Ok(loaded)
}
