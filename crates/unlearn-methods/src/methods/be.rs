use candle_core::Tensor;
use serde::{Deserialize, Serialize};
use unlearn_models::{Model, ModelSpec};
use unlearn_train::engine::Step;

use crate::context::{Pass, UnlearnContext};
use crate::error::{MethodError, Result};
use crate::losses::ce;
use crate::params::{batch_size, Check, Params, Preset, ScenarioKind, SgdParams};
use crate::record::Recorder;
use crate::space::Span;
use crate::Method;

crate::methods::params_struct! {
    /// `be` — boundary expanding: widen the head with one shadow class (its row freshly
    /// initialised, seeded), train the whole widened model to put every forget sample into the
    /// shadow class, then drop the shadow neuron. The result is an ordinary N-class model: the
    /// saved checkpoint has the original architecture and loads like any other.
    ///
    /// Source: Chen et al., "Boundary Unlearning: Rapid Forgetting of Deep Networks via Shifting
    /// the Decision Space", CVPR 2023.
    ///
    /// Parameters (`quick` defaults, tuned: searched `lr` ∈ {1e-4, 3e-4, 1e-3, 1e-2} × `epochs` ∈
    /// {1, 2, 5}, see `docs/tuning.md`): `epochs` = 2, `lr` = 1e-4, `momentum` = 0.9,
    /// `weight_decay` = 5e-4, `batch_size` = 128 (`class:` scenarios: lr 1e-3, see
    /// `docs/tuning.md`). `cifar10`/`cifar100`: 10 epochs, lr 1e-5
    /// (the paper's values).
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct BeParams {
        epochs: usize = "passes over the forget set",
        #[serde(flatten)]
        sgd: SgdParams = flatten,
    }
}

impl Params for BeParams {
    const ID: &'static str = "be";
    const SUMMARY: &'static str =
        "train forget samples into an extra shadow class, then remove the shadow neuron";
    const PAPER: &'static str = "Chen et al., Boundary Unlearning, CVPR 2023";

    const SPACE: &'static [(&'static str, Span)] =
        &[("lr", Span::Log(1e-5, 1e-2)), ("epochs", Span::Whole(1, 4))];

    fn defaults(preset: Preset, scenario: ScenarioKind) -> Self {
        use {Preset::*, ScenarioKind::*};
        let (epochs, lr) = match (preset, scenario) {
            (Cifar10 | Cifar100, _) => (10, 1e-5),
            (Quick, Class) => (2, 1e-3),
            (Quick, Random) => (3, 0.00017),
            (Quick, Backdoor) => (1, 0.00458),
            (Quick, _) => (2, 1e-4),
            (Fmnist, Class) => (1, 3e-4),
            (Fmnist, _) => (1, 1e-4),
        };
        Self {
            epochs,
            sgd: SgdParams::standard(lr, batch_size(preset)),
        }
    }
}

/// Copies every tensor of `src` into `dst` by name; head tensors go through `head(name,
/// src_tensor, dst_tensor)`, which returns the value to store.
fn transfer<F>(dst: &Model, src: &Model, mut head: F) -> Result<()>
where
    F: FnMut(&Tensor, &Tensor) -> Result<Tensor>,
{
    for (name, var, _) in dst.store().all() {
        let Some(s) = src.store().get(&name) else {
            return Err(MethodError::Mismatch(format!(
                "boundary expanding: tensor '{name}' missing in the source model"
            )));
        };
        let value = if dst.is_head_tensor(&name) {
            head(s.as_tensor(), var.as_tensor())?
        } else {
            s.as_tensor().copy()?
        };
        var.set(&value)?;
    }
    for (name, v) in src.store().counters() {
        dst.store().set_counter(&name, v);
    }
    Ok(())
}

impl Method for BeParams {
    crate::methods::method_common!();

    fn validate(&self) -> Result<()> {
        Check(Self::ID)
            .at_least("epochs", self.epochs, 1)?
            .sgd(&self.sgd)?;
        Ok(())
    }

    fn unlearn(&self, ctx: &UnlearnContext, rec: &mut Recorder) -> Result<Model> {
        let spec = ctx.original.spec().clone();
        let n = spec.num_classes;
        let wide_spec = ModelSpec {
            num_classes: n + 1,
            ..spec.clone()
        };
        // The shadow row keeps the wide model's seeded default initialisation.
        let wide = Model::new(&wide_spec, ctx.device, ctx.seed)?
            .with_normalization(ctx.original.normalization().cloned())?;
        transfer(&wide, ctx.original, |orig, fresh| {
            let shadow = fresh.narrow(0, n, 1)?;
            Ok(Tensor::cat(&[&orig.copy()?, &shadow], 0)?)
        })?;
        let forget = ctx.split.forget.clone();
        // The shadow row's initial values, for the trace: a replay appends the same row.
        let shadow = if ctx.trace.is_some() {
            let prefix = spec.arch.head_prefix();
            let row = |leaf: &str| -> Result<Vec<f32>> {
                let var = wide
                    .store()
                    .get(&format!("{prefix}.{leaf}"))
                    .ok_or_else(|| {
                        MethodError::Mismatch(format!("the widened model has no {prefix}.{leaf}"))
                    })?;
                Ok(var
                    .as_tensor()
                    .narrow(0, n, 1)?
                    .flatten_all()?
                    .to_vec1::<f32>()?)
            };
            let bias = row("bias")?;
            Some(serde_json::json!({"weight": row("weight")?, "bias": bias.first().copied()}))
        } else {
            None
        };
        let mut opt = ctx.sgd(wide.store().parameters(), self.sgd.optimizer())?;
        for epoch in 0..self.epochs {
            let plan = Pass::new(&forget, "be", "forget", epoch, self.sgd.batch_size);
            let pass = ctx.pass(&wide, &mut opt, plan, |b, info| {
                if let (0, 0, Some(row)) = (epoch, info.index, &shadow) {
                    info.field("shadow", row.clone());
                }
                let y = Tensor::full(n as u32, b.indices.len(), wide.device())?;
                info.labels(&y);
                let logits = wide.forward(&b.x, true)?;
                Ok(Step::Update(ce(&logits, &y)?))
            })?;
            // Measure the pruned model, as it will be saved.
            let pruned = ctx.original.deep_clone()?;
            transfer(&pruned, &wide, |w, _| Ok(w.narrow(0, 0, n)?.copy()?))?;
            rec.log(ctx, &pruned, epoch + 1, "forget", &pass)?;
        }
        let out = ctx.original.deep_clone()?;
        transfer(&out, &wide, |w, _| Ok(w.narrow(0, 0, n)?.copy()?))?;
        rec.note(
            "shadow neuron: removed after training, as in Chen et al. (boundary_ex); the \
             SalUn harness keeps it, which the toolkit does not offer (its metrics compare \
             models with the dataset's classes)",
        );
        Ok(out)
    }
}
