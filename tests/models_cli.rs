//! `unlearn models list | show | fetch` end to end: the embedded registry, and a test
//! registry (`UNLEARN_MODEL_REGISTRY`) of small-cnn entries under the Comparator's file
//! names, fetched from a hub served on 127.0.0.1 (real `torch.save` bytes), then offline
//! from the cache, then refused once a cached file changed. Each run sets its environment
//! per process (`Command::env`).

mod common;
#[path = "../crates/unlearn-models/tests/support/hub_server.rs"]
mod hub_server;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{assert_clean_failure, ok, p, stderr};
use hub_server::{resolve_path, HubServer};

const REPO: &str = "jaeunglee/resnet18-cifar10-unlearning";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../unlearn-models/tests/fixtures/pth")
        .join(name)
}

/// `unlearn` with the hub cache, endpoint, offline flag and registry given (and no other
/// hub settings from the caller's environment).
fn unlearn_env(
    args: &[&str],
    cache: &Path,
    endpoint: &str,
    offline: bool,
    registry: Option<&Path>,
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_unlearn"));
    cmd.args(args)
        .env_remove("UNLEARN_DATA")
        .env_remove("HF_HOME")
        .env_remove("HF_HUB_OFFLINE")
        .env_remove("UNLEARN_MODEL_REGISTRY")
        .env("HF_HUB_CACHE", cache)
        .env("HF_ENDPOINT", endpoint);
    if offline {
        cmd.env("HF_HUB_OFFLINE", "1");
    }
    if let Some(r) = registry {
        cmd.env("UNLEARN_MODEL_REGISTRY", r);
    }
    cmd.output().expect("the binary runs")
}

fn entry(id: &str, file: &str, forget: Option<usize>) -> String {
    let forget = forget
        .map(|c| format!("forget = \"class:{c}\"\n"))
        .unwrap_or_default();
    format!(
        "[[model]]\nid = \"{id}\"\nrepo = \"{REPO}\"\nfile = \"{file}\"\n\
         arch = \"small-cnn\"\ninput_shape = [1, 4, 4]\nnum_classes = 10\n\
         normalization = {{ mean = [0.5], std = [0.25] }}\nnaming = \"torchvision\"\n\
         format = \"pth\"\ntrained_on = \"a test\"\nlicense = \"MIT\"\n{forget}\n"
    )
}

/// `test-full` (resnet18_cifar10_full.pth) with oracles for classes 3 (cat) and 5 (dog).
fn test_registry(dir: &Path) -> PathBuf {
    let mut text = entry("test-full", "resnet18_cifar10_full.pth", None);
    text += "[model.oracles]\n\"class:3\" = \"test-no-3\"\n\"class:5\" = \"test-no-5\"\n\n";
    text += &entry("test-no-3", "resnet18_cifar10_no_cat.pth", Some(3));
    text += &entry("test-no-5", "resnet18_cifar10_no_dog.pth", Some(5));
    let path = dir.join("registry.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn models_list_json_and_show_describe_the_built_in_registry() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let o = ok(unlearn_env(
        &["models", "list", "--json"],
        &cache,
        "http://127.0.0.1:9",
        true,
        None,
    ));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let models = v["models"].as_array().unwrap();
    assert_eq!(models.len(), 11);
    let full = &models[0];
    assert_eq!(full["id"], "comparator-resnet18-cifar10-full");
    assert_eq!(full["arch"], "resnet18-cifar");
    assert_eq!(full["normalization"]["mean"][0], 0.4914);
    assert_eq!(
        full["oracles"]["class:3"],
        "comparator-resnet18-cifar10-no-3"
    );
    let o = ok(unlearn_env(
        &["models", "list"],
        &cache,
        "http://127.0.0.1:9",
        true,
        None,
    ));
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        table.contains("comparator-resnet18-cifar10-no-9"),
        "{table}"
    );
    assert!(table.contains("oracle, forgets class:9"), "{table}");
    let o = ok(unlearn_env(
        &["models", "show", "comparator-resnet18-cifar10-full"],
        &cache,
        "http://127.0.0.1:9",
        true,
        None,
    ));
    let shown = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        shown.contains("file = \"resnet18_cifar10_full.pth\""),
        "{shown}"
    );
    assert!(
        shown.contains("# oracle comparator-resnet18-cifar10-no-3"),
        "{shown}"
    );
    let o = unlearn_env(
        &["models", "show", "nope"],
        &cache,
        "http://127.0.0.1:9",
        true,
        None,
    );
    assert_clean_failure(&o, "comparator-resnet18-cifar10-full");
    // Nothing was written by listing.
    assert!(!cache.exists());
}

#[test]
fn models_fetch_downloads_from_a_local_hub_then_works_offline_and_refuses_a_changed_file() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let registry = test_registry(dir.path());
    let full = std::fs::read(fixture("small-cnn-1x4x4.pth")).unwrap();
    let oracle = std::fs::read(fixture("small-cnn-salun.pth")).unwrap();
    let server = HubServer::start(BTreeMap::from([
        (
            resolve_path(REPO, "main", "resnet18_cifar10_full.pth"),
            full.clone(),
        ),
        (
            resolve_path(REPO, "main", "resnet18_cifar10_no_cat.pth"),
            oracle.clone(),
        ),
        (
            resolve_path(REPO, "main", "resnet18_cifar10_no_dog.pth"),
            oracle.clone(),
        ),
    ]));
    let endpoint = server.endpoint();
    let o = ok(unlearn_env(
        &["models", "fetch", "test-full", "--with-oracles", "--json"],
        &cache,
        &endpoint,
        false,
        Some(&registry),
    ));
    let lines = json_lines(&o);
    let ids: Vec<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["test-full", "test-no-3", "test-no-5"]);
    for (line, bytes) in lines.iter().zip([&full, &oracle, &oracle]) {
        let path = PathBuf::from(line["path"].as_str().unwrap());
        assert!(path.starts_with(&cache), "{}", path.display());
        assert_eq!(&std::fs::read(&path).unwrap(), bytes);
        let sha = line["sha256"].as_str().unwrap();
        assert_eq!(sha.len(), 64);
    }
    assert_eq!(lines[1]["sha256"], lines[2]["sha256"]);
    assert_ne!(lines[0]["sha256"], lines[1]["sha256"]);
    let full_path = PathBuf::from(lines[0]["path"].as_str().unwrap());
    let full_sha = lines[0]["sha256"].as_str().unwrap().to_string();
    let record = cache
        .join("unlearn-sha256")
        .join("jaeunglee--resnet18-cifar10-unlearning/main/resnet18_cifar10_full.pth.sha256");
    assert!(std::fs::read_to_string(&record)
        .unwrap()
        .starts_with(&full_sha));
    drop(server);

    // Offline, from the cache: the same path and digest, in the plain form.
    let o = ok(unlearn_env(
        &["models", "fetch", "test-full"],
        &cache,
        "http://127.0.0.1:9",
        true,
        Some(&registry),
    ));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.contains(&full_sha) && out.contains(p(&full_path)),
        "{out}"
    );

    // A cached file changed afterwards is refused, naming the file and both digests.
    std::fs::write(&full_path, b"changed").unwrap();
    let o = unlearn_env(
        &["models", "fetch", "test-full"],
        &cache,
        "http://127.0.0.1:9",
        true,
        Some(&registry),
    );
    assert_clean_failure(&o, "SHA-256 mismatch");
    assert_clean_failure(&o, &full_sha);
    assert_clean_failure(&o, "resnet18_cifar10_full.pth");

    // An unknown id lists the known ones; a malformed registry names its file.
    let o = unlearn_env(
        &["models", "fetch", "nope"],
        &cache,
        "http://127.0.0.1:9",
        true,
        Some(&registry),
    );
    assert_clean_failure(&o, "test-full, test-no-3, test-no-5");
    std::fs::write(&registry, "[[model]]\nid = \"x\"\narch = \"resnet99\"\n").unwrap();
    let o = unlearn_env(
        &["models", "list"],
        &cache,
        "http://127.0.0.1:9",
        true,
        Some(&registry),
    );
    assert_clean_failure(&o, "registry.toml");
}

#[test]
fn registry_entries_are_checked_against_their_files_and_errors_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let registry = dir.path().join("registry.toml");
    let full = std::fs::read(fixture("small-cnn-1x4x4.pth")).unwrap();
    let server = HubServer::start(BTreeMap::from([(
        resolve_path(REPO, "main", "resnet18_cifar10_full.pth"),
        full,
    )]));
    let endpoint = server.endpoint();
    let run = |args: &[&str], registry: &Path| {
        unlearn_env(args, &cache, &endpoint, false, Some(registry))
    };
    // The file is a torch.save file; the entry says safetensors.
    let pth_entry = entry("test-full", "resnet18_cifar10_full.pth", None);
    std::fs::write(
        &registry,
        pth_entry.replace("format = \"pth\"", "format = \"safetensors\""),
    )
    .unwrap();
    let o = run(&["models", "fetch", "test-full"], &registry);
    assert_clean_failure(&o, "entry 'test-full', field 'format'");
    assert_clean_failure(&o, "it says 'safetensors', but its file");
    // The file's head has 10 rows; the entry says 7 classes.
    std::fs::write(
        &registry,
        pth_entry.replace("num_classes = 10", "num_classes = 7"),
    )
    .unwrap();
    let out = dir.path().join("m.safetensors");
    let o = run(
        &["import", "--from", "model:test-full", "--out", p(&out)],
        &registry,
    );
    assert_clean_failure(&o, "entry 'test-full', field 'num_classes'");
    assert_clean_failure(&o, "it says 7, but the file's 'fc.weight' has 10 rows");
    assert!(!out.exists());
    // An entry without its id names 'id', not another field.
    std::fs::write(&registry, pth_entry.replace("id = \"test-full\"\n", "")).unwrap();
    let o = run(&["models", "list"], &registry);
    assert_clean_failure(&o, "field 'id'");
    assert_clean_failure(&o, "missing field `id`");
    // A registry path that does not exist names the variable that gave it.
    let o = run(&["models", "list"], Path::new("/nonexistent"));
    assert_clean_failure(&o, "UNLEARN_MODEL_REGISTRY=/nonexistent");
    // ... and says what went wrong once, not again as a cause.
    assert_eq!(
        stderr(&o).matches("No such file").count(),
        1,
        "{}",
        stderr(&o)
    );
    drop(server);
}
