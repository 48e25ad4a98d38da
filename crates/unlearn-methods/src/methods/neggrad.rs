use serde::{Deserialize, Serialize};
use unlearn_models::Model;
use unlearn_train::engine::Step;

use crate::context::UnlearnContext;
use crate::error::Result;
use crate::losses::ce;
use crate::params::{is_cifar, Check, Params, SgdParams};
use crate::record::Recorder;
use crate::space::Span;
use crate::Method;

/// `neggrad+` — NegGrad+: minimise `β·CE(D_r) − (1−β)·CE(D_f)` jointly. One epoch is a pass
/// over the retain budget; each retain batch is paired with the next forget batch (the
/// forget set is cycled through, reshuffled every time it is exhausted).
///
/// Source: Kurmanji et al., "Towards Unbounded Machine Unlearning", NeurIPS 2023.
///
/// Parameters (`quick` defaults, tuned: searched `beta` ∈ {0.7, 0.8, 0.9, 0.95, 0.97, 0.99}
/// at 1 epoch, lr 0.01, budget 0.5, on `random:0.1` and `class:3`, seeds 0 and 1, and
/// `clip_grad_norm` ∈ {0, 2, 5, 10}; see `TUNING.md`): `epochs` = 1, `lr` = 0.01,
/// `momentum` = 0.9, `weight_decay` = 5e-4, `batch_size` = 128 (both batches), `beta` = 0.95
/// (0.97 for `class:` scenarios), `retain_budget` = 0.5, `clip_grad_norm` = 5.
/// `cifar10`/`cifar100`: 5 epochs, lr 0.01, β 0.95, budget 1.0, clip 5.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NegGradPlusParams {
    /// Passes over the retain budget.
    pub epochs: usize,
    /// SGD settings, flattened: `lr`, `momentum`, `weight_decay` and `batch_size` are
    /// top-level keys; `batch_size` is that of retain and forget batches alike.
    #[serde(flatten)]
    pub sgd: SgdParams,
    /// Weight of the retain loss; the forget loss is ascended with weight `1 − β`.
    pub beta: f64,
    /// Share of the retain set used (seeded subset).
    pub retain_budget: f64,
    /// Global-norm gradient clipping (0 = off). The ascended forget loss is unbounded:
    /// without clipping, forgetting a whole class (`class:3`, quick) diverged to NaN at step 20.
    pub clip_grad_norm: f64,
}

impl Params for NegGradPlusParams {
    const ID: &'static str = "neggrad+";
    const SUMMARY: &'static str =
        "descend retain CE and ascend forget CE jointly: β·CE(D_r) − (1−β)·CE(D_f)";
    const PAPER: &'static str =
        "Kurmanji et al., Towards Unbounded Machine Unlearning, NeurIPS 2023";
    const DOCS: &'static [(&'static str, &'static str)] = &[
        (
            "epochs",
            "passes over the retain budget (forget batches cycled alongside)",
        ),
        crate::methods::OPT_DOCS[0],
        crate::methods::OPT_DOCS[1],
        crate::methods::OPT_DOCS[2],
        crate::methods::OPT_DOCS[3],
        (
            "beta",
            "weight β of the retain loss; the forget loss is ascended with 1 − β",
        ),
        (
            "retain_budget",
            "share of the retain set used (seeded subset)",
        ),
        (
            "clip_grad_norm",
            "global-norm gradient clipping, 0 = off (the ascent is unbounded)",
        ),
    ];

    const SPACE: &'static [(&'static str, Span)] = &[
        ("lr", Span::Log(1e-3, 0.05)),
        ("beta", Span::Linear(0.8, 0.999)),
        ("epochs", Span::Whole(1, 3)),
    ];

    fn preset(name: &str) -> Result<Self> {
        let cifar = is_cifar(name)?;
        Ok(Self {
            epochs: if cifar { 5 } else { 1 },
            sgd: SgdParams::standard(0.01, if cifar { 256 } else { 128 }),
            beta: 0.95,
            retain_budget: if cifar { 1.0 } else { 0.5 },
            clip_grad_norm: 5.0,
        })
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
            self.sgd.lr,
            self.sgd.momentum,
            self.sgd.weight_decay,
            self.clip_grad_norm,
        )?;
        let mut cycle = 0usize;
        let mut order = ctx.order(&forget, "neggrad+/forget", 0);
        let mut cursor = 0usize;
        let mut rng = unlearn_data::rng::seeded(ctx.seed, "neggrad+/forget-augment");
        let bs = self.sgd.batch_size;
        let beta = self.beta;
        for epoch in 0..self.epochs {
            let pass = ctx.pass(
                &model,
                &mut opt,
                &retain,
                "neggrad+",
                epoch,
                bs,
                None,
                |b, _| {
                    let mut chunk = Vec::with_capacity(bs);
                    while chunk.len() < bs.min(forget.len()) {
                        if cursor == order.len() {
                            cycle += 1;
                            order = ctx.order(&forget, "neggrad+/forget", cycle);
                            cursor = 0;
                        }
                        chunk.push(order[cursor]);
                        cursor += 1;
                    }
                    let fb = forget_view.batch(&chunk, model.device(), Some(&mut rng))?;
                    let lr_ = ce(&model.forward(&b.x, true)?, &b.y)?;
                    let lf = ce(&model.forward(&fb.x, true)?, &fb.y)?;
                    Ok(Step::Update(((lr_ * beta)? - (lf * (1.0 - beta))?)?))
                },
            )?;
            rec.log(ctx, &model, epoch + 1, "train", &pass)?;
        }
        Ok(model)
    }
}
