//! `unlearn tune`: a seeded hyper-parameter search of one method against retrained
//! reference models.
//!
//! - **Trials are real runs.** Each trial runs the method on the original with one point of
//!   its search space ([`unlearn_methods::Space`], declared next to its parameters, or
//!   `--space FILE`), extracts the features and scores them with the toolkit's own metrics
//!   against the references ([`Objective`]).
//! - **The search** ([`sampler`]): trial 0 is the method's defaults; then uniform random
//!   points until `startup` trials have run; then TPE proposals, every third one replaced
//!   by a random point (so a choice the first good trials share is not locked in).
//! - **Outputs** in the folder: `tune.json` (what the search is: method, space, objective,
//!   seed, budget and the SHA-256 of every input), `trials.jsonl` (one line per trial: the
//!   point, its scores, its seconds; appended and synced after each trial) and `best.toml`
//!   (the best trial's values as a `[method]` table, which `--config` takes), rewritten
//!   atomically after every trial.
//! - **Resume.** A killed search continues from its last complete line; a half-written line
//!   is dropped and redone. Each kept line is checked against what the sampler proposes for
//!   it, so a `trials.jsonl` of another search is refused, not extended.
//! - **Determinism.** A trial's point depends only on the seed and the earlier trials'
//!   results, and on the CPU a run's results depend only on its inputs: the same seed gives
//!   the same `trials.jsonl` (the `seconds` aside) and the same `best.toml`.
//!
//! A trial's inputs are loaded and its runs scored through the shared operations
//! ([`unlearn_ops`]); errors are [`TuneError`].
//!
//! # Example
//! Twelve trials of `ft` against one retrained reference:
//! ```no_run
//! use unlearn_tune::{tune, Objective, TuneConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let outcome = tune(&TuneConfig {
//!     method: "ft".into(),
//!     preset: None,
//!     data: "embedded".into(),
//!     split: "split.json".into(),
//!     original: "original.safetensors".into(),
//!     load: Default::default(),
//!     references: vec!["retrained.safetensors".into()],
//!     trials: 12,
//!     startup: None,
//!     seed: 0,
//!     objective: Objective::Both,
//!     space: None,
//!     shared_retain_budget: None,
//!     sets: Vec::new(),
//!     out: "target/tune-ft".into(),
//!     device: "cpu".into(),
//!     on_mismatch: Default::default(),
//!     quiet: false,
//! })?;
//! println!("best values in {}", outcome.best_toml.display());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod bench;
pub mod error;
mod objective;
pub mod sampler;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use unlearn_methods::{registry, Overrides, Space};
use unlearn_train::Preset;

pub use bench::{Bench, Scores};
pub use error::{Result, TuneError};
pub use objective::Objective;
use sampler::{Observation, Phase};

/// Bumped when a trial's meaning changes, so an old `trials.jsonl` is not extended.
/// `tune/3`: trials are scored with `unlearn_metrics::METRICS_VERSION` `metrics/2`.
pub const TUNE_VERSION: &str = "tune/3";

/// What to search.
#[derive(Clone, Debug)]
pub struct TuneConfig {
    /// The method id.
    pub method: String,
    /// The preset whose defaults the method starts from; `None`: the original's.
    pub preset: Option<Preset>,
    /// The data (`unlearn --data` syntax).
    pub data: String,
    /// The split whose forget list is forgotten.
    pub split: PathBuf,
    /// The original checkpoint (a path, `hf://…` or `model:<id>`).
    pub original: String,
    /// How to read an original without this toolkit's metadata (`--arch`, `--normalize`).
    pub load: unlearn_ops::LoadOptions,
    /// Retrained models (checkpoints) or their features: the oracle(s).
    pub references: Vec<PathBuf>,
    /// Trials in all (trial 0 is the defaults).
    pub trials: usize,
    /// Trials before TPE takes over (the defaults and random points); `None`: a third of
    /// the budget, at least 4.
    pub startup: Option<usize>,
    /// Seed of the search and of every run.
    pub seed: u64,
    /// What is minimised.
    pub objective: Objective,
    /// A TOML file that replaces, adds or drops dimensions of the declared space.
    pub space: Option<PathBuf>,
    /// `retain_budget` searched on `[low, high]` (log scale) when the method has it (a
    /// study's shared dimension, `reproduce --tune-retain-budget`); ignored otherwise.
    pub shared_retain_budget: Option<(f64, f64)>,
    /// `key=value` items applied to every trial (not searched).
    pub sets: Vec<String>,
    /// The output folder.
    pub out: PathBuf,
    /// Device.
    pub device: String,
    /// What a provenance mismatch (an original or reference of another split) does.
    pub on_mismatch: unlearn_ops::OnMismatch,
    /// No per-trial lines on stderr.
    pub quiet: bool,
}

impl TuneConfig {
    /// The number of startup trials.
    pub fn startup(&self) -> usize {
        self.startup
            .unwrap_or_else(|| (self.trials / 3).max(4))
            .min(self.trials)
    }
}

/// `tune.json`: what a search is, so a resumed search is the same search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TuneHeader {
    /// [`TUNE_VERSION`].
    pub version: String,
    /// The method id.
    pub method: String,
    /// The preset.
    pub preset: Preset,
    /// The objective.
    pub objective: Objective,
    /// The seed.
    pub seed: u64,
    /// The budget.
    pub trials: usize,
    /// Startup trials.
    pub startup: usize,
    /// The searched dimensions.
    pub space: serde_json::Value,
    /// Fixed `key=value` items.
    pub sets: Vec<String>,
    /// The data's fingerprint.
    pub data_fingerprint: String,
    /// The split's content hash.
    pub split_sha256: String,
    /// SHA-256 of the original checkpoint's bytes.
    pub original_sha256: String,
    /// SHA-256 of each reference file's bytes.
    pub references_sha256: Vec<String>,
}

/// One line of `trials.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Its index (0 = the defaults).
    pub trial: usize,
    /// How its point was chosen.
    pub phase: Phase,
    /// The searched parameters' values, as `--set` text (empty for the defaults).
    pub set: BTreeMap<String, String>,
    /// The point on the unit cube (what the sampler learns from).
    pub unit: Vec<f64>,
    /// What it measured.
    #[serde(flatten)]
    pub scores: Scores,
    /// Wall time of the trial (run, features, metrics).
    pub seconds: f64,
}

impl Trial {
    /// Its searched values as `k=v k=v`; `None` for the defaults trial.
    pub fn point_text(&self) -> Option<String> {
        (!self.set.is_empty()).then(|| {
            self.set
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
    }
}

/// A finished search.
#[derive(Clone, Debug)]
pub struct TuneOutcome {
    /// Every trial, in order.
    pub trials: Vec<Trial>,
    /// The index of the best trial; `None` when every trial failed.
    pub best: Option<usize>,
    /// `best.toml`.
    pub best_toml: PathBuf,
}

fn sha256_file(path: &Path) -> Result<String> {
    Ok(unlearn_io::sha256_file(path, "input")?)
}

/// The search space of `cfg` (declared, then the `--space` file), checked against the
/// method's parameters before any trial: the file's keys and names, each range against its
/// parameter's type, and every probe value of every range ([`unlearn_methods::space::Dim::probes`])
/// against the method's own checks with the `--set` items applied. A file entry for a
/// parameter that `--set` fixes is dropped with a warning.
pub fn space_of(cfg: &TuneConfig, preset: Preset) -> Result<Space> {
    let info = registry::info(&cfg.method, preset.as_str())?;
    let mut space = Space::declared(&cfg.method)?;
    let mut from_file = Vec::new();
    if let Some(file) = &cfg.space {
        (space, from_file) = space.with_file(file, &info.params)?;
    }
    if let Some((low, high)) = cfg.shared_retain_budget {
        if info.params.iter().any(|p| p.name == "retain_budget") {
            space.dims.retain(|d| d.name != "retain_budget");
            space.dims.push(unlearn_methods::space::Dim {
                name: "retain_budget".into(),
                range: unlearn_methods::space::Range::Real {
                    low,
                    high,
                    log: true,
                },
            });
        }
    }
    // A parameter fixed with `--set` is not searched.
    let fixed = |name: &str| {
        cfg.sets
            .iter()
            .find(|s| s.split_once('=').is_some_and(|(k, _)| k.trim() == name))
    };
    for name in &from_file {
        if let (Some(set), Some(file)) = (fixed(name), &cfg.space) {
            eprintln!(
                "warning: --space {} searches '{name}', but --set {set} fixes it: that entry is dropped",
                file.display()
            );
        }
    }
    space.dims.retain(|d| fixed(&d.name).is_none());
    space.check()?;
    if space.dims.is_empty() {
        return Err(TuneError::Plan(format!(
            "{} has nothing to search: its space is empty",
            cfg.method
        )));
    }
    for d in &space.dims {
        for (place, value) in d.probes() {
            let sets: Vec<String> = cfg
                .sets
                .iter()
                .cloned()
                .chain([format!("{}={value}", d.name)])
                .collect();
            registry::build(&cfg.method, preset.as_str(), &Overrides::new(&sets, None)?)
                .map_err(|e| {
                    TuneError::Plan(format!(
                        "the search space of {}: {} = {value} ({place} of {}) is refused ({e}); a trial sampling it would fail, so nothing was run",
                        cfg.method, d.name, d.range
                    ))
                })?;
        }
    }
    Ok(space)
}

/// The best trial: the lowest objective, the earliest among equals.
pub fn best_of(trials: &[Trial]) -> Option<usize> {
    trials
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.scores.objective.map(|s| (i, s)))
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
        .map(|(i, _)| i)
}

/// The `--set` items of a trial: the fixed ones, then its point's.
fn trial_sets(cfg: &TuneConfig, set: &BTreeMap<String, String>) -> Vec<String> {
    cfg.sets
        .iter()
        .cloned()
        .chain(set.iter().map(|(k, v)| format!("{k}={v}")))
        .collect()
}

/// Everything a search checks before its first trial: the inputs, the fixed items, the
/// space (see [`space_of`]) and the folder's `tune.json`.
fn prepare(cfg: &TuneConfig) -> Result<(Bench, Space)> {
    let bench = Bench::load(cfg)?;
    registry::build(
        &cfg.method,
        bench.preset.as_str(),
        &Overrides::new(&cfg.sets, None)?,
    )?;
    let space = space_of(cfg, bench.preset)?;
    let header = header_of(cfg, &bench, &space)?;
    check_header(&cfg.out.join("tune.json"), &header)?;
    Ok((bench, space))
}

/// Runs (or resumes) the search of `cfg`.
pub fn tune(cfg: &TuneConfig) -> Result<TuneOutcome> {
    if cfg.trials == 0 {
        return Err(TuneError::Plan("--trials must be at least 1".into()));
    }
    let fresh = !cfg.out.exists();
    std::fs::create_dir_all(&cfg.out).map_err(|e| TuneError::io(&cfg.out, e))?;
    let lock_path = cfg.out.join(".tune.lock");
    let lock = unlearn_io::try_lock_exclusive(&lock_path)?.ok_or_else(|| {
        TuneError::Plan(format!(
            "another `unlearn tune` is writing {} (it holds {})",
            cfg.out.display(),
            lock_path.display()
        ))
    })?;
    let (bench, space) = match prepare(cfg) {
        Ok(prepared) => prepared,
        Err(e) => {
            // Refused before any trial: a folder that holds no search yet is left as it was
            // (the lock file is unlinked while still held, then the folder this run made).
            if !cfg.out.join("tune.json").exists() {
                let _ = std::fs::remove_file(&lock_path);
            }
            drop(lock);
            if fresh {
                let _ = std::fs::remove_dir(&cfg.out);
            }
            return Err(e);
        }
    };
    let _lock = lock;
    let trials_path = cfg.out.join("trials.jsonl");
    let mut trials = resume::load(&trials_path, cfg, &space, &bench)?;
    let best_toml = cfg.out.join("best.toml");
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&trials_path)
        .map_err(|e| TuneError::io(&trials_path, e))?;
    if !trials.is_empty() && !cfg.quiet {
        eprintln!(
            "resuming {}: {} of {} trials done",
            cfg.out.display(),
            trials.len(),
            cfg.trials
        );
    }
    while trials.len() < cfg.trials {
        let t = trials.len();
        let (set, unit, phase) = resume::point(cfg, &space, &bench, &trials, t);
        let (scores, seconds) =
            bench.trial(&cfg.method, &trial_sets(cfg, &set), cfg.seed, cfg.objective)?;
        let trial = Trial {
            trial: t,
            phase,
            set,
            unit,
            scores,
            seconds,
        };
        // Serialising a trial of plain fields cannot fail.
        let line = serde_json::to_string(&trial).unwrap_or_default();
        log.write_all(format!("{line}\n").as_bytes())
            .and_then(|()| log.sync_data())
            .map_err(|e| TuneError::io(&trials_path, e))?;
        // Go on from the trial as read back from its line, as a resumed search does (JSON
        // numbers may read back a unit in the last place off), so both propose alike.
        trials.push(serde_json::from_str(&line).unwrap_or(trial));
        let best = best_of(&trials);
        write_best(&best_toml, cfg, &bench, &trials, best)?;
        if !cfg.quiet {
            eprintln!("{}", progress_line(cfg, &trials, best));
        }
    }
    let best = best_of(&trials);
    write_best(&best_toml, cfg, &bench, &trials, best)?;
    Ok(TuneOutcome {
        trials,
        best,
        best_toml,
    })
}

fn header_of(cfg: &TuneConfig, bench: &Bench, space: &Space) -> Result<TuneHeader> {
    let original = unlearn_ops::resolve_source(&cfg.original)?.path;
    Ok(TuneHeader {
        version: TUNE_VERSION.into(),
        method: cfg.method.clone(),
        preset: bench.preset,
        objective: cfg.objective,
        seed: cfg.seed,
        trials: cfg.trials,
        startup: cfg.startup(),
        // Serialising dimensions of plain fields cannot fail.
        space: serde_json::to_value(&space.dims).unwrap_or_default(),
        sets: cfg.sets.clone(),
        data_fingerprint: bench.ds.fingerprint.clone(),
        split_sha256: bench.manifest.content_hash(),
        original_sha256: sha256_file(&original)?,
        references_sha256: cfg
            .references
            .iter()
            .map(|p| sha256_file(p))
            .collect::<Result<_>>()?,
    })
}

/// Writes `tune.json`, or checks that the one there describes the same search.
fn check_header(path: &Path, header: &TuneHeader) -> Result<()> {
    // Serialising a header of plain fields cannot fail.
    let new = serde_json::to_value(header).unwrap_or_default();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let old: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| TuneError::Json {
                    path: path.to_path_buf(),
                    source: e,
                })?;
            let differ: Vec<String> = new
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, v)| old.get(k.as_str()) != Some(v))
                .map(|(k, _)| k.clone())
                .collect();
            if differ.is_empty() {
                Ok(())
            } else {
                Err(TuneError::Plan(format!(
                    "{} holds another search (it differs in: {}); use a new --out folder, or \
                     remove the folder to start over",
                    path.parent().unwrap_or(path).display(),
                    differ.join(", ")
                )))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let text = serde_json::to_string_pretty(&new).unwrap_or_default();
            unlearn_io::write_atomic(path, text.as_bytes())?;
            Ok(())
        }
        Err(e) => Err(TuneError::io(path, e)),
    }
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{v:.3}"))
}

fn progress_line(cfg: &TuneConfig, trials: &[Trial], best: Option<usize>) -> String {
    let Some(t) = trials.last() else {
        return String::new();
    };
    let point = t.point_text().unwrap_or_else(|| "defaults".into());
    let result = match &t.scores.failed {
        Some(why) => format!("failed: {why}"),
        None => format!(
            "{} {} (output {}, feature {})",
            cfg.objective,
            fmt_opt(t.scores.objective),
            fmt_opt(t.scores.avg_gap_output),
            fmt_opt(t.scores.avg_gap_feature)
        ),
    };
    let best = best.map_or("none yet".into(), |b| {
        format!("{} (trial {b})", fmt_opt(trials[b].scores.objective))
    });
    format!(
        "trial {}/{} [{}] {point}: {result}; best {best}; {:.1} s",
        t.trial + 1,
        cfg.trials,
        t.phase,
        t.seconds
    )
}

/// Writes `best.toml`: the fixed items and the best trial's values as a `[method]` table.
fn write_best(
    path: &Path,
    cfg: &TuneConfig,
    bench: &Bench,
    trials: &[Trial],
    best: Option<usize>,
) -> Result<()> {
    let Some(b) = best else {
        let text = format!(
            "# unlearn tune: {} — no trial of {} finished; nothing to recommend.\n",
            cfg.method,
            trials.len()
        );
        unlearn_io::write_atomic(path, text.as_bytes())?;
        return Ok(());
    };
    let t = &trials[b];
    let sets = trial_sets(cfg, &t.set);
    let overrides = Overrides::new(&sets, None)?;
    let method = registry::build(&cfg.method, bench.preset.as_str(), &overrides)?;
    let params = method.params_json();
    let mut table = toml::Table::new();
    for item in &sets {
        let Some((key, text)) = item.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let value = match params.get(key) {
            Some(serde_json::Value::Bool(v)) => toml::Value::Boolean(*v),
            Some(serde_json::Value::Number(n)) if n.is_u64() => {
                toml::Value::Integer(n.as_u64().unwrap_or_default() as i64)
            }
            Some(serde_json::Value::Number(n)) => {
                toml::Value::Float(n.as_f64().unwrap_or_default())
            }
            _ => toml::Value::String(text.trim().to_string()),
        };
        table.insert(key.to_string(), value);
    }
    let mut doc = toml::Table::new();
    doc.insert(cfg.method.clone(), toml::Value::Table(table));
    let body = toml::to_string(&doc).unwrap_or_default();
    let text = format!(
        "# unlearn tune: {method}, preset {preset}, objective {objective}, seed {seed}\n\
         # best of {n} trials: trial {b} ({phase}), objective {score} \
         (output gap {out}, feature gap {feat})\n\
         # use: unlearn forget --method {method} --config best.toml …\n{body}",
        method = cfg.method,
        preset = bench.preset.as_str(),
        objective = cfg.objective,
        seed = cfg.seed,
        n = trials.len(),
        phase = t.phase,
        score = fmt_opt(t.scores.objective),
        out = fmt_opt(t.scores.avg_gap_output),
        feat = fmt_opt(t.scores.avg_gap_feature),
    );
    unlearn_io::write_atomic(path, text.as_bytes())?;
    Ok(())
}

mod resume {
    //! Reading back `trials.jsonl` and the points of trials.

    use super::*;

    /// The point of trial `t`: the defaults for trial 0, the sampler's otherwise.
    pub(super) fn point(
        cfg: &TuneConfig,
        space: &Space,
        bench: &Bench,
        history: &[Trial],
        t: usize,
    ) -> (BTreeMap<String, String>, Vec<f64>, Phase) {
        if t == 0 {
            return (
                BTreeMap::new(),
                default_unit(cfg, space, bench),
                Phase::Default,
            );
        }
        let observed: Vec<Observation> = history
            .iter()
            .map(|h| Observation {
                unit: h.unit.clone(),
                score: h.scores.objective,
            })
            .collect();
        let (unit, phase) = sampler::propose(&space.dims, &observed, t, cfg.startup(), cfg.seed);
        let set = space
            .dims
            .iter()
            .zip(&unit)
            .map(|(d, u)| (d.name.clone(), d.value_at(*u)))
            .collect();
        (set, unit, phase)
    }

    /// Where the defaults lie in the space (clamped into it).
    fn default_unit(cfg: &TuneConfig, space: &Space, bench: &Bench) -> Vec<f64> {
        let params = registry::build(
            &cfg.method,
            bench.preset.as_str(),
            &Overrides::new(&cfg.sets, None)
                .unwrap_or_default()
                .with_scenario(&bench.manifest.scenario),
        )
        .map(|m| m.params_json())
        .unwrap_or_default();
        space
            .dims
            .iter()
            .map(|d| {
                let text = match params.get(&d.name) {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                    None => String::new(),
                };
                d.unit_of(&text).unwrap_or(0.5).clamp(0.0, 1.0)
            })
            .collect()
    }

    /// The trials already in `path`, checked against the sampler; a half-written last line
    /// (a killed writer) is dropped and the file rewritten without it.
    pub(super) fn load(
        path: &Path,
        cfg: &TuneConfig,
        space: &Space,
        bench: &Bench,
    ) -> Result<Vec<Trial>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(TuneError::io(path, e)),
        };
        let mut trials: Vec<Trial> = Vec::new();
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let mut dropped = false;
        for (i, line) in lines.iter().enumerate() {
            let complete = line.ends_with('\n');
            let last = i + 1 == lines.len();
            match serde_json::from_str::<Trial>(line.trim_end()) {
                Ok(t) if complete => trials.push(t),
                // Only the last line can be incomplete: a writer killed mid-line.
                _ if last => dropped = true,
                Ok(_) => dropped = true,
                Err(e) => {
                    return Err(TuneError::Plan(format!(
                        "{} line {} is not a trial ({e}); remove the folder to start over",
                        path.display(),
                        i + 1
                    )))
                }
            }
        }
        for (i, t) in trials.iter().enumerate() {
            let (set, unit, phase) = point(cfg, space, bench, &trials[..i], i);
            let same_point = t.unit.len() == unit.len()
                && t.unit
                    .iter()
                    .zip(&unit)
                    .all(|(a, b)| (a - b).abs() <= 1e-12);
            if t.trial != i || t.set != set || !same_point || t.phase != phase {
                return Err(TuneError::Plan(format!(
                    "{} line {} is not what this search proposes for trial {i}: the file \
                     belongs to another search; use a new --out folder",
                    path.display(),
                    i + 1
                )));
            }
        }
        if trials.len() > cfg.trials {
            trials.truncate(cfg.trials);
        }
        if dropped {
            let kept: String = trials
                .iter()
                .map(|t| serde_json::to_string(t).unwrap_or_default() + "\n")
                .collect();
            unlearn_io::write_atomic(path, kept.as_bytes())?;
        }
        Ok(trials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use unlearn_methods::{Dim, Range};

    fn config(method: &str, shared: Option<(f64, f64)>, sets: &[&str]) -> TuneConfig {
        TuneConfig {
            method: method.into(),
            preset: Some(Preset::Quick),
            data: "embedded".into(),
            split: PathBuf::from("split.json"),
            original: "original.safetensors".into(),
            load: Default::default(),
            references: Vec::new(),
            trials: 4,
            startup: None,
            seed: 0,
            objective: Objective::Both,
            space: None,
            shared_retain_budget: shared,
            sets: sets.iter().map(|s| s.to_string()).collect(),
            out: PathBuf::from("tune"),
            device: "cpu".into(),
            on_mismatch: Default::default(),
            quiet: true,
        }
    }

    /// `reproduce --tune-retain-budget`: the same log-scale dimension for every method
    /// that has `retain_budget`, and none for one that has not.
    #[test]
    fn a_shared_retain_budget_is_one_dimension_for_every_method_that_uses_retain_data() {
        let range = Range::Real {
            low: 0.05,
            high: 1.0,
            log: true,
        };
        for method in ["ft", "rl", "salun", "scrub", "neggrad+", "l1", "muda"] {
            let space =
                space_of(&config(method, Some((0.05, 1.0)), &[]), Preset::Quick).expect("a space");
            let dims: Vec<&Dim> = space
                .dims
                .iter()
                .filter(|d| d.name == "retain_budget")
                .collect();
            assert_eq!(dims.len(), 1, "{method}: one retain_budget dimension");
            assert_eq!(dims[0].range, range, "{method}");
            let plain = space_of(&config(method, None, &[]), Preset::Quick).expect("a space");
            assert!(
                plain.dims.iter().all(|d| d.name != "retain_budget"),
                "{method}: searched only when asked"
            );
        }
        for method in ["ga", "bs", "be"] {
            let space =
                space_of(&config(method, Some((0.05, 1.0)), &[]), Preset::Quick).expect("a space");
            assert!(
                space.dims.iter().all(|d| d.name != "retain_budget"),
                "{method} uses no retain data"
            );
        }
    }
}
