//! MUDA's variants `da_form`, `da_on` and `forget_stage_steps`: the DA_batch forms against
//! a numpy reference (`tests/reference/da_variants.py` → `da_variants.json`), and their
//! behaviour on a small original (small CNN, 2,000 embedded Fashion-MNIST images, 2 epochs)
//! with small forget/retain sets, as in `behaviour.rs`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use candle_core::{Device, Tensor};
use serde::Deserialize;
use unlearn_data::{make_split, DataSource, Dataset, ImageSet, SplitConfig, SplitManifest};
use unlearn_methods::losses::{
    centre_rows, class_bases, da_batch, da_batch_centred, da_batch_per_class,
};
use unlearn_methods::{registry, run, Overrides, UnlearnContext, Unlearned};
use unlearn_metrics::{retain_basis, KRule, RetainBasis};
use unlearn_models::{Arch, Model, ModelSpec};
use unlearn_train::{engine, DataView, Recipe};

// ---------------------------------------------------------------------------------------
// The numpy reference.

#[derive(Deserialize)]
struct Reference {
    d: usize,
    classes: usize,
    reference: Vec<Vec<f32>>,
    reference_labels: Vec<u32>,
    forget: Vec<Vec<f32>>,
    forget_labels: Vec<u32>,
    reference_mean: Vec<f64>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    k: usize,
    uncentred: f64,
    centred: f64,
    per_class: f64,
    class_k: Vec<Option<usize>>,
}

fn tensor(basis: &RetainBasis) -> Tensor {
    Tensor::from_vec(basis.v_k.clone(), (basis.d, basis.k), &Device::Cpu).expect("V_k")
}

fn scalar(t: candle_core::Result<Tensor>) -> f64 {
    f64::from(t.expect("DA_batch").to_scalar::<f32>().expect("scalar"))
}

#[test]
fn da_forms_match_the_numpy_reference() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/reference/da_variants.json"
    );
    let text = std::fs::read_to_string(path).expect("da_variants.json (see da_variants.py)");
    let r: Reference = serde_json::from_str(&text).expect("reference JSON");
    let (d, n) = (r.d, r.reference.len());
    let feats: Vec<f32> = r.reference.concat();
    let forget_rows: Vec<f32> = r.forget.concat();
    let forget = Tensor::from_vec(forget_rows, (r.forget.len(), d), &Device::Cpu).expect("z");
    let (mean, centred) = centre_rows(&feats, n, d);
    for (m, want) in mean.iter().zip(&r.reference_mean) {
        assert!((f64::from(*m) - want).abs() < 1e-6, "mean {m} vs {want}");
    }
    let mean = Tensor::from_vec(mean, d, &Device::Cpu).expect("μ");
    assert!(r.cases.len() >= 2);
    for case in &r.cases {
        let rule = KRule::Fixed(case.k);
        // The calls MUDA's subspace() makes: every reference row, no subsampling.
        let global = retain_basis(&feats, n, d, rule, r.classes, n, 7).expect("basis");
        let centred_basis = retain_basis(&centred, n, d, rule, r.classes, n, 7).expect("basis");
        let per_class =
            class_bases(&feats, &r.reference_labels, d, rule, r.classes, 7).expect("bases");
        let ks: Vec<Option<usize>> = per_class.iter().map(|b| b.as_ref().map(|b| b.k)).collect();
        assert_eq!(
            ks, case.class_k,
            "k = {}: per-class k (capped, None < 2)",
            case.k
        );
        let class_tensors: Vec<Option<Tensor>> =
            per_class.iter().map(|b| b.as_ref().map(tensor)).collect();
        let got = [
            ("uncentred", scalar(da_batch(&forget, &tensor(&global)))),
            (
                "centred",
                scalar(da_batch_centred(&forget, &mean, &tensor(&centred_basis))),
            ),
            (
                "per_class",
                scalar(da_batch_per_class(
                    &forget,
                    &r.forget_labels,
                    &class_tensors,
                    &tensor(&global),
                )),
            ),
        ];
        let want = [case.uncentred, case.centred, case.per_class];
        for ((name, g), w) in got.iter().zip(want) {
            assert!(
                (g - w).abs() < 1e-5,
                "k = {}: {name} DA_batch {g} vs numpy {w}",
                case.k
            );
        }
        // The three forms are distinguishable on these inputs (so the check has teeth).
        assert!((case.centred - case.uncentred).abs() > 1e-3);
        assert!((case.per_class - case.uncentred).abs() > 1e-3);
    }
}

#[test]
fn per_class_da_is_differentiable_and_bounded() {
    let rows: Vec<f32> = (0..24).map(|i| ((i * 7 % 11) as f32 - 5.0) / 3.0).collect();
    let labels: Vec<u32> = (0..12).map(|i| i % 3).collect();
    let basis = class_bases(&rows, &labels, 2, KRule::Fixed(1), 3, 0).expect("bases");
    assert!(basis.iter().all(|b| b.as_ref().is_some_and(|b| b.k == 1)));
    let global = retain_basis(&rows, 12, 2, KRule::Fixed(1), 3, 12, 0).expect("basis");
    let var = candle_core::Var::from_vec(rows[..8].to_vec(), (4, 2), &Device::Cpu).expect("z");
    let classes: Vec<Option<Tensor>> = basis.iter().map(|b| b.as_ref().map(tensor)).collect();
    // Label 5 is beyond the class list: the global subspace.
    let da = da_batch_per_class(var.as_tensor(), &[0, 1, 2, 5], &classes, &tensor(&global))
        .expect("DA_batch");
    let v = f64::from(da.to_scalar::<f32>().expect("scalar"));
    assert!((0.0..=1.0 + 1e-6).contains(&v), "{v}");
    let grads = da.backward().expect("backward");
    let g = grads
        .get(var.as_tensor())
        .expect("gradient of the features");
    let norm: f32 = g
        .sqr()
        .and_then(|s| s.sum_all())
        .and_then(|s| s.to_scalar())
        .expect("|g|");
    assert!(norm.is_finite() && norm > 0.0, "{norm}");
    assert!(da_batch_per_class(var.as_tensor(), &[0, 1], &classes, &tensor(&global)).is_err());
}

// ---------------------------------------------------------------------------------------
// Behaviour on the embedded data.

struct Fixture {
    ds: Dataset,
    images: ImageSet,
    /// random:0.1 restricted to 150 forget / 400 retain samples of the original's training set.
    random: SplitManifest,
    /// The same with only 40 forget samples (one batch of 128).
    tiny: SplitManifest,
    /// class:3 restricted likewise (100 forget samples).
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
        random.val = full.val[..200].to_vec();
        random.test = full.test[..200].to_vec();
        random.train = train.clone();
        let mut tiny = random.clone();
        tiny.forget.truncate(40);
        let mut class = random.clone();
        class.scenario = "class:3".parse().expect("scenario");
        class.forget = train
            .iter()
            .copied()
            .filter(|&i| images.labels[i as usize] == 3)
            .take(100)
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
            tiny,
            class,
            original,
            recipe,
        }
    })
}

fn run_muda(sets: &[&str], split: &SplitManifest) -> Unlearned {
    let f = fixture();
    let method =
        registry::build("muda", "quick", &Overrides::sets(sets).expect("sets")).expect("build");
    let mut c = UnlearnContext::new(&f.original, &f.ds, &f.images, split, &f.recipe, 0);
    c.monitor = 100;
    match run(&method, &c) {
        Ok(u) => u,
        Err(e) => panic!("muda {sets:?} failed: {}", e.error),
    }
}

fn weights(model: &Model) -> BTreeMap<String, Vec<f32>> {
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

fn bits(model: &Model) -> BTreeMap<String, Vec<u32>> {
    weights(model)
        .into_iter()
        .map(|(n, v)| (n, v.iter().map(|x| x.to_bits()).collect()))
        .collect()
}

/// The largest absolute difference between two models' weights.
fn max_diff(a: &Model, b: &Model) -> f32 {
    let (a, b) = (weights(a), weights(b));
    a.iter()
        .flat_map(|(n, x)| x.iter().zip(&b[n]).map(|(p, q)| (p - q).abs()))
        .fold(0.0, f32::max)
}

/// `(steps, stopped_early)` of each forget stage.
fn forget_stages(u: &Unlearned) -> Vec<(usize, bool)> {
    u.record
        .epochs
        .iter()
        .filter(|e| e.stage == "forget")
        .map(|e| (e.steps, e.stopped_early))
        .collect()
}

fn stage_notes(u: &Unlearned) -> Vec<&str> {
    u.record
        .notes
        .iter()
        .filter(|n| n.contains("forget stage:"))
        .map(String::as_str)
        .collect()
}

#[test]
fn forget_stage_steps_is_a_step_budget_over_repeated_passes() {
    let f = fixture();
    let base = ["epochs=2", "stop_rule=false", "reference_size=200"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        base.iter().chain(extra).copied().collect()
    };
    // 40 forget samples at batch 128: one step per pass.
    let one = run_muda(&with(&["forget_stage_steps=0"]), &f.tiny);
    assert_eq!(forget_stages(&one), [(1, false), (1, false)]);
    let five = run_muda(&with(&["forget_stage_steps=5"]), &f.tiny);
    assert_eq!(forget_stages(&five), [(5, false), (5, false)]);
    assert_eq!(five.record.steps, one.record.steps + 8);
    let notes = stage_notes(&five);
    assert_eq!(notes.len(), 2);
    assert!(
        notes[0].starts_with("epoch 1 forget stage: 5 steps (budget 5, 5 passes)"),
        "{notes:?}"
    );
    assert_eq!(five.record.params["forget_stage_steps"], 5);
    assert_ne!(bits(&one.model), bits(&five.model));
    // Passes in fresh seeded orders stay deterministic.
    let again = run_muda(&with(&["forget_stage_steps=5"]), &f.tiny);
    assert_eq!(bits(&five.model), bits(&again.model));

    // 150 samples at batch 32 are 5 steps a pass: a budget of 7 ends inside the second pass.
    let cut = run_muda(&with(&["batch_size=32", "forget_stage_steps=7"]), &f.random);
    assert_eq!(forget_stages(&cut), [(7, false), (7, false)]);
    assert!(stage_notes(&cut)[1].contains("7 steps (budget 7, 2 passes)"));
    // A budget below one pass cuts the pass short; that is no early stop of the rule.
    let short = run_muda(
        &[
            "epochs=1",
            "stop_rule=false",
            "batch_size=32",
            "forget_stage_steps=3",
        ],
        &f.random,
    );
    assert_eq!(forget_stages(&short), [(3, false)]);
    assert!(stage_notes(&short)[0].contains("3 steps (budget 3, 1 pass)"));

    // The stopping rule still ends a stage early: a target of 100 % is met by any batch.
    let stop = run_muda(
        &["epochs=1", "stop_target=100", "forget_stage_steps=5"],
        &f.tiny,
    );
    assert_eq!(forget_stages(&stop), [(0, true)]);
    let note = stage_notes(&stop)[0];
    assert!(
        note.contains("0 steps") && note.ends_with(", reached"),
        "{note}"
    );
}

#[test]
fn da_variants_run_and_change_the_weights() {
    let f = fixture();
    let base = [
        "epochs=1",
        "stop_rule=false",
        "lr_forget=0.01",
        "lambda_da=5",
    ];
    let with = |extra: &'static str| -> Vec<&'static str> {
        base.iter().copied().chain([extra]).collect()
    };
    let default = run_muda(&base, &f.random);
    let default_bits = bits(&default.model);
    for extra in [
        "da_form=centred",
        "da_form=per_class",
        "da_on=forget_and_retain",
    ] {
        let u = run_muda(&with(extra), &f.random);
        let w = weights(&u.model);
        assert!(w.values().flatten().all(|x| x.is_finite()), "{extra}");
        assert_ne!(
            bits(&u.model),
            default_bits,
            "{extra} left the weights as the default's"
        );
        let (key, value) = extra.split_once('=').expect("key=value");
        assert_eq!(u.record.params[key], value);
        assert!(
            stage_notes(&u)[0].contains("mean DA_batch"),
            "{extra}: {:?}",
            u.record.notes
        );
        let retain_note = u
            .record
            .notes
            .iter()
            .any(|n| n.contains("mean retain DA_batch"));
        assert_eq!(retain_note, extra == "da_on=forget_and_retain", "{extra}");
    }
    // A forgotten class has no reference samples: per_class scores its samples against the
    // global subspace, i.e. as uncentred does (up to summation order), while centred differs.
    let class_default = run_muda(&base, &f.class);
    let class_per_class = run_muda(&with("da_form=per_class"), &f.class);
    let class_centred = run_muda(&with("da_form=centred"), &f.class);
    let same = max_diff(&class_default.model, &class_per_class.model);
    let other = max_diff(&class_default.model, &class_centred.model);
    assert!(same < 1e-5, "per_class on class:3 moved weights by {same}");
    assert!(
        other > 100.0 * same.max(1e-7),
        "centred {other} vs per_class {same}"
    );
}

#[test]
fn defaults_are_the_specification_settings_bit_for_bit() {
    let f = fixture();
    let base = ["epochs=2", "reference_size=200"];
    let default = run_muda(&base, &f.random);
    let mut explicit = base.to_vec();
    explicit.extend(["da_form=uncentred", "da_on=forget", "forget_stage_steps=0"]);
    let spelled = run_muda(&explicit, &f.random);
    assert_eq!(bits(&default.model), bits(&spelled.model));
    assert_eq!(default.record.notes, spelled.record.notes);
    assert_eq!(default.record.epochs.len(), spelled.record.epochs.len());
    for (a, b) in default.record.epochs.iter().zip(&spelled.record.epochs) {
        assert_eq!(
            (&a.stage, a.steps, a.stopped_early),
            (&b.stage, b.steps, b.stopped_early)
        );
    }
    assert_eq!(default.record.params["da_form"], "uncentred");
    assert_eq!(default.record.params["da_on"], "forget");
    assert_eq!(default.record.params["forget_stage_steps"], 0);
    // And a variant is not: the check can fail.
    explicit[2] = "da_form=centred";
    assert_ne!(
        bits(&default.model),
        bits(&run_muda(&explicit, &f.random).model)
    );
}
