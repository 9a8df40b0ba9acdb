//! Training of the document model — from a seeded initialisation (or a given checkpoint's
//! weights), or LoRA adapters on a frozen base — and its evaluation. Every epoch draws fresh
//! OCR noise for every example from the seeded stream, so the model sees many misreadings of
//! each cell. Pure compute: examples in, weights and metrics out through an [`Observer`].

use std::collections::HashMap;
use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor};
use candle_nn::{Init, VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::generate;
use super::llama::{LORA_TARGETS, Llama, LlamaConfig, causal_mask};
use super::noise;
use super::record::{self, FieldScore, Record};
use super::tok::Tok;
use crate::ml::adamw::{AdamW, schedule};
use crate::ml::observe::{EpochInfo, Observer, StepInfo};
use crate::ml::ocr_train::{SHARDS, Trained, in_parallel, named_vars, to_safetensors};
use crate::ml::{init, lines};

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
    pub epochs: u32,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub warmup_steps: u64,
    pub weight_decay: f64,
    pub seed: u64,
    /// Largest OCR error rate injected (drawn per example in [0, rate)).
    pub noise: f64,
    /// Validation examples decoded after each epoch (0 = all).
    pub val_examples: usize,
}

/// What is trained.
pub enum Mode<'a> {
    /// Every weight: seeded initialisation, or these weights (`--init-from`).
    Full {
        init: Option<&'a HashMap<String, Tensor>>,
    },
    /// LoRA adapters on `targets` of a frozen base.
    Lora {
        base: &'a HashMap<String, Tensor>,
        rank: usize,
        alpha: f64,
        targets: Vec<String>,
    },
}

/// LoRA adapters (A: r×in, B: out×r, B zero) for `targets` of every layer, named
/// `model.layers.{i}.{self_attn|mlp}.{target}.lora_{a|b}`.
pub fn lora_adapters(
    c: &LlamaConfig,
    rank: usize,
    targets: &[String],
    vb: VarBuilder,
) -> candle_core::Result<HashMap<String, (Tensor, Tensor)>> {
    let (h, f) = (c.hidden_size, c.intermediate_size);
    let kvd = c.kv_heads() * c.head_dim();
    let mut out = HashMap::new();
    for i in 0..c.num_hidden_layers {
        for t in targets {
            let (group, inp, outd) = match t.as_str() {
                "q_proj" | "o_proj" => ("self_attn", h, h),
                "k_proj" | "v_proj" => ("self_attn", h, kvd),
                "gate_proj" | "up_proj" => ("mlp", h, f),
                "down_proj" => ("mlp", f, h),
                _ => continue,
            };
            let name = format!("model.layers.{i}.{group}.{t}");
            let p = vb.pp(&name);
            let a = p.get_with_hints((rank, inp), "lora_a", Init::Const(0.0))?;
            let b = p.get_with_hints((outd, rank), "lora_b", Init::Const(0.0))?;
            out.insert(name, (a, b));
        }
    }
    Ok(out)
}

/// Checks LoRA target names against a Llama layer's projections.
pub fn check_targets(targets: &[String]) -> Result<(), String> {
    if targets.is_empty() {
        return Err("target_modules is empty".into());
    }
    for t in targets {
        if !LORA_TARGETS.contains(&t.as_str()) {
            return Err(format!(
                "target_modules: `{t}` is not one of {}",
                LORA_TARGETS.join(", ")
            ));
        }
    }
    Ok(())
}

pub(crate) struct Built {
    pub(crate) model: Llama,
    pub(crate) vars: VarMap,
    frozen_params: usize,
}

pub(crate) fn build(
    config: &LlamaConfig,
    mode: &Mode,
    seed: u64,
    dev: &Device,
) -> anyhow::Result<Built> {
    let vars = VarMap::new();
    match mode {
        Mode::Full { init } => {
            let model = Llama::new(config, VarBuilder::from_varmap(&vars, DType::F32, dev))?;
            init::seeded_init(&vars, seed)?;
            if let Some(w) = init {
                for (name, var) in named_vars(&vars) {
                    let t = w
                        .get(&name)
                        .ok_or_else(|| anyhow::anyhow!("the initial weights lack `{name}`"))?;
                    if t.dims() != var.dims() {
                        anyhow::bail!(
                            "initial weight `{name}` has shape {:?}, the config needs {:?}",
                            t.dims(),
                            var.dims()
                        );
                    }
                    var.set(&t.to_dtype(DType::F32)?)?;
                }
            }
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
            let mut model = Llama::new(config, VarBuilder::from_tensors(frozen, DType::F32, dev))?;
            let adapters = lora_adapters(
                config,
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
    let dev = Device::Cpu;
    let built = build(config, mode, hyper.seed, &dev)?;
    let vars = named_vars(&built.vars);
    let mut opt = AdamW::new(vars.clone(), hyper.weight_decay as f32);
    let trainable = opt.param_count();
    let per_epoch = train.len().div_ceil(hyper.batch_size.max(1)) as u64;
    let total = per_epoch * hyper.epochs as u64;
    let max_len = config.max_position_embeddings;
    let mut start_epoch = 0u32;
    if let Some(bytes) = resume {
        start_epoch = crate::ml::checkpoint::restore(bytes, &vars, &mut opt)?;
    }
    let mut last = None;
    for epoch in start_epoch..hyper.epochs {
        let seqs = epoch_sequences(tok, train, hyper.noise, hyper.seed, epoch as u64, max_len);
        let lens: Vec<usize> = seqs.iter().map(|s| s.0.len()).collect();
        let batches = lines::epoch_batches(&lens, hyper.batch_size, hyper.seed, epoch as u64);
        let (mut loss_sum, mut n) = (0f64, 0usize);
        for idx in batches {
            let t0 = Instant::now();
            let lr = schedule(hyper.learning_rate, opt.step, total, hyper.warmup_steps);
            let per = idx.len().div_ceil(SHARDS).max(1);
            let parts: Vec<Vec<usize>> = idx.chunks(per).map(<[usize]>::to_vec).collect();
            let outs = in_parallel(&parts, |part| -> anyhow::Result<(f64, GradStore)> {
                let refs: Vec<&(Vec<u32>, usize)> = part.iter().map(|&i| &seqs[i]).collect();
                let loss = seq_loss(&built.model, &refs, tok.pad, &dev)?;
                Ok((loss.to_scalar::<f32>()? as f64, loss.backward()?))
            })?;
            let nb = idx.len() as f64;
            let value: f64 = outs
                .iter()
                .zip(&parts)
                .map(|(o, p)| o.0 * p.len() as f64)
                .sum::<f64>()
                / nb;
            if !value.is_finite() {
                anyhow::bail!(
                    "training diverged at step {} (loss {value}) — lower the learning rate",
                    opt.step
                );
            }
            let weighted: Vec<(&GradStore, f32)> = outs
                .iter()
                .zip(&parts)
                .map(|(o, p)| (&o.1, (p.len() as f64 / nb) as f32))
                .collect();
            opt.step_shards(&weighted, lr)?;
            loss_sum += value * nb;
            n += idx.len();
            obs.step(&StepInfo {
                epoch,
                step: opt.step,
                total_steps: total,
                loss: value,
                lr,
                samples_per_s: nb / t0.elapsed().as_secs_f64().max(1e-9),
            });
        }
        let take = if hyper.val_examples == 0 {
            val.len()
        } else {
            hyper.val_examples.min(val.len())
        };
        let ev = evaluate(
            &built.model,
            tok,
            &val[..take],
            hyper.noise,
            hyper.seed,
            hyper.batch_size,
        )?;
        let info = EpochInfo {
            epoch,
            step: opt.step,
            train_loss: loss_sum / n.max(1) as f64,
            val_loss: ev.loss,
            val: vec![
                ("field_f1", ev.score.field_f1()),
                ("exact", ev.score.exact_match()),
                (
                    "invalid",
                    ev.score.invalid as f64 / ev.score.records.max(1) as f64,
                ),
            ],
        };
        obs.epoch(&info, crate::ml::checkpoint::save(&vars, &opt, epoch)?)?;
        last = Some(info);
    }
    let named: Vec<(String, Tensor)> = vars
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    Ok(Trained {
        weights: to_safetensors(named)?,
        trainable_params: trainable,
        total_params: trainable + built.frozen_params,
        last,
    })
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
    let mut out = Vec::with_capacity(prompts.len());
    for chunk in prompts.chunks(batch.max(1)) {
        let ids: Vec<Vec<u32>> = chunk.iter().map(|p| prompt_ids(tok, p)).collect();
        for ans in generate::greedy(model, &ids, tok.pad, tok.eos, MAX_ANSWER)? {
            out.push(tok.decode(&ans));
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
