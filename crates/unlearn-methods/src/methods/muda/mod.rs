//! `muda`: MUDA's parameters and run; the forget stage in [`forget`], the DA subspace of each
//! `da_form` in [`da`], the closed choices in [`choices`].

mod choices;
mod da;
mod forget;
mod joint;

use serde::{Deserialize, Serialize};
use unlearn_metrics::KRule;
use unlearn_models::Model;
use unlearn_train::engine::Step;
use unlearn_train::{Optimizer, SgdConfig};

pub use choices::{DaForm, DaOn, FeatureMode, StopTarget};
use forget::{ForgetRun, StopAt};

use crate::choice::Choice;
use crate::context::{Pass, UnlearnContext};
use crate::error::{MethodError, Result};
use crate::losses::{ce, distill_kl};
use crate::params::{is_cifar, Check, Params, Preset, ScenarioKind};
use crate::record::Recorder;
use crate::space::Span;
use crate::Method;

crate::methods::params_struct! {
    /// `muda` — machine unlearning with dimensional alignment (this project's formalisation,
    /// spec §4.1), three components, each switchable for ablations:
    ///
    /// 1. **Forget stage** (forget batches, lr `lr_forget`):
    ///    `L_F = −λ_ga·CE(f(x_f), y_f) + λ_da·(1 − DA_batch)`, where `DA_batch` is the mean
    ///    squared norm of the L2-normalised forget features projected on `V_k`, the top-`k`
    ///    eigenvectors of the uncentred second-moment matrix of the *current* model's retain
    ///    features (eval mode) on a reference set of `reference_size` retain samples (0 = `4·d`),
    ///    recomputed every `refresh` forget steps and held constant for the gradient. `da=false`
    ///    drops the DA term (plain gradient ascent). `da_form` varies how `DA_batch` is formed
    ///    (`centred`: about the reference mean; `per_class`: against each sample's class
    ///    subspace), `da_on = forget_and_retain` adds the term on the retain batches of the
    ///    recover stage, and `forget_stage_steps` gives a stage a step budget over repeated
    ///    passes of the forget set instead of one pass.
    /// 2. **Recover stage** (retain-budget batches, lr `lr_recover`):
    ///    `L_R = CE + λ_sd·T²·KL(softmax(f_o/T) ‖ softmax(f/T))`, self-distillation from the frozen
    ///    original `f_o`. `sd=false` keeps only the CE.
    /// 3. **Alternation**: each epoch runs a forget stage then a recover stage. With `stop_rule`,
    ///    a forget stage ends as soon as the running accuracy on its forget batches (cumulative
    ///    over the stage, logits before each update) falls to the current model's accuracy on (a
    ///    seeded subset of `val_samples` of) the validation set: a retrained model classifies its
    ///    forget set about as well as unseen data. No retrained model is needed. Both accuracies
    ///    are measured the same way: with `feature_mode = eval` (the default) the forget batches
    ///    are not augmented and go through the model in eval mode, as the validation set and the
    ///    retain subspace's reference features do. `alternate=false` (the `no-alt` ablation)
    ///    removes the alternation itself: every step sums the forget and recover losses of a
    ///    forget batch and a retain batch, `(lr_forget/lr_recover)·L_F + L_R` at `lr_recover`
    ///    (each loss keeps its own step size), for as many steps per epoch as full MUDA has
    ///    batches (forget and retain); the stopping rule drops `L_F` for the rest of an epoch.
    ///
    /// Source: Seo, Kim and Han, "Revisiting Machine Unlearning with Dimensional Alignment",
    /// WACV 2025 (arXiv 2407.17710); the equations are this project's formalisation (spec §4.1).
    ///
    /// Parameters (`quick` defaults; searched `lr_forget` ∈ {1e-3, 3e-3, 5e-3, 1e-2, 2e-2, 3e-2},
    /// `lambda_da` ∈ {0, 1, 5, 10}, `lambda_sd` ∈ {0.1, 0.3, 0.5, 1, 3}, `epochs` ∈ {2, 3, 5},
    /// `lr_recover` ∈ {0.005, 0.01, 0.03, 0.05}, `retain_budget` ∈ {0.1, 0.2}, `stop_rule`
    /// on/off, `stop_target` auto/val, on `random:0.1` and `class:3`; see `docs/tuning.md`):
    /// `epochs` = 3, `lr_forget` = 3e-3, `lr_recover` = 0.03 (`class:`: `lr_forget` = 0.01,
    /// `lr_recover` = 0.01, `lambda_sd` = 0.3), `momentum` = 0.9, `weight_decay` = 5e-4,
    /// `batch_size` = 128, `lambda_ga` = 1, `lambda_da` = 1, `lambda_sd` = 1, `temperature` = 4,
    /// `refresh` = 10, `k` = `classes`, `reference_size` = 0 (4·d), `retain_budget` = 1.0 (the
    /// study's shared budget; the DA reference set is drawn from it), `val_samples` = 1000,
    /// `feature_mode` = `eval`, `da` = `sd` = `alternate` = `stop_rule` = true, `stop_target` =
    /// `auto`, `da_form` = `uncentred`, `da_on` = `forget`, `forget_stage_steps` = 0 (the
    /// specification's MUDA; the three variants are searched by `unlearn tune`, untuned as
    /// defaults). `fmnist`: `lr_forget` = 1e-3 (`class:`: `lr_forget` = 0.01, `lr_recover` = 0.01,
    /// `lambda_sd` = 0.1), the rest as `quick` ([`MudaParams::defaults`](crate::Params::defaults)).
    /// `cifar10`/`cifar100` (untuned): `lr_forget` = 0.01, `lr_recover` = 0.01, batch 256,
    /// 5 epochs, the rest as `quick`.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct MudaParams {
        epochs: usize = "epochs, each a forget stage then a recover stage",
        lr_forget: f64 = "learning rate of the forget stages",
        lr_recover: f64 = "learning rate of the recover stages",
        momentum: f64 = "SGD momentum (separate buffers per stage)",
        weight_decay: f64 = "SGD L2 weight decay",
        batch_size: usize = "mini-batch size (forget and retain)",
        lambda_ga: f64 = "λ_ga, weight of the ascended forget cross-entropy",
        lambda_da: f64 = "λ_da, weight of the 1 − DA_batch regulariser",
        lambda_sd: f64 = "λ_sd, weight of the self-distillation KL",
        temperature: f64 = "T, distillation temperature",
        refresh: usize = "R, forget steps between refreshes of the retain subspace",
        k: String = "subspace dimension: classes, a number, or auto:τ",
        reference_size: usize = "retain reference samples for the subspace (0 = 4·d)",
        retain_budget: f64 = "share of the retain set used by the recover stage and the DA \
            reference (the study's shared budget)",
        val_samples: usize = "validation samples for the stopping rule's target",
        da: bool = "DA regulariser on (ablation: da=false)",
        sd: bool = "self-distillation on (ablation: sd=false)",
        alternate: bool = "interleave stages per epoch (ablation: alternate=false)",
        stop_rule: bool = "stop a forget stage when forget accuracy reaches the stop target",
        stop_target: StopTarget = "auto (val for random forget sets, 0 for class/backdoor), val, \
            or a percentage",
        da_form: DaForm = "DA_batch form: uncentred, centred (about the reference mean) or \
            per_class (each sample against its class subspace)",
        da_on: DaOn = "where the DA term acts: forget, or forget_and_retain (also on the recover \
            stage's retain batches)",
        forget_stage_steps: usize = "forget stage length: 0 = one pass over the forget set, N = up \
            to N steps over repeated passes",
        feature_mode: FeatureMode = "forget steps: eval (unaugmented, eval mode, like the subspace \
            and the stop rule's validation accuracy) or mixed (augmented, training mode)",
    }
}

impl MudaParams {
    /// The defaults of `preset` for an imported forget set (and the base of the others).
    fn general(preset: Preset) -> Self {
        let cifar = is_cifar(preset);
        Self {
            epochs: if cifar { 5 } else { 3 },
            lr_forget: match preset {
                Preset::Cifar10 | Preset::Cifar100 => 0.01,
                Preset::Quick => 3e-3,
                Preset::Fmnist => 1e-3,
            },
            lr_recover: if cifar { 0.01 } else { 0.03 },
            momentum: 0.9,
            weight_decay: 5e-4,
            batch_size: if cifar { 256 } else { 128 },
            lambda_ga: 1.0,
            lambda_da: 1.0,
            lambda_sd: 1.0,
            temperature: 4.0,
            refresh: 10,
            k: "classes".into(),
            reference_size: 0,
            retain_budget: 1.0,
            val_samples: 1000,
            da: true,
            sd: true,
            alternate: true,
            stop_rule: true,
            stop_target: StopTarget::Auto,
            da_form: DaForm::Uncentred,
            da_on: DaOn::Forget,
            forget_stage_steps: 0,
            feature_mode: FeatureMode::Eval,
        }
    }
}

impl Params for MudaParams {
    const ID: &'static str = "muda";
    const SUMMARY: &'static str = "forget stage (ascent + DA regulariser on the retain subspace), recover stage (self-distillation), alternated with a validation stopping rule";
    const PAPER: &'static str =
        "Seo, Kim and Han, Revisiting Machine Unlearning with Dimensional Alignment, WACV 2025";

    const SPACE: &'static [(&'static str, Span)] = &[
        ("lr_forget", Span::Log(1e-3, 3e-2)),
        ("lr_recover", Span::Log(3e-3, 0.1)),
        ("lambda_da", Span::Log(0.1, 10.0)),
        ("lambda_sd", Span::Log(0.03, 3.0)),
        ("epochs", Span::Whole(1, 4)),
        ("stop_rule", Span::Choice(&["true", "false"])),
        ("stop_target", Span::Choice(&["auto", "val"])),
        (
            "da_form",
            Span::Choice(&["uncentred", "centred", "per_class"]),
        ),
        ("da_on", Span::Choice(&["forget", "forget_and_retain"])),
        ("forget_stage_steps", Span::Choice(&["0", "25", "60"])),
    ];

    fn defaults(preset: Preset, scenario: ScenarioKind) -> Self {
        use {Preset::*, ScenarioKind::*};
        let general = Self::general(preset);
        match (preset, scenario) {
            // Round 6 of docs/tuning.md (reference-faithful loops, issue 28).
            (Quick, Random) => Self {
                epochs: 1,
                lr_forget: 0.00328,
                lr_recover: 0.00527,
                lambda_da: 0.59,
                lambda_sd: 2.58,
                stop_rule: true,
                stop_target: StopTarget::Validation,
                da_form: DaForm::Uncentred,
                da_on: DaOn::ForgetAndRetain,
                forget_stage_steps: 60,
                ..general
            },
            (Quick, Class) => Self {
                epochs: 4,
                lr_forget: 0.0158,
                lr_recover: 0.00961,
                lambda_da: 2.68,
                lambda_sd: 0.0443,
                stop_rule: true,
                stop_target: StopTarget::Auto,
                da_form: DaForm::Uncentred,
                da_on: DaOn::Forget,
                forget_stage_steps: 0,
                ..general
            },
            (Quick, Backdoor) => Self {
                epochs: 3,
                lr_forget: 0.0204,
                lr_recover: 0.00896,
                lambda_da: 5.2,
                lambda_sd: 0.0645,
                stop_rule: true,
                stop_target: StopTarget::Auto,
                da_form: DaForm::Uncentred,
                da_on: DaOn::Forget,
                forget_stage_steps: 25,
                ..general
            },
            (Fmnist, Class) => Self {
                lr_forget: 0.01,
                lr_recover: 0.01,
                lambda_sd: 0.1,
                ..general
            },
            (Fmnist, Backdoor) => Self {
                lr_forget: 0.01,
                lr_recover: 0.01,
                lambda_sd: 0.5,
                ..general
            },
            _ => general,
        }
    }
}

impl MudaParams {
    /// `stop_target` checked: a [`StopTarget::Percent`] built in code (not parsed) may lie
    /// outside [0, 100].
    fn stop_setting(&self) -> Result<StopTarget> {
        match self.stop_target {
            StopTarget::Percent(p) if !(0.0..=100.0).contains(&p) => {
                Err(MethodError::InvalidParam {
                    method: Self::ID.into(),
                    key: "stop_target".into(),
                    value: p.to_string(),
                    expected: StopTarget::EXPECTED.into(),
                })
            }
            target => Ok(target),
        }
    }

    /// The stopping rule's target for `scenario`: `auto` is 0 % for class and backdoor
    /// forget sets (the retrain model classifies none of them as labelled) and the
    /// validation accuracy otherwise.
    fn stop_target(&self, scenario: &unlearn_data::Scenario) -> Result<StopAt> {
        use unlearn_data::Scenario;
        Ok(match self.stop_setting()? {
            StopTarget::Validation => StopAt::Validation,
            StopTarget::Percent(p) => StopAt::Fixed(p),
            StopTarget::Auto => match scenario {
                Scenario::Class { .. } | Scenario::Backdoor(_) => StopAt::Fixed(0.0),
                _ => StopAt::Validation,
            },
        })
    }

    fn k_rule(&self) -> Result<KRule> {
        let bad = || MethodError::InvalidParam {
            method: Self::ID.into(),
            key: "k".into(),
            value: self.k.clone(),
            expected: "classes, a whole number ≥ 1, or auto:τ with τ in (0, 1]".into(),
        };
        match self.k.parse::<KRule>().map_err(|_| bad())? {
            KRule::Fixed(0) => Err(bad()),
            KRule::Auto(t) if !(t > 0.0 && t <= 1.0) => Err(bad()),
            rule => Ok(rule),
        }
    }

    /// The retain reference set: `reference_size` (0 = 4·d) samples drawn from the retain
    /// budget, or all of it when the budget is smaller (the DA term sees no retain sample
    /// outside the study's shared budget).
    fn reference(&self, ctx: &UnlearnContext, budget: &[u32], d: usize) -> Vec<u32> {
        let want = if self.reference_size == 0 {
            4 * d
        } else {
            self.reference_size
        };
        if budget.len() <= want {
            return budget.to_vec();
        }
        let mut rng = unlearn_data::rng::seeded(ctx.seed, "muda/reference");
        unlearn_data::rng::sample_sorted(budget, want, &mut rng).unwrap_or_default()
    }
}

impl Method for MudaParams {
    crate::methods::method_common!();

    fn validate(&self) -> Result<()> {
        Check(Self::ID)
            .at_least("epochs", self.epochs, 1)?
            .optimizer(
                self.lr_forget,
                self.momentum,
                self.weight_decay,
                self.batch_size,
            )?
            .positive("lr_recover", self.lr_recover)?
            .non_negative("lambda_ga", self.lambda_ga)?
            .non_negative("lambda_da", self.lambda_da)?
            .non_negative("lambda_sd", self.lambda_sd)?
            .positive("temperature", self.temperature)?
            .at_least("refresh", self.refresh, 1)?
            .fraction("retain_budget", self.retain_budget)?
            .at_least("val_samples", self.val_samples, 1)?;
        self.k_rule()?;
        self.stop_setting()?;
        if self.lambda_ga == 0.0 && !(self.da && self.lambda_da > 0.0) {
            return Err(MethodError::InvalidParam {
                method: Self::ID.into(),
                key: "lambda_ga".into(),
                value: "0".into(),
                expected: "> 0 when the DA term is off (da=false or lambda_da=0): the \
                           forget stage would have no loss"
                    .into(),
            });
        }
        Ok(())
    }

    fn unlearn(&self, ctx: &UnlearnContext, rec: &mut Recorder) -> Result<Model> {
        let model = ctx.working_copy()?;
        let rule = self.k_rule()?;
        let budget = ctx.retain_budget(Self::ID, self.retain_budget)?;
        let forget = ctx.split.forget.clone();
        let reference = if self.da {
            self.reference(ctx, &budget, model.feature_dim())
        } else {
            Vec::new()
        };
        let val = {
            let mut rng = unlearn_data::rng::seeded(ctx.seed, "muda/val");
            let k = self.val_samples.min(ctx.split.val.len());
            unlearn_data::rng::sample_sorted(&ctx.split.val, k, &mut rng).unwrap_or_default()
        };
        let stop_target = self.stop_target(&ctx.split.scenario)?;
        let stop_rule =
            self.stop_rule && (!val.is_empty() || matches!(stop_target, StopAt::Fixed(_)));
        if self.stop_rule && !stop_rule {
            rec.note("the split has no validation set: stopping rule off");
        }
        if stop_rule {
            rec.note(match stop_target {
                StopAt::Validation => {
                    "stop target: the validation accuracy at the start of each forget stage"
                        .to_string()
                }
                StopAt::Fixed(p) => format!("stop target: {p}% forget accuracy"),
            });
        }
        if !self.da && (self.da_form != DaForm::Uncentred || self.da_on != DaOn::Forget) {
            rec.note("da=false: da_form and da_on have no effect");
        }
        rec.note(format!(
            "retain budget {} of {} samples; DA reference {} samples",
            budget.len(),
            ctx.split.retain.len(),
            reference.len()
        ));
        let params = model.store().parameters();
        let mut run = ForgetRun {
            forget: &forget,
            reference: &reference,
            val: &val,
            rule,
            stop: stop_rule.then_some(stop_target),
            basis: None,
            refreshes: 0,
        };
        if !self.alternate {
            let mut opt = ctx.sgd(
                params,
                SgdConfig::new(self.lr_recover, self.momentum, self.weight_decay),
            )?;
            for epoch in 0..self.epochs {
                self.joint_epoch(ctx, rec, &model, &mut opt, &budget, &mut run, epoch)?;
            }
            return Ok(model);
        }
        let mut opt_f = ctx.sgd(
            params.clone(),
            SgdConfig::new(self.lr_forget, self.momentum, self.weight_decay),
        )?;
        if self.lambda_ga == 0.0 {
            // Only the DA term acts on forget batches: it does not reach the head, which is
            // declared frozen for the forget stages.
            opt_f.freeze(|name| model.is_head_tensor(name));
        }
        let mut opt_r = ctx.sgd(
            params,
            SgdConfig::new(self.lr_recover, self.momentum, self.weight_decay),
        )?;
        for epoch in 0..self.epochs {
            self.forget_stage(ctx, rec, &model, &mut opt_f, &mut run, epoch)?;
            self.recover_stage(ctx, rec, &model, &mut opt_r, &budget, &mut run, epoch)?;
        }
        Ok(model)
    }
}

impl MudaParams {
    /// One recover stage (epoch `epoch`) on the retain budget: CE with self-distillation
    /// from the original, and with `da_on = forget_and_retain` the DA term of the retain
    /// batches against the forget stages' current subspace.
    #[allow(clippy::too_many_arguments)]
    fn recover_stage(
        &self,
        ctx: &UnlearnContext,
        rec: &mut Recorder,
        model: &Model,
        opt: &mut Optimizer,
        budget: &[u32],
        run: &mut ForgetRun<'_>,
        epoch: usize,
    ) -> Result<()> {
        let retain_da = self.da && self.da_on == DaOn::ForgetAndRetain;
        if retain_da && run.basis.is_none() {
            run.basis = Some(self.subspace(ctx, model, run.reference, run.rule, run.refreshes)?);
            run.refreshes += 1;
        }
        let subspace = if retain_da { run.basis.as_ref() } else { None };
        let (teacher, t) = (ctx.original, self.temperature);
        let (mut da_sum, mut da_n) = (0f64, 0usize);
        let plan = Pass::new(budget, "muda/recover", "recover", epoch, self.batch_size);
        let pass = ctx.pass(model, opt, plan, |b, _| {
            let (s, da) = match subspace {
                None => (model.forward(&b.x, true)?, None),
                Some(sub) => {
                    let z = model.features(&b.x, true)?;
                    (model.head(&z)?, Some(sub.da(&z, &b.y)?))
                }
            };
            let mut loss = ce(&s, &b.y)?;
            if self.sd && self.lambda_sd > 0.0 {
                let te = teacher.forward(&b.x, false)?.detach();
                loss = (loss + (distill_kl(&s, &te, t)? * self.lambda_sd)?)?;
            }
            if let Some(da) = da {
                da_sum += da.to_scalar::<f32>()? as f64;
                da_n += 1;
                loss = (loss + ((da.neg()? + 1.0)? * self.lambda_da)?)?;
            }
            Ok(Step::Update(loss))
        })?;
        rec.log(ctx, model, epoch + 1, "recover", &pass)?;
        if da_n > 0 {
            rec.note(format!(
                "epoch {} recover stage: mean retain DA_batch {:.4}",
                epoch + 1,
                da_sum / da_n as f64
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::set_param;
    use unlearn_data::{BackdoorSpec, Scenario};

    /// The quick defaults with `--set stop_target=<t>`.
    fn with_target(t: &str) -> Result<MudaParams> {
        set_param(
            &MudaParams::defaults(Preset::Quick, ScenarioKind::Other),
            "stop_target",
            t,
        )
    }

    #[test]
    fn stop_target_resolves_per_scenario_and_rejects_bad_values() -> Result<()> {
        let random = Scenario::Random { fraction: 0.1 };
        let class = Scenario::Class { classes: vec![3] };
        let backdoor = Scenario::Backdoor(BackdoorSpec::default());
        let auto = with_target("auto")?;
        assert_eq!(auto.stop_target(&random)?, StopAt::Validation);
        assert_eq!(auto.stop_target(&class)?, StopAt::Fixed(0.0));
        assert_eq!(auto.stop_target(&backdoor)?, StopAt::Fixed(0.0));
        assert_eq!(with_target("val")?.stop_target(&class)?, StopAt::Validation);
        assert_eq!(
            with_target("12.5")?.stop_target(&random)?,
            StopAt::Fixed(12.5)
        );
        for bad in ["101", "-1", "validation", "", "NaN", "inf"] {
            match with_target(bad) {
                Err(err) => assert_eq!(
                    err.to_string(),
                    format!(
                        "muda: parameter stop_target = '{bad}' is invalid: expected auto, val, \
                         or a percentage in [0, 100]"
                    )
                ),
                Ok(p) => panic!("stop_target = {bad:?} was accepted: {:?}", p.stop_target),
            }
        }
        // Built in code rather than parsed, an out-of-range percentage still fails validation.
        let built = MudaParams {
            stop_target: StopTarget::Percent(101.0),
            ..MudaParams::defaults(Preset::Quick, ScenarioKind::Other)
        };
        let err = built.validate().expect_err("101 % accepted").to_string();
        assert!(
            err.contains("stop_target") && err.contains("[0, 100]"),
            "{err}"
        );
        auto.validate()
    }

    #[test]
    fn stop_target_is_written_as_the_text_it_was() -> Result<()> {
        for text in ["auto", "val", "12.5", "0", "100", "33.333"] {
            let p = with_target(text)?;
            assert_eq!(p.stop_target.to_string(), text);
            assert_eq!(p.params_json()["stop_target"], text);
            let back: MudaParams = serde_json::from_value(p.params_json())
                .map_err(|e| MethodError::Mismatch(e.to_string()))?;
            assert_eq!(back, p);
        }
        assert_eq!(with_target("val")?.stop_target, StopTarget::Validation);
        assert_eq!(with_target("7")?.stop_target, StopTarget::Percent(7.0));
        Ok(())
    }

    #[test]
    fn da_form_and_da_on_parse_and_are_written_as_their_text() -> Result<()> {
        let quick = MudaParams::defaults(Preset::Quick, ScenarioKind::Other);
        for (text, form) in [
            ("uncentred", DaForm::Uncentred),
            ("centred", DaForm::Centred),
            ("per_class", DaForm::PerClass),
        ] {
            assert_eq!(text.parse::<DaForm>(), Ok(form));
            assert_eq!(form.to_string(), text);
            let p = set_param(&quick, "da_form", text)?;
            assert_eq!(p.da_form, form);
            assert_eq!(p.params_json()["da_form"], text);
            let back: MudaParams = serde_json::from_value(p.params_json())
                .map_err(|e| MethodError::Mismatch(e.to_string()))?;
            assert_eq!(back, p);
        }
        for (text, on) in [
            ("forget", DaOn::Forget),
            ("forget_and_retain", DaOn::ForgetAndRetain),
        ] {
            assert_eq!(text.parse::<DaOn>(), Ok(on));
            assert_eq!(on.to_string(), text);
            let p = set_param(&quick, "da_on", text)?;
            assert_eq!(p.da_on, on);
            assert_eq!(p.params_json()["da_on"], text);
        }
        assert_eq!(
            set_param(&quick, "forget_stage_steps", "25")?.forget_stage_steps,
            25
        );
        // The defaults are the specification's MUDA.
        assert_eq!(
            (quick.da_form, quick.da_on, quick.forget_stage_steps),
            (DaForm::Uncentred, DaOn::Forget, 0)
        );
        Ok(())
    }

    #[test]
    fn da_form_and_da_on_reject_other_text_naming_their_values() -> Result<()> {
        let quick = MudaParams::defaults(Preset::Quick, ScenarioKind::Other);
        for bad in ["centered", "Centred", "per-class", ""] {
            let err = set_param(&quick, "da_form", bad)
                .expect_err("accepted")
                .to_string();
            assert_eq!(
                err,
                format!(
                    "muda: parameter da_form = '{bad}' is invalid: expected one of uncentred, \
                     centred, per_class"
                )
            );
            assert_eq!(
                bad.parse::<DaForm>().map_err(|e| e.to_string()),
                Err(format!(
                    "'{bad}' is invalid: expected one of uncentred, centred, per_class"
                ))
            );
        }
        for bad in ["retain", "both", "forget+retain"] {
            let err = set_param(&quick, "da_on", bad)
                .expect_err("accepted")
                .to_string();
            assert_eq!(
                err,
                format!(
                    "muda: parameter da_on = '{bad}' is invalid: expected one of forget, \
                     forget_and_retain"
                )
            );
            assert!(bad.parse::<DaOn>().is_err());
        }
        assert!(set_param(&quick, "forget_stage_steps", "-1").is_err());
        assert!(set_param(&quick, "forget_stage_steps", "many").is_err());
        Ok(())
    }
}
