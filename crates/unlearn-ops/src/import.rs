//! Importing a foreign checkpoint (a PyTorch `.pth` or a plain safetensors state dict, from
//! a path, `hf://…` or `model:<id>`) as a toolkit checkpoint that records its architecture,
//! shape and input normalisation, with a report of how its tensors were matched.
//!
//! A partial match (a tensor missing, unexpected or of another shape) is refused unless
//! asked for: silently loading half a model (`strict=False`) is how wrong numbers happen.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::Device;
use serde::Serialize;
use unlearn_models::checkpoint::{self, LoadedCheckpoint};
use unlearn_models::{Arch, CheckpointMeta, Model, ModelSpec, Normalization};

use crate::error::{OpsError, Result};
use crate::load::resolve_source;

/// What to import.
#[derive(Clone, Debug)]
pub struct ImportJob<'a> {
    /// The checkpoint: a path, `hf://…` or `model:<id>`.
    pub from: &'a str,
    /// Its architecture (default: the registry entry's).
    pub arch: Option<Arch>,
    /// Its input normalisation (default: the file's own, else the registry entry's).
    pub normalization: Option<Normalization>,
    /// Its input shape `[C, H, W]` (default: inferred from the tensors where they fix it,
    /// else the architecture's usual one).
    pub input_shape: Option<[usize; 3]>,
    /// Load what matches and keep the rest at its seeded initial values.
    pub allow_partial: bool,
    /// The toolkit checkpoint to write.
    pub out: &'a Path,
}

/// How the file's tensors were matched to the architecture's.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ImportReport {
    /// The checkpoint as given.
    pub from: String,
    /// The local file read.
    pub path: PathBuf,
    /// SHA-256 of that file.
    pub sha256: String,
    /// The architecture built.
    pub arch: String,
    /// Its input shape.
    pub input_shape: [usize; 3],
    /// Its classes (from the head's weight).
    pub num_classes: usize,
    /// The input normalisation recorded (`None`: none known; the data's is then used).
    pub normalization: Option<Normalization>,
    /// Tensors loaded.
    pub matched: usize,
    /// Renamed on reading: (in the file, in the model).
    pub renamed: Vec<(String, String)>,
    /// In the file but not used, with why.
    pub dropped: Vec<(String, String)>,
    /// In the model but not in the file (with their shapes).
    pub missing: Vec<(String, Vec<usize>)>,
    /// In both with other shapes: (name, in the file, in the model).
    pub misshaped: Vec<(String, Vec<usize>, Vec<usize>)>,
}

impl ImportReport {
    /// Whether every tensor of the model came from the file and the file held nothing else
    /// (besides what was consumed, such as normalisation buffers).
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
            && self.misshaped.is_empty()
            && self.dropped.iter().all(|(_, why)| why != UNEXPECTED)
    }

    /// The report as text, one section per kind of difference.
    pub fn render(&self) -> String {
        let mut s = format!(
            "{} → {} (input {:?}, {} classes): {} tensors loaded\n",
            self.from, self.arch, self.input_shape, self.num_classes, self.matched
        );
        s += &format!("  file {} (SHA-256 {})\n", self.path.display(), self.sha256);
        match &self.normalization {
            Some(n) => s += &format!("  input normalisation {}\n", n.to_arg()),
            None => s += "  input normalisation: none recorded (commands will use the data's; give --normalize)\n",
        }
        let mut section = |title: &str, lines: Vec<String>| {
            if !lines.is_empty() {
                s += &format!("  {title} ({}):\n", lines.len());
                for l in lines {
                    s += &format!("    {l}\n");
                }
            }
        };
        section(
            "renamed",
            self.renamed
                .iter()
                .map(|(a, b)| format!("{a} → {b}"))
                .collect(),
        );
        section(
            "dropped",
            self.dropped
                .iter()
                .map(|(a, why)| format!("{a}: {why}"))
                .collect(),
        );
        section(
            "missing",
            self.missing
                .iter()
                .map(|(a, shape)| format!("{a} {shape:?}"))
                .collect(),
        );
        section(
            "mis-shaped",
            self.misshaped
                .iter()
                .map(|(a, f, m)| format!("{a}: {f:?} in the file, {m:?} in the model"))
                .collect(),
        );
        s
    }
}

const UNEXPECTED: &str = "not a tensor of this architecture";

/// The input shape the tensors imply, where they fix it: channels from the first weight,
/// and for the small CNN the side from its first linear layer.
fn inferred_shape(arch: Arch, ckpt: &LoadedCheckpoint) -> [usize; 3] {
    let dims = |name: &str| ckpt.tensors.get(name).map(|t| t.dims().to_vec());
    let channels = dims("conv1.weight")
        .or_else(|| dims("vit.embeddings.patch_embeddings.projection.weight"))
        .and_then(|d| d.get(1).copied())
        .unwrap_or(3);
    let side = match arch {
        Arch::SmallCnn => dims("fc1.weight")
            .and_then(|d| d.get(1).copied())
            .map(|n| 4 * ((n / 64) as f64).sqrt().round() as usize)
            .unwrap_or(28),
        Arch::VitB16 | Arch::ResNet18 => 224,
        Arch::ResNet18Cifar | Arch::VitTiny => 32,
    };
    [channels, side, side]
}

/// Compares the file's tensors with the model's and copies the matching ones; returns the
/// number copied and fills the report's lists.
fn copy_matching(model: &Model, ckpt: &LoadedCheckpoint, report: &mut ImportReport) -> Result<()> {
    let params = model.store().all();
    let known: BTreeSet<&str> = params.iter().map(|(n, _, _)| n.as_str()).collect();
    for (name, var, _) in &params {
        match ckpt.tensors.get(name) {
            None => report.missing.push((name.clone(), var.dims().to_vec())),
            Some(t) if t.dims() != var.dims() => {
                report
                    .misshaped
                    .push((name.clone(), t.dims().to_vec(), var.dims().to_vec()));
            }
            Some(t) => {
                var.set(&t.to_device(model.device())?)?;
                report.matched += 1;
            }
        }
    }
    let counters = model.store().counters();
    for name in ckpt.tensors.keys().filter(|n| !known.contains(n.as_str())) {
        report.dropped.push((name.clone(), UNEXPECTED.into()));
    }
    for (name, v) in &ckpt.counters {
        if counters.contains_key(name) {
            model.store().set_counter(name, *v);
        } else {
            report.dropped.push((name.clone(), UNEXPECTED.into()));
        }
    }
    Ok(())
}

/// Imports `job.from` and writes the toolkit checkpoint; returns the report. Refuses a
/// partial match unless `job.allow_partial`, naming every difference.
pub fn import_checkpoint(job: &ImportJob) -> Result<ImportReport> {
    let source = resolve_source(job.from)?;
    let arch = job.arch.or(source.arch).ok_or_else(|| {
        OpsError::Plan(format!(
            "{} does not say what architecture it is: give --arch (one of {})",
            job.from,
            Arch::ALL.map(|(_, n)| n).join(", ")
        ))
    })?;
    let ckpt = source.read(job.normalization.is_some())?;
    let head = format!("{}.weight", arch.head_prefix());
    let num_classes = ckpt
        .tensors
        .get(&head)
        .and_then(|t| t.dims().first().copied())
        .ok_or_else(|| {
            OpsError::Plan(format!(
                "{} has no '{head}' tensor, so its classes are unknown: is it a {} checkpoint?",
                job.from,
                arch.name()
            ))
        })?;
    let input_shape = job
        .input_shape
        .or(source.input_shape)
        .unwrap_or_else(|| inferred_shape(arch, &ckpt));
    let normalization = job
        .normalization
        .clone()
        .or_else(|| ckpt.normalization.clone())
        .or_else(|| source.normalization.clone());
    if let Some(n) = &normalization {
        n.check(Some(input_shape[0])).map_err(|why| {
            OpsError::Plan(format!("the input normalisation of {}: {why}", job.from))
        })?;
    }
    let spec = ModelSpec {
        arch,
        input_shape,
        num_classes,
    };
    // Sizes from the command line, the registry or the file: bounded before building.
    unlearn_models::limits::check_spec(&spec)
        .map_err(|why| OpsError::Plan(format!("{} as {}: {why}", job.from, arch.name())))?;
    let model = Model::new(&spec, &Device::Cpu, 0)?.with_normalization(normalization.clone())?;
    let mut report = ImportReport {
        from: job.from.to_string(),
        path: source.path.clone(),
        sha256: unlearn_io::sha256_file(&source.path, "checkpoint")?,
        arch: arch.name().to_string(),
        input_shape,
        num_classes,
        normalization: normalization.clone(),
        renamed: ckpt.renamed.clone(),
        dropped: ckpt.dropped.clone(),
        ..Default::default()
    };
    copy_matching(&model, &ckpt, &mut report)?;
    if !report.is_complete() && !job.allow_partial {
        return Err(OpsError::Plan(format!(
            "{} does not match {} exactly, so nothing was written (--allow-partial keeps the other tensors at their initial values):\n{}",
            job.from,
            arch.name(),
            report.render()
        )));
    }
    let mut meta = CheckpointMeta::for_model(&model);
    meta.extra
        .insert("imported_from".into(), job.from.to_string());
    meta.extra
        .insert("imported_sha256".into(), report.sha256.clone());
    if !report.is_complete() {
        meta.extra.insert(
            "imported_partial".into(),
            format!(
                "{} missing, {} mis-shaped",
                report.missing.len(),
                report.misshaped.len()
            ),
        );
    }
    checkpoint::save(&model, &meta, job.out)?;
    Ok(report)
}
