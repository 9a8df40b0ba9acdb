//! The walk of a snapshot root: walkdir for the tree, the per-file `stat`s in parallel.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::SnapshotError;
use super::cache::Stat;

/// A regular file found under the root.
pub(super) struct Found {
    /// Relative to the root, `/`-separated, raw bytes.
    pub(super) rel: Vec<u8>,
    pub(super) abs: PathBuf,
    pub(super) stat: Stat,
    pub(super) mode: u32,
}

/// Every regular file under `root` (following symbolic links that stay inside it). walkdir
/// walks the tree (and detects symlink loops); the per-file `stat`s, the bulk of the work, run
/// in parallel. The first error in walk order wins, so the message is the same from run to run.
///
/// A link that resolves outside `root` is refused: a snapshot would silently store (and a
/// checkout restore) files that are not part of the dataset, `/etc/passwd` say.
pub(super) fn walk(root: &Path, _meta: &fs::Metadata) -> Result<Vec<Found>, SnapshotError> {
    let real_root = root.canonicalize().map_err(|e| SnapshotError::Unreadable {
        path: root.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut files = Vec::new();
    for item in walkdir::WalkDir::new(root).follow_links(true) {
        let entry = item.map_err(|e| walk_error(root, e))?;
        if entry.path_is_symlink() {
            let target = entry
                .path()
                .canonicalize()
                .map_err(|e| SnapshotError::Unreadable {
                    path: entry.path().to_path_buf(),
                    message: e.to_string(),
                })?;
            if !target.starts_with(&real_root) {
                return Err(SnapshotError::OutsideLink {
                    path: entry.path().to_path_buf(),
                    target,
                });
            }
        }
        if entry.file_type().is_file() {
            files.push(entry);
        }
    }
    files
        .into_par_iter()
        .map(|entry| {
            let m = entry.metadata().map_err(|e| walk_error(root, e))?;
            let rel = entry
                .path()
                .strip_prefix(root)
                .expect("walkdir yields paths under its root")
                .as_os_str()
                .as_bytes()
                .to_vec();
            Ok(Found {
                rel,
                abs: entry.into_path(),
                stat: Stat::of(&m),
                mode: m.mode() & 0o7777,
            })
        })
        .collect()
}

fn walk_error(root: &Path, e: walkdir::Error) -> SnapshotError {
    if let Some(ancestor) = e.loop_ancestor() {
        return SnapshotError::Loop {
            path: e.path().unwrap_or(root).to_path_buf(),
            ancestor: ancestor.to_path_buf(),
        };
    }
    let path = e.path().unwrap_or(root).to_path_buf();
    let message = match e.io_error() {
        Some(io) if io.kind() == std::io::ErrorKind::NotFound => {
            "it vanished or is a broken symbolic link".to_string()
        }
        Some(io) => io.to_string(),
        None => e.to_string(),
    };
    SnapshotError::Unreadable { path, message }
}
