//! Atomic file writes.

use std::path::Path;

use crate::ReportError;

/// Writes `text` atomically through the toolkit's file policy ([`unlearn_io::write_atomic`]:
/// a temporary file beside `path`, fsync, rename), so that readers see the old or the new
/// file, never a part; the folder is created if missing.
pub fn write_atomic(path: &Path, text: &str) -> Result<(), ReportError> {
    Ok(unlearn_io::write_atomic(path, text.as_bytes())?)
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
        write_atomic(&dir.path().join("made/a.txt"), "x")?;
        assert_eq!(std::fs::read_to_string(dir.path().join("made/a.txt"))?, "x");
        assert!(write_atomic(Path::new("/"), "x").is_err());
        Ok(())
    }
}
