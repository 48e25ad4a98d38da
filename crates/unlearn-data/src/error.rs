//! The crate's error type.
//!
//! Every variant carries the offending path or value and what was expected, so a message
//! can be acted on without reading the source.

use std::path::PathBuf;

/// Everything that can go wrong while loading data, building splits or reading manifests.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// A file the toolkit's file policy refused or could not handle (`unlearn-io`).
    #[error(transparent)]
    File(Box<unlearn_io::IoError>),

    /// Reading or writing a file failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A file starts with the wrong magic number.
    #[error("{}: bad magic number {found} (0x{found:08x}), expected {expected} (0x{expected:08x})", path.display())]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The magic number read.
        found: u32,
        /// The magic number required.
        expected: u32,
    },

    /// A file is shorter than its header (or the record size) requires.
    #[error("{}: truncated: expected {expected_bytes} bytes, found {found_bytes}", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header announces (decompressed size for gzip files).
        expected_bytes: u64,
        /// Bytes present.
        found_bytes: u64,
    },

    /// A file is longer than its header requires.
    #[error("{}: {} trailing bytes: expected {expected_bytes} bytes, found {found_bytes}", path.display(), found_bytes - expected_bytes)]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// Bytes the header announces (decompressed size for gzip files).
        expected_bytes: u64,
        /// Bytes present.
        found_bytes: u64,
    },

    /// A record-based file's size is not a multiple of the record size (CIFAR binaries).
    #[error("{}: size {size} bytes is not a positive multiple of the {record_size}-byte record size", path.display())]
    BadRecordSize {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The record size required.
        record_size: u64,
    },

    /// A file's header or content is malformed in a way not covered by a more specific variant.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what was expected.
        reason: String,
    },

    /// An image file and its label file hold different numbers of items.
    #[error("{} holds {images} images but {} holds {labels} labels; they must match", images_path.display(), labels_path.display())]
    CountMismatch {
        /// The image file.
        images_path: PathBuf,
        /// The label file.
        labels_path: PathBuf,
        /// Number of images.
        images: u64,
        /// Number of labels.
        labels: u64,
    },

    /// A label is not smaller than the number of classes.
    #[error("{}: label {label} at index {index} is out of range: expected < {num_classes}", path.display())]
    LabelOutOfRange {
        /// The file.
        path: PathBuf,
        /// Position of the label in the file.
        index: u64,
        /// The label read.
        label: u32,
        /// Number of classes of the dataset.
        num_classes: usize,
    },

    /// A dataset (or one of its files) could not be found.
    #[error("{what} not found; searched: {}. {hint}", display_paths(searched))]
    NotFound {
        /// What was looked for.
        what: String,
        /// Every place that was searched, in order.
        searched: Vec<PathBuf>,
        /// How to make it available.
        hint: String,
    },

    /// A data-source string could not be parsed.
    #[error("invalid data source `{spec}`: {reason}")]
    InvalidSource {
        /// The string given.
        spec: String,
        /// Why it was rejected, with the accepted forms.
        reason: String,
    },

    /// A scenario string or value is invalid.
    #[error("invalid scenario `{spec}`: {reason}")]
    InvalidScenario {
        /// The scenario as given.
        spec: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A fraction is outside its allowed range.
    #[error("{what} = {value} is out of range: expected {expected}")]
    FractionOutOfRange {
        /// Which fraction.
        what: String,
        /// The value given.
        value: f64,
        /// The allowed range, e.g. `"0 < p < 1"`.
        expected: String,
    },

    /// A class id is not smaller than the number of classes.
    #[error("class {class} does not exist: expected a class id < {num_classes}")]
    UnknownClass {
        /// The class id given.
        class: u32,
        /// Number of classes of the dataset.
        num_classes: usize,
    },

    /// A list of indices is invalid (out of range, duplicated, empty).
    #[error("invalid {what}: {reason}")]
    InvalidIndices {
        /// Which list.
        what: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A split manifest is malformed or inconsistent.
    #[error("split manifest {}: {reason}", path.display())]
    Manifest {
        /// The manifest file (`<in memory>` for a manifest not read from disk).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A manifest (or other artefact) was made for a different dataset.
    #[error("dataset mismatch: expected {expected}, found {found}")]
    DatasetMismatch {
        /// What the artefact records.
        expected: String,
        /// What the dataset at hand has.
        found: String,
    },

    /// A `.npy` file could not be read as a list of indices.
    #[error("{}: {reason}", path.display())]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A file that should hold an image does not decode as one.
    #[error("{}: {reason}", path.display())]
    Image {
        /// The file (or `shard: row r`).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A Hugging Face dataset could not be listed or downloaded.
    #[error("Hugging Face dataset {repo}@{revision}: {reason}")]
    Hub {
        /// `org/name`.
        repo: String,
        /// Branch, tag or commit.
        revision: String,
        /// What went wrong.
        reason: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, DataError>;

fn display_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        "nothing".to_string()
    } else {
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        DataError::Format {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl From<unlearn_io::IoError> for DataError {
    fn from(e: unlearn_io::IoError) -> Self {
        DataError::File(Box::new(e))
    }
}
