//! Losses of the training modes beyond plain CTC: knowledge distillation, and LoRA adapters.

use std::collections::HashMap;

use candle_core::{D, Result, Tensor};
use candle_nn::{Init, VarBuilder};

/// Distillation loss: KL(teacher ‖ student) per valid time step, both softened by
/// `temperature`, averaged over valid steps and scaled by T². Inputs are log-probabilities
/// (B, T, C); the teacher's must already be detached.
pub fn kd_loss(
    student_lp: &Tensor,
    teacher_lp: &Tensor,
    steps: &[usize],
    temperature: f64,
) -> Result<Tensor> {
    let (b, t, _) = student_lp.dims3()?;
    let s = super::activations::log_softmax_last(&(student_lp / temperature)?)?;
    let tl = super::activations::log_softmax_last(&(teacher_lp / temperature)?)?;
    let kl = (tl.exp()? * (tl - s)?)?.sum(D::Minus1)?; // (B, T)
    let mask: Vec<f32> = steps
        .iter()
        .flat_map(|&n| (0..t).map(move |j| if j < n { 1.0 } else { 0.0 }))
        .collect();
    let valid: f32 = mask.iter().sum();
    let mask = Tensor::from_vec(mask, (b, t), student_lp.device())?;
    (kl * mask)?.sum_all()? * (temperature * temperature / valid.max(1.0) as f64)
}

/// Mixes the soft (distillation) and hard (CTC) losses: alpha·soft + (1 − alpha)·hard.
pub fn mix(soft: &Tensor, hard: &Tensor, alpha: f64) -> Result<Tensor> {
    (soft * alpha)? + (hard * (1.0 - alpha))?
}

/// Creates LoRA adapters (A: r×in, B: out×r, B zero so step 0 changes nothing) for the
/// attention projections named in `targets` (`query`, `key`, `value`) of `layers` blocks.
pub fn lora_adapters(
    layers: usize,
    hidden: usize,
    rank: usize,
    targets: &[String],
    vb: VarBuilder,
) -> Result<HashMap<String, (Tensor, Tensor)>> {
    let mut out = HashMap::new();
    for i in 0..layers {
        for t in targets {
            let name = format!("encoder.layer{i}.attention.{t}");
            let p = vb.pp(&name);
            let a = p.get_with_hints((rank, hidden), "lora_a", Init::Const(0.0))?;
            let b = p.get_with_hints((hidden, rank), "lora_b", Init::Const(0.0))?;
            out.insert(name, (a, b));
        }
    }
    Ok(out)
}
