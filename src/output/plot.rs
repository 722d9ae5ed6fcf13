//! Power plots: stacked time-series panels written as SVG and PNG.
//!
//! Rendering uses `plotters` with the `ab_glyph` text backend; the DejaVu Sans
//! font (embedded via the `dejavu` crate) is registered once as `"sans-serif"`.
//! Long series are reduced to the min and max of each pixel column before
//! drawing, so 100 000-point series render quickly.

use std::path::Path;
use std::sync::Once;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

/// One line on a plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub label: String,
    /// (time in s, value)
    pub points: Vec<(f64, f64)>,
}

/// A horizontal reference line (a cap or a breaker rating, in W).
#[derive(Debug, Clone, PartialEq)]
pub struct HLine {
    /// Legend entry.
    pub label: String,
    /// Height, in the panel's unit (W).
    pub y: f64,
    /// How it is drawn.
    pub kind: HLineKind,
}

/// How a reference line is drawn: `Cap` is dashed orange, `Rating` solid red.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HLineKind {
    /// A planning cap: dashed.
    Cap,
    /// A breaker rating: solid.
    Rating,
}

/// A vertical marker at a time (s): a breaker trip, a migration start/switch-over/end.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// Text above the line.
    pub label: String,
    /// Time, s.
    pub x: f64,
}

/// A time-series panel.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Panel {
    /// Y axis title with its unit.
    pub y_label: String,
    /// Lines.
    pub series: Vec<Series>,
    /// Reference lines.
    pub hlines: Vec<HLine>,
    /// Lower end of the y axis (default: from the data).
    pub y_min: Option<f64>,
    /// Upper end of the y axis (default: from the data).
    pub y_max: Option<f64>,
    /// Draw each series as unconnected points (one per observation) instead of a line.
    pub scatter: bool,
}

/// A figure: one or more panels stacked vertically, sharing the time axis and the markers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Figure {
    /// Title above the panels.
    pub title: String,
    /// Panels, top first.
    pub panels: Vec<Panel>,
    /// Vertical markers across every panel.
    pub markers: Vec<Marker>,
    /// X axis title with its unit.
    pub x_label: String,
}

const WIDTH: u32 = 1200;
const PANEL_HEIGHT: u32 = 450;
const TITLE_HEIGHT: u32 = 40;
const LEGEND_WIDTH: u32 = 240;
const X_LABELS: usize = 12;
const Y_LABELS: usize = 8;
const FONT: &str = "sans-serif";
/// Rows reserved above the top panel for marker labels.
const MARKER_ROWS: usize = 3;
const MARKER_ROW_HEIGHT: i32 = 15;

const PALETTE: [RGBColor; 12] = [
    RGBColor(31, 119, 180),  // blue
    RGBColor(44, 160, 44),   // green
    RGBColor(148, 103, 189), // purple
    RGBColor(140, 86, 75),   // brown
    RGBColor(227, 119, 194), // pink
    RGBColor(23, 190, 207),  // cyan
    RGBColor(188, 189, 34),  // olive
    RGBColor(57, 59, 121),   // indigo
    RGBColor(99, 121, 57),   // dark green
    RGBColor(123, 65, 115),  // plum
    RGBColor(0, 128, 128),   // teal
    RGBColor(51, 51, 51),    // near-black
];
const CAP_COLOR: RGBColor = RGBColor(255, 127, 14);
const RATING_COLOR: RGBColor = RGBColor(214, 39, 40);
const MARKER_COLOR: RGBColor = RGBColor(150, 150, 150);
const MARKER_TEXT_COLOR: RGBColor = RGBColor(90, 90, 90);

static FONT_INIT: Once = Once::new();

fn ensure_fonts() {
    FONT_INIT.call_once(|| {
        // The embedded DejaVu fonts are valid; errors here would only disable text.
        let _ = register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

/// Writes the figure as SVG (to `svg`) and PNG (to `png`), 1200 px wide, ~450 px per panel.
///
/// Non-finite points are skipped. Errors are returned as a String naming the file.
pub fn write_figure(fig: &Figure, svg: &Path, png: &Path) -> Result<(), String> {
    ensure_fonts();
    let size = figure_size(fig);

    // Each file is drawn to a temporary sibling and renamed, so a failed draw leaves no
    // half-written figure; the bitmap backend picks its encoder from the extension.
    let svg_tmp = crate::atomic::temp_with_extension(svg, "svg");
    let drawn = (|| {
        let root = SVGBackend::new(&svg_tmp, size).into_drawing_area();
        draw_figure(&root, fig).map_err(|e| format!("{}: {e}", svg.display()))?;
        root.present()
            .map_err(|e| format!("{}: {e}", svg.display()))
    })();
    finish(drawn, &svg_tmp, svg)?;
    let png_tmp = crate::atomic::temp_with_extension(png, "png");
    let drawn = (|| {
        let root = BitMapBackend::new(&png_tmp, size).into_drawing_area();
        draw_figure(&root, fig).map_err(|e| format!("{}: {e}", png.display()))?;
        root.present()
            .map_err(|e| format!("{}: {e}", png.display()))
    })();
    finish(drawn, &png_tmp, png)
}

/// Renames a drawn temporary over its target, or removes it when drawing failed.
fn finish(drawn: Result<(), String>, tmp: &Path, target: &Path) -> Result<(), String> {
    if let Err(e) = drawn {
        let _ = std::fs::remove_file(tmp);
        return Err(e);
    }
    crate::atomic::commit(tmp, target).map_err(|e| format!("{}: {e}", target.display()))
}

fn figure_size(fig: &Figure) -> (u32, u32) {
    let n = fig.panels.len().max(1) as u32;
    (WIDTH, TITLE_HEIGHT + n * PANEL_HEIGHT)
}

/// Reduces `points` to at most two per pixel column: the minimum and the maximum
/// `y` of each run of consecutive points falling in the same column, kept in
/// their original order. Columns split `[x0, x1]` into `columns` equal parts;
/// points outside are clamped to the first/last column. Points are expected to be
/// finite (callers filter NaNs first).
pub(crate) fn downsample(
    points: &[(f64, f64)],
    x0: f64,
    x1: f64,
    columns: usize,
) -> Vec<(f64, f64)> {
    let columns = columns.max(1);
    let span = x1 - x0;
    if points.len() <= 2 || !span.is_finite() || span <= 0.0 {
        return points.to_vec();
    }
    let col_of = |x: f64| -> usize {
        let c = ((x - x0) / span * columns as f64).floor();
        if c.is_nan() || c < 0.0 {
            0
        } else {
            (c as usize).min(columns - 1)
        }
    };
    let mut out = Vec::with_capacity(2 * columns + 2);
    let flush = |out: &mut Vec<(f64, f64)>, lo: usize, hi: usize| {
        let (a, b) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        out.push(points[a]);
        if b != a {
            out.push(points[b]);
        }
    };
    let mut cur = col_of(points[0].0);
    let (mut lo, mut hi) = (0usize, 0usize);
    for (i, &(x, y)) in points.iter().enumerate().skip(1) {
        let c = col_of(x);
        if c != cur {
            flush(&mut out, lo, hi);
            cur = c;
            lo = i;
            hi = i;
        } else {
            if y < points[lo].1 {
                lo = i;
            }
            if y > points[hi].1 {
                hi = i;
            }
        }
    }
    flush(&mut out, lo, hi);
    out
}

fn finite_points(s: &Series) -> Vec<(f64, f64)> {
    s.points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect()
}

/// Widens a range that is empty or degenerate so plotters gets a positive span.
fn widen(lo: f64, hi: f64, default: (f64, f64)) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) || lo > hi {
        return default;
    }
    if hi > lo {
        return (lo, hi);
    }
    let d = (lo.abs() * 0.05).max(0.5);
    (lo - d, hi + d)
}

fn x_range(fig: &Figure) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    let xs = fig
        .panels
        .iter()
        .flat_map(|p| p.series.iter())
        .flat_map(|s| s.points.iter())
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|p| p.0)
        .chain(fig.markers.iter().map(|m| m.x).filter(|x| x.is_finite()));
    for x in xs {
        lo = lo.min(x);
        hi = hi.max(x);
    }
    widen(lo, hi, (0.0, 1.0))
}

fn y_range(panel: &Panel) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    let ys = panel
        .series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|p| p.1)
        .chain(panel.hlines.iter().map(|h| h.y).filter(|y| y.is_finite()));
    for y in ys {
        lo = lo.min(y);
        hi = hi.max(y);
    }
    let (mut lo, mut hi) = if lo <= hi {
        let m = 0.05 * (hi - lo);
        widen(lo - m, hi + m, (0.0, 1.0))
    } else {
        (0.0, 1.0)
    };
    if let Some(v) = panel.y_min.filter(|v| v.is_finite()) {
        lo = v;
    }
    if let Some(v) = panel.y_max.filter(|v| v.is_finite()) {
        hi = v;
    }
    if hi <= lo {
        hi = lo + (lo.abs() * 0.1).max(1.0);
    }
    (lo, hi)
}

/// Tick formatter with an SI suffix for large magnitudes and just enough decimals
/// for the tick step plotters uses with at most `labels` ticks.
fn tick_formatter(lo: f64, hi: f64, labels: usize, si: bool) -> impl Fn(&f64) -> String {
    let mag = lo.abs().max(hi.abs());
    let (scale, suffix) = if !si || mag < 1e4 {
        (1.0, "")
    } else if mag < 1e6 {
        (1e3, "k")
    } else if mag < 1e9 {
        (1e6, "M")
    } else {
        (1e9, "G")
    };
    // Use the same tick positions plotters will draw (steps of 1, 2 or 5 x 10^k).
    let ticks = RangedCoordf64::from(lo..hi).key_points(labels);
    let step = match ticks.as_slice() {
        [a, b, ..] => (b - a) / scale,
        _ => (hi - lo) / scale,
    };
    let decimals = if step > 0.0 && step.is_finite() {
        (-(step.log10() + 1e-9).floor()).clamp(0.0, 6.0) as usize
    } else {
        0
    };
    move |v: &f64| {
        let s = format!("{:.*}", decimals, v / scale);
        let s = if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
            s[1..].to_string()
        } else {
            s
        };
        format!("{s}{suffix}")
    }
}

fn truncate_to_width<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    max_w: u32,
) -> String {
    let fits = |t: &str| {
        area.estimate_text_size(t, style)
            .map(|(w, _)| w <= max_w)
            .unwrap_or(true)
    };
    if fits(text) {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let with_ellipsis =
        |n: usize| -> String { chars[..n].iter().chain(std::iter::once(&'…')).collect() };
    // The longest prefix that fits with "…" appended, by binary search on the char count
    // (width grows with the prefix), so a label costs O(n log n) rather than one measure
    // per dropped character (quadratic: a 20,000-character label took a minute).
    if !fits(&with_ellipsis(0)) {
        return String::new();
    }
    let (mut lo, mut hi) = (0, chars.len() - 1); // fits(lo); the answer is in lo..=hi
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(&with_ellipsis(mid)) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    with_ellipsis(lo)
}

enum LegendSwatch {
    Line(RGBColor),
    Dashed(RGBColor),
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, LegendSwatch)],
    top: i32,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let style = TextStyle::from((FONT, 14).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let row_h = 20;
    let (w, h) = area.dim_in_pixel();
    let max_rows = ((h as i32 - top - 10) / row_h).max(1) as usize;
    let x_line = 10;
    let x_text = 42;
    let shown = if entries.len() > max_rows {
        max_rows - 1
    } else {
        entries.len()
    };
    for (i, (label, swatch)) in entries.iter().take(shown).enumerate() {
        let y = top + 10 + i as i32 * row_h;
        match swatch {
            LegendSwatch::Line(c) => {
                area.draw(&PathElement::new(
                    vec![(x_line, y), (x_line + 26, y)],
                    c.stroke_width(2),
                ))?;
            }
            LegendSwatch::Dashed(c) => {
                for k in 0..3 {
                    let x = x_line + k * 10;
                    area.draw(&PathElement::new(
                        vec![(x, y), (x + 6, y)],
                        c.stroke_width(2),
                    ))?;
                }
            }
        }
        let label = truncate_to_width(area, label, &style, w.saturating_sub(x_text as u32 + 12));
        area.draw(&Text::new(label, (x_text, y), style.clone()))?;
    }
    if shown < entries.len() {
        let y = top + 10 + shown as i32 * row_h;
        let more = format!("(+{} more)", entries.len() - shown);
        area.draw(&Text::new(more, (x_text, y), style.clone()))?;
    }
    Ok(())
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;
type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A figure without panels: a note in the middle.
fn draw_empty<DB: DrawingBackend>(body: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
    let style = TextStyle::from((FONT, 16).into_font())
        .color(&MARKER_TEXT_COLOR)
        .pos(Pos::new(HPos::Center, VPos::Center));
    let (w, h) = body.dim_in_pixel();
    body.draw(&Text::new(
        "(no panels)",
        (w as i32 / 2, h as i32 / 2),
        style,
    ))
}

/// A panel's lines (colours continue across panels from `series_idx`); pushes their
/// legend entries.
fn draw_lines<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    panel: &Panel,
    (x0, x1): (f64, f64),
    series_idx: &mut usize,
    legend: &mut Vec<(String, LegendSwatch)>,
) -> DrawResult<DB> {
    let columns = chart.plotting_area().dim_in_pixel().0.max(1) as usize;
    for s in &panel.series {
        let color = PALETTE[*series_idx % PALETTE.len()];
        *series_idx += 1;
        let pts = finite_points(s);
        let pts = if pts.len() > 4 * columns {
            downsample(&pts, x0, x1, columns)
        } else {
            pts
        };
        if pts.len() == 1 || panel.scatter {
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        } else if pts.len() > 1 {
            chart.draw_series(LineSeries::new(pts, color.stroke_width(2)))?;
        }
        legend.push((s.label.clone(), LegendSwatch::Line(color)));
    }
    Ok(())
}

/// A panel's reference lines (caps dashed, ratings solid); pushes their legend entries.
fn draw_hlines<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    panel: &Panel,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
    legend: &mut Vec<(String, LegendSwatch)>,
) -> DrawResult<DB> {
    for h in panel.hlines.iter() {
        let (color, dashed) = match h.kind {
            HLineKind::Cap => (CAP_COLOR, true),
            HLineKind::Rating => (RATING_COLOR, false),
        };
        if h.y.is_finite() && h.y >= y0 && h.y <= y1 {
            if dashed {
                chart.draw_series(DashedLineSeries::new(
                    vec![(x0, h.y), (x1, h.y)],
                    10,
                    6,
                    color.stroke_width(2),
                ))?;
            } else {
                chart.draw_series(LineSeries::new(
                    vec![(x0, h.y), (x1, h.y)],
                    color.stroke_width(2),
                ))?;
            }
        }
        let swatch = if dashed {
            LegendSwatch::Dashed(color)
        } else {
            LegendSwatch::Line(color)
        };
        legend.push((h.label.clone(), swatch));
    }
    Ok(())
}

/// Marker labels above the top panel's plotting area, staggered over a few rows.
fn draw_marker_labels<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart<'_, DB>,
    markers: &[&Marker],
    y1: f64,
) -> DrawResult<DB> {
    let screen = area.use_screen_coord();
    let style = TextStyle::from((FONT, 12).into_font())
        .color(&MARKER_TEXT_COLOR)
        .pos(Pos::new(HPos::Center, VPos::Center));
    let plot_top_abs = chart.plotting_area().get_pixel_range().1.start;
    let mut row_end = [i32::MIN; MARKER_ROWS];
    for m in markers {
        let (px, _) = chart.backend_coord(&(m.x, y1));
        let w = screen
            .estimate_text_size(&m.label, &style)
            .map(|s| s.0 as i32)
            .unwrap_or(0);
        let start = px - w / 2;
        let row = (0..MARKER_ROWS)
            .find(|&r| row_end[r] + 6 <= start)
            .unwrap_or_else(|| (0..MARKER_ROWS).min_by_key(|&r| row_end[r]).unwrap_or(0));
        row_end[row] = start + w;
        // Row 0 is closest to the plot.
        let y = plot_top_abs - 8 - row as i32 * MARKER_ROW_HEIGHT;
        screen.draw(&PathElement::new(
            vec![(px, y + 5), (px, plot_top_abs)],
            MARKER_COLOR.stroke_width(1),
        ))?;
        screen.draw(&Text::new(m.label.clone(), (px, y), style.clone()))?;
    }
    Ok(())
}

fn draw_figure<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let body = root.titled(&fig.title, (FONT, 24).into_font().color(&BLACK))?;
    if fig.panels.is_empty() {
        return draw_empty(&body);
    }
    let (x0, x1) = x_range(fig);
    let x_fmt = tick_formatter(x0, x1, X_LABELS, false);
    let markers: Vec<&Marker> = {
        let mut m: Vec<&Marker> = fig.markers.iter().filter(|m| m.x.is_finite()).collect();
        m.sort_by(|a, b| a.x.total_cmp(&b.x));
        m
    };
    let n = fig.panels.len();
    let rows = body.split_evenly((n, 1));
    let mut series_idx = 0usize;

    for (pi, (panel, area)) in fig.panels.iter().zip(rows.iter()).enumerate() {
        let (plot_area, legend_area) = area.split_horizontally(WIDTH - LEGEND_WIDTH);
        let (y0, y1) = y_range(panel);
        let y_fmt = tick_formatter(y0, y1, Y_LABELS, true);
        let top_margin = if pi == 0 && !markers.is_empty() {
            12 + MARKER_ROWS as i32 * MARKER_ROW_HEIGHT
        } else {
            12
        };
        let last = pi + 1 == n;
        let mut chart = ChartBuilder::on(&plot_area)
            .margin_top(top_margin)
            .margin_left(10)
            .margin_right(10)
            .margin_bottom(8)
            .x_label_area_size(if last { 50 } else { 30 })
            .y_label_area_size(80)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        {
            let mut mesh = chart.configure_mesh();
            mesh.y_desc(panel.y_label.as_str())
                .x_label_formatter(&x_fmt)
                .y_label_formatter(&y_fmt)
                .x_labels(X_LABELS)
                .y_labels(Y_LABELS)
                .label_style((FONT, 13).into_font().color(&BLACK))
                .axis_desc_style((FONT, 15).into_font().color(&BLACK))
                .bold_line_style(RGBColor(225, 225, 225).stroke_width(1))
                .light_line_style(RGBColor(245, 245, 245).stroke_width(1));
            if last {
                mesh.x_desc(fig.x_label.as_str());
            }
            mesh.draw()?;
        }
        // Markers behind the data.
        for m in &markers {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(m.x, y0), (m.x, y1)],
                MARKER_COLOR.stroke_width(1),
            )))?;
        }
        let mut legend: Vec<(String, LegendSwatch)> = Vec::new();
        draw_lines(&mut chart, panel, (x0, x1), &mut series_idx, &mut legend)?;
        draw_hlines(&mut chart, panel, (x0, x1), (y0, y1), &mut legend)?;
        let plot_top = chart.plotting_area().get_pixel_range().1.start - area.get_base_pixel().1;
        draw_legend(&legend_area, &legend, plot_top)?;
        if pi == 0 && !markers.is_empty() {
            draw_marker_labels(area, &chart, &markers, y1)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let p = std::env::temp_dir().join(format!(
                "capsim-plot-{}-{}-{}",
                tag,
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn sample_figure(n: usize) -> Figure {
        let power: Vec<(f64, f64)> = (0..n)
            .map(|i| {
                let t = i as f64 * 600.0 / n as f64;
                (
                    t,
                    9000.0 + 2500.0 * (t / 40.0).sin() + 400.0 * (t * 1.7).sin(),
                )
            })
            .collect();
        let power2: Vec<(f64, f64)> = power
            .iter()
            .map(|&(t, p)| (t, p * 0.8 + 300.0 * (t / 7.0).cos()))
            .collect();
        let util: Vec<(f64, f64)> = (0..n)
            .map(|i| {
                let t = i as f64 * 600.0 / n as f64;
                (t, 0.5 + 0.4 * (t / 60.0).sin())
            })
            .collect();
        Figure {
            title: "Rack A power under capping".into(),
            x_label: "time (s)".into(),
            markers: vec![
                Marker {
                    label: "migration start".into(),
                    x: 120.0,
                },
                Marker {
                    label: "switch-over".into(),
                    x: 150.0,
                },
                Marker {
                    label: "migration end".into(),
                    x: 160.0,
                },
                Marker {
                    label: "breaker trip".into(),
                    x: 420.0,
                },
            ],
            panels: vec![
                Panel {
                    y_label: "power (W)".into(),
                    series: vec![
                        Series {
                            label: "rack A".into(),
                            points: power,
                        },
                        Series {
                            label: "rack B".into(),
                            points: power2,
                        },
                    ],
                    hlines: vec![
                        HLine {
                            label: "cap 10 kW".into(),
                            y: 10_000.0,
                            kind: HLineKind::Cap,
                        },
                        HLine {
                            label: "breaker rating 12 kW".into(),
                            y: 12_000.0,
                            kind: HLineKind::Rating,
                        },
                    ],
                    y_min: None,
                    y_max: None,
                    scatter: false,
                },
                Panel {
                    y_label: "utilisation (fraction)".into(),
                    series: vec![Series {
                        label: "mean CPU utilisation".into(),
                        points: util,
                    }],
                    hlines: vec![],
                    y_min: Some(0.0),
                    y_max: Some(1.0),
                    scatter: false,
                },
            ],
        }
    }

    fn png_width(bytes: &[u8]) -> u32 {
        u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]])
    }

    const PNG_SIG: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];

    #[test]
    fn two_panel_figure_writes_svg_and_png() {
        let dir = TempDir::new("two");
        let svg = dir.0.join("fig.svg");
        let png = dir.0.join("fig.png");
        let fig = sample_figure(2000);
        write_figure(&fig, &svg, &png).unwrap();

        let s = std::fs::read_to_string(&svg).unwrap();
        assert!(!s.is_empty());
        for text in [
            "Rack A power under capping",
            "rack A",
            "rack B",
            "cap 10 kW",
            "breaker rating 12 kW",
            "mean CPU utilisation",
            "breaker trip",
            "power (W)",
            "time (s)",
        ] {
            assert!(s.contains(text), "SVG lacks {text:?}");
        }

        let b = std::fs::read(&png).unwrap();
        assert!(b.len() > 24);
        assert_eq!(&b[..8], &PNG_SIG);
        assert_eq!(&b[12..16], b"IHDR");
        assert_eq!(png_width(&b), 1200);
        let height = u32::from_be_bytes([b[20], b[21], b[22], b[23]]);
        assert_eq!(height, TITLE_HEIGHT + 2 * PANEL_HEIGHT);
        // A single-colour 1200x940 image compresses to a few kB; a plot with text is far larger.
        assert!(
            b.len() > 20_000,
            "PNG suspiciously small: {} bytes",
            b.len()
        );
    }

    #[test]
    fn rendered_pixels_are_not_uniform() {
        ensure_fonts();
        let fig = sample_figure(500);
        let (w, h) = figure_size(&fig);
        let mut buf = vec![0u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            draw_figure(&root, &fig).unwrap();
            root.present().unwrap();
        }
        let px = |i: usize| (buf[3 * i], buf[3 * i + 1], buf[3 * i + 2]);
        let total = (w * h) as usize;
        let white = (0..total).filter(|&i| px(i) == (255, 255, 255)).count();
        assert!(white > total / 2, "background should be mostly white");
        let coloured = |c: RGBColor| (0..total).filter(|&i| px(i) == (c.0, c.1, c.2)).count();
        assert!(coloured(PALETTE[0]) > 500, "first series not drawn");
        assert!(coloured(CAP_COLOR) > 200, "cap line not drawn");
        assert!(coloured(RATING_COLOR) > 500, "rating line not drawn");
        // Text is drawn (anti-aliased dark pixels in the title band).
        let dark_in_title = (0..TITLE_HEIGHT as usize * w as usize)
            .filter(|&i| px(i).0 < 100)
            .count();
        assert!(dark_in_title > 50, "title text not drawn");
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let dir = TempDir::new("degen");
        let panel = |series: Vec<Series>, hlines: Vec<HLine>| Panel {
            y_label: "W".into(),
            series,
            hlines,
            y_min: None,
            y_max: None,
            scatter: false,
        };
        let s = |pts: Vec<(f64, f64)>| Series {
            label: "s".into(),
            points: pts,
        };
        let nan = f64::NAN;
        let figs = vec![
            Figure::default(),
            Figure {
                panels: vec![Panel::default()],
                ..Default::default()
            },
            Figure {
                panels: vec![panel(vec![s(vec![])], vec![])],
                ..Default::default()
            },
            Figure {
                panels: vec![panel(vec![s(vec![(5.0, 7.0)])], vec![])],
                ..Default::default()
            },
            Figure {
                panels: vec![panel(vec![s(vec![(1.0, 3.0); 10])], vec![])],
                ..Default::default()
            },
            Figure {
                panels: vec![panel(
                    vec![s((0..10).map(|i| (i as f64, 3.0)).collect())],
                    vec![],
                )],
                ..Default::default()
            },
            Figure {
                panels: vec![panel(
                    vec![s(vec![
                        (nan, 1.0),
                        (1.0, nan),
                        (2.0, 5.0),
                        (3.0, nan),
                        (4.0, 6.0),
                    ])],
                    vec![],
                )],
                ..Default::default()
            },
            Figure {
                panels: vec![panel(
                    vec![s(vec![(nan, nan); 5])],
                    vec![HLine {
                        label: "h".into(),
                        y: nan,
                        kind: HLineKind::Cap,
                    }],
                )],
                ..Default::default()
            },
            Figure {
                panels: vec![panel(
                    vec![s(vec![(0.0, f64::INFINITY), (1.0, -f64::INFINITY)])],
                    vec![],
                )],
                ..Default::default()
            },
            Figure {
                panels: vec![Panel {
                    y_min: Some(10.0),
                    y_max: Some(5.0),
                    ..panel(vec![s(vec![(0.0, 1.0), (1.0, 2.0)])], vec![])
                }],
                markers: vec![
                    Marker {
                        label: "m".into(),
                        x: 0.5,
                    },
                    Marker {
                        label: "nan".into(),
                        x: nan,
                    },
                ],
                ..Default::default()
            },
            Figure {
                panels: vec![panel(
                    vec![],
                    vec![HLine {
                        label: "only".into(),
                        y: 100.0,
                        kind: HLineKind::Rating,
                    }],
                )],
                markers: vec![
                    Marker {
                        label: "same".into(),
                        x: 3.0,
                    },
                    Marker {
                        label: "same".into(),
                        x: 3.0,
                    },
                ],
                ..Default::default()
            },
            // Many series and legend entries, with an overlong label.
            Figure {
                panels: vec![panel(
                    (0..30)
                        .map(|k| Series {
                            label: format!("series {k} {}", "x".repeat(k * 3)),
                            points: vec![(0.0, k as f64), (1.0, k as f64 + 1.0)],
                        })
                        .collect(),
                    vec![],
                )],
                ..Default::default()
            },
        ];
        for (i, f) in figs.iter().enumerate() {
            let svg = dir.0.join(format!("d{i}.svg"));
            let png = dir.0.join(format!("d{i}.png"));
            write_figure(f, &svg, &png).unwrap_or_else(|e| panic!("figure {i}: {e}"));
            let b = std::fs::read(&png).unwrap();
            assert_eq!(&b[..8], &PNG_SIG);
            assert_eq!(png_width(&b), 1200);
        }
    }

    /// The former truncation (drop one character, measure again), the reference result.
    fn truncate_by_scan<DB: DrawingBackend>(
        area: &DrawingArea<DB, Shift>,
        text: &str,
        style: &TextStyle,
        max_w: u32,
    ) -> String {
        let fits = |t: &str| {
            area.estimate_text_size(t, style)
                .map(|(w, _)| w <= max_w)
                .unwrap_or(true)
        };
        let chars: Vec<char> = text.chars().collect();
        if fits(text) {
            return text.to_string();
        }
        (0..chars.len())
            .rev()
            .map(|n| {
                chars[..n]
                    .iter()
                    .chain(std::iter::once(&'…'))
                    .collect::<String>()
            })
            .find(|t| fits(t))
            .unwrap_or_default()
    }

    #[test]
    fn long_labels_truncate_to_the_longest_prefix_that_fits() {
        ensure_fonts();
        let mut svg = String::new();
        let area = SVGBackend::with_string(&mut svg, (400, 100)).into_drawing_area();
        let style = TextStyle::from((FONT, 14).into_font());
        let width = |t: &str| area.estimate_text_size(t, &style).unwrap().0;
        // Normal labels: the same result as the per-character scan, for widths that
        // keep all, some, only "…" or nothing (2 px is narrower than "…").
        for label in ["cap", "rack-1-01 cap (dashed)", "séries ünïcode 電力 label"] {
            for max_w in [2, 10, 40, 80, 400] {
                assert_eq!(
                    truncate_to_width(&area, label, &style, max_w),
                    truncate_by_scan(&area, label, &style, max_w),
                    "{label} in {max_w} px"
                );
            }
        }
        // A 20,000-character label (quadratic before): a prefix plus "…" that fits in
        // 200 px, and one character more would not.
        let long: String = "wxyz".repeat(5_000);
        let t = truncate_to_width(&area, &long, &style, 200);
        let kept = t.strip_suffix('…').expect("ends with an ellipsis");
        assert!(!kept.is_empty() && long.starts_with(kept), "{t}");
        assert!(width(&t) <= 200);
        let one_more = format!("{}…", &long[..kept.len() + 1]);
        assert!(width(&one_more) > 200, "{one_more} also fits");
    }

    #[test]
    fn errors_name_the_file() {
        let dir = TempDir::new("err");
        let missing = dir.0.join("no/such/dir/fig.svg");
        let err = write_figure(&sample_figure(10), &missing, &dir.0.join("ok.png")).unwrap_err();
        assert!(err.contains("fig.svg"), "{err}");
        let missing_png = dir.0.join("no/such/dir/fig.png");
        let err =
            write_figure(&sample_figure(10), &dir.0.join("ok.svg"), &missing_png).unwrap_err();
        assert!(err.contains("fig.png"), "{err}");
    }

    #[test]
    fn png_path_without_png_extension() {
        let dir = TempDir::new("ext");
        let png = dir.0.join("figure.bin");
        write_figure(&sample_figure(10), &dir.0.join("f.svg"), &png).unwrap();
        let b = std::fs::read(&png).unwrap();
        assert_eq!(&b[..8], &PNG_SIG);
    }

    #[test]
    fn downsampler_keeps_min_and_max_per_column() {
        // x range [0, 8) in 2 columns: column 0 holds x in [0, 4), column 1 holds [4, 8].
        let pts = [
            (0.0, 1.0),
            (1.0, 5.0), // col 0 max
            (2.0, 3.0),
            (3.0, 0.0), // col 0 min
            (4.0, 2.0), // col 1 min (first of the tie with x = 5)
            (5.0, 2.0),
            (6.0, 9.0), // col 1 max
            (7.0, 4.0),
            (8.0, 3.0), // x = x1 clamps into the last column
        ];
        let out = downsample(&pts, 0.0, 8.0, 2);
        assert_eq!(out, vec![(1.0, 5.0), (3.0, 0.0), (4.0, 2.0), (6.0, 9.0)]);

        // Min before max is kept in original order; a one-point column yields one point.
        let pts = [(0.0, -1.0), (0.5, 10.0), (1.5, 4.0)];
        let out = downsample(&pts, 0.0, 2.0, 2);
        assert_eq!(out, vec![(0.0, -1.0), (0.5, 10.0), (1.5, 4.0)]);

        // Four columns, monotone series: each column contributes its first (min) and last (max).
        let pts: Vec<(f64, f64)> = (0..16).map(|i| (i as f64, i as f64)).collect();
        let out = downsample(&pts, 0.0, 16.0, 4);
        assert_eq!(
            out,
            vec![
                (0.0, 0.0),
                (3.0, 3.0),
                (4.0, 4.0),
                (7.0, 7.0),
                (8.0, 8.0),
                (11.0, 11.0),
                (12.0, 12.0),
                (15.0, 15.0)
            ]
        );
    }

    #[test]
    fn large_series_render_quickly() {
        let dir = TempDir::new("big");
        let fig = sample_figure(100_000);
        let t = std::time::Instant::now();
        write_figure(&fig, &dir.0.join("big.svg"), &dir.0.join("big.png")).unwrap();
        let el = t.elapsed();
        // Generous bound for unoptimised test builds.
        assert!(el.as_secs_f64() < 10.0, "took {el:?}");
        let svg_len = std::fs::metadata(dir.0.join("big.svg")).unwrap().len();
        assert!(svg_len < 2_000_000, "SVG not downsampled: {svg_len} bytes");
    }

    #[test]
    fn tick_labels() {
        let f = tick_formatter(0.0, 1.0, 8, true);
        assert_eq!(f(&0.4), "0.4");
        assert_eq!(f(&-0.0001), "0.0");
        let f = tick_formatter(4500.0, 12500.0, 8, true);
        assert_eq!(f(&12000.0), "12k");
        let f = tick_formatter(0.0, 3.0e6, 8, true);
        assert_eq!(f(&1.5e6), "1.5M");
        let f = tick_formatter(0.0, 86400.0, 12, false);
        assert_eq!(f(&20000.0), "20000");
    }

    #[test]
    #[ignore = "writes /tmp/plot-edge.png for eyeballing"]
    fn write_edge() {
        let mut f = sample_figure(3000);
        f.panels[0].y_max = Some(9000.0);
        f.panels[0].y_min = Some(6000.0);
        f.panels[1].series = (0..30)
            .map(|k| Series {
                label: format!("series {k} {}", "x".repeat(k * 3)),
                points: vec![(0.0, k as f64 / 30.0), (600.0, k as f64 / 40.0)],
            })
            .collect();
        f.panels[1].y_min = None;
        f.panels[1].y_max = None;
        write_figure(
            &f,
            Path::new("/tmp/plot-edge.svg"),
            Path::new("/tmp/plot-edge.png"),
        )
        .unwrap();
    }

    #[test]
    #[ignore = "writes /tmp/plot-sample.{svg,png} for eyeballing"]
    fn write_sample() {
        write_figure(
            &sample_figure(20_000),
            Path::new("/tmp/plot-sample.svg"),
            Path::new("/tmp/plot-sample.png"),
        )
        .unwrap();
    }
}
