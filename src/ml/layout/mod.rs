//! Finding the table in a timetable image: pure image processing, no model.
//!
//! [`find_table`] takes a photo, scan or export of a ruled timetable (grey or colour, PNG or
//! JPEG, tinted paper, coloured ink, shaded header or alternate rows, 1–4 px rules, up to
//! about ±3° of skew, blur, noise, uneven lighting) and returns its grid: every cell's box
//! and, for every cell, grey crops of its text lines cut like the OCR model's training crops
//! (see `dataset::synth::render`: the line's advance width × ascent to descent, plus a margin
//! of about 15% of the line height on each side, no rule pixels inside).
//!
//! The steps, one file each:
//! 1. [`deskew`]: grey (BT.601 luma, as the training crops), the noise level, the skew angle
//!    (the angle that maximises the variance of the row projection of the dark pixels,
//!    coarse to fine), and the image rotated back (bilinear, same size, same centre).
//! 2. [`rules`]: horizontal and vertical rules as long runs of a thin-dark-line detector
//!    (a ridge filter that ignores shaded fills and lighting gradients), with the lines of
//!    a 2-px or double rule merged. The outermost rules are the frame; the cells lie between
//!    consecutive rules.
//!    Failing a grid of 2 × 3 cells there, [`grid`] also tries the negative (light rules
//!    between dark cells) and, for a table whose rows are ruled but whose columns are set
//!    apart only by white space, rules drawn into the gaps; the grid with most cells wins.
//!    Cells on dark fill are negated, so their light text is ink like any other.
//! 3. [`lines`]: in each cell's interior (inset past its rules), ink against the cell's own
//!    background, specks removed, text lines from the row projection and each line's
//!    horizontal extent from the column projection; the crop around a line is placed from
//!    its baseline and the table's text size, like the training crops.
//!
//! Coordinates: a cell's `bbox` is `[x0, y0, x1, y1]` (x1, y1 exclusive) in pixels of the
//! image given, the axis-aligned box around the (deskewed) cell with its rules, so it is
//! comparable with the ground truth of `lab data synth`. Line crops are cut from the
//! deskewed image, so their text is level.

mod deskew;
mod grid;
mod lines;
mod rules;
mod spans;

#[cfg(test)]
mod tests;

use image::{DynamicImage, GrayImage};

use rules::{Axis, Rule};

/// The grid found in an image.
#[derive(Clone, Debug)]
pub struct Table {
    /// The skew that was corrected, in degrees, counter-clockwise positive (the convention
    /// of `rotation_deg` in the synthetic ground truth).
    pub angle_deg: f32,
    /// Grid size, including the header row 0 and the time column 0.
    pub rows: usize,
    pub cols: usize,
    /// Every cell of the grid, row by row.
    pub cells: Vec<Cell>,
}

/// One cell of the grid: one square, or several merged (`row_span` × `col_span` squares from
/// `row`, `col`; the squares it covers have no cell of their own).
#[derive(Clone, Debug)]
pub struct Cell {
    pub row: usize,
    pub col: usize,
    pub row_span: usize,
    pub col_span: usize,
    /// `[x0, y0, x1, y1]` in the given image's pixels (approximate): the cell with the rules
    /// around it.
    pub bbox: [u32; 4],
    /// Grey crops of the cell's text lines, top to bottom; empty when the cell is empty.
    pub lines: Vec<GrayImage>,
    /// The box of each crop in `lines`, `[x0, y0, x1, y1]` in the given image's pixels (the
    /// axis-aligned box around the crop when the image was deskewed).
    pub line_boxes: Vec<[u32; 4]>,
    /// The stacked sub-cells of a split slot, top to bottom, boxes in the given image's pixels;
    /// one (the cell's `bbox`) when the cell is not split.
    pub parts: Vec<[u32; 4]>,
    /// For each of `lines`, the index of its sub-cell in `parts`.
    pub line_part: Vec<usize>,
}

/// Why an image holds no timetable this module can read.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// No ruled grid with a header row and a first column was found; the message says what
    /// was missing.
    #[error("no timetable found: {0}")]
    NoTimetable(String),
}

/// Milliseconds of each stage of [`find_table`] on one image, and what each found: what
/// `lab bench layout` prints.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Probe {
    pub grey_ms: f64,
    pub skew_ms: f64,
    pub rotate_ms: f64,
    pub rules_ms: f64,
    pub spans_ms: f64,
    pub h_rules: usize,
    pub v_rules: usize,
    pub cells: usize,
    /// Stacked sub-cells over every cell.
    pub parts: usize,
}

/// Times the stages of [`find_table`] on `img` one by one (rotation always applied).
pub fn probe(img: &DynamicImage) -> Probe {
    let ms = |t0: std::time::Instant| t0.elapsed().as_secs_f64() * 1000.0;
    let t0 = std::time::Instant::now();
    let g = deskew::grey(img);
    let grey_ms = ms(t0);
    let t0 = std::time::Instant::now();
    let sigma = deskew::noise_sigma(&g);
    let a = deskew::skew_deg(&g, sigma);
    let skew_ms = ms(t0);
    let t0 = std::time::Instant::now();
    let level = deskew::Rotation::new(a, g.width(), g.height()).apply(&g);
    let rotate_ms = ms(t0);
    let t0 = std::time::Instant::now();
    let hr = rules::find(&level, Axis::Horizontal, sigma);
    let vr = rules::find(&level, Axis::Vertical, sigma);
    let rules_ms = ms(t0);
    let t0 = std::time::Instant::now();
    let cells = spans::cells(&level, sigma, &hr, &vr);
    let parts: usize = cells
        .iter()
        .map(|c| {
            let b = [
                vr[c.c0].end + 2,
                hr[c.r0].end + 2,
                vr[c.c1 + 1].start - 2,
                hr[c.r1 + 1].start - 2,
            ];
            spans::split(&level, b, sigma).len()
        })
        .sum();
    Probe {
        grey_ms,
        skew_ms,
        rotate_ms,
        rules_ms,
        spans_ms: ms(t0),
        h_rules: hr.len(),
        v_rules: vr.len(),
        cells: cells.len(),
        parts,
    }
}

/// The smallest image worth looking at.
const MIN_SIDE: u32 = 32;

/// Finds the ruled table in `img`: its skew, grid, cell boxes and text-line crops.
///
/// Fails with [`LayoutError::NoTimetable`] when there is no ruled grid of at least two rows
/// (the header and one time slot) and two columns (the times and one day).
pub fn find_table(img: &DynamicImage) -> Result<Table, LayoutError> {
    let (w, h) = (img.width(), img.height());
    if w < MIN_SIDE || h < MIN_SIDE {
        return Err(LayoutError::NoTimetable(format!(
            "the image is only {w}×{h} pixels"
        )));
    }
    let grey = deskew::grey(img);
    let sigma = deskew::noise_sigma(&grey);
    let angle = deskew::skew_deg(&grey, sigma);
    let rot = deskew::Rotation::new(angle, w, h);
    let level = if rot.is_identity() {
        grey
    } else {
        rot.apply(&grey)
    };
    // The rules: dark lines on the page; else light ones (white gaps between dark cells),
    // found as dark lines of the negative.
    // Failing those, rows ruled but columns only set apart by white space: the gaps drawn
    // in as rules (on a copy) and the grid found again.
    // Of the grids found (a grid of fewer than 2 × 3 cells, or none, on the page as it is is
    // checked against the others), the one with the most cells.
    let first = grid::grid(&level, sigma);
    let small = first
        .as_ref()
        .map_or(true, |(hr, vr)| (hr.len() - 1) * (vr.len() - 1) < 6);
    let mut found: Vec<(grid::Grid, Option<GrayImage>)> = Vec::new();
    let mut why = None;
    match first {
        Ok(g) => found.push((g, None)),
        Err(e) => why = Some(e),
    }
    if small {
        let mut n = level.clone();
        image::imageops::invert(&mut n);
        if let Ok(g) = grid::grid(&n, sigma) {
            found.push((g, Some(n)));
        }
        if let Some(p) = grid::gap_columns(&level, sigma) {
            if let Ok(g) = grid::grid(&p, sigma) {
                found.push((g, Some(p)));
            }
        }
    }
    let Some(((hr, vr), other)) = found
        .into_iter()
        .rev()
        .max_by_key(|((hr, vr), _)| (hr.len() - 1) * (vr.len() - 1))
    else {
        return Err(why.unwrap_or_else(|| LayoutError::NoTimetable("no ruled grid".into())));
    };
    let ruled = other.as_ref().unwrap_or(&level);
    let (rows, cols) = (hr.len() - 1, vr.len() - 1);
    let merged = spans::cells(ruled, sigma, &hr, &vr);
    // Light text on dark cells (a dark header, light rules between dark cells): those cells
    // negated, so every line is dark on light like the training crops.
    let text = &grid::cells_dark_on_light(&level, &merged, &hr, &vr);
    // Every cell's interior, cut into its stacked sub-cells (body cells only).
    let mut interiors: Vec<[u32; 4]> = Vec::new();
    let mut owner: Vec<(usize, usize)> = Vec::new();
    let mut parts: Vec<Vec<[u32; 4]>> = Vec::new();
    for (k, sp) in merged.iter().enumerate() {
        let inner = interior(&hr[sp.r0], &hr[sp.r1 + 1], &vr[sp.c0], &vr[sp.c1 + 1], w, h);
        let subs = if sp.r0 > 0 && sp.c0 > 0 {
            spans::split(text, inner, sigma)
        } else {
            vec![inner]
        };
        for (p, b) in subs.iter().enumerate() {
            interiors.push(*b);
            owner.push((k, p));
        }
        parts.push(subs);
    }
    let found = lines::find(text, &interiors, sigma);
    let mut cells: Vec<Cell> = merged
        .iter()
        .zip(&parts)
        .map(|(sp, subs)| {
            let outer = [
                vr[sp.c0].start,
                hr[sp.r0].start,
                vr[sp.c1 + 1].end,
                hr[sp.r1 + 1].end,
            ];
            let bbox = rot.to_source(outer);
            Cell {
                row: sp.r0,
                col: sp.c0,
                row_span: sp.r1 + 1 - sp.r0,
                col_span: sp.c1 + 1 - sp.c0,
                bbox,
                lines: Vec::new(),
                line_boxes: Vec::new(),
                parts: if subs.len() == 1 {
                    vec![bbox]
                } else {
                    subs.iter().map(|&b| rot.to_source(b)).collect()
                },
                line_part: Vec::new(),
            }
        })
        .collect();
    for ((k, p), cell_lines) in owner.into_iter().zip(found) {
        for b in cell_lines {
            cells[k].lines.push(lines::crop(text, b));
            cells[k].line_boxes.push(rot.to_source(b));
            cells[k].line_part.push(p);
        }
    }
    Ok(Table {
        angle_deg: angle,
        rows,
        cols,
        cells,
    })
}

/// Pixels cleared on each side of a rule before a cell's interior starts (blur, residual
/// skew).
const INSET: u32 = 2;

/// The part of the cell between the four rules that holds text: `[x0, y0, x1, y1]`,
/// exclusive ends, inside the `w`×`h` image, never empty.
fn interior(top: &Rule, bottom: &Rule, left: &Rule, right: &Rule, w: u32, h: u32) -> [u32; 4] {
    let x0 = (left.end + INSET).min(w - 1);
    let y0 = (top.end + INSET).min(h - 1);
    let x1 = right.start.saturating_sub(INSET).clamp(x0 + 1, w);
    let y1 = bottom.start.saturating_sub(INSET).clamp(y0 + 1, h);
    [x0, y0, x1, y1]
}
