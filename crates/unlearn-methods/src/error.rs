//! The error type of the unlearning methods.

use std::path::PathBuf;

/// Everything that can go wrong while configuring or running an unlearning method.
#[derive(Debug, thiserror::Error)]
pub enum MethodError {
    /// The training engine failed; [`TrainError::Diverged`](unlearn_train::TrainError::Diverged)
    /// when the loss or the weights stopped being finite or exploded.
    #[error(transparent)]
    Train(#[from] unlearn_train::TrainError),
    /// A model error (architecture, checkpoint).
    #[error(transparent)]
    Model(#[from] unlearn_models::ModelError),
    /// A data error.
    #[error(transparent)]
    Data(#[from] unlearn_data::DataError),
    /// The retain subspace of MUDA could not be computed.
    #[error("retain subspace: {0}")]
    Metrics(#[from] unlearn_metrics::MetricsError),
    /// A tensor operation failed.
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// A method id that is not in the registry.
    #[error("unknown method '{id}': expected one of {known}")]
    UnknownMethod {
        /// The id given.
        id: String,
        /// The ids known.
        known: String,
    },
    /// A preset that the methods have no defaults for.
    #[error("unknown preset '{0}': expected quick, fmnist, cifar10 or cifar100")]
    UnknownPreset(String),
    /// A parameter name the method does not have.
    #[error("method '{method}' has no parameter '{key}'; its parameters are: {known}")]
    UnknownParam {
        /// Method id.
        method: String,
        /// The key given.
        key: String,
        /// The method's parameters.
        known: String,
    },
    /// A parameter value of the wrong type or outside its range.
    #[error("{method}: parameter {key} = '{value}' is invalid: expected {expected}")]
    InvalidParam {
        /// Method id.
        method: String,
        /// Parameter name.
        key: String,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// A `--set` item that is not `key=value`.
    #[error("bad --set '{0}': expected key=value (e.g. --set lr=0.01)")]
    BadAssignment(String),
    /// A TOML configuration file that cannot be read or used.
    #[error("config file {path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A set the method needs is empty.
    #[error("{method}: the {what} is empty")]
    EmptySet {
        /// Method id.
        method: String,
        /// Which set.
        what: String,
    },
    /// Inputs that do not fit together (model vs data, split vs data).
    #[error("{0}")]
    Mismatch(String),
}

impl MethodError {
    /// Whether the run stopped because training diverged (non-finite or exploding loss or weights).
    pub fn is_divergence(&self) -> bool {
        matches!(
            self,
            MethodError::Train(unlearn_train::TrainError::Diverged { .. })
        )
    }
}

/// Result with [`MethodError`].
pub type Result<T> = std::result::Result<T, MethodError>;
