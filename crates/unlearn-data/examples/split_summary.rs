//! The three scenarios of a study on the embedded subset: sizes and list hashes.
//!
//! ```sh
//! cargo run --release -p unlearn-data --example split_summary -- [SEED]
//! ```

use unlearn_data::{make_split, DataSource, Scenario, SplitConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seed: u64 = std::env::args().nth(1).map_or(Ok(0), |s| s.parse())?;
    let ds = DataSource::Embedded.load()?;
    println!(
        "{} ({}), fingerprint {}",
        ds.name,
        ds.source,
        &ds.fingerprint[..16]
    );
    for scenario in Scenario::parse_list("random:0.1,class:3,backdoor:0.05")? {
        let split = make_split(
            &ds,
            &SplitConfig {
                scenario,
                seed,
                val_fraction: 0.1,
            },
        )?;
        println!(
            "{:<16} train {:>5}  retain {:>5}  forget {:>4}  val {:>4}  forget sha256 {}",
            split.scenario.to_string(),
            split.train.len(),
            split.retain.len(),
            split.forget.len(),
            split.val.len(),
            &split.sha256.forget[..12]
        );
    }
    Ok(())
}
