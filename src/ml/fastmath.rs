//! Vectorisable `exp` and `erf` for the element-wise kernels of [`super::fused`] and
//! [`super::activations`].
//!
//! The standard library's `f32::exp` and candle's `erf` (libm) are scalar calls: a softmax over
//! attention scores or a GELU over a feed-forward layer spends most of its time in them, one
//! element at a time. These are branch-free polynomials (Cephes' `expf` after Cody–Waite range
//! reduction; Eigen's rational `erf`) that the compiler turns into SIMD. Each slice kernel is
//! compiled twice, for the baseline x86-64 and for AVX2, and picked at run time: no FMA
//! contraction happens in either (Rust never fuses `a * b + c`), so both give the same bits —
//! training stays bit-for-bit deterministic on one machine whatever the CPU path.
//! Accuracy against libm (tests below): `exp` relative error < 3e-7, `erf` absolute < 5e-7
//! (a few units in the last place).

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// 1.5 · 2²³: adding it rounds to the nearest integer, whose value sits in the low mantissa bits.
const MAGIC: f32 = 12_582_912.0;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// e^x for x up to 88.3 (clamped above: large and finite); exactly 0 below -87.3 (so a
/// masked attention score of -1e9 weighs nothing).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let under = x < -87.3;
    let x = x.clamp(-87.3, 88.3);
    let t = x * LOG2E + MAGIC;
    let n = t - MAGIC;
    let k = t.to_bits().wrapping_sub(MAGIC.to_bits()) as i32;
    let r = x - n * LN2_HI - n * LN2_LO;
    let z = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_2e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 0.166_666_65)
        * r
        + 0.5;
    let e = p * z + r + 1.0;
    let e = e * f32::from_bits(((k + 127) as u32) << 23);
    if under { 0.0 } else { e }
}

/// erf(x), Eigen's rational approximation on [-4, 4] (erf is ±1 to f32 precision beyond).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10 * x2 + 2.770_681_4e-8;
    p = p * x2 - 2.101_024e-6;
    p = p * x2 - 5.692_506_4e-5;
    p = p * x2 - 7.349_906_3e-4;
    p = p * x2 - 2.954_6e-3;
    p = p * x2 - 1.609_603_3e-2;
    p *= x;
    let mut q = -1.456_607_2e-5 * x2 - 2.133_740_6e-4;
    q = q * x2 - 1.682_827e-3;
    q = q * x2 - 7.373_329e-3;
    q = q * x2 - 1.426_474e-2;
    p / q
}

/// Compiles `$body` (a closure-free function body over slices) for baseline x86-64 and AVX2
/// and calls the best one the CPU has. Same bits either way (see the module doc).
macro_rules! simd_kernel {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),*) $body:block) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn generic($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($arg: $ty),*) {
                    generic($($arg),*)
                }
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2 (checked just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            generic($($arg),*)
        }
    };
}
pub(crate) use simd_kernel;

simd_kernel! {
    /// x ← e^x, element-wise.
    pub fn exp_in_place(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = exp(*v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm() {
        let mut worst = 0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (a, b) = (exp(x), x.exp());
            worst = worst.max(((a - b) / b).abs());
            x += 0.0137;
        }
        assert!(worst < 3e-7, "exp relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-1e9), 0.0);
        assert!(exp(1e30).is_finite());
    }

    #[test]
    fn erf_matches_libm() {
        let mut worst = 0f64;
        let mut x = -6.0f32;
        while x < 6.0 {
            let d = (erf(x) as f64 - libm_erf(x as f64)).abs();
            worst = worst.max(d);
            x += 0.001;
        }
        assert!(worst < 5e-7, "erf absolute error {worst}");
        assert_eq!(erf(0.0), 0.0);
    }

    /// erf in f64 by its series / continued fraction (no libm in std): Abramowitz–Stegun 7.1.5
    /// series for |x| < 3, else the asymptotic complement.
    fn libm_erf(x: f64) -> f64 {
        let a = x.abs();
        let v = if a < 3.0 {
            let mut term = a;
            let mut sum = a;
            let mut n = 0.0;
            loop {
                n += 1.0;
                term *= -a * a / n;
                let add = term / (2.0 * n + 1.0);
                sum += add;
                if add.abs() < 1e-17 {
                    break;
                }
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc(a) ≈ e^{-a²}/(a√π) · (1 − 1/(2a²) + 3/(4a⁴) − 15/(8a⁶))
            let a2 = a * a;
            let s = 1.0 - 1.0 / (2.0 * a2) + 3.0 / (4.0 * a2 * a2) - 15.0 / (8.0 * a2 * a2 * a2);
            1.0 - (-a2).exp() / (a * std::f64::consts::PI.sqrt()) * s
        };
        v.copysign(x)
    }

    #[test]
    fn simd_and_scalar_paths_give_the_same_bits() {
        let xs: Vec<f32> = (0..1003).map(|i| (i as f32 - 500.0) * 0.173).collect();
        let mut v = xs.clone();
        exp_in_place(&mut v);
        for (a, x) in v.iter().zip(&xs) {
            assert_eq!(a.to_bits(), exp(*x).to_bits());
        }
    }
}
