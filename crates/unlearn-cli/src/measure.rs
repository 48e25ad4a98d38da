//! `unlearn features` and `unlearn metrics`: the measuring side of the toolkit.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use unlearn_data::{DataSource, Scenario, SplitManifest};
use unlearn_features::{extract, ExtractOptions};
use unlearn_metrics::compare::{compare, render_table, ComparedReport};
use unlearn_metrics::features_file::FeatureBundle;
use unlearn_metrics::figures::{plot_data, PlotConfig};
use unlearn_metrics::{KRule, MetricsConfig, MetricsReport};
use unlearn_models::{checkpoint, hub, ModelSpec};

/// Arguments of `unlearn features`.
#[derive(Args)]
pub struct FeaturesArgs {
    /// Checkpoint: a path or hf://org/repo/file[@revision].
    #[arg(long)]
    pub checkpoint: String,
    /// Architecture, for checkpoints without this toolkit's metadata.
    #[arg(long)]
    pub arch: Option<String>,
    /// Data source.
    #[arg(long, default_value = "embedded")]
    pub data: String,
    /// Split manifest.
    #[arg(long)]
    pub split: PathBuf,
    /// Output file (.safetensors or .npz).
    #[arg(long)]
    pub out: PathBuf,
    /// Keep at most this many retain samples (metrics use at most 10,000).
    #[arg(long)]
    pub max_retain: Option<usize>,
    /// Batch size.
    #[arg(long, default_value_t = 500)]
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
    pub k: String,
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
}

fn load_model(
    checkpoint_spec: &str,
    arch: Option<&str>,
    ds: &unlearn_data::Dataset,
    device: &candle_core::Device,
) -> Result<unlearn_models::Model> {
    let path = hub::resolve_checkpoint(checkpoint_spec)?;
    Ok(match arch {
        Some(a) => {
            let spec = ModelSpec {
                arch: a.parse()?,
                input_shape: ds.input_shape(),
                num_classes: ds.num_classes,
            };
            checkpoint::load_with_spec(&path, &spec, device)?
        }
        None => checkpoint::load(&path, device)?.0,
    })
}

/// Extracts the bundle of a checkpoint over a split.
pub fn bundle_for(
    checkpoint_spec: &str,
    arch: Option<&str>,
    data: &str,
    split: &Path,
    device: &str,
    opts: &ExtractOptions,
) -> Result<FeatureBundle> {
    let ds = data.parse::<DataSource>()?.load()?;
    let manifest = SplitManifest::load(split)?;
    manifest.check_dataset(&ds)?;
    let device = unlearn_models::device(device)?;
    let model = load_model(checkpoint_spec, arch, &ds, &device)?;
    let mut bundle = extract(&model, &ds, &manifest, opts)?;
    bundle
        .metadata
        .insert("checkpoint".into(), checkpoint_spec.to_string());
    Ok(bundle)
}

/// `unlearn features`.
pub fn features(a: FeaturesArgs) -> Result<()> {
    let opts = ExtractOptions {
        batch_size: a.batch_size,
        max_retain: a.max_retain,
        progress: !a.quiet,
        ..Default::default()
    };
    let bundle = bundle_for(
        &a.checkpoint,
        a.arch.as_deref(),
        &a.data,
        &a.split,
        &a.device,
        &opts,
    )?;
    match a.out.extension().and_then(|e| e.to_str()) {
        Some("npz") => bundle.save_npz(&a.out)?,
        _ => bundle.save_safetensors(&a.out, &bundle.metadata)?,
    }
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

/// The metrics configuration for a bundle: scenario facts from its metadata unless given.
pub fn config_for(
    bundle: &FeatureBundle,
    k: &str,
    seed: u64,
    forgotten: Option<&str>,
    target: Option<u32>,
) -> Result<MetricsConfig> {
    let k: KRule = k.parse().with_context(|| format!("bad --k '{k}'"))?;
    let scenario: Option<Scenario> = bundle.metadata.get("scenario").and_then(|s| s.parse().ok());
    let forgotten_classes = match forgotten {
        Some(s) => Some(
            s.split(',')
                .map(|c| {
                    c.trim()
                        .parse::<u32>()
                        .with_context(|| format!("forgotten class '{c}' is not a class number"))
                })
                .collect::<Result<Vec<_>>>()?,
        ),
        None => scenario
            .as_ref()
            .and_then(|s| s.classes())
            .map(|c| c.to_vec()),
    };
    let backdoor_target = target.or_else(|| {
        scenario
            .as_ref()
            .and_then(|s| s.backdoor())
            .map(|b| b.target)
    });
    Ok(MetricsConfig {
        k,
        seed,
        forgotten_classes,
        backdoor_target,
        ..Default::default()
    })
}

/// Metrics of a bundle, compared with reference bundles when given.
pub fn measure(
    bundle: &FeatureBundle,
    references: &[FeatureBundle],
    cfg: &MetricsConfig,
) -> Result<(MetricsReport, Option<ComparedReport>)> {
    let report = unlearn_metrics::evaluate(bundle, cfg)?;
    if references.is_empty() {
        return Ok((report, None));
    }
    let refs = references
        .iter()
        .map(|b| unlearn_metrics::evaluate(b, cfg))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((report.clone(), compared(report, &refs)))
}

/// `report` compared with the references' reports; `None` without references.
fn compared(report: MetricsReport, refs: &[MetricsReport]) -> Option<ComparedReport> {
    if refs.is_empty() {
        return None;
    }
    let comparison = compare(&report, refs);
    Some(ComparedReport { report, comparison })
}

/// The metrics of a reference model (`--reference`), evaluated once per reference file,
/// configuration and `unlearn` binary: the report is kept next to the reference as
/// `<reference>.metrics-<key>.json`, where the key is the SHA-256 of this executable's
/// path, size and modification time, the reference file and the configuration, so scoring
/// every method of a run against one retrain model does not redo the retrain model's
/// metrics (half of each call's time, mostly the MIA SVMs). A fresh evaluation is also read back through its JSON, so a
/// result does not depend on whether the cached copy existed. A folder that cannot be
/// written only costs the saving.
fn reference_report(path: &Path, cfg: &MetricsConfig) -> Result<MetricsReport> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    // The executable by path, size and modification time: a rebuild changes them, and
    // reading a 100+ MB binary on every call would cost more than it protects against.
    if let Ok(exe) = std::env::current_exe() {
        hasher.update(exe.as_os_str().as_encoded_bytes());
        if let Ok(meta) = std::fs::metadata(&exe) {
            hasher.update(meta.len().to_le_bytes());
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            hasher.update(modified.to_le_bytes());
        }
    }
    hasher.update([0u8]);
    hasher.update(&bytes);
    hasher.update([0u8]);
    hasher.update(serde_json::to_string(cfg)?.as_bytes());
    let key: String = hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".metrics-{key}.json"));
    let cache = path.with_file_name(name);
    if let Some(report) = std::fs::read_to_string(&cache)
        .ok()
        .and_then(|t| serde_json::from_str::<MetricsReport>(&t).ok())
    {
        return Ok(report);
    }
    let bundle = FeatureBundle::load(path)?;
    let text = serde_json::to_string(&unlearn_metrics::evaluate(&bundle, cfg)?)?;
    if let Err(e) = checkpoint::write_atomic(&cache, text.as_bytes()) {
        eprintln!(
            "note: cannot keep the reference metrics in {} ({e}); they are recomputed next time",
            cache.display()
        );
    }
    Ok(serde_json::from_str(&text)?)
}

/// `unlearn metrics`.
pub fn metrics(a: MetricsArgs) -> Result<()> {
    let bundle = FeatureBundle::load(&a.features)?;
    let cfg = config_for(
        &bundle,
        &a.k,
        a.seed,
        a.forgotten_classes.as_deref(),
        a.backdoor_target,
    )?;
    let report = unlearn_metrics::evaluate(&bundle, &cfg)?;
    let refs = a
        .references
        .iter()
        .map(|p| {
            reference_report(p, &cfg)
                .with_context(|| format!("metrics of the reference {}", p.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let compared = compared(report.clone(), &refs);
    if let Some(path) = &a.plot_data {
        let plot_cfg = PlotConfig {
            seed: a.seed,
            max_reference: cfg.max_reference,
            ..Default::default()
        };
        let data = plot_data(&bundle, &plot_cfg)
            .with_context(|| format!("figure data of {}", a.features.display()))?;
        checkpoint::write_atomic(path, serde_json::to_string(&data)?.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let json = match &compared {
        Some(c) => serde_json::to_string_pretty(c)?,
        None => serde_json::to_string_pretty(&report)?,
    };
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
