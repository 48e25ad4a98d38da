//! The whole report: the document of all scenarios, written as results.csv, report.md,
//! report.html and the figures; and its rewrite from a finished run's folder.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::findings::{findings, Row};
use crate::html::render_html;
use crate::markdown::render_md;
use crate::scenario_figures::scenario_figures;
use crate::stats::Means;
use crate::table::{group, table, Block, Scenario};
use crate::{csv, read_records, write_atomic, ReportError, ResultRecord};

/// What the report says about the invocation that produced the records.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReportContext {
    pub preset: String,
    /// The data source named in the title.
    pub data: String,
    pub seeds: u64,
    /// The scenarios in report order (others found in the records follow).
    pub scenarios: Vec<String>,
    /// The output folder: the report's files and the per-run plot data are there.
    pub out: PathBuf,
    /// Wall time of the invocation; not printed when not positive.
    pub seconds: f64,
    /// The command line; not printed when empty.
    pub command: String,
    /// The machine, in words; not printed when empty.
    pub machine: String,
    /// Printed first when not empty, e.g. that the run is still going.
    pub status: String,
}

const INTRO: &str = "Gaps are to the retrain model of the same seed; values are means over seeds (± sample std when there are several). Accuracies, MIA and LP in percent; DA, NMI, F1 as fractions; average gaps in percent points. In bold: per column, among the methods other than retrain and original, the smallest average gap or the value closest to retrain's (RTE is not marked). RTE: seconds of the unlearning run (× the retrain time).";

/// The title and the introduction: status, wall time, command and machine when known.
fn head(ctx: &ReportContext) -> (String, Vec<Block>) {
    let title = format!(
        "Reproduction report: preset `{}`, data `{}`, {} seed(s)",
        ctx.preset, ctx.data, ctx.seeds
    );
    let mut intro = String::new();
    if !ctx.status.is_empty() {
        let _ = write!(intro, "**{}** ", ctx.status);
    }
    if ctx.seconds > 0.0 {
        let _ = write!(
            intro,
            "Wall time of this invocation: {:.0} s. ",
            ctx.seconds
        );
    }
    if !ctx.command.is_empty() {
        let _ = write!(intro, "Command: `{}`. ", ctx.command);
    }
    if !ctx.machine.is_empty() {
        let _ = write!(intro, "Machine: {}. ", ctx.machine);
    }
    intro.push_str(INTRO);
    let blocks = vec![Block::Heading(1, title.clone()), Block::Para(intro)];
    (title, blocks)
}

/// One scenario's section: table, findings and figures (written into `<out>/figures/`).
fn section(out: &Path, sc: &Scenario, blocks: &mut Vec<Block>) -> Result<(), ReportError> {
    blocks.push(Block::Heading(2, format!("`{}`", sc.name)));
    blocks.push(Block::Table(table(sc)));
    if let Some(r) = crate::oracle::reference(sc) {
        blocks.push(crate::oracle::legend(r));
    }
    blocks.extend(crate::oracle::oracle_blocks(sc));
    let seeds: BTreeSet<u64> = sc
        .methods
        .iter()
        .flat_map(|m| m.ok.iter().map(|r| r.seed))
        .collect();
    let rows: Vec<Row> = sc
        .methods
        .iter()
        .map(|m| Row {
            name: m.name.clone(),
            role: m.role.clone(),
            means: (!m.ok.is_empty()).then(|| Means::of(m)),
        })
        .collect();
    blocks.push(Block::Heading(3, "Findings".into()));
    blocks.push(Block::Para(format!(
        "Computed from the table's numbers ({}); each claim is followed by its verdict and the numbers behind it.",
        match seeds.len() {
            1 => "one seed".to_string(),
            n => format!("means over {n} seeds"),
        }
    )));
    let mut items = findings(&rows);
    items.extend(crate::oracle_findings::oracle_findings(sc));
    blocks.push(Block::List(items));
    blocks.push(Block::Heading(3, "Figures".into()));
    let (figs, notes) = scenario_figures(out, sc)?;
    blocks.extend(figs);
    blocks.extend(crate::roc::oracle_roc(out, sc)?);
    if !notes.is_empty() {
        blocks.push(Block::Para(format!(
            "Skipped (run `unlearn metrics --plot-data` to produce the data): {}.",
            notes.join("; ")
        )));
    }
    Ok(())
}

fn document(
    ctx: &ReportContext,
    records: &[ResultRecord],
) -> Result<(String, Vec<Block>), ReportError> {
    let (title, mut blocks) = head(ctx);
    let figures = ctx.out.join("figures");
    std::fs::create_dir_all(&figures).map_err(ReportError::io("create", &figures))?;
    for sc in group(records, &ctx.scenarios) {
        section(&ctx.out, &sc, &mut blocks)?;
    }
    blocks.extend(crate::tuning::tuning_section(records, &ctx.scenarios));
    Ok((title, blocks))
}

/// Writes results.csv, report.md, report.html and figures/*.svg into `ctx.out` (each file
/// atomically); returns the markdown.
pub fn write_all(ctx: &ReportContext, records: &[ResultRecord]) -> Result<String, ReportError> {
    write_atomic(&ctx.out.join("results.csv"), &csv(records))?;
    let (title, blocks) = document(ctx, records)?;
    let md = render_md(&blocks);
    write_atomic(&ctx.out.join("report.md"), &md)?;
    write_atomic(
        &ctx.out.join("report.html"),
        &render_html(&title.replace('`', ""), &blocks),
    )?;
    Ok(md)
}

/// The data source a preset reads by default.
fn default_data(preset: &str) -> &str {
    match preset {
        "quick" => "embedded",
        "fmnist" => "fashion-mnist",
        p => p,
    }
}

/// Rewrites the report of a finished run from `<out>/results.jsonl`, with what `<out>/run.json`
/// recorded about the invocation when it is there (its `data` wins over `data`, which wins
/// over the preset's default data). Returns the path of the new report.md.
pub fn rewrite(out: &Path, data: Option<&str>) -> Result<PathBuf, ReportError> {
    rewrite_with_roles(out, data, |_| None)
}

/// [`rewrite`], with `role_of` giving the role of each record that has none (records
/// written before roles were recorded) or that is a reference of no named kind (written
/// before the retrain model and the original were told apart); `results.jsonl` itself is
/// left as it is.
pub fn rewrite_with_roles(
    out: &Path,
    data: Option<&str>,
    role_of: impl Fn(&ResultRecord) -> Option<crate::Role>,
) -> Result<PathBuf, ReportError> {
    let mut records = read_records(&out.join("results.jsonl"))?;
    let unnamed = Some(crate::Role::Reference { model: None });
    for r in &mut records {
        if r.role.is_none() || r.role == unnamed {
            if let Some(role) = role_of(r) {
                r.role = Some(role);
            }
        }
    }
    let preset = records
        .first()
        .map_or("?", |r| r.preset.as_str())
        .to_string();
    let mut scenarios: Vec<String> = Vec::new();
    for r in &records {
        if !scenarios.contains(&r.scenario) {
            scenarios.push(r.scenario.clone());
        }
    }
    let seeds = records
        .iter()
        .map(|r| r.seed)
        .collect::<BTreeSet<_>>()
        .len() as u64;
    // What `reproduce` recorded about its invocation (run.json), when there.
    let run: Value = std::fs::read_to_string(out.join("run.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let text_of = |k: &str| run[k].as_str().unwrap_or_default().to_string();
    let data = match run["data"].as_str() {
        Some(d) => d.to_string(),
        None => data.unwrap_or_else(|| default_data(&preset)).to_string(),
    };
    let ctx = ReportContext {
        preset,
        data,
        seeds,
        scenarios,
        out: out.to_path_buf(),
        seconds: run["seconds"].as_f64().unwrap_or(0.0),
        command: text_of("command"),
        machine: text_of("machine"),
        status: text_of("status"),
    };
    write_all(&ctx, &records)?;
    Ok(out.join("report.md"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::pipeline_roles::with_roles;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// The Markdown without the figures that need per-run plot data (spectrum and PCA, not
    /// committed) and without the note on skipped figures.
    fn without_plot_figures(md: &str) -> String {
        let mut out = Vec::new();
        let mut caption = false;
        for para in md.split("\n\n") {
            if std::mem::take(&mut caption) {
                continue;
            }
            if para.starts_with("![") && (para.contains("-spectrum]") || para.contains("-pca]")) {
                caption = true;
                continue;
            }
            if !para.starts_with("Skipped (run ") {
                out.push(para);
            }
        }
        out.join("\n\n")
    }

    /// The committed report's findings in this version's wording: the subject named by its
    /// name where the report named MUDA, the ablations described by the method they ablate.
    /// Nothing else changed; a report already in this wording is left as it is.
    fn in_this_wording(md: &str) -> String {
        [
            (
                "(5) MUDA ablations (supported when removing the component makes both average gaps larger than full MUDA's):",
                "(5) Ablations (supported when removing the component makes both average gaps larger than those of the method ablated):",
            ),
            ("muda and its ablations;", "muda and ablations;"),
            ("MUDA", "`muda`"),
            ("` (without ", "` (`muda` without "),
        ]
        .iter()
        .fold(md.to_string(), |md, (old, new)| md.replace(old, new))
    }

    /// Rewriting a copy of docs/results/quick, its records given the roles the pipeline
    /// writes (they were written before roles were) and with the run.json of the committed
    /// report (not committed itself), gives the committed report.md (in this version's
    /// wording of the findings) but for the figures that need plot data, and the committed
    /// figures drawn from the records byte for byte.
    #[test]
    fn rewrite_of_the_committed_quick_run_gives_its_report() -> TestResult {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/results/quick");
        let dir = tempfile::tempdir()?;
        let records = with_roles(read_records(&docs.join("results.jsonl"))?);
        let mut jsonl = String::new();
        for r in &records {
            jsonl.push_str(&serde_json::to_string(r)?);
            jsonl.push('\n');
        }
        std::fs::write(dir.path().join("results.jsonl"), jsonl)?;
        let run = serde_json::json!({
            "command": "cargo xtask reproduce --out target/quick-fresh",
            "machine": "AMD EPYC, 2 cores, 24 GiB, commit e7ad738",
            "seconds": 225.2,
            "status": "",
            "data": "embedded",
        });
        std::fs::write(dir.path().join("run.json"), format!("{run:#}\n"))?;
        let md_path = rewrite(dir.path(), None)?;
        assert_eq!(md_path, dir.path().join("report.md"));
        let md = std::fs::read_to_string(&md_path)?;
        let committed = std::fs::read_to_string(docs.join("report.md"))?;
        assert_ne!(md, committed);
        assert_eq!(
            without_plot_figures(&md),
            without_plot_figures(&in_this_wording(&committed))
        );
        assert!(md.contains("- (3) `muda`'s average gaps vs the best baseline (the smallest gap among the methods other than retrain, original, head-only, muda and ablations; supported when `muda`'s gap ≤ the best baseline's):\n  - output gap: **not supported**. `muda` 1.65 vs `neggrad+` 1.53; `muda` falls short by 0.11 points (1.07× the best).\n"), "{md}");
        assert!(md.contains("\n  - `muda-no-alt` (`muda` without alternation): **supported**. Output gap 7.74 vs 1.65 (+6.09); feature gap 1.67 vs 1.30 (+0.37).\n"), "{md}");
        assert!(md.contains("Skipped (run `unlearn metrics --plot-data` to produce the data): spectrum figure: no plot data for original, retrain, muda (seed 0); PCA figure: no plot data for retrain, original, "));
        for fig in [
            "random-0.1-da",
            "random-0.1-ua-mia",
            "class-3-da",
            "class-3-ua-mia",
        ] {
            let fig = format!("{fig}.svg");
            assert_eq!(
                std::fs::read_to_string(dir.path().join("figures").join(&fig))?,
                std::fs::read_to_string(docs.join("figures").join(&fig))?,
                "{fig}"
            );
        }
        let html = std::fs::read_to_string(dir.path().join("report.html"))?;
        assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"));
        Ok(())
    }

    /// A study against 8 oracles: the oracle blocks follow the main table in order, the
    /// findings end with the oracle ones and the ROC figure is written with the others.
    #[test]
    fn oracle_ensemble_sections_come_after_the_main_table() -> TestResult {
        use crate::oracle::tests::orec;
        let dir = tempfile::tempdir()?;
        let records = [
            orec("class:3", 0, "retrain", 8, 10.0, (0.5, 0.45, 0.55)),
            orec("class:3", 0, "original", 8, 10.0, (0.95, 0.93, 0.97)),
            orec("class:3", 0, "ft", 8, 10.0, (0.7, 0.65, 0.75)),
        ];
        let ctx = ReportContext {
            preset: "quick".into(),
            out: dir.path().to_path_buf(),
            ..ReportContext::default()
        };
        let md = write_all(&ctx, &records)?;
        let at = |s: &str| md.find(s).ok_or(format!("no {s:?} in {md}"));
        let order = [
            at("| oracles (n = 8) |")?,
            at("†: the row's mean")?,
            at("### z-scores against the oracle ensemble")?,
            at("### Per-example tests against the oracle ensemble")?,
            at("### Findings")?,
            at("- (O1) ")?,
            at("- (O4) ")?,
            at("![class-3-oracle-roc](figures/class-3-oracle-roc.svg)")?,
        ];
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}\n{md}");
        assert!(dir.path().join("figures/class-3-oracle-roc.svg").exists());
        let html = std::fs::read_to_string(dir.path().join("report.html"))?;
        assert!(html.contains("<td>oracles (n = 8)</td>"), "{html}");
        Ok(())
    }

    #[test]
    fn rewrite_takes_context_from_run_json_and_data_from_the_caller() -> TestResult {
        let dir = tempfile::tempdir()?;
        let rec =
            r#"{"preset":"fmnist","scenario":"class:3","seed":1,"method":"ga","failure":"x"}"#;
        std::fs::write(dir.path().join("results.jsonl"), format!("{rec}\n"))?;
        let md = std::fs::read_to_string(rewrite(dir.path(), None)?)?;
        assert!(
            md.starts_with(
                "# Reproduction report: preset `fmnist`, data `fashion-mnist`, 1 seed(s)"
            ),
            "{md}"
        );
        let md = std::fs::read_to_string(rewrite(dir.path(), Some("mine"))?)?;
        assert!(md.contains("data `mine`"), "{md}");
        std::fs::write(
            dir.path().join("run.json"),
            r#"{"command":"c","machine":"m","seconds":12.4,"status":"Partial.","data":"d"}"#,
        )?;
        let md = std::fs::read_to_string(rewrite(dir.path(), Some("mine"))?)?;
        assert!(md.contains("data `d`"), "{md}");
        assert!(
            md.contains("\n\n**Partial.** Wall time of this invocation: 12 s. Command: `c`. Machine: m. Gaps are"),
            "{md}"
        );
        assert!(md.contains("| ga | failed (seed 1: x) |"), "{md}");
        Ok(())
    }
}
