use serde::{Deserialize, Serialize};
use unlearn_models::Model;
use unlearn_train::engine::Step;

use crate::context::{Pass, UnlearnContext};
use crate::error::Result;
use crate::losses::ce;
use crate::params::{batch_size, Check, MethodTrait, Params, Preset, ScenarioKind, SgdParams};
use crate::record::Recorder;
use crate::space::Span;
use crate::Method;

crate::methods::params_struct! {
    /// `head-only` — the strawman of spec §3.3: retrain only the final linear layer `h` on the
    /// retain set with the feature extractor `g` frozen (features computed in eval mode and
    /// detached, so every tensor of `g`, BatchNorm statistics included, stays bit-identical).
    /// It can match retrain on the output metrics while the features still hold everything
    /// about the forget set, which the feature-space metrics are there to catch.
    ///
    /// Source: this project's specification (§3.3, §4); cf. the "retrain the last layer"
    /// baselines of Goel et al., "Towards Adversarial Evaluations for Inexact Machine
    /// Unlearning", 2022.
    ///
    /// Parameters (`quick` defaults, tuned: searched `epochs` ∈ {1, 3} × `lr` ∈ {0.01, 0.05}; see
    /// `docs/tuning.md`): `epochs` = 3, `lr` = 0.05, `momentum` = 0.9,
    /// `weight_decay` = 5e-4, `batch_size` = 128, `reinit` = true (start `h` from a fresh
    /// seeded initialisation; false: fine-tune the original head), `retain_budget` = 1.0.
    /// `cifar10`/`cifar100`: 10 epochs, lr 0.01.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct HeadOnlyParams {
        epochs: usize = "passes over the retain budget",
        #[serde(flatten)]
        sgd: SgdParams = flatten,
        reinit: bool = "start the head from a fresh seeded initialisation (false: from the \
            original head)",
        retain_budget: f64 = "share of the retain set used (seeded subset)",
    }
}

impl Params for HeadOnlyParams {
    const ID: &'static str = "head-only";
    const SUMMARY: &'static str =
        "strawman: retrain only the final layer on the retain set, features frozen";
    const PAPER: &'static str = "this project's spec §3.3 (last-layer retraining strawman)";
    const TRAITS: &'static [MethodTrait] = &[MethodTrait::HeadOnly];

    const SPACE: &'static [(&'static str, Span)] =
        &[("lr", Span::Log(1e-3, 0.3)), ("epochs", Span::Whole(1, 4))];

    fn defaults(preset: Preset, scenario: ScenarioKind) -> Self {
        use {Preset::*, ScenarioKind::*};
        let (epochs, lr) = match (preset, scenario) {
            (Cifar10 | Cifar100, _) => (10, 0.01),
            (Quick, Random) => (1, 0.0354),
            (Quick, Backdoor) => (1, 0.00128),
            (Quick | Fmnist, _) => (3, 0.05),
        };
        Self {
            epochs,
            sgd: SgdParams::standard(lr, batch_size(preset)),
            reinit: true,
            retain_budget: 1.0,
        }
    }
}

impl Method for HeadOnlyParams {
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
        if self.reinit {
            let fresh = Model::new(model.spec(), ctx.device, ctx.seed)?;
            for (name, var, _) in model.store().all() {
                if model.is_head_tensor(&name) {
                    if let Some(src) = fresh.store().get(&name) {
                        var.set(&src.as_tensor().copy()?)?;
                    }
                }
            }
        }
        let retain = ctx.retain_budget(Self::ID, self.retain_budget)?;
        let mut opt = ctx.sgd(model.store().parameters(), self.sgd.optimizer())?;
        // The feature extractor is frozen on purpose (declared, so the engine lets it go
        // without a gradient and never updates it).
        opt.freeze(|name| !model.is_head_tensor(name));
        let plan = Pass::new(&retain, "head-only", "retain", 0, self.sgd.batch_size);
        ctx.epochs(
            rec,
            &model,
            &mut opt,
            plan,
            self.epochs,
            "train",
            |_, b, _| {
                let z = model.features(&b.x, false)?.detach();
                let logits = model.head(&z)?;
                Ok(Step::Update(ce(&logits, &b.y)?))
            },
        )?;
        Ok(model)
    }
}
