//! The "Findings" section: claims computed from the per-method means, each with its verdict,
//! the numbers behind it and the threshold it applies.

use std::fmt::Write as _;

use crate::stats::{median, Means};
use crate::table::{is_ablation, is_reference};

/// Thresholds of the findings (stated in the report).
const DA_EQUAL: f64 = 0.01;
const DA_SEPARATES: f64 = 0.5;
/// A backdoor counts as removed when the ASR is at most the retrain model's plus this many
/// percentage points, and as left in when it is at least this share of the original's.
const ASR_REMOVED: f64 = 1.0;
const ASR_LEFT: f64 = 0.5;

/// The MUDA ablation rows the findings look for.
const ABLATIONS: [(&str, &str); 3] = [
    ("muda-no-da", "the DA term"),
    ("muda-no-sd", "self-distillation"),
    ("muda-no-alt", "alternation"),
];

/// Per-method means in table order.
type Methods<'a> = &'a [(String, Means)];

fn get<'a>(methods: Methods<'a>, name: &str) -> Option<&'a Means> {
    methods.iter().find(|(m, _)| m == name).map(|(_, v)| v)
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "**supported**"
    } else {
        "**not supported**"
    }
}

fn f3(v: f64) -> String {
    format!("{v:.4}")
}

/// The "Findings" items of one scenario from per-method means (methods in table order).
pub(crate) fn findings(methods: Methods) -> Vec<String> {
    let mut out = vec![
        retrain_alignment(methods),
        wrong_labels(methods),
        muda_vs_best_baseline(methods),
        head_only(methods),
        ablations(methods),
    ];
    if let Some(item) = backdoor_finding(methods) {
        out.push(item);
    }
    out
}

/// (1) Retrain: forget features align like unseen ones; (1b) this separates it from the
/// original.
fn retrain_alignment(methods: Methods) -> String {
    let (r, o) = (get(methods, "retrain"), get(methods, "original"));
    let Some((rf, rt)) = r.and_then(|r| r.da_f.zip(r.da_t)) else {
        return "(1) DA_f vs DA_t for Retrain: not run.".into();
    };
    let dr = (rf - rt).abs();
    let mut s = format!(
        "(1) For Retrain, forget features align like unseen ones (DA_f ≈ DA_t): {}. Retrain DA_f = {}, DA_t = {}, |DA_f − DA_t| = {} (threshold: ≤ {DA_EQUAL}).",
        verdict(dr <= DA_EQUAL),
        f3(rf),
        f3(rt),
        f3(dr)
    );
    match o.and_then(|o| o.da_f.zip(o.da_t)) {
        Some((of, ot)) => {
            let d0 = (of - ot).abs();
            let sep = dr <= DA_SEPARATES * d0;
            let ratio = if d0 > 0.0 {
                format!("{:.2}", dr / d0)
            } else {
                "∞".to_string()
            };
            let _ = write!(
                s,
                "\n(1b) …and this separates it from the Original: {}. Original DA_f = {}, DA_t = {}, |DA_f − DA_t| = {}; Retrain's difference is {ratio}× the Original's (threshold: ≤ {DA_SEPARATES}×).",
                verdict(sep),
                f3(of),
                f3(ot),
                f3(d0)
            );
        }
        None => s.push_str("\n(1b) Original: not run."),
    }
    s
}

/// (2) Wrong-label methods move DA_f away from Retrain.
fn wrong_labels(methods: Methods) -> String {
    let r_daf = get(methods, "retrain").and_then(|r| r.da_f);
    let others: Vec<f64> = methods
        .iter()
        .filter(|(m, _)| !is_reference(m) && !is_ablation(m) && m != "rl" && m != "salun")
        .filter_map(|(_, v)| Some((v.da_f? - r_daf?).abs()))
        .collect();
    let med = median(others.clone());
    let mut parts = Vec::new();
    let mut all = true;
    let mut any = false;
    for m in ["rl", "salun"] {
        match (get(methods, m).and_then(|v| v.da_f), r_daf, med) {
            (Some(d), Some(rd), Some(md)) => {
                any = true;
                let dist = (d - rd).abs();
                all &= dist > md;
                parts.push(format!(
                    "`{m}`: DA_f = {}, |DA_f − DA_f(retrain)| = {} ({} the median)",
                    f3(d),
                    f3(dist),
                    if dist > md { "above" } else { "not above" }
                ));
            }
            _ => parts.push(format!("`{m}`: not run")),
        }
    }
    if !any {
        return format!(
            "(2) Wrong-label methods vs Retrain DA_f: not run ({}).",
            parts.join("; ")
        );
    }
    format!(
        "(2) Methods that inject wrong labels (`rl`, `salun`) move DA_f away from Retrain: {}. Retrain DA_f = {}; {}. Threshold: each distance above the median distance of the other {} methods (excluding retrain, original, rl, salun and ablations) = {}.",
        verdict(all),
        f3(r_daf.unwrap_or(f64::NAN)),
        parts.join("; "),
        others.len(),
        f3(med.unwrap_or(f64::NAN))
    )
}

/// (3) MUDA's average gaps vs the best baseline's.
fn muda_vs_best_baseline(methods: Methods) -> String {
    let Some(mu) = get(methods, "muda") else {
        return "(3) MUDA vs the best baseline: not run.".into();
    };
    let baselines: Vec<&(String, Means)> = methods
        .iter()
        .filter(|(m, _)| !is_reference(m) && !is_ablation(m) && m != "head-only" && m != "muda")
        .collect();
    let mut s = String::from("(3) MUDA's average gaps vs the best baseline (the smallest gap among the methods other than retrain, original, head-only, muda and its ablations; supported when MUDA's gap ≤ the best baseline's):");
    for (label, get_gap) in [
        (
            "output",
            (|v: &Means| v.gap_out) as fn(&Means) -> Option<f64>,
        ),
        ("feature", |v: &Means| v.gap_feat),
    ] {
        let best = baselines
            .iter()
            .filter_map(|(m, v)| get_gap(v).map(|g| (m, g)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        match (get_gap(mu), best) {
            (Some(g), Some((bm, bg))) => {
                let diff = g - bg;
                let how = if diff <= 0.0 {
                    format!("MUDA is better by {:.2} points", -diff)
                } else {
                    format!(
                        "MUDA falls short by {diff:.2} points ({:.2}× the best)",
                        if bg > 0.0 { g / bg } else { f64::INFINITY }
                    )
                };
                let _ = write!(
                    s,
                    "\n{label} gap: {}. MUDA {g:.2} vs `{bm}` {bg:.2}; {how}.",
                    verdict(diff <= 0.0)
                );
            }
            _ => {
                let _ = write!(
                    s,
                    "\n{label} gap: not run (no value for MUDA or no baseline)."
                );
            }
        }
    }
    s
}

/// (4) head-only matches Retrain on outputs but not on features.
fn head_only(methods: Methods) -> String {
    let pool: Vec<&(String, Means)> = methods
        .iter()
        .filter(|(m, _)| !is_reference(m) && !is_ablation(m) && m != "head-only")
        .collect();
    let med_out = median(pool.iter().filter_map(|(_, v)| v.gap_out).collect());
    let med_feat = median(pool.iter().filter_map(|(_, v)| v.gap_feat).collect());
    match (
        get(methods, "head-only").and_then(|h| h.gap_out.zip(h.gap_feat)),
        med_out.zip(med_feat),
    ) {
        (Some((ho, hf)), Some((mo, mf))) => format!(
            "(4) `head-only` matches Retrain on output metrics but not on feature metrics: {}. Output gap {ho:.2} vs median {mo:.2} ({}); feature gap {hf:.2} vs median {mf:.2} ({}). Threshold: output gap below and feature gap above the median over the {} other methods (excluding retrain, original, head-only and ablations).",
            verdict(ho < mo && hf > mf),
            if ho < mo { "below" } else { "not below" },
            if hf > mf { "above" } else { "not above" },
            pool.len()
        ),
        _ => "(4) `head-only` vs the median method: not run.".into(),
    }
}

/// (5) Each MUDA ablation against full MUDA.
fn ablations(methods: Methods) -> String {
    let mut s = String::from("(5) MUDA ablations (supported when removing the component makes both average gaps larger than full MUDA's):");
    for (name, what) in ABLATIONS {
        match (get(methods, name), get(methods, "muda")) {
            (Some(a), Some(mu)) => match (a.gap_out, a.gap_feat, mu.gap_out, mu.gap_feat) {
                (Some(ao), Some(af), Some(mo), Some(mf)) => {
                    let _ = write!(
                        s,
                        "\n`{name}` (without {what}): {}. Output gap {ao:.2} vs {mo:.2} ({:+.2}); feature gap {af:.2} vs {mf:.2} ({:+.2}).",
                        verdict(ao > mo && af > mf),
                        ao - mo,
                        af - mf
                    );
                }
                _ => {
                    let _ = write!(s, "\n`{name}` (without {what}): no gap values.");
                }
            },
            (None, _) => {
                let _ = write!(s, "\n`{name}` (without {what}): not run.");
            }
            (Some(_), None) => {
                let _ = write!(s, "\n`{name}` (without {what}): `muda` not run.");
            }
        }
    }
    s
}

/// (6), backdoor scenarios only: does forgetting the poisoned samples remove the backdoor
/// (the paper's claim for MUDA)? `None` when the retrain model has no ASR.
fn backdoor_finding(methods: Methods) -> Option<String> {
    let asr = |n: &str| get(methods, n).and_then(|v| v.asr);
    let retrain = asr("retrain")?;
    let limit = retrain + ASR_REMOVED;
    let mut s = format!(
        "(6) Forgetting the poisoned samples removes the backdoor (the paper's claim for MUDA; removed: ASR ≤ retrain's {retrain:.2} + {ASR_REMOVED:.0} = {limit:.2} %"
    );
    let original = asr("original");
    if let Some(o) = original {
        let _ = write!(
            s,
            "; left in: ASR ≥ {:.0} % of the original's {o:.2} %",
            ASR_LEFT * 100.0
        );
    }
    s.push_str("): ");
    match asr("muda") {
        Some(mu) => {
            let _ = write!(s, "{}. MUDA ASR {mu:.2} %.", verdict(mu <= limit));
        }
        None => s.push_str("`muda` not run."),
    }
    let others = methods
        .iter()
        .filter(|(m, _)| !is_reference(m) && m != "muda")
        .filter_map(|(m, v)| v.asr.map(|a| (m.as_str(), a)));
    let (mut removed, mut left, mut partly) = (Vec::new(), Vec::new(), Vec::new());
    for (m, a) in others {
        let item = format!("`{m}` {a:.2}");
        if a <= limit {
            removed.push(item);
        } else if original.is_some_and(|o| a >= ASR_LEFT * o) {
            left.push(item);
        } else {
            partly.push(item);
        }
    }
    for (what, list) in [
        ("removed by", removed),
        ("partly removed by", partly),
        ("left in by", left),
    ] {
        if !list.is_empty() {
            let _ = write!(s, "\nBackdoor {what}: {}.", list.join(", "));
        }
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, da_f: f64, da_t: f64, gap_out: f64, gap_feat: f64) -> (String, Means) {
        (
            name.to_string(),
            Means {
                da_f: Some(da_f),
                da_t: Some(da_t),
                gap_out: Some(gap_out),
                gap_feat: Some(gap_feat),
                asr: None,
            },
        )
    }

    #[test]
    fn backdoor_finding_sorts_methods_by_asr_against_retrain() {
        let with_asr = |name: &str, asr: f64| {
            let (n, mut v) = m(name, 0.9, 0.9, 1.0, 1.0);
            v.asr = Some(asr);
            (n, v)
        };
        let methods = vec![
            with_asr("retrain", 0.8),
            with_asr("original", 99.8),
            with_asr("rl", 0.01),
            with_asr("be", 10.5),
            with_asr("ga", 99.7),
            with_asr("muda", 1.9),
            with_asr("muda-no-alt", 72.0),
        ];
        let f = findings(&methods);
        assert_eq!(f.len(), 6);
        // 1.9 > 0.8 + 1: not removed by MUDA.
        assert!(
            f[5].starts_with("(6)") && f[5].contains("**not supported**. MUDA ASR 1.90 %"),
            "{}",
            f[5]
        );
        assert!(f[5].contains("removed by: `rl` 0.01."), "{}", f[5]);
        assert!(f[5].contains("partly removed by: `be` 10.50."), "{}", f[5]);
        assert!(
            f[5].contains("left in by: `ga` 99.70, `muda-no-alt` 72.00."),
            "{}",
            f[5]
        );
        let mut lower = methods.clone();
        lower[5] = with_asr("muda", 1.7);
        assert!(findings(&lower)[5].contains("**supported**. MUDA ASR 1.70 %"));
        // Not a backdoor scenario: no sixth finding.
        assert_eq!(findings(&[m("retrain", 0.9, 0.8, 0.0, 0.0)]).len(), 5);
    }

    #[test]
    fn findings_apply_the_stated_thresholds() {
        let methods = vec![
            m("retrain", 0.936, 0.935, 0.0, 0.0),
            m("original", 0.931, 0.930, 2.0, 3.2),
            m("ft", 0.914, 0.912, 2.5, 3.6),
            m("ga", 0.932, 0.931, 1.6, 2.8),
            m("rl", 0.898, 0.899, 1.9, 2.4),
            m("salun", 0.895, 0.896, 4.0, 4.0),
            m("l1", 0.936, 0.935, 2.9, 1.9),
            m("head-only", 0.931, 0.930, 1.4, 3.5),
            m("muda", 0.941, 0.940, 3.2, 1.5),
            m("muda-no-da", 0.92, 0.92, 3.5, 2.5),
            m("muda-no-sd", 0.94, 0.94, 3.0, 3.0),
        ];
        let f = findings(&methods);
        assert_eq!(f.len(), 5);
        // (1) |0.936 − 0.935| = 0.001 ≤ 0.01; but original's difference is the same size.
        assert!(
            f[0].starts_with("(1)") && f[0].contains("DA_t): **supported**"),
            "{}",
            f[0]
        );
        assert!(f[0].contains("Original: **not supported**"), "{}", f[0]);
        // (2) rl 0.038, salun 0.041 vs median of ft .022, ga .004, l1 0, head .005, muda .005.
        assert!(f[1].contains("Retrain: **supported**"), "{}", f[1]);
        assert!(f[1].contains("= 0.0050."), "{}", f[1]);
        // (3) output: best baseline ga 1.6 < muda 3.2 → short by 1.60; feature: muda 1.5 < l1 1.9.
        assert!(
            f[2].contains(
                "output gap: **not supported**. MUDA 3.20 vs `ga` 1.60; MUDA falls short by 1.60"
            ),
            "{}",
            f[2]
        );
        assert!(
            f[2].contains("feature gap: **supported**. MUDA 1.50 vs `l1` 1.90"),
            "{}",
            f[2]
        );
        // (4) head-only 1.4 < median out; 3.5 > median feat.
        assert!(f[3].contains("feature metrics: **supported**"), "{}", f[3]);
        // (5) no-da worse on both; no-sd better on output; no-alt absent.
        assert!(
            f[4].contains("`muda-no-da` (without the DA term): **supported**"),
            "{}",
            f[4]
        );
        assert!(
            f[4].contains("`muda-no-sd` (without self-distillation): **not supported**"),
            "{}",
            f[4]
        );
        assert!(
            f[4].contains("`muda-no-alt` (without alternation): not run."),
            "{}",
            f[4]
        );

        // Nothing but retrain: every finding says what is missing instead of failing.
        let f = findings(&[m("retrain", 0.9, 0.8, 0.0, 0.0)]);
        assert!(f[0].contains("DA_t): **not supported**"), "{}", f[0]);
        assert!(f[1].contains("not run") && f[2].contains("not run") && f[3].contains("not run"));
    }
}
