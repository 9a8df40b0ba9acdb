//! Trained models in the store. A model is a bundle: a small JSON blob naming the blobs of its
//! files (`config.json`, `vocab.json`, `model.safetensors`, or for a LoRA adaptation
//! `adapter_config.json` + `adapter.safetensors` and the bundle of its base). The bundle's hash
//! is the model's identity. A training run names its model in `RunFinished.outputs` as
//! `NAME@N` (role `model`): versions count up per name.
//!
//! A model reference is `NAME` (newest), `NAME@latest`, `NAME@N`, a run id prefix, or a bundle
//! hash prefix (≥ 6 hex digits).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::event::{Hash, RunStatus};
use crate::store::{BlobError, BlobStore, RunRow};

const BUNDLE_FORMAT: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub format: u32,
    /// `ocr`, or `ocr-lora` (adapter only, on `base`).
    pub kind: String,
    pub files: BTreeMap<String, Hash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Hash>,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error("model {hash}: its bundle is not readable ({detail}) — run `lab verify`")]
    BadBundle { hash: String, detail: String },
    #[error("model {hash} has no file `{file}`")]
    MissingFile { hash: String, file: String },
}

/// The bundle of `files` and its hash, computed without storing anything.
pub fn bundle_hash(kind: &str, files: &[(&str, &[u8])], base: Option<Hash>) -> (Hash, Vec<u8>) {
    let map = files
        .iter()
        .map(|(name, bytes)| (name.to_string(), Hash::of(bytes)))
        .collect();
    let b = Bundle {
        format: BUNDLE_FORMAT,
        kind: kind.to_string(),
        files: map,
        base,
    };
    let mut json = serde_json::to_vec_pretty(&b).expect("bundle serialises");
    json.push(b'\n');
    (Hash::of(&json), json)
}

/// Stores `files` as blobs, then the bundle naming them; returns the bundle's hash.
/// Files first: a crash leaves unreferenced blobs, never a bundle naming a missing file.
pub fn save(
    blobs: &BlobStore,
    kind: &str,
    files: &[(&str, &[u8])],
    base: Option<Hash>,
) -> Result<Hash, ModelsError> {
    for (_, bytes) in files {
        blobs.put(bytes)?;
    }
    let (_, json) = bundle_hash(kind, files, base);
    Ok(blobs.put(&json)?)
}

pub fn bundle(blobs: &BlobStore, hash: &Hash) -> Result<Bundle, ModelsError> {
    let bytes = blobs.get(hash)?;
    let b: Bundle = serde_json::from_slice(&bytes).map_err(|e| ModelsError::BadBundle {
        hash: hash.short(),
        detail: e.to_string(),
    })?;
    if b.format != BUNDLE_FORMAT {
        return Err(ModelsError::BadBundle {
            hash: hash.short(),
            detail: format!("format {} is newer than this lab reads", b.format),
        });
    }
    Ok(b)
}

/// The bytes of one file of a bundle (hash-checked).
pub fn file(
    blobs: &BlobStore,
    hash: &Hash,
    b: &Bundle,
    name: &str,
) -> Result<Vec<u8>, ModelsError> {
    let h = b.files.get(name).ok_or_else(|| ModelsError::MissingFile {
        hash: hash.short(),
        file: name.to_string(),
    })?;
    Ok(blobs.get(h)?)
}

/// A trained model as the runs view knows it.
#[derive(Clone, Debug, Serialize)]
pub struct ModelRow {
    /// `NAME@N`.
    pub name: String,
    pub hash: Hash,
    pub run: String,
    pub recipe: String,
    pub finished_ns: Option<i64>,
}

/// Every model output of a finished run, oldest first.
pub fn all(runs: &[RunRow]) -> Vec<ModelRow> {
    let mut out: Vec<ModelRow> = runs
        .iter()
        .filter(|r| r.status == RunStatus::Finished)
        .flat_map(|r| {
            r.outputs
                .iter()
                .filter(|o| o.role == "model")
                .map(|o| ModelRow {
                    name: o.name.clone(),
                    hash: o.hash,
                    run: r.id.clone(),
                    recipe: r.recipe.clone(),
                    finished_ns: r.finished_ns,
                })
        })
        .collect();
    out.sort_by_key(|m| (m.finished_ns, m.name.clone()));
    out
}

/// The version the next model called `name` gets.
pub fn next_version(runs: &[RunRow], name: &str) -> u32 {
    all(runs)
        .iter()
        .filter_map(|m| split(&m.name).filter(|(n, _)| *n == name).map(|(_, v)| v))
        .max()
        .unwrap_or(0)
        + 1
}

fn split(s: &str) -> Option<(&str, u32)> {
    let (n, v) = s.rsplit_once('@')?;
    Some((n, v.parse().ok()?))
}

/// Resolves a model reference (see the module doc).
pub fn resolve(runs: &[RunRow], reference: &str) -> Result<ModelRow, String> {
    let models = all(runs);
    let known = || {
        let mut names: Vec<&str> = models
            .iter()
            .filter_map(|m| split(&m.name).map(|(n, _)| n))
            .collect();
        names.sort();
        names.dedup();
        if names.is_empty() {
            "no trained models yet — run `lab train ocr-teacher`".to_string()
        } else {
            format!("known models: {}", names.join(", "))
        }
    };
    let (name, version) = match reference.rsplit_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (reference, None),
    };
    let of_name: Vec<&ModelRow> = models
        .iter()
        .filter(|m| split(&m.name).is_some_and(|(n, _)| n == name))
        .collect();
    if !of_name.is_empty() {
        return match version {
            None | Some("latest") => Ok(of_name
                .iter()
                .max_by_key(|m| split(&m.name).map(|x| x.1))
                .copied()
                .cloned()
                .unwrap()),
            Some(v) => {
                let n: u32 = v
                    .parse()
                    .map_err(|_| format!("bad model version `{v}` in `{reference}`: use NAME@N"))?;
                of_name
                    .iter()
                    .find(|m| split(&m.name).map(|x| x.1) == Some(n))
                    .map(|m| (*m).clone())
                    .ok_or_else(|| format!("model {reference} does not exist — {}", known()))
            }
        };
    }
    if version.is_none() && reference.len() >= 6 && reference.chars().all(|c| c.is_ascii_hexdigit())
    {
        let r = reference.to_ascii_lowercase();
        let hits: Vec<&ModelRow> = models
            .iter()
            .filter(|m| m.hash.to_hex().starts_with(&r) || m.run.starts_with(&r))
            .collect();
        match hits.len() {
            1 => return Ok(hits[0].clone()),
            0 => {}
            _ => return Err(format!("`{reference}` is ambiguous: give more digits")),
        }
    }
    Err(format!("unknown model `{reference}` — {}", known()))
}
