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

/// A method's parameter struct, each field documented once: its text is both the field's
/// rustdoc and its line in `unlearn methods` ([`crate::params::FieldDocs`], in declaration
/// order). A field is written `name: Type = "what it does",` (attributes before it as
/// usual); a `#[serde(flatten)]` field is `name: Type = flatten,` (listed as the fields of
/// `Type`, itself written with this macro) or gives its keys' `(key, doc)` entries as a list.
macro_rules! params_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty = $doc:tt,
            )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $(
                #[doc = $crate::methods::field_doc!($doc)]
                $(#[$fmeta])*
                pub $field: $ty,
            )*
        }

        impl $crate::params::FieldDocs for $name {
            const DOCS: &'static [(&'static str, &'static str)] = {
                const PARTS: &[&[(&str, &str)]] = &[$($crate::methods::field_docs!($field, $ty, $doc)),*];
                const ALL: [(&str, &str); $crate::methods::docs_len(PARTS)] =
                    $crate::methods::docs_concat(PARTS);
                &ALL
            };
        }
    };
}
pub(crate) use params_struct;

/// A field's rustdoc in [`params_struct!`]: its text, or for a flattened struct a line
/// saying so.
macro_rules! field_doc {
    ($doc:literal) => {
        $doc
    };
    ($docs:tt) => {
        "Flattened: its fields are top-level keys of the listing, the run records and `--set` \
         (see its type)."
    };
}
pub(crate) use field_doc;

/// A field's `(parameter, documentation)` entries in [`params_struct!`]: its own, or for a
/// flattened struct (`flatten`) that struct's, or the listed ones.
macro_rules! field_docs {
    ($field:ident, $ty:ty, $doc:literal) => {
        &[(stringify!($field), $doc)]
    };
    ($field:ident, $ty:ty, flatten) => {
        <$ty as $crate::params::FieldDocs>::DOCS
    };
    ($field:ident, $ty:ty, [$($entry:expr),* $(,)?]) => {
        &[$($entry),*]
    };
}
pub(crate) use field_docs;

/// The number of entries of `parts` together.
pub(crate) const fn docs_len(parts: &[&[(&str, &str)]]) -> usize {
    let (mut n, mut i) = (0, 0);
    while i < parts.len() {
        n += parts[i].len();
        i += 1;
    }
    n
}

/// The entries of `parts`, in order, as one array of `N` (= [`docs_len`]) entries.
pub(crate) const fn docs_concat<const N: usize>(
    parts: &[&[(&'static str, &'static str)]],
) -> [(&'static str, &'static str); N] {
    let mut out = [("", ""); N];
    let (mut k, mut i) = (0, 0);
    while i < parts.len() {
        let mut j = 0;
        while j < parts[i].len() {
            out[k] = parts[i][j];
            k += 1;
            j += 1;
        }
        i += 1;
    }
    out
}
