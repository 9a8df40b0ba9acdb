//! Tests: synthetic timetables of both domains against their ground truth, a table drawn by
//! another tool (a browser), and pages that hold no timetable.

use image::{DynamicImage, GrayImage, Luma};

use super::*;
use crate::dataset::synth::render::{Rendered, render};
use crate::dataset::synth::{Domain, assign, timetable};

fn rendered(seed: u64, domain: Domain, i: u32) -> Rendered {
    let (split, font) = assign(seed, domain, i);
    render(&timetable(seed, domain, i), seed, domain, i, split, font)
}

/// How one synthetic timetable came out.
#[derive(Debug, Default)]
struct Outcome {
    grid_ok: bool,
    cells: usize,
    /// Cells whose box is within tolerance and whose line count is right.
    cells_ok: usize,
    worst_box: u32,
    wrong_lines: Vec<(usize, usize, usize, usize)>,
    /// Our crop's height and width over the training crop's (rotation taken out).
    h_ratio: Vec<f32>,
    w_ratio: Vec<f32>,
    /// Lines whose crop does not hold the training box (less a pixel or two of slack).
    cut: Vec<String>,
    angle_err: f32,
}

impl Outcome {
    fn exact(&self) -> bool {
        self.grid_ok && self.cells_ok == self.cells
    }
}

/// The unrotated (height, width) of a box whose axis-aligned box is `b` at `deg` degrees.
fn unrotated(b: [u32; 4], deg: f32) -> (f32, f32) {
    let (s, c) = deg.to_radians().abs().sin_cos();
    let (w, h) = ((b[2] - b[0]) as f32, (b[3] - b[1]) as f32);
    let d = c * c - s * s;
    ((h * c - w * s) / d, (w * c - h * s) / d)
}

fn compare(r: &Rendered) -> Result<Outcome, LayoutError> {
    let t = &r.truth;
    let img = image::load_from_memory(&r.image).expect("rendered image decodes");
    let table = find_table(&img)?;
    let mut o = Outcome {
        grid_ok: table.rows == t.slots.len() + 1 && table.cols == t.days.len() + 1,
        angle_err: (table.angle_deg - t.render.rotation_deg).abs(),
        ..Outcome::default()
    };
    if !o.grid_ok {
        return Ok(o);
    }
    let tol = 3 + t.width.max(t.height) / 400;
    let deg = t.render.rotation_deg;
    for (cell, truth) in table.cells.iter().zip(&t.cells) {
        assert_eq!(
            (cell.row, cell.col),
            (truth.row as usize, truth.col as usize)
        );
        o.cells += 1;
        let off = (0..4)
            .map(|k| cell.bbox[k].abs_diff(truth.bbox[k]))
            .max()
            .unwrap_or(0);
        o.worst_box = o.worst_box.max(off);
        let want: Vec<usize> = (0..t.lines.len())
            .filter(|&k| (t.lines[k].row, t.lines[k].col) == (truth.row, truth.col))
            .collect();
        if want.len() != cell.lines.len() {
            o.wrong_lines
                .push((cell.row, cell.col, cell.lines.len(), want.len()));
        } else {
            for ((crop, &ours), &k) in cell.lines.iter().zip(&cell.line_boxes).zip(&want) {
                let truth_crop = image::load_from_memory(&r.crops[k]).unwrap();
                let b = t.lines[k].bbox;
                let (bh, bw) = unrotated(b, deg);
                let extra_h = truth_crop.height() as f32 - (b[3] - b[1]) as f32;
                let extra_w = truth_crop.width() as f32 - (b[2] - b[0]) as f32;
                let slack = 2 + ((b[2] - b[0]) as f32 * deg.to_radians().abs().sin()) as u32;
                if ours[0] > b[0] + slack
                    || ours[1] > b[1] + slack
                    || ours[2] + slack < b[2]
                    || ours[3] + slack < b[3]
                {
                    o.cut
                        .push(format!("{:?} {ours:?} < {b:?}", t.lines[k].text));
                }
                o.h_ratio.push(crop.height() as f32 / (bh + extra_h));
                o.w_ratio.push(crop.width() as f32 / (bw + extra_w));
            }
        }
        if off <= tol && want.len() == cell.lines.len() {
            o.cells_ok += 1;
        }
    }
    Ok(o)
}

fn describe(r: &Rendered) -> String {
    let t = &r.truth;
    format!(
        "{} {:?} {}x{} {} rot {:.2} blur {:.2} noise {:.1} rule {} font {}",
        t.id,
        t.domain,
        t.width,
        t.height,
        t.render.format,
        t.render.rotation_deg,
        t.render.blur_sigma,
        t.render.noise_sigma,
        t.render.rule_px,
        t.render.font
    )
}

fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f32::NAN)
}

/// A handful of synthetic timetables of both domains (rotated, JPEG, shaded, noisy): the grid,
/// every cell box and every cell's line count come out right, and the crops have the size of
/// the training crops.
#[test]
fn finds_the_grid_and_lines_of_synthetic_timetables() {
    let cases = [
        (Domain::Default, 0),
        (Domain::Default, 1),
        (Domain::Default, 2),
        (Domain::Shifted, 0),
        (Domain::Shifted, 1),
        (Domain::Shifted, 2),
    ];
    let (mut hs, mut ws) = (Vec::new(), Vec::new());
    for (domain, i) in cases {
        let r = rendered(11, domain, i);
        let what = describe(&r);
        let o = compare(&r).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(o.grid_ok, "{what}: wrong grid");
        assert!(o.exact(), "{what}: {o:?}");
        assert!(o.cut.is_empty(), "{what}: crops cut the text: {:?}", o.cut);
        assert!(o.angle_err < 0.15, "{what}: angle off by {}", o.angle_err);
        hs.extend(o.h_ratio);
        ws.extend(o.w_ratio);
    }
    let (mh, mw) = (median(hs.clone()), median(ws.clone()));
    let worst = hs.iter().fold(1.0f32, |m, &v| {
        if (v - 1.0).abs() > (m - 1.0).abs() {
            v
        } else {
            m
        }
    });
    eprintln!("crop height ratio: median {mh:.3} worst {worst:.3}; width median {mw:.3}");
    assert!((0.9..=1.1).contains(&mh), "median crop height ratio {mh}");
    assert!((0.9..=1.1).contains(&mw), "median crop width ratio {mw}");
    assert!(
        (0.7..=1.35).contains(&worst),
        "worst crop height ratio {worst}"
    );
}

/// A table drawn by a browser (Chromium, from an HTML table with borders; see
/// tests/fixtures/README.md): 6 rows (header + 5 slots) × 4 columns (times + 3 days).
#[test]
fn finds_the_grid_of_a_browser_table() {
    let bytes = include_bytes!("../../../tests/fixtures/layout_html_table.png");
    let img = image::load_from_memory(bytes).unwrap();
    let t = find_table(&img).unwrap();
    assert_eq!((t.rows, t.cols), (6, 4));
    assert!(t.angle_deg.abs() < 0.05, "{}", t.angle_deg);
    let count = |r: usize, c: usize| t.cells[r * t.cols + c].lines.len();
    // Header: "Time" and the days; times one line each; entries as written in the HTML.
    let want = [
        [1, 1, 1, 1],
        [1, 3, 0, 2],
        [1, 0, 3, 1],
        [1, 2, 1, 0],
        [1, 3, 3, 0],
        [1, 0, 2, 3],
    ];
    for (r, row) in want.iter().enumerate() {
        for (c, &n) in row.iter().enumerate() {
            assert_eq!(count(r, c), n, "cell ({r}, {c})");
        }
    }
}

/// Lines per cell of a fixture drawn by Chromium (tests/fixtures/timetables), row by row.
fn line_counts(png: &[u8]) -> (usize, usize, Vec<Vec<usize>>) {
    let t = find_table(&image::load_from_memory(png).unwrap()).unwrap();
    let mut rows = vec![vec![usize::MAX; t.cols]; t.rows];
    for c in &t.cells {
        rows[c.row][c.col] = c.lines.len();
    }
    (t.rows, t.cols, rows)
}

/// Light rules between dark cells (white 2-px gaps, white text): the grid of the negative, the
/// text read from it.
#[test]
fn finds_a_grid_of_light_rules_between_dark_cells() {
    let (rows, cols, n) = line_counts(include_bytes!(
        "../../../tests/fixtures/timetables/french_start_times.png"
    ));
    assert_eq!((rows, cols), (5, 6));
    assert_eq!(
        n[0],
        [1, 1, 1, 1, 1, 1],
        "the header: Time and five days: {n:?}"
    );
    assert_eq!(n[1], [1, 0, 3, 0, 0, 3]);
    assert_eq!(n[4], [1, 0, 0, 3, 0, 0]);
}

/// Rows ruled, columns set apart by white space only; days as rows and a header row with no
/// rule above it (zebra stripes), or days as columns between horizontal rules.
#[test]
fn finds_columns_from_white_space_when_only_rows_are_ruled() {
    let (rows, cols, n) = line_counts(include_bytes!(
        "../../../tests/fixtures/timetables/zebra_days_as_rows.png"
    ));
    assert_eq!((rows, cols), (6, 5));
    assert_eq!(
        n[0],
        [0, 1, 1, 1, 1],
        "the header: an empty corner and four times"
    );
    assert_eq!(n[1], [1, 3, 0, 3, 0], "Mon");
    assert_eq!(n[5], [1, 0, 3, 0, 0], "Fri");
    let (rows, cols, n) = line_counts(include_bytes!(
        "../../../tests/fixtures/timetables/german_hrules.png"
    ));
    assert_eq!((rows, cols), (4, 6));
    assert_eq!(n[0], [1, 1, 1, 1, 1, 1]);
    assert_eq!(n[3], [1, 0, 0, 3, 0, 0]);
}

fn no_timetable(img: DynamicImage) -> String {
    match find_table(&img) {
        Err(LayoutError::NoTimetable(m)) => m,
        Ok(t) => panic!("found a {}×{} table", t.rows, t.cols),
    }
}

/// A blank page, noise (a photo of nothing) and ruled text lines without a grid are refused
/// with a message that says what was missing.
#[test]
fn refuses_pages_without_a_timetable() {
    let blank = GrayImage::from_pixel(800, 600, Luma([245]));
    let m = no_timetable(DynamicImage::ImageLuma8(blank));
    assert!(m.contains("0 horizontal and 0 vertical rules"), "{m}");

    let mut state = 0x2545_f491_4f6c_dd1du64;
    let noise = GrayImage::from_fn(700, 500, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        Luma([(state >> 56) as u8])
    });
    let m = no_timetable(DynamicImage::ImageLuma8(noise));
    assert!(m.contains("no ruled grid"), "{m}");

    // A page of "text": rows of short dark strokes, no rules.
    let text = GrayImage::from_fn(900, 700, |x, y| {
        let in_line = (y % 40) >= 10 && (y % 40) < 26;
        let in_glyph = (x % 13) < 7 && (x / 90) % 5 != 4 && x > 60 && x < 840;
        Luma([if in_line && in_glyph && (x + y) % 3 != 0 {
            30
        } else {
            240
        }])
    });
    let m = no_timetable(DynamicImage::ImageLuma8(text));
    assert!(m.contains("no ruled grid"), "{m}");

    // One ruled row only: a header strip is not a timetable.
    let strip = GrayImage::from_fn(900, 300, |x, y| {
        let rule = (y == 100 || y == 220) && (50..850).contains(&x);
        let vrule = (x == 50 || x == 300 || x == 849) && (100..=220).contains(&y);
        Luma([if rule || vrule { 20 } else { 240 }])
    });
    let m = no_timetable(DynamicImage::ImageLuma8(strip));
    assert!(m.contains("only 1 row"), "{m}");
}

/// A header on dark fill with white text, its rule touching the fill; cells drawn as separate
/// boxes with gaps between them (two edges per gap, one rule).
#[test]
fn finds_dark_headers_and_boxes_with_gaps() {
    let (rows, cols, n) = line_counts(include_bytes!(
        "../../../tests/fixtures/timetables/ruled_dark_header.png"
    ));
    assert_eq!((rows, cols), (5, 6));
    assert_eq!(n[0], [1, 1, 1, 1, 1, 1], "the header's white text: {n:?}");
    assert_eq!(n[1], [1, 3, 3, 0, 0, 0], "{n:?}");
    let (rows, cols, n) = line_counts(include_bytes!(
        "../../../tests/fixtures/timetables/boxes_12h.png"
    ));
    assert_eq!((rows, cols), (5, 6));
    assert_eq!(n[0], [1, 1, 1, 1, 1, 1], "{n:?}");
    assert_eq!(n[2], [1, 3, 0, 0, 0, 0], "{n:?}");
}
