//! The retain subspace of MUDA's DA term in each `da_form`, computed from the current model
//! and held constant for the gradient.

use candle_core::{Device, Tensor};
use unlearn_metrics::{KRule, RetainBasis};
use unlearn_models::Model;
use unlearn_train::engine;

use super::{DaForm, MudaParams};
use crate::context::UnlearnContext;
use crate::error::Result;
use crate::losses::{centre_rows, class_bases, da_batch, da_batch_centred, da_batch_per_class};

/// The retain subspace(s) `DA_batch` is measured against.
pub(super) enum Subspace {
    /// `uncentred`: `V_k` (d × k) of the reference features' second moment.
    Uncentred(Tensor),
    /// `centred`: the reference mean μ (d) and `V_k` of the centred reference features.
    Centred { mean: Tensor, v: Tensor },
    /// `per_class`: the global `V_k` and one `V_k` per class (`None`: fewer than 2 samples).
    PerClass {
        global: Tensor,
        classes: Vec<Option<Tensor>>,
    },
}

impl Subspace {
    /// `DA_batch` of `features` (n × d) with labels `labels` (n, u32), differentiable in
    /// `features`.
    pub(super) fn da(&self, features: &Tensor, labels: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Uncentred(v) => da_batch(features, v),
            Self::Centred { mean, v } => da_batch_centred(features, mean, v),
            Self::PerClass { global, classes } => {
                da_batch_per_class(features, &labels.to_vec1::<u32>()?, classes, global)
            }
        }
    }
}

fn basis_tensor(basis: RetainBasis, device: &Device) -> Result<Tensor> {
    Ok(Tensor::from_vec(basis.v_k, (basis.d, basis.k), device)?)
}

impl MudaParams {
    /// The subspace of `da_form` from the current model's retain reference features (eval
    /// mode).
    pub(super) fn subspace(
        &self,
        ctx: &UnlearnContext,
        model: &Model,
        reference: &[u32],
        rule: KRule,
        refresh_index: usize,
    ) -> Result<Subspace> {
        let d = model.feature_dim();
        let n = reference.len();
        let mut feats: Vec<f32> = Vec::with_capacity(n * d);
        let mut labels: Vec<u32> = Vec::new();
        let per_class = self.da_form == DaForm::PerClass;
        engine::for_each_batch(
            model,
            &ctx.view(reference),
            ctx.recipe.eval_batch_size.max(1),
            |b, _, z| {
                feats.extend(z.flatten_all()?.to_vec1::<f32>()?);
                if per_class {
                    labels.extend(b.y.to_vec1::<u32>()?);
                }
                Ok(())
            },
        )?;
        let (classes, seed) = (
            ctx.dataset.num_classes,
            ctx.seed.wrapping_add(refresh_index as u64),
        );
        let device = model.device();
        let basis =
            |rows: &[f32]| unlearn_metrics::retain_basis(rows, n, d, rule, classes, n, seed);
        Ok(match self.da_form {
            DaForm::Uncentred => Subspace::Uncentred(basis_tensor(basis(&feats)?, device)?),
            DaForm::Centred => {
                let (mean, centred) = centre_rows(&feats, n, d);
                Subspace::Centred {
                    mean: Tensor::from_vec(mean, d, device)?,
                    v: basis_tensor(basis(&centred)?, device)?,
                }
            }
            DaForm::PerClass => Subspace::PerClass {
                global: basis_tensor(basis(&feats)?, device)?,
                classes: class_bases(&feats, &labels, d, rule, classes, seed)?
                    .into_iter()
                    .map(|b| b.map(|b| basis_tensor(b, device)).transpose())
                    .collect::<Result<_>>()?,
            },
        })
    }
}
