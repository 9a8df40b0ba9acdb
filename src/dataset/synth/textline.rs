//! Free text lines: one line of text from [`text`](super::text), drawn alone as a user would
//! cut it from a page, in many more ways than a timetable draws its cells — what teaches the
//! OCR models to read rather than to recognise lab's timetables.
//!
//! Each line gets, from its own seeded stream: a face of the split's role that has every
//! glyph of the text; a size from tiny (x-height ~6 px) to large (~40 px); dark ink on light
//! paper, light on dark, or either on a coloured ground; letter spacing, faux bold, sub-pixel
//! offsets; a crop tight or loose, sometimes with a fragment of a cell border or of the
//! neighbouring lines at its edges; slight rotation or shear; blur, noise, a loss of
//! resolution, JPEG. Training lines are rasterised by `ab_glyph`, antialiased or binary
//! (aliased, as hinted office text is); `test_heldout` lines by **fontdue**, a second
//! rasteriser the models never see in training, with held-out faces and held-out words.

use std::sync::OnceLock;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, GrayImage};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::canvas::{Canvas, Text};
use super::render::png;
use super::text::{self, Kind};
use super::{Domain, Split, fonts, rng};

/// One rendered line.
pub struct TextLine {
    /// Grey PNG bytes.
    pub png: Vec<u8>,
    pub text: String,
    pub kind: Kind,
    /// Index into [`fonts::FONTS`].
    pub font: usize,
}

/// Which rasteriser drew a line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Raster {
    Antialiased,
    Binary,
    Fontdue,
}

fn fontdue_face(i: usize) -> &'static fontdue::Font {
    static PARSED: OnceLock<Vec<fontdue::Font>> = OnceLock::new();
    &PARSED.get_or_init(|| {
        (0..fonts::FONTS.len())
            .map(|i| {
                fontdue::Font::from_bytes(fonts::bytes(i), fontdue::FontSettings::default())
                    .expect("embedded fonts are valid")
            })
            .collect()
    })[i]
}

/// The advance width of `text` at `px` in font `font` as `raster` draws it.
fn width(raster: Raster, font: usize, px: f32, text: &str, tracking: f32) -> f32 {
    let n = text.chars().count() as f32;
    match raster {
        Raster::Fontdue => {
            let f = fontdue_face(font);
            let mut w = 0.0;
            let mut prev = None;
            for c in text.chars() {
                if let Some(p) = prev {
                    w += f.horizontal_kern(p, c, px).unwrap_or(0.0);
                }
                w += f.metrics(c, px).advance_width;
                prev = Some(c);
            }
            w + tracking * n
        }
        _ => Text::new(fonts::face(font), px).width(text, 0.0) + tracking * n,
    }
}

/// Draws `text` on `page` with its pen at `x` on baseline `y`.
#[allow(clippy::too_many_arguments)]
fn draw(
    page: &mut Canvas<1>,
    raster: Raster,
    font: usize,
    px: f32,
    x: f32,
    y: f32,
    text: &str,
    ink: f32,
    bold: f32,
    tracking: f32,
) {
    match raster {
        Raster::Fontdue => {
            let f = fontdue_face(font);
            let mut pen = x;
            let mut prev = None;
            for c in text.chars() {
                if let Some(p) = prev {
                    pen += f.horizontal_kern(p, c, px).unwrap_or(0.0);
                }
                // fontdue rasterises at a sub-pixel offset through its own metrics only: round
                // the pen and let the bitmap carry the glyph's shape.
                let (m, cov) = f.rasterize(c, px);
                let passes: &[f32] = if bold > 0.0 { &[0.0, bold] } else { &[0.0] };
                for dx in passes {
                    let gx = (pen + dx).round() as i64 + i64::from(m.xmin);
                    let gy = y.round() as i64 - i64::from(m.ymin) - m.height as i64;
                    page.coverage(gx, gy, m.width, &cov, [ink]);
                }
                pen += m.advance_width + tracking;
                prev = Some(c);
            }
        }
        r => page.text_styled(
            &Text::new(fonts::face(font), px),
            x,
            y,
            text,
            [ink],
            bold,
            tracking,
            r == Raster::Binary,
        ),
    }
}

/// A face of `pool` with every glyph of `text` (the pool's first such face after a random
/// start; DejaVu Sans, which covers the whole alphabet, if none does).
fn face_for(rng: &mut ChaCha8Rng, pool: &[usize], text: &str) -> usize {
    let start = rng.random_range(0..pool.len());
    (0..pool.len())
        .map(|k| pool[(start + k) % pool.len()])
        .find(|&f| fonts::covers(f, text))
        .unwrap_or(0)
}

/// Renders free line `k` of timetable `index` (of `seed` in `domain`), which belongs to `split`.
pub fn render(seed: u64, domain: Domain, index: u32, k: u32, split: Split) -> TextLine {
    let mut r = rng(seed, domain, index, &format!("textline/{k}"));
    let heldout = split == Split::TestHeldout;
    let (kind, text) = text::line(&mut r, heldout);
    let role = match (domain, heldout) {
        (Domain::Shifted, _) => fonts::Role::Shifted,
        (_, true) => fonts::Role::Heldout,
        _ => fonts::Role::Train,
    };
    let font = face_for(&mut r, &fonts::with_role(role), &text);
    let raster = if heldout {
        Raster::Fontdue
    } else if r.random_bool(0.3) {
        Raster::Binary
    } else {
        Raster::Antialiased
    };
    // Size: x-height from ~6 to ~40 px (font size about twice that), log-uniform.
    let px = (r.random_range(12f32.ln()..80f32.ln())).exp();
    let tracking = px
        * if r.random_bool(0.3) {
            r.random_range(-0.04..0.15)
        } else {
            0.0
        };
    let bold = if r.random_bool(0.2) {
        px * r.random_range(0.02..0.06)
    } else {
        0.0
    };
    // Polarity and colours (grey levels): dark on light mostly, light on dark, mid-grey grounds.
    let (paper, ink) = match r.random_range(0..10) {
        0..=5 => (r.random_range(200.0..255.0), r.random_range(0.0..90.0)),
        6..=7 => (r.random_range(0.0..110.0), r.random_range(190.0..255.0)),
        _ => {
            let ground: f32 = r.random_range(90.0..200.0);
            let ink = if r.random_bool(0.5) {
                (ground - r.random_range(70.0..120.0)).max(0.0)
            } else {
                (ground + r.random_range(70.0..120.0)).min(255.0)
            };
            (ground, ink)
        }
    };
    let t = Text::new(fonts::face(font), px);
    let (asc, desc) = (t.ascent(), t.descent());
    let text_w = width(raster, font, px, &text, tracking) + bold;
    let line_h = asc + desc;
    // Margins: tight (a crop to the ink) to loose (a cell around it).
    let loose = r.random_bool(0.4);
    let mx = px
        * if loose {
            r.random_range(0.3..1.5)
        } else {
            r.random_range(0.02..0.3)
        };
    let my = line_h
        * if loose {
            r.random_range(0.2..0.8)
        } else {
            r.random_range(0.0..0.2)
        };
    let w = (text_w + 2.0 * mx).ceil().max(4.0) as usize;
    let h = (line_h + 2.0 * my).ceil().max(4.0) as usize;
    let mut page = Canvas::<1>::new(w, h, [paper]);
    let x = mx + r.random_range(0.0..1.0);
    let y = my + asc + r.random_range(0.0..1.0);
    draw(
        &mut page, raster, font, px, x, y, &text, ink, bold, tracking,
    );
    // What lies at the edges of a crop cut from a page: a cell border, the neighbouring lines.
    if r.random_bool(0.15) {
        let (other_kind, other) = text::line(&mut r, heldout);
        let _ = other_kind;
        let above = r.random_bool(0.5);
        let gap = line_h * r.random_range(0.9..1.3);
        let oy = if above { y - gap } else { y + gap };
        draw(
            &mut page, raster, font, px, x, oy, &other, ink, bold, tracking,
        );
    }
    if r.random_bool(0.2) {
        let rule = (px * r.random_range(0.04..0.12)).max(1.0).round() as i64;
        let (w, h) = (w as i64, h as i64);
        match r.random_range(0..4) {
            0 => page.fill(0, 0, w, rule, [ink]),
            1 => page.fill(0, h - rule, w, h, [ink]),
            2 => page.fill(0, 0, rule, h, [ink]),
            _ => page.fill(w - rule, 0, w, h, [ink]),
        }
    }
    let page = if r.random_bool(0.15) {
        page.shear(r.random_range(-0.25..0.25), [paper])
    } else {
        page
    };
    let mut page = if r.random_bool(0.2) {
        page.rotate(f64::from(r.random_range(-2.0f32..2.0)), [paper])
            .0
    } else {
        page
    };
    if r.random_bool(0.3) {
        page.blur(r.random_range(0.3..1.2) * (px / 24.0).max(0.5));
    }
    let noise = if r.random_bool(0.3) {
        r.random_range(2.0..14.0)
    } else {
        0.0
    };
    let mut img = match page.finish(noise, &mut r) {
        DynamicImage::ImageLuma8(g) => g,
        other => other.to_luma8(),
    };
    if r.random_bool(0.2) {
        let f = r.random_range(0.4..0.8);
        let (iw, ih) = (img.width(), img.height());
        let small = image::imageops::resize(
            &img,
            ((iw as f32 * f) as u32).max(1),
            ((ih as f32 * f) as u32).max(1),
            FilterType::Triangle,
        );
        img = image::imageops::resize(&small, iw, ih, FilterType::Triangle);
    }
    let png = if r.random_bool(0.25) {
        jpeg_round_trip(&img, r.random_range(25..90))
    } else {
        png(&DynamicImage::ImageLuma8(img))
    };
    TextLine {
        png,
        text,
        kind,
        font,
    }
}

/// `img` as a reader of a JPEG of it sees it (artefacts included), stored as PNG.
fn jpeg_round_trip(img: &GrayImage, quality: u8) -> Vec<u8> {
    let mut buf = Vec::new();
    JpegEncoder::new_with_quality(&mut buf, quality)
        .encode_image(img)
        .expect("encoding to memory cannot fail");
    let seen = image::load_from_memory_with_format(&buf, image::ImageFormat::Jpeg)
        .expect("the JPEG just written decodes");
    png(&DynamicImage::ImageLuma8(seen.to_luma8()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_drawn_by_the_split_s_faces_and_rasteriser() {
        let a = render(42, Domain::Default, 3, 0, Split::Train);
        let b = render(42, Domain::Default, 3, 0, Split::Train);
        assert_eq!((a.png, a.text), (b.png, b.text));
        for k in 0..40 {
            let l = render(42, Domain::Default, 5, k, Split::TestHeldout);
            assert_eq!(
                fonts::FONTS[l.font].role,
                fonts::Role::Heldout,
                "{}",
                l.text
            );
            let t = render(42, Domain::Default, 5, k, Split::Train);
            assert_eq!(fonts::FONTS[t.font].role, fonts::Role::Train, "{}", t.text);
            for l in [&l, &t] {
                let img = image::load_from_memory(&l.png).unwrap().to_luma8();
                assert!(img.width() >= 4 && img.height() >= 4);
                // Something is drawn: the image is not one flat grey.
                let (lo, hi) = img
                    .pixels()
                    .fold((255u8, 0u8), |(lo, hi), p| (lo.min(p.0[0]), hi.max(p.0[0])));
                assert!(hi - lo > 40, "{:?} looks blank", l.text);
            }
        }
    }
}
