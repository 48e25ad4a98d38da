//! The reproduction report: `results.csv`, `report.md`, `report.html` (self-contained, the
//! figures inlined) and `figures/*.svg`, from the run records of `results.jsonl`.
//!
//! Per scenario: a table (a row per method, Retrain first; mean ± std over seeds; the best
//! value per column in bold), four figures and a "Findings" section whose every claim is
//! computed from the numbers with the thresholds stated next to it.
//!
//! A study against an oracle ensemble (`reference.n` ≥ 2 in the metrics) adds an oracle row
//! to the table with "†" on the means within its spread ([`WITHIN_SPREAD_Z`]), a z-score
//! table, a table of the per-example tests (`oracle_tests`: KLoM and LiRA), their ROC
//! figure and findings on them.
//!
//! Records are the lines of `results.jsonl` ([`ResultRecord`]): `preset`, `scenario`,
//! `seed`, `method`, `metrics` (the `unlearn metrics --json` object without curves and
//! spectrum), `seconds`, `rte_ratio`, optional `params`, `failure`, `tuning` (how
//! `reproduce --tune` chose the values) and `role` ([`Role`]).
//!
//! The `role` says what the row is in the study, and the report reads it from there, never
//! from the method's name (a record without one is a plain method, [`Role::PLAIN_METHOD`];
//! a method's rows take the role of its first record):
//! - `{"kind": "reference"}`: a reference model (the original, the retrain model, an
//!   oracle). It is never marked best and never a baseline.
//! - `{"kind": "method", "subject": true, "traits": [...]}`: a method. The subject (at most
//!   one; the first if several) is the method the study evaluates: the findings compare it
//!   with the best baseline (the methods that are not references, ablations, head-only or
//!   the subject), the tuning section does so on the held-out seeds, and the spectrum
//!   figure shows it. Its [`MethodTrait`]s are what findings test: `wrong_labels` (finding
//!   2) and `head_only` (finding 4, one per such method). `subject` and `traits` may be
//!   left out.
//! - `{"kind": "ablation", "of": "muda", "switch": "alternate=false", "without":
//!   "alternation"}`: the method `of` with one component switched off; finding 5 compares
//!   it with `of` and names what it is `without`.
//!
//! The role says that a row is a reference, not which one: the retrain model (the target of
//! the gaps and of the "closest to retrain" marks) and the original are the references
//! named `retrain` and `original`, as the pipeline names them.
//!
//! Per-run figure data comes from
//! [`plot_path`], `<out>/<slug(scenario)>/seed<k>/metrics/<method>.plot.json` (`unlearn
//! metrics --plot-data`); a missing file skips the figure with a note.
//!
//! ```
//! use unlearn_report::{csv, ResultRecord};
//!
//! let rec = ResultRecord {
//!     preset: "quick".into(),
//!     scenario: "random:0.1".into(),
//!     seed: 0,
//!     method: "ft".into(),
//!     params: None,
//!     failure: None,
//!     metrics: Some(serde_json::json!({"ua": 6.5, "da": {"forget": 0.93, "test": 0.94}})),
//!     seconds: Some(2.5),
//!     rte_ratio: Some(0.125),
//!     tuning: None,
//!     role: None,
//! };
//! let table = csv(&[rec]);
//! let mut lines = table.lines();
//! assert!(lines.next().is_some_and(|h| h.starts_with("preset,scenario,seed,method,UA,")));
//! assert_eq!(
//!     lines.next(),
//!     Some("quick,random:0.1,0,ft,6.5,,,,,0.93,0.94,,,,,,,,2.5,0.125,")
//! );
//! ```
//!
//! To write the whole report: [`write_all`] with a [`ReportContext`], or [`rewrite`] for a
//! finished run's folder.

mod csv;
mod document;
mod error;
mod figures;
mod findings;
mod html;
mod io;
mod markdown;
mod oracle;
mod oracle_findings;
mod record;
mod roc;
mod scenario_figures;
mod stats;
mod table;
mod tuning;

pub use crate::csv::csv;
pub use document::{rewrite, rewrite_with_roles, write_all, ReportContext};
pub use error::ReportError;
pub use io::write_atomic;
pub use oracle::WITHIN_SPREAD_Z;
pub use record::{read_records, MethodTrait, ReferenceModel, ResultRecord, Role, Tuning};
pub use scenario_figures::plot_path;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_matches_the_run_folders() {
        assert_eq!(slug("random:0.1"), "random-0.1");
        assert_eq!(slug("class:3"), "class-3");
        assert_eq!(slug("backdoor:0.1,target=0"), "backdoor-0.1-target-0");
    }
}
