//! A training job: everything a recipe run needs, gathered either from a config file and the
//! command line (`lab train`) or from a recorded run (`lab replay`), then data loading,
//! fitting and the output bundles. Both paths share every step after gathering, so a replay
//! runs exactly what the original run ran.

use anyhow::{Result, anyhow, bail};

use super::config::{self, Recipe, RecipeConfig};
use super::data;
use crate::event::Hash;
use crate::lab::Lab;
use crate::ml::ocr::OcrConfig;
use crate::ml::ocr_model::{self, AdapterConfig};
use crate::ml::ocr_train::{self, Hyper, LineSet, Mode, Observer, Trained};
use crate::ml::vocab::Vocab;
use crate::models;
use crate::progress::Reporter;

/// A loaded OCR model with where it came from.
pub struct OcrModel {
    pub name: String,
    pub hash: Hash,
    pub run: Option<String>,
    pub bundle: models::Bundle,
    pub loaded: ocr_model::Loaded,
    /// The base's config and vocabulary files (what a merged LoRA model carries over).
    pub config_json: Vec<u8>,
    pub vocab_json: Vec<u8>,
}

/// Resolves and loads an OCR model by reference (`NAME`, `NAME@N`, run id, hash prefix).
pub fn load_model(lab: &Lab, reference: &str) -> Result<OcrModel> {
    let runs = lab.store.read_views(|v| v.runs_all())?;
    let m = models::resolve(&runs, reference).map_err(|e| anyhow!(e))?;
    load_bundle(lab, &m.name, m.hash, Some(m.run))
}

/// Loads an OCR model from its bundle hash.
pub fn load_bundle(lab: &Lab, name: &str, hash: Hash, run: Option<String>) -> Result<OcrModel> {
    let blobs = &lab.store.blobs;
    let b = models::bundle(blobs, &hash)?;
    let ctx = |e: ocr_model::ModelError| anyhow!("model {name} ({}): {e}", hash.short());
    let (base_hash, base) = match (&b.kind[..], b.base) {
        ("ocr", _) => (hash, b.clone()),
        ("ocr-lora", Some(bh)) => (bh, models::bundle(blobs, &bh)?),
        (k, _) => bail!("model {name} is a `{k}` model, not an OCR model"),
    };
    let config_json = models::file(blobs, &base_hash, &base, "config.json")?;
    let vocab_json = models::file(blobs, &base_hash, &base, "vocab.json")?;
    let weights = models::file(blobs, &base_hash, &base, "model.safetensors")?;
    let adapter = if b.kind == "ocr-lora" {
        Some((
            models::file(blobs, &hash, &b, "adapter_config.json")?,
            models::file(blobs, &hash, &b, "adapter.safetensors")?,
        ))
    } else {
        None
    };
    let loaded = ocr_model::load(
        &config_json,
        &vocab_json,
        &weights,
        adapter.as_ref().map(|(a, w)| (&a[..], &w[..])),
    )
    .map_err(ctx)?;
    Ok(OcrModel {
        name: name.to_string(),
        hash,
        run,
        bundle: b,
        loaded,
        config_json,
        vocab_json,
    })
}

/// Everything a recipe run consumes.
pub struct Job {
    pub recipe: Recipe,
    /// The effective settings (config file plus overrides).
    pub cfg: RecipeConfig,
    pub seed: u64,
    pub snap: data::Snapshot,
    /// `("teacher" | "base", model)`.
    pub parent: Option<(&'static str, OcrModel)>,
}

impl Job {
    /// The parent model a config names, loaded.
    pub fn parent_of(lab: &Lab, cfg: &RecipeConfig) -> Result<Option<(&'static str, OcrModel)>> {
        Ok(match (&cfg.distill, &cfg.lora) {
            (Some(d), _) => Some(("teacher", load_model(lab, &d.teacher)?)),
            (_, Some(l)) => {
                let m = load_model(lab, &l.base)?;
                if m.bundle.kind != "ocr" {
                    bail!(
                        "base model {} is a LoRA adapter; adapt a full model (or one written with --merge)",
                        m.name
                    );
                }
                Some(("base", m))
            }
            _ => None,
        })
    }

    /// The effective settings as recorded with a run (JSON).
    pub fn settings_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(&self.cfg).expect("config serialises");
        v.push(b'\n');
        v
    }

    fn height(&self) -> usize {
        match (&self.cfg.model, &self.parent) {
            (Some(m), _) => m.height,
            (None, Some((_, p))) => p.loaded.model.config.height,
            (None, None) => 32,
        }
    }
}

/// The job's data, preprocessed and encoded.
pub struct Data {
    pub train: LineSet,
    pub val: LineSet,
    pub vocab: Vocab,
    pub ocr_config: OcrConfig,
    /// Training lines dropped for characters outside the parent's vocabulary.
    pub skipped: usize,
}

fn encode(split: data::Split, vocab: &Vocab, drop_unknown: bool) -> (LineSet, usize) {
    let mut set = LineSet::default();
    let mut skipped = 0;
    for (it, line) in split.items.into_iter().zip(split.lines) {
        match vocab.encode(&it.text) {
            Ok(t) => set.targets.push(t),
            Err(_) if drop_unknown => {
                skipped += 1;
                continue;
            }
            Err(_) => {
                let t: Vec<u32> = it
                    .text
                    .chars()
                    .filter_map(|c| vocab.encode(&c.to_string()).ok())
                    .flatten()
                    .collect();
                set.targets.push(t);
            }
        }
        set.texts.push(it.text);
        set.lines.push(line);
    }
    (set, skipped)
}

/// Reads the train and val splits of the job's snapshot (from blobs) and encodes them.
pub fn load_data(lab: &Lab, job: &Job, reporter: &dyn Reporter) -> Result<Data> {
    reporter.status(&format!("loading {} (train, val)", job.snap.label));
    let height = job.height();
    let train_split = job.snap.split(lab, "train", height, 0)?;
    let val_split = job.snap.split(lab, "val", height, 0)?;
    let vocab = match &job.parent {
        Some((_, p)) => p.loaded.vocab.clone(),
        None => Vocab::from_texts(train_split.items.iter().map(|i| i.text.as_str())),
    };
    let (train, skipped) = encode(train_split, &vocab, true);
    let (val, _) = encode(val_split, &vocab, false);
    if train.is_empty() {
        bail!(
            "no training line of {} fits the vocabulary of the parent model",
            job.snap.label
        );
    }
    let ocr_config = match (&job.cfg.model, &job.parent) {
        (Some(m), _) => m.with_vocab(vocab.size()),
        (None, Some((_, p))) => p.loaded.model.config.clone(),
        (None, None) => bail!("the config has no [model] section and no parent model"),
    };
    Ok(Data {
        train,
        val,
        vocab,
        ocr_config,
        skipped,
    })
}

/// Trains the job (from `checkpoint` when resuming).
pub fn fit(
    job: &Job,
    data: &Data,
    checkpoint: Option<&[u8]>,
    obs: &mut dyn Observer,
) -> Result<Trained> {
    let cfg = &job.cfg;
    let hyper = Hyper {
        epochs: cfg.train.epochs,
        batch_size: cfg.train.batch_size,
        learning_rate: cfg.train.learning_rate,
        warmup_steps: cfg.train.warmup_steps,
        weight_decay: cfg.train.weight_decay,
        seed: job.seed,
        val_lines: cfg.train.val_lines,
        augment: cfg.train.augment,
    };
    let mode = match (&cfg.distill, &cfg.lora, &job.parent) {
        (Some(d), _, Some((_, p))) => Mode::Distill {
            teacher: &p.loaded.model,
            temperature: d.temperature,
            alpha: d.alpha,
        },
        (_, Some(l), Some((_, p))) => Mode::Lora {
            base: &p.loaded.tensors,
            rank: l.rank,
            alpha: l.alpha,
            targets: l.target_modules.clone(),
        },
        _ => Mode::Full,
    };
    ocr_train::train(
        &data.ocr_config,
        &mode,
        &hyper,
        &data.train,
        &data.val,
        checkpoint,
        obs,
    )
}

/// A model bundle to store: kind, files, base.
pub struct BundleFiles {
    pub kind: &'static str,
    pub files: Vec<(&'static str, Vec<u8>)>,
    pub base: Option<Hash>,
}

impl BundleFiles {
    /// The bundle's hash, whether or not it is stored.
    pub fn hash(&self) -> Hash {
        models::bundle_hash(self.kind, &self.refs(), self.base).0
    }

    pub fn save(&self, lab: &Lab) -> Result<Hash> {
        Ok(models::save(
            &lab.store.blobs,
            self.kind,
            &self.refs(),
            self.base,
        )?)
    }

    fn refs(&self) -> Vec<(&str, &[u8])> {
        self.files.iter().map(|(n, b)| (*n, &b[..])).collect()
    }

    /// The weights file (the adapter for LoRA).
    pub fn weights(&self) -> &[u8] {
        let name = if self.kind == "ocr-lora" {
            "adapter.safetensors"
        } else {
            "model.safetensors"
        };
        &self
            .files
            .iter()
            .find(|(n, _)| *n == name)
            .expect("weights")
            .1
    }
}

/// The model bundle(s) of a trained job: the model, and the merged weights when asked.
pub fn outputs(
    job: &Job,
    data: &Data,
    trained: &Trained,
) -> Result<(BundleFiles, Option<BundleFiles>)> {
    match (&job.cfg.lora, &job.parent) {
        (Some(l), Some((_, p))) => {
            let acfg = AdapterConfig {
                r: l.rank,
                lora_alpha: l.alpha,
                target_modules: l.target_modules.clone(),
            };
            let acfg_json = serde_json::to_vec_pretty(&acfg)?;
            let model = BundleFiles {
                kind: "ocr-lora",
                files: vec![
                    ("adapter_config.json", acfg_json),
                    ("adapter.safetensors", trained.weights.clone()),
                ],
                base: Some(p.hash),
            };
            let merged = if l.merge {
                let adapters = candle_core::safetensors::load_buffer(
                    &trained.weights,
                    &candle_core::Device::Cpu,
                )?;
                let w = ocr_train::to_safetensors(ocr_model::merge(
                    &p.loaded.tensors,
                    &adapters,
                    &acfg,
                )?)?;
                Some(BundleFiles {
                    kind: "ocr",
                    files: vec![
                        ("config.json", p.config_json.clone()),
                        ("vocab.json", p.vocab_json.clone()),
                        ("model.safetensors", w),
                    ],
                    base: None,
                })
            } else {
                None
            };
            Ok((model, merged))
        }
        _ => Ok((
            BundleFiles {
                kind: "ocr",
                files: vec![
                    ("config.json", serde_json::to_vec_pretty(&data.ocr_config)?),
                    ("vocab.json", data.vocab.to_json()),
                    ("model.safetensors", trained.weights.clone()),
                ],
                base: None,
            },
            None,
        )),
    }
}

/// Checks a config's values (after overrides), naming the file.
pub fn check(cfg: &RecipeConfig, file: &str) -> Result<()> {
    config::check(cfg).map_err(|e| anyhow!("{file}: {e}"))
}
