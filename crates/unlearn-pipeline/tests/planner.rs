//! The planner: which steps a plan yields, and what a changed parameter invalidates.

use std::collections::BTreeMap;

use unlearn_data::Scenario;
use unlearn_pipeline::plan::{Plan, StudyConfig};
use unlearn_pipeline::{Preset, StepKind, Steps};

fn config(scenarios: &str, methods: &[&str], seeds: u64) -> StudyConfig {
    let mut cfg = StudyConfig::new(Preset::Quick, "unused");
    cfg.scenarios = Scenario::parse_list(scenarios).unwrap();
    cfg.methods = Some(methods.iter().map(|m| m.to_string()).collect());
    cfg.seeds = seeds;
    cfg
}

fn plan(cfg: &StudyConfig) -> Plan {
    Plan::resolve(cfg, "fingerprint-a").unwrap()
}

fn count(steps: &Steps, kind: StepKind) -> usize {
    steps.all.iter().filter(|s| s.kind == kind).count()
}

/// Step keys by (kind, cell, model), to compare two plans.
fn keys(steps: &Steps) -> BTreeMap<String, String> {
    steps
        .all
        .iter()
        .map(|s| {
            let name = format!(
                "{:?} {}:{} {}",
                s.kind,
                s.cell.scenario,
                s.cell.seed,
                s.model.as_deref().unwrap_or("")
            );
            (name, s.key.clone())
        })
        .collect()
}

fn changed(a: &Steps, b: &Steps) -> Vec<String> {
    let (ka, kb) = (keys(a), keys(b));
    ka.iter()
        .filter(|(name, key)| kb.get(*name) != Some(key))
        .map(|(name, _)| name.clone())
        .collect()
}

#[test]
fn a_plan_yields_the_cells_steps_and_shares_the_original_of_a_seed() {
    let (steps, cells) = Steps::of(&plan(&config("random:0.1,class:3", &["ft", "muda"], 1)));
    assert_eq!(cells.len(), 2);
    // Per cell: split, retrain, 2 methods, 4 features, 4 metrics; one original for both.
    assert_eq!(steps.all.len(), 2 * 12 + 1);
    assert_eq!(count(&steps, StepKind::Original), 1);
    assert_eq!(cells[0].original, cells[1].original);
    assert_eq!(count(&steps, StepKind::Forget), 4);
    // Every input comes before the step that reads it, and every output is distinct.
    for s in &steps.all {
        assert!(s.inputs.iter().all(|&i| i < s.id), "{s:?}");
    }
    let mut outputs: Vec<_> = steps.all.iter().map(|s| &s.output).collect();
    outputs.sort();
    outputs.dedup();
    assert_eq!(outputs.len(), steps.all.len());
    let names: Vec<&str> = cells[0].models.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(names, ["original", "retrain", "ft", "muda"]);
}

#[test]
fn a_backdoor_scenario_and_every_seed_get_their_own_original() {
    let (steps, cells) = Steps::of(&plan(&config(
        "random:0.1,backdoor:0.05,class:3",
        &["ga"],
        2,
    )));
    assert_eq!(cells.len(), 6);
    // Per seed: one clean original (random, class) and one poisoned (backdoor).
    assert_eq!(count(&steps, StepKind::Original), 4);
    assert_eq!(cells[0].original, cells[2].original);
    assert_ne!(cells[0].original, cells[1].original);
    assert_ne!(cells[0].original, cells[3].original, "seed 1 has its own");
}

#[test]
fn the_default_plan_runs_every_method_and_the_three_ablations() {
    let mut cfg = StudyConfig::new(Preset::Quick, "unused");
    cfg.methods = None;
    let p = plan(&cfg);
    let names: Vec<&str> = p.methods.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names.len(), 14, "{names:?}");
    assert!(!names.contains(&"retrain"), "retrain is a step of its own");
    assert_eq!(&names[11..], ["muda-no-da", "muda-no-sd", "muda-no-alt"]);
    let ablation = &p.methods[11];
    assert_eq!(
        (ablation.method.as_str(), ablation.sets.as_slice()),
        ("muda", &["da=false".to_string()][..])
    );
    let scenarios: Vec<String> = p.scenarios.iter().map(|s| s.to_string()).collect();
    assert_eq!(scenarios, ["random:0.1", "class:3"]);
}

#[test]
fn an_unknown_method_is_refused_by_name() {
    let err = Plan::resolve(&config("random:0.1", &["ft", "fooget"], 1), "f").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("'fooget'") && msg.contains("muda-no-da"),
        "{msg}"
    );
}

#[test]
fn a_changed_method_override_invalidates_that_method_only() {
    let cfg = config("random:0.1", &["ft", "muda"], 1);
    let a = plan(&cfg);
    let mut b = a.clone();
    b.methods[1].sets.push("lr_forget=0.5".into());
    let diff = changed(&Steps::of(&a).0, &Steps::of(&b).0);
    assert_eq!(
        diff,
        ["Features 0:0 muda", "Forget 0:0 muda", "Metrics 0:0 muda"],
        "only muda's run and what reads it"
    );
}

#[test]
fn a_method_key_hashes_its_identity_per_scenario_kind_and_no_listing_text() {
    let cfg = config("random:0.1,class:3", &["ft", "ga"], 1);
    let a = plan(&cfg);
    let (random, class) = (&a.scenarios[0], &a.scenarios[1]);
    for run in &a.methods {
        let text = run.identity(a.preset, random);
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["defaults", "id", "version"], "{text}");
        assert_eq!(json["id"], run.method.as_str());
        // The listing's prose (summary, paper, parameter docs) is not part of it.
        assert!(
            !text.contains("learning rate") && !text.contains("Thudi"),
            "{text}"
        );
        // The `quick` class defaults of ft and ga differ from their random ones, so the
        // identity does too: a changed class default redoes the class runs only.
        assert_ne!(text, run.identity(a.preset, class), "{}", run.name);
    }
    // Two resolutions of the same configuration give the same keys.
    assert!(changed(&Steps::of(&a).0, &Steps::of(&plan(&cfg)).0).is_empty());
}

#[test]
fn an_epoch_cap_invalidates_every_model_but_no_split() {
    let cfg = config("random:0.1,class:3", &["ft"], 1);
    let a = plan(&cfg);
    let mut capped = cfg.clone();
    capped.epochs_cap = Some(2);
    let b = plan(&capped);
    let (sa, sb) = (Steps::of(&a).0, Steps::of(&b).0);
    let diff = changed(&sa, &sb);
    assert_eq!(
        diff.len(),
        sa.all.len() - 2,
        "all but the two splits: {diff:?}"
    );
    assert!(diff.iter().all(|d| !d.starts_with("Split")));
    // The cap also reaches the method's own epochs.
    assert!(
        b.methods[0].sets.iter().any(|s| s == "epochs=2"),
        "{:?}",
        b.methods[0].sets
    );
}

#[test]
fn more_seeds_keep_the_first_seeds_keys_and_other_data_changes_all() {
    let one = plan(&config("random:0.1", &["ft"], 1));
    let two = plan(&config("random:0.1", &["ft"], 2));
    let (s1, s2) = (Steps::of(&one).0, Steps::of(&two).0);
    let (k1, k2) = (keys(&s1), keys(&s2));
    assert_eq!(s2.all.len(), 2 * s1.all.len());
    for (name, key) in &k1 {
        assert_eq!(k2.get(name), Some(key), "{name}");
    }
    let other = Plan::resolve(&config("random:0.1", &["ft"], 1), "fingerprint-b").unwrap();
    assert_eq!(changed(&s1, &Steps::of(&other).0).len(), s1.all.len());
}

#[test]
fn a_plan_round_trips_through_json_for_workers() {
    let p = plan(&config("class:3,5", &["ft", "muda-no-sd"], 1));
    let text = serde_json::to_string(&p).unwrap();
    let back: Plan = serde_json::from_str(&text).unwrap();
    assert_eq!(back, p);
    assert_eq!(Steps::of(&back), Steps::of(&p));
    assert_eq!(p.scenarios[0].to_string(), "class:3,5");
}

#[test]
fn tuning_adds_one_search_per_scenario_and_method_on_the_first_seed() {
    let mut cfg = config("random:0.1,class:3", &["ga", "muda", "muda-no-da"], 3);
    let untuned = Steps::of(&plan(&cfg)).0;
    cfg.tune = Some(8);
    let (steps, cells) = Steps::of(&plan(&cfg));
    // One search per scenario and method id (the ablation shares MUDA's), on seed 0 only.
    let tunes: Vec<_> = steps
        .all
        .iter()
        .filter(|s| s.kind == StepKind::Tune)
        .collect();
    assert_eq!(tunes.len(), 2 * 2);
    assert!(tunes.iter().all(|t| t.cell.seed == 0));
    // Every seed's forget steps read their scenario's search; the ablation reads MUDA's.
    for cell in &cells {
        for s in steps.of_cell(cell.cell).into_iter().map(|i| &steps.all[i]) {
            if s.kind != StepKind::Forget {
                continue;
            }
            let tune: Vec<_> = s
                .inputs
                .iter()
                .map(|&i| &steps.all[i])
                .filter(|i| i.kind == StepKind::Tune)
                .collect();
            assert_eq!(tune.len(), 1, "{:?}", s.model);
            assert_eq!(tune[0].cell.scenario, s.cell.scenario);
            let id = if s.model.as_deref() == Some("ga") {
                "ga"
            } else {
                "muda"
            };
            assert_eq!(tune[0].model.as_deref(), Some(id));
            // The search runs before every step that reads it.
            assert!(tune[0].id < s.id);
        }
    }
    // Tuning changes the methods' runs and what depends on them, not the splits or the
    // trained models.
    let moved = changed(&untuned, &steps);
    assert!(
        moved.iter().all(|m| !m.starts_with("Split")
            && !m.starts_with("Original")
            && !m.starts_with("Retrain")
            && !m.contains(" original")
            && !m.contains(" retrain")),
        "{moved:?}"
    );
    assert_eq!(
        moved.iter().filter(|m| m.starts_with("Forget")).count(),
        2 * 3 * 3
    );
    // Another budget is another search.
    cfg.tune = Some(9);
    let other = Steps::of(&plan(&cfg)).0;
    assert!(changed(&steps, &other)
        .iter()
        .any(|m| m.starts_with("Tune")));
    cfg.tune = Some(0);
    assert!(Plan::resolve(&cfg, "fingerprint-a").is_err());
}

/// A search whose trials see another share of the retain set is another search: a study
/// with `--retain-budget 0.1` must not reuse the searches of a full-budget study in the
/// same store (it did, which reused full-budget choices for a 10 % study).
#[test]
fn the_study_retain_budget_is_part_of_each_search_that_uses_retain_data() {
    let mut cfg = config("random:0.1", &["ft", "ga"], 1);
    cfg.tune = Some(4);
    let full = Steps::of(&plan(&cfg)).0;
    cfg.retain_budget = 0.1;
    let tenth = Steps::of(&plan(&cfg)).0;
    let moved = changed(&full, &tenth);
    assert!(moved.contains(&"Tune 0:0 ft".to_string()), "{moved:?}");
    // ga uses no retain data: its search is the same.
    assert!(
        !moved
            .iter()
            .any(|m| m.starts_with("Tune") && m.ends_with(" ga")),
        "{moved:?}"
    );
}

#[test]
fn a_record_rewritten_by_another_study_on_the_store_is_refused() {
    use unlearn_pipeline::exec::StepRunner;
    use unlearn_pipeline::records::cell_records;
    use unlearn_pipeline::Store;

    let dir = tempfile::tempdir().unwrap();
    let p = plan(&config("random:0.1", &["ga"], 1));
    let (steps, cells) = Steps::of(&p);
    let store = Store::open(dir.path()).unwrap();
    // Every step of the cell done, with files standing in for the artefacts.
    for s in &steps.all {
        let path = store.path(&s.output);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{}").unwrap();
        store.mark_done(&s.output, &s.key).unwrap();
    }
    let forget = steps
        .all
        .iter()
        .find(|s| s.kind == StepKind::Forget)
        .unwrap();
    let checkpoint = store
        .path(&forget.output)
        .to_string_lossy()
        .replace(".record.json", "");
    std::fs::write(&checkpoint, "x").unwrap();
    let runner = StepRunner::new(&p, &steps, &store, true);
    assert!(cell_records(&p, &steps, &store, &runner, &cells[0]).is_ok());
    // Another study (say, tuned) wrote its own ga run over this one.
    store
        .mark_done(&forget.output, "another-plans-key")
        .unwrap();
    let err = cell_records(&p, &steps, &store, &runner, &cells[0])
        .unwrap_err()
        .to_string();
    assert!(err.contains("rewritten by another study"), "{err}");
    assert!(err.contains("ga.safetensors.record.json"), "{err}");
    assert!(!err.contains("  "), "{err}");
}

#[test]
fn records_carry_their_roles_from_the_plan_and_the_registry() {
    use unlearn_pipeline::exec::StepRunner;
    use unlearn_pipeline::records::{cell_records, role_of};
    use unlearn_pipeline::Store;
    use unlearn_report::{MethodTrait, Role};

    let dir = tempfile::tempdir().unwrap();
    let methods = ["rl", "head-only", "muda", "muda-no-alt"];
    let p = plan(&config("random:0.1", &methods, 1));
    let (steps, cells) = Steps::of(&p);
    let store = Store::open(dir.path()).unwrap();
    for s in &steps.all {
        let path = store.path(&s.output);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{}").unwrap();
        store.mark_done(&s.output, &s.key).unwrap();
    }
    let runner = StepRunner::new(&p, &steps, &store, true);
    let records = cell_records(&p, &steps, &store, &runner, &cells[0]).unwrap();
    let roles: Vec<(&str, Role)> = records
        .iter()
        .map(|r| (r.method.as_str(), r.role.clone().unwrap()))
        .collect();
    let method = |subject, traits: &[MethodTrait]| Role::Method {
        subject,
        traits: traits.to_vec(),
    };
    assert_eq!(
        roles,
        [
            ("original", Role::ORIGINAL),
            ("retrain", Role::RETRAIN),
            ("rl", method(false, &[MethodTrait::WrongLabels])),
            ("head-only", method(false, &[MethodTrait::HeadOnly])),
            ("muda", method(true, &[])),
            (
                "muda-no-alt",
                Role::Ablation {
                    of: "muda".into(),
                    switch: "alternate=false".into(),
                    without: "alternation".into(),
                }
            ),
        ]
    );
    // The subject is the study's choice, not a name the report knows.
    let mut cfg = config("random:0.1", &methods, 1);
    cfg.subject = Some("rl".into());
    let q = plan(&cfg);
    assert_eq!(role_of(&q, "rl"), method(true, &[MethodTrait::WrongLabels]));
    assert_eq!(role_of(&q, "muda"), method(false, &[]));
    cfg.subject = Some("nope".into());
    let err = Plan::resolve(&cfg, "f").unwrap_err().to_string();
    assert!(err.contains("--subject 'nope'"), "{err}");
}
