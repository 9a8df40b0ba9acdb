//! Scanning a directory tree into a manifest: walk and stat (`walk`), look up the stat cache
//! (`cache`), hash and stage the files that changed, in parallel on all cores.
//!
//! The stat cache maps a relative path to (size, mtime, ctime, inode, hash). A file whose stat
//! matches is not read again, which is what makes re-snapshotting an unchanged tree cheap.
//! Files modified in the last moments before the scan began are not cached ("racily clean",
//! as git calls it): file systems stamp times coarsely, so a second write in the same tick
//! could otherwise go unseen. A hit whose blob is missing from the store is read again, so
//! that a snapshot heals a store that lost files instead of vouching for them.

mod cache;
mod walk;

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

pub use cache::StatCache;

use crate::event::{Hash, ManifestEntry};
use crate::progress::Reporter;
use crate::store::blobs::Staged;
use crate::store::{BlobError, BlobStore};

/// What can go wrong with the tree a user asked to snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The path does not exist.
    #[error(
        "dataset path {0} does not exist — check the path (relative paths are taken from the current directory)"
    )]
    Missing(PathBuf),
    /// The path is a file, not a directory.
    #[error("dataset path {0} is not a directory — snapshot the directory that holds the data")]
    NotDir(PathBuf),
    /// The directory holds no regular files.
    #[error("dataset path {0} contains no files — nothing to snapshot")]
    Empty(PathBuf),
    /// A symbolic link points at one of its own ancestors.
    #[error("symlink loop: {path} points back to {ancestor} — remove or fix the link")]
    Loop { path: PathBuf, ancestor: PathBuf },
    /// A symbolic link resolves to a file or directory outside the dataset.
    #[error(
        "symlink {path} points outside the dataset, to {target} — a snapshot stores only what is \
         inside the dataset directory: copy the files in, or remove the link"
    )]
    OutsideLink { path: PathBuf, target: PathBuf },
    /// A file or directory could not be read (permissions, a broken link…).
    #[error("cannot read {path}: {message} — fix its permissions or remove it from the dataset")]
    Unreadable { path: PathBuf, message: String },
    #[error(transparent)]
    Blob(#[from] BlobError),
}

/// Where the stat cache of `root` lives under `.lab/`.
pub fn cache_path(lab_dir: &Path, root: &Path) -> PathBuf {
    let h = Hash::of(root.as_os_str().as_bytes());
    lab_dir
        .join("cache")
        .join(format!("stat-{}.bin", &h.to_hex()[..16]))
}

/// The result of scanning a tree.
pub struct Scan {
    /// Sorted by path.
    pub entries: Vec<ManifestEntry>,
    /// Blobs written to temp files, to publish before the snapshot is recorded.
    pub staged: Vec<Staged>,
    /// Files and bytes actually read (not answered by the stat cache).
    pub hashed_files: u64,
    /// Stat-cache hits whose blob was missing from the store, read again to restore it.
    pub restored: u64,
    pub hashed_bytes: u64,
    pub cache: StatCache,
}

/// Walks `root`, answers unchanged files from `cache`, hashes and stages the rest.
pub fn scan(
    root: &Path,
    blobs: &BlobStore,
    cache: StatCache,
    reporter: &dyn Reporter,
) -> Result<Scan, SnapshotError> {
    let meta = fs::metadata(root).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => SnapshotError::Missing(root.to_path_buf()),
        _ => SnapshotError::Unreadable {
            path: root.to_path_buf(),
            message: e.to_string(),
        },
    })?;
    if !meta.is_dir() {
        return Err(SnapshotError::NotDir(root.to_path_buf()));
    }
    let started_ns = crate::store::now_ns();
    let mut found = walk::walk(root, &meta)?;
    if found.is_empty() {
        return Err(SnapshotError::Empty(root.to_path_buf()));
    }
    found.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));

    let mut at = 0;
    let mut hashes: Vec<Option<Hash>> = found
        .iter()
        .map(|f| cache.lookup(&f.rel, &f.stat, &mut at))
        .collect();
    // A cache hit vouches for the file, not for its blob: one lost from the store (deleted,
    // or never published by a killed process) is read and stored again.
    let lost: Vec<usize> = hashes
        .par_iter()
        .enumerate()
        .filter_map(|(i, h)| h.filter(|h| !blobs.contains(h)).map(|_| i))
        .collect();
    for &i in &lost {
        hashes[i] = None;
    }
    let todo: Vec<usize> = (0..found.len()).filter(|&i| hashes[i].is_none()).collect();
    let todo_bytes: u64 = todo.iter().map(|&i| found[i].stat.size).sum();
    reporter.begin("hashing", todo_bytes, true);
    let stage = || -> Vec<Result<(usize, Staged), SnapshotError>> {
        todo.par_iter()
            .map_init(Vec::new, |buf, &i| {
                let st = blobs.stage_file(&found[i].abs, buf).map_err(|e| match e {
                    BlobError::Io { path, source } if path == found[i].abs => {
                        SnapshotError::Unreadable {
                            path,
                            message: source.to_string(),
                        }
                    }
                    other => SnapshotError::Blob(other),
                })?;
                reporter.advance(found[i].stat.size);
                Ok((i, st))
            })
            .collect()
    };
    let results = stage();
    reporter.end();
    let mut staged = Vec::with_capacity(results.len());
    let mut first_err = None;
    // The size of what was actually read and hashed, where it differs from the walk's stat
    // (the file changed in between): the manifest must describe the blob, not the stat.
    let mut read_size: Vec<Option<u64>> = vec![None; found.len()];
    for r in results {
        match r {
            Ok((i, st)) => {
                hashes[i] = Some(st.hash);
                read_size[i] = Some(st.size);
                staged.push(st);
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_err {
        blobs.discard(&mut staged);
        return Err(e);
    }
    let hashed_bytes = staged.iter().map(|s| s.size).sum();
    // Racily clean: a file stamped this close to the scan's start may change again unseen.
    let fresh_after = started_ns - 100_000_000;
    let mut new_cache = StatCache {
        entries: Vec::with_capacity(found.len()),
        unchanged: staged.is_empty() && found.len() == cache.entries.len(),
    };
    let mut entries = Vec::with_capacity(found.len());
    for ((f, h), read) in found.into_iter().zip(hashes).zip(read_size) {
        let hash = h.expect("every file is hashed or cached");
        let size = read.unwrap_or(f.stat.size);
        let settled = f.stat.mtime_ns < fresh_after && f.stat.ctime_ns < fresh_after;
        if settled && size == f.stat.size {
            new_cache.entries.push((f.rel.clone(), f.stat, hash));
        }
        entries.push(ManifestEntry {
            path: f.rel,
            size,
            mode: f.mode,
            hash,
        });
    }
    Ok(Scan {
        entries,
        hashed_files: staged.len() as u64,
        restored: lost.len() as u64,
        hashed_bytes,
        staged,
        cache: new_cache,
    })
}
