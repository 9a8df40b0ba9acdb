//! Text lines inside the cells, and the crop around each.
//!
//! Ink is what is darker than the cell's own background (its median, so shaded headers and
//! stripes do not matter) by more than both 3.5 noise deviations and a third of the table's
//! ink contrast; an ink pixel with no ink neighbour is a speck and goes, and a near-full row
//! or column of ink at the interior's edge is what is left of a rule and goes too. Text lines
//! are the bands of the row projection; bands much smaller than the table's typical band are
//! accents or dots (merged into their line) or specks (dropped), bands much taller are two
//! lines touching (split at the projection's minimum). A line's horizontal extent comes from
//! the column projection, with far-off specks left out.
//!
//! The crop matches the training crops (advance width × ascent..descent, plus a margin of
//! ~15% of the line height): the line's baseline is the lowest row still carrying a good share
//! of its ink, and the table's font size follows from its typical cap height (~0.63 of the
//! ascent-to-descent height in the embedded fonts). The crop never leaves the cell interior.

use image::GrayImage;

/// Cap height as a share of the ascent-to-descent height, and ascent's share of it.
const CAP: f32 = 0.63;
const ASCENT: f32 = 0.80;
/// Crop margin as a share of the ascent-to-descent height (0.15 of a line height).
const MARGIN: f32 = 0.17;
/// Side bearing outside the ink, share of the ascent-to-descent height.
const BEARING: f32 = 0.04;

/// One band of a cell's row projection: rows `top..=bot` of the interior, with its ink count.
#[derive(Clone, Copy, Debug)]
struct Band {
    top: usize,
    bot: usize,
    ink: usize,
}

/// One cell's ink mask and its interior box.
struct Ink {
    b: [u32; 4],
    w: usize,
    h: usize,
    mask: Vec<bool>,
}

impl Ink {
    fn row_count(&self, y: usize, x0: usize, x1: usize) -> usize {
        self.mask[y * self.w + x0..y * self.w + x1]
            .iter()
            .filter(|&&m| m)
            .count()
    }
}

/// The crop boxes (levelled image, exclusive ends) of the text lines of each interior.
pub fn find(g: &GrayImage, interiors: &[[u32; 4]], sigma: f32) -> Vec<Vec<[u32; 4]>> {
    let bgs: Vec<u8> = interiors.iter().map(|&b| percentile(g, b, 0.5)).collect();
    let contrast = contrast(g, interiors, &bgs);
    let thr = (3.5 * sigma).max(contrast / 3.0).max(8.0) as i32;
    let inks: Vec<Ink> = interiors
        .iter()
        .zip(&bgs)
        .map(|(&b, &bg)| ink(g, b, bg, thr))
        .collect();
    let raw: Vec<Vec<Band>> = inks.iter().map(bands).collect();
    let mut heights: Vec<usize> = raw
        .iter()
        .flatten()
        .filter(|b| b.bot - b.top >= 2 && b.ink >= 8)
        .map(|b| b.bot - b.top + 1)
        .collect();
    if heights.is_empty() {
        return vec![Vec::new(); interiors.len()];
    }
    let typical = median(&mut heights) as f32;
    let lines: Vec<Vec<(Band, usize, usize)>> = inks
        .iter()
        .zip(raw)
        .map(|(ink, bands)| {
            tidy(ink, bands, typical)
                .into_iter()
                .filter_map(|b| extent(ink, b, typical).map(|(x0, x1)| (b, x0, x1)))
                .collect()
        })
        .collect();
    // The table's text size from the typical cap height (baseline − top).
    let mut caps: Vec<usize> = Vec::new();
    for (ink, ls) in inks.iter().zip(&lines) {
        caps.extend(
            ls.iter()
                .map(|&(b, x0, x1)| baseline(ink, b, x0, x1) - b.top + 1),
        );
    }
    if caps.is_empty() {
        return vec![Vec::new(); interiors.len()];
    }
    let cap = median(&mut caps) as f32;
    inks.iter()
        .zip(lines)
        .map(|(ink, ls)| {
            ls.into_iter()
                .map(|(b, x0, x1)| crop_box(ink, b, x0, x1, cap))
                .collect()
        })
        .collect()
}

/// The grey pixels of box `b` of the levelled image.
pub fn crop(g: &GrayImage, b: [u32; 4]) -> GrayImage {
    image::imageops::crop_imm(g, b[0], b[1], b[2] - b[0], b[3] - b[1]).to_image()
}

/// The crop around a line: placed from its baseline and the text size, never cutting ink,
/// clamped to the interior.
fn crop_box(ink: &Ink, b: Band, x0: usize, x1: usize, table_cap: f32) -> [u32; 4] {
    let base = baseline(ink, b, x0, x1) as f32;
    let own = base - b.top as f32 + 1.0;
    // A line of bigger type than the table's keeps its own size.
    let cap = if own > 1.25 * table_cap {
        own
    } else {
        table_cap
    };
    let px = cap / CAP;
    let m = (MARGIN * px).round().max(2.0);
    let top = (base + 1.0 - ASCENT * px).min(b.top as f32) - m;
    let bot = (base + 1.0 + (1.0 - ASCENT) * px).max(b.bot as f32 + 1.0) + m;
    let left = x0 as f32 - BEARING * px - m;
    let right = (x1 + 1) as f32 + BEARING * px + m;
    let [ix, iy, ..] = ink.b;
    let clampx = |v: f32| (v.round().max(0.0) as usize).min(ink.w) as u32 + ix;
    let clampy = |v: f32| (v.round().max(0.0) as usize).min(ink.h) as u32 + iy;
    [clampx(left), clampy(top), clampx(right), clampy(bot)]
}

/// The lowest row of the band that still holds 35% of the band's fullest row.
fn baseline(ink: &Ink, b: Band, x0: usize, x1: usize) -> usize {
    let counts: Vec<usize> = (b.top..=b.bot)
        .map(|y| ink.row_count(y, x0, x1 + 1))
        .collect();
    let max = counts.iter().copied().max().unwrap_or(0);
    let last = counts.iter().rposition(|&c| c * 20 >= max * 7).unwrap_or(0);
    b.top + last
}

/// The ink contrast of the table: a high percentile of how much darker than its cell's
/// background a pixel is.
fn contrast(g: &GrayImage, interiors: &[[u32; 4]], bgs: &[u8]) -> f32 {
    let mut hist = [0u64; 256];
    for (&b, &bg) in interiors.iter().zip(bgs) {
        for row in rows(g, b) {
            for &p in row {
                hist[usize::from(bg.saturating_sub(p))] += 1;
            }
        }
    }
    let n: u64 = hist.iter().sum();
    let mut acc = 0;
    for (v, &c) in hist.iter().enumerate() {
        acc += c;
        if acc * 1000 >= n * 995 {
            return v as f32;
        }
    }
    255.0
}

/// The ink mask of interior `b` against background `bg`, specks and rule remnants removed.
fn ink(g: &GrayImage, b: [u32; 4], bg: u8, thr: i32) -> Ink {
    let (w, h) = ((b[2] - b[0]) as usize, (b[3] - b[1]) as usize);
    let mut raw = Vec::with_capacity(w * h);
    for row in rows(g, b) {
        raw.extend(row.iter().map(|&p| i32::from(bg) - i32::from(p) > thr));
    }
    let mut mask = raw.clone();
    for y in 0..h {
        for x in 0..w {
            if raw[y * w + x] {
                // A speck: no ink among the 8 neighbours.
                let (x0, x1) = (x.saturating_sub(1), (x + 2).min(w));
                let n: usize = (y.saturating_sub(1)..(y + 2).min(h))
                    .map(|yy| raw[yy * w + x0..yy * w + x1].iter().filter(|&&m| m).count())
                    .sum();
                mask[y * w + x] = n > 1;
            }
        }
    }
    // What is left of a rule: a near-full line of ink along the interior's edge.
    const EDGE: usize = 3;
    for y in (0..h.min(EDGE)).chain(h.saturating_sub(EDGE)..h) {
        if mask[y * w..(y + 1) * w].iter().filter(|&&m| m).count() * 2 > w {
            mask[y * w..(y + 1) * w].fill(false);
        }
    }
    for x in (0..w.min(EDGE)).chain(w.saturating_sub(EDGE)..w) {
        if (0..h).filter(|&y| mask[y * w + x]).count() * 2 > h {
            (0..h).for_each(|y| mask[y * w + x] = false);
        }
    }
    Ink { b, w, h, mask }
}

/// The bands of rows holding ink (gaps of one row bridged).
fn bands(ink: &Ink) -> Vec<Band> {
    let mut out: Vec<Band> = Vec::new();
    for y in 0..ink.h {
        let n = ink.row_count(y, 0, ink.w);
        if n == 0 {
            continue;
        }
        match out.last_mut() {
            Some(b) if y <= b.bot + 2 => {
                b.bot = y;
                b.ink += n;
            }
            _ => out.push(Band {
                top: y,
                bot: y,
                ink: n,
            }),
        }
    }
    out
}

/// Bands made into lines: too tall ones split at their thinnest row, small ones merged into a
/// close neighbour (accents, dots) or dropped (specks).
fn tidy(ink: &Ink, bands: Vec<Band>, typical: f32) -> Vec<Band> {
    let height = |b: &Band| (b.bot - b.top + 1) as f32;
    let mut split: Vec<Band> = Vec::new();
    let mut todo: Vec<Band> = bands.into_iter().rev().collect();
    while let Some(b) = todo.pop() {
        let half = (0.5 * typical) as usize;
        if height(&b) > 1.6 * typical && b.bot - b.top > 2 * half {
            let cut = (b.top + half..=b.bot - half)
                .min_by_key(|&y| ink.row_count(y, 0, ink.w))
                .expect("range is not empty");
            let upper = (b.top..cut).map(|y| ink.row_count(y, 0, ink.w)).sum();
            todo.push(Band {
                top: cut + 1,
                bot: b.bot,
                ink: b.ink - upper,
            });
            todo.push(Band {
                top: b.top,
                bot: cut.saturating_sub(1).max(b.top),
                ink: upper,
            });
        } else {
            split.push(b);
        }
    }
    // Small bands: join the nearest neighbour if close and the result is not too tall.
    let mut out: Vec<Band> = Vec::new();
    let small = |b: &Band| height(b) < 0.5 * typical;
    let mut i = 0;
    while i < split.len() {
        let b = split[i];
        let joined = |a: Band, c: Band| Band {
            top: a.top.min(c.top),
            bot: a.bot.max(c.bot),
            ink: a.ink + c.ink,
        };
        let fits = |a: &Band, c: &Band| {
            let gap = c.top.saturating_sub(a.bot + 1) as f32;
            gap <= 0.5 * typical && height(&joined(*a, *c)) <= 1.5 * typical
        };
        if small(&b) {
            if let Some(prev) = out.last_mut().filter(|p| fits(p, &b)) {
                *prev = joined(*prev, b);
            } else if let Some(next) = split.get(i + 1).filter(|n| fits(&b, n)) {
                split[i + 1] = joined(b, *next);
            } else if height(&b) >= 0.35 * typical && b.ink as f32 >= 0.3 * typical * typical {
                out.push(b);
            }
        } else {
            out.push(b);
        }
        i += 1;
    }
    out
}

/// The columns `x0..=x1` of a line's ink: groups of ink columns (gaps under 1.6 typical band
/// heights joined), keeping groups with an eighth of the richest group's ink.
fn extent(ink: &Ink, b: Band, typical: f32) -> Option<(usize, usize)> {
    let mut cols = vec![0usize; ink.w];
    for y in b.top..=b.bot {
        for (c, &m) in cols.iter_mut().zip(&ink.mask[y * ink.w..(y + 1) * ink.w]) {
            *c += usize::from(m);
        }
    }
    // Wide enough for a monospaced space after a period.
    let gap = (1.6 * typical).max(2.0) as usize;
    let mut groups: Vec<(usize, usize, usize)> = Vec::new(); // x0, x1, ink
    for (x, &n) in cols.iter().enumerate() {
        if n == 0 {
            continue;
        }
        match groups.last_mut() {
            Some(gr) if x <= gr.1 + gap => {
                gr.1 = x;
                gr.2 += n;
            }
            _ => groups.push((x, x, n)),
        }
    }
    let richest = groups.iter().map(|g| g.2).max()?;
    let kept = groups.iter().filter(|g| g.2 * 8 >= richest);
    let x0 = kept.clone().map(|g| g.0).min()?;
    let x1 = kept.map(|g| g.1).max()?;
    Some((x0, x1))
}

/// The `q` quantile of the grey values in box `b`.
fn percentile(g: &GrayImage, b: [u32; 4], q: f64) -> u8 {
    let mut hist = [0u64; 256];
    for row in rows(g, b) {
        for &p in row {
            hist[usize::from(p)] += 1;
        }
    }
    let n: u64 = hist.iter().sum();
    let target = (q * n as f64) as u64;
    let mut acc = 0;
    for (v, &c) in hist.iter().enumerate() {
        acc += c;
        if acc > target {
            return v as u8;
        }
    }
    255
}

/// The rows of box `b` of `g`, as slices.
fn rows(g: &GrayImage, b: [u32; 4]) -> impl Iterator<Item = &[u8]> {
    let w = g.width() as usize;
    let [x0, y0, x1, y1] = b.map(|v| v as usize);
    (y0..y1).map(move |y| &g.as_raw()[y * w + x0..y * w + x1])
}

fn median(v: &mut [usize]) -> usize {
    v.sort_unstable();
    v[v.len() / 2]
}
