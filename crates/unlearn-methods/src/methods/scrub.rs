use serde::{Deserialize, Serialize};
use unlearn_models::Model;
use unlearn_train::engine::Step;

use crate::context::{Pass, UnlearnContext};
use crate::error::Result;
use crate::losses::{ce, distill_kl};
use crate::params::{Check, Params, Preset, ScenarioKind, SgdParams};
use crate::record::Recorder;
use crate::space::Span;
use crate::Method;

crate::methods::params_struct! {
    /// `scrub` — SCRUB: the original is a frozen teacher; the student (a copy of it) alternates
    /// max-steps on the forget set (ascend `T²·KL(teacher ‖ student)`, i.e. move away from the
    /// teacher there) during the first `max_epochs` epochs, and min-steps on the retain budget
    /// (`γ·CE + α·T²·KL(teacher ‖ student)`, stay close to the teacher) in every epoch.
    ///
    /// Source: Kurmanji et al., "Towards Unbounded Machine Unlearning", NeurIPS 2023. The loop
    /// follows meghdadk/SCRUB at 98ffb11: `large_scale_unlearning.ipynb` cell 36 (for each
    /// 1-based epoch: set the lr, a max pass on the forget loader while `epoch <= msteps`, then a
    /// min pass on the retain loader), `thirdparty/repdistiller/helper/loops.py` lines 137-291
    /// (`train_distill`: student in train mode, teacher in eval mode; `maximize`: −KL;
    /// `minimize`: γ·CE + α·KL), `distiller_zoo/KD.py` (KL with T² over the batch), and
    /// `helper/util.py` lines 22-30 (`adjust_learning_rate`: lr·rate^k, k = how many decay
    /// epochs the 1-based epoch is past).
    ///
    /// Parameters: `quick`: `epochs` = 3, `max_epochs` = 2, `lr` = 1e-3, `momentum` = 0.9,
    /// `weight_decay` = 5e-4, `batch_size` = 128, `forget_batch_size` = 64, `temperature` = 4,
    /// `alpha` = 0.5, `gamma` = 1.0, `lr_decay_epochs` = 3,5,9, `lr_decay_rate` = 0.1,
    /// `retain_budget` = 1.0. `cifar10`/`cifar100`: the reference's CIFAR-10 ResNet setting
    /// (`large_scale_unlearning.ipynb` cells 28 and 32): 3 epochs, 2 max-epochs, lr 5e-4, retain
    /// batch 256, forget batch 512, α 0.001, γ 0.99, decay ×0.1 after epochs 3, 5 and 9.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct ScrubParams {
        epochs: usize = "epochs (each: an optional max pass over D_f, then a min pass over the \
            retain budget)",
        max_epochs: usize = "how many of the first epochs include the max pass",
        #[serde(flatten)]
        sgd: SgdParams = [
            SgdParams::DOCS[0],
            SgdParams::DOCS[1],
            SgdParams::DOCS[2],
            ("batch_size", "retain (min-step) batch size"),
        ],
        forget_batch_size: usize = "forget (max-step) batch size",
        temperature: f64 = "distillation temperature T",
        alpha: f64 = "weight of the KL term in min-steps",
        gamma: f64 = "weight of the CE term in min-steps",
        lr_decay_epochs: DecayEpochs = "1-based epochs after which the lr is multiplied by \
            lr_decay_rate (e.g. 3,5,9)",
        lr_decay_rate: f64 = "the lr's factor at each decay epoch",
        retain_budget: f64 = "share of the retain set used (seeded subset; the study's shared \
            budget)",
    }
}

/// Epochs after which a learning rate decays, written as comma-separated whole numbers.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DecayEpochs(pub Vec<usize>);

impl crate::choice::Choice for DecayEpochs {
    const EXPECTED: &'static str = "comma-separated whole epochs such as 3,5,9 (or empty)";
}

impl std::str::FromStr for DecayEpochs {
    type Err = crate::choice::ChoiceError;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Ok(Self(Vec::new()));
        }
        s.split(',')
            .map(|p| p.trim().parse::<usize>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map(Self)
            .map_err(|_| crate::choice::ChoiceError::new::<Self>(s))
    }
}

impl std::fmt::Display for DecayEpochs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|e| e.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

crate::choice::choice_serde!(DecayEpochs);

impl ScrubParams {
    /// The lr of 0-based epoch `epoch`: `lr · rate^k`, `k` = the decay epochs that the
    /// 1-based epoch is past (`util.py` `adjust_learning_rate`, lines 22-30).
    pub fn lr_at(&self, epoch: usize) -> f64 {
        let past = self
            .lr_decay_epochs
            .0
            .iter()
            .filter(|&&m| epoch + 1 > m)
            .count();
        self.sgd.lr * self.lr_decay_rate.powi(past as i32)
    }
}

impl Params for ScrubParams {
    const ID: &'static str = "scrub";
    const SUMMARY: &'static str =
        "teacher-student: max KL to the original on the forget set, min CE+KL on the retain set";
    const PAPER: &'static str =
        "Kurmanji et al., Towards Unbounded Machine Unlearning, NeurIPS 2023";
    const EPOCH_PARAMS: &'static [&'static str] = &["epochs", "max_epochs"];

    const SPACE: &'static [(&'static str, Span)] = &[
        ("lr", Span::Log(1e-4, 1e-2)),
        ("max_epochs", Span::Whole(1, 3)),
        ("alpha", Span::Log(0.1, 2.0)),
    ];

    fn defaults(preset: Preset, scenario: ScenarioKind) -> Self {
        use {Preset::*, ScenarioKind::*};
        let decay = DecayEpochs(vec![3, 5, 9]);
        let (max_epochs, lr, alpha) = match (preset, scenario) {
            (Cifar10 | Cifar100, _) => {
                return Self {
                    epochs: 3,
                    max_epochs: 2,
                    sgd: SgdParams::standard(5e-4, 256),
                    forget_batch_size: 512,
                    temperature: 4.0,
                    alpha: 0.001,
                    gamma: 0.99,
                    lr_decay_epochs: decay,
                    lr_decay_rate: 0.1,
                    retain_budget: 1.0,
                }
            }
            (Quick, Class) => (2, 5e-4, 0.5),
            (Quick, Backdoor) => (2, 0.00799, 1.2),
            (Quick, _) => (2, 1e-3, 0.5),
            (Fmnist, Class) => (1, 2e-4, 0.5),
            (Fmnist, _) => (1, 5e-4, 0.5),
        };
        Self {
            epochs: 3,
            max_epochs,
            sgd: SgdParams::standard(lr, 128),
            forget_batch_size: 64,
            temperature: 4.0,
            alpha,
            gamma: 1.0,
            lr_decay_epochs: decay,
            lr_decay_rate: 0.1,
            retain_budget: 1.0,
        }
    }
}

impl Method for ScrubParams {
    crate::methods::method_common!();

    fn validate(&self) -> Result<()> {
        Check(Self::ID)
            .at_least("epochs", self.epochs, 1)?
            .sgd(&self.sgd)?
            .at_least("forget_batch_size", self.forget_batch_size, 1)?
            .positive("temperature", self.temperature)?
            .non_negative("alpha", self.alpha)?
            .non_negative("gamma", self.gamma)?
            .positive("lr_decay_rate", self.lr_decay_rate)?
            .fraction("retain_budget", self.retain_budget)?;
        Ok(())
    }

    fn unlearn(&self, ctx: &UnlearnContext, rec: &mut Recorder) -> Result<Model> {
        let model = ctx.working_copy()?;
        let teacher = ctx.original;
        let retain = ctx.retain_budget(Self::ID, self.retain_budget)?;
        let forget = ctx.split.forget.clone();
        let t = self.temperature;
        let mut opt = ctx.sgd(model.store().parameters(), self.sgd.optimizer())?;
        for epoch in 0..self.epochs {
            opt.set_lr(self.lr_at(epoch));
            if epoch < self.max_epochs {
                let plan = Pass::new(&forget, "scrub/max", "max", epoch, self.forget_batch_size);
                let pass = ctx.pass(&model, &mut opt, plan, |b, info| {
                    info.field("temperature", serde_json::json!(t));
                    let s = model.forward(&b.x, true)?;
                    let te = teacher.forward(&b.x, false)?.detach();
                    Ok(Step::Update(distill_kl(&s, &te, t)?.neg()?))
                })?;
                rec.log(ctx, &model, epoch + 1, "max", &pass)?;
            }
            let plan = Pass::new(&retain, "scrub/min", "min", epoch, self.sgd.batch_size);
            let pass = ctx.pass(&model, &mut opt, plan, |b, info| {
                info.field("temperature", serde_json::json!(t));
                let s = model.forward(&b.x, true)?;
                let te = teacher.forward(&b.x, false)?.detach();
                let loss =
                    ((ce(&s, &b.y)? * self.gamma)? + (distill_kl(&s, &te, t)? * self.alpha)?)?;
                Ok(Step::Update(loss))
            })?;
            rec.log(ctx, &model, epoch + 1, "min", &pass)?;
        }
        Ok(model)
    }
}
