//! The search's sampler, on the unit cube of a [`Space`](unlearn_methods::Space): uniform
//! random points for the first trials, then the Tree-structured Parzen Estimator (Bergstra
//! et al., "Algorithms for Hyper-Parameter Optimization", NeurIPS 2011), in its independent
//! form (one density per dimension, as Optuna's default `TPESampler`).
//!
//! TPE splits the finished trials into the best quarter (`good`) and the rest (`bad`),
//! models each dimension's values in both groups with a Parzen window (a Gaussian per point
//! plus a wide prior on real ranges; smoothed counts on choices), draws
//! [`CANDIDATES`] candidates from the good model and proposes the one with the largest
//! `log l(x) − log g(x)`, skipping candidates that round to an already tried point. Failed
//! trials count as bad.
//!
//! After the startup trials, every [`RANDOM_EVERY`]-th trial is a uniform random point.
//!
//! Every draw of trial `t` comes from `rng::seeded(seed, "tune/trial/<t>")`: the proposal of
//! a trial depends only on the seed and the earlier trials' results, so a resumed search
//! proposes what the uninterrupted one would have.

use rand::Rng;
use unlearn_methods::Dim;

/// Candidates drawn from the good model per TPE proposal.
pub const CANDIDATES: usize = 24;
/// After the startup trials, every `RANDOM_EVERY`-th trial is uniform random (interleaved
/// random points, as SMAC does): independent TPE alone locks a choice or a whole number in
/// once the good group shares its value, and never learns that another one is better.
pub const RANDOM_EVERY: usize = 3;
/// Share of the finished trials that forms the good group (at least one trial).
pub const GOOD_SHARE: f64 = 0.25;

/// How a trial's point was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The point is the method's defaults (trial 0), so a search never ends worse than
    /// them.
    Default,
    /// Uniform on the unit cube.
    Random,
    /// Proposed by the Parzen estimator.
    Tpe,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Default => "defaults",
            Phase::Random => "random",
            Phase::Tpe => "tpe",
        })
    }
}

/// A finished trial as the sampler sees it: its point and its score (`None`: failed).
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// The point, one coordinate in `[0, 1]` per dimension.
    pub unit: Vec<f64>,
    /// The objective (lower is better); `None` for a failed trial.
    pub score: Option<f64>,
}

/// The point of trial `trial` (after `history`): uniform while `trial < startup` or no
/// trial has a score, else TPE's proposal.
pub fn propose(
    dims: &[Dim],
    history: &[Observation],
    trial: usize,
    startup: usize,
    seed: u64,
) -> (Vec<f64>, Phase) {
    let mut rng = unlearn_data::rng::seeded(seed, &format!("tune/trial/{trial}"));
    let scored = history.iter().filter(|o| o.score.is_some()).count();
    let interleaved = trial >= startup && (trial - startup) % RANDOM_EVERY == RANDOM_EVERY - 1;
    if trial < startup || scored == 0 || interleaved {
        let unit = dims.iter().map(|d| snap(d, rng.random::<f64>())).collect();
        return (unit, Phase::Random);
    }
    let mut order: Vec<&Observation> = history.iter().collect();
    // Failed trials last; ties keep trial order (a stable sort), so the split is
    // deterministic.
    order.sort_by(|a, b| {
        let key = |o: &Observation| o.score.unwrap_or(f64::INFINITY);
        key(a).total_cmp(&key(b))
    });
    let n_good = ((GOOD_SHARE * scored as f64).ceil() as usize).clamp(1, scored);
    let (good, bad) = order.split_at(n_good);
    let models: Vec<(Parzen, Parzen)> = dims
        .iter()
        .enumerate()
        .map(|(d, dim)| {
            let at = |group: &[&Observation]| group.iter().map(|o| o.unit[d]).collect::<Vec<_>>();
            (Parzen::new(dim, &at(good)), Parzen::new(dim, &at(bad)))
        })
        .collect();
    // A candidate that rounds to an already tried point would only repeat that trial.
    let texts =
        |u: &[f64]| -> Vec<String> { dims.iter().zip(u).map(|(d, v)| d.value_at(*v)).collect() };
    let tried: Vec<Vec<String>> = history.iter().map(|o| texts(&o.unit)).collect();
    let mut best: Option<(f64, Vec<f64>)> = None;
    for _ in 0..CANDIDATES {
        let x: Vec<f64> = models.iter().map(|(l, _)| l.sample(&mut rng)).collect();
        if tried.contains(&texts(&x)) {
            continue;
        }
        let gain: f64 = models
            .iter()
            .zip(&x)
            .map(|((l, g), &v)| l.log_density(v) - g.log_density(v))
            .sum();
        if best.as_ref().is_none_or(|(b, _)| gain > *b) {
            best = Some((gain, x));
        }
    }
    match best {
        Some((_, unit)) => (unit, Phase::Tpe),
        // Every candidate was a tried point (the good region is explored): a uniform one.
        None => (
            dims.iter().map(|d| snap(d, rng.random::<f64>())).collect(),
            Phase::Random,
        ),
    }
}

/// A coordinate moved to the middle of its cell for a choice (so equal choices are equal
/// points).
fn snap(dim: &Dim, u: f64) -> f64 {
    match dim.choices() {
        Some(n) => {
            let i = ((u * n as f64).floor() as usize).min(n - 1);
            (i as f64 + 0.5) / n as f64
        }
        None => u.clamp(0.0, 1.0),
    }
}

/// One dimension's density estimate over a group of points.
enum Parzen {
    /// Gaussians at the points plus a prior `N(0.5, 1)`, on `[0, 1]`.
    Real { points: Vec<f64>, sigma: f64 },
    /// Probabilities of the choices: counts plus one (a uniform prior).
    Choice { probs: Vec<f64> },
}

const PRIOR_MEAN: f64 = 0.5;
const PRIOR_SIGMA: f64 = 1.0;

fn normal_log_pdf(x: f64, mean: f64, sigma: f64) -> f64 {
    let z = (x - mean) / sigma;
    -0.5 * z * z - sigma.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
}

impl Parzen {
    fn new(dim: &Dim, points: &[f64]) -> Self {
        if let Some(n) = dim.choices() {
            let mut counts = vec![1.0; n];
            for &u in points {
                counts[((u * n as f64).floor() as usize).min(n - 1)] += 1.0;
            }
            let total: f64 = counts.iter().sum();
            return Parzen::Choice {
                probs: counts.iter().map(|c| c / total).collect(),
            };
        }
        let n = points.len();
        // Scott's rule on the points, at most half the range and at least Optuna's "magic
        // clip" (the range over 1 + n, so a few points do not collapse the density) and,
        // for whole numbers, one value's cell.
        let spread = if n >= 2 {
            let mean = points.iter().sum::<f64>() / n as f64;
            (points.iter().map(|p| (p - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.25
        };
        let cell = match dim.range {
            unlearn_methods::Range::Whole { low, high, .. } => 1.0 / (high - low + 1) as f64,
            _ => 0.0,
        };
        let floor = (1.0 / (1 + n).min(100) as f64).max(cell).min(0.5);
        let sigma = (1.06 * spread * (n.max(1) as f64).powf(-0.2)).clamp(floor, 0.5);
        Parzen::Real {
            points: points.to_vec(),
            sigma,
        }
    }

    fn log_density(&self, x: f64) -> f64 {
        match self {
            Parzen::Choice { probs } => {
                let n = probs.len();
                probs[((x * n as f64).floor() as usize).min(n - 1)].ln()
            }
            Parzen::Real { points, sigma } => {
                let k = (points.len() + 1) as f64;
                let terms = points
                    .iter()
                    .map(|p| normal_log_pdf(x, *p, *sigma))
                    .chain([normal_log_pdf(x, PRIOR_MEAN, PRIOR_SIGMA)]);
                log_sum_exp(terms) - k.ln()
            }
        }
    }

    fn sample(&self, rng: &mut impl Rng) -> f64 {
        match self {
            Parzen::Choice { probs } => {
                let mut r = rng.random::<f64>();
                let n = probs.len();
                for (i, p) in probs.iter().enumerate() {
                    if r < *p || i + 1 == n {
                        return (i as f64 + 0.5) / n as f64;
                    }
                    r -= p;
                }
                0.5
            }
            Parzen::Real { points, sigma } => {
                let pick = rng.random_range(0..=points.len());
                let (mean, s) = match points.get(pick) {
                    Some(p) => (*p, *sigma),
                    None => (PRIOR_MEAN, PRIOR_SIGMA),
                };
                reflect(mean + s * standard_normal(rng))
            }
        }
    }
}

/// Folds a real number into `[0, 1]` by reflection at the ends.
fn reflect(mut x: f64) -> f64 {
    for _ in 0..8 {
        if x < 0.0 {
            x = -x;
        } else if x > 1.0 {
            x = 2.0 - x;
        } else {
            return x;
        }
    }
    x.clamp(0.0, 1.0)
}

/// A standard normal draw (Box–Muller).
fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn log_sum_exp(terms: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = terms.clone().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    max + terms.map(|t| (t - max).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use unlearn_methods::Span;

    /// A search of `trials` on `f` over `dims`, returning the scores in trial order.
    fn search(dims: &[Dim], trials: usize, startup: usize, f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
        let mut history = Vec::new();
        for t in 0..trials {
            let (unit, _) = propose(dims, &history, t, startup, 7);
            let score = f(&unit);
            history.push(Observation {
                unit,
                score: Some(score),
            });
        }
        history
            .iter()
            .map(|o| o.score.unwrap_or(f64::NAN))
            .collect()
    }

    #[test]
    fn tpe_beats_random_search_on_a_narrow_minimum() {
        let dims = [
            Dim::from_span("lr", Span::Log(1e-4, 1e-1)),
            Dim::from_span("epochs", Span::Whole(1, 4)),
            Dim::from_span("mode", Span::Choice(&["a", "b", "c"])),
        ];
        // Minimum at lr ≈ 3e-3 (u = 0.5), epochs 3, mode "b".
        let f = |u: &[f64]| {
            let lr: f64 = dims[0].value_at(u[0]).parse().unwrap_or(1.0);
            let epochs: f64 = dims[1].value_at(u[1]).parse().unwrap_or(0.0);
            let mode = dims[2].value_at(u[2]);
            (lr.log10() + 2.5).powi(2) + (epochs - 3.0).abs() + if mode == "b" { 0.0 } else { 1.0 }
        };
        let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let tpe = search(&dims, 30, 8, f);
        let random = search(&dims, 30, 30, f);
        // Same first 8 points (same seed, same draws).
        assert_eq!(tpe[..8], random[..8]);
        // TPE ends better than random search on the same budget, at the minimum (without
        // the interleaved random points it stayed at 1.0: one discrete value wrong).
        assert!(
            min(&tpe) < min(&random),
            "TPE best {} vs random {}",
            min(&tpe),
            min(&random)
        );
        assert!(min(&tpe) < 0.01, "TPE best {}", min(&tpe));
        // The refined half does better on average than random points do.
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assert!(
            mean(&tpe[15..]) < 0.7 * mean(&random[15..]),
            "{tpe:?} vs {random:?}"
        );
    }

    #[test]
    fn tpe_does_not_propose_a_tried_point_again() {
        let dims = [
            Dim::from_span("epochs", Span::Whole(1, 4)),
            Dim::from_span("lr", Span::Log(1e-3, 1e-1)),
        ];
        let mut history: Vec<Observation> = Vec::new();
        let mut seen = Vec::new();
        for t in 0..20 {
            let (unit, _) = propose(&dims, &history, t, 4, 3);
            let text: Vec<String> = dims
                .iter()
                .zip(&unit)
                .map(|(d, u)| d.value_at(*u))
                .collect();
            assert!(!seen.contains(&text), "trial {t} repeats {text:?}");
            seen.push(text);
            // A sharp optimum pulls TPE to one corner.
            let score = (unit[0] - 0.9).abs() + (unit[1] - 0.1).abs();
            history.push(Observation {
                unit,
                score: Some(score),
            });
        }
    }

    #[test]
    fn proposals_are_deterministic_and_in_range() {
        let dims = [
            Dim::from_span("x", Span::Linear(0.0, 1.0)),
            Dim::from_span("c", Span::Choice(&["p", "q"])),
        ];
        let history = vec![
            Observation {
                unit: vec![0.1, 0.25],
                score: Some(1.0),
            },
            Observation {
                unit: vec![0.9, 0.75],
                score: None,
            },
            Observation {
                unit: vec![0.4, 0.25],
                score: Some(0.5),
            },
        ];
        let a = propose(&dims, &history, 3, 2, 11);
        let b = propose(&dims, &history, 3, 2, 11);
        assert_eq!(a, b);
        assert_eq!(a.1, Phase::Tpe);
        assert!((0.0..=1.0).contains(&a.0[0]));
        assert!(a.0[1] == 0.25 || a.0[1] == 0.75);
        assert_ne!(propose(&dims, &history, 3, 2, 12).0, a.0);
    }
}
