//! `cargo xtask`: project automation (matklad's xtask pattern), a thin front end over the
//! library crates.
//!
//! - `cargo xtask reproduce`: the study ([`unlearn_pipeline::Study`]): split manifests,
//!   original and retrain models, every unlearning method, features, metrics, results and
//!   report, into `target/reproduce/<preset>/`; resumable; independent steps in one worker
//!   process per core on the CPU (`--jobs`).
//! - `cargo xtask report`: rewrite the report of a finished run
//!   ([`unlearn_report::rewrite_with_roles`]).
//! - `cargo xtask bench`: training and inference throughput, ours vs PyTorch ([`bench`]).
//! - `cargo xtask ci`: what `.ci/run` runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use unlearn_cli::args::{ReportArgs, ReproduceArgs, REPRODUCE_EXAMPLES};

mod bench;

/// Project automation: the study, its report, benchmarks, CI.
#[derive(Parser)]
#[command(
    name = "cargo xtask",
    after_help = "\
Examples:
  cargo xtask reproduce
  cargo xtask reproduce --preset fmnist --seeds 3
  cargo xtask report --out target/reproduce/quick
  cargo xtask bench"
)]
struct Cli {
    /// `reproduce`: use a given --original or --oracle whose provenance does not fit its
    /// role, with a warning (as `unlearn --force`).
    #[arg(long, global = true)]
    force: bool,
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Split manifests, original and retrain models, the unlearning methods and MUDA
    /// ablations, features, metrics, results.jsonl/csv, report.md/html with figures and
    /// findings (default: quick preset on the embedded Fashion-MNIST subset, random:0.1 and
    /// class:3, seed 0, into target/reproduce/<preset>/); resumes after a kill.
    #[command(after_help = REPRODUCE_EXAMPLES)]
    Reproduce(Box<ReproduceArgs>),
    /// Rewrite report.md/html, results.csv and the figures from DIR/results.jsonl.
    #[command(after_help = "Example:\n  cargo xtask report --out target/reproduce/quick")]
    Report(ReportArgs),
    /// Training-step and inference images/s, ours vs PyTorch (same work); last line
    /// `ratio small-cnn-train <r>`.
    #[command(after_help = "Example:\n  cargo xtask bench --runs 3 --only small-cnn")]
    Bench(bench::BenchArgs),
    /// Run .ci/run (fmt, clippy, tests).
    Ci,
}

fn main() -> Result<()> {
    // Negative numbers reach the options' own checks (`--epochs -1` is refused by name).
    // `--image-size` / `--image-column` / `--label-column` become options of `--data`.
    let args = unlearn_cli::import_flags::fold_import_flags(std::env::args_os().collect())
        .map_err(anyhow::Error::msg)?;
    let matches =
        unlearn_cli::args::negative_numbers_as_values(<Cli as clap::CommandFactory>::command())
            .get_matches_from(args);
    let cli =
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match cli.task {
        Task::Reproduce(mut a) => {
            a.force = cli.force;
            reproduce(&a)
        }
        Task::Report(a) => {
            let out = a
                .out
                .unwrap_or_else(|| target_dir().join("reproduce/quick"));
            // Records of stores written before roles were recorded (or before the two
            // references were told apart) get them from their names.
            let report = unlearn_report::rewrite_with_roles(&out, a.data.as_deref(), |r| {
                Some(unlearn_pipeline::records::legacy_role(&r.method))
            })?;
            eprintln!(
                "wrote {} (and report.html, results.csv, figures/ beside it)",
                report.display()
            );
            Ok(())
        }
        Task::Bench(a) => bench::run(&a),
        Task::Ci => run(Command::new("bash").arg(root().join(".ci/run"))),
    }
}

fn reproduce(a: &ReproduceArgs) -> Result<()> {
    if a.device.starts_with("cuda") && !cfg!(feature = "cuda") {
        bail!("--device {} needs the CUDA build: cargo run --release -p xtask --features cuda -- reproduce …", a.device);
    }
    let outcome = unlearn_pipeline::run_reproduce(&a.to_request(&target_dir())?, "cargo xtask")
        .context("running the study")?;
    if let Some(outcome) = outcome {
        println!("{}", outcome.markdown);
        eprintln!("done in {:.0}s: {}", outcome.seconds, outcome.out.display());
    }
    Ok(())
}

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Cargo's target folder (`$CARGO_TARGET_DIR`, else `<root>/target`).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("command failed ({status}): {cmd:?}");
    }
    Ok(())
}
