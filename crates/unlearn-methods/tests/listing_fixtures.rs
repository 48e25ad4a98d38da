//! The method listings (`unlearn methods --json`, and the JSON the pipeline puts into its step
//! keys) are byte-identical to the fixtures in `tests/fixtures/listing-<preset>.json`.
//!
//! A changed listing redoes every `cargo xtask reproduce` step it enters, so a refactor of the
//! parameter structs must leave it as it is. A deliberate change of a default or a doc
//! regenerates the fixtures:
//! `UPDATE_LISTING_FIXTURES=1 cargo test --release -p unlearn-methods --test listing_fixtures`.

use std::path::PathBuf;

use unlearn_methods::{registry, METHOD_IDS};

const PRESETS: [&str; 4] = ["quick", "fmnist", "cifar10", "cifar100"];

fn fixture(preset: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("listing-{preset}.json"))
}

#[test]
fn listings_are_byte_identical_to_the_fixtures() {
    let update = std::env::var_os("UPDATE_LISTING_FIXTURES").is_some();
    for preset in PRESETS {
        let list = registry::methods(preset).expect("listing");
        let json = serde_json::to_string(&list).expect("listing serialises") + "\n";
        let path = fixture(preset);
        if update {
            std::fs::create_dir_all(path.parent().expect("parent")).expect("fixtures dir");
            std::fs::write(&path, &json).expect("write fixture");
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (generate it, see the module docs)", path.display())
        });
        assert!(
            json == want,
            "the {preset} listing changed:\n  now:     {json}\n  fixture: {want}"
        );
        // One method's listing is the same bytes as its entry in the whole listing.
        for (id, entry) in METHOD_IDS.iter().zip(&list) {
            let one = registry::info(id, preset).expect("info");
            assert_eq!(
                serde_json::to_string(&one).expect("info serialises"),
                serde_json::to_string(entry).expect("entry serialises"),
                "{preset}/{id}"
            );
        }
    }
}
