//! `unlearn eval`: accuracies of a checkpoint on a split, and with --full every metric.

use std::path::Path;

use anyhow::Result;
use clap::Args;
use serde_json::json;
use unlearn_data::{Dataset, SplitManifest};
use unlearn_models::checkpoint;
use unlearn_ops::{self as ops, ModelRole, OnMismatch};
use unlearn_train::{engine, DataView};

use crate::files;

/// Examples shown by `unlearn eval --help`.
pub(crate) const EXAMPLES: &str = "\
Examples:
  unlearn eval --checkpoint original.safetensors --data embedded --split split.json
  unlearn eval --checkpoint hf://org/repo/model.safetensors --arch resnet18-cifar --data cifar10 --split s.json --json out.json";

#[derive(Args)]
pub(crate) struct EvalArgs {
    /// The model and the data it is read on.
    #[command(flatten)]
    pub(crate) input: crate::files::ModelOnData,
    /// Write JSON here (`-` for stdout).
    #[arg(long)]
    pub(crate) json: Option<String>,
    /// Device: cpu, cuda, cuda:N, auto.
    #[arg(long, default_value = "cpu")]
    pub(crate) device: String,
    /// Also extract features and compute every metric (MIA, DA, LP, NMI, F1).
    #[arg(long)]
    pub(crate) full: bool,
    /// With --full: reference (retrain) checkpoints to compute gaps against.
    #[arg(long = "reference", requires = "full")]
    pub(crate) references: Vec<String>,
}

/// The features of reference checkpoint `r` (a retrained model), each fed its own input
/// normalisation.
pub(crate) fn reference_features(
    r: &str,
    ds: &Dataset,
    manifest: &SplitManifest,
    device: &candle_core::Device,
    opts: &unlearn_features::ExtractOptions,
    on: OnMismatch,
) -> Result<unlearn_metrics::FeatureBundle> {
    let reference = ops::load_model(r, None, ds, device)?;
    ops::check_checkpoint(
        r,
        reference.meta.as_ref(),
        ds,
        manifest,
        ModelRole::Reference,
        on,
    )?;
    Ok(ops::extract_features(
        &reference.model,
        ds,
        manifest,
        opts,
        r,
    )?)
}

pub(crate) fn eval(a: EvalArgs, on: OnMismatch) -> Result<()> {
    let _claim = a
        .input
        .claim()
        .inputs(
            "--reference",
            a.references
                .iter()
                .filter_map(|r| files::local_checkpoint(r)),
        )
        .outputs("--json", a.json.iter())
        .acquire()?;
    let (ds, manifest) = a.input.load_data(on)?;
    let device = unlearn_models::device(&a.device)?;
    let loaded = a.input.load_model(&ds, &device)?;
    let ds = &ds;
    let model = &loaded.model;
    ops::check_checkpoint(
        &a.input.checkpoint,
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
        augmentation: ds.augmentation,
    };
    let bs = 500;
    let fa = engine::evaluate(model, &view(&train_images, &manifest.forget), bs)?;
    let ra = engine::evaluate(model, &view(&train_images, &manifest.retain), bs)?;
    let va = engine::evaluate(model, &view(&train_images, &manifest.val), bs)?;
    let ta = engine::evaluate(model, &view(&ds.test, &manifest.test), bs)?;
    let mut out = json!({
        "checkpoint": a.input.checkpoint,
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
        let bundle = ops::extract_features(model, ds, &manifest, &opts, &a.input.checkpoint)?;
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

pub(crate) fn print_eval(v: &serde_json::Value) {
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
