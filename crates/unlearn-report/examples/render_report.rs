//! Renders the report of a results.jsonl.
//!
//! `cargo run --release -p unlearn-report --example render_report -- [RESULTS.jsonl [OUT]]`
//! reads RESULTS.jsonl (default: the committed docs/results/quick/results.jsonl) and writes
//! results.csv, report.md, report.html and figures/ into OUT (default: a new temporary
//! folder, kept), then prints the path of report.md. Per-run figures read their plot data
//! beside RESULTS.jsonl.

use std::path::{Path, PathBuf};

use unlearn_report::{read_records, write_all, ReportContext};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let input = args.next().unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/results/quick/results.jsonl")
    });
    let out = match args.next() {
        Some(out) => out,
        None => tempfile::Builder::new()
            .prefix("unlearn-report-")
            .tempdir()?
            .keep(),
    };
    std::fs::create_dir_all(&out)?;
    let records = read_records(&input)?;
    let mut scenarios: Vec<String> = Vec::new();
    for r in &records {
        if !scenarios.contains(&r.scenario) {
            scenarios.push(r.scenario.clone());
        }
    }
    let mut seeds: Vec<u64> = records.iter().map(|r| r.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let ctx = ReportContext {
        preset: records
            .first()
            .map_or("?", |r| r.preset.as_str())
            .to_string(),
        data: input.display().to_string(),
        seeds: seeds.len() as u64,
        scenarios,
        out: out.clone(),
        ..ReportContext::default()
    };
    write_all(&ctx, &records)?;
    println!("{}", out.join("report.md").display());
    Ok(())
}
