use std::collections::{BTreeMap, HashMap};

use candle_core::Tensor;
use rand::Rng;
use serde::{Deserialize, Serialize};
use unlearn_models::Model;
use unlearn_train::engine::Step;

use crate::context::UnlearnContext;
use crate::error::Result;
use crate::losses::{ce, relabel};
use crate::params::{is_cifar, Check, Params, SgdParams};
use crate::record::Recorder;
use crate::space::Span;
use crate::Method;

/// `rl` — random labels: give every forget sample a random wrong label (drawn once, seeded)
/// and fine-tune on the forget set with those labels together with the retain budget
/// (one shuffled pass over their union per epoch).
///
/// Source: Golatkar et al., "Eternal Sunshine of the Spotless Net", CVPR 2020; Graves et al.,
/// "Amnesiac Machine Learning", AAAI 2021; the RL baseline of SalUn (Fan et al., ICLR 2024).
///
/// Parameters (`quick` defaults, tuned: searched `epochs` ∈ {1, 2} at lr 0.01, budget 0.5; see
/// `TUNING.md`): `epochs` = 2, `lr` = 0.01, `momentum` = 0.9,
/// `weight_decay` = 5e-4, `batch_size` = 128, `retain_budget` = 0.5.
/// `cifar10`/`cifar100`: 10 epochs, lr 0.01, budget 1.0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RlParams {
    /// Passes over forget ∪ retain budget.
    pub epochs: usize,
    /// SGD settings, flattened: `lr`, `momentum`, `weight_decay` and `batch_size` are
    /// top-level keys.
    #[serde(flatten)]
    pub sgd: SgdParams,
    /// Share of the retain set used (seeded subset).
    pub retain_budget: f64,
}

impl Params for RlParams {
    const ID: &'static str = "rl";
    const SUMMARY: &'static str =
        "train forget samples with random wrong labels together with the retain set";
    const PAPER: &'static str = "Graves et al., Amnesiac Machine Learning, AAAI 2021";
    const DOCS: &'static [(&'static str, &'static str)] = &[
        ("epochs", "passes over forget ∪ retain budget"),
        crate::methods::OPT_DOCS[0],
        crate::methods::OPT_DOCS[1],
        crate::methods::OPT_DOCS[2],
        crate::methods::OPT_DOCS[3],
        (
            "retain_budget",
            "share of the retain set used (seeded subset)",
        ),
    ];

    const SPACE: &'static [(&'static str, Span)] =
        &[("lr", Span::Log(1e-3, 0.05)), ("epochs", Span::Whole(1, 4))];

    fn preset(name: &str) -> Result<Self> {
        let cifar = is_cifar(name)?;
        Ok(Self {
            epochs: if cifar { 10 } else { 2 },
            sgd: SgdParams::standard(0.01, if cifar { 256 } else { 128 }),
            retain_budget: if cifar { 1.0 } else { 0.5 },
        })
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

/// Sorted union of two sorted, disjoint index lists.
pub(crate) fn union(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut v: Vec<u32> = a.iter().chain(b).copied().collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The random-label fine-tuning loop shared by `rl` and `salun` (with update masks).
#[allow(clippy::too_many_arguments)]
pub(crate) fn random_label_training(
    ctx: &UnlearnContext,
    rec: &mut Recorder,
    method: &str,
    model: &Model,
    epochs: usize,
    sgd: &SgdParams,
    retain_budget: f64,
    masks: Option<&BTreeMap<String, Tensor>>,
) -> Result<()> {
    let labels = random_wrong_labels(ctx, &format!("{method}/labels"));
    let retain = ctx.retain_budget(method, retain_budget)?;
    let data = union(&ctx.split.forget, &retain);
    let mut opt = ctx.sgd(
        model.store().parameters(),
        sgd.lr,
        sgd.momentum,
        sgd.weight_decay,
    )?;
    let true_labels = &ctx.train_images.labels;
    for epoch in 0..epochs {
        let pass = ctx.pass(
            model,
            &mut opt,
            &data,
            method,
            epoch,
            sgd.batch_size,
            masks,
            |b, _| {
                let y = relabel(&b.indices, &labels, true_labels, model.device())?;
                let logits = model.forward(&b.x, true)?;
                Ok(Step::Update(ce(&logits, &y)?))
            },
        )?;
        rec.log(ctx, model, epoch + 1, "train", &pass)?;
    }
    Ok(())
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
        random_label_training(
            ctx,
            rec,
            Self::ID,
            &model,
            self.epochs,
            &self.sgd,
            self.retain_budget,
            None,
        )?;
        Ok(model)
    }
}
