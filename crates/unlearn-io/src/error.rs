//! The error type of file handling.

use std::path::{Path, PathBuf};

/// What went wrong with a file; every variant names the path (and its role where one is known).
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// An output path is also an input, or another output, of the same command.
    #[error(
        "{role} {path} is also the {other_role} ({other_path}); a command never writes over its own {kind}: choose another {role} path"
    )]
    Conflict {
        /// Role of the output (`--out`).
        role: String,
        /// The output path as given.
        path: PathBuf,
        /// Role it collides with (`--checkpoint`, `resume state`, …).
        other_role: String,
        /// That path as given.
        other_path: PathBuf,
        /// `input` or `output`.
        kind: &'static str,
    },
    /// Something other than a regular file where a file is read or written.
    #[error("{role} {path} is {found}; expected a regular file")]
    NotRegular {
        /// Role (`--out`, `checkpoint`, …).
        role: String,
        /// The path.
        path: PathBuf,
        /// What is there: `a directory`, `a character device`, `a FIFO`, …
        found: &'static str,
    },
    /// The folder an output goes to cannot be written.
    #[error("{role} {path}: cannot write in {dir} ({source}); nothing was run")]
    NotWritable {
        /// Role of the output.
        role: String,
        /// The output path.
        path: PathBuf,
        /// Its folder.
        dir: PathBuf,
        /// The OS error of the probe.
        source: std::io::Error,
    },
    /// Another process holds the output's lock.
    #[error(
        "{role} {path} is being written by another process (lock {lock} is held); wait for it to finish or choose another path"
    )]
    Busy {
        /// Role of the output.
        role: String,
        /// The output path.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// A file larger than a reader accepts.
    #[error("{path} is {size} bytes; the largest accepted is {limit} bytes")]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A path with no file name (`/`, `..`).
    #[error("{role} {path} has no file name; expected a file path")]
    NoFileName {
        /// Role.
        role: String,
        /// The path.
        path: PathBuf,
    },
    /// An operating-system error.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl IoError {
    /// An OS error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        IoError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
