//! The command-line arguments of a study, shared by `cargo xtask reproduce` and
//! `unlearn reproduce` (both flatten [`ReproduceArgs`]), and the parsers the options of
//! every command share. Clap lives here, in the binaries' package, and nowhere below.

use std::path::{Path, PathBuf};

use clap::Args;
use unlearn_data::Scenario;
use unlearn_train::Preset;

use unlearn_pipeline::cluster::{ExecutorKind, ExecutorOptions, Jobs};
use unlearn_pipeline::{PipelineError, ReproduceRequest, StudyConfig};

/// Help text after the options: examples.
pub const REPRODUCE_EXAMPLES: &str = "\
Examples:
  cargo xtask reproduce
  cargo xtask reproduce --preset fmnist --seeds 3
  cargo xtask reproduce --scenarios random:0.1 --methods ft,muda
  unlearn reproduce --scenarios 'class:3,5' --epochs 2 --out /tmp/smoke
  cargo xtask reproduce --tune 24 --seeds 3 --scenarios random:0.1,class:3,backdoor:0.05
  cargo xtask reproduce --retain-budget 0.1 --out target/reproduce/quick-budget10
  cargo xtask reproduce --tune 8 --tune-retain-budget 0.05,1 --out target/reproduce/quick-tuned-budget
  cargo xtask reproduce --arch vit-tiny --out target/reproduce/quick-vit
  cargo xtask reproduce --methods rl,salun --trace
  cargo xtask reproduce --preset cifar10 --original model:comparator-resnet18-cifar10-full --oracle class:3=model:comparator-resnet18-cifar10-no-3 --scenarios class:3
  cargo xtask reproduce --jobs 1          # one step at a time, in this process
  cargo xtask reproduce --oracles 8 --cost
  cargo xtask reproduce --oracles 8 --methods ft,ga,rl,l1,salun,muda --scenarios class:3
  cargo xtask reproduce --preset cifar10 --seeds 3 --executor slurm --partition gpu --gpus-per-task 1 --cpus-per-task 8 --time 12:00:00 --out /shared/unlearn/cifar10
  cargo xtask reproduce --preset cifar10 --seeds 3 --out /shared/unlearn/cifar10 --status

Steps are content-addressed (a `.key` sidecar per artefact) and run under per-step locks:
a rerun skips finished work, a changed input or default redoes what depends on it, a run
killed at any moment resumes, and two runs of the same study on one --out share the work
(a study with other method settings, e.g. --tune, needs its own --out: both write
<scenario>/seed<k>/<method>.*, and reading a record the other study rewrote is an error).";

/// Split manifests, original and retrain models, every unlearning method and the MUDA
/// ablations, features, metrics, results.jsonl/csv and report.md/html with figures.
#[derive(Args, Clone, Debug)]
pub struct ReproduceArgs {
    /// Preset: quick, fmnist, cifar10, cifar100.
    #[arg(long, default_value = "quick")]
    pub preset: Preset,
    /// Any `unlearn --data` source (default: the preset's: embedded, fashion-mnist,
    /// cifar10, cifar100).
    #[arg(long)]
    pub data: Option<String>,
    /// Comma-separated scenarios: random:p, class:c[,c…] (ids or class names; quote),
    /// backdoor:p
    /// (default: random:0.1,class:3; fmnist and cifar add backdoor:0.05).
    #[arg(long, value_parser = parse_scenarios)]
    pub scenarios: Option<ScenarioList>,
    /// Comma-separated method ids and ablations (default: every method and muda-no-da,
    /// muda-no-sd, muda-no-alt).
    #[arg(long, value_delimiter = ',')]
    pub methods: Option<Vec<String>>,
    /// Number of seeds, 0..N-1.
    #[arg(long, default_value_t = 1, value_parser = positive_count)]
    pub seeds: usize,
    /// Device: cpu, cuda, cuda:N, auto.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Output folder, the artefact store (default target/reproduce/<preset>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Cap every training at N epochs (original, retrain, each method's epochs): a smoke
    /// run; the numbers are then not the preset's.
    #[arg(long, value_parser = positive_count)]
    pub epochs: Option<usize>,
    /// No per-step progress bars (the overall line stays).
    #[arg(long)]
    pub quiet: bool,
    /// Tune every method with N trials of `unlearn tune` (the same budget for each) on the
    /// first seed of each scenario, then run every seed with the chosen values; the report
    /// separates tuned-on from held-out seeds.
    #[arg(long, value_name = "N", value_parser = positive_count)]
    pub tune: Option<usize>,
    /// The tuning objective: avg_gap_output, avg_gap_feature, both, or a weighted sum.
    #[arg(long, default_value = "both", requires = "tune")]
    pub objective: unlearn_tune::Objective,
    /// The fewest samples each retain, forget and test set needs for any metric (tiny
    /// smoke data may lower it; at least 2).
    #[arg(long, default_value_t = unlearn_metrics::MIN_SET_SIZE, value_parser = at_least_two)]
    pub min_set_size: usize,
    /// Start from this original instead of training one (every seed): a toolkit
    /// checkpoint, a PyTorch .pth or safetensors state dict, hf://… or model:<id>. A foreign
    /// file takes the preset's architecture unless the registry names one.
    #[arg(long, value_name = "CHECKPOINT")]
    pub original: Option<String>,
    /// A retrained oracle given instead of trained, for one scenario (repeatable), e.g.
    /// `--oracle class:3=model:comparator-resnet18-cifar10-no-3`.
    #[arg(long = "oracle", value_name = "SCENARIO=CHECKPOINT", value_parser = parse_oracle)]
    pub oracles: Vec<(Scenario, String)>,
    /// Input normalisation of given models that record none, e.g.
    /// `mean=0.4914,0.4822,0.4465,std=0.2023,0.1994,0.2010`; the study then feeds every
    /// model so.
    #[arg(long, value_parser = unlearn_models::Normalization::parse)]
    pub normalize: Option<unlearn_models::Normalization>,
    /// Fraction of the training set held out for validation (default 0.1, or 0 with
    /// --original: shared models are trained on the whole training set).
    #[arg(long)]
    pub val_fraction: Option<f64>,
    /// Judge every model against an ensemble of N oracle retrains: N oracles, N originals,
    /// one run per method and original, and N held-out retrains (the `retrain` row), all
    /// on one split per scenario; gaps get the oracles' mean ± std and z-scores, and
    /// per-example tests (KLoM, a likelihood-ratio attack, feature energy) are reported.
    #[arg(long = "oracles", value_name = "N")]
    pub ensemble: Option<usize>,
    /// Histogram bins of KLoM (with --oracles).
    #[arg(long, default_value_t = unlearn_metrics::oracle::DEFAULT_BINS, value_parser = positive_count, requires = "ensemble")]
    pub klom_bins: usize,
    /// Margins are clipped to ±this before the per-example tests (with --oracles).
    #[arg(long, default_value_t = unlearn_metrics::oracle::DEFAULT_CLIP, requires = "ensemble")]
    pub margin_clip: f64,
    /// Random relabellings of the models behind the attack's null band and p-value (with
    /// --oracles; at least 20).
    #[arg(long, default_value_t = unlearn_metrics::oracle::DEFAULT_PERMUTATIONS, requires = "ensemble")]
    pub permutations: usize,
    /// Print what the study trains and its estimated time, then stop (writes nothing; the
    /// plan is checked against the data as a run would).
    #[arg(long)]
    pub cost: bool,
    /// The architecture of every trained model (default: the preset's: small-cnn for
    /// quick and fmnist, resnet18-cifar for cifar10 and cifar100), e.g. vit-tiny.
    #[arg(long)]
    pub arch: Option<unlearn_models::Arch>,
    /// The share of the retain set that every method using retain data sees, the same for
    /// all (the references use the full retain set: 1.0). A study of a claim such as
    /// "works with few retain samples" sets it lower for every method alike.
    #[arg(long, default_value_t = 1.0)]
    pub retain_budget: f64,
    /// The method the study evaluates: the report's findings compare it with the best
    /// baseline and its ablations with it (recorded as each record's role).
    #[arg(long, value_name = "METHOD", default_value = unlearn_pipeline::plan::DEFAULT_SUBJECT)]
    pub subject: String,
    /// With --tune: search the retain share too, on LOW,HIGH (log scale), as one dimension
    /// shared by every method that uses retain data (e.g. 0.05,1).
    #[arg(long, value_name = "LOW,HIGH", value_parser = budget_range)]
    pub tune_retain_budget: Option<(f64, f64)>,
    /// Write each unlearning run's step trace (one JSON line per optimiser step) next to
    /// its record, `<scenario>/seed<k>/<method>.trace.jsonl` (runs already in the store
    /// are not rerun).
    #[arg(long)]
    pub trace: bool,
    /// Use a given --original or --oracle whose provenance does not fit its role (an oracle
    /// that trained on what its scenario forgets, an oracle that is the original), with a
    /// warning: set by the front end from its global `--force`.
    #[arg(skip)]
    pub force: bool,
    /// Where the steps run (`--executor local --jobs N`, `--executor slurm …`).
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

fn parse_oracle(text: &str) -> std::result::Result<(Scenario, String), String> {
    let (scenario, model) = text
        .split_once('=')
        .filter(|(_, m)| !m.is_empty())
        .ok_or_else(|| format!("'{text}' is not SCENARIO=CHECKPOINT (e.g. class:3=model:<id>)"))?;
    let scenario: Scenario = scenario.parse().map_err(|e| format!("'{text}': {e}"))?;
    Ok((scenario, model.to_string()))
}

/// `cmd` with every option that takes a value, in every subcommand, taking a negative
/// number as its value (`--val-fraction -0.1`, `--epochs -1`), so that the option's own
/// check refuses it by name instead of clap's "unexpected argument '-0'". A real-valued
/// option takes any value starting with `-` (clap does not see `-1e-9` or `-inf` as
/// numbers; a flag given in its place is then refused as not a number, naming the
/// option). No option of these tools is a short flag made of digits, so nothing else
/// changes.
pub fn negative_numbers_as_values(cmd: clap::Command) -> clap::Command {
    use std::any::TypeId;
    cmd.mut_args(|a| {
        if !a.get_action().takes_values() {
            return a;
        }
        let id = a.get_value_parser().type_id();
        let real = id == TypeId::of::<f64>() || id == TypeId::of::<f32>();
        a.allow_negative_numbers(true).allow_hyphen_values(real)
    })
    .mut_subcommands(negative_numbers_as_values)
}

/// The clap parser of every count that must be at least 1, in `reproduce` and in every
/// `unlearn` command (`--seeds`, `--epochs`, `--batch-size`, `--trials`, …): one rule and
/// one message.
pub fn positive_count(text: &str) -> std::result::Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("0 is not allowed: expected a whole number of at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{text}' is not a whole number of at least 1")),
    }
}

/// The parser of `--min-set-size`: a whole number of at least 2 (a standard deviation, an
/// AUC or a cluster score needs two samples).
pub fn at_least_two(text: &str) -> std::result::Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 2 => Ok(n),
        Ok(n) => Err(format!(
            "{n} is not allowed: expected a whole number of at least 2 (every metric needs two samples of each set)"
        )),
        Err(_) => Err(format!("'{text}' is not a whole number of at least 2")),
    }
}

/// A `--scenarios` list: parsed, or (when a `class:` scenario names its classes) its text,
/// resolved against the data's class names by [`ReproduceArgs::to_config`].
#[derive(Clone, Debug)]
pub enum ScenarioList {
    /// Every class given by index.
    Parsed(Vec<Scenario>),
    /// Some class given by name.
    Named(String),
}

fn parse_scenarios(s: &str) -> std::result::Result<ScenarioList, String> {
    if s.trim().trim_matches(',').trim().is_empty() {
        return Err(
            "the list is empty: give at least one scenario (e.g. random:0.1,class:3), or leave out --scenarios for the preset's"
                .into(),
        );
    }
    if Scenario::names_classes(s) {
        return Ok(ScenarioList::Named(s.to_string()));
    }
    Scenario::parse_list(s)
        .map(ScenarioList::Parsed)
        .map_err(|e| e.to_string())
}

impl ReproduceArgs {
    /// The request these arguments make; `target_dir` is where the default `--out` lies
    /// (`<target_dir>/reproduce/<preset>`).
    pub fn to_request(&self, target_dir: &Path) -> anyhow::Result<ReproduceRequest> {
        Ok(ReproduceRequest {
            config: self.to_config(target_dir)?,
            executor: self.cluster.to_options(),
            cost: self.cost,
        })
    }

    /// The study these arguments ask for; `target_dir` is where the default `--out` lies
    /// (`<target_dir>/reproduce/<preset>`).
    pub fn to_config(&self, target_dir: &Path) -> anyhow::Result<StudyConfig> {
        let out = self
            .out
            .clone()
            .unwrap_or_else(|| target_dir.join("reproduce").join(self.preset.as_str()));
        let mut cfg = StudyConfig::new(self.preset, out);
        cfg.data = self.data.clone();
        cfg.scenarios = match &self.scenarios {
            None => Vec::new(),
            Some(ScenarioList::Parsed(list)) => list.clone(),
            Some(ScenarioList::Named(text)) => {
                let data = self
                    .data
                    .clone()
                    .unwrap_or_else(|| self.preset.default_data().to_string());
                let ds = unlearn_ops::load_dataset(&data)?;
                Scenario::parse_list_with_classes(text, &ds.class_names)?
            }
        };
        cfg.methods = self.methods.as_ref().map(|m| {
            m.iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        });
        if cfg.methods.as_ref().is_some_and(|m| m.is_empty()) {
            return Err(anyhow::Error::new(PipelineError::Plan(
                "--methods lists no method: give at least one (e.g. ft,muda), or leave it out for every method".into(),
            )));
        }
        cfg.seeds = self.seeds as u64;
        cfg.device = self.device.clone();
        cfg.epochs_cap = self.epochs;
        cfg.quiet = self.quiet;
        cfg.tune = self.tune;
        cfg.objective = self.objective;
        cfg.min_set_size = self.min_set_size;
        cfg.original = self.original.clone();
        cfg.oracles = self.oracles.clone();
        cfg.normalization = self.normalize.clone();
        cfg.val_fraction = self.val_fraction;
        cfg.ensemble = self.ensemble;
        cfg.ensemble_params.klom.bins = self.klom_bins;
        cfg.ensemble_params.margin.clip = self.margin_clip;
        cfg.ensemble_params.permutation.permutations = self.permutations;
        cfg.arch = self.arch;
        cfg.retain_budget = self.retain_budget;
        cfg.subject = Some(self.subject.clone());
        cfg.tune_retain_budget = self.tune_retain_budget;
        cfg.trace = self.trace;
        cfg.force = self.force;
        Ok(cfg)
    }
}

/// Arguments of `cargo xtask report`.
#[derive(Args, Clone, Debug)]
pub struct ReportArgs {
    /// The reproduce output folder (default target/reproduce/quick).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The data source named in the title (default: run.json's, else the preset's).
    #[arg(long)]
    pub data: Option<String>,
}

/// `LOW,HIGH` of `--tune-retain-budget`.
fn budget_range(text: &str) -> std::result::Result<(f64, f64), String> {
    let parse = |v: &str| {
        v.trim()
            .parse::<f64>()
            .map_err(|_| format!("'{v}' is not a number (expected LOW,HIGH, e.g. 0.05,1)"))
    };
    match text.split_once(',') {
        Some((low, high)) => Ok((parse(low)?, parse(high)?)),
        None => Err("expected LOW,HIGH, e.g. 0.05,1".into()),
    }
}

/// Where the steps run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ExecutorArg {
    /// On this machine: `--jobs N` worker processes running independent steps at once
    /// (`--jobs auto`, the default, picks N), or one step at a time in this process
    /// (`--jobs 1`).
    #[default]
    Local,
    /// As Slurm job arrays, one array per stage, each stage depending on the one before.
    Slurm,
}

/// The executor options of `reproduce`.
#[derive(Args, Clone, Debug)]
pub struct ClusterArgs {
    /// Where the steps run: local (this machine) or slurm (job arrays; see docs/cluster.md).
    #[arg(long, value_enum, default_value = "local")]
    pub executor: ExecutorArg,
    /// Local executor: how many independent steps run at once, each in its own worker
    /// process with the cores shared out. `auto`: one per core (at most 8, and as many as
    /// the free memory holds) on the CPU, one on a GPU; `1`: one after another in this
    /// process. The numbers do not depend on it.
    #[arg(long, default_value = "auto", value_name = "N|auto")]
    pub jobs: Jobs,
    /// Slurm: the partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// Slurm: GPUs per task (`--gpus-per-task`).
    #[arg(long)]
    pub gpus_per_task: Option<usize>,
    /// Slurm: CPUs per task.
    #[arg(long)]
    pub cpus_per_task: Option<usize>,
    /// Slurm: the most tasks of one array running at once (`--array=…%N`).
    #[arg(long, value_parser = positive_count)]
    pub max_concurrent: Option<usize>,
    /// Slurm: the time limit of each task, HH:MM:SS.
    #[arg(long)]
    pub time: Option<String>,
    /// Slurm: another sbatch option for every job (repeatable), e.g. `--sbatch-arg=--qos=low`.
    #[arg(long = "sbatch-arg", allow_hyphen_values = true)]
    pub sbatch_args: Vec<String>,
    /// Slurm: block until the report is written (or the jobs end without it).
    #[arg(long)]
    pub wait: bool,
    /// Print how many steps are done, by kind, and the Slurm jobs of the last submission;
    /// run nothing.
    #[arg(long)]
    pub status: bool,
    /// Internal: run one step (`<id>`) or publish the report (`report`) and exit; what a
    /// worker process or a Slurm task runs.
    #[arg(long, hide = true, value_name = "ID|report")]
    pub run_step: Option<String>,
}

impl ClusterArgs {
    /// The executor options these arguments give.
    pub fn to_options(&self) -> ExecutorOptions {
        ExecutorOptions {
            executor: match self.executor {
                ExecutorArg::Local => ExecutorKind::Local,
                ExecutorArg::Slurm => ExecutorKind::Slurm,
            },
            jobs: self.jobs,
            partition: self.partition.clone(),
            gpus_per_task: self.gpus_per_task,
            cpus_per_task: self.cpus_per_task,
            max_concurrent: self.max_concurrent,
            time: self.time.clone(),
            sbatch_args: self.sbatch_args.clone(),
            wait: self.wait,
            status: self.status,
            run_step: self.run_step.clone(),
        }
    }
}
