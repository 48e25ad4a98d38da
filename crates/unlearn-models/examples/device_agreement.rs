//! CPU-vs-GPU agreement (issue 7): builds the same model with the same seed on two devices,
//! feeds both the same seeded synthetic batches and compares, within stated tolerances:
//!
//! - the initial tensors (must be bit-identical: both come from the same seeded streams);
//! - eval-mode logits on every batch;
//! - one SGD training step on the first batch (forward in train mode + cross-entropy +
//!   backward + SGD lr 0.01, momentum 0.9, weight decay 5e-4, as `bench_step`): the loss,
//!   the parameter updates `after − before`, and the BatchNorm running statistics;
//! - eval-mode logits on every batch after that step.
//!
//! ```text
//! cargo run --release -p unlearn-models --example device_agreement -- \
//!     [--a cpu] [--b cuda] [--model all|resnet18-cifar|small-cnn] [--batch 32] \
//!     [--batches 3] [--seed 0] [--tf32] [--b-reference] [--perturb-b EPS] [--verbose] \
//!     [--logits-tol 1e-3] [--update-tol 2e-2]
//! ```
//!
//! Logits, loss and running statistics are compared scale-relative, `max |a − b| / max |a|`
//! (elementwise relative error means nothing for values near zero). The updates are
//! compared as whole vectors: `‖Δa − Δb‖₂ / ‖Δa‖₂` over all parameters (with the cosine,
//! and the worst tensor with its norm ratio `‖Δb‖ / ‖Δa‖` for diagnosis). Prints one line per
//! check with `PASS` / `FAIL`, `agreement <model> PASS|FAIL` per model and a last line
//! `agreement PASS|FAIL|ERROR`. Exit status 0: all passed, 1: a check failed, 2: an error
//! (for example `--b cuda` in a build without CUDA, or no usable GPU).
//!
//! # Tolerances
//! Both sides compute in f32 with different algorithms and summation orders: on the CPU
//! our kernels (im2col + gemm, Winograd F(2×2, 3×3), BatchNorm statistics in f64), on
//! CUDA candle's ops (im2col + cuBLAS, strict FP32 unless `--tf32`). Measured on the CPU,
//! ResNet-18, batch 16 (`--a cpu --b cpu --b-reference`: our kernels against candle's ops,
//! the change of algorithm without the change of device): eval logits 7.5e-7, loss 1.9e-7,
//! running statistics 5e-6, updates 3.2e-3 (cosine 0.999995), logits after the step 8e-5.
//! The updates are far more sensitive than the logits: at initialisation each weight
//! gradient is a sum of many terms of both signs, and a ReLU whose input sits within
//! rounding of zero flips. `--perturb-b 1e-6` (side B's training input changed by
//! 1e-6·x², a few ulps; same device and kernels) moves them by 4.9e-3 at batch 32 and
//! 1.7e-2 at 1e-5: that is the floor any two f32 implementations can agree to.
//! Defaults: logits, loss and running statistics 1e-3; updates and logits after the step
//! 2e-2. With `--tf32` (products with a 10-bit mantissa, ≈ 5e-4 relative each) 1e-2 and
//! 1e-1.
//!
//! Known difference: candle 0.11's `max_pool2d` backward scales the gradient by 1/k²
//! (see `tests/kernels.rs`), our CPU kernels do not (as PyTorch), so the small CNN's
//! convolution updates differ on CUDA (and with `--b-reference`): the check reports FAIL,
//! with `‖Δb‖ / ‖Δa‖` well below 1 in `conv*`.
//!
//! `--b-reference` runs side B with the fast CPU kernels off (candle's ops, what the CUDA
//! side runs); on a machine without a GPU `--a cpu --b cpu --b-reference` exercises the
//! whole comparison.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use rand_distr::{Distribution, StandardNormal};
use unlearn_models::kernels::Kernels;
use unlearn_models::{Arch, Model, ModelSpec};
use unlearn_train::engine::cross_entropy;
use unlearn_train::optim::{Optimizer, OptimizerConfig, SgdConfig};

struct Opts {
    a: String,
    b: String,
    models: Vec<String>,
    batch: usize,
    batches: usize,
    seed: u64,
    tf32: bool,
    b_reference: bool,
    perturb_b: f64,
    verbose: bool,
    logits_tol: f64,
    update_tol: f64,
}

fn parse() -> Result<Opts> {
    let mut o = Opts {
        a: "cpu".into(),
        b: "cuda".into(),
        models: vec!["resnet18-cifar".into(), "small-cnn".into()],
        batch: 32,
        batches: 3,
        seed: 0,
        tf32: false,
        b_reference: false,
        perturb_b: 0.0,
        verbose: false,
        logits_tol: f64::NAN,
        update_tol: f64::NAN,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .with_context(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--a" => o.a = value()?,
            "--b" => o.b = value()?,
            "--model" => {
                let m = value()?;
                o.models = match m.as_str() {
                    "all" => vec!["resnet18-cifar".into(), "small-cnn".into()],
                    "resnet18-cifar" | "small-cnn" => vec![m],
                    other => {
                        bail!("unknown model {other}: expected all, resnet18-cifar or small-cnn")
                    }
                }
            }
            "--batch" => o.batch = value()?.parse().context("--batch")?,
            "--batches" => o.batches = value()?.parse().context("--batches")?,
            "--seed" => o.seed = value()?.parse().context("--seed")?,
            "--tf32" => o.tf32 = true,
            "--b-reference" => o.b_reference = true,
            "--perturb-b" => o.perturb_b = value()?.parse().context("--perturb-b")?,
            "--verbose" => o.verbose = true,
            "--logits-tol" => o.logits_tol = value()?.parse().context("--logits-tol")?,
            "--update-tol" => o.update_tol = value()?.parse().context("--update-tol")?,
            "-h" | "--help" => {
                println!(
                    "device_agreement [--a cpu] [--b cuda] [--model all|resnet18-cifar|small-cnn] \
                     [--batch 32] [--batches 3] [--seed 0] [--tf32] [--b-reference] \
                     [--perturb-b EPS] [--verbose] [--logits-tol X] [--update-tol Y]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    if o.batch < 2 || o.batches == 0 {
        bail!("--batch must be at least 2 (BatchNorm) and --batches at least 1");
    }
    if o.logits_tol.is_nan() {
        o.logits_tol = if o.tf32 { 1e-2 } else { 1e-3 };
    }
    if o.update_tol.is_nan() {
        o.update_tol = if o.tf32 { 1e-1 } else { 2e-2 };
    }
    Ok(o)
}

/// A tensor's values as f64 on the host.
fn host(t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.to_device(&Device::Cpu)?
        .to_dtype(DType::F64)?
        .flatten_all()?
        .to_vec1::<f64>()?)
}

/// `(max |a − b|, max |a|)`.
fn diff(a: &[f64], b: &[f64]) -> Result<(f64, f64)> {
    if a.len() != b.len() {
        bail!("sizes differ: {} vs {}", a.len(), b.len());
    }
    let mut d = 0f64;
    let mut s = 0f64;
    for (x, y) in a.iter().zip(b) {
        if !x.is_finite() || !y.is_finite() {
            return Ok((f64::INFINITY, s));
        }
        d = d.max((x - y).abs());
        s = s.max(x.abs());
    }
    Ok((d, s))
}

fn rel(d: f64, s: f64) -> f64 {
    if d == 0.0 {
        0.0
    } else {
        d / s.max(1e-30)
    }
}

/// Records checks and prints them.
struct Report {
    failed: bool,
}

impl Report {
    fn check(&mut self, what: &str, detail: String, ok: bool) {
        println!(
            "  {what:<28} {detail}  {}",
            if ok { "PASS" } else { "FAIL" }
        );
        self.failed |= !ok;
    }
}

/// Seeded synthetic batches (standard normal input, labels cycling with an offset), on the CPU.
fn batches(o: &Opts, shape: [usize; 3]) -> Result<Vec<(Tensor, Tensor)>> {
    let [c, h, w] = shape;
    (0..o.batches)
        .map(|k| {
            let mut rng = unlearn_data::rng::seeded(o.seed, &format!("device-agreement:x{k}"));
            let n = o.batch * c * h * w;
            let data: Vec<f32> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
            let x = Tensor::from_vec(data, (o.batch, c, h, w), &Device::Cpu)?;
            let labels: Vec<u32> = (0..o.batch as u32)
                .map(|i| (i * 7 + k as u32) % 10)
                .collect();
            let y = Tensor::from_vec(labels, o.batch, &Device::Cpu)?;
            Ok((x, y))
        })
        .collect()
}

/// One side: a device and a model on it (built with its own choice of kernels).
struct Side {
    net: Model,
    dev: Device,
    /// Adds `perturb · x²` to the training input (a rounding-level change, to measure the
    /// sensitivity of one step).
    perturb: f64,
}

impl Side {
    fn logits(&self, xs: &[(Tensor, Tensor)]) -> Result<Vec<Vec<f64>>> {
        xs.iter()
            .map(|(x, _)| host(&self.net.forward(&x.to_device(&self.dev)?, false)?))
            .collect()
    }

    fn snapshot(&self) -> Result<BTreeMap<String, Vec<f64>>> {
        self.net
            .store()
            .all()
            .into_iter()
            .map(|(name, var, _)| Ok((name, host(var.as_tensor())?)))
            .collect()
    }

    /// One SGD step on `(x, y)`; returns the loss.
    fn step(&self, x: &Tensor, y: &Tensor) -> Result<f64> {
        let sgd = SgdConfig {
            lr: 0.01,
            momentum: 0.9,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 5e-4,
        };
        let mut opt = Optimizer::new(
            OptimizerConfig::Sgd(sgd),
            self.net.store().parameters(),
            None,
        )?;
        let (x, y) = (x.to_device(&self.dev)?, y.to_device(&self.dev)?);
        let x = if self.perturb > 0.0 {
            (&x + (x.sqr()? * self.perturb)?)?
        } else {
            x
        };
        let loss = cross_entropy(&self.net.forward(&x, true)?, &y)?;
        let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        let grads = loss.backward()?;
        opt.step(&grads)?;
        self.dev.synchronize()?;
        Ok(value)
    }
}

fn compare_logits(
    r: &mut Report,
    what: &str,
    a: &[Vec<f64>],
    b: &[Vec<f64>],
    tol: f64,
) -> Result<()> {
    let (mut d, mut s) = (0f64, 0f64);
    let mut argmax_same = 0usize;
    let mut rows = 0usize;
    for (la, lb) in a.iter().zip(b) {
        let (di, si) = diff(la, lb)?;
        d = d.max(di);
        s = s.max(si);
        for (ra, rb) in la.chunks(10).zip(lb.chunks(10)) {
            let am = |v: &[f64]| {
                v.iter()
                    .enumerate()
                    .fold(
                        (0, f64::NEG_INFINITY),
                        |m, (i, &x)| if x > m.1 { (i, x) } else { m },
                    )
                    .0
            };
            argmax_same += usize::from(am(ra) == am(rb));
            rows += 1;
        }
    }
    let e = rel(d, s);
    r.check(
        what,
        format!(
            "max_abs {d:.3e} max|a| {s:.3e} rel {e:.3e} (tol {tol:.0e}); same arg-max {argmax_same}/{rows}"
        ),
        e <= tol,
    );
    Ok(())
}

fn run_model(o: &Opts, name: &str, da: &Device, db: &Device) -> Result<bool> {
    let (arch, shape) = match name {
        "small-cnn" => (Arch::SmallCnn, [1, 28, 28]),
        _ => (Arch::ResNet18Cifar, [3, 32, 32]),
    };
    let spec = ModelSpec {
        arch,
        input_shape: shape,
        num_classes: 10,
    };
    println!(
        "agreement {name}: a={} b={}{} batch {} batches {} seed {}{}",
        o.a,
        o.b,
        if o.b_reference { " (candle ops)" } else { "" },
        o.batch,
        o.batches,
        o.seed,
        if o.tf32 { " tf32" } else { "" }
    );
    let a = Side {
        net: Model::with_kernels(&spec, da, o.seed, Kernels::Fast)?,
        dev: da.clone(),
        perturb: 0.0,
    };
    let b = Side {
        net: Model::with_kernels(
            &spec,
            db,
            o.seed,
            if o.b_reference {
                Kernels::Reference
            } else {
                Kernels::Fast
            },
        )?,
        dev: db.clone(),
        perturb: o.perturb_b,
    };
    let mut r = Report { failed: false };
    let xs = batches(o, shape)?;

    // 1. Initial tensors: bit-identical.
    let (ia, ib) = (a.snapshot()?, b.snapshot()?);
    let mut worst = 0f64;
    for (k, va) in &ia {
        let vb = ib
            .get(k)
            .with_context(|| format!("{k} missing on side b"))?;
        worst = worst.max(diff(va, vb)?.0);
    }
    r.check(
        "initial tensors",
        format!("{} tensors, max_abs {worst:.3e} (must be 0)", ia.len()),
        worst == 0.0,
    );

    // 2. Eval-mode logits.
    compare_logits(
        &mut r,
        "logits (eval)",
        &a.logits(&xs)?,
        &b.logits(&xs)?,
        o.logits_tol,
    )?;

    // 3. One SGD step on the first batch.
    let (x, y) = &xs[0];
    let (loss_a, loss_b) = (a.step(x, y)?, b.step(x, y)?);
    let le = rel((loss_a - loss_b).abs(), loss_a.abs());
    r.check(
        "loss (train mode)",
        format!(
            "a {loss_a:.6} b {loss_b:.6} rel {le:.3e} (tol {:.0e})",
            o.logits_tol
        ),
        le <= o.logits_tol,
    );
    compare_updates(&mut r, o, &a, (&ia, &ib), (&a.snapshot()?, &b.snapshot()?))?;

    // 4. Eval-mode logits after the step.
    compare_logits(
        &mut r,
        "logits after the step",
        &a.logits(&xs)?,
        &b.logits(&xs)?,
        o.update_tol,
    )?;
    println!(
        "agreement {name} {}",
        if r.failed { "FAIL" } else { "PASS" }
    );
    Ok(!r.failed)
}

type Snapshot = BTreeMap<String, Vec<f64>>;

/// Step 3 of the check: the parameter updates of one SGD step on both sides (relative L2
/// of the whole update vector, per tensor for the record) and the BatchNorm statistics.
fn compare_updates(
    r: &mut Report,
    o: &Opts,
    a: &Side,
    (ia, ib): (&Snapshot, &Snapshot),
    (pa, pb): (&Snapshot, &Snapshot),
) -> Result<()> {
    let kinds: BTreeMap<String, bool> = a
        .net
        .store()
        .all()
        .into_iter()
        .map(|(n, _, k)| (n, k == unlearn_models::TensorKind::Parameter))
        .collect();
    // Updates: the L2 distance of the whole update vectors relative to the update's norm
    // (tolerance); per tensor the same ratio, and its worst, for the record.
    let (mut d2, mut n2, mut dot, mut nb2) = (0f64, 0f64, 0f64, 0f64);
    let (mut wt, mut wt_name) = (0f64, String::new());
    let (mut wb, mut wb_name) = (0f64, String::new());
    let verbose = o.verbose;
    let mut worst_ratio = 1f64;
    for (k, after_a) in pa {
        let after_b = &pb[k];
        if kinds[k] {
            let (mut td2, mut tn2) = (0f64, 0f64);
            for ((xa, xb), (ba, bb)) in after_a.iter().zip(after_b).zip(ia[k].iter().zip(&ib[k])) {
                let (ua, ub) = (xa - ba, xb - bb);
                td2 += (ua - ub) * (ua - ub);
                tn2 += ua * ua;
                dot += ua * ub;
                nb2 += ub * ub;
            }
            d2 += td2;
            n2 += tn2;
            let e = rel(td2.sqrt(), tn2.sqrt());
            if verbose {
                println!(
                    "    update {k:<32} rel L2 {e:.3e} (|update| {:.3e})",
                    tn2.sqrt()
                );
            }
            if e >= wt || e.is_nan() {
                wt = e;
                wt_name = k.clone();
                let tb2: f64 = after_b
                    .iter()
                    .zip(&ib[k])
                    .map(|(x, y)| (x - y) * (x - y))
                    .sum();
                worst_ratio = tb2.sqrt() / tn2.sqrt().max(1e-300);
            }
        } else {
            let (d, s) = diff(after_a, after_b)?;
            let e = rel(d, s);
            if e >= wb || e.is_nan() {
                wb = e;
                wb_name = k.clone();
            }
        }
    }
    let wu = rel(d2.sqrt(), n2.sqrt());
    let cos = dot / (n2.sqrt() * nb2.sqrt()).max(1e-300);
    r.check(
        "parameter updates (1 step)",
        format!(
            "rel L2 {wu:.3e} (tol {:.0e}), cosine {cos:.6}; worst tensor {wt_name} rel L2 {wt:.3e}, |b|/|a| {worst_ratio:.3}",
            o.update_tol
        ),
        wu <= o.update_tol,
    );
    if !wb_name.is_empty() {
        r.check(
            "BatchNorm running stats",
            format!("worst rel {wb:.3e} in {wb_name} (tol {:.0e})", o.logits_tol),
            wb <= o.logits_tol,
        );
    }

    Ok(())
}

fn run() -> Result<bool> {
    let o = parse()?;
    let da = unlearn_models::device(&o.a)?;
    let db = unlearn_models::device(&o.b)?;
    if o.tf32 {
        candle_core::cuda::set_gemm_reduced_precision_f32(true);
    }
    let mut ok = true;
    for m in &o.models {
        ok &= run_model(&o, m, &da, &db)?;
    }
    Ok(ok)
}

fn main() {
    match run() {
        Ok(ok) => {
            println!("agreement {}", if ok { "PASS" } else { "FAIL" });
            std::process::exit(if ok { 0 } else { 1 });
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            println!("agreement ERROR");
            std::process::exit(2);
        }
    }
}
