//! The report's "Tuning" section, present when `reproduce --tune` chose the methods' values:
//! which numbers are tuned-on and which are held-out, and the subject method (by its role)
//! against the best baseline on the held-out seeds.

use std::collections::BTreeMap;

use crate::table::Block;
use crate::{ResultRecord, Role};

/// Mean of a metric over records.
fn mean_of(records: &[&ResultRecord], key: &str) -> Option<f64> {
    let v: Vec<f64> = records
        .iter()
        .filter_map(|r| r.metric(&format!("/{key}")).and_then(|v| v.as_f64()))
        .collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn fmt(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{v:.2}"))
}

/// One method's tuned records in a scenario: its role (its first record's), the held-out
/// and the tuned-on records.
type Runs<'a> = (&'a Role, Vec<&'a ResultRecord>, Vec<&'a ResultRecord>);

/// The section; empty when no record was tuned.
pub(crate) fn tuning_section(records: &[ResultRecord], scenarios: &[String]) -> Vec<Block> {
    let Some(t) = records.iter().find_map(|r| r.tuning.as_ref()) else {
        return Vec::new();
    };
    let mut blocks = vec![
        Block::Heading(2, "Tuning".into()),
        Block::Para(format!(
            "Every method's hyper-parameters were searched by `unlearn tune` with the same \
             budget, {} trials (trial 0 the defaults, then random points, then TPE), \
             minimising `{}` against the retrain model, per scenario, on seed {} only. An \
             ablation takes the values of the method it ablates, with its component switched \
             off. Numbers of seed {} are **tuned-on**; the other seeds are **held-out**: their \
             originals, retrain models and splits were not seen by the search. Below, \
             held-out means (and the tuned-on value).",
            t.trials, t.objective, t.tuned_on_seed, t.tuned_on_seed
        )),
    ];
    for scenario in scenarios {
        let mut by_method: BTreeMap<&str, Runs> = BTreeMap::new();
        for r in records.iter().filter(|r| &r.scenario == scenario) {
            let Some(tuning) = &r.tuning else { continue };
            let entry = by_method
                .entry(r.method.as_str())
                .or_insert_with(|| (r.role(), Vec::new(), Vec::new()));
            if tuning.held_out {
                entry.1.push(r);
            } else {
                entry.2.push(r);
            }
        }
        if by_method.is_empty() {
            continue;
        }
        let (verdicts, lines) = scenario_summary(&by_method);
        blocks.push(Block::Heading(3, format!("`{scenario}`, held-out seeds")));
        blocks.push(Block::Para(verdicts));
        blocks.push(Block::List(lines));
    }
    blocks
}

/// One scenario's verdicts (the subject against the best baseline, held out) and its line
/// per method.
fn scenario_summary(by_method: &BTreeMap<&str, Runs>) -> (String, Vec<String>) {
    let mut lines = Vec::new();
    let mut best: [Option<(f64, &str)>; 2] = [None, None];
    let mut subject: Option<(&str, [Option<f64>; 2])> = None;
    for (&method, (role, held, tuned)) in by_method {
        let gaps = ["avg_gap_output", "avg_gap_feature"].map(|k| mean_of(held, k));
        let on = ["avg_gap_output", "avg_gap_feature"].map(|k| mean_of(tuned, k));
        lines.push(format!(
            "{method}: output gap {} (tuned-on {}), feature gap {} (tuned-on {}), {} held-out seed(s)",
            fmt(gaps[0]),
            fmt(on[0]),
            fmt(gaps[1]),
            fmt(on[1]),
            held.len()
        ));
        if role.is_subject() {
            if subject.is_none() {
                subject = Some((method, gaps));
            }
        } else if !role.is_ablation() && !role.is_reference() {
            for (b, g) in best.iter_mut().zip(gaps) {
                if let Some(g) = g {
                    if b.is_none_or(|(v, _)| g < v) {
                        *b = Some((g, method));
                    }
                }
            }
        }
    }
    let Some((su, gaps)) = subject else {
        return (
            "No subject method in this study: no held-out comparison.".into(),
            lines,
        );
    };
    let verdicts: Vec<String> = ["output", "feature"]
        .iter()
        .zip(gaps.iter().zip(best))
        .map(|(space, (m, b))| match (m, b) {
            (Some(m), Some((b, name))) if *m <= b => {
                format!("{space} gap: {su} {m:.2} is the best (best baseline {name} {b:.2})")
            }
            (Some(m), Some((b, name))) => format!(
                "{space} gap: {su} {m:.2} is not the best; {name} {b:.2} is better by {:.2}",
                m - b
            ),
            _ => format!("{space} gap: no held-out comparison"),
        })
        .collect();
    (verdicts.join("; ") + ".", lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markdown::render_md;
    use crate::table::tests::rec;
    use crate::Tuning;

    fn tuned(scenario: &str, seed: u64, method: &str, out: f64, feat: f64) -> ResultRecord {
        let mut r = rec(scenario, seed, method, out, feat, 0.9);
        r.tuning = Some(Tuning {
            trials: 8,
            objective: "both".into(),
            tuned_method: method.trim_end_matches("-no-da").into(),
            tuned_on_seed: 0,
            held_out: seed != 0,
        });
        r
    }

    #[test]
    fn the_section_separates_held_out_seeds_and_judges_the_subject_on_them() {
        let s = "random:0.1";
        let records = vec![
            tuned(s, 0, "ft", 0.5, 1.0),
            tuned(s, 1, "ft", 2.0, 3.0),
            tuned(s, 2, "ft", 4.0, 5.0),
            // The subject (muda) is the best on the tuned seed but not on the held-out ones
            // (output).
            tuned(s, 0, "muda", 0.1, 0.1),
            tuned(s, 1, "muda", 3.5, 1.0),
            tuned(s, 2, "muda", 3.5, 2.0),
            tuned(s, 1, "muda-no-da", 0.0, 0.0),
        ];
        let md = render_md(&tuning_section(&records, &[s.to_string()]));
        assert!(md.contains("## Tuning"), "{md}");
        assert!(
            md.contains("8 trials") && md.contains("seed 0 only"),
            "{md}"
        );
        // Held-out means: ft (2 + 4) / 2 = 3, muda 3.5; the ablation is not a baseline.
        assert!(
            md.contains("output gap: muda 3.50 is not the best; ft 3.00 is better by 0.50"),
            "{md}"
        );
        assert!(
            md.contains("feature gap: muda 1.50 is the best (best baseline ft 4.00)"),
            "{md}"
        );
        assert!(
            md.contains("An ablation takes the values of the method it ablates"),
            "{md}"
        );
        assert!(md.contains("- ft: output gap 3.00 (tuned-on 0.50), feature gap 4.00 (tuned-on 1.00), 2 held-out seed(s)"), "{md}");
        // Untuned records give no section.
        let plain = vec![rec(s, 0, "ft", 1.0, 1.0, 0.9)];
        assert!(tuning_section(&plain, &[s.to_string()]).is_empty());
    }

    #[test]
    fn the_subject_and_the_baselines_are_read_from_the_roles() {
        let s = "random:0.1";
        let with = |mut r: ResultRecord, role: Role| {
            r.role = Some(role);
            r
        };
        let subject = Role::Method {
            subject: true,
            traits: Vec::new(),
        };
        let records = vec![
            with(tuned(s, 1, "mine", 2.0, 2.0), subject),
            // Plain methods under names that name inference would read as the subject and
            // as an ablation: both baselines.
            with(tuned(s, 1, "muda", 3.0, 1.0), Role::PLAIN_METHOD),
            with(tuned(s, 1, "muda-fast", 1.0, 3.0), Role::PLAIN_METHOD),
            with(
                tuned(s, 1, "gold", 0.0, 0.0),
                Role::Reference { model: None },
            ),
        ];
        let md = render_md(&tuning_section(&records, &[s.to_string()]));
        assert!(
            md.contains("output gap: mine 2.00 is not the best; muda-fast 1.00 is better by 1.00; feature gap: mine 2.00 is not the best; muda 1.00 is better by 1.00."),
            "{md}"
        );
        let records: Vec<ResultRecord> = records[1..].to_vec();
        let md = render_md(&tuning_section(&records, &[s.to_string()]));
        assert!(
            md.contains("\n\nNo subject method in this study: no held-out comparison.\n\n- gold: "),
            "{md}"
        );
    }
}
