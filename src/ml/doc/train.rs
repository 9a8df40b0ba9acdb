//! Training of the document model — from a seeded initialisation (or a given checkpoint's
//! weights), or LoRA adapters on a frozen base — and its evaluation. Every epoch draws fresh
//! OCR noise for every example from the seeded stream, so the model sees many misreadings of
//! each cell. The document model's side of [`crate::ml::train`]'s loop. Pure compute:
//! examples in, weights and metrics out through an [`Observer`].

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::generate;
use super::llama::{Llama, LlamaConfig, causal_mask};
use super::model::DocFamily;
use super::noise;
use super::record::{self, FieldScore, Record};
use super::tok::Tok;
use crate::ml::bundle::Tensors;
use crate::ml::lines;
use crate::ml::train::{self, Lora, Observer, Schedule, Shards, Task, Trainable, Trained};

/// One cell to read: its headers and lines as printed (clean truth), and the record.
#[derive(Clone, Debug)]
pub struct Example {
    pub day: String,
    pub time: String,
    pub lines: Vec<String>,
    pub record: Record,
}

impl Example {
    /// The example a truth record makes (headers and lines as a timetable prints them).
    pub fn of(r: &Record) -> Example {
        Example {
            day: r.day.clone(),
            time: record::time_header(r),
            lines: record::cell_lines(r),
            record: r.clone(),
        }
    }

    /// The prompt as an OCR with error rate up to `rate` might have read the cell: the rate is
    /// drawn per example, then each text is corrupted.
    pub fn noisy_prompt(&self, rate: f64, rng: &mut ChaCha8Rng) -> String {
        let r = if rate > 0.0 {
            rng.random_range(0.0..rate)
        } else {
            0.0
        };
        let lines: Vec<String> = self
            .lines
            .iter()
            .map(|l| noise::corrupt(l, r, rng))
            .collect();
        record::prompt(
            &noise::corrupt(&self.day, r, rng),
            &noise::corrupt(&self.time, r, rng),
            &lines,
        )
    }
}

/// The noise stream of example `i` in `epoch` (evaluation uses its own epoch number).
pub fn noise_rng(seed: u64, epoch: u64, i: usize) -> ChaCha8Rng {
    lines::augment_rng(seed ^ 0xd0c_0de, epoch, i)
}

/// Evaluation's fixed noise draw (independent of training epochs).
const EVAL_EPOCH: u64 = u64::MAX;

/// Token ids of a prompt: `<s> prompt <sep>`.
pub fn prompt_ids(tok: &Tok, prompt: &str) -> Vec<u32> {
    let mut v = vec![tok.bos];
    v.extend(tok.encode(prompt));
    v.push(tok.sep);
    v
}

/// A training sequence `<s> prompt <sep> answer </s>` and where its answer starts.
fn sequence(tok: &Tok, prompt: &str, answer: &str, max_len: usize) -> (Vec<u32>, usize) {
    let mut v = prompt_ids(tok, prompt);
    let start = v.len();
    v.extend(tok.encode(answer));
    v.push(tok.eos);
    v.truncate(max_len);
    let start = start.min(v.len().saturating_sub(1));
    (v, start)
}

pub struct Hyper {
    pub schedule: Schedule,
    /// Largest OCR error rate injected (drawn per example in [0, rate)).
    pub noise: f64,
    /// Validation examples decoded after each epoch (0 = all).
    pub val_examples: usize,
}

/// What is trained.
pub enum Mode<'a> {
    /// Every weight: seeded initialisation, or these weights (`--init-from`).
    Full { init: Option<&'a Tensors> },
    /// LoRA adapters on a frozen base.
    Lora(Lora<'a>),
}

/// The model to train for `mode`, seeded from `seed` (then set from `init`'s weights).
pub(crate) fn build(
    config: &LlamaConfig,
    mode: &Mode,
    seed: u64,
    dev: &Device,
) -> anyhow::Result<train::Built<Llama>> {
    let what = match mode {
        Mode::Full { init } => Trainable::Full(*init),
        Mode::Lora(l) => Trainable::Lora(l),
    };
    Ok(train::build::<DocFamily>(config, what, seed, dev)?)
}

/// Mean cross-entropy of the answer tokens of `seqs` (teacher forcing) and its gradients.
pub(crate) fn seq_loss(
    model: &Llama,
    seqs: &[&(Vec<u32>, usize)],
    pad: u32,
    dev: &Device,
) -> candle_core::Result<Tensor> {
    let t = seqs.iter().map(|s| s.0.len() - 1).max().unwrap_or(1).max(1);
    let b = seqs.len();
    let mut ids = vec![pad; b * t];
    let mut at = Vec::new();
    let mut targets = Vec::new();
    for (r, (s, start)) in seqs.iter().enumerate() {
        ids[r * t..r * t + s.len() - 1].copy_from_slice(&s[..s.len() - 1]);
        for p in start.saturating_sub(1)..s.len() - 1 {
            at.push((r * t + p) as u32);
            targets.push(s[p + 1]);
        }
    }
    let ids = Tensor::from_vec(ids, (b, t), dev)?;
    let positions = vec![(0..t).collect::<Vec<_>>()];
    let h = model.hidden(&ids, &positions, &causal_mask(t, dev)?, None)?;
    let h = h
        .reshape((b * t, model.config.hidden_size))?
        .index_select(&Tensor::from_vec(at.clone(), at.len(), dev)?, 0)?;
    let logits = model.logits(&h)?;
    let lp = crate::ml::activations::log_softmax_last(&logits)?;
    candle_nn::loss::nll(&lp, &Tensor::from_vec(targets, at.len(), dev)?)
}

/// The sequences of one epoch, with fresh noise.
fn epoch_sequences(
    tok: &Tok,
    examples: &[Example],
    rate: f64,
    seed: u64,
    epoch: u64,
    max_len: usize,
) -> Vec<(Vec<u32>, usize)> {
    examples
        .iter()
        .enumerate()
        .map(|(i, ex)| {
            let prompt = ex.noisy_prompt(rate, &mut noise_rng(seed, epoch, i));
            sequence(tok, &prompt, &ex.record.to_json(), max_len)
        })
        .collect()
}

/// Trains per `mode` and `hyper`, decoding `val` after each epoch. `resume` is a checkpoint
/// of an earlier, interrupted run of the same configuration.
#[allow(clippy::too_many_arguments)]
pub fn train(
    config: &LlamaConfig,
    tok: &Tok,
    mode: &Mode,
    hyper: &Hyper,
    train: &[Example],
    val: &[Example],
    resume: Option<&[u8]>,
    obs: &mut dyn Observer,
) -> anyhow::Result<Trained> {
    let s = &hyper.schedule;
    let built = build(config, mode, s.seed, &Device::Cpu)?;
    let take = if hyper.val_examples == 0 {
        val.len()
    } else {
        hyper.val_examples.min(val.len())
    };
    let task = DocTask {
        step: SeqShards {
            model: &built.model,
            pad: tok.pad,
        },
        tok,
        train,
        val: &val[..take],
        hyper,
        max_len: config.max_position_embeddings,
    };
    train::run(&task, &built.vars, built.frozen_params, s, resume, obs)
}

/// Forward and backward of shards of token sequences (data: the sequences of the epoch).
pub(crate) struct SeqShards<'a> {
    pub(crate) model: &'a Llama,
    pub(crate) pad: u32,
}

impl Shards for SeqShards<'_> {
    type Data = Vec<(Vec<u32>, usize)>;

    fn shard(&self, seqs: &Self::Data, idx: &[usize]) -> anyhow::Result<(f64, GradStore)> {
        let refs: Vec<&(Vec<u32>, usize)> = idx.iter().map(|&i| &seqs[i]).collect();
        let loss = seq_loss(self.model, &refs, self.pad, &Device::Cpu)?;
        Ok((loss.to_scalar::<f32>()? as f64, loss.backward()?))
    }
}

/// The document model in the loop: freshly noised examples every epoch, validation by
/// field scores of greedy answers.
struct DocTask<'a> {
    step: SeqShards<'a>,
    tok: &'a Tok,
    train: &'a [Example],
    /// The validation examples decoded.
    val: &'a [Example],
    hyper: &'a Hyper,
    max_len: usize,
}

impl<'a> Task for DocTask<'a> {
    type Step = SeqShards<'a>;
    fn step(&self) -> &Self::Step {
        &self.step
    }
    fn examples(&self) -> usize {
        self.train.len()
    }
    fn epoch(&self, epoch: u32) -> Vec<(Vec<u32>, usize)> {
        let (noise, seed) = (self.hyper.noise, self.hyper.schedule.seed);
        epoch_sequences(
            self.tok,
            self.train,
            noise,
            seed,
            epoch as u64,
            self.max_len,
        )
    }
    fn lengths(&self, seqs: &Vec<(Vec<u32>, usize)>) -> Vec<usize> {
        seqs.iter().map(|s| s.0.len()).collect()
    }
    fn evaluate(&self) -> anyhow::Result<(f64, Vec<(&'static str, f64)>)> {
        let h = self.hyper;
        let ev = evaluate(
            self.step.model,
            self.tok,
            self.val,
            h.noise,
            h.schedule.seed,
            h.schedule.batch_size,
        )?;
        Ok((
            ev.loss,
            vec![
                ("field_f1", ev.score.field_f1()),
                ("exact", ev.score.exact_match()),
                (
                    "invalid",
                    ev.score.invalid as f64 / ev.score.records.max(1) as f64,
                ),
            ],
        ))
    }
}

/// How the model did on noised examples.
pub struct Evaluation {
    pub loss: f64,
    pub score: FieldScore,
    /// Per example: the answer text and whether it validated.
    pub answers: Vec<Result<Record, String>>,
}

/// The longest answer decoded (tokens).
pub const MAX_ANSWER: usize = 96;

/// Reads prompts: greedy answers, validated against the record schema.
pub fn read(
    model: &Llama,
    tok: &Tok,
    prompts: &[String],
    batch: usize,
) -> candle_core::Result<Vec<Result<Record, String>>> {
    Ok(answers(model, tok, prompts, batch)?
        .iter()
        .map(|a| Record::parse(a))
        .collect())
}

/// The greedy answers to prompts, as text.
pub fn answers(
    model: &Llama,
    tok: &Tok,
    prompts: &[String],
    batch: usize,
) -> candle_core::Result<Vec<String>> {
    Ok(answers_scored(model, tok, prompts, batch)?
        .into_iter()
        .map(|(a, _)| a)
        .collect())
}

/// [`answers`] with each answer's confidence (see [`generate::greedy_scored`]).
pub fn answers_scored(
    model: &Llama,
    tok: &Tok,
    prompts: &[String],
    batch: usize,
) -> candle_core::Result<Vec<(String, f32)>> {
    let mut out = Vec::with_capacity(prompts.len());
    for chunk in prompts.chunks(batch.max(1)) {
        let ids: Vec<Vec<u32>> = chunk.iter().map(|p| prompt_ids(tok, p)).collect();
        for (ans, conf) in generate::greedy_scored(model, &ids, tok.pad, tok.eos, MAX_ANSWER)? {
            out.push((tok.decode(&ans), conf));
        }
    }
    Ok(out)
}

/// Scores `examples` noised at `rate` (a fixed draw of `seed`): teacher-forced loss, and
/// field / record scores of greedy answers.
pub fn evaluate(
    model: &Llama,
    tok: &Tok,
    examples: &[Example],
    rate: f64,
    seed: u64,
    batch: usize,
) -> anyhow::Result<Evaluation> {
    let dev = Device::Cpu;
    let model = &model.detached();
    let max_len = model.config.max_position_embeddings;
    let prompts: Vec<String> = examples
        .iter()
        .enumerate()
        .map(|(i, ex)| ex.noisy_prompt(rate, &mut noise_rng(seed, EVAL_EPOCH, i)))
        .collect();
    let mut loss = 0f64;
    for (ps, exs) in prompts
        .chunks(batch.max(1))
        .zip(examples.chunks(batch.max(1)))
    {
        let seqs: Vec<(Vec<u32>, usize)> = ps
            .iter()
            .zip(exs)
            .map(|(p, e)| sequence(tok, p, &e.record.to_json(), max_len))
            .collect();
        let refs: Vec<&(Vec<u32>, usize)> = seqs.iter().collect();
        loss += seq_loss(model, &refs, tok.pad, &dev)?.to_scalar::<f32>()? as f64 * ps.len() as f64;
    }
    let answers = read(model, tok, &prompts, batch)?;
    let mut score = FieldScore::default();
    for (a, ex) in answers.iter().zip(examples) {
        score.add(a.as_ref().map_err(String::as_str), &ex.record);
    }
    Ok(Evaluation {
        loss: loss / examples.len().max(1) as f64,
        score,
        answers,
    })
}

/// A seeded shuffle of `n` indices (for subsets).
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    use rand::seq::SliceRandom;
    let mut v: Vec<usize> = (0..n).collect();
    v.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    v
}
