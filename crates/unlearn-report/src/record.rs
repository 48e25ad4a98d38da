//! The run record (one line of `results.jsonl`) and the values the report reads from it.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ReportError;

/// One line of results.jsonl.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    pub preset: String,
    pub scenario: String,
    pub seed: u64,
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The `unlearn metrics --json` object without `curves` and `spectrum`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rte_ratio: Option<f64>,
    /// How the run's hyper-parameters were chosen, when `reproduce --tune` searched them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuning: Option<Tuning>,
    /// What the row is in the study: a reference model, a method, or an ablation of one. The
    /// report reads every role from here and never from the method's name. Records written
    /// before roles were recorded have none; the study's `report` command fills it in from
    /// the method registry, and a record without one is read as a plain method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// What a record's row is in the study.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Role {
    /// A reference model: the original, the retrain model, or an imported oracle.
    Reference,
    /// An unlearning method.
    Method {
        /// The method the study evaluates: the findings compare it with the best baseline,
        /// and its ablations with it.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        subject: bool,
        /// What the method does that a finding tests.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        traits: Vec<MethodTrait>,
    },
    /// A method with one component switched off.
    Ablation {
        /// The method ablated (its name in the study).
        of: String,
        /// The override that switches the component off (`alternate=false`).
        switch: String,
        /// What it removes, in words ("alternation").
        without: String,
    },
}

/// A property of a method that a finding of the report tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodTrait {
    /// It trains the forget samples towards labels other than their own (random labelling).
    WrongLabels,
    /// It retrains only the classification head, the feature extractor frozen.
    HeadOnly,
}

impl Role {
    /// A plain method: not the subject, no traits (the reading of a record without a role).
    pub const PLAIN_METHOD: Role = Role::Method {
        subject: false,
        traits: Vec::new(),
    };
}

/// A tuned run: the search's budget and objective, the seed it was tuned on, and whether
/// this record's seed is that one (tuned-on) or another (held-out).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    /// Trials of the search (every method the same).
    pub trials: usize,
    /// The objective minimised.
    pub objective: String,
    /// The method whose search chose the values (MUDA's for its ablations).
    pub tuned_method: String,
    /// The seed the search ran on.
    pub tuned_on_seed: u64,
    /// This record's seed is not the tuning seed.
    pub held_out: bool,
}

impl ResultRecord {
    /// The metrics value at a JSON pointer into [`Self::metrics`] (`"/da/forget"`).
    pub fn metric(&self, pointer: &str) -> Option<&Value> {
        self.metrics.as_ref()?.pointer(pointer)
    }
}

/// Where a column's number comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// A JSON pointer into the metrics object (`"/da/forget"`).
    Metric(&'static str),
    /// The unlearning run's wall time.
    Seconds,
    /// The run time over the retrain time.
    RteRatio,
}

impl Source {
    /// The record's number, when it has one.
    pub(crate) fn of(self, r: &ResultRecord) -> Option<f64> {
        match self {
            Self::Metric(ptr) => r.metric(ptr).and_then(Value::as_f64),
            Self::Seconds => r.seconds,
            Self::RteRatio => r.rte_ratio,
        }
    }
}

/// Reads `results.jsonl`: one record a line, blank lines skipped.
pub fn read_records(path: &Path) -> Result<Vec<ResultRecord>, ReportError> {
    let text = std::fs::read_to_string(path).map_err(ReportError::io("read", path))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|source| ReportError::Json {
                path: path.to_path_buf(),
                line: Some(i + 1),
                source,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn quick() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/results/quick")
    }

    #[test]
    fn committed_records_parse_and_round_trip_as_json() -> TestResult {
        let path = quick().join("results.jsonl");
        let records = read_records(&path)?;
        assert_eq!(records.len(), 32);
        let text = std::fs::read_to_string(&path)?;
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), records.len());
        for (r, line) in records.iter().zip(lines) {
            let again: Value = serde_json::from_str(&serde_json::to_string(r)?)?;
            let original: Value = serde_json::from_str(line)?;
            assert_eq!(again, original, "{}/{}/{}", r.scenario, r.seed, r.method);
        }
        Ok(())
    }

    #[test]
    fn bad_lines_name_the_file_and_line_and_blank_lines_are_skipped() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("results.jsonl");
        let ok = r#"{"preset":"quick","scenario":"random:0.1","seed":0,"method":"ga","failure":"diverged"}"#;
        std::fs::write(&path, format!("{ok}\n\n{ok}\n"))?;
        let records = read_records(&path)?;
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].failure.as_deref(), Some("diverged"));
        assert_eq!(records[0].metrics, None);
        std::fs::write(&path, format!("{ok}\n\n{{\"preset\": 1}}\n"))?;
        let err = read_records(&path).err().ok_or("a bad line was accepted")?;
        assert!(
            matches!(err, ReportError::Json { line: Some(3), .. }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("{} line 3 is not JSON", path.display())
        );
        let missing = dir.path().join("none.jsonl");
        let err = read_records(&missing)
            .err()
            .ok_or("a missing file was read")?;
        assert!(err
            .chain()
            .starts_with(&format!("cannot read {}: ", missing.display())));
        Ok(())
    }

    #[test]
    fn sources_read_metrics_and_record_fields() {
        let r = ResultRecord {
            preset: "quick".into(),
            scenario: "random:0.1".into(),
            seed: 0,
            method: "ft".into(),
            params: None,
            failure: None,
            metrics: Some(serde_json::json!({"da": {"forget": 0.9}, "ua": "n/a"})),
            seconds: Some(2.5),
            rte_ratio: None,
            tuning: None,
            role: None,
        };
        assert_eq!(Source::Metric("/da/forget").of(&r), Some(0.9));
        assert_eq!(Source::Metric("/ua").of(&r), None);
        assert_eq!(Source::Metric("/ra").of(&r), None);
        assert_eq!(Source::Seconds.of(&r), Some(2.5));
        assert_eq!(Source::RteRatio.of(&r), None);
    }
}
