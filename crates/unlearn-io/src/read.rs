//! Bounded reads of user files: regular files only, never more than their real size.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::IoError;
use crate::write::kind_of;
use crate::Result;

/// Opens `path` for reading and returns the file and its size; refuses anything that is not
/// a regular file (after following links), so `/dev/zero` or a FIFO cannot make a reader
/// wait forever or allocate without bound. `role` names the input in errors.
pub fn open_regular(path: &Path, role: &str) -> Result<(File, u64)> {
    let file = File::open(path).map_err(|e| IoError::io(path, e))?;
    let meta = file.metadata().map_err(|e| IoError::io(path, e))?;
    if !meta.is_file() {
        return Err(IoError::NotRegular {
            role: role.to_string(),
            path: path.to_path_buf(),
            found: kind_of(&meta.file_type()),
        });
    }
    Ok((file, meta.len()))
}

/// Reads the whole regular file at `path`, refusing files over `limit` bytes; the buffer is
/// sized from the file's real size (a file that grows while read is cut at that size + 1
/// byte and refused).
pub fn read_regular(path: &Path, role: &str, limit: u64) -> Result<Vec<u8>> {
    let (file, size) = open_regular(path, role)?;
    if size > limit {
        return Err(IoError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(size + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| IoError::io(path, e))?;
    if bytes.len() as u64 > size {
        return Err(IoError::io(
            path,
            std::io::Error::other("the file grew while it was read"),
        ));
    }
    Ok(bytes)
}

/// The SHA-256 (lower-case hex) of the regular file at `path`, read in 1 MiB chunks (never
/// held whole); `role` names it in errors.
pub fn sha256_file(path: &Path, role: &str) -> Result<String> {
    use sha2::{Digest, Sha256};
    let (mut file, _) = open_regular(path, role)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| IoError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// [`read_regular`] as UTF-8 text.
pub fn read_regular_to_string(path: &Path, role: &str, limit: u64) -> Result<String> {
    let bytes = read_regular(path, role, limit)?;
    String::from_utf8(bytes).map_err(|e| {
        IoError::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not UTF-8 text ({e})"),
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_refused_without_reading_it() {
        let err = read_regular(Path::new("/dev/zero"), "--checkpoint", 1 << 20).unwrap_err();
        assert!(
            err.to_string()
                .contains("--checkpoint /dev/zero is a character device"),
            "{err}"
        );
    }

    #[test]
    fn a_file_over_the_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        std::fs::write(&p, vec![0u8; 100]).unwrap();
        assert!(matches!(
            read_regular(&p, "x", 99),
            Err(IoError::TooLarge {
                size: 100,
                limit: 99,
                ..
            })
        ));
        assert_eq!(read_regular(&p, "x", 100).unwrap().len(), 100);
    }
}
