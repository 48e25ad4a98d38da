//! Reader for the binary versions of CIFAR-10 and CIFAR-100.
//!
//! CIFAR-10 (`cifar-10-batches-bin`): `data_batch_1.bin` … `data_batch_5.bin` and
//! `test_batch.bin`, each a sequence of 3,073-byte records (1 label byte, then 3,072 pixel
//! bytes: the 32×32 red plane, then green, then blue). Class names from `batches.meta.txt`.
//!
//! CIFAR-100 (`cifar-100-binary`): `train.bin` and `test.bin`, 3,074-byte records (coarse
//! label, fine label, 3,072 pixels). The fine label (100 classes) is used. Class names from
//! `fine_label_names.txt`.
//!
//! File sizes must be positive multiples of the record size; labels must be in range.
//! Without a names file, classes are named `"0"`, `"1"`, ….

use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};
use crate::image::ImageSet;

/// Pixel bytes per CIFAR image (3 × 32 × 32).
pub const CIFAR_IMAGE_BYTES: usize = 3 * 32 * 32;
/// Training files of CIFAR-10.
pub const CIFAR10_TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
/// Test file of CIFAR-10.
pub const CIFAR10_TEST_FILE: &str = "test_batch.bin";
/// Training file of CIFAR-100.
pub const CIFAR100_TRAIN_FILE: &str = "train.bin";
/// Test file of CIFAR-100.
pub const CIFAR100_TEST_FILE: &str = "test.bin";

/// Which CIFAR variant a file belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CifarKind {
    /// CIFAR-10: 1 label byte per record, 10 classes.
    Cifar10,
    /// CIFAR-100: coarse and fine label bytes per record, 100 fine classes (20 coarse).
    Cifar100,
}

impl CifarKind {
    /// Bytes per record.
    pub fn record_size(self) -> usize {
        match self {
            CifarKind::Cifar10 => 1 + CIFAR_IMAGE_BYTES,
            CifarKind::Cifar100 => 2 + CIFAR_IMAGE_BYTES,
        }
    }

    /// Number of (fine) classes.
    pub fn num_classes(self) -> usize {
        match self {
            CifarKind::Cifar10 => 10,
            CifarKind::Cifar100 => 100,
        }
    }

    /// The file listing class names, one per line.
    pub fn names_file(self) -> &'static str {
        match self {
            CifarKind::Cifar10 => "batches.meta.txt",
            CifarKind::Cifar100 => "fine_label_names.txt",
        }
    }

    /// Training files, in reading order.
    pub fn train_files(self) -> Vec<&'static str> {
        match self {
            CifarKind::Cifar10 => CIFAR10_TRAIN_FILES.to_vec(),
            CifarKind::Cifar100 => vec![CIFAR100_TRAIN_FILE],
        }
    }

    /// The test file.
    pub fn test_file(self) -> &'static str {
        match self {
            CifarKind::Cifar10 => CIFAR10_TEST_FILE,
            CifarKind::Cifar100 => CIFAR100_TEST_FILE,
        }
    }
}

/// Parse the records in `bytes`, appending them to `set`. `path` is used in error messages.
pub fn parse_records(bytes: &[u8], path: &Path, kind: CifarKind, set: &mut ImageSet) -> Result<()> {
    let rs = kind.record_size();
    if bytes.is_empty() || !bytes.len().is_multiple_of(rs) {
        return Err(DataError::BadRecordSize {
            path: path.into(),
            size: bytes.len() as u64,
            record_size: rs as u64,
        });
    }
    let num_classes = kind.num_classes();
    set.images.reserve(bytes.len() / rs * CIFAR_IMAGE_BYTES);
    for (index, rec) in bytes.chunks_exact(rs).enumerate() {
        let (label, pixels) = match kind {
            CifarKind::Cifar10 => (rec[0], &rec[1..]),
            CifarKind::Cifar100 => {
                if rec[0] >= 20 {
                    return Err(DataError::format(
                        path,
                        format!(
                            "coarse label {} of record {index} is out of range: expected < 20",
                            rec[0]
                        ),
                    ));
                }
                (rec[1], &rec[2..])
            }
        };
        if label as usize >= num_classes {
            return Err(DataError::LabelOutOfRange {
                path: path.into(),
                index: index as u64,
                label: u32::from(label),
                num_classes,
            });
        }
        set.labels.push(u32::from(label));
        set.images.extend_from_slice(pixels);
    }
    Ok(())
}

fn empty_set() -> ImageSet {
    ImageSet {
        images: Vec::new(),
        labels: Vec::new(),
        channels: 3,
        height: 32,
        width: 32,
    }
}

/// Read and concatenate the given record files.
pub fn read_files(paths: &[PathBuf], kind: CifarKind) -> Result<ImageSet> {
    let mut set = empty_set();
    for p in paths {
        let bytes = unlearn_io::read_regular(p, "CIFAR batch", u64::MAX)?;
        parse_records(&bytes, p, kind, &mut set)?;
    }
    Ok(set)
}

/// Whether `dir` holds the training files of `kind`.
pub fn is_cifar_dir(dir: &Path, kind: CifarKind) -> bool {
    kind.train_files().iter().all(|f| dir.join(f).is_file())
}

/// Class names from the names file in `dir`, or `"0"`, `"1"`, … when there is none.
/// A names file whose number of non-empty lines differs from the number of classes is an
/// error.
pub fn read_class_names(dir: &Path, kind: CifarKind) -> Result<Vec<String>> {
    let path = dir.join(kind.names_file());
    if !path.is_file() {
        return Ok((0..kind.num_classes()).map(|c| c.to_string()).collect());
    }
    let text = std::fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if names.len() != kind.num_classes() {
        return Err(DataError::format(
            &path,
            format!(
                "{} class names, expected {} (one per line)",
                names.len(),
                kind.num_classes()
            ),
        ));
    }
    Ok(names)
}

/// Read the training set, test set and class names of `kind` from `dir`.
pub fn read_dir(dir: &Path, kind: CifarKind) -> Result<(ImageSet, ImageSet, Vec<String>)> {
    let mut missing = Vec::new();
    let mut train_paths = Vec::new();
    for f in kind.train_files() {
        let p = dir.join(f);
        if !p.is_file() {
            missing.push(p.clone());
        }
        train_paths.push(p);
    }
    let test_path = dir.join(kind.test_file());
    if !test_path.is_file() {
        missing.push(test_path.clone());
    }
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|p| p.display().to_string()).collect();
        return Err(DataError::NotFound {
            what: format!("{:?} files {}", kind, names.join(", ")),
            searched: vec![dir.to_path_buf()],
            hint: crate::dataset::cifar_hint(kind),
        });
    }
    let train = read_files(&train_paths, kind)?;
    let test = read_files(&[test_path], kind)?;
    let names = read_class_names(dir, kind)?;
    Ok((train, test, names))
}
