//! `lab bench doc`: how fast the shipped document model learns — the `[doc]` shape and
//! `[noise]` rate of the built-in `configs/doc_base.toml`, trained from a seeded start on the
//! entries of `count` synthetic timetables (seed 42) under its schedule, scored after each
//! epoch on 20 other timetables (seed 43): validation field F1, loss, samples per second. A
//! report, not a gate; what used to be an `#[ignore]` learning-speed probe in the document
//! model's tests.

use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::commands::train::config::{Recipe, RecipeConfig};
use crate::dataset::synth::{Domain, timetable};
use crate::ml::doc::record::Record;
use crate::ml::doc::tok::Tok;
use crate::ml::doc::train::{self, Example};
use crate::ml::observe::{EpochInfo, Observer, StepInfo};
use crate::ml::train::Schedule;

/// What `lab bench doc --json` prints.
#[derive(Debug, Serialize)]
pub struct DocBench {
    pub examples: usize,
    pub val_examples: usize,
    pub tokenizer_ms: f64,
    pub vocab: usize,
    pub mean_tokens: f64,
    pub hidden_size: usize,
    pub layers: usize,
    pub epochs: Vec<DocEpoch>,
    pub seconds: f64,
    pub samples_per_s: f64,
}

#[derive(Debug, Serialize)]
pub struct DocEpoch {
    pub epoch: u32,
    pub train_loss: f64,
    pub val_loss: f64,
    pub val_field_f1: f64,
    pub val_exact: f64,
}

fn examples(seed: u64, count: u32) -> Vec<Example> {
    (0..count)
        .flat_map(|i| timetable(seed, Domain::Default, i).entries)
        .map(|e| {
            Example::of(&Record {
                day: e.day,
                start: e.start,
                end: e.end,
                subject: e.subject,
                room: e.room,
                teacher: e.teacher,
            })
        })
        .collect()
}

struct Collect {
    epochs: Vec<DocEpoch>,
}

impl Observer for Collect {
    fn step(&mut self, _: &StepInfo) {}
    fn epoch(&mut self, e: &EpochInfo, _checkpoint: Vec<u8>) -> Result<()> {
        self.epochs.push(DocEpoch {
            epoch: e.epoch + 1,
            train_loss: e.train_loss,
            val_loss: e.val_loss,
            val_field_f1: e.metric("field_f1"),
            val_exact: e.metric("exact"),
        });
        Ok(())
    }
}

/// Trains the shipped shape for `epochs` on `count` timetables and reports each epoch.
pub fn doc(count: u32, epochs: u32, json: bool) -> Result<()> {
    let (_, text) = Recipe::DocBase.default_config();
    let cfg: RecipeConfig = toml::from_str(text).context("the built-in configs/doc_base.toml")?;
    let d = cfg
        .doc
        .as_ref()
        .context("configs/doc_base.toml has a [doc] section")?;
    let rate = cfg.noise.as_ref().map_or(0.0, |n| n.rate);
    let ex = examples(42, count.max(1));
    let val = examples(43, 20);
    let t0 = Instant::now();
    let corpus: Vec<String> = ex
        .iter()
        .enumerate()
        .flat_map(|(i, e)| {
            let p = e.noisy_prompt(rate, &mut train::noise_rng(0, 0, i));
            [p, e.record.to_json()]
        })
        .collect();
    let tok = Tok::train(&corpus, d.vocab_size)?;
    let tokenizer_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let lens: Vec<f64> = ex
        .iter()
        .take(200)
        .enumerate()
        .map(|(i, e)| {
            let p = e.noisy_prompt(rate, &mut train::noise_rng(0, 0, i));
            (train::prompt_ids(&tok, &p).len() + tok.encode(&e.record.to_json()).len()) as f64
        })
        .collect();
    let config = d.llama(tok.vocab_size());
    let hyper = train::Hyper {
        schedule: Schedule {
            epochs: epochs.max(1),
            batch_size: cfg.train.batch_size,
            learning_rate: cfg.train.learning_rate,
            warmup_steps: cfg.train.warmup_steps,
            weight_decay: cfg.train.weight_decay,
            seed: 1,
        },
        noise: rate,
        val_examples: 0,
    };
    let mut obs = Collect { epochs: Vec::new() };
    let t1 = Instant::now();
    train::train(
        &config,
        &tok,
        &train::Mode::Full { init: None },
        &hyper,
        &ex,
        &val,
        None,
        &mut obs,
    )?;
    let seconds = t1.elapsed().as_secs_f64();
    let steps = ex.len().div_ceil(cfg.train.batch_size.max(1)) * epochs.max(1) as usize;
    let out = DocBench {
        examples: ex.len(),
        val_examples: val.len(),
        tokenizer_ms,
        vocab: tok.vocab_size(),
        mean_tokens: lens.iter().sum::<f64>() / lens.len().max(1) as f64,
        hidden_size: d.hidden_size,
        layers: d.num_hidden_layers,
        samples_per_s: (steps * cfg.train.batch_size) as f64 / seconds.max(1e-9),
        epochs: obs.epochs,
        seconds,
    };
    if json {
        println!("{}", serde_json::to_string(&out)?);
        return Ok(());
    }
    println!(
        "document model (configs/doc_base.toml: hidden {}, {} layers, vocab {}): {} training cells \
         of {count} timetables, {} validation cells; tokenizer {:.0} ms, {:.1} tokens per example",
        out.hidden_size,
        out.layers,
        out.vocab,
        out.examples,
        out.val_examples,
        out.tokenizer_ms,
        out.mean_tokens
    );
    println!("EPOCH  TRAIN_LOSS  VAL_LOSS  VAL_FIELD_F1  VAL_EXACT");
    for e in &out.epochs {
        println!(
            "{:>5}  {:>10.4}  {:>8.4}  {:>12.4}  {:>9.4}",
            e.epoch, e.train_loss, e.val_loss, e.val_field_f1, e.val_exact
        );
    }
    println!(
        "{:.1} s, {:.0} examples/s (1-minute load {})",
        out.seconds,
        out.samples_per_s,
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_string))
            .unwrap_or_else(|| "unknown".into())
    );
    Ok(())
}
