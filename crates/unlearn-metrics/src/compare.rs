//! Gaps to the oracle (retrain) distribution, and a text table.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::report::MetricsReport;

/// How a metric is expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Percent,
    Fraction,
}

type Extract = fn(&MetricsReport) -> Option<f64>;

/// (key, extractor, unit), in table order.
const METRICS: &[(&str, Extract, Unit)] = &[
    ("fa", |r| Some(r.fa), Unit::Percent),
    ("ua", |r| Some(r.ua), Unit::Percent),
    ("ra", |r| Some(r.ra), Unit::Percent),
    ("ta", |r| Some(r.ta), Unit::Percent),
    ("va", |r| r.va, Unit::Percent),
    ("ta_forgotten", |r| r.ta_forgotten, Unit::Percent),
    ("asr", |r| r.asr, Unit::Percent),
    ("mia", |r| Some(r.mia.confidence), Unit::Percent),
    (
        "mia_correctness",
        |r| Some(r.mia.correctness),
        Unit::Percent,
    ),
    ("mia_entropy", |r| Some(r.mia.entropy), Unit::Percent),
    ("mia_m_entropy", |r| Some(r.mia.m_entropy), Unit::Percent),
    ("mia_prob", |r| Some(r.mia.prob), Unit::Percent),
    ("da_forget", |r| Some(r.da.forget), Unit::Fraction),
    ("da_test", |r| Some(r.da.test), Unit::Fraction),
    ("da_subspace", |r| Some(r.da.subspace), Unit::Fraction),
    ("lp_forget", |r| Some(r.lp.forget), Unit::Percent),
    ("lp_test", |r| Some(r.lp.test), Unit::Percent),
    ("nmi", |r| Some(r.nmi), Unit::Fraction),
    ("f1", |r| Some(r.f1), Unit::Fraction),
];

/// Metrics averaged into `avg_gap_output` (the SalUn column).
pub const OUTPUT_GAP_METRICS: [&str; 4] = ["ua", "ra", "ta", "mia"];
/// Metrics averaged into `avg_gap_feature` (fractions converted to percent points).
pub const FEATURE_GAP_METRICS: [&str; 4] = ["da_forget", "lp_forget", "nmi", "f1"];

/// Mean and sample standard deviation of a metric over the references.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (`n − 1` denominator; 0 for one reference).
    pub std: f64,
}

/// The oracle distribution: per-metric statistics and the number of references.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceSummary {
    /// Number of reference reports.
    pub n: usize,
    /// Statistics per metric key.
    #[serde(flatten)]
    pub metrics: BTreeMap<String, Stat>,
}

/// Gaps of one report to the oracle distribution.
///
/// `gap[m] = |value − mean|` in the metric's own unit (percent for accuracies,
/// MIA and LP; fraction for `da_*`, `nmi`, `f1`); `z[m] = gap / std` when `std > 0`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Absolute gap per metric.
    pub gap: BTreeMap<String, f64>,
    /// Gap in units of the oracle's standard deviation (only where `std > 0`).
    pub z: BTreeMap<String, f64>,
    /// Mean gap over UA, RA, TA, MIA (confidence), percent points; `None` without references.
    pub avg_gap_output: Option<f64>,
    /// Mean gap over DA_f, LP_f, NMI, F1 in percent points; `None` without references.
    pub avg_gap_feature: Option<f64>,
    /// The oracle distribution.
    pub reference: ReferenceSummary,
}

/// A report together with its comparison: one JSON object holding the report's
/// keys plus `gap`, `z`, `avg_gap_output`, `avg_gap_feature` and `reference`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparedReport {
    /// The report.
    #[serde(flatten)]
    pub report: MetricsReport,
    /// Its gaps to the oracle.
    #[serde(flatten)]
    pub comparison: Comparison,
}

fn unit_of(key: &str) -> Option<Unit> {
    METRICS.iter().find(|(k, _, _)| *k == key).map(|m| m.2)
}

fn to_pp(key: &str, v: f64) -> f64 {
    match unit_of(key) {
        Some(Unit::Fraction) => 100.0 * v,
        _ => v,
    }
}

/// Compares `report` with the oracle `references` (e.g. retrain models of several seeds).
///
/// A metric enters when the report has it and at least one reference does
/// (statistics over the references that have it).
pub fn compare(report: &MetricsReport, references: &[MetricsReport]) -> Comparison {
    let mut gap = BTreeMap::new();
    let mut z = BTreeMap::new();
    let mut stats = BTreeMap::new();
    for (key, get, _) in METRICS {
        let vals: Vec<f64> = references.iter().filter_map(get).collect();
        if vals.is_empty() {
            continue;
        }
        let n = vals.len() as f64;
        let mean = vals.iter().sum::<f64>() / n;
        let std = if vals.len() > 1 {
            (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        stats.insert(key.to_string(), Stat { mean, std });
        if let Some(v) = get(report) {
            let g = (v - mean).abs();
            gap.insert(key.to_string(), g);
            if std > 0.0 {
                z.insert(key.to_string(), g / std);
            }
        }
    }
    let avg = |keys: &[&str]| -> Option<f64> {
        let mut s = 0.0;
        for k in keys {
            s += to_pp(k, *gap.get(*k)?);
        }
        Some(s / keys.len() as f64)
    };
    Comparison {
        avg_gap_output: avg(&OUTPUT_GAP_METRICS),
        avg_gap_feature: avg(&FEATURE_GAP_METRICS),
        gap,
        z,
        reference: ReferenceSummary {
            n: references.len(),
            metrics: stats,
        },
    }
}

fn fmt_val(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Percent => format!("{v:.2}"),
        Unit::Fraction => format!("{v:.4}"),
    }
}

/// A plain-text table: metric, value, retrain mean ± std, gap (and z when known).
pub fn render_table(report: &MetricsReport, comparison: Option<&Comparison>) -> String {
    let mut rows: Vec<[String; 4]> = vec![[
        "metric".into(),
        "value".into(),
        "retrain mean ± std".into(),
        "gap".into(),
    ]];
    for (key, get, unit) in METRICS {
        let Some(v) = get(report) else { continue };
        let (reference, gap) = match comparison {
            Some(c) => {
                let r = c
                    .reference
                    .metrics
                    .get(*key)
                    .map(|s| format!("{} ± {}", fmt_val(*unit, s.mean), fmt_val(*unit, s.std)))
                    .unwrap_or_else(|| "-".into());
                let g = c
                    .gap
                    .get(*key)
                    .map(|g| match c.z.get(*key) {
                        Some(z) => format!("{} (z {z:.1})", fmt_val(*unit, *g)),
                        None => fmt_val(*unit, *g),
                    })
                    .unwrap_or_else(|| "-".into());
                (r, g)
            }
            None => ("-".into(), "-".into()),
        };
        rows.push([key.to_string(), fmt_val(*unit, v), reference, gap]);
    }
    rows.push([
        "da_k".into(),
        report.da.k.to_string(),
        "-".into(),
        "-".into(),
    ]);
    let mut widths = [0usize; 4];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        let mut line = String::new();
        for (j, (c, w)) in r.iter().zip(widths).enumerate() {
            let pad = w - c.chars().count();
            if j == 0 {
                let _ = write!(line, "{c}{}", " ".repeat(pad));
            } else {
                let _ = write!(line, "  {}{c}", " ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if i == 0 {
            let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
    }
    if let Some(c) = comparison {
        let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
        let _ = writeln!(
            out,
            "avg gap (output: UA, RA, TA, MIA) = {}   avg gap (feature: DA_f, LP_f, NMI, F1; pp) = {}   references: {}",
            f(c.avg_gap_output),
            f(c.avg_gap_feature),
            c.reference.n
        );
    }
    out
}
