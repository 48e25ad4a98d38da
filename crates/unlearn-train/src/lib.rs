//! The training engine: optimisers with PyTorch semantics, learning-rate schedules, recipes
//! (the presets of the specification), the training loop and evaluation passes.
//!
//! Every model, method and command trains through [`engine::train`] or composes
//! [`engine::DataView::batch`], [`engine::backward_step`] and an [`optim::Optimizer`], so
//! there is one data pass, one optimiser and one divergence check in the project.
//!
//! Determinism: epoch order and augmentation draw from streams seeded by `(seed, epoch)`,
//! initial weights from `(seed, tensor name)`, so on the CPU the same seed gives the same
//! checkpoint bytes, and a run resumed from its saved state ends identical to one that was
//! never interrupted.
//!
//! # Example
//! ```
//! use candle_core::Device;
//! use unlearn_data::DataSource;
//! use unlearn_models::{Model, ModelSpec, Arch};
//! use unlearn_train::{engine, Recipe};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ds = DataSource::Embedded.load()?;
//! let spec = ModelSpec { arch: Arch::SmallCnn, input_shape: ds.input_shape(), num_classes: ds.num_classes };
//! // The model normalises the [0, 1] images it is given with the data's statistics.
//! let model = Model::new(&spec, &Device::Cpu, 0)?.with_normalization(Some(ds.normalization.clone()))?;
//! let mut recipe = Recipe::preset("quick")?;
//! recipe.epochs = 1;
//! let indices: Vec<u32> = (0..512).collect();
//! let data = engine::DataView { images: &ds.train, indices: &indices, augmentation: ds.augmentation };
//! let record = engine::train(&model, &data, &recipe, 0, Default::default())?;
//! assert_eq!(record.epochs.len(), 1);
//! let test: Vec<u32> = (0..200).collect();
//! let eval = engine::evaluate(&model, &engine::DataView { images: &ds.test, indices: &test, ..data }, 100)?;
//! assert!(eval.accuracy > 10.0);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod engine;
pub mod error;
pub mod optim;
pub mod overrides;
pub mod preset;
pub mod recipe;
pub mod schedule;
pub mod trace;

pub use engine::{
    evaluate, optimize_pass, train, DataView, Evaluation, PassOptions, PassSummary, RunOptions,
    Step, TrainRecord,
};
pub use error::{Result, TrainError};
pub use optim::{AdamWConfig, Optimizer, OptimizerConfig, SgdConfig};
pub use overrides::{OptimizerKind, RecipeOverrides};
pub use preset::Preset;
pub use recipe::Recipe;
pub use schedule::{LrSchedule, Schedule};
pub use trace::{StepInfo, Trace};
