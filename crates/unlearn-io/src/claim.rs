//! A command's claim on its files: inputs and outputs by role, checked against each other
//! after resolving links, outputs probed for writability and locked, all before any work.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::error::IoError;
use crate::lock::OutputLock;
use crate::write::{folder_of, kind_of, resolve_output, TEMP_PREFIX};
use crate::Result;

/// The path that means standard output where a command allows it (`--json -`).
pub const STDOUT: &str = "-";

/// The files of one command, by role. Build with [`input`](Claim::input) and
/// [`output`](Claim::output), then [`acquire`](Claim::acquire).
#[derive(Debug, Default)]
pub struct Claim {
    inputs: Vec<(String, PathBuf)>,
    outputs: Vec<(String, PathBuf)>,
}

/// The outputs' locks, held until dropped (keep it alive for the whole command).
#[derive(Debug)]
pub struct ClaimGuard {
    locks: Vec<OutputLock>,
}

impl ClaimGuard {
    /// The lock files held.
    pub fn lock_paths(&self) -> Vec<&Path> {
        self.locks.iter().map(|l| l.path()).collect()
    }
}

/// What a path is, for comparing: the file it names when it exists (so links and hard links
/// compare equal), else its absolute, lexically normalised form.
#[derive(Debug, PartialEq, Eq)]
enum Identity {
    File { dev: u64, ino: u64 },
    Path(PathBuf),
}

fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    // Resolve links in the existing part of the folder, then normalise the rest.
    let (dir, name) = (joined.parent(), joined.file_name());
    let base = match (dir, name) {
        (Some(d), Some(n)) => fs::canonicalize(d).map(|d| d.join(n)).unwrap_or(joined),
        _ => joined,
    };
    let mut out = PathBuf::new();
    for c in base.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn identity(path: &Path) -> Identity {
    match fs::metadata(path) {
        Ok(m) => Identity::File {
            dev: m.dev(),
            ino: m.ino(),
        },
        Err(_) => Identity::Path(absolute(path)),
    }
}

/// Creates the output's folder and a file in it, and removes that file again.
fn probe_writable(role: &str, shown: &Path, target: &Path) -> Result<()> {
    let dir = folder_of(target);
    let not_writable = |source| IoError::NotWritable {
        role: role.to_string(),
        path: shown.to_path_buf(),
        dir: dir.clone(),
        source,
    };
    fs::create_dir_all(&dir).map_err(not_writable)?;
    let probe = dir.join(format!("{TEMP_PREFIX}{}-probe", std::process::id()));
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe)
        .map_err(not_writable)?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

impl Claim {
    /// An empty claim.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an input read by the command under `role` (`--checkpoint`, `--split`, …);
    /// [`STDOUT`] is ignored.
    pub fn input(mut self, role: &str, path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        if path != Path::new(STDOUT) {
            self.inputs.push((role.to_string(), path.to_path_buf()));
        }
        self
    }

    /// Adds every path of `paths` as an input under `role`.
    pub fn inputs<P: AsRef<Path>>(self, role: &str, paths: impl IntoIterator<Item = P>) -> Self {
        paths.into_iter().fold(self, |c, p| c.input(role, p))
    }

    /// Adds an output written by the command under `role` (`--out`, `--log`, `resume
    /// state`, …); [`STDOUT`] is ignored.
    pub fn output(mut self, role: &str, path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        if path != Path::new(STDOUT) {
            self.outputs.push((role.to_string(), path.to_path_buf()));
        }
        self
    }

    /// Adds every path of `paths` as an output under `role`.
    pub fn outputs<P: AsRef<Path>>(self, role: &str, paths: impl IntoIterator<Item = P>) -> Self {
        paths.into_iter().fold(self, |c, p| c.output(role, p))
    }

    /// Checks every input (a regular file or a folder, when it exists: a device or FIFO is
    /// refused before anything reads it) and every output (a regular file or nothing, after
    /// links; not an input; not another output; a writable folder), and locks the outputs. Nothing is written but the
    /// folders of the outputs and their lock files.
    pub fn acquire(self) -> Result<ClaimGuard> {
        for (role, p) in &self.inputs {
            if let Ok(meta) = fs::metadata(p) {
                if !meta.is_file() && !meta.is_dir() {
                    return Err(IoError::NotRegular {
                        role: role.clone(),
                        path: p.clone(),
                        found: kind_of(&meta.file_type()),
                    });
                }
            }
        }
        let inputs: Vec<(String, PathBuf, Identity)> = self
            .inputs
            .into_iter()
            .map(|(role, p)| {
                let id = identity(&p);
                (role, p, id)
            })
            .collect();
        let mut outputs: Vec<(String, PathBuf, PathBuf, Identity)> = Vec::new();
        for (role, shown) in self.outputs {
            let target = resolve_output(&shown, &role)?;
            let id = identity(&target);
            if let Some((other_role, other, _)) = inputs.iter().find(|(_, _, i)| *i == id) {
                return Err(IoError::Conflict {
                    role,
                    path: shown,
                    other_role: other_role.clone(),
                    other_path: other.clone(),
                    kind: "input",
                });
            }
            if let Some((other_role, other, _, _)) = outputs.iter().find(|(_, _, _, i)| *i == id) {
                return Err(IoError::Conflict {
                    role,
                    path: shown,
                    other_role: other_role.clone(),
                    other_path: other.clone(),
                    kind: "output",
                });
            }
            outputs.push((role, shown, target, id));
        }
        let mut locks = Vec::with_capacity(outputs.len());
        for (role, shown, target, _) in &outputs {
            probe_writable(role, shown, target)?;
            locks.push(OutputLock::acquire(target, shown, role)?);
        }
        Ok(ClaimGuard { locks })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_that_is_an_input_through_a_link_or_dots_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("m.safetensors");
        fs::write(&input, b"weights").unwrap();
        let link = dir.path().join("alias.safetensors");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        let dotted = dir.path().join("sub/../m.safetensors");
        fs::create_dir(dir.path().join("sub")).unwrap();
        for out in [&input, &link, &dotted] {
            let err = Claim::new()
                .input("--checkpoint", &input)
                .output("--out", out)
                .acquire()
                .unwrap_err();
            let text = err.to_string();
            assert!(text.contains("is also the --checkpoint"), "{text}");
        }
        assert_eq!(fs::read(&input).unwrap(), b"weights", "input unchanged");
    }

    #[test]
    fn two_outputs_on_one_path_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        let err = Claim::new()
            .output("--out", &p)
            .output("--log", &p)
            .acquire()
            .unwrap_err();
        assert!(err.to_string().contains("--log"), "{err}");
        assert!(err.to_string().contains("is also the --out"), "{err}");
        assert!(!p.exists());
    }

    #[test]
    fn an_unwritable_folder_is_found_before_work() {
        let err = Claim::new()
            .output("--out", "/proc/no-such-dir/m.safetensors")
            .acquire()
            .unwrap_err();
        assert!(matches!(err, IoError::NotWritable { .. }), "{err}");
        assert!(err.to_string().contains("nothing was run"));
    }

    #[test]
    fn outputs_stay_locked_while_the_guard_lives() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        let guard = Claim::new().output("--out", &p).acquire().unwrap();
        assert_eq!(guard.lock_paths().len(), 1);
        let err = Claim::new().output("--out", &p).acquire().unwrap_err();
        assert!(matches!(err, IoError::Busy { .. }), "{err}");
        drop(guard);
        Claim::new().output("--out", &p).acquire().unwrap();
        assert!(!p.exists(), "a claim writes nothing");
    }
}
