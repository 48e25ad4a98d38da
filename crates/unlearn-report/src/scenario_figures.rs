//! A scenario's four figures, from its records and the per-run plot data
//! (`unlearn metrics --plot-data`): the spectrum, DA_f per method, the PCA small multiples
//! and UA against MIA. A figure whose data is missing is skipped with a note.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::figures::{self, Bar, PcaPanel, Point, SpectrumPanel};
use crate::record::{ReferenceModel, Source};
use crate::table::{Block, Scenario};
use crate::{slug, write_atomic, ReportError};

type Result<T> = std::result::Result<T, ReportError>;

/// Points per set and panel in the PCA figure (the plot data holds up to 500; fewer keep
/// the SVG small enough to commit and to inline).
const PCA_POINTS: usize = 150;

const UA: Source = Source::Metric("/ua");
const MIA: Source = Source::Metric("/mia/confidence");
const DA_F: Source = Source::Metric("/da/forget");

/// Where the figure data of one run is read from:
/// `<out>/<slug(scenario)>/seed<seed>/metrics/<method>.plot.json`.
pub fn plot_path(out: &Path, scenario: &str, seed: u64, method: &str) -> PathBuf {
    out.join(slug(scenario))
        .join(format!("seed{seed}"))
        .join("metrics")
        .join(format!("{method}.plot.json"))
}

fn read_plot(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(ReportError::io("read", path))?;
    serde_json::from_str(&text).map_err(|source| ReportError::Json {
        path: path.to_path_buf(),
        line: None,
        source,
    })
}

/// The numbers of a JSON array (others skipped; none for a non-array).
pub(crate) fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

fn points(v: &Value) -> Vec<(f64, f64)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Every k-th point, keeping at most `max` (the plot data is already a seeded sample).
fn thin(points: Vec<(f64, f64)>, max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max {
        return points;
    }
    let step = points.len().div_ceil(max);
    points.into_iter().step_by(step).collect()
}

/// One scenario's figures under construction: the blocks so far and notes on skipped ones.
struct Figures<'a, 'b> {
    out: &'a Path,
    sc: &'a Scenario<'b>,
    slug: String,
    /// `seed k` of the per-run figures, or `no seed`.
    seed_txt: String,
    blocks: Vec<Block>,
    notes: Vec<String>,
}

impl Figures<'_, '_> {
    /// Writes `figures/<slug>-<name>.svg` and adds its block.
    fn add(&mut self, name: &str, svg: String, caption: String) -> Result<()> {
        let rel = format!("figures/{}-{name}.svg", self.slug);
        write_atomic(&self.out.join(&rel), &svg)?;
        self.blocks.push(Block::Figure {
            path: rel,
            svg,
            caption,
        });
        Ok(())
    }

    /// The method's plot data for the figure seed: `None` when there is no such file.
    fn plot(&self, method: &str) -> Option<(PathBuf, Result<Value>)> {
        let seed = self.sc.figure_seed?;
        let p = plot_path(self.out, &self.sc.name, seed, method);
        p.exists().then(|| {
            let v = read_plot(&p);
            (p, v)
        })
    }

    fn unreadable(&mut self, path: &Path, err: &ReportError) {
        self.notes
            .push(format!("`{}` unreadable ({})", path.display(), err.chain()));
    }

    /// (a) Spectrum: Original / Retrain / the subject method (its name upper-cased), when
    /// the study has one.
    fn spectrum(&mut self) -> Result<()> {
        let sc = self.sc;
        let mut panels = Vec::new();
        let mut missing = Vec::new();
        // The references by role; one that did not run is reported missing by its word.
        let reference = |which: ReferenceModel| {
            sc.methods
                .iter()
                .find(|m| m.role.is(which))
                .map_or(which.as_str(), |m| m.name.as_str())
        };
        let mut models = vec![
            (reference(ReferenceModel::Original), "Original".to_string()),
            (reference(ReferenceModel::Retrain), "Retrain".to_string()),
        ];
        if let Some(m) = sc.methods.iter().find(|m| m.role.is_subject()) {
            models.push((m.name.as_str(), m.name.to_uppercase()));
        }
        for (method, title) in models {
            let k = sc
                .method(method)
                .and_then(|m| m.ok.first())
                .and_then(|r| r.metric("/da/k"))
                .and_then(Value::as_u64)
                .map(|k| k as usize);
            match self.plot(method) {
                Some((_, Ok(v))) => panels.push(SpectrumPanel {
                    title,
                    eigenvalues: f64s(&v["spectrum"]["eigenvalues"]),
                    forget: f64s(&v["spectrum"]["forget"]),
                    test: f64s(&v["spectrum"]["test"]),
                    k,
                }),
                Some((p, Err(e))) => self.unreadable(&p, &e),
                None => missing.push(method),
            }
        }
        let (name, seed_txt) = (&sc.name, &self.seed_txt);
        if !missing.is_empty() {
            self.notes.push(format!(
                "spectrum figure: no plot data for {} ({seed_txt})",
                missing.join(", ")
            ));
        }
        if panels.is_empty() {
            return Ok(());
        }
        let svg = figures::spectrum(
            &format!(
                "{name}: retain eigen-spectrum and forget/test energy per direction ({seed_txt})"
            ),
            &panels,
            40,
        )?;
        let caption = format!("`{name}`, {seed_txt}: the retain eigenvalues (bars) and the share of forget and test feature energy along each retain eigen-direction (first 40, log scale); the vertical line is the DA subspace dimension k. Forget energy that follows the test curve means forget samples look unseen.");
        self.add("spectrum", svg, caption)
    }

    /// (b) DA_f per method against retrain.
    fn da(&mut self) -> Result<()> {
        let sc = self.sc;
        let retrain_da = sc
            .reference(ReferenceModel::Retrain)
            .and_then(|m| m.mean(DA_F));
        let bars: Vec<Bar> = sc
            .methods
            .iter()
            .filter(|m| !m.role.is(ReferenceModel::Retrain))
            .filter_map(|m| {
                let s = m.stat(DA_F)?;
                Some(Bar {
                    label: m.name.clone(),
                    mean: s.mean,
                    std: s.std,
                })
            })
            .collect();
        match retrain_da {
            Some(r) if !bars.is_empty() => {
                let svg = figures::bars_with_reference(
                    &format!("{}: DA_f per method vs retrain", sc.name),
                    "DA_f",
                    &bars,
                    r,
                    &format!("retrain DA_f = {r:.3}"),
                )?;
                let caption = format!("`{}`: DA_f per method (mean over seeds, whiskers ± std when several seeds); the red line is the retrain value, the target.", sc.name);
                self.add("da", svg, caption)
            }
            _ => {
                self.notes
                    .push("DA_f figure: no retrain DA_f or no method".into());
                Ok(())
            }
        }
    }

    /// (c) PCA small multiples.
    fn pca(&mut self) -> Result<()> {
        let sc = self.sc;
        let mut pcas = Vec::new();
        let mut missing = Vec::new();
        for m in sc.methods.iter().filter(|m| !m.ok.is_empty()) {
            match self.plot(&m.name) {
                Some((_, Ok(v))) => {
                    let ex = f64s(&v["pca2"]["explained"]);
                    pcas.push(PcaPanel {
                        title: m.name.clone(),
                        explained: [
                            ex.first().copied().unwrap_or(f64::NAN),
                            ex.get(1).copied().unwrap_or(f64::NAN),
                        ],
                        forget: thin(points(&v["pca2"]["forget"]), PCA_POINTS),
                        retain: thin(points(&v["pca2"]["retain"]), PCA_POINTS),
                    });
                }
                Some((p, Err(e))) => self.unreadable(&p, &e),
                None => missing.push(m.name.as_str()),
            }
        }
        let (name, seed_txt) = (&sc.name, &self.seed_txt);
        if !missing.is_empty() {
            self.notes.push(format!(
                "PCA figure: no plot data for {} ({seed_txt})",
                missing.join(", ")
            ));
        }
        if pcas.is_empty() {
            return Ok(());
        }
        let svg = figures::pca_grid(
            &format!("{name}: 2-D PCA of forget and retain features per method ({seed_txt})"),
            &pcas,
        )?;
        let caption = format!("`{name}`, {seed_txt}: per method, retain (grey) and forget (red) features (L2-normalised, at most 150 each) in the first two principal components of that model's retain features (share of variance on the axes).");
        self.add("pca", svg, caption)
    }

    /// (d) UA vs MIA.
    fn ua_mia(&mut self) -> Result<()> {
        let sc = self.sc;
        let pts: Vec<Point> = sc
            .methods
            .iter()
            .filter(|m| !m.role.is(ReferenceModel::Retrain))
            .filter_map(|m| {
                Some(Point {
                    label: m.name.clone(),
                    x: m.mean(UA)?,
                    y: m.mean(MIA)?,
                })
            })
            .collect();
        let r = sc
            .reference(ReferenceModel::Retrain)
            .and_then(|m| m.mean(UA).zip(m.mean(MIA)));
        if pts.is_empty() && r.is_none() {
            return Ok(());
        }
        let svg = figures::ua_mia(&format!("{}: UA vs MIA-efficacy", sc.name), &pts, r)?;
        let caption = format!("`{}`: UA against MIA-efficacy (confidence variant), one point per method (means over seeds); the retrain point (red triangle, dashed guides) is the target.", sc.name);
        self.add("ua-mia", svg, caption)
    }
}

/// Draws the scenario's figures into `<out>/figures/`; returns the figure blocks and notes
/// on skipped ones.
pub(crate) fn scenario_figures(out: &Path, sc: &Scenario) -> Result<(Vec<Block>, Vec<String>)> {
    let mut f = Figures {
        out,
        sc,
        slug: slug(&sc.name),
        seed_txt: sc
            .figure_seed
            .map(|s| format!("seed {s}"))
            .unwrap_or_else(|| "no seed".into()),
        blocks: Vec::new(),
        notes: Vec::new(),
    };
    f.spectrum()?;
    f.da()?;
    f.pca()?;
    f.ua_mia()?;
    Ok((f.blocks, f.notes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::group;
    use crate::table::tests::rec;
    use serde_json::json;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn thin_keeps_at_most_max_points() {
        let pts: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 0.0)).collect();
        assert_eq!(thin(pts.clone(), 20).len(), 10);
        let t = thin(pts, 4);
        assert_eq!(t.len(), 4);
        assert_eq!(t[1], (3.0, 0.0));
    }

    #[test]
    fn plot_path_is_under_the_scenario_seed_folder() {
        assert_eq!(
            plot_path(Path::new("o"), "random:0.1", 2, "muda"),
            Path::new("o/random-0.1/seed2/metrics/muda.plot.json")
        );
    }

    #[test]
    fn figures_use_plot_data_when_present_and_note_what_is_missing() -> TestResult {
        let dir = tempfile::tempdir()?;
        let out = dir.path();
        std::fs::create_dir_all(out.join("figures"))?;
        let records = vec![
            rec("random:0.1", 0, "retrain", 0.0, 0.0, 0.936),
            rec("random:0.1", 0, "original", 2.0, 3.0, 0.93),
            rec("random:0.1", 0, "muda", 1.0, 2.0, 0.94),
        ];
        let plot = json!({
            "spectrum": {"eigenvalues": [0.5, 0.3, 0.2], "forget": [0.4, 0.4, 0.2], "test": [0.5, 0.3, 0.2]},
            "pca2": {"explained": [0.4, 0.2], "forget": [[0.0, 1.0], [1.0, 0.0]], "retain": [[0.5, 0.5]]},
        });
        let p = plot_path(out, "random:0.1", 0, "retrain");
        std::fs::create_dir_all(p.parent().ok_or("no parent")?)?;
        std::fs::write(&p, plot.to_string())?;
        std::fs::write(plot_path(out, "random:0.1", 0, "muda"), "{not json")?;
        let sc = group(&records, &[]);
        let (blocks, notes) = scenario_figures(out, &sc[0])?;
        let paths: Vec<&str> = blocks
            .iter()
            .filter_map(|b| match b {
                Block::Figure { path, .. } => Some(path.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            paths,
            [
                "figures/random-0.1-spectrum.svg",
                "figures/random-0.1-da.svg",
                "figures/random-0.1-pca.svg",
                "figures/random-0.1-ua-mia.svg"
            ]
        );
        for p in paths {
            assert!(std::fs::read_to_string(out.join(p))?.starts_with("<svg"));
        }
        assert_eq!(notes.len(), 4, "{notes:?}");
        assert!(
            notes[0].contains("muda.plot.json` unreadable (")
                && notes[0].contains(" is not JSON: "),
            "{}",
            notes[0]
        );
        assert_eq!(
            notes[1],
            "spectrum figure: no plot data for original (seed 0)"
        );
        assert_eq!(notes[3], "PCA figure: no plot data for original (seed 0)");
        Ok(())
    }

    /// The spectrum's third panel is the subject by its role: `mine`, not a plain `muda`.
    #[test]
    fn the_spectrum_shows_the_subject_by_its_role() -> TestResult {
        let dir = tempfile::tempdir()?;
        let out = dir.path();
        std::fs::create_dir_all(out.join("figures"))?;
        let mut records = vec![
            rec("random:0.1", 0, "retrain", 0.0, 0.0, 0.936),
            rec("random:0.1", 0, "original", 2.0, 3.0, 0.93),
            rec("random:0.1", 0, "mine", 1.0, 2.0, 0.94),
            rec("random:0.1", 0, "muda", 1.0, 2.0, 0.94),
        ];
        records[2].role = Some(crate::Role::Method {
            subject: true,
            traits: Vec::new(),
        });
        records[3].role = None;
        let plot = json!({
            "spectrum": {"eigenvalues": [0.5, 0.3, 0.2], "forget": [0.4, 0.4, 0.2], "test": [0.5, 0.3, 0.2]},
        });
        for m in ["retrain", "original", "mine"] {
            let p = plot_path(out, "random:0.1", 0, m);
            std::fs::create_dir_all(p.parent().ok_or("no parent")?)?;
            std::fs::write(&p, plot.to_string())?;
        }
        let (_, notes) = scenario_figures(out, &group(&records, &[])[0])?;
        assert!(
            !notes.iter().any(|n| n.starts_with("spectrum")),
            "{notes:?}"
        );
        assert_eq!(notes, ["PCA figure: no plot data for muda (seed 0)"]);
        let svg = std::fs::read_to_string(out.join("figures/random-0.1-spectrum.svg"))?;
        assert!(svg.contains("\nMINE\n") && !svg.contains("MUDA"), "{svg}");
        // Without a subject: two panels, no note on a third.
        records[2].role = None;
        let (_, notes) = scenario_figures(out, &group(&records, &[])[0])?;
        assert_eq!(notes, ["PCA figure: no plot data for muda (seed 0)"]);
        let svg = std::fs::read_to_string(out.join("figures/random-0.1-spectrum.svg"))?;
        assert!(
            !svg.contains("MINE") && svg.contains("\nRetrain\n"),
            "{svg}"
        );
        Ok(())
    }
}
