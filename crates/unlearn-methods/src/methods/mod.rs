//! The twelve methods of the specification (§4, §4.1), one module each.
//!
//! Every method's parameter struct is the method: it implements [`crate::Method`] (run it)
//! and [`crate::Params`] (its id, docs and defaults). Its defaults are typed values in its
//! own file ([`crate::Params::defaults`], by preset and scenario kind): `quick` and `fmnist`
//! were tuned against the retrain model (on the embedded data and on full Fashion-MNIST; see
//! `docs/tuning.md`), `cifar10`/`cifar100` take the values of the methods' papers and of the
//! SalUn code base, untuned here.

mod be;
mod bs;
mod ft;
mod ga;
mod head_only;
mod l1;
mod muda;
mod neggrad;
mod retrain;
mod rl;
mod salun;
mod scrub;

pub use be::BeParams;
pub use bs::BsParams;
pub use ft::FtParams;
pub use ga::GaParams;
pub use head_only::HeadOnlyParams;
pub use l1::L1Params;
pub use muda::{DaForm, DaOn, MudaParams, StopTarget};
pub use neggrad::NegGradPlusParams;
pub use retrain::RetrainParams;
pub use rl::RlParams;
pub use salun::{MaskScope, SalUnParams};
pub use scrub::{DecayEpochs, ScrubParams};

/// `id()` and `params_json()` of [`crate::Method`] from the [`crate::Params`] impl.
macro_rules! method_common {
    () => {
        fn id(&self) -> &'static str {
            <Self as $crate::params::Params>::ID
        }

        fn params_json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
        }
    };
}
pub(crate) use method_common;

/// The optimiser fields every gradient method documents.
pub(crate) const OPT_DOCS: [(&str, &str); 4] = [
    ("lr", "learning rate (SGD, constant)"),
    ("momentum", "SGD momentum"),
    ("weight_decay", "SGD L2 weight decay"),
    ("batch_size", "mini-batch size"),
];
