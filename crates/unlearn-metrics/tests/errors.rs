//! Bad inputs must come back as the right `MetricsError`, never as a panic.

use std::collections::BTreeMap;

use unlearn_metrics::cluster::kmeans;
use unlearn_metrics::{
    compare, da_with_basis, evaluate, render_table, retain_basis, FeatureBundle, KRule, Matrix,
    MetricsConfig, MetricsError, SplitData, TriggeredData,
};

/// A small valid split: `n` rows, `d` features, `c` classes, labels cycling from `shift`.
fn split(name: &str, n: usize, d: usize, c: usize, shift: usize) -> SplitData {
    let (mut f, mut l, mut y) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let k = (i + shift) % c;
        for j in 0..d {
            f.push(if j % c == k {
                1.0
            } else {
                0.01 * ((i * 7 + j) % 11) as f32
            });
        }
        for j in 0..c {
            l.push(if j == k {
                3.0 + (i % 5) as f32 * 0.2
            } else {
                0.1 * ((i + j) % 3) as f32
            });
        }
        y.push(k as u32);
    }
    SplitData::new(
        name,
        Matrix::new(n, d, f).unwrap(),
        Matrix::new(n, c, l).unwrap(),
        y,
    )
    .unwrap()
}

fn bundle() -> FeatureBundle {
    FeatureBundle::new(
        split("retain", 60, 6, 3, 0),
        split("forget", 15, 6, 3, 1),
        split("test", 40, 6, 3, 2),
        None,
        None,
        BTreeMap::new(),
    )
    .unwrap()
}

#[test]
fn mismatched_lengths() {
    let f = Matrix::new(4, 2, vec![0.0; 8]).unwrap();
    let l = Matrix::new(4, 3, vec![0.0; 12]).unwrap();
    let err = SplitData::new("forget", f.clone(), l.clone(), vec![0, 1, 2]).unwrap_err();
    match err {
        MetricsError::LengthMismatch {
            what,
            expected,
            found,
        } => {
            assert!(what.contains("forget_labels"), "{what}");
            assert_eq!((expected, found), (4, 3));
        }
        e => panic!("wrong error {e}"),
    }
    let l3 = Matrix::new(3, 3, vec![0.0; 9]).unwrap();
    let err = SplitData::new("test", f, l3, vec![0; 4]).unwrap_err();
    assert!(
        matches!(err, MetricsError::LengthMismatch { ref what, .. } if what.contains("test_logits"))
    );
    assert!(matches!(
        Matrix::new(2, 2, vec![0.0f32; 3]),
        Err(MetricsError::LengthMismatch {
            expected: 4,
            found: 3,
            ..
        })
    ));
}

#[test]
fn mismatched_widths() {
    let mut b = bundle();
    b.test = split("test", 40, 5, 3, 0);
    match b.validate().unwrap_err() {
        MetricsError::WidthMismatch {
            what,
            expected,
            found,
        } => {
            assert!(what.contains("test_features"));
            assert_eq!((expected, found), (6, 5));
        }
        e => panic!("wrong error {e}"),
    }
    let mut b = bundle();
    b.forget = split("forget", 10, 6, 4, 0);
    assert!(matches!(
        evaluate(&b, &MetricsConfig::default()),
        Err(MetricsError::WidthMismatch { ref what, expected: 3, found: 4 }) if what.contains("forget_logits")
    ));
}

#[test]
fn non_finite_values() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut b = bundle();
        let mut data = b.forget.features.data().to_vec();
        data[13] = bad;
        b.forget.features = Matrix::new(15, 6, data).unwrap();
        match evaluate(&b, &MetricsConfig::default()).unwrap_err() {
            MetricsError::NonFinite { array, index } => {
                assert_eq!(array, "forget_features");
                assert_eq!(index, 13);
            }
            e => panic!("wrong error {e}"),
        }
    }
    let mut b = bundle();
    let mut data = b.retain.logits.data().to_vec();
    data[5] = f32::NAN;
    b.retain.logits = Matrix::new(60, 3, data).unwrap();
    assert!(
        matches!(b.validate(), Err(MetricsError::NonFinite { ref array, index: 5 }) if array == "retain_logits")
    );
    assert!(matches!(
        da_with_basis(&[1.0, 0.0], 2, 1, &[f32::NAN, 1.0], 1),
        Err(MetricsError::NonFinite { .. })
    ));
}

#[test]
fn labels_out_of_range() {
    let mut b = bundle();
    b.test.labels[7] = 3;
    assert!(matches!(
        b.validate(),
        Err(MetricsError::LabelOutOfRange { ref array, index: 7, label: 3, classes: 3 }) if array == "test_labels"
    ));
}

#[test]
fn fewer_samples_than_classes() {
    // Forget set of 2 samples: below the one floor every metric shares (MIN_SET_SIZE);
    // k-means alone would need k = 3.
    let mut b = bundle();
    b.forget = split("forget", 2, 6, 3, 0);
    match evaluate(&b, &MetricsConfig::default()).unwrap_err() {
        MetricsError::TooFewSamples {
            needed,
            found,
            what,
        } => {
            assert_eq!((needed, found), (unlearn_metrics::MIN_SET_SIZE, 2));
            assert_eq!(what, "the forget set");
        }
        e => panic!("wrong error {e}"),
    }
    assert!(matches!(
        kmeans(&[0.0, 1.0], 2, 1, 5, 1, 0),
        Err(MetricsError::TooFewSamples {
            needed: 5,
            found: 2,
            ..
        })
    ));
    // Empty forget set.
    let mut b = bundle();
    b.forget = split("forget", 0, 6, 3, 0);
    assert!(matches!(
        evaluate(&b, &MetricsConfig::default()),
        Err(MetricsError::TooFewSamples { .. })
    ));
}

#[test]
fn invalid_parameters() {
    let b = bundle();
    for k in [
        KRule::Fixed(0),
        KRule::Fixed(7),
        KRule::Auto(0.0),
        KRule::Auto(1.5),
    ] {
        let cfg = MetricsConfig {
            k,
            ..Default::default()
        };
        assert!(
            matches!(
                evaluate(&b, &cfg),
                Err(MetricsError::InvalidParameter { .. })
            ),
            "{k:?}"
        );
    }
    let cfg = MetricsConfig {
        forgotten_classes: Some(vec![9]),
        ..Default::default()
    };
    assert!(matches!(
        evaluate(&b, &cfg),
        Err(MetricsError::InvalidParameter { .. })
    ));
    assert!(matches!(
        da_with_basis(&[1.0; 5], 3, 2, &[1.0; 3], 1),
        Err(MetricsError::LengthMismatch { .. })
    ));
}

fn write_npz(path: &std::path::Path, skip: &str, float_labels: bool) {
    use npyz::WriterBuilder;
    let b = bundle();
    let mut npz = npyz::npz::NpzWriter::create(path).unwrap();
    for (name, s) in b.splits() {
        for (suffix, m) in [("features", &s.features), ("logits", &s.logits)] {
            let key = format!("{name}_{suffix}");
            if key == skip {
                continue;
            }
            let mut w = npz
                .array::<f32>(&key, Default::default())
                .unwrap()
                .default_dtype()
                .shape(&[m.rows() as u64, m.cols() as u64])
                .begin_nd()
                .unwrap();
            w.extend(m.data().iter().copied()).unwrap();
            w.finish().unwrap();
        }
        let key = format!("{name}_labels");
        if key == skip {
            continue;
        }
        if float_labels {
            let mut w = npz
                .array::<f64>(&key, Default::default())
                .unwrap()
                .default_dtype()
                .shape(&[s.labels.len() as u64])
                .begin_nd()
                .unwrap();
            w.extend(s.labels.iter().map(|&v| f64::from(v))).unwrap();
            w.finish().unwrap();
        } else {
            let mut w = npz
                .array::<i32>(&key, Default::default())
                .unwrap()
                .default_dtype()
                .shape(&[s.labels.len() as u64])
                .begin_nd()
                .unwrap();
            w.extend(s.labels.iter().map(|&v| v as i32)).unwrap();
            w.finish().unwrap();
        }
    }
}

#[test]
fn missing_arrays_and_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("missing.npz");
    write_npz(&p, "test_labels", false);
    match FeatureBundle::load(&p).unwrap_err() {
        MetricsError::MissingArray {
            name,
            path,
            available,
        } => {
            assert_eq!(name, "test_labels");
            assert_eq!(path, p);
            assert!(available.contains(&"test_features".to_string()));
            assert!(!available.contains(&"test_labels".to_string()));
        }
        e => panic!("wrong error {e}"),
    }
    let p = dir.path().join("floatlabels.npz");
    write_npz(&p, "", true);
    assert!(
        matches!(FeatureBundle::load(&p), Err(MetricsError::BadDtype { ref name, .. }) if name == "retain_labels")
    );
    let p = dir.path().join("ok.npz");
    write_npz(&p, "", false);
    assert_eq!(FeatureBundle::load(&p).unwrap(), bundle());

    // Missing file, garbage safetensors, garbage npz.
    let nofile = dir.path().join("nope.safetensors");
    assert!(
        matches!(FeatureBundle::load(&nofile), Err(MetricsError::File(ref e)) if matches!(**e, unlearn_io::IoError::Io { ref path, .. } if *path == nofile))
    );
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a safetensors file").unwrap();
    assert!(matches!(
        FeatureBundle::load(&junk),
        Err(MetricsError::Format { .. })
    ));
    let junk = dir.path().join("junk.npz");
    std::fs::write(&junk, b"not a zip").unwrap();
    assert!(FeatureBundle::load(&junk).is_err());

    // A safetensors file without the forget split.
    let st = dir.path().join("partial.safetensors");
    let data: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1, 2], &data).unwrap();
    std::fs::write(
        &st,
        safetensors::serialize([("retain_features", view)], None).unwrap(),
    )
    .unwrap();
    assert!(
        matches!(FeatureBundle::load(&st), Err(MetricsError::MissingArray { ref name, .. }) if name == "retain_logits")
    );
}

#[test]
fn save_and_reload_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = bundle();
    b.val = Some(split("val", 9, 6, 3, 1));
    b.triggered = Some(TriggeredData {
        logits: Matrix::new(2, 3, vec![5.0, 0.0, 0.0, 0.0, 1.0, 0.0]).unwrap(),
        labels: vec![1, 2],
    });
    b.metadata.insert("model".into(), "cnn".into());
    let meta = BTreeMap::from([("seed".to_string(), "3".to_string())]);
    let p = dir.path().join("b.safetensors");
    b.save_safetensors(&p, &meta).unwrap();
    let back = FeatureBundle::load(&p).unwrap();
    assert_eq!(back.metadata.get("model").map(String::as_str), Some("cnn"));
    assert_eq!(back.metadata.get("seed").map(String::as_str), Some("3"));
    assert_eq!(
        (
            back.retain.clone(),
            back.val.clone(),
            back.triggered.clone()
        ),
        (b.retain.clone(), b.val.clone(), b.triggered.clone())
    );
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    let q = dir.path().join("b.npz");
    b.save_npz(&q).unwrap();
    let back = FeatureBundle::load(&q).unwrap();
    assert_eq!(back.forget, b.forget);
    assert_eq!(back.triggered, b.triggered);

    // Backdoor + val through evaluate: ASR counts non-target rows predicted as target.
    let cfg = MetricsConfig {
        backdoor_target: Some(0),
        ..Default::default()
    };
    let r = evaluate(&b, &cfg).unwrap();
    assert_eq!(r.asr, Some(50.0));
    assert!(r.va.is_some());
    assert_eq!(r.counts["triggered"], 2);
}

#[test]
fn report_json_compare_and_table() {
    let b = bundle();
    let r = evaluate(&b, &MetricsConfig::default()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&r.to_json().unwrap()).unwrap();
    for key in [
        "fa", "ua", "ra", "ta", "mia", "da", "lp", "nmi", "f1", "curves", "spectrum", "counts",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    for key in ["va", "ta_forgotten", "asr"] {
        assert!(v.get(key).is_none(), "unexpected {key}");
    }
    for key in ["correctness", "confidence", "entropy", "m_entropy", "prob"] {
        assert!(v["mia"].get(key).is_some());
    }
    for key in ["forget", "test", "k", "subspace"] {
        assert!(v["da"].get(key).is_some());
    }
    assert_eq!(v["curves"]["forget"].as_array().unwrap().len(), 6); // min(d = 6, 4·3)

    // Oracle distribution of three "retrain" reports differing in UA and DA_f.
    let mut refs = vec![r.clone(), r.clone(), r.clone()];
    for (i, x) in refs.iter_mut().enumerate() {
        x.ua = r.ua + i as f64; // ua: mean r.ua + 1, sample std 1
        x.da.forget = r.da.forget + 0.01 * i as f64;
    }
    let c = compare(&r, &refs);
    assert_eq!(c.reference.n, 3);
    assert!((c.gap["ua"] - 1.0).abs() < 1e-12);
    assert!((c.reference.metrics["ua"].std - 1.0).abs() < 1e-12);
    assert!((c.z["ua"] - 1.0).abs() < 1e-12);
    assert!(!c.z.contains_key("ra")); // std 0: no z
                                      // avg_gap_output = mean(|gap|) over UA, RA, TA, MIA = (1 + 0 + 0 + 0) / 4.
    assert!((c.avg_gap_output.unwrap() - 0.25).abs() < 1e-12);
    // avg_gap_feature in percent points: DA_f gap 0.01 → 1 pp; (1 + 0 + 0 + 0) / 4.
    assert!((c.avg_gap_feature.unwrap() - 0.25).abs() < 1e-9);
    let one = compare(&r, &refs[..1]);
    assert_eq!(one.reference.metrics["ua"].std, 0.0);
    let none = compare(&r, &[]);
    assert!(none.avg_gap_output.is_none() && none.gap.is_empty());

    let combined = unlearn_metrics::ComparedReport {
        report: r.clone(),
        comparison: c.clone(),
    };
    let js = serde_json::to_value(&combined).unwrap();
    for key in [
        "gap",
        "avg_gap_output",
        "avg_gap_feature",
        "reference",
        "fa",
        "da",
    ] {
        assert!(js.get(key).is_some(), "missing {key}");
    }
    assert_eq!(js["reference"]["n"], 3);
    assert!(js["reference"]["ua"]["mean"].is_number());
    let back: unlearn_metrics::ComparedReport = serde_json::from_value(js).unwrap();
    assert_eq!(back, combined);

    let table = render_table(&r, Some(&c));
    assert!(table.contains("ua") && table.contains("±") && table.contains("avg gap"));
    assert!(render_table(&r, None).lines().count() > 10);
}

#[test]
fn da_helpers_agree_with_evaluate() {
    let b = bundle();
    let r = evaluate(&b, &MetricsConfig::default()).unwrap();
    let (n, d) = (b.retain.len(), b.dim());
    let basis = retain_basis(b.retain.features.data(), n, d, KRule::Classes, 3, 10_000, 0).unwrap();
    assert_eq!(basis.k, 3);
    let da = da_with_basis(
        &basis.v_k,
        d,
        basis.k,
        b.forget.features.data(),
        b.forget.len(),
    )
    .unwrap();
    // f32 storage of V_k: agreement to ~1e-6.
    assert!((da - r.da.forget).abs() < 1e-5, "{da} vs {}", r.da.forget);
    // Auto τ = 1 selects the full rank (≤ d) and DA = 1 for every probe row in span.
    let cfg = MetricsConfig {
        k: KRule::Auto(1.0),
        ..Default::default()
    };
    let r1 = evaluate(&b, &cfg).unwrap();
    assert!(r1.da.k <= d && r1.da.forget > 0.999);
    // Subsampling: a reference smaller than n changes nothing structurally.
    let cfg = MetricsConfig {
        max_reference: 20,
        ..Default::default()
    };
    let r2 = evaluate(&b, &cfg).unwrap();
    assert!(r2.da.forget > 0.0 && r2.da.forget <= 1.0 + 1e-12);
}

#[test]
fn k_rule_parsing() {
    for (s, k) in [
        ("classes", KRule::Classes),
        ("12", KRule::Fixed(12)),
        ("auto:0.95", KRule::Auto(0.95)),
    ] {
        assert_eq!(s.parse::<KRule>().unwrap(), k);
        assert_eq!(k.to_string().parse::<KRule>().unwrap(), k);
    }
    for s in ["", "auto:x", "-3", "many"] {
        assert!(
            matches!(
                s.parse::<KRule>(),
                Err(MetricsError::InvalidParameter { .. })
            ),
            "{s}"
        );
    }
}
