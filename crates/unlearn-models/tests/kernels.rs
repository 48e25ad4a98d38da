//! The fast CPU kernels against candle's reference ops on random inputs: values and
//! gradients (input, weight, bias) within 1e-4, and bit-identical results across runs and
//! thread counts.

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use unlearn_models::kernels::{self, Kernels};

const FAST: Kernels = Kernels::Fast;
use unlearn_models::{Arch, Model, ModelSpec};

const TOL: f32 = 1e-4;

fn random(rng: &mut ChaCha8Rng, dims: &[usize]) -> Tensor {
    let n: usize = dims.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
}

fn var(rng: &mut ChaCha8Rng, dims: &[usize]) -> Var {
    Var::from_tensor(&random(rng, dims)).unwrap()
}

/// Asserts `|a − b| ≤ TOL · (1 + |b|)` elementwise.
fn close(what: &str, a: &Tensor, b: &Tensor) {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes");
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            (x - y).abs() <= TOL * (1.0 + y.abs()),
            "{what}[{i}]: fast {x} vs reference {y}"
        );
    }
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

/// (n, c, h, w, out, k, stride, padding, bias)
type ConvCase = (usize, usize, usize, usize, usize, usize, usize, usize, bool);

const CONV_CASES: &[ConvCase] = &[
    (1, 1, 5, 5, 2, 3, 1, 1, true),
    (2, 3, 7, 7, 4, 3, 2, 1, true),
    (2, 3, 8, 6, 4, 3, 2, 1, true),
    (2, 3, 9, 9, 5, 7, 2, 3, false),
    (3, 1, 9, 8, 2, 7, 1, 3, true),
    (3, 64, 4, 4, 8, 1, 1, 0, false),
    (2, 8, 6, 6, 3, 1, 2, 0, true),
    (2, 3, 8, 8, 4, 3, 1, 0, true),
    (1, 64, 5, 5, 16, 3, 1, 1, false),
    (4, 3, 11, 9, 6, 3, 2, 0, true),
    (9, 2, 6, 6, 3, 3, 1, 1, true),
    (20, 4, 16, 16, 5, 3, 1, 1, true),
    // Winograd F(2×2, 3×3) path (3×3, stride 1, padding 1, ≥ 16 channels): odd and even
    // sides, one to several groups of images, with and without bias.
    (2, 16, 4, 4, 8, 3, 1, 1, true),
    (3, 17, 7, 5, 9, 3, 1, 1, false),
    (1, 32, 1, 1, 4, 3, 1, 1, true),
    (5, 16, 33, 32, 3, 3, 1, 1, true),
    (70, 16, 4, 4, 20, 3, 1, 1, false),
];

#[test]
fn conv2d_matches_candle_values_and_gradients() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for &(n, c, h, w, o, k, s, p, has_bias) in CONV_CASES {
        let case = format!("n{n} c{c} {h}×{w} o{o} k{k} s{s} p{p} bias {has_bias}");
        let x = var(&mut rng, &[n, c, h, w]);
        let wt = var(&mut rng, &[o, c, k, k]);
        let b = var(&mut rng, &[o]);
        let bias = has_bias.then(|| b.as_tensor());
        let fast = kernels::conv2d(FAST, x.as_tensor(), wt.as_tensor(), bias, s, p).unwrap();
        let mut reference = x.as_tensor().conv2d(wt.as_tensor(), p, s, 1, 1).unwrap();
        if has_bias {
            reference = reference
                .broadcast_add(&b.as_tensor().reshape((1, o, 1, 1)).unwrap())
                .unwrap();
        }
        close(&format!("{case}: y"), &fast, &reference);
        let r = random(&mut rng, reference.dims());
        let gf = (&fast * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let gr = (&reference * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let mut checked = vec![("dx", x.as_tensor()), ("dw", wt.as_tensor())];
        if has_bias {
            checked.push(("db", b.as_tensor()));
        }
        for (name, t) in checked {
            close(
                &format!("{case}: {name}"),
                gf.get(t).unwrap(),
                gr.get(t).unwrap(),
            );
        }
    }
}

#[test]
fn fused_conv_relu_max_pool_matches_candle() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    // (n, c, h, w, out, k, stride, padding, bias, pool)
    for &(n, c, h, w, o, k, s, p, has_bias, pool) in &[
        (2, 1, 8, 8, 4, 3, 1, 1, true, 2),
        (3, 3, 10, 6, 5, 3, 1, 1, false, 2),
        (2, 4, 12, 12, 3, 3, 2, 0, true, 3),
        (1, 64, 6, 6, 8, 1, 1, 0, true, 2),
        (20, 2, 14, 14, 6, 3, 1, 1, true, 2),
    ] {
        let case = format!("n{n} c{c} {h}×{w} o{o} k{k} s{s} p{p} bias {has_bias} pool {pool}");
        let x = var(&mut rng, &[n, c, h, w]);
        let wt = var(&mut rng, &[o, c, k, k]);
        let b = var(&mut rng, &[o]);
        let bias = has_bias.then(|| b.as_tensor());
        let fast =
            kernels::conv2d_relu_max_pool2d(FAST, x.as_tensor(), wt.as_tensor(), bias, s, p, pool)
                .unwrap();
        let mut reference = x.as_tensor().conv2d(wt.as_tensor(), p, s, 1, 1).unwrap();
        if has_bias {
            reference = reference
                .broadcast_add(&b.as_tensor().reshape((1, o, 1, 1)).unwrap())
                .unwrap();
        }
        let reference = reference.relu().unwrap().max_pool2d(pool).unwrap();
        close(&format!("{case}: y"), &fast, &reference);
        let r = random(&mut rng, reference.dims());
        let gf = (&fast * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let gr = (&reference * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        // Candle's max-pool gradient is 1/k² of PyTorch's; so, through the convolution,
        // are all three reference gradients.
        let mut checked = vec![("dx", x.as_tensor()), ("dw", wt.as_tensor())];
        if has_bias {
            checked.push(("db", b.as_tensor()));
        }
        for (name, t) in checked {
            close(
                &format!("{case}: {name}"),
                gf.get(t).unwrap(),
                &pool_grad_fix(gr.get(t).unwrap(), pool),
            );
        }
    }
}

/// Two convolution outputs that differ by less than the rounding of `+ bias` are equal in
/// what PyTorch's `max_pool2d(relu(conv2d(x, w, b)))` pools, and its gradient goes to the
/// first of them (`torch.nn.functional.max_pool2d` records the first maximum). A 1×1
/// convolution with weight 1 and bias 1e4 (float32 spacing 2^-10 there) on a window
/// (1.0, 1.0001, 0.5, 0.25): 10001 and 10001.0001 round to the same value, so the gradient
/// goes to element 0, not to element 1, the larger before the bias.
#[test]
fn fused_pool_ties_are_judged_after_the_bias_as_pytorch_does() {
    for k in [2usize, 3] {
        let mut vals = vec![0.25f32; k * k];
        vals[0] = 1.0;
        vals[1] = 1.0001;
        vals[2] = 0.5;
        let x =
            Var::from_tensor(&Tensor::from_vec(vals, (1, 1, k, k), &Device::Cpu).unwrap()).unwrap();
        let w = Tensor::ones((1, 1, 1, 1), DType::F32, &Device::Cpu).unwrap();
        let b = Tensor::new(&[1e4f32], &Device::Cpu).unwrap();
        let y =
            kernels::conv2d_relu_max_pool2d(FAST, x.as_tensor(), &w, Some(&b), 1, 0, k).unwrap();
        let y_val = y.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0];
        assert_eq!(y_val, 1e4f32 + 1.0, "pool {k}: the pooled value");
        let grads = y.sum_all().unwrap().backward().unwrap();
        let gx = grads
            .get(x.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let mut want = vec![0f32; k * k];
        want[0] = 1.0;
        assert_eq!(gx, want, "pool {k}: the gradient goes to the first maximum");
    }
}

/// Candle 0.11's `max_pool2d` backward scales the gradient of a window's (unique) maximum
/// by 1/k² (it multiplies by the window's share of maxima instead of dividing by their
/// count); PyTorch passes it through unscaled, as these kernels do. With random inputs
/// every positive window maximum is unique, so PyTorch's gradient is candle's times k².
fn pool_grad_fix(candle_grad: &Tensor, k: usize) -> Tensor {
    (candle_grad * (k * k) as f64).unwrap()
}

#[test]
fn conv2d_skips_the_input_gradient_of_a_constant() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let x = random(&mut rng, &[2, 1, 6, 6]);
    let wt = var(&mut rng, &[3, 1, 3, 3]);
    let y = kernels::conv2d(FAST, &x, wt.as_tensor(), None, 1, 1).unwrap();
    let g = y.sum_all().unwrap().backward().unwrap();
    assert!(g.get(&x).is_none());
    let reference = x
        .conv2d(wt.as_tensor(), 1, 1, 1, 1)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    close(
        "dw",
        g.get(wt.as_tensor()).unwrap(),
        reference.get(wt.as_tensor()).unwrap(),
    );
}

#[test]
fn relu_max_pool_matches_candle() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    // Sizes divisible by the pool: candle's backward misplaces gradients otherwise (its
    // nearest upsampling does not match floor-mode windows).
    for &(n, c, h, w, k) in &[
        (2, 3, 8, 8, 2),
        (1, 4, 6, 10, 2),
        (3, 2, 9, 6, 3),
        (1, 1, 28, 28, 2),
    ] {
        let x = var(&mut rng, &[n, c, h, w]);
        let fast = kernels::relu_max_pool2d(FAST, x.as_tensor(), k).unwrap();
        let reference = x.as_tensor().relu().unwrap().max_pool2d(k).unwrap();
        close("pool y", &fast, &reference);
        let r = random(&mut rng, reference.dims());
        let gf = (&fast * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let gr = (&reference * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        close(
            "pool dx",
            gf.get(x.as_tensor()).unwrap(),
            &pool_grad_fix(gr.get(x.as_tensor()).unwrap(), k),
        );
    }
}

#[test]
fn pooling_floor_mode_matches_candle_forward() {
    // Sizes not divisible by the pool: candle's forward is right (floor mode), only its
    // backward is off, so compare values here.
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    for &(n, c, h, w, k) in &[(1, 4, 7, 9, 2), (2, 2, 11, 7, 3)] {
        let x = random(&mut rng, &[n, c, h, w]);
        let fast = kernels::relu_max_pool2d(FAST, &x, k).unwrap();
        let reference = x.relu().unwrap().max_pool2d(k).unwrap();
        close("pool y", &fast, &reference);
        let wt = random(&mut rng, &[3, c, 3, 3]);
        let b = random(&mut rng, &[3]);
        let fast = kernels::conv2d_relu_max_pool2d(FAST, &x, &wt, Some(&b), 1, 1, k).unwrap();
        let reference = x
            .conv2d(&wt, 1, 1, 1, 1)
            .unwrap()
            .broadcast_add(&b.reshape((1, 3, 1, 1)).unwrap())
            .unwrap()
            .relu()
            .unwrap()
            .max_pool2d(k)
            .unwrap();
        close("fused y", &fast, &reference);
    }
}

#[test]
fn batch_norm_matches_candle_ops() {
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let eps = 1e-5;
    for &(n, c, h, w) in &[(4, 3, 5, 5), (2, 16, 3, 4), (8, 2, 1, 1)] {
        let x = var(&mut rng, &[n, c, h, w]);
        let wt = var(&mut rng, &[c]);
        let b = var(&mut rng, &[c]);
        let shape = (1, c, 1, 1);
        let (xt, wtt, bt) = (x.as_tensor(), wt.as_tensor(), b.as_tensor());
        // Training mode, the reference as candle ops (as in layers.rs).
        let (fast, mean, var_) = kernels::batch_norm_train(FAST, xt, wtt, bt, eps).unwrap();
        let m = (n * h * w) as f64;
        let rmean = (xt.sum_keepdim((0, 2, 3)).unwrap() / m).unwrap();
        let centred = xt.broadcast_sub(&rmean).unwrap();
        let rvar = (centred.sqr().unwrap().sum_keepdim((0, 2, 3)).unwrap() / m).unwrap();
        let inv_std = (rvar.clone() + eps)
            .unwrap()
            .sqrt()
            .unwrap()
            .recip()
            .unwrap();
        let reference = centred
            .broadcast_mul(&inv_std.broadcast_mul(&wtt.reshape(shape).unwrap()).unwrap())
            .unwrap()
            .broadcast_add(&bt.reshape(shape).unwrap())
            .unwrap();
        close("bn mean", &mean, &rmean.flatten_all().unwrap());
        close("bn var", &var_, &rvar.flatten_all().unwrap());
        close("bn y", &fast, &reference);
        // The same function with the reference kernels runs exactly these candle ops.
        let (slow, _, _) = kernels::batch_norm_train(Kernels::Reference, xt, wtt, bt, eps).unwrap();
        assert_eq!(flat(&slow), flat(&reference), "bn reference y");
        let r = random(&mut rng, &[n, c, h, w]);
        let gf = (&fast * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let gr = (&reference * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for (name, t) in [("dx", xt), ("dw", wtt), ("db", bt)] {
            close(
                &format!("bn {name}"),
                gf.get(t).unwrap(),
                gr.get(t).unwrap(),
            );
        }
        // Eval mode with running statistics.
        let rm = random(&mut rng, &[c]);
        let rv = (random(&mut rng, &[c]).abs().unwrap() + 0.5).unwrap();
        let fast = kernels::batch_norm_eval(FAST, xt, wtt, bt, &rm, &rv, eps).unwrap();
        let scale = ((&rv + eps).unwrap().sqrt().unwrap().recip().unwrap() * wtt).unwrap();
        let shift = (bt - (&rm * &scale).unwrap()).unwrap();
        let reference = xt
            .broadcast_mul(&scale.reshape(shape).unwrap())
            .unwrap()
            .broadcast_add(&shift.reshape(shape).unwrap())
            .unwrap();
        close("bn eval y", &fast, &reference);
        let slow =
            kernels::batch_norm_eval(Kernels::Reference, xt, wtt, bt, &rm, &rv, eps).unwrap();
        assert_eq!(flat(&slow), flat(&reference), "bn eval reference y");
        let gf = (&fast * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let gr = (&reference * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for (name, t) in [("dx", xt), ("dw", wtt), ("db", bt)] {
            close(
                &format!("bn eval {name}"),
                gf.get(t).unwrap(),
                gr.get(t).unwrap(),
            );
        }
    }
}

#[test]
fn fused_batch_norm_residual_relu_matches_candle_ops() {
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let eps = 1e-5;
    for &(n, c, h, w) in &[(4, 3, 5, 5), (2, 16, 3, 4), (8, 2, 1, 1), (3, 64, 8, 8)] {
        for (residual, relu) in [(false, true), (true, true), (true, false)] {
            let case = format!("n{n} c{c} {h}×{w} residual {residual} relu {relu}");
            let x = var(&mut rng, &[n, c, h, w]);
            let wt = var(&mut rng, &[c]);
            let b = var(&mut rng, &[c]);
            let s = var(&mut rng, &[n, c, h, w]);
            let shape = (1, c, 1, 1);
            let (xt, wtt, bt, st) = (x.as_tensor(), wt.as_tensor(), b.as_tensor(), s.as_tensor());
            let act = kernels::BnAct {
                residual: residual.then_some(st),
                relu,
            };
            let finish = |y: Tensor| {
                let y = if residual { (y + st).unwrap() } else { y };
                if relu {
                    y.relu().unwrap()
                } else {
                    y
                }
            };
            // Training mode.
            let (fast, _, _) = kernels::batch_norm_train_act(FAST, xt, wtt, bt, eps, act).unwrap();
            let m = (n * h * w) as f64;
            let rmean = (xt.sum_keepdim((0, 2, 3)).unwrap() / m).unwrap();
            let centred = xt.broadcast_sub(&rmean).unwrap();
            let rvar = (centred.sqr().unwrap().sum_keepdim((0, 2, 3)).unwrap() / m).unwrap();
            let inv_std = (rvar + eps).unwrap().sqrt().unwrap().recip().unwrap();
            let reference = finish(
                centred
                    .broadcast_mul(&inv_std.broadcast_mul(&wtt.reshape(shape).unwrap()).unwrap())
                    .unwrap()
                    .broadcast_add(&bt.reshape(shape).unwrap())
                    .unwrap(),
            );
            close(&format!("{case}: y"), &fast, &reference);
            let r = random(&mut rng, &[n, c, h, w]);
            let gf = (&fast * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let gr = (&reference * &r)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let mut checked = vec![("dx", xt), ("dw", wtt), ("db", bt)];
            if residual {
                checked.push(("ds", st));
            }
            for (name, t) in &checked {
                close(
                    &format!("{case}: {name}"),
                    gf.get(t).unwrap(),
                    gr.get(t).unwrap(),
                );
            }
            // Eval mode with running statistics.
            let rm = random(&mut rng, &[c]);
            let rv = (random(&mut rng, &[c]).abs().unwrap() + 0.5).unwrap();
            let fast = kernels::batch_norm_eval_act(FAST, xt, wtt, bt, &rm, &rv, eps, act).unwrap();
            let scale = ((&rv + eps).unwrap().sqrt().unwrap().recip().unwrap() * wtt).unwrap();
            let shift = (bt - (&rm * &scale).unwrap()).unwrap();
            let reference = finish(
                xt.broadcast_mul(&scale.reshape(shape).unwrap())
                    .unwrap()
                    .broadcast_add(&shift.reshape(shape).unwrap())
                    .unwrap(),
            );
            close(&format!("{case}: eval y"), &fast, &reference);
            let gf = (&fast * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let gr = (&reference * &r)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for (name, t) in &checked {
                close(
                    &format!("{case}: eval {name}"),
                    gf.get(t).unwrap(),
                    gr.get(t).unwrap(),
                );
            }
        }
    }
}

/// Forward + backward of a model on a fixed batch: the loss and every gradient, as bits.
fn step_bits(arch: Arch, shape: [usize; 3], n: usize) -> Vec<Vec<u32>> {
    let spec = ModelSpec {
        arch,
        input_shape: shape,
        num_classes: 10,
    };
    let model = Model::new(&spec, &Device::Cpu, 3).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let [c, h, w] = shape;
    let x = random(&mut rng, &[n, c, h, w]);
    let labels: Vec<u32> = (0..n as u32).map(|i| i % 10).collect();
    let y = Tensor::from_vec(labels, n, &Device::Cpu).unwrap();
    let logits = model.forward(&x, true).unwrap();
    let loss = candle_nn::loss::cross_entropy(&logits, &y).unwrap();
    let grads = loss.backward().unwrap();
    let mut out = vec![bits(&loss.to_dtype(DType::F32).unwrap())];
    for (name, v) in model.store().parameters() {
        let g = grads
            .get(v.as_tensor())
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        out.push(bits(g));
    }
    out
}

#[test]
fn training_step_is_bit_identical_across_runs() {
    for (arch, shape, n) in [
        (Arch::SmallCnn, [1, 28, 28], 20),
        (Arch::ResNet18Cifar, [3, 8, 8], 4),
    ] {
        assert_eq!(
            step_bits(arch, shape, n),
            step_bits(arch, shape, n),
            "{arch:?}: two runs differ"
        );
    }
}

/// conv → BatchNorm → conv (bias; Winograd) → BatchNorm + residual + ReLU → ReLU + max-pool,
/// and conv + ReLU + max-pool fused, forward and backward: output and all gradients as bits.
fn kernel_chain_bits() -> Vec<Vec<u32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let x = var(&mut rng, &[19, 3, 12, 12]);
    let w1 = var(&mut rng, &[16, 3, 3, 3]);
    let g = var(&mut rng, &[16]);
    let b = var(&mut rng, &[16]);
    let w2 = var(&mut rng, &[6, 16, 3, 3]);
    let b2 = var(&mut rng, &[6]);
    let w3 = var(&mut rng, &[6, 16, 3, 3]);
    let g3 = var(&mut rng, &[6]);
    let b3 = var(&mut rng, &[6]);
    let h = kernels::conv2d(FAST, x.as_tensor(), w1.as_tensor(), None, 2, 1).unwrap();
    let (h, _, _) =
        kernels::batch_norm_train(FAST, &h, g.as_tensor(), b.as_tensor(), 1e-5).unwrap();
    let h2 = kernels::conv2d(FAST, &h, w2.as_tensor(), Some(b2.as_tensor()), 1, 1).unwrap();
    let h3 = kernels::conv2d(FAST, &h, w3.as_tensor(), None, 1, 1).unwrap();
    let act = kernels::BnAct {
        residual: Some(&h2),
        relu: true,
    };
    let (h4, _, _) =
        kernels::batch_norm_train_act(FAST, &h3, g3.as_tensor(), b3.as_tensor(), 1e-5, act)
            .unwrap();
    let y1 = kernels::relu_max_pool2d(FAST, &h4, 2).unwrap();
    let y2 =
        kernels::conv2d_relu_max_pool2d(FAST, &h, w2.as_tensor(), Some(b2.as_tensor()), 1, 1, 2)
            .unwrap();
    let y = (y1 + y2).unwrap();
    let r = random(&mut rng, y.dims());
    let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let mut out = vec![bits(&y)];
    for v in [&x, &w1, &g, &b, &w2, &b2, &w3, &g3, &b3] {
        out.push(bits(grads.get(v.as_tensor()).unwrap()));
    }
    out
}

#[test]
fn kernels_are_bit_identical_across_thread_counts() {
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let three = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    let a = one.install(kernel_chain_bits);
    let b = three.install(kernel_chain_bits);
    assert_eq!(a, b);
    assert_eq!(a, kernel_chain_bits());
}

#[test]
fn portable_max_pool_has_pytorchs_gradient() {
    // `kernels::max_pool2d` is what runs off the CPU fast path (CUDA): same values and
    // the same gradient as the fast kernel, which follows PyTorch (not candle's 1/k²).
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    for &(n, c, h, w, k) in &[(2, 3, 8, 8, 2), (1, 2, 7, 9, 2), (2, 2, 11, 7, 3)] {
        let x = var(&mut rng, &[n, c, h, w]);
        let fast = kernels::relu_max_pool2d(FAST, x.as_tensor(), k).unwrap();
        let portable = kernels::max_pool2d(&x.as_tensor().relu().unwrap(), k).unwrap();
        close("pool y", &fast, &portable);
        let r = random(&mut rng, fast.dims());
        let gf = (&fast * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let gp = (&portable * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        close(
            "pool dx",
            gf.get(x.as_tensor()).unwrap(),
            gp.get(x.as_tensor()).unwrap(),
        );
    }
    let small = random(&mut rng, &[1, 1, 1, 3]);
    assert!(kernels::max_pool2d(&small, 2).is_err());
}

/// The choice of kernels belongs to each model: two models of one process run their own,
/// a copy keeps it, and running one never changes the other's numbers.
#[test]
fn each_model_runs_its_own_choice_of_kernels_in_one_process() {
    let spec = ModelSpec {
        arch: Arch::SmallCnn,
        input_shape: [1, 28, 28],
        num_classes: 10,
    };
    let fast = Model::with_kernels(&spec, &Device::Cpu, 3, Kernels::Fast).unwrap();
    let reference = Model::with_kernels(&spec, &Device::Cpu, 3, Kernels::Reference).unwrap();
    assert_eq!(fast.store().kernels(), Kernels::Fast);
    assert_eq!(reference.store().kernels(), Kernels::Reference);
    assert_eq!(
        reference.deep_clone().unwrap().store().kernels(),
        Kernels::Reference
    );
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let x = var(&mut rng, &[8, 1, 28, 28]);
    let logits = |m: &Model| -> Vec<f32> {
        m.forward(x.as_tensor(), false)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    let before = logits(&fast);
    let other = logits(&reference);
    let after = logits(&fast);
    assert_eq!(
        before, after,
        "running the reference model changed the fast one"
    );
    let worst = before
        .iter()
        .zip(&other)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-4, "fast and reference logits part by {worst}");
}

/// The values of `t`, flattened.
fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}
