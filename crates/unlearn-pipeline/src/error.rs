//! The pipeline's error type: every library crate's error, plus the pipeline's own.

use std::path::PathBuf;

/// What can go wrong in a step, a plan or the store.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
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
    /// Writing the report.
    #[error(transparent)]
    Report(#[from] unlearn_report::ReportError),
    /// A candle operation outside the crates above (e.g. the ASR pass).
    #[error(transparent)]
    Tensor(#[from] candle_core::Error),
    /// A file or folder that cannot be read, written or locked.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
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
    /// A plan that cannot be run as asked (unknown method, empty scenario list, …).
    #[error("{0}")]
    Plan(String),
    /// A step of the plan failed.
    #[error("{step}: {error}")]
    Step {
        /// The step, in words.
        step: String,
        /// Why (in the message, not as a `source`, so that chains print it once).
        error: Box<PipelineError>,
    },
}

/// The pipeline's result type.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

impl From<unlearn_methods::MethodError> for PipelineError {
    fn from(e: unlearn_methods::MethodError) -> Self {
        PipelineError::Method(Box::new(e))
    }
}

impl PipelineError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PipelineError::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<unlearn_io::IoError> for PipelineError {
    fn from(e: unlearn_io::IoError) -> Self {
        PipelineError::File(Box::new(e))
    }
}
