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

/// Floating-point operations per image of the convolutions and matrix products, as
/// `torch.utils.flop_counter.FlopCounterMode` counts them on `scripts/bench_torch.py`'s
/// models (forward under `no_grad` for `infer`; forward, cross-entropy and backward for
/// `train`, per image of a batch of 2). Element-wise work is not counted.
fn flops_per_image(model: &str, mode: &str) -> Option<f64> {
    match (model, mode) {
        ("small-cnn", "infer") => Some(8_482_304.0),
        ("small-cnn", "train") => Some(24_995_328.0),
        ("resnet18-cifar", "infer") => Some(1_110_845_440.0),
        ("resnet18-cifar", "train") => Some(3_328_997_376.0),
        _ => None,
    }
}

/// Products of two 2,048 × 2,048 `f32` matrices in PyTorch with `threads` threads: the
/// machine's practical matrix-product peak in GFLOP/s (the fastest of 10 after 3
/// unmeasured; the fastest, because other load only ever slows a run down).
const PEAK_SCRIPT: &str = "
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
a = torch.randn(2048, 2048); b = torch.randn(2048, 2048)
for _ in range(3): a @ b
best = min((lambda t: (a @ b, time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(10))
print('gflops', 2 * 2048 ** 3 / best / 1e9)
";

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
    /// Build ours with the `avx512` feature (gemm's AVX-512 kernels; other last bits).
    #[arg(long)]
    pub avx512: bool,
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
        .args(a.avx512.then_some("--features=avx512"))
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
        } else if a.avx512 {
            ", ours built with --features avx512"
        } else {
            ""
        }
    );
    let peak = if torch { peak_gflops(threads) } else { None };
    match peak {
        Some(p) => {
            println!("peak: {p:.0} GFLOP/s (PyTorch f32 matrix product, 2048³, {threads} threads)")
        }
        None => println!("peak: not measured (needs PyTorch)"),
    }
    println!(
        "{:<16} {:<6} {:>5} {:>12} {:>12} {:>8} {:>14} {:>14}",
        "model", "mode", "batch", "ours", "pytorch", "ratio", "ours GFLOP/s", "pytorch GFLOP/s"
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
            ours.push(run_ours(&root, &common, threads, reference, a.avx512)?);
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
        let fl = flops_per_image(case.model, case.mode);
        let gflops = |ips: f64| {
            let g = fl.map_or(0.0, |f| f * ips / 1e9);
            match peak {
                Some(p) => format!("{g:.1} ({:.0}%)", 100.0 * g / p),
                None => format!("{g:.1}"),
            }
        };
        let tg = if torch {
            gflops(median(&mut theirs))
        } else {
            "-".into()
        };
        println!(
            "{:<16} {:<6} {:>5} {:>12.1} {:>12} {:>8} {:>14} {:>14}",
            case.model,
            case.mode,
            case.batch,
            o,
            t,
            r,
            gflops(o),
            tg
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
    avx512: bool,
) -> Result<f64> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(root)
        .args(["run", "--release", "--quiet", "-p", "unlearn-models"])
        .args(avx512.then_some("--features=avx512"))
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

/// [`PEAK_SCRIPT`]'s GFLOP/s, or `None` when it fails (said on stderr).
fn peak_gflops(threads: usize) -> Option<f64> {
    let out = Command::new("python3")
        .args(["-c", PEAK_SCRIPT, &threads.to_string()])
        .env("OMP_NUM_THREADS", threads.to_string())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let peak = text
        .lines()
        .find_map(|l| l.strip_prefix("gflops "))
        .and_then(|v| v.trim().parse().ok());
    if peak.is_none() {
        eprintln!(
            "note: the peak measurement failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    peak
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
