//! The one quantile: sorted copies, the linearly interpolated quantile (numpy's default,
//! "type 7") and the median, shared by evaluation latencies, benchmarks, monitoring and A/B
//! statistics. (The image code's medians of pixel values and run lengths are integer
//! histograms of their own, in `ml::layout`.)

/// Sorts a copy (NaN last, as `total_cmp` orders them).
pub fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// The `q` quantile (0..=1) of sorted values, linearly interpolated between order statistics.
/// NaN for no values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let h = (n - 1) as f64 * q.clamp(0.0, 1.0);
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
        }
    }
}

/// The `q` quantile of unsorted values (sorts a copy).
pub fn percentile(values: &[f64], q: f64) -> f64 {
    quantile(&sorted(values), q)
}

/// The median of unsorted values (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    percentile(values, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_type_7() {
        // numpy.quantile([1, 2, 3, 4], [0, .25, .5, .95, 1])
        let v = [4.0, 1.0, 3.0, 2.0];
        let s = sorted(&v);
        assert_eq!(quantile(&s, 0.0), 1.0);
        assert_eq!(quantile(&s, 0.25), 1.75);
        assert_eq!(median(&v), 2.5);
        assert!((quantile(&s, 0.95) - 3.85).abs() < 1e-12);
        assert_eq!(quantile(&s, 1.0), 4.0);
        assert_eq!(median(&[7.0]), 7.0);
        assert!(median(&[]).is_nan());
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    }
}
