//! What an unlearning run did: the [`RunRecord`] and the [`Recorder`] methods write into.

use serde::{Deserialize, Serialize};
use unlearn_models::Model;
use unlearn_train::engine::{self, DataView, PassSummary};

use crate::context::UnlearnContext;
use crate::error::Result;

/// One line of a run's progress: an epoch, or one stage of an epoch for methods with stages.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpochLog {
    /// Epoch (1-based; 0 = the model before unlearning).
    pub epoch: usize,
    /// Stage: `start`, `train`, `forget`, `recover`, `max`, `min`, …
    pub stage: String,
    /// Sample-weighted mean objective of the stage's steps (`None` when no step was taken).
    pub loss: Option<f64>,
    /// Optimiser steps in this stage.
    pub steps: usize,
    /// Accuracy (percent, eval mode) on the forget monitor set after the stage.
    pub forget_acc: Option<f64>,
    /// Accuracy (percent, eval mode) on the retain monitor set after the stage.
    pub retain_acc: Option<f64>,
    /// Whether a stopping rule ended the stage early.
    #[serde(default)]
    pub stopped_early: bool,
}

/// What an unlearning run did, written as JSON next to the unlearned checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    /// Method id.
    pub method: String,
    /// Preset whose defaults the parameters started from.
    pub preset: String,
    /// The hyper-parameters used (after overrides).
    pub params: serde_json::Value,
    /// Seed of every random choice of the run.
    pub seed: u64,
    /// The split's scenario.
    pub scenario: String,
    /// Content hash of the split manifest.
    pub split_sha256: String,
    /// The original checkpoint, when known.
    pub original: Option<String>,
    /// Optimiser steps taken.
    pub steps: u64,
    /// Wall-clock seconds of the unlearning run (the RTE metric).
    pub seconds: f64,
    /// Samples in the forget and retain monitor sets used for `forget_acc` / `retain_acc`.
    pub monitor: [usize; 2],
    /// Progress, one entry per epoch or stage.
    pub epochs: Vec<EpochLog>,
    /// Remarks of the method (mask sizes, stopping-rule targets, …).
    pub notes: Vec<String>,
    /// `Some(error)` when the run failed (no checkpoint is written then).
    pub failed: Option<String>,
}

/// Collects a run's progress; methods call [`Recorder::log`] after each epoch or stage.
pub struct Recorder {
    pub(crate) forget_monitor: Vec<u32>,
    pub(crate) retain_monitor: Vec<u32>,
    pub(crate) eval_batch_size: usize,
    pub(crate) epochs: Vec<EpochLog>,
    pub(crate) notes: Vec<String>,
    pub(crate) steps: u64,
}

impl Recorder {
    /// A recorder whose monitor sets are seeded subsets of at most `ctx.monitor` forget and
    /// retain samples.
    pub fn new(ctx: &UnlearnContext) -> Self {
        let pick = |set: &[u32], purpose: &str| {
            let k = ctx.monitor.min(set.len());
            let mut rng = unlearn_data::rng::seeded(ctx.seed, purpose);
            unlearn_data::rng::sample_sorted(set, k, &mut rng).unwrap_or_default()
        };
        Self {
            forget_monitor: pick(&ctx.split.forget, "monitor/forget"),
            retain_monitor: pick(&ctx.split.retain, "monitor/retain"),
            eval_batch_size: ctx.recipe.eval_batch_size.max(1),
            epochs: Vec::new(),
            notes: Vec::new(),
            steps: 0,
        }
    }

    fn accuracy(
        &self,
        ctx: &UnlearnContext,
        model: &Model,
        indices: &[u32],
    ) -> Result<Option<f64>> {
        if indices.is_empty() {
            return Ok(None);
        }
        let view = DataView {
            images: ctx.train_images,
            indices,
            normalization: &ctx.dataset.normalization,
            augmentation: ctx.dataset.augmentation,
        };
        Ok(Some(
            engine::evaluate(model, &view, self.eval_batch_size)?.accuracy,
        ))
    }

    /// Forget and retain monitor accuracies of `model`.
    pub fn accuracies(
        &self,
        ctx: &UnlearnContext,
        model: &Model,
    ) -> Result<(Option<f64>, Option<f64>)> {
        Ok((
            self.accuracy(ctx, model, &self.forget_monitor)?,
            self.accuracy(ctx, model, &self.retain_monitor)?,
        ))
    }

    /// Records one epoch or stage of `model` (measuring the monitor accuracies now).
    pub fn log(
        &mut self,
        ctx: &UnlearnContext,
        model: &Model,
        epoch: usize,
        stage: &str,
        pass: &PassSummary,
    ) -> Result<()> {
        let (forget_acc, retain_acc) = self.accuracies(ctx, model)?;
        self.steps += pass.steps as u64;
        self.epochs.push(EpochLog {
            epoch,
            stage: stage.to_string(),
            loss: pass.mean_loss.is_finite().then_some(pass.mean_loss),
            steps: pass.steps,
            forget_acc,
            retain_acc,
            stopped_early: pass.stopped,
        });
        Ok(())
    }

    /// Records an epoch measured elsewhere (the retrain method's engine run).
    pub fn log_external(&mut self, entry: EpochLog) {
        self.steps += entry.steps as u64;
        self.epochs.push(entry);
    }

    /// Adds a remark to the record.
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    /// Steps recorded so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }
}
