//! The crate's error type.

use std::path::PathBuf;

/// What can go wrong while reading records or writing the report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file the toolkit's file policy refused or could not handle (`unlearn-io`).
    #[error(transparent)]
    File(Box<unlearn_io::IoError>),

    /// Reading, writing or creating a file or folder failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// `read`, `write` or `create`.
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file (or one line of it, for JSON Lines) is not the JSON expected.
    #[error("{}{} is not JSON", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Json {
        path: PathBuf,
        /// The 1-based line, for JSON Lines files.
        line: Option<usize>,
        #[source]
        source: serde_json::Error,
    },
    /// Drawing a figure failed (the plotters error, in words).
    #[error("drawing failed: {0}")]
    Plot(String),
}

impl ReportError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }

    /// The message and its causes joined by `": "` (what `anyhow`'s `{:#}` prints).
    pub fn chain(&self) -> String {
        let mut s = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            s.push_str(": ");
            s.push_str(&c.to_string());
            cause = c.source();
        }
        s
    }
}

impl From<unlearn_io::IoError> for ReportError {
    fn from(e: unlearn_io::IoError) -> Self {
        ReportError::File(Box::new(e))
    }
}
