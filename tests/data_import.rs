//! `unlearn` on data a user brings: an image folder and Hugging Face parquet shards (the
//! committed fixtures of `crates/unlearn-data/tests/fixtures/import`, made by
//! `scripts/make_import_fixtures.py`) through split, train, eval and a one-method study, a
//! dataset served by a local Hugging Face Hub on 127.0.0.1 then read offline, and bad input
//! refused with a clear message, a non-zero exit and a clean cache.

#[path = "../crates/unlearn-models/tests/support/hub_server.rs"]
mod hub_server;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hub_server::HubServer;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../unlearn-data/tests/fixtures/import")
}

fn expected_fingerprint() -> String {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).expect("expected.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v["fingerprint"].as_str().expect("fingerprint").to_string()
}

/// Runs `unlearn` with its caches under `home` (`cache`, `hub`) and the hub at `endpoint`
/// (none: offline).
fn unlearn(args: &[&str], home: &Path, endpoint: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_unlearn"));
    cmd.args(args)
        .env_remove("UNLEARN_DATA")
        .env_remove("HF_HOME")
        .env("UNLEARN_CACHE", home.join("cache"))
        .env("HF_HUB_CACHE", home.join("hub"));
    match endpoint {
        Some(e) => cmd.env("HF_ENDPOINT", e).env_remove("HF_HUB_OFFLINE"),
        None => cmd
            .env("HF_ENDPOINT", "http://127.0.0.1:9")
            .env("HF_HUB_OFFLINE", "1"),
    };
    cmd.output().expect("the binary runs")
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn info_json(data: &str, home: &Path, endpoint: Option<&str>) -> serde_json::Value {
    let out = ok(unlearn(
        &["data", "info", "--data", data, "--json"],
        home,
        endpoint,
    ));
    serde_json::from_str(&out).expect("data info --json")
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// split, train, eval and a one-method `reproduce` on `data`; returns the split's list sizes.
fn study(data: &str, home: &Path) -> Vec<usize> {
    let dir = home.join("work");
    std::fs::create_dir_all(&dir).unwrap();
    let split = dir.join("split.json");
    ok(unlearn(
        &[
            "split",
            "--data",
            data,
            "--scenario",
            "class:eight",
            "--seed",
            "0",
            "--out",
            p(&split),
        ],
        home,
        None,
    ));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&split).unwrap()).unwrap();
    assert_eq!(
        manifest["scenario"], "class:0",
        "class `eight` is class 0 in sorted order"
    );
    let sizes = ["train", "retain", "forget", "val", "test"]
        .iter()
        .map(|k| manifest[*k].as_array().map(|a| a.len()).unwrap_or(0))
        .collect::<Vec<_>>();
    let model = dir.join("original.safetensors");
    ok(unlearn(
        &[
            "train",
            "--data",
            data,
            "--split",
            p(&split),
            "--subset",
            "train",
            "--epochs",
            "1",
            "--out",
            p(&model),
        ],
        home,
        None,
    ));
    let eval: serde_json::Value = serde_json::from_str(&ok(unlearn(
        &[
            "eval",
            "--checkpoint",
            p(&model),
            "--data",
            data,
            "--split",
            p(&split),
            "--json",
            "-",
        ],
        home,
        None,
    )))
    .unwrap();
    assert!(eval["ta"].as_f64().is_some(), "{eval}");
    let store = dir.join("study");
    ok(unlearn(
        &[
            "reproduce",
            "--data",
            data,
            "--methods",
            "ft",
            "--scenarios",
            "class:eight",
            "--epochs",
            "1",
            "--quiet",
            "--out",
            p(&store),
        ],
        home,
        None,
    ));
    let records = std::fs::read_to_string(store.join("results.jsonl")).unwrap();
    let methods: Vec<String> = records
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["method"].to_string())
        .collect();
    assert!(methods.iter().any(|m| m == "\"ft\""), "{records}");
    sizes
}

#[test]
fn an_image_folder_and_parquet_shards_run_every_command() {
    let home = tempfile::tempdir().unwrap();
    let folder = format!("imagefolder:{}", fixtures().join("digits-folder").display());
    let shards = format!("parquet:{}", fixtures().join("digits-parquet").display());
    let a = info_json(&folder, home.path(), None);
    let b = info_json(&shards, home.path(), None);
    for info in [&a, &b] {
        assert_eq!(
            info["fingerprint"].as_str().unwrap(),
            expected_fingerprint()
        );
        assert_eq!(info["class_names"][0], "eight");
        let cache = info["decoded_cache"]
            .as_str()
            .expect("the cache file is printed");
        assert!(
            Path::new(cache).starts_with(home.path().join("cache")),
            "{cache}"
        );
    }
    let folder_sizes = study(&folder, &home.path().join("folder"));
    let shard_sizes = study(&shards, &home.path().join("shards"));
    assert_eq!(
        folder_sizes, shard_sizes,
        "the same split from both layouts"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// A copy of the fixture `name` under `root`, changed by `edit`.
fn broken(root: &Path, name: &str, edit: impl FnOnce(&Path)) -> PathBuf {
    let dir = root.join(name.replace('/', "-"));
    copy_dir(&fixtures().join(name), &dir);
    edit(&dir);
    dir
}

#[test]
fn every_bad_input_exits_non_zero_naming_the_file_and_leaves_the_cache_clean() {
    let home = tempfile::tempdir().unwrap();
    let root = home.path().join("inputs");
    let folder = "digits-folder";
    let shards = "digits-parquet";
    let cases: Vec<(String, &str, &str)> = vec![
        (
            format!(
                "imagefolder:{}",
                broken(&root, folder, |d| {
                    let f = d.join("train/five/0003.png");
                    let bytes = std::fs::read(&f).unwrap();
                    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
                })
                .display()
            ),
            "five/0003.png",
            "cannot decode",
        ),
        (
            format!(
                "imagefolder:{}",
                broken(&root.join("b"), folder, |d| {
                    std::fs::write(d.join("train/two/notes.txt"), "x").unwrap()
                })
                .display()
            ),
            "two/notes.txt",
            "not an image file",
        ),
        (
            format!(
                "imagefolder:{}",
                broken(&root.join("c"), folder, |d| {
                    std::fs::create_dir(d.join("train/eleven")).unwrap()
                })
                .display()
            ),
            "train/eleven",
            "empty class folder",
        ),
        (
            format!(
                "imagefolder:{}",
                broken(&root.join("d"), folder, |d| {
                    std::fs::create_dir(d.join("test/twelve")).unwrap();
                    std::fs::copy(d.join("test/one/0000.png"), d.join("test/twelve/0000.png"))
                        .unwrap();
                })
                .display()
            ),
            "test/twelve",
            "is in",
        ),
        (
            format!(
                "imagefolder:{}",
                broken(&root.join("e"), folder, |d| {
                    std::fs::copy(
                        fixtures().join("odd-size-7x6.png"),
                        d.join("train/six/odd.png"),
                    )
                    .unwrap();
                })
                .display()
            ),
            "six/odd.png",
            "--image-size",
        ),
        (
            format!(
                "imagefolder:{}",
                broken(&root.join("f"), folder, |d| {
                    std::fs::remove_dir_all(d.join("test")).unwrap()
                })
                .display()
            ),
            "test/",
            "missing split",
        ),
        (
            format!("parquet:{}", fixtures().join("label-10-of-2").display()),
            "train-00000-of-00001.parquet: row 2",
            "out of range",
        ),
        (
            format!(
                "parquet:{}",
                broken(&root.join("g"), shards, |d| {
                    std::fs::copy(
                        fixtures().join("two-labels/train-00000-of-00001.parquet"),
                        d.join("data/train-00002-of-00002.parquet"),
                    )
                    .unwrap();
                })
                .display()
            ),
            "train-00002-of-00002.parquet",
            "columns differ",
        ),
        (
            format!(
                "parquet:{}",
                broken(&root.join("h"), shards, |d| {
                    std::fs::remove_file(d.join("data/test-00000-of-00001.parquet")).unwrap()
                })
                .display()
            ),
            "no test shard",
            "missing split",
        ),
        (
            format!("parquet:{}", fixtures().join("two-labels").display()),
            "fine_label, coarse_label",
            "--label-column",
        ),
    ];
    for (data, names, says) in &cases {
        let o = unlearn(&["data", "info", "--data", data], home.path(), None);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{data}: {err}");
        assert!(!err.contains("panicked"), "{data}: {err}");
        assert!(
            err.contains(names),
            "{data}: the error does not name {names}: {err}"
        );
        assert!(
            err.contains(says),
            "{data}: the error does not say {says}: {err}"
        );
        let cache = home.path().join("cache");
        let left: Vec<_> = walk(&cache);
        assert!(left.is_empty(), "{data}: the cache holds {left:?}");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn a_hugging_face_dataset_downloads_from_a_local_hub_then_works_offline() {
    let home = tempfile::tempdir().unwrap();
    let shards = fixtures().join("digits-parquet/data");
    let names = [
        "train-00000-of-00002.parquet",
        "train-00001-of-00002.parquet",
        "test-00000-of-00001.parquet",
    ];
    let listing = |files: &[String]| {
        let siblings: Vec<serde_json::Value> = files
            .iter()
            .map(|f| serde_json::json!({ "rfilename": f }))
            .collect();
        serde_json::to_vec(&serde_json::json!({ "siblings": siblings, "sha": hub_server::COMMIT }))
            .unwrap()
    };
    let mut files = BTreeMap::new();
    // `org/digits` holds its shards under data/; `org/converted` only in the hub's parquet
    // conversion branch, one folder per configuration and split.
    let mut own = vec![".gitattributes".to_string(), "README.md".to_string()];
    own.extend(names.iter().map(|n| format!("data/{n}")));
    files.insert(
        "/api/datasets/org/digits/revision/main".to_string(),
        listing(&own),
    );
    files.insert(
        "/api/datasets/org/converted/revision/main".to_string(),
        listing(&["README.md".to_string()]),
    );
    let converted: Vec<String> = vec![
        "default/train/0000.parquet".into(),
        "default/train/0001.parquet".into(),
        "default/test/0000.parquet".into(),
    ];
    files.insert(
        "/api/datasets/org/converted/revision/refs%2Fconvert%2Fparquet".to_string(),
        listing(&converted),
    );
    for (n, c) in names
        .iter()
        .zip([&converted[0], &converted[1], &converted[2]])
    {
        let bytes = std::fs::read(shards.join(n)).unwrap();
        files.insert(
            format!("/datasets/org/digits/resolve/main/data/{n}"),
            bytes.clone(),
        );
        files.insert(
            format!("/datasets/org/converted/resolve/refs%2Fconvert%2Fparquet/{c}"),
            bytes,
        );
    }
    let server = HubServer::start(files);
    let endpoint = server.endpoint();
    for repo in ["org/digits", "org/converted"] {
        let data = format!("hf://datasets/{repo}");
        let info = info_json(&data, home.path(), Some(&endpoint));
        assert_eq!(
            info["fingerprint"].as_str().unwrap(),
            expected_fingerprint(),
            "{repo}"
        );
        assert_eq!(info["name"], format!("hf:{repo}"));
    }
    let asked = server.requests();
    assert!(asked >= 8, "{asked} requests");
    // Online again: the cache comes first, and the hub is not asked.
    info_json("hf://datasets/org/digits", home.path(), Some(&endpoint));
    assert_eq!(
        server.requests(),
        asked,
        "a cached dataset was fetched again"
    );
    drop(server);

    // Offline: the shard list and the shards come from the caches.
    for repo in ["org/digits", "org/converted"] {
        let info = info_json(&format!("hf://datasets/{repo}"), home.path(), None);
        assert_eq!(
            info["fingerprint"].as_str().unwrap(),
            expected_fingerprint(),
            "{repo}"
        );
    }
    let o = unlearn(
        &["data", "info", "--data", "hf://datasets/org/never-fetched"],
        home.path(),
        None,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("HF_HUB_OFFLINE=1") && err.contains("org/never-fetched"),
        "{err}"
    );
}
