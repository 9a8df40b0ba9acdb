//! The one preprocessing of a line image before it is scaled for the OCR models, shared by
//! training, evaluation, `lab ocr`, extraction and `lab serve` (all reach it through
//! `lines::prepare`): polarity detected and normalised (dark ink on light paper whatever the
//! colours), contrast stretched from ink to paper, then the line cropped to its ink with a fixed margin — so
//! how a user cut the line (tight, loose, with a cell border or a sliver of the next line at
//! the edge) matters little.
//!
//! Cropping to the ink: rows and columns that are almost all ink are rules (cell borders) and
//! are not ink; the rows with ink form bands separated by blank rows; the band with the most
//! ink (a band cut by the edge counting half) is the line, joined by bands close enough to belong to it (accents, the dot of an i);
//! the columns are cropped to the ink of those rows. A blank image is kept whole.

use image::GrayImage;

/// The margin kept around the ink, as a share of the ink's height (and at least one pixel).
pub const MARGIN: f64 = 0.15;

/// A row or column with more than this share of ink is a rule, not text.
const RULE: f64 = 0.8;

/// Normalises `grey` to dark ink on light paper (0 = ink, 255 = paper). The paper is the
/// median grey (most of a line image is paper); the ink is whichever extreme (0.5th or 99.5th
/// percentile) lies farther from it — light text on a dark ground is inverted; everything is
/// stretched from ink to paper. An image with no contrast comes out blank.
pub fn normalise(grey: &GrayImage) -> GrayImage {
    let px = grey.as_raw();
    let mut hist = [0usize; 256];
    for &p in px {
        hist[p as usize] += 1;
    }
    let pct = |q: f64| {
        let target = (q * px.len() as f64) as usize;
        let mut acc = 0;
        for (v, &n) in hist.iter().enumerate() {
            acc += n;
            if acc > target {
                return v as f64;
            }
        }
        255.0
    };
    let (dark, light, paper) = (pct(0.005), pct(0.995), pct(0.5));
    let ink = if paper - dark >= light - paper {
        dark
    } else {
        light
    };
    let span = paper - ink;
    let mut lut = [255u8; 256];
    if span.abs() >= 1.0 {
        for (v, o) in lut.iter_mut().enumerate() {
            let x = ((v as f64 - ink) / span).clamp(0.0, 1.0);
            *o = (x * 255.0).round() as u8;
        }
    }
    let out: Vec<u8> = px.iter().map(|&p| lut[p as usize]).collect();
    GrayImage::from_raw(grey.width(), grey.height(), out).expect("same size")
}

/// The box `[x0, y0, x1, y1)` of the line's ink in a normalised image, `None` when blank.
pub fn ink_box(img: &GrayImage) -> Option<[u32; 4]> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let px = img.as_raw();
    let ink = |x: usize, y: usize| px[y * w + x] < 128;
    let row_ink: Vec<usize> = (0..h)
        .map(|y| (0..w).filter(|&x| ink(x, y)).count())
        .collect();
    let col_ink: Vec<usize> = (0..w)
        .map(|x| (0..h).filter(|&y| ink(x, y)).count())
        .collect();
    let rule_row: Vec<bool> = row_ink
        .iter()
        .map(|&n| n as f64 > RULE * w as f64)
        .collect();
    let rule_col: Vec<bool> = col_ink
        .iter()
        .map(|&n| n as f64 > RULE * h as f64)
        .collect();
    // Ink per row, rule columns and rule rows left out.
    let text_row: Vec<usize> = (0..h)
        .map(|y| {
            if rule_row[y] {
                0
            } else {
                (0..w).filter(|&x| !rule_col[x] && ink(x, y)).count()
            }
        })
        .collect();
    // Bands of consecutive inked rows: (first, last inclusive, ink).
    let mut bands: Vec<(usize, usize, usize)> = Vec::new();
    for (y, &n) in text_row.iter().enumerate() {
        if n == 0 {
            continue;
        }
        match bands.last_mut() {
            Some(b) if b.1 + 1 == y => {
                b.1 = y;
                b.2 += n;
            }
            _ => bands.push((y, y, n)),
        }
    }
    // The line is the band with the most ink; a band cut by the top or bottom edge (a sliver
    // of a neighbouring line) counts half.
    let weight = |b: &(usize, usize, usize)| {
        if b.0 == 0 || b.1 + 1 == h {
            b.2
        } else {
            2 * b.2
        }
    };
    let main = (0..bands.len()).max_by_key(|&i| (weight(&bands[i]), usize::MAX - i))?;
    let (mut top, mut bottom) = (bands[main].0, bands[main].1);
    let close = |gap: usize, height: usize| gap as f64 <= 0.12 * height as f64 + 1.0;
    // Join the bands that belong to the line: accents above, the dot of an i, a cedilla.
    for i in (0..main).rev() {
        if close(top - bands[i].1 - 1, bottom - top + 1) {
            top = bands[i].0;
        } else {
            break;
        }
    }
    for b in &bands[main + 1..] {
        if close(b.0 - bottom - 1, bottom - top + 1) {
            bottom = b.1;
        } else {
            break;
        }
    }
    let cols: Vec<usize> = (0..w)
        .filter(|&x| !rule_col[x] && (top..=bottom).any(|y| !rule_row[y] && ink(x, y)))
        .collect();
    let (left, right) = (*cols.first()?, *cols.last()?);
    Some([left as u32, top as u32, right as u32 + 1, bottom as u32 + 1])
}

/// `grey` normalised and cropped to its ink with a margin of [`MARGIN`] × the ink's height on
/// every side (paper beyond the image's edge).
pub fn crop_to_ink(grey: &GrayImage) -> GrayImage {
    let img = normalise(grey);
    let Some([x0, y0, x1, y1]) = ink_box(&img) else {
        return img;
    };
    let m = ((MARGIN * f64::from(y1 - y0)).round() as u32).max(1);
    let (w, h) = (x1 - x0 + 2 * m, y1 - y0 + 2 * m);
    let mut out = GrayImage::from_pixel(w, h, image::Luma([255]));
    for y in y0..y1 {
        for x in x0..x1 {
            out.put_pixel(x - x0 + m, y - y0 + m, *img.get_pixel(x, y));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Luma;

    fn page(w: u32, h: u32, paper: u8) -> GrayImage {
        GrayImage::from_pixel(w, h, Luma([paper]))
    }

    fn blot(g: &mut GrayImage, x0: u32, y0: u32, x1: u32, y1: u32, v: u8) {
        for y in y0..y1 {
            for x in x0..x1 {
                g.put_pixel(x, y, Luma([v]));
            }
        }
    }

    /// "Text": 20×10 pixels of vertical strokes (two pixels wide, every six) at (x, y).
    fn text(g: &mut GrayImage, x: u32, y: u32, v: u8) {
        for dx in [0, 1, 6, 7, 12, 13, 18, 19] {
            blot(g, x + dx, y, x + dx + 1, y + 10, v);
        }
    }

    #[test]
    fn the_same_ink_comes_out_the_same_however_it_was_cut() {
        // Text on a loose crop, dark on light.
        let mut a = page(100, 50, 230);
        text(&mut a, 30, 20, 20);
        // The same tight, light on dark, with a cell border at the top and left edges.
        let mut b = page(24, 14, 30);
        text(&mut b, 2, 2, 220);
        blot(&mut b, 0, 0, 24, 1, 220);
        blot(&mut b, 0, 0, 1, 14, 220);
        // On a coloured (mid-grey) ground, with a sliver of the next line at the bottom edge.
        let mut c = page(60, 40, 140);
        text(&mut c, 10, 10, 40);
        blot(&mut c, 12, 36, 40, 40, 40);
        let (a, b, c) = (crop_to_ink(&a), crop_to_ink(&b), crop_to_ink(&c));
        assert_eq!(a.dimensions(), (24, 14));
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.get_pixel(0, 0).0[0], 255);
        assert_eq!(a.get_pixel(2, 5).0[0], 0);
        assert_eq!(a.get_pixel(5, 5).0[0], 255);
    }

    #[test]
    fn accents_stay_with_their_line_and_blank_stays_whole() {
        let mut g = page(40, 40, 255);
        blot(&mut g, 10, 20, 30, 30, 0); // the letters
        blot(&mut g, 12, 18, 14, 19, 0); // an accent one row above
        assert_eq!(ink_box(&normalise(&g)), Some([10, 18, 30, 30]));
        let blank = page(30, 10, 200);
        assert_eq!(ink_box(&normalise(&blank)), None);
        assert_eq!(crop_to_ink(&blank).dimensions(), (30, 10));
    }
}
