//! A study that starts from shared PyTorch models (issue #15): the Machine-Unlearning-
//! Comparator layout (a CIFAR-10 ResNet-18 original and its class-3 oracle, real
//! `torch.save` files from `scripts/make_pth_fixtures.py`) served by a hub on 127.0.0.1
//! under the registry's names, fetched with `unlearn models fetch`, then used offline by
//! `unlearn reproduce --original model:… --oracle class:3=model:…` on tiny CIFAR-10 files.
//! The study trains no original and no retrain, feeds every model the Comparator's input
//! normalisation, and holds out no validation images.
//!
//! `unlearn reproduce` is the pipeline library that `cargo xtask reproduce` runs.

mod common;
#[path = "../crates/unlearn-models/tests/support/hub_server.rs"]
mod hub_server;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{ok, p, stderr};
use hub_server::{resolve_path, HubServer};

const REPO: &str = "jaeunglee/resnet18-cifar10-unlearning";
const REVISION: &str = "02f6cdccec857fe5f8413a9390a36430ac4e58a1";
const ORIGINAL: &str = "model:comparator-resnet18-cifar10-full";
const ORACLE: &str = "model:comparator-resnet18-cifar10-no-3";

fn gunzip(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../unlearn-models/tests/fixtures/pth")
        .join(name);
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("fixture"))
        .read_to_end(&mut bytes)
        .expect("gunzip");
    bytes
}

/// `unlearn` against the hub cache `cache` (and the hub at `endpoint`, or offline).
fn unlearn_hub(args: &[&str], cache: &Path, endpoint: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_unlearn"));
    cmd.args(args)
        .env_remove("UNLEARN_DATA")
        .env_remove("HF_HOME")
        .env_remove("UNLEARN_MODEL_REGISTRY")
        .env("HF_HUB_CACHE", cache);
    match endpoint {
        Some(e) => cmd.env("HF_ENDPOINT", e).env_remove("HF_HUB_OFFLINE"),
        None => cmd
            .env("HF_ENDPOINT", "http://127.0.0.1:9")
            .env("HF_HUB_OFFLINE", "1"),
    };
    cmd.output().expect("the binary runs")
}

/// CIFAR-10 binary files: five training batches of 12 records, a test batch of 30.
fn tiny_cifar(dir: &Path) -> PathBuf {
    let root = dir.join("cifar");
    std::fs::create_dir_all(&root).expect("mkdir");
    let file = |n: usize, seed: usize| {
        let mut v = Vec::new();
        for r in 0..n {
            let label = (r + seed) % 10;
            v.push(label as u8);
            v.extend((0..3072).map(|i| ((i * 7 + r * 31 + seed * 13 + label * 40) % 256) as u8));
        }
        v
    };
    for b in 1..=5 {
        std::fs::write(root.join(format!("data_batch_{b}.bin")), file(12, b)).expect("write");
    }
    std::fs::write(root.join("test_batch.bin"), file(30, 9)).expect("write");
    root
}

fn metadata(path: &Path) -> BTreeMap<String, String> {
    let bytes = std::fs::read(path).expect("checkpoint");
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).expect("header");
    header
        .metadata()
        .clone()
        .expect("metadata")
        .into_iter()
        .collect()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_study_starts_from_the_comparator_models_fetched_from_a_local_hub() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("hub-cache");
    let server = HubServer::start(BTreeMap::from([
        (
            resolve_path(REPO, REVISION, "resnet18_cifar10_full.pth"),
            gunzip("resnet18_cifar10_full.pth.gz"),
        ),
        (
            resolve_path(REPO, REVISION, "resnet18_cifar10_no_cat.pth"),
            gunzip("resnet18_cifar10_no_3.pth.gz"),
        ),
    ]));
    let fetched = ok(unlearn_hub(
        &[
            "models",
            "fetch",
            "comparator-resnet18-cifar10-full",
            "comparator-resnet18-cifar10-no-3",
        ],
        &cache,
        Some(&server.endpoint()),
    ));
    let listing = String::from_utf8_lossy(&fetched.stdout).into_owned();
    assert_eq!(listing.lines().count(), 2, "{listing}");
    drop(server);

    let root = tiny_cifar(dir.path());
    let data = format!("cifar10:{}", root.display());
    let store = dir.path().join("study");
    let o = ok(unlearn_hub(
        &[
            "reproduce",
            "--preset",
            "cifar10",
            "--data",
            &data,
            "--original",
            ORIGINAL,
            "--oracle",
            &format!("class:3={ORACLE}"),
            "--scenarios",
            "class:3",
            "--methods",
            "ft,l1,muda",
            "--epochs",
            "1",
            "--min-set-size",
            "2",
            "--quiet",
            "--out",
            p(&store),
        ],
        &cache,
        None,
    ));
    let log = stderr(&o);
    assert!(!log.contains("training original"), "{log}");
    assert!(!log.contains("training retrain"), "{log}");

    // The given models were imported, nothing was trained in their place.
    let originals = files_in(&store.join("originals"));
    assert!(
        originals.iter().all(|f| f.starts_with("given-")),
        "{originals:?}"
    );
    let original = originals
        .iter()
        .find(|f| f.ends_with(".safetensors"))
        .expect("an imported original");
    assert!(files_in(&store.join("oracles"))
        .iter()
        .any(|f| f.starts_with("given-") && f.ends_with(".safetensors")));
    let cell = store.join("class-3/seed0");
    assert!(!cell.join("retrain.safetensors").exists());
    let meta = metadata(&store.join("originals").join(original));
    assert_eq!(
        meta.get("x.imported_from").map(String::as_str),
        Some(ORIGINAL)
    );
    assert_eq!(
        meta.get("input_std").map(String::as_str),
        Some("[0.2023,0.1994,0.201]")
    );
    // Every model of the study is fed the given models' normalisation: an unlearned one
    // records it too.
    let ft = metadata(&cell.join("ft.safetensors"));
    assert_eq!(ft.get("input_std"), meta.get("input_std"));

    // The split holds out no validation images: the shared models saw all 60.
    let split: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cell.join("split.json")).expect("split"))
            .expect("json");
    assert_eq!(split["val"].as_array().map(Vec::len), Some(0), "{split}");
    assert_eq!(split["train"].as_array().map(Vec::len), Some(60));

    // Every row is measured: the given original and oracle, and each method.
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(store.join("results.jsonl"))
        .expect("results")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let names: Vec<&str> = rows.iter().filter_map(|r| r["method"].as_str()).collect();
    assert_eq!(names, ["original", "retrain", "ft", "l1", "muda"]);
    for r in &rows {
        assert!(r["metrics"].is_object(), "{r}");
    }
}
