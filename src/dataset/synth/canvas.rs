//! A small floating-point RGB canvas and the few exact image operations the renderer needs that
//! the `image` crate lacks or does differently: antialiased TrueType text (rasterised by
//! `ab_glyph`), small-angle rotation with bilinear sampling onto a larger page, separable
//! gaussian blur, a lighting gradient, and additive noise from a seeded stream at quantisation.

use ab_glyph::{Font as _, FontRef, GlyphId, PxScale, ScaleFont, point};
use image::{DynamicImage, GrayImage, RgbImage};
use rand::RngCore;

/// An RGB colour, components 0–255.
pub type Rgb = [f32; 3];

/// Pixels as `f32` with `C` channels (1: grey, 3: RGB), row-major, values 0–255 (not clamped
/// until [`Canvas::finish`]). Grey pages are drawn in one channel, three times cheaper.
pub struct Canvas<const C: usize> {
    pub w: usize,
    pub h: usize,
    px: Vec<[f32; C]>,
}

/// A map from the coordinates of the canvas before a rotation to those after it.
#[derive(Clone, Copy, Debug)]
pub struct Affine {
    /// x' = a·x + b·y + c, y' = d·x + e·y + f
    m: [f64; 6],
}

impl Affine {
    pub const IDENTITY: Affine = Affine {
        m: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
    };

    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let m = &self.m;
        (m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5])
    }

    /// The pixel box `[x0, y0, x1, y1]` (x1, y1 exclusive) around the image of the rectangle
    /// `(x0, y0)–(x1, y1)`, clipped to a `w`×`h` image.
    pub fn map_box(&self, r: [f64; 4], w: usize, h: usize) -> [u32; 4] {
        let corners = [(r[0], r[1]), (r[2], r[1]), (r[0], r[3]), (r[2], r[3])];
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for (x, y) in corners {
            let (u, v) = self.apply(x, y);
            x0 = x0.min(u);
            y0 = y0.min(v);
            x1 = x1.max(u);
            y1 = y1.max(v);
        }
        let clip = |v: f64, max: usize| v.clamp(0.0, max as f64) as u32;
        [
            clip(x0.floor(), w),
            clip(y0.floor(), h),
            clip(x1.ceil(), w),
            clip(y1.ceil(), h),
        ]
    }
}

/// A colour as `C` channels: itself for RGB, its luma for grey.
pub fn tone<const C: usize>(c: Rgb) -> [f32; C] {
    let luma = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
    std::array::from_fn(|k| if C == 1 { luma } else { c[k] })
}

/// `floor` for values > -1 without a libm call.
#[inline]
fn floor_pos(v: f64) -> i64 {
    (v + 1.0) as i64 - 1
}

/// Rounds and clamps to a byte.
#[inline]
fn byte(v: f32) -> u8 {
    (v.clamp(0.0, 255.0) + 0.5) as u8
}

impl<const C: usize> Canvas<C> {
    pub fn new(w: usize, h: usize, paper: [f32; C]) -> Canvas<C> {
        Canvas {
            w,
            h,
            px: vec![paper; w * h],
        }
    }

    /// Fills the pixels `[x0, x1) × [y0, y1)` (clipped).
    pub fn fill(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: [f32; C]) {
        let cx = |v: i64| v.clamp(0, self.w as i64) as usize;
        let cy = |v: i64| v.clamp(0, self.h as i64) as usize;
        let (x0, x1, y0, y1) = (cx(x0), cx(x1), cy(y0), cy(y1));
        for y in y0..y1 {
            self.px[y * self.w + x0..y * self.w + x1].fill(c);
        }
    }

    #[inline]
    fn blend(&mut self, x: i64, y: i64, c: [f32; C], a: f32) {
        if x < 0 || y < 0 || x >= self.w as i64 || y >= self.h as i64 {
            return;
        }
        let a = a.clamp(0.0, 1.0);
        let p = &mut self.px[y as usize * self.w + x as usize];
        for k in 0..C {
            p[k] += (c[k] - p[k]) * a;
        }
    }

    /// Draws `text` with its pen starting at `x` on the baseline `y`. `bold` > 0 overstrikes
    /// each glyph that many pixels to the right (a faux bold).
    pub fn text(&mut self, t: &Text, x: f32, y: f32, text: &str, colour: [f32; C], bold: f32) {
        self.text_styled(t, x, y, text, colour, bold, 0.0, false);
    }

    /// [`Canvas::text`] with `tracking` extra pixels after every glyph (letter spacing, may
    /// be negative) and, when `binary`, each pixel fully inked or not (coverage ≥ ½): the
    /// aliased rendering of old office software and of hinted bitmap text.
    #[allow(clippy::too_many_arguments)]
    pub fn text_styled(
        &mut self,
        t: &Text,
        x: f32,
        y: f32,
        text: &str,
        colour: [f32; C],
        bold: f32,
        tracking: f32,
        binary: bool,
    ) {
        let scaled = t.face.as_scaled(t.scale);
        let mut pen = x;
        let mut prev: Option<GlyphId> = None;
        let passes: &[f32] = if bold > 0.0 { &[0.0, bold] } else { &[0.0] };
        for ch in text.chars() {
            let id = scaled.glyph_id(ch);
            if let Some(p) = prev {
                pen += scaled.kern(p, id);
            }
            for &dx in passes {
                let g = id.with_scale_and_position(t.scale, point(pen + dx, y));
                if let Some(o) = t.face.outline_glyph(g) {
                    let b = o.px_bounds();
                    let (bx, by) = (b.min.x as i64, b.min.y as i64);
                    o.draw(|gx, gy, cov| {
                        let a = if binary {
                            f32::from(u8::from(cov >= 0.5))
                        } else {
                            cov
                        };
                        self.blend(bx + gx as i64, by + gy as i64, colour, a)
                    });
                }
            }
            pen += scaled.h_advance(id) + tracking;
            prev = Some(id);
        }
    }

    /// Blends a coverage bitmap (`w` × `h` bytes, 255 = full) with its top-left corner at
    /// (`x0`, `y0`): how glyphs rasterised by another library are drawn.
    pub fn coverage(&mut self, x0: i64, y0: i64, w: usize, cov: &[u8], colour: [f32; C]) {
        for (i, &a) in cov.iter().enumerate() {
            if a > 0 {
                let (gx, gy) = ((i % w.max(1)) as i64, (i / w.max(1)) as i64);
                self.blend(x0 + gx, y0 + gy, colour, f32::from(a) / 255.0);
            }
        }
    }

    /// The canvas sheared horizontally: row `y` moves by `k · (y − h/2)` pixels (linear
    /// interpolation), onto a page widened to hold it, new pixels `paper`.
    pub fn shear(&self, k: f32, paper: [f32; C]) -> Canvas<C> {
        let half = self.h as f32 / 2.0;
        let extra = (k.abs() * half).ceil() as usize;
        let nw = self.w + 2 * extra;
        let mut out = Canvas::new(nw, self.h, paper);
        for y in 0..self.h {
            let shift = k * (y as f32 - half) + extra as f32;
            let src = &self.px[y * self.w..(y + 1) * self.w];
            for x in 0..nw {
                let sx = x as f32 - shift;
                let x0 = sx.floor();
                let f = sx - x0;
                let at = |i: f32| {
                    if i < 0.0 || i >= self.w as f32 {
                        paper
                    } else {
                        src[i as usize]
                    }
                };
                let (a, b) = (at(x0), at(x0 + 1.0));
                let o = &mut out.px[y * nw + x];
                for c in 0..C {
                    o[c] = a[c] + (b[c] - a[c]) * f;
                }
            }
        }
        out
    }

    /// The canvas rotated by `degrees` (counter-clockwise as seen) about its centre onto a page
    /// just large enough to hold it, the new corners filled with `paper`; bilinear sampling.
    /// Also returns the map from old to new coordinates.
    pub fn rotate(&self, degrees: f64, paper: [f32; C]) -> (Canvas<C>, Affine) {
        let (s, c) = (-degrees.to_radians()).sin_cos();
        let (w, h) = (self.w as f64, self.h as f64);
        let nw = (w * c.abs() + h * s.abs()).ceil() as usize;
        let nh = (w * s.abs() + h * c.abs()).ceil() as usize;
        let (cx, cy, ncx, ncy) = (w / 2.0, h / 2.0, nw as f64 / 2.0, nh as f64 / 2.0);
        // forward: p' = R (p - centre) + new centre; sampling uses the inverse, R^T.
        let fwd = Affine {
            m: [c, -s, ncx - c * cx + s * cy, s, c, ncy - s * cx - c * cy],
        };
        let mut out = Canvas::new(nw, nh, paper);
        let (sw, sh) = (self.w as i64, self.h as i64);
        let get = |x: i64, y: i64| -> [f32; C] {
            if x < 0 || y < 0 || x >= sw || y >= sh {
                paper
            } else {
                self.px[(y * sw + x) as usize]
            }
        };
        for j in 0..nh {
            let dy = j as f64 + 0.5 - ncy;
            let dx0 = 0.5 - ncx;
            // source position of pixel (0, j)'s centre, in pixel-index space; steps (c, -s).
            let (bx, by) = (s * dy + cx - 0.5, c * dy + cy - 0.5);
            let row = &mut out.px[j * nw..(j + 1) * nw];
            for (i, o) in row.iter_mut().enumerate() {
                let dx = dx0 + i as f64;
                let sx = c * dx + bx;
                let sy = -s * dx + by;
                if sx <= -1.0 || sy <= -1.0 || sx >= w || sy >= h {
                    continue;
                }
                let (x0, y0) = (floor_pos(sx), floor_pos(sy));
                let (fx, fy) = ((sx - x0 as f64) as f32, (sy - y0 as f64) as f32);
                let (p00, p10, p01, p11) = if x0 >= 0 && y0 >= 0 && x0 + 1 < sw && y0 + 1 < sh {
                    let k = (y0 * sw + x0) as usize;
                    let k2 = k + self.w;
                    (self.px[k], self.px[k + 1], self.px[k2], self.px[k2 + 1])
                } else {
                    (
                        get(x0, y0),
                        get(x0 + 1, y0),
                        get(x0, y0 + 1),
                        get(x0 + 1, y0 + 1),
                    )
                };
                for k in 0..C {
                    let top = p00[k] + (p10[k] - p00[k]) * fx;
                    let bot = p01[k] + (p11[k] - p01[k]) * fx;
                    o[k] = top + (bot - top) * fy;
                }
            }
        }
        (out, fwd)
    }

    /// Separable gaussian blur with standard deviation `sigma` pixels (edges clamped).
    pub fn blur(&mut self, sigma: f32) {
        if sigma < 0.05 {
            return;
        }
        let r = (sigma * 3.0).ceil() as usize;
        let mut k: Vec<f32> = (0..=2 * r)
            .map(|i| {
                let d = i as f32 - r as f32;
                (-(d * d) / (2.0 * sigma * sigma)).exp()
            })
            .collect();
        let sum: f32 = k.iter().sum();
        k.iter_mut().for_each(|v| *v /= sum);
        let (w, h) = (self.w, self.h);
        // Horizontal pass into a padded row, vertical pass over padded row indices.
        let mut tmp = vec![[0.0f32; C]; w * h];
        let mut line = vec![[0.0f32; C]; w + 2 * r];
        for y in 0..h {
            let row = &self.px[y * w..(y + 1) * w];
            line[..r].fill(row[0]);
            line[r..r + w].copy_from_slice(row);
            line[r + w..].fill(row[w - 1]);
            for (x, o) in tmp[y * w..(y + 1) * w].iter_mut().enumerate() {
                let mut acc = [0.0f32; C];
                for (p, kv) in line[x..x + 2 * r + 1].iter().zip(&k) {
                    for c in 0..C {
                        acc[c] += p[c] * kv;
                    }
                }
                *o = acc;
            }
        }
        for y in 0..h {
            let out = &mut self.px[y * w..(y + 1) * w];
            out.fill([0.0; C]);
            for (t, kv) in k.iter().enumerate() {
                let sy = (y + t).saturating_sub(r).min(h - 1);
                let src = &tmp[sy * w..(sy + 1) * w];
                for (o, p) in out.iter_mut().zip(src) {
                    for c in 0..C {
                        o[c] += p[c] * kv;
                    }
                }
            }
        }
    }

    /// Uneven lighting: darkens by up to `amount` (0–1) along a direction `angle` (radians).
    pub fn gradient(&mut self, amount: f32, angle: f32) {
        if amount <= 0.0 {
            return;
        }
        let (dx, dy) = (angle.cos(), angle.sin());
        let span = (self.w as f32 * dx.abs() + self.h as f32 * dy.abs()).max(1.0);
        let (cx, cy) = (self.w as f32 / 2.0, self.h as f32 / 2.0);
        for y in 0..self.h {
            let base = (y as f32 - cy) * dy / span + 0.5 - cx * dx / span;
            let step = dx / span;
            for (x, p) in self.px[y * self.w..(y + 1) * self.w].iter_mut().enumerate() {
                let t = base + x as f32 * step;
                let f = 1.0 - amount * t.clamp(0.0, 1.0);
                for v in p.iter_mut() {
                    *v *= f;
                }
            }
        }
    }

    /// Quantises to 8 bits, adding gaussian-like noise of standard deviation `sigma` (the same
    /// for every channel, like sensor luminance noise) drawn from `rng`.
    pub fn finish(&self, sigma: f32, rng: &mut impl RngCore) -> DynamicImage {
        let mut raw = Vec::with_capacity(self.px.len() * C);
        if sigma <= 0.0 {
            for p in &self.px {
                raw.extend(p.iter().map(|&v| byte(v)));
            }
        } else {
            for p in &self.px {
                // Irwin–Hall: four uniform bytes summed, centred, scaled to unit variance.
                let b = rng.next_u32().to_le_bytes();
                let s =
                    (u32::from(b[0]) + u32::from(b[1]) + u32::from(b[2]) + u32::from(b[3])) as f32;
                let n = (s - 510.0) * (sigma / 147.8);
                raw.extend(p.iter().map(|&v| byte(v + n)));
            }
        }
        let (w, h) = (self.w as u32, self.h as u32);
        if C == 1 {
            DynamicImage::ImageLuma8(GrayImage::from_raw(w, h, raw).expect("sized"))
        } else {
            DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, raw).expect("sized"))
        }
    }
}

/// A font at a size, with the metrics layout needs.
pub struct Text<'a> {
    pub face: &'a FontRef<'static>,
    pub scale: PxScale,
}

impl<'a> Text<'a> {
    pub fn new(face: &'a FontRef<'static>, px: f32) -> Text<'a> {
        Text {
            face,
            scale: PxScale::from(px),
        }
    }

    /// Distance from the baseline up to the top of the tallest glyphs.
    pub fn ascent(&self) -> f32 {
        self.face.as_scaled(self.scale).ascent()
    }

    /// Distance from the baseline down to the bottom of the lowest glyphs (positive).
    pub fn descent(&self) -> f32 {
        -self.face.as_scaled(self.scale).descent()
    }

    /// The advance width of `text` (with `bold` overstrike).
    pub fn width(&self, text: &str, bold: f32) -> f32 {
        let scaled = self.face.as_scaled(self.scale);
        let mut w = 0.0;
        let mut prev: Option<GlyphId> = None;
        for ch in text.chars() {
            let id = scaled.glyph_id(ch);
            if let Some(p) = prev {
                w += scaled.kern(p, id);
            }
            w += scaled.h_advance(id);
            prev = Some(id);
        }
        w + bold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_maps_the_centre_to_the_centre_and_keeps_the_page() {
        let c = Canvas::new(200, 100, [255.0; 3]);
        let (r, _) = c.rotate(1.5, [255.0; 3]);
        assert!(
            r.px.iter()
                .all(|p| p.iter().all(|&v| (v - 255.0).abs() < 1e-3))
        );
        let (r, m) = c.rotate(2.0, [255.0; 3]);
        assert!(r.w > 200 && r.h > 100 && r.w < 210 && r.h < 110);
        let (x, y) = m.apply(100.0, 50.0);
        assert!((x - r.w as f64 / 2.0).abs() < 1e-9 && (y - r.h as f64 / 2.0).abs() < 1e-9);
        let b = m.map_box([0.0, 0.0, 200.0, 100.0], r.w, r.h);
        assert_eq!(b, [0, 0, r.w as u32, r.h as u32]);
    }

    #[test]
    fn blur_keeps_a_flat_image_flat_and_spreads_a_dot() {
        let mut c = Canvas::new(20, 20, [100.0; 1]);
        c.blur(1.5);
        assert!(c.px.iter().all(|p| (p[0] - 100.0).abs() < 1e-3));
        let mut d = Canvas::new(21, 21, [0.0; 3]);
        d.fill(10, 10, 11, 11, [255.0, 0.0, 0.0]);
        d.blur(1.0);
        let total: f32 = d.px.iter().map(|p| p[0]).sum();
        assert!((total - 255.0).abs() < 0.5, "{total}");
        assert!(d.px[10 * 21 + 11][0] > 0.0);
    }
}
