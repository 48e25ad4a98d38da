//! The crate's single error type.

use std::path::PathBuf;

/// Everything that can go wrong while loading features or computing metrics.
///
/// Variants carry the offending names and values so that a message alone says
/// which array, which split or which parameter was wrong.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A file the toolkit's file policy refused or could not handle (`unlearn-io`).
    #[error(transparent)]
    File(Box<unlearn_io::IoError>),

    /// Two arrays that must have the same length do not.
    #[error("length mismatch in {what}: expected {expected}, found {found}")]
    LengthMismatch {
        /// What was being compared (e.g. `forget_labels vs forget_features`).
        what: String,
        /// The expected length.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// Two matrices that must have the same number of columns do not.
    #[error("width mismatch in {what}: expected {expected} columns, found {found}")]
    WidthMismatch {
        /// What was being compared (e.g. `test_features`).
        what: String,
        /// The expected number of columns.
        expected: usize,
        /// The number of columns found.
        found: usize,
    },
    /// A value is NaN or infinite.
    #[error("non-finite value in {array} at flat index {index}")]
    NonFinite {
        /// The array holding the value.
        array: String,
        /// Flat (row-major) index of the first offending value.
        index: usize,
    },
    /// A label is not smaller than the number of classes.
    #[error("label {label} at index {index} of {array} is out of range for {classes} classes")]
    LabelOutOfRange {
        /// The array holding the label.
        array: String,
        /// Index of the offending label.
        index: usize,
        /// The label value (as read, may be negative in the file).
        label: i64,
        /// The number of classes (logit columns); 0 when the label was rejected while
        /// reading a file because it is negative or does not fit in `u32`.
        classes: usize,
    },
    /// Not enough samples for the requested computation.
    #[error("too few samples for {what}: needed {needed}, found {found}")]
    TooFewSamples {
        /// The computation or set concerned.
        what: String,
        /// The minimum required.
        needed: usize,
        /// The number available.
        found: usize,
    },
    /// A required array is absent from a feature file.
    #[error("missing array `{name}` in {path}; available: {available:?}")]
    MissingArray {
        /// The array name looked for.
        name: String,
        /// The file searched.
        path: PathBuf,
        /// The arrays the file does contain.
        available: Vec<String>,
    },
    /// An array has a dtype this crate cannot read for its role.
    #[error("array `{name}` has unsupported dtype {dtype} (expected {expected})")]
    BadDtype {
        /// The array name.
        name: String,
        /// The dtype found.
        dtype: String,
        /// What would have been accepted.
        expected: String,
    },
    /// An array has the wrong number of dimensions.
    #[error("array `{name}` has shape {shape:?}, expected {expected}")]
    BadShape {
        /// The array name.
        name: String,
        /// The shape found.
        shape: Vec<usize>,
        /// What was expected, in words.
        expected: String,
    },
    /// A configuration value is invalid.
    #[error("invalid parameter {name} = {value}: {reason}")]
    InvalidParameter {
        /// The parameter name.
        name: String,
        /// Its value, formatted.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A numerical routine failed (e.g. eigendecomposition did not converge).
    #[error("numerical failure in {what}: {reason}")]
    Numerical {
        /// The routine.
        what: String,
        /// Details.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file was readable but its content is malformed.
    #[error("malformed file {path}: {reason}")]
    Format {
        /// The file concerned.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = MetricsError> = std::result::Result<T, E>;

impl From<unlearn_io::IoError> for MetricsError {
    fn from(e: unlearn_io::IoError) -> Self {
        MetricsError::File(Box::new(e))
    }
}
