//! What a study will train and how long it should take, printed before it runs
//! (`reproduce` always, `reproduce --cost` only that).
//!
//! Every step that runs appends its wall time to `<store>/timings.jsonl`
//! (`{"kind": "retrain", "model": "oracle3", "seconds": 35.2}`). The estimate of a step kind
//! is the mean of its measured times in this store; a kind never measured here takes the
//! quick preset's times on the 2-core reference machine ([`QUICK_REFERENCE_SECONDS`]) when
//! the study is the quick preset's, and is otherwise left out of the estimate (said so).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;

use serde::{Deserialize, Serialize};
use unlearn_train::Preset;

use crate::plan::Plan;
use crate::step::{Step, StepKind, Steps};
use crate::store::Store;

/// The file of measured step times, in the store.
pub const TIMINGS_FILE: &str = "timings.jsonl";

/// Seconds per step kind of the quick preset on the 2-core development machine while
/// nothing else ran, in the two ways such a machine runs it: `(kind, one step at a time in
/// one process with both cores (--jobs 1), two steps at once in two workers with one core
/// each (--jobs auto))`.
/// - One at a time: the means of the median of three whole quick studies' `timings.jsonl`
///   (97 steps each: 438 s, 517 s and 540 s, on 2026-12-07).
/// - Two at once: the means of the median of three whole quick studies on 2026-12-08
///   (340 s, 350 s and 355 s; `docs/performance.md`, "Two steps at once").
///
/// They are used before this store has its own measurements. [`QUICK_REFERENCE_SPREAD`]
/// says how far the runs were apart. On a shared machine steps take up to about twice as
/// long. Searches and imports were not measured there and count as unknown.
pub const QUICK_REFERENCE_SECONDS: [(StepKind, f64, f64); 6] = [
    (StepKind::Split, 0.1, 0.1),
    (StepKind::Original, 38.2, 44.7),
    (StepKind::Retrain, 35.5, 40.7),
    (StepKind::Forget, 11.3, 14.7),
    (StepKind::Features, 1.9, 3.08),
    (StepKind::Metrics, 0.93, 1.61),
];

/// The fastest and slowest of the quiet runs behind [`QUICK_REFERENCE_SECONDS`], as
/// factors of the median run, one at a time (438 / 517 and 540 / 517) and two at once
/// (340 / 350 and 355 / 350): the band the estimate states for the times it takes from the
/// reference machine.
pub const QUICK_REFERENCE_SPREAD: [(f64, f64); 2] = [(0.85, 1.05), (0.97, 1.02)];

/// The time of a step kind whose cost hardly depends on the preset (a split, a
/// per-example test over feature files), when nothing is measured.
fn cheap_step_seconds(kind: StepKind) -> Option<f64> {
    match kind {
        StepKind::Split => Some(0.2),
        // Measured: 1.0 s with 8 + 8 models, 900 examples, 2 × 1,000 permutations.
        StepKind::OracleTest => Some(1.0),
        _ => None,
    }
}

/// One measured step time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// The step's kind.
    pub kind: StepKind,
    /// The model it trained or measured.
    #[serde(default)]
    pub model: Option<String>,
    /// Wall seconds.
    pub seconds: f64,
    /// Compute threads the step had (`RAYON_NUM_THREADS`, else the cores); absent in
    /// stores written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
}

/// The compute threads of a step run by this process: `RAYON_NUM_THREADS` when set (as
/// the local pool sets it for its workers), else the cores.
pub fn step_threads() -> usize {
    rayon_threads().unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// `RAYON_NUM_THREADS` when it is set to a whole number of at least 1.
pub fn rayon_threads() -> Option<usize> {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .filter(|&t: &usize| t > 0)
}

/// Appends a step's wall time to the store's timings. Best effort: a store that cannot
/// be appended to only loses the measurement (one `write` of one line, so workers of a
/// pool do not interleave lines).
pub fn record_timing(store: &Store, step: &Step, seconds: f64) {
    let line = serde_json::to_string(&Timing {
        kind: step.kind,
        model: step.model.clone(),
        seconds,
        threads: Some(step_threads()),
    })
    .unwrap_or_default()
        + "\n";
    let path = store.root().join(TIMINGS_FILE);
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = appended {
        eprintln!(
            "note: cannot record the step time in {} ({e})",
            path.display()
        );
    }
}

/// The mean measured seconds per step kind in this store, of the steps that ran with
/// `threads` compute threads when there are such, else of all of them (lines that do not
/// parse are skipped: a line cut by a kill).
pub fn measured(store: &Store, threads: usize) -> BTreeMap<String, (f64, usize)> {
    let text = std::fs::read_to_string(store.root().join(TIMINGS_FILE)).unwrap_or_default();
    // Per kind: (sum, count) of the steps with `threads`, and of all.
    let mut sums: BTreeMap<String, [(f64, usize); 2]> = BTreeMap::new();
    for t in text
        .lines()
        .filter_map(|l| serde_json::from_str::<Timing>(l).ok())
    {
        let e = sums.entry(kind_name(t.kind)).or_default();
        if t.threads == Some(threads) {
            e[0].0 += t.seconds;
            e[0].1 += 1;
        }
        e[1].0 += t.seconds;
        e[1].1 += 1;
    }
    sums.into_iter()
        .map(|(k, [same, all])| {
            let (s, n) = if same.1 > 0 { same } else { all };
            (k, (s / n as f64, n))
        })
        .collect()
}

fn kind_name(kind: StepKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// What a plan trains and runs, and its estimated time.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Counts of what is trained or run, in words (`8 originals`), over all steps.
    pub counts: Vec<(String, usize)>,
    /// Steps in the plan.
    pub steps: usize,
    /// Steps not done yet.
    pub to_run: usize,
    /// Steps run at once, and the compute threads of each.
    pub parallelism: (usize, usize),
    /// Estimated wall seconds of the steps to run whose kind has a time, started as the
    /// executor starts them ([`makespan`]).
    pub seconds: f64,
    /// The summed step seconds taken from [`QUICK_REFERENCE_SECONDS`] (the fixed times of
    /// cheap steps are not part of it).
    pub reference_seconds: f64,
    /// The range of [`Estimate::seconds`] when the reference machine's times vary as the
    /// runs behind them did ([`QUICK_REFERENCE_SPREAD`]); `None` when no time comes from
    /// the reference machine.
    pub band: Option<(f64, f64)>,
    /// Kinds to run without any time (neither measured here nor a reference).
    pub unknown: Vec<String>,
    /// Where the times come from, per kind to run: `measured (n = 12)` or `reference`.
    pub sources: Vec<(String, String)>,
}

/// The wall time of running the steps whose `seconds` are given (the others are done or
/// take no time) on `workers` at once, started as the local pool starts them: in id
/// order, each as soon as the steps it reads are done and a worker is free. With one
/// worker it is the sum.
pub fn makespan(steps: &Steps, seconds: &[Option<f64>], workers: usize) -> f64 {
    let workers = workers.max(1);
    let mut waiting: Vec<usize> = (0..steps.all.len())
        .filter(|&i| seconds[i].is_some())
        .collect();
    let mut finished: Vec<bool> = seconds.iter().map(Option::is_none).collect();
    let mut running: Vec<(f64, usize)> = Vec::new();
    let mut now = 0.0f64;
    while !waiting.is_empty() || !running.is_empty() {
        let mut i = 0;
        while i < waiting.len() && running.len() < workers {
            let id = waiting[i];
            if steps.all[id].inputs.iter().all(|&d| finished[d]) {
                running.push((now + seconds[id].unwrap_or(0.0), id));
                waiting.remove(i);
            } else {
                i += 1;
            }
        }
        let Some(next) = running.iter().map(|r| r.0).reduce(f64::min) else {
            break; // nothing runs and nothing can start (a cycle cannot occur in a plan)
        };
        now = next;
        running.retain(|&(end, id)| {
            if end <= next {
                finished[id] = true;
            }
            end > next
        });
    }
    now
}

/// The roles of steps, in the order the counts are printed: (singular, plural).
const ROLES: [(&str, &str); 10] = [
    ("split", "splits"),
    ("original", "originals"),
    ("oracle retrain", "oracle retrains"),
    ("retrain", "retrains"),
    ("imported model", "imported models"),
    ("hyper-parameter search", "hyper-parameter searches"),
    ("unlearning run", "unlearning runs"),
    ("feature extraction", "feature extractions"),
    ("metrics step", "metrics steps"),
    ("per-example test", "per-example tests"),
];

/// The index of a step's role in [`ROLES`].
fn role(step: &Step) -> usize {
    let model = step.model.as_deref().unwrap_or("");
    match step.kind {
        StepKind::Split => 0,
        StepKind::Original => 1,
        StepKind::Retrain if model.starts_with("oracle") => 2,
        StepKind::Retrain => 3,
        StepKind::Import => 4,
        StepKind::Tune => 5,
        StepKind::Forget => 6,
        StepKind::Features => 7,
        StepKind::Metrics => 8,
        StepKind::OracleTest => 9,
    }
}

/// The estimate of `steps` against what `store` has done and measured, for `workers`
/// steps at once with `threads` compute threads each.
pub fn estimate(
    plan: &Plan,
    steps: &Steps,
    store: &Store,
    workers: usize,
    threads: usize,
) -> Estimate {
    let measured = measured(store, threads);
    let mut per_role = [0usize; ROLES.len()];
    for s in &steps.all {
        per_role[role(s)] += 1;
    }
    let counts: Vec<(String, usize)> = ROLES
        .iter()
        .zip(per_role)
        .filter(|(_, n)| *n > 0)
        .map(|((one, many), n)| ((if n == 1 { one } else { many }).to_string(), n))
        .collect();
    // Two steps at once on the reference machine ran with one thread each.
    let mode = usize::from(workers > 1);
    let (mut reference_seconds, mut to_run) = (0.0, 0);
    // Per step: its seconds, and whether they come from the reference machine.
    let mut times: Vec<Option<(f64, bool)>> = vec![None; steps.all.len()];
    let mut unknown: Vec<String> = Vec::new();
    let mut sources: Vec<(String, String)> = Vec::new();
    for s in &steps.all {
        if store.is_done(&s.output, &s.key) {
            continue;
        }
        to_run += 1;
        let name = kind_name(s.kind);
        let quick = (plan.preset == Preset::Quick && plan.epochs_cap.is_none())
            .then(|| QUICK_REFERENCE_SECONDS.iter().find(|r| r.0 == s.kind))
            .flatten()
            .map(|r| if mode == 1 { r.2 } else { r.1 });
        let (t, source) = match (measured.get(&name), quick, cheap_step_seconds(s.kind)) {
            (Some(&(t, _)), _, _) => (Some((t, false)), "measured in this store".to_string()),
            (None, Some(t), _) => {
                reference_seconds += t;
                (Some((t, true)), "reference machine".to_string())
            }
            (None, None, Some(t)) => (Some((t, false)), "reference machine".to_string()),
            (None, None, None) => (Some((0.0, false)), String::new()),
        };
        times[s.id] = t;
        if source.is_empty() {
            if !unknown.contains(&name) {
                unknown.push(name);
            }
        } else if !sources.iter().any(|(k, _)| *k == name) {
            sources.push((name, source));
        }
    }
    let wall = |factor: f64| {
        let scaled: Vec<Option<f64>> = times
            .iter()
            .map(|t| t.map(|(s, reference)| if reference { s * factor } else { s }))
            .collect();
        makespan(steps, &scaled, workers)
    };
    let (low, high) = QUICK_REFERENCE_SPREAD[mode];
    Estimate {
        counts,
        steps: steps.all.len(),
        to_run,
        parallelism: (workers.max(1), threads),
        seconds: wall(1.0),
        reference_seconds,
        band: (reference_seconds > 0.0).then(|| (wall(low), wall(high))),
        unknown,
        sources,
    }
}

impl Estimate {
    /// The range of [`Estimate::seconds`] when its reference-machine part varies as the
    /// runs behind it did ([`QUICK_REFERENCE_SPREAD`]); `None` when no time comes from the
    /// reference machine.
    pub fn band(&self) -> Option<(f64, f64)> {
        self.band
    }

    /// The estimate in words, a few lines.
    pub fn render(&self) -> String {
        let mut s = String::from("plan: ");
        let parts: Vec<String> = self
            .counts
            .iter()
            .map(|(what, n)| format!("{n} {what}"))
            .collect();
        s += &parts.join(", ");
        let _ = writeln!(s, "; {} steps, {} to run", self.steps, self.to_run);
        if self.to_run == 0 {
            return s;
        }
        let _ = write!(s, "estimate: {}", clock(self.seconds));
        let (workers, threads) = self.parallelism;
        if workers > 1 {
            let _ = write!(
                s,
                " with {workers} steps at once ({threads} thread{} each)",
                if threads == 1 { "" } else { "s" }
            );
        }
        if let Some((low, high)) = self.band() {
            let _ = write!(
                s,
                ", {} to {} as the reference machine's times varied over three quiet runs",
                clock(low),
                clock(high)
            );
        }
        if !self.sources.is_empty() {
            // Kinds grouped by where their time comes from.
            let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
            for (kind, src) in &self.sources {
                match groups.iter_mut().find(|(g, _)| g == src) {
                    Some((_, kinds)) => kinds.push(kind),
                    None => groups.push((src, vec![kind])),
                }
            }
            let from: Vec<String> = groups
                .iter()
                .map(|(src, kinds)| format!("{}: {src}", kinds.join(", ")))
                .collect();
            let _ = write!(s, " (step times of {})", from.join("; "));
        }
        if !self.unknown.is_empty() {
            let _ = write!(
                s,
                "; plus {} steps, never timed on this store: a rerun after the first of each \
                 has run estimates them",
                self.unknown.join(", ")
            );
        }
        s.push('\n');
        s
    }
}

fn clock(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}
