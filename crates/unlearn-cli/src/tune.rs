//! `unlearn tune`: a seeded hyper-parameter search of one method against retrained models.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use unlearn_pipeline::Preset;
use unlearn_tune::{self as tune, Objective, TuneConfig};

/// Arguments of `unlearn tune`.
#[derive(Args)]
pub struct TuneArgs {
    /// Method id (see `unlearn methods`).
    #[arg(long)]
    pub method: String,
    /// The model and the data it is read on.
    #[command(flatten)]
    pub input: crate::files::ModelOnData,
    /// A retrained model (checkpoint) or its features (`unlearn features`); repeat for an
    /// ensemble of oracles.
    #[arg(long = "reference", required = true)]
    pub references: Vec<PathBuf>,
    /// Trials in all; trial 0 runs the defaults.
    #[arg(long, default_value_t = 24, value_parser = crate::files::positive)]
    pub trials: usize,
    /// Trials before TPE proposes (the defaults and uniform random points); default: a third
    /// of --trials, at least 4.
    #[arg(long, value_parser = crate::files::positive)]
    pub startup: Option<usize>,
    /// Seed of the search and of every run.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// What is minimised: avg_gap_output, avg_gap_feature, both (their mean), or a weighted
    /// sum such as `0.7*avg_gap_output+0.3*avg_gap_feature`.
    #[arg(long, default_value = "both")]
    pub objective: Objective,
    /// TOML file replacing, adding or (`exclude = [...]`) dropping search dimensions, e.g.
    /// `lr = { low = 1e-4, high = 0.1, log = true }`.
    #[arg(long)]
    pub space: Option<PathBuf>,
    /// Fix a parameter for every trial (repeatable), e.g. `--set epochs=2`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Preset whose defaults the method starts from (default: the original's).
    #[arg(long)]
    pub preset: Option<Preset>,
    /// Output folder: tune.json, trials.jsonl, best.toml. Rerun to resume.
    #[arg(long)]
    pub out: PathBuf,
    /// Device: cpu, cuda, cuda:N, auto.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// No per-trial lines.
    #[arg(long)]
    pub quiet: bool,
}

pub const TUNE_EXAMPLES: &str = "\
Examples:
  unlearn tune --method muda --checkpoint original.safetensors --reference retrain.safetensors --split split.json --trials 24 --out tune-muda
  unlearn tune --method salun --checkpoint o.safetensors --reference r0.features.safetensors --reference r1.features.safetensors --split s.json --objective avg_gap_output --out tune-salun
  unlearn tune --method ga --checkpoint o.safetensors --reference r.safetensors --split s.json --space space.toml --set batch_size=64 --out tune-ga
  unlearn forget --method muda --checkpoint original.safetensors --split split.json --config tune-muda/best.toml --out muda.safetensors

Trial 0 runs the method's defaults; then uniform random points (--startup), then TPE
proposals (every third one a random point instead).
Each trial is a real run scored by the toolkit's metrics against the references.
Outputs: <out>/trials.jsonl (one line per trial: values, gaps, UA/RA/TA/MIA, seconds),
<out>/best.toml (the best values as a [method] table for --config), <out>/tune.json.
A killed search resumes when rerun with the same arguments; the same seed gives the same
trials and the same best.toml. `unlearn methods <id>` lists a method's parameters and
the search space declared next to them.";

pub fn tune(a: TuneArgs, on: unlearn_ops::OnMismatch) -> Result<()> {
    if a.trials == 0 {
        bail!("--trials must be at least 1");
    }
    // A search refused before its first trial leaves no folder that it made.
    let fresh = !a.out.exists();
    let out_dir = a.out.clone();
    let claim = a
        .input
        .claim()
        .inputs("--reference", a.references.iter())
        .inputs("--space", a.space.iter())
        .output("trials", a.out.join("trials.jsonl"))
        .output("best values", a.out.join("best.toml"))
        .output("search header", a.out.join("tune.json"))
        .acquire()?;
    let cfg = TuneConfig {
        method: a.method,
        preset: a.preset,
        load: a.input.foreign.load_options(),
        data: a.input.data,
        split: a.input.split,
        original: a.input.checkpoint,
        references: a.references,
        trials: a.trials,
        startup: a.startup,
        seed: a.seed,
        objective: a.objective,
        space: a.space,
        shared_retain_budget: None,
        sets: a.set,
        out: a.out,
        device: a.device,
        on_mismatch: on,
        quiet: a.quiet,
    };
    let outcome = match tune::tune(&cfg) {
        Ok(outcome) => outcome,
        Err(e) => {
            drop(claim);
            if fresh {
                // Only an empty folder goes: trials already written stay for a resume.
                let _ = std::fs::remove_dir(&out_dir);
            }
            return Err(e.into());
        }
    };
    match outcome.best {
        Some(b) => {
            let t = &outcome.trials[b];
            let values = t.point_text().unwrap_or_else(|| "the defaults".into());
            println!(
                "best of {} trials: trial {b} ({values}), {} {:.3}; wrote {}",
                outcome.trials.len(),
                cfg.objective,
                t.scores.objective.unwrap_or(f64::NAN),
                outcome.best_toml.display()
            );
            Ok(())
        }
        None => bail!(
            "every one of {} trials failed; see {}",
            outcome.trials.len(),
            cfg.out.join("trials.jsonl").display()
        ),
    }
}
