//! Cells that are not one grid square: merged cells (a lesson across two or three slots, an
//! assembly across all days) and slots split into stacked sub-cells (groups, halves of a
//! term).
//!
//! A merged cell leaves a rule out between the squares it covers. A rule broken that way may
//! fail the whole-length solidity check of [`rules::find`], so a candidate that is solid on
//! every cell side it crosses *or* clearly absent there (and solid on most) is taken back;
//! then every inner cell side is checked on its own and squares with no rule between them are
//! one cell. Only body cells merge: header squares on a dark fill can look unruled.
//!
//! A stacked split is a short rule inside one cell: a thin row of ink across nearly the whole
//! interior. The interior is cut there into sub-cells, each read on its own.

use image::GrayImage;

use super::rules::{self, Axis, Rule};

/// A side shorter than this share solid is absent (a merged cell); longer than
/// [`rules::SOLID`] present. Between the two the candidate is no rule.
const ABSENT: f32 = 0.25;
/// A cell side counts as ruled when this share of it is solid.
const PRESENT: f32 = 0.5;

/// The cell sides of rule `r` between consecutive perpendicular rules `perp`.
/// A rule 6 px or more across: a gap between two boxes (`rules::gutters`) or a double border,
/// present on every side it runs along whatever the solidity check says (a gap is light).
fn wide(r: &Rule) -> bool {
    r.end - r.start >= 6
}

fn sides(r: &Rule, perp: &[Rule]) -> Vec<Rule> {
    perp.windows(2)
        .map(|w| Rule {
            from: w[0].end,
            to: w[1].start.max(w[0].end + 1),
            ..*r
        })
        .collect()
}

/// `kept` with the candidates of `cands` that lie inside the frame and are ruled on every cell
/// side they cross or clearly missing there (merged cells), ruled on at least half, added back
/// in order.
pub fn readmit(
    g: &GrayImage,
    axis: Axis,
    sigma: f32,
    cands: &[Rule],
    kept: &[Rule],
    perp: &[Rule],
) -> Vec<Rule> {
    if kept.len() < 2 || perp.len() < 2 {
        return kept.to_vec();
    }
    let (lo, hi) = (kept[0].end, kept[kept.len() - 1].start);
    let mut out = kept.to_vec();
    for c in cands {
        let inside = c.start > lo && c.end < hi;
        let new = !kept
            .iter()
            .any(|k| c.start <= k.end + 4 && k.start <= c.end + 4);
        if !inside || !new {
            continue;
        }
        let shares: Vec<f32> = sides(c, perp)
            .iter()
            .map(|s| rules::solid_share(g, axis, s, sigma))
            .collect();
        let clear = shares.iter().all(|&s| s >= rules::SOLID || s <= ABSENT);
        let ruled = shares.iter().filter(|&&s| s >= rules::SOLID).count();
        // The side along the header (column 0 or row 0) is always ruled in a real grid.
        if clear && ruled * 2 >= shares.len() && shares[0] >= rules::SOLID {
            out.push(*c);
        }
    }
    out.sort_by_key(|r| r.start);
    out
}

/// One rectangle of grid squares that is a single cell: rows `r0..=r1`, columns `c0..=c1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub r0: usize,
    pub c0: usize,
    pub r1: usize,
    pub c1: usize,
}

/// The cells of the grid of rules `hr` × `vr`: every square, except body squares with no
/// rule between them, which are one cell (the bounding rectangle of the squares joined),
/// row by row by their top-left square.
pub fn cells(g: &GrayImage, sigma: f32, hr: &[Rule], vr: &[Rule]) -> Vec<Span> {
    let (rows, cols) = (hr.len() - 1, vr.len() - 1);
    let mut parent: Vec<usize> = (0..rows * cols).collect();
    fn root(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    let mut join = |a: usize, b: usize| {
        let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
        parent[ra.max(rb)] = ra.min(rb);
    };
    // Inner horizontal rules: between row r-1 and r, in each body column.
    for (r, rule) in hr.iter().enumerate().take(rows).skip(2) {
        for (c, side) in sides(rule, vr).iter().enumerate().skip(1) {
            if !wide(side) && rules::solid_share(g, Axis::Horizontal, side, sigma) < PRESENT {
                join((r - 1) * cols + c, r * cols + c);
            }
        }
    }
    for (c, rule) in vr.iter().enumerate().take(cols).skip(2) {
        for (r, side) in sides(rule, hr).iter().enumerate().skip(1) {
            if !wide(side) && rules::solid_share(g, Axis::Vertical, side, sigma) < PRESENT {
                join(r * cols + c - 1, r * cols + c);
            }
        }
    }
    let mut spans: Vec<Option<Span>> = vec![None; rows * cols];
    for i in 0..rows * cols {
        let k = root(&mut parent, i);
        let (r, c) = (i / cols, i % cols);
        let s = spans[k].get_or_insert(Span {
            r0: r,
            c0: c,
            r1: r,
            c1: c,
        });
        s.r0 = s.r0.min(r);
        s.c0 = s.c0.min(c);
        s.r1 = s.r1.max(r);
        s.c1 = s.c1.max(c);
    }
    spans.into_iter().flatten().collect()
}

/// `interior` cut at the short rules inside it: thin rows where nearly the whole width is
/// darker than the cell's background. One box when there is none.
pub fn split(g: &GrayImage, interior: [u32; 4], sigma: f32) -> Vec<[u32; 4]> {
    let [x0, y0, x1, y1] = interior;
    let (w, h) = (x1 - x0, y1 - y0);
    if w < 8 || h < 12 {
        return vec![interior];
    }
    let mut hist = [0u32; 256];
    for y in y0..y1 {
        for x in x0..x1 {
            hist[g.get_pixel(x, y).0[0] as usize] += 1;
        }
    }
    let half = (w * h).div_ceil(2);
    let mut acc = 0;
    let bg = (0..256).find(|&v| {
        acc += hist[v];
        acc >= half
    });
    let bg = bg.unwrap_or(255) as f32;
    let thr = (2.5 * sigma).max(40.0);
    let full: Vec<bool> = (y0..y1)
        .map(|y| {
            let dark = (x0..x1)
                .filter(|&x| bg - f32::from(g.get_pixel(x, y).0[0]) > thr)
                .count();
            dark as u32 * 100 >= w * 92
        })
        .collect();
    let mut out = Vec::new();
    let mut top = y0;
    let mut y = 0usize;
    while y < full.len() {
        if !full[y] {
            y += 1;
            continue;
        }
        let start = y;
        while y < full.len() && full[y] {
            y += 1;
        }
        // A rule is thin; a thick dark band is a fill (a solid bar, a dark header).
        let (a, b) = (y0 + start as u32, y0 + y as u32);
        if b - a <= 6 && a > top + 4 && b + 4 < y1 {
            out.push([x0, top, x1, a.saturating_sub(1).max(top + 1)]);
            top = b + 1;
        }
    }
    if out.is_empty() {
        return vec![interior];
    }
    out.push([x0, top.min(y1 - 1), x1, y1]);
    out
}

#[cfg(test)]
mod tests {
    use image::{DynamicImage, GrayImage, Luma};

    use super::super::find_table;

    const CW: u32 = 140;
    const CH: u32 = 64;
    const M: u32 = 30;

    fn rect(g: &mut GrayImage, x0: u32, y0: u32, x1: u32, y1: u32, v: u8) {
        for y in y0..y1 {
            for x in x0..x1 {
                g.put_pixel(x, y, Luma([v]));
            }
        }
    }

    /// A word of `n` letter blobs with its top at `y`.
    fn word(g: &mut GrayImage, x: u32, y: u32, n: u32) {
        for k in 0..n {
            rect(g, x + k * 9, y + (k % 2) * 3, x + k * 9 + 6, y + 12, 20);
        }
    }

    /// A 5×5 grid (header row, time column, 4 days × 4 slots) with the rule segments
    /// `gaps` left out: `(horizontal?, rule index, segment index)`.
    fn grid(gaps: &[(bool, u32, u32)], split: Option<(u32, u32)>) -> GrayImage {
        let (w, h) = (2 * M + 5 * CW, 2 * M + 5 * CH);
        let mut g = GrayImage::from_pixel(w, h, Luma([245]));
        for i in 0..=5 {
            for s in 0..5 {
                if !gaps.contains(&(true, i, s)) {
                    rect(
                        &mut g,
                        M + s * CW,
                        M + i * CH,
                        M + (s + 1) * CW + 2,
                        M + i * CH + 2,
                        0,
                    );
                }
                if !gaps.contains(&(false, i, s)) {
                    rect(
                        &mut g,
                        M + i * CW,
                        M + s * CH,
                        M + i * CW + 2,
                        M + (s + 1) * CH + 2,
                        0,
                    );
                }
            }
        }
        if let Some((r, c)) = split {
            let y = M + r * CH + CH / 2;
            rect(&mut g, M + c * CW, y, M + (c + 1) * CW, y + 2, 0);
        }
        g
    }

    #[test]
    fn merged_cells_are_one_cell_and_a_split_slot_has_sub_cells() {
        // Row 1..=2 of column 2 merged (the rule between rows 1 and 2 left out there); row 3
        // merged across all four days; cell (4, 3) split in two.
        let mut gaps = vec![(true, 2, 2)];
        gaps.extend([(false, 2, 3), (false, 3, 3), (false, 4, 3)]);
        let mut g = grid(&gaps, Some((4, 3)));
        for r in 0..5 {
            for c in 0..5 {
                let (x, y) = (M + c * CW + 12, M + r * CH + 8);
                if (r, c) == (4, 3) {
                    word(&mut g, x, y - 2, 5);
                    word(&mut g, x, y + CH / 2 - 4, 4);
                } else if (r, c) == (2, 2) || (r == 3 && c > 1) {
                    // covered by a merged cell: text only in its first square
                } else {
                    word(&mut g, x, y, 6);
                }
            }
        }
        let t = find_table(&DynamicImage::ImageLuma8(g)).unwrap();
        assert_eq!((t.rows, t.cols), (5, 5));
        let at = |r, c| t.cells.iter().find(|x| (x.row, x.col) == (r, c));
        let m = at(1, 2).unwrap();
        assert_eq!((m.row_span, m.col_span), (2, 1));
        assert!(at(2, 2).is_none(), "a covered square has no cell");
        let wide = at(3, 1).unwrap();
        assert_eq!((wide.row_span, wide.col_span), (1, 4));
        assert_eq!(wide.lines.len(), 1);
        let s = at(4, 3).unwrap();
        assert_eq!(s.parts.len(), 2, "{:?}", s.parts);
        assert_eq!(s.line_part, [0, 1]);
        assert!(s.parts[0][3] <= s.parts[1][1] + 2);
        // Headers never merge; every other square is its own cell.
        assert_eq!(t.cells.len(), 25 - 1 - 3);
        for c in &t.cells {
            if (c.row, c.col) != (1, 2) && (c.row, c.col) != (3, 1) {
                assert_eq!((c.row_span, c.col_span), (1, 1), "{:?}", (c.row, c.col));
            }
            if (c.row, c.col) != (4, 3) {
                assert_eq!(c.parts.len(), 1);
                assert_eq!(c.lines.len(), 1, "{:?}", (c.row, c.col));
            }
        }
    }

    #[test]
    fn an_empty_sub_cell_has_no_lines() {
        let mut g = grid(&[], Some((2, 2)));
        word(&mut g, M + 2 * CW + 12, M + 2 * CH + 6, 5);
        for c in 0..5 {
            word(&mut g, M + c * CW + 12, M + 8, 6);
        }
        let t = find_table(&DynamicImage::ImageLuma8(g)).unwrap();
        let s = t.cells.iter().find(|x| (x.row, x.col) == (2, 2)).unwrap();
        assert_eq!(s.parts.len(), 2);
        assert_eq!(s.line_part, [0]);
        assert_eq!(t.cells.len(), 25);
    }
}
