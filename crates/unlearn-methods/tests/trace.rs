//! The step trace: what it records, that it changes nothing, and what it shows about the
//! methods' loops (RL's targets, BS's per-batch labels, NegGrad+'s pairing, SCRUB's lr).

mod support;

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use support::parity_case as case;
use unlearn_methods::{registry, run, Overrides, UnlearnContext};
use unlearn_models::Arch;
use unlearn_train::Recipe;

fn lines(trace: &unlearn_train::Trace) -> Vec<Value> {
    std::str::from_utf8(trace.jsonl())
        .expect("UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn weights(model: &unlearn_models::Model) -> BTreeMap<String, Vec<u32>> {
    model
        .store()
        .all()
        .into_iter()
        .map(|(name, var, _)| {
            let bits = var
                .as_tensor()
                .flatten_all()
                .and_then(|t| t.to_dtype(candle_core::DType::F32))
                .and_then(|t| t.to_vec1::<f32>())
                .expect("values")
                .iter()
                .map(|v| v.to_bits())
                .collect();
            (name, bits)
        })
        .collect()
}

/// Every method's unlearned weights are bit-identical with and without a trace.
#[test]
fn tracing_changes_no_weight() {
    let (ds, split, images) = case::data();
    let original = case::original(Arch::SmallCnn, &ds, &split);
    let recipe = Recipe::preset("quick").expect("recipe");
    for method in case::METHODS.iter().chain(&["muda", "head-only"]) {
        let overrides =
            Overrides::new(&case::overrides(Arch::SmallCnn, method), None).expect("overrides");
        let m = registry::build(method, "quick", &overrides).expect("method");
        let mut ctx = UnlearnContext::new(&original, &ds, &images, &split, &recipe, 0);
        ctx.monitor = 16;
        let plain = run(&m, &ctx).map_err(|f| f.error).expect("untraced run");
        let trace = std::cell::RefCell::new(unlearn_train::Trace::new());
        ctx.trace = Some(&trace);
        let traced = run(&m, &ctx).map_err(|f| f.error).expect("traced run");
        assert_eq!(
            weights(&plain.model),
            weights(&traced.model),
            "{method}: tracing changed the weights"
        );
        let trace = trace.into_inner();
        assert_eq!(
            trace.steps(),
            traced.record.steps,
            "{method}: one line per step"
        );
        let lines = lines(&trace);
        for (i, l) in lines.iter().enumerate() {
            assert_eq!(l["step"], i as u64, "{method}");
            for key in [
                "stage", "indices", "labels", "augment", "lr", "loss", "epoch",
            ] {
                assert!(l.get(key).is_some(), "{method}: step {i} has no {key}: {l}");
            }
            let n = l["indices"].as_array().map_or(0, |a| a.len());
            assert_eq!(l["labels"].as_array().map_or(0, |a| a.len()), n, "{method}");
            // MUDA's forget steps see their batches as the subspace and the validation
            // accuracy do: unaugmented, in eval mode.
            let augmented = !(*method == "muda" && l["stage"] == "forget");
            assert_eq!(
                l["augment"]["crops"].as_array().map_or(0, |a| a.len()),
                if augmented { n } else { 0 },
                "{method}: step {i}, stage {}",
                l["stage"]
            );
        }
    }
}

/// RL's forget targets are uniform over all classes, the true one included, drawn afresh
/// for every batch; an epoch's forget batches come before its retain batches.
#[test]
fn rl_targets_are_uniform_over_all_classes_and_redrawn() {
    let c = case::run_case(Arch::SmallCnn, "rl");
    let lines = lines(&c.trace);
    let stages: Vec<&str> = lines.iter().map(|l| l["stage"].as_str().unwrap()).collect();
    // 2 epochs of 5 forget batches then 15 retain batches.
    let epoch: Vec<&str> = [vec!["forget"; 5], vec!["retain"; 15]].concat();
    assert_eq!(stages, [epoch.clone(), epoch].concat());
    let mut per_sample: HashMap<u64, Vec<u64>> = HashMap::new();
    let (mut same, mut total) = (0usize, 0usize);
    for l in lines.iter().filter(|l| l["stage"] == "forget") {
        for (i, y) in l["indices"]
            .as_array()
            .unwrap()
            .iter()
            .zip(l["labels"].as_array().unwrap())
        {
            let (i, y) = (i.as_u64().unwrap(), y.as_u64().unwrap());
            assert!(y < 10);
            total += 1;
            if c.images.labels[i as usize] as u64 == y {
                same += 1;
            }
            per_sample.entry(i).or_default().push(y);
        }
    }
    assert_eq!(total, 2 * case::FORGET);
    // The true class is among the draws (expected 8 of 80 at 1/10).
    assert!(
        same > 0,
        "no forget target equals the true class in {total} draws"
    );
    let redrawn = per_sample.values().filter(|ys| ys[0] != ys[1]).count();
    assert!(
        redrawn > case::FORGET / 2,
        "targets look fixed: {redrawn} of {} changed",
        case::FORGET
    );
    // Retain batches train on the true labels.
    for l in lines.iter().filter(|l| l["stage"] == "retain") {
        for (i, y) in l["indices"]
            .as_array()
            .unwrap()
            .iter()
            .zip(l["labels"].as_array().unwrap())
        {
            assert_eq!(
                c.images.labels[i.as_u64().unwrap() as usize] as u64,
                y.as_u64().unwrap()
            );
        }
    }
}

/// BS labels every trained batch afresh (the augmented batch, after an FGSM step), and some
/// keep their class; NegGrad+ pairs every retain batch with a forget batch of the epoch's
/// cycle; SCRUB's lr follows its decay epochs; SalUn's first step names its mask.
#[test]
fn the_trace_shows_each_loop_as_its_reference_runs_it() {
    let bs = case::run_case(Arch::SmallCnn, "bs");
    let lines_bs = lines(&bs.trace);
    let kept: u64 = lines_bs
        .iter()
        .map(|l| {
            let moved = l["flipped"].as_u64().expect("flipped");
            l["indices"].as_array().unwrap().len() as u64 - moved
        })
        .sum();
    assert!(
        kept > 0,
        "every BS target moved off its class: the argmax is over all classes"
    );

    let ng = case::run_case(Arch::SmallCnn, "neggrad+");
    let lines_ng = lines(&ng.trace);
    let pairs: Vec<&Value> = lines_ng.iter().map(|l| &l["pair"]).collect();
    assert!(pairs.iter().all(|p| p["stage"] == "forget"));
    // 15 retain batches per epoch against 5 forget batches: the epoch's cycle repeats.
    for epoch in 0..2 {
        let ps = &pairs[epoch * 15..(epoch + 1) * 15];
        for k in 5..15 {
            assert_eq!(
                ps[k]["indices"],
                ps[k - 5]["indices"],
                "epoch {epoch} pair {k}"
            );
            assert_eq!(
                ps[k]["augment"],
                ps[k - 5]["augment"],
                "cycle replays its batches"
            );
        }
    }
    assert_ne!(
        pairs[0]["indices"], pairs[15]["indices"],
        "a fresh shuffle each epoch"
    );

    let scrub = case::run_case(Arch::SmallCnn, "scrub");
    let lrs: Vec<(u64, String, f64)> = lines(&scrub.trace)
        .iter()
        .map(|l| {
            (
                l["epoch"].as_u64().unwrap(),
                l["stage"].as_str().unwrap().to_string(),
                l["lr"].as_f64().unwrap(),
            )
        })
        .collect();
    for (epoch, stage, lr) in &lrs {
        // lr 0.01, ×0.5 after the 1-based epochs 1 and 2.
        let want = 0.01 * 0.5f64.powi(*epoch as i32);
        assert!(
            (lr - want).abs() < 1e-12,
            "epoch {epoch} {stage}: lr {lr}, want {want}"
        );
        assert!(
            *epoch < 2 || stage == "min",
            "max steps only in the first 2 epochs"
        );
    }

    let salun = case::run_case(Arch::SmallCnn, "salun");
    let first = &lines(&salun.trace)[0];
    assert_eq!(first["mask_file"], "mask.safetensors");
    assert!(first["mask_kept"].as_u64().unwrap() > 0);
    assert_eq!(salun.trace.files().len(), 1);
}
