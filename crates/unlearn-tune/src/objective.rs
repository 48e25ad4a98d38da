//! What `unlearn tune` minimises: the average gaps to the reference (retrain) models.

use serde::{Deserialize, Serialize};
use unlearn_metrics::compare::Comparison;

use crate::error::{Result, TuneError};

/// The objective of a search (lower is better).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Objective {
    /// `avg_gap_output`: mean |gap| of UA, RA, TA and MIA to the references.
    AvgGapOutput,
    /// `avg_gap_feature`: mean |gap| of the feature-space metrics to the references.
    AvgGapFeature,
    /// `both` (the default): the mean of the two average gaps.
    Both,
    /// `a*avg_gap_output + b*avg_gap_feature` (weights ≥ 0, not both 0).
    Weighted {
        /// Weight of the output-space gap.
        output: f64,
        /// Weight of the feature-space gap.
        feature: f64,
    },
}

impl Objective {
    /// The weights of the two average gaps.
    pub fn weights(self) -> (f64, f64) {
        match self {
            Objective::AvgGapOutput => (1.0, 0.0),
            Objective::AvgGapFeature => (0.0, 1.0),
            Objective::Both => (0.5, 0.5),
            Objective::Weighted { output, feature } => (output, feature),
        }
    }

    /// The objective's value for a comparison with the references; `None` when a gap it
    /// weighs could not be computed.
    pub fn score(self, comparison: &Comparison) -> Option<f64> {
        let (wo, wf) = self.weights();
        let term = |w: f64, gap: Option<f64>| -> Option<f64> {
            if w == 0.0 {
                Some(0.0)
            } else {
                gap.filter(|g| g.is_finite()).map(|g| w * g)
            }
        };
        Some(term(wo, comparison.avg_gap_output)? + term(wf, comparison.avg_gap_feature)?)
    }
}

impl std::fmt::Display for Objective {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Objective::AvgGapOutput => f.write_str("avg_gap_output"),
            Objective::AvgGapFeature => f.write_str("avg_gap_feature"),
            Objective::Both => f.write_str("both"),
            Objective::Weighted { output, feature } => {
                write!(f, "{output}*avg_gap_output+{feature}*avg_gap_feature")
            }
        }
    }
}

const EXPECTED: &str = "avg_gap_output, avg_gap_feature, both, or a weighted sum such as \
                        0.7*avg_gap_output+0.3*avg_gap_feature";

impl std::str::FromStr for Objective {
    type Err = TuneError;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            TuneError::Plan(format!(
                "objective '{s}' is not valid ({why}): expected {EXPECTED}"
            ))
        };
        let text: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        match text.as_str() {
            "avg_gap_output" => return Ok(Objective::AvgGapOutput),
            "avg_gap_feature" => return Ok(Objective::AvgGapFeature),
            "both" => return Ok(Objective::Both),
            "" => return Err(bad("empty")),
            _ => {}
        }
        let (mut output, mut feature) = (None, None);
        for term in text.split('+') {
            let (weight, name) = match term.split_once('*') {
                Some((w, n)) => (
                    w.parse::<f64>()
                        .map_err(|_| bad(&format!("'{w}' is not a number")))?,
                    n,
                ),
                None => (1.0, term),
            };
            if !(weight.is_finite() && weight >= 0.0) {
                return Err(bad("weights must be finite and ≥ 0"));
            }
            let slot = match name {
                "avg_gap_output" | "output" => &mut output,
                "avg_gap_feature" | "feature" => &mut feature,
                other => return Err(bad(&format!("unknown term '{other}'"))),
            };
            if slot.replace(weight).is_some() {
                return Err(bad(&format!("'{name}' appears twice")));
            }
        }
        let (output, feature) = (output.unwrap_or(0.0), feature.unwrap_or(0.0));
        if output == 0.0 && feature == 0.0 {
            return Err(bad("the weights are all 0"));
        }
        Ok(Objective::Weighted { output, feature })
    }
}

impl Serialize for Objective {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Objective {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objectives_parse_print_and_score() -> Result<()> {
        for text in ["avg_gap_output", "avg_gap_feature", "both"] {
            assert_eq!(text.parse::<Objective>()?.to_string(), text);
        }
        let w: Objective = "0.7*avg_gap_output + 0.3*feature".parse()?;
        assert_eq!(
            w,
            Objective::Weighted {
                output: 0.7,
                feature: 0.3
            }
        );
        assert_eq!(w.to_string().parse::<Objective>()?, w);
        let c = Comparison {
            gap: Default::default(),
            z: Default::default(),
            avg_gap_output: Some(2.0),
            avg_gap_feature: Some(4.0),
            reference: unlearn_metrics::compare::ReferenceSummary {
                n: 1,
                metrics: Default::default(),
            },
        };
        assert_eq!(Objective::Both.score(&c), Some(3.0));
        assert_eq!(Objective::AvgGapOutput.score(&c), Some(2.0));
        let s = w.score(&c).unwrap_or(f64::NAN);
        assert!((s - 2.6).abs() < 1e-12, "{s}");
        let no_feature = Comparison {
            avg_gap_feature: None,
            ..c.clone()
        };
        assert_eq!(Objective::Both.score(&no_feature), None);
        assert_eq!(Objective::AvgGapOutput.score(&no_feature), Some(2.0));
        for bad in ["", "gap", "2*ua", "-1*output", "output+output", "0*output"] {
            let err = bad.parse::<Objective>().unwrap_err().to_string();
            assert!(err.contains("expected avg_gap_output"), "{bad}: {err}");
        }
        Ok(())
    }
}
