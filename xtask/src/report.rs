//! The reproduction report: `results.csv`, `report.md`, `report.html` (self-contained, the
//! figures inlined) and `figures/*.svg`, from the run records of `results.jsonl`.
//!
//! Per scenario: a table (a row per method, Retrain first; mean ± std over seeds; the best
//! value per column in bold), four figures and a "Findings" section whose every claim is
//! computed from the numbers with the thresholds stated next to it.
//!
//! Records are the lines of `results.jsonl`: `preset`, `scenario`, `seed`, `method`,
//! `metrics` (the `unlearn metrics --json` object without curves and spectrum), `seconds`,
//! `rte_ratio`, optional `failure`. Per-run figure data comes from
//! `<out>/<slug(scenario)>/seed<k>/metrics/<method>.plot.json` (`unlearn metrics
//! --plot-data`); a missing file skips the figure with a note.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::figures::{self, Bar, PcaPanel, Point, SpectrumPanel};

/// What the report says about the invocation that produced the records.
pub struct ReportContext<'a> {
    pub preset: &'a str,
    pub data: &'a str,
    pub seeds: u64,
    pub scenarios: &'a [String],
    pub out: &'a Path,
    /// Wall time of the invocation; not printed when not positive.
    pub seconds: f64,
    /// The command line; not printed when empty.
    pub command: String,
    /// The machine, in words; not printed when empty.
    pub machine: String,
    /// Printed first when not empty, e.g. that the run is still going.
    pub status: String,
}

/// How a column's best value is chosen.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Best {
    /// Smallest value (the average gaps).
    Smallest,
    /// Closest to the retrain value.
    ClosestToRetrain,
    /// Not marked.
    None,
}

struct Column {
    name: &'static str,
    ptr: &'static str,
    digits: usize,
    best: Best,
}

const fn col(name: &'static str, ptr: &'static str, digits: usize, best: Best) -> Column {
    Column {
        name,
        ptr,
        digits,
        best,
    }
}

/// The table's columns; ASR is added for backdoor scenarios.
const TABLE: [Column; 11] = [
    col("UA", "/metrics/ua", 2, Best::ClosestToRetrain),
    col("RA", "/metrics/ra", 2, Best::ClosestToRetrain),
    col("TA", "/metrics/ta", 2, Best::ClosestToRetrain),
    col("MIA", "/metrics/mia/confidence", 2, Best::ClosestToRetrain),
    col(
        "Avg. gap (output)",
        "/metrics/avg_gap_output",
        2,
        Best::Smallest,
    ),
    col("DA_f", "/metrics/da/forget", 3, Best::ClosestToRetrain),
    col("LP_f", "/metrics/lp/forget", 2, Best::ClosestToRetrain),
    col("NMI", "/metrics/nmi", 3, Best::ClosestToRetrain),
    col("F1", "/metrics/f1", 3, Best::ClosestToRetrain),
    col(
        "Avg. gap (feature)",
        "/metrics/avg_gap_feature",
        2,
        Best::Smallest,
    ),
    col("RTE (s)", "/seconds", 1, Best::None),
];
const ASR: Column = col("ASR", "/metrics/asr", 2, Best::ClosestToRetrain);

/// Columns of results.csv (one row per run).
const CSV: [(&str, &str); 16] = [
    ("UA", "/metrics/ua"),
    ("RA", "/metrics/ra"),
    ("TA", "/metrics/ta"),
    ("MIA", "/metrics/mia/confidence"),
    ("Gap(out)", "/metrics/avg_gap_output"),
    ("DA_f", "/metrics/da/forget"),
    ("DA_t", "/metrics/da/test"),
    ("LP_f", "/metrics/lp/forget"),
    ("LP_t", "/metrics/lp/test"),
    ("NMI", "/metrics/nmi"),
    ("F1", "/metrics/f1"),
    ("Gap(feat)", "/metrics/avg_gap_feature"),
    ("ASR", "/metrics/asr"),
    ("TA_forgotten", "/metrics/ta_forgotten"),
    ("RTE s", "/seconds"),
    ("RTE ratio", "/rte_ratio"),
];

/// The MUDA ablation rows the findings look for.
const ABLATIONS: [(&str, &str); 3] = [
    ("muda-no-da", "the DA term"),
    ("muda-no-sd", "self-distillation"),
    ("muda-no-alt", "alternation"),
];

/// The scenario's folder name: every character other than ASCII alphanumerics and `.`
/// becomes `-` (`random:0.1` → `random-0.1`).
pub fn slug(scenario: &str) -> String {
    scenario
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Writes `text` to a temporary file beside `path` and renames it into place.
/// Writes `text` to a temporary file beside `path`, then renames it over `path`.
pub(crate) fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} has no file name", path.display()))?;
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn is_ablation(m: &str) -> bool {
    m.starts_with("muda-")
}

fn is_reference(m: &str) -> bool {
    m == "retrain" || m == "original"
}

// ---------------------------------------------------------------------------------------
// Grouping and statistics.

#[derive(Clone, Copy, Debug, PartialEq)]
struct Stat {
    mean: f64,
    /// Sample standard deviation, when there are at least two values.
    std: Option<f64>,
}

fn stat(vals: &[f64]) -> Option<Stat> {
    if vals.is_empty() {
        return None;
    }
    let mean = vals.iter().sum::<f64>() / vals.len() as f64;
    let std = (vals.len() > 1).then(|| {
        (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (vals.len() - 1) as f64).sqrt()
    });
    Some(Stat { mean, std })
}

/// One method's runs in one scenario.
struct MethodRuns<'a> {
    name: String,
    ok: Vec<&'a Value>,
    /// `(seed, message)` of failed runs.
    failed: Vec<(u64, String)>,
}

impl MethodRuns<'_> {
    fn stat(&self, ptr: &str) -> Option<Stat> {
        let vals: Vec<f64> = self
            .ok
            .iter()
            .filter_map(|r| r.pointer(ptr).and_then(Value::as_f64))
            .filter(|v| v.is_finite())
            .collect();
        stat(&vals)
    }

    fn mean(&self, ptr: &str) -> Option<f64> {
        self.stat(ptr).map(|s| s.mean)
    }
}

struct Scenario<'a> {
    name: String,
    methods: Vec<MethodRuns<'a>>,
    /// The seed whose runs give the per-run figures (the smallest present).
    figure_seed: Option<u64>,
}

impl Scenario<'_> {
    fn method(&self, name: &str) -> Option<&MethodRuns<'_>> {
        self.methods
            .iter()
            .find(|m| m.name == name && !m.ok.is_empty())
    }

    fn backdoor(&self) -> bool {
        self.name.starts_with("backdoor:")
    }
}

/// Groups records by scenario (the given order first, then any other in order of first
/// appearance) and method (retrain, original, then order of first appearance).
fn group<'a>(records: &'a [Value], scenarios: &[String]) -> Vec<Scenario<'a>> {
    let mut names: Vec<String> = scenarios.to_vec();
    for r in records {
        if let Some(s) = r["scenario"].as_str() {
            if !names.iter().any(|n| n == s) {
                names.push(s.to_string());
            }
        }
    }
    names
        .into_iter()
        .filter_map(|name| {
            let rows: Vec<&Value> = records
                .iter()
                .filter(|r| r["scenario"].as_str() == Some(&name))
                .collect();
            if rows.is_empty() {
                return None;
            }
            let mut methods: Vec<MethodRuns> = Vec::new();
            for r in &rows {
                let m = r["method"].as_str().unwrap_or("?").to_string();
                let idx = match methods.iter().position(|x| x.name == m) {
                    Some(i) => i,
                    None => {
                        methods.push(MethodRuns {
                            name: m,
                            ok: Vec::new(),
                            failed: Vec::new(),
                        });
                        methods.len() - 1
                    }
                };
                match r["failure"].as_str() {
                    Some(f) => methods[idx]
                        .failed
                        .push((r["seed"].as_u64().unwrap_or(0), f.to_string())),
                    None => methods[idx].ok.push(r),
                }
            }
            methods.sort_by_key(|m| match m.name.as_str() {
                "retrain" => 0,
                "original" => 1,
                _ => 2,
            });
            let figure_seed = rows
                .iter()
                .filter(|r| r.get("failure").is_none())
                .filter_map(|r| r["seed"].as_u64())
                .min();
            Some(Scenario {
                name,
                methods,
                figure_seed,
            })
        })
        .collect()
}

/// Marks the best entries of one column: among methods other than retrain and original,
/// the smallest value ([`Best::Smallest`]) or the value closest to `retrain`
/// ([`Best::ClosestToRetrain`]); ties within 1e-9 are all marked.
fn best_marks(
    names: &[&str],
    values: &[Option<f64>],
    retrain: Option<f64>,
    best: Best,
) -> Vec<bool> {
    let score = |name: &str, v: Option<f64>| -> Option<f64> {
        if is_reference(name) {
            return None;
        }
        let v = v.filter(|v| v.is_finite())?;
        match best {
            Best::Smallest => Some(v),
            Best::ClosestToRetrain => retrain.map(|r| (v - r).abs()),
            Best::None => None,
        }
    };
    let scores: Vec<Option<f64>> = names
        .iter()
        .zip(values)
        .map(|(n, v)| score(n, *v))
        .collect();
    let Some(min) = scores.iter().flatten().copied().reduce(f64::min) else {
        return vec![false; names.len()];
    };
    scores
        .iter()
        .map(|s| s.is_some_and(|s| s - min <= 1e-9))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Documents: one structure, rendered as Markdown and HTML.

enum Cell {
    Text(String),
    Value { text: String, best: bool },
}

struct Table {
    header: Vec<String>,
    /// A row is its method name and either cells or a failure message.
    rows: Vec<(String, Result<Vec<Cell>, String>)>,
}

enum Block {
    Heading(usize, String),
    Para(String),
    List(Vec<String>),
    Table(Table),
    /// A figure: the relative path from the output folder and the SVG markup.
    Figure {
        path: String,
        svg: String,
        caption: String,
    },
}

fn format_stat(s: Stat, digits: usize) -> String {
    match s.std {
        Some(sd) => format!("{:.digits$} ± {sd:.digits$}", s.mean),
        None => format!("{:.digits$}", s.mean),
    }
}

fn table(sc: &Scenario) -> Table {
    let mut cols: Vec<&Column> = TABLE.iter().collect();
    if sc.backdoor() {
        cols.insert(4, &ASR);
    }
    let retrain = sc.method("retrain");
    let names: Vec<&str> = sc.methods.iter().map(|m| m.name.as_str()).collect();
    let marks: Vec<Vec<bool>> = cols
        .iter()
        .map(|c| {
            let vals: Vec<Option<f64>> = sc.methods.iter().map(|m| m.mean(c.ptr)).collect();
            best_marks(&names, &vals, retrain.and_then(|r| r.mean(c.ptr)), c.best)
        })
        .collect();
    let rows = sc
        .methods
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if m.ok.is_empty() {
                let msg = m
                    .failed
                    .iter()
                    .map(|(s, f)| format!("seed {s}: {f}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                return (m.name.clone(), Err(format!("failed ({msg})")));
            }
            let mut cells: Vec<Cell> = cols
                .iter()
                .zip(&marks)
                .map(|(c, mk)| match m.stat(c.ptr) {
                    None => Cell::Text("–".into()),
                    Some(s) => {
                        let mut text = format_stat(s, c.digits);
                        if c.ptr == "/seconds" {
                            if let Some(r) = m.mean("/rte_ratio") {
                                let _ = write!(text, " ({r:.2}×)");
                            }
                        }
                        Cell::Value { text, best: mk[i] }
                    }
                })
                .collect();
            if !m.failed.is_empty() {
                let seeds: Vec<String> = m.failed.iter().map(|(s, _)| s.to_string()).collect();
                cells.push(Cell::Text(format!(
                    "failed on seed(s) {}",
                    seeds.join(", ")
                )));
            }
            (m.name.clone(), Ok(cells))
        })
        .collect();
    let mut header = vec!["method".to_string()];
    header.extend(cols.iter().map(|c| c.name.to_string()));
    Table { header, rows }
}

fn render_md(blocks: &[Block]) -> String {
    let mut md = String::new();
    for b in blocks {
        match b {
            Block::Heading(level, text) => {
                let _ = writeln!(md, "{} {text}\n", "#".repeat(*level));
            }
            Block::Para(text) => {
                let _ = writeln!(md, "{text}\n");
            }
            Block::List(items) => {
                for i in items {
                    let _ = writeln!(md, "- {}", i.replace('\n', "\n  - "));
                }
                md.push('\n');
            }
            Block::Table(t) => {
                let _ = writeln!(md, "| {} |", t.header.join(" | "));
                let _ = writeln!(md, "|---|{}", "---:|".repeat(t.header.len() - 1));
                for (name, row) in &t.rows {
                    let _ = write!(md, "| {name} |");
                    match row {
                        Err(msg) => {
                            let _ = write!(md, " {} |", msg.replace('|', "/"));
                        }
                        Ok(cells) => {
                            for c in cells {
                                match c {
                                    Cell::Text(t) => {
                                        let _ = write!(md, " {t} |");
                                    }
                                    Cell::Value { text, best: true } => {
                                        let _ = write!(md, " **{text}** |");
                                    }
                                    Cell::Value { text, best: false } => {
                                        let _ = write!(md, " {text} |");
                                    }
                                }
                            }
                        }
                    }
                    md.push('\n');
                }
                md.push('\n');
            }
            Block::Figure { path, caption, .. } => {
                let alt = path.trim_start_matches("figures/").trim_end_matches(".svg");
                let _ = writeln!(md, "![{alt}]({path})\n\n{caption}\n");
            }
        }
    }
    md
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// HTML of a Markdown-ish inline string: escapes it, then `code` and **bold**.
fn inline(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in escape(s).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            for (j, p) in part.split("**").enumerate() {
                if j % 2 == 1 {
                    let _ = write!(out, "<strong>{p}</strong>");
                } else {
                    out.push_str(p);
                }
            }
        }
    }
    out
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#1e1e1e;line-height:1.45}
table{border-collapse:collapse;margin:1em 0;font-size:0.92em}
th,td{border:1px solid #ccc;padding:0.3em 0.6em}
th{background:#f0f0f0}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.best{background:#e6f4e6;font-weight:bold}
td.failed{color:#a00}
tr:first-child td{border-top:2px solid #888}
code{background:#f4f4f4;padding:0 0.2em;border-radius:3px}
figure{margin:1.5em 0;overflow-x:auto}
figure svg{max-width:100%;height:auto}
figcaption{font-style:italic;color:#444}
.verdict-supported{color:#1a7f37;font-weight:bold}
.verdict-not{color:#b3261e;font-weight:bold}
li{margin:0.4em 0}";

fn render_html(title: &str, blocks: &[Block]) -> String {
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n{CSS}\n</style>\n</head>\n<body>\n",
        escape(title)
    );
    for b in blocks {
        match b {
            Block::Heading(level, text) => {
                let _ = writeln!(h, "<h{level}>{}</h{level}>", inline(text));
            }
            Block::Para(text) => {
                let _ = writeln!(h, "<p>{}</p>", inline(text));
            }
            Block::List(items) => {
                h.push_str("<ul>\n");
                for i in items {
                    let mut lines = i.split('\n');
                    let mut body = inline(lines.next().unwrap_or(""));
                    let rest: Vec<String> =
                        lines.map(|l| format!("<li>{}</li>", inline(l))).collect();
                    if !rest.is_empty() {
                        let _ = write!(body, "<ul>{}</ul>", rest.concat());
                    }
                    let body = body
                        .replace(
                            "<strong>not supported</strong>",
                            "<span class=\"verdict-not\">not supported</span>",
                        )
                        .replace(
                            "<strong>supported</strong>",
                            "<span class=\"verdict-supported\">supported</span>",
                        );
                    let _ = writeln!(h, "<li>{body}</li>");
                }
                h.push_str("</ul>\n");
            }
            Block::Table(t) => {
                h.push_str("<table>\n<thead><tr>");
                for c in &t.header {
                    let _ = write!(h, "<th>{}</th>", escape(c));
                }
                h.push_str("</tr></thead>\n<tbody>\n");
                for (name, row) in &t.rows {
                    let _ = write!(h, "<tr><td>{}</td>", escape(name));
                    match row {
                        Err(msg) => {
                            let _ = write!(
                                h,
                                "<td class=\"failed\" colspan=\"{}\">{}</td>",
                                t.header.len() - 1,
                                escape(msg)
                            );
                        }
                        Ok(cells) => {
                            for c in cells {
                                match c {
                                    Cell::Text(t) => {
                                        let _ = write!(h, "<td class=\"num\">{}</td>", escape(t));
                                    }
                                    Cell::Value { text, best } => {
                                        let class = if *best { "num best" } else { "num" };
                                        let _ = write!(
                                            h,
                                            "<td class=\"{class}\">{}</td>",
                                            escape(text)
                                        );
                                    }
                                }
                            }
                        }
                    }
                    h.push_str("</tr>\n");
                }
                h.push_str("</tbody>\n</table>\n");
            }
            Block::Figure { svg, caption, .. } => {
                let _ = writeln!(
                    h,
                    "<figure>\n{svg}\n<figcaption>{}</figcaption>\n</figure>",
                    inline(caption)
                );
            }
        }
    }
    h.push_str("</body>\n</html>\n");
    h
}

// ---------------------------------------------------------------------------------------
// Findings.

/// Per-method means that the findings read.
#[derive(Clone, Debug, Default, PartialEq)]
struct Means {
    da_f: Option<f64>,
    da_t: Option<f64>,
    gap_out: Option<f64>,
    gap_feat: Option<f64>,
    /// Attack success rate, backdoor scenarios only.
    asr: Option<f64>,
}

impl Means {
    fn of(m: &MethodRuns) -> Self {
        Self {
            da_f: m.mean("/metrics/da/forget"),
            da_t: m.mean("/metrics/da/test"),
            gap_out: m.mean("/metrics/avg_gap_output"),
            gap_feat: m.mean("/metrics/avg_gap_feature"),
            asr: m.mean("/metrics/asr"),
        }
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    })
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "**supported**"
    } else {
        "**not supported**"
    }
}

/// Thresholds of the findings (stated in the report).
const DA_EQUAL: f64 = 0.01;
const DA_SEPARATES: f64 = 0.5;
/// A backdoor counts as removed when the ASR is at most the retrain model's plus this many
/// percentage points, and as left in when it is at least this share of the original's.
const ASR_REMOVED: f64 = 1.0;
const ASR_LEFT: f64 = 0.5;

/// The "Findings" items of one scenario from per-method means (methods in table order).
fn findings(methods: &[(String, Means)]) -> Vec<String> {
    let get = |n: &str| methods.iter().find(|(m, _)| m == n).map(|(_, v)| v);
    let mut out = Vec::new();
    let f3 = |v: f64| format!("{v:.4}");

    // (1) Retrain: forget features align like unseen ones.
    let (r, o) = (get("retrain"), get("original"));
    match (
        r.and_then(|r| r.da_f.zip(r.da_t)),
        o.and_then(|o| o.da_f.zip(o.da_t)),
    ) {
        (Some((rf, rt)), orig) => {
            let dr = (rf - rt).abs();
            let mut s = format!(
                "(1) For Retrain, forget features align like unseen ones (DA_f ≈ DA_t): {}. Retrain DA_f = {}, DA_t = {}, |DA_f − DA_t| = {} (threshold: ≤ {DA_EQUAL}).",
                verdict(dr <= DA_EQUAL),
                f3(rf),
                f3(rt),
                f3(dr)
            );
            match orig {
                Some((of, ot)) => {
                    let d0 = (of - ot).abs();
                    let sep = dr <= DA_SEPARATES * d0;
                    let ratio = if d0 > 0.0 {
                        format!("{:.2}", dr / d0)
                    } else {
                        "∞".to_string()
                    };
                    let _ = write!(
                        s,
                        "\n(1b) …and this separates it from the Original: {}. Original DA_f = {}, DA_t = {}, |DA_f − DA_t| = {}; Retrain's difference is {ratio}× the Original's (threshold: ≤ {DA_SEPARATES}×).",
                        verdict(sep),
                        f3(of),
                        f3(ot),
                        f3(d0)
                    );
                }
                None => s.push_str("\n(1b) Original: not run."),
            }
            out.push(s);
        }
        (None, _) => out.push("(1) DA_f vs DA_t for Retrain: not run.".into()),
    }

    // (2) Wrong-label methods move DA_f away from Retrain.
    let r_daf = r.and_then(|r| r.da_f);
    let others: Vec<f64> = methods
        .iter()
        .filter(|(m, _)| !is_reference(m) && !is_ablation(m) && m != "rl" && m != "salun")
        .filter_map(|(_, v)| Some((v.da_f? - r_daf?).abs()))
        .collect();
    let med = median(others.clone());
    let mut parts = Vec::new();
    let mut all = true;
    let mut any = false;
    for m in ["rl", "salun"] {
        match (get(m).and_then(|v| v.da_f), r_daf, med) {
            (Some(d), Some(rd), Some(md)) => {
                any = true;
                let dist = (d - rd).abs();
                all &= dist > md;
                parts.push(format!(
                    "`{m}`: DA_f = {}, |DA_f − DA_f(retrain)| = {} ({} the median)",
                    f3(d),
                    f3(dist),
                    if dist > md { "above" } else { "not above" }
                ));
            }
            _ => parts.push(format!("`{m}`: not run")),
        }
    }
    if any {
        out.push(format!(
            "(2) Methods that inject wrong labels (`rl`, `salun`) move DA_f away from Retrain: {}. Retrain DA_f = {}; {}. Threshold: each distance above the median distance of the other {} methods (excluding retrain, original, rl, salun and ablations) = {}.",
            verdict(all),
            f3(r_daf.unwrap_or(f64::NAN)),
            parts.join("; "),
            others.len(),
            f3(med.unwrap_or(f64::NAN))
        ));
    } else {
        out.push(format!(
            "(2) Wrong-label methods vs Retrain DA_f: not run ({}).",
            parts.join("; ")
        ));
    }

    // (3) MUDA vs the best baseline.
    let baselines: Vec<&(String, Means)> = methods
        .iter()
        .filter(|(m, _)| !is_reference(m) && !is_ablation(m) && m != "head-only" && m != "muda")
        .collect();
    match get("muda") {
        None => out.push("(3) MUDA vs the best baseline: not run.".into()),
        Some(mu) => {
            let mut s = String::from("(3) MUDA's average gaps vs the best baseline (the smallest gap among the methods other than retrain, original, head-only, muda and its ablations; supported when MUDA's gap ≤ the best baseline's):");
            for (label, get_gap) in [
                (
                    "output",
                    (|v: &Means| v.gap_out) as fn(&Means) -> Option<f64>,
                ),
                ("feature", |v: &Means| v.gap_feat),
            ] {
                let best = baselines
                    .iter()
                    .filter_map(|(m, v)| get_gap(v).map(|g| (m, g)))
                    .min_by(|a, b| a.1.total_cmp(&b.1));
                match (get_gap(mu), best) {
                    (Some(g), Some((bm, bg))) => {
                        let diff = g - bg;
                        let how = if diff <= 0.0 {
                            format!("MUDA is better by {:.2} points", -diff)
                        } else {
                            format!(
                                "MUDA falls short by {diff:.2} points ({:.2}× the best)",
                                if bg > 0.0 { g / bg } else { f64::INFINITY }
                            )
                        };
                        let _ = write!(
                            s,
                            "\n{label} gap: {}. MUDA {g:.2} vs `{bm}` {bg:.2}; {how}.",
                            verdict(diff <= 0.0)
                        );
                    }
                    _ => {
                        let _ = write!(
                            s,
                            "\n{label} gap: not run (no value for MUDA or no baseline)."
                        );
                    }
                }
            }
            out.push(s);
        }
    }

    // (4) head-only matches Retrain on outputs but not on features.
    let pool: Vec<&(String, Means)> = methods
        .iter()
        .filter(|(m, _)| !is_reference(m) && !is_ablation(m) && m != "head-only")
        .collect();
    let med_out = median(pool.iter().filter_map(|(_, v)| v.gap_out).collect());
    let med_feat = median(pool.iter().filter_map(|(_, v)| v.gap_feat).collect());
    match (
        get("head-only").and_then(|h| h.gap_out.zip(h.gap_feat)),
        med_out.zip(med_feat),
    ) {
        (Some((ho, hf)), Some((mo, mf))) => {
            out.push(format!(
                "(4) `head-only` matches Retrain on output metrics but not on feature metrics: {}. Output gap {ho:.2} vs median {mo:.2} ({}); feature gap {hf:.2} vs median {mf:.2} ({}). Threshold: output gap below and feature gap above the median over the {} other methods (excluding retrain, original, head-only and ablations).",
                verdict(ho < mo && hf > mf),
                if ho < mo { "below" } else { "not below" },
                if hf > mf { "above" } else { "not above" },
                pool.len()
            ));
        }
        _ => out.push("(4) `head-only` vs the median method: not run.".into()),
    }

    // (5) Ablations.
    let mut s = String::from("(5) MUDA ablations (supported when removing the component makes both average gaps larger than full MUDA's):");
    for (name, what) in ABLATIONS {
        match (get(name), get("muda")) {
            (Some(a), Some(mu)) => match (a.gap_out, a.gap_feat, mu.gap_out, mu.gap_feat) {
                (Some(ao), Some(af), Some(mo), Some(mf)) => {
                    let _ = write!(
                        s,
                        "\n`{name}` (without {what}): {}. Output gap {ao:.2} vs {mo:.2} ({:+.2}); feature gap {af:.2} vs {mf:.2} ({:+.2}).",
                        verdict(ao > mo && af > mf),
                        ao - mo,
                        af - mf
                    );
                }
                _ => {
                    let _ = write!(s, "\n`{name}` (without {what}): no gap values.");
                }
            },
            (None, _) => {
                let _ = write!(s, "\n`{name}` (without {what}): not run.");
            }
            (Some(_), None) => {
                let _ = write!(s, "\n`{name}` (without {what}): `muda` not run.");
            }
        }
    }
    out.push(s);
    if let Some(item) = backdoor_finding(methods) {
        out.push(item);
    }
    out
}

/// (6), backdoor scenarios only: does forgetting the poisoned samples remove the backdoor
/// (the paper's claim for MUDA)? `None` when the retrain model has no ASR.
fn backdoor_finding(methods: &[(String, Means)]) -> Option<String> {
    let asr = |n: &str| {
        methods
            .iter()
            .find(|(m, _)| m == n)
            .and_then(|(_, v)| v.asr)
    };
    let retrain = asr("retrain")?;
    let limit = retrain + ASR_REMOVED;
    let mut s = format!(
        "(6) Forgetting the poisoned samples removes the backdoor (the paper's claim for MUDA; removed: ASR ≤ retrain's {retrain:.2} + {ASR_REMOVED:.0} = {limit:.2} %"
    );
    let original = asr("original");
    if let Some(o) = original {
        let _ = write!(
            s,
            "; left in: ASR ≥ {:.0} % of the original's {o:.2} %",
            ASR_LEFT * 100.0
        );
    }
    s.push_str("): ");
    match asr("muda") {
        Some(mu) => {
            let _ = write!(s, "{}. MUDA ASR {mu:.2} %.", verdict(mu <= limit));
        }
        None => s.push_str("`muda` not run."),
    }
    let others = methods
        .iter()
        .filter(|(m, _)| !is_reference(m) && m != "muda")
        .filter_map(|(m, v)| v.asr.map(|a| (m.as_str(), a)));
    let (mut removed, mut left, mut partly) = (Vec::new(), Vec::new(), Vec::new());
    for (m, a) in others {
        let item = format!("`{m}` {a:.2}");
        if a <= limit {
            removed.push(item);
        } else if original.is_some_and(|o| a >= ASR_LEFT * o) {
            left.push(item);
        } else {
            partly.push(item);
        }
    }
    for (what, list) in [
        ("removed by", removed),
        ("partly removed by", partly),
        ("left in by", left),
    ] {
        if !list.is_empty() {
            let _ = write!(s, "\nBackdoor {what}: {}.", list.join(", "));
        }
    }
    Some(s)
}

// ---------------------------------------------------------------------------------------
// Figures.

fn read_plot(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

fn points(v: &Value) -> Vec<(f64, f64)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Points per set and panel in the PCA figure (the plot data holds up to 500; fewer keep
/// the SVG small enough to commit and to inline).
const PCA_POINTS: usize = 150;

/// Every k-th point, keeping at most `max` (the plot data is already a seeded sample).
fn thin(points: Vec<(f64, f64)>, max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max {
        return points;
    }
    let step = points.len().div_ceil(max);
    points.into_iter().step_by(step).collect()
}

fn plot_path(out: &Path, scenario: &str, seed: u64, method: &str) -> PathBuf {
    out.join(slug(scenario))
        .join(format!("seed{seed}"))
        .join("metrics")
        .join(format!("{method}.plot.json"))
}

/// Draws the scenario's figures; returns the figure blocks and notes on skipped ones.
fn scenario_figures(out: &Path, sc: &Scenario) -> Result<(Vec<Block>, Vec<String>)> {
    let mut blocks = Vec::new();
    let mut notes = Vec::new();
    let s = slug(&sc.name);
    let fig = |name: &str, svg: String, caption: String, blocks: &mut Vec<Block>| -> Result<()> {
        let rel = format!("figures/{s}-{name}.svg");
        write_atomic(&out.join(&rel), &svg)?;
        blocks.push(Block::Figure {
            path: rel,
            svg,
            caption,
        });
        Ok(())
    };
    let plot = |method: &str| -> Option<(PathBuf, Result<Value>)> {
        let seed = sc.figure_seed?;
        let p = plot_path(out, &sc.name, seed, method);
        p.exists().then(|| {
            let v = read_plot(&p);
            (p, v)
        })
    };
    let seed_txt = sc
        .figure_seed
        .map(|s| format!("seed {s}"))
        .unwrap_or_else(|| "no seed".into());

    // (a) Spectrum: Original / Retrain / MUDA.
    let mut panels = Vec::new();
    let mut missing = Vec::new();
    for (method, title) in [
        ("original", "Original"),
        ("retrain", "Retrain"),
        ("muda", "MUDA"),
    ] {
        let k = sc
            .method(method)
            .and_then(|m| m.ok.first())
            .and_then(|r| r.pointer("/metrics/da/k"))
            .and_then(Value::as_u64)
            .map(|k| k as usize);
        match plot(method) {
            Some((_, Ok(v))) => panels.push(SpectrumPanel {
                title: title.to_string(),
                eigenvalues: f64s(&v["spectrum"]["eigenvalues"]),
                forget: f64s(&v["spectrum"]["forget"]),
                test: f64s(&v["spectrum"]["test"]),
                k,
            }),
            Some((p, Err(e))) => notes.push(format!("`{}` unreadable ({e:#})", p.display())),
            None => missing.push(method),
        }
    }
    if !missing.is_empty() {
        notes.push(format!(
            "spectrum figure: no plot data for {} ({seed_txt})",
            missing.join(", ")
        ));
    }
    if !panels.is_empty() {
        let svg = figures::spectrum(
            &format!(
                "{}: retain eigen-spectrum and forget/test energy per direction ({seed_txt})",
                sc.name
            ),
            &panels,
            40,
        )?;
        fig(
            "spectrum",
            svg,
            format!("`{}`, {seed_txt}: the retain eigenvalues (bars) and the share of forget and test feature energy along each retain eigen-direction (first 40, log scale); the vertical line is the DA subspace dimension k. Forget energy that follows the test curve means forget samples look unseen.", sc.name),
            &mut blocks,
        )?;
    }

    // (b) DA_f per method against retrain.
    let retrain_da = sc
        .method("retrain")
        .and_then(|m| m.mean("/metrics/da/forget"));
    let bars: Vec<Bar> = sc
        .methods
        .iter()
        .filter(|m| m.name != "retrain")
        .filter_map(|m| {
            let s = m.stat("/metrics/da/forget")?;
            Some(Bar {
                label: m.name.clone(),
                mean: s.mean,
                std: s.std,
            })
        })
        .collect();
    match retrain_da {
        Some(r) if !bars.is_empty() => {
            let svg = figures::bars_with_reference(
                &format!("{}: DA_f per method vs retrain", sc.name),
                "DA_f",
                &bars,
                r,
                &format!("retrain DA_f = {r:.3}"),
            )?;
            fig(
                "da",
                svg,
                format!("`{}`: DA_f per method (mean over seeds, whiskers ± std when several seeds); the red line is the retrain value, the target.", sc.name),
                &mut blocks,
            )?;
        }
        _ => notes.push("DA_f figure: no retrain DA_f or no method".into()),
    }

    // (c) PCA small multiples.
    let mut pcas = Vec::new();
    let mut missing = Vec::new();
    for m in sc.methods.iter().filter(|m| !m.ok.is_empty()) {
        match plot(&m.name) {
            Some((_, Ok(v))) => {
                let ex = f64s(&v["pca2"]["explained"]);
                pcas.push(PcaPanel {
                    title: m.name.clone(),
                    explained: [
                        ex.first().copied().unwrap_or(f64::NAN),
                        ex.get(1).copied().unwrap_or(f64::NAN),
                    ],
                    forget: thin(points(&v["pca2"]["forget"]), PCA_POINTS),
                    retain: thin(points(&v["pca2"]["retain"]), PCA_POINTS),
                });
            }
            Some((p, Err(e))) => notes.push(format!("`{}` unreadable ({e:#})", p.display())),
            None => missing.push(m.name.as_str()),
        }
    }
    if !missing.is_empty() {
        notes.push(format!(
            "PCA figure: no plot data for {} ({seed_txt})",
            missing.join(", ")
        ));
    }
    if !pcas.is_empty() {
        let svg = figures::pca_grid(
            &format!(
                "{}: 2-D PCA of forget and retain features per method ({seed_txt})",
                sc.name
            ),
            &pcas,
        )?;
        fig(
            "pca",
            svg,
            format!("`{}`, {seed_txt}: per method, retain (grey) and forget (red) features (L2-normalised, at most 150 each) in the first two principal components of that model's retain features (share of variance on the axes).", sc.name),
            &mut blocks,
        )?;
    }

    // (d) UA vs MIA.
    let pts: Vec<Point> = sc
        .methods
        .iter()
        .filter(|m| m.name != "retrain")
        .filter_map(|m| {
            Some(Point {
                label: m.name.clone(),
                x: m.mean("/metrics/ua")?,
                y: m.mean("/metrics/mia/confidence")?,
            })
        })
        .collect();
    let r = sc
        .method("retrain")
        .and_then(|m| m.mean("/metrics/ua").zip(m.mean("/metrics/mia/confidence")));
    if !pts.is_empty() || r.is_some() {
        let svg = figures::ua_mia(&format!("{}: UA vs MIA-efficacy", sc.name), &pts, r)?;
        fig(
            "ua-mia",
            svg,
            format!("`{}`: UA against MIA-efficacy (confidence variant), one point per method (means over seeds); the retrain point (red triangle, dashed guides) is the target.", sc.name),
            &mut blocks,
        )?;
    }
    Ok((blocks, notes))
}

// ---------------------------------------------------------------------------------------
// Entry points.

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `results.csv`: one row per run.
pub fn csv(records: &[Value]) -> String {
    let mut out = String::from("preset,scenario,seed,method");
    for (name, _) in CSV {
        out.push(',');
        out.push_str(name);
    }
    out.push_str(",failure\n");
    for r in records {
        let _ = write!(
            out,
            "{},{},{},{}",
            csv_field(r["preset"].as_str().unwrap_or("")),
            csv_field(r["scenario"].as_str().unwrap_or("")),
            r["seed"],
            csv_field(r["method"].as_str().unwrap_or(""))
        );
        for (_, ptr) in CSV {
            out.push(',');
            if let Some(v) = r.pointer(ptr).and_then(Value::as_f64) {
                let _ = write!(out, "{v}");
            }
        }
        let _ = writeln!(out, ",{}", csv_field(r["failure"].as_str().unwrap_or("")));
    }
    out
}

fn document(ctx: &ReportContext, records: &[Value]) -> Result<(String, Vec<Block>)> {
    let title = format!(
        "Reproduction report: preset `{}`, data `{}`, {} seed(s)",
        ctx.preset, ctx.data, ctx.seeds
    );
    let mut blocks = vec![Block::Heading(1, title.clone())];
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
    intro.push_str("Gaps are to the retrain model of the same seed; values are means over seeds (± sample std when there are several). Accuracies, MIA and LP in percent; DA, NMI, F1 as fractions; average gaps in percent points. In bold: per column, among the methods other than retrain and original, the smallest average gap or the value closest to retrain's (RTE is not marked). RTE: seconds of the unlearning run (× the retrain time).");
    blocks.push(Block::Para(intro));
    std::fs::create_dir_all(ctx.out.join("figures"))
        .with_context(|| format!("cannot create {}", ctx.out.join("figures").display()))?;
    for sc in group(records, ctx.scenarios) {
        blocks.push(Block::Heading(2, format!("`{}`", sc.name)));
        blocks.push(Block::Table(table(&sc)));
        let seeds: BTreeSet<u64> = sc
            .methods
            .iter()
            .flat_map(|m| m.ok.iter().filter_map(|r| r["seed"].as_u64()))
            .collect();
        let means: Vec<(String, Means)> = sc
            .methods
            .iter()
            .filter(|m| !m.ok.is_empty())
            .map(|m| (m.name.clone(), Means::of(m)))
            .collect();
        blocks.push(Block::Heading(3, "Findings".into()));
        blocks.push(Block::Para(format!(
            "Computed from the table's numbers ({}); each claim is followed by its verdict and the numbers behind it.",
            match seeds.len() {
                1 => "one seed".to_string(),
                n => format!("means over {n} seeds"),
            }
        )));
        blocks.push(Block::List(findings(&means)));
        blocks.push(Block::Heading(3, "Figures".into()));
        let (figs, notes) = scenario_figures(ctx.out, &sc)?;
        blocks.extend(figs);
        if !notes.is_empty() {
            blocks.push(Block::Para(format!(
                "Skipped (run `unlearn metrics --plot-data` to produce the data): {}.",
                notes.join("; ")
            )));
        }
    }
    Ok((title, blocks))
}

/// Writes results.csv, report.md, report.html and figures/*.svg into ctx.out (atomically),
/// returns the markdown.
pub fn write_all(ctx: &ReportContext, records: &[Value]) -> Result<String> {
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

const HELP: &str = "\
cargo xtask report --out DIR [--data D]

Re-reads DIR/results.jsonl (written by `cargo xtask reproduce`) and rewrites DIR/results.csv,
DIR/report.md, DIR/report.html and DIR/figures/*.svg. Per-run figures read
DIR/<scenario>/seed<k>/metrics/<method>.plot.json (`unlearn metrics --plot-data`) when present.

Options:
  --out DIR   the reproduce output folder (default target/reproduce/quick)
  --data D    the data source named in the title (default: the preset's)

Example:
  cargo xtask report --out target/reproduce/quick";

/// `cargo xtask report`: rewrites the report of a finished run from its results.jsonl.
pub fn rewrite(args: &[String], root: &Path) -> Result<()> {
    let mut out = root.join("target/reproduce/quick");
    let mut data = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => {
                println!("{HELP}");
                return Ok(());
            }
            "--out" => {
                out = PathBuf::from(
                    it.next()
                        .with_context(|| format!("--out needs a value\n\n{HELP}"))?,
                )
            }
            "--data" => {
                data = Some(
                    it.next()
                        .with_context(|| format!("--data needs a value\n\n{HELP}"))?
                        .clone(),
                )
            }
            other => bail!("unknown option '{other}'\n\n{HELP}"),
        }
    }
    let path = out.join("results.jsonl");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let records = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str::<Value>(l)
                .with_context(|| format!("{} line {} is not JSON", path.display(), i + 1))
        })
        .collect::<Result<Vec<_>>>()?;
    let preset = records
        .iter()
        .find_map(|r| r["preset"].as_str())
        .unwrap_or("?")
        .to_string();
    let data = data.unwrap_or_else(|| {
        match preset.as_str() {
            "quick" => "embedded",
            "fmnist" => "fashion-mnist",
            p => p,
        }
        .to_string()
    });
    let mut scenarios: Vec<String> = Vec::new();
    for s in records.iter().filter_map(|r| r["scenario"].as_str()) {
        if !scenarios.iter().any(|x| x == s) {
            scenarios.push(s.to_string());
        }
    }
    let seeds = records
        .iter()
        .filter_map(|r| r["seed"].as_u64())
        .collect::<BTreeSet<_>>()
        .len() as u64;
    // What `reproduce` recorded about its invocation (run.json), when there.
    let run: Value = std::fs::read_to_string(out.join("run.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let text_of = |k: &str| run[k].as_str().unwrap_or_default().to_string();
    let data = run["data"].as_str().map(str::to_string).unwrap_or(data);
    let ctx = ReportContext {
        preset: &preset,
        data: &data,
        seeds,
        scenarios: &scenarios,
        out: &out,
        seconds: run["seconds"].as_f64().unwrap_or(0.0),
        command: text_of("command"),
        machine: text_of("machine"),
        status: text_of("status"),
    };
    write_all(&ctx, &records)?;
    eprintln!(
        "wrote {}/results.csv, report.md, report.html and figures/",
        out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(
        scenario: &str,
        seed: u64,
        method: &str,
        gap_out: f64,
        gap_feat: f64,
        da_f: f64,
    ) -> Value {
        json!({
            "preset": "quick", "scenario": scenario, "seed": seed, "method": method,
            "metrics": {
                "ua": 10.0 + gap_out, "ra": 90.0, "ta": 88.0, "mia": {"confidence": 15.0},
                "avg_gap_output": gap_out, "avg_gap_feature": gap_feat,
                "da": {"forget": da_f, "test": 0.93, "k": 10},
                "lp": {"forget": 88.0}, "nmi": 0.7, "f1": 0.6,
            },
            "seconds": 2.0, "rte_ratio": 0.1,
        })
    }

    #[test]
    fn best_gap_is_the_smallest_non_reference_and_ties_are_all_marked() {
        let names = ["retrain", "original", "ft", "muda", "rl"];
        let vals = [Some(0.0), Some(0.5), Some(2.0), Some(1.0), Some(1.0)];
        assert_eq!(
            best_marks(&names, &vals, Some(0.0), Best::Smallest),
            vec![false, false, false, true, true]
        );
        // Closest to retrain: 0.93 is nearer 0.936 than 0.95, original (0.936) is ignored.
        let vals = [Some(0.936), Some(0.936), Some(0.95), Some(0.93), None];
        assert_eq!(
            best_marks(&names, &vals, Some(0.936), Best::ClosestToRetrain),
            vec![false, false, false, true, false]
        );
        assert_eq!(
            best_marks(&names, &vals, None, Best::ClosestToRetrain),
            vec![false; 5]
        );
        assert_eq!(
            best_marks(&names, &vals, Some(0.9), Best::None),
            vec![false; 5]
        );
    }

    #[test]
    fn table_orders_retrain_first_averages_seeds_and_marks_best() {
        let records = vec![
            rec("random:0.1", 0, "original", 2.0, 3.0, 0.93),
            rec("random:0.1", 0, "muda", 1.0, 2.0, 0.94),
            rec("random:0.1", 1, "muda", 3.0, 2.0, 0.94),
            rec("random:0.1", 0, "retrain", 0.0, 0.0, 0.936),
            rec("random:0.1", 0, "ft", 1.5, 4.0, 0.90),
            json!({"preset": "quick", "scenario": "random:0.1", "seed": 0, "method": "ga", "failure": "diverged, NaN"}),
        ];
        let sc = group(&records, &["random:0.1".to_string()]);
        let t = table(&sc[0]);
        let names: Vec<&str> = t.rows.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["retrain", "original", "muda", "ft", "ga"]);
        let md = render_md(&[Block::Table(t)]);
        // muda: gap(out) = mean(1, 3) = 2 ± 1.41; ft's 1.5 is the smallest → bold.
        assert!(md.contains("| muda |"), "{md}");
        assert!(md.contains("2.00 ± 1.41"), "{md}");
        assert!(md.contains("**1.50**"), "{md}");
        // muda's feature gap 2.00 ± 0.00 is the smallest (original excluded).
        assert!(md.contains("**2.00 ± 0.00**"), "{md}");
        assert!(
            md.contains("| ga | failed (seed 0: diverged, NaN) |"),
            "{md}"
        );
        let csv = csv(&records);
        assert!(csv.contains(",\"diverged, NaN\"\n"), "{csv}");
    }

    #[test]
    fn backdoor_tables_add_asr_and_tolerate_its_absence() {
        let mut with = rec("backdoor:0.1", 0, "ft", 1.0, 1.0, 0.9);
        with["metrics"]["asr"] = json!(12.5);
        let mut retrain = rec("backdoor:0.1", 0, "retrain", 0.0, 0.0, 0.9);
        retrain["metrics"]["asr"] = json!(10.0);
        let records = vec![retrain, with, rec("backdoor:0.1", 0, "muda", 1.0, 1.0, 0.9)];
        let sc = group(&records, &[]);
        assert_eq!(sc.len(), 1);
        let md = render_md(&[Block::Table(table(&sc[0]))]);
        assert!(md.contains("| MIA | ASR | Avg. gap (output) |"), "{md}");
        // ft's ASR is the only one besides retrain's, so it is the closest; muda has none.
        assert!(md.contains("| **12.50** |"), "{md}");
        assert!(
            md.lines()
                .any(|l| l.starts_with("| muda |") && l.contains("| – |")),
            "{md}"
        );
        let md = render_md(&[Block::Table(table(
            &group(&[rec("random:0.1", 0, "ft", 1.0, 1.0, 0.9)], &[])[0],
        ))]);
        assert!(!md.contains("ASR"), "{md}");
    }

    fn m(name: &str, da_f: f64, da_t: f64, gap_out: f64, gap_feat: f64) -> (String, Means) {
        (
            name.to_string(),
            Means {
                da_f: Some(da_f),
                da_t: Some(da_t),
                gap_out: Some(gap_out),
                gap_feat: Some(gap_feat),
                asr: None,
            },
        )
    }

    #[test]
    fn backdoor_finding_sorts_methods_by_asr_against_retrain() {
        let with_asr = |name: &str, asr: f64| {
            let (n, mut v) = m(name, 0.9, 0.9, 1.0, 1.0);
            v.asr = Some(asr);
            (n, v)
        };
        let methods = vec![
            with_asr("retrain", 0.8),
            with_asr("original", 99.8),
            with_asr("rl", 0.01),
            with_asr("be", 10.5),
            with_asr("ga", 99.7),
            with_asr("muda", 1.9),
            with_asr("muda-no-alt", 72.0),
        ];
        let f = findings(&methods);
        assert_eq!(f.len(), 6);
        // 1.9 > 0.8 + 1: not removed by MUDA.
        assert!(
            f[5].starts_with("(6)") && f[5].contains("**not supported**. MUDA ASR 1.90 %"),
            "{}",
            f[5]
        );
        assert!(f[5].contains("removed by: `rl` 0.01."), "{}", f[5]);
        assert!(f[5].contains("partly removed by: `be` 10.50."), "{}", f[5]);
        assert!(
            f[5].contains("left in by: `ga` 99.70, `muda-no-alt` 72.00."),
            "{}",
            f[5]
        );
        let mut lower = methods.clone();
        lower[5] = with_asr("muda", 1.7);
        assert!(findings(&lower)[5].contains("**supported**. MUDA ASR 1.70 %"));
        // Not a backdoor scenario: no sixth finding.
        assert_eq!(findings(&[m("retrain", 0.9, 0.8, 0.0, 0.0)]).len(), 5);
    }

    #[test]
    fn findings_apply_the_stated_thresholds() {
        let methods = vec![
            m("retrain", 0.936, 0.935, 0.0, 0.0),
            m("original", 0.931, 0.930, 2.0, 3.2),
            m("ft", 0.914, 0.912, 2.5, 3.6),
            m("ga", 0.932, 0.931, 1.6, 2.8),
            m("rl", 0.898, 0.899, 1.9, 2.4),
            m("salun", 0.895, 0.896, 4.0, 4.0),
            m("l1", 0.936, 0.935, 2.9, 1.9),
            m("head-only", 0.931, 0.930, 1.4, 3.5),
            m("muda", 0.941, 0.940, 3.2, 1.5),
            m("muda-no-da", 0.92, 0.92, 3.5, 2.5),
            m("muda-no-sd", 0.94, 0.94, 3.0, 3.0),
        ];
        let f = findings(&methods);
        assert_eq!(f.len(), 5);
        // (1) |0.936 − 0.935| = 0.001 ≤ 0.01; but original's difference is the same size.
        assert!(
            f[0].starts_with("(1)") && f[0].contains("DA_t): **supported**"),
            "{}",
            f[0]
        );
        assert!(f[0].contains("Original: **not supported**"), "{}", f[0]);
        // (2) rl 0.038, salun 0.041 vs median of ft .022, ga .004, l1 0, head .005, muda .005.
        assert!(f[1].contains("Retrain: **supported**"), "{}", f[1]);
        assert!(f[1].contains("= 0.0050."), "{}", f[1]);
        // (3) output: best baseline ga 1.6 < muda 3.2 → short by 1.60; feature: muda 1.5 < l1 1.9.
        assert!(
            f[2].contains(
                "output gap: **not supported**. MUDA 3.20 vs `ga` 1.60; MUDA falls short by 1.60"
            ),
            "{}",
            f[2]
        );
        assert!(
            f[2].contains("feature gap: **supported**. MUDA 1.50 vs `l1` 1.90"),
            "{}",
            f[2]
        );
        // (4) head-only 1.4 < median out; 3.5 > median feat.
        assert!(f[3].contains("feature metrics: **supported**"), "{}", f[3]);
        // (5) no-da worse on both; no-sd better on output; no-alt absent.
        assert!(
            f[4].contains("`muda-no-da` (without the DA term): **supported**"),
            "{}",
            f[4]
        );
        assert!(
            f[4].contains("`muda-no-sd` (without self-distillation): **not supported**"),
            "{}",
            f[4]
        );
        assert!(
            f[4].contains("`muda-no-alt` (without alternation): not run."),
            "{}",
            f[4]
        );

        // Nothing but retrain: every finding says what is missing instead of failing.
        let f = findings(&[m("retrain", 0.9, 0.8, 0.0, 0.0)]);
        assert!(f[0].contains("DA_t): **not supported**"), "{}", f[0]);
        assert!(f[1].contains("not run") && f[2].contains("not run") && f[3].contains("not run"));
    }

    #[test]
    fn html_is_self_contained_and_escapes_text() {
        let html = render_html(
            "t",
            &[
                Block::Para("a <b> & `code` **bold**".into()),
                Block::List(vec![
                    "x: **supported**".into(),
                    "y: **not supported**".into(),
                ]),
            ],
        );
        assert!(html.contains("a &lt;b&gt; &amp; <code>code</code> <strong>bold</strong>"));
        assert!(html.contains("verdict-supported") && html.contains("verdict-not"));
        assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<link"));
    }

    #[test]
    fn slug_matches_the_run_folders() {
        assert_eq!(slug("random:0.1"), "random-0.1");
        assert_eq!(slug("class:3"), "class-3");
        assert_eq!(slug("backdoor:0.1,target=0"), "backdoor-0.1-target-0");
    }
}
