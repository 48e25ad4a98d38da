//! Studies run against an oracle ensemble (`--oracles N`, N ≥ 2): every record's metrics
//! carry `reference` (the mean and std of N oracle retrains per metric), `gap`, `z` and
//! `oracle_tests` (per-example tests of the method's models against the oracles). This
//! module reads them and builds the report's oracle row and † marks of the main table, the
//! z-score table and the per-example test table. Nothing here appears when `reference.n`
//! is below 2 (an ordinary study with one retrain).

use serde_json::Value;

use crate::record::{ReferenceModel, ResultRecord};
use crate::table::{Block, Cell, MethodRuns, Scenario, Table};

/// A method's mean over seeds counts as within the oracles' spread (marked "†") when it
/// lies within the oracle mean ± `WITHIN_SPREAD_Z` oracle standard deviations. This is the
/// project's choice (two standard deviations, about 95% of a normal spread), not a
/// convention taken from the literature.
pub const WITHIN_SPREAD_Z: f64 = 2.0;

/// The `reference`/`gap`/`z` key of a metrics JSON pointer (`/da/forget` → `da_forget`).
pub(crate) fn key_of(pointer: &str) -> Option<&'static str> {
    Some(match pointer {
        "/fa" => "fa",
        "/ua" => "ua",
        "/ra" => "ra",
        "/ta" => "ta",
        "/va" => "va",
        "/ta_forgotten" => "ta_forgotten",
        "/asr" => "asr",
        "/mia/confidence" => "mia",
        "/mia/correctness" => "mia_correctness",
        "/mia/entropy" => "mia_entropy",
        "/mia/m_entropy" => "mia_m_entropy",
        "/mia/prob" => "mia_prob",
        "/da/forget" => "da_forget",
        "/da/test" => "da_test",
        "/da/subspace" => "da_subspace",
        "/lp/forget" => "lp_forget",
        "/lp/test" => "lp_test",
        "/nmi" => "nmi",
        "/f1" => "f1",
        _ => return None,
    })
}

/// The oracle ensemble's summary: `reference` of the scenario's first successful record.
#[derive(Clone, Copy)]
pub(crate) struct Reference<'a> {
    /// Oracles in the ensemble.
    pub(crate) n: u64,
    value: &'a Value,
}

impl Reference<'_> {
    /// The oracles' `(mean, std)` of the metric at `pointer`.
    pub(crate) fn get(&self, pointer: &str) -> Option<(f64, f64)> {
        let v = &self.value[key_of(pointer)?];
        Some((v["mean"].as_f64()?, v["std"].as_f64()?))
    }

    /// Whether `value` lies within the oracle mean ± [`WITHIN_SPREAD_Z`] std of the metric.
    pub(crate) fn within(&self, pointer: &str, value: f64) -> bool {
        self.get(pointer)
            .is_some_and(|(m, s)| value.is_finite() && (value - m).abs() <= WITHIN_SPREAD_Z * s)
    }
}

/// The scenario's oracle ensemble, when its first successful record has one of at least
/// two oracles.
pub(crate) fn reference<'a>(sc: &Scenario<'a>) -> Option<Reference<'a>> {
    let first: &ResultRecord = sc.methods.iter().find_map(|m| m.ok.first().copied())?;
    let value = first.metric("/reference")?;
    let n = value["n"].as_u64()?;
    (n >= 2).then_some(Reference { n, value })
}

/// The legend of the † marks, below the main table.
pub(crate) fn legend(r: Reference) -> Block {
    Block::Para(format!(
        "First row: the mean ± std of the n = {} oracle retrains (the reference every row is measured against; the `retrain` row is a held-out retrain on other seeds, a control). †: the row's mean over seeds lies within the oracle mean ± {WITHIN_SPREAD_Z} std (this project's threshold).",
        r.n
    ))
}

/// The method's oracle tests: those of its first successful record that has them (they are
/// the same in all seeds' records).
pub(crate) fn tests_of<'a>(m: &MethodRuns<'a>) -> Option<&'a Value> {
    m.ok.iter()
        .find_map(|r| r.metric("/oracle_tests").filter(|v| v.is_object()))
}

/// z-score columns: name and key.
const Z_COLUMNS: [(&str, &str); 8] = [
    ("UA", "ua"),
    ("RA", "ra"),
    ("TA", "ta"),
    ("MIA", "mia"),
    ("DA_f", "da_forget"),
    ("LP_f", "lp_forget"),
    ("NMI", "nmi"),
    ("F1", "f1"),
];

fn mean(vals: &[f64]) -> Option<f64> {
    (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
}

/// The z-score table: per method with a successful run, the mean over seeds of `z.<key>`.
pub(crate) fn z_table(sc: &Scenario) -> Table {
    let mut cols: Vec<(&str, &str)> = Z_COLUMNS.to_vec();
    if sc.backdoor() {
        cols.insert(4, ("ASR", "asr"));
    }
    let rows = sc
        .methods
        .iter()
        .filter(|m| !m.ok.is_empty())
        .map(|m| {
            let cells = cols
                .iter()
                .map(|(_, key)| {
                    let vals: Vec<f64> =
                        m.ok.iter()
                            .filter_map(|r| r.metric(&format!("/z/{key}"))?.as_f64())
                            .filter(|v| v.is_finite())
                            .collect();
                    Cell::Text(mean(&vals).map_or("–".into(), |z| format!("{z:.2}")))
                })
                .collect();
            (m.name.clone(), Ok(cells))
        })
        .collect();
    let mut header = vec!["method".to_string()];
    header.extend(cols.iter().map(|(n, _)| n.to_string()));
    Table { header, rows }
}

/// An attack's AUC with its per-score (Hanley–McNeil) 95% interval and, when recorded,
/// the permutation band over models.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Auc {
    pub(crate) auc: f64,
    pub(crate) lower: f64,
    pub(crate) upper: f64,
    /// Half-width `h` of the permutation null band `0.5 ± h` and the p-value.
    pub(crate) null: Option<(f64, f64)>,
}

impl Auc {
    /// Whether the attack cannot tell the models from the oracles: `|AUC − 0.5| ≤ h` (the
    /// permutation band over models); for records without one, whether the Hanley–McNeil
    /// interval contains 0.5.
    pub(crate) fn indistinguishable(&self) -> bool {
        match self.null {
            Some((h, _)) => (self.auc - 0.5).abs() <= h,
            None => self.lower <= 0.5 && 0.5 <= self.upper,
        }
    }

    /// `0.48 (0.5 ± 0.04, p 0.31)` with a permutation band, else `0.48 [0.47, 0.50]`.
    pub(crate) fn text(&self) -> String {
        let a = self.auc;
        match self.null {
            Some((h, p)) => format!("{a:.3} (0.5 ± {h:.3}, p {p:.3})"),
            None => format!("{a:.2} [{:.2}, {:.2}]", self.lower, self.upper),
        }
    }
}

/// An attack's [`Auc`] from its record (`auc`, `auc_lower`, `auc_upper`, and
/// `auc_null_half_width` with `auc_p_value` when present).
pub(crate) fn auc_of(attack: &Value) -> Option<Auc> {
    let null = attack["auc_null_half_width"]
        .as_f64()
        .zip(attack["auc_p_value"].as_f64());
    Some(Auc {
        auc: attack["auc"].as_f64()?,
        lower: attack["auc_lower"].as_f64()?,
        upper: attack["auc_upper"].as_f64()?,
        null,
    })
}

fn num(v: &Value, digits: usize) -> String {
    v.as_f64().map_or("–".into(), |x| format!("{x:.digits$}"))
}

fn auc_text(attack: &Value) -> String {
    auc_of(attack).map_or("–".into(), |a| a.text())
}

/// The attack's TPR at the false-positive rate `fpr` (looked up by value).
fn tpr_at(attack: &Value, fpr: f64) -> String {
    attack["tpr_at_fpr"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|e| e["fpr"].as_f64().is_some_and(|f| (f - fpr).abs() < 1e-12))
        })
        .map_or("–".into(), |e| num(&e["tpr"], 3))
}

/// The row label of a method in the per-example table.
pub(crate) fn label(m: &MethodRuns) -> String {
    if m.role.is(ReferenceModel::Retrain) {
        format!("{} (held-out)", m.name)
    } else {
        m.name.clone()
    }
}

fn per_example_cells(t: &Value) -> Vec<Cell> {
    let (margin, energy) = (&t["margin"], &t["energy"]);
    let verdict = match auc_of(margin) {
        Some(a) if a.indistinguishable() => "indistinguishable",
        Some(_) => "distinguishable",
        None => "–",
    };
    [
        num(&margin["klom_p50"], 2),
        num(&margin["klom_p95"], 2),
        auc_text(margin),
        tpr_at(margin, 0.01),
        tpr_at(margin, 0.001),
        num(&energy["klom_p95"], 2),
        auc_text(energy),
        verdict.to_string(),
    ]
    .into_iter()
    .map(Cell::Text)
    .collect()
}

/// The per-example test table: retrain (held-out), original, then the methods; `None` when
/// no method has oracle tests.
pub(crate) fn per_example_table(sc: &Scenario) -> Option<Table> {
    let methods: Vec<&MethodRuns> = sc.methods.iter().filter(|m| !m.ok.is_empty()).collect();
    if !methods.iter().any(|m| tests_of(m).is_some()) {
        return None;
    }
    let rows = methods
        .iter()
        .map(|m| {
            let row = tests_of(m)
                .map(per_example_cells)
                .ok_or_else(|| "no per-example tests recorded".to_string());
            (label(m), row)
        })
        .collect();
    let header = [
        "method",
        "KLoM P50",
        "KLoM P95",
        "LiRA AUC (null band, p)",
        "TPR@1% FPR",
        "TPR@0.1% FPR",
        "energy KLoM P95",
        "energy AUC (null band, p)",
        "vs oracles",
    ]
    .map(String::from)
    .to_vec();
    Some(Table { header, rows })
}

/// The sentence above the per-example table: models, oracles, examples, bins and clip.
fn per_example_intro(sc: &Scenario) -> String {
    let t = sc
        .reference(ReferenceModel::Retrain)
        .and_then(tests_of)
        .or_else(|| sc.methods.iter().find_map(tests_of))
        .unwrap_or(&Value::Null);
    let count = |k: &str| t[k].as_u64().map_or("?".into(), |n| n.to_string());
    let p = &t["params"];
    let mut s = format!(
        "Per-example tests of each method's {} models against the {} oracles on {} examples: KLoM (the KL divergence between a method's and the oracles' distributions of an example's margin, {} bins; P50/P95 over examples) and a LiRA attack that tells the method's models from the oracles (AUC, TPR at a fixed FPR), on per-example margins clipped at ±{}",
        count("models"),
        count("oracles"),
        count("examples"),
        num(&p["klom"]["bins"], 0),
        p["margin"]["clip"].as_f64().map_or("?".into(), |c| format!("{c}")),
    );
    s.push_str("; \"energy\": the same on each forget feature's energy outside the retain subspace, 1 − ‖V_kᵀz‖². The null band 0.5 ± h holds the central 95% of the AUCs of random relabellings of the method's and the oracles' models (the attack rerun each time; the count is `permutations` in the records); p is the two-sided permutation p-value. `indistinguishable`: the margin AUC lies within its band (records without a band: its Hanley–McNeil interval contains 0.5).");
    s
}

/// The blocks after the main table: the z-score table and the per-example tests. Empty
/// unless the scenario has an oracle ensemble.
pub(crate) fn oracle_blocks(sc: &Scenario) -> Vec<Block> {
    let Some(r) = reference(sc) else {
        return Vec::new();
    };
    let mut blocks = vec![
        Block::Heading(3, "z-scores against the oracle ensemble".into()),
        Block::Para(format!(
            "Per method, the mean over seeds of z = |value − oracle mean| / oracle std (n = {} oracles; – where the oracles' std is 0 or the value is missing).",
            r.n
        )),
        Block::Table(z_table(sc)),
    ];
    if let Some(t) = per_example_table(sc) {
        let intro = per_example_intro(sc);
        blocks.push(Block::Heading(
            3,
            "Per-example tests against the oracle ensemble".into(),
        ));
        blocks.push(Block::Para(intro));
        blocks.push(Block::Table(t));
    }
    blocks
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::markdown::render_md;
    use crate::table::group;
    use crate::table::tests::rec;
    use serde_json::json;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// One attack's results with the given AUC interval.
    pub(crate) fn attack(auc: f64, lo: f64, hi: f64) -> Value {
        json!({"klom_p50": 0.3, "klom_p95": 2.1, "auc": auc, "auc_lower": lo, "auc_upper": hi,
               "tpr_at_fpr": [{"fpr": 0.01, "tpr": 0.05}, {"fpr": 0.001, "tpr": 0.0125}],
               "roc": {"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 0.6, 1.0]}})
    }

    /// `rec` with an oracle ensemble of `n`: UA oracle mean 10 ± 1, z of UA = `z_ua`, and
    /// margin tests with the AUC interval `(auc, lo, hi)`.
    pub(crate) fn orec(
        scenario: &str,
        seed: u64,
        method: &str,
        n: u64,
        ua: f64,
        auc: (f64, f64, f64),
    ) -> ResultRecord {
        let mut r = rec(scenario, seed, method, 1.0, 2.0, 0.9);
        if let Some(m) = r.metrics.as_mut() {
            m["ua"] = json!(ua);
            m["reference"] = json!({"n": n, "ua": {"mean": 10.0, "std": 1.0},
                                    "ra": {"mean": 90.0, "std": 0.0}});
            m["z"] = json!({"ua": (ua - 10.0f64).abs()});
            m["oracle_tests"] = json!({"models": 4, "oracles": n, "examples": 600,
                "params": {"margin": {"clip": 100.0}, "klom": {"bins": 20, "eps": 1e-6}},
                "margin": attack(auc.0, auc.1, auc.2), "energy": attack(0.6, 0.55, 0.65)});
        }
        r
    }

    #[test]
    fn main_table_gets_the_oracle_row_and_daggers_only_with_an_ensemble() -> TestResult {
        let rows = |n: u64| {
            vec![
                orec("random:0.1", 0, "retrain", n, 10.5, (0.5, 0.4, 0.6)),
                orec("random:0.1", 0, "ft", n, 13.0, (0.5, 0.4, 0.6)),
                orec("random:0.1", 1, "ft", n, 14.0, (0.5, 0.4, 0.6)),
                orec("random:0.1", 0, "muda", n, 8.5, (0.5, 0.4, 0.6)),
            ]
        };
        let records = rows(8);
        let sc = group(&records, &[]);
        let md = render_md(&[Block::Table(crate::table::table(&sc[0]))]);
        // Oracle UA 10 ± 1, RA 90 ± 0; TA and the gaps are not in `reference`, nor is RTE.
        assert!(
            md.contains("\n| oracles (n = 8) | 10.00 ± 1.00 | 90.00 ± 0.00 | – | – | – |"),
            "{md}"
        );
        assert!(md.contains("| – | – |\n| retrain |"), "{md}");
        // retrain 10.5 and muda 8.5 are within 10 ± 2 (muda also the closest to retrain:
        // bold), ft's 13.5 is not; RA 90 is within 90 ± 0 exactly.
        assert!(md.contains("| retrain | 10.50† | 90.00† |"), "{md}");
        assert!(md.contains("| muda | **8.50**† | **90.00**† |"), "{md}");
        assert!(
            md.contains("| ft | 13.50 ± 0.71 | **90.00 ± 0.00**† |"),
            "{md}"
        );
        let html = crate::html::render_html("t", &[Block::Table(crate::table::table(&sc[0]))]);
        assert!(html.contains("<td class=\"num best\">8.50†</td>"), "{html}");
        assert!(
            html.contains("<td class=\"num\">13.50 ± 0.71</td>"),
            "{html}"
        );
        let legend = render_md(&[legend(reference(&sc[0]).ok_or("no reference")?)]);
        assert!(
            legend.contains("n = 8 oracle") && legend.contains("± 2 std"),
            "{legend}"
        );
        // One retrain (an ordinary study): no oracle row, no daggers.
        let records = rows(1);
        let md = render_md(&[Block::Table(crate::table::table(&group(&records, &[])[0]))]);
        assert!(!md.contains("oracles") && !md.contains('†'), "{md}");
        Ok(())
    }

    #[test]
    fn the_permutation_band_decides_when_recorded() {
        // The measured random:0.1 case: a per-score interval that misses 0.5, and a band
        // over models that holds the AUC.
        let mut a = attack(0.479, 0.466, 0.492);
        let auc = |v: &Value| auc_of(v).ok_or("no AUC");
        assert!(auc(&a).is_ok_and(|x| !x.indistinguishable()));
        a["auc_null_half_width"] = json!(0.04);
        a["auc_p_value"] = json!(0.31);
        let x = auc(&a).unwrap_or_else(|e| panic!("{e}"));
        assert!(x.indistinguishable(), "{x:?}");
        assert_eq!(x.text(), "0.479 (0.5 ± 0.040, p 0.310)");
        // A band narrower than the distance to 0.5 tells the models apart, whatever the
        // per-score interval says.
        let mut b = attack(0.53, 0.45, 0.61);
        b["auc_null_half_width"] = json!(0.02);
        b["auc_p_value"] = json!(0.001);
        assert!(auc(&b).is_ok_and(|x| !x.indistinguishable()));
        // Only one of the two fields: no band.
        let mut c = attack(0.53, 0.45, 0.61);
        c["auc_null_half_width"] = json!(0.02);
        assert!(auc(&c).is_ok_and(|x| x.null.is_none() && x.indistinguishable()));
    }

    #[test]
    fn keys_map_the_table_pointers() {
        assert_eq!(key_of("/mia/confidence"), Some("mia"));
        assert_eq!(key_of("/da/forget"), Some("da_forget"));
        assert_eq!(key_of("/lp/forget"), Some("lp_forget"));
        assert_eq!(key_of("/avg_gap_output"), None);
    }

    #[test]
    fn reference_needs_two_oracles_and_within_applies_the_spread() {
        let one = [orec("random:0.1", 0, "ft", 1, 10.0, (0.5, 0.4, 0.6))];
        assert!(reference(&group(&one, &[])[0]).is_none());
        assert!(oracle_blocks(&group(&one, &[])[0]).is_empty());
        let eight = [orec("random:0.1", 0, "ft", 8, 10.0, (0.5, 0.4, 0.6))];
        let sc = group(&eight, &[]);
        let r = reference(&sc[0]).map(|r| (r.n, r.get("/ua"), r.within("/ua", 12.0)));
        assert_eq!(r, Some((8, Some((10.0, 1.0)), true)));
        let r = reference(&sc[0]).ok_or("no reference");
        assert!(r.is_ok_and(|r| !r.within("/ua", 12.01) && !r.within("/nmi", 0.7)));
    }

    #[test]
    fn z_table_averages_seeds_and_verdict_flips_with_the_interval() {
        let records = [
            orec("backdoor:0.1", 0, "retrain", 8, 10.5, (0.52, 0.45, 0.58)),
            orec("backdoor:0.1", 0, "ft", 8, 13.0, (0.71, 0.69, 0.73)),
            orec("backdoor:0.1", 1, "ft", 8, 14.0, (0.71, 0.69, 0.73)),
            orec("backdoor:0.1", 0, "muda", 8, 9.0, (0.51, 0.499, 0.52)),
        ];
        let sc = group(&records, &[]);
        let md = render_md(&oracle_blocks(&sc[0]));
        assert!(
            md.contains("| method | UA | RA | TA | MIA | ASR | DA_f |"),
            "{md}"
        );
        // ft: z of UA = mean(3, 4) = 3.5; the others have no z → "–".
        assert!(md.contains("| ft | 3.50 | – |"), "{md}");
        assert!(md.contains("| muda | 1.00 | – |"), "{md}");
        assert!(
            md.contains("| retrain (held-out) | 0.30 | 2.10 | 0.52 [0.45, 0.58] | 0.050 | 0.013 | 2.10 | 0.60 [0.55, 0.65] | indistinguishable |"),
            "{md}"
        );
        assert!(md.contains(" 0.71 [0.69, 0.73] |"), "{md}");
        assert!(
            md.lines()
                .any(|l| l.starts_with("| ft |") && l.ends_with("| distinguishable |")),
            "{md}"
        );
        assert!(
            md.lines()
                .any(|l| l.starts_with("| muda |") && l.ends_with("| indistinguishable |")),
            "{md}"
        );
        assert!(
            md.contains("4 models against the 8 oracles on 600 examples"),
            "{md}"
        );
        assert!(
            md.contains("20 bins") && md.contains("clipped at ±100"),
            "{md}"
        );
    }

    #[test]
    fn missing_oracle_tests_give_a_note_row_or_no_table() {
        let mut bare = orec("random:0.1", 0, "ft", 8, 10.0, (0.5, 0.4, 0.6));
        if let Some(m) = bare.metrics.as_mut() {
            m["oracle_tests"] = Value::Null;
        }
        let sc = group(std::slice::from_ref(&bare), &[]);
        assert!(per_example_table(&sc[0]).is_none());
        let records = [bare, orec("random:0.1", 0, "ga", 8, 10.0, (0.5, 0.4, 0.6))];
        let md = render_md(&oracle_blocks(&group(&records, &[])[0]));
        assert!(
            md.contains("| ft | no per-example tests recorded |"),
            "{md}"
        );
        // TPR entries are looked up by fpr: one missing gives "–".
        let mut a = attack(0.5, 0.4, 0.6);
        a["tpr_at_fpr"] = json!([{"fpr": 0.001, "tpr": 0.5}]);
        assert_eq!(
            (tpr_at(&a, 0.01), tpr_at(&a, 0.001)),
            ("–".into(), "0.500".into())
        );
    }
}
