//! A one-seed study on the embedded Fashion-MNIST subset, from Rust code: the plan, its
//! steps, the run and the records, in this process.
//!
//! ```sh
//! cargo run --release -p unlearn-pipeline --example one_seed_study -- [OUT] [EPOCHS]
//! ```
//! Defaults: `target/example-study`, 1 epoch per training (a smoke run; the quick preset
//! trains 8). Rerunning with the same folder reuses every finished step.

use unlearn_pipeline::exec::InProcess;
use unlearn_pipeline::{Preset, Steps, Study, StudyConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args.next().unwrap_or_else(|| "target/example-study".into());
    let epochs: usize = args.next().map_or(Ok(1), |e| e.parse())?;

    let mut cfg = StudyConfig::new(Preset::Quick, out);
    cfg.scenarios = unlearn_data::Scenario::parse_list("random:0.1")?;
    cfg.methods = Some(vec!["ft".into(), "ga".into(), "muda".into()]);
    cfg.epochs_cap = Some(epochs);
    cfg.quiet = true;

    let study = Study::prepare(&cfg)?;
    let (steps, _) = Steps::of(&study.plan);
    println!(
        "{} steps into {}",
        steps.all.len(),
        study.store.root().display()
    );

    let outcome = study.run(&mut InProcess, "one_seed_study example")?;
    println!(
        "{:<10} {:>10} {:>10} {:>8}",
        "method", "gap out", "gap feat", "UA %"
    );
    for r in &outcome.records {
        let m = r.metrics.as_ref();
        let get = |k: &str| m.and_then(|m| m.pointer(k)).and_then(|v| v.as_f64());
        let show = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.2}"));
        println!(
            "{:<10} {:>10} {:>10} {:>8}",
            r.method,
            show(get("/avg_gap_output")),
            show(get("/avg_gap_feature")),
            show(get("/ua"))
        );
    }
    println!("report: {}", outcome.out.join("report.md").display());
    Ok(())
}
