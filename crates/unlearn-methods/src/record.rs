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

    /// When the forget monitor accuracy ended within [`STALLED_POINTS`] of where it started,
    /// a note that says so and why that may be: how many steps the run took on the forget set
    /// (stages `forget` and `max`) and how many batches one pass over it is. A forget set
    /// smaller than a few batches gives an epoch-based method a step or two per epoch — what
    /// defaults tuned on a larger forget set do not foresee.
    pub fn stalled_note(&self, forget_len: usize, batch_size: usize) -> Option<String> {
        let start = self.epochs.first()?.forget_acc?;
        let end = self.epochs.last()?.forget_acc?;
        if self.epochs.len() < 2 || (end - start).abs() >= STALLED_POINTS {
            return None;
        }
        let forget_steps: usize = self
            .epochs
            .iter()
            .filter(|e| matches!(e.stage.as_str(), "forget" | "max"))
            .map(|e| e.steps)
            .sum();
        let batches = forget_len.div_ceil(batch_size.max(1));
        Some(format!(
            "forget accuracy did not move: {start:.2}% at the start, {end:.2}% at the end \
             (monitor set), after {} steps, {forget_steps} of them on the forget set; one pass \
             over the {forget_len} forget samples is {batches} batch(es) of {batch_size}. If \
             this is too little, raise the epochs (or MUDA's forget_stage_steps) or lower \
             batch_size (`unlearn tune` searches them).",
            self.steps
        ))
    }
}

/// A forget accuracy that moved less than this many percent points counts as not moved.
pub const STALLED_POINTS: f64 = 0.5;

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(stage: &str, steps: usize, forget_acc: f64) -> EpochLog {
        EpochLog {
            epoch: 0,
            stage: stage.into(),
            loss: None,
            steps,
            forget_acc: Some(forget_acc),
            retain_acc: Some(95.0),
            stopped_early: false,
        }
    }

    fn recorder(epochs: Vec<EpochLog>) -> Recorder {
        Recorder {
            forget_monitor: Vec::new(),
            retain_monitor: Vec::new(),
            eval_batch_size: 1,
            steps: epochs.iter().map(|e| e.steps as u64).sum(),
            epochs,
            notes: Vec::new(),
        }
    }

    #[test]
    fn a_run_whose_forget_accuracy_did_not_move_says_why() {
        let stalled = recorder(vec![
            entry("start", 0, 100.0),
            entry("forget", 1, 100.0),
            entry("recover", 3, 99.8),
        ]);
        let note = stalled.stalled_note(65, 128).unwrap_or_default();
        assert!(note.starts_with("forget accuracy did not move: 100.00% at the start, 99.80%"));
        assert!(!note.contains("  "), "{note}");
        assert!(
            note.contains("after 4 steps, 1 of them on the forget set"),
            "{note}"
        );
        assert!(
            note.contains("the 65 forget samples is 1 batch(es) of 128"),
            "{note}"
        );
        let moved = recorder(vec![entry("start", 0, 100.0), entry("forget", 8, 92.0)]);
        assert_eq!(moved.stalled_note(900, 128), None);
        assert_eq!(
            recorder(vec![entry("start", 0, 100.0)]).stalled_note(9, 1),
            None
        );
    }
}
