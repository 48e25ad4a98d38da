//! The error type of the training engine.

use std::path::PathBuf;

/// Everything that can go wrong while training or evaluating.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A file the toolkit's file policy refused or could not handle (`unlearn-io`).
    #[error(transparent)]
    File(Box<unlearn_io::IoError>),

    /// A tensor operation failed.
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// A model error (checkpoint I/O, architecture).
    #[error(transparent)]
    Model(#[from] unlearn_models::ModelError),
    /// A data error.
    #[error(transparent)]
    Data(#[from] unlearn_data::DataError),
    /// The loss or the weights became NaN or infinite.
    #[error("training diverged at epoch {epoch}, step {step}: {what} = {value} (lower the learning rate or enable gradient clipping)")]
    Diverged {
        /// Epoch (0-based).
        epoch: usize,
        /// Step within the epoch.
        step: usize,
        /// What was not finite.
        what: String,
        /// Its value.
        value: f64,
    },
    /// A hyper-parameter outside its valid range.
    #[error("invalid hyper-parameter {name} = {value}: {expected}")]
    InvalidHyperParameter {
        /// Name.
        name: String,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// Trainable parameters that received no gradient in a step: the loss does not reach
    /// them (an operation without a backward pass, a detached path), and training would
    /// silently leave them at their values.
    #[error(
        "{count} trainable parameter(s) received no gradient: {names}; the loss does not \
         reach them (an operation without a backward pass or a detached path), so training \
         would silently leave them unchanged"
    )]
    NoGradient {
        /// How many.
        count: usize,
        /// Their names, comma-separated.
        names: String,
    },
    /// An unknown preset name.
    #[error("unknown preset '{0}': expected quick, fmnist, cifar10 or cifar100")]
    UnknownPreset(String),
    /// Nothing to train on.
    #[error("the training set '{0}' is empty")]
    EmptySet(String),
    /// A file-system error.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A saved training state that does not belong to this run.
    #[error("training state {path} does not match this run: {reason}")]
    StaleState {
        /// Path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Result with [`TrainError`].
pub type Result<T> = std::result::Result<T, TrainError>;

impl From<unlearn_io::IoError> for TrainError {
    fn from(e: unlearn_io::IoError) -> Self {
        TrainError::File(Box::new(e))
    }
}
