//! The unlearning study as a library: what `cargo xtask reproduce` and `unlearn reproduce`
//! run, callable from Rust.
//!
//! - [`plan`]: a typed request ([`StudyConfig`]: preset, data, scenarios, methods with
//!   ablations, seeds) resolved into a [`Plan`].
//! - [`step`]: the plan expanded into steps (split, original, retrain, forget, features,
//!   metrics) with explicit inputs, outputs and content keys.
//! - [`store`]: the content-addressed artefact store (key sidecars, atomic writes, per-step
//!   locks, resume after `kill -9`).
//! - [`exec`]: the executor seam: [`exec::StepRunner`] runs one step; [`exec::Executor`]
//!   decides where ([`exec::InProcess`]: one after another in this process).
//! - [`cluster`]: the executors that run study steps elsewhere: a local pool of worker
//!   processes (what `reproduce` uses on a CPU with several cores, [`cluster::Jobs`]) and
//!   Slurm jobs, each worker running one step (`--run-step <id>`). They stay in this crate
//!   because what they execute is a study step of this crate's plan and store.
//! - [`records`] and [`study`]: typed result records and the report ([`unlearn_report`]).
//!
//! The steps call the operations every front end shares (one loader, one shape check, one
//! ASR, one reference-metrics cache) from [`unlearn_ops`], and a study's `--tune` steps the
//! hyper-parameter search of [`unlearn_tune`]; both are re-exported here as [`ops`] and
//! [`tune`]. Their errors reach [`PipelineError`] unchanged (`Ops`, `Tune`).
//!
//! # Example
//! A one-seed study of two methods on the embedded Fashion-MNIST subset, one epoch per
//! training (a smoke run; drop `epochs_cap` for the preset's numbers):
//! ```no_run
//! use unlearn_pipeline::{exec::InProcess, Preset, Study, StudyConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut cfg = StudyConfig::new(Preset::Quick, "target/study");
//! cfg.scenarios = vec!["random:0.1".parse()?];
//! cfg.methods = Some(vec!["ft".into(), "muda".into()]);
//! cfg.epochs_cap = Some(1);
//! let outcome = Study::prepare(&cfg)?.run(&mut InProcess, "example")?;
//! for r in &outcome.records {
//!     let gap = r.metrics.as_ref().and_then(|m| m["avg_gap_output"].as_f64());
//!     println!("{:<10} output gap {gap:?}", r.method);
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod cluster;
pub mod cost;
pub mod error;
pub mod exec;
pub mod plan;
pub mod progress;
pub mod records;
pub mod run;
pub mod step;
pub mod store;
pub mod study;

/// The shared operations, from their own crate ([`unlearn_ops`]).
pub use unlearn_ops as ops;
/// The hyper-parameter search, from its own crate ([`unlearn_tune`]).
pub use unlearn_tune as tune;

pub use error::{PipelineError, Result};
pub use plan::{GivenModel, Plan, StudyConfig, ABLATIONS};
pub use run::{run_reproduce, ReproduceRequest};
pub use step::{Step, StepKind, Steps};
pub use store::Store;
pub use study::{Study, StudyOutcome};
pub use unlearn_report::ResultRecord;
pub use unlearn_train::Preset;
