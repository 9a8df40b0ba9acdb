//! Metric curves as inline SVG: one polyline per series by step, axes with round ticks.

use maud::{Markup, html};

use crate::event::MetricPoint;

use super::*;

/// One series as drawn: its colour, its label, its points in pixels.
type Line<'a> = (&'static str, &'a str, Vec<(f64, f64)>);

/// An SVG line chart of one or more series (label, points by step).
pub fn chart(series: &[(String, Vec<MetricPoint>)], w: u32, h: u32) -> Markup {
    let pts: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|m| (m.step as f64, m.value)))
        .filter(|(_, v)| v.is_finite())
        .collect();
    if pts.is_empty() {
        return html! {
            svg.chart width=(w) height=(h) { text x="10" y="20" { "no finite values" } }
        };
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in &pts {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    if x1 == x0 {
        x1 = x0 + 1.0;
    }
    if y1 == y0 {
        y1 = y0 + 1.0;
        y0 -= 1.0;
    }
    let (l, r, tp, bt) = (56.0, 10.0, 10.0, 24.0);
    let (wf, hf) = (w as f64, h as f64);
    let sx = |x: f64| l + (x - x0) / (x1 - x0) * (wf - l - r);
    let sy = |y: f64| tp + (1.0 - (y - y0) / (y1 - y0)) * (hf - tp - bt);
    let (cw, ch) = (wf - l - r, hf - tp - bt);
    let ticks = [0.0, 0.5, 1.0].map(|frac| (y0 + (y1 - y0) * frac, x0 + (x1 - x0) * frac));
    let lines: Vec<Line> = series
        .iter()
        .enumerate()
        .map(|(i, (label, p))| {
            let mut sorted: Vec<&MetricPoint> = p.iter().filter(|m| m.value.is_finite()).collect();
            sorted.sort_by_key(|m| m.step);
            let xy = sorted
                .iter()
                .map(|m| (sx(m.step as f64), sy(m.value)))
                .collect();
            (COLORS[i % COLORS.len()], label.as_str(), xy)
        })
        .collect();
    let points = |xy: &[(f64, f64)]| {
        xy.iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    // SVG elements get explicit end tags (`{}`): inside an HTML page's <svg> a tag like <rect>
    // without `/>` would hold everything after it.
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" width=(w) height=(h) viewBox={ "0 0 " (w) " " (h) } {
            rect x=(l) y=(tp) width=(cw) height=(ch) fill="#fff" stroke="#ccc" {}
            @for (i, (yv, xv)) in ticks.iter().enumerate() {
                text x="2" y=(format!("{:.1}", sy(*yv) + 3.0)) font-size="10" fill="#555" { (tick(*yv)) }
                text x=(format!("{:.1}", sx(*xv))) y=(h - 8) font-size="10" fill="#555"
                    text-anchor=(["start", "middle", "end"][i]) { (tick(*xv)) }
            }
            @for (i, (c, label, xy)) in lines.iter().enumerate() {
                @if let [(x, y)] = xy.as_slice() {
                    circle cx=(format!("{x:.1}")) r="3" cy=(format!("{y:.1}")) fill=(c) {}
                } @else {
                    polyline fill="none" stroke=(c) stroke-width="1.5" points=(points(xy)) {}
                }
                @if series.len() > 1 {
                    text x=(l + 6.0) y=(tp + 12.0 + 12.0 * i as f64) font-size="10" fill=(c) { (label) }
                }
            }
        }
    }
}

/// An axis tick: short enough to fit left of the plot (`3809.567347` → `3810`, `0.111979` →
/// `0.112`); the exact values are in the tables.
fn tick(v: f64) -> String {
    if v.is_finite() && v.abs() >= 100.0 && v.abs() < 1e6 {
        format!("{v:.0}")
    } else if v.is_finite() && v.abs() >= 1e-3 && v.abs() < 100.0 {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        fmt_num(v)
    }
}
