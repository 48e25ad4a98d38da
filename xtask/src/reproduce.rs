//! `cargo xtask reproduce`: the experiment pipeline.
//!
//! Steps, per seed and scenario: split manifest → original model (train; shared by the
//! scenarios of a seed that train on the same images) → retrain oracle (retain) → each
//! unlearning method and MUDA ablation (`unlearn forget`) → features → metrics against the
//! retrain model. Every step's output is written atomically by the `unlearn` binary and
//! gets a `.key` sidecar: the SHA-256 of its inputs (data fingerprint, split bytes, preset,
//! architecture, seed, the method's listed defaults and overrides, the keys of the steps it
//! reads). A step counts as done only when its key matches, so a rerun skips finished work,
//! a changed input or default redoes what depends on it, and a run killed at any moment
//! (`kill -9`) resumes without trusting a half-finished step (`scripts/check-resume.sh`).
//! The keys cover inputs, not the code: after changing training or method code, use a
//! fresh `--out`. Results go to `results.jsonl`, `results.csv`, `report.md`,
//! `report.html` and `figures/` (see `report.rs`), rewritten after every scenario.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::run;
use serde_json::{json, Value};

const HELP: &str = "\
cargo xtask reproduce [options]

Options:
  --preset P       quick (default) | fmnist | cifar10 | cifar100
  --data D         any `unlearn --data` source (default: the preset's: embedded, fashion-mnist, cifar10, cifar100)
  --scenarios S    comma-separated random:p, class:c[,c…] (quote), backdoor:p
                   (default: random:0.1,class:3; fmnist/cifar add backdoor:0.05)
  --methods M      comma-separated method ids (default: every method `unlearn methods` lists
                   and the MUDA ablations muda-no-da, muda-no-sd, muda-no-alt)
  --seeds N        number of seeds, 0..N-1 (default 1)
  --device D       cpu (default) | cuda | auto
  --out DIR        output folder (default target/reproduce/<preset>)
  --epochs N       cap every training at N epochs (original, retrain and each method's
                   `epochs`/`max_epochs`): a smoke run of a preset's pipeline, e.g. cifar10
                   on a CPU; the numbers are then not the preset's
  --bin PATH       use this `unlearn` binary instead of building one (also: $UNLEARN_BIN)

Examples:
  cargo xtask reproduce
  cargo xtask reproduce --preset fmnist --seeds 3
  cargo xtask reproduce --scenarios random:0.1 --methods ft,muda";

struct Options {
    preset: String,
    data: String,
    scenarios: Vec<String>,
    methods: Option<Vec<String>>,
    seeds: u64,
    device: String,
    out: PathBuf,
    epochs: Option<usize>,
    bin: Option<PathBuf>,
    /// The command line, for the report.
    command: String,
}

fn parse(args: &[String], root: &Path) -> Result<Options> {
    let mut o = Options {
        preset: "quick".into(),
        data: String::new(),
        scenarios: Vec::new(),
        methods: None,
        seeds: 1,
        device: "cpu".into(),
        out: PathBuf::new(),
        epochs: None,
        bin: std::env::var_os("UNLEARN_BIN").map(PathBuf::from),
        command: std::iter::once("cargo xtask reproduce".to_string())
            .chain(args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" "),
    };
    let mut out = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "-h" || a == "--help" {
            println!("{HELP}");
            std::process::exit(0);
        }
        let mut value = || {
            it.next()
                .cloned()
                .with_context(|| format!("{a} needs a value\n\n{HELP}"))
        };
        let list = |v: String| -> Vec<String> {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        match a.as_str() {
            "--preset" => o.preset = value()?,
            "--data" => o.data = value()?,
            "--scenarios" => o.scenarios = scenario_list(&list(value()?)),
            "--methods" => o.methods = Some(list(value()?)),
            "--device" => o.device = value()?,
            "--seeds" => {
                let v = value()?;
                o.seeds = v
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .with_context(|| format!("--seeds '{v}' is not a positive number"))?;
            }
            "--out" => out = Some(PathBuf::from(value()?)),
            "--bin" => o.bin = Some(PathBuf::from(value()?)),
            "--epochs" => {
                let v = value()?;
                o.epochs = Some(
                    v.parse()
                        .ok()
                        .filter(|&n: &usize| n > 0)
                        .with_context(|| format!("--epochs '{v}' is not a positive number"))?,
                );
            }
            other => bail!("unknown option '{other}'\n\n{HELP}"),
        }
    }
    if !["quick", "fmnist", "cifar10", "cifar100"].contains(&o.preset.as_str()) {
        bail!(
            "unknown preset '{}': expected quick, fmnist, cifar10 or cifar100",
            o.preset
        );
    }
    if o.scenarios.is_empty() {
        o.scenarios = ["random:0.1", "class:3"].map(String::from).to_vec();
        if o.preset != "quick" {
            o.scenarios.push("backdoor:0.05".into());
        }
    }
    if o.data.is_empty() {
        o.data = match o.preset.as_str() {
            "quick" => "embedded",
            "fmnist" => "fashion-mnist",
            p => p,
        }
        .to_string();
    }
    o.out = out.unwrap_or_else(|| root.join("target/reproduce").join(&o.preset));
    Ok(o)
}

/// Re-joins comma-split pieces that continue a scenario (`class:3,5` → one scenario;
/// `backdoor:0.05,0,4,1` → one).
fn scenario_list(pieces: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in pieces {
        let starts_new = p.contains(':') || p == "imported";
        match out.last_mut() {
            Some(last) if !starts_new => {
                last.push(',');
                last.push_str(p);
            }
            _ => out.push(p.clone()),
        }
    }
    out
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// Each method's `unlearn methods --json` entry (parameters, defaults, class defaults), in
/// the binary's order.
fn method_listing(bin: &Path, preset: &str) -> Result<Vec<(String, Value)>> {
    let out = Command::new(bin)
        .args(["methods", "--json", "--preset", preset])
        .output()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "`unlearn methods --json --preset {preset}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let list: Value = serde_json::from_slice(&out.stdout)
        .context("`unlearn methods --json` did not print JSON")?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| Some((m["id"].as_str()?.to_string(), m.clone())))
        .collect())
}

/// Seconds of a training run from its per-epoch JSON log.
fn train_seconds(log: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(log).ok()?;
    let mut last_run = 0.0;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).ok()?;
        if v["epoch"] == 1 {
            last_run = 0.0;
        }
        last_run += v["seconds"].as_f64()?;
    }
    Some(last_run)
}

/// Writes results.jsonl, results.csv, report.md, report.html and the figures.
fn publish(o: &Options, records: &[Value], start: Instant, status: &str) -> Result<String> {
    let jsonl: String = records.iter().map(|r| format!("{r}\n")).collect();
    crate::report::write_atomic(&o.out.join("results.jsonl"), &jsonl)?;
    let ctx = crate::report::ReportContext {
        preset: &o.preset,
        data: &o.data,
        seeds: o.seeds,
        scenarios: &o.scenarios,
        out: &o.out,
        seconds: start.elapsed().as_secs_f64(),
        command: o.command.clone(),
        machine: machine(),
        status: status.to_string(),
    };
    // For `cargo xtask report`, which rewrites the report from results.jsonl.
    let run = json!({
        "command": ctx.command, "machine": ctx.machine, "seconds": ctx.seconds,
        "status": ctx.status, "data": ctx.data,
    });
    crate::report::write_atomic(&o.out.join("run.json"), &format!("{run:#}\n"))?;
    crate::report::write_all(&ctx, records)
}

/// The machine in words: CPU model, cores, memory, and the commit when in a git checkout.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0 / 1024.0);
    let mut s = format!("{model}, {cores} cores");
    if let Some(g) = mem_gib {
        s += &format!(", {g:.0} GiB");
    }
    if let Ok(o) = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
    {
        if o.status.success() {
            s += &format!(", commit {}", String::from_utf8_lossy(&o.stdout).trim());
            let dirty = Command::new("git")
                .args(["status", "--porcelain", "--untracked-files=no"])
                .output()
                .is_ok_and(|d| !d.stdout.is_empty());
            if dirty {
                s += " with uncommitted changes";
            }
        }
    }
    s
}

/// A step's identity: SHA-256 over everything its output depends on (inputs' hashes,
/// parameters, seed). An output counts as done only when its `.key` sidecar holds this
/// key, so a rerun skips finished work, a changed input redoes exactly what depends on it,
/// and a file left by a killed run (the binary writes atomically, the key comes after) is
/// redone rather than trusted.
fn step_key(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(PIPELINE_VERSION.as_bytes());
    for p in parts {
        h.update([0u8]);
        h.update(p.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Bumped when the meaning of an artefact changes, so old ones are not reused.
const PIPELINE_VERSION: &str = "reproduce/2";

fn key_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

fn is_done(output: &Path, key: &str) -> bool {
    output.exists()
        && std::fs::read_to_string(key_path(output))
            .map(|k| k.trim() == key)
            .unwrap_or(false)
}

fn mark_done(output: &Path, key: &str) -> Result<()> {
    crate::report::write_atomic(&key_path(output), key)
}

fn file_sha256(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Retain features kept per model (the metrics subsample larger retain sets anyway).
const MAX_RETAIN: &str = "10000";

/// A run of the pipeline under a name: a method of the binary with `--set` overrides
/// (the MUDA ablations are `muda` with one component off).
struct MethodRun {
    name: String,
    method: String,
    sets: Vec<String>,
}

/// Ablation variants `reproduce` knows by name (spec 4.1: each component switchable).
const VARIANTS: [(&str, &str, &str); 3] = [
    ("muda-no-da", "muda", "da=false"),
    ("muda-no-sd", "muda", "sd=false"),
    ("muda-no-alt", "muda", "alternate=false"),
];

fn method_run(name: &str) -> MethodRun {
    match VARIANTS.iter().find(|(n, _, _)| *n == name) {
        Some((n, m, set)) => MethodRun {
            name: n.to_string(),
            method: m.to_string(),
            sets: vec![set.to_string()],
        },
        None => MethodRun {
            name: name.to_string(),
            method: name.to_string(),
            sets: Vec::new(),
        },
    }
}

/// Relative cost of each kind of step, for the overall progress bar's ETA.
const COST_SPLIT: f64 = 0.1;
const COST_TRAIN: f64 = 10.0;
const COST_METHOD: f64 = 2.0;
const COST_FEATURES: f64 = 0.5;
const COST_METRICS: f64 = 0.7;

/// The overall progress line: a bar over all planned steps (weighted by their usual cost),
/// elapsed time and an ETA from the steps actually run (skipped ones cost nothing). The
/// current step's own bar is the `unlearn` child's.
struct Overall {
    total: f64,
    done: f64,
    ran_weight: f64,
    ran_seconds: f64,
    start: Instant,
    step_start: Instant,
    step_weight: f64,
}

impl Overall {
    fn new(total: f64) -> Self {
        Overall {
            total,
            done: 0.0,
            ran_weight: 0.0,
            ran_seconds: 0.0,
            start: Instant::now(),
            step_start: Instant::now(),
            step_weight: 0.0,
        }
    }

    /// A step that was already done.
    fn skip(&mut self, weight: f64) {
        self.done += weight;
    }

    /// A step about to run: prints the overall line.
    fn begin(&mut self, weight: f64, what: &str) {
        self.step_start = Instant::now();
        self.step_weight = weight;
        let frac = (self.done / self.total).clamp(0.0, 1.0);
        let width = 24;
        let filled = (frac * width as f64).round() as usize;
        let eta = if self.ran_weight >= 1.0 {
            let rest = (self.total - self.done).max(0.0);
            clock(rest * self.ran_seconds / self.ran_weight)
        } else {
            "–".into()
        };
        eprintln!(
            "[{}{}] {:>3.0}%  {} elapsed, ETA {}  {what}",
            "#".repeat(filled),
            ".".repeat(width - filled),
            frac * 100.0,
            clock(self.start.elapsed().as_secs_f64()),
            eta
        );
    }

    /// The step begun last has finished.
    fn end(&mut self) {
        self.done += self.step_weight;
        self.ran_weight += self.step_weight;
        self.ran_seconds += self.step_start.elapsed().as_secs_f64();
        self.step_weight = 0.0;
    }
}

fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

pub fn reproduce(args: &[String], root: &Path) -> Result<()> {
    let o = parse(args, root)?;
    let start = Instant::now();
    let bin = match &o.bin {
        Some(b) => {
            eprintln!("== using the unlearn binary {}", b.display());
            b.clone()
        }
        None => {
            eprintln!("== building the unlearn binary (release)");
            let mut build = Command::new(env!("CARGO"));
            build
                .current_dir(root)
                .args(["build", "--release", "--quiet", "-p", "unlearn-cli"]);
            if o.device == "cuda" {
                build.args(["--features", "cuda"]);
            }
            run(&mut build)?;
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target"));
            target.join("release/unlearn")
        }
    };
    std::fs::create_dir_all(&o.out)
        .with_context(|| format!("cannot create {}", o.out.display()))?;
    // Each method's listing (defaults, class defaults) also goes into its step key, so a
    // changed default redoes the runs it affects.
    let listing = method_listing(&bin, &o.preset)?;
    let listed = |id: &str| listing.iter().find(|(m, _)| m == id).map(|(_, v)| v);
    let offered: Vec<String> = listing.iter().map(|(id, _)| id.clone()).collect();
    let names: Vec<String> = match &o.methods {
        Some(m) => {
            for id in m {
                let base = method_run(id).method;
                if id != "retrain" && !offered.contains(&base) {
                    bail!(
                        "method '{id}' is not offered by this build (available: {}, and the ablations {})",
                        offered.join(", "),
                        VARIANTS.map(|v| v.0).join(", ")
                    );
                }
            }
            m.clone()
        }
        None => {
            let mut all = offered.clone();
            if offered.iter().any(|m| m == "muda") {
                all.extend(VARIANTS.iter().map(|v| v.0.to_string()));
            }
            all
        }
    };
    let mut runs: Vec<MethodRun> = names
        .iter()
        .filter(|m| m.as_str() != "retrain")
        .map(|m| method_run(m))
        .collect();
    if let Some(cap) = o.epochs {
        for r in &mut runs {
            let params = listed(&r.method).and_then(|m| m["params"].as_array());
            for p in params.into_iter().flatten() {
                let (Some(param), Some(default)) = (p["name"].as_str(), p["default"].as_u64())
                else {
                    continue;
                };
                if param == "epochs" || param.ends_with("_epochs") {
                    r.sets.push(format!("{param}={}", default.min(cap as u64)));
                }
            }
        }
    }
    let epochs_arg: Vec<String> = o
        .epochs
        .map(|n| vec!["--epochs".to_string(), n.to_string()])
        .unwrap_or_default();
    let arch: &[&str] = match o.preset.as_str() {
        "cifar10" | "cifar100" => &["--arch", "resnet18-cifar"],
        _ => &[],
    };
    let arch_name = arch.get(1).copied().unwrap_or("default");
    let n_models = runs.len() as f64 + 2.0;
    let per_scenario = COST_SPLIT
        + COST_TRAIN
        + runs.len() as f64 * COST_METHOD
        + n_models * (COST_FEATURES + COST_METRICS);
    let originals = o
        .scenarios
        .iter()
        .filter(|s| s.starts_with("backdoor"))
        .count()
        + usize::from(o.scenarios.iter().any(|s| !s.starts_with("backdoor")));
    let mut overall = Overall::new(
        o.seeds as f64 * (o.scenarios.len() as f64 * per_scenario + originals as f64 * COST_TRAIN),
    );
    let originals_dir = o.out.join("originals");
    std::fs::create_dir_all(&originals_dir)?;
    let mut records = Vec::new();
    let cells = o.seeds as usize * o.scenarios.len();
    let mut cells_done = 0usize;
    for seed in 0..o.seeds {
        let s = seed.to_string();
        let mut trained_originals: Vec<String> = Vec::new();
        for scenario in &o.scenarios {
            let dir = o
                .out
                .join(crate::report::slug(scenario))
                .join(format!("seed{seed}"));
            std::fs::create_dir_all(dir.join("features"))?;
            std::fs::create_dir_all(dir.join("metrics"))?;
            let label = format!("{scenario} seed {seed}");
            let split = dir.join("split.json");
            let split_key = step_key(&["split", &o.data, scenario, &s]);
            if is_done(&split, &split_key) {
                overall.skip(COST_SPLIT);
            } else {
                overall.begin(COST_SPLIT, &format!("{label}: split"));
                run(Command::new(&bin)
                    .args(["split", "--data", &o.data, "--scenario", scenario])
                    .args(["--seed", &s, "--out"])
                    .arg(&split))?;
                mark_done(&split, &split_key)?;
                overall.end();
            }
            let manifest = read_json(&split)?;
            let split_hash = file_sha256(&split)?;
            let fingerprint = manifest["dataset"]["fingerprint"].as_str().unwrap_or("");
            let train_hash = manifest["sha256"]["train"].as_str().unwrap_or("");
            // The original depends on the training images only (and on the poisoning for a
            // backdoor scenario), so scenarios of one seed share it.
            // Only a capped run adds a part, so uncapped keys stay as they were.
            let epochs_cap = o.epochs.map(|n| format!("epochs={n}"));
            let epochs_key: Vec<&str> = epochs_cap.iter().map(String::as_str).collect();
            let poison = if scenario.starts_with("backdoor") {
                scenario.as_str()
            } else {
                ""
            };
            let original_key = step_key(
                &[
                    &[
                        "original",
                        &o.preset,
                        arch_name,
                        &s,
                        fingerprint,
                        train_hash,
                        poison,
                    ][..],
                    &epochs_key[..],
                ]
                .concat(),
            );
            let original =
                originals_dir.join(format!("seed{seed}-{}.safetensors", &original_key[..16]));
            let retrain = dir.join("retrain.safetensors");
            let retrain_key = step_key(
                &[
                    &["retrain", &o.preset, arch_name, &s, &split_hash][..],
                    &epochs_key[..],
                ]
                .concat(),
            );
            for (name, subset, ckpt, key) in [
                ("original", "train", &original, &original_key),
                ("retrain", "retain", &retrain, &retrain_key),
            ] {
                let counted = name == "retrain" || !trained_originals.contains(key);
                if is_done(ckpt, key) {
                    if counted {
                        overall.skip(COST_TRAIN);
                    }
                } else {
                    overall.begin(COST_TRAIN, &format!("{label}: training {name}"));
                    let log = ckpt.with_extension("log.jsonl");
                    run(Command::new(&bin)
                        .args(["train", "--data", &o.data, "--preset", &o.preset])
                        .args(["--subset", subset, "--seed", &s, "--device", &o.device])
                        .args(arch)
                        .args(&epochs_arg)
                        .arg("--split")
                        .arg(&split)
                        .arg("--log")
                        .arg(&log)
                        .arg("--out")
                        .arg(ckpt))?;
                    mark_done(ckpt, key)?;
                    overall.end();
                }
                if name == "original" && counted {
                    trained_originals.push(key.clone());
                }
            }
            // name → (checkpoint, key, failure)
            let mut models: Vec<(String, PathBuf, String, Option<String>)> = vec![
                (
                    "original".into(),
                    original.clone(),
                    original_key.clone(),
                    None,
                ),
                ("retrain".into(), retrain.clone(), retrain_key.clone(), None),
            ];
            for mr in &runs {
                let ckpt = dir.join(format!("{}.safetensors", mr.name));
                let record = dir.join(format!("{}.safetensors.record.json", mr.name));
                let defaults = listed(&mr.method)
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                let key = step_key(
                    &[
                        &[
                            "method",
                            &mr.method,
                            &defaults,
                            &original_key,
                            &split_hash,
                            &s,
                            &o.preset,
                        ][..],
                        &mr.sets.iter().map(String::as_str).collect::<Vec<_>>()[..],
                    ]
                    .concat(),
                );
                if is_done(&record, &key) {
                    overall.skip(COST_METHOD);
                } else {
                    overall.begin(
                        COST_METHOD,
                        &format!("{label}: forgetting with {}", mr.name),
                    );
                    let _ = std::fs::remove_file(&ckpt);
                    let _ = std::fs::remove_file(&record);
                    let mut cmd = Command::new(&bin);
                    cmd.args([
                        "forget", "--method", &mr.method, "--data", &o.data, "--seed", &s,
                    ])
                    .args(["--device", &o.device, "--quiet"])
                    .arg("--checkpoint")
                    .arg(&original)
                    .arg("--split")
                    .arg(&split)
                    .arg("--out")
                    .arg(&ckpt);
                    for set in &mr.sets {
                        cmd.args(["--set", set]);
                    }
                    let status = cmd
                        .status()
                        .with_context(|| format!("cannot start {}", bin.display()))?;
                    if !status.success() {
                        eprintln!("   {} failed; recorded, going on", mr.name);
                    }
                    if record.exists() {
                        mark_done(&record, &key)?;
                    }
                    overall.end();
                }
                let failure = if ckpt.exists() {
                    None
                } else {
                    Some(
                        read_json(&record)
                            .ok()
                            .and_then(|r| r["failed"].as_str().map(str::to_string))
                            .unwrap_or_else(|| "no checkpoint written".into()),
                    )
                };
                models.push((mr.name.clone(), ckpt, key, failure));
            }
            // Features, then metrics against the retrain model's features.
            let mut feature_keys: Vec<String> = Vec::new();
            for (name, ckpt, key, failure) in &models {
                let feats = dir.join(format!("features/{name}.safetensors"));
                let fkey = step_key(&["features", key, &split_hash, MAX_RETAIN]);
                feature_keys.push(fkey.clone());
                if failure.is_some() || is_done(&feats, &fkey) {
                    overall.skip(COST_FEATURES);
                } else {
                    overall.begin(COST_FEATURES, &format!("{label}: features of {name}"));
                    run(Command::new(&bin)
                        .args(["features", "--data", &o.data, "--max-retain", MAX_RETAIN])
                        .args(["--quiet", "--device", &o.device])
                        .arg("--checkpoint")
                        .arg(ckpt)
                        .arg("--split")
                        .arg(&split)
                        .arg("--out")
                        .arg(&feats))?;
                    mark_done(&feats, &fkey)?;
                    overall.end();
                }
            }
            let retrain_features = dir.join("features/retrain.safetensors");
            let retrain_seconds = train_seconds(&retrain.with_extension("log.jsonl"));
            for ((name, ckpt, _, failure), fkey) in models.iter().zip(&feature_keys) {
                let mut rec = json!({
                    "preset": o.preset, "scenario": scenario, "seed": seed, "method": name,
                });
                let method_record = (!matches!(name.as_str(), "original" | "retrain"))
                    .then(|| read_json(&dir.join(format!("{name}.safetensors.record.json"))).ok())
                    .flatten();
                if let Some(r) = &method_record {
                    rec["params"] = r["params"].clone();
                }
                if let Some(f) = failure {
                    rec["failure"] = json!(f);
                    overall.skip(COST_METRICS);
                    records.push(rec);
                    continue;
                }
                let metrics = dir.join(format!("metrics/{name}.json"));
                let plot = dir.join(format!("metrics/{name}.plot.json"));
                let mkey = step_key(&["metrics", fkey, &feature_keys[1], &s, "plot"]);
                if is_done(&metrics, &mkey) {
                    overall.skip(COST_METRICS);
                } else {
                    overall.begin(COST_METRICS, &format!("{label}: metrics of {name}"));
                    let mut cmd = Command::new(&bin);
                    cmd.args(["metrics", "--seed", &s])
                        .arg("--features")
                        .arg(dir.join(format!("features/{name}.safetensors")))
                        .arg("--reference")
                        .arg(&retrain_features)
                        .arg("--json")
                        .arg(&metrics)
                        .arg("--plot-data")
                        .arg(&plot)
                        .stdout(std::process::Stdio::null());
                    run(&mut cmd)?;
                    mark_done(&metrics, &mkey)?;
                    overall.end();
                }
                let mut m = read_json(&metrics)?;
                if let Some(obj) = m.as_object_mut() {
                    obj.remove("curves");
                    obj.remove("spectrum");
                }
                rec["metrics"] = m;
                let seconds = match name.as_str() {
                    "original" | "retrain" => train_seconds(&ckpt.with_extension("log.jsonl")),
                    _ => method_record.as_ref().and_then(|r| r["seconds"].as_f64()),
                };
                rec["seconds"] = json!(seconds);
                if let (Some(a), Some(b)) = (seconds, retrain_seconds) {
                    rec["rte_ratio"] = json!(a / b);
                }
                records.push(rec);
            }
            cells_done += 1;
            if cells_done < cells {
                // A partial report after every scenario, so a long run can be read (and a
                // killed one still has one) before it ends.
                publish(
                    &o,
                    &records,
                    start,
                    &format!("Partial: {cells_done} of {cells} scenario × seed runs finished; the run goes on."),
                )?;
            }
        }
    }
    let report = publish(&o, &records, start, "")?;
    println!("{report}");
    eprintln!(
        "done in {:.0}s: {}",
        start.elapsed().as_secs_f64(),
        o.out.display()
    );
    Ok(())
}
