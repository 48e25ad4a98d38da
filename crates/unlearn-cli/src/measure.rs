//! `unlearn features` and `unlearn metrics`: the measuring side of the toolkit.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use unlearn_features::ExtractOptions;
use unlearn_metrics::compare::render_table;
use unlearn_metrics::features_file::FeatureBundle;
use unlearn_metrics::KRule;
use unlearn_models::checkpoint;
use unlearn_ops as ops;

/// Examples shown by `unlearn features --help`.
pub(crate) const FEATURES_EXAMPLES: &str = "\
Examples:
  unlearn features --checkpoint original.safetensors --data embedded --split split.json --out original.features.safetensors
  unlearn features --checkpoint retrain.safetensors --split split.json --out retrain.features.npz";

/// Examples shown by `unlearn metrics --help`.
pub(crate) const METRICS_EXAMPLES: &str = "\
Examples:
  unlearn metrics --features unlearned.features.safetensors --reference retrain.features.safetensors
  unlearn metrics --features feats.npz --reference r0.safetensors --reference r1.safetensors --json results.json
  unlearn metrics --features feats.safetensors --k auto:0.95 --json -";

/// Arguments of `unlearn features`.
#[derive(Args)]
pub struct FeaturesArgs {
    /// The model and the data it is read on.
    #[command(flatten)]
    pub input: crate::files::ModelOnData,
    /// Output file (.safetensors or .npz).
    #[arg(long)]
    pub out: PathBuf,
    /// Keep at most this many retain samples (metrics use at most 10,000).
    #[arg(long, value_parser = crate::files::positive)]
    pub max_retain: Option<usize>,
    /// Batch size.
    #[arg(long, default_value_t = 500, value_parser = crate::files::positive)]
    pub batch_size: usize,
    /// Device: cpu, cuda, cuda:N, auto.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Arguments of `unlearn metrics`.
#[derive(Args)]
pub struct MetricsArgs {
    /// Features of the model to measure (.safetensors or .npz with retain_/forget_/test_ arrays).
    #[arg(long)]
    pub features: PathBuf,
    /// Features of reference (retrain) models; several give an oracle distribution. Their
    /// metrics are kept next to each file (`<file>.metrics-<key>.json`) and reused.
    #[arg(long = "reference")]
    pub references: Vec<PathBuf>,
    /// Write JSON here (`-` for stdout instead of the table).
    #[arg(long)]
    pub json: Option<String>,
    /// DA subspace dimension: `classes` (default), a number, or `auto:τ`.
    #[arg(long, default_value = "classes")]
    pub k: KRule,
    /// Seed of the DA subsample, the probe split and k-means.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Forgotten classes (class scenario), e.g. `3` or `1,7`; default: from the file's scenario.
    #[arg(long)]
    pub forgotten_classes: Option<String>,
    /// Backdoor target class; default: from the file's scenario.
    #[arg(long)]
    pub backdoor_target: Option<u32>,
    /// Also write the report's figure data here as JSON: `{"spectrum": …, "pca2": …}`.
    ///
    /// `spectrum`: retain eigenvalues and the forget/test/retain energy per retain
    /// eigenvector (each normalised to sum 1); `pca2`: a 2-D PCA fitted on the retain
    /// features with at most 500 forget and 500 retain points (seeded by --seed).
    ///
    /// Example: unlearn metrics --features muda.features.safetensors --reference
    /// retrain.features.safetensors --json muda.json --plot-data muda.plot.json
    #[arg(long, value_name = "PATH")]
    pub plot_data: Option<PathBuf>,
    /// The fewest samples each of the retain, forget and test sets needs for any metric
    /// (at least 2).
    #[arg(long, default_value_t = unlearn_metrics::MIN_SET_SIZE, value_parser = crate::files::positive)]
    pub min_set_size: usize,
}

/// `unlearn features`.
pub fn features(a: FeaturesArgs, on: ops::OnMismatch) -> Result<()> {
    let _claim = a.input.claim().output("--out", &a.out).acquire()?;
    let opts = ExtractOptions {
        batch_size: a.batch_size,
        max_retain: a.max_retain,
        progress: !a.quiet,
        ..Default::default()
    };
    let (ds, manifest) = a.input.load_data(on)?;
    let device = unlearn_models::device(&a.device)?;
    let model = a.input.load_model(&ds, &device)?;
    let ds = &ds;
    ops::check_checkpoint(
        &a.input.checkpoint,
        model.meta.as_ref(),
        ds,
        &manifest,
        ops::ModelRole::Evaluated,
        on,
    )?;
    let bundle = ops::extract_features(&model.model, ds, &manifest, &opts, &a.input.checkpoint)?;
    ops::save_features(&bundle, &a.out)?;
    eprintln!(
        "wrote {}: retain {}, forget {}, test {}, d = {}",
        a.out.display(),
        bundle.retain.labels.len(),
        bundle.forget.labels.len(),
        bundle.test.labels.len(),
        bundle.dim()
    );
    Ok(())
}

/// `unlearn metrics`.
pub fn metrics(a: MetricsArgs, on: ops::OnMismatch) -> Result<()> {
    let _claim = unlearn_io::Claim::new()
        .input("--features", &a.features)
        .inputs("--reference", a.references.iter())
        .outputs("--json", a.json.iter())
        .outputs("--plot-data", a.plot_data.iter())
        .acquire()?;
    let bundle = FeatureBundle::load(&a.features)?;
    let label = a.features.display().to_string();
    for r in &a.references {
        let meta = FeatureBundle::read_metadata(r)?;
        ops::check_bundles_agree(
            &label,
            &bundle.metadata,
            &r.display().to_string(),
            &meta,
            on,
        )?;
    }
    let forgotten = a
        .forgotten_classes
        .as_deref()
        .map(parse_classes)
        .transpose()?;
    let cfg = ops::metrics_config(
        &bundle,
        a.k,
        a.seed,
        forgotten,
        a.backdoor_target,
        a.min_set_size,
    );
    let (report, compared) = ops::measure_files(&bundle, &a.references, &cfg)?;
    if let Some(path) = &a.plot_data {
        ops::write_plot_data(&bundle, &cfg, path)
            .with_context(|| format!("figure data of {}", a.features.display()))?;
    }
    let json = ops::metrics_json(&report, compared.as_ref());
    let table = render_table(&report, compared.as_ref().map(|c| &c.comparison));
    match a.json.as_deref() {
        Some("-") => println!("{json}"),
        Some(p) => {
            checkpoint::write_atomic(Path::new(p), json.as_bytes())?;
            print!("{table}");
        }
        None => print!("{table}"),
    }
    Ok(())
}

/// Parses a class list such as `3` or `1,7`; the error names the bad entry.
fn parse_classes(s: &str) -> anyhow::Result<Vec<u32>> {
    s.split(',')
        .map(|c| {
            c.trim()
                .parse::<u32>()
                .map_err(|_| anyhow::anyhow!("forgotten class '{c}' is not a class number"))
        })
        .collect()
}
