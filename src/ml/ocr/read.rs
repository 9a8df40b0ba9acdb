//! Reading with an OCR model: greedy CTC decoding of its output (with each line's
//! confidence), and the calls the rest of lab makes to read line images — one batch, or many
//! lines batched by similar width — so that no caller touches a tensor.

use candle_core::{DType, Device, Result, Tensor};

use super::Ocr;
use crate::ml::ctc;
use crate::ml::lines::{self, Line};
use crate::ml::vocab::Vocab;

/// The model's output for one batch of lines: log-probabilities and each line's valid steps.
fn forward(model: &Ocr, lines: &[&Line]) -> Result<(Tensor, Vec<usize>)> {
    let (x, w) = lines::batch(lines, model.config.height, &Device::Cpu)?;
    model.forward(&x, &w)
}

/// Reads `lines` as one batch: their texts.
pub fn read(model: &Ocr, vocab: &Vocab, lines: &[&Line]) -> Result<Vec<String>> {
    let (lp, steps) = forward(model, lines)?;
    Ok(decode(&lp, &steps)?
        .iter()
        .map(|ids| vocab.decode(ids))
        .collect())
}

/// Reads `lines` as one batch: their texts and confidences (see [`decode_with_confidence`]).
pub fn read_with_confidence(
    model: &Ocr,
    vocab: &Vocab,
    lines: &[&Line],
) -> Result<Vec<(String, Option<f64>)>> {
    let (lp, steps) = forward(model, lines)?;
    Ok(decode_with_confidence(&lp, &steps)?
        .into_iter()
        .map(|(ids, conf)| (vocab.decode(&ids), conf))
        .collect())
}

/// Lines per batch of [`read_lines`] (sorted by width, so little padding).
const BATCH: usize = 64;

/// Reads `lines` batched by similar width; texts in input order.
pub fn read_lines(model: &Ocr, vocab: &Vocab, lines: &[Line]) -> Result<Vec<String>> {
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_by_key(|&i| (lines[i].width, i));
    let mut out = vec![String::new(); lines.len()];
    for chunk in order.chunks(BATCH) {
        let refs: Vec<&Line> = chunk.iter().map(|&i| &lines[i]).collect();
        for (&i, text) in chunk.iter().zip(read(model, vocab, &refs)?) {
            out[i] = text;
        }
    }
    Ok(out)
}

/// Greedy CTC decoding of each line's valid steps only (padding steps are ignored).
pub fn decode(lp: &Tensor, steps: &[usize]) -> Result<Vec<Vec<u32>>> {
    let best: Vec<Vec<u32>> = lp.argmax(2)?.to_vec2()?;
    Ok(best
        .into_iter()
        .zip(steps)
        .map(|(row, &s)| ctc::collapse(&row[..s.min(row.len())], 0))
        .collect())
}

/// [`decode`] with each line's confidence: the mean, over the characters emitted, of the
/// highest probability among the steps that emitted the character (`None` when the line
/// emits nothing).
pub fn decode_with_confidence(
    lp: &Tensor,
    steps: &[usize],
) -> Result<Vec<(Vec<u32>, Option<f64>)>> {
    let best: Vec<Vec<u32>> = lp.argmax(2)?.to_vec2()?;
    let top: Vec<Vec<f32>> = lp.max(2)?.to_dtype(DType::F32)?.to_vec2()?;
    Ok(best
        .into_iter()
        .zip(top)
        .zip(steps)
        .map(|((row, p), &s)| {
            let s = s.min(row.len());
            let ids = ctc::collapse(&row[..s], 0);
            let mut probs: Vec<f64> = Vec::with_capacity(ids.len());
            let mut prev = None;
            for (k, lp) in row[..s].iter().zip(&p[..s]) {
                let pr = (*lp as f64).exp();
                if *k != 0 {
                    if Some(*k) == prev {
                        if let Some(last) = probs.last_mut() {
                            *last = last.max(pr);
                        }
                    } else {
                        probs.push(pr);
                    }
                }
                prev = Some(*k);
            }
            let conf = (!probs.is_empty()).then(|| probs.iter().sum::<f64>() / probs.len() as f64);
            (ids, conf)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_is_the_mean_top_probability_of_the_emitted_characters() {
        // Steps: 1 (p .6), 1 (p .9), blank, 2 (p .7), padding. "1" keeps its best step (.9).
        let p = [
            [0.2f32, 0.6, 0.2],
            [0.05, 0.9, 0.05],
            [0.8, 0.1, 0.1],
            [0.1, 0.2, 0.7],
            [0.1, 0.1, 0.8],
        ];
        let v: Vec<f32> = p.iter().flatten().map(|x| x.ln()).collect();
        let lp = Tensor::from_vec(v, (1, 5, 3), &Device::Cpu).unwrap();
        let out = decode_with_confidence(&lp, &[4]).unwrap();
        assert_eq!(out[0].0, [1, 2]);
        assert_eq!(out[0].0, decode(&lp, &[4]).unwrap()[0]);
        assert!((out[0].1.unwrap() - 0.8).abs() < 1e-6, "{:?}", out[0].1);
        // Only blanks: nothing emitted, no confidence.
        assert_eq!(
            decode_with_confidence(&lp, &[0]).unwrap()[0],
            (vec![], None)
        );
    }
}
