//! `lab gc`: removes the blobs nothing refers to — what a killed `lab run --dep …` or an
//! interrupted training leaves in `.lab/objects` (issue 18). A blob is kept when the log
//! names it, or when a kept blob names it: a dataset manifest its files, a model bundle its
//! files and base. Names are found generously: every 64-hex-digit string in an event (so an
//! event kind added later is covered without a change here) and in a kept blob that reads as
//! text; a kept blob that decodes as a manifest gives its entries. Finding too many only keeps
//! a blob that could have gone, never the reverse.
//!
//! Blobs younger than `--grace` are kept too: a process writes its blobs before the event that
//! names them, and may be doing so now. A log that cannot be read whole stops `gc` before
//! anything is removed.

use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::dataset::manifest;
use crate::event::{Hash, human_bytes};
use crate::lab::Lab;

/// The largest blob read to look for the names of other blobs (manifests, bundles and
/// configs are far smaller; weights and images are not read).
const SCAN_LIMIT: u64 = 64 << 20;

/// What `lab gc` did (or, with --dry-run, would do).
#[derive(Debug, Serialize)]
pub struct GcOut {
    pub dry_run: bool,
    /// Blobs in the store, and those kept because something refers to them.
    pub blobs: u64,
    pub referenced: u64,
    /// Unreferenced blobs kept because they are younger than the grace period.
    pub recent: u64,
    /// Unreferenced blobs removed (or to remove) and their size.
    pub removed: u64,
    pub bytes: u64,
}

impl GcOut {
    pub fn text(&self) -> String {
        format!(
            "{} {} unreferenced blobs ({}); kept {} referenced and {} recent of {} blobs",
            if self.dry_run {
                "would remove"
            } else {
                "removed"
            },
            self.removed,
            human_bytes(self.bytes),
            self.referenced,
            self.recent,
            self.blobs
        )
    }
}

/// Every 64-hex-digit run in `text` as a hash.
fn hashes_in(text: &[u8], out: &mut Vec<Hash>) {
    let mut start = None;
    for (i, b) in text.iter().chain(std::iter::once(&b' ')).enumerate() {
        if b.is_ascii_hexdigit() {
            start.get_or_insert(i);
            continue;
        }
        if let Some(s) = start.take() {
            if i - s == 64 {
                if let Some(h) = std::str::from_utf8(&text[s..i])
                    .ok()
                    .and_then(|t| Hash::from_hex(&t.to_ascii_lowercase()))
                {
                    out.push(h);
                }
            }
        }
    }
}

/// The blobs the log refers to, directly or through kept blobs (see the module doc).
fn referenced(lab: &Lab) -> Result<HashSet<Hash>> {
    let mut todo = Vec::new();
    lab.store.scan(1, |rec| {
        todo.extend(rec.envelope.body.blobs());
        let json = serde_json::to_vec(&rec.envelope).unwrap_or_default();
        hashes_in(&json, &mut todo);
        Ok(true)
    })?;
    let mut seen = HashSet::new();
    while let Some(h) = todo.pop() {
        if !seen.insert(h) {
            continue;
        }
        let path = lab.store.blobs.path(&h);
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if meta.len() > SCAN_LIMIT {
            continue;
        }
        let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if let Ok(entries) = manifest::decode(&bytes) {
            todo.extend(entries.iter().map(|e| e.hash));
        }
        if std::str::from_utf8(&bytes).is_ok() {
            hashes_in(&bytes, &mut todo);
        }
    }
    Ok(seen)
}

/// Every blob in the store: (hash, path, size, modified).
fn all_blobs(lab: &Lab) -> Result<Vec<(Hash, PathBuf, u64, SystemTime)>> {
    let root = lab.project.lab_dir().join("objects").join("sha256");
    let mut out = Vec::new();
    let Ok(fans) = fs::read_dir(&root) else {
        return Ok(out);
    };
    for fan in fans {
        let fan = fan.with_context(|| format!("cannot list {}", root.display()))?;
        let prefix = fan.file_name().to_string_lossy().into_owned();
        let Ok(files) = fs::read_dir(fan.path()) else {
            continue;
        };
        for f in files {
            let f = f.with_context(|| format!("cannot list {}", fan.path().display()))?;
            let name = format!("{prefix}{}", f.file_name().to_string_lossy());
            let Some(h) = Hash::from_hex(&name) else {
                continue;
            };
            let meta = f
                .metadata()
                .with_context(|| format!("cannot read {}", f.path().display()))?;
            if meta.is_file() {
                let modified = meta.modified().unwrap_or(SystemTime::now());
                out.push((h, f.path(), meta.len(), modified));
            }
        }
    }
    Ok(out)
}

/// Removes (with `dry_run`, only counts) the blobs nothing refers to that are older than
/// `grace`.
pub fn gc(lab: &Lab, dry_run: bool, grace: Duration) -> Result<GcOut> {
    let keep = referenced(lab).context(
        "lab gc needs the whole log to know what is referenced; nothing was removed (lab verify tells what is wrong)",
    )?;
    let now = SystemTime::now();
    let mut out = GcOut {
        dry_run,
        blobs: 0,
        referenced: 0,
        recent: 0,
        removed: 0,
        bytes: 0,
    };
    for (h, path, size, modified) in all_blobs(lab)? {
        out.blobs += 1;
        if keep.contains(&h) {
            out.referenced += 1;
            continue;
        }
        if now.duration_since(modified).unwrap_or_default() < grace {
            out.recent += 1;
            continue;
        }
        if !dry_run {
            fs::remove_file(&path).with_context(|| {
                format!("cannot remove the unreferenced blob {}", path.display())
            })?;
        }
        out.removed += 1;
        out.bytes += size;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_runs_of_64_are_hashes_and_others_are_not() {
        let a = Hash::of(b"a");
        let b = Hash::of(b"b");
        let text = format!(
            "{{\"x\": \"{}\", \"y\": [\"{}\"], \"short\": \"abcdef\", \"long\": \"{}0\"}}",
            a.to_hex(),
            b.to_hex().to_uppercase(),
            a.to_hex()
        );
        let mut out = Vec::new();
        hashes_in(text.as_bytes(), &mut out);
        assert_eq!(out, vec![a, b]);
    }
}
