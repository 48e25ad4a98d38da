//! Loading what every step and command reads: the data, a split manifest, a checkpoint.
//! One loader and one shape check for the whole toolkit.

use std::path::{Path, PathBuf};

use candle_core::Device;
use unlearn_data::{DataSource, Dataset, Normalization, SplitManifest};
use unlearn_models::{checkpoint, hub, Arch, CheckpointMeta, Model, ModelSpec};

use crate::error::{OpsError, Result};
use crate::provenance::{check_scenario, OnMismatch};

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

/// Checks that `model` takes `ds`'s images and predicts its classes; the error names the
/// checkpoint (`label`) and both shapes.
pub fn check_fits(model: &Model, ds: &Dataset, label: &str) -> Result<()> {
    let spec = model.spec();
    if spec.input_shape != ds.input_shape() || spec.num_classes != ds.num_classes {
        return Err(OpsError::ShapeMismatch {
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

/// A loaded checkpoint: the model, its metadata when it is this toolkit's, and the input
/// normalisation it expects.
pub struct LoadedModel {
    /// The model.
    pub model: Model,
    /// The metadata; `None` when the architecture was given for a foreign checkpoint.
    pub meta: Option<CheckpointMeta>,
    /// The input normalisation the checkpoint says it expects: from `--normalize`, else the
    /// file's own (metadata or SalUn-style `normalize.*` buffers), else the registry
    /// entry's; `None` when nothing says. The model applies it, or the data's own when
    /// nothing says ([`Model::normalization`]).
    pub normalization: Option<Normalization>,
    /// The local file it was read from.
    pub path: PathBuf,
}

/// How to read a checkpoint that does not describe itself (a PyTorch file): the
/// architecture and the input normalisation. Both may also come from a registry entry
/// (`model:<id>`); what is given here wins.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// The architecture (`--arch`); needed for a foreign file outside the registry.
    pub arch: Option<Arch>,
    /// The input normalisation (`--normalize`).
    pub normalization: Option<Normalization>,
}

impl LoadOptions {
    /// Options with only an architecture.
    pub fn arch(arch: Option<Arch>) -> Self {
        Self {
            arch,
            normalization: None,
        }
    }
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
    load_model_with(checkpoint_spec, &LoadOptions::arch(arch), ds, device)
}

/// [`load_model`] with an input normalisation for foreign files (see [`LoadOptions`]). A
/// normalisation with another channel count than the data's is an error.
pub fn load_model_with(
    checkpoint_spec: &str,
    opts: &LoadOptions,
    ds: &Dataset,
    device: &Device,
) -> Result<LoadedModel> {
    let source = resolve_source(checkpoint_spec)?;
    let arch = opts.arch.or(source.arch);
    let (model, meta, own) = match arch {
        Some(arch) => {
            let spec = ModelSpec {
                arch,
                input_shape: ds.input_shape(),
                num_classes: ds.num_classes,
            };
            let ckpt = source.read(opts.normalization.is_some())?;
            let model = Model::new(&spec, device, 0)?;
            checkpoint::load_into(&model, &ckpt, &source.path)?;
            let meta = (ckpt.metadata.get("format").map(String::as_str)
                == Some(checkpoint::FORMAT))
            .then(|| CheckpointMeta::from_map(&ckpt.metadata, &source.path))
            .transpose()?;
            let own = ckpt
                .normalization
                .or_else(|| meta.as_ref().and_then(|m| m.normalization.clone()));
            (model, meta, own)
        }
        None => {
            let (model, meta) = checkpoint::load(&source.path, device)?;
            let own = meta.normalization.clone();
            (model, Some(meta), own)
        }
    };
    let normalization = match (&opts.normalization, own.or(source.normalization)) {
        (Some(given), Some(own)) if *given != own => {
            eprintln!(
                "warning: {checkpoint_spec} records input normalisation {}, but --normalize gives {}; using --normalize",
                own.to_arg(),
                given.to_arg()
            );
            Some(given.clone())
        }
        (Some(given), _) => Some(given.clone()),
        (None, own) => own,
    };
    if let Some(n) = &normalization {
        n.check(Some(ds.input_shape()[0])).map_err(|why| {
            OpsError::Plan(format!(
                "the input normalisation of {checkpoint_spec} does not fit data {}: {why}",
                ds.name
            ))
        })?;
    }
    // The model normalises its own inputs: with what the file, `--normalize` or the
    // registry says, else with the data's statistics.
    let model = model.with_normalization(Some(
        normalization
            .clone()
            .unwrap_or_else(|| ds.normalization.clone()),
    ))?;
    let loaded = LoadedModel {
        model,
        meta,
        normalization,
        path: source.path,
    };
    check_fits(&loaded.model, ds, checkpoint_spec)?;
    Ok(loaded)
}

/// A checkpoint argument resolved to a local file, with what a registry entry says about it.
#[derive(Clone, Debug)]
pub struct ModelSource {
    /// The local file.
    pub path: PathBuf,
    /// The architecture a registry entry names.
    pub arch: Option<Arch>,
    /// The normalisation a registry entry names.
    pub normalization: Option<Normalization>,
    /// The input shape a registry entry names.
    pub input_shape: Option<[usize; 3]>,
    /// The registry entry, for `model:<id>`.
    pub entry: Option<unlearn_models::registry::ModelEntry>,
}

impl ModelSource {
    /// Reads the checkpoint (with `normalization_given`, its own normalisation buffers are
    /// replaced by the caller's, see [`checkpoint::read_with`]) and, for a registry model,
    /// checks that the file has the classes its entry says.
    pub fn read(&self, normalization_given: bool) -> Result<checkpoint::LoadedCheckpoint> {
        let ckpt = checkpoint::read_with(&self.path, normalization_given)?;
        if let Some(entry) = &self.entry {
            unlearn_models::registry::check_classes(entry, &ckpt)?;
        }
        Ok(ckpt)
    }
}

/// Resolves a checkpoint argument: a path, an `hf://` address (downloaded into the hub
/// cache) or `model:<id>` (a registry entry).
pub fn resolve_source(spec: &str) -> Result<ModelSource> {
    if let Some(resolved) = unlearn_models::registry::resolve(spec) {
        // Downloaded (or found in the cache) and checked against its recorded SHA-256.
        let resolved = resolved?;
        return Ok(ModelSource {
            path: resolved.path,
            arch: Some(resolved.entry.arch),
            normalization: Some(resolved.entry.normalization.clone()),
            input_shape: Some(resolved.entry.input_shape),
            entry: Some(resolved.entry),
        });
    }
    Ok(ModelSource {
        path: hub::resolve_checkpoint(spec)?,
        arch: None,
        normalization: None,
        input_shape: None,
        entry: None,
    })
}
