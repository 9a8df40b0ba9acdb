//! Grey conversion, the noise level, the skew angle and the rotation that levels the page.
//!
//! The skew is the angle whose row projection of the dark pixels has the largest variance
//! (rules and text lines pile up in few rows when level): a coarse search over ±3° on a
//! quarter of the points with 2-px bins, then a fine one around the best with 1-px bins and
//! a parabola through the top three scores. Dark means darker than the local paper (the
//! brightest 8×8 block mean nearby) by more than the noise allows, so lighting gradients and
//! tinted paper do not matter.

use image::{DynamicImage, GrayImage};

/// BT.601 luma, the grey the training crops were cut in (`synth::render::grey_crop`).
pub fn grey(img: &DynamicImage) -> GrayImage {
    let rgb_to_grey = |rgb: &image::RgbImage| {
        let px = rgb
            .as_raw()
            .chunks_exact(3)
            .map(|p| {
                let [r, g, b] = [p[0], p[1], p[2]].map(u32::from);
                ((77 * r + 150 * g + 29 * b + 128) >> 8) as u8
            })
            .collect();
        GrayImage::from_raw(rgb.width(), rgb.height(), px).expect("size matches")
    };
    match img {
        DynamicImage::ImageLuma8(g) => g.clone(),
        DynamicImage::ImageRgb8(rgb) => rgb_to_grey(rgb),
        DynamicImage::ImageLuma16(_) | DynamicImage::ImageLumaA8(_) => img.to_luma8(),
        other => rgb_to_grey(&other.to_rgb8()),
    }
}

/// The standard deviation of the pixel noise, from the median absolute difference of
/// horizontal neighbours (text edges are too few to move the median).
pub fn noise_sigma(g: &GrayImage) -> f32 {
    let (w, h) = (g.width() as usize, g.height() as usize);
    let px = g.as_raw();
    let mut hist = [0u64; 256];
    for y in (0..h).step_by(4) {
        let row = &px[y * w..(y + 1) * w];
        for pair in row.windows(2) {
            hist[pair[0].abs_diff(pair[1]) as usize] += 1;
        }
    }
    let n: u64 = hist.iter().sum();
    let (mut acc, mut med) = (0u64, 0usize);
    for (v, &c) in hist.iter().enumerate() {
        acc += c;
        if 2 * acc >= n {
            med = v;
            break;
        }
    }
    // For the difference of two N(0, σ²) pixels the median of |d| is 0.6745·√2·σ.
    med as f32 / (0.6745 * std::f32::consts::SQRT_2)
}

/// The skew of the page in degrees, counter-clockwise positive; 0 when nothing is dark.
pub fn skew_deg(g: &GrayImage, sigma: f32) -> f32 {
    let pts = dark_points(g, sigma);
    if pts.len() < 50 {
        return 0.0;
    }
    let (w, h) = (g.width() as f32, g.height() as f32);
    let coarse: Vec<(f32, f32)> = pts.iter().step_by(4).copied().collect();
    let best = |pts: &[(f32, f32)], angles: &[f32], bin: f32| -> (usize, Vec<f64>) {
        let scores: Vec<f64> = angles
            .iter()
            .map(|&a| score(pts, a.to_radians().tan(), bin, w, h))
            .collect();
        let i = (0..scores.len())
            .max_by(|&i, &j| scores[i].total_cmp(&scores[j]))
            .expect("angles are not empty");
        (i, scores)
    };
    let angles: Vec<f32> = (-15..=15).map(|k| k as f32 * 0.2).collect();
    let (i, _) = best(&coarse, &angles, 2.0);
    let centre = angles[i];
    let step = 0.02;
    let fine: Vec<f32> = (-12..=12).map(|k| centre + k as f32 * step).collect();
    let (j, s) = best(&pts, &fine, 1.0);
    let mut a = fine[j];
    if j > 0 && j + 1 < s.len() {
        // Vertex of the parabola through the best score and its neighbours.
        let (l, c, r) = (s[j - 1], s[j], s[j + 1]);
        let d = l - 2.0 * c + r;
        if d < 0.0 {
            a += step * (0.5 * (l - r) / d) as f32;
        }
    }
    a
}

/// Half the dark pixels (a checkerboard), as (x − w/2, y).
fn dark_points(g: &GrayImage, sigma: f32) -> Vec<(f32, f32)> {
    const B: usize = 8;
    let (w, h) = (g.width() as usize, g.height() as usize);
    let (bw, bh) = (w.div_ceil(B), h.div_ceil(B));
    let px = g.as_raw();
    let mut sums = vec![0u32; bw * bh];
    let mut counts = vec![0u32; bw * bh];
    for y in 0..h {
        let row = &px[y * w..(y + 1) * w];
        let base = (y / B) * bw;
        for (b, chunk) in row.chunks(B).enumerate() {
            sums[base + b] += chunk.iter().map(|&p| u32::from(p)).sum::<u32>();
            counts[base + b] += chunk.len() as u32;
        }
    }
    let means: Vec<u8> = sums
        .iter()
        .zip(&counts)
        .map(|(s, c)| (s / c) as u8)
        .collect();
    // The paper: the brightest block mean within two blocks.
    let mut paper = vec![0u8; bw * bh];
    for by in 0..bh {
        for bx in 0..bw {
            let mut m = 0;
            for yy in by.saturating_sub(2)..(by + 3).min(bh) {
                for xx in bx.saturating_sub(2)..(bx + 3).min(bw) {
                    m = m.max(means[yy * bw + xx]);
                }
            }
            paper[by * bw + bx] = m;
        }
    }
    let thr = (3.0 * sigma).max(24.0) as i32;
    let cx = w as f32 / 2.0;
    let mut pts = Vec::new();
    for y in 0..h {
        let row = &px[y * w..(y + 1) * w];
        let prow = &paper[(y / B) * bw..(y / B + 1) * bw];
        // A checkerboard: half the pixels, every row (skipping rows would alias the bins).
        for (b, chunk) in row.chunks(B).enumerate() {
            let limit = i32::from(prow[b]) - thr;
            for i in (y % 2..chunk.len()).step_by(2) {
                if i32::from(chunk[i]) < limit {
                    pts.push(((b * B + i) as f32 - cx, y as f32));
                }
            }
        }
    }
    // Enough points for the projection; more only cost time.
    let keep = pts.len().div_ceil(40_000);
    if keep > 1 {
        pts = pts.into_iter().step_by(keep).collect();
    }
    pts
}

/// Sum of squared bin counts of the projection along slope `tan` (CCW angle: a level line
/// of the skewed page is y = y0 − x·tan).
fn score(pts: &[(f32, f32)], tan: f32, bin: f32, w: f32, h: f32) -> f64 {
    let off = (w / 2.0 * tan.abs()) + 2.0;
    let n = ((h + 2.0 * off) / bin) as usize + 2;
    // Each point split between its two nearest bins, so the score is smooth in the angle.
    let mut bins = vec![0f32; n + 1];
    for &(x, y) in pts {
        let v = (y + x * tan + off) / bin;
        let k = v as usize;
        let f = v - k as f32;
        if k + 1 < bins.len() {
            bins[k] += 1.0 - f;
            bins[k + 1] += f;
        }
    }
    bins.iter().map(|&c| f64::from(c) * f64::from(c)).sum()
}

/// The rotation by `angle` degrees (CCW) about the image centre that levels the page, and
/// its map from the levelled image back to the given one.
pub struct Rotation {
    cos: f32,
    sin: f32,
    w: u32,
    h: u32,
}

impl Rotation {
    pub fn new(angle_deg: f32, w: u32, h: u32) -> Rotation {
        let (sin, cos) = angle_deg.to_radians().sin_cos();
        Rotation { cos, sin, w, h }
    }

    /// Whether rotating would move no pixel by more than a tenth of a pixel.
    pub fn is_identity(&self) -> bool {
        self.sin.abs() * (self.w.max(self.h) as f32) < 0.1
    }

    /// Where the levelled point (x, y) (continuous, pixel edges at integers) lies in the
    /// given image.
    fn source(&self, x: f32, y: f32) -> (f32, f32) {
        let (cx, cy) = (self.w as f32 / 2.0, self.h as f32 / 2.0);
        let (dx, dy) = (x - cx, y - cy);
        (
            cx + self.cos * dx + self.sin * dy,
            cy - self.sin * dx + self.cos * dy,
        )
    }

    /// The levelled image: same size and centre, bilinear, outside filled with the median.
    pub fn apply(&self, g: &GrayImage) -> GrayImage {
        let fill = median(g);
        let (w, h) = (self.w as usize, self.h as usize);
        let src = g.as_raw();
        let mut out = vec![fill; w * h];
        // Fixed point, 16 fractional bits; weights of 8 bits.
        const ONE: f32 = 65536.0;
        let (dx, dy) = ((self.cos * ONE) as i64, (-self.sin * ONE) as i64);
        let (xmax, ymax) = (((w - 1) as i64) << 16, ((h - 1) as i64) << 16);
        for (j, row) in out.chunks_exact_mut(w).enumerate() {
            // Source of pixel (0, j)'s centre in pixel-index space, and its step per pixel.
            let (sx0, sy0) = self.source(0.5, j as f32 + 0.5);
            let (mut sx, mut sy) = (((sx0 - 0.5) * ONE) as i64, ((sy0 - 0.5) * ONE) as i64);
            for o in row.iter_mut() {
                if sx >= 0 && sy >= 0 && sx < xmax && sy < ymax {
                    let (x0, y0) = ((sx >> 16) as usize, (sy >> 16) as usize);
                    let (fx, fy) = (((sx >> 8) & 255) as i32, ((sy >> 8) & 255) as i32);
                    let k = y0 * w + x0;
                    let (a, b) = (i32::from(src[k]), i32::from(src[k + 1]));
                    let (c, d) = (i32::from(src[k + w]), i32::from(src[k + w + 1]));
                    let top = (a << 8) + (b - a) * fx;
                    let bot = (c << 8) + (d - c) * fx;
                    *o = (((top << 8) + (bot - top) * fy + (1 << 15)) >> 16) as u8;
                }
                sx += dx;
                sy += dy;
            }
        }
        GrayImage::from_raw(self.w, self.h, out).expect("size matches")
    }

    /// The axis-aligned box in the given image around the levelled box `b` (exclusive ends),
    /// clipped to the image.
    pub fn to_source(&self, b: [u32; 4]) -> [u32; 4] {
        let [x0, y0, x1, y1] = b.map(|v| v as f32);
        let corners = [(x0, y0), (x1, y0), (x0, y1), (x1, y1)].map(|(x, y)| self.source(x, y));
        let (mut lx, mut ly, mut hx, mut hy) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for (x, y) in corners {
            (lx, ly, hx, hy) = (lx.min(x), ly.min(y), hx.max(x), hy.max(y));
        }
        let clip = |v: f32, max: u32| v.round().clamp(0.0, max as f32) as u32;
        [
            clip(lx, self.w),
            clip(ly, self.h),
            clip(hx, self.w),
            clip(hy, self.h),
        ]
    }
}

/// The median grey value.
fn median(g: &GrayImage) -> u8 {
    let mut hist = [0u64; 256];
    for &p in g.as_raw() {
        hist[p as usize] += 1;
    }
    let n: u64 = hist.iter().sum();
    let mut acc = 0;
    for (v, &c) in hist.iter().enumerate() {
        acc += c;
        if 2 * acc >= n {
            return v as u8;
        }
    }
    255
}
