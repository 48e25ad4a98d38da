use serde::{Deserialize, Serialize};
use unlearn_models::Model;
use unlearn_train::engine::{self, RunOptions};

use crate::context::UnlearnContext;
use crate::error::Result;
use crate::params::{Check, Params, Preset, ScenarioKind};
use crate::record::{EpochLog, Recorder};
use crate::Method;

crate::methods::params_struct! {
    /// `retrain` — the oracle: a fresh model (initialised from the run's seed) trained from
    /// scratch on the retain set with the preset's full recipe ([`unlearn_train::engine::train`]).
    /// With the same preset and seed it is byte-identical to
    /// `unlearn train --subset retain --seed S`.
    ///
    /// Source: the gold standard of every unlearning paper (e.g. Bourtoule et al., "Machine
    /// Unlearning", IEEE S&P 2021).
    ///
    /// Parameters (defaults = the preset's recipe): `epochs` (`quick`: 8, `fmnist`: 15,
    /// `cifar10`/`cifar100`: 182), `lr` (0.05 / 0.05 / 0.1), `batch_size` (128 / 128 / 256). The
    /// optimiser, schedule and augmentation are the recipe's.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct RetrainParams {
        epochs: usize = "epochs of the recipe",
        lr: f64 = "base learning rate of the recipe (its optimiser and schedule otherwise)",
        batch_size: usize = "mini-batch size",
    }
}

impl Params for RetrainParams {
    const ID: &'static str = "retrain";
    const SUMMARY: &'static str =
        "the oracle: train from scratch on the retain set with the preset's recipe";
    const PAPER: &'static str =
        "Bourtoule et al., Machine Unlearning, IEEE S&P 2021 (exact unlearning)";

    fn defaults(preset: Preset, _scenario: ScenarioKind) -> Self {
        let r = preset.recipe();
        Self {
            epochs: r.epochs,
            lr: r.optimizer.lr(),
            batch_size: r.batch_size,
        }
    }
}

impl Method for RetrainParams {
    crate::methods::method_common!();

    fn validate(&self) -> Result<()> {
        Check(Self::ID)
            .at_least("epochs", self.epochs, 1)?
            .positive("lr", self.lr)?
            .at_least("batch_size", self.batch_size, 1)?;
        Ok(())
    }

    fn unlearn(&self, ctx: &UnlearnContext, rec: &mut Recorder) -> Result<Model> {
        // Trained from scratch on the same inputs: the original's input normalisation.
        let model = Model::new(ctx.original.spec(), ctx.device, ctx.seed)?
            .with_normalization(ctx.original.normalization().cloned())?;
        let mut recipe = ctx.recipe.clone();
        recipe.epochs = self.epochs;
        recipe.batch_size = self.batch_size;
        recipe.optimizer.set_lr(self.lr);
        let retain = &ctx.split.retain;
        let view = ctx.view(retain);
        let record = engine::train(
            &model,
            &view,
            &recipe,
            ctx.seed,
            RunOptions {
                progress: ctx.progress,
                ..Default::default()
            },
        )?;
        engine::check_weights_bounded(&model, self.epochs, crate::WEIGHT_LIMIT)?;
        let steps = retain.len().div_ceil(self.batch_size);
        let last = record.epochs.len();
        for e in &record.epochs {
            let (forget_acc, retain_acc) = if e.epoch == last {
                rec.accuracies(ctx, &model)?
            } else {
                (None, None)
            };
            rec.log_external(EpochLog {
                epoch: e.epoch,
                stage: "train".into(),
                loss: e.loss.is_finite().then_some(e.loss),
                steps,
                forget_acc,
                retain_acc,
                stopped_early: false,
            });
        }
        Ok(model)
    }
}
