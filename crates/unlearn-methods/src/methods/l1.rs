use serde::{Deserialize, Serialize};
use unlearn_models::Model;
use unlearn_train::engine::Step;

use crate::context::{Pass, UnlearnContext};
use crate::error::Result;
use crate::losses::{ce, l1_norm};
use crate::params::{batch_size, Check, Params, Preset, ScenarioKind, SgdParams};
use crate::record::Recorder;
use crate::space::Span;
use crate::Method;

crate::methods::params_struct! {
    /// `l1` — ℓ1-sparse unlearning: fine-tune on the retain set with `CE + α_e·‖θ‖₁`, where the
    /// penalty decays linearly over the epochs, `α_e = α·(1 − e/epochs)` (e = 0, 1, …), as in the
    /// paper's code ("linear decay"). Sparsity pushes the model towards a retrain-like solution.
    ///
    /// Source: Jia et al., "Model Sparsity Can Simplify Machine Unlearning", NeurIPS 2023.
    ///
    /// The loop is OPTML-Group/Unlearn-Saliency at a6e89fd, `Classification/unlearn/FT.py`
    /// (`FT_l1`, lines 115-164: `CE + α_e·‖θ‖₁` over every parameter, `α_e = α·(1 − e/E)` with
    /// Unlearn-Sparse's `no_l1_epochs` = 0).
    ///
    /// Parameters: `epochs` = 3, `lr` = 0.01, `momentum` = 0.9, `weight_decay` = 5e-4,
    /// `batch_size` = 128, `alpha` = 5e-4, `retain_budget` = 1.0. Per-scenario defaults of
    /// `quick` and `fmnist` are in `L1Params::defaults` below; `unlearn methods l1` lists them.
    /// `cifar10`/`cifar100`: 10 epochs, lr 0.01, α 5e-4 (the paper's CIFAR-10 values).
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct L1Params {
        epochs: usize = "passes over the retain budget",
        #[serde(flatten)]
        sgd: SgdParams = flatten,
        alpha: f64 = "initial ℓ1 weight α, decayed linearly: α·(1 − epoch/epochs)",
        retain_budget: f64 = "share of the retain set used (seeded subset)",
    }
}

impl Params for L1Params {
    const ID: &'static str = "l1";
    const SUMMARY: &'static str =
        "fine-tune on the retain set with a linearly decaying ℓ1 penalty on the weights";
    const PAPER: &'static str =
        "Jia et al., Model Sparsity Can Simplify Machine Unlearning, NeurIPS 2023";

    const SPACE: &'static [(&'static str, Span)] = &[
        ("lr", Span::Log(1e-3, 0.1)),
        ("alpha", Span::Log(1e-5, 1e-3)),
        ("epochs", Span::Whole(1, 4)),
    ];

    fn defaults(preset: Preset, scenario: ScenarioKind) -> Self {
        use {Preset::*, ScenarioKind::*};
        let (epochs, lr, alpha) = match (preset, scenario) {
            (Cifar10 | Cifar100, _) => (10, 0.01, 5e-4),
            (Quick, Class) => (4, 0.0511, 0.000907),
            (Quick, Random) => (4, 0.0231, 0.000582),
            (Quick, Backdoor) => (4, 0.0713, 0.00038),
            (Fmnist, Class) => (3, 0.03, 5e-4),
            (Quick | Fmnist, _) => (3, 0.01, 5e-4),
        };
        Self {
            epochs,
            sgd: SgdParams::standard(lr, batch_size(preset)),
            alpha,
            retain_budget: 1.0,
        }
    }
}

impl Method for L1Params {
    crate::methods::method_common!();

    fn validate(&self) -> Result<()> {
        Check(Self::ID)
            .at_least("epochs", self.epochs, 1)?
            .sgd(&self.sgd)?
            .non_negative("alpha", self.alpha)?
            .fraction("retain_budget", self.retain_budget)?;
        Ok(())
    }

    fn unlearn(&self, ctx: &UnlearnContext, rec: &mut Recorder) -> Result<Model> {
        let model = ctx.working_copy()?;
        let retain = ctx.retain_budget(Self::ID, self.retain_budget)?;
        let mut opt = ctx.sgd(model.store().parameters(), self.sgd.optimizer())?;
        let plan = Pass::new(&retain, "l1", "retain", 0, self.sgd.batch_size);
        ctx.epochs(
            rec,
            &model,
            &mut opt,
            plan,
            self.epochs,
            "train",
            |epoch, b, info| {
                let alpha = self.alpha * (1.0 - epoch as f64 / self.epochs as f64);
                let logits = model.forward(&b.x, true)?;
                let loss = ce(&logits, &b.y)?;
                info.field("l1_alpha", serde_json::json!(alpha));
                let loss = if alpha > 0.0 {
                    (loss + (l1_norm(&model)? * alpha)?)?
                } else {
                    loss
                };
                Ok(Step::Update(loss))
            },
        )?;
        Ok(model)
    }
}
