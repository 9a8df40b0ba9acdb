//! Training of the OCR model in its three modes — from scratch (teacher or student), by
//! distillation from a teacher, and LoRA adaptation of a frozen base — plus evaluation.
//! Pure compute: data comes in as preprocessed lines, weights and metrics go out through an
//! [`Observer`]; nothing here knows the log.

use std::collections::HashMap;
use std::time::Instant;

use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};

use super::adamw::{AdamW, schedule};
use super::lines::{self, Line};
pub use super::observe::{EpochInfo, Observer, StepInfo};
use super::ocr::{Ocr, OcrConfig};
use super::textmetrics::{TextMetrics, TextScore};
use super::vocab::Vocab;
use super::{ctc, init, losses};

/// Preprocessed lines with their truth.
#[derive(Default)]
pub struct LineSet {
    pub lines: Vec<Line>,
    pub texts: Vec<String>,
    pub targets: Vec<Vec<u32>>,
}

impl LineSet {
    pub fn len(&self) -> usize {
        self.lines.len()
    }
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// What is trained and against what.
pub enum Mode<'a> {
    /// Every weight, from a seeded initialisation (teacher or plain student).
    Full,
    /// Every weight of a fresh student; the loss mixes CTC with the KL to `teacher`.
    Distill {
        teacher: &'a Ocr,
        temperature: f64,
        alpha: f64,
    },
    /// Only LoRA adapters on `targets` of a frozen base whose weights are `base`.
    Lora {
        base: &'a HashMap<String, Tensor>,
        rank: usize,
        alpha: f64,
        targets: Vec<String>,
    },
}

pub struct Hyper {
    pub epochs: u32,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub warmup_steps: u64,
    pub weight_decay: f64,
    pub seed: u64,
    /// Lines of the validation set scored after each epoch (0 = all).
    pub val_lines: usize,
    /// Probability of each training-time degradation (0 = none); see `lines::augment`.
    pub augment: f64,
}

/// What training produced.
pub struct Trained {
    /// The trainable weights as safetensors: the whole model, or the adapters alone (LoRA).
    pub weights: Vec<u8>,
    pub trainable_params: usize,
    pub total_params: usize,
    pub last: Option<EpochInfo>,
}

/// A model ready to train: the forward module and its trainable variables.
pub(crate) struct Built {
    pub(crate) model: Ocr,
    pub(crate) vars: VarMap,
    frozen_params: usize,
}

pub(crate) fn build(config: &OcrConfig, mode: &Mode, seed: u64, dev: &Device) -> Result<Built> {
    let vars = VarMap::new();
    match mode {
        Mode::Full | Mode::Distill { .. } => {
            let model = Ocr::new(config, VarBuilder::from_varmap(&vars, DType::F32, dev))?;
            init::seeded_init(&vars, seed)?;
            Ok(Built {
                model,
                vars,
                frozen_params: 0,
            })
        }
        Mode::Lora {
            base,
            rank,
            alpha,
            targets,
        } => {
            let frozen: HashMap<String, Tensor> =
                base.iter().map(|(k, v)| (k.clone(), v.detach())).collect();
            let frozen_params = frozen.values().map(Tensor::elem_count).sum();
            let mut model = Ocr::new(config, VarBuilder::from_tensors(frozen, DType::F32, dev))?;
            let adapters = losses::lora_adapters(
                config.layers,
                config.hidden,
                *rank,
                targets,
                VarBuilder::from_varmap(&vars, DType::F32, dev),
            )?;
            init::seeded_init(&vars, seed)?;
            model.attach_lora(&adapters, *alpha / *rank as f64);
            Ok(Built {
                model,
                vars,
                frozen_params,
            })
        }
    }
}

pub(crate) fn named_vars(vm: &VarMap) -> Vec<(String, Var)> {
    let data = vm.data().lock().unwrap();
    let mut v: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// The variables of `vm` as safetensors bytes (names sorted; the same weights give the same bytes).
pub fn vars_to_safetensors(vm: &VarMap) -> Result<Vec<u8>> {
    let named: Vec<(String, Tensor)> = named_vars(vm)
        .into_iter()
        .map(|(k, v)| (k, v.as_tensor().clone()))
        .collect();
    to_safetensors(named)
}

/// Named tensors as safetensors bytes.
pub fn to_safetensors(mut named: Vec<(String, Tensor)>) -> Result<Vec<u8>> {
    named.sort_by(|a, b| a.0.cmp(&b.0));
    safetensors::tensor::serialize(named, None).map_err(|e| candle_core::Error::Msg(e.to_string()))
}

/// Trains per `mode` and `hyper` on `train`, scoring `val` after each epoch. `resume` is a
/// checkpoint from an earlier, interrupted run of the same configuration.
pub fn train(
    config: &OcrConfig,
    mode: &Mode,
    hyper: &Hyper,
    train: &LineSet,
    val: &LineSet,
    resume: Option<&[u8]>,
    obs: &mut dyn Observer,
) -> anyhow::Result<Trained> {
    let dev = Device::Cpu;
    let built = build(config, mode, hyper.seed, &dev)?;
    let vars = named_vars(&built.vars);
    let mut opt = AdamW::new(vars.clone(), hyper.weight_decay as f32);
    let trainable = opt.param_count();
    let widths: Vec<usize> = train.lines.iter().map(|l| l.width).collect();
    let per_epoch = train.len().div_ceil(hyper.batch_size.max(1)) as u64;
    let total = per_epoch * hyper.epochs as u64;
    let mut start_epoch = 0u32;
    if let Some(bytes) = resume {
        start_epoch = crate::ml::checkpoint::restore(bytes, &vars, &mut opt)?;
    }
    // Distillation: the teacher reads every training line once; its outputs serve all epochs.
    let soft = match mode {
        Mode::Distill { teacher, .. } => Some(teacher_outputs(teacher, train, hyper.batch_size)?),
        _ => None,
    };
    let mut last = None;
    for epoch in start_epoch..hyper.epochs {
        let batches = lines::epoch_batches(&widths, hyper.batch_size, hyper.seed, epoch as u64);
        let (mut loss_sum, mut n) = (0f64, 0usize);
        for idx in batches {
            let t0 = Instant::now();
            let lr = schedule(hyper.learning_rate, opt.step, total, hyper.warmup_steps);
            let parts = shards(&idx);
            let outs = in_parallel(&parts, |part| {
                let aug =
                    (hyper.augment > 0.0).then_some((hyper.augment, hyper.seed, epoch as u64));
                shard_step(
                    &built.model,
                    mode,
                    soft.as_deref(),
                    config,
                    train,
                    part,
                    aug,
                    &dev,
                )
            })?;
            let n_batch = idx.len() as f64;
            let value: f64 = outs
                .iter()
                .zip(&parts)
                .map(|(o, p)| o.0 * p.len() as f64)
                .sum::<f64>()
                / n_batch;
            if !value.is_finite() {
                anyhow::bail!(
                    "training diverged at step {} (loss {value}) — lower the learning rate",
                    opt.step
                );
            }
            let weighted: Vec<(&candle_core::backprop::GradStore, f32)> = outs
                .iter()
                .zip(&parts)
                .map(|(o, p)| (&o.1, (p.len() as f64 / n_batch) as f32))
                .collect();
            opt.step_shards(&weighted, lr)?;
            loss_sum += value * idx.len() as f64;
            n += idx.len();
            obs.step(&StepInfo {
                epoch,
                step: opt.step,
                total_steps: total,
                loss: value,
                lr,
                samples_per_s: idx.len() as f64 / t0.elapsed().as_secs_f64().max(1e-9),
            });
        }
        let take = if hyper.val_lines == 0 {
            val.len()
        } else {
            hyper.val_lines.min(val.len())
        };
        let ev = evaluate(&built.model, val, take, hyper.batch_size.max(1), None)?;
        let info = EpochInfo {
            epoch,
            step: opt.step,
            train_loss: loss_sum / n.max(1) as f64,
            val_loss: ev.loss,
            val: vec![
                ("accuracy", ev.metrics.accuracy),
                ("cer", ev.metrics.cer),
                ("char_f1", ev.metrics.char_f1),
            ],
        };
        obs.epoch(&info, crate::ml::checkpoint::save(&vars, &opt, epoch)?)?;
        last = Some(info);
    }
    Ok(Trained {
        weights: vars_to_safetensors(&built.vars)?,
        trainable_params: trainable,
        total_params: trainable + built.frozen_params,
        last,
    })
}

/// Shards of a batch computed side by side. Fixed at two whatever the machine: the shards'
/// gradients are summed in shard order, so the bytes of a model do not depend on the number
/// of cores (each shard runs its matmuls single-threaded; see `single_threaded_matmuls`).
pub const SHARDS: usize = 2;

pub(crate) fn shards(idx: &[usize]) -> Vec<Vec<usize>> {
    let per = idx.len().div_ceil(SHARDS).max(1);
    idx.chunks(per).map(<[usize]>::to_vec).collect()
}

/// Runs `f` on every item, each on its own thread, results in item order.
pub(crate) fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> anyhow::Result<R> + Sync,
) -> anyhow::Result<Vec<R>> {
    single_threaded_matmuls();
    std::thread::scope(|s| {
        let handles: Vec<_> = items.iter().map(|it| s.spawn(|| f(it))).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a training thread panicked")))
            })
            .collect()
    })
}

/// candle splits every matmul over `RAYON_NUM_THREADS` threads; for these small matrices that
/// costs more than it gains (measured: one thread per process ran faster than two). Shards
/// give the parallelism instead.
pub fn single_threaded_matmuls() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: called before the shard threads start; candle reads it on each matmul, and
        // no other code of lab reads or writes the environment concurrently.
        unsafe { std::env::set_var("RAYON_NUM_THREADS", "1") };
    });
}

/// The teacher's log-probabilities of every line (its valid steps × classes), read in
/// batches of lines of similar width.
fn teacher_outputs(
    teacher: &Ocr,
    set: &LineSet,
    batch_size: usize,
) -> anyhow::Result<Vec<Vec<f32>>> {
    let dev = Device::Cpu;
    let teacher = &teacher.detached();
    let mut order: Vec<usize> = (0..set.len()).collect();
    order.sort_by_key(|&i| (set.lines[i].width, i));
    let chunks: Vec<&[usize]> = order.chunks(batch_size.max(1)).collect();
    let mut out = vec![Vec::new(); set.len()];
    for pair in chunks.chunks(SHARDS) {
        let res = in_parallel(pair, |chunk| {
            let refs: Vec<&Line> = chunk.iter().map(|&i| &set.lines[i]).collect();
            let (x, w) = lines::batch(&refs, teacher.config.height, &dev)?;
            let (lp, steps) = teacher.forward(&x, &w)?;
            let c = lp.dim(2)?;
            let all: Vec<Vec<Vec<f32>>> = lp.to_vec3()?;
            Ok(all
                .into_iter()
                .zip(steps)
                .map(|(rows, s)| rows.into_iter().take(s).flatten().collect::<Vec<f32>>())
                .inspect(|v| debug_assert_eq!(v.len() % c, 0))
                .collect::<Vec<_>>())
        })?;
        for (chunk, rows) in pair.iter().zip(res) {
            for (&i, r) in chunk.iter().zip(rows) {
                out[i] = r;
            }
        }
    }
    Ok(out)
}

/// Forward and backward of one shard: its mean loss and gradients.
#[allow(clippy::too_many_arguments)]
pub(crate) fn shard_step(
    model: &Ocr,
    mode: &Mode,
    soft: Option<&[Vec<f32>]>,
    config: &OcrConfig,
    train: &LineSet,
    idx: &[usize],
    aug: Option<(f64, u64, u64)>,
    dev: &Device,
) -> anyhow::Result<(f64, candle_core::backprop::GradStore)> {
    let augmented: Vec<Line> = match aug {
        Some((p, seed, epoch)) => idx
            .iter()
            .map(|&i| {
                lines::augment(
                    &train.lines[i],
                    config.height,
                    p,
                    &mut lines::augment_rng(seed, epoch, i),
                )
            })
            .collect(),
        None => Vec::new(),
    };
    let refs: Vec<&Line> = if aug.is_some() {
        augmented.iter().collect()
    } else {
        idx.iter().map(|&i| &train.lines[i]).collect()
    };
    let (x, w) = lines::batch(&refs, config.height, dev)?;
    let targets: Vec<Vec<u32>> = idx.iter().map(|&i| train.targets[i].clone()).collect();
    let (lp, steps) = model.forward(&x, &w)?;
    let hard = ctc::ctc_loss(&lp, &targets, &steps, 0)?;
    let loss = match mode {
        Mode::Distill {
            temperature, alpha, ..
        } => {
            let soft =
                soft.ok_or_else(|| anyhow::anyhow!("distillation without teacher outputs"))?;
            let (b, t, c) = lp.dims3()?;
            // Padding steps are masked out of the loss; fill them with a uniform distribution.
            let mut v = vec![-(c as f32).ln(); b * t * c];
            for (k, &i) in idx.iter().enumerate() {
                let src = &soft[i];
                let n = src.len().min(t * c);
                v[k * t * c..k * t * c + n].copy_from_slice(&src[..n]);
            }
            let tlp = Tensor::from_vec(v, (b, t, c), dev)?;
            let soft_loss = losses::kd_loss(&lp, &tlp, &steps, *temperature)?;
            losses::mix(&soft_loss, &hard, *alpha)?
        }
        _ => hard,
    };
    let value = loss.to_scalar::<f32>()? as f64;
    Ok((value, loss.backward()?))
}

/// Evaluation of a model on the first `take` lines of a set.
pub struct Evaluation {
    pub metrics: TextMetrics,
    /// Mean CTC loss (0 where the set has no targets).
    pub loss: f64,
    pub predictions: Vec<String>,
}

/// Reads the first `take` lines of `set` in batches; `vocab` (when given) decodes predictions.
pub fn evaluate(
    model: &Ocr,
    set: &LineSet,
    take: usize,
    batch_size: usize,
    vocab: Option<&Vocab>,
) -> Result<Evaluation> {
    let dev = Device::Cpu;
    let model = &model.detached();
    let mut score = TextScore::default();
    let (mut loss_sum, mut n) = (0f64, 0usize);
    let mut predictions = Vec::new();
    let idx: Vec<usize> = (0..take).collect();
    let chunks: Vec<&[usize]> = idx.chunks(batch_size).collect();
    for pair in chunks.chunks(SHARDS) {
        let outs = in_parallel(pair, |chunk| {
            let refs: Vec<&Line> = chunk.iter().map(|&i| &set.lines[i]).collect();
            let (x, w) = lines::batch(&refs, model.config.height, &dev)?;
            let (lp, steps) = model.forward(&x, &w)?;
            let loss = if chunk.iter().all(|&i| i < set.targets.len()) {
                let targets: Vec<Vec<u32>> =
                    chunk.iter().map(|&i| set.targets[i].clone()).collect();
                Some(ctc::ctc_loss(&lp, &targets, &steps, 0)?.to_scalar::<f32>()? as f64)
            } else {
                None
            };
            Ok((loss, decode(&lp, &steps)?))
        })
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        for (chunk, (loss, ids)) in pair.iter().zip(outs) {
            if let Some(l) = loss {
                loss_sum += l * chunk.len() as f64;
                n += chunk.len();
            }
            for (k, ids) in ids.into_iter().enumerate() {
                let i = chunk[k];
                let pred = match vocab {
                    Some(v) => v.decode(&ids),
                    None => ids
                        .iter()
                        .map(|c| char::from_u32(*c + 0x100).unwrap_or('?'))
                        .collect(),
                };
                if vocab.is_none() {
                    // Score on class ids when no vocabulary is at hand (training-time validation).
                    let truth: String = set.targets[i]
                        .iter()
                        .map(|c| char::from_u32(*c + 0x100).unwrap_or('?'))
                        .collect();
                    score.add(&pred, &truth);
                } else if i < set.texts.len() {
                    score.add(&pred, &set.texts[i]);
                }
                predictions.push(pred);
            }
        }
    }
    Ok(Evaluation {
        metrics: score.metrics(),
        loss: loss_sum / n.max(1) as f64,
        predictions,
    })
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
mod confidence_tests {
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
