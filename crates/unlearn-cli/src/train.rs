//! `unlearn train`: train a classifier on the train or retain part of a split.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use unlearn_data::Dataset;
use unlearn_models::Arch;
use unlearn_ops::{
    self as ops, load_dataset as load_data, load_split, OnMismatch, Subset, TrainJob,
};
use unlearn_pipeline::Preset;
use unlearn_train::{OptimizerKind, Recipe, RecipeOverrides, Schedule};

use crate::files;

/// Examples shown by `unlearn train --help`.
pub(crate) const EXAMPLES: &str = "\
Examples:
  unlearn train --data embedded --split split.json --subset train --seed 0 --out original.safetensors
  unlearn train --data embedded --split split.json --subset retain --seed 0 --out retrain.safetensors
  unlearn train --data fashion-mnist --split split.json --preset fmnist --epochs 20 --out m.safetensors
  unlearn train --data cifar10:/data/cifar-10-batches-bin --split s.json --arch resnet18-cifar --preset cifar10 --device cuda --out r18.safetensors

A killed run resumes from its last finished epoch when rerun with the same arguments
(state kept in <out>.state next to the output) and ends with the same bytes.";

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum SubsetArg {
    /// retain ∪ forget: the original model.
    Train,
    /// retain only: the retrained (oracle) model.
    Retain,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum OptimizerArg {
    Sgd,
    Adamw,
}

#[derive(Args)]
pub(crate) struct TrainArgs {
    /// Data source.
    #[arg(long, default_value = "embedded")]
    pub(crate) data: String,
    /// Split manifest from `unlearn split`.
    #[arg(long)]
    pub(crate) split: PathBuf,
    /// Which part of the split to train on.
    #[arg(long, value_enum, default_value = "train")]
    pub(crate) subset: SubsetArg,
    /// Architecture (default: small-cnn for 28×28 and 32×32 inputs). One of small-cnn,
    /// resnet18-cifar, resnet18, vit-b16, vit-tiny.
    #[arg(long)]
    pub(crate) arch: Option<Arch>,
    /// Recipe preset: quick, fmnist, cifar10, cifar100 (default: quick for the embedded data,
    /// fmnist for other 28×28 data, cifar10/cifar100 for CIFAR).
    #[arg(long)]
    pub(crate) preset: Option<Preset>,
    /// Override: epochs.
    #[arg(long, value_parser = files::positive)]
    pub(crate) epochs: Option<usize>,
    /// Override: base learning rate.
    #[arg(long)]
    pub(crate) lr: Option<f64>,
    /// Override: batch size.
    #[arg(long, value_parser = files::positive)]
    pub(crate) batch_size: Option<usize>,
    /// Override: optimiser (default: the preset's SGD; AdamW at lr 1e-3, weight decay 0.05
    /// for the ViTs).
    #[arg(long, value_enum)]
    pub(crate) optimizer: Option<OptimizerArg>,
    /// Override: momentum (SGD).
    #[arg(long)]
    pub(crate) momentum: Option<f64>,
    /// Override: Nesterov momentum (SGD).
    #[arg(long)]
    pub(crate) nesterov: bool,
    /// Override: weight decay.
    #[arg(long)]
    pub(crate) weight_decay: Option<f64>,
    /// Override: schedule: constant, cosine, or multistep:E1,E2[:gamma].
    #[arg(long)]
    pub(crate) schedule: Option<String>,
    /// Override: linear warm-up epochs.
    #[arg(long)]
    pub(crate) warmup_epochs: Option<usize>,
    /// Override: clip gradients to this global L2 norm.
    #[arg(long)]
    pub(crate) clip_grad_norm: Option<f64>,
    /// Seed (initialisation, data order, augmentation).
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Output checkpoint (.safetensors).
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Also write one JSON line per epoch here.
    #[arg(long)]
    pub(crate) log: Option<PathBuf>,
    /// Device: cpu, cuda, cuda:N, auto.
    #[arg(long, default_value = "cpu")]
    pub(crate) device: String,
    /// Start afresh even if a saved state of this run exists.
    #[arg(long)]
    pub(crate) no_resume: bool,
    /// No progress bar.
    #[arg(long)]
    pub(crate) quiet: bool,
}

/// The preset's recipe (AdamW for a transformer unless --optimizer is given) with the
/// options' changes.
fn build_recipe(a: &TrainArgs, ds: &Dataset) -> Result<Recipe> {
    let preset = a.preset.unwrap_or_else(|| Preset::for_source(&ds.source));
    let mut recipe = preset.recipe();
    let arch = a
        .arch
        .unwrap_or_else(|| Arch::default_for(ds.input_shape()));
    if arch.is_transformer() && a.optimizer.is_none() {
        recipe = recipe.for_transformer();
    }
    let overrides = RecipeOverrides {
        epochs: a.epochs,
        batch_size: a.batch_size,
        optimizer: a.optimizer.map(|o| match o {
            OptimizerArg::Sgd => OptimizerKind::Sgd,
            OptimizerArg::Adamw => OptimizerKind::AdamW,
        }),
        lr: a.lr,
        momentum: a.momentum,
        nesterov: a.nesterov,
        weight_decay: a.weight_decay,
        schedule: a
            .schedule
            .as_deref()
            .map(str::parse::<Schedule>)
            .transpose()
            .map_err(anyhow::Error::msg)?,
        warmup_epochs: a.warmup_epochs,
        clip_grad_norm: a.clip_grad_norm,
    };
    Ok(overrides.apply(recipe)?)
}

pub(crate) fn train(a: TrainArgs, on: OnMismatch) -> Result<()> {
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
