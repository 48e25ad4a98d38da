//! One file policy for the whole toolkit: every command of `unlearn` and every step of the
//! pipeline writes and reads user files through this crate.
//!
//! - **Atomic writes** ([`write_atomic`], [`write_atomic_with`]): a temporary file in the
//!   destination's folder (`.tmp-<pid>-<n>-<name>`), `fsync`, `rename`, `fsync` of the folder.
//!   A reader sees the old file or the new one, never a part. An existing symlink is written
//!   *through* (its target is replaced, the link stays); a device, FIFO, socket or folder at
//!   the destination is refused.
//! - **Roles** ([`Claim`]): a command names its inputs and outputs by role (`--checkpoint`,
//!   `--out`, `resume state`, …). An output may not be an input nor another output, compared
//!   after resolving links; the error names both roles. Every output's folder is checked for
//!   writability before any work starts, and each output is locked ([`OutputLock`]) for the
//!   command's lifetime, so a second writer fails at once instead of losing a result.
//! - **Bounded reads** ([`read_regular`], [`open_regular`], [`npy`]): inputs must be regular
//!   files, and a reader never allocates more than the file's real size.
//!
//! ```
//! use std::path::Path;
//! # fn main() -> Result<(), unlearn_io::IoError> {
//! let dir = tempfile::tempdir().map_err(|e| unlearn_io::IoError::io(Path::new("tmp"), e))?;
//! let input = dir.path().join("split.json");
//! unlearn_io::write_atomic(&input, b"{}")?;
//! let out = dir.path().join("model.safetensors");
//! // `--out` may not be `--split`; the claim locks `--out` until it is dropped.
//! let claim = unlearn_io::Claim::new()
//!     .input("--split", &input)
//!     .output("--out", &out)
//!     .acquire()?;
//! unlearn_io::write_atomic(&out, b"weights")?;
//! drop(claim);
//! let same = unlearn_io::Claim::new().input("--split", &input).output("--out", &input).acquire();
//! assert!(same.unwrap_err().to_string().contains("is also the --split"));
//! # Ok(())
//! # }
//! ```

mod claim;
mod error;
mod lock;
pub mod npy;
mod read;
mod safetensors;
mod write;

pub use claim::{Claim, ClaimGuard, STDOUT};
pub use error::IoError;
pub use lock::{lock_exclusive, lock_shared, try_lock_exclusive, FileLock, OutputLock};
pub use read::{open_regular, read_regular, read_regular_to_string, sha256_file};
pub use safetensors::{safetensors_header_len, safetensors_header_problem};
pub use write::{open_append, resolve_output, write_atomic, write_atomic_with, TEMP_PREFIX};

/// This crate's result type.
pub type Result<T> = std::result::Result<T, IoError>;
