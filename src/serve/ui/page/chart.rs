//! Metric curves as inline SVG: one polyline per series by step, axes with round ticks.

use std::fmt::Write;

use crate::event::MetricPoint;

use super::*;

/// An SVG line chart of one or more series (label, points by step).
pub fn chart(series: &[(String, Vec<MetricPoint>)], w: u32, h: u32) -> String {
    let pts: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|m| (m.step as f64, m.value)))
        .filter(|(_, v)| v.is_finite())
        .collect();
    if pts.is_empty() {
        return format!(
            r#"<svg class=chart width="{w}" height="{h}"><text x=10 y=20>no finite values</text></svg>"#
        );
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
    let mut s = format!(
        r##"<svg class=chart xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}"><rect x="{l}" y="{tp}" width="{}" height="{}" fill="#fff" stroke="#ccc"/>"##,
        wf - l - r,
        hf - tp - bt
    );
    for (i, frac) in [0.0, 0.5, 1.0].iter().enumerate() {
        let yv = y0 + (y1 - y0) * frac;
        let _ = write!(
            s,
            r##"<text x="2" y="{:.1}" font-size="10" fill="#555">{}</text>"##,
            sy(yv) + 3.0,
            esc(&fmt_num(yv))
        );
        let xv = x0 + (x1 - x0) * frac;
        let anchor = ["start", "middle", "end"][i];
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{}" font-size="10" fill="#555" text-anchor="{anchor}">{}</text>"##,
            sx(xv),
            h - 8,
            fmt_num(xv)
        );
    }
    for (i, (label, p)) in series.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let mut sorted: Vec<&MetricPoint> = p.iter().filter(|m| m.value.is_finite()).collect();
        sorted.sort_by_key(|m| m.step);
        let d: Vec<String> = sorted
            .iter()
            .map(|m| format!("{:.1},{:.1}", sx(m.step as f64), sy(m.value)))
            .collect();
        if d.len() == 1 {
            let _ = write!(
                s,
                r#"<circle cx="{}" r="3" cy="{}" fill="{c}"/>"#,
                d[0].split(',').next().unwrap_or("0"),
                d[0].split(',').nth(1).unwrap_or("0")
            );
        } else {
            let _ = write!(
                s,
                r#"<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{}"/>"#,
                d.join(" ")
            );
        }
        if series.len() > 1 {
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" font-size="10" fill="{c}">{}</text>"#,
                l + 6.0,
                tp + 12.0 + 12.0 * i as f64,
                esc(label)
            );
        }
    }
    s.push_str("</svg>");
    s
}
