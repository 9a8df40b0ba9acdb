//! The statistics of an A/B test, pure functions checked against scipy's numbers:
//!
//! - accuracy: a two-proportion z-test (pooled standard error, two-sided p-value) and the 95%
//!   Wald confidence interval of the difference B − A (unpooled standard error);
//! - latency: the Mann–Whitney U test (normal approximation with tie and continuity
//!   correction, scipy's `mannwhitneyu(x, y, method="asymptotic")`), and a seeded bootstrap
//!   95% interval of the difference of medians B − A;
//! - percentiles by linear interpolation (numpy's default).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// The 97.5th percentile of the standard normal distribution.
pub const Z_975: f64 = 1.959_963_984_540_054;

/// P(Z > z) for a standard normal Z.
pub fn norm_sf(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

/// A two-proportion z-test of successes `xa` of `na` (A) against `xb` of `nb` (B).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Proportions {
    pub pa: f64,
    pub pb: f64,
    /// pb − pa.
    pub diff: f64,
    pub z: f64,
    /// Two-sided.
    pub p_value: f64,
    /// 95% interval of pb − pa.
    pub ci: (f64, f64),
}

/// See [`Proportions`]; `None` when an arm has no trials.
pub fn two_proportion(xa: usize, na: usize, xb: usize, nb: usize) -> Option<Proportions> {
    if na == 0 || nb == 0 {
        return None;
    }
    let (na_f, nb_f) = (na as f64, nb as f64);
    let (pa, pb) = (xa as f64 / na_f, xb as f64 / nb_f);
    let pool = (xa + xb) as f64 / (na_f + nb_f);
    let se = (pool * (1.0 - pool) * (1.0 / na_f + 1.0 / nb_f)).sqrt();
    let diff = pb - pa;
    let (z, p_value) = if se > 0.0 {
        let z = diff / se;
        (z, (2.0 * norm_sf(z.abs())).min(1.0))
    } else {
        (0.0, 1.0)
    };
    let se_u = (pa * (1.0 - pa) / na_f + pb * (1.0 - pb) / nb_f).sqrt();
    Some(Proportions {
        pa,
        pb,
        diff,
        z,
        p_value,
        ci: (diff - Z_975 * se_u, diff + Z_975 * se_u),
    })
}

/// The Mann–Whitney U test of `x` against `y`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MannWhitney {
    /// U of `x` (scipy's statistic): the number of pairs with x > y, ties counting ½.
    pub u: f64,
    /// Two-sided.
    pub p_value: f64,
}

/// See [`MannWhitney`]; `None` when a sample is empty.
pub fn mann_whitney(x: &[f64], y: &[f64]) -> Option<MannWhitney> {
    let (n1, n2) = (x.len(), y.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let mut all: Vec<(f64, bool)> = x
        .iter()
        .map(|v| (*v, true))
        .chain(y.iter().map(|v| (*v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = all.len();
    // Mid-ranks of tied groups; Σ(t³ − t) for the variance.
    let (mut r1, mut ties) = (0f64, 0f64);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        ties += t * t * t - t;
        r1 += all[i..=j].iter().filter(|(_, in_x)| *in_x).count() as f64 * rank;
        i = j + 1;
    }
    let (f1, f2, nf) = (n1 as f64, n2 as f64, n as f64);
    let u1 = r1 - f1 * (f1 + 1.0) / 2.0;
    let u2 = f1 * f2 - u1;
    let mu = f1 * f2 / 2.0;
    let var = f1 * f2 / 12.0 * ((nf + 1.0) - ties / (nf * (nf - 1.0)).max(1.0));
    let p_value = if var > 0.0 {
        let z = (u1.max(u2) - mu - 0.5) / var.sqrt();
        (2.0 * norm_sf(z)).clamp(0.0, 1.0)
    } else {
        1.0
    };
    Some(MannWhitney { u: u1, p_value })
}

pub use crate::stats::{median, quantile, sorted};

/// The difference of medians median(b) − median(a) and its bootstrap 95% interval
/// (percentile method, `iters` resamples of both arms drawn from a ChaCha8 stream of `seed`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MedianDiff {
    pub diff: f64,
    pub ci: (f64, f64),
}

/// See [`MedianDiff`]; `None` when an arm is empty.
pub fn bootstrap_median_diff(a: &[f64], b: &[f64], seed: u64, iters: usize) -> Option<MedianDiff> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut buf_a = vec![0.0; a.len()];
    let mut buf_b = vec![0.0; b.len()];
    let mut diffs = Vec::with_capacity(iters);
    for _ in 0..iters.max(1) {
        for x in buf_a.iter_mut() {
            *x = a[rng.random_range(0..a.len())];
        }
        for x in buf_b.iter_mut() {
            *x = b[rng.random_range(0..b.len())];
        }
        diffs.push(median(&buf_b) - median(&buf_a));
    }
    diffs.sort_by(f64::total_cmp);
    Some(MedianDiff {
        diff: median(b) - median(a),
        ci: (quantile(&diffs, 0.025), quantile(&diffs, 0.975)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn normal_tail() {
        // scipy.stats.norm.sf(1.96), norm.sf(0), norm.sf(-1)
        assert!(close(norm_sf(1.96), 0.024_997_895_148_220_435, 1e-12));
        assert!(close(norm_sf(0.0), 0.5, 1e-15));
        assert!(close(norm_sf(-1.0), 0.841_344_746_068_542_9, 1e-12));
    }

    #[test]
    fn two_proportion_z_test_matches_reference() {
        // A: 45/100, B: 60/100 (computed once with scipy 1.x: norm.sf for the p-value, norm.ppf(0.975)).
        let t = two_proportion(45, 100, 60, 100).unwrap();
        assert!(close(t.diff, 0.15, 1e-12));
        assert!(close(t.z, 2.123_976_976_214_365_7, 1e-9), "{t:?}");
        assert!(close(t.p_value, 0.033_672_068_856_345_855, 1e-9), "{t:?}");
        assert!(close(t.ci.0, 0.013_152_962_213_704_211, 1e-9), "{t:?}");
        assert!(close(t.ci.1, 0.286_847_037_786_295_7, 1e-9), "{t:?}");
        // Everything right on both sides: no evidence either way.
        let same = two_proportion(10, 10, 20, 20).unwrap();
        assert_eq!((same.z, same.p_value), (0.0, 1.0));
        assert!(two_proportion(0, 0, 1, 2).is_none());
    }

    #[test]
    fn mann_whitney_matches_scipy_with_ties() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        let y = [
            3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 13.0,
        ];
        let m = mann_whitney(&x, &y).unwrap();
        // scipy.stats.mannwhitneyu(x, y, method="asymptotic")
        assert!(close(m.u, 32.0, 1e-12), "{m:?}");
        assert!(close(m.p_value, 0.069_076_145_496_625_14, 1e-9), "{m:?}");
        let same = mann_whitney(&[1.0, 1.0], &[1.0, 1.0]).unwrap();
        assert_eq!(same.p_value, 1.0);
    }

    #[test]
    fn quantiles_and_bootstrap() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 2.5);
        assert!(close(quantile(&v, 0.95), 3.85, 1e-12));
        let a: Vec<f64> = (0..50).map(|i| 10.0 + (i % 7) as f64).collect();
        let b: Vec<f64> = (0..50).map(|i| 15.0 + (i % 5) as f64).collect();
        let d = bootstrap_median_diff(&a, &b, 3, 500).unwrap();
        assert_eq!(d.diff, 17.0 - 13.0);
        assert!(d.ci.0 <= d.diff && d.diff <= d.ci.1, "{d:?}");
        assert_eq!(d, bootstrap_median_diff(&a, &b, 3, 500).unwrap(), "seeded");
    }
}
