//! Everything a method is given, and the helpers every method shares to drive the engine.

use std::cell::RefCell;
use std::collections::BTreeMap;

use candle_core::{Device, Tensor};
use unlearn_data::{Dataset, ImageSet, SplitManifest};
use unlearn_models::Model;
use unlearn_train::engine::{self, Batch, DataView, PassOptions, PassSummary, Step};
use unlearn_train::{Optimizer, OptimizerConfig, Recipe, SgdConfig, StepInfo, Trace};

use crate::error::{MethodError, Result};

/// The inputs of an unlearning run. Methods never modify `original`: they work on a copy.
#[derive(Clone, Copy)]
pub struct UnlearnContext<'a> {
    /// The model to unlearn from (`θ_o`), also the frozen teacher of distillation methods.
    pub original: &'a Model,
    /// The dataset (test set, normalisation, augmentation, class count).
    pub dataset: &'a Dataset,
    /// The training images as the original saw them
    /// ([`SplitManifest::poisoned_train`]: triggers stamped in for backdoor scenarios).
    pub train_images: &'a ImageSet,
    /// The split: forget, retain, validation and test indices.
    pub split: &'a SplitManifest,
    /// The preset's training recipe (`retrain` uses it; evaluation batch size for all).
    pub recipe: &'a Recipe,
    /// Seed of every random choice of the run (data order, augmentation, subsets, labels).
    pub seed: u64,
    /// Device to compute on (the original model's device).
    pub device: &'a Device,
    /// Draw progress bars on a terminal.
    pub progress: bool,
    /// At most this many forget and retain samples (seeded subsets) are evaluated after each
    /// epoch for the run record's `forget_acc` / `retain_acc`.
    pub monitor: usize,
    /// Where every optimiser step appends a line ([`unlearn_train::trace`]), when tracing.
    pub trace: Option<&'a RefCell<Trace>>,
}

/// One optimisation pass of a method: which samples, in which named random streams, as
/// which stage of the method's loop.
#[derive(Clone, Copy)]
pub struct Pass<'p> {
    /// Training-set indices to pass over.
    pub indices: &'p [u32],
    /// Names the pass's random streams: the order `(seed, "{purpose}/epoch-{epoch}")` and
    /// the augmentation `(seed, "{purpose}/augment-epoch-{epoch}")`.
    pub purpose: &'p str,
    /// The stage of the method's loop (the trace's `stage`: `retain`, `forget`, …).
    pub stage: &'p str,
    /// The 0-based epoch (or stream index) of the pass.
    pub epoch: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Per-parameter update masks (SalUn): 0 leaves the weight bit-identical.
    pub masks: Option<&'p BTreeMap<String, Tensor>>,
    /// Augment the batches with the dataset's training augmentation.
    pub augment: bool,
}

impl<'p> Pass<'p> {
    /// An augmented, unmasked pass.
    pub fn new(
        indices: &'p [u32],
        purpose: &'p str,
        stage: &'p str,
        epoch: usize,
        batch_size: usize,
    ) -> Self {
        Self {
            indices,
            purpose,
            stage,
            epoch,
            batch_size,
            masks: None,
            augment: true,
        }
    }

    /// The same pass with update masks.
    pub fn masked(self, masks: Option<&'p BTreeMap<String, Tensor>>) -> Self {
        Self { masks, ..self }
    }

    /// The same pass without augmentation.
    pub fn unaugmented(self) -> Self {
        Self {
            augment: false,
            ..self
        }
    }
}

impl<'a> UnlearnContext<'a> {
    /// A context with the original's device, no progress bars and monitor sets of 1,000.
    pub fn new(
        original: &'a Model,
        dataset: &'a Dataset,
        train_images: &'a ImageSet,
        split: &'a SplitManifest,
        recipe: &'a Recipe,
        seed: u64,
    ) -> Self {
        Self {
            original,
            dataset,
            train_images,
            split,
            recipe,
            seed,
            device: original.device(),
            progress: false,
            monitor: 1000,
            trace: None,
        }
    }

    /// Checks that the pieces fit together (model vs data, split vs images).
    pub fn check(&self) -> Result<()> {
        let spec = self.original.spec();
        let ds = self.dataset;
        if spec.input_shape != ds.input_shape() || spec.num_classes != ds.num_classes {
            return Err(MethodError::Mismatch(format!(
                "the model takes {:?} inputs with {} classes, the data has {:?} with {} classes",
                spec.input_shape,
                spec.num_classes,
                ds.input_shape(),
                ds.num_classes
            )));
        }
        let n = self.train_images.len();
        for (name, list) in [
            ("forget", &self.split.forget),
            ("retain", &self.split.retain),
            ("val", &self.split.val),
        ] {
            if let Some(&i) = list.iter().find(|&&i| i as usize >= n) {
                return Err(MethodError::Mismatch(format!(
                    "split index {i} of the {name} set is out of range for {n} training images"
                )));
            }
        }
        if self.split.forget.is_empty() {
            return Err(MethodError::EmptySet {
                method: "unlearning".into(),
                what: "forget set".into(),
            });
        }
        Ok(())
    }

    /// A view of the training images at `indices`.
    pub fn view<'b>(&'b self, indices: &'b [u32]) -> DataView<'b> {
        DataView {
            images: self.train_images,
            indices,
            augmentation: self.dataset.augmentation,
        }
    }

    /// The retain samples a method may use: all of them for `fraction = 1`, otherwise a
    /// seeded subset of `round(fraction · |D_r|)` (at least one).
    pub fn retain_budget(&self, method: &str, fraction: f64) -> Result<Vec<u32>> {
        let retain = &self.split.retain;
        if retain.is_empty() {
            return Err(MethodError::EmptySet {
                method: method.into(),
                what: "retain set".into(),
            });
        }
        if fraction >= 1.0 {
            return Ok(retain.clone());
        }
        let k = ((fraction * retain.len() as f64).round() as usize).clamp(1, retain.len());
        let mut rng = unlearn_data::rng::seeded(self.seed, "retain-budget");
        Ok(unlearn_data::rng::sample_sorted(retain, k, &mut rng).unwrap_or_default())
    }

    /// A fresh working copy of the original model.
    pub fn working_copy(&self) -> Result<Model> {
        Ok(self.original.deep_clone()?)
    }

    /// SGD (PyTorch semantics) over the named parameters.
    pub fn sgd(
        &self,
        params: Vec<(String, candle_core::Var)>,
        config: SgdConfig,
    ) -> Result<Optimizer> {
        self.sgd_clipped(params, config, 0.0)
    }

    /// [`Self::sgd`] with global-norm gradient clipping at `clip_grad_norm` (0 = off).
    pub fn sgd_clipped(
        &self,
        params: Vec<(String, candle_core::Var)>,
        config: SgdConfig,
        clip_grad_norm: f64,
    ) -> Result<Optimizer> {
        Ok(Optimizer::new(
            OptimizerConfig::Sgd(config),
            params,
            (clip_grad_norm > 0.0).then_some(clip_grad_norm),
        )?)
    }

    /// The order of a pass: `indices` shuffled by the stream `(seed, "{purpose}/epoch-{epoch}")`.
    pub fn order(&self, indices: &[u32], purpose: &str, epoch: usize) -> Vec<u32> {
        let mut rng = unlearn_data::rng::seeded(self.seed, &format!("{purpose}/epoch-{epoch}"));
        unlearn_data::rng::shuffled(indices, &mut rng)
    }

    /// One optimisation pass of `model` (shuffled and augmented with the streams `plan`
    /// names), through [`engine::optimize_pass`], traced when the context has a trace.
    pub fn pass<F>(
        &self,
        model: &Model,
        optimizer: &mut Optimizer,
        plan: Pass<'_>,
        objective: F,
    ) -> Result<PassSummary>
    where
        F: FnMut(&Batch, &mut StepInfo) -> unlearn_train::Result<Step>,
    {
        let order = self.order(plan.indices, plan.purpose, plan.epoch);
        self.pass_in_order(model, optimizer, plan, &order, objective)
    }

    /// The loop of a method whose epoch is one pass and nothing else: for each of `epochs`
    /// epochs, [`Self::pass`] with `plan` at that epoch, then the epoch's log in `rec` under
    /// `log_stage`. `objective` also gets the 0-based epoch.
    #[allow(clippy::too_many_arguments)]
    pub fn epochs<F>(
        &self,
        rec: &mut crate::record::Recorder,
        model: &Model,
        optimizer: &mut Optimizer,
        plan: Pass<'_>,
        epochs: usize,
        log_stage: &str,
        mut objective: F,
    ) -> Result<()>
    where
        F: FnMut(usize, &Batch, &mut StepInfo) -> unlearn_train::Result<Step>,
    {
        for epoch in 0..epochs {
            let pass = self.pass(model, optimizer, Pass { epoch, ..plan }, |b, info| {
                objective(epoch, b, info)
            })?;
            rec.log(self, model, epoch + 1, log_stage, &pass)?;
        }
        Ok(())
    }

    /// [`Self::pass`] over `order` as given (the caller shuffled it).
    pub fn pass_in_order<F>(
        &self,
        model: &Model,
        optimizer: &mut Optimizer,
        plan: Pass<'_>,
        order: &[u32],
        objective: F,
    ) -> Result<PassSummary>
    where
        F: FnMut(&Batch, &mut StepInfo) -> unlearn_train::Result<Step>,
    {
        let mut rng = unlearn_data::rng::seeded(
            self.seed,
            &format!("{}/augment-epoch-{}", plan.purpose, plan.epoch),
        );
        let pb = engine::progress_bar(
            order.len().div_ceil(plan.batch_size.max(1)) as u64,
            plan.purpose,
            self.progress,
        );
        let view = self.view(plan.indices);
        let mut trace = self.trace.map(|t| t.borrow_mut());
        let summary = engine::optimize_pass(
            model,
            optimizer,
            &view,
            order,
            PassOptions {
                batch_size: plan.batch_size,
                epoch: plan.epoch,
                augment: plan.augment.then_some(&mut rng),
                masks: plan.masks,
                progress: Some(&pb),
                stage: plan.stage,
                trace: trace.as_deref_mut(),
            },
            objective,
        )?;
        pb.finish_and_clear();
        engine::check_weights_bounded(model, plan.epoch, crate::WEIGHT_LIMIT)?;
        Ok(summary)
    }

    /// Accuracy (percent, eval mode) of `model` on the training images at `indices`.
    pub fn accuracy(&self, model: &Model, indices: &[u32]) -> Result<f64> {
        Ok(engine::evaluate(
            model,
            &self.view(indices),
            self.recipe.eval_batch_size.max(1),
        )?
        .accuracy)
    }
}
