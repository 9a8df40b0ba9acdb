//! Training of the OCR model in its three modes — from scratch (teacher or student), by
//! distillation from a teacher, and LoRA adaptation of a frozen base — plus evaluation.
//! The OCR model's side of [`crate::ml::train`]'s loop: a shard's CTC (and distillation)
//! loss on preprocessed lines, validation by text metrics. Pure compute: data comes in as
//! preprocessed lines, weights and metrics go out through an [`Observer`]; nothing here
//! knows the log.

use candle_core::backprop::GradStore;
use candle_core::{Device, Result, Tensor};

use super::model::OcrFamily;
use super::read::decode;
use super::{Ocr, OcrConfig};
use crate::ml::bundle::Tensors;
use crate::ml::lines::{self, Line};
use crate::ml::textmetrics::{TextMetrics, TextScore};
use crate::ml::train::{
    self, Lora, Observer, SHARDS, Schedule, Shards, Task, Trainable, Trained, in_parallel,
};
use crate::ml::vocab::Vocab;
use crate::ml::{ctc, losses};

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
    /// Every weight, from a seeded initialisation or from `init` (a pretrained base).
    Full { init: Option<&'a Tensors> },
    /// Every weight of a student (fresh, or from `init`); the loss mixes CTC with the KL to
    /// `teacher`.
    Distill {
        teacher: &'a Ocr,
        temperature: f64,
        alpha: f64,
        init: Option<&'a Tensors>,
    },
    /// Only LoRA adapters on a frozen base.
    Lora(Lora<'a>),
}

pub struct Hyper {
    pub schedule: Schedule,
    /// Lines of the validation set scored after each epoch (0 = all).
    pub val_lines: usize,
    /// Probability of each training-time degradation (0 = none); see `lines::augment`.
    pub augment: f64,
}

/// The model to train for `mode`, seeded from `seed`.
pub(crate) fn build(
    config: &OcrConfig,
    mode: &Mode,
    seed: u64,
    dev: &Device,
) -> Result<train::Built<Ocr>> {
    let what = match mode {
        Mode::Full { init } | Mode::Distill { init, .. } => Trainable::Full(*init),
        Mode::Lora(l) => Trainable::Lora(l),
    };
    train::build::<OcrFamily>(config, what, seed, dev)
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
    let s = &hyper.schedule;
    let built = build(config, mode, s.seed, &Device::Cpu)?;
    // Distillation: the teacher reads every training line once; its outputs serve all epochs.
    let soft = match mode {
        Mode::Distill { teacher, .. } => Some(teacher_outputs(teacher, train, s.batch_size)?),
        _ => None,
    };
    let take = if hyper.val_lines == 0 {
        val.len()
    } else {
        hyper.val_lines.min(val.len())
    };
    let task = OcrTask {
        step: OcrShards {
            model: &built.model,
            mode,
            soft: soft.as_deref(),
            config,
            train,
            augment: hyper.augment,
            seed: s.seed,
        },
        val,
        take,
        batch_size: s.batch_size.max(1),
    };
    train::run(&task, &built.vars, built.frozen_params, s, resume, obs)
}

/// The OCR model in the loop: training lines, validation by text metrics.
struct OcrTask<'a> {
    step: OcrShards<'a>,
    val: &'a LineSet,
    /// Validation lines scored.
    take: usize,
    batch_size: usize,
}

impl<'a> Task for OcrTask<'a> {
    type Step = OcrShards<'a>;
    fn step(&self) -> &Self::Step {
        &self.step
    }
    fn examples(&self) -> usize {
        self.step.train.len()
    }
    /// The lines are the same every epoch; the epoch number seeds their augmentation.
    fn epoch(&self, epoch: u32) -> u64 {
        epoch as u64
    }
    fn lengths(&self, _: &u64) -> Vec<usize> {
        self.step.train.lines.iter().map(|l| l.width).collect()
    }
    fn evaluate(&self) -> anyhow::Result<(f64, Vec<(&'static str, f64)>)> {
        let ev = evaluate(self.step.model, self.val, self.take, self.batch_size, None)?;
        Ok((
            ev.loss,
            vec![
                ("accuracy", ev.metrics.accuracy),
                ("cer", ev.metrics.cer),
                ("char_f1", ev.metrics.char_f1),
            ],
        ))
    }
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

/// Forward and backward of shards of training lines (data: the epoch, which seeds the
/// augmentation).
pub(crate) struct OcrShards<'a> {
    pub(crate) model: &'a Ocr,
    pub(crate) mode: &'a Mode<'a>,
    /// The teacher's outputs per training line (distillation).
    pub(crate) soft: Option<&'a [Vec<f32>]>,
    pub(crate) config: &'a OcrConfig,
    pub(crate) train: &'a LineSet,
    /// Probability of each degradation (0 = none).
    pub(crate) augment: f64,
    pub(crate) seed: u64,
}

impl Shards for OcrShards<'_> {
    type Data = u64;

    /// A shard's mean loss and gradients.
    fn shard(&self, epoch: &u64, idx: &[usize]) -> anyhow::Result<(f64, GradStore)> {
        let (model, mode, config, train, dev) =
            (self.model, self.mode, self.config, self.train, &Device::Cpu);
        let aug = (self.augment > 0.0).then_some((self.augment, self.seed, *epoch));
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
                let soft = self
                    .soft
                    .ok_or_else(|| anyhow::anyhow!("distillation without teacher outputs"))?;
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
