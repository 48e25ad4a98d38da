//! What a trial is scored on: the data, the split, the original model and the reference
//! models' metrics, loaded once; and one trial, a real unlearning run measured with the
//! toolkit's own metrics against them.

use std::path::Path;
use std::time::Instant;

use candle_core::Device;
use serde::{Deserialize, Serialize};
use unlearn_data::{Dataset, SplitManifest};
use unlearn_features::ExtractOptions;
use unlearn_methods::Overrides;
use unlearn_metrics::{FeatureBundle, KRule, MetricsConfig, MetricsReport};
use unlearn_models::Model;
use unlearn_train::Preset;

use crate::error::{Result, TuneError};
use crate::Objective;
use unlearn_ops::{self as ops, ModelRole, OnMismatch};

/// Retain features kept per model, as `reproduce` keeps them.
const MAX_RETAIN: usize = 10_000;

/// What one trial measured (the fields of a `trials.jsonl` line besides the point).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// The objective; `None` when the run failed or a gap was missing.
    pub objective: Option<f64>,
    /// Mean output-space gap (UA, RA, TA, MIA) to the references.
    pub avg_gap_output: Option<f64>,
    /// Mean feature-space gap (DA_f, LP_f, NMI, F1) to the references.
    pub avg_gap_feature: Option<f64>,
    /// Unlearning accuracy (100 − forget accuracy).
    pub ua: Option<f64>,
    /// Retain accuracy.
    pub ra: Option<f64>,
    /// Test accuracy.
    pub ta: Option<f64>,
    /// MIA efficacy (confidence attack).
    pub mia: Option<f64>,
    /// The backdoor's attack success rate, for a `backdoor:` split.
    pub asr: Option<f64>,
    /// Optimiser steps of the run.
    pub steps: u64,
    /// Why the run failed (divergence, …); `None` when it finished.
    pub failed: Option<String>,
}

/// Everything a trial reads, loaded once per search.
pub struct Bench {
    /// The data.
    pub ds: Dataset,
    /// The split.
    pub manifest: SplitManifest,
    /// The original model.
    pub original: Model,
    /// The original's checkpoint, as named.
    pub original_label: String,
    /// The preset whose defaults the method starts from.
    pub preset: Preset,
    /// The device.
    pub device: Device,
    /// The metrics configuration (from the references' scenario and the seed).
    pub cfg: MetricsConfig,
    /// The reference models' metrics.
    pub references: Vec<MetricsReport>,
}

/// A reference given on the command line: a feature file of `unlearn features`, or a
/// checkpoint whose features are extracted here.
fn reference_bundle(
    path: &Path,
    ds: &Dataset,
    manifest: &SplitManifest,
    device: &Device,
    on: OnMismatch,
) -> Result<FeatureBundle> {
    let as_features = FeatureBundle::load(path);
    let bundle = match as_features {
        Ok(b) => b,
        Err(feature_error) => {
            let label = path.to_string_lossy().into_owned();
            let model = ops::load_model(&label, None, ds, device).map_err(|model_error| {
                TuneError::Plan(format!(
                    "reference {} is neither a feature file ({feature_error}) nor a checkpoint \
                     ({model_error})",
                    path.display()
                ))
            })?;
            ops::check_checkpoint(
                &label,
                model.meta.as_ref(),
                ds,
                manifest,
                ModelRole::Reference,
                on,
            )?;
            let opts = ExtractOptions {
                max_retain: Some(MAX_RETAIN),
                ..Default::default()
            };
            ops::extract_features(&model.model, ds, manifest, &opts, &label)?
        }
    };
    ops::check_bundle_split(&path.display().to_string(), &bundle.metadata, manifest, on)?;
    Ok(bundle)
}

impl Bench {
    /// Loads the data, the split, the original and the references, and measures the
    /// references once.
    pub fn load(cfg: &crate::TuneConfig) -> Result<Bench> {
        let (data, split, original) = (&cfg.data, &cfg.split, &cfg.original);
        let (references, preset, device) = (&cfg.references, cfg.preset, &cfg.device);
        let (seed, on) = (cfg.seed, cfg.on_mismatch);
        if references.is_empty() {
            return Err(TuneError::Plan(
                "tuning needs at least one --reference (a retrained model or its features)".into(),
            ));
        }
        let ds = ops::load_dataset(data)?;
        let manifest = ops::load_split(split, &ds, on)?;
        let device = unlearn_models::device(device)?;
        let loaded = ops::load_model_with(original, &cfg.load, &ds, &device)?;
        ops::check_checkpoint(
            original,
            loaded.meta.as_ref(),
            &ds,
            &manifest,
            ModelRole::Original,
            on,
        )?;
        let preset = preset.unwrap_or_else(|| ops::preset_of_original(loaded.meta.as_ref(), &ds));
        let bundles = references
            .iter()
            .map(|p| reference_bundle(p, &ds, &manifest, &device, on))
            .collect::<Result<Vec<_>>>()?;
        let cfg = ops::metrics_config(
            &bundles[0],
            KRule::Classes,
            seed,
            None,
            None,
            unlearn_metrics::MIN_SET_SIZE,
        );
        let references = bundles
            .iter()
            .map(|b| Ok(unlearn_metrics::evaluate(b, &cfg)?))
            .collect::<Result<Vec<_>>>()?;
        Ok(Bench {
            ds,
            manifest,
            original: loaded.model,
            original_label: original.to_string(),
            preset,
            device,
            cfg,
            references,
        })
    }

    /// One trial: `method` with `sets` applied on its defaults (and the scenario's), run on
    /// the original, measured against the references. A failed run is a result (its
    /// `failed` says why), not an error.
    pub fn trial(
        &self,
        method: &str,
        sets: &[String],
        seed: u64,
        objective: Objective,
    ) -> Result<(Scores, f64)> {
        let start = Instant::now();
        let overrides = Overrides::new(sets, None)?;
        let outcome = ops::unlearn_model(&ops::ForgetJob {
            ds: &self.ds,
            manifest: &self.manifest,
            original: &self.original,
            original_label: &self.original_label,
            method,
            preset: self.preset,
            overrides: &overrides,
            seed,
            device: &self.device,
            monitor: 1000,
            progress: false,
            out: Path::new(""),
            trace: None,
        })?;
        let unlearned = match outcome {
            Ok(u) => u,
            Err(failure) => {
                let scores = Scores {
                    steps: failure.record.steps,
                    failed: Some(failure.error.to_string()),
                    ..Default::default()
                };
                return Ok((scores, start.elapsed().as_secs_f64()));
            }
        };
        let opts = ExtractOptions {
            max_retain: Some(MAX_RETAIN),
            ..Default::default()
        };
        let bundle = ops::extract_features(
            &unlearned.model,
            &self.ds,
            &self.manifest,
            &opts,
            "tune trial",
        )?;
        let report = unlearn_metrics::evaluate(&bundle, &self.cfg)?;
        let compared = ops::compared(report, &self.references);
        let mut scores = Scores {
            steps: unlearned.record.steps,
            ..Default::default()
        };
        if let Some(c) = compared {
            scores.objective = objective.score(&c.comparison);
            scores.avg_gap_output = c.comparison.avg_gap_output;
            scores.avg_gap_feature = c.comparison.avg_gap_feature;
            scores.ua = Some(c.report.ua);
            scores.ra = Some(c.report.ra);
            scores.ta = Some(c.report.ta);
            scores.mia = Some(c.report.mia.confidence);
            scores.asr = c.report.asr;
        }
        Ok((scores, start.elapsed().as_secs_f64()))
    }
}
