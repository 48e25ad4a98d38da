//! Unlearning methods: MUDA and the eleven methods it is compared with, behind one interface.
//!
//! # Design
//! - A method is a typed, validated parameter struct implementing [`Method`] (run it) and
//!   [`Params`] (its id, one-line summary, source paper and its defaults by preset and
//!   scenario kind, [`Params::defaults`], typed values in the method's own file). Each
//!   field's documentation is written once, next to the field, and is both its rustdoc and
//!   its line in `unlearn methods` ([`params::FieldDocs`]). [`registry`] lists them by id
//!   (spec §4): `retrain`, `ft`, `ga`, `neggrad+`, `rl`, `bs`, `be`, `l1`, `salun`, `scrub`,
//!   `head-only`, `muda`.
//! - Overrides come from a TOML file and `--set key=value` items ([`Overrides`]); a key must
//!   be a field of the method's struct and a value must parse as its type, and the struct is
//!   validated as a whole, so a typo fails before any work is done.
//! - Closed choices (`mask_scope`, `stop_target`) are enums written as their text
//!   ([`choice`]), and the SGD settings the gradient methods share are one flattened
//!   [`SgdParams`]: listings, records and `--set` keys are the flat strings and numbers they
//!   always were.
//! - Every method trains through the engine's one loop, [`unlearn_train::engine::optimize_pass`]
//!   (via [`UnlearnContext::pass`]): the method only supplies the per-batch objective
//!   (ascent, relabelling, distillation, the DA regulariser, …). Optimiser, data order,
//!   augmentation, update masks and divergence checks are the engine's.
//! - [`run`] wraps a method: it checks the inputs, times the run, records per-epoch loss and
//!   forget/retain accuracies in a [`RunRecord`], and on divergence (non-finite loss, weights
//!   non-finite or above [`WEIGHT_LIMIT`]) returns the error together with a record whose
//!   `failed` is set, and no model.
//! - Determinism: every random choice (data order, augmentation, retain budgets, random
//!   labels, reference sets) draws from `unlearn_data::rng::seeded(seed, purpose)`; on the CPU
//!   the same inputs and seed give the same bytes.
//!
//! # Adding a method
//! One new file and one registry line:
//! 1. `src/methods/<name>.rs` (declared with `mod` and re-exported in `src/methods/mod.rs`):
//!    the parameter struct written with `params_struct!` (each field with its type and its
//!    one-line documentation), `impl Params` (id, summary, paper, `defaults` for every
//!    [`Preset`](params::Preset) and [`ScenarioKind`], optionally a search space) and
//!    `impl Method` (`validate` and `unlearn`).
//! 2. One `entry::<NameParams>()` line in the registry's list (`src/registry.rs`), at the
//!    place the listing should show it; [`METHOD_IDS`], `--method`, `unlearn methods` and
//!    `--config` sections derive from it.
//!
//! The resolved defaults (`tests/resolved_defaults.rs`) then need regenerating, on purpose:
//! see its module docs. A study's step keys hash a method's [`MethodIdentity`] (id,
//! [`Params::VERSION`], resolved defaults), never its listing text: raise `VERSION` when a
//! change to the loop changes what a run computes.
//!
//! # Example
//! ```
//! use unlearn_data::{make_split, DataSource, SplitConfig};
//! use unlearn_methods::{registry, run, Overrides, UnlearnContext};
//! use unlearn_models::{Arch, Model, ModelSpec};
//! use unlearn_train::Recipe;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ds = DataSource::Embedded.load()?;
//! let cfg = SplitConfig { scenario: "random:0.1".parse()?, seed: 0, val_fraction: 0.1 };
//! let mut split = make_split(&ds, &cfg)?;
//! split.forget.truncate(64); // keep the example fast
//! split.retain.truncate(128);
//! let images = split.poisoned_train(&ds);
//! let spec = ModelSpec { arch: Arch::SmallCnn, input_shape: ds.input_shape(), num_classes: ds.num_classes };
//! // Normally a trained checkpoint; a model normalises its [0, 1] inputs itself.
//! let original = Model::new(&spec, &candle_core::Device::Cpu, 0)?
//!     .with_normalization(Some(ds.normalization.clone()))?;
//! let recipe = Recipe::preset("quick")?;
//! let mut ctx = UnlearnContext::new(&original, &ds, &images, &split, &recipe, 0);
//! ctx.monitor = 64;
//!
//! let method = registry::build("ga", "quick", &Overrides::sets(&["epochs=1", "lr=1e-3"])?)?;
//! let out = run(&method, &ctx)?;
//! assert_eq!(out.record.method, "ga");
//! assert_eq!(out.record.params["lr"], 1e-3);
//! assert!(out.record.failed.is_none());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod choice;
pub mod context;
pub mod error;
pub mod losses;
pub mod methods;
pub mod params;
pub mod record;
pub mod registry;
pub mod space;

use std::time::Instant;

use unlearn_models::Model;

pub use choice::{Choice, ChoiceError};
pub use context::{Pass, UnlearnContext};
pub use error::{MethodError, Result};
pub use methods::{
    BeParams, BsParams, DaForm, DaOn, FtParams, GaParams, HeadOnlyParams, L1Params, MaskScope,
    MudaParams, NegGradPlusParams, RetrainParams, RlParams, SalUnParams, ScrubParams, StopTarget,
};
pub use params::{
    configure, set_param, MethodTrait, Overrides, ParamInfo, Params, ScenarioKind, SgdParams,
};
pub use record::{EpochLog, Recorder, RunRecord};
pub use registry::{build, identity, methods as list, MethodIdentity, MethodInfo, METHOD_IDS};
pub use space::{Dim, Range, Space, Span};

/// Weights larger than this in magnitude count as diverged ("exploding weights").
pub const WEIGHT_LIMIT: f64 = 1e6;

/// An unlearning method with its hyper-parameters.
pub trait Method {
    /// The method id (`muda`, `salun`, …).
    fn id(&self) -> &'static str;

    /// The hyper-parameters as JSON (written into the run record and checkpoint metadata).
    fn params_json(&self) -> serde_json::Value;

    /// Checks every hyper-parameter's range.
    fn validate(&self) -> Result<()>;

    /// Produces the unlearned model from `ctx` (never modifying `ctx.original`), logging
    /// progress into `rec`. Use [`run`] rather than calling this directly.
    fn unlearn(&self, ctx: &UnlearnContext, rec: &mut Recorder) -> Result<Model>;
}

impl<M: Method + ?Sized> Method for Box<M> {
    fn id(&self) -> &'static str {
        (**self).id()
    }
    fn params_json(&self) -> serde_json::Value {
        (**self).params_json()
    }
    fn validate(&self) -> Result<()> {
        (**self).validate()
    }
    fn unlearn(&self, ctx: &UnlearnContext, rec: &mut Recorder) -> Result<Model> {
        (**self).unlearn(ctx, rec)
    }
}

/// A method whose parameters passed [`Method::validate`]: what [`run`] takes, so a run
/// never checks its values twice and never runs unchecked ones. [`registry::build`] and
/// [`configure`] return it; [`Checked::new`] checks a method built by hand.
#[derive(Clone, Debug)]
pub struct Checked<M>(M);

impl<M: Method> Checked<M> {
    /// `method`, once its parameters are checked.
    pub fn new(method: M) -> Result<Self> {
        method.validate()?;
        Ok(Self(method))
    }

    /// The method, unchecked again (for changing it; [`Checked::new`] checks it anew).
    pub fn into_inner(self) -> M {
        self.0
    }
}

impl<M: Method + 'static> Checked<M> {
    /// The checked method behind a trait object (still checked: the values are the same).
    pub fn boxed(self) -> CheckedMethod {
        Checked(Box::new(self.0))
    }
}

impl<M> std::ops::Deref for Checked<M> {
    type Target = M;
    fn deref(&self) -> &M {
        &self.0
    }
}

/// Any checked method, as [`registry::build`] returns it.
pub type CheckedMethod = Checked<Box<dyn Method>>;

/// A finished run: the unlearned model and what was done.
pub struct Unlearned {
    /// `θ_u`.
    pub model: Model,
    /// The run record (`failed` is `None`).
    pub record: RunRecord,
}

/// A failed run: the error and the record, marked failed.
#[derive(Debug, thiserror::Error)]
#[error("{method} failed: {error}", method = record.method)]
pub struct RunFailure {
    /// What went wrong.
    pub error: MethodError,
    /// The record up to the failure, with `failed` set.
    pub record: RunRecord,
}

/// Runs the checked `method` on `ctx`: checks the inputs, measures the original on the monitor sets
/// (epoch 0), runs the method, checks the result's weights, and times everything.
pub fn run<M: Method>(
    method: &Checked<M>,
    ctx: &UnlearnContext,
) -> std::result::Result<Unlearned, Box<RunFailure>> {
    let method: &M = method;
    let start = Instant::now();
    let mut record = RunRecord {
        method: method.id().to_string(),
        preset: ctx.recipe.preset.clone(),
        params: method.params_json(),
        seed: ctx.seed,
        scenario: ctx.split.scenario.to_string(),
        split_sha256: ctx.split.content_hash(),
        original: None,
        steps: 0,
        seconds: 0.0,
        monitor: [0, 0],
        epochs: Vec::new(),
        notes: Vec::new(),
        failed: None,
    };
    let mut rec = None;
    let result = (|| -> Result<Model> {
        ctx.check()?;
        let r = rec.insert(Recorder::new(ctx));
        let (forget_acc, retain_acc) = r.accuracies(ctx, ctx.original)?;
        r.log_external(EpochLog {
            epoch: 0,
            stage: "start".into(),
            loss: None,
            steps: 0,
            forget_acc,
            retain_acc,
            stopped_early: false,
        });
        let model = method.unlearn(ctx, r)?;
        unlearn_train::engine::check_weights_bounded(&model, 0, WEIGHT_LIMIT)?;
        let batch_size = method.params_json()["batch_size"]
            .as_u64()
            .unwrap_or(ctx.recipe.batch_size as u64) as usize;
        if let Some(note) = r.stalled_note(ctx.split.forget.len(), batch_size) {
            r.note(note);
        }
        Ok(model)
    })();
    record.seconds = start.elapsed().as_secs_f64();
    if let Some(r) = rec {
        record.steps = r.steps;
        record.monitor = [r.forget_monitor.len(), r.retain_monitor.len()];
        record.epochs = r.epochs;
        record.notes = r.notes;
    }
    match result {
        Ok(model) => Ok(Unlearned { model, record }),
        Err(error) => {
            record.failed = Some(error.to_string());
            Err(Box::new(RunFailure { error, record }))
        }
    }
}
