//! The findings of a study against an oracle ensemble: which methods the per-example tests
//! cannot tell from the oracles, the held-out retrain and the original as controls, and
//! whether the per-example tests rank the methods as the average gaps do.

use crate::oracle::{self, auc_of, tests_of, Auc};
use crate::record::{ReferenceModel, Source};
use crate::table::Scenario;

/// For class forgetting the original model has seen the whole forgotten class, so the
/// margin attack should tell it from the oracles at least this well (the project's
/// threshold).
pub(crate) const ORIGINAL_CLASS_AUC: f64 = 0.9;

fn verdict(ok: bool) -> &'static str {
    if ok {
        "**supported**"
    } else {
        "**not supported**"
    }
}

/// Ranks from 1, ties given the mean of the ranks they span.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            out[k] = rank;
        }
        i = j + 1;
    }
    out
}

/// Spearman's rank correlation (the Pearson correlation of the ranks, ties averaged);
/// `None` for fewer than two pairs or when either side's ranks are all equal.
pub(crate) fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 {
        return None;
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let n = rx.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx).powi(2);
        syy += (b - my).powi(2);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// A method's LiRA AUC on one statistic (`"margin"` or `"energy"`).
fn statistic_auc(sc: &Scenario, name: &str, statistic: &str) -> Option<Auc> {
    sc.method(name)
        .and_then(tests_of)
        .and_then(|t| auc_of(&t[statistic]))
}

/// A method's margin-LiRA AUC.
fn margin_auc(sc: &Scenario, name: &str) -> Option<Auc> {
    statistic_auc(sc, name, "margin")
}

/// The methods (not the references) whose attack on `statistic` cannot tell them from
/// the oracles, and those it tells apart, each as `name AUC-text`, joined by `; `
/// (`none` when empty); `None` when no method has the test.
fn verdict_lists(sc: &Scenario, statistic: &str) -> Option<(String, String)> {
    let (mut same, mut differ) = (Vec::new(), Vec::new());
    for m in sc.methods.iter().filter(|m| !m.role.is_reference()) {
        if let Some(a) = statistic_auc(sc, &m.name, statistic) {
            let item = format!("{} {}", m.name, a.text());
            if a.indistinguishable() {
                same.push(item);
            } else {
                differ.push(item);
            }
        }
    }
    if same.is_empty() && differ.is_empty() {
        return None;
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join("; ")
        }
    };
    Some((list(&same), list(&differ)))
}

/// (O1) The methods the per-example tests cannot tell from the oracles, on margins and
/// on feature energy.
fn cannot_tell(sc: &Scenario) -> Option<String> {
    let (same, differ) = verdict_lists(sc, "margin")?;
    let mut s = format!(
        "(O1) Methods the per-example tests cannot tell from the oracles (margin-LiRA AUC within its permutation band 0.5 ± h): {same}. Told apart: {differ}."
    );
    if let Some((same, _)) = verdict_lists(sc, "energy") {
        s.push_str(&format!(
            " In feature space (the same attack on each forget feature's energy outside the retain subspace) it cannot tell: {same}."
        ));
    }
    Some(s)
}

/// (O2) The held-out retrain, a control: its AUC should lie within its band.
fn held_out(sc: &Scenario) -> Option<String> {
    let a = margin_auc(sc, &sc.reference(ReferenceModel::Retrain)?.name)?;
    Some(format!(
        "(O2) Sanity check: the held-out retrain (seeds outside the ensemble) is indistinguishable from the oracles: {}. Margin-LiRA AUC = {} (within its band: {}).",
        verdict(a.indistinguishable()),
        a.text(),
        if a.indistinguishable() { "yes" } else { "no" }
    ))
}

/// (O3) The original: for class forgetting its AUC should be at least
/// [`ORIGINAL_CLASS_AUC`].
fn original(sc: &Scenario) -> Option<String> {
    let a = margin_auc(sc, &sc.reference(ReferenceModel::Original)?.name)?;
    let mut s = format!("(O3) The original model's margin-LiRA AUC = {}", a.text());
    if sc.name.starts_with("class:") {
        s.push_str(&format!(
            "; for class forgetting the tests tell it from the oracles (AUC ≥ {ORIGINAL_CLASS_AUC}): {}.",
            verdict(a.auc >= ORIGINAL_CLASS_AUC)
        ));
    } else {
        s.push('.');
    }
    Some(s)
}

/// (O4) Spearman correlation of the methods' |AUC − 0.5| with their average gaps.
fn rankings(sc: &Scenario) -> Option<String> {
    let corr = |ptr: &'static str| {
        let (xs, ys): (Vec<f64>, Vec<f64>) = sc
            .methods
            .iter()
            .filter(|m| !m.role.is_reference())
            .filter_map(|m| {
                let a = margin_auc(sc, &m.name)?.auc;
                Some(((a - 0.5).abs(), m.mean(Source::Metric(ptr))?))
            })
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .unzip();
        let text = spearman(&xs, &ys).map_or("undefined".into(), |r| format!("{r:.2}"));
        (text, xs.len())
    };
    let (out, n_out) = corr("/avg_gap_output");
    let (feat, n_feat) = corr("/avg_gap_feature");
    if n_out == 0 && n_feat == 0 {
        return None;
    }
    Some(format!(
        "(O4) Do the per-example tests rank the methods as the average gaps do? Spearman rank correlation (ties averaged; 1: the same order) of |AUC − 0.5| with the average gap (output) = {out} over {n_out} methods, with the average gap (feature) = {feat} over {n_feat} methods."
    ))
}

/// The oracle findings of one scenario; empty unless it has an oracle ensemble.
pub(crate) fn oracle_findings(sc: &Scenario) -> Vec<String> {
    if oracle::reference(sc).is_none() {
        return Vec::new();
    }
    [cannot_tell(sc), held_out(sc), original(sc), rankings(sc)]
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::tests::orec;
    use crate::table::group;

    #[test]
    fn ranks_average_ties() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
    }

    #[test]
    fn spearman_of_a_small_example_with_a_tie() {
        // x = [0.1, 0.2, 0.2, 0.4] → ranks [1, 2.5, 2.5, 4]; y = [1, 3, 2, 4] → [1, 3, 2, 4].
        // Rank means 2.5 each; deviations dx = [-1.5, 0, 0, 1.5], dy = [-1.5, 0.5, -0.5, 1.5]:
        // Σdxdy = 2.25 + 0 + 0 + 2.25 = 4.5, Σdx² = 4.5, Σdy² = 2.25 + 0.25 + 0.25 + 2.25 = 5,
        // ρ = 4.5 / √(4.5·5) = 4.5 / √22.5 ≈ 0.948683.
        let r = spearman(&[0.1, 0.2, 0.2, 0.4], &[1.0, 3.0, 2.0, 4.0]).unwrap_or(f64::NAN);
        assert!((r - 4.5 / 22.5f64.sqrt()).abs() < 1e-12, "{r}");
        // Reversed order gives −1; constant or too short gives none.
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Some(-1.0));
        assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), None);
        assert_eq!(spearman(&[1.0], &[1.0]), None);
    }

    #[test]
    fn findings_name_the_indistinguishable_methods_and_check_the_controls() {
        let mut records = vec![
            orec("class:3", 0, "retrain", 8, 10.0, (0.60, 0.55, 0.65)),
            orec("class:3", 0, "original", 8, 10.0, (0.85, 0.8, 0.9)),
            orec("class:3", 0, "ft", 8, 10.0, (0.71, 0.69, 0.73)),
            orec("class:3", 0, "muda", 8, 10.0, (0.51, 0.48, 0.54)),
            orec("class:3", 0, "ga", 8, 10.0, (0.30, 0.2, 0.4)),
        ];
        // Gaps (output): ft 3, muda 1, ga 2; |AUC − 0.5|: ft 0.21, muda 0.01, ga 0.20 →
        // the same order, ρ = 1. Gaps (feature) all 2 (from `rec`): undefined.
        for (r, g) in records[2..].iter_mut().zip([3.0, 1.0, 2.0]) {
            if let Some(m) = r.metrics.as_mut() {
                m["avg_gap_output"] = serde_json::json!(g);
            }
        }
        let sc = group(&records, &[]);
        let f = oracle_findings(&sc[0]);
        assert_eq!(f.len(), 4, "{f:?}");
        assert!(f[0].contains("0.5 ± h): muda 0.51 [0.48, 0.54]. Told apart: ft 0.71 [0.69, 0.73]; ga 0.30 [0.20, 0.40]."), "{}", f[0]);
        // Every energy AUC of `orec` is 0.60 [0.55, 0.65]: told apart.
        assert!(
            f[0].ends_with("energy outside the retain subspace) it cannot tell: none."),
            "{}",
            f[0]
        );
        assert!(
            f[1].contains("**not supported**") && f[1].contains("within its band: no"),
            "{}",
            f[1]
        );
        assert!(
            f[2].contains("0.85 [0.80, 0.90]") && f[2].contains("(AUC ≥ 0.9): **not supported**"),
            "{}",
            f[2]
        );
        assert!(f[3].contains("(output) = 1.00 over 3 methods, with the average gap (feature) = undefined over 3 methods"), "{}", f[3]);
        records[0] = orec("class:3", 0, "retrain", 8, 10.0, (0.5, 0.45, 0.55));
        records[1] = orec("class:3", 0, "original", 8, 10.0, (0.95, 0.93, 0.97));
        let f = oracle_findings(&group(&records, &[])[0]);
        assert!(f[1].contains(": **supported**"), "{}", f[1]);
        assert!(f[2].contains("**supported**"), "{}", f[2]);
        // Without an ensemble (n = 1) nothing is said.
        let one = [orec("class:3", 0, "ft", 1, 10.0, (0.5, 0.4, 0.6))];
        assert!(oracle_findings(&group(&one, &[])[0]).is_empty());
    }
}
