//! The typed plan of a study: preset, data, scenarios, methods with ablations, seeds.
//!
//! A [`StudyConfig`] is what a user asks for (every field has the preset's default); a
//! [`Plan`] is that request resolved against the method registry and the data set's
//! fingerprint, ready to expand into steps ([`crate::step`]).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use unlearn_data::Scenario;
use unlearn_methods::{registry, ScenarioKind};
use unlearn_models::{Arch, Normalization};
pub use unlearn_ops::GivenModel;
use unlearn_ops::GivenRequest;
use unlearn_train::Preset;

use crate::error::{PipelineError, Result};

/// What a study runs: the user's request, before resolution.
#[derive(Clone, Debug)]
pub struct StudyConfig {
    /// The preset (recipe, default data, default scenarios).
    pub preset: Preset,
    /// The data source in `unlearn --data` syntax; `None`: the preset's.
    pub data: Option<String>,
    /// The scenarios; empty: the preset's.
    pub scenarios: Vec<Scenario>,
    /// Method ids and ablation names; `None`: every method and the MUDA ablations.
    pub methods: Option<Vec<String>>,
    /// Number of seeds (0..seeds).
    pub seeds: u64,
    /// Device: cpu, cuda, cuda:N, auto.
    pub device: String,
    /// Cap on every training's epochs (original, retrain, each method's `epochs` and
    /// `*_epochs`): a smoke run; the numbers are then not the preset's.
    pub epochs_cap: Option<usize>,
    /// The store (output folder).
    pub out: PathBuf,
    /// No progress bars of the steps (the overall line is still printed).
    pub quiet: bool,
    /// Tune every method with this many `unlearn tune` trials on the first seed (per
    /// scenario) and run every seed with the chosen values; `None`: the defaults.
    pub tune: Option<usize>,
    /// The tuning objective.
    pub objective: unlearn_tune::Objective,
    /// The metrics' floor on the retain, forget and test set sizes
    /// ([`unlearn_metrics::MIN_SET_SIZE`] by default).
    pub min_set_size: usize,
    /// The original model of every seed, given instead of trained (`--original`: a path,
    /// `hf://…` or `model:<id>`).
    pub original: Option<String>,
    /// Retrained oracles given instead of trained, per scenario (`--oracle class:3=…`).
    pub oracles: Vec<(Scenario, String)>,
    /// Input normalisation of the given models when they record none (`--normalize`).
    pub normalization: Option<Normalization>,
    /// Fraction of the training set held out for validation; `None`: 0.1, or 0 when an
    /// original is given (shared models are trained on the whole training set).
    pub val_fraction: Option<f64>,
    /// `--oracles N`: judge every model against an ensemble of N oracle retrains
    /// ([`EnsembleSpec`]); `None`: one retrain per seed.
    pub ensemble: Option<usize>,
    /// The per-example tests' parameters (bins, clip, …) with `--oracles`.
    pub ensemble_params: unlearn_metrics::oracle::EnsembleParams,
    /// The architecture of every trained model; `None`: the preset's.
    pub arch: Option<Arch>,
    /// The share of the retain set every method that uses retain data sees (the same for
    /// all, as the references use the full retain set; 1.0 by default).
    pub retain_budget: f64,
    /// With `tune`: search `retain_budget` on `[low, high]` (log scale) for every method
    /// that uses retain data, as one shared dimension.
    pub tune_retain_budget: Option<(f64, f64)>,
    /// Write each unlearning run's step trace next to its record (`<method>.trace.jsonl`).
    pub trace: bool,
    /// `--force`: a given model whose provenance does not fit its role is used with a
    /// warning instead of refused.
    pub force: bool,
    /// The method the study evaluates (recorded as its role; [`DEFAULT_SUBJECT`] by
    /// default; `None`: no subject, the report then makes no claim about one).
    pub subject: Option<String>,
}

impl StudyConfig {
    /// The preset's study into `out`, with every default.
    pub fn new(preset: Preset, out: impl Into<PathBuf>) -> Self {
        StudyConfig {
            preset,
            data: None,
            scenarios: Vec::new(),
            methods: None,
            seeds: 1,
            device: "cpu".into(),
            epochs_cap: None,
            out: out.into(),
            quiet: false,
            tune: None,
            objective: unlearn_tune::Objective::Both,
            min_set_size: unlearn_metrics::MIN_SET_SIZE,
            original: None,
            oracles: Vec::new(),
            normalization: None,
            val_fraction: None,
            ensemble: None,
            ensemble_params: Default::default(),
            arch: None,
            retain_budget: 1.0,
            tune_retain_budget: None,
            trace: false,
            force: false,
            subject: Some(DEFAULT_SUBJECT.to_string()),
        }
    }
}

/// The scenarios a preset studies by default: `random:0.1` and `class:3`, plus
/// `backdoor:0.05` for every preset but `quick`.
pub fn default_scenarios(preset: Preset) -> Vec<Scenario> {
    let mut scenarios = vec![
        Scenario::Random {
            fraction: unlearn_data::split::DEFAULT_RANDOM_FRACTION,
        },
        Scenario::Class { classes: vec![3] },
    ];
    if preset != Preset::Quick {
        scenarios.push(Scenario::Backdoor(Default::default()));
    }
    scenarios
}

fn full_budget() -> f64 {
    1.0
}

/// An ablation `reproduce` knows by name (spec 4.1: each MUDA component switchable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ablation {
    /// Its name in the report.
    pub name: &'static str,
    /// The method it varies.
    pub method: &'static str,
    /// The override that switches the component off.
    pub set: &'static str,
    /// What it removes, in words (the report's findings name it).
    pub without: &'static str,
}

/// The method a study evaluates unless told otherwise (`reproduce --subject`): the report's
/// findings compare it with the best baseline, and [`ABLATIONS`] vary it.
pub const DEFAULT_SUBJECT: &str = "muda";

/// MUDA without dimensional alignment, without self-distillation, without alternation.
pub const ABLATIONS: [Ablation; 3] = [
    Ablation {
        name: "muda-no-da",
        method: "muda",
        set: "da=false",
        without: "the DA term",
    },
    Ablation {
        name: "muda-no-sd",
        method: "muda",
        set: "sd=false",
        without: "self-distillation",
    },
    Ablation {
        name: "muda-no-alt",
        method: "muda",
        set: "alternate=false",
        without: "alternation",
    },
];

/// One unlearning run of each cell: a method of the registry under a name, with overrides.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodRun {
    /// The name in the report (`muda-no-da` for an ablation).
    pub name: String,
    /// The registry's method id.
    pub method: String,
    /// `key=value` overrides (an ablation's switch, epoch caps, the study's retain budget).
    pub sets: Vec<String>,
}

impl MethodRun {
    /// The run named `name` (a method id or an ablation name) under `preset`, with epochs
    /// capped at `epochs_cap` and, for a method that uses retain data, the study's shared
    /// `retain_budget` (set only when it differs from the method's default).
    pub fn resolve(
        name: &str,
        preset: Preset,
        epochs_cap: Option<usize>,
        retain_budget: f64,
    ) -> Result<Self> {
        let (method, mut sets) = match ABLATIONS.iter().find(|a| a.name == name) {
            Some(a) => (a.method.to_string(), vec![a.set.to_string()]),
            None => (name.to_string(), Vec::new()),
        };
        let info = registry::info(&method, preset.as_str()).map_err(|_| {
            PipelineError::Plan(format!(
                "method '{name}' is not offered by this build (available: {}, and the ablations {})",
                registry::METHOD_IDS.join(", "),
                ABLATIONS.map(|a| a.name).join(", ")
            ))
        })?;
        if let Some(cap) = epochs_cap {
            let epoch_params = registry::epoch_params(&method).unwrap_or_default();
            for p in info
                .params
                .iter()
                .filter(|p| epoch_params.contains(&p.name.as_str()))
            {
                if let Some(default) = p.default.as_u64() {
                    sets.push(format!("{}={}", p.name, default.min(cap as u64)));
                }
            }
        }
        if let Some(p) = info.params.iter().find(|p| p.name == "retain_budget") {
            if p.default.as_f64() != Some(retain_budget) {
                sets.push(format!("retain_budget={retain_budget}"));
            }
        }
        Ok(MethodRun {
            name: name.to_string(),
            method,
            sets,
        })
    }

    /// The overrides a search of this run keeps fixed for every trial: a smoke run's epoch
    /// caps and the study's retain budget. Part of the search's key, since they change what
    /// every trial computes.
    pub fn search_sets(&self) -> Vec<String> {
        let epoch_params = registry::epoch_params(&self.method).unwrap_or_default();
        self.sets
            .iter()
            .filter(|s| {
                s.split_once('=')
                    .is_some_and(|(k, _)| epoch_params.contains(&k) || k == "retain_budget")
            })
            .cloned()
            .collect()
    }

    /// The method's identity in `preset` for `scenario`'s kind, as hashed into step keys:
    /// id, loop version and resolved defaults ([`registry::identity`]), so a changed default
    /// redoes the runs it affects and a changed doc comment none.
    /// [`MethodRun::resolve`] checked the id; a run read back from a foreign `plan.json`
    /// with an unknown one gets a key of its own and fails when its step builds the method.
    pub fn identity(&self, preset: Preset, scenario: &Scenario) -> String {
        registry::identity(&self.method, preset, ScenarioKind::of(scenario))
            .map_or_else(|e| format!("unknown method: {e}"), |i| i.key_text())
    }
}

/// A resolved study: everything its steps and their keys depend on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The preset.
    pub preset: Preset,
    /// The data source (`unlearn --data` syntax).
    pub data: String,
    /// The data set's fingerprint (SHA-256 of its contents): part of every key.
    pub fingerprint: String,
    /// The architecture; `None`: the data's default (small CNN for 28×28 and 32×32).
    pub arch: Option<Arch>,
    /// The scenarios, in report order.
    pub scenarios: Vec<Scenario>,
    /// The seeds.
    pub seeds: Vec<u64>,
    /// The unlearning runs of every cell (retrain is a step of its own).
    pub methods: Vec<MethodRun>,
    /// Device.
    pub device: String,
    /// Epoch cap of a smoke run.
    pub epochs_cap: Option<usize>,
    /// Fraction of the training set held out for validation.
    pub val_fraction: f64,
    /// Retain features kept per model (the metrics subsample larger retain sets anyway).
    pub max_retain: usize,
    /// The hyper-parameter search of every method, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tune: Option<TuneSpec>,
    /// The share of the retain set every method that uses retain data sees.
    #[serde(default = "full_budget")]
    pub retain_budget: f64,
    /// Write each unlearning run's step trace next to its record (not part of any key:
    /// tracing changes no weight).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trace: bool,
    /// The metrics' floor on set sizes.
    #[serde(default = "default_min_set_size")]
    pub min_set_size: usize,
    /// The original model given instead of trained (every seed uses it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<GivenModel>,
    /// Retrained oracles given instead of trained: (index into `scenarios`, model).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub oracles: Vec<(usize, GivenModel)>,
    /// The input normalisation every model of the study uses, when a given model fixes it
    /// (`None`: the data's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalization: Option<Normalization>,
    /// The oracle ensemble, with `--oracles N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ensemble: Option<EnsembleSpec>,
    /// The method the study evaluates (not part of any key: it changes only the records'
    /// roles and the report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// `--oracles N`: every scenario has one split (the first seed's) and N *members*, the
/// seeds `0..N`. Member k trains an oracle retrain (training seed k), an original (seed k)
/// and one run of every method on that original (unlearning seed k); a held-out retrain
/// (seed N + k, outside the ensemble) is the member's `retrain` row. Every model's metrics
/// are compared with the N oracles' (mean ± std, z-scores), and per-example tests
/// ([`unlearn_metrics::oracle::ensemble_test`]) set each method's N models against them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnsembleSpec {
    /// N: oracles, originals, runs per method and held-out retrains.
    pub size: usize,
    /// The seed of every scenario's one split.
    pub split_seed: u64,
    /// The per-example tests' parameters.
    pub params: unlearn_metrics::oracle::EnsembleParams,
}

impl EnsembleSpec {
    /// The training seed of member `k`'s held-out retrain: outside the ensemble's `0..N`.
    pub fn held_out_seed(&self, k: u64) -> u64 {
        self.size as u64 + k
    }
}

fn default_min_set_size() -> usize {
    unlearn_metrics::MIN_SET_SIZE
}

/// `reproduce --tune N`: every method gets `trials` trials of `unlearn tune` on the first
/// seed of each scenario; every seed then runs the chosen values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TuneSpec {
    /// Trials per method (the same budget for every method).
    pub trials: usize,
    /// What is minimised.
    pub objective: unlearn_tune::Objective,
    /// `--tune-retain-budget LOW,HIGH`: `retain_budget` searched on this range (log scale),
    /// one shared dimension for every method that uses retain data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_budget: Option<(f64, f64)>,
}

impl Plan {
    /// Whether every model the study trains or is given is a small CNN (what `--jobs auto`
    /// sizes its workers' memory by): no ResNet preset, no other `--arch`, no given
    /// original (whose architecture is only known once it is read).
    pub fn trains_small_models(&self) -> bool {
        self.original.is_none()
            && self
                .arch
                .map_or(!self.preset.uses_resnet(), |a| a == Arch::SmallCnn)
    }

    /// Resolves a request against the registry, for data with `fingerprint`.
    pub fn resolve(cfg: &StudyConfig, fingerprint: &str) -> Result<Plan> {
        if cfg.seeds == 0 {
            return Err(PipelineError::Plan(
                "a study needs at least one seed".into(),
            ));
        }
        if cfg.tune == Some(0) {
            return Err(PipelineError::Plan("--tune needs at least 1 trial".into()));
        }
        if cfg.epochs_cap == Some(0) {
            return Err(PipelineError::Plan("--epochs must be positive".into()));
        }
        if let Some(subject) = &cfg.subject {
            if !registry::METHOD_IDS.contains(&subject.as_str()) {
                return Err(PipelineError::Plan(format!(
                    "--subject '{subject}': expected a method id ({})",
                    registry::METHOD_IDS.join(", ")
                )));
            }
        }
        if !(cfg.retain_budget > 0.0 && cfg.retain_budget <= 1.0) {
            return Err(PipelineError::Plan(format!(
                "--retain-budget {}: expected a share of the retain set in (0, 1]",
                cfg.retain_budget
            )));
        }
        if let Some((low, high)) = cfg.tune_retain_budget {
            if cfg.tune.is_none() {
                return Err(PipelineError::Plan(
                    "--tune-retain-budget searches with --tune N: give --tune too".into(),
                ));
            }
            if cfg.retain_budget != 1.0 {
                return Err(PipelineError::Plan(format!(
                    "--retain-budget {} fixes the share that --tune-retain-budget searches: give one of them",
                    cfg.retain_budget
                )));
            }
            if !(low > 0.0 && low < high && high <= 1.0) {
                return Err(PipelineError::Plan(format!(
                    "--tune-retain-budget {low},{high}: expected 0 < low < high <= 1"
                )));
            }
        }
        let ensemble = ensemble_spec(cfg)?;
        let names: Vec<String> = match &cfg.methods {
            Some(m) => m
                .iter()
                .filter(|m| m.as_str() != "retrain")
                .cloned()
                .collect(),
            None => registry::METHOD_IDS
                .iter()
                .filter(|m| **m != "retrain")
                .map(|m| m.to_string())
                .chain(ABLATIONS.iter().map(|a| a.name.to_string()))
                .collect(),
        };
        if cfg.methods.as_ref().is_some_and(|m| m.is_empty()) {
            return Err(PipelineError::Plan(
                "--methods lists no method: give at least one".into(),
            ));
        }
        refuse_duplicates("--methods", &names)?;
        let methods = names
            .iter()
            .map(|n| MethodRun::resolve(n, cfg.preset, cfg.epochs_cap, cfg.retain_budget))
            .collect::<Result<Vec<_>>>()?;
        let scenarios = if cfg.scenarios.is_empty() {
            default_scenarios(cfg.preset)
        } else {
            cfg.scenarios.clone()
        };
        refuse_duplicates(
            "--scenarios",
            &scenarios.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )?;
        let request = GivenRequest {
            original: cfg.original.as_deref(),
            oracles: &cfg.oracles,
            normalization: cfg.normalization.as_ref(),
            force: cfg.force,
        };
        let given = unlearn_ops::given_models(&request, &scenarios, fingerprint)?;
        let val_fraction =
            cfg.val_fraction
                .unwrap_or(if given.original.is_some() { 0.0 } else { 0.1 });
        if !(0.0..1.0).contains(&val_fraction) {
            return Err(PipelineError::Plan(format!(
                "--val-fraction {val_fraction}: expected 0 <= fraction < 1"
            )));
        }
        Ok(Plan {
            preset: cfg.preset,
            data: cfg
                .data
                .clone()
                .unwrap_or_else(|| cfg.preset.default_data().to_string()),
            fingerprint: fingerprint.to_string(),
            arch: cfg
                .arch
                .or_else(|| cfg.preset.uses_resnet().then_some(Arch::ResNet18Cifar)),
            retain_budget: cfg.retain_budget,
            trace: cfg.trace,
            subject: cfg.subject.clone(),
            scenarios,
            seeds: match &ensemble {
                Some(e) => (0..e.size as u64).collect(),
                None => (0..cfg.seeds).collect(),
            },
            ensemble,
            methods,
            device: cfg.device.clone(),
            epochs_cap: cfg.epochs_cap,
            min_set_size: cfg.min_set_size,
            val_fraction,
            max_retain: 10_000,
            original: given.original,
            oracles: given.oracles,
            normalization: given.normalization,
            tune: cfg.tune.map(|trials| TuneSpec {
                trials,
                objective: cfg.objective,
                retain_budget: cfg.tune_retain_budget,
            }),
        })
    }

    /// The seed of a cell's split: the cell's own, or the ensemble's one split seed.
    pub fn split_seed(&self, seed: u64) -> u64 {
        self.ensemble.as_ref().map_or(seed, |e| e.split_seed)
    }

    /// The architecture's name in keys (`default` when the data's default is used).
    pub fn arch_name(&self) -> &'static str {
        self.arch.map_or("default", |a| a.name())
    }
}

/// Refuses a list that names an item twice (each would run, and be reported, twice).
fn refuse_duplicates(option: &str, items: &[String]) -> Result<()> {
    let mut twice: Vec<&str> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) && !twice.contains(&item.as_str()) {
            twice.push(item);
        }
    }
    if twice.is_empty() {
        return Ok(());
    }
    Err(PipelineError::Plan(format!(
        "{option} lists {} more than once: each is run once per seed, so name it once",
        twice.join(", ")
    )))
}

/// The ensemble of `--oracles N`, checked against the rest of the request.
fn ensemble_spec(cfg: &StudyConfig) -> Result<Option<EnsembleSpec>> {
    let Some(size) = cfg.ensemble else {
        return Ok(None);
    };
    if size < 2 {
        return Err(PipelineError::Plan(format!(
            "--oracles {size}: the per-example tests fit on half of the models and score the \
             other half, so they need at least 2 (8 or more for stable numbers)"
        )));
    }
    if cfg.seeds != 1 {
        return Err(PipelineError::Plan(format!(
            "--oracles {size} trains its own {size} seeds (oracles, originals, method runs); \
             drop --seeds {}",
            cfg.seeds
        )));
    }
    if cfg.original.is_some() || !cfg.oracles.is_empty() {
        return Err(PipelineError::Plan(
            "--oracles N trains its ensemble itself; it does not take --original or --oracle"
                .into(),
        ));
    }
    cfg.ensemble_params.check()?;
    Ok(Some(EnsembleSpec {
        size,
        split_seed: 0,
        params: cfg.ensemble_params.clone(),
    }))
}
