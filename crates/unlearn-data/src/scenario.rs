//! Forget-set scenarios: which training samples are to be forgotten, their canonical string
//! form (parsed, displayed and serialised), and the backdoor's trigger.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// Default forget fraction of `random`.
pub const DEFAULT_RANDOM_FRACTION: f64 = 0.1;
/// Default poisoned fraction of `backdoor`.
pub const DEFAULT_BACKDOOR_FRACTION: f64 = 0.05;

/// Which training samples are to be forgotten.
///
/// Parsed from and displayed as a canonical string: `random:0.1`, `class:3`, `class:1,7`,
/// `backdoor:0.05`, `backdoor:0.05,target=2,size=4,value=255` (options at their defaults are
/// omitted), `imported:<12 hex>,count=<n>`. `random` and `backdoor` alone take the default
/// fractions 0.1 and 0.05. Serialised (serde) as that string.
#[derive(Clone, Debug, PartialEq)]
pub enum Scenario {
    /// A uniformly random fraction of the training set.
    Random {
        /// Fraction in (0, 1).
        fraction: f64,
    },
    /// Every training sample of the listed classes.
    Class {
        /// Class ids, distinct, not all classes.
        classes: Vec<u32>,
    },
    /// Poisoned samples (trigger + relabelling to the target class) form the forget set.
    Backdoor(BackdoorSpec),
    /// A forget set given as an index list (e.g. a `.npy` file), see
    /// [`SplitManifest::from_forget_indices`](crate::SplitManifest::from_forget_indices).
    Imported {
        /// First 12 hex digits of the SHA-256 of the sorted forget list (as `u32` LE bytes);
        /// the full hash is the manifest's `sha256.forget`.
        sha256: String,
        /// Number of forget indices.
        count: usize,
    },
}

/// The backdoor attack whose poisoned samples are to be forgotten.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackdoorSpec {
    /// Fraction of the training set that is poisoned, in (0, 1).
    pub fraction: f64,
    /// Class the poisoned samples are relabelled to.
    pub target: u32,
    /// Side of the square trigger patch, in pixels (bottom-right corner, all channels).
    pub trigger_size: usize,
    /// Pixel value of the trigger.
    pub trigger_value: u8,
}

impl Default for BackdoorSpec {
    fn default() -> Self {
        BackdoorSpec {
            fraction: DEFAULT_BACKDOOR_FRACTION,
            target: 0,
            trigger_size: 3,
            trigger_value: 255,
        }
    }
}

fn check_fraction(what: &str, value: f64) -> Result<f64> {
    if value.is_finite() && value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err(DataError::FractionOutOfRange {
            what: what.to_string(),
            value,
            expected: "0 < fraction < 1 (exclusive)".to_string(),
        })
    }
}

impl Scenario {
    /// Parses a comma-separated list of scenarios, where a piece without `kind:` continues
    /// the scenario before it: `random:0.1,class:3,5,backdoor:0.05,target=0` is
    /// `random:0.1`, `class:3,5` and `backdoor:0.05,target=0`.
    pub fn parse_list(s: &str) -> Result<Vec<Scenario>> {
        Self::list_specs(s)
            .iter()
            .map(|spec| spec.parse())
            .collect()
    }

    /// [`Scenario::parse_list`], with the classes of `class:` scenarios given by index or by
    /// name (`class:cat,dog`): a name is one of `class_names`, matched exactly, else
    /// case-insensitively when that is unambiguous.
    pub fn parse_list_with_classes(s: &str, class_names: &[String]) -> Result<Vec<Scenario>> {
        Self::list_specs(s)
            .iter()
            .map(|spec| Self::parse_with_classes(spec, class_names))
            .collect()
    }

    /// Parses one scenario, with `class:` classes by index or by name (see
    /// [`Scenario::parse_list_with_classes`]).
    pub fn parse_with_classes(s: &str, class_names: &[String]) -> Result<Scenario> {
        let Some(list) = s.trim().strip_prefix("class:") else {
            return s.parse();
        };
        let mut ids = Vec::new();
        for token in list.split(',').map(str::trim) {
            if token.is_empty() || token.parse::<u32>().is_ok() {
                ids.push(token.to_string());
                continue;
            }
            let exact = class_names.iter().position(|n| n == token);
            let folded: Vec<usize> = class_names
                .iter()
                .enumerate()
                .filter(|(_, n)| n.eq_ignore_ascii_case(token))
                .map(|(i, _)| i)
                .collect();
            let id = match (exact, folded.as_slice()) {
                (Some(i), _) | (None, &[i]) => i,
                _ => {
                    return Err(DataError::InvalidScenario {
                        spec: s.to_string(),
                        reason: format!(
                            "`{token}` is neither a class id nor a class name; the classes are: {}",
                            class_names
                                .iter()
                                .enumerate()
                                .map(|(i, n)| format!("{i} {n}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    })
                }
            };
            ids.push(id.to_string());
        }
        format!("class:{}", ids.join(",")).parse()
    }

    /// Whether `s` (a list) names a class by name rather than by index.
    pub fn names_classes(s: &str) -> bool {
        Self::list_specs(s).iter().any(|spec| {
            spec.trim().strip_prefix("class:").is_some_and(|l| {
                l.split(',')
                    .any(|t| !t.trim().is_empty() && t.trim().parse::<u32>().is_err())
            })
        })
    }

    fn list_specs(s: &str) -> Vec<String> {
        let mut specs: Vec<String> = Vec::new();
        for piece in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let starts_new = piece.contains(':') || piece == "imported";
            match specs.last_mut() {
                Some(last) if !starts_new => {
                    last.push(',');
                    last.push_str(piece);
                }
                _ => specs.push(piece.to_string()),
            }
        }
        specs
    }
}

impl FromStr for Scenario {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: String| DataError::InvalidScenario {
            spec: s.to_string(),
            reason,
        };
        let (kind, args) = match s.trim().split_once(':') {
            Some((k, a)) => (k, Some(a)),
            None => (s.trim(), None),
        };
        let parse_fraction = |text: &str, what: &str| -> Result<f64> {
            let v: f64 = text
                .trim()
                .parse()
                .map_err(|_| bad(format!("`{text}` is not a number")))?;
            check_fraction(what, v)
        };
        match kind {
            "random" => {
                let fraction = match args {
                    None => DEFAULT_RANDOM_FRACTION,
                    Some(a) => parse_fraction(a, "random forget fraction")?,
                };
                Ok(Scenario::Random { fraction })
            }
            "class" => {
                let args = args.filter(|a| !a.trim().is_empty()).ok_or_else(|| {
                    bad("expected class ids, e.g. `class:3` or `class:1,7`".into())
                })?;
                let mut classes = Vec::new();
                for part in args.split(',') {
                    let c: u32 = part.trim().parse().map_err(|_| {
                        bad(format!(
                            "`{part}` is not a class id (a non-negative integer)"
                        ))
                    })?;
                    if classes.contains(&c) {
                        return Err(bad(format!("class {c} is listed twice")));
                    }
                    classes.push(c);
                }
                Ok(Scenario::Class { classes })
            }
            "backdoor" => {
                let mut spec = BackdoorSpec::default();
                if let Some(args) = args {
                    for (i, part) in args.split(',').enumerate() {
                        let part = part.trim();
                        match part.split_once('=') {
                            None if i == 0 => {
                                spec.fraction = parse_fraction(part, "backdoor poison fraction")?
                            }
                            None => {
                                return Err(bad(format!(
                                    "`{part}`: expected key=value with key target, size or value"
                                )))
                            }
                            Some((key, value)) => {
                                let num = |v: &str| -> Result<u64> {
                                    v.trim().parse().map_err(|_| {
                                        bad(format!("`{key}={v}`: not a non-negative integer"))
                                    })
                                };
                                match key.trim() {
                                    "target" => {
                                        spec.target = u32::try_from(num(value)?)
                                            .map_err(|_| bad(format!("target {value} too large")))?
                                    }
                                    "size" => {
                                        spec.trigger_size = usize::try_from(num(value)?)
                                            .map_err(|_| bad(format!("size {value} too large")))?;
                                        if spec.trigger_size == 0 {
                                            return Err(bad("trigger size must be >= 1".into()));
                                        }
                                    }
                                    "value" => {
                                        spec.trigger_value =
                                            u8::try_from(num(value)?).map_err(|_| {
                                                bad(format!(
                                                    "trigger value {value}: expected 0..=255"
                                                ))
                                            })?
                                    }
                                    other => {
                                        return Err(bad(format!(
                                        "unknown option `{other}`; expected target, size or value"
                                    )))
                                    }
                                }
                            }
                        }
                    }
                }
                Ok(Scenario::Backdoor(spec))
            }
            "imported" => {
                let args =
                    args.ok_or_else(|| bad("expected imported:<12 hex digits>,count=<n>".into()))?;
                let (hash, count) = args
                    .split_once(",count=")
                    .ok_or_else(|| bad("expected imported:<12 hex digits>,count=<n>".into()))?;
                let count: usize = count
                    .trim()
                    .parse()
                    .map_err(|_| bad(format!("count `{count}` is not a non-negative integer")))?;
                let scenario = Scenario::Imported {
                    sha256: hash.trim().to_string(),
                    count,
                };
                scenario.check_imported().map_err(bad)?;
                Ok(scenario)
            }
            _ => Err(bad(
                "unknown scenario; expected random[:p], class:c[,c...], \
                 backdoor[:p][,target=t][,size=s][,value=v] or imported:<hex>,count=<n>"
                    .into(),
            )),
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scenario::Random { fraction } => write!(f, "random:{fraction}"),
            Scenario::Class { classes } => {
                let list: Vec<String> = classes.iter().map(|c| c.to_string()).collect();
                write!(f, "class:{}", list.join(","))
            }
            Scenario::Backdoor(spec) => {
                let d = BackdoorSpec::default();
                write!(f, "backdoor:{}", spec.fraction)?;
                if spec.target != d.target {
                    write!(f, ",target={}", spec.target)?;
                }
                if spec.trigger_size != d.trigger_size {
                    write!(f, ",size={}", spec.trigger_size)?;
                }
                if spec.trigger_value != d.trigger_value {
                    write!(f, ",value={}", spec.trigger_value)?;
                }
                Ok(())
            }
            Scenario::Imported { sha256, count } => write!(f, "imported:{sha256},count={count}"),
        }
    }
}

impl Serialize for Scenario {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scenario {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Scenario {
    /// Check the scenario against a dataset with `num_classes` classes: fractions in (0, 1),
    /// class ids and the backdoor target below `num_classes`, no duplicate class, not every
    /// class, a trigger of at least one pixel.
    pub fn validate(&self, num_classes: usize) -> Result<()> {
        let bad = |reason: String| DataError::InvalidScenario {
            spec: self.to_string(),
            reason,
        };
        match self {
            Scenario::Random { fraction } => {
                check_fraction("random forget fraction", *fraction)?;
            }
            Scenario::Class { classes } => {
                if classes.is_empty() {
                    return Err(bad("no class listed".into()));
                }
                let mut seen = HashSet::new();
                for &c in classes {
                    if c as usize >= num_classes {
                        return Err(DataError::UnknownClass {
                            class: c,
                            num_classes,
                        });
                    }
                    if !seen.insert(c) {
                        return Err(bad(format!("class {c} is listed twice")));
                    }
                }
                if seen.len() >= num_classes {
                    return Err(bad(format!(
                        "all {num_classes} classes would be forgotten, leaving nothing to retain"
                    )));
                }
            }
            Scenario::Backdoor(spec) => {
                check_fraction("backdoor poison fraction", spec.fraction)?;
                if spec.target as usize >= num_classes {
                    return Err(DataError::UnknownClass {
                        class: spec.target,
                        num_classes,
                    });
                }
                if spec.trigger_size == 0 {
                    return Err(bad("trigger size must be >= 1".into()));
                }
            }
            Scenario::Imported { .. } => self.check_imported().map_err(bad)?,
        }
        Ok(())
    }

    fn check_imported(&self) -> std::result::Result<(), String> {
        if let Scenario::Imported { sha256, count } = self {
            if sha256.len() != 12
                || !sha256
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            {
                return Err(format!(
                    "`{sha256}`: expected the first 12 lowercase hex digits of the forget list's SHA-256"
                ));
            }
            if *count == 0 {
                return Err("an imported forget set must not be empty".into());
            }
        }
        Ok(())
    }

    /// The backdoor specification, for [`Scenario::Backdoor`].
    pub fn backdoor(&self) -> Option<&BackdoorSpec> {
        match self {
            Scenario::Backdoor(spec) => Some(spec),
            _ => None,
        }
    }

    /// The forgotten classes, for [`Scenario::Class`].
    pub fn classes(&self) -> Option<&[u32]> {
        match self {
            Scenario::Class { classes } => Some(classes),
            _ => None,
        }
    }
}
