//! The geometry of one timetable page before any degradation: the font size that fits the
//! page width, column widths, row heights, where every rule, background and line of text
//! goes, and the unrotated box of every cell and line.

use super::canvas::{Rgb, Text};
use super::content::{Entry, Timetable};
use super::style::{Style, mix, pastel};

/// One line of text to draw.
pub struct Placed {
    pub row: usize,
    pub col: usize,
    pub line: usize,
    pub text: String,
    pub field: &'static str,
    /// Pen start and baseline.
    pub x: f32,
    pub baseline: f32,
    /// Faux-bold overstrike in pixels (0: regular).
    pub bold: f32,
    /// `[x0, y0, x1, y1]`: advance width × ascent to descent.
    pub bbox: [f64; 4],
}

/// One cell of the grid.
pub struct CellGeom {
    pub row: usize,
    pub col: usize,
    pub kind: &'static str,
    /// Index into the timetable's entries.
    pub entry: Option<usize>,
    /// The cell with the rules around it.
    pub bbox: [f64; 4],
}

/// Everything to draw on a `w`×`h` page, in drawing order: fills (backgrounds, then rules
/// after the text), text.
pub struct Layout {
    pub w: usize,
    pub h: usize,
    pub px: f32,
    pub line_h: f32,
    pub backgrounds: Vec<([i64; 4], Rgb)>,
    pub rules: Vec<([i64; 4], Rgb)>,
    pub texts: Vec<Placed>,
    pub cells: Vec<CellGeom>,
}

/// The entry shown at grid position (`row`, `col`) (both ≥ 1), with its index.
pub fn entry_at(t: &Timetable, row: usize, col: usize) -> Option<(usize, &Entry)> {
    let (start, end) = &t.slots[row - 1];
    let day = &t.days[col - 1];
    t.entries
        .iter()
        .enumerate()
        .find(|(_, e)| &e.day == day && &e.start == start && &e.end == end)
}

type Lines = Vec<(String, &'static str)>;

/// What one cell says, line by line, with each line's field; and the cell's kind.
fn cell_lines(t: &Timetable, s: &Style, row: usize, col: usize) -> (&'static str, Lines) {
    match (row, col) {
        (0, 0) if s.corner_label => ("corner", vec![("Time".into(), "corner")]),
        (0, 0) => ("corner", vec![]),
        (0, c) => ("day", vec![(t.days[c - 1].clone(), "day")]),
        (r, 0) => {
            let (a, b) = &t.slots[r - 1];
            ("time", vec![(format!("{a}\u{2013}{b}"), "time")])
        }
        (r, c) => match entry_at(t, r, c) {
            Some((_, e)) => {
                let mut v = vec![(e.subject.clone(), "subject")];
                if !e.room.is_empty() {
                    v.push((e.room.clone(), "room"));
                }
                if !e.teacher.is_empty() {
                    v.push((e.teacher.clone(), "teacher"));
                }
                ("entry", v)
            }
            None => ("empty", vec![]),
        },
    }
}

/// Lays out timetable `t` in style `s` with the font `face`.
pub fn layout(t: &Timetable, s: &Style, face: &'static ab_glyph::FontRef<'static>) -> Layout {
    let (rows, cols) = (t.slots.len() + 1, t.days.len() + 1);
    let cells: Vec<Vec<(&str, Lines)>> = (0..rows)
        .map(|r| (0..cols).map(|c| cell_lines(t, s, r, c)).collect())
        .collect();
    let bold_of = |r: usize, c: usize, k: usize, px: f32| -> f32 {
        let header = r == 0 || c == 0;
        if (header && s.bold_header) || (!header && k == 0 && s.bold_subject) {
            (px * 0.045).max(0.6)
        } else {
            0.0
        }
    };
    // Widths are linear in the font size: measure at 100 px, then scale to fit the page.
    let unit = Text::new(face, 100.0);
    let mut natural = vec![0.0f32; cols];
    for (r, row) in cells.iter().enumerate() {
        for (c, (_, lines)) in row.iter().enumerate() {
            for (k, (text, _)) in lines.iter().enumerate() {
                let w = unit.width(text, bold_of(r, c, k, 100.0));
                natural[c] = natural[c].max(w + 200.0 * s.pad_x);
            }
        }
    }
    natural[0] = natural[0].max(200.0 * s.pad_x + 100.0);
    let thick = |i: usize, n: usize| {
        if i == 0 || i == n {
            s.outer_px
        } else {
            s.rule_px
        }
    };
    let rules_w: i64 = (0..=cols).map(|i| thick(i, cols)).sum();
    let margin = (s.target_w * s.margin).round();
    let avail = s.target_w - 2.0 * margin - rules_w as f32;
    let total: f32 = natural.iter().sum();
    let px = (s.fill * avail / total * 100.0).clamp(10.0, 34.0);
    let mut col_w: Vec<f32> = natural.iter().map(|w| w * px / 100.0).collect();
    let extra = avail - col_w.iter().sum::<f32>();
    if extra > 0.0 {
        let first = extra * s.first_share;
        col_w[0] += first;
        for w in &mut col_w[1..] {
            *w += (extra - first) / (cols - 1) as f32;
        }
    }
    let text = Text::new(face, px);
    let (ascent, descent) = (text.ascent(), text.descent());
    let line_h = (ascent + descent) * s.spacing;
    let max_lines = cells[1..]
        .iter()
        .flat_map(|r| r[1..].iter().map(|(_, l)| l.len()))
        .max()
        .unwrap_or(1)
        .max(1);
    let pad_y = s.pad_y * px;
    let head_h = (line_h + 2.0 * pad_y).round() as i64;
    let body_h = ((max_lines as f32 * line_h + 2.0 * pad_y) * s.stretch).round() as i64;
    // A rule starts at xs[i] (ys[i]) and is `thick` wide; cell c lies between two of them.
    let mut xs = vec![margin as i64];
    for (c, w) in col_w.iter().enumerate() {
        xs.push(xs[c] + thick(c, cols) + w.round() as i64);
    }
    let margin_y = (margin * s.margin_y).round() as i64;
    let mut ys = vec![margin_y];
    for r in 0..rows {
        let h = if r == 0 { head_h } else { body_h };
        ys.push(ys[r] + thick(r, rows) + h);
    }
    let w = (xs[cols] + thick(cols, cols) + margin as i64) as usize;
    let h = (ys[rows] + thick(rows, rows) + margin_y) as usize;

    let mut out = Layout {
        w,
        h,
        px,
        line_h,
        backgrounds: Vec::new(),
        rules: Vec::new(),
        texts: Vec::new(),
        cells: Vec::new(),
    };
    for (r, row) in cells.into_iter().enumerate() {
        for (c, (kind, lines)) in row.into_iter().enumerate() {
            let (x0, x1) = (xs[c] + thick(c, cols), xs[c + 1]);
            let (y0, y1) = (ys[r] + thick(r, rows), ys[r + 1]);
            let bg = if r == 0 || (c == 0 && s.time_fill) {
                s.header_fill
            } else if let (Some(off), "entry") = (s.pastel, kind) {
                Some(mix(s.paper, pastel(&lines[0].0, off), 0.75))
            } else if r % 2 == 0 && c > 0 {
                s.stripe
            } else {
                None
            };
            if let Some(bg) = bg {
                out.backgrounds.push(([x0, y0, x1, y1], bg));
            }
            let n = lines.len() as f32;
            let body = r > 0 && c > 0;
            let block_top = if s.top && body {
                y0 as f32 + pad_y
            } else {
                (y0 + y1) as f32 / 2.0 - n * line_h / 2.0
            };
            for (k, (line, field)) in lines.into_iter().enumerate() {
                let bold = bold_of(r, c, k, px);
                let tw = text.width(&line, bold);
                let x = if s.left && body {
                    x0 as f32 + s.pad_x * px
                } else {
                    (x0 + x1) as f32 / 2.0 - tw / 2.0
                };
                let baseline =
                    block_top + k as f32 * line_h + (line_h - ascent - descent) / 2.0 + ascent;
                let bbox = [x, baseline - ascent, x + tw, baseline + descent].map(f64::from);
                out.texts.push(Placed {
                    row: r,
                    col: c,
                    line: k,
                    text: line,
                    field,
                    x,
                    baseline,
                    bold,
                    bbox,
                });
            }
            let bbox = [
                xs[c],
                ys[r],
                xs[c + 1] + thick(c + 1, cols),
                ys[r + 1] + thick(r + 1, rows),
            ]
            .map(|v| v as f64);
            out.cells.push(CellGeom {
                row: r,
                col: c,
                kind,
                entry: body.then(|| entry_at(t, r, c).map(|(i, _)| i)).flatten(),
                bbox,
            });
        }
    }
    for (i, &x) in xs.iter().enumerate() {
        let b = [x, ys[0], x + thick(i, cols), ys[rows] + thick(rows, rows)];
        out.rules.push((b, s.rule));
    }
    for (i, &y) in ys.iter().enumerate() {
        let b = [xs[0], y, xs[cols] + thick(cols, cols), y + thick(i, rows)];
        out.rules.push((b, s.rule));
    }
    out
}
