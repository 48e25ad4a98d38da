//! The report's figures, drawn as SVG with `plotters` (SVG backend only, its built-in
//! font metrics: text is emitted as `<text>` elements and laid out by the viewer).
//!
//! Each function returns the SVG markup; the report writes the files and inlines them.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::ReportError;

type Result<T> = std::result::Result<T, ReportError>;

/// One panel of the spectrum figure: per retain eigen-direction, the retain eigenvalue and
/// the forget and test energies (each normalised to sum 1).
pub struct SpectrumPanel {
    pub title: String,
    pub eigenvalues: Vec<f64>,
    pub forget: Vec<f64>,
    pub test: Vec<f64>,
    /// The DA subspace dimension, drawn as a vertical line.
    pub k: Option<usize>,
}

/// One panel of the PCA figure.
pub struct PcaPanel {
    pub title: String,
    pub explained: [f64; 2],
    pub forget: Vec<(f64, f64)>,
    pub retain: Vec<(f64, f64)>,
}

/// A method's value with its spread over seeds.
pub struct Bar {
    pub label: String,
    pub mean: f64,
    pub std: Option<f64>,
}

/// A method in the UA–MIA plane.
pub struct Point {
    pub label: String,
    pub x: f64,
    pub y: f64,
}

const FOREGROUND: RGBColor = RGBColor(30, 30, 30);
const RETAIN_C: RGBColor = RGBColor(150, 150, 150);
const FORGET_C: RGBColor = RGBColor(214, 39, 40);
const TEST_C: RGBColor = RGBColor(31, 119, 180);
const BAR_C: RGBColor = RGBColor(95, 140, 190);
pub(crate) const FONT: &str = "sans-serif";

pub(crate) fn e<E: std::fmt::Debug>(err: E) -> ReportError {
    ReportError::Plot(format!("{err:?}"))
}

pub(crate) fn caption_style(size: u32) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).color(&FOREGROUND)
}

/// Retain spectrum with forget/test energy per direction, one panel per model, log y axis.
pub fn spectrum(title: &str, panels: &[SpectrumPanel], directions: usize) -> Result<String> {
    let (pw, ph) = (380u32, 330u32);
    let width = pw * panels.len().max(1) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, ph + 40)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let (top, body) = root.split_vertically(40);
        top.titled(title, caption_style(22)).map_err(e)?;
        let areas = body.split_evenly((1, panels.len().max(1)));
        for (p, area) in panels.iter().zip(&areas) {
            spectrum_panel(p, area, directions)?;
        }
        root.present().map_err(e)?;
    }
    Ok(svg)
}

fn spectrum_panel(
    p: &SpectrumPanel,
    area: &DrawingArea<SVGBackend, Shift>,
    directions: usize,
) -> Result<()> {
    let n = directions
        .min(p.eigenvalues.len())
        .min(p.forget.len())
        .min(p.test.len())
        .max(1);
    const FLOOR: f64 = 1e-5;
    let clamp = |v: f64| v.max(FLOOR);
    // Energies are shares (≤ 1): the fixed top leaves room for the legend above the tail.
    const YMAX: f64 = 1.0;
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, caption_style(18))
        .margin(8)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(0.5f64..n as f64 + 0.5, (FLOOR..YMAX).log_scale())
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("retain eigen-direction j")
        .y_desc("share of energy (log)")
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .y_label_formatter(&|v| format!("{v:.0e}"))
        .x_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(e)?;
    let series = |v: &[f64]| -> Vec<(f64, f64)> {
        v.iter()
            .take(n)
            .enumerate()
            .map(|(j, &x)| ((j + 1) as f64, clamp(x)))
            .collect()
    };
    chart
        .draw_series(series(&p.eigenvalues).into_iter().map(|(x, y)| {
            Rectangle::new(
                [(x - 0.4, FLOOR), (x + 0.4, y)],
                RETAIN_C.mix(0.45).filled(),
            )
        }))
        .map_err(e)?
        .label("retain eigenvalue")
        .legend(|(x, y)| {
            Rectangle::new([(x, y - 5), (x + 14, y + 5)], RETAIN_C.mix(0.45).filled())
        });
    for (v, c, name) in [(&p.forget, FORGET_C, "forget"), (&p.test, TEST_C, "test")] {
        let pts = series(v);
        chart
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
            .map_err(e)?
            .label(format!("{name} energy"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(2)));
        chart
            .draw_series(pts.into_iter().map(|pt| Circle::new(pt, 2, c.filled())))
            .map_err(e)?;
    }
    if let Some(k) = p.k.filter(|&k| k < n) {
        let x = k as f64 + 0.5;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(x, FLOOR), (x, YMAX)],
                BLACK.mix(0.6).stroke_width(1),
            )))
            .map_err(e)?
            .label(format!("k = {k}"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], BLACK.mix(0.6)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(e)?;
    Ok(())
}

/// Horizontal bars (one per method, mean ± std over seeds) against a reference value.
pub fn bars_with_reference(
    title: &str,
    x_desc: &str,
    bars: &[Bar],
    reference: f64,
    reference_label: &str,
) -> Result<String> {
    let n = bars.len().max(1);
    let height = 90 + 26 * n as u32;
    let lo = bars
        .iter()
        .map(|b| b.mean - b.std.unwrap_or(0.0))
        .fold(reference, f64::min);
    let hi = bars
        .iter()
        .map(|b| b.mean + b.std.unwrap_or(0.0))
        .fold(reference, f64::max);
    let pad = ((hi - lo) * 0.15).max(0.005);
    let (x0, x1) = (lo - pad, hi + pad);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (860, height)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, caption_style(20))
            .margin(10)
            // Room for the legend right of the plot, clear of the bars.
            .margin_right(220)
            .x_label_area_size(38)
            .y_label_area_size(90)
            .build_cartesian_2d(x0..x1, (0..n as i32 - 1).into_segmented())
            .map_err(e)?;
        // Segment n − 1 − i holds bar i, so the first method is at the top.
        let names: Vec<String> = bars.iter().rev().map(|b| b.label.clone()).collect();
        let label_of = move |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => usize::try_from(*i)
                .ok()
                .and_then(|i| names.get(i).cloned())
                .unwrap_or_default(),
            SegmentValue::Last => String::new(),
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&label_of)
            .x_desc(format!("{x_desc} (axis does not start at 0)"))
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 15))
            .x_label_formatter(&|v| format!("{v:.3}"))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(e)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                let i = (n - 1 - i) as i32;
                let mut r = Rectangle::new(
                    [
                        (x0, SegmentValue::Exact(i)),
                        (b.mean, SegmentValue::Exact(i + 1)),
                    ],
                    BAR_C.filled(),
                );
                r.set_margin(4, 4, 0, 0);
                r
            }))
            .map_err(e)?;
        chart
            .draw_series(bars.iter().enumerate().filter_map(|(i, b)| {
                let s = b.std.filter(|s| *s > 0.0)?;
                let y = SegmentValue::CenterOf((n - 1 - i) as i32);
                Some(PathElement::new(
                    vec![(b.mean - s, y.clone()), (b.mean + s, y)],
                    BLACK.stroke_width(2),
                ))
            }))
            .map_err(e)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![
                    (reference, SegmentValue::Exact(0)),
                    (reference, SegmentValue::Last),
                ],
                FORGET_C.stroke_width(2),
            )))
            .map_err(e)?;
        let (xr, yr) = chart.plotting_area().get_pixel_range();
        let with_std = bars.iter().any(|b| b.std.is_some());
        bars_legend(
            &root,
            (xr.end + 16, yr.start + 8),
            x_desc,
            reference_label,
            with_std,
        )?;
        root.present().map_err(e)?;
    }
    Ok(svg)
}

/// The legend of [`bars_with_reference`], drawn on the root right of the plot (the plot area
/// would clip it) with its first entry at `(lx, ly)`.
fn bars_legend(
    root: &DrawingArea<SVGBackend, Shift>,
    (lx, ly): (i32, i32),
    x_desc: &str,
    reference_label: &str,
    with_std: bool,
) -> Result<()> {
    let text = |t: &str, y: i32| {
        Text::new(
            t.to_string(),
            (lx + 22, y),
            TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Left, VPos::Center)),
        )
    };
    root.draw(&Rectangle::new(
        [(lx, ly - 5), (lx + 16, ly + 5)],
        BAR_C.filled(),
    ))
    .map_err(e)?;
    root.draw(&text(&format!("{x_desc} (mean over seeds)"), ly))
        .map_err(e)?;
    root.draw(&PathElement::new(
        vec![(lx, ly + 22), (lx + 16, ly + 22)],
        FORGET_C.stroke_width(2),
    ))
    .map_err(e)?;
    root.draw(&text(reference_label, ly + 22)).map_err(e)?;
    if with_std {
        root.draw(&PathElement::new(
            vec![(lx, ly + 44), (lx + 16, ly + 44)],
            BLACK.stroke_width(2),
        ))
        .map_err(e)?;
        root.draw(&text("± std over seeds", ly + 44)).map_err(e)?;
    }
    Ok(())
}

/// Small multiples: per method, retain (grey) and forget (red) points in the 2-D PCA of
/// that model's retain features.
pub fn pca_grid(title: &str, panels: &[PcaPanel]) -> Result<String> {
    let cols = 4usize.min(panels.len().max(1));
    let rows = panels.len().div_ceil(cols).max(1);
    let (pw, ph) = (250u32, 240u32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (pw * cols as u32, ph * rows as u32 + 64))
            .into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let (top, body) = root.split_vertically(64);
        top.titled(title, caption_style(22)).map_err(e)?;
        let legend = |x: i32, c: RGBColor, text: &str| -> Result<()> {
            top.draw(&Circle::new((x, 48), 4, c.filled())).map_err(e)?;
            top.draw(&Text::new(
                text.to_string(),
                (x + 8, 48),
                TextStyle::from((FONT, 15)).pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(e)?;
            Ok(())
        };
        legend(12, RETAIN_C, "retain")?;
        legend(82, FORGET_C, "forget")?;
        top.draw(&Text::new(
            "axes: the first two principal components of each model's retain features".to_string(),
            (160, 48),
            TextStyle::from((FONT, 15)).pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(e)?;
        let areas = body.split_evenly((rows, cols));
        for (p, area) in panels.iter().zip(&areas) {
            let all = p.retain.iter().chain(&p.forget);
            let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
            for &(x, y) in all {
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
            if x0 > x1 {
                (x0, x1, y0, y1) = (-1.0, 1.0, -1.0, 1.0);
            }
            let px = ((x1 - x0) * 0.05).max(1e-6);
            let py = ((y1 - y0) * 0.05).max(1e-6);
            let mut chart = ChartBuilder::on(area)
                .caption(&p.title, caption_style(16))
                .margin(6)
                .x_label_area_size(28)
                .y_label_area_size(40)
                .build_cartesian_2d(x0 - px..x1 + px, y0 - py..y1 + py)
                .map_err(e)?;
            chart
                .configure_mesh()
                .x_labels(4)
                .y_labels(4)
                .x_desc(format!("PC1 ({:.0}%)", 100.0 * p.explained[0]))
                .y_desc(format!("PC2 ({:.0}%)", 100.0 * p.explained[1]))
                .label_style((FONT, 13))
                .axis_desc_style((FONT, 14))
                .x_label_formatter(&|v| format!("{v:.1}"))
                .y_label_formatter(&|v| format!("{v:.1}"))
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(e)?;
            chart
                .draw_series(
                    p.retain
                        .iter()
                        .map(|&pt| Circle::new(pt, 1, RETAIN_C.mix(0.5).filled())),
                )
                .map_err(e)?;
            chart
                .draw_series(
                    p.forget
                        .iter()
                        .map(|&pt| Circle::new(pt, 2, FORGET_C.mix(0.7).filled())),
                )
                .map_err(e)?;
        }
        root.present().map_err(e)?;
    }
    Ok(svg)
}

/// UA against MIA-efficacy, one point per method, the retrain point highlighted with
/// dashed guides through it.
pub fn ua_mia(title: &str, points: &[Point], retrain: Option<(f64, f64)>) -> Result<String> {
    let (x0, x1, y0, y1) = ua_mia_axes(points, retrain);
    let groups = group_points(points, ((x1 - x0).max(y1 - y0)) * 0.01);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, caption_style(20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(52)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("UA (%)")
            .y_desc("MIA-efficacy (%)")
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(e)?;
        if let Some((rx, ry)) = retrain {
            let guide = RED.mix(0.5).stroke_width(1);
            chart
                .draw_series([
                    PathElement::new(vec![(rx, y0), (rx, y1)], guide),
                    PathElement::new(vec![(x0, ry), (x1, ry)], guide),
                ])
                .map_err(e)?;
        }
        chart
            .draw_series(
                groups
                    .iter()
                    .map(|(x, y, _)| Circle::new((*x, *y), 4, TEST_C.filled())),
            )
            .map_err(e)?
            .label("method (mean over seeds)")
            .legend(|(x, y)| Circle::new((x + 7, y), 4, TEST_C.filled()));
        // Every marker and placed label is an obstacle for the labels placed after it.
        let mut taken: Vec<[i32; 4]> = groups
            .iter()
            .map(|(x, y, _)| {
                let (px, py) = chart.backend_coord(&(*x, *y));
                [px - 5, py - 5, px + 5, py + 5]
            })
            .collect();
        if let Some((rx, ry)) = retrain {
            let (px, py) = chart.backend_coord(&(rx, ry));
            taken.push([px - 8, py - 8, px + 8, py + 8]);
            chart
                .draw_series(std::iter::once(TriangleMarker::new(
                    (rx, ry),
                    8,
                    FORGET_C.filled(),
                )))
                .map_err(e)?
                .label("retrain (the target)")
                .legend(|(x, y)| TriangleMarker::new((x + 7, y), 6, FORGET_C.filled()));
            place_label(
                &root,
                &mut taken,
                chart.plotting_area(),
                (px, py),
                "retrain",
                FORGET_C,
                15,
            )?;
        }
        for (x, y, labels) in &groups {
            let at = chart.backend_coord(&(*x, *y));
            place_label(
                &root,
                &mut taken,
                chart.plotting_area(),
                at,
                &labels.join(", "),
                FOREGROUND,
                14,
            )?;
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

/// The axis ranges of [`ua_mia`]: the points and the retrain point with some padding,
/// within [0, 100] plus the padding (at most 8) so that points at 100 show.
fn ua_mia_axes(points: &[Point], retrain: Option<(f64, f64)>) -> (f64, f64, f64, f64) {
    let xs = points.iter().map(|p| p.x).chain(retrain.map(|r| r.0));
    let ys = points.iter().map(|p| p.y).chain(retrain.map(|r| r.1));
    let (mut x0, mut x1) = xs.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let (mut y0, mut y1) = ys.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 100.0, 0.0, 100.0);
    }
    let px = ((x1 - x0) * 0.12).max(1.0);
    let py = ((y1 - y0) * 0.12).max(1.0);
    (
        (x0 - px).max(-px.min(8.0)),
        (x1 + px).min(100.0 + px.min(8.0)),
        (y0 - py).max(-py.min(8.0)),
        (y1 + py).min(100.0 + py.min(8.0)),
    )
}

/// Methods within `tol` of each other on both axes share one marker and one label.
fn group_points(points: &[Point], tol: f64) -> Vec<(f64, f64, Vec<&str>)> {
    let mut groups: Vec<(f64, f64, Vec<&str>)> = Vec::new();
    for p in points {
        match groups
            .iter_mut()
            .find(|g| (g.0 - p.x).abs() <= tol && (g.1 - p.y).abs() <= tol)
        {
            Some(g) => g.2.push(&p.label),
            None => groups.push((p.x, p.y, vec![&p.label])),
        }
    }
    groups
}

fn overlaps(a: &[i32; 4], b: &[i32; 4]) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

/// Draws `text` next to the point at pixel `at`, at the first of eight positions (right,
/// left, above, below, then the diagonals) whose box, estimated from the font size, stays
/// inside the plot and clear of `taken`; the box is then added to `taken`.
fn place_label(
    root: &DrawingArea<SVGBackend, Shift>,
    taken: &mut Vec<[i32; 4]>,
    plot: &DrawingArea<
        SVGBackend,
        plotters::coord::cartesian::Cartesian2d<
            plotters::coord::types::RangedCoordf64,
            plotters::coord::types::RangedCoordf64,
        >,
    >,
    at: (i32, i32),
    text: &str,
    color: RGBColor,
    size: u32,
) -> Result<()> {
    let px = f64::from(size) / 1.24;
    let w = (0.6 * px * text.chars().count() as f64).ceil() as i32;
    let h = px.ceil() as i32 + 2;
    let (x, y) = at;
    // (left, top) of each candidate box, near the point first, then farther away.
    let mut candidates = Vec::new();
    for g in [8, 26] {
        candidates.extend([
            (x + g, y - h / 2),
            (x - g - w, y - h / 2),
            (x - w / 2, y - g - h),
            (x - w / 2, y + g),
            (x + g / 2, y - g - h),
            (x - g / 2 - w, y - g - h),
            (x + g / 2, y + g),
            (x - g / 2 - w, y + g),
        ]);
    }
    let (xr, yr) = plot.get_pixel_range();
    let inside =
        |b: &[i32; 4]| b[0] >= xr.start && b[2] <= xr.end && b[1] >= yr.start && b[3] <= yr.end;
    let clash = |b: &[i32; 4]| -> i64 {
        taken
            .iter()
            .filter(|t| overlaps(b, t))
            .map(|t| {
                i64::from(b[2].min(t[2]) - b[0].max(t[0]))
                    * i64::from(b[3].min(t[3]) - b[1].max(t[1]))
            })
            .sum()
    };
    let boxes: Vec<[i32; 4]> = candidates
        .iter()
        .map(|&(l, t)| [l, t, l + w, t + h])
        .collect();
    // The first clear box inside the plot, else the inside box that overlaps least.
    let pick = boxes
        .iter()
        .find(|b| inside(b) && clash(b) == 0)
        .or_else(|| boxes.iter().filter(|b| inside(b)).min_by_key(|b| clash(b)))
        .copied()
        .unwrap_or(boxes[0]);
    // A label placed away from its point gets a thin leader line to it.
    let (cx, cy) = (x.clamp(pick[0], pick[2]), y.clamp(pick[1], pick[3]));
    if (cx - x).abs() + (cy - y).abs() > 14 {
        root.draw(&PathElement::new(
            vec![(x, y), (cx, cy)],
            color.mix(0.6).stroke_width(1),
        ))
        .map_err(e)?;
    }
    root.draw(&Text::new(
        text.to_string(),
        (pick[0], pick[1] + h / 2),
        TextStyle::from((FONT, size).into_font())
            .pos(Pos::new(HPos::Left, VPos::Center))
            .color(&color),
    ))
    .map_err(e)?;
    taken.push(pick);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_render_with_titles_and_labels() -> Result<()> {
        let s = spectrum(
            "t",
            &[SpectrumPanel {
                title: "Retrain".into(),
                eigenvalues: vec![0.5, 0.3, 0.2],
                forget: vec![0.4, 0.4, 0.2],
                test: vec![0.5, 0.25, 0.25],
                k: Some(2),
            }],
            40,
        )?;
        assert!(s.starts_with("<svg") && s.contains("Retrain") && s.contains("k = 2"));
        let b = bars_with_reference(
            "DA",
            "DA_f",
            &[
                Bar {
                    label: "ft".into(),
                    mean: 0.9,
                    std: Some(0.01),
                },
                Bar {
                    label: "muda".into(),
                    mean: 0.95,
                    std: None,
                },
            ],
            0.93,
            "retrain",
        )?;
        assert!(b.contains("muda") && b.contains("retrain") && b.contains("± std over seeds"));
        let p = ua_mia("x", &[], None)?;
        assert!(p.contains("UA (%)"));
        let g = pca_grid("p", &[])?;
        assert!(g.starts_with("<svg"));
        Ok(())
    }

    #[test]
    fn ua_mia_axes_pad_and_stay_near_percent_range_and_close_points_share_a_label() {
        assert_eq!(ua_mia_axes(&[], None), (-8.0, 108.0, -8.0, 108.0));
        let pts = [
            Point {
                label: "a".into(),
                x: 10.0,
                y: 20.0,
            },
            Point {
                label: "b".into(),
                x: 10.05,
                y: 20.05,
            },
            Point {
                label: "c".into(),
                x: 50.0,
                y: 20.0,
            },
        ];
        let (x0, x1, y0, y1) = ua_mia_axes(&pts, Some((12.0, 22.0)));
        assert!(
            (x0 - 5.2).abs() < 1e-9 && (x1 - 54.8).abs() < 1e-9,
            "{x0} {x1}"
        );
        assert!(
            (y0 - 19.0).abs() < 1e-9 && (y1 - 23.0).abs() < 1e-9,
            "{y0} {y1}"
        );
        let groups = group_points(&pts, 0.4);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].2, ["a", "b"]);
    }
}
