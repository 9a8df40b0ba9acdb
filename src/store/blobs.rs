//! The content-addressed blob store: `.lab/objects/sha256/ab/cdef…`.
//!
//! A blob is written to a temp file under `.lab/objects/tmp/`, made durable, then renamed to
//! its hash path and made read-only, so a reader never sees a half-written blob: either the
//! final name exists with all its bytes, or it does not exist. Writing a blob that already
//! exists only drops the temp file (deduplication).
//!
//! Many blobs at once (a dataset snapshot) use [`BlobStore::stage`] + [`BlobStore::publish`]:
//! every temp file is written, then one `syncfs` makes them all durable, then they are renamed.
//! That is the same guarantee as an fsync per file, at the cost of one flush instead of 20,000.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::event::Hash;

/// Errors of the blob store. Each names the path it concerns.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}{}", hint(source))]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A blob the log references is not in the store.
    #[error("blob {hash} is missing from {path}: the store lost a file (restore .lab/objects from a backup)")]
    Missing { hash: Hash, path: PathBuf },
    /// A blob's bytes do not hash to its name.
    #[error("blob {hash} is corrupt: {path} hashes to {actual} (the file was modified on disk)")]
    Corrupt {
        hash: Hash,
        actual: Hash,
        path: PathBuf,
    },
}

fn hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ENOSPC) => " — the disk is full: free space and run the command again",
        Some(libc::EDQUOT) => " — the disk quota is exceeded: free space and run the command again",
        Some(libc::EACCES) | Some(libc::EPERM) => " — permission denied: check the file's owner and mode",
        Some(libc::EROFS) => " — the file system is read-only",
        _ => "",
    }
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> BlobError {
    let path = path.into();
    move |source| BlobError::Io { path, source }
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Fault injection for tests: with `LAB_FAULT_ENOSPC_AFTER=N` in the environment, blob writes
/// fail with ENOSPC ("No space left on device") once this process has written N bytes — a full
/// disk, reproducibly, without mounting a small file system.
fn fault_check(n: usize) -> io::Result<()> {
    static LIMIT: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    static WRITTEN: AtomicU64 = AtomicU64::new(0);
    let Some(limit) = *LIMIT.get_or_init(|| {
        std::env::var("LAB_FAULT_ENOSPC_AFTER")
            .ok()
            .and_then(|v| v.parse().ok())
    }) else {
        return Ok(());
    };
    if WRITTEN.fetch_add(n as u64, Ordering::Relaxed) + n as u64 > limit {
        return Err(io::Error::from_raw_os_error(libc::ENOSPC));
    }
    Ok(())
}

/// A blob written to a temp file but not yet visible under its hash.
#[derive(Debug)]
pub struct Staged {
    pub hash: Hash,
    pub size: u64,
    tmp: Option<PathBuf>,
}

/// The blob store rooted at `.lab/objects`.
#[derive(Clone, Debug)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    /// Opens (creating if needed) the store under `objects_dir`.
    pub fn open(objects_dir: &Path) -> Result<BlobStore, BlobError> {
        let s = BlobStore {
            root: objects_dir.to_path_buf(),
        };
        fs::create_dir_all(s.tmp_dir()).map_err(io_err(s.tmp_dir()))?;
        fs::create_dir_all(s.root.join("sha256")).map_err(io_err(s.root.join("sha256")))?;
        Ok(s)
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Where the blob `hash` lives.
    pub fn path(&self, hash: &Hash) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join("sha256").join(&hex[..2]).join(&hex[2..])
    }

    pub fn contains(&self, hash: &Hash) -> bool {
        self.path(hash).exists()
    }

    fn new_tmp(&self) -> Result<(PathBuf, File), BlobError> {
        loop {
            let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let p = self
                .tmp_dir()
                .join(format!("{}-{n}.tmp", std::process::id()));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&p)
            {
                Ok(f) => return Ok((p, f)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err(p)(e)),
            }
        }
    }

    /// Writes `data` as a durable blob and returns its hash.
    pub fn put(&self, data: &[u8]) -> Result<Hash, BlobError> {
        let hash = Hash::of(data);
        if self.contains(&hash) {
            return Ok(hash);
        }
        let (tmp, mut f) = self.new_tmp()?;
        let res = fault_check(data.len())
            .and_then(|_| f.write_all(data))
            .and_then(|_| f.sync_all())
            .map_err(io_err(&tmp));
        if let Err(e) = res {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        drop(f);
        self.publish_one(&tmp, &hash)?;
        sync_dir(&self.path(&hash))?;
        Ok(hash)
    }

    /// Copies the file at `src` into a temp file while hashing it. Nothing is visible until
    /// [`BlobStore::publish`]. `buf` is a reusable read buffer.
    pub fn stage_file(&self, src: &Path, buf: &mut Vec<u8>) -> Result<Staged, BlobError> {
        let mut input = File::open(src).map_err(io_err(src))?;
        let (tmp, mut out) = self.new_tmp()?;
        let res = (|| -> Result<(Hash, u64), BlobError> {
            if buf.len() < 1 << 20 {
                buf.resize(1 << 20, 0);
            }
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            loop {
                let n = match input.read(buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(io_err(src)(e)),
                };
                hasher.update(&buf[..n]);
                fault_check(n)
                    .and_then(|_| out.write_all(&buf[..n]))
                    .map_err(io_err(&tmp))?;
                size += n as u64;
            }
            Ok((Hash(hasher.finalize().into()), size))
        })();
        match res {
            Ok((hash, size)) => Ok(Staged {
                hash,
                size,
                tmp: Some(tmp),
            }),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Makes staged blobs durable (one `syncfs`) and visible (rename). Staged blobs whose hash
    /// already exists are dropped. After this returns Ok every blob is durable under its name.
    pub fn publish(&self, staged: &mut [Staged]) -> Result<(), BlobError> {
        if staged.iter().all(|s| s.tmp.is_none()) {
            return Ok(());
        }
        self.syncfs()?;
        let mut dirs = std::collections::BTreeSet::new();
        for s in staged.iter_mut() {
            if let Some(tmp) = s.tmp.take() {
                self.publish_one(&tmp, &s.hash)?;
                dirs.insert(self.path(&s.hash).parent().unwrap().to_path_buf());
            }
        }
        // The renames themselves must be durable before an event names these blobs.
        self.syncfs()
    }

    /// Removes temp files of staged blobs that will not be published.
    pub fn discard(&self, staged: &mut [Staged]) {
        for s in staged.iter_mut() {
            if let Some(tmp) = s.tmp.take() {
                let _ = fs::remove_file(tmp);
            }
        }
    }

    fn syncfs(&self) -> Result<(), BlobError> {
        let d = File::open(&self.root).map_err(io_err(&self.root))?;
        use std::os::fd::AsRawFd;
        // SAFETY: syncfs takes a valid open descriptor and has no other preconditions.
        let rc = unsafe { libc::syncfs(d.as_raw_fd()) };
        if rc != 0 {
            return Err(io_err(&self.root)(io::Error::last_os_error()));
        }
        Ok(())
    }

    fn publish_one(&self, tmp: &Path, hash: &Hash) -> Result<(), BlobError> {
        let dst = self.path(hash);
        if dst.exists() {
            let _ = fs::remove_file(tmp);
            return Ok(());
        }
        let parent = dst.parent().unwrap();
        fs::create_dir_all(parent).map_err(io_err(parent))?;
        fs::set_permissions(tmp, fs::Permissions::from_mode(0o444)).map_err(io_err(tmp))?;
        fs::rename(tmp, &dst).map_err(io_err(&dst))?;
        Ok(())
    }

    /// Reads a whole blob, verifying its hash.
    pub fn get(&self, hash: &Hash) -> Result<Vec<u8>, BlobError> {
        let p = self.path(hash);
        let data = fs::read(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                BlobError::Missing {
                    hash: *hash,
                    path: p.clone(),
                }
            } else {
                io_err(&p)(e)
            }
        })?;
        let actual = Hash::of(&data);
        if actual != *hash {
            return Err(BlobError::Corrupt {
                hash: *hash,
                actual,
                path: p,
            });
        }
        Ok(data)
    }

    /// Re-hashes a blob on disk (streaming) and checks it against its name.
    pub fn check(&self, hash: &Hash, buf: &mut Vec<u8>) -> Result<u64, BlobError> {
        let p = self.path(hash);
        let mut f = File::open(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                BlobError::Missing {
                    hash: *hash,
                    path: p.clone(),
                }
            } else {
                io_err(&p)(e)
            }
        })?;
        let (actual, size) = hash_reader(&mut f, buf).map_err(io_err(&p))?;
        if actual != *hash {
            return Err(BlobError::Corrupt {
                hash: *hash,
                actual,
                path: p,
            });
        }
        Ok(size)
    }

    /// Removes temp files left by processes that died mid-write (older than an hour, so a
    /// live writer's files are never touched).
    pub fn sweep_tmp(&self) {
        let Ok(rd) = fs::read_dir(self.tmp_dir()) else {
            return;
        };
        let hour = std::time::Duration::from_secs(3600);
        for e in rd.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > hour);
            if old {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

/// SHA-256 of everything `r` yields, and its length.
pub fn hash_reader(r: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<(Hash, u64)> {
    if buf.len() < 1 << 20 {
        buf.resize(1 << 20, 0);
    }
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
        let n = match r.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((Hash(hasher.finalize().into()), size))
}

fn sync_dir(file_in_dir: &Path) -> Result<(), BlobError> {
    let dir = file_in_dir.parent().unwrap();
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_dedup_readonly() {
        let d = tempfile::tempdir().unwrap();
        let s = BlobStore::open(&d.path().join("objects")).unwrap();
        let h = s.put(b"hello").unwrap();
        assert_eq!(h, Hash::of(b"hello"));
        assert_eq!(s.put(b"hello").unwrap(), h);
        assert_eq!(s.get(&h).unwrap(), b"hello");
        let mode = fs::metadata(s.path(&h)).unwrap().permissions().mode();
        assert_eq!(mode & 0o222, 0, "blobs are read-only");
        assert_eq!(fs::read_dir(d.path().join("objects/tmp")).unwrap().count(), 0);
    }

    #[test]
    fn corrupt_and_missing_are_named() {
        let d = tempfile::tempdir().unwrap();
        let s = BlobStore::open(&d.path().join("objects")).unwrap();
        let h = s.put(b"data").unwrap();
        let p = s.path(&h);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&p, b"dara").unwrap();
        let e = s.get(&h).unwrap_err().to_string();
        assert!(e.contains("corrupt") && e.contains(&h.to_hex()), "{e}");
        fs::remove_file(&p).unwrap();
        let e = s.check(&h, &mut Vec::new()).unwrap_err().to_string();
        assert!(e.contains("missing"), "{e}");
    }

    #[test]
    fn staged_blobs_appear_only_after_publish() {
        let d = tempfile::tempdir().unwrap();
        let s = BlobStore::open(&d.path().join("objects")).unwrap();
        let src = d.path().join("f");
        fs::write(&src, vec![7u8; 3_000_000]).unwrap();
        let mut st = vec![s.stage_file(&src, &mut Vec::new()).unwrap()];
        assert!(!s.contains(&st[0].hash));
        s.publish(&mut st).unwrap();
        assert!(s.contains(&st[0].hash));
        assert_eq!(s.check(&st[0].hash, &mut Vec::new()).unwrap(), 3_000_000);
    }
}
