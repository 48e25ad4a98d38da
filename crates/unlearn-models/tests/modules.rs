//! The candle traits (`Module`, `ModuleT`, `VarBuilder`) over this crate's layers and store
//! give exactly what the inherent methods give.

use candle_core::{DType, Device, Tensor};
use candle_nn::{Module, ModuleT};
use unlearn_models::layers::{BatchNorm2d, Conv2d, ConvInit, Linear};
use unlearn_models::{Arch, Init, Model, ModelSpec, ParamStore, Scope, TensorKind};

fn spec(arch: Arch, input_shape: [usize; 3]) -> ModelSpec {
    ModelSpec {
        arch,
        input_shape,
        num_classes: 10,
    }
}

/// A fixed, non-trivial input (candle's CPU RNG cannot be seeded).
fn input(shape: [usize; 4]) -> Tensor {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    Tensor::from_vec(data, &shape, &Device::Cpu).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn store_values(m: &Model) -> Vec<(String, Vec<f32>)> {
    m.store()
        .all()
        .into_iter()
        .map(|(n, v, _)| (n, values(v.as_tensor())))
        .collect()
}

#[test]
fn model_through_module_t_gives_the_inherent_logits() {
    for (arch, shape) in [
        (Arch::SmallCnn, [1, 28, 28]),
        (Arch::ResNet18Cifar, [3, 32, 32]),
        (Arch::VitTiny, [3, 32, 32]),
    ] {
        let [c, h, w] = shape;
        let x = input([3, c, h, w]);
        for train in [false, true] {
            // Two models from one seed, so a training-mode forward (which moves BatchNorm's
            // running statistics) starts from the same state on both sides.
            let a = Model::new(&spec(arch, shape), &Device::Cpu, 3).unwrap();
            let b = Model::new(&spec(arch, shape), &Device::Cpu, 3).unwrap();
            let c2 = Model::new(&spec(arch, shape), &Device::Cpu, 3).unwrap();
            let want = values(&a.forward(&x, train).unwrap());
            assert_eq!(
                values(&b.forward_t(&x, train).unwrap()),
                want,
                "{arch} {train}"
            );
            assert_eq!(
                values(&x.apply_t(&c2, train).unwrap()),
                want,
                "{arch} {train}"
            );
            assert_eq!(store_values(&b), store_values(&a), "{arch} {train}: state");
            assert_eq!(b.store().counters(), a.store().counters());
            assert_eq!(store_values(&c2), store_values(&a), "{arch} {train}: state");
        }
    }
}

#[test]
fn layers_through_module_and_module_t_give_the_inherent_outputs() {
    let store = ParamStore::new(&Device::Cpu, 1);
    let root = Scope::root(&store);
    let conv = Conv2d::new(
        &root.pp("conv"),
        3,
        4,
        3,
        1,
        1,
        true,
        ConvInit::TorchDefault,
    )
    .unwrap();
    let fc = Linear::new(&root.pp("fc"), 4 * 6 * 6, 5).unwrap();
    let x = input([2, 3, 6, 6]);
    let y = conv.forward(&x).unwrap();
    assert_eq!(values(&Module::forward(&conv, &x).unwrap()), values(&y));
    assert_eq!(values(&x.apply(&conv).unwrap()), values(&y));
    let z = y.flatten_from(1).unwrap();
    assert_eq!(
        values(&z.apply(&fc).unwrap()),
        values(&fc.forward(&z).unwrap())
    );

    let bn_a = BatchNorm2d::new(&root.pp("bn_a"), 4).unwrap();
    let bn_b = BatchNorm2d::new(&root.pp("bn_b"), 4).unwrap();
    for train in [true, false] {
        let want = values(&bn_a.forward(&y, train).unwrap());
        assert_eq!(values(&y.apply_t(&bn_b, train).unwrap()), want);
    }
    let running = |p: &str| values(store.get(&format!("{p}.running_mean")).unwrap().as_tensor());
    assert_eq!(running("bn_a"), running("bn_b"));
}

#[test]
fn model_errors_become_candle_errors_through_the_traits() {
    let m = Model::new(&spec(Arch::SmallCnn, [1, 28, 28]), &Device::Cpu, 0).unwrap();
    let wrong = Tensor::zeros((2, 3, 28, 28), DType::F32, &Device::Cpu).unwrap();
    let first_line = |e: String| e.lines().next().unwrap_or_default().to_string();
    let inherent = first_line(m.forward(&wrong, false).unwrap_err().to_string());
    let via_trait = first_line(m.forward_t(&wrong, false).unwrap_err().to_string());
    // A candle error comes back as itself, without this crate's "tensor operation failed".
    assert_eq!(inherent, format!("tensor operation failed: {via_trait}"));
    // Other errors are wrapped with their message.
    let e = candle_core::Error::from("vgg".parse::<Arch>().unwrap_err());
    assert!(
        e.to_string().starts_with("unknown architecture 'vgg'"),
        "{e}"
    );
}

#[test]
fn vit_tensors_are_the_store_variables_and_all_get_gradients() {
    // Every one of the ViT's 104 tensors is reached by the loss: the queries, keys and the
    // blocks' layer norms included (candle-nn's fused softmax and layer norm have no
    // backward pass; the model composes differentiable operations instead).
    let m = Model::new(&spec(Arch::VitTiny, [3, 32, 32]), &Device::Cpu, 0).unwrap();
    let x = input([2, 3, 32, 32]);
    for train in [true, false] {
        let loss = m
            .forward_t(&x, train)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        let params = m.store().parameters();
        assert_eq!(params.len(), 104);
        let missing: Vec<&String> = params
            .iter()
            .filter(|(_, v)| grads.get(v.as_tensor()).is_none())
            .map(|(n, _)| n)
            .collect();
        assert!(
            missing.is_empty(),
            "parameters without a gradient: {missing:?}"
        );
        let zero: Vec<&String> = params
            .iter()
            .filter(|(_, v)| {
                let g = grads.get(v.as_tensor()).unwrap();
                g.abs()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
                    == 0.0
            })
            .map(|(n, _)| n)
            .collect();
        assert!(
            zero.is_empty(),
            "parameters with an all-zero gradient: {zero:?}"
        );
    }
    // The forward reads the store's tensors: changing a store variable changes the output.
    let before = values(&m.features(&x, false).unwrap());
    for name in [
        "vit.layernorm.weight",
        "vit.encoder.layer.0.attention.attention.query.weight",
        "vit.encoder.layer.0.attention.attention.key.weight",
        "vit.encoder.layer.0.layernorm_before.bias",
        "vit.encoder.layer.0.layernorm_after.weight",
    ] {
        let v = m.store().get(name).unwrap();
        let old = v.as_tensor().copy().unwrap();
        v.set(&(&old + 0.5).unwrap()).unwrap();
        assert_ne!(values(&m.features(&x, false).unwrap()), before, "{name}");
        v.set(&old).unwrap();
        assert_eq!(values(&m.features(&x, false).unwrap()), before, "{name}");
    }
}

#[test]
fn the_store_var_builder_creates_seeded_variables_and_returns_existing_ones() {
    let store = ParamStore::new(&Device::Cpu, 5);
    let vb = store.var_builder(|name| {
        if name.ends_with("bias") {
            Init::Const(0.0)
        } else {
            Init::Uniform { bound: 0.5 }
        }
    });
    let lin = candle_nn::linear(4, 3, vb.pp("head")).unwrap();
    let w = store.get("head.weight").unwrap();
    assert_eq!(store.kind("head.weight"), Some(TensorKind::Parameter));
    assert_eq!(values(lin.weight()), values(w.as_tensor()));
    assert_eq!(lin.weight().id(), w.as_tensor().id(), "the same variable");
    assert!(values(&store.get("head.bias").unwrap())
        .iter()
        .all(|v| *v == 0.0));
    // Same values as the store's own seeded draw under that name.
    let other = ParamStore::new(&Device::Cpu, 5);
    let direct = other
        .var(
            "head.weight",
            &[3, 4],
            Init::Uniform { bound: 0.5 },
            TensorKind::Parameter,
        )
        .unwrap();
    assert_eq!(values(direct.as_tensor()), values(w.as_tensor()));
    // Existing names come back as they are; a different shape is an error.
    assert!(vb.contains_tensor("head.weight"));
    assert_eq!(
        vb.get((3, 4), "head.weight").unwrap().id(),
        w.as_tensor().id()
    );
    assert_eq!(vb.get_unchecked("head.bias").unwrap().dims(), &[3]);
    assert!(vb.get((4, 4), "head.weight").is_err());
    assert!(vb.get_unchecked("nothing").is_err());
    assert!(vb
        .get_with_hints_dtype(3, "f16", candle_nn::Init::Const(0.0), DType::F16)
        .is_err());
}
