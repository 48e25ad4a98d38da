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
    /// `neggrad+` — NegGrad+: minimise `β·CE(D_r) − (1−β)·CE(D_f)` jointly. One epoch is a pass
    /// over the retain budget; each retain batch is paired with a forget batch: the epoch's
    /// forget batches (one fresh shuffle) are cycled through in the same order, as
    /// `itertools.cycle` does in the reference.
    ///
    /// Source: Kurmanji et al., "Towards Unbounded Machine Unlearning", NeurIPS 2023; the loop
    /// follows meghdadk/SCRUB at 98ffb11, `thirdparty/repdistiller/helper/loops.py` lines 12-56
    /// (`train_negrad`), which clips nothing.
    ///
    /// Parameters: `epochs` = 1, `lr` = 0.01, `momentum` = 0.9, `weight_decay` = 5e-4,
    /// `batch_size` = 128 (both batches), `beta` = 0.95, `retain_budget` = 1.0,
    /// `clip_grad_norm` = 0 (off, as in the reference; a positive value clips the global
    /// gradient norm, a deliberate departure). `cifar10`/`cifar100`: 5 epochs.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct NegGradPlusParams {
        epochs: usize = "passes over the retain budget (forget batches cycled alongside)",
        #[serde(flatten)]
        sgd: SgdParams = flatten,
        beta: f64 = "weight β of the retain loss; the forget loss is ascended with 1 − β",
        retain_budget: f64 = "share of the retain set used (seeded subset)",
        clip_grad_norm: f64 = "global-norm gradient clipping, 0 = off (the ascent is unbounded)",
    }
}

impl Params for NegGradPlusParams {
    const ID: &'static str = "neggrad+";
    const SUMMARY: &'static str =
        "descend retain CE and ascend forget CE jointly: β·CE(D_r) − (1−β)·CE(D_f)";
    const PAPER: &'static str =
        "Kurmanji et al., Towards Unbounded Machine Unlearning, NeurIPS 2023";

    const SPACE: &'static [(&'static str, Span)] = &[
        ("lr", Span::Log(1e-3, 0.05)),
        ("beta", Span::Linear(0.8, 0.999)),
        ("epochs", Span::Whole(1, 3)),
    ];

    fn defaults(preset: Preset, scenario: ScenarioKind) -> Self {
        use {Preset::*, ScenarioKind::*};
        let (epochs, lr, beta) = match (preset, scenario) {
            (Cifar10 | Cifar100, _) => (5, 0.01, 0.95),
            (Quick, Class) => (1, 0.00133, 0.947),
            (Quick, Random) => (3, 0.0144, 0.976),
            (Quick, Backdoor) => (1, 0.0116, 0.843),
            (Fmnist, Class) => (1, 0.01, 0.995),
            (Quick | Fmnist, _) => (1, 0.01, 0.95),
        };
        Self {
            epochs,
            sgd: SgdParams::standard(lr, batch_size(preset)),
            beta,
            retain_budget: 1.0,
            clip_grad_norm: 0.0,
        }
    }
}

impl Method for NegGradPlusParams {
    crate::methods::method_common!();

    fn validate(&self) -> Result<()> {
        Check(Self::ID)
            .at_least("epochs", self.epochs, 1)?
            .sgd(&self.sgd)?
            .unit("beta", self.beta)?
            .fraction("retain_budget", self.retain_budget)?
            .non_negative("clip_grad_norm", self.clip_grad_norm)?;
        Ok(())
    }

    fn unlearn(&self, ctx: &UnlearnContext, rec: &mut Recorder) -> Result<Model> {
        let model = ctx.working_copy()?;
        let retain = ctx.retain_budget(Self::ID, self.retain_budget)?;
        let forget = ctx.split.forget.clone();
        let forget_view = ctx.view(&forget);
        let mut opt = ctx.sgd_clipped(
            model.store().parameters(),
            self.sgd.optimizer(),
            self.clip_grad_norm,
        )?;
        let bs = self.sgd.batch_size;
        let beta = self.beta;
        for epoch in 0..self.epochs {
            // SCRUB's `train_negrad` (loops.py lines 12-56) zips the retain loader with
            // `itertools.cycle(forget_loader)`: each epoch draws one fresh shuffled pass of
            // forget batches (the last may be short) and then repeats those same batches,
            // augmentation included (cycle replays what it first yielded).
            let order = ctx.order(&forget, "neggrad+/forget", epoch);
            let chunks: Vec<&[u32]> = order.chunks(bs).collect();
            let mut rng = unlearn_data::rng::seeded(
                ctx.seed,
                &format!("neggrad+/forget-augment-epoch-{epoch}"),
            );
            let mut cached: Vec<unlearn_train::engine::Batch> = Vec::with_capacity(chunks.len());
            let plan = Pass::new(&retain, "neggrad+", "retain", epoch, bs);
            let pass = ctx.pass(&model, &mut opt, plan, |b, info| {
                let k = info.index % chunks.len();
                if k == cached.len() {
                    cached.push(forget_view.batch(chunks[k], model.device(), Some(&mut rng))?);
                }
                let fb = &cached[k];
                info.pair("forget", fb, &fb.y)?;
                // The retain batch is forwarded first, as in the reference (BatchNorm's
                // running statistics see the batches in that order).
                let lr_ = ce(&model.forward(&b.x, true)?, &b.y)?;
                let lf = ce(&model.forward(&fb.x, true)?, &fb.y)?;
                Ok(Step::Update(((lr_ * beta)? - (lf * (1.0 - beta))?)?))
            })?;
            rec.log(ctx, &model, epoch + 1, "train", &pass)?;
        }
        Ok(model)
    }
}
