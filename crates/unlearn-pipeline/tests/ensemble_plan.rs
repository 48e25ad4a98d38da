//! The plan of `--oracles N`: one split per scenario, N oracle retrains (seeds 0..N), N
//! originals shared by a member's scenarios, held-out retrains seeded outside the ensemble,
//! metrics against every oracle, one per-example test per model name reading N member and
//! N oracle features; and the cost estimate over it.

use std::collections::BTreeSet;

use unlearn_data::Scenario;
use unlearn_pipeline::cost::{estimate, makespan, QUICK_REFERENCE_SECONDS, TIMINGS_FILE};
use unlearn_pipeline::plan::{Plan, StudyConfig};
use unlearn_pipeline::store::Store;
use unlearn_pipeline::{Preset, StepKind, Steps};

const N: usize = 4;

fn config(ensemble: Option<usize>) -> StudyConfig {
    let mut cfg = StudyConfig::new(Preset::Quick, "unused");
    cfg.scenarios = Scenario::parse_list("random:0.1,class:3").unwrap();
    cfg.methods = Some(vec!["ft".into(), "ga".into()]);
    cfg.ensemble = ensemble;
    cfg
}

fn of_kind(steps: &Steps, kind: StepKind) -> Vec<&unlearn_pipeline::step::Step> {
    steps.all.iter().filter(|s| s.kind == kind).collect()
}

#[test]
fn an_ensemble_plan_has_its_members_oracles_and_held_out_retrains() {
    let plan = Plan::resolve(&config(Some(N)), "fp").unwrap();
    assert_eq!(plan.seeds, (0..N as u64).collect::<Vec<_>>());
    let (steps, cells) = Steps::of(&plan);
    assert_eq!(cells.len(), 2 * N);
    // One split per scenario, every member cell reads it.
    assert_eq!(of_kind(&steps, StepKind::Split).len(), 2);
    // N originals, shared by both scenarios of a member.
    assert_eq!(of_kind(&steps, StepKind::Original).len(), N);
    for k in 0..N {
        assert_eq!(cells[2 * k].original, cells[2 * k + 1].original);
    }
    // Per scenario N oracles with seeds 0..N and N held-out retrains with seeds N..2N.
    let retrains = of_kind(&steps, StepKind::Retrain);
    assert_eq!(retrains.len(), 2 * 2 * N);
    for scenario in 0..2 {
        let seeds = |oracle: bool| -> BTreeSet<u64> {
            retrains
                .iter()
                .filter(|s| s.cell.scenario == scenario)
                .filter(|s| s.model.as_deref().unwrap_or("").starts_with("oracle") == oracle)
                .map(|s| s.train_seed.unwrap())
                .collect()
        };
        assert_eq!(seeds(true), (0..N as u64).collect());
        assert_eq!(seeds(false), (N as u64..2 * N as u64).collect());
    }
    // Every metrics step reads its features and the scenario's N oracle features.
    for m in of_kind(&steps, StepKind::Metrics) {
        assert_eq!(m.inputs.len(), 1 + N);
        for &r in &m.inputs[1..] {
            let producer = &steps.all[steps.all[r].inputs[0]];
            assert!(producer.model.as_deref().unwrap().starts_with("oracle"));
            assert_eq!(producer.cell.scenario, m.cell.scenario);
        }
    }
    // One per-example test per scenario and model name (retrain, original, ft, ga).
    let tests = of_kind(&steps, StepKind::OracleTest);
    assert_eq!(tests.len(), 2 * 4);
    for t in &tests {
        assert_eq!(t.inputs.len(), 2 * N);
        assert_eq!(t.cell.seed, N as u64 - 1, "in the last member's cell");
        let members: BTreeSet<u64> = t.inputs[..N]
            .iter()
            .map(|&i| steps.all[i].cell.seed)
            .collect();
        assert_eq!(members, (0..N as u64).collect());
    }
    for c in &cells {
        assert_eq!(c.oracle_tests.len(), 4);
    }
    // Inputs come first; outputs are distinct.
    let mut outputs = BTreeSet::new();
    for s in &steps.all {
        assert!(
            s.inputs.iter().all(|&i| i < s.id),
            "step {} reads a later step",
            s.id
        );
        assert!(outputs.insert(s.output.clone()), "{:?} twice", s.output);
    }
}

#[test]
fn without_oracles_the_keys_are_those_of_a_plain_study() {
    // --oracles adds nothing to a plan that does not ask for it.
    let plain = Plan::resolve(&config(None), "fp").unwrap();
    assert!(plain.ensemble.is_none());
    let (steps, _) = Steps::of(&plain);
    assert!(of_kind(&steps, StepKind::OracleTest).is_empty());
    assert!(steps.all.iter().all(|s| s.train_seed.is_none()));
    // The ensemble's per-example parameters enter only the per-example steps' keys.
    let mut a = config(Some(N));
    let (sa, _) = Steps::of(&Plan::resolve(&a, "fp").unwrap());
    a.ensemble_params.klom.bins = 10;
    let (sb, _) = Steps::of(&Plan::resolve(&a, "fp").unwrap());
    for (x, y) in sa.all.iter().zip(&sb.all) {
        assert_eq!(
            x.key == y.key,
            x.kind != StepKind::OracleTest,
            "{:?}",
            x.kind
        );
    }
}

#[test]
fn ensembles_refuse_what_they_cannot_run() {
    let err = |cfg: &StudyConfig| Plan::resolve(cfg, "fp").unwrap_err().to_string();
    assert!(err(&config(Some(1))).contains("at least 2"));
    let mut cfg = config(Some(N));
    cfg.seeds = 3;
    assert!(err(&cfg).contains("drop --seeds 3"));
    let mut cfg = config(Some(N));
    cfg.original = Some("model.safetensors".into());
    assert!(err(&cfg).contains("--original"));
}

#[test]
fn the_estimate_counts_what_is_trained_and_uses_measured_times() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut cfg = config(Some(N));
    cfg.epochs_cap = Some(1);
    let plan = Plan::resolve(&cfg, "fp").unwrap();
    let (steps, _) = Steps::of(&plan);
    let e = estimate(&plan, &steps, &store, 1, 2);
    let text = e.render();
    for needle in [
        "2 splits",
        "4 originals",
        "8 oracle retrains",
        "8 retrains",
        "16 unlearning runs",
        "8 per-example tests",
    ] {
        assert!(text.contains(needle), "'{needle}' not in {text}");
    }
    assert_eq!(e.to_run, steps.all.len());
    // A smoke run (epoch cap) has no reference times: training is unknown until measured.
    assert!(e.unknown.contains(&"retrain".to_string()), "{e:?}");
    let lines =
        "{\"kind\":\"retrain\",\"seconds\":10.0}\n{\"kind\":\"retrain\",\"seconds\":20.0}\n\
                 {\"kind\":\"original\",\"seconds\":4.0}\ncut by a kill";
    std::fs::write(dir.path().join(TIMINGS_FILE), lines).unwrap();
    let e = estimate(&plan, &steps, &store, 1, 2);
    assert!(!e.unknown.contains(&"retrain".to_string()), "{e:?}");
    // 16 retrains at the mean 15 s, 4 originals at 4 s, 2 splits at 0.2 s and 8 per-example
    // tests at 1 s (the fallbacks of cheap steps); the other kinds unknown.
    let expected = 16.0 * 15.0 + 4.0 * 4.0 + 2.0 * 0.2 + 8.0 * 1.0;
    assert!((e.seconds - expected).abs() < 1e-9, "{e:?}");
    assert!(e.unknown.contains(&"forget".to_string()), "{e:?}");
    // No time comes from the reference machine here: no band.
    assert_eq!(e.band(), None);
    assert!(!e.render().contains("three quiet runs"), "{}", e.render());
}

#[test]
fn a_quick_study_states_the_spread_of_the_reference_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let cfg = StudyConfig::new(Preset::Quick, dir.path());
    let plan = Plan::resolve(&cfg, "fp").unwrap();
    let (steps, _) = Steps::of(&plan);
    let e = estimate(&plan, &steps, &store, 1, 2);
    let (low, high) = e.band().expect("reference times give a band");
    assert!((e.reference_seconds - e.seconds).abs() < 1e-9, "{e:?}");
    assert!((low - 0.85 * e.seconds).abs() < 1e-6 && (high - 1.05 * e.seconds).abs() < 1e-6);
    // The default quick study: 97 steps, about 8.6 min from the median run's means.
    assert!((500.0..540.0).contains(&e.seconds), "{e:?}");
    assert!(e
        .render()
        .contains("as the reference machine's times varied over three quiet runs"));
    // Measured times in the store replace the reference ones, and with them their band.
    let lines: String = [
        "split", "original", "retrain", "forget", "features", "metrics",
    ]
    .iter()
    .map(|k| format!("{{\"kind\":\"{k}\",\"seconds\":1.0}}\n"))
    .collect();
    std::fs::write(dir.path().join(TIMINGS_FILE), lines).unwrap();
    let e = estimate(&plan, &steps, &store, 1, 2);
    assert_eq!((e.band(), e.seconds), (None, 97.0), "{e:?}");
}

#[test]
fn two_steps_at_once_follow_the_dependencies_and_the_pool_order() {
    let cfg = StudyConfig::new(Preset::Quick, "unused");
    let plan = Plan::resolve(&cfg, "fp").unwrap();
    let (steps, _) = Steps::of(&plan);
    let n = steps.all.len();
    // Every step 1 s: one worker takes the sum.
    let ones = vec![Some(1.0); n];
    assert_eq!(makespan(&steps, &ones, 1), n as f64);
    // Many workers: the longest chain of steps that read each other's outputs (split,
    // model, features, metrics against the retrain's features), whatever the width.
    let wide = makespan(&steps, &ones, 1000);
    let mut depth = vec![0usize; n];
    for s in &steps.all {
        depth[s.id] = 1 + s.inputs.iter().map(|&d| depth[d]).max().unwrap_or(0);
    }
    assert_eq!(wide, *depth.iter().max().unwrap() as f64);
    // Two workers: at least half the work and at least the chain, at most the sum.
    let two = makespan(&steps, &ones, 2);
    assert!(two >= (n as f64 / 2.0).max(wide) && two < n as f64, "{two}");
    // Done steps (None) take no time, and what reads them may start at once.
    let only_splits: Vec<Option<f64>> = steps
        .all
        .iter()
        .map(|s| (s.kind == StepKind::Split).then_some(3.0))
        .collect();
    assert_eq!(makespan(&steps, &only_splits, 2), 3.0);
}

#[test]
fn the_estimate_of_two_steps_at_once_uses_the_one_thread_reference_times() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let cfg = StudyConfig::new(Preset::Quick, dir.path());
    let plan = Plan::resolve(&cfg, "fp").unwrap();
    let (steps, _) = Steps::of(&plan);
    let one = estimate(&plan, &steps, &store, 1, 2);
    let two = estimate(&plan, &steps, &store, 2, 1);
    // The work: every step at its one-thread reference time.
    let work: f64 = steps
        .all
        .iter()
        .map(|s| {
            QUICK_REFERENCE_SECONDS
                .iter()
                .find(|r| r.0 == s.kind)
                .unwrap()
                .2
        })
        .sum();
    assert!((two.reference_seconds - work).abs() < 1e-6, "{two:?}");
    assert!(
        two.seconds >= work / 2.0 && two.seconds < work / 2.0 * 1.05,
        "{two:?}"
    );
    assert!(two.seconds < one.seconds, "{two:?} {one:?}");
    let (low, high) = two.band().unwrap();
    assert!(low < two.seconds && two.seconds < high, "{two:?}");
    assert!(two
        .render()
        .contains("with 2 steps at once (1 thread each)"));
    assert!(!one.render().contains("at once"));
    // Times measured here with one thread replace the reference; those measured with two
    // threads are used only when there are none with one.
    let line = |kind: &str, s: f64, t: usize| {
        format!("{{\"kind\":\"{kind}\",\"seconds\":{s},\"threads\":{t}}}\n")
    };
    let kinds = [
        "split", "original", "retrain", "forget", "features", "metrics",
    ];
    let mut lines: String = kinds.iter().map(|k| line(k, 1.0, 1)).collect();
    lines += &kinds.iter().map(|k| line(k, 9.0, 2)).collect::<String>();
    std::fs::write(dir.path().join(TIMINGS_FILE), &lines).unwrap();
    let two = estimate(&plan, &steps, &store, 2, 1);
    assert_eq!(two.band(), None);
    assert_eq!(
        two.seconds,
        makespan(&steps, &vec![Some(1.0); steps.all.len()], 2)
    );
    let one = estimate(&plan, &steps, &store, 1, 2);
    assert_eq!(one.seconds, 9.0 * steps.all.len() as f64);
    let four = estimate(&plan, &steps, &store, 1, 4);
    assert_eq!(
        four.seconds,
        5.0 * steps.all.len() as f64,
        "no 4-thread times: all"
    );
}
