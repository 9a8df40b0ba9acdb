//! Vectorisable `exp` and `erf` for the element-wise kernels of [`super::fused`] and
//! [`super::activations`].
//!
//! The standard library's `f32::exp` and candle's `erf` (libm) are scalar calls: a softmax over
//! attention scores or a GELU over a feed-forward layer spends most of its time in them, one
//! element at a time. These are branch-free polynomials (Cephes' `expf` after Cody–Waite range
//! reduction; Eigen's rational `erf`) that the compiler turns into SIMD. Each slice kernel is
//! compiled three times, for the baseline x86-64, AVX2 and AVX-512, and picked at run time: no
//! FMA contraction happens in any (Rust never fuses `a * b + c`), so all give the same bits —
//! training stays bit-for-bit deterministic on one machine whatever the CPU path.
//!
//! Row reductions (`sum`, `dot`, `max`, the sum of exponentials) accumulate in [`LANES`] fixed
//! partial sums combined in a fixed tree: a plain `for` loop adding into one `f32` cannot be
//! vectorised (float addition is not associative, and the compiler keeps the order), so a
//! softmax over 64 attention scores ran one element at a time. The order here is the same on
//! every path and every run, so the bits are too.
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

/// The widest kernel path this CPU runs: `avx512`, `avx2` or `baseline` (lab's element-wise
/// and row kernels; candle's matmuls, through gemm, pick the same way).
pub fn simd_path() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return "avx512";
        }
        if std::is_x86_feature_detected!("avx2") {
            return "avx2";
        }
    }
    "baseline"
}

/// Partial sums of the row reductions: one AVX-512 register, two AVX2 ones.
pub const LANES: usize = 16;

/// The lanes added in a fixed tree (16 → 8 → 4 → 2 → 1).
#[inline(always)]
fn fold(mut acc: [f32; LANES]) -> f32 {
    let mut w = LANES / 2;
    while w > 0 {
        for i in 0..w {
            acc[i] += acc[i + w];
        }
        w /= 2;
    }
    acc[0]
}

/// Σ f(i) over `0..n` in the fixed lane order: element i goes to lane i mod [`LANES`].
#[inline(always)]
fn lane_sum(n: usize, mut f: impl FnMut(usize) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let full = n - n % LANES;
    let mut i = 0;
    while i < full {
        for (l, a) in acc.iter_mut().enumerate() {
            *a += f(i + l);
        }
        i += LANES;
    }
    for (l, a) in acc.iter_mut().enumerate().take(n - full) {
        *a += f(full + l);
    }
    fold(acc)
}

/// Σ x, vectorisable, the same bits on every path.
#[inline(always)]
pub fn sum(x: &[f32]) -> f32 {
    lane_sum(x.len(), |i| x[i])
}

/// Σ a·b over the shorter length.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    lane_sum(n, |i| a[i] * b[i])
}

/// Σ (x − c)².
#[inline(always)]
pub fn sum_sq_dev(x: &[f32], c: f32) -> f32 {
    lane_sum(x.len(), |i| (x[i] - c) * (x[i] - c))
}

/// The largest element (−∞ for an empty slice).
#[inline(always)]
pub fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = a.max(v);
        }
    }
    for (a, &v) in acc.iter_mut().zip(chunks.remainder()) {
        *a = a.max(v);
    }
    acc.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

/// x ← e^(x − c) in place; returns Σ e^(x − c) (the softmax denominator).
#[inline(always)]
pub fn exp_shift_sum(x: &mut [f32], c: f32) -> f32 {
    let mut acc = [0f32; LANES];
    let mut chunks = x.chunks_exact_mut(LANES);
    for ch in &mut chunks {
        for (a, v) in acc.iter_mut().zip(ch.iter_mut()) {
            *v = exp(*v - c);
            *a += *v;
        }
    }
    for (a, v) in acc.iter_mut().zip(chunks.into_remainder()) {
        *v = exp(*v - c);
        *a += *v;
    }
    fold(acc)
}

/// Σ e^x, without writing.
#[inline(always)]
pub fn exp_sum(x: &[f32]) -> f32 {
    lane_sum(x.len(), |i| exp(x[i]))
}

/// Compiles `$body` (a closure-free function body over slices) for baseline x86-64, AVX2 and
/// AVX-512 and calls the best one the CPU has. Same bits either way (see the module doc).
macro_rules! simd_kernel {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),*) $body:block) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn generic($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) {
                    generic($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($arg: $ty),*) {
                    generic($($arg),*)
                }
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports AVX-512F (checked just above).
                    return unsafe { avx512($($arg),*) };
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
    fn reductions_match_f64_and_take_every_element() {
        for n in [0usize, 1, 5, 15, 16, 17, 64, 100, 1003] {
            let x: Vec<f32> = (0..n)
                .map(|i| ((i * 37) % 101) as f32 / 10.0 - 5.0)
                .collect();
            let y: Vec<f32> = (0..n)
                .map(|i| ((i * 53) % 89) as f32 / 20.0 - 2.0)
                .collect();
            let close = |a: f32, b: f64| (a as f64 - b).abs() <= 1e-4 * b.abs().max(1.0);
            assert!(close(sum(&x), x.iter().map(|&v| v as f64).sum()), "sum {n}");
            let d: f64 = x.iter().zip(&y).map(|(&a, &b)| a as f64 * b as f64).sum();
            assert!(close(dot(&x, &y), d), "dot {n}");
            let sq: f64 = x.iter().map(|&v| (v as f64 - 0.5).powi(2)).sum();
            assert!(close(sum_sq_dev(&x, 0.5), sq), "sum_sq_dev {n}");
            let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(max(&x), m, "max {n}");
            let es: f64 = x.iter().map(|&v| (v as f64 - 1.0).exp()).sum();
            assert!(close(
                exp_sum(&x.iter().map(|v| v - 1.0).collect::<Vec<_>>()),
                es
            ));
            let mut z = x.clone();
            assert!(close(exp_shift_sum(&mut z, 1.0), es), "exp_shift_sum {n}");
            for (a, &v) in z.iter().zip(&x) {
                assert_eq!(a.to_bits(), exp(v - 1.0).to_bits());
            }
        }
    }

    #[test]
    fn simd_and_scalar_paths_give_the_same_bits() {
        let xs: Vec<f32> = (0..1003).map(|i| (i as f32 - 500.0) * 0.173).collect();
        let mut v = xs.clone();
        exp_in_place(&mut v);
        for (a, x) in v.iter().zip(&xs) {
            assert_eq!(a.to_bits(), exp(*x).to_bits());
        }
        // The reductions: through a kernel (the CPU's widest path) and compiled for the
        // baseline here.
        simd_kernel! {
            fn reduce_all(x: &[f32], out: &mut [f32]) {
                out[0] = sum(x);
                out[1] = dot(x, x);
                out[2] = max(x);
                out[3] = exp_sum(x);
                out[4] = sum_sq_dev(x, 0.25);
            }
        }
        let xs: Vec<f32> = xs.iter().map(|v| v / 50.0).collect();
        let mut out = [0f32; 5];
        reduce_all(&xs, &mut out);
        let base = [
            sum(&xs),
            dot(&xs, &xs),
            max(&xs),
            exp_sum(&xs),
            sum_sq_dev(&xs, 0.25),
        ];
        for (a, b) in out.iter().zip(base) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
    }
}
