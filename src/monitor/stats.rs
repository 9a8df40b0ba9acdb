//! Drift statistics, pure: the population stability index (PSI) over bins cut at the
//! reference's deciles, and the two-sample Kolmogorov–Smirnov test (statistic and asymptotic
//! p-value). The tests compare with numbers computed once with numpy / scipy (the script is in
//! the test's comment).

use serde::Serialize;

/// PSI bins: cut at the reference's deciles.
pub const BINS: usize = 10;
/// The share given to an empty bin, so that the logarithm stays finite.
pub const EPSILON: f64 = 1e-4;
/// PSI below this: no drift.
pub const PSI_MODERATE: f64 = 0.1;
/// PSI above this: significant drift.
pub const PSI_SIGNIFICANT: f64 = 0.2;
/// KS p-values below this: the samples differ (drift).
pub const KS_ALPHA: f64 = 0.05;

/// The conventional reading of a PSI value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// PSI < 0.1.
    None,
    /// 0.1 ≤ PSI ≤ 0.2.
    Moderate,
    /// PSI > 0.2.
    Significant,
}

impl Level {
    pub fn of_psi(psi: f64) -> Level {
        if psi > PSI_SIGNIFICANT {
            Level::Significant
        } else if psi >= PSI_MODERATE {
            Level::Moderate
        } else {
            Level::None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Moderate => "moderate",
            Level::Significant => "significant",
        }
    }
}

pub use crate::stats::{quantile, sorted};

/// PSI bins: the reference's deciles, duplicates removed (a feature with few distinct values
/// has fewer bins). A value `x` falls in bin `i` = the number of edges below `x`, so bin 0 is
/// `(-∞, e0]` and the last `(e_last, ∞)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Bins {
    pub edges: Vec<f64>,
}

impl Bins {
    /// Edges at the 10%, 20%, … 90% quantiles of the (sorted) reference.
    pub fn from_reference(sorted_ref: &[f64]) -> Bins {
        let mut edges: Vec<f64> = (1..BINS)
            .map(|i| quantile(sorted_ref, i as f64 / BINS as f64))
            .filter(|e| !e.is_nan())
            .collect();
        edges.dedup();
        Bins { edges }
    }

    /// The bin of `x`.
    pub fn index(&self, x: f64) -> usize {
        self.edges.partition_point(|e| *e < x)
    }

    /// The share of `values` in each bin (zeros when there are no values).
    pub fn shares(&self, values: &[f64]) -> Vec<f64> {
        let mut counts = vec![0usize; self.edges.len() + 1];
        for &v in values {
            counts[self.index(v)] += 1;
        }
        let n = values.len().max(1) as f64;
        counts.into_iter().map(|c| c as f64 / n).collect()
    }
}

/// PSI = Σ (cur − ref) · ln(cur / ref) over bins, an empty bin's share taken as [`EPSILON`].
pub fn psi_of_shares(reference: &[f64], current: &[f64]) -> f64 {
    reference
        .iter()
        .zip(current)
        .map(|(&r, &c)| {
            let r = if r == 0.0 { EPSILON } else { r };
            let c = if c == 0.0 { EPSILON } else { c };
            (c - r) * (c / r).ln()
        })
        .sum()
}

/// PSI of `current` against a sorted reference, with bins from the reference's deciles.
pub fn psi(sorted_ref: &[f64], current: &[f64]) -> f64 {
    let bins = Bins::from_reference(sorted_ref);
    psi_of_shares(&bins.shares(sorted_ref), &bins.shares(current))
}

/// A two-sample Kolmogorov–Smirnov result.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Ks {
    /// The largest distance between the two empirical distribution functions.
    pub statistic: f64,
    /// The asymptotic two-sided p-value: Kolmogorov's limit distribution at √(nm/(n+m))·D
    /// (scipy's `kstwobign.sf`).
    pub p_value: f64,
}

impl Ks {
    /// The samples differ at the 5% level.
    pub fn drifted(&self) -> bool {
        self.p_value < KS_ALPHA
    }
}

/// The KS statistic of two sorted samples (0 when either is empty).
pub fn ks_statistic(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0usize, 0usize, 0f64);
    while i < a.len() && j < b.len() {
        // Step past every copy of the smaller value in both samples (ties move together).
        let x = if a[i].total_cmp(&b[j]).is_le() {
            a[i]
        } else {
            b[j]
        };
        while i < a.len() && a[i].total_cmp(&x).is_le() {
            i += 1;
        }
        while j < b.len() && b[j].total_cmp(&x).is_le() {
            j += 1;
        }
        d = d.max((i as f64 / n - j as f64 / m).abs());
    }
    d
}

/// Kolmogorov's survival function Q(λ) = 2 Σ_{k≥1} (−1)^(k−1) e^(−2k²λ²).
pub fn kolmogorov_sf(lambda: f64) -> f64 {
    if lambda.is_nan() {
        return f64::NAN;
    }
    if lambda < 0.27 {
        // The series converges slowly here and its value is 1 to double precision.
        return 1.0;
    }
    let mut sum = 0.0;
    for k in 1..=100 {
        let k = k as f64;
        let term = (-2.0 * k * k * lambda * lambda).exp();
        sum += if k as u64 % 2 == 1 { term } else { -term };
        if term < 1e-300 {
            break;
        }
    }
    (2.0 * sum).clamp(0.0, 1.0)
}

/// The two-sample KS test of two sorted samples.
pub fn ks(a: &[f64], b: &[f64]) -> Ks {
    let statistic = ks_statistic(a, b);
    if a.is_empty() || b.is_empty() {
        return Ks {
            statistic,
            p_value: 1.0,
        };
    }
    let (n, m) = (a.len() as f64, b.len() as f64);
    let en = n * m / (n + m);
    Ks {
        statistic,
        p_value: kolmogorov_sf(en.sqrt() * statistic),
    }
}

pub use crate::stats::percentile;

#[cfg(test)]
mod tests {
    use super::*;

    // The expected numbers come from numpy 2 / scipy 1.17:
    //
    //   def psi(ref, cur, eps=1e-4):
    //       edges = np.unique(np.quantile(ref, np.arange(1, 10) / 10))
    //       r = np.bincount(np.searchsorted(edges, ref, side='left'), minlength=len(edges)+1) / len(ref)
    //       c = np.bincount(np.searchsorted(edges, cur, side='left'), minlength=len(edges)+1) / len(cur)
    //       r = np.where(r == 0, eps, r); c = np.where(c == 0, eps, c)
    //       return np.sum((c - r) * np.log(c / r))
    //   ks = stats.ks_2samp(ref, cur).statistic
    //   p = stats.kstwobign.sf(np.sqrt(n*m/(n+m)) * ks)

    fn reference() -> Vec<f64> {
        (0..500)
            .map(|i| ((i * 7919) % 1000) as f64 / 10.0)
            .collect()
    }
    fn same() -> Vec<f64> {
        (0..300)
            .map(|i| ((i * 104729) % 1000) as f64 / 10.0)
            .collect()
    }
    fn shifted() -> Vec<f64> {
        same().iter().map(|x| x * 1.1 + 5.0).collect()
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-300)
    }

    #[test]
    fn deciles_match_numpy() {
        let bins = Bins::from_reference(&sorted(&reference()));
        let want = [
            9.870000000000003,
            19.88,
            30.169999999999998,
            40.28000000000001,
            50.25,
            60.17999999999999,
            70.33,
            79.76000000000002,
            89.91000000000001,
        ];
        assert_eq!(bins.edges.len(), 9);
        for (a, b) in bins.edges.iter().zip(want) {
            assert!(close(*a, b, 1e-12), "{a} vs {b}");
        }
    }

    #[test]
    fn psi_matches_numpy() {
        let r = sorted(&reference());
        for (cur, want) in [
            (same(), 0.0006669137449867223),
            (shifted(), 0.14691340077866072),
            (vec![42.0; 50], 8.283089355027482),
        ] {
            let got = psi(&r, &cur);
            assert!(close(got, want, 1e-9), "{got} vs {want}");
        }
        // Few distinct values (ties at the deciles) and a value the reference never had: its
        // bin is empty in the reference and takes EPSILON.
        let rd: Vec<f64> = (0..90).map(|i| (i % 3) as f64).collect();
        let cd: Vec<f64> = (0..80).map(|i| (i % 4) as f64).collect();
        let rd = sorted(&rd);
        assert_eq!(Bins::from_reference(&rd).edges, [0.0, 1.0, 2.0]);
        assert!(close(psi(&rd, &cd), 2.0271496162259326, 1e-9));
        assert_eq!(Level::of_psi(0.05), Level::None);
        assert_eq!(Level::of_psi(0.1), Level::Moderate);
        assert_eq!(Level::of_psi(0.2), Level::Moderate);
        assert_eq!(Level::of_psi(0.21), Level::Significant);
    }

    #[test]
    fn ks_matches_scipy() {
        let r = sorted(&reference());
        for (cur, d, p) in [
            (same(), 0.01, 1.0),
            (shifted(), 0.14066666666666666, 0.0011980985910313028),
            (vec![42.0; 50], 0.58, 1.0459600875161192e-13),
        ] {
            let k = ks(&r, &sorted(&cur));
            assert!(close(k.statistic, d, 1e-12), "{} vs {d}", k.statistic);
            assert!(close(k.p_value, p, 1e-9), "{} vs {p}", k.p_value);
        }
        let rd = sorted(&(0..90).map(|i| (i % 3) as f64).collect::<Vec<_>>());
        let cd = sorted(&(0..80).map(|i| (i % 4) as f64).collect::<Vec<_>>());
        let k = ks(&rd, &cd);
        assert!(close(k.statistic, 0.25, 1e-12));
        assert!(close(k.p_value, 0.010042084235520088, 1e-9));
        assert!(k.drifted());
        assert!(!ks(&r, &sorted(&same())).drifted());
    }

    #[test]
    fn kolmogorov_sf_matches_scipy() {
        for (x, want) in [
            (0.5, 0.9639452436648751),
            (1.0, 0.26999967167735456),
            (1.36, 0.049485876755377876),
            (2.0, 0.0006709252557796953),
            (3.0, 3.045995948942526e-08),
        ] {
            let got = kolmogorov_sf(x);
            assert!(close(got, want, 1e-9), "Q({x}) = {got}, scipy {want}");
        }
        assert!(close(kolmogorov_sf(0.2), 0.999999999999495, 1e-12));
    }

    #[test]
    fn quantiles_and_edge_cases() {
        assert!(quantile(&[], 0.5).is_nan());
        assert_eq!(quantile(&[3.0], 0.9), 3.0);
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        assert_eq!(percentile(&[4.0, 1.0, 3.0, 2.0], 1.0), 4.0);
        assert_eq!(ks(&[], &[1.0]).p_value, 1.0);
        assert_eq!(psi(&[1.0, 1.0], &[1.0]), 0.0);
    }
}
