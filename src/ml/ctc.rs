//! CTC loss as a candle custom op with its own backward pass.
//!
//! candle has no CTC loss. Composing the forward (alpha) recursion from tensor ops costs
//! hundreds of tiny ops per batch; this op runs the alpha/beta recursions in plain Rust over
//! the log-probabilities and returns the exact gradient, d(-log p)/d logp[t,k] = -gamma[t,k],
//! where gamma is the posterior occupancy of class k at time t. Feed it `log_softmax` output:
//! candle's autograd carries the gradient through the normalisation.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, bail};

/// CTC loss of a batch: input (B, T, C) log-probabilities, output (B,) negative log-likelihoods.
/// An impossible alignment (a target longer than its input allows) gives loss 0 and no
/// gradient ("zero infinity"), so one bad sample cannot poison a batch with inf.
pub struct CtcLoss {
    /// Target label sequences (class ids, none equal to `blank`).
    pub targets: Vec<Vec<u32>>,
    /// Valid time steps per batch element (≤ T).
    pub input_lengths: Vec<usize>,
    pub blank: u32,
}

fn lse2(a: f32, b: f32) -> f32 {
    if a == f32::NEG_INFINITY {
        return b;
    }
    if b == f32::NEG_INFINITY {
        return a;
    }
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

impl CtcLoss {
    /// The extended label sequence with blanks: [b, l1, b, l2, …, b].
    fn extended(&self, i: usize) -> Vec<u32> {
        let mut e = Vec::with_capacity(2 * self.targets[i].len() + 1);
        e.push(self.blank);
        for &l in &self.targets[i] {
            e.push(l);
            e.push(self.blank);
        }
        e
    }

    /// Log alphas (T_i × S) and log p for batch element `i`; `lp` is its (T × C) slice.
    fn alpha(&self, lp: &[f32], c: usize, t_len: usize, ext: &[u32]) -> (Vec<f32>, f32) {
        let s_len = ext.len();
        let mut a = vec![f32::NEG_INFINITY; t_len * s_len];
        if t_len == 0 {
            return (a, f32::NEG_INFINITY);
        }
        a[0] = lp[ext[0] as usize];
        if s_len > 1 {
            a[1] = lp[ext[1] as usize];
        }
        for t in 1..t_len {
            let (prev, cur) = a.split_at_mut(t * s_len);
            let prev = &prev[(t - 1) * s_len..];
            let row = &lp[t * c..(t + 1) * c];
            for s in 0..s_len {
                let mut v = prev[s];
                if s >= 1 {
                    v = lse2(v, prev[s - 1]);
                }
                if s >= 2 && ext[s] != self.blank && ext[s] != ext[s - 2] {
                    v = lse2(v, prev[s - 2]);
                }
                cur[s] = if v == f32::NEG_INFINITY {
                    v
                } else {
                    v + row[ext[s] as usize]
                };
            }
        }
        let last = &a[(t_len - 1) * s_len..];
        let logp = if s_len > 1 {
            lse2(last[s_len - 1], last[s_len - 2])
        } else {
            last[0]
        };
        (a, logp)
    }

    fn beta(&self, lp: &[f32], c: usize, t_len: usize, ext: &[u32]) -> Vec<f32> {
        let s_len = ext.len();
        let mut b = vec![f32::NEG_INFINITY; t_len * s_len];
        if t_len == 0 {
            return b;
        }
        let t = t_len - 1;
        b[t * s_len + s_len - 1] = lp[t * c + ext[s_len - 1] as usize];
        if s_len > 1 {
            b[t * s_len + s_len - 2] = lp[t * c + ext[s_len - 2] as usize];
        }
        for t in (0..t_len - 1).rev() {
            let (cur, next) = b.split_at_mut((t + 1) * s_len);
            let cur = &mut cur[t * s_len..];
            let next = &next[..s_len];
            let row = &lp[t * c..(t + 1) * c];
            for s in 0..s_len {
                let mut v = next[s];
                if s + 1 < s_len {
                    v = lse2(v, next[s + 1]);
                }
                if s + 2 < s_len && ext[s] != self.blank && ext[s + 2] != ext[s] {
                    v = lse2(v, next[s + 2]);
                }
                cur[s] = if v == f32::NEG_INFINITY {
                    v
                } else {
                    v + row[ext[s] as usize]
                };
            }
        }
        b
    }

    fn check(&self, b: usize, t: usize, c: usize) -> Result<()> {
        if self.targets.len() != b || self.input_lengths.len() != b {
            bail!(
                "ctc: {} targets and {} input lengths for a batch of {b}",
                self.targets.len(),
                self.input_lengths.len()
            );
        }
        if self.input_lengths.iter().any(|&l| l > t) {
            bail!("ctc: an input length exceeds T = {t}");
        }
        if self.blank as usize >= c
            || self
                .targets
                .iter()
                .flatten()
                .any(|&l| l as usize >= c || l == self.blank)
        {
            bail!("ctc: a label is out of range or equals the blank");
        }
        Ok(())
    }
}

fn contiguous<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let data = match storage {
        CpuStorage::F32(v) => v,
        _ => bail!("ctc: log-probabilities must be f32"),
    };
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => bail!("ctc: log-probabilities must be contiguous"),
    }
}

impl CustomOp1 for CtcLoss {
    fn name(&self) -> &'static str {
        "ctc-loss"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, t, c) = layout.shape().dims3()?;
        self.check(b, t, c)?;
        let lp = contiguous(storage, layout)?;
        let losses: Vec<f32> = (0..b)
            .map(|i| {
                let ext = self.extended(i);
                let (_, logp) = self.alpha(
                    &lp[i * t * c..(i + 1) * t * c],
                    c,
                    self.input_lengths[i],
                    &ext,
                );
                if logp.is_finite() { -logp } else { 0.0 }
            })
            .collect();
        Ok((CpuStorage::F32(losses), Shape::from(b)))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let (b, t, c) = arg.dims3()?;
        let lp: Vec<f32> = arg.contiguous()?.flatten_all()?.to_vec1()?;
        let g: Vec<f32> = grad_res.to_vec1()?;
        let mut grad = vec![0f32; b * t * c];
        for i in 0..b {
            let t_len = self.input_lengths[i];
            let lpi = &lp[i * t * c..(i + 1) * t * c];
            let ext = self.extended(i);
            let (alpha, logp) = self.alpha(lpi, c, t_len, &ext);
            if !logp.is_finite() {
                continue;
            }
            let beta = self.beta(lpi, c, t_len, &ext);
            let s_len = ext.len();
            let gi = &mut grad[i * t * c..(i + 1) * t * c];
            for tt in 0..t_len {
                for s in 0..s_len {
                    let k = ext[s] as usize;
                    let ab = alpha[tt * s_len + s] + beta[tt * s_len + s];
                    if ab == f32::NEG_INFINITY {
                        continue;
                    }
                    // alpha and beta both include lp[t, k]: remove it once.
                    let gamma = (ab - lpi[tt * c + k] - logp).exp();
                    gi[tt * c + k] -= gamma * g[i];
                }
            }
        }
        Ok(Some(Tensor::from_vec(grad, (b, t, c), arg.device())?))
    }
}

/// Mean CTC loss of a batch of log-probabilities (B, T, C).
pub fn ctc_loss(
    log_probs: &Tensor,
    targets: &[Vec<u32>],
    input_lengths: &[usize],
    blank: u32,
) -> Result<Tensor> {
    let op = CtcLoss {
        targets: targets.to_vec(),
        input_lengths: input_lengths.to_vec(),
        blank,
    };
    log_probs.contiguous()?.apply_op1(op)?.mean_all()
}

/// Greedy CTC decoding: best class per step, repeats merged, blanks dropped.
pub fn greedy_decode(log_probs: &Tensor, blank: u32) -> Result<Vec<Vec<u32>>> {
    let best: Vec<Vec<u32>> = log_probs.argmax(2)?.to_vec2()?;
    Ok(best.iter().map(|row| collapse(row, blank)).collect())
}

/// Merges repeated classes and drops blanks: the CTC reading of a best path.
pub fn collapse(path: &[u32], blank: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut prev = None;
    for &k in path {
        if Some(k) != prev && k != blank {
            out.push(k);
        }
        prev = Some(k);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{D, Device, Var};

    fn rand_logits(b: usize, t: usize, c: usize, seed: u64) -> Vec<f32> {
        let mut x = seed;
        (0..b * t * c)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 33) as f32 / (1u64 << 31) as f32) * 4.0 - 2.0
            })
            .collect()
    }

    /// A brute-force reference: sum over all alignments of length T that collapse to the target.
    fn brute(lp: &[f32], t: usize, c: usize, target: &[u32], blank: u32) -> f32 {
        let mut total = f32::NEG_INFINITY;
        let n = c.pow(t as u32);
        for code in 0..n {
            let mut path = Vec::with_capacity(t);
            let mut x = code;
            for _ in 0..t {
                path.push((x % c) as u32);
                x /= c;
            }
            let mut collapsed = Vec::new();
            let mut prev = None;
            for &k in &path {
                if Some(k) != prev && k != blank {
                    collapsed.push(k);
                }
                prev = Some(k);
            }
            if collapsed == target {
                let s: f32 = path
                    .iter()
                    .enumerate()
                    .map(|(i, &k)| lp[i * c + k as usize])
                    .sum();
                total = lse2(total, s);
            }
        }
        -total
    }

    #[test]
    fn forward_matches_brute_force() {
        let dev = Device::Cpu;
        let (b, t, c) = (3, 5, 3);
        let x = Tensor::from_vec(rand_logits(b, t, c, 7), (b, t, c), &dev).unwrap();
        let lp = candle_nn::ops::log_softmax(&x, D::Minus1).unwrap();
        let targets = vec![vec![1, 2], vec![1, 1], vec![2]];
        let lens = vec![5, 5, 3];
        let op = CtcLoss {
            targets: targets.clone(),
            input_lengths: lens.clone(),
            blank: 0,
        };
        let losses: Vec<f32> = lp.apply_op1(op).unwrap().to_vec1().unwrap();
        let flat: Vec<f32> = lp.flatten_all().unwrap().to_vec1().unwrap();
        for i in 0..b {
            let want = brute(
                &flat[i * t * c..i * t * c + lens[i] * c],
                lens[i],
                c,
                &targets[i],
                0,
            );
            assert!(
                (losses[i] - want).abs() < 1e-4,
                "sample {i}: {} vs {want}",
                losses[i]
            );
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let dev = Device::Cpu;
        let (b, t, c) = (2, 6, 4);
        let init = rand_logits(b, t, c, 11);
        let targets = vec![vec![1, 3, 3], vec![2]];
        let lens = vec![6, 4];
        let loss_of = |v: &[f32]| -> f32 {
            let x = Tensor::from_vec(v.to_vec(), (b, t, c), &dev).unwrap();
            let lp = candle_nn::ops::log_softmax(&x, D::Minus1).unwrap();
            ctc_loss(&lp, &targets, &lens, 0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        let x = Var::from_vec(init.clone(), (b, t, c), &dev).unwrap();
        let lp = candle_nn::ops::log_softmax(x.as_tensor(), D::Minus1).unwrap();
        let loss = ctc_loss(&lp, &targets, &lens, 0).unwrap();
        let grads = loss.backward().unwrap();
        let g: Vec<f32> = grads
            .get(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let eps = 1e-2;
        for idx in [0, 5, 9, 17, 30, 47] {
            let mut p = init.clone();
            p[idx] += eps;
            let mut m = init.clone();
            m[idx] -= eps;
            let fd = (loss_of(&p) - loss_of(&m)) / (2.0 * eps);
            assert!(
                (fd - g[idx]).abs() < 2e-3,
                "d/dx[{idx}]: analytic {} vs numeric {fd}",
                g[idx]
            );
        }
        // Steps past an input's length get no gradient.
        for tt in 4..6 {
            for k in 0..c {
                assert_eq!(g[(t + tt) * c + k], 0.0);
            }
        }
    }

    #[test]
    fn impossible_alignment_is_zero_not_inf() {
        let dev = Device::Cpu;
        let x = Tensor::zeros((1, 2, 3), candle_core::DType::F32, &dev).unwrap();
        let lp = candle_nn::ops::log_softmax(&x, D::Minus1).unwrap();
        let l = ctc_loss(&lp, &[vec![1, 1, 1]], &[2], 0).unwrap();
        assert_eq!(l.to_scalar::<f32>().unwrap(), 0.0);
    }

    #[test]
    fn greedy_collapses_repeats_and_blanks() {
        let dev = Device::Cpu;
        // argmax path: 1 1 0 1 2 2 → [1, 1, 2]
        let mut v = vec![-5f32; 6 * 3];
        for (t, k) in [1usize, 1, 0, 1, 2, 2].iter().enumerate() {
            v[t * 3 + k] = 0.0;
        }
        let x = Tensor::from_vec(v, (1, 6, 3), &dev).unwrap();
        assert_eq!(greedy_decode(&x, 0).unwrap(), vec![vec![1, 1, 2]]);
    }
}
