//! GELU, SwiGLU's silu(gate)·up and log-softmax as candle custom ops with their own backward pass, on the vectorised
//! `erf`/`exp` of [`super::fastmath`].
//!
//! candle's `gelu_erf` calls libm's `erff` per element and its backward is nine more tensor
//! ops (each a pass and an allocation); `log_softmax` is six ops forward. These are one pass
//! each way. Checked against candle's compositions, forward and backward, in the tests below.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor, bail};

use super::fastmath::{self, simd_kernel};
use super::fused::{slice, vec_of};

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1 / √(2π)
const INV_SQRT_2PI: f32 = 0.398_942_3;

simd_kernel! {
    fn gelu_fwd(x: &[f32], y: &mut [f32]) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = 0.5 * x * (1.0 + fastmath::erf(x * FRAC_1_SQRT_2));
        }
    }
}

simd_kernel! {
    /// dx = g · (Φ(x) + x·φ(x)).
    fn gelu_bwd(x: &[f32], g: &[f32], dx: &mut [f32]) {
        for ((d, &x), &g) in dx.iter_mut().zip(x).zip(g) {
            let cdf = 0.5 * (1.0 + fastmath::erf(x * FRAC_1_SQRT_2));
            let pdf = INV_SQRT_2PI * fastmath::exp(-0.5 * x * x);
            *d = g * (cdf + x * pdf);
        }
    }
}

struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "lab-gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l, "gelu")?;
        let mut y = vec![0f32; x.len()];
        gelu_fwd(x, &mut y);
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (xv, gv) = (vec_of(x)?, vec_of(grad)?);
        let mut dx = vec![0f32; xv.len()];
        gelu_bwd(&xv, &gv, &mut dx);
        Ok(Some(Tensor::from_vec(dx, x.shape(), x.device())?))
    }
}

/// GELU (the erf form, as PyTorch's `nn.GELU()` and candle's `gelu_erf`), trainable.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Gelu)
}

simd_kernel! {
    fn silu_mul_fwd(g: &[f32], u: &[f32], y: &mut [f32]) {
        for ((y, &g), &u) in y.iter_mut().zip(g).zip(u) {
            *y = g / (1.0 + fastmath::exp(-g)) * u;
        }
    }
}

simd_kernel! {
    /// d gate = dy · u · σ(g)(1 + g(1 − σ(g))), d up = dy · g σ(g).
    fn silu_mul_bwd(g: &[f32], u: &[f32], dy: &[f32], dg: &mut [f32], du: &mut [f32]) {
        for i in 0..dy.len().min(g.len()).min(u.len()).min(dg.len()).min(du.len()) {
            let s = 1.0 / (1.0 + fastmath::exp(-g[i]));
            dg[i] = dy[i] * u[i] * s * (1.0 + g[i] * (1.0 - s));
            du[i] = dy[i] * g[i] * s;
        }
    }
}

struct SiluMul;

impl CustomOp2 for SiluMul {
    fn name(&self) -> &'static str {
        "lab-silu-mul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (g, u) = (slice(s1, l1, "silu_mul")?, slice(s2, l2, "silu_mul")?);
        if l1.shape() != l2.shape() {
            bail!("silu_mul: gate and up differ in shape");
        }
        let mut y = vec![0f32; g.len()];
        silu_mul_fwd(g, u, &mut y);
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        g: &Tensor,
        u: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (gv, uv, dy) = (vec_of(g)?, vec_of(u)?, vec_of(grad)?);
        let (mut dg, mut du) = (vec![0f32; gv.len()], vec![0f32; gv.len()]);
        silu_mul_bwd(&gv, &uv, &dy, &mut dg, &mut du);
        Ok((
            Some(Tensor::from_vec(dg, g.shape(), g.device())?),
            Some(Tensor::from_vec(du, u.shape(), u.device())?),
        ))
    }
}

/// silu(gate) · up, SwiGLU's gating (Llama's MLP), trainable through both.
pub fn silu_mul(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    gate.contiguous()?.apply_op2(&up.contiguous()?, SiluMul)
}

simd_kernel! {
    /// One row: y = x − max − ln Σ e^(x − max).
    fn log_softmax_row(x: &[f32], y: &mut [f32]) {
        let m = fastmath::max(x);
        for (y, &x) in y.iter_mut().zip(x) {
            *y = x - m;
        }
        let ls = fastmath::exp_sum(y).ln();
        for v in y.iter_mut() {
            *v -= ls;
        }
    }
}

simd_kernel! {
    /// One row: dx = g − e^y · Σ g.
    fn log_softmax_row_bwd(y: &[f32], g: &[f32], dx: &mut [f32]) {
        let s = fastmath::sum(g);
        for ((d, &y), &g) in dx.iter_mut().zip(y).zip(g) {
            *d = g - fastmath::exp(y) * s;
        }
    }
}

struct LogSoftmax;

impl CustomOp1 for LogSoftmax {
    fn name(&self) -> &'static str {
        "lab-log-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l, "log_softmax")?;
        let n = *l.shape().dims().last().unwrap_or(&1);
        if n == 0 {
            bail!("log_softmax: empty last dimension");
        }
        let mut y = vec![0f32; x.len()];
        for (xr, yr) in x.chunks_exact(n).zip(y.chunks_exact_mut(n)) {
            log_softmax_row(xr, yr);
        }
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (y, g) = (vec_of(res)?, vec_of(grad)?);
        let n = *x.dims().last().unwrap_or(&1);
        let mut dx = vec![0f32; y.len()];
        for ((yr, gr), dr) in y
            .chunks_exact(n)
            .zip(g.chunks_exact(n))
            .zip(dx.chunks_exact_mut(n))
        {
            log_softmax_row_bwd(yr, gr, dr);
        }
        Ok(Some(Tensor::from_vec(dx, x.shape(), x.device())?))
    }
}

/// log-softmax over the last dimension, trainable.
pub fn log_softmax_last(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(LogSoftmax)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::fused::tests::max_diff;
    use candle_core::{D, Device, Var};

    fn data(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 7919) % 1000) as f32 / 125.0 - 4.0)
            .collect()
    }

    /// Forward and backward (through a weighted sum, so every gradient entry differs) of `ours`
    /// and `reference` on an odd shape.
    fn check(
        ours: impl Fn(&Tensor) -> Result<Tensor>,
        reference: impl Fn(&Tensor) -> Result<Tensor>,
        tol: f32,
    ) {
        let dev = Device::Cpu;
        let shape = (3, 5, 37);
        let x = Var::from_vec(data(3 * 5 * 37), shape, &dev).unwrap();
        let w =
            Tensor::from_vec(data(3 * 5 * 37).into_iter().rev().collect(), shape, &dev).unwrap();
        let (a, b) = (ours(&x).unwrap(), reference(&x).unwrap());
        assert!(
            max_diff(&a, &b) < tol,
            "forward differs by {}",
            max_diff(&a, &b)
        );
        let ga = (a * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let gb = (b * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let (ga, gb) = (ga.get(&x).unwrap(), gb.get(&x).unwrap());
        assert!(
            max_diff(ga, gb) < tol,
            "backward differs by {}",
            max_diff(ga, gb)
        );
    }

    #[test]
    fn gelu_matches_candle_forward_and_backward() {
        check(gelu, |x| x.gelu_erf(), 2e-6);
    }

    #[test]
    fn silu_mul_matches_candle_forward_and_backward() {
        let dev = Device::Cpu;
        let n = 3 * 41;
        let g = Var::from_vec(data(n), (3, 41), &dev).unwrap();
        let u = Var::from_vec(data(n).into_iter().rev().collect(), (3, 41), &dev).unwrap();
        let w = Tensor::from_vec(data(n).iter().map(|v| v.cos()).collect(), (3, 41), &dev).unwrap();
        let ours = silu_mul(&g, &u).unwrap();
        let theirs = (g.silu().unwrap() * u.as_tensor()).unwrap();
        assert!(max_diff(&ours, &theirs) < 2e-6);
        let ga = (ours * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let gb = (theirs * &w)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in [&g, &u] {
            let d = max_diff(ga.get(v).unwrap(), gb.get(v).unwrap());
            assert!(d < 2e-6, "gradient differs by {d}");
        }
    }

    #[test]
    fn log_softmax_matches_candle_forward_and_backward() {
        check(
            log_softmax_last,
            |x| candle_nn::ops::log_softmax(x, D::Minus1),
            2e-5,
        );
    }
}
