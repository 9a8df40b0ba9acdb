//! Drawing one timetable: a seeded style (font, size, colours, rules, shading, degradations),
//! the grid layout, the page with its text, then rotation, blur, lighting, noise and encoding
//! (PNG, or JPEG with its artefacts), and the ground truth: every cell's and every text line's
//! pixel box in the final image, with a grey PNG crop around each line.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{DynamicImage, GrayImage, Luma};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::canvas::{Affine, Canvas, Rgb, Text, tone};
use super::content::{Entry, Timetable};
use super::layout::{Layout, layout};
use super::style::{Style, style};
use super::{Domain, Split, fonts, rng};

/// The ground truth written beside each image as `tt_NNNN.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub id: String,
    /// The image, relative to the dataset root (`images/tt_0007.png`).
    pub image: String,
    pub split: Split,
    pub domain: Domain,
    pub width: u32,
    pub height: u32,
    pub days: Vec<String>,
    pub slots: Vec<(String, String)>,
    pub entries: Vec<Entry>,
    /// Every cell of the grid, row by row (row 0: the day headers; column 0: the times).
    pub cells: Vec<Cell>,
    /// Every line of text, in reading order.
    pub lines: Vec<Line>,
    pub render: RenderInfo,
}

/// One cell of the grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub row: u32,
    pub col: u32,
    /// `corner`, `day` (header row), `time` (first column), `entry` or `empty`.
    pub kind: String,
    pub day: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    /// Index into `entries` for an `entry` cell.
    pub entry: Option<usize>,
    /// `[x0, y0, x1, y1]` in pixels of the final image, x1 and y1 exclusive; the cell with
    /// the rules around it, as an axis-aligned box around the rotated cell.
    #[serde(rename = "box")]
    pub bbox: [u32; 4],
}

/// One line of text in a cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub row: u32,
    pub col: u32,
    /// 0, 1, 2 from the top of the cell.
    pub line: u32,
    pub text: String,
    /// `day`, `time`, `corner`, `subject`, `room` or `teacher`.
    pub field: String,
    /// `[x0, y0, x1, y1]` of the line (advance width × ascent to descent), final image.
    #[serde(rename = "box")]
    pub bbox: [u32; 4],
    /// The crop of this line, relative to the dataset root.
    pub crop: String,
}

/// How the image was drawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RenderInfo {
    pub font: String,
    pub font_role: String,
    pub font_px: f32,
    pub bold_header: bool,
    pub align: String,
    pub paper: [u8; 3],
    pub ink: [u8; 3],
    pub rule_px: u32,
    pub rotation_deg: f32,
    pub blur_sigma: f32,
    pub noise_sigma: f32,
    pub lighting: f32,
    pub grey: bool,
    pub format: String,
    pub jpeg_quality: Option<u8>,
}

/// One rendered timetable: the encoded image, its extension, the truth, the encoded crops
/// (in the order of `truth.lines`).
pub struct Rendered {
    pub image: Vec<u8>,
    pub ext: &'static str,
    pub truth: Truth,
    pub crops: Vec<Vec<u8>>,
}

/// The page drawn in `C` channels, degraded and quantised; with the map from layout to final
/// coordinates.
fn paint<const C: usize>(
    l: &Layout,
    s: &Style,
    text: &Text,
    noise: &mut ChaCha8Rng,
) -> (DynamicImage, Affine) {
    let mut page = Canvas::<C>::new(l.w, l.h, tone(s.paper));
    for ([x0, y0, x1, y1], c) in &l.backgrounds {
        page.fill(*x0, *y0, *x1, *y1, tone(*c));
    }
    let ink = tone(s.ink);
    for p in &l.texts {
        page.text(text, p.x, p.baseline, &p.text, ink, p.bold);
    }
    for ([x0, y0, x1, y1], c) in &l.rules {
        page.fill(*x0, *y0, *x1, *y1, tone(*c));
    }
    let (mut page, map) = if s.rotation != 0.0 {
        page.rotate(f64::from(s.rotation), tone(s.paper))
    } else {
        (page, Affine::IDENTITY)
    };
    page.blur(s.blur * l.px);
    page.gradient(s.lighting, s.light_angle);
    (page.finish(s.noise, noise), map)
}

/// Renders timetable `t` (index `index` of `seed` in `domain`) in `split` with font `font`.
pub fn render(
    t: &Timetable,
    seed: u64,
    domain: Domain,
    index: u32,
    split: Split,
    font: usize,
) -> Rendered {
    let s = style(&mut rng(seed, domain, index, "style"), domain, font);
    let face = fonts::face(font);
    let l = layout(t, &s, face);
    let text = Text::new(face, l.px);
    let mut noise = rng(seed, domain, index, "noise");
    let (img, map) = if s.grey {
        paint::<1>(&l, &s, &text, &mut noise)
    } else {
        paint::<3>(&l, &s, &text, &mut noise)
    };
    let (fw, fh) = (img.width(), img.height());
    let (bytes, ext, seen) = match s.jpeg {
        Some(q) => {
            let mut buf = Vec::new();
            JpegEncoder::new_with_quality(&mut buf, q)
                .encode_image(&img)
                .expect("encoding to memory cannot fail");
            // Crops come from what a reader of the file sees, artefacts included.
            let seen = image::load_from_memory_with_format(&buf, image::ImageFormat::Jpeg)
                .expect("the JPEG just written decodes");
            (buf, "jpg", seen)
        }
        None => (png(&img), "png", img),
    };

    // Ground truth in final coordinates, and the crops.
    let bx = |b: [f64; 4]| map.map_box(b, fw as usize, fh as usize);
    let cells = l
        .cells
        .iter()
        .map(|c| {
            let slot = (c.row > 0).then(|| &t.slots[c.row - 1]);
            Cell {
                row: c.row as u32,
                col: c.col as u32,
                kind: c.kind.to_string(),
                day: (c.col > 0).then(|| t.days[c.col - 1].clone()),
                start: slot.map(|s| s.0.clone()),
                end: slot.map(|s| s.1.clone()),
                entry: c.entry,
                bbox: bx(c.bbox),
            }
        })
        .collect();
    let margin = (0.15 * l.line_h).round().max(2.0) as u32;
    let mut lines = Vec::with_capacity(l.texts.len());
    let mut crops = Vec::with_capacity(l.texts.len());
    for p in &l.texts {
        let bbox = bx(p.bbox);
        let (x0, y0) = (
            bbox[0].saturating_sub(margin),
            bbox[1].saturating_sub(margin),
        );
        let (x1, y1) = ((bbox[2] + margin).min(fw), (bbox[3] + margin).min(fh));
        let crop = grey_crop(&seen, x0, y0, x1 - x0, y1 - y0);
        crops.push(png(&DynamicImage::ImageLuma8(crop)));
        lines.push(Line {
            row: p.row as u32,
            col: p.col as u32,
            line: p.line as u32,
            text: p.text.clone(),
            field: p.field.to_string(),
            bbox,
            crop: format!(
                "lines/{}/{}_r{:02}_c{:02}_l{}.png",
                split.as_str(),
                t.id,
                p.row,
                p.col,
                p.line
            ),
        });
    }
    let byte = |c: Rgb| c.map(|v| v.round().clamp(0.0, 255.0) as u8);
    let round = |v: f32, k: f32| (v * k).round() / k;
    let f = &fonts::FONTS[s.font];
    let truth = Truth {
        id: t.id.clone(),
        image: format!("images/{}.{ext}", t.id),
        split,
        domain,
        width: fw,
        height: fh,
        days: t.days.clone(),
        slots: t.slots.clone(),
        entries: t.entries.clone(),
        cells,
        lines,
        render: RenderInfo {
            font: f.name.to_string(),
            font_role: format!("{:?}", f.role).to_lowercase(),
            font_px: round(l.px, 100.0),
            bold_header: s.bold_header,
            align: if s.left { "left" } else { "centre" }.into(),
            paper: byte(s.paper),
            ink: byte(s.ink),
            rule_px: s.rule_px as u32,
            rotation_deg: round(s.rotation, 1000.0),
            blur_sigma: round(s.blur * l.px, 1000.0),
            noise_sigma: round(s.noise, 1000.0),
            lighting: round(s.lighting, 1000.0),
            grey: s.grey,
            format: ext.into(),
            jpeg_quality: s.jpeg,
        },
    };
    Rendered {
        image: bytes,
        ext,
        truth,
        crops,
    }
}

/// The grey pixels of a `w`×`h` region of `img` at (`x`, `y`) (luma with BT.601 weights).
fn grey_crop(img: &DynamicImage, x: u32, y: u32, w: u32, h: u32) -> GrayImage {
    match img {
        DynamicImage::ImageLuma8(g) => image::imageops::crop_imm(g, x, y, w, h).to_image(),
        DynamicImage::ImageRgb8(rgb) => GrayImage::from_fn(w, h, |i, j| {
            let [r, g, b] = rgb.get_pixel(x + i, y + j).0.map(u32::from);
            Luma([((77 * r + 150 * g + 29 * b + 128) >> 8) as u8])
        }),
        other => other.crop_imm(x, y, w, h).to_luma8(),
    }
}

/// PNG bytes of `img` (deterministic: fixed compression and filter).
pub fn png(img: &DynamicImage) -> Vec<u8> {
    let mut buf = Cursor::new(Vec::new());
    let enc = PngEncoder::new_with_quality(&mut buf, CompressionType::Level(2), FilterType::Paeth);
    img.write_with_encoder(enc)
        .expect("encoding to memory cannot fail");
    buf.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::synth::{assign, timetable};

    fn rendered(seed: u64, domain: Domain, i: u32) -> Rendered {
        let (split, font) = assign(seed, domain, i);
        render(&timetable(seed, domain, i), seed, domain, i, split, font)
    }

    fn inside(b: [u32; 4], t: &Truth) -> bool {
        b[0] < b[2] && b[1] < b[3] && b[2] <= t.width && b[3] <= t.height
    }

    /// The truth matches the picture: boxes inside the image, every entry's cell holds lines
    /// with its texts, every crop decodes to a non-empty image with ink on paper.
    #[test]
    fn truth_boxes_lines_and_crops_agree() {
        for (domain, i) in [
            (Domain::Default, 0),
            (Domain::Default, 1),
            (Domain::Shifted, 2),
        ] {
            let r = rendered(7, domain, i);
            let t = &r.truth;
            let img = image::load_from_memory(&r.image).unwrap();
            assert_eq!((img.width(), img.height()), (t.width, t.height));
            assert!((600..=2000).contains(&t.width), "width {}", t.width);
            assert_eq!(t.cells.len(), (t.days.len() + 1) * (t.slots.len() + 1));
            for c in &t.cells {
                assert!(inside(c.bbox, t), "cell {c:?}");
            }
            for l in &t.lines {
                assert!(inside(l.bbox, t), "line {l:?}");
                let cell = t
                    .cells
                    .iter()
                    .find(|c| (c.row, c.col) == (l.row, l.col))
                    .unwrap();
                // A line lies within its cell (boxes are axis-aligned around rotated shapes).
                let b = cell.bbox;
                assert!(
                    l.bbox[0] >= b[0] && l.bbox[2] <= b[2],
                    "{l:?} outside {b:?}"
                );
                assert!(
                    l.bbox[1] >= b[1] && l.bbox[3] <= b[3],
                    "{l:?} outside {b:?}"
                );
            }
            for (k, e) in t.entries.iter().enumerate() {
                let row = 1 + t
                    .slots
                    .iter()
                    .position(|s| (&s.0, &s.1) == (&e.start, &e.end))
                    .unwrap();
                let col = 1 + t.days.iter().position(|d| d == &e.day).unwrap();
                let cell = t
                    .cells
                    .iter()
                    .find(|c| (c.row, c.col) == (row as u32, col as u32));
                assert_eq!(cell.unwrap().entry, Some(k));
                let texts: Vec<&str> = t
                    .lines
                    .iter()
                    .filter(|l| (l.row, l.col) == (row as u32, col as u32))
                    .map(|l| l.text.as_str())
                    .collect();
                let want: Vec<&str> = [&e.subject, &e.room, &e.teacher]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .map(String::as_str)
                    .collect();
                assert_eq!(texts, want);
            }
            let times: Vec<&str> = t
                .lines
                .iter()
                .filter(|l| l.field == "time")
                .map(|l| l.text.as_str())
                .collect();
            assert_eq!(times.len(), t.slots.len());
            assert!(times.iter().all(|s| s.contains('\u{2013}')), "{times:?}");
            assert_eq!(
                t.lines.iter().filter(|l| l.field == "day").count(),
                t.days.len()
            );
            assert_eq!(r.crops.len(), t.lines.len());
            for (crop, l) in r.crops.iter().zip(&t.lines) {
                let g = image::load_from_memory(crop).unwrap().to_luma8();
                assert!(g.width() > l.bbox[2] - l.bbox[0] && g.height() > 4, "{l:?}");
                let (lo, hi) = g
                    .pixels()
                    .fold((255u8, 0u8), |(lo, hi), p| (lo.min(p.0[0]), hi.max(p.0[0])));
                assert!(hi - lo > 60, "crop of {:?} has no ink: {lo}..{hi}", l.text);
            }
        }
    }

    #[test]
    fn rendering_is_deterministic_and_seed_dependent() {
        let a = rendered(3, Domain::Default, 4);
        let b = rendered(3, Domain::Default, 4);
        assert!(a.image == b.image && a.crops == b.crops && a.truth == b.truth);
        assert_ne!(a.image, rendered(4, Domain::Default, 4).image);
    }
}
