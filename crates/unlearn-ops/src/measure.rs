//! The measuring side: feature extraction, the metrics configuration of a bundle, metrics
//! with gaps to reference models (the reference metrics cached once per file), figure data
//! and the backdoor's attack success rate. `unlearn features`, `unlearn metrics`,
//! `unlearn eval` and the pipeline's feature and metrics steps all call these.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use unlearn_data::{Dataset, Scenario, SplitManifest};
use unlearn_features::{extract, ExtractOptions};
use unlearn_metrics::compare::{compare, ComparedReport};
use unlearn_metrics::features_file::FeatureBundle;
use unlearn_metrics::figures::{plot_data, PlotConfig};
use unlearn_metrics::{KRule, MetricsConfig, MetricsReport};
use unlearn_models::{checkpoint, Model};

use crate::error::{OpsError, Result};

/// Features, logits and labels of `model` over `manifest`, with the checkpoint's name
/// recorded in the bundle's metadata.
pub fn extract_features(
    model: &Model,
    ds: &Dataset,
    manifest: &SplitManifest,
    opts: &ExtractOptions,
    checkpoint_label: &str,
) -> Result<FeatureBundle> {
    let mut bundle = extract(model, ds, manifest, opts)?;
    bundle
        .metadata
        .insert("checkpoint".into(), checkpoint_label.to_string());
    Ok(bundle)
}

/// Writes a bundle as `.npz` when the path says so, else as safetensors with its metadata.
pub fn save_features(bundle: &FeatureBundle, path: &Path) -> Result<()> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("npz") => bundle.save_npz(path)?,
        _ => bundle.save_safetensors(path, &bundle.metadata)?,
    }
    Ok(())
}

/// The metrics configuration for a bundle: the forgotten classes and the backdoor target
/// come from the scenario in its metadata unless given.
pub fn metrics_config(
    bundle: &FeatureBundle,
    k: KRule,
    seed: u64,
    forgotten: Option<Vec<u32>>,
    backdoor_target: Option<u32>,
    min_set_size: usize,
) -> MetricsConfig {
    let scenario: Option<Scenario> = bundle.metadata.get("scenario").and_then(|s| s.parse().ok());
    let forgotten_classes = forgotten.or_else(|| {
        scenario
            .as_ref()
            .and_then(|s| s.classes())
            .map(|c| c.to_vec())
    });
    let backdoor_target = backdoor_target.or_else(|| {
        scenario
            .as_ref()
            .and_then(|s| s.backdoor())
            .map(|b| b.target)
    });
    MetricsConfig {
        k,
        seed,
        forgotten_classes,
        backdoor_target,
        min_set_size,
        ..Default::default()
    }
}

/// `report` compared with the references' reports; `None` without references.
pub fn compared(report: MetricsReport, refs: &[MetricsReport]) -> Option<ComparedReport> {
    if refs.is_empty() {
        return None;
    }
    let comparison = compare(&report, refs);
    Some(ComparedReport { report, comparison })
}

/// A bundle's metrics, then the references' (from `refs`), and the comparison.
fn measure_with(
    bundle: &FeatureBundle,
    cfg: &MetricsConfig,
    refs: impl FnOnce() -> Result<Vec<MetricsReport>>,
) -> Result<(MetricsReport, Option<ComparedReport>)> {
    let report = unlearn_metrics::evaluate(bundle, cfg)?;
    let refs = refs()?;
    Ok((report.clone(), compared(report, &refs)))
}

/// Metrics of a bundle, compared with reference bundles held in memory (no cache).
pub fn measure_bundles(
    bundle: &FeatureBundle,
    references: &[FeatureBundle],
    cfg: &MetricsConfig,
) -> Result<(MetricsReport, Option<ComparedReport>)> {
    measure_with(bundle, cfg, || {
        references
            .iter()
            .map(|b| Ok(unlearn_metrics::evaluate(b, cfg)?))
            .collect()
    })
}

/// Where the metrics of the reference features at `path` under `cfg` are kept:
/// `<path>.metrics-<key>.json`. The key is the SHA-256 of the reference file's bytes, the
/// configuration and this build (the executable's path, size and modification time: a
/// rebuild changes them, and hashing a 100+ MB binary on every call would cost more than it
/// protects against).
pub fn reference_cache_path(path: &Path, bytes: &[u8], cfg: &MetricsConfig) -> PathBuf {
    let mut hasher = Sha256::new();
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
    hasher.update(bytes);
    hasher.update([0u8]);
    // Serialising a configuration of plain fields cannot fail.
    hasher.update(serde_json::to_string(cfg).unwrap_or_default().as_bytes());
    let key: String = hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".metrics-{key}.json"));
    path.with_file_name(name)
}

/// The metrics of a reference model's features, evaluated once per reference file,
/// configuration and build and kept next to the file ([`reference_cache_path`]): scoring
/// every method of a run against one retrain model does not redo the retrain model's metrics
/// (half of each call's time, mostly the MIA SVMs). A fresh evaluation is also read back
/// through its JSON, so a result does not depend on whether the cached copy existed. A folder
/// that cannot be written only costs the saving.
pub fn reference_report(path: &Path, cfg: &MetricsConfig) -> Result<MetricsReport> {
    let bytes = unlearn_io::read_regular(path, "reference", u64::MAX)?;
    let cache = reference_cache_path(path, &bytes, cfg);
    if let Some(report) = std::fs::read_to_string(&cache)
        .ok()
        .and_then(|t| serde_json::from_str::<MetricsReport>(&t).ok())
    {
        return Ok(report);
    }
    let bundle = FeatureBundle::load(path)?;
    let report = unlearn_metrics::evaluate(&bundle, cfg)?;
    let text = serde_json::to_string(&report).map_err(|e| OpsError::Json {
        path: cache.clone(),
        source: e,
    })?;
    if let Err(e) = checkpoint::write_atomic(&cache, text.as_bytes()) {
        eprintln!(
            "note: cannot keep the reference metrics in {} ({e}); they are recomputed next time",
            cache.display()
        );
    }
    serde_json::from_str(&text).map_err(|e| OpsError::Json {
        path: cache,
        source: e,
    })
}

/// The metrics of the features at `features` against the reference features at
/// `references` (each through [`reference_report`]), as `unlearn metrics --json` writes them.
pub fn measure_files(
    bundle: &FeatureBundle,
    references: &[PathBuf],
    cfg: &MetricsConfig,
) -> Result<(MetricsReport, Option<ComparedReport>)> {
    measure_with(bundle, cfg, || {
        references
            .iter()
            .map(|p| {
                reference_report(p, cfg).map_err(|e| OpsError::Step {
                    step: format!("metrics of the reference {}", p.display()),
                    error: Box::new(e),
                })
            })
            .collect()
    })
}

/// The JSON `unlearn metrics --json` writes: the compared report when there are references,
/// else the plain report.
pub fn metrics_json(report: &MetricsReport, compared: Option<&ComparedReport>) -> String {
    // Serialising reports of plain fields cannot fail.
    match compared {
        Some(c) => serde_json::to_string_pretty(c),
        None => serde_json::to_string_pretty(report),
    }
    .unwrap_or_default()
}

/// Writes the report's figure data (`{"spectrum": …, "pca2": …}`) of a bundle as JSON.
pub fn write_plot_data(bundle: &FeatureBundle, cfg: &MetricsConfig, path: &Path) -> Result<()> {
    let plot_cfg = PlotConfig {
        seed: cfg.seed,
        max_reference: cfg.max_reference,
        ..Default::default()
    };
    let data = plot_data(bundle, &plot_cfg)?;
    let text = serde_json::to_string(&data).map_err(|e| OpsError::Json {
        path: path.to_path_buf(),
        source: e,
    })?;
    checkpoint::write_atomic(path, text.as_bytes())?;
    Ok(())
}
