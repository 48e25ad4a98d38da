//! `unlearn data`: describe a data source, export its images.

use anyhow::Result;
use clap::Subcommand;
use unlearn_ops::{load_dataset as load_data, OnMismatch};

use crate::data_export;

#[derive(Subcommand)]
pub(crate) enum DataCommand {
    /// Sizes, classes, fingerprint and location of a data source.
    #[command(after_help = "\
Examples:
  unlearn data info --data embedded
  unlearn data info --data fashion-mnist --json
  unlearn data info --data idx:/path/to/folder
  unlearn data info --data imagefolder:/data/pets?size=64,64
  unlearn data info --data parquet:/data/cifar100-shards?label=fine_label
  unlearn data info --data hf://datasets/uoft-cs/cifar10

Images of an image folder, parquet shards or a Hugging Face dataset are decoded once into a
cache file ($UNLEARN_CACHE, default ~/.cache/unlearn), which this prints.")]
    Info {
        /// Data source: embedded, fashion-mnist[:dir], mnist[:dir], idx:<dir>, cifar10[:dir],
        /// cifar100[:dir], imagefolder:<dir>, parquet:<path>,
        /// hf://datasets/<org>/<name>[@<rev>]; options after `?`: size=H,W, image=COLUMN,
        /// label=COLUMN.
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

impl DataCommand {
    /// Runs the subcommand.
    pub(crate) fn run(self, on: OnMismatch) -> Result<()> {
        match self {
            DataCommand::Info { data, json } => info(&data, json),
            DataCommand::Export(a) => data_export::export(a, on),
        }
    }
}

fn info(spec: &str, as_json: bool) -> Result<()> {
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
        let channels = |v: &[f32]| {
            v.iter()
                .map(|x| format!("{x:.4}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "normalise    mean [{}], std [{}] (per channel, of pixels in [0, 1])",
            channels(&ds.normalization.mean),
            channels(&ds.normalization.std)
        );
        if let Some(cache) = &ds.decoded_cache {
            println!("decoded      {}", cache.display());
        }
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
