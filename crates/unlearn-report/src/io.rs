//! Atomic file writes.

use std::io::Write as _;
use std::path::Path;

use crate::ReportError;

/// Writes `text` to a temporary file beside `path` (`.<name>.<pid>.tmp`), flushes it to
/// disk and renames it over `path`, so that readers see the old or the new file, never a
/// part. The temporary file is removed when a step fails.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), ReportError> {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Err(ReportError::io("write", path)(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path has no file name",
        )));
    };
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(text.as_bytes())?;
        f.sync_all()
    });
    let result = written
        .map_err(ReportError::io("write", &tmp))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(ReportError::io("write", path)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn write_atomic_replaces_the_file_and_leaves_no_temporary() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("a.txt");
        write_atomic(&path, "one")?;
        write_atomic(&path, "two")?;
        assert_eq!(std::fs::read_to_string(&path)?, "two");
        let names: Vec<_> = std::fs::read_dir(dir.path())?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        assert_eq!(names, ["a.txt"]);
        let err = write_atomic(&dir.path().join("missing/a.txt"), "x")
            .err()
            .ok_or("wrote into a missing folder")?;
        assert!(err.to_string().starts_with("cannot write "), "{err}");
        assert!(write_atomic(Path::new("/"), "x").is_err());
        Ok(())
    }
}
