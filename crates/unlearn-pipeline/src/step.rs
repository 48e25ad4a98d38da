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
}

impl Steps {
    /// Expands a plan.
    pub fn of(plan: &Plan) -> (Steps, Vec<CellSteps>) {
        let mut x = Expansion {
            plan,
            steps: Steps::default(),
            originals: Vec::new(),
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
        let split_key = step_key(&["split", &plan.fingerprint, &scenario_text, &s, &val]);
        let split = self.steps.push(
            StepKind::Split,
            cell,
            None,
            vec![],
            dir.join("split.json"),
            split_key.clone(),
        );
        let poison = match scenario {
            Scenario::Backdoor(_) => scenario_text.as_str(),
            _ => "",
        };
        // The validation list depends on the seed only, so the training list (and the
        // original) depends on the scenario only through a backdoor's poisoning.
        let preset = plan.preset.as_str();
        let original_key = self.key(&[
            "original",
            preset,
            plan.arch_name(),
            &s,
            &plan.fingerprint,
            &val,
            poison,
        ]);
        let original = match &plan.original {
            Some(given) => self.import(cell, "original", given),
            None => self.original(cell, split, original_key),
        };
        let oracle = plan
            .oracles
            .iter()
            .find(|(i, _)| *i == cell.scenario)
            .map(|(_, g)| g);
        let retrain = match oracle {
            Some(given) => self.import(cell, "oracle", given),
            None => {
                let retrain_key = self.key(&["retrain", preset, plan.arch_name(), &s, &split_key]);
                self.steps.push(
                    StepKind::Retrain,
                    cell,
                    Some("retrain"),
                    vec![split],
                    dir.join("retrain.safetensors"),
                    retrain_key,
                )
            }
        };
        let mut producers = vec![
            ("original".to_string(), original),
            ("retrain".to_string(), retrain),
        ];
        for run in &plan.methods {
            let tune = self.tune(cell, &dir, [original, split, retrain], &run.method);
            let original_key = &self.steps.all[original].key;
            let tune_key = tune.map_or(String::new(), |t| self.steps.all[t].key.clone());
            let head = [
                "method",
                &run.method,
                &run.listing,
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
        let models = self.measurements(cell, &dir, split, &producers);
        CellSteps {
            cell,
            split,
            original,
            retrain,
            models,
        }
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
        // Its listing: the defaults the search starts from.
        let listing = self
            .plan
            .methods
            .iter()
            .find(|m| m.method == method)
            .map_or(String::new(), |m| m.listing.clone());
        let trials = spec.trials.to_string();
        let objective = spec.objective.to_string();
        // The declared search space is part of what the search is.
        let space = unlearn_methods::Space::declared(method)
            .ok()
            .and_then(|s| serde_json::to_string(&s.dims).ok())
            .unwrap_or_default();
        let key = self.key(&[
            "tune",
            crate::tune::TUNE_VERSION,
            method,
            &listing,
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
    ) -> Vec<(String, StepId, StepId, StepId)> {
        let split_key = self.steps.all[split].key.clone();
        let max_retain = self.plan.max_retain.to_string();
        let seed = cell.seed.to_string();
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
        let reference = features[1];
        let mut models = Vec::new();
        for ((name, producer), feat) in producers.iter().zip(&features) {
            let key = step_key(&[
                "metrics",
                &self.steps.all[*feat].key,
                &self.steps.all[reference].key,
                &seed,
                "plot",
            ]);
            let metrics = self.steps.push(
                StepKind::Metrics,
                cell,
                Some(name),
                vec![*feat, reference],
                dir.join(format!("metrics/{name}.json")),
                key,
            );
            models.push((name.clone(), *producer, *feat, metrics));
        }
        models
    }
}
