//! Layer norm and RMS norm as candle custom ops with their own backward pass.
//!
//! candle's fused `layer_norm` / `rms_norm` have no backward (they silently train nothing), and
//! the differentiable compositions (`layer_norm_slow`, `rms_norm_slow`) cost a dozen tensor ops
//! and allocations each. These are one pass per row, single-threaded (the training shards give
//! the parallelism), with the row sums in [`fastmath`]'s fixed lanes: vectorised, and the same
//! bytes on every run. Checked against the compositions, forward and backward, below.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, bail};

use super::fastmath::{self, simd_kernel};
use super::fused::{slice, vec_of};

struct LayerNorm {
    eps: f32,
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "lab-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = slice(s1, l1, "layer_norm")?;
        let w = slice(s2, l2, "layer_norm")?;
        let b = slice(s3, l3, "layer_norm")?;
        let h = w.len();
        if h == 0 || x.len() % h != 0 || b.len() != h {
            bail!("layer_norm: shapes do not match");
        }
        let mut y = vec![0f32; x.len()];
        for (xr, yr) in x.chunks_exact(h).zip(y.chunks_exact_mut(h)) {
            layer_norm_row(xr, w, b, self.eps, yr);
        }
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let xv = vec_of(x)?;
        let wv = vec_of(w)?;
        let gv = vec_of(grad)?;
        let h = wv.len();
        let mut dx = vec![0f32; xv.len()];
        let mut dw = vec![0f32; h];
        let mut db = vec![0f32; h];
        let mut scratch = vec![0f32; 2 * h];
        for ((xr, gr), dxr) in xv
            .chunks_exact(h)
            .zip(gv.chunks_exact(h))
            .zip(dx.chunks_exact_mut(h))
        {
            layer_norm_row_bwd(xr, gr, &wv, self.eps, dxr, &mut dw, &mut db, &mut scratch);
        }
        let dev = x.device();
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), dev)?),
            Some(Tensor::from_vec(dw, w.shape(), dev)?),
            Some(Tensor::from_vec(db, w.shape(), dev)?),
        ))
    }
}

struct RmsNorm {
    eps: f32,
}

/// 1 / √(mean(x²) + eps).
#[inline(always)]
fn rstd(x: &[f32], eps: f32) -> f32 {
    1.0 / (fastmath::dot(x, x) / x.len() as f32 + eps).sqrt()
}

simd_kernel! {
    /// One row: y = x · rstd · w.
    fn rms_norm_row(x: &[f32], w: &[f32], eps: f32, y: &mut [f32]) {
        let r = rstd(x, eps);
        for ((y, &x), &w) in y.iter_mut().zip(x).zip(w) {
            *y = x * r * w;
        }
    }
}

simd_kernel! {
    /// One row's dx; adds its share of dw.
    fn rms_norm_row_bwd(x: &[f32], g: &[f32], w: &[f32], eps: f32, dx: &mut [f32], dw: &mut [f32]) {
        let h = x.len().min(g.len()).min(w.len()).min(dx.len()).min(dw.len());
        let (x, g, w) = (&x[..h], &g[..h], &w[..h]);
        let r = rstd(x, eps);
        // m = Σ g·w·x̂ / h, written into dx first as the products.
        for i in 0..h {
            dx[i] = g[i] * w[i] * (x[i] * r);
            dw[i] += g[i] * (x[i] * r);
        }
        let m = fastmath::sum(&dx[..h]) / h as f32;
        for i in 0..h {
            dx[i] = r * (g[i] * w[i] - x[i] * r * m);
        }
    }
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "lab-rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = slice(s1, l1, "rms_norm")?;
        let w = slice(s2, l2, "rms_norm")?;
        let h = w.len();
        if h == 0 || x.len() % h != 0 {
            bail!("rms_norm: shapes do not match");
        }
        let mut y = vec![0f32; x.len()];
        for (xr, yr) in x.chunks_exact(h).zip(y.chunks_exact_mut(h)) {
            rms_norm_row(xr, w, self.eps, yr);
        }
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let xv = vec_of(x)?;
        let wv = vec_of(w)?;
        let gv = vec_of(grad)?;
        let h = wv.len();
        let mut dx = vec![0f32; xv.len()];
        let mut dw = vec![0f32; h];
        for ((xr, gr), dxr) in xv
            .chunks_exact(h)
            .zip(gv.chunks_exact(h))
            .zip(dx.chunks_exact_mut(h))
        {
            rms_norm_row_bwd(xr, gr, &wv, self.eps, dxr, &mut dw);
        }
        let dev = x.device();
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), dev)?),
            Some(Tensor::from_vec(dw, w.shape(), dev)?),
        ))
    }
}

/// RMS norm over the last dimension: x / sqrt(mean(x²) + eps) · w, trainable.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    x.contiguous()?
        .apply_op2(&w.contiguous()?, RmsNorm { eps: eps as f32 })
}

/// Mean and 1 / √(var + eps) of a row.
#[inline(always)]
fn moments(x: &[f32], eps: f32) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = fastmath::sum(x) / n;
    let var = fastmath::sum_sq_dev(x, mean) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

simd_kernel! {
    /// One row: y = (x − mean) · rstd · w + b.
    fn layer_norm_row(x: &[f32], w: &[f32], b: &[f32], eps: f32, y: &mut [f32]) {
        let (mean, rstd) = moments(x, eps);
        for (((y, &x), &w), &b) in y.iter_mut().zip(x).zip(w).zip(b) {
            *y = (x - mean) * rstd * w + b;
        }
    }
}

simd_kernel! {
    /// One row's dx = rstd · (g·w − mean(g·w) − x̂ · mean(g·w·x̂)); adds its share of dw and db.
    /// `scratch` holds 2·h values (x̂ and g·w).
    #[allow(clippy::too_many_arguments)]
    fn layer_norm_row_bwd(
        x: &[f32],
        g: &[f32],
        w: &[f32],
        eps: f32,
        dx: &mut [f32],
        dw: &mut [f32],
        db: &mut [f32],
        scratch: &mut [f32]
    ) {
        let h = x.len();
        let (x, g, w, dx, dw, db) = (&x[..h], &g[..h], &w[..h], &mut dx[..h], &mut dw[..h], &mut db[..h]);
        let (xhat, gw) = scratch[..2 * h].split_at_mut(h);
        let (mean, rstd) = moments(x, eps);
        for i in 0..h {
            xhat[i] = (x[i] - mean) * rstd;
            gw[i] = g[i] * w[i];
            dw[i] += g[i] * xhat[i];
            db[i] += g[i];
        }
        let m1 = fastmath::sum(gw) / h as f32;
        let m2 = fastmath::dot(gw, xhat) / h as f32;
        for i in 0..h {
            dx[i] = rstd * (gw[i] - m1 - xhat[i] * m2);
        }
    }
}

/// Layer norm over the last dimension: (x − mean) / sqrt(var + eps) · w + b, trainable.
pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Result<Tensor> {
    x.contiguous()?.apply_op3(
        &w.contiguous()?,
        &b.contiguous()?,
        LayerNorm { eps: eps as f32 },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::fused::tests::{data, max_diff};
    use candle_core::{Device, Var};

    #[test]
    fn layer_norm_matches_the_composition_forward_and_backward() {
        let dev = Device::Cpu;
        for (rows, h) in [(1, 1), (3, 7), (5, 33), (2, 128)] {
            let x = Var::from_vec(data(rows * h, 1), (rows, h), &dev).unwrap();
            let w = Var::from_vec(data(h, 2), h, &dev).unwrap();
            let b = Var::from_vec(data(h, 3), h, &dev).unwrap();
            let up = Tensor::from_vec(data(rows * h, 4), (rows, h), &dev).unwrap();
            let ours = layer_norm(&x, &w, &b, 1e-5).unwrap();
            let theirs = candle_nn::ops::layer_norm_slow(&x, &w, &b, 1e-5).unwrap();
            assert!(max_diff(&ours, &theirs) < 1e-4, "forward {rows}x{h}");
            let g1 = (ours * &up).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (theirs * &up)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for v in [&x, &w, &b] {
                let d = max_diff(g1.get(v).unwrap(), g2.get(v).unwrap());
                assert!(d < 1e-3, "backward {rows}x{h}: {d}");
            }
        }
    }

    #[test]
    fn rms_norm_matches_the_composition_forward_and_backward() {
        let dev = Device::Cpu;
        for (rows, h) in [(1, 1), (3, 7), (5, 33), (2, 128)] {
            let x = Var::from_vec(data(rows * h, 5), (rows, h), &dev).unwrap();
            let w = Var::from_vec(data(h, 6), h, &dev).unwrap();
            let up = Tensor::from_vec(data(rows * h, 7), (rows, h), &dev).unwrap();
            let ours = rms_norm(&x, &w, 1e-5).unwrap();
            let theirs = candle_nn::ops::rms_norm_slow(&x, &w, 1e-5).unwrap();
            assert!(max_diff(&ours, &theirs) < 1e-4, "forward {rows}x{h}");
            let g1 = (ours * &up).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (theirs * &up)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for v in [&x, &w] {
                let d = max_diff(g1.get(v).unwrap(), g2.get(v).unwrap());
                assert!(d < 1e-3, "backward {rows}x{h}: {d}");
            }
        }
    }
}
