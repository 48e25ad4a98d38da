//! `unlearn reproduce`: the whole study, in this process.

use std::path::PathBuf;

use anyhow::Result;
use unlearn_cli::args::ReproduceArgs;

/// `unlearn reproduce`: the study, in this process.
pub(crate) fn reproduce(a: ReproduceArgs) -> Result<()> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    if let Some(outcome) = unlearn_pipeline::run_reproduce(&a.to_request(&target)?, "unlearn")? {
        println!("{}", outcome.markdown);
        eprintln!("done in {:.0}s: {}", outcome.seconds, outcome.out.display());
    }
    Ok(())
}
