//! Running a study's steps elsewhere than one after another in this process: a local pool
//! of worker processes (`--executor local --jobs N`) and Slurm job arrays
//! (`--executor slurm`).
//!
//! Either way every step runs as the same binary with the same arguments plus
//! `--run-step <id>` ([`run_one`]), against the one content-addressed store: a step runs
//! under its store lock and counts as done only once its output and key sidecar are
//! written, so a worker that is killed (a cancelled job, a lost node, a time limit) leaves
//! no artefact that counts, and running the study again runs only what is missing.

pub mod pool;
pub mod slurm;

use std::path::PathBuf;

use crate::error::{PipelineError, Result};
use crate::exec::StepOutcome;
use crate::study::Study;

/// Where the steps run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExecutorKind {
    /// On this machine: one step at a time in this process (`--jobs 1`, the default), or
    /// `--jobs N` worker processes running independent steps at once.
    #[default]
    Local,
    /// As Slurm job arrays, one array per stage, each stage depending on the one before.
    Slurm,
}

/// The executor options of `reproduce` (`jobs` is at least 1).
#[derive(Clone, Debug, Default)]
pub struct ExecutorOptions {
    /// Where the steps run: local (this machine) or slurm (job arrays; see docs/cluster.md).
    pub executor: ExecutorKind,
    /// Local executor: independent steps run at once, each in its own worker process.
    pub jobs: usize,
    /// Slurm: the partition.
    pub partition: Option<String>,
    /// Slurm: GPUs per task (`--gpus-per-task`).
    pub gpus_per_task: Option<usize>,
    /// Slurm: CPUs per task.
    pub cpus_per_task: Option<usize>,
    /// Slurm: the most tasks of one array running at once (`--array=…%N`).
    pub max_concurrent: Option<usize>,
    /// Slurm: the time limit of each task, HH:MM:SS.
    pub time: Option<String>,
    /// Slurm: another sbatch option for every job (repeatable), e.g. `--sbatch-arg=--qos=low`.
    pub sbatch_args: Vec<String>,
    /// Slurm: block until the report is written (or the jobs end without it).
    pub wait: bool,
    /// Print how many steps are done, by kind, and the Slurm jobs of the last submission;
    /// run nothing.
    pub status: bool,
    /// Internal: run one step (`<id>`) or publish the report (`report`) and exit; what a
    /// worker process or a Slurm task runs.
    pub run_step: Option<String>,
}

impl ExecutorOptions {
    /// Refuses options that do nothing with the chosen executor: the Slurm options with
    /// `--executor local`, `--jobs` with `--executor slurm`.
    pub fn check(&self) -> Result<()> {
        let slurm_only: Vec<&str> = [
            ("--partition", self.partition.is_some()),
            ("--gpus-per-task", self.gpus_per_task.is_some()),
            ("--cpus-per-task", self.cpus_per_task.is_some()),
            ("--max-concurrent", self.max_concurrent.is_some()),
            ("--time", self.time.is_some()),
            ("--sbatch-arg", !self.sbatch_args.is_empty()),
            ("--wait", self.wait),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect();
        match self.executor {
            ExecutorKind::Local if !slurm_only.is_empty() => Err(PipelineError::Plan(format!(
                "{} {} only for --executor slurm; with --executor local (the default) {} nothing: add --executor slurm, or drop {}",
                slurm_only.join(", "),
                if slurm_only.len() == 1 { "is" } else { "are" },
                if slurm_only.len() == 1 { "it does" } else { "they do" },
                if slurm_only.len() == 1 { "it" } else { "them" }
            ))),
            ExecutorKind::Slurm if self.jobs != 1 => Err(PipelineError::Plan(format!(
                "--jobs {} is for --executor local; with --executor slurm every step is its own task (use --max-concurrent to limit them)",
                self.jobs
            ))),
            _ => Ok(()),
        }
    }
}

/// How to start a worker: this binary and its arguments (to which `--run-step <id>` is
/// appended).
#[derive(Clone, Debug)]
pub struct WorkerCommand {
    /// The program.
    pub program: PathBuf,
    /// Its arguments, starting with the subcommand (`reproduce …`).
    pub args: Vec<String>,
}

impl WorkerCommand {
    /// This process's own program and arguments.
    pub fn current() -> Result<Self> {
        let program = std::env::current_exe()
            .map_err(|e| PipelineError::Plan(format!("cannot find this program's path: {e}")))?;
        Ok(Self {
            program,
            args: std::env::args().skip(1).collect(),
        })
    }

    /// The arguments every worker gets: the study's, with `--quiet` (a worker's progress
    /// bars would only fill its log).
    pub fn base_args(&self) -> Vec<String> {
        let mut args = self.args.clone();
        if !args.iter().any(|a| a == "--quiet") {
            args.push("--quiet".into());
        }
        args
    }

    /// The arguments of a worker running `what` (a step id or `report`).
    pub fn args_for(&self, what: &str) -> Vec<String> {
        let mut args = self.base_args();
        args.push("--run-step".into());
        args.push(what.into());
        args
    }
}

/// Runs `--run-step what` of a prepared study: one step (its outcome is printed), or the
/// report (`report`: every step must be done).
pub fn run_one(study: Study, what: &str, command: &str) -> Result<()> {
    if what == "report" {
        let missing = study
            .steps
            .all
            .iter()
            .filter(|s| !study.store.is_done(&s.output, &s.key))
            .count();
        if missing > 0 {
            return Err(PipelineError::Plan(format!(
                "{missing} steps are not done: the report needs them all (run the study again to finish them)"
            )));
        }
        let outcome = study.run(&mut crate::exec::InProcess, command)?;
        eprintln!(
            "report written: {}",
            outcome.out.join("report.md").display()
        );
        return Ok(());
    }
    let id: usize = what.parse().map_err(|_| {
        PipelineError::Plan(format!("--run-step {what}: expected a step id or 'report'"))
    })?;
    let outcome = study.run_step(id)?;
    match outcome {
        StepOutcome::MethodFailed(error) => {
            eprintln!("step {id}: the method failed ({error}); recorded")
        }
        other => eprintln!("step {id}: {other:?}"),
    }
    Ok(())
}

/// `--status`: the steps done by kind, and the last Slurm submission's jobs.
pub fn status(study: &Study) -> String {
    use std::collections::BTreeMap;
    let mut by_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for s in &study.steps.all {
        let e = by_kind
            .entry(format!("{:?}", s.kind).to_lowercase())
            .or_default();
        e.1 += 1;
        if study.store.is_done(&s.output, &s.key) {
            e.0 += 1;
        }
    }
    let (done, total) = by_kind
        .values()
        .fold((0, 0), |(d, t), (a, b)| (d + a, t + b));
    let mut out = format!(
        "{}: {done} of {total} steps done\n",
        study.store.root().display()
    );
    for (kind, (d, t)) in &by_kind {
        out += &format!("  {kind:<9} {d:>4} / {t}\n");
    }
    let report = study.store.root().join("report.md");
    out += &format!(
        "  report    {}\n",
        if report.exists() && done == total {
            "written"
        } else {
            "not yet"
        }
    );
    if let Some(jobs) = slurm::last_submission(study.store.root()) {
        out += &slurm::describe_jobs(&jobs);
    }
    out
}
