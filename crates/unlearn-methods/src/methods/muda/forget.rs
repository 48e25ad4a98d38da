//! MUDA's forget stage: ascent with the DA regulariser on the forget set, one pass or a
//! budget of steps over repeated passes, ended early by the stopping rule.

use unlearn_metrics::KRule;
use unlearn_models::Model;
use unlearn_train::engine::{self, PassSummary, Step};
use unlearn_train::Optimizer;

use super::da::Subspace;
use super::{FeatureMode, MudaParams};
use crate::context::{Pass, UnlearnContext};
use crate::error::{MethodError, Result};
use crate::losses::ce;
use crate::record::Recorder;

/// What the forget stages of a run share: their data, the stopping rule, and the retain
/// subspace (the recover stages read it for `da_on = forget_and_retain`). Every forget stage
/// computes a fresh subspace before its first step and then every `refresh` steps, so no
/// stage starts with the subspace of a model from before the last recover stage.
pub(super) struct ForgetRun<'a> {
    pub(super) forget: &'a [u32],
    pub(super) reference: &'a [u32],
    pub(super) val: &'a [u32],
    pub(super) rule: KRule,
    /// The stopping rule's target; `None`: the rule is off.
    pub(super) stop: Option<StopAt>,
    pub(super) basis: Option<Subspace>,
    pub(super) refreshes: usize,
}

/// The stopping rule's target, resolved from `stop_target` for the scenario.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum StopAt {
    /// The current model's validation accuracy, measured at the start of each forget stage.
    Validation,
    /// A fixed percentage.
    Fixed(f64),
}

/// The running state of one forget stage, across its passes.
#[derive(Default)]
struct StageTally {
    correct: usize,
    seen: usize,
    da_sum: f64,
    da_n: usize,
    steps: usize,
    passes: usize,
    /// The stopping rule's target was reached.
    reached: bool,
}

/// The passes of a stage as one summary (`stopped`: the stopping rule ended the stage, not
/// the step budget).
fn merge(passes: &[PassSummary], reached: bool) -> PassSummary {
    if let [one] = passes {
        return PassSummary {
            stopped: reached,
            ..*one
        };
    }
    let samples: usize = passes.iter().map(|p| p.samples).sum();
    let loss_sum: f64 = passes
        .iter()
        .filter(|p| p.samples > 0)
        .map(|p| p.mean_loss * p.samples as f64)
        .sum();
    PassSummary {
        steps: passes.iter().map(|p| p.steps).sum(),
        samples,
        mean_loss: if samples == 0 {
            f64::NAN
        } else {
            loss_sum / samples as f64
        },
        stopped: reached,
    }
}

impl MudaParams {
    /// One forget stage (epoch `epoch`): ascent with the DA regulariser on the forget set,
    /// one pass (`forget_stage_steps = 0`) or passes in fresh orders until that many steps,
    /// ended by the stopping rule; logs the stage and notes its steps, target and mean DA.
    pub(super) fn forget_stage(
        &self,
        ctx: &UnlearnContext,
        rec: &mut Recorder,
        model: &Model,
        opt: &mut Optimizer,
        run: &mut ForgetRun<'_>,
        epoch: usize,
    ) -> Result<()> {
        let target = match run.stop {
            None => None,
            Some(StopAt::Validation) => Some(ctx.accuracy(model, run.val)?),
            Some(StopAt::Fixed(p)) => Some(p),
        };
        let budget = self.forget_stage_steps;
        // A fresh subspace for this stage (at its first step).
        run.basis = None;
        let mut tally = StageTally::default();
        let mut passes = Vec::new();
        loop {
            // Pass p of epoch e is shuffled as epoch e + p·epochs: distinct for every
            // (stage, pass), and pass 0 is the single pass of `forget_stage_steps = 0`.
            let index = epoch + tally.passes * self.epochs;
            let pass = self.forget_pass(ctx, model, opt, run, index, target, &mut tally)?;
            tally.passes += 1;
            passes.push(pass);
            if budget == 0 || tally.reached || tally.steps >= budget || pass.steps == 0 {
                break;
            }
        }
        let pass = merge(&passes, tally.reached);
        rec.log(ctx, model, epoch + 1, "forget", &pass)?;
        let mut note = format!("epoch {} forget stage: {} steps", epoch + 1, pass.steps);
        if budget > 0 {
            let passes = if tally.passes == 1 { "pass" } else { "passes" };
            note += &format!(" (budget {budget}, {} {passes})", tally.passes);
        }
        if let Some(target) = target {
            note += &format!(
                ", stop target {target:.2}%{}",
                if tally.reached {
                    ", reached"
                } else {
                    ", not reached"
                }
            );
        }
        if tally.da_n > 0 {
            note += &format!(", mean DA_batch {:.4}", tally.da_sum / tally.da_n as f64);
        }
        rec.note(note);
        Ok(())
    }

    /// One pass of a forget stage over the forget set in the order of `index`, ending at the
    /// stopping rule's target or at the stage's step budget.
    #[allow(clippy::too_many_arguments)]
    fn forget_pass(
        &self,
        ctx: &UnlearnContext,
        model: &Model,
        opt: &mut Optimizer,
        run: &mut ForgetRun<'_>,
        index: usize,
        target: Option<f64>,
        tally: &mut StageTally,
    ) -> Result<PassSummary> {
        let budget = self.forget_stage_steps;
        let mut failure: Option<MethodError> = None;
        let train_mode = self.feature_mode == FeatureMode::Mixed;
        let mut plan = Pass::new(run.forget, "muda/forget", "forget", index, self.batch_size);
        if !train_mode {
            plan = plan.unaugmented();
        }
        let pass = ctx.pass(model, opt, plan, |b, info| {
            if self.da && (run.basis.is_none() || tally.steps.is_multiple_of(self.refresh)) {
                match self.subspace(ctx, model, run.reference, run.rule, run.refreshes) {
                    Ok(s) => run.basis = Some(s),
                    Err(e) => {
                        failure = Some(e);
                        return Ok(Step::Stop);
                    }
                }
                run.refreshes += 1;
            }
            let z = model.features(&b.x, train_mode)?;
            let logits = model.head(&z)?;
            if let Some(target) = target {
                let batch_correct = engine::count_correct(&logits.detach(), &b.y)?;
                tally.correct += batch_correct;
                tally.seen += b.indices.len();
                // Against the validation accuracy: the running accuracy of the
                // stage (one batch is too noisy a sample). Against a fixed
                // target such as 0: this batch's accuracy (the running one
                // never returns to 0 once a batch was classified).
                let accuracy = match run.stop {
                    Some(StopAt::Validation) => tally.correct as f64 / tally.seen as f64,
                    Some(StopAt::Fixed(_)) | None => {
                        batch_correct as f64 / b.indices.len().max(1) as f64
                    }
                };
                if 100.0 * accuracy <= target {
                    tally.reached = true;
                    return Ok(Step::Stop);
                }
            }
            let mut loss = (ce(&logits, &b.y)? * -self.lambda_ga)?;
            if let (true, Some(s)) = (self.da, run.basis.as_ref()) {
                let da = s.da(&z, &b.y)?;
                let da_value = da.to_scalar::<f32>()? as f64;
                tally.da_sum += da_value;
                tally.da_n += 1;
                info.field("da_batch", serde_json::json!(da_value));
                loss = (loss + ((da.neg()? + 1.0)? * self.lambda_da)?)?;
            }
            info.field("refreshes", serde_json::json!(run.refreshes));
            tally.steps += 1;
            Ok(if budget > 0 && tally.steps >= budget {
                Step::UpdateThenStop(loss)
            } else {
                Step::Update(loss)
            })
        })?;
        match failure {
            Some(e) => Err(e),
            None => Ok(pass),
        }
    }
}
