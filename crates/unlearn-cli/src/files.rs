//! How the commands name their files to the toolkit's file policy (`unlearn-io`).

use std::path::PathBuf;

/// The local file a `--checkpoint` names: `None` for an `hf://` address or a registry
/// `model:<id>` (they live in the hub cache, which no command writes to).
pub fn local_checkpoint(spec: &str) -> Option<PathBuf> {
    (!spec.starts_with("hf://") && !spec.starts_with("model:")).then(|| PathBuf::from(spec))
}

/// Clap parser for counts that must be at least 1 (`--batch-size`, `--epochs`, `--trials`,
/// …): the same rule and message as `reproduce`'s.
pub use unlearn_pipeline::args::positive_count as positive;
