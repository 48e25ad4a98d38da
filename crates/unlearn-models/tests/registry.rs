//! The model registry: the embedded `models/registry.toml`, checked parses of malformed
//! registries, and `model:<id>` resolved from a hub served on 127.0.0.1 with its SHA-256
//! recorded and checked. The hub serves real `torch.save` bytes (the 1×4×4 small CNN
//! fixtures) under the Comparator's file names.
//!
//! Environment variables are process-wide, so everything that sets them is one test.

#[path = "support/hub_server.rs"]
mod hub_server;

use std::collections::BTreeMap;
use std::path::PathBuf;

use candle_core::Device;
use hub_server::{resolve_path, HubServer};
use unlearn_models::registry::{self, Format, Naming, Registry};
use unlearn_models::{checkpoint, Arch, ModelError, ModelSpec};

const REPO: &str = "jaeunglee/resnet18-cifar10-unlearning";
const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pth")
        .join(name)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// One small-cnn entry in the Comparator's layout (`forget` = `class:<c>` for an oracle).
fn entry(id: &str, file: &str, forget: Option<usize>, extra: &str) -> String {
    let forget = forget
        .map(|c| format!("forget = \"class:{c}\"\n"))
        .unwrap_or_default();
    format!(
        "[[model]]\nid = \"{id}\"\nrepo = \"{REPO}\"\nfile = \"{file}\"\nrevision = \"main\"\n\
         arch = \"small-cnn\"\ninput_shape = [1, 4, 4]\nnum_classes = 10\n\
         normalization = {{ mean = [0.5], std = [0.25] }}\nnaming = \"torchvision\"\n\
         format = \"pth\"\ntrained_on = \"a test\"\nlicense = \"MIT\"\n{forget}{extra}\n"
    )
}

/// The test registry: `test-full` with ten oracles `test-no-<c>`; `extra` adds keys to
/// the oracle of class 3.
fn test_registry(no3_extra: &str) -> String {
    let mut text = String::new();
    let oracles: String = (0..10)
        .map(|c| format!("\"class:{c}\" = \"test-no-{c}\"\n"))
        .collect();
    text += &entry("test-full", "resnet18_cifar10_full.pth", None, "");
    text += &format!("[model.oracles]\n{oracles}\n");
    for (c, name) in CLASSES.iter().enumerate() {
        let extra = if c == 3 { no3_extra } else { "" };
        text += &entry(
            &format!("test-no-{c}"),
            &format!("resnet18_cifar10_no_{name}.pth"),
            Some(c),
            extra,
        );
    }
    text
}

fn hub_files() -> BTreeMap<String, Vec<u8>> {
    let full = std::fs::read(fixture("small-cnn-1x4x4.pth")).unwrap();
    let oracle = std::fs::read(fixture("small-cnn-salun.pth")).unwrap();
    let mut files = BTreeMap::new();
    files.insert(
        resolve_path(REPO, "main", "resnet18_cifar10_full.pth"),
        full,
    );
    for name in CLASSES {
        files.insert(
            resolve_path(REPO, "main", &format!("resnet18_cifar10_no_{name}.pth")),
            oracle.clone(),
        );
    }
    files
}

#[test]
fn the_embedded_registry_parses_and_every_original_has_its_oracles() {
    let reg = Registry::embedded().unwrap();
    assert_eq!(reg.entries().len(), 11);
    let full = reg.get("comparator-resnet18-cifar10-full").unwrap();
    assert_eq!(full.repo, REPO);
    assert_eq!(full.file, "resnet18_cifar10_full.pth");
    assert_eq!(full.arch, Arch::ResNet18Cifar);
    assert_eq!(full.input_shape, [3, 32, 32]);
    assert_eq!(full.num_classes, 10);
    assert_eq!(full.normalization.mean, vec![0.4914, 0.4822, 0.4465]);
    assert_eq!(full.normalization.std, vec![0.2023, 0.1994, 0.2010]);
    assert_eq!(
        (full.naming, full.format),
        (Naming::Torchvision, Format::Pth)
    );
    assert_eq!(full.forget, None);
    assert_eq!(full.oracles.len(), 10);
    for original in reg.entries().iter().filter(|e| e.forget.is_none()) {
        assert!(
            !original.oracles.is_empty(),
            "{} has no oracles",
            original.id
        );
        for (scenario, id) in &original.oracles {
            let oracle = reg.get(id).unwrap();
            assert_eq!(oracle.forget.as_deref(), Some(scenario.as_str()));
            assert_eq!(oracle.spec(), original.spec());
        }
    }
    let no3 = reg.get("comparator-resnet18-cifar10-no-3").unwrap();
    assert_eq!(no3.file, "resnet18_cifar10_no_cat.pth");
    assert_eq!(no3.forget.as_deref(), Some("class:3"));
    assert_eq!(full.oracles["class:3"], no3.id);
}

#[test]
fn an_unknown_id_lists_the_known_ids() {
    let reg = Registry::from_toml(&test_registry(""), "test.toml").unwrap();
    let err = reg.get("nope").unwrap_err();
    assert!(matches!(err, ModelError::UnknownModel { .. }), "{err}");
    let msg = err.to_string();
    for needle in ["'nope'", "test.toml", "test-full", "test-no-0", "test-no-9"] {
        assert!(msg.contains(needle), "'{needle}' missing in: {msg}");
    }
}

#[test]
fn malformed_registries_are_refused_naming_the_entry_and_field() {
    let base = test_registry("");
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            base.replacen("arch = \"small-cnn\"", "arch = \"resnet99\"", 1),
            vec![
                "entry 'test-full'",
                "field 'arch'",
                "resnet99",
                "resnet18-cifar",
            ],
        ),
        (
            base.replacen(
                "input_shape = [1, 4, 4]",
                "input_shape = [1, 100000, 100000]",
                1,
            ),
            vec!["entry 'test-full'", "field 'input_shape'", "sides 1..=4096"],
        ),
        (
            test_registry("colour = \"blue\"\n"),
            vec!["entry 'test-no-3'", "unknown field", "colour"],
        ),
        (
            test_registry("").replacen(
                "mean = [0.5], std = [0.25]",
                "mean = [0.5, 0.5, 0.5], std = [0.25, 0.25, 0.25]",
                1,
            ),
            vec![
                "entry 'test-full'",
                "field 'normalization'",
                "3 channels",
                "1 input",
            ],
        ),
        (
            base.replacen(
                "\"class:3\" = \"test-no-3\"",
                "\"class:3\" = \"test-no-33\"",
                1,
            ),
            vec![
                "entry 'test-full'",
                "field 'oracles'",
                "test-no-33",
                "not an entry",
            ],
        ),
        (
            base.replacen(
                "\"class:3\" = \"test-no-3\"",
                "\"class:3\" = \"test-no-4\"",
                1,
            ),
            vec!["entry 'test-full'", "oracles", "forgets 'class:4'"],
        ),
        (
            base.replacen("id = \"test-no-4\"", "id = \"test-no-3\"", 1),
            vec!["entry 'test-no-3'", "field 'id'", "unique"],
        ),
        (
            base.replacen("naming = \"torchvision\"", "naming = \"timm\"", 1),
            vec!["entry 'test-full'", "field 'naming'", "timm", "kuangliu"],
        ),
        (
            base.replacen("format = \"pth\"", "format = \"onnx\"", 1),
            vec!["field 'format'", "onnx", "safetensors"],
        ),
        (
            test_registry("sha256 = \"abc\"\n"),
            vec!["entry 'test-no-3'", "field 'sha256'", "64 hexadecimal"],
        ),
        (
            test_registry("").replacen("forget = \"class:3\"", "forget = \"class:12\"", 1),
            vec!["entry 'test-no-3'", "field 'forget'", "class"],
        ),
        (
            base.replacen("input_shape = [1, 4, 4]", "input_shape = [1, 4]", 1),
            vec!["entry 'test-full'", "input_shape"],
        ),
        (
            base.replacen(
                "file = \"resnet18_cifar10_full.pth\"",
                "file = \"../x.pth\"",
                1,
            ),
            vec!["entry 'test-full'", "field 'file'", "plain name"],
        ),
        (
            test_registry("stem = \"cifar\"\n"),
            vec!["entry 'test-no-3'", "field 'stem'", "not a ResNet"],
        ),
        (
            format!("{base}\n[extra]\nx = 1\n"),
            vec!["the file", "unknown field", "extra"],
        ),
    ];
    for (text, needles) in cases {
        let err = Registry::from_toml(&text, "bad.toml").unwrap_err();
        assert!(matches!(err, ModelError::BadRegistry { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("bad.toml"), "{msg}");
        for needle in needles {
            assert!(msg.contains(needle), "'{needle}' missing in: {msg}");
        }
    }
}

#[test]
fn an_entry_prints_as_toml_that_reads_back_the_same() {
    let reg = Registry::embedded().unwrap();
    let no3 = reg.get("comparator-resnet18-cifar10-no-3").unwrap();
    let text = no3.to_toml().unwrap();
    let back = Registry::from_toml(&text, "printed").unwrap();
    assert_eq!(back.entries(), std::slice::from_ref(no3));
}

/// Every environment-dependent check, in order: download, record, offline, tampering,
/// a registry's wrong digest, an unknown id.
#[test]
fn model_ids_resolve_from_a_local_hub_with_their_sha256_recorded_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("hub-cache");
    let reg_path = dir.path().join("registry.toml");
    let wrong = "0".repeat(64);
    std::fs::write(&reg_path, test_registry(&format!("sha256 = \"{wrong}\"\n"))).unwrap();
    let server = HubServer::start(hub_files());
    std::env::set_var("HF_HUB_CACHE", &cache);
    std::env::set_var("HF_ENDPOINT", server.endpoint());
    std::env::set_var(registry::REGISTRY_ENV, &reg_path);
    std::env::remove_var("HF_HUB_OFFLINE");

    // Not a registry spec: None.
    assert!(registry::resolve("hf://org/repo/file.pth").is_none());
    assert!(registry::resolve("model.pth").is_none());

    // Downloaded into the cache, digest recorded, loadable as the small CNN it is.
    let full_bytes = std::fs::read(fixture("small-cnn-1x4x4.pth")).unwrap();
    let got = registry::resolve("model:test-full").unwrap().unwrap();
    assert!(got.path.starts_with(&cache), "{}", got.path.display());
    assert_eq!(std::fs::read(&got.path).unwrap(), full_bytes);
    assert_eq!(got.sha256, sha256_hex(&full_bytes));
    assert_eq!(got.entry.id, "test-full");
    let record = registry::sha_record_path(&cache, &got.entry);
    assert!(record.starts_with(cache.join("unlearn-sha256")));
    let recorded = std::fs::read_to_string(&record).unwrap();
    assert!(recorded.starts_with(&got.sha256), "{recorded}");
    let spec = ModelSpec {
        arch: Arch::SmallCnn,
        input_shape: [1, 4, 4],
        num_classes: 10,
    };
    assert_eq!(got.entry.spec(), spec);
    checkpoint::load_with_spec(&got.path, &spec, &Device::Cpu).unwrap();
    // A second resolve checks against the record and agrees.
    let again = registry::resolve("model:test-full").unwrap().unwrap();
    assert_eq!(
        (again.path.clone(), again.sha256.clone()),
        (got.path.clone(), got.sha256.clone())
    );

    // The registry's own sha256 is checked: wrong for test-no-3, refused naming both digests.
    let err = registry::resolve("model:test-no-3").unwrap().unwrap_err();
    let oracle_sha = sha256_hex(&std::fs::read(fixture("small-cnn-salun.pth")).unwrap());
    let msg = err.to_string();
    assert!(matches!(err, ModelError::Sha256Mismatch { .. }), "{msg}");
    for needle in [
        wrong.as_str(),
        oracle_sha.as_str(),
        "the registry",
        "resnet18_cifar10_no_cat.pth",
        "delete",
    ] {
        assert!(msg.contains(needle), "'{needle}' missing in: {msg}");
    }
    let no5 = registry::resolve("model:test-no-5").unwrap().unwrap();
    assert_eq!(no5.sha256, oracle_sha);

    // Unknown ids list the known ones.
    let msg = registry::resolve("model:nope")
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("test-full") && msg.contains("test-no-9"),
        "{msg}"
    );
    let served = server.requests();
    drop(server);

    // Offline: the cached files resolve without the server; an uncached one names its path.
    std::env::set_var("HF_HUB_OFFLINE", "1");
    std::env::set_var("HF_ENDPOINT", "http://127.0.0.1:9");
    let offline = registry::resolve("model:test-full").unwrap().unwrap();
    assert_eq!(offline.path, got.path);
    assert_eq!(offline.sha256, got.sha256);
    assert!(served > 0);
    let err = registry::resolve("model:test-no-7").unwrap().unwrap_err();
    assert!(matches!(err, ModelError::NotCached { .. }), "{err}");

    // A cached file changed afterwards is refused: recorded vs actual digest, and the way out.
    std::fs::write(&got.path, b"not the downloaded bytes").unwrap();
    let err = registry::resolve("model:test-full").unwrap().unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ModelError::Sha256Mismatch { .. }), "{msg}");
    let tampered = sha256_hex(b"not the downloaded bytes");
    for needle in [got.sha256.as_str(), tampered.as_str(), "recorded", "delete"] {
        assert!(msg.contains(needle), "'{needle}' missing in: {msg}");
    }
    assert!(msg.contains(&got.path.display().to_string()), "{msg}");

    // A malformed registry file is refused naming the file.
    std::fs::write(&reg_path, "[[model]]\nid = 3\n").unwrap();
    let msg = registry::resolve("model:test-full")
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(msg.contains(&reg_path.display().to_string()), "{msg}");
    std::env::remove_var(registry::REGISTRY_ENV);
    assert!(Registry::load_default()
        .unwrap()
        .get("comparator-resnet18-cifar10-full")
        .is_ok());
}
