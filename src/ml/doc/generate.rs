//! Greedy decoding of many prompts at once with a key/value cache: prompts are left-padded to
//! one length (pads masked out of attention, positions counted from each prompt's own start),
//! prefilled in one pass, then every step feeds one token per row.

use candle_core::{Device, Result, Tensor};

use super::llama::{Cache, Llama};

/// Greedy continuations of `prompts` (token ids, each already ending where the answer
/// starts), up to `max_new` tokens or `eos`, which is not included.
pub fn greedy(
    model: &Llama,
    prompts: &[Vec<u32>],
    pad: u32,
    eos: u32,
    max_new: usize,
) -> Result<Vec<Vec<u32>>> {
    Ok(greedy_scored(model, prompts, pad, eos, max_new)?
        .into_iter()
        .map(|(ids, _)| ids)
        .collect())
}

/// [`greedy`], with each continuation's confidence: the geometric mean of the probabilities
/// the model gave the tokens it chose (the end token included).
pub fn greedy_scored(
    model: &Llama,
    prompts: &[Vec<u32>],
    pad: u32,
    eos: u32,
    max_new: usize,
) -> Result<Vec<(Vec<u32>, f32)>> {
    let dev = Device::Cpu;
    let b = prompts.len();
    if b == 0 {
        return Ok(Vec::new());
    }
    let tp = prompts.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let pads: Vec<usize> = prompts.iter().map(|p| tp - p.len()).collect();
    let mut ids = Vec::with_capacity(b * tp);
    let mut positions = Vec::with_capacity(b);
    for (p, &np) in prompts.iter().zip(&pads) {
        ids.extend(std::iter::repeat_n(pad, np));
        ids.extend_from_slice(p);
        positions.push((0..tp).map(|t| t.saturating_sub(np)).collect::<Vec<_>>());
    }
    // Query i of row r sees keys j ≤ i that are not padding.
    let mut mask = vec![0f32; b * tp * tp];
    for (r, &np) in pads.iter().enumerate() {
        for i in 0..tp {
            for j in 0..tp {
                if j > i || j < np {
                    mask[(r * tp + i) * tp + j] = -1e9;
                }
            }
        }
    }
    let mut cache = Cache::default();
    let ids_t = Tensor::from_vec(ids, (b, tp), &dev)?;
    let mask_t = Tensor::from_vec(mask, (b, 1, tp, tp), &dev)?;
    let h = model.hidden(&ids_t, &positions, &mask_t, Some(&mut cache))?;
    let (mut next, mut logp) = argmax(&model.logits(&h.narrow(1, tp - 1, 1)?.squeeze(1)?)?)?;
    let mut out: Vec<Vec<u32>> = vec![Vec::new(); b];
    let mut sum_logp = vec![0f64; b];
    let mut n_tok = vec![0usize; b];
    let mut done = vec![false; b];
    let mut lens: Vec<usize> = prompts.iter().map(Vec::len).collect();
    for step in 0..max_new {
        for r in 0..b {
            if !done[r] {
                sum_logp[r] += f64::from(logp[r]);
                n_tok[r] += 1;
                if next[r] == eos {
                    done[r] = true;
                } else {
                    out[r].push(next[r]);
                }
            }
        }
        if done.iter().all(|&d| d) || step + 1 == max_new {
            break;
        }
        let tk = tp + step + 1;
        let mut mask = vec![0f32; b * tk];
        for (r, &np) in pads.iter().enumerate() {
            for m in &mut mask[r * tk..r * tk + np] {
                *m = -1e9;
            }
        }
        let pos: Vec<Vec<usize>> = lens.iter().map(|&l| vec![l]).collect();
        let feed: Vec<u32> = (0..b)
            .map(|r| if done[r] { pad } else { next[r] })
            .collect();
        let ids_t = Tensor::from_vec(feed, (b, 1), &dev)?;
        let mask_t = Tensor::from_vec(mask, (b, 1, 1, tk), &dev)?;
        let h = model.hidden(&ids_t, &pos, &mask_t, Some(&mut cache))?;
        (next, logp) = argmax(&model.logits(&h.squeeze(1)?)?)?;
        for l in &mut lens {
            *l += 1;
        }
    }
    Ok(out
        .into_iter()
        .zip(sum_logp.iter().zip(&n_tok))
        .map(|(ids, (&s, &n))| (ids, (s / n.max(1) as f64).exp() as f32))
        .collect())
}

/// Row-wise argmax of (B, V) logits (lowest index on ties), and the log-probability of the
/// chosen token under the softmax.
fn argmax(logits: &Tensor) -> Result<(Vec<u32>, Vec<f32>)> {
    Ok(logits
        .to_vec2::<f32>()?
        .iter()
        .map(|row| {
            let mut best = 0;
            for (i, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = i;
                }
            }
            let z: f32 = row.iter().map(|&v| (v - row[best]).exp()).sum();
            (best as u32, -z.ln())
        })
        .unzip())
}
