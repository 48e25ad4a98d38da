//! Behaviour of the unlearning methods on a small original trained once per test binary
//! (small CNN, 2,000 embedded Fashion-MNIST images, 2 epochs) with small forget/retain sets,
//! so the whole file runs in about a minute on two cores.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use candle_core::{DType, Device, Tensor};
use unlearn_data::{make_split, DataSource, Dataset, ImageSet, SplitConfig, SplitManifest};
use unlearn_methods::{
    registry, run, MethodError, Overrides, SalUnParams, UnlearnContext, Unlearned, METHOD_IDS,
};
use unlearn_models::{checkpoint, Arch, CheckpointMeta, Model, ModelSpec};
use unlearn_train::{engine, DataView, Recipe};

struct Fixture {
    ds: Dataset,
    images: ImageSet,
    /// random:0.1 restricted to 150 forget / 400 retain samples of the original's training set.
    random: SplitManifest,
    /// class:3 restricted likewise.
    class: SplitManifest,
    original: Model,
    recipe: Recipe,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let ds = DataSource::Embedded.load().expect("embedded data");
        let cfg = SplitConfig {
            scenario: "random:0.1".parse().expect("scenario"),
            seed: 0,
            val_fraction: 0.1,
        };
        let full = make_split(&ds, &cfg).expect("split");
        let images = full.poisoned_train(&ds);
        // The original sees 2,000 training images: 150 forget + 1,850 retain.
        let forget: Vec<u32> = full.forget[..150].to_vec();
        let retain_all: Vec<u32> = full.retain[..1850].to_vec();
        let mut train: Vec<u32> = forget.iter().chain(&retain_all).copied().collect();
        train.sort_unstable();
        let spec = ModelSpec {
            arch: Arch::SmallCnn,
            input_shape: ds.input_shape(),
            num_classes: ds.num_classes,
        };
        let original = Model::new(&spec, &Device::Cpu, 0)
            .expect("model")
            .with_normalization(Some(ds.normalization.clone()))
            .expect("the data's normalisation");
        let mut recipe = Recipe::preset("quick").expect("preset");
        recipe.epochs = 2;
        let view = DataView {
            images: &images,
            indices: &train,
            augmentation: ds.augmentation,
        };
        engine::train(&original, &view, &recipe, 0, Default::default()).expect("training");
        let mut random = full.clone();
        random.forget = forget;
        random.retain = retain_all[..400].to_vec();
        random.val = full.val[..300].to_vec();
        random.test = full.test[..300].to_vec();
        random.train = train.clone();
        let mut class = random.clone();
        class.scenario = "class:3".parse().expect("scenario");
        class.forget = train
            .iter()
            .copied()
            .filter(|&i| images.labels[i as usize] == 3)
            .take(150)
            .collect();
        class.retain = train
            .iter()
            .copied()
            .filter(|&i| images.labels[i as usize] != 3)
            .take(400)
            .collect();
        Fixture {
            ds,
            images,
            random,
            class,
            original,
            recipe,
        }
    })
}

fn ctx<'a>(f: &'a Fixture, split: &'a SplitManifest) -> UnlearnContext<'a> {
    let mut c = UnlearnContext::new(&f.original, &f.ds, &f.images, split, &f.recipe, 0);
    c.monitor = 150;
    c
}

fn run_method(id: &str, sets: &[&str], split: &SplitManifest) -> Unlearned {
    let f = fixture();
    let method =
        registry::build(id, "quick", &Overrides::sets(sets).expect("sets")).expect("build");
    match run(&method, &ctx(f, split)) {
        Ok(u) => u,
        Err(e) => panic!("{id} failed: {}", e.error),
    }
}

fn tensors(model: &Model) -> BTreeMap<String, Vec<f32>> {
    model
        .store()
        .all()
        .into_iter()
        .map(|(n, v, _)| {
            let t = v.as_tensor().flatten_all().expect("flatten");
            (n, t.to_vec1::<f32>().expect("f32"))
        })
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn first_last(u: &Unlearned) -> (f64, f64, f64, f64) {
    let first = u.record.epochs.first().expect("start entry");
    let last = u.record.epochs.last().expect("last entry");
    (
        first.forget_acc.expect("fa"),
        last.forget_acc.expect("fa"),
        first.retain_acc.expect("ra"),
        last.retain_acc.expect("ra"),
    )
}

#[test]
fn ga_lowers_forget_accuracy() {
    let u = run_method("ga", &["epochs=3", "lr=0.01"], &fixture().random);
    let (fa0, fa1, _, _) = first_last(&u);
    assert!(fa1 < fa0 - 10.0, "forget accuracy {fa0} -> {fa1}");
    assert_eq!(u.record.steps, 6);
    assert!(u.record.failed.is_none());
}

#[test]
fn ft_keeps_retain_accuracy() {
    let u = run_method("ft", &["epochs=1"], &fixture().random);
    let (_, _, ra0, ra1) = first_last(&u);
    assert!(ra1 >= ra0 - 3.0, "retain accuracy {ra0} -> {ra1}");
}

#[test]
fn head_only_leaves_the_feature_extractor_bit_identical() {
    let f = fixture();
    let u = run_method("head-only", &["epochs=1"], &f.random);
    let before = tensors(&f.original);
    let after = tensors(&u.model);
    let mut head_changed = false;
    for (name, b) in &before {
        let a = &after[name];
        if u.model.is_head_tensor(name) {
            head_changed |= bits(a) != bits(b);
        } else {
            assert_eq!(bits(a), bits(b), "feature-extractor tensor {name} changed");
        }
    }
    assert!(head_changed, "the head was not trained");
}

#[test]
fn salun_masked_out_weights_stay_bit_identical_with_momentum_and_weight_decay() {
    let f = fixture();
    let sets = ["epochs=2", "momentum=0.9", "weight_decay=0.0005", "lr=0.01"];
    let params =
        unlearn_methods::configure::<SalUnParams>("quick", &Overrides::sets(&sets).expect("sets"))
            .expect("params");
    assert!(params.sgd.momentum > 0.0 && params.sgd.weight_decay > 0.0);
    let c = ctx(f, &f.random);
    let masks = params.saliency_masks(&c, &f.original).expect("masks");
    let u = match run(&params, &c) {
        Ok(u) => u,
        Err(e) => panic!("salun failed: {}", e.error),
    };
    let before = tensors(&f.original);
    let after = tensors(&u.model);
    let (mut kept, mut total, mut changed) = (0usize, 0usize, 0usize);
    for (name, mask) in &masks {
        let m: Vec<u8> = mask
            .flatten_all()
            .expect("flat")
            .to_vec1::<u8>()
            .expect("u8");
        let (b, a) = (&before[name], &after[name]);
        for ((&mi, x), y) in m.iter().zip(b).zip(a) {
            total += 1;
            if mi == 0 {
                assert_eq!(
                    x.to_bits(),
                    y.to_bits(),
                    "masked-out weight of {name} changed"
                );
            } else {
                kept += 1;
                changed += usize::from(x.to_bits() != y.to_bits());
            }
        }
    }
    let share = kept as f64 / total as f64;
    assert!((share - 0.5).abs() < 0.01, "mask share {share}");
    assert!(
        changed > kept / 2,
        "only {changed} of {kept} salient weights moved"
    );
}

#[test]
fn be_checkpoint_loads_as_a_plain_model() {
    let f = fixture();
    let u = run_method("be", &["epochs=1"], &f.random);
    assert_eq!(u.model.spec().num_classes, 10);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("be.safetensors");
    checkpoint::save(&u.model, &CheckpointMeta::for_model(&u.model), &path).expect("save");
    let (loaded, meta) = checkpoint::load(&path, &Device::Cpu).expect("loads like any checkpoint");
    assert_eq!(meta.num_classes, 10);
    assert_eq!(
        loaded.store().get("fc.weight").expect("fc").dims(),
        &[10, 128]
    );
    let x = Tensor::zeros((2, 1, 28, 28), DType::F32, &Device::Cpu).expect("x");
    assert_eq!(loaded.forward(&x, false).expect("forward").dims(), &[2, 10]);
}

#[test]
fn muda_without_da_differs_from_muda() {
    let f = fixture();
    let base = ["epochs=1", "stop_rule=false", "lr_forget=0.01"];
    let with = run_method("muda", &base, &f.random);
    let mut sets = base.to_vec();
    sets.push("da=false");
    let without = run_method("muda", &sets, &f.random);
    assert_ne!(tensors(&with.model), tensors(&without.model));
    assert!(with
        .record
        .notes
        .iter()
        .any(|n| n.contains("mean DA_batch")));
    assert!(!without
        .record
        .notes
        .iter()
        .any(|n| n.contains("mean DA_batch")));
    assert_eq!(with.record.params["da"], true);
    assert_eq!(without.record.params["da"], false);
    // Stages alternate: start, forget, recover.
    let stages: Vec<&str> = with
        .record
        .epochs
        .iter()
        .map(|e| e.stage.as_str())
        .collect();
    assert_eq!(stages, ["start", "forget", "recover"]);
}

#[test]
fn same_seed_gives_the_same_bytes() {
    let f = fixture();
    let a = run_method("rl", &["epochs=1"], &f.random);
    let b = run_method("rl", &["epochs=1"], &f.random);
    assert_eq!(tensors(&a.model), tensors(&b.model));
}

#[test]
fn divergence_stops_with_an_error_and_a_failed_record() {
    let f = fixture();
    let method = registry::build(
        "ft",
        "quick",
        &Overrides::sets(&["lr=1e12", "epochs=2"]).expect("sets"),
    )
    .expect("build");
    let failure = match run(&method, &ctx(f, &f.random)) {
        Ok(_) => panic!("a learning rate of 1e12 must diverge"),
        Err(e) => e,
    };
    assert!(failure.error.is_divergence(), "{}", failure.error);
    let msg = failure
        .record
        .failed
        .as_deref()
        .expect("record marked failed");
    assert!(msg.contains("diverged"), "{msg}");
    assert_eq!(failure.record.method, "ft");
}

#[test]
fn every_method_runs_on_random_and_class_scenarios() {
    let f = fixture();
    for split in [&f.random, &f.class] {
        for id in METHOD_IDS {
            let sets: &[&str] = match id {
                "retrain" => &["epochs=1"],
                "scrub" => &["epochs=1", "max_epochs=1"],
                "muda" => &["epochs=1", "reference_size=200"],
                _ => &["epochs=1"],
            };
            let u = run_method(id, sets, split);
            assert!(u.record.failed.is_none());
            assert_eq!(u.record.scenario, split.scenario.to_string());
            assert_eq!(u.model.spec(), f.original.spec(), "{id}");
            assert!(u.record.epochs.len() >= 2, "{id}: {:?}", u.record.epochs);
            assert!(u.record.seconds > 0.0);
            let json = serde_json::to_string(&u.record).expect("record serialises");
            let back: unlearn_methods::RunRecord = serde_json::from_str(&json).expect("and back");
            assert_eq!(
                (&back.method, &back.params, back.steps, back.epochs.len()),
                (
                    &u.record.method,
                    &u.record.params,
                    u.record.steps,
                    u.record.epochs.len()
                )
            );
        }
    }
}

#[test]
fn bad_overrides_give_clear_errors() {
    fn build_in(id: &str, preset: &str, sets: &[&str]) -> Result<(), String> {
        let o = Overrides::sets(sets).map_err(|e: MethodError| e.to_string())?;
        registry::build(id, preset, &o)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    let build = |id: &str, sets: &[&str]| build_in(id, "quick", sets);
    let msg = |r: Result<(), String>| match r {
        Ok(()) => panic!("expected an error"),
        Err(e) => e,
    };
    let e = msg(build("ga", &["nope=1"]));
    assert!(e.contains("no parameter 'nope'") && e.contains("lr"), "{e}");
    let e = msg(build("ga", &["lr=abc"]));
    assert!(e.contains("lr") && e.contains("a number"), "{e}");
    let e = msg(build("ga", &["epochs=1.5"]));
    assert!(e.contains("whole number"), "{e}");
    let e = msg(build("ga", &["lr=-1"]));
    assert!(e.contains("> 0"), "{e}");
    let e = msg(build("ga", &["lr=inf"]));
    assert!(e.contains("finite"), "{e}");
    let e = msg(build("muda", &["da=maybe"]));
    assert!(e.contains("true or false"), "{e}");
    let e = msg(build("muda", &["k=auto:2"]));
    assert!(e.contains("k"), "{e}");
    let e = msg(build("salun", &["mask_scope=rows"]));
    assert!(e.contains("tensor, global"), "{e}");
    let e = msg(build("ga", &["lr"]));
    assert!(e.contains("key=value"), "{e}");
    let e = msg(build("nope", &[]));
    assert!(e.contains("unknown method") && e.contains("muda"), "{e}");
    let e = msg(build_in("ga", "huge", &[]));
    assert!(e.contains("unknown preset"), "{e}");
}

#[test]
fn toml_config_is_merged_under_set_items() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("h.toml");
    std::fs::write(
        &path,
        "epochs = 4\n[muda]\nlambda_da = 2.5\nda = false\n[ga]\nlr = 0.5\n",
    )
    .expect("write");
    let ov = Overrides::new(&["epochs=5".to_string()], Some(&path)).expect("overrides");
    let muda = registry::build("muda", "quick", &ov).expect("muda");
    let p = muda.params_json();
    assert_eq!(p["epochs"], 5);
    assert_eq!(p["lambda_da"], 2.5);
    assert_eq!(p["da"], false);
    let ov = Overrides::new(&[], Some(&path)).expect("overrides");
    let ga = registry::build("ga", "quick", &ov)
        .expect("ga")
        .params_json();
    assert_eq!(
        (ga["epochs"].as_u64(), ga["lr"].as_f64()),
        (Some(4), Some(0.5))
    );

    std::fs::write(&path, "[nope]\nlr = 1\n").expect("write");
    let ov = Overrides::new(&[], Some(&path)).expect("overrides");
    let e = registry::build("ga", "quick", &ov)
        .err()
        .expect("unknown section")
        .to_string();
    assert!(e.contains("unknown section [nope]"), "{e}");
    std::fs::write(&path, "lr = \"fast\"\n").expect("write");
    let ov = Overrides::new(&[], Some(&path)).expect("overrides");
    let e = registry::build("ga", "quick", &ov)
        .err()
        .expect("bad type")
        .to_string();
    assert!(e.contains("lr") && e.contains("fast"), "{e}");
    std::fs::write(&path, "lr = [1, 2]\n").expect("write");
    let ov = Overrides::new(&[], Some(&path)).expect("overrides");
    assert!(registry::build("ga", "quick", &ov).is_err());
    std::fs::write(&path, "lr = = 1\n").expect("write");
    let e = Overrides::new(&[], Some(&path))
        .expect_err("bad toml")
        .to_string();
    assert!(e.contains("not valid TOML"), "{e}");
}

#[test]
fn registry_lists_every_method_with_documented_defaults() {
    for preset in ["quick", "fmnist", "cifar10", "cifar100"] {
        let list = registry::methods(preset).expect("list");
        let ids: Vec<&str> = list.iter().map(|m| m.id).collect();
        assert_eq!(ids, METHOD_IDS);
        for m in &list {
            assert!(!m.summary.is_empty() && !m.paper.is_empty());
            assert!(!m.params.is_empty());
            for p in &m.params {
                assert!(!p.default.is_null(), "{} {} has no default", m.id, p.name);
                assert!(!p.doc.is_empty());
            }
            // The defaults are valid and every documented key is a real field.
            let method =
                registry::build(m.id, preset, &Overrides::default()).expect("defaults valid");
            let json = method.params_json();
            let obj = json.as_object().expect("object");
            assert_eq!(
                obj.len(),
                m.params.len(),
                "{}: docs and fields differ",
                m.id
            );
        }
    }
    // Equal access to data: every method that uses retain data sees all of it by default,
    // in every preset and scenario, as every reference implementation does.
    let scenarios = ["random:0.1", "class:3", "backdoor:0.05"];
    for preset in ["quick", "fmnist", "cifar10", "cifar100"] {
        for m in registry::methods(preset).expect("listing") {
            let Some(budget) = m.params.iter().find(|p| p.name == "retain_budget") else {
                continue;
            };
            assert_eq!(budget.default, 1.0, "{preset}/{}", m.id);
            for sc in scenarios {
                let scenario: unlearn_data::Scenario = sc.parse().expect("scenario");
                let o = Overrides::default().with_scenario(&scenario);
                let params = registry::build(m.id, preset, &o)
                    .expect("scenario defaults are valid")
                    .params_json();
                assert_eq!(
                    params["retain_budget"], 1.0,
                    "{preset}/{}/{sc}: a scenario default changes the retain budget",
                    m.id
                );
            }
        }
    }
}

#[test]
fn listings_name_the_scenario_defaults_that_differ() {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let class = unlearn_data::Scenario::Class { classes: vec![3] };
    let random = unlearn_data::Scenario::Random { fraction: 0.1 };
    let backdoor = unlearn_data::Scenario::Backdoor(unlearn_data::BackdoorSpec::default());
    for preset in ["quick", "fmnist", "cifar10", "cifar100"] {
        for m in registry::methods(preset).expect("listing") {
            let general = registry::build(m.id, preset, &Overrides::default())
                .expect("defaults valid")
                .params_json();
            for (scenario, listed) in [
                (&class, &m.class_defaults),
                (&random, &m.random_defaults),
                (&backdoor, &m.backdoor_defaults),
            ] {
                let o = Overrides::default().with_scenario(scenario);
                let params = registry::build(m.id, preset, &o)
                    .expect("scenario defaults are valid")
                    .params_json();
                let differing: Vec<(String, String)> = m
                    .params
                    .iter()
                    .filter(|p| params[&p.name] != general[&p.name])
                    .map(|p| (p.name.clone(), text(&params[&p.name])))
                    .collect();
                assert_eq!(&differing, listed, "{preset}/{}/{scenario}", m.id);
            }
        }
    }
    // `fmnist` has its own general values where the `quick` ones diverged on the full data.
    let lr = |id: &str, preset: &str| {
        registry::info(id, preset)
            .expect("info")
            .params
            .into_iter()
            .find(|p| p.name == "lr")
            .expect("lr")
            .default
    };
    assert_ne!(lr("ga", "fmnist"), lr("ga", "quick"));
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let ft = registry::info("ft", "quick").expect("ft is listed");
    assert_eq!(
        ft.class_defaults,
        pairs(&[("epochs", "2"), ("lr", "0.0799")])
    );
    let muda = registry::info("muda", "fmnist").expect("muda is listed");
    assert!(muda.random_defaults.is_empty());
    assert_eq!(
        muda.backdoor_defaults,
        pairs(&[
            ("lr_forget", "0.01"),
            ("lr_recover", "0.01"),
            ("lambda_sd", "0.5")
        ])
    );
    let ft = serde_json::to_value(registry::info("ft", "fmnist").expect("ft is listed"))
        .expect("listing serialises");
    // Listed, and empty: `fmnist` has no backdoor values of its own for ft.
    assert_eq!(ft["backdoor_defaults"], serde_json::json!([]));
}
