//! MUDA's closed choices: `stop_target`, `da_form` and `da_on`, each written as its text.

use crate::choice::{choice_serde, Choice, ChoiceError};

/// MUDA's `stop_target`: `auto`, `val`, or a percentage in [0, 100], written as that text
/// (a percentage as the shortest decimal that reads back as the same number: `12.5`, `0`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StopTarget {
    /// `auto`: [`Self::Validation`] for random and imported forget sets, `0` for `class:` and
    /// `backdoor:` forget sets.
    Auto,
    /// `val`: the current model's validation accuracy at the start of each forget stage.
    Validation,
    /// A fixed forget accuracy in percent, in [0, 100].
    Percent(f64),
}

impl Choice for StopTarget {
    const EXPECTED: &'static str = "auto, val, or a percentage in [0, 100]";
}

impl std::str::FromStr for StopTarget {
    type Err = ChoiceError;

    fn from_str(s: &str) -> std::result::Result<Self, ChoiceError> {
        match s {
            "auto" => Ok(Self::Auto),
            "val" => Ok(Self::Validation),
            other => match other.parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) => Ok(Self::Percent(p)),
                _ => Err(ChoiceError::new::<Self>(other)),
            },
        }
    }
}

impl std::fmt::Display for StopTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Validation => f.write_str("val"),
            Self::Percent(p) => write!(f, "{p}"),
        }
    }
}

choice_serde!(StopTarget);

/// MUDA's `da_form`: how `DA_batch` is formed, written `uncentred`, `centred` or `per_class`.
///
/// Not offered: a principal-angle overlap between the forget batch's own top-`k` subspace
/// and `V_k`. Its gradient needs the batch's singular vectors, and candle has no SVD
/// backward; the SVD-free alternative, the projection onto the batch's whole row space, is
/// the identity whenever the batch has at least `d` samples (batch 128, `d` = 128 for the
/// small CNN), so the overlap would be the constant `k/d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DaForm {
    /// `uncentred` (the specification): the mean squared norm of the L2-normalised features
    /// projected on `V_k`, the top-`k` eigenvectors of the uncentred second moment of the
    /// retain reference features ([`crate::losses::da_batch`]).
    Uncentred,
    /// `centred`: the reference features' mean μ (computed with the basis, a constant) is
    /// subtracted from the reference features (`V_k` of the centred covariance) and from the
    /// features before they are normalised and projected ([`crate::losses::da_batch_centred`]).
    Centred,
    /// `per_class`: one subspace per class, from that class's reference features (same `k`
    /// rule, `k` capped by the class's sample count); each sample is scored against the
    /// subspace of its own label, or the global one when its class has fewer than 2
    /// reference samples (a forgotten class) ([`crate::losses::da_batch_per_class`]).
    PerClass,
}

impl Choice for DaForm {
    const EXPECTED: &'static str = "one of uncentred, centred, per_class";
}

impl std::str::FromStr for DaForm {
    type Err = ChoiceError;

    fn from_str(s: &str) -> std::result::Result<Self, ChoiceError> {
        match s {
            "uncentred" => Ok(Self::Uncentred),
            "centred" => Ok(Self::Centred),
            "per_class" => Ok(Self::PerClass),
            other => Err(ChoiceError::new::<Self>(other)),
        }
    }
}

impl std::fmt::Display for DaForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Uncentred => "uncentred",
            Self::Centred => "centred",
            Self::PerClass => "per_class",
        })
    }
}

choice_serde!(DaForm);

/// MUDA's `da_on`: where the DA term acts, written `forget` or `forget_and_retain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DaOn {
    /// `forget` (the specification): `λ_da·(1 − DA_batch)` of the forget batches, in the
    /// forget stage.
    Forget,
    /// `forget_and_retain`: also `λ_da·(1 − DA_batch)` of the retain batches (same form and
    /// subspace) in the recover stage's loss.
    ForgetAndRetain,
}

impl Choice for DaOn {
    const EXPECTED: &'static str = "one of forget, forget_and_retain";
}

impl std::str::FromStr for DaOn {
    type Err = ChoiceError;

    fn from_str(s: &str) -> std::result::Result<Self, ChoiceError> {
        match s {
            "forget" => Ok(Self::Forget),
            "forget_and_retain" => Ok(Self::ForgetAndRetain),
            other => Err(ChoiceError::new::<Self>(other)),
        }
    }
}

impl std::fmt::Display for DaOn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Forget => "forget",
            Self::ForgetAndRetain => "forget_and_retain",
        })
    }
}

choice_serde!(DaOn);

crate::choice::text_choice! {
    /// How MUDA's forget steps see the data, relative to the retain subspace (which is
    /// always computed in eval mode, without augmentation).
    pub enum FeatureMode {
        /// Forget batches unaugmented, forward in eval mode: the batch features live in the
        /// space of the basis, and the stopping rule's running accuracy is measured as the
        /// validation accuracy is (the default).
        Eval => "eval",
        /// Forget batches augmented, forward in training mode: batch features and basis in
        /// different BatchNorm modes, and the stopping rule compares training-mode accuracy
        /// on augmented batches with eval-mode validation accuracy (a departure: the
        /// toolkit's earlier behaviour).
        Mixed => "mixed",
    }
}
