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
    /// A reference model: the retrain model, the original, or another (an oracle).
    Reference {
        /// Which reference it is; `None` for another, and in records written before the
        /// references were told apart.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<ReferenceModel>,
    },
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

/// The two references a study measures with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceModel {
    /// The model retrained without the forget set: the target the gaps, the "closest to
    /// retrain" marks and the findings measure against.
    Retrain,
    /// The model before unlearning.
    Original,
}

impl ReferenceModel {
    /// The word for it in the report's text ("retrain", "original").
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retrain => "retrain",
            Self::Original => "original",
        }
    }
}

/// The role of a record without one.
static PLAIN_METHOD: Role = Role::PLAIN_METHOD;

impl Role {
    /// A plain method: not the subject, no traits (the reading of a record without a role).
    pub const PLAIN_METHOD: Role = Role::Method {
        subject: false,
        traits: Vec::new(),
    };

    /// The retrain model's role.
    pub const RETRAIN: Role = Role::Reference {
        model: Some(ReferenceModel::Retrain),
    };

    /// The original's role.
    pub const ORIGINAL: Role = Role::Reference {
        model: Some(ReferenceModel::Original),
    };

    /// A reference model (the original, the retrain model, an oracle).
    pub fn is_reference(&self) -> bool {
        matches!(self, Self::Reference { .. })
    }

    /// The reference `which`.
    pub fn is(&self, which: ReferenceModel) -> bool {
        matches!(self, Self::Reference { model: Some(m) } if *m == which)
    }

    /// An ablation of a method.
    pub fn is_ablation(&self) -> bool {
        matches!(self, Self::Ablation { .. })
    }

    /// The method the study evaluates.
    pub fn is_subject(&self) -> bool {
        matches!(self, Self::Method { subject: true, .. })
    }

    /// A method with the trait `t` (references and ablations have none).
    pub fn has(&self, t: MethodTrait) -> bool {
        matches!(self, Self::Method { traits, .. } if traits.contains(&t))
    }
}

/// A tuned run: the search's budget and objective, the seed it was tuned on, and whether
/// this record's seed is that one (tuned-on) or another (held-out).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    /// Trials of the search (every method the same).
    pub trials: usize,
    /// The objective minimised.
    pub objective: String,
    /// The method whose search chose the values (for an ablation, the method ablated).
    pub tuned_method: String,
    /// The seed the search ran on.
    pub tuned_on_seed: u64,
    /// This record's seed is not the tuning seed.
    pub held_out: bool,
}

impl ResultRecord {
    /// The record's role; [`Role::PLAIN_METHOD`] when it has none.
    pub fn role(&self) -> &Role {
        self.role.as_ref().unwrap_or(&PLAIN_METHOD)
    }

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

/// The roles the pipeline writes for the methods of this project's studies, for tests that
/// build records by name or read the committed records (written before roles were).
#[cfg(test)]
pub(crate) mod pipeline_roles {
    use super::{MethodTrait, ResultRecord, Role};

    /// The role the pipeline gives `name`: `None` for a plain method.
    pub(crate) fn role_of(name: &str) -> Option<Role> {
        let method = |subject: bool, traits: &[MethodTrait]| Role::Method {
            subject,
            traits: traits.to_vec(),
        };
        let ablation = |switch: &str, without: &str| Role::Ablation {
            of: "muda".into(),
            switch: switch.into(),
            without: without.into(),
        };
        Some(match name {
            "retrain" => Role::RETRAIN,
            "original" => Role::ORIGINAL,
            "muda" => method(true, &[]),
            "rl" | "salun" => method(false, &[MethodTrait::WrongLabels]),
            "head-only" => method(false, &[MethodTrait::HeadOnly]),
            "muda-no-da" => ablation("da=false", "the DA term"),
            "muda-no-sd" => ablation("sd=false", "self-distillation"),
            "muda-no-alt" => ablation("alternate=false", "alternation"),
            _ => return None,
        })
    }

    /// The records with the roles the pipeline would have written.
    pub(crate) fn with_roles(mut records: Vec<ResultRecord>) -> Vec<ResultRecord> {
        for r in &mut records {
            r.role = role_of(&r.method);
        }
        records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_from_the_record_not_the_name() -> TestResult {
        let line = |method: &str, role: &str| {
            serde_json::from_str::<ResultRecord>(&format!(
                r#"{{"preset":"quick","scenario":"random:0.1","seed":0,"method":"{method}"{role}}}"#
            ))
        };
        // Named like a reference, without a role: a plain method.
        let plain = line("retrain", "")?;
        assert_eq!(plain.role(), &Role::PLAIN_METHOD);
        assert!(!plain.role().is_reference());
        let reference = line("retrain", r#","role":{"kind":"reference"}"#)?;
        assert!(reference.role().is_reference() && !reference.role().is_ablation());
        // A reference of no named kind (a record from before they were told apart) is
        // neither the retrain model nor the original, whatever its name.
        assert!(!reference.role().is(ReferenceModel::Retrain));
        let gold = line("gold", r#","role":{"kind":"reference","model":"retrain"}"#)?;
        assert!(gold.role().is(ReferenceModel::Retrain) && gold.role().is_reference());
        assert!(!gold.role().is(ReferenceModel::Original));
        assert_eq!(
            serde_json::to_string(&Role::ORIGINAL)?,
            r#"{"kind":"reference","model":"original"}"#
        );
        // Named like an ablation, a plain method by its role.
        let fast = line("muda-fast", r#","role":{"kind":"method"}"#)?;
        assert_eq!(fast.role(), &Role::PLAIN_METHOD);
        assert!(!fast.role().is_ablation() && !fast.role().is_subject());
        let mine = line(
            "mine",
            r#","role":{"kind":"method","subject":true,"traits":["head_only"]}"#,
        )?;
        assert!(mine.role().is_subject() && mine.role().has(MethodTrait::HeadOnly));
        assert!(!mine.role().has(MethodTrait::WrongLabels));
        let abl = line(
            "x",
            r#","role":{"kind":"ablation","of":"mine","switch":"a=false","without":"a"}"#,
        )?;
        assert!(abl.role().is_ablation() && !abl.role().has(MethodTrait::HeadOnly));
        assert!(!Role::RETRAIN.is_subject());
        Ok(())
    }

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
