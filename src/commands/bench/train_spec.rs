//! What `lab bench train` measures: the shipped configs (or tiny ones with `--quick`) as
//! [`Case`]s, the schedule ([`Spec`], which the PyTorch script reads as JSON too), and lab's
//! model for a case.

use anyhow::{Context, Result};
use serde::Serialize;

use crate::commands::train::config::{Recipe, RecipeConfig};
use crate::ml::bench::{Bench, DocBench, OcrBench};
use crate::ml::doc::llama::LlamaConfig;
use crate::ml::ocr::OcrConfig;

pub(super) const SEED: u64 = 0x7a1_be9c;
/// Classes of the OCR head (the default dataset's character set is about this size).
const OCR_VOCAB: usize = 80;

/// One model to measure, as the PyTorch script reads it too.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Case {
    Ocr {
        name: String,
        height: usize,
        stem: usize,
        hidden: usize,
        layers: usize,
        heads: usize,
        ff: usize,
        vocab: usize,
        width: usize,
        target_len: usize,
        weight_decay: f64,
    },
    Doc {
        name: String,
        hidden: usize,
        intermediate: usize,
        layers: usize,
        heads: usize,
        kv_heads: usize,
        vocab: usize,
        max_pos: usize,
        len: usize,
        weight_decay: f64,
    },
}

impl Case {
    pub(super) fn name(&self) -> &str {
        match self {
            Case::Ocr { name, .. } | Case::Doc { name, .. } => name,
        }
    }
}

/// The measuring schedule and the cases; serialised as the PyTorch script's input.
#[derive(Debug, Serialize)]
pub struct Spec {
    pub batch: usize,
    pub warmup: usize,
    pub reps: usize,
    pub steps: usize,
    pub threads: usize,
    pub seed: u64,
    pub cases: Vec<Case>,
}

impl Spec {
    /// The same schedule with one case (what the PyTorch script measures per call).
    pub(super) fn only(&self, case: &Case) -> Spec {
        Spec {
            batch: self.batch,
            warmup: self.warmup,
            reps: self.reps,
            steps: self.steps,
            threads: self.threads,
            seed: self.seed,
            cases: vec![case.clone()],
        }
    }
}

fn parse(r: Recipe) -> Result<RecipeConfig> {
    let (file, text) = r.default_config();
    toml::from_str(text).with_context(|| format!("the embedded {file} does not parse"))
}

/// The shipped configs (or tiny ones with `quick`) and the schedule.
pub fn spec(quick: bool) -> Result<Spec> {
    let mut cases = Vec::new();
    for (name, r) in [
        ("ocr_teacher", Recipe::OcrTeacher),
        ("ocr_student", Recipe::OcrDistill),
    ] {
        let c = parse(r)?;
        let m = c.model.with_context(|| format!("{name} has no [model]"))?;
        let q = |full: usize, tiny: usize| if quick { tiny } else { full };
        cases.push(Case::Ocr {
            name: name.into(),
            height: m.height,
            stem: q(m.stem, 16),
            hidden: q(m.hidden, 16),
            layers: q(m.layers, 1),
            heads: q(m.heads, 2),
            ff: q(m.ff, 32),
            vocab: q(OCR_VOCAB, 20),
            width: q(256, 32),
            target_len: q(12, 4),
            weight_decay: c.train.weight_decay,
        });
    }
    let c = parse(Recipe::DocBase)?;
    let d = c.doc.context("doc_base has no [doc]")?;
    let q = |full: usize, tiny: usize| if quick { tiny } else { full };
    cases.push(Case::Doc {
        name: "doc_base".into(),
        hidden: q(d.hidden_size, 16),
        intermediate: q(d.intermediate_size, 32),
        layers: q(d.num_hidden_layers, 1),
        heads: q(d.num_attention_heads, 2),
        kv_heads: q(d.num_key_value_heads, 2),
        vocab: q(d.vocab_size, 50),
        max_pos: d.max_position_embeddings,
        len: q(30, 10),
        weight_decay: c.train.weight_decay,
    });
    Ok(Spec {
        batch: if quick { 4 } else { 32 },
        warmup: if quick { 1 } else { 2 },
        reps: if quick { 1 } else { 5 },
        steps: if quick { 1 } else { 3 },
        threads: crate::ml::train::SHARDS,
        seed: SEED,
        cases,
    })
}

pub(super) fn model(case: &Case, batch: usize) -> Result<Box<dyn Bench>> {
    Ok(match case {
        Case::Ocr {
            height,
            stem,
            hidden,
            layers,
            heads,
            ff,
            vocab,
            width,
            target_len,
            weight_decay,
            ..
        } => {
            let config = OcrConfig {
                height: *height,
                stem: *stem,
                hidden: *hidden,
                layers: *layers,
                heads: *heads,
                ff: *ff,
                local: 0,
                alibi: false,
                vocab_size: *vocab,
            };
            Box::new(OcrBench::new(
                &config,
                batch,
                *width,
                *target_len,
                *weight_decay,
                SEED,
            )?)
        }
        Case::Doc {
            hidden,
            intermediate,
            layers,
            heads,
            kv_heads,
            vocab,
            max_pos,
            len,
            weight_decay,
            ..
        } => {
            let config: LlamaConfig = crate::commands::train::config::DocSection {
                hidden_size: *hidden,
                intermediate_size: *intermediate,
                num_hidden_layers: *layers,
                num_attention_heads: *heads,
                num_key_value_heads: *kv_heads,
                vocab_size: *vocab,
                max_position_embeddings: *max_pos,
            }
            .llama(*vocab);
            Box::new(DocBench::new(&config, batch, *len, *weight_decay, SEED)?)
        }
    })
}
