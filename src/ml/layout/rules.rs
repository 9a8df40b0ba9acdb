//! Rules: long thin dark lines across or down the levelled page.
//!
//! For horizontal rules the image is summed over blocks of 8 pixels along each row (which
//! averages the noise away but keeps a level rule), and a ridge filter compares two rows with
//! the rows two above and three below: `(s[y−2] + s[y+3]) − (s[y] + s[y+1])` is large on a
//! 1–4 px dark line (also one smeared over two rows by blur or resampling) and about zero on
//! paper, inside shaded fills and across lighting gradients. A block is "on" when the response
//! beats three noise deviations (measured on the response itself). A row is a rule row when
//! its runs of "on" blocks (gaps of up to two blocks bridged, runs of five blocks or more
//! counted) cover at least 65% of what the best row covers: text strokes make short runs,
//! a rule spans the table. Adjacent rule rows form one rule; rules closer than a few pixels
//! (2-px rules, double borders) merge, and so do the two edges of boxes drawn with a blank gap
//! of up to 12 px between them ([`gutters`]). Vertical rules are the same on the transpose.

use image::GrayImage;

/// Pixels summed along a rule.
const BLOCK: usize = 8;
/// Blocks of silence bridged inside a run.
const GAP: usize = 2;
/// The shortest run that counts, in blocks (text strokes are shorter).
const MIN_RUN: usize = 5;
/// A rule row covers at least this share of the best row.
const SHARE: f32 = 0.65;
/// Rules this close (pixels between them) are one rule.
const MERGE: u32 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    Horizontal,
    Vertical,
}

/// One rule: pixels `start..end` across it (rows of a horizontal rule) and `from..to` along.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub start: u32,
    pub end: u32,
    pub from: u32,
    pub to: u32,
}

/// Share of a rule's pixels that must be dark (text tops and baselines have gaps).
pub const SOLID: f32 = 0.8;

/// The rules along `axis`, top to bottom (left to right); `sigma` is the pixel noise.
/// (`find_table` takes the candidates apart itself, to take back rules broken by merged cells;
/// `probe` and the tests use this.)
pub fn find(g: &GrayImage, axis: Axis, sigma: f32) -> Vec<Rule> {
    candidates(g, axis)
        .into_iter()
        .filter(|r| solid_share(g, axis, r, sigma) >= SOLID)
        .collect()
}

/// The share of rule `r`'s length that is drawn dark (see [`find`]); a rule segment with
/// `from..to` narrowed to one cell tells whether that cell's side is ruled.
pub fn solid_share(g: &GrayImage, axis: Axis, r: &Rule, sigma: f32) -> f32 {
    solid(g, axis, r, (2.5 * sigma).max(10.0))
}

/// Long runs of the rule detector before the solidity check: the rules, and lines that are
/// rules over only part of their length (a rule broken by a merged cell) or no rules at all
/// (a long baseline of text).
pub fn candidates(g: &GrayImage, axis: Axis) -> Vec<Rule> {
    let (w, h) = (g.width() as usize, g.height() as usize);
    let px = g.as_raw();
    // `lines` positions across the rule direction, `along` blocks along it; r[line][block].
    let (lines, along) = match axis {
        Axis::Horizontal => (h, w / BLOCK),
        Axis::Vertical => (w, h / BLOCK),
    };
    if lines < 8 || along < 2 * MIN_RUN {
        return Vec::new();
    }
    let mut sums = vec![0u16; lines * along];
    match axis {
        Axis::Horizontal => {
            for y in 0..h {
                let row = &px[y * w..y * w + along * BLOCK];
                for (b, chunk) in row.chunks_exact(BLOCK).enumerate() {
                    sums[y * along + b] = chunk.iter().map(|&p| u16::from(p)).sum();
                }
            }
        }
        Axis::Vertical => {
            // Summed row by row (cache friendly), then transposed.
            let mut acc = vec![0u16; w];
            for b in 0..along {
                acc.fill(0);
                for y in b * BLOCK..(b + 1) * BLOCK {
                    for (a, &p) in acc.iter_mut().zip(&px[y * w..(y + 1) * w]) {
                        *a += u16::from(p);
                    }
                }
                for (x, &a) in acc.iter().enumerate() {
                    sums[x * along + b] = a;
                }
            }
        }
    }
    let mut resp = vec![0i16; lines * along];
    for l in 2..lines - 3 {
        let at = |k: usize| &sums[k * along..(k + 1) * along];
        let (a, b, c, d) = (at(l - 2), at(l + 3), at(l), at(l + 1));
        for (i, r) in resp[l * along..(l + 1) * along].iter_mut().enumerate() {
            let v = i32::from(a[i]) + i32::from(b[i]) - i32::from(c[i]) - i32::from(d[i]);
            *r = v.clamp(i16::MIN.into(), i16::MAX.into()) as i16;
        }
    }
    // Noise deviation of the response (median absolute value; paper is the majority), and
    // a floor of a 12-grey-level line for clean images.
    let rsigma = median_abs(&resp) / 0.6745;
    let thr = (3.0 * rsigma).max((12 * BLOCK) as f32) as i32;

    let rows: Vec<(usize, usize, usize)> =
        resp.chunks_exact(along).map(|r| coverage(r, thr)).collect();
    let best = rows.iter().map(|r| r.0).max().unwrap_or(0);
    if best < 2 * MIN_RUN {
        return Vec::new();
    }
    let need = ((best as f32 * SHARE).ceil() as usize).max(2 * MIN_RUN);
    // Consecutive rule rows → one rule.
    let mut out: Vec<Rule> = Vec::new();
    let mut cur: Option<(usize, usize, usize, usize)> = None; // first, last, from, to
    for (l, &(cov, from, to)) in rows.iter().enumerate() {
        if cov >= need {
            cur = Some(match cur {
                Some((a, b, f, t)) if l <= b + 2 => (a, l.max(b), f.min(from), t.max(to)),
                Some(done) => {
                    out.push(rule(done));
                    (l, l, from, to)
                }
                None => (l, l, from, to),
            });
        }
    }
    if let Some(done) = cur {
        out.push(rule(done));
    }
    merge(out)
}

/// The share of positions along rule `r` where the rule's darkest pixel across it is darker
/// than the paper beside it (the lighter side, 3 px out) by `thr`.
fn solid(g: &GrayImage, axis: Axis, r: &Rule, thr: f32) -> f32 {
    let (w, h) = (g.width(), g.height());
    let across_max = match axis {
        Axis::Horizontal => h,
        Axis::Vertical => w,
    };
    let lo = r.start.saturating_sub(3);
    let hi = (r.end + 2).min(across_max - 1);
    let at = |along: u32, across: u32| match axis {
        Axis::Horizontal => f32::from(g.get_pixel(along, across).0[0]),
        Axis::Vertical => f32::from(g.get_pixel(across, along).0[0]),
    };
    let to = r.to.min(match axis {
        Axis::Horizontal => w,
        Axis::Vertical => h,
    });
    let (mut dark, mut n) = (0u32, 0u32);
    // Paper: the lighter side, averaged over 5 positions along to tame the noise.
    for p in r.from..to {
        let side = |c: u32| {
            let (a, b) = (p.saturating_sub(2).max(r.from), (p + 3).min(to));
            (a..b).map(|q| at(q, c)).sum::<f32>() / (b - a) as f32
        };
        let paper = side(lo).max(side(hi));
        let core = (r.start.saturating_sub(1)..=r.end.min(across_max - 1))
            .map(|c| at(p, c))
            .fold(f32::MAX, f32::min);
        n += 1;
        if paper - core > thr {
            dark += 1;
        }
    }
    if n == 0 { 0.0 } else { dark as f32 / n as f32 }
}

/// The rule of rule rows `a..=b` with blocks `from..to`: the filter answers on the row above
/// a thin line too, so the line itself starts one row later.
fn rule((a, b, from, to): (usize, usize, usize, usize)) -> Rule {
    Rule {
        start: (a + 1) as u32,
        end: (b + 1).max(a + 2) as u32,
        from: (from * BLOCK) as u32,
        to: (to * BLOCK) as u32,
    }
}

/// Rules within [`MERGE`] pixels of each other as one.
fn merge(rules: Vec<Rule>) -> Vec<Rule> {
    let mut out: Vec<Rule> = Vec::with_capacity(rules.len());
    for r in rules {
        match out.last_mut() {
            Some(p) if r.start <= p.end + MERGE => {
                p.end = p.end.max(r.end);
                p.from = p.from.min(r.from);
                p.to = p.to.max(r.to);
            }
            _ => out.push(r),
        }
    }
    out
}

/// Blocks covered by long runs in one line of responses, and the first and last block
/// (exclusive) of those runs.
fn coverage(r: &[i16], thr: i32) -> (usize, usize, usize) {
    let (mut total, mut first, mut last) = (0, usize::MAX, 0);
    let mut run: Option<(usize, usize)> = None; // start, last "on" block
    let mut close = |s: usize, e: usize| {
        if e + 1 - s >= MIN_RUN {
            total += e + 1 - s;
            first = first.min(s);
            last = last.max(e + 1);
        }
    };
    for (i, &v) in r.iter().enumerate() {
        if i32::from(v) > thr {
            run = Some(match run {
                Some((s, e)) if i <= e + GAP + 1 => (s, i),
                Some((s, e)) => {
                    close(s, e);
                    (i, i)
                }
                None => (i, i),
            });
        }
    }
    if let Some((s, e)) = run {
        close(s, e);
    }
    if total == 0 {
        (0, 0, 0)
    } else {
        (total, first, last)
    }
}

/// The median of |v|.
fn median_abs(v: &[i16]) -> f32 {
    let mut hist = vec![0u32; 4096];
    for &x in v {
        hist[(x.unsigned_abs() as usize).min(4095)] += 1;
    }
    let n: u64 = hist.iter().map(|&c| u64::from(c)).sum();
    let mut acc = 0u64;
    for (i, &c) in hist.iter().enumerate() {
        acc += u64::from(c);
        if 2 * acc >= n {
            return i as f32;
        }
    }
    4095.0
}

/// Keeps the rules that make one grid: horizontal rules inside the vertical rules' span that
/// run across most of it, and vertical rules likewise (a rule above the table, an underline
/// or a stray line goes).
pub fn frame(mut hr: Vec<Rule>, mut vr: Vec<Rule>) -> (Vec<Rule>, Vec<Rule>) {
    for _ in 0..2 {
        if hr.len() < 2 || vr.len() < 2 {
            break;
        }
        let (x0, x1) = (vr[0].start, vr[vr.len() - 1].end);
        let (y0, y1) = (hr[0].start, hr[hr.len() - 1].end);
        let keep = |r: &Rule, lo: u32, hi: u32, span_lo: u32, span_hi: u32| {
            let mid = (r.start + r.end) / 2;
            let covered = r.to.min(span_hi).saturating_sub(r.from.max(span_lo));
            mid + MERGE >= lo && mid <= hi + MERGE && covered * 5 >= (span_hi - span_lo) * 3
        };
        let (vfrom, vto) = (
            vr.iter().map(|r| r.from).min().unwrap_or(0),
            vr.iter().map(|r| r.to).max().unwrap_or(0),
        );
        let (hfrom, hto) = (
            hr.iter().map(|r| r.from).min().unwrap_or(0),
            hr.iter().map(|r| r.to).max().unwrap_or(0),
        );
        let nh: Vec<Rule> = hr
            .iter()
            .copied()
            .filter(|r| keep(r, vfrom, vto, x0, x1))
            .collect();
        let nv: Vec<Rule> = vr
            .iter()
            .copied()
            .filter(|r| keep(r, hfrom, hto, y0, y1))
            .collect();
        if (nh.len(), nv.len()) == (hr.len(), vr.len()) {
            break;
        }
        (hr, vr) = (nh, nv);
    }
    (hr, vr)
}

/// Most pixels between two rules that are one gutter (the edges of two boxes drawn with a gap
/// between them) rather than a row or column of the table.
const GUTTER: u32 = 12;

/// Consecutive rules at most [`GUTTER`] pixels apart with nothing drawn between them (every
/// pixel within a few grey levels of the others) as one rule: cells drawn as separate boxes
/// give two edges per gap, and the gap is no row or column.
pub fn gutters(g: &GrayImage, axis: Axis, rules: Vec<Rule>) -> Vec<Rule> {
    let mut out: Vec<Rule> = Vec::with_capacity(rules.len());
    for r in rules {
        if let Some(p) = out.last_mut() {
            if r.start > p.end + 2
                && r.start <= p.end + GUTTER
                && blank(
                    g,
                    axis,
                    p.end + 1,
                    r.start - 1,
                    r.from.max(p.from),
                    r.to.min(p.to),
                )
            {
                p.end = r.end;
                p.from = p.from.min(r.from);
                p.to = p.to.max(r.to);
                continue;
            }
        }
        out.push(r);
    }
    out
}

/// Whether lines `a..b` across `axis` (positions `from..to` along) hold nothing: at three in
/// four positions along (rounded box corners reach in), the pixels across within 12 grey levels
/// of the gap's own colour there.
fn blank(g: &GrayImage, axis: Axis, a: u32, b: u32, from: u32, to: u32) -> bool {
    let (w, h) = (g.width(), g.height());
    let (mut busy, mut n) = (0u32, 0u32);
    for p in from..to {
        let (mut lo, mut hi) = (u8::MAX, 0u8);
        for c in a..b {
            let (x, y) = match axis {
                Axis::Horizontal => (p, c),
                Axis::Vertical => (c, p),
            };
            if x < w && y < h {
                let v = g.get_pixel(x, y).0[0];
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        if lo <= hi {
            n += 1;
            busy += u32::from(hi - lo > 12);
        }
    }
    n > 0 && busy * 4 <= n
}
