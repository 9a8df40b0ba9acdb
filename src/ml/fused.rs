//! Rotary positions, softmax, the bias add and the linear layer as candle custom ops with their
//! own backward pass (the norms are in [`super::norms`]).
//!
//! candle's own fused softmax and rotary-embedding ops have no backward (they silently train
//! nothing), and the differentiable compositions (`ops::softmax`, a rotate-half built from `cat`)
//! cost a dozen tensor ops and allocations each. These run one pass per row in plain Rust, single-
//! threaded (the training shards give the parallelism), so the results are the same bytes on
//! every run. Checked against the compositions, forward and backward, in the tests below.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Module, Result, Shape, Tensor, bail};
use candle_nn::VarBuilder;

use super::fastmath::{self, simd_kernel};

pub(crate) fn slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let data = match s {
        CpuStorage::F32(v) => v,
        _ => bail!("{what}: f32 only"),
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => bail!("{what}: input must be contiguous"),
    }
}

pub(crate) fn vec_of(t: &Tensor) -> Result<Vec<f32>> {
    t.contiguous()?.flatten_all()?.to_vec1::<f32>()
}

/// Rotary positions in the rotate-half layout on x: (B, H, T, D) contiguous, with cos and sin
/// tables of (B or 1) × T × D.
struct Rope {
    cos: Vec<f32>,
    sin: Vec<f32>,
    /// Rows of the tables: 1 (shared by the batch) or B.
    rows: usize,
}

impl Rope {
    /// y = x·cos + rot(x)·sin (sign −1: the transpose, for the backward pass), where
    /// rot([x1, x2]) = [−x2, x1].
    fn apply(&self, x: &[f32], dims: &[usize], sign: f32) -> Vec<f32> {
        let (b, h, t, d) = (dims[0], dims[1], dims[2], dims[3]);
        let half = d / 2;
        let mut y = vec![0f32; x.len()];
        for bi in 0..b {
            let tb = if self.rows == 1 { 0 } else { bi };
            for hi in 0..h {
                for ti in 0..t {
                    let o = ((bi * h + hi) * t + ti) * d;
                    let c = &self.cos[(tb * t + ti) * d..(tb * t + ti + 1) * d];
                    let sn = &self.sin[(tb * t + ti) * d..(tb * t + ti + 1) * d];
                    let xr = &x[o..o + d];
                    let yr = &mut y[o..o + d];
                    for j in 0..half {
                        let k = j + half;
                        if sign > 0.0 {
                            // y1 = x1·c1 − x2·s1, y2 = x2·c2 + x1·s2
                            yr[j] = xr[j] * c[j] - xr[k] * sn[j];
                            yr[k] = xr[k] * c[k] + xr[j] * sn[k];
                        } else {
                            // the transpose: g1·c1 + g2·s2, g2·c2 − g1·s1
                            yr[j] = xr[j] * c[j] + xr[k] * sn[k];
                            yr[k] = xr[k] * c[k] - xr[j] * sn[j];
                        }
                    }
                }
            }
        }
        y
    }
}

impl CustomOp1 for Rope {
    fn name(&self) -> &'static str {
        "lab-rope"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s1, l1, "rope")?;
        let dims = l1.shape().dims();
        if dims.len() != 4 || dims[3] % 2 != 0 {
            bail!("rope: x must be (B, H, T, even D)");
        }
        Ok((
            CpuStorage::F32(self.apply(x, dims, 1.0)),
            l1.shape().clone(),
        ))
    }

    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = vec_of(grad)?;
        let dx = self.apply(&g, grad.dims(), -1.0);
        Ok(Some(Tensor::from_vec(dx, grad.shape(), grad.device())?))
    }
}

/// Rotary position embedding (rotate-half layout) of x: (B, H, T, D); `cos` and `sin` hold
/// `rows` × T × D values (`rows` 1 or B). Trainable through x.
pub fn rope(x: &Tensor, cos: Vec<f32>, sin: Vec<f32>, rows: usize) -> Result<Tensor> {
    let dims = x.dims();
    if dims.len() != 4 || cos.len() != rows * dims[2] * dims[3] || sin.len() != cos.len() {
        bail!("rope: tables do not match x {dims:?}");
    }
    x.contiguous()?.apply_op1(Rope { cos, sin, rows })
}

simd_kernel! {
    /// One row: y = e^(x − max) / Σ e^(x − max).
    fn softmax_row(x: &[f32], y: &mut [f32]) {
        let m = fastmath::max(x);
        y.copy_from_slice(x);
        let inv = 1.0 / fastmath::exp_shift_sum(y, m);
        y.iter_mut().for_each(|v| *v *= inv);
    }
}

simd_kernel! {
    /// One row: dx = y · (g − Σ y·g).
    fn softmax_row_bwd(y: &[f32], g: &[f32], dx: &mut [f32]) {
        let dot = fastmath::dot(y, g);
        for ((d, &y), &g) in dx.iter_mut().zip(y).zip(g) {
            *d = y * (g - dot);
        }
    }
}

struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "lab-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l, "softmax")?;
        let n = *l.shape().dims().last().unwrap_or(&1);
        let mut y = vec![0f32; x.len()];
        if n > 0 {
            for (xr, yr) in x.chunks_exact(n).zip(y.chunks_exact_mut(n)) {
                softmax_row(xr, yr);
            }
        }
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let y = vec_of(res)?;
        let g = vec_of(grad)?;
        let n = *x.dims().last().unwrap_or(&1);
        let mut dx = vec![0f32; y.len()];
        for ((yr, gr), dr) in y
            .chunks_exact(n)
            .zip(g.chunks_exact(n))
            .zip(dx.chunks_exact_mut(n))
        {
            softmax_row_bwd(yr, gr, dr);
        }
        Ok(Some(Tensor::from_vec(dx, x.shape(), x.device())?))
    }
}

/// Softmax over the last dimension, trainable.
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Softmax)
}

struct AddBias;

impl CustomOp2 for AddBias {
    fn name(&self) -> &'static str {
        "lab-add-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = slice(s1, l1, "add_bias")?;
        let b = slice(s2, l2, "add_bias")?;
        let n = b.len();
        if n == 0 || x.len() % n != 0 {
            bail!("add_bias: shapes do not match");
        }
        let mut y = x.to_vec();
        for r in y.chunks_exact_mut(n) {
            r.iter_mut().zip(b).for_each(|(v, b)| *v += b);
        }
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        // candle's own broadcast backward sums over the rows with a slow strided reduction;
        // here it is one pass.
        let g = vec_of(grad)?;
        let n = b.elem_count();
        let mut db = vec![0f32; n];
        for r in g.chunks_exact(n) {
            db.iter_mut().zip(r).for_each(|(d, v)| *d += v);
        }
        Ok((
            Some(grad.clone()),
            Some(Tensor::from_vec(db, b.shape(), b.device())?),
        ))
    }
}

/// x + b over the last dimension, trainable (x: (…, n), b: (n)).
pub fn add_bias(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&b.contiguous()?, AddBias)
}

/// A linear layer (`weight`: out × in, `bias`: out — the Hugging Face names) computed as one
/// 2-D matmul over all leading dimensions plus [`add_bias`].
#[derive(Clone, Debug)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
}

/// Builds a [`Linear`] from `vb` (`weight`, `bias`).
pub fn linear(inp: usize, out: usize, vb: VarBuilder) -> Result<Linear> {
    let bound = 1.0 / (inp as f64).sqrt();
    let weight = vb.get_with_hints(
        (out, inp),
        "weight",
        candle_nn::Init::Uniform {
            lo: -bound,
            up: bound,
        },
    )?;
    let bias = vb.get_with_hints(out, "bias", candle_nn::Init::Const(0.0))?;
    Ok(Linear { weight, bias })
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims();
        let inp = *dims.last().unwrap_or(&1);
        let rows = x.elem_count() / inp.max(1);
        let y = x.reshape((rows, inp))?.matmul(&self.weight.t()?)?;
        let y = add_bias(&y, &self.bias)?;
        let mut out = dims.to_vec();
        *out.last_mut().unwrap() = self.weight.dim(0)?;
        y.reshape(out)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use candle_core::{D, Device, Var};

    pub(crate) fn data(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2000) as f32 / 500.0 - 2.0
            })
            .collect()
    }

    /// The largest absolute element difference of two tensors (the op tests' yardstick).
    pub(crate) fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar()
            .unwrap()
    }

    #[test]
    fn rope_matches_the_composition_forward_and_backward() {
        let dev = Device::Cpu;
        for (b, h, t, d, rows) in [(1, 1, 1, 2, 1), (2, 3, 5, 8, 1), (3, 2, 4, 6, 3)] {
            let x = Var::from_vec(data(b * h * t * d, 8), (b, h, t, d), &dev).unwrap();
            let cos = data(rows * t * d, 9);
            let sin = data(rows * t * d, 10);
            let up = Tensor::from_vec(data(b * h * t * d, 11), (b, h, t, d), &dev).unwrap();
            let ct = Tensor::from_vec(cos.clone(), (rows, 1, t, d), &dev).unwrap();
            let st = Tensor::from_vec(sin.clone(), (rows, 1, t, d), &dev).unwrap();
            let half = d / 2;
            let x1 = x.narrow(D::Minus1, 0, half).unwrap();
            let x2 = x.narrow(D::Minus1, half, half).unwrap();
            let rot = Tensor::cat(&[&x2.neg().unwrap(), &x1], D::Minus1).unwrap();
            let theirs = (x.broadcast_mul(&ct).unwrap() + rot.broadcast_mul(&st).unwrap()).unwrap();
            let ours = rope(&x, cos, sin, rows).unwrap();
            assert!(max_diff(&ours, &theirs) < 1e-5, "forward {b}x{h}x{t}x{d}");
            let g1 = (ours * &up).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (theirs * &up)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let dd = max_diff(g1.get(&x).unwrap(), g2.get(&x).unwrap());
            assert!(dd < 1e-4, "backward {b}x{h}x{t}x{d}: {dd}");
        }
    }

    #[test]
    fn linear_matches_candle_nn_forward_and_backward() {
        let dev = Device::Cpu;
        let w = Var::from_vec(data(5 * 7, 7), (5, 7), &dev).unwrap();
        let b = Var::from_vec(data(5, 8), 5, &dev).unwrap();
        let x = Var::from_vec(data(3 * 4 * 7, 9), (3, 4, 7), &dev).unwrap();
        let up = Tensor::from_vec(data(3 * 4 * 5, 10), (3, 4, 5), &dev).unwrap();
        let ours = Linear {
            weight: w.as_tensor().clone(),
            bias: b.as_tensor().clone(),
        }
        .forward(&x)
        .unwrap();
        let theirs = candle_nn::Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone()))
            .forward(&x)
            .unwrap();
        assert!(max_diff(&ours, &theirs) < 1e-5);
        let g1 = (ours * &up).unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = (theirs * &up)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in [&x, &w, &b] {
            assert!(max_diff(g1.get(v).unwrap(), g2.get(v).unwrap()) < 1e-4);
        }
    }

    #[test]
    fn softmax_matches_the_composition_forward_and_backward() {
        let dev = Device::Cpu;
        for shape in [(1, 1, 1), (2, 3, 5), (4, 2, 37)] {
            let n = shape.0 * shape.1 * shape.2;
            let x = Var::from_vec(data(n, 5), shape, &dev).unwrap();
            let up = Tensor::from_vec(data(n, 6), shape, &dev).unwrap();
            let ours = softmax_last(&x).unwrap();
            let theirs = candle_nn::ops::softmax(&x, D::Minus1).unwrap();
            assert!(max_diff(&ours, &theirs) < 1e-6);
            let g1 = (ours * &up).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (theirs * &up)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            assert!(max_diff(g1.get(&x).unwrap(), g2.get(&x).unwrap()) < 1e-5);
        }
        // Masked positions (−1e9) get zero weight, as in attention.
        let x = Tensor::from_vec(vec![0.0f32, -1e9, 1.0], (1, 3), &dev).unwrap();
        let y: Vec<f32> = softmax_last(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(y[1], 0.0);
    }
}
