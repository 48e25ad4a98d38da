//! Running steps: [`StepRunner`] runs one step in this process against the store (under the
//! step's lock, skipping it when done); an [`Executor`] decides where and in what order the
//! steps of a batch run. [`InProcess`] runs them one after another here; a worker pool or a
//! cluster executor runs the same [`StepRunner::run`] in other threads or processes.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use candle_core::Device;
use unlearn_data::{make_split, Dataset, SplitConfig, SplitManifest};
use unlearn_features::ExtractOptions;
use unlearn_methods::Overrides;
use unlearn_metrics::{FeatureBundle, KRule};

use crate::error::{PipelineError, Result};
use crate::plan::Plan;
use crate::progress::Progress;
use crate::step::{describe, Step, StepId, StepKind, Steps};
use crate::store::Store;
use unlearn_ops::{self as ops, ForgetOutcome, Subset, TrainJob};

/// What running a step came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    /// It ran and its output is marked done.
    Ran,
    /// Its output was already done (by an earlier run or another process).
    AlreadyDone,
    /// The method failed; its record says why and there is no checkpoint.
    MethodFailed(String),
    /// Nothing to do: its input model does not exist (a failed method).
    NotApplicable,
}

/// Runs single steps of a plan in this process.
pub struct StepRunner<'a> {
    plan: &'a Plan,
    steps: &'a Steps,
    store: &'a Store,
    quiet: bool,
    data: OnceCell<Dataset>,
    device: OnceCell<Device>,
}

impl<'a> StepRunner<'a> {
    /// A runner over `store`; the data and the device are loaded on first use.
    pub fn new(plan: &'a Plan, steps: &'a Steps, store: &'a Store, quiet: bool) -> Self {
        StepRunner {
            plan,
            steps,
            store,
            quiet,
            data: OnceCell::new(),
            device: OnceCell::new(),
        }
    }

    /// Uses an already loaded data set (it must be the plan's: same fingerprint).
    pub fn with_data(self, ds: Dataset) -> Result<Self> {
        if ds.fingerprint != self.plan.fingerprint {
            return Err(PipelineError::Plan(format!(
                "data {} has fingerprint {}, the plan was made for {}",
                ds.name, ds.fingerprint, self.plan.fingerprint
            )));
        }
        let _ = self.data.set(self.adopted(ds));
        Ok(self)
    }

    /// The data as the plan's models take it: with the study's input normalisation when a
    /// given model fixes one.
    fn adopted(&self, mut ds: Dataset) -> Dataset {
        if let Some(n) = &self.plan.normalization {
            ds.normalization = n.clone();
        }
        ds
    }

    fn data(&self) -> Result<&Dataset> {
        if let Some(ds) = self.data.get() {
            return Ok(ds);
        }
        let ds = self.adopted(ops::load_dataset(&self.plan.data)?);
        Ok(self.data.get_or_init(|| ds))
    }

    fn device(&self) -> Result<&Device> {
        if let Some(d) = self.device.get() {
            return Ok(d);
        }
        let d = unlearn_models::device(&self.plan.device)?;
        Ok(self.device.get_or_init(|| d))
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        self.plan
    }

    /// The steps.
    pub fn steps(&self) -> &Steps {
        self.steps
    }

    /// The store.
    pub fn store(&self) -> &Store {
        self.store
    }

    fn output_of(&self, id: StepId) -> PathBuf {
        self.store.path(&self.steps.all[id].output)
    }

    fn manifest_of(&self, step: &Step) -> Result<SplitManifest> {
        let split = step
            .inputs
            .iter()
            .copied()
            .find(|&i| self.steps.all[i].kind == StepKind::Split)
            .ok_or_else(|| PipelineError::Plan(format!("step {} reads no split", step.id)))?;
        Ok(ops::load_split(
            &self.output_of(split),
            self.data()?,
            ops::OnMismatch::Refuse,
        )?)
    }

    /// The checkpoint a step that trains or unlearns writes.
    pub fn checkpoint_of(&self, producer: StepId) -> PathBuf {
        let out = self.output_of(producer);
        match self.steps.all[producer].kind {
            StepKind::Forget => {
                let text = out.to_string_lossy();
                PathBuf::from(text.trim_end_matches(".record.json"))
            }
            _ => out,
        }
    }

    /// Runs one step unless it is done, under its lock.
    pub fn run(&self, step: &Step) -> Result<StepOutcome> {
        let _lock = self.store.lock_step(&step.key)?;
        if self.store.is_done(&step.output, &step.key) {
            return Ok(StepOutcome::AlreadyDone);
        }
        let out = self.store.path(&step.output);
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir).map_err(|e| PipelineError::io(dir, e))?;
        }
        let started = std::time::Instant::now();
        let outcome = match step.kind {
            StepKind::OracleTest => self.oracle_test(step, &out)?,
            StepKind::Split => self.split(step, &out)?,
            StepKind::Original | StepKind::Retrain => self.train(step, &out)?,
            StepKind::Import => self.import(step, &out)?,
            StepKind::Tune => self.tune(step, &out)?,
            StepKind::Forget => self.forget(step, &out)?,
            StepKind::Features => self.features(step, &out)?,
            StepKind::Metrics => self.metrics(step, &out)?,
        };
        if matches!(outcome, StepOutcome::Ran | StepOutcome::MethodFailed(_)) {
            self.store.mark_done(&step.output, &step.key)?;
            crate::cost::record_timing(self.store, step, started.elapsed().as_secs_f64());
        }
        Ok(outcome)
    }

    fn split(&self, step: &Step, out: &Path) -> Result<StepOutcome> {
        let cfg = SplitConfig {
            scenario: self.plan.scenarios[step.cell.scenario].clone(),
            seed: self.plan.split_seed(step.cell.seed),
            val_fraction: self.plan.val_fraction,
        };
        make_split(self.data()?, &cfg)?.save(out)?;
        Ok(StepOutcome::Ran)
    }

    fn train(&self, step: &Step, out: &Path) -> Result<StepOutcome> {
        let ds = self.data()?;
        let manifest = self.manifest_of(step)?;
        let mut recipe = self.plan.preset.recipe();
        if self.plan.arch.is_some_and(|a| a.is_transformer()) {
            recipe = recipe.for_transformer();
        }
        if let Some(cap) = self.plan.epochs_cap {
            recipe.epochs = recipe.epochs.min(cap);
        }
        let log = out.with_extension("log.jsonl");
        ops::train_checkpoint(&TrainJob {
            ds,
            manifest: &manifest,
            recipe: &recipe,
            arch: self.plan.arch,
            subset: if step.kind == StepKind::Original {
                Subset::Train
            } else {
                Subset::Retain
            },
            seed: step.train_seed.unwrap_or(step.cell.seed),
            device: self.device()?,
            out,
            log: Some(&log),
            no_resume: false,
            progress: !self.quiet,
        })?;
        Ok(StepOutcome::Ran)
    }

    /// Imports a given model (the plan's original, or the oracle of the step's scenario)
    /// as a toolkit checkpoint, and checks that it takes the data.
    fn import(&self, step: &Step, out: &Path) -> Result<StepOutcome> {
        let ds = self.data()?;
        let given = if step.model.as_deref() == Some("original") {
            self.plan.original.as_ref()
        } else {
            self.plan
                .oracles
                .iter()
                .find(|(i, _)| *i == step.cell.scenario)
                .map(|(_, g)| g)
        }
        .ok_or_else(|| PipelineError::Plan(format!("step {} imports no given model", step.id)))?;
        let arch = given
            .arch
            .or(self.plan.arch)
            .unwrap_or_else(|| unlearn_models::Arch::default_for(ds.input_shape()));
        let report = ops::import_checkpoint(&ops::ImportJob {
            from: &given.spec,
            arch: Some(arch),
            normalization: self.plan.normalization.clone(),
            input_shape: Some(ds.input_shape()),
            allow_partial: false,
            out,
        })?;
        if report.sha256 != given.sha256 {
            let _ = std::fs::remove_file(out);
            return Err(PipelineError::Plan(format!(
                "{} changed since the plan was made (SHA-256 {} then, {} now): rerun to plan again",
                given.spec, given.sha256, report.sha256
            )));
        }
        let label = out.to_string_lossy().into_owned();
        ops::load_model(&label, None, ds, self.device()?).map_err(|e| {
            let _ = std::fs::remove_file(out);
            PipelineError::Plan(format!("the given {}: {e}", given.spec))
        })?;
        if !self.quiet {
            eprint!("{}", report.render());
        }
        Ok(StepOutcome::Ran)
    }

    fn forget(&self, step: &Step, record: &Path) -> Result<StepOutcome> {
        let ds = self.data()?;
        let manifest = self.manifest_of(step)?;
        let name = step.model.as_deref().unwrap_or_default();
        let run = self
            .plan
            .methods
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| PipelineError::Plan(format!("no method run named {name}")))?;
        let original_path = self.output_of(step.inputs[0]);
        let label = original_path.to_string_lossy().into_owned();
        let original = ops::load_model(&label, None, ds, self.device()?)?;
        let out = self.checkpoint_of(step.id);
        // A previous attempt's checkpoint must not stand beside a new failure's record.
        let _ = std::fs::remove_file(&out);
        let _ = std::fs::remove_file(record);
        // Tuned values (a `[method]` table) come first; the run's own items (an ablation's
        // switch, an epoch cap) still win.
        let tuned = step
            .inputs
            .iter()
            .find(|&&i| self.steps.all[i].kind == StepKind::Tune)
            .map(|&i| self.output_of(i));
        let overrides = Overrides::new(&run.sets, tuned.as_deref())?;
        let trace = self
            .plan
            .trace
            .then(|| std::path::PathBuf::from(format!("{}.trace.jsonl", out.display())));
        let outcome = ops::forget_checkpoint(&ops::ForgetJob {
            ds,
            manifest: &manifest,
            original: &original.model,
            original_label: &label,
            method: &run.method,
            preset: self.plan.preset,
            overrides: &overrides,
            seed: step.cell.seed,
            device: self.device()?,
            monitor: 1000,
            progress: !self.quiet,
            out: &out,
            trace: trace.as_deref(),
        })?;
        Ok(match outcome {
            ForgetOutcome::Unlearned(_) => StepOutcome::Ran,
            ForgetOutcome::Failed { error, .. } => StepOutcome::MethodFailed(error),
        })
    }

    fn tune(&self, step: &Step, out: &Path) -> Result<StepOutcome> {
        let spec =
            self.plan.tune.as_ref().ok_or_else(|| {
                PipelineError::Plan("a tune step in a plan without --tune".into())
            })?;
        let method = step.model.clone().unwrap_or_default();
        let folder = out.parent().unwrap_or(out).to_path_buf();
        // An epoch cap (a smoke run) fixes the epochs of the search too, and the study's
        // retain budget the share the trials see.
        let sets = self
            .plan
            .methods
            .iter()
            .find(|m| m.method == method)
            .map(|m| m.search_sets())
            .unwrap_or_default();
        unlearn_tune::tune(&unlearn_tune::TuneConfig {
            method,
            preset: Some(self.plan.preset),
            data: self.plan.data.clone(),
            split: self.output_of(step.inputs[1]),
            original: self
                .output_of(step.inputs[0])
                .to_string_lossy()
                .into_owned(),
            load: ops::LoadOptions::default(),
            references: vec![self.output_of(step.inputs[2])],
            trials: spec.trials,
            startup: None,
            seed: step.cell.seed,
            objective: spec.objective,
            space: None,
            shared_retain_budget: spec.retain_budget,
            sets,
            out: folder,
            device: self.plan.device.clone(),
            on_mismatch: unlearn_ops::OnMismatch::Refuse,
            quiet: self.quiet,
        })?;
        Ok(StepOutcome::Ran)
    }

    fn features(&self, step: &Step, out: &Path) -> Result<StepOutcome> {
        let checkpoint = self.checkpoint_of(step.inputs[0]);
        if !checkpoint.exists() {
            return Ok(StepOutcome::NotApplicable);
        }
        let ds = self.data()?;
        let manifest = self.manifest_of(step)?;
        let label = checkpoint.to_string_lossy().into_owned();
        let model = ops::load_model(&label, None, ds, self.device()?)?;
        let opts = ExtractOptions {
            max_retain: Some(self.plan.max_retain),
            ..Default::default()
        };
        let bundle = ops::extract_features(&model.model, ds, &manifest, &opts, &label)?;
        ops::save_features(&bundle, out)?;
        Ok(StepOutcome::Ran)
    }

    fn metrics(&self, step: &Step, out: &Path) -> Result<StepOutcome> {
        let features = self.output_of(step.inputs[0]);
        if !features.exists() {
            return Ok(StepOutcome::NotApplicable);
        }
        let references: Vec<PathBuf> = step.inputs[1..]
            .iter()
            .map(|&i| self.output_of(i))
            .collect();
        let bundle = FeatureBundle::load(&features)?;
        let cfg = ops::metrics_config(
            &bundle,
            KRule::Classes,
            self.plan.split_seed(step.cell.seed),
            None,
            None,
            self.plan.min_set_size,
        );
        let (report, compared) = ops::measure_files(&bundle, &references, &cfg)?;
        ops::write_plot_data(&bundle, &cfg, &out.with_extension("plot.json"))?;
        let json = ops::metrics_json(&report, compared.as_ref());
        unlearn_report::write_atomic(out, &json)?;
        Ok(StepOutcome::Ran)
    }
}

impl StepRunner<'_> {
    /// The per-example tests of one model name's members against the oracles: the inputs
    /// are the members' features, then the N oracles'. A member whose features are missing
    /// (its method failed) is left out; with fewer than two left there is nothing to test.
    fn oracle_test(&self, step: &Step, out: &Path) -> Result<StepOutcome> {
        let spec = self.plan.ensemble.as_ref().ok_or_else(|| {
            PipelineError::Plan("a per-example test step in a plan without --oracles".into())
        })?;
        let split = step.inputs.len().saturating_sub(spec.size);
        let paths = |ids: &[StepId]| -> Vec<PathBuf> {
            ids.iter()
                .map(|&i| self.output_of(i))
                .filter(|p| p.exists())
                .collect()
        };
        let method = paths(&step.inputs[..split]);
        let oracles = paths(&step.inputs[split..]);
        if method.len() < 2 || oracles.len() < 2 {
            return Ok(StepOutcome::NotApplicable);
        }
        let test = ops::oracle_test_files(&method, &oracles, &spec.params)?;
        let json = serde_json::to_string_pretty(&test).map_err(|e| PipelineError::Json {
            path: out.to_path_buf(),
            source: e,
        })?;
        unlearn_report::write_atomic(out, &(json + "\n"))?;
        Ok(StepOutcome::Ran)
    }
}

/// What an executor is given at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One cell's steps at a time, with a partial report after each cell.
    PerCell,
    /// Every step of the study at once (a pool runs independent steps of any cell together).
    Whole,
}

/// Where and in what order the steps of a batch run.
pub trait Executor {
    /// Whether it takes one cell's steps at a time (the default) or all of them.
    fn scope(&self) -> Scope {
        Scope::PerCell
    }

    /// Steps at once and compute threads per step, for the estimate printed before a
    /// study: by default one step with this process's threads.
    fn parallelism(&self) -> (usize, usize) {
        (1, crate::cost::step_threads())
    }

    /// Runs every step of `batch` (ids in dependency order) that is not done, each once.
    fn run_batch(
        &mut self,
        runner: &StepRunner,
        batch: &[StepId],
        progress: &mut Progress,
    ) -> Result<()>;
}

/// Runs the steps one after another in this process (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct InProcess;

impl Executor for InProcess {
    fn run_batch(
        &mut self,
        runner: &StepRunner,
        batch: &[StepId],
        progress: &mut Progress,
    ) -> Result<()> {
        for &id in batch {
            let step = &runner.steps.all[id];
            let what = describe(runner.plan, step);
            if runner.store.is_done(&step.output, &step.key) {
                progress.skip(step.kind.cost());
                continue;
            }
            progress.begin(step.kind.cost(), &what);
            let outcome = runner.run(step).map_err(|e| PipelineError::Step {
                step: what.clone(),
                error: Box::new(e),
            })?;
            if let StepOutcome::MethodFailed(error) = &outcome {
                eprintln!("   {what} failed ({error}); recorded, going on");
            }
            progress.end();
        }
        Ok(())
    }
}
