//! `cargo xtask bench`: training-step and inference throughput of this project against
//! PyTorch on the same work (architecture, batch size, thread count, f32, synthetic input).
//!
//! Ours is `crates/unlearn-models/examples/bench_step.rs` (release build), PyTorch is
//! `scripts/bench_torch.py`; each prints `images_per_s <x>`, the median over its timed
//! steps. Runs alternate between the two (the first side swaps every round) so that load
//! from other processes hits both alike; the table reports the median over rounds.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::root;

struct Case {
    model: &'static str,
    mode: &'static str,
    batch: usize,
    steps: usize,
    warmup: usize,
}

const CASES: &[Case] = &[
    Case {
        model: "small-cnn",
        mode: "train",
        batch: 128,
        steps: 20,
        warmup: 3,
    },
    Case {
        model: "resnet18-cifar",
        mode: "train",
        batch: 32,
        steps: 3,
        warmup: 1,
    },
    Case {
        model: "small-cnn",
        mode: "infer",
        batch: 128,
        steps: 30,
        warmup: 3,
    },
    Case {
        model: "resnet18-cifar",
        mode: "infer",
        batch: 32,
        steps: 5,
        warmup: 1,
    },
];

/// Arguments of `cargo xtask bench`.
#[derive(clap::Args, Clone, Debug)]
pub struct BenchArgs {
    /// Alternating rounds per case; the median is reported.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub runs: u64,
    /// Threads for both sides (RAYON_NUM_THREADS / torch.set_num_threads).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..))]
    pub threads: u64,
    /// Benchmark one model: small-cnn or resnet18-cifar.
    #[arg(long)]
    pub only: Option<String>,
    /// Run ours with the fast kernels off (candle's own ops), for before/after.
    #[arg(long)]
    pub reference: bool,
    /// Cap PyTorch at AVX2 (ONEDNN_MAX_CPU_ISA=AVX2, ATEN_CPU_CAPABILITY=avx2), as on the
    /// issue's AVX2 machine; without it PyTorch uses AVX-512 where the CPU has it.
    #[arg(long)]
    pub torch_avx2: bool,
}

/// Entry point of `cargo xtask bench`.
pub fn run(a: &BenchArgs) -> Result<()> {
    let runs = a.runs as usize;
    let threads = a.threads as usize;
    let only = a.only.clone();
    let reference = a.reference;
    let avx2 = a.torch_avx2;
    let root = root();
    let status = Command::new(env!("CARGO"))
        .current_dir(&root)
        .args(["build", "--release", "--quiet", "-p", "unlearn-models"])
        .args(["--example", "bench_step"])
        .status()
        .context("cannot start cargo")?;
    if !status.success() {
        bail!("building the bench_step example failed");
    }
    let torch = Command::new("python3")
        .args(["-c", "import torch, torchvision"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !torch {
        eprintln!(
            "PyTorch not found: benchmarking ours alone. To compare, install it with\n  \
             python3 -m pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu"
        );
    }
    let cpu = cpu_model();
    println!(
        "machine: {cpu}, threads {threads}, f32, {runs} alternating rounds, median images/s{}{}",
        if avx2 { ", PyTorch capped at AVX2" } else { "" },
        if reference {
            ", ours = candle reference ops"
        } else {
            ""
        }
    );
    println!(
        "{:<16} {:<6} {:>5} {:>12} {:>12} {:>8}",
        "model", "mode", "batch", "ours", "pytorch", "ratio"
    );
    let mut small_ratio = None;
    for case in CASES {
        if only.as_deref().is_some_and(|m| m != case.model) {
            continue;
        }
        let common = [
            "--model".to_string(),
            case.model.into(),
            "--mode".into(),
            case.mode.into(),
            "--batch".into(),
            case.batch.to_string(),
            "--steps".into(),
            case.steps.to_string(),
            "--warmup".into(),
            case.warmup.to_string(),
        ];
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for round in 0..runs {
            let torch_first = torch && round % 2 == 1;
            if torch_first {
                theirs.push(run_torch(&root, &common, threads, avx2)?);
            }
            ours.push(run_ours(&root, &common, threads, reference)?);
            if torch && !torch_first {
                theirs.push(run_torch(&root, &common, threads, avx2)?);
            }
        }
        let o = median(&mut ours);
        let (t, ratio) = if torch {
            let t = median(&mut theirs);
            (format!("{t:.1}"), Some(o / t))
        } else {
            ("-".into(), None)
        };
        let r = ratio.map_or("-".into(), |r| format!("{r:.2}"));
        println!(
            "{:<16} {:<6} {:>5} {:>12.1} {:>12} {:>8}",
            case.model, case.mode, case.batch, o, t, r
        );
        if case.model == "small-cnn" && case.mode == "train" {
            small_ratio = Some(ratio);
        }
    }
    match small_ratio {
        Some(Some(r)) => println!("ratio small-cnn-train {r:.2}"),
        Some(None) => println!("ratio small-cnn-train n/a (no PyTorch)"),
        None => {}
    }
    Ok(())
}

fn run_ours(
    root: &std::path::Path,
    common: &[String],
    threads: usize,
    reference: bool,
) -> Result<f64> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root)
        .args(["run", "--release", "--quiet", "-p", "unlearn-models"])
        .args(["--example", "bench_step", "--"])
        .args(common)
        .env("RAYON_NUM_THREADS", threads.to_string());
    if reference {
        cmd.arg("--reference");
    }
    images_per_s(&mut cmd)
}

fn run_torch(root: &std::path::Path, common: &[String], threads: usize, avx2: bool) -> Result<f64> {
    let mut cmd = Command::new("python3");
    cmd.current_dir(root)
        .arg("scripts/bench_torch.py")
        .args(common)
        .args(["--threads", &threads.to_string()])
        .env("OMP_NUM_THREADS", threads.to_string());
    if avx2 {
        cmd.env("ONEDNN_MAX_CPU_ISA", "AVX2")
            .env("ATEN_CPU_CAPABILITY", "avx2");
    }
    images_per_s(&mut cmd)
}

/// Runs `cmd` and parses its `images_per_s <x>` line.
fn images_per_s(cmd: &mut Command) -> Result<f64> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("images_per_s "))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("{cmd:?}: no images_per_s line in\n{stdout}"))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn cpu_model() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    format!("{model} ({cores} logical CPUs)")
}
