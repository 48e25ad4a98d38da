//! Models given to a study instead of trained by it (`reproduce --original …`,
//! `--oracle class:3=…`): each is described once when the plan is made (file, SHA-256,
//! architecture, input normalisation), and the study adopts their normalisation.

use unlearn_data::Scenario;
use unlearn_models::{checkpoint, CheckpointMeta, InputNormalization};

use super::load::{file_sha256, resolve_source};
use crate::error::{PipelineError, Result};
use crate::plan::{GivenModel, StudyConfig};

/// The given models of a study, resolved.
#[derive(Clone, Debug, Default)]
pub struct GivenModels {
    /// The original of every seed.
    pub original: Option<GivenModel>,
    /// Oracles: (index into the study's scenarios, model).
    pub oracles: Vec<(usize, GivenModel)>,
    /// The normalisation they agree on, if any records one.
    pub normalization: Option<InputNormalization>,
}

/// Describes the model `spec` names: resolves it (a download for `hf://` and `model:`),
/// hashes the file and reads what it says about its architecture and normalisation.
/// `fallback` is the normalisation used when it records none (`--normalize`).
pub fn describe_given(spec: &str, fallback: Option<&InputNormalization>) -> Result<GivenModel> {
    let source = resolve_source(spec)?;
    let ckpt = checkpoint::read(&source.path)?;
    let meta = (ckpt.metadata.get("format").map(String::as_str) == Some(checkpoint::FORMAT))
        .then(|| CheckpointMeta::from_map(&ckpt.metadata, &source.path))
        .transpose()?;
    let normalization = ckpt
        .normalization
        .clone()
        .or_else(|| meta.as_ref().and_then(|m| m.normalization.clone()))
        .or_else(|| source.normalization.clone())
        .or_else(|| fallback.cloned());
    Ok(GivenModel {
        spec: spec.to_string(),
        sha256: file_sha256(&source.path, "checkpoint")?,
        arch: source.arch.or(meta.map(|m| m.arch)),
        normalization,
    })
}

/// Resolves `cfg.original` and `cfg.oracles` against the study's `scenarios`: every
/// oracle's scenario must be one of them (once), and the models must agree on their input
/// normalisation, which the whole study then uses.
pub fn given_models(cfg: &StudyConfig, scenarios: &[Scenario]) -> Result<GivenModels> {
    let fallback = cfg.normalization.as_ref();
    let mut given = GivenModels {
        original: cfg
            .original
            .as_deref()
            .map(|s| describe_given(s, fallback))
            .transpose()?,
        ..Default::default()
    };
    for (scenario, spec) in &cfg.oracles {
        let index = scenarios.iter().position(|s| s == scenario).ok_or_else(|| {
            PipelineError::Plan(format!(
                "--oracle {scenario}={spec}: the study has no scenario {scenario} (its scenarios: {})",
                scenarios
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        if given.oracles.iter().any(|(i, _)| *i == index) {
            return Err(PipelineError::Plan(format!(
                "--oracle gives scenario {scenario} twice: one oracle per scenario"
            )));
        }
        given.oracles.push((index, describe_given(spec, fallback)?));
    }
    let models = given
        .original
        .iter()
        .chain(given.oracles.iter().map(|(_, m)| m));
    for m in models {
        match (&given.normalization, &m.normalization) {
            (None, Some(n)) => given.normalization = Some(n.clone()),
            (Some(a), Some(b)) if a != b => {
                return Err(PipelineError::Plan(format!(
                    "the given models disagree on their input normalisation: {} expects {}, another {}; a study feeds every model the same inputs",
                    m.spec,
                    b.to_arg(),
                    a.to_arg()
                )))
            }
            (_, None) => eprintln!(
                "warning: {} records no input normalisation: the data's own is used (give --normalize)",
                m.spec
            ),
            _ => {}
        }
    }
    Ok(given)
}
