//! Models lab did not train: the files a `lab run` wrote (its `--out` outputs, else the
//! artifacts it captured) or a directory on disk, registered as a bundle of kind `hf` (a
//! Hugging Face layout: `config.json` + `*.safetensors`) or `opaque` — or `ocr` when the
//! files are exactly lab's OCR layout (`lab models export` of an OCR model: registering it
//! back gives the same bundle). They can be registered, promoted, deployed behind `[other]`
//! gates, exported and replayed (through their run); lab serves only its own families.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::event::{DataRef, Hash};
use crate::lab::Lab;
use crate::models;
use crate::store::RunRow;

/// The files a `DataRef` names: a directory's manifest entries under `prefix`, or one file.
fn files_of(lab: &Lab, d: &DataRef, prefix: &str, out: &mut BTreeMap<String, Hash>) -> Result<()> {
    let bytes = lab
        .store
        .blobs
        .get(&d.hash)
        .with_context(|| format!("the stored content of {}", d.name))?;
    match crate::dataset::manifest::decode(&bytes) {
        Ok(entries) => {
            for e in entries {
                let rel = String::from_utf8_lossy(&e.path).into_owned();
                out.insert(format!("{prefix}{rel}"), e.hash);
            }
        }
        Err(_) => {
            let base = Path::new(&d.name)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| d.name.clone());
            out.insert(format!("{prefix}{base}"), d.hash);
        }
    }
    Ok(())
}

/// The bundle of what `run` wrote: its `--out` outputs (one directory: its files at the top;
/// several: each under its own name), else the artifacts it captured (not its stdout/stderr
/// tails). `None` when it wrote nothing.
pub fn bundle_of_run(lab: &Lab, run: &RunRow) -> Result<Option<(Hash, String)>> {
    let outs: Vec<&DataRef> = run.outputs.iter().filter(|o| o.role == "out").collect();
    let mut files = BTreeMap::new();
    if !outs.is_empty() {
        let one = outs.len() == 1;
        for o in outs {
            let prefix = if one {
                String::new()
            } else {
                let leaf = Path::new(&o.name)
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_else(|| o.name.clone());
                // A single file keeps its name; a directory nests under its name.
                if run_is_dir(lab, o) {
                    format!("{leaf}/")
                } else {
                    String::new()
                }
            };
            files_of(lab, o, &prefix, &mut files)?;
        }
    } else {
        for a in run
            .artifacts
            .iter()
            .filter(|a| !matches!(a.name.as_str(), "stdout.tail" | "stderr.tail"))
        {
            let prefix = if run_is_dir(lab, a) {
                format!("{}/", a.name)
            } else {
                String::new()
            };
            let mut one = BTreeMap::new();
            files_of(lab, a, &prefix, &mut one)?;
            if prefix.is_empty() {
                // An artifact keeps the path it was captured under.
                if let Some((_, h)) = one.into_iter().next() {
                    files.insert(a.name.clone(), h);
                }
            } else {
                files.extend(one);
            }
        }
    }
    if files.is_empty() {
        return Ok(None);
    }
    Ok(Some(models::save_refs(&lab.store.blobs, files)?))
}

fn run_is_dir(lab: &Lab, d: &DataRef) -> bool {
    super::super::run::is_manifest(lab, &d.hash)
}

/// The bundle of a directory's files (stored as blobs), and the run whose output it is, when
/// one recorded exactly this content.
pub fn bundle_of_dir(lab: &Lab, dir: &Path) -> Result<(Hash, String, Option<String>)> {
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let manifest = super::super::run::store_path(lab, dir)?;
    let d = DataRef {
        role: "model".into(),
        name: dir.display().to_string(),
        hash: manifest,
    };
    let mut files = BTreeMap::new();
    files_of(lab, &d, "", &mut files)?;
    // The marker `lab models export` leaves is lab's note, not part of the model.
    files.remove(super::export::MARKER);
    if files.is_empty() {
        bail!(
            "{} holds no files: a model directory has its weights and config",
            dir.display()
        );
    }
    let (hash, kind) = models::save_refs(&lab.store.blobs, files)?;
    let run = lab
        .store
        .read_views(|v| v.runs_all())?
        .into_iter()
        .filter(|r| r.outputs.iter().any(|o| o.hash == manifest))
        .max_by_key(|r| r.started_seq)
        .map(|r| r.id);
    Ok((hash, kind, run))
}
