//! The error of the shared operations: every library crate's error they meet, plus their
//! own (a shape or provenance mismatch, a request that cannot be served).

use std::path::PathBuf;

/// What can go wrong in an operation (loading, training, unlearning, measuring, importing).
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// A file the toolkit's file policy refused or could not handle (`unlearn-io`).
    #[error(transparent)]
    File(Box<unlearn_io::IoError>),
    /// Reading data or a split manifest.
    #[error(transparent)]
    Data(#[from] unlearn_data::DataError),
    /// Building, loading or saving a model.
    #[error(transparent)]
    Model(#[from] unlearn_models::ModelError),
    /// Training.
    #[error(transparent)]
    Train(#[from] unlearn_train::TrainError),
    /// An unlearning method's configuration (a failed run is a result, not an error).
    /// Boxed: the method error is large and would make every result large.
    #[error(transparent)]
    Method(Box<unlearn_methods::MethodError>),
    /// Feature extraction.
    #[error(transparent)]
    Features(#[from] unlearn_features::FeatureError),
    /// Computing metrics or reading a feature file.
    #[error(transparent)]
    Metrics(#[from] unlearn_metrics::MetricsError),
    /// A candle operation outside the crates above (e.g. the ASR pass).
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
    /// A JSON artefact that does not parse.
    #[error("{path} is not the JSON expected: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's reason.
        source: serde_json::Error,
    },
    /// A checkpoint that does not fit the data it is used with.
    #[error("checkpoint {checkpoint} is for input {model_input:?} with {model_classes} classes, but {data} has input {data_input:?} with {data_classes} classes")]
    ShapeMismatch {
        /// The checkpoint, as the user named it.
        checkpoint: String,
        /// The model's input shape.
        model_input: [usize; 3],
        /// The model's class count.
        model_classes: usize,
        /// The data set's name.
        data: String,
        /// The data's input shape.
        data_input: [usize; 3],
        /// The data's class count.
        data_classes: usize,
    },
    /// Two artefacts that do not belong together (a checkpoint of another split, features
    /// of another data set, …); `--force` turns it into a warning.
    #[error("{0}; pass --force to use it anyway")]
    Provenance(String),
    /// A request that cannot be served as asked (an unknown mapping, a model given twice, …).
    #[error("{0}")]
    Plan(String),
    /// One part of an operation failed (a reference's metrics, one file's values).
    #[error("{step}: {error}")]
    Step {
        /// The part, in words.
        step: String,
        /// Why (in the message, not as a `source`, so that chains print it once).
        error: Box<OpsError>,
    },
}

/// The operations' result type.
pub type Result<T, E = OpsError> = std::result::Result<T, E>;

impl From<unlearn_methods::MethodError> for OpsError {
    fn from(e: unlearn_methods::MethodError) -> Self {
        OpsError::Method(Box::new(e))
    }
}

impl From<unlearn_io::IoError> for OpsError {
    fn from(e: unlearn_io::IoError) -> Self {
        OpsError::File(Box::new(e))
    }
}
