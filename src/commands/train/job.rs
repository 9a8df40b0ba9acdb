//! A training job: everything a recipe run needs, gathered either from a config file and the
//! command line (`lab train`) or from a recorded run (`lab replay`), then data loading,
//! fitting and the output bundles. Both paths share every step after gathering, so a replay
//! runs exactly what the original run ran.

use anyhow::{Result, anyhow, bail};

use super::config::{self, Recipe, RecipeConfig};
use super::data;
use crate::event::Hash;
use crate::lab::Lab;
use crate::ml::bundle::{self, AdapterConfig, Tensors};
use crate::ml::doc;
use crate::ml::ocr::OcrConfig;
use crate::ml::ocr::train::{self as ocr_train, Hyper, LineSet, Mode};
use crate::ml::train::{Lora, Observer, Schedule, Trained};
use crate::ml::vocab::Vocab;
use crate::models;
use crate::progress::Reporter;

pub use super::load::{
    DocModel, OcrModel, Parent, load_any, load_bundle, load_doc_model, load_init, load_model,
    resolve_init,
};

/// Everything a recipe run consumes.
pub struct Job {
    pub recipe: Recipe,
    /// The effective settings (config file plus overrides).
    pub cfg: RecipeConfig,
    pub seed: u64,
    pub snap: data::Snapshot,
    /// `("teacher" | "base", model)`.
    pub parent: Option<(&'static str, Parent)>,
    /// The weights training starts from (`[train] init`, `--init-from`), recorded as `init`.
    pub init: Option<Parent>,
}

impl Job {
    /// The parent model a config names, loaded.
    pub fn parent_of(
        lab: &Lab,
        recipe: Recipe,
        cfg: &RecipeConfig,
    ) -> Result<Option<(&'static str, Parent)>> {
        Ok(match (&cfg.distill, &cfg.lora) {
            (Some(d), _) => Some(("teacher", Parent::Ocr(load_model(lab, &d.teacher)?))),
            (_, Some(l)) => {
                let m = if recipe.is_doc() {
                    Parent::Doc(load_doc_model(lab, &l.base)?)
                } else {
                    Parent::Ocr(load_model(lab, &l.base)?)
                };
                if m.kind().ends_with("-lora") {
                    bail!(
                        "base model {} is a LoRA adapter; adapt a full model (or one written with --merge)",
                        m.name()
                    );
                }
                Some(("base", m))
            }
            _ => None,
        })
    }

    fn ocr_parent(&self) -> Option<&OcrModel> {
        match &self.parent {
            Some((_, Parent::Ocr(m))) => Some(m),
            _ => None,
        }
    }

    fn doc_parent(&self) -> Option<&DocModel> {
        match &self.parent {
            Some((_, Parent::Doc(m))) => Some(m),
            _ => None,
        }
    }

    fn ocr_init(&self) -> Option<&OcrModel> {
        match &self.init {
            Some(Parent::Ocr(m)) => Some(m),
            _ => None,
        }
    }

    fn doc_init(&self) -> Option<&DocModel> {
        match &self.init {
            Some(Parent::Doc(m)) => Some(m),
            _ => None,
        }
    }

    /// The models the run reads, with the role each is recorded under.
    pub fn parents(&self) -> impl Iterator<Item = (&'static str, &Parent)> {
        let p = self.parent.as_ref().map(|(role, p)| (*role, p));
        p.into_iter().chain(self.init.as_ref().map(|m| ("init", m)))
    }

    /// The effective settings as recorded with a run (JSON).
    pub fn settings_json(&self) -> Vec<u8> {
        Job::settings_json_of(&self.cfg)
    }

    /// The effective settings of `cfg` as recorded with a run (JSON).
    pub fn settings_json_of(cfg: &RecipeConfig) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(cfg).expect("config serialises");
        v.push(b'\n');
        v
    }

    fn height(&self) -> usize {
        match (&self.cfg.model, self.ocr_parent().or(self.ocr_init())) {
            (Some(m), _) => m.height,
            (None, Some(p)) => p.loaded.model.config.height,
            (None, None) => 32,
        }
    }
}

/// The job's data: OCR lines or document-model examples.
#[allow(clippy::large_enum_variant)] // one per process
pub enum Data {
    Ocr(OcrData),
    Doc(DocData),
}

impl Data {
    /// Training examples (lines or cells).
    pub fn train_len(&self) -> usize {
        match self {
            Data::Ocr(d) => d.train.len(),
            Data::Doc(d) => d.train.len(),
        }
    }
}

/// The document model's examples, tokenizer and shape.
pub struct DocData {
    pub train: Vec<doc::train::Example>,
    pub val: Vec<doc::train::Example>,
    pub tok: doc::tok::Tok,
    pub config: doc::llama::LlamaConfig,
}

/// OCR lines, preprocessed and encoded.
pub struct OcrData {
    pub train: LineSet,
    pub val: LineSet,
    pub vocab: Vocab,
    pub ocr_config: OcrConfig,
}

/// Encodes a split's texts. A training label with a character outside the vocabulary is an
/// error naming the file, line and character (a model cannot learn what it cannot emit); an
/// evaluation label keeps the characters it can score.
fn encode(split: data::Split, vocab: &Vocab, train: bool, label: &str) -> Result<LineSet> {
    let mut set = LineSet::default();
    let name = if train { "train" } else { "val" };
    for (it, line) in split.items.into_iter().zip(split.lines) {
        match vocab.encode(&it.text) {
            Ok(t) => set.targets.push(t),
            Err(c) if train => bail!(
                "lines/{name}.jsonl:{} in {label}: the label {:?} has the character {c:?} \
                 (U+{:04X}), which is not in the model's alphabet — fix the label, or declare \
                 the character in the recipe's [model] alphabet (a LoRA or distillation keeps \
                 its parent's alphabet)",
                it.line,
                it.text,
                c as u32
            ),
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
    Ok(set)
}

/// Reads the train and val splits of the job's snapshot (from blobs) and encodes them.
pub fn load_data(lab: &Lab, job: &Job, reporter: &dyn Reporter) -> Result<Data> {
    reporter.status(&format!("loading {} (train, val)", job.snap.label));
    if job.recipe.is_doc() {
        return Ok(Data::Doc(load_doc_data(lab, job)?));
    }
    let height = job.height();
    let train_split = job.snap.split(lab, "train", height, 0)?;
    let val_split = job.snap.split(lab, "val", height, 0)?;
    let vocab = match (job.ocr_parent(), job.cfg.model.as_ref()) {
        (Some(p), _) => p.loaded.vocab.clone(),
        (None, Some(m)) => match &m.alphabet {
            Some(a) => Vocab::from_alphabet(a)
                .map_err(|e| anyhow::anyhow!("the recipe's [model] alphabet: {e}"))?,
            None => Vocab::latin(),
        },
        (None, None) => Vocab::latin(),
    };
    let label = &job.snap.label;
    let train = encode(train_split, &vocab, true, label)?;
    let val = encode(val_split, &vocab, false, label)?;
    let ocr_config = match (&job.cfg.model, job.ocr_parent()) {
        (Some(m), _) => m.with_vocab(vocab.size()),
        (None, Some(p)) => p.loaded.model.config.clone(),
        (None, None) => bail!("the config has no [model] section and no parent model"),
    };
    if let Some(i) = job.ocr_init() {
        if i.loaded.vocab != vocab {
            bail!(
                "train.init: {} reads another alphabet ({} characters) than this recipe ({}) — \
                 start from a model with the same [model] alphabet",
                i.name,
                i.loaded.vocab.size(),
                vocab.size()
            );
        }
        if i.loaded.model.config != ocr_config {
            bail!(
                "train.init: {} has another shape than this recipe's [model] ({:?} against {:?}) — \
                 start from a model with the same [model] settings",
                i.name,
                i.loaded.model.config,
                ocr_config
            );
        }
    }
    Ok(Data::Ocr(OcrData {
        train,
        val,
        vocab,
        ocr_config,
    }))
}

/// The cells of the train and val timetables as examples; the tokenizer of the parent
/// (LoRA base, `--init-from` checkpoint) or one trained on the train split's text.
fn load_doc_data(lab: &Lab, job: &Job) -> Result<DocData> {
    let records = |split: &str| -> Result<Vec<doc::record::Record>> {
        Ok(job
            .snap
            .timetables(lab, split)?
            .into_iter()
            .flat_map(|t| t.entries)
            .collect())
    };
    let open_vocab = job.cfg.noise.as_ref().map_or(0.0, |n| n.open_vocab);
    let train: Vec<doc::train::Example> = records("train")?
        .into_iter()
        .enumerate()
        .map(|(i, r)| doc::train::Example::of(&super::data::open_cell(r, open_vocab, job.seed, i)))
        .collect();
    let val: Vec<doc::train::Example> = records("val")?
        .iter()
        .map(doc::train::Example::of)
        .collect();
    if train.is_empty() {
        bail!(
            "snapshot {} has no entries in its train split",
            job.snap.label
        );
    }
    let rate = job.cfg.noise.as_ref().map_or(0.0, |n| n.rate);
    let (tok, config) = match (job.doc_parent().or(job.doc_init()), &job.cfg.doc) {
        (Some(p), _) => (p.loaded.tok.clone(), p.loaded.config.clone()),
        (None, Some(d)) => {
            // The corpus: every training cell once with noise, and every answer.
            let corpus: Vec<String> = train
                .iter()
                .enumerate()
                .flat_map(|(i, e)| {
                    let mut rng = doc::train::noise_rng(job.seed, 0, i);
                    [e.noisy_prompt(rate, &mut rng), e.record.to_json()]
                })
                .collect();
            let tok = doc::tok::Tok::train(&corpus, d.vocab_size)?;
            let config = d.llama(tok.vocab_size());
            (tok, config)
        }
        (None, None) => bail!("the config has no [doc] section and no parent model"),
    };
    let val_n = match job.cfg.train.val_lines {
        0 => val.len(),
        n => n.min(val.len()),
    };
    let val: Vec<doc::train::Example> = doc::train::shuffled(val.len(), job.seed)
        .into_iter()
        .take(val_n)
        .map(|i| val[i].clone())
        .collect();
    Ok(DocData {
        train,
        val,
        tok,
        config,
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
    let data = match data {
        Data::Doc(d) => return fit_doc(job, d, checkpoint, obs),
        Data::Ocr(d) => d,
    };
    let hyper = Hyper {
        schedule: schedule(job),
        val_lines: cfg.train.val_lines,
        augment: cfg.train.augment,
    };
    let init = job.ocr_init().map(|m| &m.loaded.tensors);
    let mode = match (&cfg.distill, &cfg.lora, job.ocr_parent()) {
        (Some(d), _, Some(p)) => Mode::Distill {
            teacher: &p.loaded.model,
            temperature: d.temperature,
            alpha: d.alpha,
            init,
        },
        (_, Some(l), Some(p)) => Mode::Lora(lora(l, &p.loaded.tensors)),
        _ => Mode::Full { init },
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

/// The optimisation settings of the job's recipe, seeded by the job.
fn schedule(job: &Job) -> Schedule {
    let t = &job.cfg.train;
    Schedule {
        epochs: t.epochs,
        batch_size: t.batch_size,
        learning_rate: t.learning_rate,
        warmup_steps: t.warmup_steps,
        weight_decay: t.weight_decay,
        seed: job.seed,
    }
}

/// The adapters a `[lora]` section trains on `base`.
fn lora<'a>(l: &config::LoraSection, base: &'a Tensors) -> Lora<'a> {
    Lora {
        base,
        rank: l.rank,
        alpha: l.alpha,
        targets: l.target_modules.clone(),
    }
}

fn fit_doc(
    job: &Job,
    data: &DocData,
    checkpoint: Option<&[u8]>,
    obs: &mut dyn Observer,
) -> Result<Trained> {
    let cfg = &job.cfg;
    let hyper = doc::train::Hyper {
        schedule: schedule(job),
        noise: cfg.noise.as_ref().map_or(0.0, |n| n.rate),
        val_examples: 0,
    };
    let mode = match (&cfg.lora, job.doc_parent()) {
        (Some(l), Some(p)) => doc::train::Mode::Lora(lora(l, &p.loaded.tensors)),
        (None, _) => doc::train::Mode::Full {
            init: job.doc_init().map(|p| &p.loaded.tensors),
        },
        (Some(_), None) => bail!("a LoRA recipe without its base model"),
    };
    doc::train::train(
        &data.config,
        &data.tok,
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
        let name = if self.kind.ends_with("-lora") {
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
    if let Data::Doc(d) = data {
        return doc_outputs(job, d, trained);
    }
    let Data::Ocr(data) = data else {
        unreachable!()
    };
    match (&job.cfg.lora, job.ocr_parent()) {
        (Some(l), Some(p)) => lora_bundles(
            ("ocr-lora", "ocr"),
            l,
            trained,
            p.hash,
            &p.loaded.tensors,
            vec![
                ("config.json", p.config_json.clone()),
                ("vocab.json", p.vocab_json.clone()),
            ],
        ),
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

/// A LoRA run's bundles: the adapter (naming its base), and with `merge` the base's files
/// (`base_files`) with the adapters merged into its weights, as a full model.
fn lora_bundles(
    (adapter_kind, full_kind): (&'static str, &'static str),
    l: &config::LoraSection,
    trained: &Trained,
    base: Hash,
    base_tensors: &Tensors,
    mut base_files: Vec<(&'static str, Vec<u8>)>,
) -> Result<(BundleFiles, Option<BundleFiles>)> {
    let acfg = AdapterConfig {
        r: l.rank,
        lora_alpha: l.alpha,
        target_modules: l.target_modules.clone(),
    };
    let model = BundleFiles {
        kind: adapter_kind,
        files: vec![
            ("adapter_config.json", serde_json::to_vec_pretty(&acfg)?),
            ("adapter.safetensors", trained.weights.clone()),
        ],
        base: Some(base),
    };
    let merged = if l.merge {
        let w = bundle::merge_bytes(base_tensors, &trained.weights, &acfg)?;
        base_files.push(("model.safetensors", w));
        Some(BundleFiles {
            kind: full_kind,
            files: base_files,
            base: None,
        })
    } else {
        None
    };
    Ok((model, merged))
}

fn doc_outputs(
    job: &Job,
    data: &DocData,
    trained: &Trained,
) -> Result<(BundleFiles, Option<BundleFiles>)> {
    match (&job.cfg.lora, job.doc_parent()) {
        (Some(l), Some(p)) if job.recipe == Recipe::DocLora => lora_bundles(
            ("doc-lora", "doc"),
            l,
            trained,
            p.hash,
            &p.loaded.tensors,
            vec![
                ("config.json", p.config_json.clone()),
                ("tokenizer.json", p.tokenizer_json.clone()),
            ],
        ),
        _ => {
            let mut config = serde_json::to_vec_pretty(&data.config)?;
            config.push(b'\n');
            Ok((
                BundleFiles {
                    kind: "doc",
                    files: vec![
                        ("config.json", config),
                        ("tokenizer.json", data.tok.to_json()),
                        ("model.safetensors", trained.weights.clone()),
                    ],
                    base: None,
                },
                None,
            ))
        }
    }
}

/// Checks a config's values (after overrides), naming the file.
pub fn check(cfg: &RecipeConfig, file: &str) -> Result<()> {
    config::check(cfg).map_err(|e| anyhow!("{file}: {e}"))
}
