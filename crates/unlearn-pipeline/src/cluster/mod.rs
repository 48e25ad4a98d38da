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
    /// On this machine: `--jobs N` worker processes running independent steps at once
    /// (`--jobs auto`, the default, picks N), or one step at a time in this process
    /// (`--jobs 1`).
    #[default]
    Local,
    /// As Slurm job arrays, one array per stage, each stage depending on the one before.
    Slurm,
}

/// How many steps the local executor runs at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Jobs {
    /// As many as this machine's cores and memory allow when the study runs on the CPU,
    /// one on a GPU ([`Jobs::resolve`]).
    #[default]
    Auto,
    /// This many (at least 1); 1 runs the steps one after another in this process.
    Count(usize),
}

impl std::str::FromStr for Jobs {
    type Err = String;

    /// `auto` or a whole number of at least 1.
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text.trim() {
            "auto" => Ok(Jobs::Auto),
            t => match t.parse::<usize>() {
                Ok(0) => {
                    Err("0 is not allowed: expected auto or a whole number of at least 1".into())
                }
                Ok(n) => Ok(Jobs::Count(n)),
                Err(_) => Err(format!(
                    "'{text}' is neither auto nor a whole number of at least 1"
                )),
            },
        }
    }
}

impl std::fmt::Display for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Jobs::Auto => f.write_str("auto"),
            Jobs::Count(n) => write!(f, "{n}"),
        }
    }
}

/// The most workers `--jobs auto` starts, whatever the core count: past this the workers'
/// memory grows faster than the study's speed.
pub const MAX_AUTO_JOBS: usize = 8;

/// The memory `--jobs auto` sets aside per worker: GiB for a small-CNN study, and for one
/// that trains a ResNet or a ViT. The quick study's workers peak at about 0.4 GiB.
pub const WORKER_MEMORY_GIB: (f64, f64) = (1.0, 4.0);

/// Where the steps of a local study run, resolved from [`Jobs`] and this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalPlan {
    /// Steps at once (1: in this process).
    pub workers: usize,
    /// Compute threads per worker (`RAYON_NUM_THREADS`): the cores shared out among the
    /// workers, at least 1, unless `RAYON_NUM_THREADS` is set, which is then used. A
    /// worker's numbers do not depend on it (the kernels add their partial sums in an order
    /// fixed by the shapes), only its speed does.
    pub threads: usize,
}

impl Jobs {
    /// The workers and their threads on this machine for a study on `device` that trains
    /// small CNNs only (`small`) or larger models. `auto`: one per core, at most
    /// [`MAX_AUTO_JOBS`] and at most what the available memory holds
    /// ([`WORKER_MEMORY_GIB`]), each with one thread, when the study runs on the CPU; one,
    /// in this process, on a GPU. A count is taken as it is, and the cores are shared out.
    pub fn resolve(self, device: &str, small: bool) -> LocalPlan {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = match self {
            Jobs::Count(n) => n.max(1),
            Jobs::Auto if !on_cpu(device) => 1,
            Jobs::Auto => {
                let per = if small {
                    WORKER_MEMORY_GIB.0
                } else {
                    WORKER_MEMORY_GIB.1
                };
                let by_memory =
                    meminfo_gib("MemAvailable").map_or(usize::MAX, |g| (g / per) as usize);
                cores.min(MAX_AUTO_JOBS).min(by_memory).max(1)
            }
        };
        let threads = crate::cost::rayon_threads().unwrap_or((cores / workers).max(1));
        LocalPlan { workers, threads }
    }
}

/// Whether `device` (`cpu`, `cuda`, `cuda:N`, `auto`) is the CPU in this build.
fn on_cpu(device: &str) -> bool {
    device == "cpu" || (device == "auto" && !candle_core::utils::cuda_is_available())
}

/// A field of `/proc/meminfo` (`MemAvailable`, `MemTotal`) in GiB; `None` where there is
/// no such file or field.
pub(crate) fn meminfo_gib(field: &str) -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / (1024.0 * 1024.0))
}

/// The executor options of `reproduce`.
#[derive(Clone, Debug, Default)]
pub struct ExecutorOptions {
    /// Where the steps run: local (this machine) or slurm (job arrays; see docs/cluster.md).
    pub executor: ExecutorKind,
    /// Local executor: how many independent steps run at once, each but the only one in
    /// its own worker process.
    pub jobs: Jobs,
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
            ExecutorKind::Slurm if matches!(self.jobs, Jobs::Count(n) if n != 1) => Err(PipelineError::Plan(format!(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_parse_auto_or_a_positive_count() {
        assert_eq!("auto".parse::<Jobs>(), Ok(Jobs::Auto));
        assert_eq!(" 3 ".parse::<Jobs>(), Ok(Jobs::Count(3)));
        assert!("0"
            .parse::<Jobs>()
            .unwrap_err()
            .contains("0 is not allowed"));
        assert!("two".parse::<Jobs>().unwrap_err().contains("'two'"));
        assert_eq!(Jobs::Auto.to_string(), "auto");
        assert_eq!(Jobs::Count(4).to_string(), "4");
    }

    #[test]
    fn auto_shares_the_cores_on_the_cpu_and_runs_in_process_on_a_gpu() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let rayon = std::env::var("RAYON_NUM_THREADS").ok();
        let cpu = Jobs::Auto.resolve("cpu", true);
        assert!(cpu.workers >= 1 && cpu.workers <= cores.min(MAX_AUTO_JOBS));
        if rayon.is_none() {
            assert_eq!(cpu.threads, (cores / cpu.workers).max(1));
        }
        assert_eq!(Jobs::Auto.resolve("cuda:0", true).workers, 1);
        let big = Jobs::Auto.resolve("cpu", false);
        assert!(big.workers <= cpu.workers);
        let three = Jobs::Count(3).resolve("cuda", false);
        assert_eq!(three.workers, 3);
        if rayon.is_none() {
            assert_eq!(three.threads, (cores / 3).max(1));
        }
    }
}
