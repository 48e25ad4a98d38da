//! `results.csv`: one row per run.

use std::fmt::Write as _;

use crate::record::{ResultRecord, Source};

/// Columns of results.csv after `preset,scenario,seed,method` (then `failure`); the last
/// four (from `KLoM_P95`) only in oracle-ensemble studies (`--oracles N`), after the first
/// [`PLAIN`] columns that every study has.
const CSV: [(&str, Source); 20] = [
    ("UA", Source::Metric("/ua")),
    ("RA", Source::Metric("/ra")),
    ("TA", Source::Metric("/ta")),
    ("MIA", Source::Metric("/mia/confidence")),
    ("Gap(out)", Source::Metric("/avg_gap_output")),
    ("DA_f", Source::Metric("/da/forget")),
    ("DA_t", Source::Metric("/da/test")),
    ("LP_f", Source::Metric("/lp/forget")),
    ("LP_t", Source::Metric("/lp/test")),
    ("NMI", Source::Metric("/nmi")),
    ("F1", Source::Metric("/f1")),
    ("Gap(feat)", Source::Metric("/avg_gap_feature")),
    ("ASR", Source::Metric("/asr")),
    ("TA_forgotten", Source::Metric("/ta_forgotten")),
    ("RTE s", Source::Seconds),
    ("RTE ratio", Source::RteRatio),
    ("KLoM_P95", Source::Metric("/oracle_tests/margin/klom_p95")),
    ("LiRA_AUC", Source::Metric("/oracle_tests/margin/auc")),
    ("Energy_AUC", Source::Metric("/oracle_tests/energy/auc")),
    ("Oracle_n", Source::Metric("/reference/n")),
];

/// The columns of a study without an oracle ensemble.
const PLAIN: usize = 16;

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `results.csv`: one row per run; a value a run lacks is an empty field.
pub fn csv(records: &[ResultRecord]) -> String {
    let ensemble = records.iter().any(|r| {
        r.metric("/reference/n")
            .and_then(serde_json::Value::as_u64)
            .is_some_and(|n| n >= 2)
    });
    csv_with(records, if ensemble { &CSV } else { &CSV[..PLAIN] })
}

/// The csv of `records` with the given columns.
fn csv_with(records: &[ResultRecord], columns: &[(&str, Source)]) -> String {
    let mut out = String::from("preset,scenario,seed,method");
    for (name, _) in columns {
        out.push(',');
        out.push_str(name);
    }
    out.push_str(",failure\n");
    for r in records {
        let _ = write!(
            out,
            "{},{},{},{}",
            csv_field(&r.preset),
            csv_field(&r.scenario),
            r.seed,
            csv_field(&r.method)
        );
        for (_, source) in columns {
            out.push(',');
            if let Some(v) = source.of(r) {
                let _ = write!(out, "{v}");
            }
        }
        let _ = writeln!(out, ",{}", csv_field(r.failure.as_deref().unwrap_or("")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn committed(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/results")
            .join(name)
    }

    /// `docs/results/quick/results.csv` was written by `cargo xtask reproduce` from the
    /// records in memory; read back from results.jsonl, four RTE ratios (computed there as
    /// seconds / retrain seconds) come out one ulp off, because serde_json's default float
    /// parser (without its `float_roundtrip` feature) is not correctly rounded for every
    /// input. Everything else is byte for byte the committed file.
    #[test]
    fn csv_of_the_committed_quick_records_is_the_committed_csv_up_to_parsing() -> TestResult {
        let dir = committed("quick");
        let ours = csv(&crate::read_records(&dir.join("results.jsonl"))?);
        let theirs = std::fs::read_to_string(dir.join("results.csv"))?;
        assert_eq!(ours.lines().count(), theirs.lines().count());
        let header: Vec<&str> = theirs.lines().next().unwrap_or("").split(',').collect();
        let mut off = 0;
        for (a, b) in ours.lines().zip(theirs.lines()) {
            let (fa, fb): (Vec<&str>, Vec<&str>) = (a.split(',').collect(), b.split(',').collect());
            assert_eq!(fa.len(), fb.len(), "{a}\n{b}");
            for ((x, y), col) in fa.iter().zip(&fb).zip(&header) {
                if x != y {
                    let (x, y) = (x.parse::<f64>()?, y.parse::<f64>()?);
                    assert_eq!(*col, "RTE ratio", "{a}\n{b}");
                    assert_eq!(x.to_bits().abs_diff(y.to_bits()), 1, "{a}\n{b}");
                    off += 1;
                }
            }
        }
        assert_eq!(off, 4);
        Ok(())
    }

    /// `docs/results/quick-3seeds` was itself written by `cargo xtask report` from its
    /// results.jsonl, so its csv is reproduced byte for byte.
    #[test]
    fn csv_of_a_report_rewritten_from_jsonl_is_byte_identical() -> TestResult {
        let dir = committed("quick-3seeds");
        let records = crate::read_records(&dir.join("results.jsonl"))?;
        assert_eq!(
            csv(&records),
            std::fs::read_to_string(dir.join("results.csv"))?
        );
        Ok(())
    }

    /// An ordinary study (one reference) has no oracle columns; an ensemble's rows end in
    /// the oracle values.
    #[test]
    fn oracle_columns_follow_the_rte_ratio_in_ensemble_studies_only() -> TestResult {
        let records = crate::read_records(&committed("quick").join("results.jsonl"))?;
        let text = csv(&records);
        assert!(
            text.lines()
                .next()
                .is_some_and(|h| h.ends_with(",RTE ratio,failure")),
            "{text}"
        );
        let mut r = records[0].clone();
        if let Some(m) = r.metrics.as_mut() {
            m["reference"]["n"] = serde_json::json!(8);
            m["oracle_tests"] = serde_json::json!({
                "margin": {"klom_p95": 2.5, "auc": 0.75}, "energy": {"auc": 0.5}});
        }
        let text = csv(&[r]);
        assert!(
            text.lines().next().is_some_and(
                |h| h.ends_with(",RTE ratio,KLoM_P95,LiRA_AUC,Energy_AUC,Oracle_n,failure")
            ),
            "{text}"
        );
        assert!(text.ends_with(",2.5,0.75,0.5,8,\n"), "{text}");
        Ok(())
    }

    #[test]
    fn fields_with_separators_are_quoted() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"x\""), "\"say \"\"x\"\"\"");
    }
}
