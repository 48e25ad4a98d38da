//! A study from request to report: resolve the plan, expand it into steps, run them through
//! an executor against the store, collect the records and publish `results.jsonl`,
//! `results.csv`, `run.json`, `report.md`, `report.html` and the figures.

use std::path::PathBuf;

use unlearn_data::Dataset;
use unlearn_report::{ReportContext, ResultRecord};

use crate::error::{PipelineError, Result};
use crate::exec::{Executor, Scope, StepOutcome, StepRunner};
use crate::plan::{Plan, StudyConfig};
use crate::progress::Progress;
use crate::records::cell_records;
use crate::step::{CellSteps, Steps};
use crate::store::Store;
use unlearn_ops as ops;

/// A prepared study: the plan, its steps and the open store.
pub struct Study {
    /// The resolved plan.
    pub plan: Plan,
    /// Its steps.
    pub steps: Steps,
    /// Each cell's steps by role.
    pub cells: Vec<CellSteps>,
    /// The store.
    pub store: Store,
    data: Dataset,
    quiet: bool,
}

/// What a finished study gives back.
#[derive(Debug)]
pub struct StudyOutcome {
    /// The store (output folder).
    pub out: PathBuf,
    /// The records, as in `results.jsonl`.
    pub records: Vec<ResultRecord>,
    /// The Markdown report.
    pub markdown: String,
    /// Wall seconds of this invocation.
    pub seconds: f64,
}

impl Study {
    /// Loads the data, resolves the plan, expands it, opens the store and writes
    /// `plan.json` into it (what a worker of another executor reads).
    pub fn prepare(cfg: &StudyConfig) -> Result<Study> {
        let (data, plan, steps, cells) = Self::plan(cfg)?;
        let store = Store::open(&cfg.out)?;
        let text = serde_json::to_string_pretty(&serde_json::json!({
            "plan": &plan, "steps": &steps, "cells": &cells,
        }))
        .map_err(|e| PipelineError::Json {
            path: cfg.out.join("plan.json"),
            source: e,
        })?;
        unlearn_report::write_atomic(&cfg.out.join("plan.json"), &(text + "\n"))?;
        Ok(Study {
            plan,
            steps,
            cells,
            store,
            data,
            quiet: cfg.quiet,
        })
    }

    /// Loads the data, resolves the plan and checks it against the data as a run would
    /// (every scenario's classes and backdoor target exist), then expands it; the store is
    /// not touched (what `--cost` prints from, writing nothing).
    pub fn plan(cfg: &StudyConfig) -> Result<(Dataset, Plan, Steps, Vec<CellSteps>)> {
        let data_spec = cfg
            .data
            .clone()
            .unwrap_or_else(|| cfg.preset.default_data().to_string());
        let data = ops::load_dataset(&data_spec)?;
        let plan = Plan::resolve(cfg, &data.fingerprint)?;
        for scenario in &plan.scenarios {
            scenario.validate(data.num_classes)?;
        }
        let (steps, cells) = Steps::of(&plan);
        Ok((data, plan, steps, cells))
    }

    /// Runs the one step `id` in this process (what a worker of another executor does).
    pub fn run_step(self, id: usize) -> Result<StepOutcome> {
        let step = self.steps.all.get(id).cloned().ok_or_else(|| {
            PipelineError::Plan(format!(
                "this study has no step {id} (it has {})",
                self.steps.all.len()
            ))
        })?;
        let runner = StepRunner::new(&self.plan, &self.steps, &self.store, self.quiet)
            .with_data(self.data)?;
        runner.run(&step).map_err(|e| PipelineError::Step {
            step: crate::step::describe(&self.plan, &step),
            error: Box::new(e),
        })
    }

    /// Runs every step through `executor`, a cell at a time, publishing a partial report
    /// after each cell and the final one at the end. `command` is recorded in the report.
    pub fn run(self, executor: &mut dyn Executor, command: &str) -> Result<StudyOutcome> {
        let Study {
            plan,
            steps,
            cells,
            store,
            data,
            quiet,
        } = self;
        let runner = StepRunner::new(&plan, &steps, &store, quiet).with_data(data)?;
        let (workers, threads) = executor.parallelism();
        eprint!(
            "{}",
            crate::cost::estimate(&plan, &steps, &store, workers, threads).render()
        );
        let mut progress = Progress::new(steps.all.iter().map(|s| s.kind.cost()).sum());
        let mut records = Vec::new();
        if executor.scope() == Scope::Whole {
            let all: Vec<usize> = (0..steps.all.len()).collect();
            executor.run_batch(&runner, &all, &mut progress)?;
            for cell in &cells {
                records.extend(cell_records(&plan, &steps, &store, &runner, cell)?);
            }
            let markdown = publish(&plan, &store, &records, progress.elapsed(), command, "")?;
            store.sweep_if_alone()?;
            return Ok(StudyOutcome {
                out: store.root().to_path_buf(),
                records,
                markdown,
                seconds: progress.elapsed(),
            });
        }
        for (i, cell) in cells.iter().enumerate() {
            executor.run_batch(&runner, &steps.of_cell(cell.cell), &mut progress)?;
            records.extend(cell_records(&plan, &steps, &store, &runner, cell)?);
            if i + 1 < cells.len() {
                // A partial report after every cell, so a long run can be read (and a killed
                // one still has one) before it ends.
                let status = format!(
                    "Partial: {} of {} scenario × seed runs finished; the run goes on.",
                    i + 1,
                    cells.len()
                );
                publish(
                    &plan,
                    &store,
                    &records,
                    progress.elapsed(),
                    command,
                    &status,
                )?;
            }
        }
        if plan.ensemble.is_some() {
            // The per-example tests ran in each scenario's last cell: every member's record
            // carries them only now.
            records.clear();
            for cell in &cells {
                records.extend(cell_records(&plan, &steps, &store, &runner, cell)?);
            }
        }
        let markdown = publish(&plan, &store, &records, progress.elapsed(), command, "")?;
        store.sweep_if_alone()?;
        Ok(StudyOutcome {
            out: store.root().to_path_buf(),
            records,
            markdown,
            seconds: progress.elapsed(),
        })
    }
}

/// One record as a line of `results.jsonl` (keys sorted, as `serde_json::Value` prints them).
pub fn record_line(record: &ResultRecord) -> String {
    // Serialising a record of plain fields cannot fail.
    serde_json::to_value(record)
        .map(|v| v.to_string())
        .unwrap_or_default()
}

/// Writes `results.jsonl`, `run.json` and the report; returns the Markdown.
fn publish(
    plan: &Plan,
    store: &Store,
    records: &[ResultRecord],
    seconds: f64,
    command: &str,
    status: &str,
) -> Result<String> {
    let out = store.root();
    let jsonl: String = records.iter().map(|r| record_line(r) + "\n").collect();
    unlearn_report::write_atomic(&out.join("results.jsonl"), &jsonl)?;
    let ctx = ReportContext {
        preset: plan.preset.to_string(),
        data: plan.data.clone(),
        seeds: plan.seeds.len() as u64,
        scenarios: plan.scenarios.iter().map(|s| s.to_string()).collect(),
        out: out.to_path_buf(),
        seconds,
        command: command.to_string(),
        machine: machine(),
        status: status.to_string(),
    };
    // For `cargo xtask report`, which rewrites the report from results.jsonl.
    let run = serde_json::json!({
        "command": ctx.command, "machine": ctx.machine, "seconds": ctx.seconds,
        "status": ctx.status, "data": ctx.data,
    });
    unlearn_report::write_atomic(&out.join("run.json"), &format!("{run:#}\n"))?;
    Ok(unlearn_report::write_all(&ctx, records)?)
}

/// The machine in words: CPU model, cores, memory, and the commit when in a git checkout.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = crate::cluster::meminfo_gib("MemTotal");
    let mut s = format!("{model}, {cores} cores");
    if let Some(g) = mem_gib {
        s += &format!(", {g:.0} GiB");
    }
    if let Some(commit) = git_commit() {
        s += &format!(", commit {commit}");
    }
    s
}

/// The short commit of the working directory's git checkout, marked when it has
/// uncommitted changes to tracked files.
fn git_commit() -> Option<String> {
    use std::process::Command;
    let o = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()?;
    if !o.status.success() {
        return None;
    }
    let mut s = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .is_ok_and(|d| !d.stdout.is_empty());
    if dirty {
        s += " with uncommitted changes";
    }
    Some(s)
}
