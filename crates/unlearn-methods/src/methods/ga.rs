use serde::{Deserialize, Serialize};
use unlearn_models::Model;
use unlearn_train::engine::Step;

use crate::context::{Pass, UnlearnContext};
use crate::error::Result;
use crate::losses::ce;
use crate::params::{batch_size, Check, Params, Preset, ScenarioKind, SgdParams};
use crate::record::Recorder;
use crate::space::Span;
use crate::Method;

crate::methods::params_struct! {
    /// `ga` — gradient ascent (NegGrad): maximise the cross-entropy on the forget set, nothing
    /// else. Fast and unstable: too many steps destroy the model, which is why the defaults are
    /// few steps at a small learning rate.
    ///
    /// Source: Thudi et al., "Unrolling SGD: Understanding Factors Influencing Machine
    /// Unlearning", EuroS&P 2022; Golatkar et al., CVPR 2020 (NegGrad). The loop is
    /// OPTML-Group/Unlearn-Saliency at a6e89fd, `Classification/unlearn/GA.py` (`−CE` on forget
    /// batches in train mode).
    ///
    /// Parameters (`quick` defaults, tuned: searched `lr` ∈ {1e-4, 5e-4, 1e-3, 2e-3, 3e-3, 1e-2} ×
    /// `epochs` ∈ {1…5}; 3 epochs at 1e-3 or 2 at 2e-3 already collapse; see `docs/tuning.md`):
    /// `epochs` = 2, `lr` = 1e-3, `momentum` = 0.9,
    /// `weight_decay` = 5e-4, `batch_size` = 128. `cifar10`/`cifar100`: 5 epochs, lr 1e-4.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct GaParams {
        epochs: usize = "passes over the forget set",
        #[serde(flatten)]
        sgd: SgdParams = flatten,
    }
}

impl Params for GaParams {
    const ID: &'static str = "ga";
    const SUMMARY: &'static str = "gradient ascent on the forget-set cross-entropy (NegGrad)";
    const PAPER: &'static str = "Thudi et al., Unrolling SGD, EuroS&P 2022";

    const SPACE: &'static [(&'static str, Span)] =
        &[("lr", Span::Log(1e-4, 1e-2)), ("epochs", Span::Whole(1, 4))];

    fn defaults(preset: Preset, scenario: ScenarioKind) -> Self {
        use {Preset::*, ScenarioKind::*};
        let (epochs, lr) = match (preset, scenario) {
            (Cifar10 | Cifar100, _) => (5, 1e-4),
            (Quick, Random | Backdoor) => (3, 0.000661),
            (Quick, _) => (2, 1e-3),
            (Fmnist, Class) => (1, 4e-4),
            (Fmnist, _) => (1, 6e-4),
        };
        Self {
            epochs,
            sgd: SgdParams::standard(lr, batch_size(preset)),
        }
    }
}

impl Method for GaParams {
    crate::methods::method_common!();

    fn validate(&self) -> Result<()> {
        Check(Self::ID)
            .at_least("epochs", self.epochs, 1)?
            .sgd(&self.sgd)?;
        Ok(())
    }

    fn unlearn(&self, ctx: &UnlearnContext, rec: &mut Recorder) -> Result<Model> {
        let model = ctx.working_copy()?;
        let forget = ctx.split.forget.clone();
        let mut opt = ctx.sgd(model.store().parameters(), self.sgd.optimizer())?;
        let plan = Pass::new(&forget, "ga", "forget", 0, self.sgd.batch_size);
        ctx.epochs(
            rec,
            &model,
            &mut opt,
            plan,
            self.epochs,
            "forget",
            |_, b, _| {
                let logits = model.forward(&b.x, true)?;
                Ok(Step::Update(ce(&logits, &b.y)?.neg()?))
            },
        )?;
        Ok(model)
    }
}
