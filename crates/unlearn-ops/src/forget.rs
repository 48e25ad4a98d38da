//! Running an unlearning method on an original model: `unlearn forget` and the pipeline's
//! forget steps both call [`forget_checkpoint`].

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use candle_core::Device;
use unlearn_data::{Dataset, SplitManifest};
use unlearn_methods::{registry, run, Overrides, RunFailure, RunRecord, UnlearnContext, Unlearned};
use unlearn_models::{checkpoint, CheckpointMeta, Model};
use unlearn_train::{Preset, Recipe, Trace};

use crate::error::Result;

/// One unlearning run.
pub struct ForgetJob<'a> {
    /// The data.
    pub ds: &'a Dataset,
    /// The split whose forget list is forgotten.
    pub manifest: &'a SplitManifest,
    /// The original model.
    pub original: &'a Model,
    /// The checkpoint the original came from, as the user named it (recorded).
    pub original_label: &'a str,
    /// Method id (`unlearn methods`).
    pub method: &'a str,
    /// The preset whose defaults the method starts from.
    pub preset: Preset,
    /// `--set` / `--config` overrides (the scenario's defaults are added here).
    pub overrides: &'a Overrides,
    /// Seed of every random choice of the run.
    pub seed: u64,
    /// Device.
    pub device: &'a Device,
    /// Forget/retain samples evaluated after each epoch for the record.
    pub monitor: usize,
    /// Draw progress bars.
    pub progress: bool,
    /// The unlearned checkpoint; the record goes to [`record_path`].
    pub out: &'a Path,
    /// Where to write the step trace (one JSON line per optimiser step), if anywhere.
    pub trace: Option<&'a Path>,
}

/// How a run ended. Either way its record has been written.
pub enum ForgetOutcome {
    /// The checkpoint and the record were written.
    Unlearned(Box<RunRecord>),
    /// The method failed (e.g. diverged): the record says why, no checkpoint was written.
    Failed {
        /// The record, with `failed` set.
        record: Box<RunRecord>,
        /// The method's error, in words.
        error: String,
    },
}

/// Where a run's record goes: `<out>.record.json`.
pub fn record_path(out: &Path) -> PathBuf {
    PathBuf::from(format!("{}.record.json", out.display()))
}

/// The preset an original's unlearning starts from when none is named: the one it was
/// trained with, else the data's default.
pub fn preset_of_original(meta: Option<&CheckpointMeta>, ds: &Dataset) -> Preset {
    meta.and_then(|m| serde_json::from_str::<Recipe>(&m.recipe).ok())
        .and_then(|r| r.preset.parse().ok())
        .unwrap_or_else(|| Preset::for_source(&ds.source))
}

/// Checks a method id and its overrides for a preset (cheap; before loading checkpoints).
pub fn check_method(method: &str, preset: Preset, overrides: &Overrides) -> Result<()> {
    registry::build(method, preset.as_str(), overrides)?;
    Ok(())
}

fn write_record(path: &Path, record: &RunRecord) -> Result<()> {
    // Serialising a record of plain fields cannot fail.
    let text = serde_json::to_string_pretty(record).unwrap_or_default();
    checkpoint::write_atomic(path, text.as_bytes())?;
    Ok(())
}

/// Runs the method on `job` in memory (nothing is written; `job.out` is not used): the
/// unlearned model with its record, or the method's failure with its record. `unlearn tune`
/// scores its trials on these; [`forget_checkpoint`] saves them.
pub fn unlearn_model(job: &ForgetJob) -> Result<std::result::Result<Unlearned, Box<RunFailure>>> {
    unlearn_model_traced(job, None)
}

/// [`unlearn_model`], appending every optimiser step to `trace` when given.
pub fn unlearn_model_traced(
    job: &ForgetJob,
    trace: Option<&RefCell<Trace>>,
) -> Result<std::result::Result<Unlearned, Box<RunFailure>>> {
    let preset = job.preset.as_str();
    let recipe = job.preset.recipe();
    let overrides = job.overrides.clone().with_scenario(&job.manifest.scenario);
    let method = registry::build(job.method, preset, &overrides)?;
    let images = job.manifest.poisoned_train(job.ds);
    let mut ctx = UnlearnContext::new(
        job.original,
        job.ds,
        &images,
        job.manifest,
        &recipe,
        job.seed,
    );
    ctx.device = job.device;
    ctx.progress = job.progress;
    ctx.monitor = job.monitor.max(1);
    ctx.trace = trace;
    if job.progress {
        eprintln!(
            "unlearning with {} (preset {preset}): forget {}, retain {}, params {}",
            method.id(),
            job.manifest.forget.len(),
            job.manifest.retain.len(),
            method.params_json()
        );
    }
    Ok(run(&method, &ctx))
}

/// Writes a finished trace: the JSON Lines file and the files a method attached to it, each
/// `<path>.<suffix>` (SalUn's mask: `<path>.mask.safetensors`), atomically.
pub fn write_trace(path: &Path, trace: &Trace) -> Result<()> {
    for (suffix, bytes) in trace.files() {
        checkpoint::write_atomic(&trace_attachment(path, suffix), bytes)?;
    }
    checkpoint::write_atomic(path, trace.jsonl())?;
    Ok(())
}

/// Where a trace's attachment goes: `<trace>.<suffix>`.
pub fn trace_attachment(trace: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}.{suffix}", trace.display()))
}

/// Runs the method; writes the unlearned checkpoint (with metadata) and the record, or only
/// the record when the method fails; and the step trace when `job.trace` names a file.
pub fn forget_checkpoint(job: &ForgetJob) -> Result<ForgetOutcome> {
    let preset = job.preset.as_str();
    let rec_path = record_path(job.out);
    let trace = job.trace.map(|_| RefCell::new(Trace::new()));
    match unlearn_model_traced(job, trace.as_ref())? {
        Ok(mut out) => {
            if let (Some(path), Some(trace)) = (job.trace, &trace) {
                write_trace(path, &trace.borrow())?;
            }
            out.record.original = Some(job.original_label.to_string());
            let mut meta = CheckpointMeta::for_model(&out.model);
            meta.dataset = job.ds.source.to_string();
            meta.dataset_fingerprint = job.ds.fingerprint.clone();
            meta.split_sha256 = job.manifest.content_hash();
            meta.subset = out.record.method.clone();
            meta.recipe = out.record.params.to_string();
            meta.seed = job.seed;
            meta.epochs = out.record.epochs.last().map(|e| e.epoch).unwrap_or(0);
            let extra = &mut meta.extra;
            extra.insert("method".into(), out.record.method.clone());
            extra.insert("params".into(), out.record.params.to_string());
            extra.insert("preset".into(), preset.to_string());
            extra.insert("original_checkpoint".into(), job.original_label.to_string());
            // No wall time here (it is in the record): the same run gives the same bytes.
            extra.insert("steps".into(), out.record.steps.to_string());
            checkpoint::save(&out.model, &meta, job.out)?;
            write_record(&rec_path, &out.record)?;
            Ok(ForgetOutcome::Unlearned(Box::new(out.record)))
        }
        Err(failure) => {
            let mut record = failure.record;
            record.original = Some(job.original_label.to_string());
            write_record(&rec_path, &record)?;
            Ok(ForgetOutcome::Failed {
                record: Box::new(record),
                error: failure.error.to_string(),
            })
        }
    }
}
