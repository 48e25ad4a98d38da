//! `--executor slurm`: the steps that are not done, as one Slurm job array per stage.
//!
//! A step's stage is the length of the longest chain of not-done steps it reads, so the
//! first array holds splits (and given models), the next originals and retrains, then
//! tunes and methods, features, metrics. Each array depends on the one before
//! (`afterok`), and a last job (`--run-step report`) writes the report. Every task runs this
//! binary with the study's arguments and `--run-step <id>` against the shared store, so
//! resubmitting (running the same command again) submits only what is missing or failed.
//! Scripts, task logs and `jobs.json` go to `<store>/slurm/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{ExecutorOptions, WorkerCommand};
use crate::error::{PipelineError, Result};
use crate::study::Study;

/// The jobs of one submission, as `jobs.json` records them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// Job ids of the stage arrays, in stage order, with their task counts.
    pub stages: Vec<(String, usize)>,
    /// Job id of the report job.
    pub report: String,
}

impl Submission {
    /// Every job id.
    pub fn ids(&self) -> Vec<String> {
        self.stages
            .iter()
            .map(|(id, _)| id.clone())
            .chain(std::iter::once(self.report.clone()))
            .filter(|id| !id.is_empty())
            .collect()
    }
}

fn slurm_dir(store: &Path) -> PathBuf {
    store.join("slurm")
}

/// The last submission recorded in `<store>/slurm/jobs.json`.
pub fn last_submission(store: &Path) -> Option<Submission> {
    let text = std::fs::read_to_string(slurm_dir(store).join("jobs.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// The jobs' states from `squeue` (or that they have left the queue).
pub fn describe_jobs(sub: &Submission) -> String {
    let queued = queued(&sub.ids()).unwrap_or_default();
    let mut out = String::from("  slurm jobs of the last submission:\n");
    for (i, (id, tasks)) in sub.stages.iter().enumerate() {
        let state = queued.get(id).map_or("not queued", String::as_str);
        out += &format!("    stage {i}: job {id} ({tasks} tasks): {state}\n");
    }
    let state = queued.get(&sub.report).map_or("not queued", String::as_str);
    out += &format!("    report: job {}: {state}\n", sub.report);
    out
}

/// Job id → states of its queued tasks (`squeue`); jobs that left the queue are absent.
fn queued(ids: &[String]) -> Result<BTreeMap<String, String>> {
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let out = Command::new("squeue")
        .args(["-h", "-o", "%F %T", "-j", &ids.join(",")])
        .output()
        .map_err(|e| PipelineError::Plan(format!("cannot run squeue: {e}")))?;
    // squeue fails with "Invalid job id" once every job has left the queue.
    let text = String::from_utf8_lossy(&out.stdout);
    let mut states: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        if let Some((id, state)) = line.trim().split_once(' ') {
            states
                .entry(id.to_string())
                .or_default()
                .push(state.to_string());
        }
    }
    Ok(states
        .into_iter()
        .map(|(id, mut s)| {
            s.sort();
            s.dedup();
            (id, s.join(","))
        })
        .collect())
}

/// The stage of every step that is not done (steps that are done are absent).
fn stages(study: &Study) -> BTreeMap<usize, usize> {
    let mut stage: BTreeMap<usize, usize> = BTreeMap::new();
    // Steps come in an order that puts every input before its readers.
    for s in &study.steps.all {
        if study.store.is_done(&s.output, &s.key) {
            continue;
        }
        let depth = s
            .inputs
            .iter()
            .filter_map(|i| stage.get(i))
            .map(|d| d + 1)
            .max()
            .unwrap_or(0);
        stage.insert(s.id, depth);
    }
    stage
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,+@%".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The `#SBATCH` lines every job gets.
fn sbatch_options(opts: &ExecutorOptions, name: &str, log: &Path) -> Vec<String> {
    let mut o = vec![
        format!("--job-name={name}"),
        format!("--output={}", log.display()),
    ];
    if let Some(p) = &opts.partition {
        o.push(format!("--partition={p}"));
    }
    if let Some(g) = opts.gpus_per_task {
        o.push(format!("--gpus-per-task={g}"));
    }
    if let Some(c) = opts.cpus_per_task {
        o.push(format!("--cpus-per-task={c}"));
    }
    if let Some(t) = &opts.time {
        o.push(format!("--time={t}"));
    }
    o.extend(opts.sbatch_args.iter().cloned());
    o
}

/// Writes `script` and submits it with `extra` sbatch arguments; returns the job id.
fn sbatch(script_path: &Path, script: &str, extra: &[String]) -> Result<String> {
    unlearn_io::write_atomic(script_path, script.as_bytes())?;
    let out = Command::new("sbatch")
        .arg("--parsable")
        .args(extra)
        .arg(script_path)
        .output()
        .map_err(|e| {
            PipelineError::Plan(format!("cannot run sbatch (is Slurm installed?): {e}"))
        })?;
    if !out.status.success() {
        return Err(PipelineError::Plan(format!(
            "sbatch {} failed: {}",
            script_path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() {
        return Err(PipelineError::Plan(format!(
            "sbatch {} printed no job id",
            script_path.display()
        )));
    }
    Ok(id)
}

/// Submits every step that is not done, stage by stage, and the report job; records the
/// job ids in `<store>/slurm/jobs.json` and returns them.
pub fn submit(study: &Study, opts: &ExecutorOptions, worker: &WorkerCommand) -> Result<Submission> {
    let dir = slurm_dir(study.store.root());
    std::fs::create_dir_all(&dir).map_err(|e| PipelineError::io(&dir, e))?;
    let mut by_stage: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (id, stage) in stages(study) {
        by_stage.entry(stage).or_default().push(id);
    }
    let program = shell_quote(&worker.program.to_string_lossy());
    let args: Vec<String> = worker.base_args().iter().map(|a| shell_quote(a)).collect();
    let mut sub = Submission::default();
    let mut previous: Option<String> = None;
    for (stage, ids) in &by_stage {
        let list: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        let log = dir.join(format!("stage{stage}-%A_%a.log"));
        let name = format!("unlearn-s{stage}");
        let mut script = String::from("#!/bin/bash\n");
        for o in sbatch_options(opts, &name, &log) {
            script += &format!("#SBATCH {o}\n");
        }
        script += &format!(
            "STEPS=({})\nexec {program} {} --run-step \"${{STEPS[$SLURM_ARRAY_TASK_ID]}}\"\n",
            list.join(" "),
            args.join(" ")
        );
        let mut extra = vec![match opts.max_concurrent {
            Some(m) => format!("--array=0-{}%{m}", ids.len() - 1),
            None => format!("--array=0-{}", ids.len() - 1),
        }];
        if let Some(p) = &previous {
            // A failed or cancelled stage cancels what waits on it, rather than leaving it
            // pending for ever.
            extra.push(format!("--dependency=afterok:{p}"));
            extra.push("--kill-on-invalid-dep=yes".into());
        }
        let id = sbatch(&dir.join(format!("stage{stage}.sh")), &script, &extra)?;
        sub.stages.push((id.clone(), ids.len()));
        previous = Some(id);
    }
    let log = dir.join("report-%j.log");
    let mut script = String::from("#!/bin/bash\n");
    for o in sbatch_options(opts, "unlearn-report", &log) {
        // The report needs no GPU.
        if !o.starts_with("--gpus-per-task") {
            script += &format!("#SBATCH {o}\n");
        }
    }
    script += &format!("exec {program} {} --run-step report\n", args.join(" "));
    let extra: Vec<String> = previous
        .iter()
        .flat_map(|p| {
            [
                format!("--dependency=afterok:{p}"),
                "--kill-on-invalid-dep=yes".into(),
            ]
        })
        .collect();
    sub.report = sbatch(&dir.join("report.sh"), &script, &extra)?;
    let text = serde_json::to_string_pretty(&sub).unwrap_or_default() + "\n";
    unlearn_io::write_atomic(&dir.join("jobs.json"), text.as_bytes())?;
    Ok(sub)
}

/// Blocks until every job of `sub` has left the queue; then the report must exist.
pub fn wait(store: &Path, sub: &Submission, poll: Duration) -> Result<()> {
    let start = Instant::now();
    let mut last = String::new();
    loop {
        let q = queued(&sub.ids())?;
        if q.is_empty() {
            break;
        }
        let line = sub
            .stages
            .iter()
            .map(|(id, _)| q.get(id).map_or("done", String::as_str))
            .collect::<Vec<_>>()
            .join(" | ");
        if line != last {
            eprintln!(
                "[{}] stages: {line}",
                crate::progress::clock(start.elapsed().as_secs_f64())
            );
            last = line;
        }
        std::thread::sleep(poll);
    }
    let report = store.join("report.md");
    let written_after = std::fs::metadata(&report)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age <= start.elapsed() + Duration::from_secs(5));
    if !written_after {
        return Err(PipelineError::Plan(format!(
            "the jobs ended without writing the report (a task failed, was cancelled or hit its time limit; logs in {}): run the same command again to resubmit what is missing",
            slurm_dir(store).display()
        )));
    }
    Ok(())
}
