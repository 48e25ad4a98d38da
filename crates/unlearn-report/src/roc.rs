//! The ROC figure of a study against an oracle ensemble: per method (retrain and original
//! included) the ROC curve of the margin LiRA attack that tells the method's models from the
//! oracles, with the chance diagonal.

use std::path::Path;

use plotters::prelude::*;

use crate::figures::{caption_style, e, FONT};
use crate::oracle::{self, label, tests_of};
use crate::scenario_figures::f64s;
use crate::table::{Block, Scenario};
use crate::{slug, write_atomic, ReportError};

type Result<T> = std::result::Result<T, ReportError>;

/// One ROC curve: false- and true-positive rates, point by point.
pub(crate) struct RocCurve {
    pub(crate) label: String,
    pub(crate) fpr: Vec<f64>,
    pub(crate) tpr: Vec<f64>,
}

/// Curve colours, in method order; from the eleventh curve on they repeat, dashed.
const PALETTE: [RGBColor; 10] = [
    RGBColor(214, 39, 40),
    RGBColor(120, 120, 120),
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// ROC curves on linear axes from 0 to 1 with the chance diagonal and a legend.
pub(crate) fn roc(title: &str, curves: &[RocCurve]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, caption_style(18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(52)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("false-positive rate")
            .y_desc("true-positive rate")
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .x_label_formatter(&|v| format!("{v:.1}"))
            .y_label_formatter(&|v| format!("{v:.1}"))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(e)?;
        let chance = BLACK.mix(0.5).stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new(
                vec![(0.0, 0.0), (1.0, 1.0)],
                6,
                4,
                chance,
            ))
            .map_err(e)?
            .label("chance")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], chance));
        for (i, c) in curves.iter().enumerate() {
            let style = PALETTE[i % PALETTE.len()].stroke_width(2);
            let dashed = i >= PALETTE.len();
            let pts: Vec<(f64, f64)> = c
                .fpr
                .iter()
                .zip(&c.tpr)
                .map(|(&x, &y)| (x.clamp(0.0, 1.0), y.clamp(0.0, 1.0)))
                .collect();
            let series = if dashed {
                chart.draw_series(DashedLineSeries::new(pts, 7, 4, style))
            } else {
                chart.draw_series(LineSeries::new(pts, style))
            };
            // The legend's sample: one stroke, or two with a gap for a dashed curve.
            let (end, start) = if dashed { (5, 9) } else { (7, 7) };
            series
                .map_err(e)?
                .label(c.label.clone())
                .legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (end, 0)], style)
                        + PathElement::new(vec![(start, 0), (14, 0)], style)
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FONT, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(e)?;
        root.present().map_err(e)?;
    }
    Ok(svg)
}

/// Writes `figures/<slug>-oracle-roc.svg` under `out` and returns its block; `None` without
/// an oracle ensemble or when no method has ROC data.
pub(crate) fn oracle_roc(out: &Path, sc: &Scenario) -> Result<Option<Block>> {
    let Some(r) = oracle::reference(sc) else {
        return Ok(None);
    };
    let curves: Vec<RocCurve> = sc
        .methods
        .iter()
        .filter_map(|m| {
            let roc = &tests_of(m)?["margin"]["roc"];
            let (fpr, tpr) = (f64s(&roc["fpr"]), f64s(&roc["tpr"]));
            (!fpr.is_empty() && fpr.len() == tpr.len()).then(|| RocCurve {
                label: label(m),
                fpr,
                tpr,
            })
        })
        .collect();
    if curves.is_empty() {
        return Ok(None);
    }
    let svg = roc(
        &format!(
            "{}: margin LiRA against {} oracles, ROC per method",
            sc.name, r.n
        ),
        &curves,
    )?;
    let path = format!("figures/{}-oracle-roc.svg", slug(&sc.name));
    write_atomic(&out.join(&path), &svg)?;
    let caption = format!("`{}`: per method, the ROC curve of the LiRA attack on per-example margins that tells the method's models from the {} oracle retrains (false-positive rate against true-positive rate, linear axes). A curve on the dashed diagonal (AUC 0.5) means the tests cannot tell the method from the oracles; the held-out retrain is the control that should lie there, the original the model that should not.", sc.name, r.n);
    Ok(Some(Block::Figure { path, svg, caption }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::tests::orec;
    use crate::table::group;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn roc_figure_is_written_with_a_curve_per_method() -> TestResult {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir_all(dir.path().join("figures"))?;
        let records = [
            orec("class:3", 0, "retrain", 8, 10.0, (0.5, 0.45, 0.55)),
            orec("class:3", 0, "original", 8, 10.0, (0.95, 0.93, 0.97)),
            orec("class:3", 0, "ft", 8, 10.0, (0.7, 0.65, 0.75)),
        ];
        let sc = group(&records, &[]);
        let block = oracle_roc(dir.path(), &sc[0])?.ok_or("no figure")?;
        let Block::Figure { path, svg, caption } = block else {
            return Err("not a figure".into());
        };
        assert_eq!(path, "figures/class-3-oracle-roc.svg");
        assert_eq!(std::fs::read_to_string(dir.path().join(&path))?, svg);
        for l in ["retrain (held-out)", "original", "ft", "chance"] {
            // plotters writes each text on a line of its own.
            assert!(svg.lines().any(|x| x.trim() == l), "{l}: {svg}");
        }
        // A polyline per curve and per legend entry of each curve (the chance diagonal is
        // dashed: separate segments).
        assert!(svg.matches("<polyline").count() >= 2 * 3, "{svg}");
        assert!(caption.contains("8 oracle retrains"), "{caption}");
        // No ROC data or no ensemble: no figure.
        let mut bare = records[2].clone();
        if let Some(m) = bare.metrics.as_mut() {
            m["oracle_tests"]["margin"]["roc"] = serde_json::Value::Null;
        }
        assert!(oracle_roc(dir.path(), &group(&[bare], &[])[0])?.is_none());
        let one = [orec("class:3", 0, "ft", 1, 10.0, (0.5, 0.4, 0.6))];
        assert!(oracle_roc(dir.path(), &group(&one, &[])[0])?.is_none());
        Ok(())
    }
}
