//! The pipeline's error type: the shared operations' ([`unlearn_ops::OpsError`]), the
//! search's ([`unlearn_tune::TuneError`]), the library crates' errors the engine meets
//! itself, plus the pipeline's own.

use std::path::PathBuf;

/// What can go wrong in a step, a plan or the store.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A shared operation (loading, training, unlearning, measuring, importing) failed.
    /// Boxed (so is `Tune`): the error is large and would make every result large.
    #[error(transparent)]
    Ops(Box<unlearn_ops::OpsError>),
    /// A step's hyper-parameter search failed.
    #[error(transparent)]
    Tune(Box<unlearn_tune::TuneError>),
    /// A file the toolkit's file policy refused or could not handle (`unlearn-io`).
    #[error(transparent)]
    File(Box<unlearn_io::IoError>),
    /// Reading data or a split manifest.
    #[error(transparent)]
    Data(#[from] unlearn_data::DataError),
    /// Building, loading or saving a model.
    #[error(transparent)]
    Model(#[from] unlearn_models::ModelError),
    /// An unlearning method's configuration (a failed run is a result, not an error).
    /// Boxed: the method error is large and would make every result large.
    #[error(transparent)]
    Method(Box<unlearn_methods::MethodError>),
    /// Computing metrics or reading a feature file.
    #[error(transparent)]
    Metrics(#[from] unlearn_metrics::MetricsError),
    /// Writing the report.
    #[error(transparent)]
    Report(#[from] unlearn_report::ReportError),
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

impl From<unlearn_ops::OpsError> for PipelineError {
    fn from(e: unlearn_ops::OpsError) -> Self {
        PipelineError::Ops(Box::new(e))
    }
}

impl From<unlearn_tune::TuneError> for PipelineError {
    fn from(e: unlearn_tune::TuneError) -> Self {
        PipelineError::Tune(Box::new(e))
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use unlearn_ops::OpsError;
    use unlearn_tune::TuneError;

    #[test]
    fn ops_and_tune_errors_keep_their_messages() {
        let e = PipelineError::from(OpsError::Provenance("split of another data set".into()));
        assert_eq!(
            e.to_string(),
            "split of another data set; pass --force to use it anyway"
        );
        let e = PipelineError::from(TuneError::from(OpsError::Plan("no reference".into())));
        assert_eq!(e.to_string(), "no reference");
        let e = PipelineError::from(TuneError::Plan("--trials must be at least 1".into()));
        assert_eq!(e.to_string(), "--trials must be at least 1");
    }
}
