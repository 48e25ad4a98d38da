//! The embedded dataset, scenarios, splits and manifests.

use std::collections::HashSet;
use std::sync::OnceLock;

use unlearn_data::split::list_hash;
use unlearn_data::{
    embedded, make_split, read_npy_indices, triggered_test, BackdoorSpec, DataError, DataSource,
    Dataset, Scenario, SplitConfig, SplitManifest,
};

/// The embedded dataset's fingerprint, computed once and recorded here and in
/// `datasets/fashion-mnist-subset/README.md`.
const EMBEDDED_FINGERPRINT: &str =
    "1206419e93529abb6078dd501e3c936c516d2e6c0e864ef06dd3fbca3716b2b6";

fn ds() -> &'static Dataset {
    static DS: OnceLock<Dataset> = OnceLock::new();
    DS.get_or_init(|| DataSource::Embedded.load().unwrap())
}

fn split(scenario: &str, seed: u64) -> SplitManifest {
    let cfg = SplitConfig {
        scenario: scenario.parse().unwrap(),
        seed,
        val_fraction: 0.1,
    };
    make_split(ds(), &cfg).unwrap()
}

#[test]
fn embedded_dataset_shape_counts_and_fingerprint() {
    let ds = ds();
    println!("embedded fingerprint: {}", ds.fingerprint);
    assert_eq!(ds.name, "embedded-fashion-mnist");
    assert_eq!((ds.train.len(), ds.test.len()), (10_000, 2_000));
    assert_eq!(ds.input_shape(), [1, 28, 28]);
    assert_eq!(ds.train.images.len(), 10_000 * 784);
    let s = ds.summary();
    assert_eq!(s.train_per_class, vec![1000; 10]);
    assert_eq!(s.test_per_class, vec![200; 10]);
    assert_eq!(s.class_names[0], "T-shirt/top");
    assert_eq!(ds.fingerprint, EMBEDDED_FINGERPRINT);
    assert_eq!(ds.fingerprint, embedded::FINGERPRINT);
    // Fashion-MNIST training file starts with labels 9, 0, 0, 3, 0, 2, ...
    assert_eq!(&ds.train.labels[..6], &[9, 0, 0, 3, 0, 2]);
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["source"], "embedded");
}

#[test]
fn full_fashion_mnist_if_installed() {
    let dir = std::path::Path::new("/usr/share/datasets/fashion-mnist");
    if !dir.join("train-images-idx3-ubyte.gz").is_file() {
        eprintln!("skipped: dataset-fashion-mnist not installed");
        return;
    }
    let full = DataSource::FashionMnist {
        dir: Some(dir.into()),
    }
    .load()
    .unwrap();
    assert_eq!((full.train.len(), full.test.len()), (60_000, 10_000));
    // The subset rule: first 1000 of each class, in file order.
    let mut seen = [0usize; 10];
    let mut kept = Vec::new();
    for (i, &l) in full.train.labels.iter().enumerate() {
        if seen[l as usize] < 1000 {
            seen[l as usize] += 1;
            kept.push(i as u32);
        }
    }
    let sub = full.train.subset(&kept);
    assert_eq!(sub.images, ds().train.images);
    assert_eq!(sub.labels, ds().train.labels);
}

#[test]
fn random_split_sizes_and_invariants() {
    let m = split("random:0.1", 0);
    assert_eq!(m.val.len(), 1000);
    assert_eq!(m.train.len(), 9000);
    assert_eq!(m.forget.len(), 900);
    assert_eq!(m.retain.len(), 8100);
    assert_eq!(m.test.len(), 2000);
    // val stratified: 100 per class
    let mut per = [0; 10];
    for &i in &m.val {
        per[ds().train.labels[i as usize] as usize] += 1;
    }
    assert_eq!(per, [100; 10]);
    let train: HashSet<u32> = m.train.iter().copied().collect();
    assert!(m.val.iter().all(|i| !train.contains(i)));
    assert!(m.forget.iter().all(|i| train.contains(i)));
    assert!(m.forget.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(m.sha256.forget, list_hash(&m.forget));
    m.check_dataset(ds()).unwrap();
}

#[test]
fn split_determinism() {
    let a = split("random:0.1", 7);
    let b = split("random:0.1", 7);
    assert_eq!(a, b);
    assert_eq!(a.content_hash(), b.content_hash());
    let c = split("random:0.1", 8);
    assert_ne!(a.forget, c.forget);
    assert_ne!(a.val, c.val);
    assert_ne!(a.content_hash(), c.content_hash());
    // val depends only on the seed, not on the scenario
    assert_eq!(a.val, split("class:3", 7).val);
}

#[test]
fn class_split() {
    let m = split("class:1,7", 0);
    let labels = &ds().train.labels;
    assert!(m
        .forget
        .iter()
        .all(|&i| [1, 7].contains(&labels[i as usize])));
    assert!(m
        .retain
        .iter()
        .all(|&i| ![1, 7].contains(&labels[i as usize])));
    assert_eq!(m.forget.len(), 1800); // 2 classes x (1000 - 100 val)
    assert_eq!(m.scenario.classes(), Some(&[1u32, 7][..]));
}

#[test]
fn backdoor_split_poisoning_and_trigger() {
    let m = split("backdoor:0.05,target=2", 0);
    let spec = m.scenario.backdoor().unwrap().clone();
    assert_eq!(
        spec,
        BackdoorSpec {
            fraction: 0.05,
            target: 2,
            trigger_size: 3,
            trigger_value: 255
        }
    );
    assert_eq!(m.forget.len(), 450);
    let labels = &ds().train.labels;
    assert!(m.forget.iter().all(|&i| labels[i as usize] != 2));

    let poisoned = m.poisoned_train(ds());
    let f = m.forget[0] as usize;
    assert_eq!(poisoned.labels[f], 2);
    let img = poisoned.image(f);
    for y in 25..28 {
        for x in 25..28 {
            assert_eq!(img[y * 28 + x], 255);
        }
    }
    assert_eq!(img[24 * 28 + 27], ds().train.image(f)[24 * 28 + 27]);
    let r = m.retain[0] as usize;
    assert_eq!(poisoned.image(r), ds().train.image(r));
    assert_eq!(poisoned.labels[r], labels[r]);
    // non-backdoor scenarios: unchanged copy
    let clean = split("random", 0).poisoned_train(ds());
    assert_eq!(clean.images, ds().train.images);

    let (trig, idx) = triggered_test(ds(), &spec);
    assert_eq!(trig.len(), 1800);
    assert_eq!(idx.len(), 1800);
    assert!(trig.labels.iter().all(|&l| l != 2));
    assert_eq!(trig.image(0)[27 * 28 + 27], 255);
    assert_eq!(trig.labels[5], ds().test.labels[idx[5] as usize]);
}

#[test]
fn scenario_parse_display_round_trip() {
    for s in [
        "random:0.1",
        "random:0.25",
        "class:3",
        "class:1,7",
        "backdoor:0.05",
        "backdoor:0.05,target=2,size=4",
        "backdoor:0.1,value=128",
        "imported:0123456789ab,count=12",
    ] {
        let sc: Scenario = s.parse().unwrap();
        assert_eq!(sc.to_string(), s);
        let json = serde_json::to_string(&sc).unwrap();
        assert_eq!(json, format!("\"{s}\""));
        assert_eq!(serde_json::from_str::<Scenario>(&json).unwrap(), sc);
    }
    assert_eq!(
        "random".parse::<Scenario>().unwrap(),
        Scenario::Random { fraction: 0.1 }
    );
    assert_eq!(
        "backdoor".parse::<Scenario>().unwrap().to_string(),
        "backdoor:0.05"
    );
}

#[test]
fn invalid_scenarios_rejected_with_clear_messages() {
    for s in [
        "random:0",
        "random:1",
        "random:1.5",
        "random:-0.1",
        "backdoor:1",
        "random:NaN",
    ] {
        let err = s.parse::<Scenario>().unwrap_err();
        assert!(
            matches!(err, DataError::FractionOutOfRange { .. }),
            "{s}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("0 < fraction < 1"), "{msg}");
    }
    let msg = "random:-0.1".parse::<Scenario>().unwrap_err().to_string();
    assert!(msg.contains("-0.1"), "{msg}");

    let class10: Scenario = "class:10".parse().unwrap();
    let err = class10.validate(10).unwrap_err();
    assert!(matches!(
        err,
        DataError::UnknownClass {
            class: 10,
            num_classes: 10
        }
    ));
    assert!(err.to_string().contains("class 10") && err.to_string().contains("< 10"));
    let cfg = SplitConfig {
        scenario: class10,
        ..SplitConfig::default()
    };
    assert!(matches!(
        make_split(ds(), &cfg),
        Err(DataError::UnknownClass { .. })
    ));

    let all: Scenario = "class:0,1,2,3,4,5,6,7,8,9".parse().unwrap();
    assert!(all
        .validate(10)
        .unwrap_err()
        .to_string()
        .contains("all 10 classes"));
    assert!("class:1,1"
        .parse::<Scenario>()
        .unwrap_err()
        .to_string()
        .contains("twice"));
    assert!("class:".parse::<Scenario>().is_err());
    assert!("class:x".parse::<Scenario>().is_err());
    assert!(matches!(
        "backdoor:0.05,target=12"
            .parse::<Scenario>()
            .unwrap()
            .validate(10),
        Err(DataError::UnknownClass { class: 12, .. })
    ));
    assert!("backdoor:0.05,colour=red"
        .parse::<Scenario>()
        .unwrap_err()
        .to_string()
        .contains("unknown option"));
    assert!("backdoor:0.05,size=0".parse::<Scenario>().is_err());
    assert!("forget-all"
        .parse::<Scenario>()
        .unwrap_err()
        .to_string()
        .contains("random[:p]"));

    for v in [1.0, -0.1, 1.5] {
        let cfg = SplitConfig {
            val_fraction: v,
            ..SplitConfig::default()
        };
        let err = make_split(ds(), &cfg).unwrap_err();
        assert!(
            matches!(err, DataError::FractionOutOfRange { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("val_fraction"));
    }
    let cfg = SplitConfig {
        val_fraction: 0.0,
        ..SplitConfig::default()
    };
    assert_eq!(make_split(ds(), &cfg).unwrap().train.len(), 10_000);
}

#[test]
fn manifest_save_load_and_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/split.json");
    let m = split("backdoor:0.05", 3);
    m.save(&path).unwrap();
    let back = SplitManifest::load(&path).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.content_hash(), m.content_hash());
    // no temporary left behind
    assert_eq!(
        std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
        1
    );

    // edit a list: hash mismatch
    let mut tampered = m.clone();
    tampered.forget[0] += 1;
    let tpath = dir.path().join("tampered.json");
    std::fs::write(&tpath, serde_json::to_string_pretty(&tampered).unwrap()).unwrap();
    let err = SplitManifest::load(&tpath).unwrap_err();
    assert!(
        matches!(&err, DataError::Manifest { path, .. } if path == &tpath),
        "{err:?}"
    );
    assert!(err.to_string().contains("`forget`"), "{err}");

    // edit a list and its hash: structural checks still catch it
    let mut sneaky = m.clone();
    let moved = sneaky.retain.remove(0);
    sneaky.forget.push(moved);
    sneaky.forget.sort_unstable();
    sneaky.sha256.retain = list_hash(&sneaky.retain);
    sneaky.sha256.forget = list_hash(&sneaky.forget);
    // The hashes catch accidental edits, not deliberate consistent ones.
    assert!(sneaky.verify().is_ok());
    let mut overlap = m.clone();
    overlap.retain.push(m.forget[0]);
    overlap.retain.sort_unstable();
    overlap.sha256.retain = list_hash(&overlap.retain);
    assert!(overlap
        .verify()
        .unwrap_err()
        .to_string()
        .contains("overlap"));
    let mut leak = m.clone();
    leak.val.push(m.train[0]);
    leak.val.sort_unstable();
    leak.sha256.val = list_hash(&leak.val);
    assert!(leak
        .verify()
        .unwrap_err()
        .to_string()
        .contains("`val` and `train` overlap"));

    // not JSON
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{}").unwrap();
    assert!(matches!(
        SplitManifest::load(&junk),
        Err(DataError::Manifest { .. })
    ));
}

#[test]
fn check_dataset_rejects_other_data() {
    let m = split("random:0.1", 0);
    let mut other = ds().clone();
    other.train.images[0] ^= 1;
    other.fingerprint = unlearn_data::dataset::fingerprint(&other.train, &other.test);
    let err = m.check_dataset(&other).unwrap_err();
    assert!(matches!(err, DataError::DatasetMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("fingerprint"));
}

#[test]
fn imported_forget_indices() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("forget.npy");
    let forget: Vec<i64> = (0..500).map(|i| i * 17 % 10_000).collect();
    npyz::to_file_1d(&p, forget.clone()).unwrap();
    let idx = read_npy_indices(&p).unwrap();
    let m = SplitManifest::from_forget_indices(ds(), &idx, 0, 0.1).unwrap();
    let mut expect: Vec<u32> = forget.iter().map(|&v| v as u32).collect();
    expect.sort_unstable();
    assert_eq!(m.forget, expect);
    assert!(m.val.iter().all(|v| expect.binary_search(v).is_err()));
    assert_eq!(m.val.len(), 1000);
    assert_eq!(m.train.len(), 9000);
    match &m.scenario {
        Scenario::Imported { sha256, count } => {
            assert_eq!(*count, 500);
            assert!(m.sha256.forget.starts_with(sha256.as_str()));
        }
        s => panic!("unexpected scenario {s}"),
    }
    // round trip through disk
    let mp = dir.path().join("m.json");
    m.save(&mp).unwrap();
    assert_eq!(SplitManifest::load(&mp).unwrap(), m);

    assert!(matches!(
        SplitManifest::from_forget_indices(ds(), &[1, 1], 0, 0.1),
        Err(DataError::InvalidIndices { .. })
    ));
    let err = SplitManifest::from_forget_indices(ds(), &[10_000], 0, 0.1).unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
    assert!(SplitManifest::from_forget_indices(ds(), &[], 0, 0.1).is_err());
}
