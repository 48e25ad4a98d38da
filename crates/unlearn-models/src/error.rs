//! The error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while building, loading or saving a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file the toolkit's file policy refused or could not handle (`unlearn-io`).
    #[error(transparent)]
    File(Box<unlearn_io::IoError>),

    /// An error raised by a candle tensor operation.
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// An architecture name that this crate does not know.
    #[error("unknown architecture '{name}': expected one of {expected}")]
    UnknownArch {
        /// The name given.
        name: String,
        /// The accepted names.
        expected: String,
    },
    /// An architecture that cannot take the requested input shape or class count.
    #[error("architecture '{arch}' cannot be built for {reason}")]
    BadArchConfig {
        /// The architecture.
        arch: String,
        /// What does not fit.
        reason: String,
    },
    /// A checkpoint whose tensors do not match the architecture it is loaded into.
    #[error("checkpoint {path} does not fit architecture '{arch}':{details}")]
    CheckpointMismatch {
        /// The checkpoint file.
        path: PathBuf,
        /// The architecture it was loaded into.
        arch: String,
        /// Missing, unexpected and mis-shaped tensors, one per line.
        details: String,
    },
    /// The registry file named by the environment cannot be used.
    #[error("{var}={path} names the model registry to use instead of the built-in one, but: {cause} (unset {var} to use the built-in registry)", path = path.display())]
    RegistryEnv {
        /// The variable (`UNLEARN_MODEL_REGISTRY`).
        var: &'static str,
        /// Its value.
        path: PathBuf,
        /// What went wrong (in the message, not as a `source`: the front ends print the
        /// chain, and it would be said twice).
        cause: Box<ModelError>,
    },
    /// A checkpoint file that cannot be read or parsed.
    #[error("cannot read checkpoint {path}: {reason}")]
    BadCheckpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A tensor holding NaN or an infinity, read from a file or about to be written.
    #[error("{what} contains {kind} in {tensor} (element {index} of {count}); {hint}")]
    NonFinite {
        /// The file, or `model` for a write.
        what: String,
        /// Tensor name.
        tensor: String,
        /// `NaN` or `an infinity`.
        kind: &'static str,
        /// Flat index of the first such element.
        index: usize,
        /// Elements in the tensor.
        count: usize,
        /// What to do.
        hint: &'static str,
    },
    /// A file-system error.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A malformed `hf://` address.
    #[error("bad Hugging Face Hub address '{spec}': {reason} (expected hf://<org>/<repo>/<file>[@<revision>])")]
    BadHubSpec {
        /// The address given.
        spec: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A file that is not in the local hub cache while offline.
    #[error("'{file}' of {repo}@{revision} is not in the Hugging Face cache and HF_HUB_OFFLINE=1; expected it at {expected}")]
    NotCached {
        /// Repository id.
        repo: String,
        /// File in the repository.
        file: String,
        /// Revision asked for.
        revision: String,
        /// Where the cache would hold it.
        expected: PathBuf,
    },
    /// A download from the hub failed.
    #[error("download of '{file}' from {repo}@{revision} failed: {reason}")]
    Download {
        /// Repository id.
        repo: String,
        /// File in the repository.
        file: String,
        /// Revision asked for.
        revision: String,
        /// Why.
        reason: String,
    },
    /// A device that cannot be used.
    #[error("device '{name}': {reason}")]
    Device {
        /// The device asked for.
        name: String,
        /// Why it is unavailable.
        reason: String,
    },
    /// A model registry (`models/registry.toml` or `$UNLEARN_MODEL_REGISTRY`) that cannot be
    /// parsed or fails a check.
    #[error("model registry {registry}: {place}: {reason}")]
    BadRegistry {
        /// Where the registry came from (a path, or the built-in one).
        registry: String,
        /// The entry and field at fault (`entry 'id', field 'arch'`), or `the file`.
        place: String,
        /// What is wrong and what was expected.
        reason: String,
    },
    /// A `model:<id>` whose id the registry does not hold.
    #[error("unknown model '{id}' in the model registry {registry}; known models: {known}")]
    UnknownModel {
        /// The id asked for.
        id: String,
        /// Where the registry came from.
        registry: String,
        /// The ids it holds, comma-separated.
        known: String,
    },
    /// A model file whose SHA-256 is not the one the registry or an earlier download recorded.
    #[error("SHA-256 mismatch for model '{id}' file {path}: {} says {}, the file has {}; {}", .digests.expected_from.describe(), .digests.expected, .digests.actual, .digests.expected_from.hint(path))]
    Sha256Mismatch {
        /// The registry id.
        id: String,
        /// The local file.
        path: PathBuf,
        /// The expected and actual digests (boxed: the error stays small).
        digests: Box<ShaDigests>,
    },
}

/// The digests of a [`ModelError::Sha256Mismatch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShaDigests {
    /// Where the expected digest comes from.
    pub expected_from: ShaSource,
    /// The expected digest.
    pub expected: String,
    /// The file's digest.
    pub actual: String,
}

/// Where an expected SHA-256 comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShaSource {
    /// The entry's `sha256` in the model registry.
    Registry,
    /// The record written at the file's first download (its path).
    Record(PathBuf),
}

impl ShaSource {
    /// Who says what the digest should be.
    pub fn describe(&self) -> String {
        match self {
            ShaSource::Registry => "the registry's sha256".to_string(),
            ShaSource::Record(r) => format!(
                "the digest recorded at its first download ({})",
                r.display()
            ),
        }
    }

    /// What to do about a mismatch of the file at `path`.
    pub fn hint(&self, path: &std::path::Path) -> String {
        match self {
            ShaSource::Registry => format!(
                "the file is corrupt or not the one the registry names: delete {} and fetch again; if the hub's file really changed, correct the registry's sha256",
                path.display()
            ),
            ShaSource::Record(r) => format!(
                "the cached file changed since: delete {} and fetch again; if the hub's file really changed at this revision, delete the record {} too",
                path.display(),
                r.display()
            ),
        }
    }
}

/// Result with [`ModelError`].
pub type Result<T> = std::result::Result<T, ModelError>;

/// Lets `?` turn a [`ModelError`] into candle's error inside `candle_core::Result` code
/// (the [`candle_nn::Module`] / [`candle_nn::ModuleT`] impls, a `VarBuilder` backend): a
/// wrapped candle error comes back out as itself, anything else is wrapped with its message.
impl From<ModelError> for candle_core::Error {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::Candle(e) => e,
            other => candle_core::Error::wrap(other),
        }
    }
}

impl From<unlearn_io::IoError> for ModelError {
    fn from(e: unlearn_io::IoError) -> Self {
        ModelError::File(Box::new(e))
    }
}
