//! The content-addressed blob store: `.lab/objects/sha256/ab/cdef…`.
//!
//! A blob is written to a temp file under `.lab/objects/tmp/`, made durable, then given its
//! hash name (read-only, 0444), so a reader never sees a half-written blob: either the final
//! name exists with all its bytes, or it does not exist. Writing a blob that already exists
//! only drops the temp file (deduplication); an existing blob is never replaced.
//!
//! Many blobs at once (a dataset snapshot) use [`BlobStore::stage_file`] +
//! [`BlobStore::publish`]: every temp file is written, then one `syncfs` makes them all
//! durable, then they are linked into place (in parallel), then a second `syncfs` makes the
//! names durable. That is the same guarantee as an fsync per file, at the cost of two flushes
//! instead of 20,000. How temp files are made and named is in `staging`.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::staging::{self, ALIGN, Tmp};
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
    #[error(
        "blob {hash} is missing from {path}: the store lost a file (restore .lab/objects from a backup)"
    )]
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
        Some(libc::EACCES) | Some(libc::EPERM) => {
            " — permission denied: check the file's owner and mode"
        }
        Some(libc::EROFS) => " — the file system is read-only",
        _ => "",
    }
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> BlobError {
    let path = path.into();
    move |source| BlobError::Io { path, source }
}

static TMP_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A blob written to a temp file but not yet visible under its hash.
#[derive(Debug)]
pub struct Staged {
    pub hash: Hash,
    pub size: u64,
    tmp: Option<Tmp>,
}

/// The blob store rooted at `.lab/objects`.
#[derive(Clone, Debug)]
pub struct BlobStore {
    root: PathBuf,
    tmp: PathBuf,
    /// Whether staging may use unnamed temp files (tests turn it off to cover named ones).
    unnamed: bool,
}

/// Read and write unit of streamed copies. Files up to this size take one read and one write.
const CHUNK: usize = 1 << 20;

impl BlobStore {
    /// Opens (creating if needed) the store under `objects_dir`.
    pub fn open(objects_dir: &Path) -> Result<BlobStore, BlobError> {
        let s = BlobStore {
            root: objects_dir.to_path_buf(),
            tmp: objects_dir.join("tmp"),
            unnamed: true,
        };
        let sha = s.root.join("sha256");
        // The common case (both exist) costs a stat each, not a failed mkdir each.
        for d in [&s.tmp, &sha] {
            if !d.is_dir() {
                fs::create_dir_all(d).map_err(io_err(d))?;
            }
        }
        Ok(s)
    }

    /// Where the blob `hash` lives.
    pub fn path(&self, hash: &Hash) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join("sha256").join(&hex[..2]).join(&hex[2..])
    }

    pub fn contains(&self, hash: &Hash) -> bool {
        self.path(hash).exists()
    }

    /// Whether the store holds any blob at all.
    pub fn any(&self) -> bool {
        let Ok(fans) = fs::read_dir(self.root.join("sha256")) else {
            return false;
        };
        fans.flatten()
            .any(|f| fs::read_dir(f.path()).is_ok_and(|mut d| d.next().is_some()))
    }

    fn new_named(&self) -> Result<(PathBuf, File), BlobError> {
        staging::create_named(&self.tmp, &TMP_COUNTER).map_err(io_err(&self.tmp))
    }

    /// A temp file for staging: unnamed while the descriptor budget lasts, else named (then
    /// with its open file beside it).
    fn new_staging(&self) -> Result<(Tmp, Option<File>), BlobError> {
        if self.unnamed {
            if let Some(u) = staging::create_unnamed(&self.tmp).map_err(io_err(&self.tmp))? {
                return Ok((Tmp::Unnamed(u), None));
            }
        }
        let (p, f) = self.new_named()?;
        Ok((Tmp::Named(p), Some(f)))
    }

    /// Writes `data` as a durable blob and returns its hash.
    pub fn put(&self, data: &[u8]) -> Result<Hash, BlobError> {
        let hash = Hash::of(data);
        if self.contains(&hash) {
            return Ok(hash);
        }
        let (tmp, mut f) = self.new_named()?;
        let res = crate::faults::blob_write(data.len())
            .and_then(|_| f.write_all(data))
            .and_then(|_| f.sync_all())
            .map_err(io_err(&tmp));
        if let Err(e) = res {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        drop(f);
        let dst = self.path(&hash);
        let dir = match open_fanout(dst.parent().unwrap()) {
            Ok(d) => d,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if let Err((tmp, e)) = self.publish_in(Tmp::Named(tmp), &hash, &dir) {
            discard_tmp(tmp);
            return Err(e);
        }
        dir.sync_all().map_err(io_err(dst.parent().unwrap()))?;
        Ok(hash)
    }

    /// Stages `data` as a blob, like [`BlobStore::stage_file`] for bytes in memory.
    pub fn stage_bytes(&self, data: &[u8]) -> Result<Staged, BlobError> {
        let (tmp, named) = self.new_staging()?;
        let mut out = staged_file(&tmp, &named);
        match crate::faults::blob_write(data.len()).and_then(|_| out.write_all(data)) {
            Ok(()) => Ok(Staged {
                hash: Hash::of(data),
                size: data.len() as u64,
                tmp: Some(tmp),
            }),
            Err(e) => {
                let path = self.tmp.clone();
                discard_tmp(tmp);
                Err(io_err(path)(e))
            }
        }
    }

    /// Copies the file at `src` into a temp file while hashing it. Nothing is visible until
    /// [`BlobStore::publish`]. `buf` is a reusable read buffer.
    ///
    /// One pass: each chunk is read once, hashed and written. A file of more than one chunk is
    /// written with `O_DIRECT`: its bytes go from `buf` to the disk without being copied into
    /// fresh page-cache pages (the costliest part of a buffered copy), and the flush in
    /// `publish` then has only metadata left to write for it.
    pub fn stage_file(&self, src: &Path, buf: &mut Vec<u8>) -> Result<Staged, BlobError> {
        let mut input = File::open(src).map_err(io_err(src))?;
        if buf.len() < CHUNK + ALIGN {
            buf.resize(CHUNK + ALIGN, 0);
        }
        let off = buf.as_ptr().align_offset(ALIGN);
        let chunk = &mut buf[off..off + CHUNK];
        let mut n = staging::read_full(&mut input, chunk).map_err(io_err(src))?;
        let (tmp, named) = self.new_staging()?;
        let out = staged_file(&tmp, &named);
        let mut direct = n == CHUNK && staging::set_direct(out, true).is_ok();
        let res = (|| -> Result<(Hash, u64), BlobError> {
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            loop {
                hasher.update(&chunk[..n]);
                crate::faults::blob_write(n)
                    .and_then(|_| staging::write_chunk(out, &chunk[..n], &mut direct))
                    .map_err(io_err(&self.tmp))?;
                size += n as u64;
                if n < CHUNK {
                    break;
                }
                n = staging::read_full(&mut input, chunk).map_err(io_err(src))?;
                if n == 0 {
                    break;
                }
            }
            Ok((Hash(hasher.finalize().into()), size))
        })();
        drop(named);
        match res {
            Ok((hash, size)) => Ok(Staged {
                hash,
                size,
                tmp: Some(tmp),
            }),
            Err(e) => {
                discard_tmp(tmp);
                Err(e)
            }
        }
    }

    /// Makes staged blobs durable (one `syncfs`) and visible (linked or renamed into place, in
    /// parallel). Staged blobs whose hash already exists are dropped. After this returns Ok
    /// every blob is durable under its name. On an error, the blobs not yet in place keep their
    /// temp files for [`BlobStore::discard`].
    pub fn publish(&self, staged: &mut [Staged]) -> Result<(), BlobError> {
        if staged.iter().all(|s| s.tmp.is_none()) {
            return Ok(());
        }
        staging::syncfs(&self.root).map_err(io_err(&self.root))?;
        // The fan-out directories first, each created and opened once: the links below are
        // made relative to them.
        let mut dirs: Vec<Option<File>> = (0..256).map(|_| None).collect();
        let sha = self.root.join("sha256");
        for s in staged.iter().filter(|s| s.tmp.is_some()) {
            let i = s.hash.0[0] as usize;
            if dirs[i].is_none() {
                dirs[i] = Some(open_fanout(&sha.join(format!("{i:02x}")))?);
            }
        }
        let res: Result<(), BlobError> = staged.par_iter_mut().try_for_each(|s| {
            let Some(tmp) = s.tmp.take() else {
                return Ok(());
            };
            let dir = dirs[s.hash.0[0] as usize].as_ref().expect("opened above");
            self.publish_in(tmp, &s.hash, dir).map_err(|(tmp, e)| {
                s.tmp = Some(tmp);
                e
            })
        });
        res?;
        // The names themselves must be durable before an event names these blobs.
        staging::syncfs(&self.root).map_err(io_err(&self.root))
    }

    /// Removes temp files of staged blobs that will not be published.
    pub fn discard(&self, staged: &mut [Staged]) {
        for s in staged.iter_mut() {
            if let Some(tmp) = s.tmp.take() {
                discard_tmp(tmp);
            }
        }
    }

    /// Puts a durable temp file under its blob name in the fan-out directory `dir`; when the
    /// blob already exists, the temp file is dropped instead (`linkat` / `RENAME_NOREPLACE`:
    /// one system call for the check and the move, and an existing blob is never replaced).
    /// On an error, the temp file comes back with it.
    fn publish_in(&self, tmp: Tmp, hash: &Hash, dir: &File) -> Result<(), (Tmp, BlobError)> {
        let hex = hash.to_hex();
        let name = &hex[2..];
        let res = match &tmp {
            Tmp::Unnamed(u) => staging::link_unnamed(u, dir, name),
            Tmp::Named(p) => match staging::rename_noreplace(p, dir, name) {
                // A file system without RENAME_NOREPLACE: check, then rename.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                    let dst = self.path(hash);
                    if dst.exists() {
                        Err(io::Error::from_raw_os_error(libc::EEXIST))
                    } else {
                        fs::rename(p, &dst)
                    }
                }
                other => other,
            },
        };
        match res {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                discard_tmp(tmp);
                Ok(())
            }
            Err(e) => Err((tmp, io_err(self.path(hash))(e))),
        }
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
        let Ok(rd) = fs::read_dir(&self.tmp) else {
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

/// Creates (when missing) and opens a fan-out directory `sha256/ab`.
fn open_fanout(dir: &Path) -> Result<File, BlobError> {
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err(dir)(e)),
    }
    File::open(dir).map_err(io_err(dir))
}

/// The open file to write a staged blob through.
fn staged_file<'a>(tmp: &'a Tmp, named: &'a Option<File>) -> &'a File {
    match (tmp, named) {
        (Tmp::Unnamed(u), _) => &u.0,
        (Tmp::Named(_), Some(f)) => f,
        (Tmp::Named(_), None) => unreachable!("a named temp file comes with its open file"),
    }
}

/// Drops a temp file: closes an unnamed one (the file system frees it), removes a named one.
fn discard_tmp(tmp: Tmp) {
    if let Tmp::Named(p) = tmp {
        let _ = fs::remove_file(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

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
        assert_eq!(
            fs::read_dir(d.path().join("objects/tmp")).unwrap().count(),
            0
        );
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

    /// Both kinds of temp file; sizes around the chunk size (one read; `O_DIRECT` with an
    /// unaligned tail) and a duplicate.
    #[test]
    fn staged_blobs_appear_only_after_publish() {
        for unnamed in [true, false] {
            let d = tempfile::tempdir().unwrap();
            let s = BlobStore {
                unnamed,
                ..BlobStore::open(&d.path().join("objects")).unwrap()
            };
            let sizes = [0, 1, 8192, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 4095];
            let mut staged = Vec::new();
            let mut buf = Vec::new();
            for (i, n) in sizes.iter().enumerate() {
                let src = d.path().join(format!("f{i}"));
                let data: Vec<u8> = (0..*n).map(|j| (j % 251) as u8 ^ i as u8).collect();
                fs::write(&src, &data).unwrap();
                let st = s.stage_file(&src, &mut buf).unwrap();
                assert_eq!(st.hash, Hash::of(&data), "{n} bytes");
                assert_eq!(st.size, *n as u64);
                assert!(!s.contains(&st.hash), "visible before publish");
                staged.push(st);
            }
            // The same bytes again, and a blob that is already in the store.
            let dup = s.stage_file(&d.path().join("f2"), &mut buf).unwrap();
            staged.push(dup);
            s.put(b"already here").unwrap();
            staged.push(s.stage_bytes(b"already here").unwrap());
            s.publish(&mut staged).unwrap();
            for (i, n) in sizes.iter().enumerate() {
                let h = staged[i].hash;
                assert_eq!(s.check(&h, &mut buf).unwrap(), *n as u64);
                let mode = fs::metadata(s.path(&h)).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o444, "blobs are read-only");
            }
            assert_eq!(s.get(&Hash::of(b"already here")).unwrap(), b"already here");
            assert_eq!(
                fs::read_dir(d.path().join("objects/tmp")).unwrap().count(),
                0
            );
        }
    }

    #[test]
    fn discarded_blobs_leave_nothing() {
        for unnamed in [true, false] {
            let d = tempfile::tempdir().unwrap();
            let s = BlobStore {
                unnamed,
                ..BlobStore::open(&d.path().join("objects")).unwrap()
            };
            let src = d.path().join("f");
            fs::write(&src, vec![3u8; CHUNK + 10]).unwrap();
            let mut staged = vec![
                s.stage_file(&src, &mut Vec::new()).unwrap(),
                s.stage_bytes(b"x").unwrap(),
            ];
            s.discard(&mut staged);
            s.publish(&mut staged).unwrap();
            assert!(!s.contains(&staged[0].hash) && !s.contains(&staged[1].hash));
            assert_eq!(
                fs::read_dir(d.path().join("objects/tmp")).unwrap().count(),
                0
            );
            assert_eq!(
                fs::read_dir(d.path().join("objects/sha256"))
                    .unwrap()
                    .count(),
                0
            );
        }
    }
}
