//! Every architecture's gradients against PyTorch's, parameter by parameter.
//!
//! `tests/reference/gradient_parity.py` builds each architecture independently in PyTorch
//! (the small CNN written out, torchvision's ResNet-18 with both stems, Hugging Face's
//! `ViTForImageClassification` for the ViTs), fills every tensor and one input batch from a
//! generator both sides implement (so no weights are committed), runs one training-mode
//! forward pass (BatchNorm on batch statistics), back-propagates the mean cross-entropy
//! and writes, per parameter, a summary of its gradient (`gradient_parity.json`). Here the
//! same model is built by the toolkit, filled the same way, and every parameter's gradient
//! is compared with the summary.
//!
//! The reference runs in float64 on the same (f32-exact) values, and the input batch is
//! chosen so that no ReLU input lies within 3e-6 of 0 (a ReLU on the edge takes either
//! branch under f32 rounding, and one element changes every gradient below it). Tolerances:
//! - every logit and the loss: 1e-4 relative to the largest logit;
//! - every gradient's L2 norm and its four projections on generator vectors `<g, r_k>`:
//!   `1e-5 · ‖g‖ · ‖r_k‖` (we measure at most 1.2e-6; PyTorch's own float32 pass, up to
//!   1.3e-6), and 16 sampled entries within `1e-5 · ‖g‖_∞`;
//! - a gradient that is zero in exact arithmetic (a ViT key bias) must stay below 1e-6 of
//!   the case's largest gradient norm;
//! - the BatchNorm running statistics after the pass within 1e-5 of their norm.
//!
//! No parameter may be missing a gradient or be absent from the reference, and the
//! reference's parameters are exactly the model's.

use std::collections::BTreeMap;

use candle_core::{Device, Tensor};
use serde_json::Value;
use unlearn_models::{Arch, Model, ModelSpec};

#[path = "support/generator.rs"]
mod generator;
use generator::{num, uniform, values};

const FIXTURE: &str = include_str!("reference/gradient_parity.json");

/// `(scale, offset)` of a tensor, as `fill_rule` in the script.
fn fill_rule(name: &str, shape: &[usize]) -> (f64, f64) {
    let leaf = name.rsplit('.').next().unwrap_or(name);
    if leaf == "running_var" {
        return (0.25, 1.0);
    }
    if leaf == "running_mean" {
        return (0.1, 0.0);
    }
    let norm = ["bn", "downsample.1", "layernorm"]
        .iter()
        .any(|k| name.contains(k));
    if norm && leaf == "weight" {
        return (0.1, 1.0);
    }
    if leaf == "bias" || norm {
        return (0.1, 0.0);
    }
    if name.contains("cls_token") || name.contains("position_embeddings") {
        return (0.5, 0.0);
    }
    let fan_in: usize = shape.iter().skip(1).product::<usize>().max(1);
    (1.0 / (fan_in as f64).sqrt(), 0.0)
}

fn filled(name: &str, shape: &[usize]) -> Tensor {
    let n = shape.iter().product::<usize>();
    let (scale, offset) = fill_rule(name, shape);
    let v: Vec<f32> = uniform(name, n)
        .into_iter()
        .map(|u| (offset + scale * u) as f32)
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

/// Relative tolerance of the gradient summaries: 10× the worst error measured (1.2e-6,
/// ResNet-18's first BatchNorm bias), the order of PyTorch's own float32 error against the
/// same float64 reference (up to 1.3e-6).
const TOL: f64 = 1e-5;

/// A gradient whose float64 norm is below this share of the case's largest is zero in exact
/// arithmetic (a ViT key bias: softmax ignores a shift shared by a row) and must be as
/// small here.
const ZERO: f64 = 1e-6;

/// Compares a tensor with its summary; returns the worst relative error seen.
fn compare(what: &str, got: &[f64], want: &Value, tol: f64, scale: f64) -> f64 {
    assert_eq!(
        got.len() as u64,
        want["numel"].as_u64().unwrap(),
        "{what}: size"
    );
    let norm = num(&want["norm"]);
    let our_norm = got.iter().map(|g| g * g).sum::<f64>().sqrt();
    if norm < ZERO * scale {
        assert!(
            our_norm < ZERO * scale,
            "{what}: ‖g‖ {our_norm}, but it is {norm} in exact arithmetic (case scale {scale})"
        );
        return 0.0;
    }
    let max_abs = num(&want["max_abs"]);
    let mut worst = (our_norm - norm).abs() / norm;
    assert!(worst <= tol, "{what}: ‖g‖ {our_norm} vs PyTorch {norm}");
    let name = what.rsplit_once(' ').map_or(what, |(_, n)| n);
    for (k, p) in want["proj"].as_array().unwrap().iter().enumerate() {
        let r = uniform(&format!("proj{k}:{name}"), got.len());
        let r_norm = r.iter().map(|x| x * x).sum::<f64>().sqrt();
        let ours: f64 = got.iter().zip(&r).map(|(g, r)| g * r).sum();
        let err = (ours - num(p)).abs() / (norm * r_norm);
        worst = worst.max(err);
        assert!(
            err <= tol,
            "{what}: projection {k} {ours} vs PyTorch {} (relative {err:.2e})",
            num(p)
        );
    }
    for pair in want["at"].as_array().unwrap() {
        let i = pair[0].as_u64().unwrap() as usize;
        let w = num(&pair[1]);
        assert!(
            (got[i] - w).abs() <= tol * max_abs,
            "{what}[{i}]: {} vs PyTorch {w}",
            got[i]
        );
    }
    worst
}

fn arch_of(name: &str) -> Arch {
    name.parse().unwrap()
}

fn check_case(label: &str) {
    let fixture: Value = serde_json::from_str(FIXTURE).unwrap();
    let case = &fixture["cases"][label];
    let shape: Vec<usize> = case["input_shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let classes = case["classes"].as_u64().unwrap() as usize;
    let batch = case["batch"].as_u64().unwrap() as usize;
    let spec = ModelSpec {
        arch: arch_of(case["arch"].as_str().unwrap()),
        input_shape: [shape[0], shape[1], shape[2]],
        num_classes: classes,
    };
    let model = Model::new(&spec, &Device::Cpu, 0).unwrap();
    for (name, var, _) in model.store().all() {
        if var.dtype().is_float() {
            var.set(&filled(&name, var.dims())).unwrap();
        }
    }
    let mut x_shape = vec![batch];
    x_shape.extend(&shape);
    let x = filled(case["input"].as_str().unwrap(), &x_shape);
    let labels: Vec<u32> = (0..batch).map(|i| ((7 * i + 3) % classes) as u32).collect();
    let y = Tensor::new(labels.as_slice(), &Device::Cpu).unwrap();
    let logits = model.forward(&x, true).unwrap();
    let loss = candle_nn::loss::cross_entropy(&logits, &y).unwrap();

    let want_logits: Vec<f64> = case["logits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(num))
        .collect();
    let got_logits = values(&logits);
    let scale = want_logits.iter().fold(0f64, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got_logits.iter().zip(&want_logits).enumerate() {
        assert!(
            (g - w).abs() <= 1e-4 * scale,
            "{label}: logit {i}: {g} vs PyTorch {w}"
        );
    }
    if std::env::var_os("PARITY_VERBOSE").is_some() {
        let worst = got_logits
            .iter()
            .zip(&want_logits)
            .map(|(g, w)| (g - w).abs())
            .fold(0f64, f64::max);
        eprintln!("{label}: worst logit difference {worst:.3e} (scale {scale:.3})");
    }
    let want_loss = num(&case["loss"]);
    let got_loss = values(&loss)[0];
    assert!(
        (got_loss - want_loss).abs() <= 1e-4 * want_loss.abs().max(1.0),
        "{label}: loss {got_loss} vs PyTorch {want_loss}"
    );

    let grads = loss.backward().unwrap();
    let want = case["gradients"].as_object().unwrap();
    let ours: BTreeMap<String, _> = model.store().parameters().into_iter().collect();
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{label}: the parameters differ from PyTorch's"
    );
    // Gradients that are zero in exact arithmetic (a key bias: softmax ignores a shift
    // shared by a row) are compared against the case's scale, not their own rounding noise.
    let scale = want.values().map(|w| num(&w["norm"])).fold(0f64, f64::max);
    let mut worst = (0f64, String::new());
    for (name, var) in &ours {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{label}: {name} received no gradient"));
        let err = compare(
            &format!("{label} {name}"),
            &values(g),
            &want[name],
            TOL,
            scale,
        );
        if std::env::var_os("PARITY_VERBOSE").is_some() {
            eprintln!("{label} {name}: relative error {err:.2e}");
        }
        if err > worst.0 {
            worst = (err, name.clone());
        }
    }
    for (name, want) in case["buffers_after"].as_object().unwrap() {
        let got = values(model.store().get(name).unwrap().as_tensor());
        compare(&format!("{label} {name}"), &got, want, TOL, 0.0);
    }
    println!(
        "{label}: {} parameters, loss {got_loss:.6} (PyTorch {want_loss:.6}), worst relative \
         gradient error {:.2e} ({})",
        ours.len(),
        worst.0,
        worst.1
    );
}

#[test]
fn small_cnn_gradients_match_pytorch() {
    check_case("small-cnn");
}

#[test]
fn resnet18_cifar_stem_gradients_match_pytorch_in_training_mode() {
    check_case("resnet18-cifar");
}

#[test]
fn resnet18_imagenet_stem_gradients_match_pytorch_in_training_mode() {
    check_case("resnet18");
}

#[test]
fn vit_tiny_gradients_match_huggingface_vit() {
    check_case("vit-tiny");
}

#[test]
fn vit_b16_gradients_match_huggingface_vit_on_a_small_input() {
    check_case("vit-b16");
}
