//! AdamW over candle `Var`s, in plain Rust over the flat f32 buffers, with its state
//! (moments and step) saved in checkpoints so that `--resume` continues exactly where an
//! interrupted run stopped. Gradients are clipped by their global norm first.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};

pub struct AdamW {
    /// (name, variable) sorted by name: the order of every reduction is fixed.
    vars: Vec<(String, Var)>,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    pub step: u64,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub clip_norm: f32,
}

impl AdamW {
    pub fn new(mut vars: Vec<(String, Var)>, weight_decay: f32) -> AdamW {
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let m = vars
            .iter()
            .map(|(_, v)| vec![0f32; v.elem_count()])
            .collect();
        let v = vars
            .iter()
            .map(|(_, v)| vec![0f32; v.elem_count()])
            .collect();
        AdamW {
            vars,
            m,
            v,
            step: 0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            clip_norm: 1.0,
        }
    }

    /// Trainable parameters.
    pub fn param_count(&self) -> usize {
        self.vars.iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// One update with learning rate `lr`. Returns the gradient norm before clipping.
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<f32> {
        self.step_shards(&[(grads, 1.0)], lr)
    }

    /// One update from the gradients of several shards of a batch, summed with their weights
    /// in the order given (so the result does not depend on which shard finished first).
    pub fn step_shards(&mut self, shards: &[(&GradStore, f32)], lr: f64) -> Result<f32> {
        let mut gs: Vec<Option<Vec<f32>>> = Vec::with_capacity(self.vars.len());
        let mut sq = 0f64;
        for (_, var) in &self.vars {
            let mut g: Option<Vec<f32>> = None;
            for (store, w) in shards {
                if let Some(t) = store.get(var.as_tensor()) {
                    let v = t.flatten_all()?.to_vec1::<f32>()?;
                    match &mut g {
                        None => g = Some(v.into_iter().map(|x| x * w).collect()),
                        Some(acc) => acc.iter_mut().zip(v).for_each(|(a, x)| *a += x * w),
                    }
                }
            }
            if let Some(g) = &g {
                sq += g.iter().map(|x| (*x as f64) * (*x as f64)).sum::<f64>();
            }
            gs.push(g);
        }
        let norm = sq.sqrt() as f32;
        let scale = if norm > self.clip_norm && norm.is_finite() {
            self.clip_norm / norm
        } else {
            1.0
        };
        self.step += 1;
        let t = self.step as i32;
        let (b1, b2) = (self.beta1, self.beta2);
        let c1 = 1.0 - b1.powi(t);
        let c2 = 1.0 - b2.powi(t);
        let lr = lr as f32;
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let Some(g) = &gs[i] else { continue };
            let mut w = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            let (m, v) = (&mut self.m[i], &mut self.v[i]);
            for j in 0..w.len() {
                let gj = g[j] * scale;
                m[j] = b1 * m[j] + (1.0 - b1) * gj;
                v[j] = b2 * v[j] + (1.0 - b2) * gj * gj;
                let mh = m[j] / c1;
                let vh = v[j] / c2;
                w[j] -= lr * (mh / (vh.sqrt() + self.eps) + self.weight_decay * w[j]);
            }
            var.set(&Tensor::from_vec(w, var.shape(), var.device())?)?;
        }
        Ok(norm)
    }

    /// The optimiser state as named tensors (`adamw.m.NAME`, `adamw.v.NAME`, `adamw.step`).
    pub fn state(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        for (i, (name, var)) in self.vars.iter().enumerate() {
            let dev = var.device();
            out.insert(
                format!("adamw.m.{name}"),
                Tensor::from_slice(&self.m[i], var.shape(), dev)?,
            );
            out.insert(
                format!("adamw.v.{name}"),
                Tensor::from_slice(&self.v[i], var.shape(), dev)?,
            );
        }
        let step = [self.step as u32, (self.step >> 32) as u32];
        out.insert(
            "adamw.step".into(),
            Tensor::from_slice(&step, 2, &candle_core::Device::Cpu)?,
        );
        Ok(out)
    }

    /// Restores what `state` saved; every variable must be there with its shape.
    pub fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        for (i, (name, var)) in self.vars.iter().enumerate() {
            for (which, dst) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let key = format!("adamw.{which}.{name}");
                let t = state
                    .get(&key)
                    .ok_or_else(|| candle_core::Error::Msg(format!("checkpoint lacks {key}")))?;
                if t.shape() != var.shape() {
                    candle_core::bail!("checkpoint {key} has shape {:?}", t.shape());
                }
                *dst = t.flatten_all()?.to_vec1()?;
            }
        }
        let s: Vec<u32> = state
            .get("adamw.step")
            .ok_or_else(|| candle_core::Error::Msg("checkpoint lacks adamw.step".into()))?
            .to_vec1()?;
        self.step = s[0] as u64 | ((s[1] as u64) << 32);
        Ok(())
    }
}

/// Learning rate at `step` (0-based) of `total`: linear warm-up, then cosine decay to 10%.
pub fn schedule(base: f64, step: u64, total: u64, warmup: u64) -> f64 {
    if step < warmup {
        return base * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let p = ((step - warmup) as f64 / span).min(1.0);
    base * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * p).cos()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn minimises_a_quadratic_and_state_round_trips() {
        let dev = Device::Cpu;
        let x = Var::from_vec(vec![3f32, -2.0], 2, &dev).unwrap();
        let mut opt = AdamW::new(vec![("x".into(), x.clone())], 0.0);
        for _ in 0..300 {
            let loss = x.as_tensor().sqr().unwrap().sum_all().unwrap();
            let g = loss.backward().unwrap();
            opt.step(&g, 0.05).unwrap();
        }
        let v: Vec<f32> = x
            .as_tensor()
            .to_dtype(DType::F32)
            .unwrap()
            .to_vec1()
            .unwrap();
        assert!(v.iter().all(|a| a.abs() < 0.05), "{v:?}");
        let st = opt.state().unwrap();
        let mut other = AdamW::new(vec![("x".into(), x.clone())], 0.0);
        other.load_state(&st).unwrap();
        assert_eq!(other.step, 300);
        assert_eq!(other.m, opt.m);
    }

    #[test]
    fn schedule_warms_up_then_decays() {
        assert!(schedule(1.0, 0, 100, 10) < 0.2);
        assert!((schedule(1.0, 9, 100, 10) - 1.0).abs() < 1e-9);
        assert!((schedule(1.0, 100, 100, 10) - 0.1).abs() < 1e-9);
    }
}
