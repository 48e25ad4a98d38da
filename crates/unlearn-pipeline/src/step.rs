//! The plan expanded into steps with explicit inputs, outputs and keys.
//!
//! Per seed and scenario (a *cell*): split → original (shared by the cells of a seed that
//! train on the same images) → retrain → each method → features of every model → metrics
//! against the retrain model's features. A step's key is the SHA-256 of its kind, the
//! configuration that matters and the keys of its inputs, so a changed parameter changes the
//! key of the step it enters and of every step downstream, and nothing else.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use unlearn_data::Scenario;

use crate::plan::{GivenModel, Plan};

/// Bumped when the meaning of an artefact changes, so old ones are not reused.
pub const PIPELINE_VERSION: &str = "pipeline/1";

/// What a step does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// Write the split manifest of a cell.
    Split,
    /// Train the original model on retain ∪ forget.
    Original,
    /// Train the retrain oracle on retain only.
    Retrain,
    /// Import a given model (`--original`, `--oracle`) into the store.
    Import,
    /// Search a method's hyper-parameters (`unlearn tune`) on the first seed.
    Tune,
    /// Run an unlearning method on the original.
    Forget,
    /// Extract a model's features over the split.
    Features,
    /// Compute a model's metrics against the retrain model's features.
    Metrics,
    /// Per-example tests of one model name's ensemble members against the oracle
    /// ensemble (`--oracles N`).
    #[serde(rename = "oracle-test")]
    OracleTest,
}

impl StepKind {
    /// Relative cost, for the overall progress line's ETA.
    pub fn cost(self) -> f64 {
        match self {
            StepKind::Split => 0.1,
            StepKind::Import => 0.5,
            StepKind::Original | StepKind::Retrain => 10.0,
            // A search is about eight unlearning runs (`--tune 8`); the ETA is rough.
            StepKind::Tune => 16.0,
            StepKind::Forget => 2.0,
            StepKind::Features => 0.5,
            StepKind::Metrics => 0.7,
            StepKind::OracleTest => 0.3,
        }
    }
}

/// A cell of the study: one scenario under one seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cell {
    /// Index into [`Plan::scenarios`].
    pub scenario: usize,
    /// The seed.
    pub seed: u64,
}

/// Index of a step in [`Steps::all`].
pub type StepId = usize;

/// One unit of work.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Its index.
    pub id: StepId,
    /// What it does.
    pub kind: StepKind,
    /// The cell it belongs to (for an original: the first cell that uses it).
    pub cell: Cell,
    /// The model it trains or measures: `original`, `retrain` or a method run's name;
    /// `None` for a split.
    pub model: Option<String>,
    /// The steps whose outputs it reads.
    pub inputs: Vec<StepId>,
    /// Its main output, relative to the store: it counts as done when this file exists and
    /// its key sidecar holds [`Step::key`].
    pub output: PathBuf,
    /// SHA-256 of everything the output depends on.
    pub key: String,
    /// The training seed of an original or retrain when it is not the cell's (the oracles
    /// and held-out retrains of `--oracles`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_seed: Option<u64>,
}

/// The steps of a plan, in an order that runs every input before the steps that read it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Steps {
    /// Every step.
    pub all: Vec<Step>,
}

/// SHA-256 over the parts, separated, after the pipeline version.
pub fn step_key(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(PIPELINE_VERSION.as_bytes());
    for p in parts {
        h.update([0u8]);
        h.update(p.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The folder of a cell's artefacts, relative to the store: `<slug(scenario)>/seed<k>`.
pub fn cell_dir(plan: &Plan, cell: Cell) -> PathBuf {
    let scenario = plan.scenarios[cell.scenario].to_string();
    PathBuf::from(unlearn_report::slug(&scenario)).join(format!("seed{}", cell.seed))
}

/// The models of a cell, in report order: original, retrain, then the method runs.
pub fn model_names(plan: &Plan) -> Vec<String> {
    ["original", "retrain"]
        .into_iter()
        .map(String::from)
        .chain(plan.methods.iter().map(|m| m.name.clone()))
        .collect()
}

/// The ids of one cell's steps, by role.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellSteps {
    /// The cell.
    pub cell: Cell,
    /// Its split.
    pub split: StepId,
    /// The original it uses (possibly another cell's step).
    pub original: StepId,
    /// Its retrain.
    pub retrain: StepId,
    /// Per model of [`model_names`]: the step that writes its checkpoint, its features and
    /// its metrics.
    pub models: Vec<(String, StepId, StepId, StepId)>,
    /// With `--oracles`: per model name, the scenario's per-example test step (shared by
    /// every member cell of the scenario).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub oracle_tests: Vec<(String, StepId)>,
}

impl Steps {
    /// Expands a plan.
    pub fn of(plan: &Plan) -> (Steps, Vec<CellSteps>) {
        let mut x = Expansion {
            plan,
            steps: Steps::default(),
            originals: Vec::new(),
            splits: Vec::new(),
            oracles: Vec::new(),
            members: Vec::new(),
            tunes: Vec::new(),
            // The epoch cap and a study-wide input normalisation as key parts, when there
            // are any (keys without them have no such parts).
            tail: plan
                .epochs_cap
                .map(|n| format!("epochs={n}"))
                .into_iter()
                .chain(plan.normalization.as_ref().map(|n| n.to_arg()))
                .collect(),
        };
        let mut cells = Vec::new();
        for &seed in &plan.seeds {
            for scenario in 0..plan.scenarios.len() {
                cells.push(x.cell(Cell { scenario, seed }));
            }
        }
        // The per-example tests, in each scenario's last member cell (every input is then
        // made by an earlier or the same cell).
        if let Some(&last) = plan.seeds.last() {
            for scenario in 0..plan.scenarios.len() {
                x.oracle_tests(Cell {
                    scenario,
                    seed: last,
                });
            }
        }
        for c in &mut cells {
            c.oracle_tests = x
                .steps
                .all
                .iter()
                .filter(|s| s.kind == StepKind::OracleTest && s.cell.scenario == c.cell.scenario)
                .map(|s| (s.model.clone().unwrap_or_default(), s.id))
                .collect();
        }
        (x.steps, cells)
    }

    fn push(
        &mut self,
        kind: StepKind,
        cell: Cell,
        model: Option<&str>,
        inputs: Vec<StepId>,
        output: PathBuf,
        key: String,
    ) -> StepId {
        let id = self.all.len();
        self.all.push(Step {
            id,
            kind,
            cell,
            model: model.map(str::to_string),
            inputs,
            output,
            key,
            train_seed: None,
        });
        id
    }

    /// The steps of one cell's batch, in run order (its split, the original when this cell
    /// introduces it, then the rest).
    pub fn of_cell(&self, cell: Cell) -> Vec<StepId> {
        self.all
            .iter()
            .filter(|s| s.cell == cell)
            .map(|s| s.id)
            .collect()
    }
}

/// A step in words, for progress lines and errors: `random:0.1 seed 0: features of ga`.
pub fn describe(plan: &Plan, step: &Step) -> String {
    let cell = format!(
        "{} seed {}",
        plan.scenarios[step.cell.scenario], step.cell.seed
    );
    let model = step.model.as_deref().unwrap_or("");
    let what = match step.kind {
        StepKind::Split => "split".to_string(),
        StepKind::Original | StepKind::Retrain => format!("training {model}"),
        StepKind::Import => format!("importing the given {model}"),
        StepKind::Tune => format!("tuning {model}"),
        StepKind::Forget => format!("forgetting with {model}"),
        StepKind::Features => format!("features of {model}"),
        StepKind::Metrics => format!("metrics of {model}"),
        StepKind::OracleTest => format!("per-example tests of {model} against the oracles"),
    };
    format!("{cell}: {what}")
}

/// The state of [`Steps::of`].
struct Expansion<'a> {
    plan: &'a Plan,
    steps: Steps,
    /// Originals (and imported models) by key: the cells of a seed that train on the same
    /// images share one; a given model is imported once for the whole study.
    originals: Vec<(String, StepId)>,
    /// Splits by key: with `--oracles` every member cell of a scenario shares one.
    splits: Vec<(String, StepId)>,
    /// With `--oracles`: per scenario, its oracle retrains' features steps.
    oracles: Vec<(usize, Vec<StepId>)>,
    /// With `--oracles`: per (scenario, model name), the features steps of its members.
    members: Vec<((usize, String), Vec<StepId>)>,
    /// Tune steps by (scenario, method id): made in the first seed's cell, read by every
    /// seed's forget steps of that method (and its ablations).
    tunes: Vec<((usize, String), StepId)>,
    /// Key parts every trained model's key ends with: the epoch cap and the study's input
    /// normalisation, where set.
    tail: Vec<String>,
}

impl Expansion<'_> {
    fn key(&self, parts: &[&str]) -> String {
        let tail: Vec<&str> = self.tail.iter().map(String::as_str).collect();
        step_key(&[parts, &tail[..]].concat())
    }

    /// The import step of a given model (`role`: `original` or `oracle`), added on first use.
    fn import(&mut self, cell: Cell, role: &str, given: &GivenModel) -> StepId {
        let key = self.key(&["import", role, &given.sha256, self.plan.arch_name()]);
        if let Some((_, id)) = self.originals.iter().find(|(k, _)| *k == key) {
            return *id;
        }
        let folder = if role == "original" {
            "originals"
        } else {
            "oracles"
        };
        let output = PathBuf::from(folder).join(format!("given-{}.safetensors", &key[..16]));
        let model = if role == "original" {
            "original"
        } else {
            "retrain"
        };
        let id = self.steps.push(
            StepKind::Import,
            cell,
            Some(model),
            vec![],
            output,
            key.clone(),
        );
        self.originals.push((key, id));
        id
    }

    fn cell(&mut self, cell: Cell) -> CellSteps {
        let plan = self.plan;
        let dir = cell_dir(plan, cell);
        let s = cell.seed.to_string();
        let scenario = &plan.scenarios[cell.scenario];
        let scenario_text = scenario.to_string();
        let val = plan.val_fraction.to_string();
        let split_seed = plan.split_seed(cell.seed).to_string();
        let split_key = step_key(&[
            "split",
            &plan.fingerprint,
            &scenario_text,
            &split_seed,
            &val,
        ]);
        let split = match self.splits.iter().find(|(k, _)| *k == split_key) {
            Some((_, id)) => *id,
            None => {
                let id = self.steps.push(
                    StepKind::Split,
                    cell,
                    None,
                    vec![],
                    dir.join("split.json"),
                    split_key.clone(),
                );
                self.splits.push((split_key.clone(), id));
                id
            }
        };
        let poison = match scenario {
            Scenario::Backdoor(_) => scenario_text.as_str(),
            _ => "",
        };
        // The validation list depends on the seed only, so the training list (and the
        // original) depends on the scenario only through a backdoor's poisoning.
        let preset = plan.preset.as_str();
        // With `--oracles` the validation list is the one split seed's, whatever the
        // training seed (so the scenarios of a member still share its original).
        let shared_split = plan
            .ensemble
            .as_ref()
            .map(|e| format!("split-seed={}", e.split_seed));
        let original_key = self.key(
            &[
                &[
                    "original",
                    preset,
                    plan.arch_name(),
                    &s,
                    &plan.fingerprint,
                    &val,
                    poison,
                ][..],
                &shared_split.as_deref().into_iter().collect::<Vec<_>>()[..],
            ]
            .concat(),
        );
        let original = match &plan.original {
            Some(given) => self.import(cell, "original", given),
            None => self.original(cell, split, original_key),
        };
        let oracle_features = self.ensemble_oracles(cell, split);
        let retrain = self.retrain(cell, &dir, split);
        let mut producers = vec![
            ("original".to_string(), original),
            ("retrain".to_string(), retrain),
        ];
        // A search scores its trials against the first oracle when there is an ensemble.
        let tune_reference = oracle_features
            .first()
            .map_or(retrain, |&f| self.steps.all[f].inputs[0]);
        for run in &plan.methods {
            let tune = self.tune(cell, &dir, [original, split, tune_reference], &run.method);
            let original_key = &self.steps.all[original].key;
            let tune_key = tune.map_or(String::new(), |t| self.steps.all[t].key.clone());
            let identity = run.identity(plan.preset, &plan.scenarios[cell.scenario]);
            let head = [
                "method",
                &run.method,
                &identity,
                original_key,
                &split_key,
                &s,
                preset,
            ];
            let sets: Vec<&str> = run.sets.iter().map(String::as_str).collect();
            // An untuned run's key has no tuning part (the keys of earlier runs stay valid).
            let tuned: Vec<&str> = tune.map(|_| tune_key.as_str()).into_iter().collect();
            let key = step_key(&[&head[..], &sets[..], &tuned[..]].concat());
            let output = dir.join(format!("{}.safetensors.record.json", run.name));
            let id = self.steps.push(
                StepKind::Forget,
                cell,
                Some(&run.name),
                [original, split].into_iter().chain(tune).collect(),
                output,
                key,
            );
            producers.push((run.name.clone(), id));
        }
        let models = self.measurements(cell, &dir, split, &producers, &oracle_features);
        CellSteps {
            cell,
            split,
            original,
            retrain,
            models,
            oracle_tests: Vec::new(),
        }
    }

    /// The cell's retrain row: the given oracle of its scenario (imported), a held-out
    /// retrain seeded outside the ensemble with `--oracles`, or the cell's retrain.
    fn retrain(&mut self, cell: Cell, dir: &Path, split: StepId) -> StepId {
        let plan = self.plan;
        let oracle = plan
            .oracles
            .iter()
            .find(|(i, _)| *i == cell.scenario)
            .map(|(_, g)| g);
        if let Some(given) = oracle {
            return self.import(cell, "oracle", given);
        }
        let seed = plan.ensemble.as_ref().map(|e| e.held_out_seed(cell.seed));
        let seed_text = seed.unwrap_or(cell.seed).to_string();
        let split_key = self.steps.all[split].key.clone();
        let key = self.key(&[
            "retrain",
            plan.preset.as_str(),
            plan.arch_name(),
            &seed_text,
            &split_key,
        ]);
        let id = self.steps.push(
            StepKind::Retrain,
            cell,
            Some("retrain"),
            vec![split],
            dir.join("retrain.safetensors"),
            key,
        );
        self.steps.all[id].train_seed = seed;
        id
    }

    /// The tune step of `method` in `cell`'s scenario when the plan tunes: added in the
    /// first seed's cell (inputs: its original, split and retrain model), found in the
    /// others.
    fn tune(
        &mut self,
        cell: Cell,
        dir: &Path,
        [original, split, retrain]: [StepId; 3],
        method: &str,
    ) -> Option<StepId> {
        let spec = self.plan.tune.as_ref()?;
        let slot = (cell.scenario, method.to_string());
        if let Some((_, id)) = self.tunes.iter().find(|(k, _)| *k == slot) {
            return Some(*id);
        }
        if Some(&cell.seed) != self.plan.seeds.first() {
            return None;
        }
        // Its identity (the loop and the defaults the search starts from) and what every
        // trial keeps fixed (epoch caps, the study's retain budget).
        let run = self.plan.methods.iter().find(|m| m.method == method);
        let identity = run.map_or(String::new(), |m| {
            m.identity(self.plan.preset, &self.plan.scenarios[cell.scenario])
        });
        let fixed = run.map_or(Vec::new(), |m| m.search_sets()).join(",");
        let trials = spec.trials.to_string();
        let objective = spec.objective.to_string();
        // The declared search space is part of what the search is.
        let space = unlearn_methods::Space::declared(method)
            .ok()
            .and_then(|s| serde_json::to_string(&s.dims).ok())
            .unwrap_or_default();
        // The shared retain-budget dimension, when searched (absent: the key is as before).
        let space = match spec.retain_budget {
            Some((low, high)) => format!("{space}+retain_budget={low}..{high}"),
            None => space,
        };
        let key = self.key(&[
            "tune",
            unlearn_tune::TUNE_VERSION,
            method,
            &identity,
            &fixed,
            &space,
            &trials,
            &objective,
            &self.steps.all[original].key,
            &self.steps.all[split].key,
            &self.steps.all[retrain].key,
            &cell.seed.to_string(),
            self.plan.preset.as_str(),
        ]);
        let output = dir
            .join("tune")
            .join(format!("{method}-{}", &key[..12]))
            .join("best.toml");
        let id = self.steps.push(
            StepKind::Tune,
            cell,
            Some(method),
            vec![original, split, retrain],
            output,
            key,
        );
        self.tunes.push((slot, id));
        Some(id)
    }

    /// The original of `key`, added on first use.
    fn original(&mut self, cell: Cell, split: StepId, key: String) -> StepId {
        if let Some((_, id)) = self.originals.iter().find(|(k, _)| *k == key) {
            return *id;
        }
        let output = PathBuf::from("originals").join(format!(
            "seed{}-{}.safetensors",
            cell.seed,
            &key[..16]
        ));
        let id = self.steps.push(
            StepKind::Original,
            cell,
            Some("original"),
            vec![split],
            output,
            key.clone(),
        );
        self.originals.push((key, id));
        id
    }

    /// Features of every model, then its metrics against the retrain model's features.
    fn measurements(
        &mut self,
        cell: Cell,
        dir: &Path,
        split: StepId,
        producers: &[(String, StepId)],
        oracle_features: &[StepId],
    ) -> Vec<(String, StepId, StepId, StepId)> {
        let split_key = self.steps.all[split].key.clone();
        let max_retain = self.plan.max_retain.to_string();
        let features: Vec<StepId> = producers
            .iter()
            .map(|(name, producer)| {
                let producer_key = &self.steps.all[*producer].key;
                let key = step_key(&["features", producer_key, &split_key, &max_retain]);
                self.steps.push(
                    StepKind::Features,
                    cell,
                    Some(name),
                    vec![*producer, split],
                    dir.join(format!("features/{name}.safetensors")),
                    key,
                )
            })
            .collect();
        // The references: the cell's retrain, or every oracle of the ensemble.
        let references = if oracle_features.is_empty() {
            vec![features[1]]
        } else {
            oracle_features.to_vec()
        };
        let reference_keys: Vec<String> = references
            .iter()
            .map(|&r| self.steps.all[r].key.clone())
            .collect();
        // The metrics' subsampling seed: the cell's, or with `--oracles` the split's, so
        // every member reads the oracles' cached reference metrics.
        let seed = self.plan.split_seed(cell.seed).to_string();
        let mut models = Vec::new();
        for ((name, producer), feat) in producers.iter().zip(&features) {
            let feat_key = self.steps.all[*feat].key.clone();
            let parts: Vec<&str> = [
                "metrics",
                unlearn_metrics::METRICS_VERSION,
                feat_key.as_str(),
            ]
            .into_iter()
            .chain(reference_keys.iter().map(String::as_str))
            .chain([seed.as_str(), "plot"])
            .collect();
            let metrics = self.steps.push(
                StepKind::Metrics,
                cell,
                Some(name),
                std::iter::once(*feat)
                    .chain(references.iter().copied())
                    .collect(),
                dir.join(format!("metrics/{name}.json")),
                step_key(&parts),
            );
            if self.plan.ensemble.is_some() {
                let slot = (cell.scenario, name.clone());
                match self.members.iter_mut().find(|(k, _)| *k == slot) {
                    Some((_, v)) => v.push(*feat),
                    None => self.members.push((slot, vec![*feat])),
                }
            }
            models.push((name.clone(), *producer, *feat, metrics));
        }
        models
    }
}

impl Expansion<'_> {
    /// With `--oracles`: the features steps of the scenario's N oracle retrains (training
    /// seeds `0..N` on the one split), added by the scenario's first member cell; empty
    /// without an ensemble.
    fn ensemble_oracles(&mut self, cell: Cell, split: StepId) -> Vec<StepId> {
        let Some(spec) = &self.plan.ensemble else {
            return Vec::new();
        };
        if let Some((_, f)) = self.oracles.iter().find(|(s, _)| *s == cell.scenario) {
            return f.clone();
        }
        let plan = self.plan;
        let folder = PathBuf::from(unlearn_report::slug(
            &plan.scenarios[cell.scenario].to_string(),
        ))
        .join("oracles");
        let split_key = self.steps.all[split].key.clone();
        let max_retain = plan.max_retain.to_string();
        let mut features = Vec::new();
        for k in 0..spec.size as u64 {
            let name = format!("oracle{k}");
            let key = self.key(&[
                "retrain",
                plan.preset.as_str(),
                plan.arch_name(),
                &k.to_string(),
                &split_key,
            ]);
            let retrain = self.steps.push(
                StepKind::Retrain,
                cell,
                Some(&name),
                vec![split],
                folder.join(format!("{name}.safetensors")),
                key,
            );
            self.steps.all[retrain].train_seed = Some(k);
            let key = step_key(&[
                "features",
                &self.steps.all[retrain].key,
                &split_key,
                &max_retain,
            ]);
            features.push(self.steps.push(
                StepKind::Features,
                cell,
                Some(&name),
                vec![retrain, split],
                folder.join(format!("features/{name}.safetensors")),
                key,
            ));
        }
        self.oracles.push((cell.scenario, features.clone()));
        features
    }

    /// With `--oracles`: one per-example test step per model name of the scenario, reading
    /// its members' features and the oracles' (method features first).
    fn oracle_tests(&mut self, cell: Cell) {
        let Some(spec) = &self.plan.ensemble else {
            return;
        };
        let params = serde_json::to_string(&spec.params).unwrap_or_default();
        let Some((_, oracles)) = self.oracles.iter().find(|(s, _)| *s == cell.scenario) else {
            return;
        };
        let oracles = oracles.clone();
        let folder = PathBuf::from(unlearn_report::slug(
            &self.plan.scenarios[cell.scenario].to_string(),
        ))
        .join("oracle-tests");
        let members: Vec<(String, Vec<StepId>)> = self
            .members
            .iter()
            .filter(|((s, _), _)| *s == cell.scenario)
            .map(|((_, name), f)| (name.clone(), f.clone()))
            .collect();
        for (name, features) in members {
            let inputs: Vec<StepId> = features.iter().chain(&oracles).copied().collect();
            let keys: Vec<&str> = inputs
                .iter()
                .map(|&i| self.steps.all[i].key.as_str())
                .collect();
            let head = ["oracle-test", unlearn_metrics::METRICS_VERSION, &params];
            let key = step_key(&[&head[..], &keys[..]].concat());
            self.steps.push(
                StepKind::OracleTest,
                cell,
                Some(&name),
                inputs,
                folder.join(format!("{name}.json")),
                key,
            );
        }
    }
}
