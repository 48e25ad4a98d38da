//! `cargo xtask reproduce`: the experiment pipeline.
//!
//! Steps, per seed and scenario: split manifest → original model (train) → retrain oracle
//! (retain) → each unlearning method (`unlearn forget`, when the binary has it) → features →
//! metrics against the retrain model. Every step writes its output atomically and is skipped
//! when that output exists, so a killed run resumes where it stopped. Results go to
//! `results.jsonl`, `results.csv` and `report.md` in the output folder.

use std::fmt::Write as _;
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
  --scenarios S    comma-separated (default: random:0.1,class:3)
  --methods M      comma-separated method ids (default: every method `unlearn methods` lists)
  --seeds N        number of seeds, 0..N-1 (default 1)
  --device D       cpu (default) | cuda | auto
  --out DIR        output folder (default target/reproduce/<preset>)

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
}

fn parse(args: &[String], root: &Path) -> Result<Options> {
    let mut o = Options {
        preset: "quick".into(),
        data: String::new(),
        scenarios: vec!["random:0.1".into(), "class:3".into()],
        methods: None,
        seeds: 1,
        device: "cpu".into(),
        out: PathBuf::new(),
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
            "--scenarios" => o.scenarios = list(value()?),
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
            other => bail!("unknown option '{other}'\n\n{HELP}"),
        }
    }
    if !["quick", "fmnist", "cifar10", "cifar100"].contains(&o.preset.as_str()) {
        bail!(
            "unknown preset '{}': expected quick, fmnist, cifar10 or cifar100",
            o.preset
        );
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

fn read_json(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Methods the binary offers (`unlearn methods --ids`), empty when it has none yet.
fn available_methods(bin: &Path) -> Vec<String> {
    Command::new(bin)
        .args(["methods", "--ids"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn slug(scenario: &str) -> String {
    scenario
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
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

pub fn reproduce(args: &[String], root: &Path) -> Result<()> {
    let o = parse(args, root)?;
    let start = Instant::now();
    eprintln!("== building the unlearn binary (release)");
    run(Command::new(env!("CARGO")).current_dir(root).args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "unlearn-cli",
    ]))?;
    let bin = root.join("target/release/unlearn");
    std::fs::create_dir_all(&o.out)
        .with_context(|| format!("cannot create {}", o.out.display()))?;
    let offered = available_methods(&bin);
    let methods: Vec<String> = match &o.methods {
        Some(m) => {
            for id in m {
                if id != "retrain" && !offered.contains(id) {
                    bail!(
                        "method '{id}' is not offered by this build (available: {})",
                        offered.join(", ")
                    );
                }
            }
            m.clone()
        }
        None => offered.clone(),
    };
    let arch: &[&str] = match o.preset.as_str() {
        "cifar10" | "cifar100" => &["--arch", "resnet18-cifar"],
        _ => &[],
    };
    let mut records = Vec::new();
    for seed in 0..o.seeds {
        let s = seed.to_string();
        for scenario in &o.scenarios {
            let dir = o.out.join(slug(scenario)).join(format!("seed{seed}"));
            std::fs::create_dir_all(dir.join("features"))?;
            std::fs::create_dir_all(dir.join("metrics"))?;
            let split = dir.join("split.json");
            if !split.exists() {
                run(Command::new(&bin)
                    .args([
                        "split",
                        "--data",
                        &o.data,
                        "--scenario",
                        scenario,
                        "--seed",
                        &s,
                        "--out",
                    ])
                    .arg(&split))?;
            }
            // Models: original and retrain by training, the rest by forgetting.
            let mut models: Vec<(String, Option<String>)> = Vec::new();
            for (name, subset) in [("original", "train"), ("retrain", "retain")] {
                let ckpt = dir.join(format!("{name}.safetensors"));
                let log = dir.join(format!("{name}.log.jsonl"));
                if !ckpt.exists() {
                    eprintln!("== {scenario} seed {seed}: training {name}");
                    run(Command::new(&bin)
                        .args([
                            "train", "--data", &o.data, "--preset", &o.preset, "--subset", subset,
                        ])
                        .args(["--seed", &s, "--device", &o.device])
                        .args(arch)
                        .arg("--split")
                        .arg(&split)
                        .arg("--log")
                        .arg(&log)
                        .arg("--out")
                        .arg(&ckpt))?;
                }
                models.push((name.to_string(), None));
            }
            for m in methods.iter().filter(|m| m.as_str() != "retrain") {
                let ckpt = dir.join(format!("{m}.safetensors"));
                let record = dir.join(format!("{m}.safetensors.record.json"));
                if !ckpt.exists() && !record.exists() {
                    eprintln!("== {scenario} seed {seed}: forgetting with {m}");
                    let status = Command::new(&bin)
                        .args(["forget", "--method", m, "--data", &o.data, "--seed", &s])
                        .args(["--device", &o.device, "--quiet"])
                        .arg("--checkpoint")
                        .arg(dir.join("original.safetensors"))
                        .arg("--split")
                        .arg(&split)
                        .arg("--out")
                        .arg(&ckpt)
                        .status()?;
                    if !status.success() {
                        eprintln!("   {m} failed; recorded, going on");
                    }
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
                models.push((m.clone(), failure));
            }
            // Features and metrics.
            let retrain_features = dir.join("features/retrain.safetensors");
            for (name, failure) in &models {
                if failure.is_some() {
                    continue;
                }
                let feats = dir.join(format!("features/{name}.safetensors"));
                if !feats.exists() {
                    run(Command::new(&bin)
                        .args([
                            "features",
                            "--data",
                            &o.data,
                            "--max-retain",
                            "10000",
                            "--quiet",
                        ])
                        .args(["--device", &o.device])
                        .arg("--checkpoint")
                        .arg(dir.join(format!("{name}.safetensors")))
                        .arg("--split")
                        .arg(&split)
                        .arg("--out")
                        .arg(&feats))?;
                }
            }
            for (name, failure) in &models {
                let mut rec = json!({
                    "preset": o.preset, "scenario": scenario, "seed": seed, "method": name,
                });
                if let Some(f) = failure {
                    rec["failure"] = json!(f);
                    records.push(rec);
                    continue;
                }
                let metrics = dir.join(format!("metrics/{name}.json"));
                if !metrics.exists() {
                    run(Command::new(&bin)
                        .args(["metrics", "--seed", &s])
                        .arg("--features")
                        .arg(dir.join(format!("features/{name}.safetensors")))
                        .arg("--reference")
                        .arg(&retrain_features)
                        .arg("--json")
                        .arg(&metrics)
                        .stdout(std::process::Stdio::null()))?;
                }
                let mut m = read_json(&metrics)?;
                if let Some(obj) = m.as_object_mut() {
                    obj.remove("curves");
                    obj.remove("spectrum");
                }
                rec["metrics"] = m;
                let seconds = match name.as_str() {
                    "original" | "retrain" => train_seconds(&dir.join(format!("{name}.log.jsonl"))),
                    _ => read_json(&dir.join(format!("{name}.safetensors.record.json")))
                        .ok()
                        .and_then(|r| r["seconds"].as_f64()),
                };
                rec["seconds"] = json!(seconds);
                let retrain_s = train_seconds(&dir.join("retrain.log.jsonl"));
                if let (Some(a), Some(b)) = (seconds, retrain_s) {
                    rec["rte_ratio"] = json!(a / b);
                }
                records.push(rec);
            }
        }
    }
    let jsonl: String = records.iter().map(|r| format!("{r}\n")).collect();
    write_atomic(&o.out.join("results.jsonl"), &jsonl)?;
    write_atomic(&o.out.join("results.csv"), &csv(&records))?;
    let report = report(&o, &records, start.elapsed().as_secs_f64());
    write_atomic(&o.out.join("report.md"), &report)?;
    println!("{report}");
    eprintln!(
        "done in {:.0}s: {}",
        start.elapsed().as_secs_f64(),
        o.out.display()
    );
    Ok(())
}

const COLUMNS: [(&str, &str); 12] = [
    ("UA", "/metrics/ua"),
    ("RA", "/metrics/ra"),
    ("TA", "/metrics/ta"),
    ("MIA", "/metrics/mia/confidence"),
    ("Gap(out)", "/metrics/avg_gap_output"),
    ("DA_f", "/metrics/da/forget"),
    ("DA_t", "/metrics/da/test"),
    ("LP_f", "/metrics/lp/forget"),
    ("NMI", "/metrics/nmi"),
    ("F1", "/metrics/f1"),
    ("Gap(feat)", "/metrics/avg_gap_feature"),
    ("RTE s", "/seconds"),
];

fn csv(records: &[Value]) -> String {
    let mut out = String::from("preset,scenario,seed,method");
    for (name, _) in COLUMNS {
        out.push(',');
        out.push_str(name);
    }
    out.push_str(",failure\n");
    for r in records {
        let _ = write!(
            out,
            "{},{},{},{}",
            r["preset"].as_str().unwrap_or(""),
            r["scenario"].as_str().unwrap_or(""),
            r["seed"],
            r["method"].as_str().unwrap_or("")
        );
        for (_, ptr) in COLUMNS {
            out.push(',');
            if let Some(v) = r.pointer(ptr).and_then(Value::as_f64) {
                let _ = write!(out, "{v}");
            }
        }
        let _ = writeln!(out, ",{}", r["failure"].as_str().unwrap_or(""));
    }
    out
}

fn report(o: &Options, records: &[Value], seconds: f64) -> String {
    let mut md = format!(
        "# Reproduction report: preset `{}`, data `{}`, {} seed(s)\n\nWall time of this invocation: {:.0} s. Gaps are to the retrain model of the same seed.\n",
        o.preset, o.data, o.seeds, seconds
    );
    for scenario in &o.scenarios {
        let _ = write!(md, "\n## `{scenario}`\n\n| method |");
        for (name, _) in COLUMNS {
            let _ = write!(md, " {name} |");
        }
        md.push_str("\n|---|");
        md.push_str(&"---:|".repeat(COLUMNS.len()));
        md.push('\n');
        let rows: Vec<&Value> = records
            .iter()
            .filter(|r| r["scenario"].as_str() == Some(scenario))
            .collect();
        let mut names: Vec<String> = Vec::new();
        for r in &rows {
            let n = r["method"].as_str().unwrap_or("").to_string();
            if !names.contains(&n) {
                names.push(n);
            }
        }
        names.sort_by_key(|n| match n.as_str() {
            "retrain" => 0,
            "original" => 1,
            _ => 2,
        });
        for name in names {
            let rs: Vec<&&Value> = rows
                .iter()
                .filter(|r| r["method"].as_str() == Some(&name))
                .collect();
            let _ = write!(md, "| {name} |");
            if let Some(f) = rs.iter().find_map(|r| r["failure"].as_str()) {
                let _ = writeln!(md, " failed: {f} |");
                continue;
            }
            for (_, ptr) in COLUMNS {
                let vals: Vec<f64> = rs
                    .iter()
                    .filter_map(|r| r.pointer(ptr).and_then(Value::as_f64))
                    .collect();
                if vals.is_empty() {
                    md.push_str(" – |");
                    continue;
                }
                let mean = vals.iter().sum::<f64>() / vals.len() as f64;
                let digits = if mean.abs() <= 1.0 && !ptr.ends_with("seconds") {
                    3
                } else {
                    2
                };
                if vals.len() > 1 {
                    let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
                        / (vals.len() - 1) as f64;
                    let _ = write!(md, " {mean:.digits$} ± {:.digits$} |", var.sqrt());
                } else {
                    let _ = write!(md, " {mean:.digits$} |");
                }
            }
            md.push('\n');
        }
    }
    md
}
