//! The table model: columns and how their best value is chosen, records grouped by
//! scenario and method, and the document blocks that Markdown and HTML render.

use std::fmt::Write as _;

use crate::oracle::{self, Reference};
use crate::record::{ReferenceModel, ResultRecord, Role, Source};
use crate::stats::{stat, Stat};

/// How a column's best value is chosen.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Best {
    /// Smallest value (the average gaps).
    Smallest,
    /// Closest to the retrain value.
    ClosestToRetrain,
    /// Not marked.
    None,
}

pub(crate) struct Column {
    name: &'static str,
    source: Source,
    digits: usize,
    best: Best,
}

const fn col(name: &'static str, ptr: &'static str, digits: usize, best: Best) -> Column {
    Column {
        name,
        source: Source::Metric(ptr),
        digits,
        best,
    }
}

/// The table's columns; ASR is added for backdoor scenarios.
const TABLE: [Column; 11] = [
    col("UA", "/ua", 2, Best::ClosestToRetrain),
    col("RA", "/ra", 2, Best::ClosestToRetrain),
    col("TA", "/ta", 2, Best::ClosestToRetrain),
    col("MIA", "/mia/confidence", 2, Best::ClosestToRetrain),
    col("Avg. gap (output)", "/avg_gap_output", 2, Best::Smallest),
    col("DA_f", "/da/forget", 3, Best::ClosestToRetrain),
    col("LP_f", "/lp/forget", 2, Best::ClosestToRetrain),
    col("NMI", "/nmi", 3, Best::ClosestToRetrain),
    col("F1", "/f1", 3, Best::ClosestToRetrain),
    col("Avg. gap (feature)", "/avg_gap_feature", 2, Best::Smallest),
    Column {
        name: "RTE (s)",
        source: Source::Seconds,
        digits: 1,
        best: Best::None,
    },
];
const ASR: Column = col("ASR", "/asr", 2, Best::ClosestToRetrain);

// ---------------------------------------------------------------------------------------
// Grouping.

/// One method's runs in one scenario.
pub(crate) struct MethodRuns<'a> {
    pub(crate) name: String,
    /// The role of its records (the first record's: a study gives a name one role).
    pub(crate) role: Role,
    pub(crate) ok: Vec<&'a ResultRecord>,
    /// `(seed, message)` of failed runs.
    pub(crate) failed: Vec<(u64, String)>,
}

impl MethodRuns<'_> {
    pub(crate) fn stat(&self, source: Source) -> Option<Stat> {
        let vals: Vec<f64> = self
            .ok
            .iter()
            .filter_map(|r| source.of(r))
            .filter(|v| v.is_finite())
            .collect();
        stat(&vals)
    }

    pub(crate) fn mean(&self, source: Source) -> Option<f64> {
        self.stat(source).map(|s| s.mean)
    }
}

pub(crate) struct Scenario<'a> {
    pub(crate) name: String,
    pub(crate) methods: Vec<MethodRuns<'a>>,
    /// The seed whose runs give the per-run figures (the smallest present).
    pub(crate) figure_seed: Option<u64>,
}

impl Scenario<'_> {
    pub(crate) fn method(&self, name: &str) -> Option<&MethodRuns<'_>> {
        self.methods
            .iter()
            .find(|m| m.name == name && !m.ok.is_empty())
    }

    /// The reference `which` (found by its role, never its name), when it ran.
    pub(crate) fn reference(&self, which: ReferenceModel) -> Option<&MethodRuns<'_>> {
        self.methods
            .iter()
            .find(|m| m.role.is(which) && !m.ok.is_empty())
    }

    pub(crate) fn backdoor(&self) -> bool {
        self.name.starts_with("backdoor:")
    }
}

/// Groups records by scenario (the given order first, then any other in order of first
/// appearance) and method (the retrain and original references, then order of first
/// appearance); a method's role is its first record's.
pub(crate) fn group<'a>(records: &'a [ResultRecord], scenarios: &[String]) -> Vec<Scenario<'a>> {
    let mut names: Vec<String> = scenarios.to_vec();
    for r in records {
        if !names.contains(&r.scenario) {
            names.push(r.scenario.clone());
        }
    }
    names
        .into_iter()
        .filter_map(|name| {
            let rows: Vec<&ResultRecord> = records.iter().filter(|r| r.scenario == name).collect();
            if rows.is_empty() {
                return None;
            }
            let figure_seed = rows
                .iter()
                .filter(|r| r.failure.is_none())
                .map(|r| r.seed)
                .min();
            Some(Scenario {
                name,
                methods: methods(&rows),
                figure_seed,
            })
        })
        .collect()
}

/// One scenario's rows by method: the retrain and original references, then order of first
/// appearance.
fn methods<'a>(rows: &[&'a ResultRecord]) -> Vec<MethodRuns<'a>> {
    let mut methods: Vec<MethodRuns> = Vec::new();
    for &r in rows {
        let idx = match methods.iter().position(|x| x.name == r.method) {
            Some(i) => i,
            None => {
                methods.push(MethodRuns {
                    name: r.method.clone(),
                    role: r.role().clone(),
                    ok: Vec::new(),
                    failed: Vec::new(),
                });
                methods.len() - 1
            }
        };
        // One run per seed: a record repeated for a seed (a study that listed a method or
        // scenario twice) replaces the earlier one, so one seed never shows a spread.
        let m = &mut methods[idx];
        m.ok.retain(|o| o.seed != r.seed);
        m.failed.retain(|(s, _)| *s != r.seed);
        match &r.failure {
            Some(f) => m.failed.push((r.seed, f.clone())),
            None => m.ok.push(r),
        }
    }
    methods.sort_by_key(|m| {
        if m.role.is(ReferenceModel::Retrain) {
            0
        } else if m.role.is(ReferenceModel::Original) {
            1
        } else {
            2
        }
    });
    methods
}

/// Marks the best entries of one column: among the rows that are not references (flagged
/// in `references`), the smallest value ([`Best::Smallest`]) or the value closest to
/// `retrain` ([`Best::ClosestToRetrain`]); ties within 1e-9 are all marked.
pub(crate) fn best_marks(
    references: &[bool],
    values: &[Option<f64>],
    retrain: Option<f64>,
    best: Best,
) -> Vec<bool> {
    let score = |reference: bool, v: Option<f64>| -> Option<f64> {
        if reference {
            return None;
        }
        let v = v.filter(|v| v.is_finite())?;
        match best {
            Best::Smallest => Some(v),
            Best::ClosestToRetrain => retrain.map(|r| (v - r).abs()),
            Best::None => None,
        }
    };
    let scores: Vec<Option<f64>> = references
        .iter()
        .zip(values)
        .map(|(r, v)| score(*r, *v))
        .collect();
    let Some(min) = scores.iter().flatten().copied().reduce(f64::min) else {
        return vec![false; references.len()];
    };
    scores
        .iter()
        .map(|s| s.is_some_and(|s| s - min <= 1e-9))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Documents: one structure, rendered as Markdown and HTML.

pub(crate) enum Cell {
    Text(String),
    /// A number: `best` is rendered bold, `within` (inside the oracle ensemble's spread,
    /// see [`crate::oracle::WITHIN_SPREAD_Z`]) with a "†" after it.
    Value {
        text: String,
        best: bool,
        within: bool,
    },
}

pub(crate) struct Table {
    pub(crate) header: Vec<String>,
    /// A row is its method name and either cells or a failure message.
    pub(crate) rows: Vec<(String, Result<Vec<Cell>, String>)>,
}

pub(crate) enum Block {
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

/// The scenario's table: a row per method, mean ± std over seeds, the best values marked;
/// with an oracle ensemble ([`oracle::reference`]) first a row of the oracles' mean ± std
/// and "†" on the means within their spread.
pub(crate) fn table(sc: &Scenario) -> Table {
    let mut cols: Vec<&Column> = TABLE.iter().collect();
    if sc.backdoor() {
        cols.insert(4, &ASR);
    }
    let retrain = sc.reference(ReferenceModel::Retrain);
    let references: Vec<bool> = sc.methods.iter().map(|m| m.role.is_reference()).collect();
    let marks: Vec<Vec<bool>> = cols
        .iter()
        .map(|c| {
            let vals: Vec<Option<f64>> = sc.methods.iter().map(|m| m.mean(c.source)).collect();
            let r = retrain.and_then(|r| r.mean(c.source));
            best_marks(&references, &vals, r, c.best)
        })
        .collect();
    let reference = oracle::reference(sc);
    let mut rows: Vec<(String, Result<Vec<Cell>, String>)> = Vec::new();
    if let Some(r) = reference {
        rows.push((format!("oracles (n = {})", r.n), Ok(oracle_row(r, &cols))));
    }
    rows.extend(
        sc.methods
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.clone(), row(m, &cols, &marks, i, reference))),
    );
    let mut header = vec!["method".to_string()];
    header.extend(cols.iter().map(|c| c.name.to_string()));
    Table { header, rows }
}

/// The oracle ensemble's row: mean ± std per column that it summarises, else "–".
fn oracle_row(r: Reference, cols: &[&Column]) -> Vec<Cell> {
    cols.iter()
        .map(|c| match c.source {
            Source::Metric(ptr) => r.get(ptr).map(|(mean, std)| {
                let d = c.digits;
                format!("{mean:.d$} ± {std:.d$}")
            }),
            _ => None,
        })
        .map(|t| Cell::Text(t.unwrap_or_else(|| "–".into())))
        .collect()
}

/// Method `m`'s cells (row `i` of `marks`; "†" on means within the spread of `reference`),
/// or its failure message when no run succeeded.
fn row(
    m: &MethodRuns,
    cols: &[&Column],
    marks: &[Vec<bool>],
    i: usize,
    reference: Option<Reference>,
) -> Result<Vec<Cell>, String> {
    if m.ok.is_empty() {
        let msg = m
            .failed
            .iter()
            .map(|(s, f)| format!("seed {s}: {f}"))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(format!("failed ({msg})"));
    }
    let mut cells: Vec<Cell> = cols
        .iter()
        .zip(marks)
        .map(|(c, mk)| match m.stat(c.source) {
            None => Cell::Text("–".into()),
            Some(s) => {
                let mut text = format_stat(s, c.digits);
                if c.source == Source::Seconds {
                    if let Some(r) = m.mean(Source::RteRatio) {
                        let _ = write!(text, " ({r:.2}×)");
                    }
                }
                let within = match (c.source, reference) {
                    (Source::Metric(ptr), Some(r)) => r.within(ptr, s.mean),
                    _ => false,
                };
                Cell::Value {
                    text,
                    best: mk[i],
                    within,
                }
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
    Ok(cells)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::markdown::render_md;
    use crate::record::pipeline_roles::role_of;
    use serde_json::json;

    /// A record of `method` with the role the pipeline gives it ([`role_of`]).
    pub(crate) fn rec(
        scenario: &str,
        seed: u64,
        method: &str,
        gap_out: f64,
        gap_feat: f64,
        da_f: f64,
    ) -> ResultRecord {
        ResultRecord {
            preset: "quick".into(),
            scenario: scenario.into(),
            seed,
            method: method.into(),
            params: None,
            failure: None,
            metrics: Some(json!({
                "ua": 10.0 + gap_out, "ra": 90.0, "ta": 88.0, "mia": {"confidence": 15.0},
                "avg_gap_output": gap_out, "avg_gap_feature": gap_feat,
                "da": {"forget": da_f, "test": 0.93, "k": 10},
                "lp": {"forget": 88.0}, "nmi": 0.7, "f1": 0.6,
            })),
            seconds: Some(2.0),
            rte_ratio: Some(0.1),
            tuning: None,
            role: role_of(method),
        }
    }

    /// A failed run of `method`, with its pipeline role.
    pub(crate) fn failed(scenario: &str, seed: u64, method: &str, msg: &str) -> ResultRecord {
        ResultRecord {
            preset: "quick".into(),
            scenario: scenario.into(),
            seed,
            method: method.into(),
            params: None,
            failure: Some(msg.into()),
            metrics: None,
            seconds: None,
            rte_ratio: None,
            tuning: None,
            role: role_of(method),
        }
    }

    #[test]
    fn best_gap_is_the_smallest_non_reference_and_ties_are_all_marked() {
        // retrain, original, ft, muda, rl.
        let references = [true, true, false, false, false];
        let vals = [Some(0.0), Some(0.5), Some(2.0), Some(1.0), Some(1.0)];
        assert_eq!(
            best_marks(&references, &vals, Some(0.0), Best::Smallest),
            vec![false, false, false, true, true]
        );
        // Closest to retrain: 0.93 is nearer 0.936 than 0.95, original (0.936) is ignored.
        let vals = [Some(0.936), Some(0.936), Some(0.95), Some(0.93), None];
        assert_eq!(
            best_marks(&references, &vals, Some(0.936), Best::ClosestToRetrain),
            vec![false, false, false, true, false]
        );
        assert_eq!(
            best_marks(&references, &vals, None, Best::ClosestToRetrain),
            vec![false; 5]
        );
        assert_eq!(
            best_marks(&references, &vals, Some(0.9), Best::None),
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
            failed("random:0.1", 0, "ga", "diverged, NaN"),
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
        // RTE: seconds with the ratio to retrain's, never marked.
        assert!(md.contains("| 2.0 (0.10×) |"), "{md}");
        assert!(
            md.contains("| ga | failed (seed 0: diverged, NaN) |"),
            "{md}"
        );
        let csv = crate::csv(&records);
        assert!(csv.contains(",\"diverged, NaN\"\n"), "{csv}");
    }

    #[test]
    fn a_repeated_seed_is_one_value_and_shows_no_spread() {
        // A study that listed ft twice wrote its seed-0 record twice.
        let records = vec![
            rec("random:0.1", 0, "retrain", 0.0, 0.0, 0.936),
            rec("random:0.1", 0, "ft", 1.5, 4.0, 0.90),
            rec("random:0.1", 0, "ft", 1.5, 4.0, 0.90),
        ];
        let sc = group(&records, &[]);
        assert_eq!(sc[0].method("ft").map(|m| m.ok.len()), Some(1));
        let md = render_md(&[Block::Table(table(&sc[0]))]);
        assert!(!md.contains('±'), "{md}");
        assert!(md.contains("| ft | **11.50** |"), "{md}");
    }

    #[test]
    fn partly_failed_methods_name_the_failed_seeds() {
        let records = vec![
            rec("random:0.1", 0, "retrain", 0.0, 0.0, 0.936),
            rec("random:0.1", 0, "ft", 1.5, 4.0, 0.90),
            failed("random:0.1", 1, "ft", "NaN"),
        ];
        let sc = group(&records, &[]);
        assert_eq!(sc[0].figure_seed, Some(0));
        let md = render_md(&[Block::Table(table(&sc[0]))]);
        assert!(md.contains(" failed on seed(s) 1 |\n"), "{md}");
    }

    #[test]
    fn backdoor_tables_add_asr_and_tolerate_its_absence() {
        let set_asr = |mut r: ResultRecord, asr: f64| {
            if let Some(m) = r.metrics.as_mut() {
                m["asr"] = json!(asr);
            }
            r
        };
        let records = vec![
            set_asr(rec("backdoor:0.1", 0, "retrain", 0.0, 0.0, 0.9), 10.0),
            set_asr(rec("backdoor:0.1", 0, "ft", 1.0, 1.0, 0.9), 12.5),
            rec("backdoor:0.1", 0, "muda", 1.0, 1.0, 0.9),
        ];
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

    #[test]
    fn references_are_read_from_the_role_not_the_name() {
        let mut records = vec![
            rec("random:0.1", 0, "retrain", 0.0, 0.0, 0.936),
            rec("random:0.1", 0, "gold", 0.5, 0.5, 0.936),
            rec("random:0.1", 0, "ft", 1.5, 4.0, 0.90),
        ];
        // An imported reference under another name is never marked best.
        records[1].role = Some(Role::Reference { model: None });
        let sc = group(&records, &[]);
        assert!(sc[0].methods[0].role.is_reference());
        let md = render_md(&[Block::Table(table(&sc[0]))]);
        assert!(md.contains("| gold | 10.50 | 90.00 |"), "{md}");
        assert!(md.contains("| ft | **11.50** |"), "{md}");
        // A record named retrain without a role is a plain method: its values compete, and
        // with no retrain role there is no target to be close to.
        records[0].role = None;
        let sc = group(&records, &[]);
        assert_eq!(sc[0].methods[0].role, Role::PLAIN_METHOD);
        let md = render_md(&[Block::Table(table(&sc[0]))]);
        assert!(
            md.contains("| retrain | 10.00 | 90.00 | 88.00 | 15.00 | **0.00** |"),
            "{md}"
        );
        // The target is the row whose role says retrain, whatever its name: it leads the
        // table and is never marked.
        records[0].role = Some(Role::PLAIN_METHOD);
        records[1].role = Some(Role::RETRAIN);
        let sc = group(&records, &[]);
        assert_eq!(sc[0].methods[0].name, "gold");
        assert_eq!(
            sc[0]
                .reference(crate::ReferenceModel::Retrain)
                .map(|m| m.name.as_str()),
            Some("gold")
        );
        assert!(sc[0].reference(crate::ReferenceModel::Original).is_none());
    }
}
