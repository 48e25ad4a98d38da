//! Atomic writes that never replace a link and never write over a device.

use std::fs::{self, File, FileType, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::IoError;
use crate::Result;

/// Names of temporary files start with this (`.tmp-<pid>-<n>-<name>`); the pipeline's store
/// sweeps them when no writer is alive.
pub const TEMP_PREFIX: &str = ".tmp-";

/// How many links [`resolve_output`] follows before giving up (the kernel's own limit).
const MAX_LINKS: usize = 40;

/// What a non-regular file is, in words.
pub(crate) fn kind_of(t: &FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "a regular file"
    }
}

/// The file a write to `path` must replace: `path` itself, or, when `path` is a symbolic
/// link (even a dangling one), the file it finally points to, so that the link survives.
/// Refuses a destination that exists and is not a regular file. `role` names it in errors.
pub fn resolve_output(path: &Path, role: &str) -> Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        if current.file_name().is_none() {
            return Err(IoError::NoFileName {
                role: role.to_string(),
                path: path.to_path_buf(),
            });
        }
        match fs::symlink_metadata(&current) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(IoError::io(&current, e)),
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&current).map_err(|e| IoError::io(&current, e))?;
                current = match current.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            Ok(meta) if meta.is_file() => return Ok(current),
            Ok(meta) => {
                return Err(IoError::NotRegular {
                    role: role.to_string(),
                    path: path.to_path_buf(),
                    found: kind_of(&meta.file_type()),
                })
            }
        }
    }
    Err(IoError::io(
        path,
        std::io::Error::other(format!("more than {MAX_LINKS} levels of symbolic links")),
    ))
}

/// The folder a file at `path` lives in (`.` for a bare name).
pub(crate) fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes `bytes` to `path` atomically (see [`write_atomic_with`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// Writes a file atomically: `write` fills a temporary file in the destination's folder,
/// which is synced and renamed over the destination, then the folder is synced. The
/// destination's folder is created if missing, an existing file's permissions are kept, a
/// symbolic link is written through ([`resolve_output`]), and a failed write leaves the old
/// file and no temporary file.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let target = resolve_output(path, "output")?;
    let dir = folder_of(&target);
    fs::create_dir_all(&dir).map_err(|e| IoError::io(&dir, e))?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!("{TEMP_PREFIX}{}-{n}-{name}", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| IoError::io(&tmp, e))?;
        write(&mut file).map_err(|e| IoError::io(&tmp, e))?;
        file.flush().map_err(|e| IoError::io(&tmp, e))?;
        if let Ok(old) = fs::metadata(&target) {
            fs::set_permissions(&tmp, old.permissions()).map_err(|e| IoError::io(&tmp, e))?;
        }
        file.sync_all().map_err(|e| IoError::io(&tmp, e))?;
        fs::rename(&tmp, &target).map_err(|e| IoError::io(&target, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    // The rename is durable once the folder is synced; a file system that cannot sync a
    // folder (some network mounts) has still renamed the file.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Opens `path` for appending (JSON-lines logs), creating it and its folder if missing;
/// writes through a symbolic link and refuses a destination that is not a regular file.
pub fn open_append(path: &Path, role: &str) -> Result<File> {
    let target = resolve_output(path, role)?;
    let dir = folder_of(&target);
    fs::create_dir_all(&dir).map_err(|e| IoError::io(&dir, e))?;
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&target)
        .map_err(|e| IoError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/out.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["out.json"]);
    }

    #[test]
    fn a_link_is_written_through_and_survives() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.bin");
        let link = dir.path().join("link.bin");
        fs::write(&real, b"old").unwrap();
        std::os::unix::fs::symlink("real.bin", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&real).unwrap(), b"new");
        // A dangling link gets its target created.
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink("made.bin", &dangling).unwrap();
        write_atomic(&dangling, b"x").unwrap();
        assert_eq!(fs::read(dir.path().join("made.bin")).unwrap(), b"x");
    }

    #[test]
    fn a_device_or_folder_is_refused() {
        let err = write_atomic(Path::new("/dev/null"), b"x").unwrap_err();
        assert!(err.to_string().contains("is a character device"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomic(dir.path(), b"x").unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keep.txt");
        fs::write(&p, b"old").unwrap();
        let err = write_atomic_with(&p, |_| Err(std::io::Error::other("boom")));
        assert!(err.is_err());
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
