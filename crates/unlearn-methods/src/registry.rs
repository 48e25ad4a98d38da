//! The methods by id: listing and construction from overrides.
//!
//! A method's defaults live in its own file ([`Params::defaults`]); their tuning history is
//! in `docs/tuning.md`.

use serde::Serialize;

use crate::error::{MethodError, Result};
use crate::methods::{
    BeParams, BsParams, FtParams, GaParams, HeadOnlyParams, L1Params, MudaParams,
    NegGradPlusParams, RetrainParams, RlParams, SalUnParams, ScrubParams,
};
use crate::params::{
    configure, param_infos, parse_preset, resolved_defaults, scenario_changes, MethodTrait,
    Overrides, ParamInfo, Params, Preset, ScenarioKind,
};
use crate::CheckedMethod;

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
    /// The defaults that replace those when whole classes are forgotten (`class:`).
    pub class_defaults: Vec<(String, String)>,
    /// The defaults that replace those when the forget set is the poisoned samples of a
    /// `backdoor:` scenario.
    pub backdoor_defaults: Vec<(String, String)>,
    /// The defaults that replace those when the forget set is a random sample (`random:`).
    pub random_defaults: Vec<(String, String)>,
}

/// What a study's step keys hash of a method: its id, the version of its loop and its
/// resolved defaults for the preset and scenario kind. Not its listing: a changed doc
/// comment or summary leaves every key as it was.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MethodIdentity {
    /// The method id.
    pub id: &'static str,
    /// [`Params::VERSION`].
    pub version: u32,
    /// The defaults a run starts from, before `--set` items (as JSON, keys sorted).
    pub defaults: serde_json::Value,
}

impl MethodIdentity {
    /// The identity as one canonical line of JSON, for hashing.
    pub fn key_text(&self) -> String {
        // A struct of a string, a number and a JSON value always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}

struct Entry {
    id: &'static str,
    version: u32,
    traits: &'static [MethodTrait],
    epoch_params: &'static [&'static str],
    defaults: fn(Preset, ScenarioKind) -> serde_json::Value,
    summary: &'static str,
    paper: &'static str,
    params: fn(Preset) -> Vec<ParamInfo>,
    changes: fn(Preset, ScenarioKind) -> Vec<(String, String)>,
    space: &'static [(&'static str, crate::space::Span)],
    build: fn(&str, &Overrides) -> Result<CheckedMethod>,
}

fn build_as<P: Params>(preset: &str, overrides: &Overrides) -> Result<CheckedMethod> {
    Ok(configure::<P>(preset, overrides)?.boxed())
}

const fn entry<P: Params>() -> Entry {
    Entry {
        id: P::ID,
        version: P::VERSION,
        traits: P::TRAITS,
        epoch_params: P::EPOCH_PARAMS,
        defaults: resolved_defaults::<P>,
        summary: P::SUMMARY,
        paper: P::PAPER,
        params: param_infos::<P>,
        changes: scenario_changes::<P>,
        space: P::SPACE,
        build: build_as::<P>,
    }
}

/// Every method, in the order of the specification's table (§4): the one list a new method
/// is added to. The ids, the listing and `--method` all derive from it.
const ENTRIES: &[Entry] = &[
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
];

/// Every method id, in the order of the specification's table (§4): derived from the one
/// list of methods (`ENTRIES`), never written out.
pub const METHOD_IDS: [&str; ENTRIES.len()] = {
    let mut ids = [""; ENTRIES.len()];
    let mut i = 0;
    while i < ENTRIES.len() {
        ids[i] = ENTRIES[i].id;
        i += 1;
    }
    ids
};

fn find(id: &str) -> Result<&'static Entry> {
    ENTRIES
        .iter()
        .find(|e| e.id == id)
        .ok_or_else(|| MethodError::UnknownMethod {
            id: id.to_string(),
            known: METHOD_IDS.join(", "),
        })
}

/// Method `id`'s declared search space ([`crate::Params::SPACE`]).
pub fn space(id: &str) -> Result<&'static [(&'static str, crate::space::Span)]> {
    Ok(find(id)?.space)
}

/// Method `id`'s identity in `preset` for a `scenario` kind ([`MethodIdentity`]).
pub fn identity(id: &str, preset: Preset, scenario: ScenarioKind) -> Result<MethodIdentity> {
    let e = find(id)?;
    Ok(MethodIdentity {
        id: e.id,
        version: e.version,
        defaults: (e.defaults)(preset, scenario),
    })
}

/// Method `id`'s traits ([`Params::TRAITS`]).
pub fn traits(id: &str) -> Result<&'static [MethodTrait]> {
    Ok(find(id)?.traits)
}

/// Method `id`'s parameters that count passes over data ([`Params::EPOCH_PARAMS`]).
pub fn epoch_params(id: &str) -> Result<&'static [&'static str]> {
    Ok(find(id)?.epoch_params)
}

/// Every method with its parameters' defaults in `preset`.
pub fn methods(preset: &str) -> Result<Vec<MethodInfo>> {
    ENTRIES.iter().map(|e| listing(e, preset)).collect()
}

/// One method's listing.
pub fn info(id: &str, preset: &str) -> Result<MethodInfo> {
    listing(find(id)?, preset)
}

fn listing(e: &Entry, preset: &str) -> Result<MethodInfo> {
    let preset = parse_preset(preset)?;
    Ok(MethodInfo {
        id: e.id,
        summary: e.summary,
        paper: e.paper,
        params: (e.params)(preset),
        class_defaults: (e.changes)(preset, ScenarioKind::Class),
        backdoor_defaults: (e.changes)(preset, ScenarioKind::Backdoor),
        random_defaults: (e.changes)(preset, ScenarioKind::Random),
    })
}

/// Method `id` with the defaults of `preset` and the scenario kind of `overrides`, the
/// overrides applied, validated.
pub fn build(id: &str, preset: &str, overrides: &Overrides) -> Result<CheckedMethod> {
    (find(id)?.build)(preset, overrides)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_each_builds_its_method() -> Result<()> {
        let mut sorted = METHOD_IDS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), METHOD_IDS.len());
        for id in METHOD_IDS {
            assert_eq!(build(id, "quick", &Overrides::default())?.id(), id);
        }
        // One method's listing is its entry in the whole listing.
        for preset in ["quick", "fmnist", "cifar10", "cifar100"] {
            for (id, entry) in METHOD_IDS.iter().zip(methods(preset)?) {
                let one = info(id, preset)?;
                assert_eq!(format!("{one:?}"), format!("{entry:?}"), "{preset}/{id}");
            }
        }
        Ok(())
    }

    #[test]
    fn an_identity_is_the_id_the_loop_version_and_the_resolved_defaults(
    ) -> std::result::Result<(), Box<dyn std::error::Error>> {
        use crate::methods::MudaParams;
        let id = identity("muda", Preset::Quick, ScenarioKind::Class)?;
        assert_eq!((id.id, id.version), ("muda", MudaParams::VERSION));
        let want = serde_json::to_value(MudaParams::defaults(Preset::Quick, ScenarioKind::Class))?;
        assert_eq!(id.defaults, want);
        let general = identity("muda", Preset::Quick, ScenarioKind::Other)?;
        assert_ne!(id.key_text(), general.key_text());
        assert!(!id.key_text().contains(MudaParams::SUMMARY));
        assert_eq!(traits("rl")?, [MethodTrait::WrongLabels]);
        assert_eq!(traits("head-only")?, [MethodTrait::HeadOnly]);
        assert!(traits("muda")?.is_empty());
        assert_eq!(epoch_params("scrub")?, ["epochs", "max_epochs"]);
        assert_eq!(epoch_params("ga")?, ["epochs"]);
        assert!(identity("fooget", Preset::Quick, ScenarioKind::Other).is_err());
        Ok(())
    }

    #[test]
    fn run_takes_checked_values_only_and_checked_means_validated() -> Result<()> {
        use crate::methods::GaParams;
        use crate::Checked;
        let ga = configure::<GaParams>("quick", &Overrides::default())?.into_inner();
        let mut bad = ga.clone();
        bad.epochs = 0;
        let err = Checked::new(bad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("epochs"), "{err}");
        assert_eq!(Checked::new(ga)?.boxed().id(), "ga");
        Ok(())
    }
}
