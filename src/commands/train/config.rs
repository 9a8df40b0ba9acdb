//! Recipe configs (`configs/ocr_teacher.toml`, `ocr_student.toml`, `ocr_lora.toml`): parsed
//! strictly (a wrong type or an unknown key is `file:line:col`), with the defaults embedded in
//! the binary and written into `configs/` when a project lacks them.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::ml::ocr::OcrConfig;
pub use crate::ml::recipe::Recipe;
use crate::project::Project;

use super::check::at_key;
pub use super::check::check;

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    pub height: usize,
    pub stem: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub ff: usize,
    /// Features of the local 2-D stage under the patch embedding (0 or absent: none).
    #[serde(default)]
    pub local: usize,
    /// Attention biased towards near steps (ALiBi).
    #[serde(default)]
    pub alibi: bool,
    /// The characters the model reads (its vocabulary), declared: absent means lab's Latin
    /// alphabet (`ml::vocab::LATIN`, 231 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alphabet: Option<String>,
}

impl ModelSection {
    pub fn with_vocab(&self, vocab_size: usize) -> OcrConfig {
        OcrConfig {
            height: self.height,
            stem: self.stem,
            hidden: self.hidden,
            layers: self.layers,
            heads: self.heads,
            ff: self.ff,
            local: self.local,
            alibi: self.alibi,
            vocab_size,
        }
    }
}

fn d_warmup() -> u64 {
    100
}
fn d_wd() -> f64 {
    0.01
}
fn d_val() -> usize {
    400
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    pub dataset: String,
    pub epochs: u32,
    pub batch_size: usize,
    pub learning_rate: f64,
    #[serde(default = "d_warmup")]
    pub warmup_steps: u64,
    #[serde(default = "d_wd")]
    pub weight_decay: f64,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default = "d_val")]
    pub val_lines: usize,
    /// Probability of each training-time degradation (blur, faint ink, noise); 0 = none.
    #[serde(default)]
    pub augment: f64,
    /// Start from this model's weights instead of a seeded initialisation: a model reference
    /// (`NAME`, `NAME@N`, a run id, a hash prefix) or a built-in base (`ocr_base`,
    /// `ocr_student_base`). Its `[model]` must match the recipe's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<String>,
    pub output: String,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DistillSection {
    pub teacher: String,
    pub temperature: f64,
    pub alpha: f64,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoraSection {
    pub base: String,
    pub rank: usize,
    pub alpha: f64,
    pub target_modules: Vec<String>,
    #[serde(default)]
    pub merge: bool,
}

/// The document model's shape (`[doc]`, Hugging Face Llama names).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DocSection {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    /// Tokens of the BPE tokenizer trained on the corpus (specials included).
    pub vocab_size: usize,
    pub max_position_embeddings: usize,
}

impl DocSection {
    pub fn llama(&self, vocab_size: usize) -> crate::ml::doc::llama::LlamaConfig {
        serde_json::from_value(serde_json::json!({
            "vocab_size": vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "max_position_embeddings": self.max_position_embeddings,
            "bos_token_id": 1,
            "eos_token_id": 2,
            "pad_token_id": 0,
        }))
        .expect("a complete Llama config")
    }
}

/// OCR noise injected into the document model's training text (`[noise]`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseSection {
    /// Largest character error rate; each example draws its rate from [0, rate).
    pub rate: f64,
    /// Share of training cells whose subject, room and teacher are replaced by made-up ones
    /// (words, codes and names from the training slice of lab's text lists), so the model
    /// learns to copy what the OCR read instead of recalling the generator's lists.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub open_vocab: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeConfig {
    #[serde(default)]
    pub model: Option<ModelSection>,
    #[serde(default)]
    pub doc: Option<DocSection>,
    #[serde(default)]
    pub noise: Option<NoiseSection>,
    pub train: TrainSection,
    #[serde(default)]
    pub distill: Option<DistillSection>,
    #[serde(default)]
    pub lora: Option<LoraSection>,
}

impl RecipeConfig {
    /// The recipe a config file is for: `[doc]` or `[noise]` → the document model (`[lora]` →
    /// its LoRA), else OCR: `[distill]` → distillation, `[lora]` → LoRA, else teacher.
    pub fn recipe(&self) -> Recipe {
        if self.doc.is_some() || self.noise.is_some() {
            if self.lora.is_some() {
                Recipe::DocLora
            } else {
                Recipe::DocBase
            }
        } else if self.lora.is_some() {
            Recipe::OcrLora
        } else if self.distill.is_some() {
            Recipe::OcrDistill
        } else {
            Recipe::OcrTeacher
        }
    }
}

/// Writes the built-in recipe configs that `configs/` lacks; returns the paths written
/// (relative to the project). An existing file is never touched.
pub fn write_defaults(project: &Project) -> Result<Vec<String>> {
    let dir = project.configs_dir();
    let mut out = Vec::new();
    for r in Recipe::ALL {
        let (file, text) = r.default_config();
        let p = dir.join(file);
        if !p.exists() {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
            out.push(project.display_path(&p));
        }
    }
    for (file, text) in [
        (crate::deploy::FILE, crate::deploy::DEFAULT),
        (crate::monitor::rules::FILE, crate::monitor::rules::DEFAULT),
    ] {
        let p = dir.join(file);
        if !p.exists() {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
            out.push(project.display_path(&p));
        }
    }
    Ok(out)
}

/// A parsed config with the file it came from.
pub struct Loaded {
    pub path: PathBuf,
    /// The file's bytes, as recorded (a blob) in the run.
    pub bytes: Vec<u8>,
    pub config: RecipeConfig,
}

/// Reads `path` (or the recipe's default file under `configs/`, written from the embedded
/// default when missing) and checks it fits `recipe`.
pub fn load(project: &Project, recipe: Option<Recipe>, path: Option<&Path>) -> Result<Loaded> {
    let path = match (path, recipe) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(r)) => {
            let (file, text) = r.default_config();
            let p = project.configs_dir().join(file);
            if !p.exists() {
                std::fs::create_dir_all(project.configs_dir()).with_context(|| {
                    format!("cannot create {}", project.configs_dir().display())
                })?;
                std::fs::write(&p, text)
                    .with_context(|| format!("cannot write {}", p.display()))?;
                eprintln!("wrote the default {}", project.display_path(&p));
            }
            p
        }
        (None, None) => bail!("no config given"),
    };
    let bytes = std::fs::read(&path).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e} — give an existing recipe config (see configs/)",
            path.display()
        )
    })?;
    let text = String::from_utf8(bytes.clone())
        .map_err(|_| anyhow::anyhow!("{}: not UTF-8 text", path.display()))?;
    let config: RecipeConfig = crate::project::parse_toml(&path, &text)?;
    let shown = path.display();
    let need = recipe.unwrap_or_else(|| config.recipe());
    match need {
        Recipe::OcrTeacher | Recipe::OcrDistill if config.model.is_none() => {
            bail!("{shown}: missing [model] section (height, stem, hidden, layers, heads, ff)")
        }
        Recipe::OcrDistill if config.distill.is_none() => {
            bail!("{shown}: missing [distill] section (teacher, temperature, alpha)")
        }
        Recipe::OcrLora if config.lora.is_none() => {
            bail!("{shown}: missing [lora] section (base, rank, alpha, target_modules)")
        }
        Recipe::OcrLora if config.model.is_some() => {
            bail!(
                "{shown}: [model] does not belong in a LoRA config — the base model fixes the shape"
            )
        }
        Recipe::DocBase | Recipe::DocLora if config.noise.is_none() => {
            bail!("{shown}: missing [noise] section (rate) — a document model recipe needs it")
        }
        Recipe::DocBase if config.doc.is_none() => {
            bail!(
                "{shown}: missing [doc] section (hidden_size, intermediate_size, num_hidden_layers, \
                 num_attention_heads, num_key_value_heads, vocab_size, max_position_embeddings)"
            )
        }
        Recipe::DocLora if config.lora.is_none() => {
            bail!("{shown}: missing [lora] section (base, rank, alpha, target_modules)")
        }
        Recipe::DocLora if config.doc.is_some() => {
            bail!(
                "{shown}: [doc] does not belong in a LoRA config — the base model fixes the shape"
            )
        }
        r if !r.is_doc() && (config.doc.is_some() || config.noise.is_some()) => {
            bail!(
                "{shown}: [doc] and [noise] are document-model sections; this is a {} config",
                r.id()
            )
        }
        _ => {}
    }
    check(&config)
        .map_err(|e| anyhow::anyhow!("{}: {e}", at_key(&shown.to_string(), &text, &e)))?;
    Ok(Loaded {
        path,
        bytes,
        config,
    })
}
