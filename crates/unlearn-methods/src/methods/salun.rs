use std::collections::BTreeMap;

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};
use unlearn_models::Model;
use unlearn_train::engine;

use crate::choice::{choice_serde, Choice, ChoiceError};
use crate::context::UnlearnContext;
use crate::error::Result;
use crate::losses::ce;
use crate::methods::rl::random_label_training;
use crate::params::{is_cifar, Check, Params, SgdParams};
use crate::record::Recorder;
use crate::space::Span;
use crate::Method;

/// `salun` — saliency unlearning: a weight-saliency mask keeps the `sparsity` share of
/// weights with the largest `|∇_θ CE(D_f)|` (gradient of the original, eval mode, summed over
/// forget batches), then random-label unlearning ([`crate::methods::RlParams`]) updates only
/// those weights. Masked-out weights stay bit-identical to the original, weight decay and
/// momentum included ([`unlearn_train::Optimizer::step_masked`]).
///
/// Source: Fan et al., "SalUn: Empowering Machine Unlearning via Gradient-based Weight
/// Saliency in Both Image Classification and Generation", ICLR 2024.
///
/// Parameters (`quick` defaults, tuned: searched `epochs` ∈ {1, 2} at lr 0.01, budget 0.5; see
/// `TUNING.md`): `epochs` = 2, `lr` = 0.01, `momentum` = 0.9,
/// `weight_decay` = 5e-4, `batch_size` = 128, `sparsity` = 0.5 (share of weights updated),
/// `mask_scope` = `tensor` (threshold per tensor, as the specification says; `global` ranks
/// all weights together as the SalUn code does), `retain_budget` = 0.5.
/// `cifar10`/`cifar100`: 10 epochs, lr 0.013, budget 1.0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SalUnParams {
    /// Passes over forget ∪ retain budget.
    pub epochs: usize,
    /// SGD settings, flattened: `lr`, `momentum`, `weight_decay` and `batch_size` are
    /// top-level keys.
    #[serde(flatten)]
    pub sgd: SgdParams,
    /// Share of weights in the mask (updated); the rest stay bit-identical.
    pub sparsity: f64,
    /// `tensor`: top share within each tensor; `global`: top share of all weights together.
    pub mask_scope: MaskScope,
    /// Share of the retain set used (seeded subset).
    pub retain_budget: f64,
}

/// SalUn's `mask_scope`: where the saliency threshold is taken, written `tensor` or `global`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskScope {
    /// `tensor`: the top `sparsity` share within each tensor (the specification).
    Tensor,
    /// `global`: the top `sparsity` share of all weights ranked together (the SalUn code).
    Global,
}

impl Choice for MaskScope {
    const EXPECTED: &'static str = "one of tensor, global";
}

impl std::str::FromStr for MaskScope {
    type Err = ChoiceError;

    fn from_str(s: &str) -> std::result::Result<Self, ChoiceError> {
        match s {
            "tensor" => Ok(Self::Tensor),
            "global" => Ok(Self::Global),
            other => Err(ChoiceError::new::<Self>(other)),
        }
    }
}

impl std::fmt::Display for MaskScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Tensor => "tensor",
            Self::Global => "global",
        })
    }
}

choice_serde!(MaskScope);

impl Params for SalUnParams {
    const ID: &'static str = "salun";
    const SUMMARY: &'static str =
        "random labels restricted to the most forget-salient 50% of weights";
    const PAPER: &'static str = "Fan et al., SalUn, ICLR 2024";
    const DOCS: &'static [(&'static str, &'static str)] = &[
        ("epochs", "passes over forget ∪ retain budget"),
        crate::methods::OPT_DOCS[0],
        crate::methods::OPT_DOCS[1],
        crate::methods::OPT_DOCS[2],
        crate::methods::OPT_DOCS[3],
        (
            "sparsity",
            "share of weights in the saliency mask (the only ones updated)",
        ),
        (
            "mask_scope",
            "tensor (threshold per tensor) or global (one threshold over all weights)",
        ),
        (
            "retain_budget",
            "share of the retain set used (seeded subset)",
        ),
    ];

    const SPACE: &'static [(&'static str, Span)] = &[
        ("lr", Span::Log(1e-3, 0.05)),
        ("sparsity", Span::Linear(0.1, 0.9)),
        ("epochs", Span::Whole(1, 4)),
    ];

    fn preset(name: &str) -> Result<Self> {
        let cifar = is_cifar(name)?;
        Ok(Self {
            epochs: if cifar { 10 } else { 2 },
            sgd: SgdParams::standard(
                if cifar { 0.013 } else { 0.01 },
                if cifar { 256 } else { 128 },
            ),
            sparsity: 0.5,
            mask_scope: MaskScope::Tensor,
            retain_budget: if cifar { 1.0 } else { 0.5 },
        })
    }
}

/// The `keep` largest entries (ties broken by position) of `values` as a 0/1 vector.
fn top_mask(values: &[f32], keep: usize) -> Vec<u8> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    let mut mask = vec![0u8; values.len()];
    for &i in order.iter().take(keep) {
        mask[i] = 1;
    }
    mask
}

impl SalUnParams {
    /// The saliency masks of `model` on the forget set (U8 tensors by parameter name).
    pub fn saliency_masks(
        &self,
        ctx: &UnlearnContext,
        model: &Model,
    ) -> Result<BTreeMap<String, Tensor>> {
        let view = ctx.view(&ctx.split.forget);
        let grads = engine::gradient_sum(model, &view, self.sgd.batch_size, |b| {
            let logits = model.forward(&b.x, false)?;
            Ok(ce(&logits, &b.y)?)
        })?;
        let params = model.store().parameters();
        let mut saliency: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
        for (name, var) in &params {
            let dims = var.dims().to_vec();
            let values = match grads.get(name) {
                Some(g) => g
                    .abs()?
                    .flatten_all()?
                    .to_dtype(DType::F32)?
                    .to_vec1::<f32>()?,
                None => vec![0f32; var.elem_count()],
            };
            saliency.push((name.clone(), dims, values));
        }
        let round = |n: usize| ((self.sparsity * n as f64).round() as usize).min(n);
        let mut masks = BTreeMap::new();
        if self.mask_scope == MaskScope::Global {
            let all: Vec<f32> = saliency
                .iter()
                .flat_map(|(_, _, v)| v.iter().copied())
                .collect();
            let flat = top_mask(&all, round(all.len()));
            let mut offset = 0;
            for (name, dims, values) in &saliency {
                let m = flat[offset..offset + values.len()].to_vec();
                offset += values.len();
                masks.insert(
                    name.clone(),
                    Tensor::from_vec(m, dims.as_slice(), model.device())?,
                );
            }
        } else {
            for (name, dims, values) in &saliency {
                let m = top_mask(values, round(values.len()));
                masks.insert(
                    name.clone(),
                    Tensor::from_vec(m, dims.as_slice(), model.device())?,
                );
            }
        }
        Ok(masks)
    }
}

impl Method for SalUnParams {
    crate::methods::method_common!();

    fn validate(&self) -> Result<()> {
        Check(Self::ID)
            .at_least("epochs", self.epochs, 1)?
            .sgd(&self.sgd)?
            .fraction("sparsity", self.sparsity)?
            .fraction("retain_budget", self.retain_budget)?;
        Ok(())
    }

    fn unlearn(&self, ctx: &UnlearnContext, rec: &mut Recorder) -> Result<Model> {
        let model = ctx.working_copy()?;
        let masks = self.saliency_masks(ctx, &model)?;
        let (mut kept, mut total) = (0usize, 0usize);
        for m in masks.values() {
            kept += m.to_dtype(DType::U32)?.sum_all()?.to_scalar::<u32>()? as usize;
            total += m.elem_count();
        }
        rec.note(format!(
            "saliency mask ({} scope): {kept} of {total} weights updated",
            self.mask_scope
        ));
        random_label_training(
            ctx,
            rec,
            Self::ID,
            &model,
            self.epochs,
            &self.sgd,
            self.retain_budget,
            Some(&masks),
        )?;
        Ok(model)
    }
}
