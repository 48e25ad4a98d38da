//! File-format readers: IDX (raw and gzip), CIFAR-10/100 binaries, `.npy` index files, data
//! source strings.

use std::io::Write;
use std::path::{Path, PathBuf};

use unlearn_data::cifar::{self, CifarKind};
use unlearn_data::{idx, read_npy_indices, DataError, DataSource};

// ---------- helpers ----------

fn idx_images(n: usize, h: usize, w: usize) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&2051u32.to_be_bytes());
    for d in [n, h, w] {
        v.extend_from_slice(&(d as u32).to_be_bytes());
    }
    v.extend((0..n * h * w).map(|i| (i % 251) as u8));
    v
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&2049u32.to_be_bytes());
    v.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    v.extend_from_slice(labels);
    v
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Writes a complete IDX dataset: 6 train and 4 test 3x2 images.
fn write_idx_dir(dir: &Path, compress: bool) {
    let enc = |b: Vec<u8>| if compress { gz(&b) } else { b };
    let ext = if compress { ".gz" } else { "" };
    write(
        dir,
        &format!("train-images-idx3-ubyte{ext}"),
        &enc(idx_images(6, 3, 2)),
    );
    write(
        dir,
        &format!("train-labels-idx1-ubyte{ext}"),
        &enc(idx_labels(&[0, 1, 2, 9, 1, 0])),
    );
    write(
        dir,
        &format!("t10k-images-idx3-ubyte{ext}"),
        &enc(idx_images(4, 3, 2)),
    );
    write(
        dir,
        &format!("t10k-labels-idx1-ubyte{ext}"),
        &enc(idx_labels(&[5, 5, 3, 7])),
    );
}

// ---------- IDX ----------

#[test]
fn idx_round_trip_raw_and_gzip() {
    for compress in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        write_idx_dir(dir.path(), compress);
        let src: DataSource = format!("idx:{}", dir.path().display()).parse().unwrap();
        let ds = src.load().unwrap();
        assert_eq!(ds.name, "idx");
        assert_eq!(ds.input_shape(), [1, 3, 2]);
        assert_eq!(ds.train.len(), 6);
        assert_eq!(ds.test.len(), 4);
        assert_eq!(ds.train.labels, vec![0, 1, 2, 9, 1, 0]);
        assert_eq!(ds.test.labels, vec![5, 5, 3, 7]);
        assert_eq!(ds.train.images, idx_images(6, 3, 2)[16..].to_vec());
        assert_eq!(ds.train.image(1), &[6, 7, 8, 9, 10, 11]);
        assert_eq!(ds.num_classes, 10);
        assert_eq!(ds.fingerprint.len(), 64);
        let s = ds.summary();
        assert_eq!(s.train_per_class, vec![2, 2, 1, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(s.test_per_class[5], 2);
    }
}

#[test]
fn gzip_detected_by_magic_not_name() {
    let dir = tempfile::tempdir().unwrap();
    // gzip content under a raw name, raw content under a .gz name
    let a = write(dir.path(), "images", &gz(&idx_images(2, 2, 2)));
    let b = write(dir.path(), "labels.gz", &idx_labels(&[1, 2]));
    assert_eq!(idx::read_images(&a).unwrap().count, 2);
    assert_eq!(idx::read_labels(&b, 10).unwrap(), vec![1, 2]);
}

#[test]
fn fingerprint_independent_of_compression_and_location() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_idx_dir(a.path(), false);
    write_idx_dir(b.path(), true);
    let fa = DataSource::Idx {
        dir: a.path().into(),
    }
    .load()
    .unwrap()
    .fingerprint;
    let fb = DataSource::Idx {
        dir: b.path().into(),
    }
    .load()
    .unwrap()
    .fingerprint;
    assert_eq!(fa, fb);
}

#[test]
fn idx_truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = idx_images(3, 2, 2);
    bytes.truncate(bytes.len() - 5);
    let p = write(dir.path(), "imgs", &gz(&bytes));
    let err = idx::read_images(&p).unwrap_err();
    match &err {
        DataError::Truncated {
            path,
            expected_bytes,
            found_bytes,
        } => {
            assert_eq!(path, &p);
            assert_eq!((*expected_bytes, *found_bytes), (28, 23));
        }
        e => panic!("unexpected error {e:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("imgs") && msg.contains("28") && msg.contains("23"),
        "{msg}"
    );

    // shorter than the header
    let p = write(dir.path(), "tiny", &[0, 0, 8]);
    assert!(matches!(
        idx::read_images(&p),
        Err(DataError::Truncated { .. })
    ));
}

#[test]
fn idx_trailing_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = idx_labels(&[1, 2, 3]);
    bytes.extend_from_slice(&[0, 0]);
    let p = write(dir.path(), "labs", &bytes);
    let err = idx::read_labels(&p, 10).unwrap_err();
    assert!(
        matches!(&err, DataError::TrailingBytes { path, expected_bytes: 11, found_bytes: 13 } if path == &p),
        "{err:?}"
    );
    assert!(err.to_string().contains("labs"));
}

#[test]
fn idx_wrong_magic() {
    let dir = tempfile::tempdir().unwrap();
    // a label file where an image file is expected
    let p = write(dir.path(), "swapped", &idx_labels(&[1]));
    let err = idx::read_images(&p).unwrap_err();
    assert!(
        matches!(&err, DataError::BadMagic { path, found: 2049, expected: 2051 } if path == &p),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("swapped") && msg.contains("2049") && msg.contains("2051"),
        "{msg}"
    );
}

#[test]
fn idx_label_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "labs", &idx_labels(&[1, 2, 10, 3]));
    let err = idx::read_labels(&p, 10).unwrap_err();
    assert!(
        matches!(&err, DataError::LabelOutOfRange { path, index: 2, label: 10, num_classes: 10 } if path == &p),
        "{err:?}"
    );
    assert!(err.to_string().contains("labs"));
}

#[test]
fn idx_count_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    write_idx_dir(dir.path(), false);
    write(
        dir.path(),
        "t10k-labels-idx1-ubyte",
        &idx_labels(&[1, 2, 3]),
    );
    let err = DataSource::Idx {
        dir: dir.path().into(),
    }
    .load()
    .unwrap_err();
    match &err {
        DataError::CountMismatch {
            images_path,
            labels_path,
            images,
            labels,
        } => {
            assert!(images_path.ends_with("t10k-images-idx3-ubyte"));
            assert!(labels_path.ends_with("t10k-labels-idx1-ubyte"));
            assert_eq!((*images, *labels), (4, 3));
        }
        e => panic!("unexpected error {e:?}"),
    }
    assert!(err.to_string().contains("t10k-labels-idx1-ubyte"));
}

#[test]
fn idx_missing_file_and_missing_dataset() {
    let dir = tempfile::tempdir().unwrap();
    write_idx_dir(dir.path(), true);
    std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let err = DataSource::Idx {
        dir: dir.path().into(),
    }
    .load()
    .unwrap_err();
    assert!(matches!(&err, DataError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("t10k-labels-idx1-ubyte"), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let err = DataSource::FashionMnist {
        dir: Some(empty.path().into()),
    }
    .load()
    .unwrap_err();
    match &err {
        DataError::NotFound { searched, hint, .. } => {
            assert_eq!(searched, &vec![empty.path().to_path_buf()]);
            assert!(hint.contains("apt-get install dataset-fashion-mnist"));
        }
        e => panic!("unexpected error {e:?}"),
    }
}

#[test]
fn fashion_mnist_from_explicit_dir_uses_its_normalisation() {
    let dir = tempfile::tempdir().unwrap();
    write_idx_dir(dir.path(), true);
    let ds = DataSource::FashionMnist {
        dir: Some(dir.path().into()),
    }
    .load()
    .unwrap();
    assert_eq!(ds.name, "fashion-mnist");
    assert_eq!(ds.normalization.mean, vec![0.2860]);
    assert_eq!(ds.class_names[9], "Ankle boot");
}

#[test]
fn default_search_path_lists_debian_location() {
    let paths = DataSource::FashionMnist { dir: None }.search_paths();
    assert_eq!(
        paths.last().unwrap(),
        Path::new("/usr/share/datasets/fashion-mnist")
    );
    let paths = DataSource::Mnist { dir: None }.search_paths();
    assert_eq!(
        paths.last().unwrap(),
        Path::new("/usr/share/datasets/mnist")
    );
}

// ---------- CIFAR ----------

fn cifar_records(kind: CifarKind, labels: &[(u8, u8)]) -> Vec<u8> {
    let mut v = Vec::new();
    for (i, &(coarse, fine)) in labels.iter().enumerate() {
        match kind {
            CifarKind::Cifar10 => v.push(fine),
            CifarKind::Cifar100 => v.extend_from_slice(&[coarse, fine]),
        }
        v.extend((0..3072).map(|p| ((p / 1024) * 50 + i) as u8));
    }
    v
}

#[test]
fn cifar10_tiny_files_load() {
    let dir = tempfile::tempdir().unwrap();
    for (b, f) in cifar::CIFAR10_TRAIN_FILES.iter().enumerate() {
        write(
            dir.path(),
            f,
            &cifar_records(CifarKind::Cifar10, &[(0, b as u8), (0, 9)]),
        );
    }
    write(
        dir.path(),
        "test_batch.bin",
        &cifar_records(CifarKind::Cifar10, &[(0, 3)]),
    );
    let names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
    write(dir.path(), "batches.meta.txt", names.as_bytes());
    let ds = DataSource::Cifar10 {
        dir: Some(dir.path().into()),
    }
    .load()
    .unwrap();
    assert_eq!(ds.name, "cifar10");
    assert_eq!(ds.input_shape(), [3, 32, 32]);
    assert_eq!(ds.train.len(), 10);
    assert_eq!(ds.train.labels, vec![0, 9, 1, 9, 2, 9, 3, 9, 4, 9]);
    assert_eq!(ds.test.labels, vec![3]);
    assert_eq!(ds.class_names[3], "cat");
    assert_eq!(ds.normalization.mean.len(), 3);
    assert_eq!(
        ds.augmentation,
        unlearn_data::Augmentation::CropFlip { padding: 4 }
    );
    // channel-major pixels: image 1, green plane starts with 50 + 1
    assert_eq!(ds.train.image(1)[1024], 51);
    assert_eq!(ds.train.image(1)[0], 1);

    // the parent directory works too
    let parent = tempfile::tempdir().unwrap();
    let sub = parent.path().join("cifar-10-batches-bin");
    std::fs::rename(dir.path(), &sub).unwrap();
    let ds2 = DataSource::Cifar10 {
        dir: Some(parent.path().into()),
    }
    .load()
    .unwrap();
    assert_eq!(ds2.fingerprint, ds.fingerprint);
}

#[test]
fn cifar100_uses_fine_labels() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "train.bin",
        &cifar_records(CifarKind::Cifar100, &[(4, 99), (19, 0), (0, 42)]),
    );
    write(
        dir.path(),
        "test.bin",
        &cifar_records(CifarKind::Cifar100, &[(1, 7)]),
    );
    let ds = DataSource::Cifar100 {
        dir: Some(dir.path().into()),
    }
    .load()
    .unwrap();
    assert_eq!(ds.num_classes, 100);
    assert_eq!(ds.train.labels, vec![99, 0, 42]);
    assert_eq!(ds.test.labels, vec![7]);
    assert_eq!(ds.class_names.len(), 100);
    assert_eq!(ds.class_names[42], "42");
    assert_eq!(ds.train.image(2)[0], 2);
}

#[test]
fn cifar_bad_sizes_and_labels_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = cifar_records(CifarKind::Cifar10, &[(0, 1), (0, 2)]);
    bytes.pop();
    let p = write(dir.path(), "short.bin", &bytes);
    let err = cifar::read_files(std::slice::from_ref(&p), CifarKind::Cifar10).unwrap_err();
    assert!(
        matches!(&err, DataError::BadRecordSize { path, size: 6145, record_size: 3073 } if path == &p),
        "{err:?}"
    );
    assert!(err.to_string().contains("short.bin"));

    // a CIFAR-100 file read as CIFAR-10: 3074-byte records are not multiples of 3073
    let p = write(
        dir.path(),
        "c100.bin",
        &cifar_records(CifarKind::Cifar100, &[(0, 1), (0, 1)]),
    );
    assert!(matches!(
        cifar::read_files(&[p], CifarKind::Cifar10),
        Err(DataError::BadRecordSize { .. })
    ));

    let p = write(dir.path(), "empty.bin", &[]);
    assert!(matches!(
        cifar::read_files(&[p], CifarKind::Cifar10),
        Err(DataError::BadRecordSize { .. })
    ));

    let p = write(
        dir.path(),
        "label.bin",
        &cifar_records(CifarKind::Cifar10, &[(0, 1), (0, 10)]),
    );
    assert!(matches!(
        cifar::read_files(&[p], CifarKind::Cifar10),
        Err(DataError::LabelOutOfRange {
            index: 1,
            label: 10,
            num_classes: 10,
            ..
        })
    ));
}

#[test]
fn cifar_missing_lists_searched_places() {
    let dir = tempfile::tempdir().unwrap();
    let err = DataSource::Cifar10 {
        dir: Some(dir.path().into()),
    }
    .load()
    .unwrap_err();
    match &err {
        DataError::NotFound { searched, hint, .. } => {
            assert_eq!(searched.len(), 2);
            assert!(hint.contains("cifar10:<dir>"));
        }
        e => panic!("unexpected error {e:?}"),
    }
}

// ---------- data source strings ----------

#[test]
fn data_source_round_trip() {
    for s in [
        "embedded",
        "fashion-mnist",
        "fashion-mnist:/data/fm",
        "mnist",
        "mnist:rel/dir",
        "idx:/x/y",
        "cifar10",
        "cifar10:/d",
        "cifar100",
        "cifar100:/d",
    ] {
        let src: DataSource = s.parse().unwrap();
        assert_eq!(src.to_string(), s);
    }
    assert_eq!(
        "fashion-mnist:/a".parse::<DataSource>().unwrap(),
        DataSource::FashionMnist {
            dir: Some("/a".into())
        }
    );
    for bad in ["imagenet", "idx", "embedded:/x", "cifar10:", ""] {
        let err = bad.parse::<DataSource>().unwrap_err();
        assert!(
            matches!(err, DataError::InvalidSource { .. }),
            "{bad}: {err:?}"
        );
    }
    let msg = "imagenet".parse::<DataSource>().unwrap_err().to_string();
    assert!(
        msg.contains("fashion-mnist:<dir>") && msg.contains("cifar100"),
        "{msg}"
    );
}

// ---------- npy ----------

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn npy_numpy_fixtures() {
    assert_eq!(
        read_npy_indices(&fixture("forget_int64.npy")).unwrap(),
        vec![3, 1, 4, 15, 9, 2, 6]
    );
    assert_eq!(
        read_npy_indices(&fixture("forget_uint16_be.npy")).unwrap(),
        vec![10, 20, 30]
    );

    let err = read_npy_indices(&fixture("float64.npy")).unwrap_err();
    assert!(matches!(err, DataError::Npy { .. }));
    assert!(err.to_string().contains("floating point"), "{err}");

    let err = read_npy_indices(&fixture("matrix_int32.npy")).unwrap_err();
    assert!(err.to_string().contains("1-D"), "{err}");
    assert!(err.to_string().contains("matrix_int32.npy"), "{err}");

    let err = read_npy_indices(&fixture("negative_int32.npy")).unwrap_err();
    assert!(
        err.to_string().contains("negative index -3 at position 2"),
        "{err}"
    );
}

#[test]
fn npy_written_by_npyz() {
    let dir = tempfile::tempdir().unwrap();
    let p64 = dir.path().join("a.npy");
    npyz::to_file_1d(&p64, vec![5i64, 0, 7]).unwrap();
    assert_eq!(read_npy_indices(&p64).unwrap(), vec![5, 0, 7]);

    let p32 = dir.path().join("b.npy");
    npyz::to_file_1d(&p32, vec![1i32, 2, 3]).unwrap();
    assert_eq!(read_npy_indices(&p32).unwrap(), vec![1, 2, 3]);

    let pu8 = dir.path().join("c.npy");
    npyz::to_file_1d(&pu8, vec![200u8]).unwrap();
    assert_eq!(read_npy_indices(&pu8).unwrap(), vec![200]);

    let big = dir.path().join("d.npy");
    npyz::to_file_1d(&big, vec![1u64 << 40]).unwrap();
    assert!(read_npy_indices(&big)
        .unwrap_err()
        .to_string()
        .contains("does not fit"));

    let neg = dir.path().join("e.npy");
    npyz::to_file_1d(&neg, vec![-1i64]).unwrap();
    assert!(matches!(read_npy_indices(&neg), Err(DataError::Npy { .. })));

    let garbage = write(dir.path(), "f.npy", b"not numpy");
    assert!(matches!(
        read_npy_indices(&garbage),
        Err(DataError::Npy { .. })
    ));

    let missing = read_npy_indices(&dir.path().join("missing.npy")).unwrap_err();
    assert!(
        matches!(&missing, DataError::File(e) if matches!(**e, unlearn_io::IoError::Io { .. })),
        "{missing}"
    );
}
