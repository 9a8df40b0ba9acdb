//! Monitoring, pure: drift statistics ([`stats`]: PSI and the two-sample KS test), the rules of
//! `configs/monitoring.toml` ([`rules`]), the metrics a rule watches over a window of recorded
//! inferences and feedback ([`window`]), and the alert state machine ([`alerts`]: raise once
//! when a rule starts firing, resolve once when it stops).
//!
//! Nothing here reads the log or the clock: `commands::monitor` reads the window's records
//! from the store's views, feeds them through these functions, and appends what
//! [`alerts::decide`] returns inside the write transaction.

pub mod alerts;
pub mod rules;
pub mod stats;
pub mod window;

use std::collections::BTreeMap;

/// The input features of an encoded image (PNG, JPEG), as served inferences record them:
/// the image decoded, turned grey, then [`crate::ml::features::image_features`]. Returns the
/// grey image too, for the model to read.
pub fn features_of_encoded(
    bytes: &[u8],
) -> Result<(image::GrayImage, BTreeMap<String, f64>), String> {
    let img = image::load_from_memory(bytes).map_err(|e| e.to_string())?;
    if img.width() == 0 || img.height() == 0 {
        return Err(format!(
            "the image is empty ({}×{})",
            img.width(),
            img.height()
        ));
    }
    let grey = img.to_luma8();
    let f = crate::ml::features::image_features(&grey);
    Ok((grey, f))
}
