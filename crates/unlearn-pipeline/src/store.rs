//! The content-addressed artefact store: a folder whose artefacts each have a `.key`
//! sidecar holding the key of the step that wrote them.
//!
//! - **Done** means the output exists and its sidecar holds the step's key. The sidecar is
//!   written after the output (both atomically: temp file, fsync, rename), so a step killed at
//!   any moment is redone rather than trusted.
//! - **Locks.** A step runs under an exclusive `flock` on `.locks/<key>.lock`; a second
//!   process on the same store waits for it, then finds the step done and skips it, so no work
//!   is done twice and no artefact is written by two processes at once. Each process also
//!   holds a shared lock on `.locks/store.lock` while it runs; the temporary files of killed
//!   writers are removed only by a process that can take that lock exclusively (no other
//!   process is writing).

use std::path::{Path, PathBuf};

use unlearn_io::FileLock;

use crate::error::{PipelineError, Result};

/// A store rooted at a folder.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    /// Held (shared) for the store's lifetime in this process; `None` for a view that
    /// only reads ([`Store::view`]).
    presence: Option<FileLock>,
}

/// An exclusive lock on one step, released when dropped.
pub type StepLock = FileLock;

/// Takes an exclusive lock on the file at `path` (created if missing) without waiting;
/// `None` when another process holds it.
pub fn try_lock(path: &Path) -> Result<Option<StepLock>> {
    Ok(unlearn_io::try_lock_exclusive(path)?)
}

impl Store {
    /// Opens (creating) the store at `root`, and removes the temporary files that killed
    /// writers left when no other process uses the store.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        let locks = root.join(".locks");
        std::fs::create_dir_all(&locks).map_err(|e| PipelineError::io(&locks, e))?;
        let presence = unlearn_io::lock_shared(&locks.join("store.lock"))?;
        let store = Store {
            root,
            presence: Some(presence),
        };
        store.sweep_if_alone()?;
        Ok(store)
    }

    /// The store at `root` as it is, for reading only (`reproduce --cost`): nothing is
    /// created, locked or swept; a missing folder reads as a store with nothing done.
    pub fn view(root: impl Into<PathBuf>) -> Store {
        Store {
            root: root.into(),
            presence: None,
        }
    }

    /// The store's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The absolute path of an artefact given relative to the store.
    pub fn path(&self, rel: &Path) -> PathBuf {
        self.root.join(rel)
    }

    fn key_path(&self, rel: &Path) -> PathBuf {
        let mut name = self.path(rel).into_os_string();
        name.push(".key");
        PathBuf::from(name)
    }

    /// Whether the artefact at `rel` was written by the step with `key`.
    pub fn is_done(&self, rel: &Path, key: &str) -> bool {
        self.path(rel).exists()
            && std::fs::read_to_string(self.key_path(rel)).is_ok_and(|k| k.trim() == key)
    }

    /// Records that the artefact at `rel` is the output of the step with `key`.
    pub fn mark_done(&self, rel: &Path, key: &str) -> Result<()> {
        unlearn_report::write_atomic(&self.key_path(rel), key)?;
        Ok(())
    }

    /// Takes the exclusive lock of the step with `key`, waiting for another process that
    /// holds it.
    pub fn lock_step(&self, key: &str) -> Result<StepLock> {
        let path = self.root.join(".locks").join(format!("{key}.lock"));
        Ok(unlearn_io::lock_exclusive(&path)?)
    }

    /// Removes temporary files of killed writers (`.tmp*` names, from the atomic writers),
    /// when this process is the store's only user; returns how many.
    pub fn sweep_if_alone(&self) -> Result<usize> {
        let lock = self.root.join(".locks/store.lock");
        let Some(presence) = &self.presence else {
            return Ok(0);
        };
        // Try to take the presence lock exclusively without waiting: only then is nobody
        // else writing. Then return to the shared lock.
        if !presence
            .try_convert(true)
            .map_err(|e| PipelineError::io(&lock, e))?
        {
            return Ok(0);
        }
        let removed = sweep_temp_files(&self.root);
        presence
            .make_shared()
            .map_err(|e| PipelineError::io(&lock, e))?;
        Ok(removed)
    }
}

/// Removes `.tmp*` files under `dir` (recursively); returns how many.
fn sweep_temp_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            removed += sweep_temp_files(&path);
        } else if kind.is_file()
            && entry.file_name().to_string_lossy().starts_with(".tmp")
            && std::fs::remove_file(&path).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::os::fd::AsRawFd;

    #[test]
    fn done_needs_the_output_and_the_matching_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let rel = Path::new("a/out.json");
        assert!(!store.is_done(rel, "k1"));
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        std::fs::write(store.path(rel), "{}").unwrap();
        assert!(!store.is_done(rel, "k1"), "no sidecar yet");
        store.mark_done(rel, "k1").unwrap();
        assert!(store.is_done(rel, "k1"));
        assert!(!store.is_done(rel, "k2"), "another key is another artefact");
    }

    #[test]
    fn temp_files_are_swept_only_by_the_only_user() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("x")).unwrap();
        std::fs::write(dir.path().join("x/.tmpABC"), "half").unwrap();
        let first = Store::open(dir.path()).unwrap();
        assert!(!dir.path().join("x/.tmpABC").exists(), "swept on open");
        std::fs::write(dir.path().join("x/.tmpDEF"), "half").unwrap();
        // A second store object is a second open file description: it cannot take the lock
        // exclusively while `first` holds it shared.
        let second = Store::open(dir.path()).unwrap();
        assert!(
            dir.path().join("x/.tmpDEF").exists(),
            "not swept while shared"
        );
        drop(first);
        assert_eq!(second.sweep_if_alone().unwrap(), 1);
    }

    #[test]
    fn a_step_lock_excludes_a_second_holder_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let lock = store.lock_step("abc").unwrap();
        let path = dir.path().join(".locks/abc.lock");
        let other = File::open(&path).unwrap();
        // SAFETY: flock on a descriptor owned by the test.
        let busy = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_ne!(busy, 0, "held by `lock`");
        drop(lock);
        // SAFETY: as above.
        let free = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(free, 0);
    }
}
