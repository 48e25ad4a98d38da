//! `unlearn`: train, split, forget and measure from the command line.

mod data;
mod data_export;
mod eval;
mod files;
mod forget;
mod import;
mod measure;
mod models;
mod reproduce;
mod split;
mod train;
mod tune;

use clap::{Parser, Subcommand};
use unlearn_cli::args::ReproduceArgs;
use unlearn_ops::OnMismatch;

const AFTER_HELP: &str = "\
Examples:
  unlearn data info --data embedded
  unlearn split --data embedded --scenario random:0.1 --seed 0 --out split.json
  unlearn train --data embedded --split split.json --subset train --seed 0 --out original.safetensors
  unlearn train --data embedded --split split.json --subset retain --seed 0 --out retrain.safetensors
  unlearn eval --checkpoint original.safetensors --data embedded --split split.json --json -";

/// Machine unlearning toolkit: data splits, training, evaluation.
#[derive(Parser)]
#[command(name = "unlearn", version, about, after_help = AFTER_HELP)]
struct Cli {
    /// Go on, with a warning, when two artefacts do not belong together (a checkpoint of
    /// another split or data set, features of another split, a manifest whose scenario does
    /// not describe its forget list); without it these are errors.
    #[arg(long, global = true)]
    force: bool,
    /// With an imagefolder:, parquet: or hf://datasets/ --data: resize every image to H,W
    /// (bilinear); the same as `?size=H,W` on the source.
    #[arg(long, global = true, value_name = "H,W")]
    image_size: Option<String>,
    /// With a parquet: or hf://datasets/ --data: the image column (default: detected); the
    /// same as `?image=COLUMN`.
    #[arg(long, global = true, value_name = "COLUMN")]
    image_column: Option<String>,
    /// With a parquet: or hf://datasets/ --data: the integer label column (default:
    /// detected); the same as `?label=COLUMN`.
    #[arg(long, global = true, value_name = "COLUMN")]
    label_column: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Datasets: describe a data source.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Write a forget/retain split manifest.
    #[command(after_help = split::EXAMPLES)]
    Split(split::SplitArgs),
    /// Train a classifier on the train or retain part of a split.
    #[command(after_help = train::EXAMPLES)]
    Train(train::TrainArgs),
    /// Accuracy of a checkpoint on the forget, retain, validation and test sets.
    #[command(after_help = eval::EXAMPLES)]
    Eval(eval::EvalArgs),
    /// Extract penultimate features, logits and labels of a checkpoint over a split.
    #[command(after_help = measure::FEATURES_EXAMPLES)]
    Features(measure::FeaturesArgs),
    /// Output-space and feature-space metrics (UA, RA, TA, MIA, DA, LP, NMI, F1), with gaps to references.
    #[command(after_help = measure::METRICS_EXAMPLES)]
    Metrics(measure::MetricsArgs),
    /// Unlearn: run a method on an original checkpoint and a split; writes the unlearned
    /// checkpoint and a run record.
    #[command(after_help = forget::FORGET_EXAMPLES)]
    Forget(forget::ForgetArgs),
    /// Search a method's hyper-parameters against retrained models (random, then TPE);
    /// writes every trial and the best values as a --config file.
    #[command(after_help = tune::TUNE_EXAMPLES)]
    Tune(tune::TuneArgs),
    /// Run the whole study: splits, original and retrain models, every method and the MUDA
    /// ablations, features, metrics, results and report (what `cargo xtask reproduce` runs).
    #[command(after_help = unlearn_cli::args::REPRODUCE_EXAMPLES)]
    Reproduce(Box<ReproduceArgs>),
    /// List the unlearning methods with their parameters and defaults.
    #[command(after_help = forget::METHODS_EXAMPLES)]
    Methods(forget::MethodsArgs),
    /// Import a foreign checkpoint (PyTorch .pth or a safetensors state dict; a path,
    /// hf://… or model:<id>) as a toolkit checkpoint, printing how its tensors map.
    #[command(after_help = import::IMPORT_EXAMPLES)]
    Import(import::ImportArgs),
    /// The registry of known public checkpoints (`model:<id>`): list, show, fetch.
    #[command(after_help = models::MODELS_EXAMPLES)]
    Models(models::ModelsArgs),
}

fn main() {
    // Die quietly on a closed pipe (`unlearn data info | head`) instead of panicking in println!.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Negative numbers reach the options' own checks (`--epochs -1` is refused by name).
    let args = unlearn_cli::import_flags::fold_import_flags(std::env::args_os().collect())
        .unwrap_or_else(|e| {
            eprintln!("error: {e}");
            std::process::exit(2)
        });
    let matches =
        unlearn_cli::args::negative_numbers_as_values(<Cli as clap::CommandFactory>::command())
            .get_matches_from(args);
    let cli =
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let on = OnMismatch::from_force(cli.force);
    let result = match cli.command {
        Command::Data(c) => c.run(on),
        Command::Split(a) => split::split(a),
        Command::Train(a) => train::train(a, on),
        Command::Eval(a) => eval::eval(a, on),
        Command::Features(a) => measure::features(a, on),
        Command::Metrics(a) => measure::metrics(a, on),
        Command::Forget(a) => forget::forget(a, on),
        Command::Tune(a) => tune::tune(a, on),
        Command::Reproduce(mut a) => {
            a.force = cli.force;
            reproduce::reproduce(*a)
        }
        Command::Methods(a) => forget::methods(a),
        Command::Import(a) => import::import(a),
        Command::Models(a) => models::models(a),
    };
    if let Err(e) = result {
        eprintln!("error: {}", error_text(&e));
        std::process::exit(1);
    }
}

/// The error and its causes joined by ": " (as `{:#}` does), leaving out a cause the text
/// already says: many errors quote their source in their own message (`{path}: {source}`).
fn error_text(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}
