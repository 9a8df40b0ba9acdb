//! Line images as model input: decode, grey, normalise and crop to the ink (`ink`), scale to the model's height,
//! and batch into padded tensors. Batches are drawn in a seeded order that groups lines of
//! similar width (less padding, same result on every run).

use candle_core::{Device, Result as CResult, Tensor};
use image::imageops::FilterType;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::ocr::OcrConfig;

/// Lines wider than this (after scaling to the model's height) are squeezed to it.
pub const MAX_WIDTH: usize = 800;

/// One preprocessed line: `height × width` grey pixels, 0 = ink, 255 = paper.
#[derive(Clone, Debug)]
pub struct Line {
    pub pixels: Vec<u8>,
    pub width: usize,
}

/// Why an image cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("not a readable image ({0}) — expected a PNG or JPEG")]
    Decode(String),
    #[error("the image is empty ({0}×{1} pixels)")]
    Empty(u32, u32),
    #[error(
        "the image is {0}×{1} pixels, too large for a line of text — crop the line, or give \
         a whole timetable to `lab extract`"
    )]
    TooLarge(u32, u32),
}

/// The most pixels a line image may have (a whole page at 300 dpi is about 9 million): past
/// this, decoding alone would cost more than reading the line is worth.
pub const MAX_PIXELS: u64 = 40_000_000;

/// Decodes and preprocesses an encoded image (PNG, JPEG) of one text line. The size is read
/// from the header first, so a decompression bomb is refused before it is decoded.
pub fn load(bytes: &[u8], height: usize) -> Result<Line, LineError> {
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| LineError::Decode(e.to_string()))?;
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| LineError::Decode(e.to_string()))?;
    if w == 0 || h == 0 {
        return Err(LineError::Empty(w, h));
    }
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(LineError::TooLarge(w, h));
    }
    let img = image::load_from_memory(bytes).map_err(|e| LineError::Decode(e.to_string()))?;
    Ok(prepare(&img.to_luma8(), height))
}

/// The model's input from a grey line image: polarity and contrast normalised and the line
/// cropped to its ink with a fixed margin (`ink::crop_to_ink`), then scaled to `height`
/// (keeping the aspect ratio, width a multiple of the model's stride, at most [`MAX_WIDTH`]).
pub fn prepare(grey: &image::GrayImage, height: usize) -> Line {
    let cropped = super::ink::crop_to_ink(grey);
    let (w, h) = (cropped.width() as usize, cropped.height() as usize);
    let stride = OcrConfig::WIDTH_STRIDE;
    let nw = ((w * height) as f64 / h as f64).round() as usize;
    let nw = nw.clamp(stride, MAX_WIDTH);
    let scaled = image::imageops::resize(&cropped, nw as u32, height as u32, FilterType::Triangle);
    let mut px = scaled.into_raw();
    let padded = nw.div_ceil(stride) * stride;
    if padded != nw {
        let mut out = vec![255u8; height * padded];
        for r in 0..height {
            out[r * padded..r * padded + nw].copy_from_slice(&px[r * nw..(r + 1) * nw]);
        }
        px = out;
    }
    Line {
        pixels: px,
        width: padded,
    }
}

/// A degraded copy of a training line, drawn from `rng`: each with probability `p`, a loss of
/// resolution (scaled down to 45–90% and back: blur), additive noise, and fainter ink. Teaches
/// the model the degradations of scans and of the shifted domain without rendering more data.
pub fn augment(line: &Line, height: usize, p: f64, rng: &mut ChaCha8Rng) -> Line {
    use rand::Rng;
    let w = line.width;
    let mut px = line.pixels.clone();
    if rng.random_bool(p) {
        let f: f64 = rng.random_range(0.45..0.9);
        let img = image::GrayImage::from_raw(w as u32, height as u32, px).expect("line size");
        let sw = ((w as f64 * f).round() as u32).max(1);
        let sh = ((height as f64 * f).round() as u32).max(1);
        let small = image::imageops::resize(&img, sw, sh, FilterType::Triangle);
        px = image::imageops::resize(&small, w as u32, height as u32, FilterType::Triangle)
            .into_raw();
    }
    if rng.random_bool(p) {
        let c: f32 = rng.random_range(0.55..1.0);
        for v in px.iter_mut() {
            *v = (255.0 - (255.0 - *v as f32) * c).round() as u8;
        }
    }
    if rng.random_bool(p) {
        let sigma: f32 = rng.random_range(4.0..28.0);
        for v in px.iter_mut() {
            let n = (rng.random::<f32>() + rng.random::<f32>() - 1.0) * sigma * 1.7;
            *v = (*v as f32 + n).clamp(0.0, 255.0) as u8;
        }
    }
    Line {
        pixels: px,
        width: w,
    }
}

/// The augmentation stream of one training line in one epoch.
pub fn augment_rng(seed: u64, epoch: u64, index: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(
        seed ^ 0xa076_1d64_78bd_642f
            ^ epoch.wrapping_mul(0xe703_7ed1_a0b4_28db)
            ^ (index as u64).wrapping_mul(0x8ebc_6af0_9c88_c6e3),
    )
}

/// Stacks lines into a (B, 1, height, W) tensor in [0, 1], padded with paper to the widest.
pub fn batch(lines: &[&Line], height: usize, dev: &Device) -> CResult<(Tensor, Vec<usize>)> {
    let w = lines
        .iter()
        .map(|l| l.width)
        .max()
        .unwrap_or(OcrConfig::WIDTH_STRIDE);
    let mut v = vec![1f32; lines.len() * height * w];
    for (i, l) in lines.iter().enumerate() {
        for r in 0..height {
            let dst = &mut v[(i * height + r) * w..][..l.width];
            for (d, &s) in dst
                .iter_mut()
                .zip(&l.pixels[r * l.width..(r + 1) * l.width])
            {
                *d = s as f32 / 255.0;
            }
        }
    }
    let widths = lines.iter().map(|l| l.width).collect();
    Ok((
        Tensor::from_vec(v, (lines.len(), 1, height, w), dev)?,
        widths,
    ))
}

/// The batches of one epoch: indices shuffled by (seed, epoch), grouped in windows of 16
/// batches sorted by width so that a batch holds lines of similar width, then the batches
/// shuffled again. Every index appears exactly once.
pub fn epoch_batches(
    widths: &[usize],
    batch_size: usize,
    seed: u64,
    epoch: u64,
) -> Vec<Vec<usize>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ epoch.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut idx: Vec<usize> = (0..widths.len()).collect();
    idx.shuffle(&mut rng);
    let bs = batch_size.max(1);
    let mut batches = Vec::new();
    for window in idx.chunks(bs * 16) {
        let mut w = window.to_vec();
        w.sort_by_key(|&i| (widths[i], i));
        batches.extend(w.chunks(bs).map(<[usize]>::to_vec));
    }
    batches.shuffle(&mut rng);
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_scales_and_normalises_both_polarities() {
        // Dark text on light paper, and the same inverted: both come out dark-on-light.
        let mut g = image::GrayImage::from_pixel(60, 16, image::Luma([200]));
        for x in 10..20 {
            for y in 4..12 {
                g.put_pixel(x, y, image::Luma([40]));
            }
        }
        let a = prepare(&g, 32);
        assert_eq!(a.width % 4, 0);
        assert_eq!(a.pixels.len(), 32 * a.width);
        let mut inv = g.clone();
        image::imageops::invert(&mut inv);
        let b = prepare(&inv, 32);
        let worst = a
            .pixels
            .iter()
            .zip(&b.pixels)
            .map(|(x, y)| x.abs_diff(*y))
            .max();
        assert!(worst <= Some(3), "{worst:?}");
        assert_eq!(a.pixels[0], 255);
    }

    #[test]
    fn epoch_batches_cover_every_index_once_and_are_seeded() {
        let widths: Vec<usize> = (0..103).map(|i| (i * 37) % 200).collect();
        let a = epoch_batches(&widths, 8, 7, 0);
        let mut all: Vec<usize> = a.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (0..103).collect::<Vec<_>>());
        assert_eq!(a, epoch_batches(&widths, 8, 7, 0));
        assert_ne!(a, epoch_batches(&widths, 8, 7, 1));
    }

    #[test]
    fn augment_is_seeded_and_keeps_the_shape() {
        let l = Line {
            pixels: (0..32 * 40).map(|i| (i % 251) as u8).collect(),
            width: 40,
        };
        let a = augment(&l, 32, 1.0, &mut augment_rng(1, 0, 3));
        let b = augment(&l, 32, 1.0, &mut augment_rng(1, 0, 3));
        let c = augment(&l, 32, 1.0, &mut augment_rng(1, 1, 3));
        assert_eq!(a.pixels, b.pixels);
        assert_ne!(a.pixels, c.pixels);
        assert_eq!((a.width, a.pixels.len()), (40, 32 * 40));
        assert_eq!(
            augment(&l, 32, 0.0, &mut augment_rng(1, 0, 3)).pixels,
            l.pixels
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(matches!(
            load(b"not an image", 32),
            Err(LineError::Decode(_))
        ));
    }
}
