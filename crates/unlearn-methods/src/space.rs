//! Search spaces of the hyper-parameters, declared next to them ([`crate::Params::SPACE`])
//! and read by `unlearn tune`.
//!
//! A space is a list of dimensions, each a parameter of the method with a range: a number
//! range (linear or log scale), a whole-number range, or a list of choices. A sampler works
//! on the unit cube: [`Dim::value_at`] maps `u ∈ [0, 1)` to the parameter's text (the form
//! `--set` takes), and [`Dim::unit_of`] maps a value back. Numbers are rounded to three
//! significant digits, so a chosen value reads as `0.00312`, not `0.0031187…`.
//!
//! A TOML file (`unlearn tune --space FILE`) replaces or adds dimensions and can drop
//! declared ones:
//! ```toml
//! lr = { low = 1e-4, high = 0.1, log = true }
//! epochs = { low = 1, high = 4 }            # a whole-number parameter takes whole bounds
//! stop_target = { choices = ["auto", "val"] }
//! exclude = ["lambda_da"]                    # not searched: the default stays
//! ```
//! The file is checked as a whole before anything runs: a key other than `low`, `high`,
//! `log` and `choices` (a typo such as `logg`) is an error, as is a name in `exclude` that is
//! not a parameter of the method; a range must fit its parameter's type (whole-number
//! parameters take whole bounds ≥ 0, real ones are searched as reals even with integer
//! bounds, switches and choices take `choices`). [`Dim::probes`] gives the values a caller
//! then tries against the method's own checks (`batch_size ≥ 1`, `momentum < 1`, …).

use std::path::Path;

use serde::Serialize;

use crate::error::{MethodError, Result};
use crate::params::ParamInfo;

/// The range of one declared dimension (static form, for [`crate::Params::SPACE`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Span {
    /// A real number in `[low, high]`, uniform.
    Linear(f64, f64),
    /// A real number in `[low, high]`, uniform in its logarithm (`low > 0`).
    Log(f64, f64),
    /// A whole number in `[low, high]`, uniform.
    Whole(u64, u64),
    /// One of these texts (choices, switches written `true`/`false`).
    Choice(&'static [&'static str]),
}

/// The range of a dimension.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Range {
    /// A real number in `[low, high]`, uniform or log-uniform.
    Real {
        /// Lower end.
        low: f64,
        /// Upper end.
        high: f64,
        /// Uniform in the logarithm.
        log: bool,
    },
    /// A whole number in `[low, high]`, uniform or log-uniform.
    Whole {
        /// Lower end.
        low: u64,
        /// Upper end.
        high: u64,
        /// Uniform in the logarithm (`low ≥ 1`).
        log: bool,
    },
    /// One of these texts.
    Choice(Vec<String>),
}

impl std::fmt::Display for Range {
    /// The range as the `--space` file writes it: `{ low = 0.5, high = 1.5 }`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let log = |log: bool| if log { ", log = true" } else { "" };
        match self {
            Range::Real { low, high, log: l } => {
                write!(f, "{{ low = {low}, high = {high}{} }}", log(*l))
            }
            Range::Whole { low, high, log: l } => {
                write!(f, "{{ low = {low}, high = {high}{} }}", log(*l))
            }
            Range::Choice(c) => write!(f, "{{ choices = {c:?} }}"),
        }
    }
}

/// One searched parameter.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Dim {
    /// The parameter (a `--set` key).
    pub name: String,
    /// Its range.
    pub range: Range,
}

/// Rounds to three significant digits (a value that reads well and reads back the same).
pub fn round3(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    format!("{v:.2e}").parse().unwrap_or(v)
}

impl Dim {
    /// The static declaration as a dimension.
    pub fn from_span(name: &str, span: Span) -> Self {
        let range = match span {
            Span::Linear(low, high) => Range::Real {
                low,
                high,
                log: false,
            },
            Span::Log(low, high) => Range::Real {
                low,
                high,
                log: true,
            },
            Span::Whole(low, high) => Range::Whole {
                low,
                high,
                log: false,
            },
            Span::Choice(c) => Range::Choice(c.iter().map(|s| s.to_string()).collect()),
        };
        Dim {
            name: name.to_string(),
            range,
        }
    }

    /// Checks the range: finite ends, `low ≤ high`, `low > 0` on a log scale, at least one
    /// choice.
    pub fn check(&self, method: &str) -> Result<()> {
        let bad = |expected: &str| MethodError::InvalidParam {
            method: method.to_string(),
            key: format!("space.{}", self.name),
            value: self.range.to_string(),
            expected: expected.to_string(),
        };
        match &self.range {
            Range::Real { low, high, log } => {
                if !(low.is_finite() && high.is_finite() && low <= high) {
                    return Err(bad("finite ends with low ≤ high"));
                }
                if *log && *low <= 0.0 {
                    return Err(bad("low > 0 on a log scale"));
                }
            }
            Range::Whole { low, high, log } => {
                if low > high {
                    return Err(bad("low ≤ high"));
                }
                if *log && *low == 0 {
                    return Err(bad("low ≥ 1 on a log scale"));
                }
            }
            Range::Choice(c) if c.is_empty() => return Err(bad("at least one choice")),
            Range::Choice(_) => {}
        }
        Ok(())
    }

    /// The value at `u ∈ [0, 1)` of the unit interval, as `--set` text.
    pub fn value_at(&self, u: f64) -> String {
        let u = u.clamp(0.0, 1.0 - 1e-12);
        match &self.range {
            Range::Real { low, high, log } => {
                let v = if *log {
                    (low.ln() + u * (high.ln() - low.ln())).exp()
                } else {
                    low + u * (high - low)
                };
                round3(v.clamp(*low, *high)).to_string()
            }
            Range::Whole { low, high, log } => {
                let v = if *log {
                    let (l, h) = ((*low as f64).ln(), ((*high + 1) as f64).ln());
                    (l + u * (h - l)).exp().floor() as u64
                } else {
                    low + (u * (high - low + 1) as f64).floor() as u64
                };
                v.clamp(*low, *high).to_string()
            }
            Range::Choice(c) => c[((u * c.len() as f64).floor() as usize).min(c.len() - 1)].clone(),
        }
    }

    /// The position of `value` on the unit interval (the middle of its cell for whole
    /// numbers and choices); `None` when it lies outside the range.
    pub fn unit_of(&self, value: &str) -> Option<f64> {
        match &self.range {
            Range::Real { low, high, log } => {
                let v: f64 = value.parse().ok()?;
                if v < *low * (1.0 - 1e-9) || v > *high * (1.0 + 1e-9) {
                    return None;
                }
                if high == low {
                    return Some(0.5);
                }
                Some(if *log {
                    (v.ln() - low.ln()) / (high.ln() - low.ln())
                } else {
                    (v - low) / (high - low)
                })
            }
            Range::Whole { low, high, log } => {
                let v: u64 = value.parse().ok()?;
                if v < *low || v > *high {
                    return None;
                }
                Some(if *log {
                    let (l, h) = ((*low as f64).ln(), ((*high + 1) as f64).ln());
                    (((v as f64 + 0.5).ln() - l) / (h - l)).clamp(0.0, 1.0)
                } else {
                    (v - low) as f64 / (high - low + 1) as f64 + 0.5 / (high - low + 1) as f64
                })
            }
            Range::Choice(c) => {
                let i = c.iter().position(|x| x == value)?;
                Some((i as f64 + 0.5) / c.len() as f64)
            }
        }
    }

    /// The values to try against the method before a search: both ends and the middle of a
    /// real range (as [`Dim::value_at`] writes them), both ends of a whole one, every choice;
    /// each with where it lies.
    pub fn probes(&self) -> Vec<(&'static str, String)> {
        match &self.range {
            Range::Real { .. } => vec![
                ("its low end", self.value_at(0.0)),
                ("its high end", self.value_at(1.0)),
                ("its middle", self.value_at(0.5)),
            ],
            Range::Whole { low, high, .. } => vec![
                ("its low end", low.to_string()),
                ("its high end", high.to_string()),
            ],
            Range::Choice(c) => c.iter().map(|v| ("a choice", v.clone())).collect(),
        }
    }

    /// The number of choices, for a [`Range::Choice`].
    pub fn choices(&self) -> Option<usize> {
        match &self.range {
            Range::Choice(c) => Some(c.len()),
            _ => None,
        }
    }
}

/// The search space of one method.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Space {
    /// The method id.
    pub method: String,
    /// The searched parameters, in declaration order (file additions last).
    pub dims: Vec<Dim>,
}

impl Space {
    /// Method `id`'s declared space.
    pub fn declared(id: &str) -> Result<Self> {
        let spans = crate::registry::space(id)?;
        Ok(Space {
            method: id.to_string(),
            dims: spans.iter().map(|(n, s)| Dim::from_span(n, *s)).collect(),
        })
    }

    /// This space with the dimensions of a `--space` TOML file replacing, adding or
    /// (`exclude = [...]`) dropping declared ones; also returns the names the file sets.
    /// `params` are the method's parameters: a dimension or an `exclude` entry of another
    /// name is an error that lists them, and each range must fit its parameter's type (see
    /// the module documentation).
    pub fn with_file(mut self, path: &Path, params: &[ParamInfo]) -> Result<(Self, Vec<String>)> {
        let cfg_err = |reason: String| MethodError::Config {
            path: path.to_path_buf(),
            reason,
        };
        let text =
            unlearn_io::read_regular_to_string(path, "--space", crate::params::MAX_TOML_BYTES)
                .map_err(|e| cfg_err(e.to_string()))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| cfg_err(format!("not valid TOML: {}", e.message())))?;
        let names = || {
            params
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut set = Vec::new();
        let mut excluded: Vec<String> = Vec::new();
        for (key, value) in &table {
            if key == "exclude" {
                let list = value
                    .as_array()
                    .ok_or_else(|| cfg_err("'exclude' must be a list of parameter names".into()))?;
                for n in list {
                    let n = n
                        .as_str()
                        .ok_or_else(|| cfg_err("'exclude' must list parameter names".into()))?;
                    if !params.iter().any(|p| p.name == n) {
                        return Err(cfg_err(format!(
                            "'exclude' names '{n}', which is not a parameter of {} (its parameters: {})",
                            self.method,
                            names()
                        )));
                    }
                    if excluded.iter().any(|e| e == n) {
                        return Err(cfg_err(format!("'exclude' names '{n}' twice")));
                    }
                    excluded.push(n.to_string());
                    self.dims.retain(|d| d.name != n);
                }
                continue;
            }
            let Some(param) = params.iter().find(|p| p.name == *key) else {
                return Err(cfg_err(format!(
                    "'{key}' is not a parameter of {} (its parameters: {})",
                    self.method,
                    names()
                )));
            };
            let range = range_of(value)
                .and_then(|r| typed(r, &param.default))
                .map_err(|r| cfg_err(format!("'{key}': {r}")))?;
            let dim = Dim {
                name: key.clone(),
                range,
            };
            dim.check(&self.method)?;
            match self.dims.iter_mut().find(|d| d.name == *key) {
                Some(d) => *d = dim,
                None => self.dims.push(dim),
            }
            set.push(key.clone());
        }
        if let Some(n) = set.iter().find(|n| excluded.contains(n)) {
            return Err(cfg_err(format!(
                "'{n}' is both given a range and named in 'exclude': keep one"
            )));
        }
        Ok((self, set))
    }

    /// Checks every dimension's range.
    pub fn check(&self) -> Result<()> {
        self.dims.iter().try_for_each(|d| d.check(&self.method))
    }
}

/// A range fitted to its parameter's type, from the parameter's default: a whole-number
/// parameter takes whole bounds ≥ 0, a real one is searched as a real even when both bounds
/// are integers, a switch or a choice takes `choices`.
fn typed(range: Range, default: &serde_json::Value) -> std::result::Result<Range, String> {
    use serde_json::Value;
    match (range, default) {
        (Range::Real { low, high, log }, Value::Number(n)) if n.is_u64() => {
            let whole = |v: f64| v >= 0.0 && v.fract() == 0.0 && v < u64::MAX as f64;
            if !(whole(low) && whole(high)) {
                return Err(format!(
                    "a whole-number parameter takes whole bounds ≥ 0 (e.g. low = 1, high = 4), not {low} and {high}"
                ));
            }
            Ok(Range::Whole {
                low: low as u64,
                high: high as u64,
                log,
            })
        }
        (Range::Whole { low, high, log }, Value::Number(n)) if !n.is_u64() => Ok(Range::Real {
            low: low as f64,
            high: high as f64,
            log,
        }),
        (r @ (Range::Real { .. } | Range::Whole { .. }), Value::Bool(_) | Value::String(_)) => {
            Err(format!(
                "{r} is a number range, but the parameter is a {}: give {{ choices = [...] }}",
                if default.is_boolean() {
                    "switch (true/false)"
                } else {
                    "choice"
                }
            ))
        }
        (r, _) => Ok(r),
    }
}

/// A dimension's range from its TOML form; any key besides `low`, `high`, `log` (or
/// `choices` alone) is an error.
fn range_of(value: &toml::Value) -> std::result::Result<Range, String> {
    let t = value
        .as_table()
        .ok_or("expected { low = …, high = …[, log = true] } or { choices = [...] }")?;
    let allowed: &[&str] = if t.contains_key("choices") {
        &["choices"]
    } else {
        &["low", "high", "log"]
    };
    if let Some(k) = t.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "unknown key '{k}' (expected {})",
            if allowed.len() == 1 {
                "only 'choices' in a list of choices".to_string()
            } else {
                "'low', 'high' and optionally 'log', or 'choices'".to_string()
            }
        ));
    }
    if let Some(c) = t.get("choices") {
        let list = c.as_array().ok_or("'choices' must be a list")?;
        let texts = list
            .iter()
            .map(|v| match v {
                toml::Value::String(s) => Ok(s.clone()),
                toml::Value::Integer(i) => Ok(i.to_string()),
                toml::Value::Float(f) => Ok(f.to_string()),
                toml::Value::Boolean(b) => Ok(b.to_string()),
                _ => Err("a choice must be a string, a number or a boolean".to_string()),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        return Ok(Range::Choice(texts));
    }
    let log = match t.get("log") {
        None => false,
        Some(v) => v.as_bool().ok_or("'log' must be true or false")?,
    };
    match (t.get("low"), t.get("high")) {
        (Some(toml::Value::Integer(l)), Some(toml::Value::Integer(h))) if *l >= 0 && *h >= 0 => {
            Ok(Range::Whole {
                low: *l as u64,
                high: *h as u64,
                log,
            })
        }
        (Some(l), Some(h)) => {
            let num = |v: &toml::Value| match v {
                toml::Value::Integer(i) => Some(*i as f64),
                toml::Value::Float(f) => Some(*f),
                _ => None,
            };
            match (num(l), num(h)) {
                (Some(low), Some(high)) => Ok(Range::Real { low, high, log }),
                _ => Err("'low' and 'high' must be numbers".into()),
            }
        }
        _ => Err("expected 'low' and 'high', or 'choices'".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_map_to_the_unit_interval_and_back() {
        let lr = Dim::from_span("lr", Span::Log(1e-4, 1e-1));
        assert_eq!(lr.value_at(0.0), "0.0001");
        assert_eq!(lr.value_at(0.999999), "0.1");
        let mid: f64 = lr.value_at(0.5).parse().unwrap();
        assert!((mid - 0.00316).abs() < 1e-9, "{mid}");
        let u = lr.unit_of("0.00316").unwrap();
        assert!((u - 0.5).abs() < 1e-3, "{u}");
        assert_eq!(lr.unit_of("0.5"), None);
        let epochs = Dim::from_span("epochs", Span::Whole(1, 4));
        let got: Vec<String> = [0.0, 0.26, 0.5, 0.99]
            .iter()
            .map(|u| epochs.value_at(*u))
            .collect();
        assert_eq!(got, ["1", "2", "3", "4"]);
        assert_eq!(epochs.unit_of("1"), Some(0.125));
        assert_eq!(epochs.unit_of("5"), None);
        let c = Dim::from_span("stop_target", Span::Choice(&["auto", "val"]));
        assert_eq!(
            (c.value_at(0.2), c.value_at(0.7)),
            ("auto".into(), "val".into())
        );
        assert_eq!(c.unit_of("val"), Some(0.75));
        assert_eq!(round3(0.0031187), 0.00312);
    }

    #[test]
    fn a_space_file_replaces_adds_and_drops_dimensions() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("unlearn-space-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| MethodError::Mismatch(e.to_string()))?;
        let file = dir.join("space.toml");
        let known = crate::registry::info("ga", "quick")?.params;
        std::fs::write(
            &file,
            "lr = { low = 1e-3, high = 1e-2, log = true }\nmomentum = { choices = [0.0, 0.9] }\nexclude = [\"epochs\"]\n",
        )
        .map_err(|e| MethodError::Mismatch(e.to_string()))?;
        let (space, set) = Space::declared("ga")?.with_file(&file, &known)?;
        assert_eq!(set, ["lr", "momentum"]);
        let names: Vec<&str> = space.dims.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["lr", "momentum"]);
        assert_eq!(
            space.dims[0].range,
            Range::Real {
                low: 1e-3,
                high: 1e-2,
                log: true
            }
        );
        std::fs::write(&file, "lr_typo = { low = 1, high = 2 }\n")
            .map_err(|e| MethodError::Mismatch(e.to_string()))?;
        let err = Space::declared("ga")?.with_file(&file, &known).unwrap_err();
        assert!(
            err.to_string()
                .contains("'lr_typo' is not a parameter of ga"),
            "{err}"
        );
        std::fs::write(&file, "lr = { low = 0.0, high = 1.0, log = true }\n")
            .map_err(|e| MethodError::Mismatch(e.to_string()))?;
        let err = Space::declared("ga")?.with_file(&file, &known).unwrap_err();
        assert!(err.to_string().contains("low > 0"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn unknown_keys_and_names_and_ill_typed_ranges_are_refused() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| MethodError::Mismatch(e.to_string()))?;
        let file = dir.path().join("space.toml");
        let params = crate::registry::info("ga", "quick")?.params;
        let refused = |text: &str| -> Result<String> {
            std::fs::write(&file, text).map_err(|e| MethodError::Mismatch(e.to_string()))?;
            Ok(Space::declared("ga")?
                .with_file(&file, &params)
                .unwrap_err()
                .to_string())
        };
        let err = refused("lr = { low = 0.001, high = 0.01, logg = true }\n")?;
        assert!(err.contains("'lr': unknown key 'logg'"), "{err}");
        let err = refused("exclude = [\"nope\"]\n")?;
        assert!(err.contains("'exclude' names 'nope'"), "{err}");
        let err = refused("epochs = { low = 0.5, high = 3.7 }\n")?;
        assert!(err.contains("whole bounds"), "{err}");
        let err = refused("epochs = { low = -1, high = 3 }\n")?;
        assert!(err.contains("whole bounds ≥ 0"), "{err}");
        let err = refused("lr = { choices = [0.1], low = 1 }\n")?;
        assert!(err.contains("unknown key 'low'"), "{err}");
        let err = refused("exclude = [\"lr\", \"lr\"]\n")?;
        assert!(err.contains("'exclude' names 'lr' twice"), "{err}");
        let err = refused("exclude = [\"lr\"]\nlr = { low = 0.001, high = 0.01 }\n")?;
        assert!(
            err.contains("'lr' is both given a range and named in 'exclude'"),
            "{err}"
        );
        // A real parameter with integer bounds is searched as a real.
        std::fs::write(&file, "momentum = { low = 0, high = 1 }\n")
            .map_err(|e| MethodError::Mismatch(e.to_string()))?;
        let (space, _) = Space::declared("ga")?.with_file(&file, &params)?;
        let m = space
            .dims
            .iter()
            .find(|d| d.name == "momentum")
            .expect("momentum");
        assert_eq!(m.probes()[1], ("its high end", "1".to_string()));
        assert_eq!(m.range.to_string(), "{ low = 0, high = 1 }");
        assert!(matches!(m.range, Range::Real { .. }));
        Ok(())
    }

    #[test]
    fn every_method_declares_a_valid_space_of_its_own_parameters() -> Result<()> {
        for id in crate::registry::METHOD_IDS {
            let space = Space::declared(id)?;
            space.check()?;
            let info = crate::registry::info(id, "quick")?;
            for d in &space.dims {
                let p = info.params.iter().find(|p| p.name == d.name);
                assert!(p.is_some(), "{id}: {} is not a parameter", d.name);
                // Both ends (and a choice's every value) are accepted by the method.
                for u in [0.0, 0.5, 0.999] {
                    let set = format!("{}={}", d.name, d.value_at(u));
                    crate::registry::build(id, "quick", &crate::Overrides::sets(&[&set])?)?;
                }
            }
            if id != "retrain" {
                assert!(!space.dims.is_empty(), "{id} declares no search space");
            }
        }
        Ok(())
    }
}
