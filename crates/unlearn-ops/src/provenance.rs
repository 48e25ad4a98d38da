//! Provenance checks wherever two artefacts meet: a checkpoint and the split it is used
//! with, a features file and its reference, a manifest's scenario and its lists.
//!
//! A mismatch is an error ([`OnMismatch::Refuse`], the default) unless the user passed
//! `--force` ([`OnMismatch::Warn`]: a warning on stderr, and the command goes on). Two
//! combinations are legitimate and pass silently: an original trained on another split of
//! the same training list (splits of one training set share originals), and a foreign
//! checkpoint without this toolkit's metadata (nothing to compare). Evaluating or
//! extracting features of a model on a split other than its own is legitimate too, and only
//! warns.

use std::collections::BTreeMap;

use unlearn_data::{Dataset, SplitManifest};
use unlearn_models::CheckpointMeta;

use crate::error::{OpsError, Result};

/// What a provenance mismatch does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnMismatch {
    /// Stop with [`OpsError::Provenance`].
    #[default]
    Refuse,
    /// Print a warning and go on (`--force`).
    Warn,
}

impl OnMismatch {
    /// `Warn` when `force`, else `Refuse`.
    pub fn from_force(force: bool) -> Self {
        if force {
            OnMismatch::Warn
        } else {
            OnMismatch::Refuse
        }
    }

    /// Applies the policy to one problem.
    pub fn apply(self, problem: String) -> Result<()> {
        match self {
            OnMismatch::Refuse => Err(OpsError::Provenance(problem)),
            OnMismatch::Warn => {
                eprintln!("warning: {problem} (going on: --force)");
                Ok(())
            }
        }
    }
}

/// What a checkpoint is used as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelRole {
    /// The model to unlearn: it must have been trained on the split's training list.
    Original,
    /// A retrained model to compare with: trained on this very split's retain list.
    Reference,
    /// A model to evaluate or extract features from: any split of its data (another split
    /// only warns).
    Evaluated,
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Checks a checkpoint's metadata against the data and split it is used with; `label` names
/// it. Foreign checkpoints (`meta` = `None`) and metadata without the fields pass.
pub fn check_checkpoint(
    label: &str,
    meta: Option<&CheckpointMeta>,
    ds: &Dataset,
    manifest: &SplitManifest,
    role: ModelRole,
    on: OnMismatch,
) -> Result<()> {
    let Some(meta) = meta else {
        return Ok(());
    };
    if !meta.dataset_fingerprint.is_empty() && meta.dataset_fingerprint != ds.fingerprint {
        on.apply(format!(
            "checkpoint {label} was trained on data with fingerprint {} ({}), but the data given is {} with fingerprint {}",
            short(&meta.dataset_fingerprint),
            meta.dataset,
            ds.source,
            short(&ds.fingerprint)
        ))?;
    }
    let this_split = manifest.content_hash();
    let same_split = meta.split_sha256.is_empty() || meta.split_sha256 == this_split;
    match role {
        ModelRole::Original => {
            if meta.subset == "retain" {
                on.apply(format!(
                    "checkpoint {label} is a retrained model (trained on a retain list), not an original: unlearning it would start from a model that never saw the forget set"
                ))?;
            }
            let same_training = match meta.extra.get("train_sha256") {
                Some(t) => *t == manifest.train_identity(),
                None => same_split,
            };
            if !same_training {
                on.apply(format!(
                    "checkpoint {label} was trained on another training list (split {}), not on this split's ({}): the forget set is not what it learned",
                    short(&meta.split_sha256),
                    short(&this_split)
                ))?;
            }
        }
        ModelRole::Reference => {
            if !meta.subset.is_empty() && meta.subset != "retain" {
                on.apply(format!(
                    "reference {label} was trained on '{}', not on a retain list: a reference is a model retrained without the forget set",
                    meta.subset
                ))?;
            }
            if !same_split {
                on.apply(format!(
                    "reference {label} was retrained for split {}, not for this split ({}): its gaps would compare different forget sets",
                    short(&meta.split_sha256),
                    short(&this_split)
                ))?;
            }
        }
        ModelRole::Evaluated => {
            let same_training = meta
                .extra
                .get("train_sha256")
                .is_some_and(|t| *t == manifest.train_identity());
            if !same_split && !same_training {
                eprintln!(
                    "warning: checkpoint {label} was made for split {}, not this one ({}); its forget/retain accuracies are on this split's lists",
                    short(&meta.split_sha256),
                    short(&this_split)
                );
            }
        }
    }
    Ok(())
}

/// Checks that a features file (its metadata) was extracted on `manifest` of `ds`.
pub fn check_bundle_split(
    label: &str,
    metadata: &BTreeMap<String, String>,
    manifest: &SplitManifest,
    on: OnMismatch,
) -> Result<()> {
    let expected = manifest.content_hash();
    match metadata.get("split_sha256") {
        Some(h) if *h != expected => on.apply(format!(
            "features {label} were extracted on split {}, not on this split ({}): their gaps would compare different forget sets",
            short(h),
            short(&expected)
        )),
        _ => Ok(()),
    }
}

/// Checks that two features files come from the same data and split: the measured model's
/// (`label`) and a reference's.
pub fn check_bundles_agree(
    label: &str,
    metadata: &BTreeMap<String, String>,
    reference_label: &str,
    reference: &BTreeMap<String, String>,
    on: OnMismatch,
) -> Result<()> {
    for (key, what) in [("dataset_fingerprint", "data"), ("split_sha256", "split")] {
        if let (Some(a), Some(b)) = (metadata.get(key), reference.get(key)) {
            if a != b {
                on.apply(format!(
                    "reference {reference_label} was extracted on another {what} ({key} {}) than {label} ({}): the gaps would compare different sets",
                    short(b),
                    short(a)
                ))?;
            }
        }
    }
    Ok(())
}

/// Checks that the manifest's scenario describes its forget list (a hand-edited manifest
/// whose lists were changed and re-hashed does not).
pub fn check_scenario(
    label: &str,
    manifest: &SplitManifest,
    ds: &Dataset,
    on: OnMismatch,
) -> Result<()> {
    match manifest.scenario_mismatch(ds) {
        None => Ok(()),
        Some(reason) => on.apply(format!(
            "split {label}: scenario `{}` does not describe its forget list: {reason}; make it with `unlearn split`, or give a custom list with `unlearn split --forget-npy`",
            manifest.scenario
        )),
    }
}
