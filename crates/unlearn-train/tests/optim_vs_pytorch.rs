//! Optimisers and schedules against PyTorch.
//!
//! Expected values: `tests/reference/optim_expected.json`, written by
//! `python3 crates/unlearn-train/tests/reference/optim_reference.py` (torch.optim.SGD,
//! torch.optim.AdamW, clip_grad_norm_, MultiStepLR, CosineAnnealingLR, LinearLR).
//! Tolerance 1e-6 absolute: both sides compute in f32, and the update formulas are the same
//! sequence of operations up to f32 rounding.

use candle_core::{Device, Tensor, Var};
use serde_json::Value;
use unlearn_train::{AdamWConfig, LrSchedule, Optimizer, OptimizerConfig, Schedule, SgdConfig};

fn expected() -> Value {
    let text = include_str!("reference/optim_expected.json");
    serde_json::from_str(text).expect("valid reference JSON")
}

fn vecf(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn run_case(cfg: OptimizerConfig, clip: Option<f64>, case: &str) {
    let e = expected();
    let p0 = vecf(&e["p0"]);
    let var = Var::from_tensor(&Tensor::new(p0.as_slice(), &Device::Cpu).unwrap()).unwrap();
    let mut opt = Optimizer::new(cfg, vec![("p".into(), var.clone())], clip).unwrap();
    let grads = e["grads"].as_array().unwrap();
    let want = e["cases"][case].as_array().unwrap();
    for (step, (g, w)) in grads.iter().zip(want).enumerate() {
        let g = Tensor::new(vecf(g).as_slice(), &Device::Cpu).unwrap();
        // d/dp sum(p * g) = g exactly.
        let loss = var.as_tensor().mul(&g).unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        opt.step(&grads).unwrap();
        let got = var.as_tensor().to_vec1::<f32>().unwrap();
        for (i, (a, b)) in got.iter().zip(vecf(w)).enumerate() {
            assert!(
                (a - b).abs() < 1e-6,
                "{case}: step {step}, element {i}: ours {a}, PyTorch {b}"
            );
        }
    }
}

#[test]
fn sgd_plain_matches_pytorch() {
    // torch.optim.SGD(ps, lr=0.1)
    let cfg = SgdConfig {
        lr: 0.1,
        momentum: 0.0,
        dampening: 0.0,
        nesterov: false,
        weight_decay: 0.0,
    };
    run_case(OptimizerConfig::Sgd(cfg), None, "sgd_plain");
}

#[test]
fn sgd_momentum_weight_decay_matches_pytorch() {
    // torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=5e-4)
    let cfg = SgdConfig {
        lr: 0.05,
        momentum: 0.9,
        dampening: 0.0,
        nesterov: false,
        weight_decay: 5e-4,
    };
    run_case(OptimizerConfig::Sgd(cfg), None, "sgd_momentum_wd");
}

#[test]
fn sgd_nesterov_matches_pytorch() {
    // torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
    let cfg = SgdConfig {
        lr: 0.05,
        momentum: 0.9,
        dampening: 0.0,
        nesterov: true,
        weight_decay: 1e-3,
    };
    run_case(OptimizerConfig::Sgd(cfg), None, "sgd_nesterov");
}

#[test]
fn sgd_dampening_matches_pytorch() {
    // torch.optim.SGD(ps, lr=0.05, momentum=0.8, dampening=0.1)
    let cfg = SgdConfig {
        lr: 0.05,
        momentum: 0.8,
        dampening: 0.1,
        nesterov: false,
        weight_decay: 0.0,
    };
    run_case(OptimizerConfig::Sgd(cfg), None, "sgd_dampening");
}

#[test]
fn adamw_matches_pytorch() {
    // torch.optim.AdamW(ps, lr=0.01)  (defaults: betas (0.9, 0.999), eps 1e-8, weight_decay 0.01)
    let cfg = AdamWConfig {
        lr: 0.01,
        ..Default::default()
    };
    run_case(OptimizerConfig::AdamW(cfg), None, "adamw");
    // torch.optim.AdamW(ps, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)
    let cfg = AdamWConfig {
        lr: 0.02,
        beta1: 0.8,
        beta2: 0.99,
        eps: 1e-6,
        weight_decay: 0.1,
    };
    run_case(OptimizerConfig::AdamW(cfg), None, "adamw_wd");
}

#[test]
fn gradient_clipping_matches_pytorch() {
    // torch.nn.utils.clip_grad_norm_([p], 1.0) then torch.optim.SGD(ps, lr=0.1, momentum=0.9)
    let cfg = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        dampening: 0.0,
        nesterov: false,
        weight_decay: 0.0,
    };
    run_case(OptimizerConfig::Sgd(cfg), Some(1.0), "sgd_clip");
}

fn check_schedule(s: &LrSchedule, case: &str, steps_per_epoch: usize) {
    let e = expected();
    let want = e["schedules"][case].as_array().unwrap();
    // PyTorch's list has one entry per scheduler step; for the warm-up case a scheduler
    // step is one batch (steps_per_epoch = 3), for the others one epoch.
    for (i, w) in want.iter().enumerate() {
        let (epoch, step) = (i / steps_per_epoch, i % steps_per_epoch);
        let got = s.lr_at(0.1, epoch, step, steps_per_epoch, 8);
        let w = w.as_f64().unwrap();
        assert!(
            (got - w).abs() < 1e-9,
            "{case}[{i}]: ours {got}, PyTorch {w}"
        );
    }
}

#[test]
fn schedules_match_pytorch() {
    // MultiStepLR(milestones=[3, 6], gamma=0.1)
    let ms = LrSchedule {
        schedule: Schedule::MultiStep {
            milestones: vec![3, 6],
            gamma: 0.1,
        },
        ..Default::default()
    };
    check_schedule(&ms, "multistep", 1);
    // CosineAnnealingLR(T_max=8, eta_min=0.001)
    let cos = LrSchedule {
        schedule: Schedule::Cosine { eta_min: 0.001 },
        ..Default::default()
    };
    check_schedule(&cos, "cosine", 1);
    // LinearLR(start_factor=0.1, total_iters=6) stepped per batch = 2 warm-up epochs of 3 batches
    let warm = LrSchedule {
        schedule: Schedule::Constant,
        warmup_epochs: 2,
        warmup_start_factor: 0.1,
    };
    check_schedule(&warm, "warmup", 3);
}

#[test]
fn masked_weights_stay_bit_identical() {
    // SalUn's requirement: with momentum and weight decay on, masked-out entries keep their bits.
    let p0 = [0.5f32, -1.25, 2.0, 1e-3];
    let var = Var::from_tensor(&Tensor::new(&p0, &Device::Cpu).unwrap()).unwrap();
    let cfg = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        dampening: 0.0,
        nesterov: false,
        weight_decay: 5e-4,
    };
    let mut opt = Optimizer::new(
        OptimizerConfig::Sgd(cfg),
        vec![("p".into(), var.clone())],
        None,
    )
    .unwrap();
    let mask = Tensor::new(&[1u8, 0, 1, 0], &Device::Cpu).unwrap();
    let masks = [("p".to_string(), mask)].into_iter().collect();
    for _ in 0..5 {
        let loss = var.as_tensor().sqr().unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        opt.step_masked(&grads, Some(&masks)).unwrap();
    }
    let got = var.as_tensor().to_vec1::<f32>().unwrap();
    assert_eq!(got[1].to_bits(), p0[1].to_bits());
    assert_eq!(got[3].to_bits(), p0[3].to_bits());
    assert_ne!(got[0], p0[0]);
    assert_ne!(got[2], p0[2]);
}

#[test]
fn invalid_hyper_parameters_are_rejected() {
    let bad = SgdConfig {
        lr: -1.0,
        ..Default::default()
    };
    let err = OptimizerConfig::Sgd(bad)
        .validate()
        .unwrap_err()
        .to_string();
    assert!(err.contains("lr"), "{err}");
    let bad = SgdConfig {
        momentum: 1.5,
        ..Default::default()
    };
    assert!(OptimizerConfig::Sgd(bad).validate().is_err());
    let bad = AdamWConfig {
        beta2: 1.0,
        ..Default::default()
    };
    assert!(OptimizerConfig::AdamW(bad).validate().is_err());
}
