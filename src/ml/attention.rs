//! The attention weights in one op: softmax(scale · scores + mask) over the last dimension, with
//! its own backward pass.
//!
//! Composed, this is a division, a broadcast add and a softmax over (B, H, Tq, Tk) — three
//! passes and three tensors of the largest shape in the model, and as many again backward. The
//! mask is read through its strides (a (B, 1, 1, Tk) padding mask or a (Tq, Tk) causal mask
//! broadcast to the scores' shape costs nothing) and gets no gradient.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor, bail};

use super::fastmath::{self, simd_kernel};
use super::fused::{slice, vec_of};

struct AttentionSoftmax {
    scale: f32,
}

simd_kernel! {
    /// One row: y = softmax(scale · x + m).
    fn row(x: &[f32], m: &[f32], scale: f32, y: &mut [f32]) {
        for ((y, &x), &m) in y.iter_mut().zip(x).zip(m) {
            *y = scale * x + m;
        }
        let mx = fastmath::max(y);
        let inv = 1.0 / fastmath::exp_shift_sum(y, mx);
        y.iter_mut().for_each(|v| *v *= inv);
    }
}

simd_kernel! {
    /// One row: dx = scale · y · (g − Σ y·g).
    fn row_bwd(y: &[f32], g: &[f32], scale: f32, dx: &mut [f32]) {
        let dot = fastmath::dot(y, g);
        for ((d, &y), &g) in dx.iter_mut().zip(y).zip(g) {
            *d = scale * y * (g - dot);
        }
    }
}

impl CustomOp2 for AttentionSoftmax {
    fn name(&self) -> &'static str {
        "lab-attention-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = slice(s1, l1, "attention softmax")?;
        let dims = l1.shape().dims();
        if dims.len() != 4 || l2.shape().dims() != dims {
            bail!("attention softmax: scores must be (B, H, Tq, Tk) and the mask broadcast to it");
        }
        let mask = match s2 {
            CpuStorage::F32(v) => v,
            _ => bail!("attention softmax: f32 mask only"),
        };
        let (st, start) = (l2.stride(), l2.start_offset());
        let tk = dims[3];
        let mut y = vec![0f32; x.len()];
        let mut mrow = vec![0f32; tk];
        let mut r = 0;
        for b in 0..dims[0] {
            for h in 0..dims[1] {
                for i in 0..dims[2] {
                    let o = start + b * st[0] + h * st[1] + i * st[2];
                    // A mask row contiguous in memory is read in place, else gathered.
                    let m: &[f32] = if st[3] == 1 || tk == 1 {
                        &mask[o..o + tk]
                    } else {
                        for (j, m) in mrow.iter_mut().enumerate() {
                            *m = mask[o + j * st[3]];
                        }
                        &mrow
                    };
                    row(
                        &x[r * tk..(r + 1) * tk],
                        m,
                        self.scale,
                        &mut y[r * tk..(r + 1) * tk],
                    );
                    r += 1;
                }
            }
        }
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        _mask: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (y, g) = (vec_of(res)?, vec_of(grad)?);
        let tk = *x.dims().last().unwrap_or(&1);
        let mut dx = vec![0f32; y.len()];
        for ((yr, gr), dr) in y
            .chunks_exact(tk)
            .zip(g.chunks_exact(tk))
            .zip(dx.chunks_exact_mut(tk))
        {
            row_bwd(yr, gr, self.scale, dr);
        }
        Ok((Some(Tensor::from_vec(dx, x.shape(), x.device())?), None))
    }
}

/// softmax(scale · scores + mask) over the last dimension; scores (B, H, Tq, Tk), the mask any
/// shape that broadcasts to it (additive: 0 or a large negative number). Trainable through the
/// scores.
pub fn attention_softmax(scores: &Tensor, mask: &Tensor, scale: f64) -> Result<Tensor> {
    let mask = mask.broadcast_as(scores.shape())?;
    scores.contiguous()?.apply_op2(
        &mask,
        AttentionSoftmax {
            scale: scale as f32,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::fused::tests::max_diff;
    use candle_core::{D, Device, Var};

    #[test]
    fn matches_the_composition_forward_and_backward() {
        let dev = Device::Cpu;
        let (b, h, tq, tk) = (3, 2, 5, 7);
        let n = b * h * tq * tk;
        let vals = |k: usize| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 7919 + k * 31) % 997) as f32 / 100.0 - 5.0)
                .collect()
        };
        let x = Var::from_vec(vals(1), (b, h, tq, tk), &dev).unwrap();
        let w = Tensor::from_vec(vals(2), (b, h, tq, tk), &dev).unwrap();
        // A padding mask (B, 1, 1, Tk) and a causal one (Tq, Tk).
        let pad: Vec<f32> = (0..b * tk)
            .map(|i| if i % tk >= tk - i / tk { -1e9 } else { 0.0 })
            .collect();
        let causal: Vec<f32> = (0..tq * tk)
            .map(|i| if i % tk > i / tk { -1e9 } else { 0.0 })
            .collect();
        for mask in [
            Tensor::from_vec(pad, (b, 1, 1, tk), &dev).unwrap(),
            Tensor::from_vec(causal, (tq, tk), &dev).unwrap(),
        ] {
            let scale = 0.37;
            let ours = attention_softmax(&x, &mask, scale).unwrap();
            let theirs = candle_nn::ops::softmax(
                &(x.as_tensor() * scale)
                    .unwrap()
                    .broadcast_add(&mask)
                    .unwrap(),
                D::Minus1,
            )
            .unwrap();
            assert!(max_diff(&ours, &theirs) < 1e-6);
            let g1 = (ours * &w).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (theirs * &w)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            assert!(max_diff(g1.get(&x).unwrap(), g2.get(&x).unwrap()) < 1e-5);
        }
    }
}
