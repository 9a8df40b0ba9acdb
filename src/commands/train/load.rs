//! Models a run reads — a teacher, a LoRA base, an `--init-from` checkpoint — resolved by
//! reference and loaded from their bundles in the blob store, for either model family.

use anyhow::{Result, anyhow, bail};

use crate::event::Hash;
use crate::lab::Lab;
use crate::ml::bundle::ModelError;
use crate::ml::doc;
use crate::ml::ocr::model as ocr_model;
use crate::models;

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

/// A loaded document model with where it came from.
pub struct DocModel {
    pub name: String,
    pub hash: Hash,
    pub run: Option<String>,
    pub bundle: models::Bundle,
    pub loaded: doc::model::Loaded,
    /// The base's config and tokenizer files.
    pub config_json: Vec<u8>,
    pub tokenizer_json: Vec<u8>,
}

/// A parent model of a run: an OCR model (teacher, LoRA base) or a document model (LoRA base,
/// `--init-from` checkpoint).
#[allow(clippy::large_enum_variant)] // one or two per process
pub enum Parent {
    Ocr(OcrModel),
    Doc(DocModel),
}

impl Parent {
    pub fn name(&self) -> &str {
        match self {
            Parent::Ocr(m) => &m.name,
            Parent::Doc(m) => &m.name,
        }
    }
    pub fn hash(&self) -> Hash {
        match self {
            Parent::Ocr(m) => m.hash,
            Parent::Doc(m) => m.hash,
        }
    }
    pub fn kind(&self) -> &str {
        match self {
            Parent::Ocr(m) => &m.bundle.kind,
            Parent::Doc(m) => &m.bundle.kind,
        }
    }
}

/// Resolves and loads an OCR model by reference (`NAME`, `NAME@N`, run id, hash prefix).
pub fn load_model(lab: &Lab, reference: &str) -> Result<OcrModel> {
    match load_any(lab, reference)? {
        Parent::Ocr(m) => Ok(m),
        Parent::Doc(m) => bail!(
            "model {} is a document model; an OCR model is needed here",
            m.name
        ),
    }
}

/// Resolves and loads a document model by reference.
pub fn load_doc_model(lab: &Lab, reference: &str) -> Result<DocModel> {
    match load_any(lab, reference)? {
        Parent::Doc(m) => Ok(m),
        Parent::Ocr(m) => bail!(
            "model {} is an OCR model; a document model (doc_base, doc_lora) is needed here",
            m.name
        ),
    }
}

/// Resolves and loads a model of either family by reference.
pub fn load_any(lab: &Lab, reference: &str) -> Result<Parent> {
    let m = models::resolve_in(&lab.store, reference)?;
    load_bundle(lab, &m.name, m.hash, m.run)
}

/// Loads a model from its bundle hash.
pub fn load_bundle(lab: &Lab, name: &str, hash: Hash, run: Option<String>) -> Result<Parent> {
    let blobs = &lab.store.blobs;
    let b = models::bundle(blobs, &hash)?;
    let ctx = |e: ModelError| anyhow!("model {name} ({}): {e}", hash.short());
    let (base_hash, base) = match (&b.kind[..], b.base) {
        ("ocr" | "doc", _) => (hash, b.clone()),
        ("ocr-lora" | "doc-lora", Some(bh)) => (bh, models::bundle(blobs, &bh)?),
        (k, _) => bail!(
            "model {name} is of kind `{k}` (registered files), which lab cannot load to read or extract — it can be promoted, deployed behind [other] gates and exported"
        ),
    };
    let adapter = if b.kind.ends_with("-lora") {
        Some((
            models::file(blobs, &hash, &b, "adapter_config.json")?,
            models::file(blobs, &hash, &b, "adapter.safetensors")?,
        ))
    } else {
        None
    };
    let adapter_refs = adapter.as_ref().map(|(a, w)| (&a[..], &w[..]));
    let config_json = models::file(blobs, &base_hash, &base, "config.json")?;
    let weights = models::file(blobs, &base_hash, &base, "model.safetensors")?;
    if b.kind.starts_with("doc") {
        let tokenizer_json = models::file(blobs, &base_hash, &base, "tokenizer.json")?;
        let loaded =
            doc::model::load(&config_json, &tokenizer_json, &weights, adapter_refs).map_err(ctx)?;
        return Ok(Parent::Doc(DocModel {
            name: name.to_string(),
            hash,
            run,
            bundle: b,
            loaded,
            config_json,
            tokenizer_json,
        }));
    }
    let vocab_json = models::file(blobs, &base_hash, &base, "vocab.json")?;
    let loaded = ocr_model::load(&config_json, &vocab_json, &weights, adapter_refs).map_err(ctx)?;
    Ok(Parent::Ocr(OcrModel {
        name: name.to_string(),
        hash,
        run,
        bundle: b,
        loaded,
        config_json,
        vocab_json,
    }))
}

/// The model a recipe starts from (`[train] init`): a model in the registry or the runs, else
/// a built-in base (`models::builtin`). Returns the name a run records and the bundle hash;
/// with `store`, a built-in base's files are put into the blob store (so `lab replay` finds
/// them), without it nothing is written (what `lab pipeline --plan` compares).
pub fn resolve_init(
    lab: &Lab,
    reference: &str,
    store: bool,
) -> Result<(String, Hash, Option<String>)> {
    match models::resolve_in(&lab.store, reference) {
        Ok(m) => Ok((m.name, m.hash, m.run)),
        Err(e) => match models::builtin::builtin(reference) {
            Some(b) => {
                let hash = if store {
                    b.store(&lab.store.blobs)?
                } else {
                    b.hash()
                };
                Ok((b.label(), hash, None))
            }
            None => {
                let names: Vec<&str> = models::builtin::BUILTINS.iter().map(|b| b.name).collect();
                bail!(
                    "train.init `{reference}`: {e} — and it is not a built-in base ({})",
                    names.join(", ")
                )
            }
        },
    }
}

/// Resolves and loads the model a recipe of the OCR (`doc == false`) or document family
/// starts from, refusing an adapter or a model of the other family.
pub fn load_init(lab: &Lab, reference: &str, doc: bool) -> Result<Parent> {
    let (name, hash, run) = resolve_init(lab, reference, true)?;
    let m = load_bundle(lab, &name, hash, run)?;
    if m.kind().ends_with("-lora") {
        bail!(
            "train.init `{reference}`: {name} is a LoRA adapter — start from a full model (or one \
             written with lora.merge = true)"
        );
    }
    match (&m, doc) {
        (Parent::Ocr(_), true) => bail!(
            "train.init `{reference}`: {name} is an OCR model; a document recipe starts from a document model"
        ),
        (Parent::Doc(_), false) => bail!(
            "train.init `{reference}`: {name} is a document model; an OCR recipe starts from an OCR model"
        ),
        _ => Ok(m),
    }
}
