//! `lab models export`: a version's bundle as Hugging Face layout files in a directory,
//! written to a temp directory beside it and renamed into place.
//!
//! The directory gets a marker file ([`MARKER`]) naming the model, so that `--force` can tell
//! an earlier export (which it may replace) from anything else (which it never removes). The
//! project root, `.lab/` and the directories above them are never targets (see `fence`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use crate::event::Hash;
use crate::lab::Lab;
use crate::models;

#[derive(Debug, Serialize)]
pub struct ExportOut {
    pub model: String,
    pub hash: Hash,
    pub dir: PathBuf,
    pub files: Vec<String>,
}

/// The file every export directory holds: lab replaces (with `--force`) only a directory
/// that has it, or an empty one.
pub const MARKER: &str = ".lab-export";

/// Writes the bundle's files (Hugging Face layout) into `dir`; a LoRA adapter's base goes to
/// `dir/base/`. Written into a temp directory beside `dir`, then renamed into place.
pub fn export(lab: &Lab, reference: &str, dir: &Path, force: bool) -> Result<ExportOut> {
    crate::fence::check(&lab.project, dir, "export into")?;
    let m = models::resolve_in(&lab.store, reference)?;
    let blobs = &lab.store.blobs;
    let b = models::bundle(blobs, &m.hash)?;
    if let Ok(meta) = std::fs::symlink_metadata(dir) {
        if !meta.is_dir() {
            bail!(
                "{} exists and is not a directory: export into a new or empty directory",
                dir.display()
            );
        }
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_none();
        if !empty && !force {
            bail!(
                "{} is not empty: export into a new or empty directory, or give --force to replace an earlier export",
                dir.display()
            );
        }
        if !empty && !dir.join(MARKER).is_file() {
            bail!(
                "{} is not an earlier export (it has no {MARKER} file): --force replaces only a directory \
                 `lab models export` wrote — remove it yourself or export into a new directory",
                dir.display()
            );
        }
    }
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let marker = format!(
        "written by `lab models export {}` (model {}); `--force` may replace this directory\n",
        m.name, m.hash
    );
    for f in b.files.keys() {
        files.push((f.clone(), models::file(blobs, &m.hash, &b, f)?));
    }
    if let Some(bh) = b.base {
        let base = models::bundle(blobs, &bh)?;
        for f in base.files.keys() {
            files.push((format!("base/{f}"), models::file(blobs, &bh, &base, f)?));
        }
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let leaf = dir
        .file_name()
        .ok_or_else(|| anyhow!("{} names no directory", dir.display()))?;
    let tmp = parent.join(format!(
        ".{}.lab-export-{}",
        leaf.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    let write = || -> Result<()> {
        for (rel, bytes) in &files {
            let p = tmp.join(rel);
            std::fs::create_dir_all(p.parent().unwrap())?;
            let mut f = std::fs::File::create(&p)?;
            std::io::Write::write_all(&mut f, bytes)?;
            f.sync_all()?;
        }
        std::fs::write(tmp.join(MARKER), &marker)?;
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::rename(&tmp, dir)?;
        Ok(())
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e.context(format!("cannot export {} into {}", m.name, dir.display())));
    }
    Ok(ExportOut {
        model: m.name,
        hash: m.hash,
        dir: dir.to_path_buf(),
        files: files.into_iter().map(|(f, _)| f).collect(),
    })
}
