//! The methods by id: listing, defaults and construction from overrides.

use serde::Serialize;

use crate::error::{MethodError, Result};
use crate::methods::{
    BeParams, BsParams, FtParams, GaParams, HeadOnlyParams, L1Params, MudaParams,
    NegGradPlusParams, RetrainParams, RlParams, SalUnParams, ScrubParams,
};
use crate::params::{configure, param_infos, Overrides, ParamInfo, Params};
use crate::Method;

/// Every method id, in the order of the specification's table (§4).
pub const METHOD_IDS: [&str; 12] = [
    "retrain",
    "ft",
    "ga",
    "neggrad+",
    "rl",
    "bs",
    "be",
    "l1",
    "salun",
    "scrub",
    "head-only",
    "muda",
];

/// A method as listed by `unlearn methods`.
#[derive(Clone, Debug, Serialize)]
pub struct MethodInfo {
    /// Id (`--method`).
    pub id: &'static str,
    /// One line: what it does.
    pub summary: &'static str,
    /// Its source.
    pub paper: &'static str,
    /// Its parameters with their defaults in the preset asked for.
    pub params: Vec<ParamInfo>,
}

struct Entry {
    id: &'static str,
    summary: &'static str,
    paper: &'static str,
    params: fn(&str) -> Result<Vec<ParamInfo>>,
    build: fn(&str, &Overrides) -> Result<Box<dyn Method>>,
}

fn build_as<P: Params>(preset: &str, overrides: &Overrides) -> Result<Box<dyn Method>> {
    Ok(Box::new(configure::<P>(preset, overrides)?))
}

fn entry<P: Params>() -> Entry {
    Entry {
        id: P::ID,
        summary: P::SUMMARY,
        paper: P::PAPER,
        params: param_infos::<P>,
        build: build_as::<P>,
    }
}

fn entries() -> [Entry; 12] {
    [
        entry::<RetrainParams>(),
        entry::<FtParams>(),
        entry::<GaParams>(),
        entry::<NegGradPlusParams>(),
        entry::<RlParams>(),
        entry::<BsParams>(),
        entry::<BeParams>(),
        entry::<L1Params>(),
        entry::<SalUnParams>(),
        entry::<ScrubParams>(),
        entry::<HeadOnlyParams>(),
        entry::<MudaParams>(),
    ]
}

fn find(id: &str) -> Result<Entry> {
    entries()
        .into_iter()
        .find(|e| e.id == id)
        .ok_or_else(|| MethodError::UnknownMethod {
            id: id.to_string(),
            known: METHOD_IDS.join(", "),
        })
}

/// Every method with its parameters' defaults in `preset`.
pub fn methods(preset: &str) -> Result<Vec<MethodInfo>> {
    entries()
        .into_iter()
        .map(|e| {
            Ok(MethodInfo {
                id: e.id,
                summary: e.summary,
                paper: e.paper,
                params: (e.params)(preset)?,
            })
        })
        .collect()
}

/// One method's listing.
pub fn info(id: &str, preset: &str) -> Result<MethodInfo> {
    let e = find(id)?;
    Ok(MethodInfo {
        id: e.id,
        summary: e.summary,
        paper: e.paper,
        params: (e.params)(preset)?,
    })
}

/// Method `id` with the defaults of `preset`, `overrides` applied, validated.
pub fn build(id: &str, preset: &str, overrides: &Overrides) -> Result<Box<dyn Method>> {
    (find(id)?.build)(preset, overrides)
}
