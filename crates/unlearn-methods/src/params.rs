//! Typed hyper-parameters: presets, validation, `--set key=value` and TOML overrides.
//!
//! Every method's parameters are a plain struct ([`Params`]) whose defaults are typed Rust
//! values in the method's own file: [`Params::defaults`] of a [`Preset`] and a
//! [`ScenarioKind`]. Overrides are applied on the struct's serialised form, so a key must be
//! a field of the struct and a value must parse as that field's type: a whole number for
//! counts, a finite number for rates, `true`/`false` for switches, one of the listed texts
//! for a choice ([`crate::choice`]: `mask_scope`, `stop_target`). The struct is then
//! [validated](crate::Method::validate) as a whole. Order: the defaults of the preset and
//! the scenario kind → TOML file → `--set` items (the command line wins).
//!
//! A TOML file may hold keys for the method at the top level and/or per-method tables:
//! ```toml
//! lr = 0.01          # applies to whichever method runs
//! [muda]
//! lambda_da = 2.0    # applies to muda only; tables of other methods are ignored
//! ```

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use unlearn_train::Preset;

use crate::error::{MethodError, Result};
use crate::Method;

/// The largest `--config` or `--space` TOML file read (16 MiB; a parameter file is a few
/// hundred bytes).
pub const MAX_TOML_BYTES: u64 = 16 << 20;

/// The kind of forget set a run unlearns: the part of its [`unlearn_data::Scenario`] that
/// selects a method's defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ScenarioKind {
    /// A random sample of the training set (`random:`).
    Random,
    /// Every sample of whole classes (`class:`).
    Class,
    /// The poisoned samples of a backdoor attack (`backdoor:`).
    Backdoor,
    /// An imported forget set, or no scenario named: the preset's general defaults.
    #[default]
    Other,
}

impl ScenarioKind {
    /// The kind of `scenario`.
    pub fn of(scenario: &unlearn_data::Scenario) -> Self {
        use unlearn_data::Scenario;
        match scenario {
            Scenario::Random { .. } => Self::Random,
            Scenario::Class { .. } => Self::Class,
            Scenario::Backdoor(_) => Self::Backdoor,
            Scenario::Imported { .. } => Self::Other,
        }
    }
}

impl From<&unlearn_data::Scenario> for ScenarioKind {
    fn from(scenario: &unlearn_data::Scenario) -> Self {
        Self::of(scenario)
    }
}

/// The documentation of a parameter struct's fields, written once per field: the
/// `params_struct!` macro of [`crate::methods`] derives it and the fields' rustdoc from the
/// same text.
pub trait FieldDocs {
    /// `(parameter, documentation)` for every field, in declaration order (the flattened SGD
    /// settings as their four keys).
    const DOCS: &'static [(&'static str, &'static str)];
}

/// The static side of a method: its id, description, paper, parameter docs and defaults.
pub trait Params: Method + FieldDocs + Serialize + DeserializeOwned + Clone + 'static {
    /// The method id (`ga`, `muda`, …).
    const ID: &'static str;
    /// One line: what the method does.
    const SUMMARY: &'static str;
    /// Its source.
    const PAPER: &'static str;
    /// The search space `unlearn tune` explores by default: `(parameter, range)` for the
    /// parameters worth searching ([`crate::space`]).
    const SPACE: &'static [(&'static str, crate::space::Span)] = &[];
    /// The version of the method's loop: with the id and the resolved defaults, the method's
    /// identity in a study's step keys ([`crate::registry::identity`]). Raise it when a
    /// change to the loop changes what a run computes, so that a study reruns the method's
    /// steps; a changed doc comment or listing text changes nothing.
    const VERSION: u32 = 1;
    /// The parameters that count passes over data, which a smoke run's epoch cap
    /// (`reproduce --epochs`) lowers.
    const EPOCH_PARAMS: &'static [&'static str] = &["epochs"];
    /// What the method does that a report's findings test ([`MethodTrait`]).
    const TRAITS: &'static [MethodTrait] = &[];

    /// The defaults in `preset` when the forget set is of kind `scenario` (the values the
    /// file and the `--set` items override). Tuned values and their history: `docs/tuning.md`.
    fn defaults(preset: Preset, scenario: ScenarioKind) -> Self;
}

/// A property of a method that a study's findings test, recorded with its runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodTrait {
    /// It trains the forget samples towards labels other than their own (random labelling).
    WrongLabels,
    /// It retrains only the classification head, the feature extractor frozen.
    HeadOnly,
}

crate::methods::params_struct! {
    /// The SGD settings of the gradient methods (every method but `retrain` and `muda`, whose
    /// two stages have a learning rate each). Flattened into their parameter structs
    /// (`#[serde(flatten)]`): `lr`, `momentum`, `weight_decay` and `batch_size` stay top-level
    /// keys of the listings, the run records and `--set`.
    #[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
    pub struct SgdParams {
        lr: f64 = "learning rate (SGD, constant)",
        momentum: f64 = "SGD momentum",
        weight_decay: f64 = "SGD L2 weight decay",
        batch_size: usize = "mini-batch size",
    }
}

impl SgdParams {
    /// The optimiser these settings configure (the batch size is the pass's, not the
    /// optimiser's).
    pub fn optimizer(&self) -> unlearn_train::SgdConfig {
        unlearn_train::SgdConfig::new(self.lr, self.momentum, self.weight_decay)
    }

    /// `lr` and `batch_size` with the momentum (0.9) and weight decay (5e-4) that every
    /// method's presets use.
    pub fn standard(lr: f64, batch_size: usize) -> Self {
        Self {
            lr,
            momentum: 0.9,
            weight_decay: 5e-4,
            batch_size,
        }
    }
}

/// One parameter as listed by `unlearn methods`.
#[derive(Clone, Debug, Serialize)]
pub struct ParamInfo {
    /// Name (the `--set` key).
    pub name: String,
    /// Default value in the preset.
    pub default: Value,
    /// What it does.
    pub doc: String,
}

/// Overrides of a method's defaults: a parsed TOML file and `--set key=value` items.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// The kind of forget set, which selects the defaults ([`Params::defaults`]) the file
    /// and the `--set` items override.
    pub scenario: ScenarioKind,
    /// The TOML file and its contents.
    pub config: Option<(PathBuf, toml::Table)>,
    /// `key=value` items, applied last, in order.
    pub sets: Vec<(String, String)>,
}

impl Overrides {
    /// Parses `--set` items and reads the optional TOML file.
    pub fn new(sets: &[String], config: Option<&Path>) -> Result<Self> {
        let sets = sets
            .iter()
            .map(|s| match s.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => {
                    Ok((k.trim().to_string(), v.trim().to_string()))
                }
                _ => Err(MethodError::BadAssignment(s.clone())),
            })
            .collect::<Result<Vec<_>>>()?;
        let config = match config {
            None => None,
            Some(path) => {
                let text = unlearn_io::read_regular_to_string(path, "--config", MAX_TOML_BYTES)
                    .map_err(|e| MethodError::Config {
                        path: path.to_path_buf(),
                        reason: e.to_string(),
                    })?;
                let table: toml::Table =
                    text.parse()
                        .map_err(|e: toml::de::Error| MethodError::Config {
                            path: path.to_path_buf(),
                            reason: format!("not valid TOML: {}", e.message()),
                        })?;
                Some((path.to_path_buf(), table))
            }
        };
        Ok(Self {
            scenario: ScenarioKind::Other,
            config,
            sets,
        })
    }

    /// Starts from the defaults for the kind of `scenario` (for example MUDA's stronger
    /// ascent when whole classes are forgotten), which the file and the `--set` items still
    /// override.
    pub fn with_scenario(mut self, scenario: &unlearn_data::Scenario) -> Self {
        self.scenario = ScenarioKind::of(scenario);
        self
    }

    /// Only `--set` items (`["lr=0.01", "epochs=3"]`).
    pub fn sets(sets: &[&str]) -> Result<Self> {
        let owned: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        Self::new(&owned, None)
    }
}

fn toml_scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Sets one field of `params` from its text form, checking the key and the value's type
/// (not its range: that is [`Method::validate`]'s job).
pub fn set_param<P: Params>(params: &P, key: &str, value: &str) -> Result<P> {
    let mut json = serde_json::to_value(params).map_err(|e| MethodError::InvalidParam {
        method: P::ID.into(),
        key: key.into(),
        value: value.into(),
        expected: e.to_string(),
    })?;
    let known = || {
        P::DOCS
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(obj) = json.as_object_mut() else {
        return Err(MethodError::UnknownParam {
            method: P::ID.into(),
            key: key.into(),
            known: known(),
        });
    };
    let Some(current) = obj.get(key) else {
        return Err(MethodError::UnknownParam {
            method: P::ID.into(),
            key: key.into(),
            known: known(),
        });
    };
    let bad = |expected: &str| MethodError::InvalidParam {
        method: P::ID.into(),
        key: key.into(),
        value: value.into(),
        expected: expected.into(),
    };
    let new = match current {
        Value::Bool(_) => match value {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(bad("true or false")),
        },
        Value::Number(n) if n.is_u64() => {
            let v: u64 = value.parse().map_err(|_| bad("a whole number ≥ 0"))?;
            Value::from(v)
        }
        Value::Number(_) => {
            let v: f64 = value.parse().map_err(|_| bad("a number"))?;
            if !v.is_finite() {
                return Err(bad("a finite number"));
            }
            Value::from(v)
        }
        Value::String(_) => Value::String(value.to_string()),
        _ => return Err(bad("a value of a supported type")),
    };
    obj.insert(key.to_string(), new);
    serde_json::from_value(json).map_err(|e| bad(crate::choice::expected_of(&e.to_string())))
}

/// `preset` as the closed set it names.
pub fn parse_preset(preset: &str) -> Result<Preset> {
    preset
        .parse()
        .map_err(|_| MethodError::UnknownPreset(preset.to_string()))
}

/// The parameters of method `P` for `preset` with `overrides` applied, checked.
pub fn configure<P: Params>(preset: &str, overrides: &Overrides) -> Result<crate::Checked<P>> {
    let mut p = P::defaults(parse_preset(preset)?, overrides.scenario);
    if let Some((path, table)) = &overrides.config {
        let cfg_err = |reason: String| MethodError::Config {
            path: path.clone(),
            reason,
        };
        let mut section = None;
        for (key, value) in table {
            match value {
                toml::Value::Table(t) => {
                    if key == P::ID {
                        section = Some(t);
                    } else if !crate::registry::METHOD_IDS.contains(&key.as_str()) {
                        return Err(cfg_err(format!(
                            "unknown section [{key}]: sections must be method ids ({})",
                            crate::registry::METHOD_IDS.join(", ")
                        )));
                    }
                }
                v => {
                    let text = toml_scalar(v).ok_or_else(|| {
                        cfg_err(format!("'{key}' must be a number, a boolean or a string"))
                    })?;
                    p = set_param(&p, key, &text)?;
                }
            }
        }
        if let Some(t) = section {
            for (key, v) in t {
                let text = toml_scalar(v).ok_or_else(|| {
                    cfg_err(format!(
                        "'{}.{key}' must be a number, a boolean or a string",
                        P::ID
                    ))
                })?;
                p = set_param(&p, key, &text)?;
            }
        }
    }
    for (key, value) in &overrides.sets {
        p = set_param(&p, key, value)?;
    }
    crate::Checked::new(p)
}

/// The parameters of `P` in `preset` (its general defaults) with their documentation.
pub fn param_infos<P: Params>(preset: Preset) -> Vec<ParamInfo> {
    let json =
        serde_json::to_value(P::defaults(preset, ScenarioKind::Other)).unwrap_or(Value::Null);
    P::DOCS
        .iter()
        .map(|(name, doc)| ParamInfo {
            name: name.to_string(),
            default: json.get(*name).cloned().unwrap_or(Value::Null),
            doc: doc.to_string(),
        })
        .collect()
}

/// `P`'s resolved defaults in `preset` for a `scenario` kind, as JSON: the parameter part of
/// its identity ([`crate::registry::identity`]).
pub fn resolved_defaults<P: Params>(preset: Preset, scenario: ScenarioKind) -> Value {
    serde_json::to_value(P::defaults(preset, scenario)).unwrap_or(Value::Null)
}

/// `P`'s defaults for a `scenario` kind that differ from its general defaults in `preset`,
/// as `(parameter, --set text)` in declaration order: what `unlearn methods` lists for the
/// kind.
pub fn scenario_changes<P: Params>(
    preset: Preset,
    scenario: ScenarioKind,
) -> Vec<(String, String)> {
    let general =
        serde_json::to_value(P::defaults(preset, ScenarioKind::Other)).unwrap_or(Value::Null);
    let kind = serde_json::to_value(P::defaults(preset, scenario)).unwrap_or(Value::Null);
    P::DOCS
        .iter()
        .filter_map(|(name, _)| {
            let v = kind.get(*name)?;
            (general.get(*name) != Some(v)).then(|| (name.to_string(), set_text(v)))
        })
        .collect()
}

/// A value as a `--set` item writes it.
fn set_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Range checks used by the methods' `validate`.
pub(crate) struct Check(pub &'static str);

impl Check {
    fn err(&self, key: &str, value: String, expected: &str) -> MethodError {
        MethodError::InvalidParam {
            method: self.0.into(),
            key: key.into(),
            value,
            expected: expected.into(),
        }
    }

    /// Finite and > 0.
    pub fn positive(&self, key: &str, v: f64) -> Result<&Self> {
        if v.is_finite() && v > 0.0 {
            Ok(self)
        } else {
            Err(self.err(key, v.to_string(), "a finite number > 0"))
        }
    }

    /// Finite and ≥ 0.
    pub fn non_negative(&self, key: &str, v: f64) -> Result<&Self> {
        if v.is_finite() && v >= 0.0 {
            Ok(self)
        } else {
            Err(self.err(key, v.to_string(), "a finite number ≥ 0"))
        }
    }

    /// In `[0, 1)` (momentum).
    pub fn unit_half_open(&self, key: &str, v: f64) -> Result<&Self> {
        if (0.0..1.0).contains(&v) {
            Ok(self)
        } else {
            Err(self.err(key, v.to_string(), "a number in [0, 1)"))
        }
    }

    /// In `(0, 1]` (fractions of a set).
    pub fn fraction(&self, key: &str, v: f64) -> Result<&Self> {
        if v > 0.0 && v <= 1.0 {
            Ok(self)
        } else {
            Err(self.err(key, v.to_string(), "a fraction in (0, 1]"))
        }
    }

    /// In `[0, 1]`.
    pub fn unit(&self, key: &str, v: f64) -> Result<&Self> {
        if (0.0..=1.0).contains(&v) {
            Ok(self)
        } else {
            Err(self.err(key, v.to_string(), "a number in [0, 1]"))
        }
    }

    /// At least `min`.
    pub fn at_least(&self, key: &str, v: usize, min: usize) -> Result<&Self> {
        if v >= min {
            Ok(self)
        } else {
            Err(self.err(key, v.to_string(), &format!("a whole number ≥ {min}")))
        }
    }

    /// The common optimiser fields.
    pub fn optimizer(
        &self,
        lr: f64,
        momentum: f64,
        weight_decay: f64,
        batch_size: usize,
    ) -> Result<&Self> {
        self.positive("lr", lr)?
            .unit_half_open("momentum", momentum)?
            .non_negative("weight_decay", weight_decay)?
            .at_least("batch_size", batch_size, 1)
    }

    /// [`Self::optimizer`] of shared SGD settings.
    pub fn sgd(&self, sgd: &SgdParams) -> Result<&Self> {
        self.optimizer(sgd.lr, sgd.momentum, sgd.weight_decay, sgd.batch_size)
    }
}

/// `cifar10`/`cifar100` (the papers' values) rather than `quick`/`fmnist` (tuned here).
pub(crate) fn is_cifar(preset: Preset) -> bool {
    matches!(preset, Preset::Cifar10 | Preset::Cifar100)
}

/// The mini-batch size of the gradient methods in `preset`: 256 for the cifar presets,
/// 128 otherwise.
pub(crate) fn batch_size(preset: Preset) -> usize {
    if is_cifar(preset) {
        256
    } else {
        128
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::{FtParams, MaskScope, MudaParams, SalUnParams, ScrubParams, StopTarget};
    use crate::registry;

    /// A listed default as `--set` text.
    fn text(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    #[test]
    fn setting_every_key_to_its_default_changes_nothing() -> Result<()> {
        for preset in ["quick", "fmnist", "cifar10", "cifar100"] {
            for info in registry::methods(preset)? {
                let defaults = registry::build(info.id, preset, &Overrides::default())?;
                let sets: Vec<String> = info
                    .params
                    .iter()
                    .map(|p| format!("{}={}", p.name, text(&p.default)))
                    .collect();
                let again = registry::build(info.id, preset, &Overrides::new(&sets, None)?)?;
                assert_eq!(
                    again.params_json(),
                    defaults.params_json(),
                    "{preset}/{}",
                    info.id
                );
            }
        }
        Ok(())
    }

    #[test]
    fn flattened_sgd_keys_take_overrides() -> Result<()> {
        let sets = ["lr=0.02", "batch_size=64", "momentum=0.5", "weight_decay=0"];
        let ft = configure::<FtParams>("quick", &Overrides::sets(&sets)?)?;
        assert_eq!(
            ft.sgd,
            SgdParams {
                lr: 0.02,
                momentum: 0.5,
                weight_decay: 0.0,
                batch_size: 64
            }
        );
        let json = ft.params_json();
        assert!(json["batch_size"].is_u64() && json["lr"].is_f64(), "{json}");
        assert!(json.get("sgd").is_none(), "{json}");
        let scrub = configure::<ScrubParams>("cifar10", &Overrides::sets(&["batch_size=32"])?)?;
        assert_eq!((scrub.sgd.batch_size, scrub.forget_batch_size), (32, 512));
        for (set, expected) in [
            ("batch_size=64.5", "whole number"),
            ("lr=fast", "a number"),
            ("momentum=1", "[0, 1)"),
        ] {
            let err = registry::build("ga", "quick", &Overrides::sets(&[set])?)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(expected), "{set}: {err}");
        }
        Ok(())
    }

    #[test]
    fn choices_take_overrides_and_name_the_accepted_values() -> Result<()> {
        let salun = configure::<SalUnParams>("quick", &Overrides::sets(&["mask_scope=global"])?)?;
        assert_eq!(salun.mask_scope, MaskScope::Global);
        assert_eq!(salun.params_json()["mask_scope"], "global");
        let muda = configure::<MudaParams>("quick", &Overrides::sets(&["stop_target=val"])?)?;
        assert_eq!(muda.stop_target, StopTarget::Validation);
        let muda = configure::<MudaParams>("quick", &Overrides::sets(&["stop_target=25"])?)?;
        assert_eq!(muda.stop_target, StopTarget::Percent(25.0));
        assert_eq!(muda.params_json()["stop_target"], "25");
        let err = set_param(&*salun, "mask_scope", "rows")
            .map(|_| ())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "salun: parameter mask_scope = 'rows' is invalid: expected one of tensor, global"
        );
        let err = set_param(&*muda, "stop_target", "later")
            .map(|_| ())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "muda: parameter stop_target = 'later' is invalid: expected auto, val, or a \
             percentage in [0, 100]"
        );
        // From a TOML file (numbers arrive as their text).
        let dir = std::env::temp_dir().join(format!("unlearn-choice-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| MethodError::Mismatch(e.to_string()))?;
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "[muda]\nstop_target = 12.5\n[salun]\nmask_scope = \"global\"\n",
        )
        .map_err(|e| MethodError::Mismatch(e.to_string()))?;
        let ov = Overrides::new(&[], Some(&path))?;
        let muda = configure::<MudaParams>("quick", &ov)?;
        let salun = configure::<SalUnParams>("quick", &ov)?;
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(muda.stop_target, StopTarget::Percent(12.5));
        assert_eq!(salun.mask_scope, MaskScope::Global);
        Ok(())
    }
}
