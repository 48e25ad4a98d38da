//! Models given to a study instead of trained by it (`reproduce --original …`,
//! `--oracle class:3=…`): each is described once when the plan is made (file, SHA-256,
//! architecture, input normalisation), and the study adopts their normalisation.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use unlearn_data::Scenario;
use unlearn_models::registry::{self, ModelEntry};
use unlearn_models::{checkpoint, Arch, CheckpointMeta, Normalization};

use crate::error::{OpsError, Result};
use crate::load::resolve_source;
use crate::provenance::OnMismatch;

/// A model given to a study instead of trained by it: it is imported into the store as a
/// toolkit checkpoint ([`crate::import_checkpoint`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GivenModel {
    /// As the user named it (a path, `hf://…` or `model:<id>`).
    pub spec: String,
    /// SHA-256 of its file: part of every key downstream.
    pub sha256: String,
    /// Its architecture, when the file or the registry names it.
    pub arch: Option<Arch>,
    /// Its input normalisation, when known.
    pub normalization: Option<Normalization>,
}

/// The models a study is given, as the user named them (a study's `--original`,
/// `--oracle`, `--normalize` and `--force`).
#[derive(Clone, Copy, Debug, Default)]
pub struct GivenRequest<'a> {
    /// The original of every seed (`--original`: a path, `hf://…` or `model:<id>`).
    pub original: Option<&'a str>,
    /// Retrained oracles, per scenario (`--oracle class:3=…`).
    pub oracles: &'a [(Scenario, String)],
    /// Input normalisation of the given models when they record none (`--normalize`).
    pub normalization: Option<&'a Normalization>,
    /// `--force`: a given model whose provenance does not fit its role is used with a
    /// warning instead of refused.
    pub force: bool,
}

/// The given models of a study, resolved.
#[derive(Clone, Debug, Default)]
pub struct GivenModels {
    /// The original of every seed.
    pub original: Option<GivenModel>,
    /// Oracles: (index into the study's scenarios, model).
    pub oracles: Vec<(usize, GivenModel)>,
    /// The normalisation they agree on, if any records one.
    pub normalization: Option<Normalization>,
}

/// What a given model's file says about where it came from, for the provenance checks.
struct Origin {
    /// The toolkit metadata, when the file has it.
    meta: Option<CheckpointMeta>,
    /// The registry entry it is, or was imported from (`x.imported_from = model:<id>`).
    entry: Option<ModelEntry>,
    /// SHA-256 of its tensors' names and values (the same weights in two files match).
    weights: Vec<u8>,
}

/// Describes the model `spec` names: resolves it (a download for `hf://` and `model:`),
/// hashes the file and reads what it says about its architecture and normalisation.
/// `fallback` is the normalisation used when it records none (`--normalize`).
pub fn describe_given(spec: &str, fallback: Option<&Normalization>) -> Result<GivenModel> {
    Ok(describe(spec, fallback)?.0)
}

fn describe(spec: &str, fallback: Option<&Normalization>) -> Result<(GivenModel, Origin)> {
    let source = resolve_source(spec)?;
    let ckpt = source.read(false)?;
    let meta = (ckpt.metadata.get("format").map(String::as_str) == Some(checkpoint::FORMAT))
        .then(|| CheckpointMeta::from_map(&ckpt.metadata, &source.path))
        .transpose()?;
    let normalization = ckpt
        .normalization
        .clone()
        .or_else(|| meta.as_ref().and_then(|m| m.normalization.clone()))
        .or_else(|| source.normalization.clone())
        .or_else(|| fallback.cloned());
    let imported = meta
        .as_ref()
        .and_then(|m| m.extra.get("imported_from"))
        .and_then(|f| f.strip_prefix(registry::SPEC_PREFIX))
        .and_then(|id| {
            registry::Registry::load_default()
                .ok()?
                .get(id)
                .ok()
                .cloned()
        });
    let mut digest = Sha256::new();
    for (name, t) in &ckpt.tensors {
        digest.update(name.as_bytes());
        for v in t.flatten_all()?.to_vec1::<f32>()? {
            digest.update(v.to_le_bytes());
        }
    }
    let origin = Origin {
        entry: source.entry.clone().or(imported),
        weights: digest.finalize().to_vec(),
        meta: meta.clone(),
    };
    let model = GivenModel {
        spec: spec.to_string(),
        sha256: unlearn_io::sha256_file(&source.path, "checkpoint")?,
        arch: source.arch.or(meta.map(|m| m.arch)),
        normalization,
    };
    Ok((model, origin))
}

/// Problems with a given original: a retrained model, a registry oracle, other data.
fn original_problems(m: &GivenModel, o: &Origin, fingerprint: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(meta) = &o.meta {
        if meta.subset == "retain" {
            out.push(format!("--original {} is a retrained model (its metadata says it was trained on a retain list), not an original: unlearning it would start from a model that never saw the forget set", m.spec));
        }
        if !meta.dataset_fingerprint.is_empty() && meta.dataset_fingerprint != fingerprint {
            out.push(format!("--original {} was trained on other data ({}, fingerprint {}) than this study's (fingerprint {})", m.spec, meta.dataset, short(&meta.dataset_fingerprint), short(fingerprint)));
        }
    }
    if let Some(forget) = o
        .entry
        .as_ref()
        .and_then(|e| e.forget.as_ref().map(|f| (e, f)))
    {
        out.push(format!(
            "--original {} is registry entry '{}', an oracle retrained without {}, not an original",
            m.spec, forget.0.id, forget.1
        ));
    }
    out
}

/// Problems with the oracle of `scenario`: it is the original, or it trained on what the
/// scenario forgets (by its metadata's subset and data, or its registry entry's `forget`).
fn oracle_problems(
    scenario: &Scenario,
    m: &GivenModel,
    o: &Origin,
    original: Option<&(GivenModel, Origin)>,
    fingerprint: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    let name = format!("--oracle {scenario}={}", m.spec);
    if let Some((orig, orig_origin)) = original {
        if orig.sha256 == m.sha256 {
            out.push(format!("{name} is the --original itself (the same file, SHA-256 {}): an oracle must be retrained without the forget set, and the original was trained on it", short(&m.sha256)));
        } else if orig_origin.weights == o.weights {
            out.push(format!("{name} has the same weights as --original {} (another file, the same tensors): an oracle must be retrained without the forget set", orig.spec));
        }
    }
    if let Some(meta) = &o.meta {
        if !meta.subset.is_empty() && meta.subset != "retain" {
            out.push(format!("{name} was trained on '{}' (its metadata), not on a retain list: it has seen the forget set of {scenario}", meta.subset));
        }
        let forgot = meta.extra.get("forget_scenario");
        if let Some(f) = forgot.filter(|f| f.parse::<Scenario>().ok().as_ref() != Some(scenario)) {
            out.push(format!("{name} was retrained without {f} (its metadata), not without {scenario}: it has seen the forget set of {scenario}"));
        }
        if !meta.dataset_fingerprint.is_empty() && meta.dataset_fingerprint != fingerprint {
            out.push(format!("{name} was trained on other data ({}, fingerprint {}) than this study's (fingerprint {})", meta.dataset, short(&meta.dataset_fingerprint), short(fingerprint)));
        }
    }
    if let Some(e) = &o.entry {
        match &e.forget {
            None => out.push(format!("{name} is registry entry '{}', an original trained on all of its data (no 'forget'): it has seen the forget set of {scenario}", e.id)),
            Some(f) if f.parse::<Scenario>().ok().as_ref() != Some(scenario) => out.push(format!("{name} is registry entry '{}', retrained without {f}, not without {scenario}", e.id)),
            Some(_) => {}
        }
    }
    out
}

/// `e`, said of the option that named the model.
fn named(option: String, e: OpsError) -> OpsError {
    OpsError::Plan(format!("{option}: {e}"))
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// Resolves `req.original` and `req.oracles` against the study's `scenarios`: every
/// oracle's scenario must be one of them (once), and the models must agree on their input
/// normalisation, which the whole study then uses.
///
/// Their provenance is checked as the other artefacts' are (refused, or with `req.force` a
/// warning): an original that is a retrained model, an oracle that is the original (same
/// file or same weights), an oracle that trained on what its scenario forgets (its metadata
/// says it trained on the whole training set, its registry entry forgets something else or
/// nothing), and a model trained on data other than the study's (`fingerprint`).
pub fn given_models(
    req: &GivenRequest<'_>,
    scenarios: &[Scenario],
    fingerprint: &str,
) -> Result<GivenModels> {
    let fallback = req.normalization;
    let on = OnMismatch::from_force(req.force);
    let original = req
        .original
        .map(|s| describe(s, fallback).map_err(|e| named(format!("--original {s}"), e)))
        .transpose()?;
    if let Some((m, o)) = &original {
        let problems = original_problems(m, o, fingerprint);
        if !problems.is_empty() {
            on.apply(problems.join("; "))?;
        }
    }
    let mut given = GivenModels {
        original: original.as_ref().map(|(m, _)| m.clone()),
        ..Default::default()
    };
    for (scenario, spec) in req.oracles {
        let index = scenarios.iter().position(|s| s == scenario).ok_or_else(|| {
            OpsError::Plan(format!(
                "--oracle {scenario}={spec}: the study has no scenario {scenario} (its scenarios: {})",
                scenarios
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        if given.oracles.iter().any(|(i, _)| *i == index) {
            return Err(OpsError::Plan(format!(
                "--oracle gives scenario {scenario} twice: one oracle per scenario"
            )));
        }
        let (model, origin) = describe(spec, fallback)
            .map_err(|e| named(format!("--oracle {scenario}={spec}"), e))?;
        let problems = oracle_problems(scenario, &model, &origin, original.as_ref(), fingerprint);
        if !problems.is_empty() {
            on.apply(problems.join("; "))?;
        }
        given.oracles.push((index, model));
    }
    let models = given
        .original
        .iter()
        .chain(given.oracles.iter().map(|(_, m)| m));
    for m in models {
        match (&given.normalization, &m.normalization) {
            (None, Some(n)) => given.normalization = Some(n.clone()),
            (Some(a), Some(b)) if a != b => {
                return Err(OpsError::Plan(format!(
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
