//! Simple input features of an image, recorded with every served inference and computed the
//! same way over a reference snapshot, so drift between the two can be measured
//! (`lab serve` records them; `lab monitor drift` compares them).
//!
//! All are cheap (one pass over the grey pixels) and scale-free where it matters: brightness
//! and contrast are in [0, 1], the aspect ratio is width / height.

use std::collections::BTreeMap;

use image::GrayImage;

/// The feature names, in the order they are computed.
pub const FEATURES: [&str; 6] = ["width", "height", "aspect", "brightness", "contrast", "ink"];

/// Width and height in pixels, aspect (width / height), brightness (mean grey / 255),
/// contrast (standard deviation of grey / 255) and ink (share of pixels darker than half the
/// mean brightness: text density).
pub fn image_features(img: &GrayImage) -> BTreeMap<String, f64> {
    let (w, h) = img.dimensions();
    let n = (w as f64 * h as f64).max(1.0);
    let (mut sum, mut sq) = (0f64, 0f64);
    for p in img.as_raw() {
        let v = *p as f64;
        sum += v;
        sq += v * v;
    }
    let mean = sum / n;
    let var = (sq / n - mean * mean).max(0.0);
    let cut = (mean / 2.0) as u8;
    let ink = img.as_raw().iter().filter(|p| **p < cut).count() as f64 / n;
    let values = [
        w as f64,
        h as f64,
        w as f64 / (h as f64).max(1.0),
        mean / 255.0,
        var.sqrt() / 255.0,
        ink,
    ];
    FEATURES
        .iter()
        .zip(values)
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_of_a_half_dark_image() {
        let img = GrayImage::from_fn(40, 10, |x, _| image::Luma([if x < 10 { 0 } else { 200 }]));
        let f = image_features(&img);
        assert_eq!(f["width"], 40.0);
        assert_eq!(f["height"], 10.0);
        assert_eq!(f["aspect"], 4.0);
        assert!((f["brightness"] - 150.0 / 255.0).abs() < 1e-9);
        // Values 0 (¼) and 200 (¾) around the mean 150: standard deviation √(150²·¼ + 50²·¾) = 86.6.
        assert!((f["contrast"] - 86.602_540_378 / 255.0).abs() < 1e-6);
        assert!((f["ink"] - 0.25).abs() < 1e-12);
        assert_eq!(f.len(), FEATURES.len());
    }
}
