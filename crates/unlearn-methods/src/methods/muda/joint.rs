//! MUDA without alternation (`alternate = false`, the `no-alt` ablation): every step sums
//! the forget loss of a forget batch and the recover loss of a retain batch, so the
//! ablation removes the alternation itself, not only its order.

use unlearn_models::Model;
use unlearn_train::engine::{self, Step};
use unlearn_train::Optimizer;

use super::forget::{ForgetRun, StopAt};
use super::{FeatureMode, MudaParams};
use crate::context::{Pass, UnlearnContext};
use crate::error::{MethodError, Result};
use crate::losses::{ce, distill_kl};
use crate::record::Recorder;

impl MudaParams {
    /// One epoch of joint steps at `lr_recover`: `(lr_forget/lr_recover)·L_F + L_R`, as many
    /// steps as full MUDA's epoch has batches (`⌈|D_f|/B⌉ + ⌈|budget|/B⌉`). Retain batches
    /// walk the budget in fresh seeded orders, forget batches the forget set likewise; the
    /// subspace is computed afresh at the start of the epoch and every `refresh` steps, and
    /// the stopping rule, once its target is reached, drops `L_F` for the rest of the epoch.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn joint_epoch(
        &self,
        ctx: &UnlearnContext,
        rec: &mut Recorder,
        model: &Model,
        opt: &mut Optimizer,
        budget: &[u32],
        run: &mut ForgetRun<'_>,
        epoch: usize,
    ) -> Result<()> {
        let bs = self.batch_size.max(1);
        let steps = run.forget.len().div_ceil(bs) + budget.len().div_ceil(bs);
        // The retain stream: passes over the budget in fresh orders, cut to `steps` batches
        // (a pass's last batch may be short).
        let mut retain_order: Vec<u32> = Vec::with_capacity(steps * bs);
        let mut cycle = 0;
        while retain_order.len() < steps * bs {
            let pass = ctx.order(budget, "muda/joint-retain", epoch * 1000 + cycle);
            retain_order.extend(pass);
            cycle += 1;
        }
        retain_order.truncate(steps * bs);
        let forget_chunks: Vec<Vec<u32>> = (0..steps.div_ceil(run.forget.len().div_ceil(bs)))
            .flat_map(|c| {
                ctx.order(run.forget, "muda/joint-forget", epoch * 1000 + c)
                    .chunks(bs)
                    .map(<[u32]>::to_vec)
                    .collect::<Vec<_>>()
            })
            .collect();
        let target = match run.stop {
            None => None,
            Some(StopAt::Validation) => Some(ctx.accuracy(model, run.val)?),
            Some(StopAt::Fixed(p)) => Some(p),
        };
        let train_mode = self.feature_mode == FeatureMode::Mixed;
        let forget_view = ctx.view(run.forget);
        let mut augment =
            unlearn_data::rng::seeded(ctx.seed, &format!("muda/joint-forget-augment-{epoch}"));
        let (teacher, t) = (ctx.original, self.temperature);
        let scale = self.lr_forget / self.lr_recover;
        if epoch == 0 && self.da_on == super::DaOn::ForgetAndRetain {
            rec.note("alternate=false: da_on=forget_and_retain has no effect (no recover stage)");
        }
        run.basis = None;
        let (mut correct, mut seen, mut reached, mut forget_steps) = (0usize, 0usize, false, 0);
        let mut failure: Option<MethodError> = None;
        let plan = Pass::new(budget, "muda/joint", "joint", epoch, bs);
        let pass = ctx.pass_in_order(model, opt, plan, &retain_order, |b, info| {
            let s = model.forward(&b.x, true)?;
            let mut loss = ce(&s, &b.y)?;
            if self.sd && self.lambda_sd > 0.0 {
                let te = teacher.forward(&b.x, false)?.detach();
                loss = (loss + (distill_kl(&s, &te, t)? * self.lambda_sd)?)?;
            }
            if reached {
                return Ok(Step::Update(loss));
            }
            let chunk = &forget_chunks[info.index % forget_chunks.len()];
            let rng = train_mode.then_some(&mut augment);
            let fb = forget_view.batch(chunk, model.device(), rng)?;
            if self.da && (run.basis.is_none() || info.index % self.refresh == 0) {
                match self.subspace(ctx, model, run.reference, run.rule, run.refreshes) {
                    Ok(s) => run.basis = Some(s),
                    Err(e) => {
                        failure = Some(e);
                        return Ok(Step::Stop);
                    }
                }
                run.refreshes += 1;
            }
            let z = model.features(&fb.x, train_mode)?;
            let logits = model.head(&z)?;
            if let Some(target) = target {
                let batch_correct = engine::count_correct(&logits.detach(), &fb.y)?;
                correct += batch_correct;
                seen += fb.indices.len();
                // The forget stage's rule (`forget.rs`), like with like: the running
                // accuracy against the validation accuracy, this batch's against a fixed
                // target such as 0 % (the running one never returns to 0 once a batch was
                // classified, and the ascent then ran the whole epoch and diverged on
                // `class:3`).
                let accuracy = match run.stop {
                    Some(StopAt::Validation) => correct as f64 / seen.max(1) as f64,
                    Some(StopAt::Fixed(_)) | None => {
                        batch_correct as f64 / fb.indices.len().max(1) as f64
                    }
                };
                if 100.0 * accuracy <= target {
                    reached = true;
                    return Ok(Step::Update(loss));
                }
            }
            info.pair("forget", &fb, &fb.y)?;
            let mut forget_loss = (ce(&logits, &fb.y)? * -self.lambda_ga)?;
            if let (true, Some(s)) = (self.da, run.basis.as_ref()) {
                let da = s.da(&z, &fb.y)?;
                forget_loss = (forget_loss + ((da.neg()? + 1.0)? * self.lambda_da)?)?;
            }
            forget_steps += 1;
            Ok(Step::Update((loss + (forget_loss * scale)?)?))
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        rec.log(ctx, model, epoch + 1, "joint", &pass)?;
        rec.note(format!(
            "epoch {} joint steps: {} ({} with the forget loss{})",
            epoch + 1,
            pass.steps,
            forget_steps,
            if reached {
                ", then the stop target was reached"
            } else {
                ""
            }
        ));
        Ok(())
    }
}
