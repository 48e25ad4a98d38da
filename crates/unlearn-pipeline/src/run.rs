//! Running a study the way `unlearn reproduce` and `cargo xtask reproduce` do: one typed
//! request ([`ReproduceRequest`]), whichever executor it names.

use crate::cluster::ExecutorOptions;
use crate::error::Result;
use crate::exec::InProcess;
use crate::plan::StudyConfig;
use crate::study::{Study, StudyOutcome};

/// What a `reproduce` command asks for.
#[derive(Clone, Debug)]
pub struct ReproduceRequest {
    /// The study.
    pub config: StudyConfig,
    /// Where its steps run, or a worker's one step, or the status.
    pub executor: ExecutorOptions,
    /// Print the plan's estimated cost and stop, writing nothing.
    pub cost: bool,
}

/// Runs a study as both front ends do (`front`, `unlearn` or `cargo xtask`, starts the
/// command the report records): a worker's one step (`run_step`), the status, the cost
/// estimate, or the study through the chosen executor. Returns the outcome when a report
/// was written here.
pub fn run_reproduce(request: &ReproduceRequest, front: &str) -> Result<Option<StudyOutcome>> {
    use crate::cluster::{self, pool::LocalPool, slurm, ExecutorKind, WorkerCommand};
    let cfg = &request.config;
    request.executor.check()?;
    // The command as the report records it: without a worker's own arguments.
    let mut words: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = words.iter().position(|w| w == "--run-step") {
        words.drain(i..(i + 2).min(words.len()));
    }
    let command = std::iter::once(front.to_string())
        .chain(words)
        .collect::<Vec<_>>()
        .join(" ");
    if request.cost && request.executor.run_step.is_none() && !request.executor.status {
        // Nothing is written: the store is only read, for what is done and measured.
        let (_, plan, steps, _) = Study::plan(cfg)?;
        let store = crate::store::Store::view(&cfg.out);
        let (workers, threads) = match local_plan(&request.executor, &plan) {
            Some(pool) => (pool.workers, pool.threads),
            None => (1, crate::cost::step_threads()),
        };
        let estimate = crate::cost::estimate(&plan, &steps, &store, workers, threads);
        print!("{}", estimate.render());
        return Ok(None);
    }
    let study = Study::prepare(cfg)?;
    let opts = &request.executor;
    if let Some(what) = &opts.run_step {
        cluster::run_one(study, what, &command)?;
        return Ok(None);
    }
    if opts.status {
        print!("{}", cluster::status(&study));
        return Ok(None);
    }
    match (opts.executor, local_plan(opts, &study.plan)) {
        (ExecutorKind::Local, None) => Ok(Some(study.run(&mut InProcess, &command)?)),
        (ExecutorKind::Local, Some(local)) => {
            let mut pool = LocalPool {
                jobs: local.workers,
                threads: local.threads,
                worker: WorkerCommand::current()?,
            };
            Ok(Some(study.run(&mut pool, &command)?))
        }
        (ExecutorKind::Slurm, _) => {
            let store = study.store.root().to_path_buf();
            let sub = slurm::submit(&study, opts, &WorkerCommand::current()?)?;
            let stages: Vec<String> = sub
                .stages
                .iter()
                .map(|(id, n)| format!("{id} ({n} tasks)"))
                .collect();
            eprintln!(
                "submitted: stages {}; report job {} (ids in {}/slurm/jobs.json; `--status` shows progress)",
                if stages.is_empty() { "none (all steps done)".to_string() } else { stages.join(", ") },
                sub.report,
                store.display()
            );
            println!("{}", sub.ids().join(" "));
            if opts.wait {
                slurm::wait(&store, &sub, std::time::Duration::from_secs(2))?;
                eprintln!("report written: {}", store.join("report.md").display());
            }
            Ok(None)
        }
    }
}

/// The local pool `opts` asks for on this machine, or `None` when the steps run one after
/// another in this process (`--jobs` resolving to 1) or on Slurm.
fn local_plan(
    opts: &crate::cluster::ExecutorOptions,
    plan: &crate::plan::Plan,
) -> Option<crate::cluster::LocalPlan> {
    let local = opts.jobs.resolve(&plan.device, plan.trains_small_models());
    (opts.executor == crate::cluster::ExecutorKind::Local && local.workers > 1).then_some(local)
}
