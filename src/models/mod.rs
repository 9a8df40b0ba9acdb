//! Trained models in the store. A model is a bundle: a small JSON blob naming the blobs of its
//! files (`config.json`, `vocab.json`, `model.safetensors`, or for a LoRA adaptation
//! `adapter_config.json` + `adapter.safetensors` and the bundle of its base). The bundle's hash
//! is the model's identity. A training run names its model in `RunFinished.outputs` as
//! `NAME@N` (role `model`): versions count up per name.
//!
//! Model versions live in the registry view (`store::registry`): a training output `NAME@N` is
//! version N of NAME, and `lab models register` adds versions (possibly of the same bundle
//! under another name). A model reference is `NAME` (newest), `NAME@latest`, `NAME@N`,
//! `NAME@production` / `NAME@staging` / `NAME@archived` (the newest version in that stage),
//! `NAME@ALIAS` (`NAME@champion`), a run id prefix, or a bundle hash prefix (≥ 6 hex digits).
//! [`resolve`] is the one place references are read; every verb naming a model goes through it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::event::{Hash, RunStatus, Stage};
use crate::store::views::Query;
use crate::store::{BlobError, BlobStore, RunRow, Store, StoreError, VersionRow};

pub mod builtin;
pub mod serving;
pub use serving::{Served, default_model, named_or_default, served, serving, serving_rows};

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
    #[error(transparent)]
    Store(#[from] StoreError),
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

/// Stores the bundle of files already in the blob store (`files`: relative path → blob);
/// returns the bundle's hash. Exactly `config.json`, `vocab.json` and `model.safetensors` is
/// lab's OCR layout (kind `ocr`, the bundle `lab models export` wrote); other files lab does
/// not load: `hf` (a `config.json` beside `*.safetensors`: the Hugging Face layout) or `opaque`.
pub fn save_refs(
    blobs: &BlobStore,
    files: BTreeMap<String, Hash>,
) -> Result<(Hash, String), ModelsError> {
    // Exactly lab's OCR layout (what `lab models export` writes): an OCR model again, the same
    // bundle as the one exported. Its files are checked when it is loaded.
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    let ocr = names == ["config.json", "model.safetensors", "vocab.json"];
    let hf = files.contains_key("config.json") && files.keys().any(|f| f.ends_with(".safetensors"));
    let kind = match (ocr, hf) {
        (true, _) => "ocr",
        (false, true) => "hf",
        (false, false) => "opaque",
    }
    .to_string();
    let b = Bundle {
        format: BUNDLE_FORMAT,
        kind: kind.clone(),
        files,
        base: None,
    };
    let mut json = serde_json::to_vec_pretty(&b).expect("bundle serialises");
    json.push(b'\n');
    Ok((blobs.put(&json)?, kind))
}

/// The bundle stored as `hash`.
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
    /// The run that made it; `None` for a bundle registered by hash with no known run.
    pub run: Option<String>,
    /// The run's recipe (empty without a run).
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
                    run: Some(r.id.clone()),
                    recipe: r.recipe.clone(),
                    finished_ns: r.finished_ns,
                })
        })
        .collect();
    out.sort_by_key(|m| (m.finished_ns, m.name.clone()));
    out
}

/// The version the next model called `name` gets: after every version of the name, trained
/// or registered.
pub fn next_version(registry: &[VersionRow], name: &str) -> u32 {
    registry
        .iter()
        .filter(|v| v.name == name)
        .map(|v| v.version)
        .max()
        .unwrap_or(0)
        + 1
}

/// The stage a reference suffix or a `--to` value names (`production`, `Staging`…).
pub fn parse_stage(s: &str) -> Option<Stage> {
    match s.to_ascii_lowercase().as_str() {
        "none" => Some(Stage::None),
        "staging" => Some(Stage::Staging),
        "production" => Some(Stage::Production),
        "archived" => Some(Stage::Archived),
        _ => None,
    }
}

/// `production`, `staging`… as written in references.
pub fn stage_name(s: Stage) -> &'static str {
    match s {
        Stage::None => "none",
        Stage::Staging => "staging",
        Stage::Production => "production",
        Stage::Archived => "archived",
    }
}

/// Reads the views and resolves `reference` (see [`resolve`]).
pub fn resolve_in(store: &Store, reference: &str) -> Result<ModelRow, ResolveError> {
    let (runs, registry) = store.read_views(|v| Ok((v.runs_all()?, v.registry()?)))?;
    resolve(&runs, &registry, reference).map_err(ResolveError::Unknown)
}

/// The version a bare model name means where a model is *used* (`lab ocr`, `lab extract`):
/// the one deployed to production, else the newest in the registry's production stage, else
/// the newest — with why, for the output to say. A reference with `@`, or one that is not a
/// registered name (a run id, a hash prefix), is returned as it is, with no reason.
pub fn pin(store: &Store, reference: &str) -> Result<(String, Option<String>), StoreError> {
    if reference.contains('@') {
        return Ok((reference.to_string(), None));
    }
    let (registry, deps) = store.read_views(|v| Ok((v.registry()?, v.deployments()?)))?;
    let of_name: Vec<&VersionRow> = registry.iter().filter(|m| m.name == reference).collect();
    let Some(newest) = of_name.iter().max_by_key(|m| m.version) else {
        return Ok((reference.to_string(), None));
    };
    if let Some(d) = deps
        .iter()
        .find(|d| d.env == "production" && d.model == reference)
    {
        return Ok((
            format!("{reference}@{}", d.version),
            Some("deployed to production".into()),
        ));
    }
    if let Some(p) = of_name
        .iter()
        .filter(|m| m.stage == Stage::Production)
        .max_by_key(|m| m.version)
    {
        return Ok((
            format!("{reference}@{}", p.version),
            Some("the production stage's newest; none deployed".into()),
        ));
    }
    Ok((
        format!("{reference}@{}", newest.version),
        Some("the newest; none deployed or in production".into()),
    ))
}

/// Why a reference did not resolve.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The reference names no model; the message lists what exists.
    #[error("{0}")]
    Unknown(String),
}

/// The version a reference names, as a registry row (see the module doc for the forms).
pub fn resolve_version<'a>(
    registry: &'a [VersionRow],
    reference: &str,
) -> Result<&'a VersionRow, String> {
    let known = || {
        let mut names: Vec<&str> = registry.iter().map(|m| m.name.as_str()).collect();
        names.dedup();
        if names.is_empty() {
            "no models yet — train one (lab train ocr-teacher) or register one (lab models register)"
                .to_string()
        } else {
            format!("known models: {}", names.join(", "))
        }
    };
    let (name, suffix) = match reference.rsplit_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (reference, None),
    };
    let of_name: Vec<&VersionRow> = registry.iter().filter(|m| m.name == name).collect();
    if let Some(newest) = of_name.iter().max_by_key(|m| m.version) {
        let Some(suffix) = suffix.filter(|s| *s != "latest") else {
            return Ok(newest);
        };
        if let Ok(n) = suffix.parse::<u32>() {
            return of_name
                .iter()
                .find(|m| m.version == n)
                .copied()
                .ok_or_else(|| {
                    format!(
                        "model {reference} does not exist — {name} has versions {}",
                        versions(&of_name)
                    )
                });
        }
        if let Some(stage) = parse_stage(suffix) {
            return of_name
                .iter()
                .filter(|m| m.stage == stage)
                .max_by_key(|m| m.version)
                .copied()
                .ok_or_else(|| {
                    format!(
                        "model {name} has no version in stage {} — promote one: lab models promote {name} VERSION --to {}",
                        stage_name(stage),
                        stage_name(stage)
                    )
                });
        }
        if let Some(m) = of_name
            .iter()
            .find(|m| m.aliases.iter().any(|a| a == suffix))
        {
            return Ok(m);
        }
        let mut aliases: Vec<&str> = of_name
            .iter()
            .flat_map(|m| m.aliases.iter().map(String::as_str))
            .collect();
        aliases.sort();
        return Err(format!(
            "model {name} has no version, stage or alias `{suffix}` — versions {}; stages production, staging, archived; aliases: {}",
            versions(&of_name),
            if aliases.is_empty() {
                "none".to_string()
            } else {
                aliases.join(", ")
            }
        ));
    }
    if suffix.is_none() && reference.len() >= 6 && reference.chars().all(|c| c.is_ascii_hexdigit())
    {
        let r = reference.to_ascii_lowercase();
        let mut hits: Vec<&VersionRow> = registry
            .iter()
            .filter(|m| {
                m.model.to_hex().starts_with(&r)
                    || m.run.as_deref().is_some_and(|x| x.starts_with(&r))
            })
            .collect();
        // Several versions of one bundle are one model: the oldest version names it.
        hits.sort_by_key(|m| m.seq);
        let first = hits.first().map(|m| m.model);
        if let Some(h) = first {
            if hits.iter().all(|m| m.model == h) {
                return Ok(hits[0]);
            }
            return Err(format!("`{reference}` is ambiguous: give more digits"));
        }
    }
    Err(format!("unknown model `{reference}` — {}", known()))
}

fn versions(rows: &[&VersionRow]) -> String {
    let mut v: Vec<u32> = rows.iter().map(|m| m.version).collect();
    v.sort();
    match (v.first(), v.last()) {
        (Some(a), Some(b)) if v.len() as u32 == b - a + 1 => format!("{a}..={b}"),
        _ => v.iter().map(u32::to_string).collect::<Vec<_>>().join(", "),
    }
}

/// Resolves a model reference (see the module doc) to the model it names.
pub fn resolve(
    runs: &[RunRow],
    registry: &[VersionRow],
    reference: &str,
) -> Result<ModelRow, String> {
    let v = resolve_version(registry, reference)?;
    let run = v
        .run
        .as_deref()
        .and_then(|id| runs.iter().find(|r| r.id == id));
    Ok(ModelRow {
        name: v.label(),
        hash: v.model,
        run: v.run.clone(),
        recipe: run.map(|r| r.recipe.clone()).unwrap_or_default(),
        finished_ns: run.and_then(|r| r.finished_ns).or(Some(v.time_ns)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Source;

    fn v(name: &str, version: u32, hash: u8, stage: Stage, aliases: &[&str]) -> VersionRow {
        VersionRow {
            name: name.into(),
            version,
            model: Hash([hash; 32]),
            run: Some(format!("{hash:02x}run")),
            source: Source::Trained,
            description: String::new(),
            meta: BTreeMap::new(),
            stage,
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            // Registered after the trained versions.
            seq: if name == "prod" { 100 } else { version as u64 },
            time_ns: 0,
        }
    }

    fn reg() -> Vec<VersionRow> {
        vec![
            v("ocr", 1, 0xa1, Stage::Archived, &[]),
            v("ocr", 2, 0xa2, Stage::Production, &["champion"]),
            v("ocr", 3, 0xa3, Stage::Staging, &[]),
            v("prod", 1, 0xa2, Stage::None, &[]),
        ]
    }

    #[test]
    fn references_resolve_by_version_stage_alias_and_hash() {
        let r = reg();
        let get = |s: &str| resolve_version(&r, s).map(|x| x.label());
        assert_eq!(get("ocr").unwrap(), "ocr@3");
        assert_eq!(get("ocr@latest").unwrap(), "ocr@3");
        assert_eq!(get("ocr@1").unwrap(), "ocr@1");
        assert_eq!(get("ocr@production").unwrap(), "ocr@2");
        assert_eq!(get("ocr@Staging").unwrap(), "ocr@3");
        assert_eq!(get("ocr@archived").unwrap(), "ocr@1");
        assert_eq!(get("ocr@champion").unwrap(), "ocr@2");
        // One bundle under two names is one model: the oldest version names it.
        assert_eq!(get("a2a2a2").unwrap(), "ocr@2");
        assert_eq!(get("a3a3a3a3").unwrap(), "ocr@3");
        assert!(get("ocr@4").unwrap_err().contains("versions 1..=3"));
        assert!(
            get("prod@production")
                .unwrap_err()
                .contains("no version in stage production")
        );
        let e = get("ocr@best").unwrap_err();
        assert!(e.contains("alias `best`") && e.contains("champion"), "{e}");
        assert!(get("nope").unwrap_err().contains("known models: ocr, prod"));
    }

    #[test]
    fn next_version_counts_every_version_of_the_name() {
        let r = reg();
        assert_eq!(next_version(&r, "ocr"), 4);
        assert_eq!(next_version(&r, "prod"), 2);
        assert_eq!(next_version(&r, "new"), 1);
    }
}
