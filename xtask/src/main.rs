//! `cargo xtask`: project automation (matklad's xtask pattern).
//!
//! - `cargo xtask reproduce`: the experiment pipeline ([`reproduce`]): split manifests,
//!   original and retrain models, every unlearning method, features, metrics, results and
//!   report, into `target/reproduce/<preset>/`; resumable.
//! - `cargo xtask bench`: training and inference throughput, ours vs PyTorch ([`bench`]).
//! - `cargo xtask ci`: what `.ci/run` runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

mod bench;
mod figures;
mod report;
mod reproduce;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("reproduce") => reproduce::reproduce(&args[1..], &root()),
        Some("bench") => bench::run(&args[1..]),
        Some("report") => report::rewrite(&args[1..], &root()),
        Some("ci") => run(Command::new("bash").arg(root().join(".ci/run"))),
        Some("-h") | Some("--help") | Some("help") | None => {
            println!("{HELP}");
            Ok(())
        }
        Some(other) => bail!("unknown xtask '{other}'\n\n{HELP}"),
    }
}

const HELP: &str = "\
cargo xtask <task>

Tasks:
  reproduce [--preset quick|fmnist|cifar10|cifar100] [--data D] [--scenarios S] [--methods M]
            [--seeds N] [--device D] [--out DIR] [--epochs N] [--bin PATH]
            split manifests, original and retrain models, the unlearning methods and MUDA
            ablations, features, metrics, results.jsonl/csv, report.md/html with figures and
            findings (default: quick preset on the embedded Fashion-MNIST subset, random:0.1
            and class:3, seed 0, into target/reproduce/<preset>/); content-addressed steps,
            resumes after a kill; `cargo xtask reproduce --help` for details
  report [--out DIR]
            rewrite report.md/html and the figures from DIR/results.jsonl
  bench [--runs N] [--threads T] [--only MODEL] [--reference] [--torch-avx2]
            training-step and inference images/s, ours vs PyTorch (same work);
            last line `ratio small-cnn-train <r>`
  ci        run .ci/run (fmt, clippy, tests)

Examples:
  cargo xtask reproduce
  cargo xtask reproduce --preset fmnist --seeds 3
  cargo xtask report --out target/reproduce/quick
  cargo xtask bench";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
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
