//! Throughput of one training step (forward + backward + SGD step) or of inference
//! (feature extraction), on synthetic input, for `cargo xtask bench`.
//!
//! ```text
//! cargo run --release -p unlearn-models --example bench_step -- \
//!     --model small-cnn|resnet18-cifar --mode train|infer --batch 128 \
//!     [--steps 20] [--warmup 3] [--reference] [--device cpu|cuda|cuda:N] [--tf32] \
//!     [--max-seconds S]
//! ```
//!
//! Prints one line `images_per_s <x>` (the median over the timed steps). `--reference`
//! switches the fast CPU kernels off (candle's own ops), for before/after comparisons.
//! The thread count is rayon's (`RAYON_NUM_THREADS`), which candle's matmul also follows.
//! `--device cuda` (a `--features cuda` build) runs on the GPU: each timed step ends with
//! a device synchronisation, so the clock covers the work and not just its launch;
//! `--tf32` lets cuBLAS use TF32 for f32 matrix products (candle's default is strict f32).
//! The input is drawn on the CPU and copied to the device before the timed steps.
//! `--max-seconds S` stops after the timed step that brings their total past `S` seconds
//! (at least one timed step; for capped runs on unknown hardware).

use std::time::Instant;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use unlearn_models::{Arch, Model, ModelSpec};
use unlearn_train::engine::cross_entropy;
use unlearn_train::optim::{Optimizer, OptimizerConfig, SgdConfig};

fn main() -> Result<()> {
    let mut model = "small-cnn".to_string();
    let mut mode = "train".to_string();
    let mut batch = 128usize;
    let mut steps = 20usize;
    let mut warmup = 3usize;
    let mut reference = false;
    let mut device = "cpu".to_string();
    let mut tf32 = false;
    let mut max_seconds = 0f64;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .with_context(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--model" => model = value()?,
            "--mode" => mode = value()?,
            "--batch" => batch = value()?.parse()?,
            "--steps" => steps = value()?.parse()?,
            "--warmup" => warmup = value()?.parse()?,
            "--reference" => reference = true,
            "--device" => device = value()?,
            "--tf32" => tf32 = true,
            "--max-seconds" => max_seconds = value()?.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    let (arch, shape) = match model.as_str() {
        "small-cnn" => (Arch::SmallCnn, [1, 28, 28]),
        "resnet18-cifar" | "resnet18" => (Arch::ResNet18Cifar, [3, 32, 32]),
        other => bail!("unknown model {other}"),
    };
    let dev = unlearn_models::device(&device)?;
    if tf32 {
        candle_core::cuda::set_gemm_reduced_precision_f32(true);
    }
    let spec = ModelSpec {
        arch,
        input_shape: shape,
        num_classes: 10,
    };
    let kernels = if reference {
        unlearn_models::kernels::Kernels::Reference
    } else {
        unlearn_models::kernels::Kernels::Fast
    };
    let net = Model::with_kernels(&spec, &dev, 0, kernels)?;
    let [c, h, w] = shape;
    let x = Tensor::randn(0f32, 1f32, (batch, c, h, w), &Device::Cpu)?.to_device(&dev)?;
    let labels: Vec<u32> = (0..batch as u32).map(|i| i % 10).collect();
    let y = Tensor::from_vec(labels, batch, &dev)?;
    let sgd = SgdConfig {
        lr: 0.01,
        momentum: 0.9,
        dampening: 0.0,
        nesterov: false,
        weight_decay: 5e-4,
    };
    let mut opt = Optimizer::new(OptimizerConfig::Sgd(sgd), net.store().parameters(), None)?;
    let mut times = Vec::with_capacity(steps);
    for i in 0..warmup + steps {
        let t = Instant::now();
        match mode.as_str() {
            "train" => {
                let loss = cross_entropy(&net.forward(&x, true)?, &y)?;
                let _ = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
                let grads = loss.backward()?;
                opt.step(&grads)?;
            }
            "infer" => {
                let f = net.features(&x, false)?;
                let _ = f.sum_all()?.to_scalar::<f32>()?;
            }
            other => bail!("unknown mode {other}"),
        }
        dev.synchronize()?;
        if i >= warmup {
            times.push(t.elapsed().as_secs_f64());
            if max_seconds > 0.0 && times.iter().sum::<f64>() >= max_seconds {
                break;
            }
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!("images_per_s {:.1}", batch as f64 / median);
    Ok(())
}
