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
    /// `ft` — fine-tuning: continue training the original on the retain set only, with a small
    /// learning rate for a few epochs, relying on catastrophic forgetting of `D_f`.
    ///
    /// Source: Warnecke et al., "Machine Unlearning of Features and Labels", NDSS 2023 (and the
    /// FT baseline of Jia et al., NeurIPS 2023 / SalUn, ICLR 2024).
    ///
    /// The loop is OPTML-Group/Unlearn-Saliency at a6e89fd, `Classification/unlearn/FT.py`
    /// lines 115-164 (CE on retain batches in train mode, SGD with momentum and weight decay).
    ///
    /// Parameters: `epochs` = 3, `lr` = 0.03, `momentum` = 0.9, `weight_decay` = 5e-4,
    /// `batch_size` = 128, `retain_budget` = 1.0. Per-scenario defaults of `quick` and
    /// `fmnist` (`class:`, `random:`, `backdoor:`) are in `FtParams::defaults` below; `unlearn methods
    /// ft` lists them. `cifar10`/`cifar100`: 10 epochs, lr 0.01 (SalUn's FT setting).
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct FtParams {
        epochs: usize = "passes over the retain budget",
        #[serde(flatten)]
        sgd: SgdParams = flatten,
        retain_budget: f64 = "share of the retain set used (seeded subset)",
    }
}

impl Params for FtParams {
    const ID: &'static str = "ft";
    const SUMMARY: &'static str = "fine-tune on the retain set only (small lr, few epochs)";
    const PAPER: &'static str =
        "Warnecke et al., Machine Unlearning of Features and Labels, NDSS 2023";

    const SPACE: &'static [(&'static str, Span)] =
        &[("lr", Span::Log(1e-3, 0.1)), ("epochs", Span::Whole(1, 4))];

    fn defaults(preset: Preset, scenario: ScenarioKind) -> Self {
        use {Preset::*, ScenarioKind::*};
        let (epochs, lr) = match (preset, scenario) {
            (Cifar10 | Cifar100, _) => (10, 0.01),
            (Quick, Class) => (2, 0.0799),
            (Quick, Backdoor) => (2, 0.0799),
            (Fmnist, Class) => (3, 0.05),
            (Quick | Fmnist, _) => (3, 0.03),
        };
        Self {
            epochs,
            sgd: SgdParams::standard(lr, batch_size(preset)),
            retain_budget: 1.0,
        }
    }
}

impl Method for FtParams {
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
        let retain = ctx.retain_budget(Self::ID, self.retain_budget)?;
        let mut opt = ctx.sgd(model.store().parameters(), self.sgd.optimizer())?;
        let plan = Pass::new(&retain, "ft", "retain", 0, self.sgd.batch_size);
        ctx.epochs(
            rec,
            &model,
            &mut opt,
            plan,
            self.epochs,
            "train",
            |_, b, _| {
                let logits = model.forward(&b.x, true)?;
                Ok(Step::Update(ce(&logits, &b.y)?))
            },
        )?;
        Ok(model)
    }
}
