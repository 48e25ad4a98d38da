//! Statistics over seeds: mean ± sample std, the median, and the per-method means that the
//! findings read.

use crate::record::Source;
use crate::table::MethodRuns;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Stat {
    pub(crate) mean: f64,
    /// Sample standard deviation, when there are at least two values.
    pub(crate) std: Option<f64>,
}

pub(crate) fn stat(vals: &[f64]) -> Option<Stat> {
    if vals.is_empty() {
        return None;
    }
    let mean = vals.iter().sum::<f64>() / vals.len() as f64;
    let std = (vals.len() > 1).then(|| {
        (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (vals.len() - 1) as f64).sqrt()
    });
    Some(Stat { mean, std })
}

pub(crate) fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    })
}

/// Per-method means that the findings read.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Means {
    pub(crate) da_f: Option<f64>,
    pub(crate) da_t: Option<f64>,
    pub(crate) gap_out: Option<f64>,
    pub(crate) gap_feat: Option<f64>,
    /// Attack success rate, backdoor scenarios only.
    pub(crate) asr: Option<f64>,
}

impl Means {
    pub(crate) fn of(m: &MethodRuns) -> Self {
        Self {
            da_f: m.mean(Source::Metric("/da/forget")),
            da_t: m.mean(Source::Metric("/da/test")),
            gap_out: m.mean(Source::Metric("/avg_gap_output")),
            gap_feat: m.mean(Source::Metric("/avg_gap_feature")),
            asr: m.mean(Source::Metric("/asr")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_gives_the_sample_std_from_two_values_on() {
        assert_eq!(stat(&[]), None);
        assert_eq!(
            stat(&[2.0]),
            Some(Stat {
                mean: 2.0,
                std: None
            })
        );
        let s = stat(&[1.0, 3.0]).unwrap_or(Stat {
            mean: f64::NAN,
            std: None,
        });
        assert_eq!(s.mean, 2.0);
        assert!((s.std.unwrap_or(f64::NAN) - 2f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}
