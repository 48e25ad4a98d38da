//! The operations every front end shares: loading, training, unlearning, measuring,
//! importing. The `unlearn` subcommands, the hyper-parameter search (`unlearn-tune`) and the
//! study's steps (`unlearn-pipeline`) call these, so there is one loader (paths, `hf://`,
//! `model:<id>`, `--arch`/`--normalize`), one shape check, one ASR, one reference-metrics
//! cache and one set of provenance checks ([`OnMismatch`] decides between refusing and
//! warning, `--force`).
//!
//! Every operation returns [`Result`], whose error is [`OpsError`].
//!
//! # Example
//! Load the embedded Fashion-MNIST subset, a split of it and a checkpoint (the shape and
//! provenance checks run on the way):
//! ```no_run
//! use std::path::Path;
//!
//! use unlearn_ops::{load_dataset, load_model, load_split, OnMismatch};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ds = load_dataset("embedded")?;
//! let manifest = load_split(Path::new("split.json"), &ds, OnMismatch::Refuse)?;
//! let loaded = load_model("original.safetensors", None, &ds, &candle_core::Device::Cpu)?;
//! println!(
//!     "{} forget examples, model expects {:?}",
//!     manifest.forget.len(),
//!     loaded.model.spec().input_shape
//! );
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod error;
mod forget;
mod given;
mod import;
mod load;
mod measure;
mod oracle_test;
mod provenance;
mod train;

pub use error::{OpsError, Result};
pub use forget::{
    check_method, forget_checkpoint, preset_of_original, record_path, unlearn_model, ForgetJob,
    ForgetOutcome,
};
pub use given::{describe_given, given_models, GivenModel, GivenModels, GivenRequest};
pub use import::{import_checkpoint, ImportJob, ImportReport};
pub use load::{
    check_fits, load_dataset, load_model, load_model_with, load_split, resolve_source, LoadOptions,
    LoadedModel, ModelSource,
};
pub use measure::{
    compared, extract_features, measure_bundles, measure_files, metrics_config, metrics_json,
    reference_cache_path, reference_report, save_features, write_plot_data,
};
pub use oracle_test::oracle_test_files;
pub use provenance::{
    check_bundle_split, check_bundles_agree, check_checkpoint, check_scenario, ModelRole,
    OnMismatch,
};
pub use train::{
    logged_train_seconds, state_path, train_checkpoint, Subset, TrainJob, TrainSummary,
};
pub use unlearn_features::backdoor_asr;
