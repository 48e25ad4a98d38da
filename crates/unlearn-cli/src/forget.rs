//! `unlearn forget` and `unlearn methods`: running and listing the unlearning methods.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use unlearn_methods::{registry, Overrides};
use unlearn_ops as ops;
use unlearn_pipeline::Preset;

/// Examples shown by `unlearn forget --help`.
pub(crate) const FORGET_EXAMPLES: &str = "\
Examples:
  unlearn forget --method muda --checkpoint original.safetensors --data embedded --split split.json --out muda.safetensors
  unlearn forget --method salun --checkpoint original.safetensors --split split.json --out salun.safetensors --set lr=0.02 --set epochs=3
  unlearn forget --method muda --checkpoint original.safetensors --split split.json --out muda-noda.safetensors --set da=false
  unlearn forget --method ga --checkpoint original.safetensors --split split.json --out ga.safetensors --config hparams.toml
  unlearn forget --method rl --checkpoint original.safetensors --split split.json --out rl.safetensors --trace rl.trace.jsonl

The record (<out>.record.json) holds the parameters used, steps, seconds and per-epoch
loss and forget/retain accuracies; a diverged run writes it with `failed` set, exits 1 and
writes no checkpoint. See `unlearn methods` for every method's parameters.";

/// Examples shown by `unlearn methods --help`.
pub(crate) const METHODS_EXAMPLES: &str = "\
Examples:
  unlearn methods
  unlearn methods muda
  unlearn methods --preset cifar10 --json";

/// Arguments of `unlearn forget`.
#[derive(Args)]
pub struct ForgetArgs {
    /// Method id (see `unlearn methods`): retrain, ft, ga, neggrad+, rl, bs, be, l1, salun,
    /// scrub, head-only, muda.
    #[arg(long)]
    pub method: String,
    /// The model and the data it is read on.
    #[command(flatten)]
    pub input: crate::files::ModelOnData,
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
    pub preset: Option<Preset>,
    /// Seed of every random choice of the run.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Device: cpu, cuda, cuda:N, auto.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Forget/retain samples (seeded subsets) evaluated after each epoch for the record.
    #[arg(long, default_value_t = 1000, value_parser = crate::files::positive)]
    pub monitor: usize,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
    /// Write the step trace here: one JSON object per optimiser step (stage, training-set
    /// indices of the batch, targets, augmentation, lr, loss), enough to replay the run in
    /// another implementation (`scripts/method_parity.py`). Tracing changes no weight.
    #[arg(long, value_name = "FILE.jsonl")]
    pub trace: Option<PathBuf>,
}

/// Arguments of `unlearn methods`.
#[derive(Args)]
pub struct MethodsArgs {
    /// Show only this method.
    pub method: Option<String>,
    /// Preset whose defaults to show: quick, fmnist, cifar10, cifar100.
    #[arg(long, default_value = "quick")]
    pub preset: Preset,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Print only the method ids, one per line (for scripts).
    #[arg(long, conflicts_with = "json")]
    pub ids: bool,
}

/// `unlearn forget`.
pub fn forget(a: ForgetArgs, on: ops::OnMismatch) -> Result<()> {
    let _claim = a
        .input
        .claim()
        .inputs("--config", a.config.iter())
        .output("--out", &a.out)
        .output("run record", ops::record_path(&a.out))
        .outputs("--trace", a.trace.iter())
        .acquire()?;
    let (ds, manifest) = a.input.load_data(on)?;
    // Check the method id and every override before the (possibly large) checkpoint loads.
    let overrides = Overrides::new(&a.set, a.config.as_deref())?;
    ops::check_method(
        &a.method,
        a.preset
            .unwrap_or_else(|| unlearn_pipeline::Preset::for_source(&ds.source)),
        &overrides,
    )?;
    let device = unlearn_models::device(&a.device)?;
    let original = a.input.load_model(&ds, &device)?;
    let ds = &ds;
    ops::check_checkpoint(
        &a.input.checkpoint,
        original.meta.as_ref(),
        ds,
        &manifest,
        ops::ModelRole::Original,
        on,
    )?;
    let preset = a
        .preset
        .unwrap_or_else(|| ops::preset_of_original(original.meta.as_ref(), ds));
    let rec_path = ops::record_path(&a.out);
    let outcome = ops::forget_checkpoint(&ops::ForgetJob {
        ds,
        manifest: &manifest,
        original: &original.model,
        original_label: &a.input.checkpoint,
        method: &a.method,
        preset,
        overrides: &overrides,
        seed: a.seed,
        device: &device,
        monitor: a.monitor,
        progress: !a.quiet,
        out: &a.out,
        trace: a.trace.as_deref(),
    })?;
    match outcome {
        ops::ForgetOutcome::Unlearned(record) => {
            let last = record.epochs.last();
            let pct = |v: Option<f64>| v.map(|x| format!("{x:.2}%")).unwrap_or_else(|| "-".into());
            eprintln!(
                "wrote {} and {} — {} steps in {:.1}s, forget acc {}, retain acc {} (monitor sets)",
                a.out.display(),
                rec_path.display(),
                record.steps,
                record.seconds,
                pct(last.and_then(|e| e.forget_acc)),
                pct(last.and_then(|e| e.retain_acc)),
            );
            Ok(())
        }
        ops::ForgetOutcome::Failed { record, error } => bail!(
            "{} failed: {error} (no checkpoint written; record in {})",
            record.method,
            rec_path.display()
        ),
    }
}

/// A search dimension in words: `lr ∈ [0.001, 0.1] (log)`, `stop_target ∈ {auto, val}`.
fn describe_dim(d: &unlearn_methods::Dim) -> String {
    use unlearn_methods::Range;
    match &d.range {
        Range::Real { low, high, log } => {
            format!(
                "{} ∈ [{low}, {high}]{}",
                d.name,
                if *log { " (log)" } else { "" }
            )
        }
        Range::Whole { low, high, log } => {
            format!(
                "{} ∈ {low}..={high}{}",
                d.name,
                if *log { " (log)" } else { "" }
            )
        }
        Range::Choice(c) => format!("{} ∈ {{{}}}", d.name, c.join(", ")),
    }
}

/// `unlearn methods`.
pub fn methods(a: MethodsArgs) -> Result<()> {
    let list = match &a.method {
        Some(id) => vec![registry::info(id, a.preset.as_str())?],
        None => registry::methods(a.preset.as_str())?,
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
            ("random", &m.random_defaults),
            ("class", &m.class_defaults),
            ("backdoor", &m.backdoor_defaults),
        ] {
            if !defaults.is_empty() {
                let items: Vec<String> = defaults.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!("{:<10}   for {kind}: scenarios: {}", "", items.join(" "));
            }
        }
        let space = unlearn_methods::Space::declared(m.id)?;
        if !space.dims.is_empty() {
            let dims: Vec<String> = space.dims.iter().map(describe_dim).collect();
            println!("{:<10}   unlearn tune searches: {}", "", dims.join(", "));
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
