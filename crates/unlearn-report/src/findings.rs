//! The "Findings" section: claims computed from the per-method means, each with its verdict,
//! the numbers behind it and the threshold it applies.
//!
//! Every method a finding singles out is found by its role ([`Role`]), never by its name:
//! the subject (the method the study evaluates, the first row with `subject` if several
//! have it), the methods that inject wrong labels, the head-only methods (one finding (4)
//! each) and the ablations (each against the method it ablates). The two references, the
//! retrain model and the original, are found by their roles too ([`ReferenceModel`]).

use std::fmt::Write as _;

use crate::record::{MethodTrait, ReferenceModel, Role};
use crate::stats::{median, Means};

/// Thresholds of the findings (stated in the report).
const DA_EQUAL: f64 = 0.01;
const DA_SEPARATES: f64 = 0.5;
/// A backdoor counts as removed when the ASR is at most the retrain model's plus this many
/// percentage points, and as left in when it is at least this share of the original's.
const ASR_REMOVED: f64 = 1.0;
const ASR_LEFT: f64 = 0.5;

/// One row of the scenario's table as the findings read it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) role: Role,
    /// The means over the successful runs; `None` when no run succeeded.
    pub(crate) means: Option<Means>,
}

/// The rows in table order.
type Rows<'a> = &'a [Row];

/// The means of the row named `name`, when it ran.
fn named<'a>(rows: Rows<'a>, name: &str) -> Option<&'a Means> {
    rows.iter()
        .find(|r| r.name == name)
        .and_then(|r| r.means.as_ref())
}

/// The means of the reference `which`, when it ran.
fn get(rows: Rows<'_>, which: ReferenceModel) -> Option<&Means> {
    rows.iter()
        .find(|r| r.role.is(which))
        .and_then(|r| r.means.as_ref())
}

/// The rows that ran, with their means.
fn ran<'a>(rows: Rows<'a>) -> impl Iterator<Item = (&'a Row, &'a Means)> {
    rows.iter().filter_map(|r| r.means.as_ref().map(|m| (r, m)))
}

/// The subject method: the first row whose role says so.
fn subject(rows: Rows<'_>) -> Option<&Row> {
    rows.iter().find(|r| r.role.is_subject())
}

/// "a, b, c and `last`": the names of the rows whose role passes `excluded`, then `last`.
fn excluding(rows: Rows, excluded: impl Fn(&Role) -> bool, last: &str) -> String {
    let names: Vec<&str> = rows
        .iter()
        .filter(|r| excluded(&r.role))
        .map(|r| r.name.as_str())
        .collect();
    if names.is_empty() {
        last.to_string()
    } else {
        format!("{} and {last}", names.join(", "))
    }
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

/// The "Findings" items of one scenario from its rows (in table order).
pub(crate) fn findings(rows: Rows) -> Vec<String> {
    let mut out = vec![
        retrain_alignment(rows),
        wrong_labels(rows),
        subject_vs_best_baseline(rows),
    ];
    out.extend(head_only(rows));
    out.push(ablations(rows));
    if let Some(item) = backdoor_finding(rows) {
        out.push(item);
    }
    out
}

/// (1) Retrain: forget features align like unseen ones; (1b) this separates it from the
/// original.
fn retrain_alignment(rows: Rows) -> String {
    let (r, o) = (
        get(rows, ReferenceModel::Retrain),
        get(rows, ReferenceModel::Original),
    );
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
fn wrong_labels(rows: Rows) -> String {
    let wrong = |r: &Role| r.has(MethodTrait::WrongLabels);
    let methods: Vec<&Row> = rows.iter().filter(|r| wrong(&r.role)).collect();
    if methods.is_empty() {
        return "(2) Wrong-label methods vs Retrain DA_f: not run (no method of this study injects wrong labels).".into();
    }
    let r_daf = get(rows, ReferenceModel::Retrain).and_then(|r| r.da_f);
    let others: Vec<f64> = ran(rows)
        .filter(|(r, _)| !r.role.is_reference() && !r.role.is_ablation() && !wrong(&r.role))
        .filter_map(|(_, v)| Some((v.da_f? - r_daf?).abs()))
        .collect();
    let med = median(others.clone());
    let mut parts = Vec::new();
    let mut all = true;
    let mut any = false;
    for row in &methods {
        let m = &row.name;
        match (row.means.as_ref().and_then(|v| v.da_f), r_daf, med) {
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
    let names: Vec<String> = methods.iter().map(|r| format!("`{}`", r.name)).collect();
    let excluded = excluding(rows, |r| r.is_reference() || wrong(r), "ablations");
    format!(
        "(2) Methods that inject wrong labels ({}) move DA_f away from Retrain: {}. Retrain DA_f = {}; {}. Threshold: each distance above the median distance of the other {} methods (excluding {excluded}) = {}.",
        names.join(", "),
        verdict(all),
        f3(r_daf.unwrap_or(f64::NAN)),
        parts.join("; "),
        others.len(),
        f3(med.unwrap_or(f64::NAN))
    )
}

/// (3) The subject's average gaps vs the best baseline's.
fn subject_vs_best_baseline(rows: Rows) -> String {
    let Some(subject) = subject(rows) else {
        return "(3) The subject method vs the best baseline: not run (no subject method in this study).".into();
    };
    let su = format!("`{}`", subject.name);
    let Some(mu) = subject.means.as_ref() else {
        return format!("(3) {su} vs the best baseline: not run.");
    };
    let not_baseline =
        |r: &Role| r.is_reference() || r.has(MethodTrait::HeadOnly) || r.is_subject();
    let baselines: Vec<(&Row, &Means)> = ran(rows)
        .filter(|(r, _)| !not_baseline(&r.role) && !r.role.is_ablation())
        .collect();
    let mut s = format!(
        "(3) {su}'s average gaps vs the best baseline (the smallest gap among the methods other than {}; supported when {su}'s gap ≤ the best baseline's):",
        excluding(rows, not_baseline, "ablations")
    );
    for (label, get_gap) in [
        (
            "output",
            (|v: &Means| v.gap_out) as fn(&Means) -> Option<f64>,
        ),
        ("feature", |v: &Means| v.gap_feat),
    ] {
        let best = baselines
            .iter()
            .filter_map(|(r, v)| get_gap(v).map(|g| (&r.name, g)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        match (get_gap(mu), best) {
            (Some(g), Some((bm, bg))) => {
                let diff = g - bg;
                let how = if diff <= 0.0 {
                    format!("{su} is better by {:.2} points", -diff)
                } else {
                    format!(
                        "{su} falls short by {diff:.2} points ({:.2}× the best)",
                        if bg > 0.0 { g / bg } else { f64::INFINITY }
                    )
                };
                let _ = write!(
                    s,
                    "\n{label} gap: {}. {su} {g:.2} vs `{bm}` {bg:.2}; {how}.",
                    verdict(diff <= 0.0)
                );
            }
            _ => {
                let _ = write!(
                    s,
                    "\n{label} gap: not run (no value for {su} or no baseline)."
                );
            }
        }
    }
    s
}

/// (4) Each head-only method matches Retrain on outputs but not on features (one item per
/// head-only method).
fn head_only(rows: Rows) -> Vec<String> {
    let head = |r: &Role| r.has(MethodTrait::HeadOnly);
    let methods: Vec<&Row> = rows.iter().filter(|r| head(&r.role)).collect();
    if methods.is_empty() {
        return vec!["(4) Head-only methods vs the median method: not run (no method of this study retrains only the head).".into()];
    }
    let pool: Vec<&Means> = ran(rows)
        .filter(|(r, _)| !r.role.is_reference() && !r.role.is_ablation() && !head(&r.role))
        .map(|(_, v)| v)
        .collect();
    let med_out = median(pool.iter().filter_map(|v| v.gap_out).collect());
    let med_feat = median(pool.iter().filter_map(|v| v.gap_feat).collect());
    let excluded = excluding(rows, |r| r.is_reference() || head(r), "ablations");
    methods
        .iter()
        .map(|row| {
            let name = &row.name;
            match (
                row.means.as_ref().and_then(|h| h.gap_out.zip(h.gap_feat)),
                med_out.zip(med_feat),
            ) {
                (Some((ho, hf)), Some((mo, mf))) => format!(
                    "(4) `{name}` matches Retrain on output metrics but not on feature metrics: {}. Output gap {ho:.2} vs median {mo:.2} ({}); feature gap {hf:.2} vs median {mf:.2} ({}). Threshold: output gap below and feature gap above the median over the {} other methods (excluding {excluded}).",
                    verdict(ho < mo && hf > mf),
                    if ho < mo { "below" } else { "not below" },
                    if hf > mf { "above" } else { "not above" },
                    pool.len()
                ),
                _ => format!("(4) `{name}` vs the median method: not run."),
            }
        })
        .collect()
}

/// (5) Each ablation against the method it ablates.
fn ablations(rows: Rows) -> String {
    let list: Vec<(&Row, &str, &str)> = rows
        .iter()
        .filter_map(|r| match &r.role {
            Role::Ablation { of, without, .. } => Some((r, of.as_str(), without.as_str())),
            _ => None,
        })
        .collect();
    if list.is_empty() {
        return "(5) Ablations: none in this study.".into();
    }
    let mut s = String::from("(5) Ablations (supported when removing the component makes both average gaps larger than those of the method ablated):");
    for (row, of, what) in list {
        let label = format!("`{}` (`{of}` without {what})", row.name);
        match (row.means.as_ref(), named(rows, of)) {
            (Some(a), Some(mu)) => match (a.gap_out, a.gap_feat, mu.gap_out, mu.gap_feat) {
                (Some(ao), Some(af), Some(mo), Some(mf)) => {
                    let _ = write!(
                        s,
                        "\n{label}: {}. Output gap {ao:.2} vs {mo:.2} ({:+.2}); feature gap {af:.2} vs {mf:.2} ({:+.2}).",
                        verdict(ao > mo && af > mf),
                        ao - mo,
                        af - mf
                    );
                }
                _ => {
                    let _ = write!(s, "\n{label}: no gap values.");
                }
            },
            (None, _) => {
                let _ = write!(s, "\n{label}: not run.");
            }
            (Some(_), None) => {
                let _ = write!(s, "\n{label}: `{of}` not run.");
            }
        }
    }
    s
}

/// (6), backdoor scenarios only: does forgetting the poisoned samples remove the backdoor
/// (the paper's claim for the subject method)? `None` when the retrain model has no ASR.
fn backdoor_finding(rows: Rows) -> Option<String> {
    let asr = |which| get(rows, which).and_then(|v| v.asr);
    let retrain = asr(ReferenceModel::Retrain)?;
    let limit = retrain + ASR_REMOVED;
    let subject = subject(rows);
    let claim = subject.map_or(String::new(), |r| {
        format!("the paper's claim for `{}`; ", r.name)
    });
    let mut s = format!(
        "(6) Forgetting the poisoned samples removes the backdoor ({claim}removed: ASR ≤ retrain's {retrain:.2} + {ASR_REMOVED:.0} = {limit:.2} %"
    );
    let original = asr(ReferenceModel::Original);
    if let Some(o) = original {
        let _ = write!(
            s,
            "; left in: ASR ≥ {:.0} % of the original's {o:.2} %",
            ASR_LEFT * 100.0
        );
    }
    s.push_str("): ");
    match subject {
        None => s.push_str("no subject method in this study."),
        Some(r) => match r.means.as_ref().and_then(|v| v.asr) {
            Some(mu) => {
                let _ = write!(s, "{}. `{}` ASR {mu:.2} %.", verdict(mu <= limit), r.name);
            }
            None => {
                let _ = write!(s, "`{}` not run.", r.name);
            }
        },
    }
    let others = ran(rows)
        .filter(|(r, _)| !r.role.is_reference() && !r.role.is_subject())
        .filter_map(|(r, v)| v.asr.map(|a| (r.name.as_str(), a)));
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
    use crate::record::pipeline_roles::role_of;

    /// A row that ran, with the role given, these means and no ASR.
    fn row(name: &str, role: Role, da: (f64, f64), gap_out: f64, gap_feat: f64) -> Row {
        Row {
            name: name.to_string(),
            role,
            means: Some(Means {
                da_f: Some(da.0),
                da_t: Some(da.1),
                gap_out: Some(gap_out),
                gap_feat: Some(gap_feat),
                asr: None,
            }),
        }
    }

    /// A row with the role the pipeline gives `name` ([`role_of`]).
    fn m(name: &str, da_f: f64, da_t: f64, gap_out: f64, gap_feat: f64) -> Row {
        let role = role_of(name).unwrap_or(Role::PLAIN_METHOD);
        row(name, role, (da_f, da_t), gap_out, gap_feat)
    }

    fn method(subject: bool, traits: &[MethodTrait]) -> Role {
        Role::Method {
            subject,
            traits: traits.to_vec(),
        }
    }

    fn ablation(of: &str, without: &str) -> Role {
        Role::Ablation {
            of: of.into(),
            switch: "x=false".into(),
            without: without.into(),
        }
    }

    #[test]
    fn the_references_are_found_by_their_roles_not_their_names() {
        let rows = vec![
            row("target", Role::RETRAIN, (0.40, 0.41), 0.0, 0.0),
            row("before", Role::ORIGINAL, (0.93, 0.41), 2.0, 3.2),
            // Named like the references, plain methods by their roles.
            row("retrain", Role::PLAIN_METHOD, (0.10, 0.90), 1.0, 1.0),
            row("original", Role::PLAIN_METHOD, (0.10, 0.90), 1.0, 1.0),
        ];
        let f = findings(&rows);
        assert!(f[0].contains("0.400") && f[0].contains("0.930"), "{}", f[0]);
        assert!(!f[0].contains("0.100"), "{}", f[0]);
        // Without a retrain role there is no target, whatever the names say.
        let f = findings(&rows[1..]);
        assert_eq!(f[0], "(1) DA_f vs DA_t for Retrain: not run.");
    }

    #[test]
    fn backdoor_finding_sorts_methods_by_asr_against_retrain() {
        let with_asr = |name: &str, asr: f64| {
            let mut r = m(name, 0.9, 0.9, 1.0, 1.0);
            if let Some(v) = r.means.as_mut() {
                v.asr = Some(asr);
            }
            r
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
        // 1.9 > 0.8 + 1: not removed by the subject.
        assert!(
            f[5].starts_with(
                "(6) Forgetting the poisoned samples removes the backdoor (the paper's claim for `muda`; removed: ASR ≤ retrain's 0.80 + 1 = 1.80 %"
            ) && f[5].contains("**not supported**. `muda` ASR 1.90 %"),
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
        assert!(findings(&lower)[5].contains("**supported**. `muda` ASR 1.70 %"));
        // No subject: the claim is not attributed and every method is listed.
        let mut none = methods.clone();
        none[5].role = Role::PLAIN_METHOD;
        let f6 = &findings(&none)[5];
        assert!(
            f6.contains("(removed: ASR ≤") && f6.contains("): no subject method in this study."),
            "{f6}"
        );
        assert!(
            f6.contains("partly removed by: `be` 10.50, `muda` 1.90."),
            "{f6}"
        );
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
            Row {
                means: None,
                ..m("muda-no-alt", 0.0, 0.0, 0.0, 0.0)
            },
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
        assert!(
            f[1].starts_with("(2) Methods that inject wrong labels (`rl`, `salun`) move DA_f away from Retrain: **supported**"),
            "{}",
            f[1]
        );
        assert!(
            f[1].contains(
                "the other 5 methods (excluding retrain, original, rl, salun and ablations) = 0.0050."
            ),
            "{}",
            f[1]
        );
        // (3) output: best baseline ga 1.6 < muda 3.2 → short by 1.60; feature: muda 1.5 < l1 1.9.
        assert!(
            f[2].starts_with("(3) `muda`'s average gaps vs the best baseline (the smallest gap among the methods other than retrain, original, head-only, muda and ablations; supported when `muda`'s gap ≤ the best baseline's):"),
            "{}",
            f[2]
        );
        assert!(
            f[2].contains(
                "output gap: **not supported**. `muda` 3.20 vs `ga` 1.60; `muda` falls short by 1.60"
            ),
            "{}",
            f[2]
        );
        assert!(
            f[2].contains("feature gap: **supported**. `muda` 1.50 vs `l1` 1.90"),
            "{}",
            f[2]
        );
        // (4) head-only 1.4 < median out; 3.5 > median feat (over ft, ga, rl, salun, l1, muda).
        assert!(
            f[3].starts_with("(4) `head-only` matches Retrain")
                && f[3].contains("feature metrics: **supported**")
                && f[3].contains(
                    "the 6 other methods (excluding retrain, original, head-only and ablations)"
                ),
            "{}",
            f[3]
        );
        // (5) no-da worse on both; no-sd better on output; no-alt failed.
        assert!(
            f[4].contains("`muda-no-da` (`muda` without the DA term): **supported**"),
            "{}",
            f[4]
        );
        assert!(
            f[4].contains("`muda-no-sd` (`muda` without self-distillation): **not supported**"),
            "{}",
            f[4]
        );
        assert!(
            f[4].contains("`muda-no-alt` (`muda` without alternation): not run."),
            "{}",
            f[4]
        );

        // Nothing but retrain: every finding says what is missing instead of failing.
        let f = findings(&[m("retrain", 0.9, 0.8, 0.0, 0.0)]);
        assert!(f[0].contains("DA_t): **not supported**"), "{}", f[0]);
        assert!(f[1].contains("not run") && f[2].contains("not run") && f[3].contains("not run"));
        assert!(f[2].contains("no subject method in this study"), "{}", f[2]);
        assert_eq!(f[4], "(5) Ablations: none in this study.");
    }

    /// Roles under names that name inference would read otherwise: a subject `mine`, a
    /// wrong-label `foo`, a head-only `probe`, a plain `muda-fast` and `muda`, and `mine-no-x`
    /// ablating `mine`.
    #[test]
    fn findings_read_roles_not_names() {
        let methods = vec![
            m("retrain", 0.936, 0.935, 0.0, 0.0),
            m("original", 0.931, 0.930, 2.0, 3.2),
            row("ft", Role::PLAIN_METHOD, (0.914, 0.912), 2.5, 3.6),
            row(
                "foo",
                method(false, &[MethodTrait::WrongLabels]),
                (0.898, 0.899),
                1.9,
                2.4,
            ),
            row("rl", Role::PLAIN_METHOD, (0.936, 0.935), 2.9, 1.9),
            row(
                "probe",
                method(false, &[MethodTrait::HeadOnly]),
                (0.931, 0.930),
                1.4,
                3.5,
            ),
            row("head-only", Role::PLAIN_METHOD, (0.93, 0.93), 1.0, 1.0),
            row("mine", method(true, &[]), (0.941, 0.940), 1.2, 1.5),
            row("muda", Role::PLAIN_METHOD, (0.93, 0.93), 1.1, 5.0),
            row("muda-fast", Role::PLAIN_METHOD, (0.93, 0.93), 3.0, 3.0),
            row(
                "mine-no-x",
                ablation("mine", "the x term"),
                (0.92, 0.92),
                3.5,
                2.5,
            ),
        ];
        let f = findings(&methods);
        assert_eq!(f.len(), 5, "{f:#?}");
        // (2) foo is the only wrong-label method; rl is an ordinary one.
        assert!(
            f[1].starts_with("(2) Methods that inject wrong labels (`foo`) move DA_f away from Retrain: **supported**"),
            "{}",
            f[1]
        );
        assert!(
            f[1].contains("the other 7 methods (excluding retrain, original, foo and ablations)"),
            "{}",
            f[1]
        );
        // (3) the subject is mine; head-only, muda and muda-fast are baselines, probe is not.
        assert!(
            f[2].starts_with("(3) `mine`'s average gaps vs the best baseline (the smallest gap among the methods other than retrain, original, probe, mine and ablations;"),
            "{}",
            f[2]
        );
        assert!(
            f[2].contains("output gap: **not supported**. `mine` 1.20 vs `head-only` 1.00;"),
            "{}",
            f[2]
        );
        assert!(
            f[2].contains("feature gap: **not supported**. `mine` 1.50 vs `head-only` 1.00;"),
            "{}",
            f[2]
        );
        // (4) probe is the head-only method.
        assert!(f[3].starts_with("(4) `probe` matches Retrain"), "{}", f[3]);
        assert!(
            f[3].contains("the 7 other methods (excluding retrain, original, probe and ablations)"),
            "{}",
            f[3]
        );
        // (5) mine-no-x is the only ablation, against mine; muda-fast is none.
        assert_eq!(
            f[4],
            "(5) Ablations (supported when removing the component makes both average gaps larger than those of the method ablated):\n`mine-no-x` (`mine` without the x term): **supported**. Output gap 3.50 vs 1.20 (+2.30); feature gap 2.50 vs 1.50 (+1.00)."
        );
    }

    #[test]
    fn several_head_only_methods_get_a_finding_each_and_a_failed_subject_is_not_run() {
        let mut methods = vec![
            m("retrain", 0.936, 0.935, 0.0, 0.0),
            m("ft", 0.914, 0.912, 2.5, 3.6),
            m("ga", 0.932, 0.931, 1.6, 2.8),
            row(
                "a",
                method(false, &[MethodTrait::HeadOnly]),
                (0.9, 0.9),
                1.4,
                3.5,
            ),
            row(
                "b",
                method(false, &[MethodTrait::HeadOnly]),
                (0.9, 0.9),
                3.0,
                1.0,
            ),
            Row {
                means: None,
                ..row("s", method(true, &[]), (0.0, 0.0), 0.0, 0.0)
            },
            row("s-no-y", ablation("s", "y"), (0.9, 0.9), 1.0, 1.0),
        ];
        let f = findings(&methods);
        assert_eq!(f.len(), 6, "{f:#?}");
        assert!(
            f[3].starts_with("(4) `a` matches") && f[3].contains(": **supported**"),
            "{}",
            f[3]
        );
        assert!(
            f[4].starts_with("(4) `b` matches") && f[4].contains(": **not supported**"),
            "{}",
            f[4]
        );
        // Both medians over ft and ga only.
        assert!(
            f[4].contains("the 2 other methods (excluding retrain, a, b and ablations)"),
            "{}",
            f[4]
        );
        assert_eq!(f[2], "(3) `s` vs the best baseline: not run.");
        assert!(
            f[5].ends_with("\n`s-no-y` (`s` without y): `s` not run."),
            "{}",
            f[5]
        );
        // A wrong-label method that failed is named as not run.
        methods.push(Row {
            means: None,
            ..row(
                "w",
                method(false, &[MethodTrait::WrongLabels]),
                (0.0, 0.0),
                0.0,
                0.0,
            )
        });
        assert_eq!(
            findings(&methods)[1],
            "(2) Wrong-label methods vs Retrain DA_f: not run (`w`: not run)."
        );
    }
}
