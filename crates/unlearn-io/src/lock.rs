//! `flock` locks: the pipeline store's step and presence locks, and the per-output locks of
//! every command.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::IoError;
use crate::Result;

/// A held `flock` on a file, released when dropped (the file stays).
#[derive(Debug)]
pub struct FileLock {
    file: File,
}

impl FileLock {
    /// The locked file.
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// Outcome of one `flock` call.
enum Flock {
    Taken,
    Busy,
}

fn flock(file: &File, op: libc::c_int) -> std::io::Result<Flock> {
    loop {
        // SAFETY: flock on a descriptor owned by `file` for the duration of the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
        if rc == 0 {
            return Ok(Flock::Taken);
        }
        let err = std::io::Error::last_os_error();
        match err.kind() {
            std::io::ErrorKind::Interrupted => continue,
            std::io::ErrorKind::WouldBlock => return Ok(Flock::Busy),
            _ => return Err(err),
        }
    }
}

fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| IoError::io(path, e))
}

/// Takes an exclusive lock on `path` (created if missing), waiting for other holders.
pub fn lock_exclusive(path: &Path) -> Result<FileLock> {
    let file = open_lock_file(path)?;
    flock(&file, libc::LOCK_EX).map_err(|e| IoError::io(path, e))?;
    Ok(FileLock { file })
}

/// Takes a shared lock on `path` (created if missing), waiting for an exclusive holder.
pub fn lock_shared(path: &Path) -> Result<FileLock> {
    let file = open_lock_file(path)?;
    flock(&file, libc::LOCK_SH).map_err(|e| IoError::io(path, e))?;
    Ok(FileLock { file })
}

/// Takes an exclusive lock on `path` (created if missing) without waiting; `None` when
/// another holder has it.
pub fn try_lock_exclusive(path: &Path) -> Result<Option<FileLock>> {
    let file = open_lock_file(path)?;
    match flock(&file, libc::LOCK_EX | libc::LOCK_NB).map_err(|e| IoError::io(path, e))? {
        Flock::Taken => Ok(Some(FileLock { file })),
        Flock::Busy => Ok(None),
    }
}

impl FileLock {
    /// Changes a held lock to shared (`exclusive = false`) or exclusive without waiting;
    /// `false` when another holder prevents it.
    pub fn try_convert(&self, exclusive: bool) -> std::io::Result<bool> {
        let op = if exclusive {
            libc::LOCK_EX
        } else {
            libc::LOCK_SH
        };
        Ok(matches!(
            flock(&self.file, op | libc::LOCK_NB)?,
            Flock::Taken
        ))
    }

    /// Changes a held lock to shared, waiting if needed.
    pub fn make_shared(&self) -> std::io::Result<()> {
        flock(&self.file, libc::LOCK_SH).map(|_| ())
    }
}

/// The lock of one output file: `.<name>.lock` beside it, held exclusively while a command
/// may write the output, and removed when released.
#[derive(Debug)]
pub struct OutputLock {
    path: PathBuf,
    _lock: FileLock,
}

impl OutputLock {
    /// The lock file of the output at `target` (a resolved path, see
    /// [`resolve_output`](crate::resolve_output)).
    pub fn path_for(target: &Path) -> PathBuf {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        target.with_file_name(format!(".{name}.lock"))
    }

    /// Locks the output at `target` without waiting; [`IoError::Busy`] (naming `role`, the
    /// output as the user gave it, `shown`, and the lock file) when another process has it.
    pub fn acquire(target: &Path, shown: &Path, role: &str) -> Result<OutputLock> {
        let path = Self::path_for(target);
        loop {
            let Some(lock) = try_lock_exclusive(&path)? else {
                return Err(IoError::Busy {
                    role: role.to_string(),
                    path: shown.to_path_buf(),
                    lock: path,
                });
            };
            // A releasing holder unlinks the file before unlocking it; a lock taken on the
            // unlinked file is no lock, so check that the path still names this file.
            let held = lock.file.metadata().map_err(|e| IoError::io(&path, e))?;
            match std::fs::metadata(&path) {
                Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => {
                    return Ok(OutputLock { path, _lock: lock })
                }
                _ => continue,
            }
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Unlink while still holding the lock (see `acquire`).
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_output_lock_is_refused_until_the_first_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("m.safetensors");
        let first = OutputLock::acquire(&out, &out, "--out").unwrap();
        assert!(dir.path().join(".m.safetensors.lock").exists());
        let err = OutputLock::acquire(&out, &out, "--out").unwrap_err();
        assert!(
            err.to_string().contains("being written by another process"),
            "{err}"
        );
        drop(first);
        assert!(!dir.path().join(".m.safetensors.lock").exists(), "removed");
        OutputLock::acquire(&out, &out, "--out").unwrap();
    }

    #[test]
    fn try_lock_sees_a_holder() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.lock");
        let held = lock_exclusive(&p).unwrap();
        assert!(try_lock_exclusive(&p).unwrap().is_none());
        drop(held);
        assert!(try_lock_exclusive(&p).unwrap().is_some());
    }
}
