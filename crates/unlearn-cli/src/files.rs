//! How the commands name their files to the toolkit's file policy (`unlearn-io`).

use std::path::PathBuf;

/// The local file a `--checkpoint` names: `None` for an `hf://` address (it lives in the
/// hub cache, which no command writes to).
pub fn local_checkpoint(spec: &str) -> Option<PathBuf> {
    (!spec.starts_with("hf://")).then(|| PathBuf::from(spec))
}

/// Clap parser for counts that must be at least 1 (`--batch-size`, `--epochs`, `--trials`,
/// …): one rule, one message, for every command.
pub fn positive(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("0 is not allowed: expected a whole number of at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{text}' is not a whole number of at least 1")),
    }
}
