//! `muda-no-alt` (`alternate=false`) removes the alternation itself: forget and recover
//! losses summed in every step. It cannot coincide with full MUDA, as it did when it only
//! reordered the stages and the stopping rule made the forget stages vanish
//! (`backdoor:0.05` gaps equal to the last digit in an earlier study).

mod support;

use support::parity_case as case;
use unlearn_data::{make_split, SplitConfig};
use unlearn_methods::{registry, run, Overrides, UnlearnContext};
use unlearn_models::Arch;
use unlearn_train::Recipe;

/// A small split of `scenario` (`forget` samples, 160 retain, 64 validation), its training
/// images as the model sees them, and an original trained on it.
fn small_case(
    scenario: &str,
    forget: usize,
) -> (
    unlearn_data::Dataset,
    unlearn_data::SplitManifest,
    unlearn_data::ImageSet,
    unlearn_models::Model,
) {
    let (ds, _, _) = case::data();
    let cfg = SplitConfig {
        scenario: scenario.parse().expect("scenario"),
        seed: 0,
        val_fraction: 0.1,
    };
    let mut split = make_split(&ds, &cfg).expect("split");
    split.forget.truncate(forget);
    split.retain.truncate(160);
    split.val.truncate(64);
    let images = split.poisoned_train(&ds);
    let original = case::original(Arch::SmallCnn, &ds, &split);
    (ds, split, images, original)
}

#[test]
fn muda_without_alternation_differs_from_muda_on_a_backdoor() {
    let (ds, split, images, original) = small_case("backdoor:0.05", 48);
    let recipe = Recipe::preset("quick").expect("recipe");
    let mut ctx = UnlearnContext::new(&original, &ds, &images, &split, &recipe, 0);
    ctx.monitor = 48;
    let mut records = Vec::new();
    let mut models = Vec::new();
    for sets in [
        vec!["batch_size=16"],
        vec!["batch_size=16", "alternate=false"],
    ] {
        let sets: Vec<String> = sets.into_iter().map(String::from).collect();
        let overrides = Overrides::new(&sets, None)
            .expect("overrides")
            .with_scenario(&split.scenario);
        let m = registry::build("muda", "quick", &overrides).expect("muda");
        let out = run(&m, &ctx).map_err(|f| f.error).expect("run");
        records.push(out.record);
        models.push(out.model);
    }
    let stages = |r: &unlearn_methods::RunRecord| -> Vec<String> {
        r.epochs.iter().map(|e| e.stage.clone()).collect()
    };
    assert!(stages(&records[0]).contains(&"forget".to_string()));
    assert!(stages(&records[0]).contains(&"recover".to_string()));
    assert!(
        stages(&records[1]).iter().skip(1).all(|s| s == "joint"),
        "{:?}",
        stages(&records[1])
    );
    // As many steps as full MUDA has batches per epoch, with the forget loss in some.
    let joint_steps: usize = records[1].epochs.iter().map(|e| e.steps).sum();
    let epochs = records[1].params["epochs"].as_u64().expect("epochs") as usize;
    assert_eq!(
        joint_steps,
        epochs * (48usize.div_ceil(16) + 160usize.div_ceil(16))
    );
    assert!(
        records[1]
            .notes
            .iter()
            .any(|n| n.contains("with the forget loss")),
        "{:?}",
        records[1].notes
    );
    let logits = |m: &unlearn_models::Model| {
        let b = ctx
            .view(&split.forget)
            .batch(&split.forget, ctx.device, None)
            .expect("batch");
        m.forward(&b.x, false)
            .expect("logits")
            .flatten_all()
            .expect("flat")
            .to_vec1::<f32>()
            .expect("values")
    };
    let (a, b) = (logits(&models[0]), logits(&models[1]));
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(
        diff > 0.1,
        "muda and muda-no-alt give the same forget logits (max diff {diff})"
    );
}

/// The joint steps' stopping rule is the forget stage's: against the fixed 0 % target of a
/// `class:` split it looks at each forget batch's accuracy. With the running accuracy of
/// the epoch (the rule before) the target was never reached once a batch had been
/// classified, the ascent ran the whole epoch, and the run diverged on `class:3`.
#[test]
fn muda_without_alternation_stops_its_ascent_at_a_fixed_target() {
    let (ds, split, images, original) = small_case("class:3", 64);
    let recipe = Recipe::preset("quick").expect("recipe");
    let mut ctx = UnlearnContext::new(&original, &ds, &images, &split, &recipe, 0);
    ctx.monitor = 64;
    let sets: Vec<String> = ["batch_size=16", "alternate=false", "epochs=2"]
        .into_iter()
        .map(String::from)
        .collect();
    let overrides = Overrides::new(&sets, None)
        .expect("overrides")
        .with_scenario(&split.scenario);
    let m = registry::build("muda", "quick", &overrides).expect("muda");
    let out = run(&m, &ctx).map_err(|f| f.error).expect("run");
    let notes = &out.record.notes;
    assert!(
        notes.iter().any(|n| n.contains("stop target: 0%")),
        "a class split has the fixed 0 % target: {notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("then the stop target was reached")),
        "the ascent never stopped: {notes:?}"
    );
}
