//! The look of one timetable — font size rules, colours, shading, alignment, padding, page
//! size, and the degradations (rotation, blur, noise, lighting, JPEG) — drawn from its own
//! seeded stream. The two domains differ here only.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::Domain;
use super::canvas::Rgb;

/// The look of one timetable, drawn from its `style` stream.
pub struct Style {
    pub font: usize,
    pub paper: Rgb,
    pub ink: Rgb,
    pub rule: Rgb,
    pub header_fill: Option<Rgb>,
    pub time_fill: bool,
    pub stripe: Option<Rgb>,
    /// Pastel backgrounds per subject (hue offset).
    pub pastel: Option<f32>,
    pub rule_px: i64,
    pub outer_px: i64,
    pub bold_header: bool,
    pub bold_subject: bool,
    pub left: bool,
    pub top: bool,
    pub corner_label: bool,
    pub spacing: f32,
    pub pad_x: f32,
    pub pad_y: f32,
    pub stretch: f32,
    pub target_w: f32,
    pub fill: f32,
    /// Page margin as a share of the page width; the top and bottom one relative to it.
    pub margin: f32,
    pub margin_y: f32,
    /// The share of spare width the time column gets.
    pub first_share: f32,
    /// Direction of the lighting gradient (radians).
    pub light_angle: f32,
    pub rotation: f32,
    /// Blur: the gaussian's standard deviation as a share of the font size.
    pub blur: f32,
    pub noise: f32,
    pub lighting: f32,
    pub grey: bool,
    pub jpeg: Option<u8>,
}

fn jitter(rng: &mut ChaCha8Rng, c: [f32; 3], by: f32) -> Rgb {
    let d = rng.random_range(-by..=by);
    c.map(|v| (v + d + rng.random_range(-by..=by) * 0.5).clamp(0.0, 255.0))
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, xs: &[T]) -> T {
    xs[rng.random_range(0..xs.len())]
}

/// `a` moved towards `b` by `t` (0–1).
pub fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [0, 1, 2].map(|k| a[k] + (b[k] - a[k]) * t)
}

/// The luma of a colour (ITU-R BT.601 weights).
pub fn luma(c: Rgb) -> f32 {
    0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
}

fn grey_of(c: Rgb) -> Rgb {
    [luma(c); 3]
}

/// Draws the style of a timetable drawn with font `font` in `domain`.
pub fn style(rng: &mut ChaCha8Rng, domain: Domain, font: usize) -> Style {
    let shifted = domain == Domain::Shifted;
    let grey = rng.random_bool(if shifted { 0.2 } else { 0.5 });
    let (mut paper, mut ink) = if shifted {
        let paper = pick(
            rng,
            &[
                [238.0, 226.0, 204.0],
                [222.0, 232.0, 220.0],
                [230.0, 222.0, 236.0],
                [218.0, 218.0, 214.0],
                [240.0, 214.0, 214.0],
            ],
        );
        let ink = pick(
            rng,
            &[
                [92.0, 52.0, 30.0],
                [118.0, 22.0, 34.0],
                [24.0, 74.0, 44.0],
                [34.0, 36.0, 112.0],
                [78.0, 78.0, 78.0],
            ],
        );
        (jitter(rng, paper, 6.0), jitter(rng, ink, 12.0))
    } else {
        let paper = pick(
            rng,
            &[
                [252.0, 252.0, 252.0],
                [250.0, 246.0, 232.0],
                [238.0, 243.0, 250.0],
                [252.0, 250.0, 226.0],
                [240.0, 248.0, 240.0],
            ],
        );
        let ink = pick(
            rng,
            &[
                [16.0, 16.0, 16.0],
                [22.0, 32.0, 92.0],
                [58.0, 58.0, 58.0],
                [30.0, 30.0, 30.0],
                [66.0, 40.0, 22.0],
            ],
        );
        (jitter(rng, paper, 3.0), jitter(rng, ink, 10.0))
    };
    if grey {
        paper = grey_of(paper);
        ink = grey_of(ink);
    }
    let rule = match rng.random_range(0..3) {
        0 => ink,
        1 => mix(paper, ink, 0.6),
        _ => mix(paper, grey_of(ink), 0.8),
    };
    let header_fill = rng
        .random_bool(0.5)
        .then(|| mix(paper, ink, rng.random_range(0.08..0.2)));
    let pastel = (!grey && rng.random_bool(0.25)).then(|| rng.random_range(0.0..1.0));
    let stripe = (pastel.is_none() && rng.random_bool(0.2)).then(|| mix(paper, ink, 0.06));
    let rule_px = if rng.random_bool(0.75) { 1 } else { 2 };
    let jpeg = if shifted {
        Some(rng.random_range(35..=80))
    } else {
        rng.random_bool(0.35).then(|| rng.random_range(60..=95))
    };
    Style {
        font,
        paper,
        ink,
        rule,
        header_fill,
        time_fill: rng.random_bool(0.5),
        stripe,
        pastel,
        rule_px,
        outer_px: rule_px + rng.random_range(0..=2),
        bold_header: rng.random_bool(0.7),
        bold_subject: rng.random_bool(0.25),
        left: rng.random_bool(0.3),
        top: rng.random_bool(0.2),
        corner_label: rng.random_bool(0.5),
        spacing: rng.random_range(1.0..1.3),
        pad_x: rng.random_range(0.4..1.0),
        pad_y: rng.random_range(0.25..0.6),
        stretch: if rng.random_bool(0.5) {
            1.0
        } else {
            rng.random_range(1.0..1.5)
        },
        target_w: rng.random_range(600.0..1930.0),
        fill: rng.random_range(0.75..1.0),
        margin: rng.random_range(0.02..0.06),
        margin_y: rng.random_range(0.8..1.6),
        first_share: rng.random_range(0.0..0.15),
        light_angle: rng.random_range(0.0..std::f32::consts::TAU),
        rotation: if rng.random_bool(0.2) {
            0.0
        } else {
            rng.random_range(-2.0..2.0)
        },
        blur: match (shifted, rng.random_bool(0.5)) {
            (true, _) => rng.random_range(0.035..0.065),
            (false, true) => 0.0,
            (false, false) => rng.random_range(0.015..0.045),
        },
        lighting: if shifted {
            rng.random_range(0.05..0.2)
        } else {
            rng.random_range(0.0..0.06)
        },
        grey,
        jpeg,
        // Scans and photos (JPEG) are noisy; an exported page (PNG) rarely, and then a grey
        // scan (noisy colour PNGs would be large for little gain).
        noise: match (shifted, jpeg.is_some(), rng.random_range(0.0..1.0)) {
            (true, _, _) => rng.random_range(5.0..12.0),
            (false, true, p) if p < 0.7 => rng.random_range(2.0..7.0),
            (false, false, p) if grey && p < 0.3 => rng.random_range(1.0..4.0),
            _ => 0.0,
        },
    }
}

/// A soft background colour for a subject (stable within a timetable).
pub fn pastel(subject: &str, offset: f32) -> Rgb {
    let h = subject.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let hue = ((h % 360) as f32 / 360.0 + offset).fract() * 6.0;
    let x = 1.0 - ((hue % 2.0) - 1.0).abs();
    let (r, g, b) = match hue as u32 {
        0 => (1.0, x, 0.0),
        1 => (x, 1.0, 0.0),
        2 => (0.0, 1.0, x),
        3 => (0.0, x, 1.0),
        4 => (x, 0.0, 1.0),
        _ => (1.0, 0.0, x),
    };
    [r, g, b].map(|v| 215.0 + 40.0 * v)
}
