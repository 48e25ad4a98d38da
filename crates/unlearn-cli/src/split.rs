//! `unlearn split`: write a forget/retain split manifest.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use unlearn_data::{make_split, SplitConfig, SplitManifest};
use unlearn_ops::load_dataset as load_data;

/// Examples shown by `unlearn split --help`.
pub(crate) const EXAMPLES: &str = "\
Examples:
  unlearn split --data embedded --scenario random:0.1 --seed 0 --out split.json
  unlearn split --data fashion-mnist --scenario class:3 --seed 1 --out class3.json
  unlearn split --data embedded --scenario backdoor:0.05,target=0,size=3 --out bd.json
  unlearn split --data embedded --forget-npy forget_idx.npy --out imported.json

Scenarios: random:p (0<p<1), class:c[,c...], backdoor:p[,target=T][,size=S].";

#[derive(Args)]
pub(crate) struct SplitArgs {
    /// Data source (see `unlearn data info --help`).
    #[arg(long, default_value = "embedded")]
    pub(crate) data: String,
    /// Forget-set scenario; `class:` takes class ids or class names (class:cat,dog).
    #[arg(long, default_value = "random:0.1", conflicts_with = "forget_npy")]
    pub(crate) scenario: String,
    /// Import the forget set from a 1-D integer .npy file of training-set indices instead.
    #[arg(long)]
    pub(crate) forget_npy: Option<PathBuf>,
    /// Seed of the split.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Fraction of the official training set held out for validation (stratified).
    #[arg(long, default_value_t = 0.1)]
    pub(crate) val_fraction: f64,
    /// Output manifest (JSON).
    #[arg(long)]
    pub(crate) out: PathBuf,
}

pub(crate) fn split(a: SplitArgs) -> Result<()> {
    let _claim = unlearn_io::Claim::new()
        .inputs("--forget-npy", a.forget_npy.iter())
        .output("--out", &a.out)
        .acquire()?;
    let ds = load_data(&a.data)?;
    let manifest = match &a.forget_npy {
        Some(path) => {
            let forget = unlearn_data::read_npy_indices(path)?;
            SplitManifest::from_forget_indices(&ds, &forget, a.seed, a.val_fraction)?
        }
        None => {
            let cfg = SplitConfig {
                scenario: unlearn_data::Scenario::parse_with_classes(&a.scenario, &ds.class_names)?,
                seed: a.seed,
                val_fraction: a.val_fraction,
            };
            make_split(&ds, &cfg)?
        }
    };
    manifest.save(&a.out)?;
    eprintln!(
        "wrote {}: scenario {}, train {}, retain {}, forget {}, val {}, test {}",
        a.out.display(),
        manifest.scenario,
        manifest.train.len(),
        manifest.retain.len(),
        manifest.forget.len(),
        manifest.val.len(),
        manifest.test.len()
    );
    Ok(())
}
