//! How the commands name their files to the toolkit's file policy (`unlearn-io`).

use std::path::PathBuf;

/// The local file a `--checkpoint` names: `None` for an `hf://` address or a registry
/// `model:<id>` (they live in the hub cache, which no command writes to).
pub fn local_checkpoint(spec: &str) -> Option<PathBuf> {
    (!spec.starts_with("hf://") && !spec.starts_with("model:")).then(|| PathBuf::from(spec))
}

/// Clap parser for counts that must be at least 1 (`--batch-size`, `--epochs`, `--trials`,
/// …): the same rule and message as `reproduce`'s.
pub use unlearn_cli::args::positive_count as positive;

/// How to read a checkpoint that does not describe itself (a PyTorch file, a plain state
/// dict): one pair of options for every command that takes `--checkpoint`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ForeignModel {
    /// Architecture, for checkpoints without this toolkit's metadata (small-cnn,
    /// resnet18-cifar, resnet18, vit-b16, vit-tiny).
    #[arg(long)]
    pub arch: Option<unlearn_models::Arch>,
    /// Input normalisation for a checkpoint that records none, e.g.
    /// `mean=0.4914,0.4822,0.4465,std=0.2023,0.1994,0.2010` (default: the checkpoint's,
    /// else the data's).
    #[arg(long, value_parser = unlearn_models::Normalization::parse)]
    pub normalize: Option<unlearn_models::Normalization>,
}

impl ForeignModel {
    /// The loader's options.
    pub fn load_options(&self) -> unlearn_ops::LoadOptions {
        unlearn_ops::LoadOptions {
            arch: self.arch,
            normalization: self.normalize.clone(),
        }
    }
}

/// The model a per-model command reads and the data it reads it on: one block of options
/// shared by `forget`, `tune`, `features` and `eval`.
#[derive(clap::Args, Clone, Debug)]
pub struct ModelOnData {
    /// The model (for `forget` and `tune`: the original): a checkpoint written by `unlearn
    /// train`, a path, hf://org/repo/file[@revision] or model:<id> (see `unlearn models`); a
    /// foreign one (a PyTorch .pth) needs --arch unless the registry names it.
    #[arg(long)]
    pub checkpoint: String,
    /// How to read a foreign checkpoint.
    #[command(flatten)]
    pub foreign: ForeignModel,
    /// Data source.
    #[arg(long, default_value = "embedded")]
    pub data: String,
    /// Split manifest from `unlearn split`.
    #[arg(long)]
    pub split: PathBuf,
}

impl ModelOnData {
    /// A file claim with the checkpoint (when it is a local file) and the split as inputs.
    pub fn claim(&self) -> unlearn_io::Claim {
        unlearn_io::Claim::new()
            .inputs("--checkpoint", local_checkpoint(&self.checkpoint))
            .input("--split", &self.split)
    }

    /// The data set and its split manifest, checked against each other.
    pub fn load_data(
        &self,
        on: unlearn_ops::OnMismatch,
    ) -> anyhow::Result<(unlearn_data::Dataset, unlearn_data::SplitManifest)> {
        let ds = unlearn_ops::load_dataset(&self.data)?;
        let manifest = unlearn_ops::load_split(&self.split, &ds, on)?;
        Ok((ds, manifest))
    }

    /// The model on `device`, read with the foreign-checkpoint options.
    pub fn load_model(
        &self,
        ds: &unlearn_data::Dataset,
        device: &candle_core::Device,
    ) -> anyhow::Result<unlearn_ops::LoadedModel> {
        let opts = self.foreign.load_options();
        Ok(unlearn_ops::load_model_with(
            &self.checkpoint,
            &opts,
            ds,
            device,
        )?)
    }
}
