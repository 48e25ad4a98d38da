//! `unlearn forget` and `unlearn methods`: running and listing the unlearning methods.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;
use unlearn_data::{DataSource, SplitManifest};
use unlearn_methods::{registry, run, Overrides, RunRecord, UnlearnContext};

use crate::default_preset;
use unlearn_models::{checkpoint, hub, CheckpointMeta};
use unlearn_train::Recipe;

/// Arguments of `unlearn forget`.
#[derive(Args)]
pub struct ForgetArgs {
    /// Method id (see `unlearn methods`): retrain, ft, ga, neggrad+, rl, bs, be, l1, salun,
    /// scrub, head-only, muda.
    #[arg(long)]
    pub method: String,
    /// The original model: a checkpoint written by `unlearn train` (path or hf://…).
    #[arg(long)]
    pub checkpoint: String,
    /// Data source.
    #[arg(long, default_value = "embedded")]
    pub data: String,
    /// Split manifest from `unlearn split`.
    #[arg(long)]
    pub split: PathBuf,
    /// Output checkpoint (.safetensors); the run record goes to `<out>.record.json`.
    #[arg(long)]
    pub out: PathBuf,
    /// Override a hyper-parameter (repeatable), e.g. `--set lr=0.01 --set da=false`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// TOML file of hyper-parameters: top-level keys, or a `[method-id]` table per method.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Preset whose defaults to start from (default: the original's training preset, else
    /// quick for the embedded data, fmnist for other 28×28 data, cifar10/cifar100 for CIFAR).
    #[arg(long)]
    pub preset: Option<String>,
    /// Seed of every random choice of the run.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Device: cpu, cuda, cuda:N, auto.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Forget/retain samples (seeded subsets) evaluated after each epoch for the record.
    #[arg(long, default_value_t = 1000)]
    pub monitor: usize,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// Arguments of `unlearn methods`.
#[derive(Args)]
pub struct MethodsArgs {
    /// Show only this method.
    pub method: Option<String>,
    /// Preset whose defaults to show: quick, fmnist, cifar10, cifar100.
    #[arg(long, default_value = "quick")]
    pub preset: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Print only the method ids, one per line (for scripts).
    #[arg(long, conflicts_with = "json")]
    pub ids: bool,
}

fn record_path(out: &Path) -> PathBuf {
    PathBuf::from(format!("{}.record.json", out.display()))
}

fn write_record(path: &Path, record: &RunRecord) -> Result<()> {
    let text = serde_json::to_string_pretty(record)?;
    checkpoint::write_atomic(path, text.as_bytes())?;
    Ok(())
}

/// `unlearn forget`.
pub fn forget(a: ForgetArgs) -> Result<()> {
    let source: DataSource = a.data.parse()?;
    let ds = source.load()?;
    let manifest = SplitManifest::load(&a.split)?;
    manifest.check_dataset(&ds)?;
    // Check the method id and every override before the (possibly large) checkpoint loads.
    let overrides = Overrides::new(&a.set, a.config.as_deref())?;
    registry::build(
        &a.method,
        a.preset.as_deref().unwrap_or(default_preset(&ds)),
        &overrides,
    )?;
    let device = unlearn_models::device(&a.device)?;
    let path = hub::resolve_checkpoint(&a.checkpoint)?;
    let (original, orig_meta) = checkpoint::load(&path, &device)?;
    if original.spec().input_shape != ds.input_shape()
        || original.spec().num_classes != ds.num_classes
    {
        bail!(
            "checkpoint {} is for input {:?} with {} classes, but {} has input {:?} with {} classes",
            a.checkpoint,
            original.spec().input_shape,
            original.spec().num_classes,
            ds.name,
            ds.input_shape(),
            ds.num_classes
        );
    }
    let same_training = orig_meta
        .extra
        .get("train_sha256")
        .is_some_and(|t| *t == crate::train_identity(&manifest));
    if !orig_meta.split_sha256.is_empty()
        && orig_meta.split_sha256 != manifest.content_hash()
        && !same_training
    {
        eprintln!(
            "warning: the original was trained with another split manifest ({}…)",
            &orig_meta.split_sha256[..orig_meta.split_sha256.len().min(12)]
        );
    }
    let preset = match &a.preset {
        Some(p) => p.clone(),
        None => serde_json::from_str::<Recipe>(&orig_meta.recipe)
            .map(|r| r.preset)
            .unwrap_or_else(|_| default_preset(&ds).to_string()),
    };
    let recipe = Recipe::preset(&preset)?;
    let overrides = overrides.with_scenario_defaults(&a.method, &preset, &manifest.scenario);
    let method = registry::build(&a.method, &preset, &overrides)?;
    let images = manifest.poisoned_train(&ds);
    let mut ctx = UnlearnContext::new(&original, &ds, &images, &manifest, &recipe, a.seed);
    ctx.device = &device;
    ctx.progress = !a.quiet;
    ctx.monitor = a.monitor.max(1);
    eprintln!(
        "unlearning with {} (preset {preset}): forget {}, retain {}, params {}",
        method.id(),
        manifest.forget.len(),
        manifest.retain.len(),
        method.params_json()
    );
    let rec_path = record_path(&a.out);
    match run(method.as_ref(), &ctx) {
        Ok(mut out) => {
            out.record.original = Some(a.checkpoint.clone());
            let mut meta = CheckpointMeta::for_model(&out.model);
            meta.dataset = ds.source.to_string();
            meta.dataset_fingerprint = ds.fingerprint.clone();
            meta.split_sha256 = manifest.content_hash();
            meta.subset = out.record.method.clone();
            meta.recipe = out.record.params.to_string();
            meta.seed = a.seed;
            meta.epochs = out.record.epochs.last().map(|e| e.epoch).unwrap_or(0);
            let extra = &mut meta.extra;
            extra.insert("method".into(), out.record.method.clone());
            extra.insert("params".into(), out.record.params.to_string());
            extra.insert("preset".into(), preset.clone());
            extra.insert("original_checkpoint".into(), a.checkpoint.clone());
            // No wall time here (it is in the record): the same run gives the same bytes.
            extra.insert("steps".into(), out.record.steps.to_string());
            checkpoint::save(&out.model, &meta, &a.out)?;
            write_record(&rec_path, &out.record)?;
            let last = out.record.epochs.last();
            let pct = |v: Option<f64>| v.map(|x| format!("{x:.2}%")).unwrap_or_else(|| "-".into());
            eprintln!(
                "wrote {} and {} — {} steps in {:.1}s, forget acc {}, retain acc {} (monitor sets)",
                a.out.display(),
                rec_path.display(),
                out.record.steps,
                out.record.seconds,
                pct(last.and_then(|e| e.forget_acc)),
                pct(last.and_then(|e| e.retain_acc)),
            );
            Ok(())
        }
        Err(failure) => {
            let mut record = failure.record;
            record.original = Some(a.checkpoint.clone());
            write_record(&rec_path, &record)?;
            bail!(
                "{} failed: {} (no checkpoint written; record in {})",
                record.method,
                failure.error,
                rec_path.display()
            )
        }
    }
}

/// `unlearn methods`.
pub fn methods(a: MethodsArgs) -> Result<()> {
    let list = match &a.method {
        Some(id) => vec![registry::info(id, &a.preset)?],
        None => registry::methods(&a.preset)?,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if a.ids {
        for m in &list {
            println!("{}", m.id);
        }
        return Ok(());
    }
    for m in &list {
        println!("{:<10} {}", m.id, m.summary);
        println!("{:<10}   source: {}", "", m.paper);
        for p in &m.params {
            let value = match &p.default {
                serde_json::Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            println!("{:<10}   {:<18} = {:<10} {}", "", p.name, value, p.doc);
        }
        for (kind, defaults) in [
            ("class", &m.class_defaults),
            ("backdoor", &m.backdoor_defaults),
        ] {
            if !defaults.is_empty() {
                let items: Vec<String> = defaults.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!("{:<10}   for {kind}: scenarios: {}", "", items.join(" "));
            }
        }
    }
    if a.method.is_none() {
        println!(
            "\n(defaults of preset '{}'; change them with --set key=value or --config file.toml)",
            a.preset
        );
    }
    Ok(())
}
