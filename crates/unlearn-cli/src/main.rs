//! `unlearn`: train, split, forget and measure from the command line.

mod data_export;
mod files;
mod forget;
mod import;
mod measure;
mod models;
mod tune;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;
use unlearn_data::{make_split, Dataset, SplitConfig, SplitManifest};
use unlearn_models::{checkpoint, Arch};
use unlearn_pipeline::ops::{
    self, load_dataset as load_data, load_split, ModelRole, OnMismatch, Subset, TrainJob,
};
use unlearn_pipeline::{args::ReproduceArgs, Preset};
use unlearn_train::{engine, DataView, OptimizerConfig, Recipe, Schedule};

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Datasets: describe a data source.
    #[command(subcommand)]
    Data(DataCommand),
    /// Write a forget/retain split manifest.
    #[command(after_help = "\
Examples:
  unlearn split --data embedded --scenario random:0.1 --seed 0 --out split.json
  unlearn split --data fashion-mnist --scenario class:3 --seed 1 --out class3.json
  unlearn split --data embedded --scenario backdoor:0.05,target=0,size=3 --out bd.json
  unlearn split --data embedded --forget-npy forget_idx.npy --out imported.json

Scenarios: random:p (0<p<1), class:c[,c...], backdoor:p[,target=T][,size=S].")]
    Split(SplitArgs),
    /// Train a classifier on the train or retain part of a split.
    #[command(after_help = "\
Examples:
  unlearn train --data embedded --split split.json --subset train --seed 0 --out original.safetensors
  unlearn train --data embedded --split split.json --subset retain --seed 0 --out retrain.safetensors
  unlearn train --data fashion-mnist --split split.json --preset fmnist --epochs 20 --out m.safetensors
  unlearn train --data cifar10:/data/cifar-10-batches-bin --split s.json --arch resnet18-cifar --preset cifar10 --device cuda --out r18.safetensors

A killed run resumes from its last finished epoch when rerun with the same arguments
(state kept in <out>.state next to the output) and ends with the same bytes.")]
    Train(TrainArgs),
    /// Accuracy of a checkpoint on the forget, retain, validation and test sets.
    #[command(after_help = "\
Examples:
  unlearn eval --checkpoint original.safetensors --data embedded --split split.json
  unlearn eval --checkpoint hf://org/repo/model.safetensors --arch resnet18-cifar --data cifar10 --split s.json --json out.json")]
    Eval(EvalArgs),
    /// Extract penultimate features, logits and labels of a checkpoint over a split.
    #[command(after_help = "\
Examples:
  unlearn features --checkpoint original.safetensors --data embedded --split split.json --out original.features.safetensors
  unlearn features --checkpoint retrain.safetensors --split split.json --out retrain.features.npz")]
    Features(measure::FeaturesArgs),
    /// Output-space and feature-space metrics (UA, RA, TA, MIA, DA, LP, NMI, F1), with gaps to references.
    #[command(after_help = "\
Examples:
  unlearn metrics --features unlearned.features.safetensors --reference retrain.features.safetensors
  unlearn metrics --features feats.npz --reference r0.safetensors --reference r1.safetensors --json results.json
  unlearn metrics --features feats.safetensors --k auto:0.95 --json -")]
    Metrics(measure::MetricsArgs),
    /// Unlearn: run a method on an original checkpoint and a split; writes the unlearned
    /// checkpoint and a run record.
    #[command(after_help = "\
Examples:
  unlearn forget --method muda --checkpoint original.safetensors --data embedded --split split.json --out muda.safetensors
  unlearn forget --method salun --checkpoint original.safetensors --split split.json --out salun.safetensors --set lr=0.02 --set epochs=3
  unlearn forget --method muda --checkpoint original.safetensors --split split.json --out muda-noda.safetensors --set da=false
  unlearn forget --method ga --checkpoint original.safetensors --split split.json --out ga.safetensors --config hparams.toml
  unlearn forget --method rl --checkpoint original.safetensors --split split.json --out rl.safetensors --trace rl.trace.jsonl

The record (<out>.record.json) holds the parameters used, steps, seconds and per-epoch
loss and forget/retain accuracies; a diverged run writes it with `failed` set, exits 1 and
writes no checkpoint. See `unlearn methods` for every method's parameters.")]
    Forget(forget::ForgetArgs),
    /// Search a method's hyper-parameters against retrained models (random, then TPE);
    /// writes every trial and the best values as a --config file.
    #[command(after_help = tune::TUNE_EXAMPLES)]
    Tune(tune::TuneArgs),
    /// Run the whole study: splits, original and retrain models, every method and the MUDA
    /// ablations, features, metrics, results and report (what `cargo xtask reproduce` runs).
    #[command(after_help = unlearn_pipeline::args::REPRODUCE_EXAMPLES)]
    Reproduce(Box<ReproduceArgs>),
    /// List the unlearning methods with their parameters and defaults.
    #[command(after_help = "\
Examples:
  unlearn methods
  unlearn methods muda
  unlearn methods --preset cifar10 --json")]
    Methods(forget::MethodsArgs),
    /// Import a foreign checkpoint (PyTorch .pth or a safetensors state dict; a path,
    /// hf://… or model:<id>) as a toolkit checkpoint, printing how its tensors map.
    #[command(after_help = import::IMPORT_EXAMPLES)]
    Import(import::ImportArgs),
    /// The registry of known public checkpoints (`model:<id>`): list, show, fetch.
    #[command(after_help = models::MODELS_EXAMPLES)]
    Models(models::ModelsArgs),
}

#[derive(Subcommand)]
enum DataCommand {
    /// Sizes, classes, fingerprint and location of a data source.
    #[command(after_help = "\
Examples:
  unlearn data info --data embedded
  unlearn data info --data fashion-mnist --json
  unlearn data info --data idx:/path/to/folder")]
    Info {
        /// Data source: embedded, fashion-mnist[:dir], mnist[:dir], idx:<dir>, cifar10[:dir], cifar100[:dir].
        #[arg(long, default_value = "embedded")]
        data: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write the training images as a model trains on them (backdoor triggers stamped in
    /// with --split) with labels and normalisation, for another implementation to read.
    #[command(after_help = "\
Examples:
  unlearn data export --data embedded --out data.safetensors
  unlearn data export --data embedded --split backdoor.json --out poisoned.safetensors

In Python: safetensors.numpy.load_file(\"data.safetensors\")[\"images\"] (uint8, N×C×H×W).")]
    Export(data_export::ExportArgs),
}

#[derive(Args)]
struct SplitArgs {
    /// Data source (see `unlearn data info --help`).
    #[arg(long, default_value = "embedded")]
    data: String,
    /// Forget-set scenario.
    #[arg(long, default_value = "random:0.1", conflicts_with = "forget_npy")]
    scenario: String,
    /// Import the forget set from a 1-D integer .npy file of training-set indices instead.
    #[arg(long)]
    forget_npy: Option<PathBuf>,
    /// Seed of the split.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fraction of the official training set held out for validation (stratified).
    #[arg(long, default_value_t = 0.1)]
    val_fraction: f64,
    /// Output manifest (JSON).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum SubsetArg {
    /// retain ∪ forget: the original model.
    Train,
    /// retain only: the retrained (oracle) model.
    Retain,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum OptimizerKind {
    Sgd,
    Adamw,
}

#[derive(Args)]
struct TrainArgs {
    /// Data source.
    #[arg(long, default_value = "embedded")]
    data: String,
    /// Split manifest from `unlearn split`.
    #[arg(long)]
    split: PathBuf,
    /// Which part of the split to train on.
    #[arg(long, value_enum, default_value = "train")]
    subset: SubsetArg,
    /// Architecture (default: small-cnn for 28×28 and 32×32 inputs). One of small-cnn,
    /// resnet18-cifar, resnet18, vit-b16, vit-tiny.
    #[arg(long)]
    arch: Option<Arch>,
    /// Recipe preset: quick, fmnist, cifar10, cifar100 (default: quick for the embedded data,
    /// fmnist for other 28×28 data, cifar10/cifar100 for CIFAR).
    #[arg(long)]
    preset: Option<Preset>,
    /// Override: epochs.
    #[arg(long, value_parser = files::positive)]
    epochs: Option<usize>,
    /// Override: base learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Override: batch size.
    #[arg(long, value_parser = files::positive)]
    batch_size: Option<usize>,
    /// Override: optimiser (default: the preset's SGD; AdamW at lr 1e-3, weight decay 0.05
    /// for the ViTs).
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerKind>,
    /// Override: momentum (SGD).
    #[arg(long)]
    momentum: Option<f64>,
    /// Override: Nesterov momentum (SGD).
    #[arg(long)]
    nesterov: bool,
    /// Override: weight decay.
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Override: schedule: constant, cosine, or multistep:E1,E2[:gamma].
    #[arg(long)]
    schedule: Option<String>,
    /// Override: linear warm-up epochs.
    #[arg(long)]
    warmup_epochs: Option<usize>,
    /// Override: clip gradients to this global L2 norm.
    #[arg(long)]
    clip_grad_norm: Option<f64>,
    /// Seed (initialisation, data order, augmentation).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output checkpoint (.safetensors).
    #[arg(long)]
    out: PathBuf,
    /// Also write one JSON line per epoch here.
    #[arg(long)]
    log: Option<PathBuf>,
    /// Device: cpu, cuda, cuda:N, auto.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Start afresh even if a saved state of this run exists.
    #[arg(long)]
    no_resume: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct EvalArgs {
    /// Checkpoint: a path, hf://org/repo/file[@revision] or model:<id> (see `unlearn
    /// models`); a PyTorch .pth file needs --arch unless the registry names it.
    #[arg(long)]
    checkpoint: String,
    /// How to read a foreign checkpoint.
    #[command(flatten)]
    foreign: crate::files::ForeignModel,
    /// Data source.
    #[arg(long, default_value = "embedded")]
    data: String,
    /// Split manifest.
    #[arg(long)]
    split: PathBuf,
    /// Write JSON here (`-` for stdout).
    #[arg(long)]
    json: Option<String>,
    /// Device: cpu, cuda, cuda:N, auto.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Also extract features and compute every metric (MIA, DA, LP, NMI, F1).
    #[arg(long)]
    full: bool,
    /// With --full: reference (retrain) checkpoints to compute gaps against.
    #[arg(long = "reference", requires = "full")]
    references: Vec<String>,
}

fn main() {
    // Die quietly on a closed pipe (`unlearn data info | head`) instead of panicking in println!.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Negative numbers reach the options' own checks (`--epochs -1` is refused by name).
    let matches = unlearn_pipeline::args::negative_numbers_as_values(
        <Cli as clap::CommandFactory>::command(),
    )
    .get_matches();
    let cli =
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let on = OnMismatch::from_force(cli.force);
    let result = match cli.command {
        Command::Data(DataCommand::Info { data, json }) => data_info(&data, json),
        Command::Data(DataCommand::Export(a)) => data_export::export(a, on),
        Command::Split(a) => split(a),
        Command::Train(a) => train(a, on),
        Command::Eval(a) => eval(a, on),
        Command::Features(a) => measure::features(a, on),
        Command::Metrics(a) => measure::metrics(a, on),
        Command::Forget(a) => forget::forget(a, on),
        Command::Tune(a) => tune::tune(a, on),
        Command::Reproduce(mut a) => {
            a.force = cli.force;
            reproduce(*a)
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

fn data_info(spec: &str, as_json: bool) -> Result<()> {
    let ds = load_data(spec)?;
    let s = ds.summary();
    if as_json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        let [c, h, w] = ds.input_shape();
        println!("dataset      {} ({})", ds.name, ds.source);
        println!("fingerprint  {}", ds.fingerprint);
        println!("train        {} images", ds.train.len());
        println!("test         {} images", ds.test.len());
        println!("input        {c}×{h}×{w}");
        println!("classes      {}", ds.num_classes);
        let train_counts = ds.train.class_counts(ds.num_classes);
        let test_counts = ds.test.class_counts(ds.num_classes);
        for (i, name) in ds.class_names.iter().enumerate() {
            println!(
                "  {i:>3} {name:<16} train {:>6}  test {:>6}",
                train_counts.get(i).copied().unwrap_or(0),
                test_counts.get(i).copied().unwrap_or(0)
            );
        }
    }
    Ok(())
}

fn split(a: SplitArgs) -> Result<()> {
    let _claim = unlearn_io::Claim::new()
        .inputs("--forget-npy", a.forget_npy.iter())
        .output("--out", &a.out)
        .acquire()?;
    let ds = load_data(&a.data)?;
    let manifest = match &a.forget_npy {
        Some(path) => {
            let forget = unlearn_data::read_npy_indices(path)?;
            SplitManifest::from_forget_indices(&ds, &forget, a.seed, a.val_fraction)?
        }
        None => {
            let cfg = SplitConfig {
                scenario: a.scenario.parse()?,
                seed: a.seed,
                val_fraction: a.val_fraction,
            };
            make_split(&ds, &cfg)?
        }
    };
    manifest.save(&a.out)?;
    eprintln!(
        "wrote {}: scenario {}, train {}, retain {}, forget {}, val {}, test {}",
        a.out.display(),
        manifest.scenario,
        manifest.train.len(),
        manifest.retain.len(),
        manifest.forget.len(),
        manifest.val.len(),
        manifest.test.len()
    );
    Ok(())
}

fn parse_schedule(s: &str) -> Result<Schedule> {
    Ok(match s {
        "constant" => Schedule::Constant,
        "cosine" => Schedule::Cosine { eta_min: 0.0 },
        other => {
            let Some(rest) = other.strip_prefix("multistep:") else {
                bail!("unknown schedule '{other}': expected constant, cosine or multistep:E1,E2[:gamma]");
            };
            let (eps, gamma) = match rest.split_once(':') {
                Some((e, g)) => (
                    e,
                    g.parse::<f64>()
                        .with_context(|| format!("schedule gamma '{g}' is not a number"))?,
                ),
                None => (rest, 0.1),
            };
            let milestones = eps
                .split(',')
                .map(|e| {
                    e.trim()
                        .parse::<usize>()
                        .with_context(|| format!("milestone '{e}' is not an epoch number"))
                })
                .collect::<Result<Vec<_>>>()?;
            Schedule::MultiStep { milestones, gamma }
        }
    })
}

fn build_recipe(a: &TrainArgs, ds: &Dataset) -> Result<Recipe> {
    let preset = a.preset.unwrap_or_else(|| ops::default_preset(ds));
    let mut r = preset.recipe();
    let arch = a
        .arch
        .unwrap_or_else(|| Arch::default_for(ds.input_shape()));
    if arch.is_transformer() && a.optimizer.is_none() {
        r = r.for_transformer();
    }
    if let Some(e) = a.epochs {
        r.epochs = e;
    }
    if let Some(b) = a.batch_size {
        r.batch_size = b;
    }
    if let Some(kind) = a.optimizer {
        let lr = r.optimizer.lr();
        r.optimizer = match kind {
            OptimizerKind::Sgd => OptimizerConfig::Sgd(unlearn_train::SgdConfig {
                lr,
                ..Default::default()
            }),
            OptimizerKind::Adamw => OptimizerConfig::AdamW(unlearn_train::AdamWConfig::default()),
        };
    }
    if let Some(lr) = a.lr {
        r.optimizer.set_lr(lr);
    }
    match &mut r.optimizer {
        OptimizerConfig::Sgd(c) => {
            if let Some(m) = a.momentum {
                c.momentum = m;
            }
            if a.nesterov {
                c.nesterov = true;
            }
            if let Some(w) = a.weight_decay {
                c.weight_decay = w;
            }
        }
        OptimizerConfig::AdamW(c) => {
            if a.momentum.is_some() || a.nesterov {
                bail!("--momentum and --nesterov apply to SGD, not AdamW");
            }
            if let Some(w) = a.weight_decay {
                c.weight_decay = w;
            }
        }
    }
    if let Some(s) = &a.schedule {
        r.schedule.schedule = parse_schedule(s)?;
    }
    if let Some(w) = a.warmup_epochs {
        r.schedule.warmup_epochs = w;
    }
    if let Some(c) = a.clip_grad_norm {
        r.clip_grad_norm = Some(c);
    }
    r.validate()?;
    Ok(r)
}

fn train(a: TrainArgs, on: OnMismatch) -> Result<()> {
    let _claim = unlearn_io::Claim::new()
        .input("--split", &a.split)
        .output("--out", &a.out)
        .output("resume state", ops::state_path(&a.out))
        .outputs("--log", a.log.iter())
        .acquire()?;
    let ds = load_data(&a.data)?;
    let manifest = load_split(&a.split, &ds, on)?;
    let recipe = build_recipe(&a, &ds)?;
    let arch = a
        .arch
        .unwrap_or_else(|| Arch::default_for(ds.input_shape()));
    let device = unlearn_models::device(&a.device)?;
    let subset = match a.subset {
        SubsetArg::Train => Subset::Train,
        SubsetArg::Retain => Subset::Retain,
    };
    let indices = match subset {
        Subset::Train => manifest.train.len(),
        Subset::Retain => manifest.retain.len(),
    };
    eprintln!(
        "training {arch} on {} ({indices} images, subset {}) for {} epochs, seed {}",
        ds.name,
        subset.as_str(),
        recipe.epochs,
        a.seed
    );
    let summary = ops::train_checkpoint(&TrainJob {
        ds: &ds,
        manifest: &manifest,
        recipe: &recipe,
        arch: Some(arch),
        subset,
        seed: a.seed,
        device: &device,
        out: &a.out,
        log: a.log.as_deref(),
        no_resume: a.no_resume,
        progress: !a.quiet,
    })?;
    eprintln!(
        "wrote {} — final train loss {:.4}, test accuracy {:.2}%, {:.1}s",
        a.out.display(),
        summary.final_loss,
        summary.test_accuracy,
        summary.seconds
    );
    Ok(())
}

/// `unlearn reproduce`: the study, in this process.
fn reproduce(a: ReproduceArgs) -> Result<()> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    if let Some(outcome) = unlearn_pipeline::args::run_reproduce(&a, &target, "unlearn")? {
        println!("{}", outcome.markdown);
        eprintln!("done in {:.0}s: {}", outcome.seconds, outcome.out.display());
    }
    Ok(())
}

/// The features of reference checkpoint `r` (a retrained model), each fed its own input
/// normalisation.
fn reference_features(
    r: &str,
    ds: &Dataset,
    manifest: &SplitManifest,
    device: &candle_core::Device,
    opts: &unlearn_features::ExtractOptions,
    on: OnMismatch,
) -> Result<unlearn_metrics::FeatureBundle> {
    let reference = ops::load_model(r, None, ds, device)?;
    let ds = ops::dataset_for(ds, &reference);
    ops::check_checkpoint(
        r,
        reference.meta.as_ref(),
        &ds,
        manifest,
        ModelRole::Reference,
        on,
    )?;
    Ok(ops::extract_features(
        &reference.model,
        &ds,
        manifest,
        opts,
        r,
    )?)
}

fn eval(a: EvalArgs, on: OnMismatch) -> Result<()> {
    let _claim = unlearn_io::Claim::new()
        .inputs("--checkpoint", files::local_checkpoint(&a.checkpoint))
        .inputs(
            "--reference",
            a.references
                .iter()
                .filter_map(|r| files::local_checkpoint(r)),
        )
        .input("--split", &a.split)
        .outputs("--json", a.json.iter())
        .acquire()?;
    let ds = load_data(&a.data)?;
    let manifest = load_split(&a.split, &ds, on)?;
    let device = unlearn_models::device(&a.device)?;
    let opts = a.foreign.load_options();
    let loaded = ops::load_model_with(&a.checkpoint, &opts, &ds, &device)?;
    let ds = ops::dataset_for(&ds, &loaded);
    let ds = ds.as_ref();
    let model = &loaded.model;
    ops::check_checkpoint(
        &a.checkpoint,
        loaded.meta.as_ref(),
        ds,
        &manifest,
        ModelRole::Evaluated,
        on,
    )?;
    let train_images = manifest.poisoned_train(ds);
    let view = |images, indices| DataView {
        images,
        indices,
        normalization: &ds.normalization,
        augmentation: ds.augmentation,
    };
    let bs = 500;
    let fa = engine::evaluate(model, &view(&train_images, &manifest.forget), bs)?;
    let ra = engine::evaluate(model, &view(&train_images, &manifest.retain), bs)?;
    let va = engine::evaluate(model, &view(&train_images, &manifest.val), bs)?;
    let ta = engine::evaluate(model, &view(&ds.test, &manifest.test), bs)?;
    let mut out = json!({
        "checkpoint": a.checkpoint,
        "scenario": manifest.scenario.to_string(),
        "fa": fa.accuracy, "ra": ra.accuracy, "va": va.accuracy, "ta": ta.accuracy,
        "counts": {"forget": fa.total, "retain": ra.total, "val": va.total, "test": ta.total},
    });
    if let Some(asr) = ops::backdoor_asr(model, ds, &manifest, bs)? {
        out["asr"] = json!(asr);
    }
    let mut table = None;
    if a.full {
        let opts = unlearn_features::ExtractOptions {
            max_retain: Some(10_000),
            ..Default::default()
        };
        let bundle = ops::extract_features(model, ds, &manifest, &opts, &a.checkpoint)?;
        let references = a
            .references
            .iter()
            .map(|r| reference_features(r, ds, &manifest, &device, &opts, on))
            .collect::<Result<Vec<_>>>()?;
        let cfg = ops::metrics_config(
            &bundle,
            unlearn_metrics::KRule::Classes,
            0,
            None,
            None,
            unlearn_metrics::MIN_SET_SIZE,
        );
        let (report, compared) = ops::measure_bundles(&bundle, &references, &cfg)?;
        let metrics = match &compared {
            Some(c) => serde_json::to_value(c)?,
            None => serde_json::to_value(&report)?,
        };
        if let (Some(obj), serde_json::Value::Object(m)) = (out.as_object_mut(), metrics) {
            for (k, v) in m {
                obj.entry(k).or_insert(v);
            }
        }
        table = Some(unlearn_metrics::render_table(
            &report,
            compared.as_ref().map(|c| &c.comparison),
        ));
    }
    let text = serde_json::to_string_pretty(&out)?;
    let show = |out: &serde_json::Value| match &table {
        Some(t) => {
            print_eval(out);
            print!("{t}");
        }
        None => print_eval(out),
    };
    match a.json.as_deref() {
        Some("-") => println!("{text}"),
        Some(p) => {
            checkpoint::write_atomic(Path::new(p), text.as_bytes())?;
            show(&out);
        }
        None => show(&out),
    }
    Ok(())
}

fn print_eval(v: &serde_json::Value) {
    for (key, label) in [
        ("fa", "forget accuracy (FA)"),
        ("ra", "retain accuracy (RA)"),
        ("va", "validation accuracy (VA)"),
        ("ta", "test accuracy (TA)"),
        ("asr", "attack success rate (ASR)"),
    ] {
        if let Some(x) = v.get(key).and_then(|x| x.as_f64()) {
            println!("{label:<28} {x:>7.2}%");
        }
    }
}
