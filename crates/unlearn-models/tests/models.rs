//! Architectures, checkpoints and hub loading, checked against PyTorch where it has an answer.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use unlearn_models::layers::BatchNorm2d;
use unlearn_models::{
    checkpoint, hub, Arch, CheckpointMeta, Model, ModelError, ModelSpec, ParamStore, Scope,
};

fn reference(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference")
        .join(name)
}

fn spec(arch: Arch, input_shape: [usize; 3]) -> ModelSpec {
    ModelSpec {
        arch,
        input_shape,
        num_classes: 10,
    }
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

#[test]
fn small_cnn_matches_pytorch_forward() {
    // small_cnn.safetensors: `SmallCNN` of models_reference.py (torch.manual_seed(1234)),
    // its state_dict plus `input` (4×1×28×28), and `features` = m.features(x), `logits` = m.fc(features).
    let path = reference("small_cnn.safetensors");
    let mut ckpt = checkpoint::read(&path).unwrap();
    let x = ckpt.tensors.remove("input").unwrap();
    let want_features = ckpt.tensors.remove("features").unwrap();
    let want_logits = ckpt.tensors.remove("logits").unwrap();
    let model = Model::new(&spec(Arch::SmallCnn, [1, 28, 28]), &Device::Cpu, 0).unwrap();
    checkpoint::load_into(&model, &ckpt, &path).unwrap();
    let feats = model.features(&x, false).unwrap();
    let logits = model.head(&feats).unwrap();
    // f32 on both sides, different summation order: 1e-4 absolute on values of order 1.
    assert!(max_abs_diff(&feats, &want_features) < 1e-4);
    assert!(max_abs_diff(&logits, &want_logits) < 1e-4);
}

#[test]
fn batchnorm_matches_pytorch_train_and_eval() {
    // batchnorm.json: nn.BatchNorm2d(3), weight [1.5, 0.5, -1], bias [0.1, -0.2, 0.3];
    // two forwards in train mode, then one in eval mode (models_reference.py).
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reference("batchnorm.json")).unwrap())
            .unwrap();
    let f = |k: &serde_json::Value| -> Vec<f32> {
        k.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    let store = ParamStore::new(&Device::Cpu, 0);
    let scope = Scope::root(&store).pp("bn");
    let bn = BatchNorm2d::new(&scope, 3).unwrap();
    store
        .get("bn.weight")
        .unwrap()
        .set(&Tensor::new(f(&v["weight"]).as_slice(), &Device::Cpu).unwrap())
        .unwrap();
    store
        .get("bn.bias")
        .unwrap()
        .set(&Tensor::new(f(&v["bias"]).as_slice(), &Device::Cpu).unwrap())
        .unwrap();
    let inputs: Vec<Tensor> = v["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| Tensor::from_vec(f(x), (4, 3, 5, 5), &Device::Cpu).unwrap())
        .collect();
    let check = |got: Tensor, key: &str| {
        let want = Tensor::from_vec(f(&v[key]), got.dims(), &Device::Cpu).unwrap();
        let d = max_abs_diff(&got, &want);
        assert!(d < 1e-5, "{key}: max diff {d}");
    };
    check(
        bn.forward(&inputs[0], true).unwrap().flatten_all().unwrap(),
        "train_out_1",
    );
    check(
        bn.forward(&inputs[1], true).unwrap().flatten_all().unwrap(),
        "train_out_2",
    );
    check(
        bn.forward(&inputs[2], false)
            .unwrap()
            .flatten_all()
            .unwrap(),
        "eval_out",
    );
    check(
        store.get("bn.running_mean").unwrap().as_tensor().clone(),
        "running_mean",
    );
    check(
        store.get("bn.running_var").unwrap().as_tensor().clone(),
        "running_var",
    );
    assert_eq!(
        store.counters()["bn.num_batches_tracked"],
        v["num_batches_tracked"].as_i64().unwrap()
    );
}

fn our_keys(model: &Model) -> BTreeMap<String, Vec<usize>> {
    let mut keys: BTreeMap<String, Vec<usize>> = model
        .store()
        .all()
        .into_iter()
        .map(|(n, v, _)| (n, v.dims().to_vec()))
        .collect();
    for name in model.store().counters().keys() {
        keys.insert(name.clone(), vec![]);
    }
    keys
}

#[test]
fn resnet18_state_dict_names_match_torchvision() {
    // resnet18_keys.json: torchvision.models.resnet18(num_classes=10).state_dict() names and
    // shapes; "cifar" with conv1 = Conv2d(3, 64, 3, 1, 1, bias=False) and no max-pool.
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reference("resnet18_keys.json")).unwrap())
            .unwrap();
    for (variant, arch, shape) in [
        ("imagenet", Arch::ResNet18, [3, 224, 224]),
        ("cifar", Arch::ResNet18Cifar, [3, 32, 32]),
    ] {
        let want: BTreeMap<String, Vec<usize>> = v[variant]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, e)| {
                let s = e["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap() as usize)
                    .collect();
                (k.clone(), s)
            })
            .collect();
        let model = Model::new(&spec(arch, shape), &Device::Cpu, 0).unwrap();
        assert_eq!(our_keys(&model), want, "{variant}");
    }
}

#[test]
fn resnet_forward_shapes_and_batchnorm_training() {
    let model = Model::new(&spec(Arch::ResNet18Cifar, [3, 32, 32]), &Device::Cpu, 0).unwrap();
    let x = Tensor::randn(0f32, 1.0, (2, 3, 32, 32), &Device::Cpu).unwrap();
    assert_eq!(model.features(&x, false).unwrap().dims(), &[2, 512]);
    let before = model
        .store()
        .get("bn1.running_mean")
        .unwrap()
        .as_tensor()
        .to_vec1::<f32>()
        .unwrap();
    model.forward(&x, true).unwrap();
    let after = model
        .store()
        .get("bn1.running_mean")
        .unwrap()
        .as_tensor()
        .to_vec1::<f32>()
        .unwrap();
    assert_ne!(
        before, after,
        "training mode must update running statistics"
    );
    assert_eq!(model.store().counters()["bn1.num_batches_tracked"], 1);
    let model = Model::new(&spec(Arch::ResNet18, [3, 64, 64]), &Device::Cpu, 0).unwrap();
    let x = Tensor::randn(0f32, 1.0, (1, 3, 64, 64), &Device::Cpu).unwrap();
    assert_eq!(model.forward(&x, false).unwrap().dims(), &[1, 10]);
}

#[test]
fn vit_tiny_builds_and_runs() {
    let model = Model::new(&spec(Arch::VitTiny, [1, 28, 28]), &Device::Cpu, 0).unwrap();
    let x = Tensor::randn(0f32, 1.0, (2, 1, 28, 28), &Device::Cpu).unwrap();
    assert_eq!(model.features(&x, false).unwrap().dims(), &[2, 192]);
    assert_eq!(model.forward(&x, false).unwrap().dims(), &[2, 10]);
    assert!(model.store().get("vit.embeddings.cls_token").is_some());
    assert!(model.store().get("classifier.weight").is_some());
    let again = Model::new(&spec(Arch::VitTiny, [1, 28, 28]), &Device::Cpu, 0).unwrap();
    let a = model
        .store()
        .get("vit.encoder.layer.0.attention.attention.query.weight")
        .unwrap();
    let b = again
        .store()
        .get("vit.encoder.layer.0.attention.attention.query.weight")
        .unwrap();
    assert_eq!(
        a.as_tensor().to_vec2::<f32>().unwrap(),
        b.as_tensor().to_vec2::<f32>().unwrap(),
        "seeded init"
    );
}

#[test]
fn initialisation_is_seeded_and_follows_pytorch_defaults() {
    let a = Model::new(&spec(Arch::SmallCnn, [1, 28, 28]), &Device::Cpu, 7).unwrap();
    let b = Model::new(&spec(Arch::SmallCnn, [1, 28, 28]), &Device::Cpu, 7).unwrap();
    let c = Model::new(&spec(Arch::SmallCnn, [1, 28, 28]), &Device::Cpu, 8).unwrap();
    let w = |m: &Model| {
        m.store()
            .get("conv1.weight")
            .unwrap()
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    assert_eq!(w(&a), w(&b));
    assert_ne!(w(&a), w(&c));
    // nn.Conv2d(1, 32, 3): kaiming_uniform(a=√5) → U(-1/3, 1/3).
    let wa = w(&a);
    assert!(wa.iter().all(|v| v.abs() <= 1.0 / 3.0));
    let var: f32 = wa.iter().map(|v| v * v).sum::<f32>() / wa.len() as f32;
    assert!((var - 1.0 / 27.0).abs() < 0.01, "variance {var} vs 1/27");
}

#[test]
fn checkpoints_are_deterministic_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let m = Model::new(&spec(Arch::ResNet18Cifar, [3, 32, 32]), &Device::Cpu, 3).unwrap();
    let mut meta = CheckpointMeta::for_model(&m);
    meta.seed = 3;
    meta.extra.insert("method".into(), "test".into());
    let p1 = dir.path().join("a.safetensors");
    let p2 = dir.path().join("b.safetensors");
    checkpoint::save(&m, &meta, &p1).unwrap();
    let m2 = Model::new(&spec(Arch::ResNet18Cifar, [3, 32, 32]), &Device::Cpu, 3).unwrap();
    checkpoint::save(&m2, &meta, &p2).unwrap();
    assert_eq!(
        std::fs::read(&p1).unwrap(),
        std::fs::read(&p2).unwrap(),
        "same seed, same bytes"
    );
    let (loaded, meta2) = checkpoint::load(&p1, &Device::Cpu).unwrap();
    assert_eq!(meta2, meta);
    let x = Tensor::randn(0f32, 1.0, (2, 3, 32, 32), &Device::Cpu).unwrap();
    assert_eq!(
        max_abs_diff(
            &loaded.forward(&x, false).unwrap(),
            &m.forward(&x, false).unwrap()
        ),
        0.0
    );
    // The file is plain safetensors: the reference reader accepts it, counters are int64.
    let bytes = std::fs::read(&p1).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(
        st.tensor("bn1.num_batches_tracked").unwrap().dtype(),
        safetensors::Dtype::I64
    );
    // No temporary files are left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn loading_into_the_wrong_architecture_lists_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cnn.safetensors");
    let cnn = Model::new(&spec(Arch::SmallCnn, [1, 28, 28]), &Device::Cpu, 0).unwrap();
    checkpoint::save(&cnn, &CheckpointMeta::for_model(&cnn), &path).unwrap();
    let resnet = spec(Arch::ResNet18Cifar, [1, 28, 28]);
    let err = checkpoint::load_with_spec(&path, &resnet, &Device::Cpu).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, ModelError::CheckpointMismatch { .. }),
        "{msg}"
    );
    assert!(
        msg.contains("missing tensor 'layer1.0.conv1.weight'"),
        "{msg}"
    );
    assert!(msg.contains("unexpected tensor 'conv2.weight'"), "{msg}");
    // Same architecture, other class count: mis-shaped head.
    let five = ModelSpec {
        num_classes: 5,
        ..spec(Arch::SmallCnn, [1, 28, 28])
    };
    let msg = checkpoint::load_with_spec(&path, &five, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("tensor 'fc.weight' has shape [10, 128], the architecture expects [5, 128]"),
        "{msg}"
    );
}

#[test]
fn corrupt_and_missing_checkpoints_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cnn.safetensors");
    let cnn = Model::new(&spec(Arch::SmallCnn, [1, 28, 28]), &Device::Cpu, 0).unwrap();
    checkpoint::save(&cnn, &CheckpointMeta::for_model(&cnn), &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let msg = checkpoint::load(&path, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("not a valid safetensors file"), "{msg}");
    std::fs::write(&path, b"hello").unwrap();
    assert!(checkpoint::load(&path, &Device::Cpu).is_err());
    let missing = dir.path().join("nope.safetensors");
    let msg = checkpoint::load(&missing, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("nope.safetensors"), "{msg}");
    // A foreign file without this toolkit's metadata asks for --arch.
    let msg = checkpoint::load(&reference("small_cnn.safetensors"), &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("--arch"), "{msg}");
}

#[test]
fn hub_addresses_resolve_from_a_pre_seeded_cache() {
    assert!(hub::HubFile::parse("model.safetensors").is_none());
    let f = hub::HubFile::parse("hf://org/repo/sub/model.safetensors@v1")
        .unwrap()
        .unwrap();
    assert_eq!(
        (f.repo.as_str(), f.file.as_str(), f.revision.as_str()),
        ("org/repo", "sub/model.safetensors", "v1")
    );
    assert!(hub::HubFile::parse("hf://org/model.safetensors")
        .unwrap()
        .is_err());

    // A cache in the layout of huggingface_hub: refs/main holds the commit, snapshots/<commit>/file.
    let cache = tempfile::tempdir().unwrap();
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let repo = cache.path().join("models--unlearn--small-cnn-fmnist");
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), commit).unwrap();
    let snap = repo.join("snapshots").join(commit);
    std::fs::create_dir_all(&snap).unwrap();
    let cnn = Model::new(&spec(Arch::SmallCnn, [1, 28, 28]), &Device::Cpu, 0).unwrap();
    checkpoint::save(
        &cnn,
        &CheckpointMeta::for_model(&cnn),
        &snap.join("model.safetensors"),
    )
    .unwrap();

    let main = hub::HubFile::parse("hf://unlearn/small-cnn-fmnist/model.safetensors")
        .unwrap()
        .unwrap();
    assert_eq!(
        hub::cached_path(cache.path(), &main).unwrap(),
        snap.join("model.safetensors")
    );
    let pinned = hub::HubFile::parse(&format!(
        "hf://unlearn/small-cnn-fmnist/model.safetensors@{commit}"
    ))
    .unwrap()
    .unwrap();
    assert_eq!(
        hub::cached_path(cache.path(), &pinned).unwrap(),
        snap.join("model.safetensors")
    );
    let missing = hub::HubFile::parse("hf://unlearn/small-cnn-fmnist/other.safetensors")
        .unwrap()
        .unwrap();
    assert_eq!(
        hub::cached_path(cache.path(), &missing).unwrap_err(),
        snap.join("other.safetensors")
    );

    // Through the environment, offline: HF_HUB_CACHE + HF_HUB_OFFLINE=1.
    std::env::set_var("HF_HUB_CACHE", cache.path());
    std::env::set_var("HF_HUB_OFFLINE", "1");
    let p = hub::resolve_checkpoint("hf://unlearn/small-cnn-fmnist/model.safetensors").unwrap();
    let (m, meta) = checkpoint::load(&p, &Device::Cpu).unwrap();
    assert_eq!(meta.arch, unlearn_models::Arch::SmallCnn);
    assert_eq!(m.spec().num_classes, 10);
    let err =
        hub::resolve_checkpoint("hf://unlearn/small-cnn-fmnist/other.safetensors").unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ModelError::NotCached { .. }), "{msg}");
    assert!(
        msg.contains(&snap.join("other.safetensors").display().to_string()),
        "{msg}"
    );
    std::env::remove_var("HF_HUB_OFFLINE");
    std::env::remove_var("HF_HUB_CACHE");
}

#[test]
fn unknown_architecture_names_the_choices() {
    let msg = "resnet50".parse::<Arch>().unwrap_err().to_string();
    assert!(
        msg.contains("small-cnn") && msg.contains("resnet18-cifar"),
        "{msg}"
    );
}

/// A model applies its input normalisation to `[0, 1]` images as its first step, with the
/// same f32 operations as `transforms.Normalize` on `ToTensor`'s output; its checkpoint
/// records it and a loaded model applies it again.
#[test]
fn a_model_normalises_its_own_inputs_and_its_checkpoint_keeps_the_normalisation() {
    let n = unlearn_models::Normalization {
        mean: vec![0.4914, 0.4822, 0.4465],
        std: vec![0.2470, 0.2435, 0.2616],
    };
    let s = spec(Arch::SmallCnn, [3, 8, 8]);
    let plain = Model::new(&s, &Device::Cpu, 7).unwrap();
    assert!(plain.normalization().is_none());
    let model = plain
        .deep_clone()
        .unwrap()
        .with_normalization(Some(n.clone()))
        .unwrap();
    assert_eq!(model.normalization(), Some(&n));
    // Pixels 0..=255 scaled as ToTensor does, then normalised by hand per channel.
    let pixels: Vec<u8> = (0..2 * 3 * 64).map(|i| (i * 37 % 256) as u8).collect();
    let unit: Vec<f32> = pixels.iter().map(|&p| p as f32 / 255.0).collect();
    let by_hand: Vec<f32> = unit
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let c = (i / 64) % 3;
            (v - n.mean[c]) / n.std[c]
        })
        .collect();
    let x = Tensor::from_vec(unit, (2, 3, 8, 8), &Device::Cpu).unwrap();
    let seen = model.normalize_input(&x).unwrap();
    assert_eq!(
        seen.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        by_hand,
        "the same f32 operations give the same bits"
    );
    let want = plain
        .forward(
            &Tensor::from_vec(by_hand, (2, 3, 8, 8), &Device::Cpu).unwrap(),
            false,
        )
        .unwrap();
    let got = model.forward(&x, false).unwrap();
    assert_eq!(max_abs_diff(&got, &want), 0.0);
    // The checkpoint records the model's own normalisation, whatever the metadata says.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let mut meta = CheckpointMeta::for_model(&model);
    assert_eq!(meta.normalization.as_ref(), Some(&n));
    meta.normalization = None;
    checkpoint::save(&model, &meta, &path).unwrap();
    let (loaded, meta) = checkpoint::load(&path, &Device::Cpu).unwrap();
    assert_eq!(meta.normalization.as_ref(), Some(&n));
    assert_eq!(loaded.normalization(), Some(&n));
    assert_eq!(
        max_abs_diff(&loaded.forward(&x, false).unwrap(), &want),
        0.0
    );
    // A normalisation for other channels is refused, naming both counts.
    let err = plain
        .with_normalization(Some(unlearn_models::Normalization {
            mean: vec![0.5],
            std: vec![0.25],
        }))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("1 channels") && err.contains("3 input channels"),
        "{err}"
    );
}
