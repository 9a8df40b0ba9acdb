//! Which grid: the ruled one on the page as it is ([`grid`]), or, for tables drawn otherwise,
//! the grid of the negative (light rules between dark cells) or of the page with rules drawn
//! into the white space between its columns ([`gap_columns`]); and the page with every dark
//! cell negated ([`cells_dark_on_light`]), so light text on dark fill is read like dark text.

use image::GrayImage;

use super::rules::{self, Axis, Rule};
use super::{LayoutError, interior, spans};

/// A grid's horizontal and vertical rules.
pub(super) type Grid = (Vec<Rule>, Vec<Rule>);

/// The table's rules on `level`: the grid's horizontal and vertical rules (rules broken by
/// merged cells taken back), or why there is no grid of at least 2 × 2 cells.
pub(super) fn grid(level: &GrayImage, sigma: f32) -> Result<Grid, LayoutError> {
    let hc = rules::candidates(level, Axis::Horizontal);
    let vc = rules::candidates(level, Axis::Vertical);
    let solid = |axis: Axis, c: &[Rule]| -> Vec<Rule> {
        c.iter()
            .copied()
            .filter(|r| rules::solid_share(level, axis, r, sigma) >= rules::SOLID)
            .collect()
    };
    let (hr, vr) = rules::frame(
        rules::gutters(level, Axis::Horizontal, solid(Axis::Horizontal, &hc)),
        rules::gutters(level, Axis::Vertical, solid(Axis::Vertical, &vc)),
    );
    // Rules broken by merged cells; each axis's cell sides depend on the other's rules, so
    // twice round.
    let (mut hr, mut vr) = (hr, vr);
    for _ in 0..2 {
        hr = spans::readmit(level, Axis::Horizontal, sigma, &hc, &hr, &vr);
        vr = spans::readmit(level, Axis::Vertical, sigma, &vc, &vr, &hr);
    }
    // Box edges on either side of a gap: one rule per gap (see `rules::gutters`).
    let hr = rules::gutters(level, Axis::Horizontal, hr);
    let vr = rules::gutters(level, Axis::Vertical, vr);
    if hr.len() < 2 || vr.len() < 2 {
        return Err(LayoutError::NoTimetable(format!(
            "no ruled grid: found {} horizontal and {} vertical rules",
            hr.len(),
            vr.len()
        )));
    }
    let (rows, cols) = (hr.len() - 1, vr.len() - 1);
    if rows < 2 {
        return Err(LayoutError::NoTimetable(format!(
            "the grid has only 1 row ({cols} columns): a timetable needs a header row and at \
             least one time slot"
        )));
    }
    if cols < 2 {
        return Err(LayoutError::NoTimetable(format!(
            "the grid has only 1 column ({rows} rows): a timetable needs a time column and at \
             least one day"
        )));
    }
    Ok((hr, vr))
}

/// Pixels of white space that set two columns apart (a word space is a third of this at
/// common sizes).
const COLUMN_GAP: usize = 14;

/// A copy of `level` with vertical rules drawn where a table whose rows are ruled (three
/// horizontal rules or more) but whose columns are not has white space down its whole
/// height: at its left and right ends and in the middle of every gap of [`COLUMN_GAP`] pixels
/// or more between the text of its rows. `None` when there is no such table.
pub(super) fn gap_columns(level: &GrayImage, sigma: f32) -> Option<GrayImage> {
    let hr = rules::find(level, Axis::Horizontal, sigma);
    let longest = hr.iter().map(|r| r.to - r.from).max()?;
    let hr: Vec<Rule> = hr
        .into_iter()
        .filter(|r| (r.to - r.from) * 10 >= longest * 8)
        .collect();
    if hr.len() < 3 {
        return None;
    }
    let (x0, x1) = (
        hr.iter().map(|r| r.from).min()?,
        hr.iter().map(|r| r.to).max()?.min(level.width()),
    );
    let (y0, y1) = (hr[0].end, hr[hr.len() - 1].start);
    // Ink: well darker than the paper (the lighter shaded rows stay paper).
    let paper = {
        let mut v: Vec<u8> = (y0..y1)
            .step_by(3)
            .flat_map(|y| (x0..x1).step_by(3).map(move |x| (x, y)))
            .map(|(x, y)| level.get_pixel(x, y).0[0])
            .collect();
        v.sort_unstable();
        *v.get(v.len() * 3 / 4)?
    };
    let thr = paper.saturating_sub((4.0 * sigma).max(60.0) as u8);
    // The rows between the rules (the rules themselves are ink all along).
    let rows: Vec<u32> = (y0..y1)
        .filter(|&y| !hr.iter().any(|r| y + 2 >= r.start && y <= r.end + 2))
        .collect();
    let inked: Vec<bool> = (x0..x1)
        .map(|x| rows.iter().any(|&y| level.get_pixel(x, y).0[0] < thr))
        .collect();
    let first = inked.iter().position(|&i| i)?;
    let last = inked.iter().rposition(|&i| i)?;
    let mut cuts = vec![x0 + first.saturating_sub(COLUMN_GAP / 2) as u32];
    let mut run = 0;
    for (i, &ink) in inked.iter().enumerate().take(last + 1).skip(first) {
        if ink {
            if run >= COLUMN_GAP {
                cuts.push(x0 + (i - run / 2) as u32);
            }
            run = 0;
        } else {
            run += 1;
        }
    }
    cuts.push((x0 + (last + COLUMN_GAP / 2) as u32).min(level.width() - 2));
    if cuts.len() < 3 {
        return None;
    }
    // A header row above the first rule (or a last row below the last) with no rule of its
    // own: its text, within a typical row's height of the rule, gets one.
    let row_h = {
        let mut gaps: Vec<u32> = hr.windows(2).map(|w| w[1].start - w[0].end).collect();
        gaps.sort_unstable();
        gaps[gaps.len() / 2]
    };
    let ink_row = |y: u32| (x0..x1).any(|x| level.get_pixel(x, y).0[0] < thr);
    let top_rule = hr[0].start;
    let top = (top_rule.saturating_sub(row_h)..top_rule.saturating_sub(3)).find(|&y| ink_row(y));
    let bottom_rule = hr[hr.len() - 1].end;
    let bottom = ((bottom_rule + 3).min(level.height())..(bottom_rule + row_h).min(level.height()))
        .rev()
        .find(|&y| ink_row(y));
    let y_top = top.map_or(top_rule, |y| y.saturating_sub(8));
    let y_bottom = bottom.map_or(bottom_rule, |y| (y + 8).min(level.height() - 2));
    let mut painted = level.clone();
    for y in [top.map(|_| y_top), bottom.map(|_| y_bottom)]
        .into_iter()
        .flatten()
    {
        for x in x0..x1 {
            for dy in 0..2 {
                painted.put_pixel(x, (y + dy).min(level.height() - 1), image::Luma([0]));
            }
        }
    }
    for &x in &cuts {
        for y in y_top..y_bottom.max(y_top + 1) {
            for dx in 0..2 {
                painted.put_pixel((x + dx).min(level.width() - 1), y, image::Luma([0]));
            }
        }
    }
    Some(painted)
}

/// `level` with every cell whose background (its interior's median) is dark negated inside
/// the cell; the same image when no cell is dark.
pub(super) fn cells_dark_on_light(
    level: &GrayImage,
    cells: &[spans::Span],
    hr: &[Rule],
    vr: &[Rule],
) -> GrayImage {
    let mut out = level.clone();
    let (w, h) = (level.width(), level.height());
    for sp in cells {
        let b = interior(&hr[sp.r0], &hr[sp.r1 + 1], &vr[sp.c0], &vr[sp.c1 + 1], w, h);
        let mut v: Vec<u8> = (b[1]..b[3])
            .step_by(2)
            .flat_map(|y| (b[0]..b[2]).step_by(2).map(move |x| (x, y)))
            .map(|(x, y)| level.get_pixel(x, y).0[0])
            .collect();
        if v.is_empty() {
            continue;
        }
        let mid = v.len() / 2;
        if *v.select_nth_unstable(mid).1 >= 100 {
            continue;
        }
        for y in b[1]..b[3] {
            for x in b[0]..b[2] {
                let p = out.get_pixel_mut(x, y);
                p.0[0] = 255 - p.0[0];
            }
        }
    }
    out
}
