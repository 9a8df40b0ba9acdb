//! PNG line charts of metric series drawn with plotters, and what all charts share (font,
//! colours, ticks, PNG encoding). plotters is used only here, in [`super::bars`] and in
//! [`super::backend`].
//!
//! Text is drawn with DejaVu Sans embedded in the binary (see `backend`), so nothing is read
//! from the system: no fontconfig, no installed fonts. Pixels are drawn into an RGB buffer
//! and PNG-encoded with `image`. Legends go below the plot, never over the data.

use std::ops::Range;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::combinators::BindKeyPoints;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::backend::{self, Backend};

/// The font family charts ask for; registered once with the embedded TTF so that any of
/// plotters' own text paths finds it too.
const FAMILY: &str = "sans-serif";

pub(super) fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is part of the binary and a unit test parses it.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, backend::font_bytes());
    });
}

pub(super) type Area<'a> = DrawingArea<Backend<'a>, Shift>;

/// A drawing failed (plotters' message).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ChartError(pub(super) String);

pub(super) fn ce<E: std::fmt::Display>(e: E) -> ChartError {
    ChartError(e.to_string())
}

/// Series colours (Tableau 10), in order.
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// The colour of each series: the next in the palette, except that a faint series takes the
/// colour of the one before it (its moving average).
fn series_colours(series: &[Series]) -> Vec<RGBColor> {
    let mut next = 0;
    series
        .iter()
        .map(|s| {
            if s.mark == Mark::Faint && next > 0 {
                colour(next - 1)
            } else {
                next += 1;
                colour(next - 1)
            }
        })
        .collect()
}

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// A plain line (dense per-step series).
    Line,
    /// A line with a dot on every point (sparse per-epoch series).
    Dots,
    /// A thin pale line behind the others (raw noisy values under their moving average);
    /// it does not set the axis range, values beyond it are drawn at the edge.
    Faint,
}

/// One named series of (x, y) points.
#[derive(Clone, Debug)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub mark: Mark,
}

/// A line chart: several series over a shared x axis.
#[derive(Clone, Debug)]
pub struct LineChart {
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    pub series: Vec<Series>,
    /// A y range to always include (e.g. 0..1 for accuracies); widened to fit the data.
    pub y_include: Option<(f64, f64)>,
    /// Draw y on a log scale when every value is positive and they span this many times
    /// (e.g. 30.0); `None` for always linear.
    pub log_y_above: Option<f64>,
}

pub const LINE_SIZE: (u32, u32) = (560, 370);
pub(super) const TITLE_PX: f64 = 20.0;
pub(super) const LABEL_PX: f64 = 13.0;
pub(super) const DESC_PX: f64 = 14.0;
const LEGEND_ROW: u32 = 22;
/// Where legend entries start (about under the y axis).
const LEGEND_LEFT: i32 = 64;

pub(super) fn font(px: f64) -> TextStyle<'static> {
    (FAMILY, px).into_font().color(&BLACK)
}

/// Renders an RGB buffer as PNG bytes.
pub(super) fn png(buf: Vec<u8>, (w, h): (u32, u32)) -> Result<Vec<u8>, ChartError> {
    let img = image::RgbImage::from_raw(w, h, buf).ok_or_else(|| ce("buffer size"))?;
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(ce)?;
    Ok(out.into_inner())
}

/// A compact tick label for a value on an axis whose ticks are about `span / 5` apart:
/// enough decimals to tell neighbours apart, scientific notation for very large or small.
pub fn tick(v: f64, span: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let span = span.abs().max(f64::MIN_POSITIVE);
    let mut decimals = (-(span / 5.0).log10()).ceil().max(0.0) as usize;
    if v.abs() >= 1e6 || decimals > 5 {
        let s = format!("{v:.1e}");
        return s.replace(".0e", "e");
    }
    // A tick between the expected steps (0.25 on a 0.2 grid) gets the digits it needs.
    let exact = |d: usize| {
        format!("{v:.d$}")
            .parse::<f64>()
            .is_ok_and(|p| (p - v).abs() <= 1e-9 * v.abs().max(span))
    };
    while decimals < 6 && !exact(decimals) {
        decimals += 1;
    }
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Tick values 1-2-5 per decade within lo..hi, for a log axis.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut out = Vec::new();
    for mults in [&[1.0, 2.0, 5.0][..], &[1.0][..]] {
        out.clear();
        let mut k = lo.log10().floor() as i32;
        while 10f64.powi(k) <= hi && k < 300 {
            for m in mults {
                let v = m * 10f64.powi(k);
                if v >= lo && v <= hi {
                    out.push(v);
                }
            }
            k += 1;
        }
        if out.len() <= 10 {
            break;
        }
    }
    out
}

/// A centred moving average over `window` points (shorter at the ends).
pub fn smooth(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    let half = window / 2;
    let mut prefix = Vec::with_capacity(points.len() + 1);
    prefix.push(0.0);
    for p in points {
        prefix.push(prefix.last().unwrap() + p.1);
    }
    (0..points.len())
        .map(|i| {
            let a = i.saturating_sub(half);
            let b = (i + half + 1).min(points.len());
            (points[i].0, (prefix[b] - prefix[a]) / (b - a) as f64)
        })
        .collect()
}

/// (min, max) of finite values, widened so that the range is never empty.
fn bounds(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return None;
    }
    if lo == hi {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        return Some((lo - pad, hi + pad));
    }
    Some((lo, hi))
}

/// Draws `c` as PNG bytes of `size` pixels. Empty or single-point series are fine: an empty
/// chart says "no data".
pub fn line_chart(c: &LineChart, size: (u32, u32)) -> Result<Vec<u8>, ChartError> {
    register_font();
    let series: Vec<Series> = c
        .series
        .iter()
        .map(|s| Series {
            points: s
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect(),
            ..s.clone()
        })
        .collect();
    let mut buf = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let root = Backend(BitMapBackend::with_buffer(&mut buf, size)).into_drawing_area();
        root.fill(&WHITE).map_err(ce)?;
        // Faint series do not set the range unless they are all there is.
        let solid = |s: &&Series| s.mark != Mark::Faint;
        let ranged: Vec<&Series> = if series.iter().filter(solid).any(|s| !s.points.is_empty()) {
            series.iter().filter(solid).collect()
        } else {
            series.iter().collect()
        };
        let xs = bounds(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
        // Faint (raw) values widen the range to their 2nd..98th percentiles, not to outliers.
        let mut faint: Vec<f64> = series
            .iter()
            .filter(|s| s.mark == Mark::Faint)
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .collect();
        faint.sort_by(f64::total_cmp);
        let pct = |q: f64| faint[((faint.len() - 1) as f64 * q).round() as usize];
        let faint_range = if faint.is_empty() {
            vec![]
        } else {
            vec![pct(0.02), pct(0.98)]
        };
        let ys = bounds(
            ranged
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1))
                .chain(faint_range.iter().copied()),
        );
        let (Some((x0, x1)), Some((y0, y1))) = (xs, ys) else {
            empty(&root, &c.title)?;
            root.present().map_err(ce)?;
            drop(root);
            return png(buf, size);
        };
        // Steps count from 0: charts of one run line up.
        let x0 = if x0 >= 0.0 { 0.0 } else { x0 };
        let legend_rows = legend_rows(&root, &series);
        let (plot, legend) =
            root.split_vertically(size.1.saturating_sub(6 + LEGEND_ROW * legend_rows as u32));
        let min_y = ranged
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .chain(faint_range.iter().copied())
            .fold(f64::INFINITY, f64::min);
        let log = c
            .log_y_above
            .is_some_and(|ratio| min_y > 0.0 && y1 / min_y > ratio && c.y_include.is_none());
        if log {
            let (lo, hi) = (min_y / 1.2, y1 * 1.2);
            let ticks = log_ticks(lo, hi);
            let y = (lo..hi).log_scale().with_key_points(ticks);
            draw_lines(&plot, c, &series, x0..x1, y, (lo, hi), None)?;
        } else {
            let (mut lo, mut hi) = (y0, y1);
            if let Some((a, b)) = c.y_include {
                lo = lo.min(a);
                hi = hi.max(b);
            }
            let pad = (hi - lo) * 0.05;
            let lo = if c.y_include.is_some_and(|(a, _)| a == lo) {
                lo
            } else {
                lo - pad
            };
            let hi = if c.y_include.is_some_and(|(_, b)| b == hi) {
                hi
            } else {
                hi + pad
            };
            draw_lines(&plot, c, &series, x0..x1, lo..hi, (lo, hi), Some(hi - lo))?;
        }
        draw_legend(&legend, &series)?;
        root.present().map_err(ce)?;
    }
    png(buf, size)
}

/// An empty chart: the title and "no data".
pub(super) fn empty(root: &Area, title: &str) -> Result<(), ChartError> {
    let (w, h) = root.dim_in_pixel();
    let centre = Pos::new(HPos::Center, VPos::Center);
    root.draw(&Text::new(
        title.to_string(),
        (w as i32 / 2, 24),
        font(TITLE_PX).pos(centre),
    ))
    .map_err(ce)?;
    root.draw(&Text::new(
        "no data".to_string(),
        (w as i32 / 2, h as i32 / 2),
        font(DESC_PX).color(&RGBColor(110, 110, 110)).pos(centre),
    ))
    .map_err(ce)?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn draw_lines<Y>(
    area: &Area,
    c: &LineChart,
    series: &[Series],
    x: Range<f64>,
    y: Y,
    (y_lo, y_hi): (f64, f64),
    // The y axis' span for tick labels; `None` on a log axis (labels relative to the value).
    y_span: Option<f64>,
) -> Result<(), ChartError>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let x_span = x.end - x.start;
    // Steps are whole numbers: on a short axis, no ticks between them.
    let x_labels = if x_span < 7.0 {
        (x_span.floor() as usize + 1).max(2)
    } else {
        8
    };
    let mut chart = ChartBuilder::on(area)
        .caption(&c.title, font(TITLE_PX))
        .margin_top(6)
        .margin_left(8)
        .margin_right(22)
        .x_label_area_size(46)
        .y_label_area_size(78)
        .build_cartesian_2d(x, y)
        .map_err(ce)?;
    let x_fmt = |v: &f64| tick(*v, x_span);
    let y_fmt = |v: &f64| tick(*v, y_span.unwrap_or(v.abs() * 4.0));
    chart
        .configure_mesh()
        .x_desc(&c.x_desc)
        .y_desc(&c.y_desc)
        .x_labels(x_labels)
        .y_labels(7)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style(font(LABEL_PX))
        .axis_desc_style(font(DESC_PX))
        .light_line_style(RGBColor(243, 243, 243))
        .bold_line_style(RGBColor(218, 218, 218))
        .draw()
        .map_err(ce)?;
    // Values beyond the axis (faint raw points) are drawn at its edge.
    let clamp = |(x, y): (f64, f64)| (x, y.clamp(y_lo, y_hi));
    let colours = series_colours(series);
    for pass in [true, false] {
        for (s, &col) in series.iter().zip(&colours) {
            if (s.mark == Mark::Faint) != pass {
                continue;
            }
            let style = match s.mark {
                Mark::Faint => col.mix(0.28).stroke_width(1),
                _ => col.stroke_width(2),
            };
            chart
                .draw_series(LineSeries::new(s.points.iter().copied().map(clamp), style))
                .map_err(ce)?;
            if s.mark == Mark::Dots || s.points.len() == 1 {
                chart
                    .draw_series(
                        s.points
                            .iter()
                            .map(|&p| Circle::new(clamp(p), 4, col.filled())),
                    )
                    .map_err(ce)?;
            }
        }
    }
    Ok(())
}

/// How many rows the legend below the plot needs.
fn legend_rows(root: &Area, series: &[Series]) -> usize {
    if series.len() < 2 {
        return usize::from(!series.is_empty() && series[0].points.is_empty());
    }
    let width = root.dim_in_pixel().0 as i32 - LEGEND_LEFT - 10;
    let mut rows = 1;
    let mut x = 0;
    for s in series {
        let w = entry_width(root, s);
        if x > 0 && x + w > width {
            rows += 1;
            x = 0;
        }
        x += w;
    }
    rows
}

fn entry_width(_root: &Area, s: &Series) -> i32 {
    let tw = backend::text_size(&legend_label(s), LABEL_PX).0 as i32;
    34 + tw + 22
}

fn legend_label(s: &Series) -> String {
    if s.points.is_empty() {
        format!("{} (no data)", s.label)
    } else {
        s.label.clone()
    }
}

/// The legend: a line sample and the label of each series, left to right, wrapping.
fn draw_legend(area: &Area, series: &[Series]) -> Result<(), ChartError> {
    let one_with_data = series.len() == 1 && !series[0].points.is_empty();
    if series.is_empty() || one_with_data {
        return Ok(()); // the title says what a lone series is
    }
    let width = area.dim_in_pixel().0 as i32 - LEGEND_LEFT - 10;
    let (mut x, mut y) = (0, LEGEND_ROW as i32 / 2);
    let left = LEGEND_LEFT;
    for (s, &col) in series.iter().zip(&series_colours(series)) {
        let w = entry_width(area, s);
        if x > 0 && x + w > width {
            x = 0;
            y += LEGEND_ROW as i32;
        }
        let (lx, ly) = (left + x, y);
        let style = if s.mark == Mark::Faint {
            col.mix(0.4).stroke_width(3)
        } else {
            col.stroke_width(3)
        };
        area.draw(&PathElement::new(vec![(lx, ly), (lx + 26, ly)], style))
            .map_err(ce)?;
        if s.mark == Mark::Dots {
            area.draw(&Circle::new((lx + 13, ly), 4, col.filled()))
                .map_err(ce)?;
        }
        area.draw(&Text::new(
            legend_label(s),
            (lx + 34, ly),
            font(LABEL_PX).pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(ce)?;
        x += w;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(png: &[u8]) -> image::RgbImage {
        image::load_from_memory_with_format(png, image::ImageFormat::Png)
            .expect("a PNG")
            .to_rgb8()
    }

    fn chart(series: Vec<Series>) -> LineChart {
        LineChart {
            title: "Loss".into(),
            x_desc: "step".into(),
            y_desc: "loss".into(),
            series,
            y_include: None,
            log_y_above: Some(30.0),
        }
    }

    fn dark_pixels(img: &image::RgbImage) -> usize {
        img.pixels()
            .filter(|p| p.0.iter().all(|&c| c < 100))
            .count()
    }

    #[test]
    fn line_charts_draw_empty_single_point_and_odd_series() {
        let cases: Vec<Vec<Series>> = vec![
            vec![],
            vec![Series {
                label: "a".into(),
                points: vec![],
                mark: Mark::Line,
            }],
            vec![Series {
                label: "a".into(),
                points: vec![(3.0, 0.5)],
                mark: Mark::Line,
            }],
            vec![Series {
                label: "a".into(),
                points: vec![(1.0, 0.0), (2.0, 0.0)],
                mark: Mark::Dots,
            }],
            vec![
                Series {
                    label: "nan".into(),
                    points: vec![(1.0, f64::NAN), (2.0, f64::INFINITY)],
                    mark: Mark::Line,
                },
                Series {
                    label: "b".into(),
                    points: vec![(1.0, -1e9), (2.0, 1e9)],
                    mark: Mark::Dots,
                },
            ],
            vec![Series {
                label: "log".into(),
                points: (1..500).map(|i| (i as f64, 100.0 / i as f64)).collect(),
                mark: Mark::Line,
            }],
        ];
        for series in cases {
            let n = series.len();
            let png = line_chart(&chart(series), LINE_SIZE).expect("draws");
            let img = decode(&png);
            assert_eq!(img.dimensions(), LINE_SIZE);
            assert!(dark_pixels(&img) > 50, "text is drawn ({n} series)");
        }
        let mut c = chart(vec![Series {
            label: "acc".into(),
            points: vec![(0.0, 0.2), (5.0, 0.9)],
            mark: Mark::Dots,
        }]);
        c.y_include = Some((0.0, 1.0));
        decode(&line_chart(&c, (300, 200)).unwrap());
    }

    #[test]
    fn moving_average_keeps_length_and_flattens() {
        let pts: Vec<(f64, f64)> = (0..10)
            .map(|i| (i as f64, if i % 2 == 0 { 0.0 } else { 2.0 }))
            .collect();
        let s = smooth(&pts, 5);
        assert_eq!(s.len(), 10);
        assert!(s[2..8].iter().all(|p| (p.1 - 1.0).abs() < 0.21), "{s:?}");
        assert!(smooth(&[], 5).is_empty());
        assert_eq!(smooth(&[(1.0, 3.0)], 9), vec![(1.0, 3.0)]);
    }

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(0.0, 1.0), "0");
        assert_eq!(tick(0.25, 1.0), "0.25");
        assert_eq!(tick(0.2, 1.0), "0.2");
        assert_eq!(tick(1500.0, 3000.0), "1500");
        assert_eq!(tick(0.0005, 0.003), "0.0005");
        assert_eq!(tick(0.0015, 0.003), "0.0015");
        assert_eq!(tick(250000.0, 1e6), "250000");
        assert_eq!(tick(2e-7, 1e-6), "2e-7");
        assert_eq!(tick(3.0e7, 1e8), "3e7");
        assert_eq!(log_ticks(0.3, 40.0), vec![0.5, 1.0, 2.0, 5.0, 10.0, 20.0]);
        assert_eq!(log_ticks(1e-3, 1e6).len(), 10);
    }
}
