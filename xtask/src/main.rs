//! `cargo xtask`: project automation (matklad's xtask pattern).
//!
//! - `cargo xtask reproduce [--preset quick] [--data D] [--seed N] [--out DIR]`: the
//!   experiment pipeline on the embedded data by default. Today it runs the foundation
//!   steps — split manifests (`random:0.1` and `class:3`), the original model, the retrain
//!   oracle, and their evaluation — into `target/reproduce/<preset>/`, skipping every step
//!   whose output already exists (outputs are written atomically, so an existing file is
//!   complete). The unlearning methods, metrics and the report plug into the same pipeline.
//! - `cargo xtask ci`: what `.ci/run` runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("reproduce") => reproduce(&args[1..]),
        Some("ci") => run(Command::new("bash").arg(root().join(".ci/run"))),
        Some("-h") | Some("--help") | Some("help") | None => {
            println!("{HELP}");
            Ok(())
        }
        Some(other) => bail!("unknown xtask '{other}'\n\n{HELP}"),
    }
}

const HELP: &str = "\
cargo xtask <task>

Tasks:
  reproduce [--preset quick|fmnist|cifar10|cifar100] [--data D] [--seed N] [--out DIR]
            split manifests, original and retrain models, their evaluation
            (default: quick preset on the embedded Fashion-MNIST subset, seed 0,
            into target/reproduce/<preset>/)
  ci        run .ci/run (fmt, clippy, tests)

Examples:
  cargo xtask reproduce
  cargo xtask reproduce --preset fmnist --data fashion-mnist --seed 1";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("command failed ({status}): {cmd:?}");
    }
    Ok(())
}

struct Options {
    preset: String,
    data: String,
    seed: u64,
    out: PathBuf,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        preset: "quick".into(),
        data: String::new(),
        seed: 0,
        out: PathBuf::new(),
    };
    let mut out = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .with_context(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--preset" => o.preset = value("--preset")?,
            "--data" => o.data = value("--data")?,
            "--seed" => {
                let v = value("--seed")?;
                o.seed = v
                    .parse()
                    .with_context(|| format!("--seed '{v}' is not a number"))?
            }
            "--out" => out = Some(PathBuf::from(value("--out")?)),
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
    o.out = out.unwrap_or_else(|| root().join("target/reproduce").join(&o.preset));
    Ok(o)
}

fn reproduce(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let start = Instant::now();
    run(Command::new(env!("CARGO")).current_dir(root()).args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "unlearn-cli",
    ]))?;
    let bin = root().join("target/release/unlearn");
    std::fs::create_dir_all(&o.out)
        .with_context(|| format!("cannot create {}", o.out.display()))?;
    let seed = o.seed.to_string();
    let arch: &[&str] = match o.preset.as_str() {
        "cifar10" | "cifar100" => &["--arch", "resnet18-cifar"],
        _ => &[],
    };
    for (name, scenario) in [("random", "random:0.1"), ("class", "class:3")] {
        let dir = o.out.join(format!("{name}-seed{seed}"));
        std::fs::create_dir_all(&dir)?;
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
                    &seed,
                    "--out",
                ])
                .arg(&split))?;
        }
        for (subset, file) in [
            ("train", "original.safetensors"),
            ("retain", "retrain.safetensors"),
        ] {
            let ckpt = dir.join(file);
            if !ckpt.exists() {
                eprintln!("== {scenario}: training on {subset}");
                run(Command::new(&bin)
                    .args([
                        "train", "--data", &o.data, "--preset", &o.preset, "--subset", subset,
                        "--seed", &seed,
                    ])
                    .args(arch)
                    .arg("--split")
                    .arg(&split)
                    .arg("--out")
                    .arg(&ckpt)
                    .arg("--log")
                    .arg(dir.join(format!("{subset}.log.jsonl"))))?;
            }
            let eval = dir.join(format!(
                "{}.eval.json",
                file.trim_end_matches(".safetensors")
            ));
            if !eval.exists() {
                run(Command::new(&bin)
                    .args(["eval", "--data", &o.data, "--checkpoint"])
                    .arg(&ckpt)
                    .arg("--split")
                    .arg(&split)
                    .arg("--json")
                    .arg(&eval))?;
            }
        }
    }
    eprintln!(
        "done in {:.0}s: {}",
        start.elapsed().as_secs_f64(),
        o.out.display()
    );
    Ok(())
}
