use std::collections::{BTreeMap, HashMap};

use candle_core::Tensor;
use rand::Rng;
use serde::{Deserialize, Serialize};
use unlearn_models::Model;
use unlearn_train::engine::Step;

use crate::choice::text_choice;
use crate::context::{Pass, UnlearnContext};
use crate::error::Result;
use crate::losses::{ce, relabel};
use crate::params::{batch_size, Check, MethodTrait, Params, Preset, ScenarioKind, SgdParams};
use crate::record::Recorder;
use crate::space::Span;
use crate::Method;

crate::methods::params_struct! {
    /// `rl` — random labels: fine-tune with random targets for the forget samples and true
    /// labels for the retain samples.
    ///
    /// Source: Golatkar et al., "Eternal Sunshine of the Spotless Net", CVPR 2020; Graves et al.,
    /// "Amnesiac Machine Learning", AAAI 2021; the RL baseline of SalUn (Fan et al., ICLR 2024).
    /// The default loop is OPTML-Group/Unlearn-Saliency at a6e89fd,
    /// `Classification/unlearn/RL.py` lines 109-176 (the cifar10/svhn branch): each epoch runs
    /// all forget batches first, each with targets `randint(0, C)` drawn afresh for the batch
    /// (the true class included), then all retain batches with their true labels. The same
    /// file's cifar100/TinyImageNet branch (lines 51-107: targets drawn once per epoch, forget
    /// and retain shuffled together) is `labels = per_epoch, order = mixed`; this toolkit's
    /// earlier behaviour (one wrong label per sample for the whole run, mixed) is
    /// `labels = fixed_wrong, order = mixed`.
    ///
    /// Parameters: `epochs` = 2, `lr` = 0.01, `momentum` = 0.9, `weight_decay` = 5e-4,
    /// `batch_size` = 128, `retain_budget` = 1.0, `labels` = per_batch, `order` = forget_first.
    /// `cifar10`/`cifar100`: 10 epochs, batch 256.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct RlParams {
        epochs: usize = "epochs (each: the forget batches and the retain batches)",
        #[serde(flatten)]
        sgd: SgdParams = flatten,
        retain_budget: f64 = "share of the retain set used (seeded subset; the study's shared \
            budget)",
        labels: RandomLabels = "forget targets: per_batch (uniform over all classes, redrawn every \
            batch), per_epoch (redrawn every epoch) or fixed_wrong (one wrong class per sample)",
        order: LabelOrder = "forget_first (an epoch's forget batches, then its retain batches) or \
            mixed",
    }
}

text_choice! {
    /// How random-label training draws the forget samples' targets.
    pub enum RandomLabels {
        /// Uniform over all classes (the true one included), drawn afresh for every forget
        /// batch (RL.py, cifar10 branch; the default).
        PerBatch => "per_batch",
        /// Uniform over all classes, drawn once per epoch for every forget sample (RL.py,
        /// cifar100 branch).
        PerEpoch => "per_epoch",
        /// One wrong class per sample, drawn once for the whole run (a departure: the
        /// toolkit's earlier behaviour).
        FixedWrong => "fixed_wrong",
    }
}

text_choice! {
    /// In which order random-label training visits the data in an epoch.
    pub enum LabelOrder {
        /// All forget batches, then all retain batches (RL.py, cifar10 branch; the default).
        ForgetFirst => "forget_first",
        /// Forget and retain samples shuffled together (RL.py, cifar100 branch).
        Mixed => "mixed",
    }
}

impl Params for RlParams {
    const ID: &'static str = "rl";
    const SUMMARY: &'static str =
        "fine-tune with random targets on the forget set and true labels on the retain set";
    const PAPER: &'static str = "Graves et al., Amnesiac Machine Learning, AAAI 2021";
    const TRAITS: &'static [MethodTrait] = &[MethodTrait::WrongLabels];

    const SPACE: &'static [(&'static str, Span)] =
        &[("lr", Span::Log(1e-3, 0.05)), ("epochs", Span::Whole(1, 4))];

    fn defaults(preset: Preset, scenario: ScenarioKind) -> Self {
        use {Preset::*, ScenarioKind::*};
        let (epochs, lr) = match (preset, scenario) {
            (Cifar10 | Cifar100, _) => (10, 0.01),
            (Quick, Random) => (1, 0.00105),
            (Quick, Backdoor) => (2, 0.00288),
            (Quick | Fmnist, _) => (2, 0.01),
        };
        Self {
            epochs,
            sgd: SgdParams::standard(lr, batch_size(preset)),
            retain_budget: 1.0,
            labels: RandomLabels::PerBatch,
            order: LabelOrder::ForgetFirst,
        }
    }
}

/// A random wrong label for every forget sample, seeded by `(seed, purpose)`.
pub(crate) fn random_wrong_labels(ctx: &UnlearnContext, purpose: &str) -> HashMap<u32, u32> {
    let classes = ctx.dataset.num_classes as u32;
    let mut rng = unlearn_data::rng::seeded(ctx.seed, purpose);
    ctx.split
        .forget
        .iter()
        .map(|&i| {
            let y = ctx
                .train_images
                .labels
                .get(i as usize)
                .copied()
                .unwrap_or(0);
            // Uniform over the other classes: draw from classes - 1 values and skip y.
            let r = rng.random_range(0..classes.saturating_sub(1).max(1));
            (i, if r >= y { r + 1 } else { r })
        })
        .collect()
}

/// A label uniform over all classes for every forget sample, seeded by `(seed, purpose)`.
fn random_labels(ctx: &UnlearnContext, purpose: &str) -> HashMap<u32, u32> {
    let classes = ctx.dataset.num_classes as u32;
    let mut rng = unlearn_data::rng::seeded(ctx.seed, purpose);
    ctx.split
        .forget
        .iter()
        .map(|&i| (i, rng.random_range(0..classes)))
        .collect()
}

/// Sorted union of two sorted, disjoint index lists.
pub(crate) fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut v: Vec<u32> = a.iter().chain(b).copied().collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// What random-label training runs: the method (names the random streams), its schedule and
/// optimiser settings, the label and order rules, and SalUn's update masks.
pub(crate) struct RandomLabelRun<'a> {
    pub method: &'static str,
    pub epochs: usize,
    pub sgd: &'a SgdParams,
    pub retain_budget: f64,
    pub labels: RandomLabels,
    pub order: LabelOrder,
    pub masks: Option<&'a BTreeMap<String, Tensor>>,
    /// Named fields of the run's first traced step (SalUn's `mask_file`, `mask_kept`).
    pub first_step: serde_json::Map<String, serde_json::Value>,
}

impl RandomLabelRun<'_> {
    /// Trains `model` in place (the loop shared by `rl` and `salun`).
    pub(crate) fn train(
        &self,
        ctx: &UnlearnContext,
        rec: &mut Recorder,
        model: &Model,
    ) -> Result<()> {
        let method = self.method;
        let sgd = self.sgd;
        let retain = ctx.retain_budget(method, self.retain_budget)?;
        let forget = ctx.split.forget.clone();
        let mut opt = ctx.sgd(model.store().parameters(), sgd.optimizer())?;
        let classes = ctx.dataset.num_classes as u32;
        let true_labels = &ctx.train_images.labels;
        let fixed = (self.labels == RandomLabels::FixedWrong)
            .then(|| random_wrong_labels(ctx, &format!("{method}/labels")));
        // Per-batch targets come from one stream over the whole run.
        let mut batch_rng = unlearn_data::rng::seeded(ctx.seed, &format!("{method}/labels"));
        let forget_set: std::collections::HashSet<u32> = forget.iter().copied().collect();
        for epoch in 0..self.epochs {
            let map = match (&fixed, self.labels) {
                (Some(m), _) => Some(m.clone()),
                (None, RandomLabels::PerEpoch) => Some(random_labels(
                    ctx,
                    &format!("{method}/labels-epoch-{epoch}"),
                )),
                _ => None,
            };
            // Targets of one batch: the map's, or fresh uniform draws for its forget rows.
            let mut targets = |indices: &[u32]| -> candle_core::Result<Tensor> {
                match &map {
                    Some(m) => relabel(indices, m, true_labels, model.device()),
                    None => {
                        let y: Vec<u32> = indices
                            .iter()
                            .map(|i| {
                                if forget_set.contains(i) {
                                    batch_rng.random_range(0..classes)
                                } else {
                                    true_labels.get(*i as usize).copied().unwrap_or(0)
                                }
                            })
                            .collect();
                        Tensor::from_vec(y, indices.len(), model.device())
                    }
                }
            };
            match self.order {
                LabelOrder::ForgetFirst => {
                    let purpose = format!("{method}/forget");
                    let plan = Pass::new(&forget, &purpose, "forget", epoch, sgd.batch_size)
                        .masked(self.masks);
                    let pass = ctx.pass(model, &mut opt, plan, |b, info| {
                        if epoch == 0 && info.index == 0 {
                            for (k, v) in &self.first_step {
                                info.field(k, v.clone());
                            }
                        }
                        let y = targets(&b.indices)?;
                        info.labels(&y);
                        let logits = model.forward(&b.x, true)?;
                        Ok(Step::Update(ce(&logits, &y)?))
                    })?;
                    rec.log(ctx, model, epoch + 1, "forget", &pass)?;
                    let purpose = format!("{method}/retain");
                    let plan = Pass::new(&retain, &purpose, "retain", epoch, sgd.batch_size)
                        .masked(self.masks);
                    let pass = ctx.pass(model, &mut opt, plan, |b, _| {
                        let logits = model.forward(&b.x, true)?;
                        Ok(Step::Update(ce(&logits, &b.y)?))
                    })?;
                    rec.log(ctx, model, epoch + 1, "retain", &pass)?;
                }
                LabelOrder::Mixed => {
                    let data = union(&forget, &retain);
                    let plan =
                        Pass::new(&data, method, "train", epoch, sgd.batch_size).masked(self.masks);
                    let pass = ctx.pass(model, &mut opt, plan, |b, info| {
                        if epoch == 0 && info.index == 0 {
                            for (k, v) in &self.first_step {
                                info.field(k, v.clone());
                            }
                        }
                        let y = targets(&b.indices)?;
                        info.labels(&y);
                        let logits = model.forward(&b.x, true)?;
                        Ok(Step::Update(ce(&logits, &y)?))
                    })?;
                    rec.log(ctx, model, epoch + 1, "train", &pass)?;
                }
            }
        }
        Ok(())
    }
}

impl Method for RlParams {
    crate::methods::method_common!();

    fn validate(&self) -> Result<()> {
        Check(Self::ID)
            .at_least("epochs", self.epochs, 1)?
            .sgd(&self.sgd)?
            .fraction("retain_budget", self.retain_budget)?;
        Ok(())
    }

    fn unlearn(&self, ctx: &UnlearnContext, rec: &mut Recorder) -> Result<Model> {
        let model = ctx.working_copy()?;
        RandomLabelRun {
            method: Self::ID,
            epochs: self.epochs,
            sgd: &self.sgd,
            retain_budget: self.retain_budget,
            labels: self.labels,
            order: self.order,
            masks: None,
            first_step: Default::default(),
        }
        .train(ctx, rec, &model)?;
        Ok(model)
    }
}
