//! The fully resolved parameters of every method, for every preset and every scenario kind,
//! are the values in `tests/fixtures/resolved_defaults.json`: what `registry::build` gives a
//! run (and writes into its record's `params`) when no TOML file or `--set` item is given.
//!
//! Moving defaults between places must not change a number. A deliberate change of a default
//! regenerates the fixture:
//! `UPDATE_RESOLVED_DEFAULTS=1 cargo test --release -p unlearn-methods --test resolved_defaults`.

use std::path::PathBuf;

use serde_json::{Map, Value};
use unlearn_data::Scenario;
use unlearn_methods::{registry, Overrides, METHOD_IDS};

const PRESETS: [&str; 4] = ["quick", "fmnist", "cifar10", "cifar100"];

fn scenarios() -> Vec<(&'static str, Scenario)> {
    let parse = |s: &str| s.parse::<Scenario>().expect("scenario");
    vec![
        ("random:0.1", parse("random:0.1")),
        ("class:3", parse("class:3")),
        ("backdoor:0.05", parse("backdoor:0.05")),
        (
            "imported",
            Scenario::Imported {
                sha256: "0123456789ab".into(),
                count: 100,
            },
        ),
    ]
}

fn resolved() -> Value {
    let mut presets = Map::new();
    for preset in PRESETS {
        let mut kinds = Map::new();
        for (name, scenario) in scenarios() {
            let mut methods = Map::new();
            for id in METHOD_IDS {
                let overrides = Overrides::default().with_scenario(&scenario);
                let method = registry::build(id, preset, &overrides).expect("defaults are valid");
                methods.insert(id.to_string(), method.params_json());
            }
            kinds.insert(name.to_string(), Value::Object(methods));
        }
        presets.insert(preset.to_string(), Value::Object(kinds));
    }
    Value::Object(presets)
}

#[test]
fn resolved_defaults_match_the_fixture() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/resolved_defaults.json");
    let json = serde_json::to_string_pretty(&resolved()).expect("serialises") + "\n";
    if std::env::var_os("UPDATE_RESOLVED_DEFAULTS").is_some() {
        std::fs::write(&path, &json).expect("write fixture");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (generate it, see the module docs)", path.display()));
    let want: Value = serde_json::from_str(&want).expect("fixture is JSON");
    let now: Value = serde_json::from_str(&json).expect("JSON");
    for (preset, kinds) in want.as_object().expect("object") {
        for (kind, methods) in kinds.as_object().expect("object") {
            for (id, params) in methods.as_object().expect("object") {
                assert_eq!(&now[preset][kind][id], params, "{preset} / {kind} / {id}");
            }
        }
    }
    assert_eq!(now, want);
}
