//! `lab artifacts ls RUN` and `lab artifacts get RUN NAME [DEST]`: what a run stored beside
//! its events (epoch checkpoints, a command's output tails, the files and folders `lab run
//! --out` captured), read back from the blob store with every hash checked.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::Serialize;

use super::find;
use crate::commands::run::{is_manifest, restore_path};
use crate::lab::Lab;

#[derive(Debug, Serialize)]
pub struct ArtifactRow {
    /// `artifact` (stored during the run) or `output` (what the run produced).
    pub kind: String,
    pub name: String,
    pub hash: String,
    /// Bytes of a file; absent for a folder or a model.
    pub bytes: Option<u64>,
    /// A folder (a manifest of files), restored whole by `get`.
    pub folder: bool,
}

#[derive(Debug, Serialize)]
pub struct ArtifactsOut {
    pub run: String,
    pub rows: Vec<ArtifactRow>,
}

/// The artifacts and outputs of run `what`.
pub fn ls(lab: &Lab, what: &str) -> Result<ArtifactsOut> {
    let r = find(lab, what)?;
    let mut rows = Vec::new();
    for (kind, refs) in [("artifact", &r.artifacts), ("output", &r.outputs)] {
        for d in refs {
            let model = d.role == "model";
            let folder = !model && is_manifest(lab, &d.hash);
            let bytes = if model || folder {
                None
            } else {
                std::fs::metadata(lab.store.blobs.path(&d.hash))
                    .ok()
                    .map(|m| m.len())
            };
            rows.push(ArtifactRow {
                kind: if model { "model".into() } else { kind.into() },
                name: d.name.clone(),
                hash: d.hash.to_hex(),
                bytes,
                folder,
            });
        }
    }
    Ok(ArtifactsOut { run: r.id, rows })
}

pub fn ls_text(o: &ArtifactsOut) -> String {
    if o.rows.is_empty() {
        return format!("run {} stored no artifacts or outputs", &o.run[..8]);
    }
    let mut t = crate::table::Table::new(["KIND", "NAME", "BYTES", "HASH"]).right(&[2]);
    for r in &o.rows {
        let size = match (r.folder, r.bytes) {
            (true, _) => "folder".to_string(),
            (_, Some(b)) => b.to_string(),
            _ => "-".into(),
        };
        t.row([
            r.kind.to_string(),
            r.name.to_string(),
            size,
            r.hash[..12].to_string(),
        ]);
    }
    t.render()
}

#[derive(Debug, Serialize)]
pub struct GetOut {
    pub name: String,
    pub written: PathBuf,
    pub folder: bool,
}

/// Writes artifact or output `name` of run `what` to `dest` (default: its file name in the
/// current directory), never over an existing path; every blob's hash is checked on the way.
pub fn get(lab: &Lab, what: &str, name: &str, dest: Option<&Path>) -> Result<GetOut> {
    let listed = ls(lab, what)?;
    let Some(row) = listed.rows.iter().find(|r| r.name == name) else {
        let names: Vec<&str> = listed.rows.iter().map(|r| r.name.as_str()).collect();
        bail!(
            "run {} has no artifact `{name}`; it has: {} (lab artifacts ls {})",
            &listed.run[..8],
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            },
            &listed.run[..8]
        );
    };
    if row.kind == "model" {
        bail!("`{name}` is a model: write its files with `lab models export {name} DIR`");
    }
    let dest = match dest {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from(Path::new(name).file_name().unwrap_or(name.as_ref())),
    };
    if dest.symlink_metadata().is_ok() {
        bail!(
            "{} already exists — name a DEST that does not (nothing is overwritten)",
            dest.display()
        );
    }
    let hash = crate::event::Hash::from_hex(&row.hash)
        .ok_or_else(|| anyhow::anyhow!("bad hash in the log for `{name}`"))?;
    restore_path(lab, &hash, &dest, row.folder)?;
    Ok(GetOut {
        name: name.to_string(),
        written: dest,
        folder: row.folder,
    })
}
