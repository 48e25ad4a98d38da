//! The search's error type: the shared operations' error, the library crates' errors the
//! search meets itself, and its own.

use std::path::PathBuf;

/// What can go wrong in a search (its configuration, its folder, one of its trials).
#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    /// A shared operation (loading, unlearning, measuring) failed.
    /// Boxed: the operations' error is large and would make every result large.
    #[error(transparent)]
    Ops(Box<unlearn_ops::OpsError>),
    /// A file the toolkit's file policy refused or could not handle (`unlearn-io`).
    #[error(transparent)]
    File(Box<unlearn_io::IoError>),
    /// Building or loading a model, or choosing its device.
    #[error(transparent)]
    Model(#[from] unlearn_models::ModelError),
    /// A method's configuration or search space.
    /// Boxed: the method error is large and would make every result large.
    #[error(transparent)]
    Method(Box<unlearn_methods::MethodError>),
    /// Computing metrics.
    #[error(transparent)]
    Metrics(#[from] unlearn_metrics::MetricsError),
    /// A file or folder that cannot be read, written or locked.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A JSON file of the search that does not parse.
    #[error("{path} is not the JSON expected: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's reason.
        source: serde_json::Error,
    },
    /// A search that cannot be run as asked (no reference, no trials, a folder that holds
    /// another search, …).
    #[error("{0}")]
    Plan(String),
}

/// The search's result type.
pub type Result<T, E = TuneError> = std::result::Result<T, E>;

impl From<unlearn_ops::OpsError> for TuneError {
    fn from(e: unlearn_ops::OpsError) -> Self {
        TuneError::Ops(Box::new(e))
    }
}

impl From<unlearn_methods::MethodError> for TuneError {
    fn from(e: unlearn_methods::MethodError) -> Self {
        TuneError::Method(Box::new(e))
    }
}

impl From<unlearn_io::IoError> for TuneError {
    fn from(e: unlearn_io::IoError) -> Self {
        TuneError::File(Box::new(e))
    }
}

impl TuneError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TuneError::Io {
            path: path.into(),
            source,
        }
    }
}
