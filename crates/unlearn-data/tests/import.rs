//! Data a user brings: image folders and Hugging Face parquet shards, checked against what
//! Pillow, numpy and `datasets` see in the same files (`fixtures/import/expected.json`, made
//! by `scripts/make_import_fixtures.py`), and every bad input the readers must refuse with
//! an error naming the file, leaving the decoded-image cache clean.

use std::fs;
use std::path::{Path, PathBuf};

use unlearn_data::{DataError, DataSource, Dataset};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import")
}

fn expected() -> serde_json::Value {
    let text = fs::read_to_string(fixtures().join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("expected.json parses")
}

fn load(spec: &str, cache: &Path) -> Result<Dataset, DataError> {
    spec.parse::<DataSource>()?.load_with_cache(cache)
}

/// Every file under `cache` (decoded images, shard lists, temporaries).
fn cache_files(cache: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![cache.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn check_digits(ds: &Dataset) {
    let want = expected();
    let names: Vec<String> = serde_json::from_value(want["class_names"].clone()).unwrap();
    assert_eq!(
        ds.class_names, names,
        "classes are the folder names, sorted"
    );
    assert_eq!(ds.train.len(), want["num_train"].as_u64().unwrap() as usize);
    assert_eq!(ds.test.len(), want["num_test"].as_u64().unwrap() as usize);
    assert_eq!(ds.input_shape(), [1, 8, 8]);
    assert_eq!(
        ds.fingerprint,
        want["fingerprint"].as_str().unwrap(),
        "the pixels and labels Pillow reads, in torchvision's order"
    );
    let mean = want["mean"][0].as_f64().unwrap();
    let std = want["std"][0].as_f64().unwrap();
    assert!((f64::from(ds.normalization.mean[0]) - mean).abs() < 1e-6);
    assert!((f64::from(ds.normalization.std[0]) - std).abs() < 1e-6);
}

#[test]
fn an_image_folder_reads_as_torchvision_and_pillow_read_it() {
    let cache = tempfile::tempdir().unwrap();
    let spec = format!("imagefolder:{}", fixtures().join("digits-folder").display());
    let ds = load(&spec, cache.path()).unwrap();
    check_digits(&ds);
    assert_eq!(ds.name, "imagefolder");
    assert_eq!(ds.source.to_string(), spec);
    let cached = ds.decoded_cache.clone().expect("a cache file");
    assert!(cached.is_file() && cached.starts_with(cache.path()));
    assert_eq!(cache_files(cache.path()), vec![cached.clone()]);

    // The second load reads the cache file: a damaged one is not trusted but rewritten.
    let again = load(&spec, cache.path()).unwrap();
    assert_eq!(again.fingerprint, ds.fingerprint);
    assert_eq!(again.decoded_cache.as_ref(), Some(&cached));
    let mut bytes = fs::read(&cached).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&cached, &bytes).unwrap();
    let repaired = load(&spec, cache.path()).unwrap();
    assert_eq!(repaired.fingerprint, ds.fingerprint);
    assert_ne!(
        fs::read(&cached).unwrap(),
        bytes,
        "the damaged file was rewritten"
    );
}

#[test]
fn hugging_face_parquet_shards_hold_the_same_dataset() {
    let cache = tempfile::tempdir().unwrap();
    // Two training shards (uncompressed, snappy) and a zstd test shard, as `datasets` writes
    // them; the class names come from the ClassLabel feature.
    let folder = fixtures().join("digits-parquet");
    let ds = load(&format!("parquet:{}", folder.display()), cache.path()).unwrap();
    check_digits(&ds);
    assert_eq!(ds.name, "parquet");

    // One shard alone has no test split.
    let one = folder.join("data/train-00000-of-00002.parquet");
    let err = load(&format!("parquet:{}", one.display()), cache.path()).unwrap_err();
    assert!(err.to_string().contains("missing split"), "{err}");
}

#[test]
fn one_colour_image_makes_every_image_rgb_with_pillows_pixels() {
    let cache = tempfile::tempdir().unwrap();
    let root = fixtures().join("colour-folder");
    let ds = load(&format!("imagefolder:{}", root.display()), cache.path()).unwrap();
    assert_eq!(ds.input_shape(), [3, 4, 4]);
    assert_eq!(ds.class_names, ["a", "b"]);
    assert_eq!(ds.train.labels, [0, 1]);
    assert_eq!(ds.test.labels, [0, 1, 1]);
    let want = &expected()["colour_pixels"];
    let files = [
        (&ds.train, 0, "train/a/grey.png"),
        (&ds.train, 1, "train/b/rgb.png"),
        (&ds.test, 0, "test/a/grey.bmp"),
        (&ds.test, 1, "test/b/lossless.webp"),
        (&ds.test, 2, "test/b/photo.jpg"),
    ];
    for (set, i, file) in files {
        let pillow: Vec<u8> = serde_json::from_value(want[file].clone()).unwrap();
        let ours = &set.images[i * 48..(i + 1) * 48];
        // JPEG decoders may round differently by a step or two; the others are lossless.
        let tolerance = if file.ends_with(".jpg") { 3 } else { 0 };
        let worst = ours
            .iter()
            .zip(&pillow)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(worst <= tolerance, "{file}: off by {worst} from Pillow");
    }
}

#[test]
fn mixed_sizes_need_a_size_and_are_resized_to_it() {
    let cache = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("digits-folder"), root.path());
    let odd = root.path().join("train/eight/zz-odd.png");
    fs::copy(fixtures().join("odd-size-7x6.png"), &odd).unwrap();
    let spec = format!("imagefolder:{}", root.path().display());
    let err = load(&spec, cache.path()).unwrap_err().to_string();
    assert!(
        err.contains("zz-odd.png") && err.contains("6×7") && err.contains("size="),
        "{err}"
    );
    assert!(cache_files(cache.path()).is_empty());

    let ds = load(&format!("{spec}?size=8,8"), cache.path()).unwrap();
    assert_eq!(ds.input_shape(), [1, 8, 8]);
    assert_eq!(
        ds.train.len(),
        expected()["num_train"].as_u64().unwrap() as usize + 1
    );
    let ds = load(&format!("{spec}?size=16,12"), cache.path()).unwrap();
    assert_eq!(ds.input_shape(), [1, 16, 12]);
}

/// Applies `break_it` to a copy of `fixture`, loads it as `kind`, and checks that the error
/// names `names` and says `says`, and that the cache holds nothing.
fn refused(fixture: &str, kind: &str, break_it: impl FnOnce(&Path), names: &str, says: &str) {
    let cache = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join(fixture), root.path());
    break_it(root.path());
    let err = load(&format!("{kind}:{}", root.path().display()), cache.path())
        .expect_err("bad input was accepted")
        .to_string();
    assert!(
        err.contains(names),
        "the error does not name {names}: {err}"
    );
    assert!(err.contains(says), "the error does not say {says}: {err}");
    assert!(
        cache_files(cache.path()).is_empty(),
        "the cache is not clean: {err}"
    );
}

#[test]
fn bad_image_folders_are_refused_naming_the_file() {
    refused(
        "digits-folder",
        "imagefolder",
        |r| {
            let f = r.join("train/five/0003.png");
            let bytes = fs::read(&f).unwrap();
            fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
        },
        "five/0003.png",
        "cannot decode",
    );
    refused(
        "digits-folder",
        "imagefolder",
        |r| fs::write(r.join("train/two/notes.txt"), "hello").unwrap(),
        "notes.txt",
        "not an image file",
    );
    refused(
        "digits-folder",
        "imagefolder",
        |r| fs::write(r.join("train/two/fake.png"), "hello").unwrap(),
        "fake.png",
        "not an image",
    );
    refused(
        "digits-folder",
        "imagefolder",
        |r| fs::create_dir(r.join("train/eleven")).unwrap(),
        "eleven",
        "empty class folder",
    );
    refused(
        "digits-folder",
        "imagefolder",
        |r| {
            fs::create_dir(r.join("test/twelve")).unwrap();
            fs::copy(r.join("test/one/0000.png"), r.join("test/twelve/0000.png")).unwrap();
        },
        "twelve",
        "not in",
    );
    refused(
        "digits-folder",
        "imagefolder",
        |r| fs::remove_dir_all(r.join("test")).unwrap(),
        "test/",
        "missing split",
    );
}

#[test]
fn hidden_files_are_skipped_and_val_stands_in_for_test() {
    let cache = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("digits-folder"), root.path());
    fs::write(root.path().join("train/one/.DS_Store"), "x").unwrap();
    fs::rename(root.path().join("test"), root.path().join("val")).unwrap();
    let ds = load(
        &format!("imagefolder:{}", root.path().display()),
        cache.path(),
    )
    .unwrap();
    check_digits(&ds);
}

#[test]
fn bad_parquet_shards_are_refused_naming_the_shard() {
    refused(
        "label-10-of-2",
        "parquet",
        |_| {},
        "train-00000-of-00001.parquet: row 2",
        "label 10 in column `label` is out of range",
    );
    refused("label-minus-1", "parquet", |_| {}, "row 2", "label -1");
    refused(
        "digits-parquet",
        "parquet",
        |r| {
            let f = r.join("data/train-00001-of-00002.parquet");
            let bytes = fs::read(&f).unwrap();
            fs::write(&f, &bytes[..bytes.len() - 100]).unwrap();
        },
        "train-00001-of-00002.parquet",
        "parquet",
    );
    refused(
        "digits-parquet",
        "parquet",
        |r| {
            fs::copy(
                fixtures().join("two-labels/train-00000-of-00001.parquet"),
                r.join("data/train-00002-of-00002.parquet"),
            )
            .unwrap();
        },
        "train-00002-of-00002.parquet",
        "columns differ",
    );
    refused(
        "digits-parquet",
        "parquet",
        |r| fs::remove_file(r.join("data/test-00000-of-00001.parquet")).unwrap(),
        "no test shard",
        "missing split",
    );
    refused(
        "two-labels",
        "parquet",
        |_| {},
        "fine_label, coarse_label",
        "ambiguous integer label column",
    );
}

#[test]
fn the_label_column_is_chosen_by_name() {
    let cache = tempfile::tempdir().unwrap();
    let root = fixtures().join("two-labels");
    let fine = load(
        &format!("parquet:{}?label=fine_label", root.display()),
        cache.path(),
    )
    .unwrap();
    assert_eq!(fine.class_names, ["f0", "f1", "f2"]);
    assert_eq!(fine.train.labels, [0, 1, 2, 0, 1, 2]);
    let coarse = load(
        &format!("parquet:{}?label=coarse_label", root.display()),
        cache.path(),
    )
    .unwrap();
    assert_eq!(coarse.class_names, ["c0", "c1"]);
    assert_ne!(
        coarse.decoded_cache, fine.decoded_cache,
        "the options enter the cache key"
    );
    let err = load(
        &format!("parquet:{}?label=img", root.display()),
        cache.path(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("`img` is not integer label"),
        "{err}"
    );
    let err = load(
        &format!("parquet:{}?label=nope", root.display()),
        cache.path(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("no column `nope`"), "{err}");
}

#[test]
fn imported_source_strings_round_trip_and_bad_options_are_refused() {
    for spec in [
        "imagefolder:/data/pets",
        "imagefolder:/data/pets?size=32,32",
        "parquet:/data/shards?size=28,28&image=img&label=fine_label",
        "hf://datasets/uoft-cs/cifar10",
        "hf://datasets/uoft-cs/cifar100@main?label=coarse_label",
    ] {
        let parsed: DataSource = spec.parse().unwrap();
        assert_eq!(parsed.to_string(), spec);
        assert!(parsed.is_imported());
    }
    for (spec, says) in [
        ("imagefolder:/d?label=x", "takes no `label=`"),
        ("imagefolder:/d?size=32", "expected H,W"),
        ("imagefolder:/d?size=0,3", "from 1 to 4096"),
        ("parquet:/d?colour=yes", "unknown option"),
        ("parquet:?size=3,3", "empty path"),
        ("hf://datasets/uoft-cs", "ORG/NAME"),
        ("hf://datasets/a/b/c", "ORG/NAME"),
        ("hf://datasets/a/..", "ORG/NAME"),
        ("hf://datasets/a/b@", "revision"),
        ("hf://org/model/file.safetensors", "--checkpoint"),
    ] {
        let err = spec.parse::<DataSource>().unwrap_err().to_string();
        assert!(err.contains(says), "{spec}: {err}");
    }
}
