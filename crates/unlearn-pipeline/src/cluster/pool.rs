//! `--executor local --jobs N` (and `--jobs auto` on a machine with several cores): up to N
//! worker processes at once, each running one step (`<this binary> <its arguments>
//! --run-step <id>`) with the cores shared out among them, started as soon as the steps it
//! reads are done. Each worker's output goes to `<store>/logs/step-<id>.log`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::WorkerCommand;
use crate::error::{PipelineError, Result};
use crate::exec::{Executor, Scope, StepRunner};
use crate::progress::{clock, Progress};
use crate::step::{describe, StepId};

/// A pool of worker processes on this machine.
#[derive(Clone, Debug)]
pub struct LocalPool {
    /// Workers at once.
    pub jobs: usize,
    /// Compute threads per worker, passed as `RAYON_NUM_THREADS`.
    pub threads: usize,
    /// How to start one.
    pub worker: WorkerCommand,
}

struct Running {
    id: StepId,
    child: Child,
    log: PathBuf,
    started: Instant,
}

/// The last `n` lines of a worker's log, for an error message.
fn tail(log: &PathBuf, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl LocalPool {
    fn start(&self, runner: &StepRunner, id: StepId) -> Result<Running> {
        let logs = runner.store().root().join("logs");
        std::fs::create_dir_all(&logs).map_err(|e| PipelineError::io(&logs, e))?;
        let log = logs.join(format!("step-{id}.log"));
        let file = unlearn_io::open_append(&log, "worker log")?;
        let args = self.worker.args_for(&id.to_string());
        let child = Command::new(&self.worker.program)
            .env("RAYON_NUM_THREADS", self.threads.to_string())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .map_err(|e| {
                PipelineError::Plan(format!(
                    "cannot start a worker ({}): {e}",
                    self.worker.program.display()
                ))
            })?;
        Ok(Running {
            id,
            child,
            log,
            started: Instant::now(),
        })
    }
}

impl Executor for LocalPool {
    fn scope(&self) -> Scope {
        Scope::Whole
    }

    fn parallelism(&self) -> (usize, usize) {
        (self.jobs, self.threads)
    }

    fn run_batch(
        &mut self,
        runner: &StepRunner,
        batch: &[StepId],
        progress: &mut Progress,
    ) -> Result<()> {
        let steps = runner.steps();
        let store = runner.store();
        let mut finished: BTreeSet<StepId> = BTreeSet::new();
        let mut waiting: Vec<StepId> = Vec::new();
        for &id in batch {
            let s = &steps.all[id];
            if store.is_done(&s.output, &s.key) {
                progress.skip(s.kind.cost());
                finished.insert(id);
            } else {
                waiting.push(id);
            }
        }
        let total = waiting.len();
        let mut running: Vec<Running> = Vec::new();
        let mut failures: Vec<(StepId, String)> = Vec::new();
        let mut blocked: BTreeSet<StepId> = BTreeSet::new();
        while !waiting.is_empty() || !running.is_empty() {
            // Start every step whose inputs are done, up to the pool's size.
            let mut i = 0;
            while i < waiting.len() && running.len() < self.jobs {
                let id = waiting[i];
                let inputs = &steps.all[id].inputs;
                if inputs.iter().any(|d| blocked.contains(d)) {
                    blocked.insert(id);
                    waiting.remove(i);
                } else if inputs
                    .iter()
                    .all(|d| finished.contains(d) || !batch.contains(d))
                {
                    running.push(self.start(runner, waiting.remove(i))?);
                } else {
                    i += 1;
                }
            }
            if running.is_empty() {
                // Nothing runs and nothing can start: the rest waits on failed steps.
                blocked.extend(waiting.drain(..));
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            let mut k = 0;
            while k < running.len() {
                let status = running[k]
                    .child
                    .try_wait()
                    .map_err(|e| PipelineError::Plan(format!("waiting for a worker: {e}")))?;
                let Some(status) = status else {
                    k += 1;
                    continue;
                };
                let r = running.remove(k);
                let step = &steps.all[r.id];
                let what = describe(runner.plan(), step);
                progress.finish_concurrent(step.kind.cost());
                if status.success() {
                    finished.insert(r.id);
                    eprintln!(
                        "[{}/{total}] {what} ({}, {} elapsed, {})",
                        finished.len() - (batch.len() - total),
                        clock(r.started.elapsed().as_secs_f64()),
                        clock(progress.elapsed()),
                        progress.summary()
                    );
                } else {
                    blocked.insert(r.id);
                    let why = tail(&r.log, 6);
                    eprintln!(
                        "   {what} failed ({status}); its log {}:\n{why}",
                        r.log.display()
                    );
                    failures.push((r.id, format!("{status}; log {}:\n{why}", r.log.display())));
                }
            }
        }
        match failures.first() {
            None => Ok(()),
            Some((id, why)) => Err(PipelineError::Step {
                step: describe(runner.plan(), &steps.all[*id]),
                error: Box::new(PipelineError::Plan(format!(
                    "a worker failed ({why}); {} steps did not run because they need it; run the study again to finish them",
                    blocked.len().saturating_sub(failures.len())
                ))),
            }),
        }
    }
}
