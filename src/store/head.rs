//! The head record, `.lab/HEAD`: the sequence number and hash of the last event, written
//! beside the log after each commit (temp file, fsync, rename under a lock, never backwards).
//!
//! It is what lets lab tell an empty project from one whose log was deleted, truncated or
//! replaced: every open compares it with the log (see `Store::open`). A record behind the log
//! is normal (a process died between its commit and the record, or another process's record
//! landed first); a record ahead of the log, or naming a different event, means history was
//! lost, and opening is an error instead of "0 events".

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::{EVENTS, Store, StoreError, codec};
use crate::event::Hash;
use redb::ReadableDatabase;

/// The head of the log as last recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadRecord {
    pub seq: u64,
    pub hash: Hash,
}

/// `.lab/HEAD`.
pub fn path(lab_dir: &Path) -> PathBuf {
    lab_dir.join("HEAD")
}

const MAGIC: &str = "lab-head 1";

fn encode(r: &HeadRecord) -> String {
    format!("{MAGIC}\nseq {}\nhash {}\n", r.seq, r.hash.to_hex())
}

fn decode(text: &str) -> Option<HeadRecord> {
    let mut lines = text.lines();
    if lines.next()? != MAGIC {
        return None;
    }
    let seq = lines.next()?.strip_prefix("seq ")?.parse().ok()?;
    let hex = lines.next()?.strip_prefix("hash ")?;
    let bytes: [u8; 32] = hex::decode(hex).ok()?.try_into().ok()?;
    Some(HeadRecord {
        seq,
        hash: Hash(bytes),
    })
}

/// The record in `lab_dir`: `Ok(None)` when there is none, `Err(why)` when it is unreadable.
pub fn read(lab_dir: &Path) -> Result<Option<HeadRecord>, String> {
    let p = path(lab_dir);
    match fs::read_to_string(&p) {
        Ok(t) => decode(&t)
            .map(Some)
            .ok_or_else(|| "it is not a head record".to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// Records `r` unless the record already names a later event. Durable before it is visible:
/// written to a temp file, fsynced, renamed over the old record, all under `HEAD.lock` so that
/// two processes never move it backwards.
pub fn advance(lab_dir: &Path, r: HeadRecord) -> std::io::Result<()> {
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lab_dir.join("HEAD.lock"))?;
    // SAFETY: flock on a file descriptor we own; released when `lock` is closed.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if let Ok(Some(cur)) = read(lab_dir) {
        if cur.seq >= r.seq {
            return Ok(());
        }
    }
    let tmp = lab_dir.join("HEAD.tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(encode(&r).as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, path(lab_dir))
}

impl Store {
    /// Compares the log with the head record (see `head`); adopts the log's head when there
    /// is no record yet (a project made before records were kept).
    pub(super) fn check_head(&self, recorded: Option<HeadRecord>) -> Result<(), StoreError> {
        let (seq, hash) = self.head()?;
        let Some(r) = recorded.filter(|r| r.seq > 0) else {
            if seq > 0 {
                let _ = advance(&self.lab_dir, HeadRecord { seq, hash });
            }
            return Ok(());
        };
        if seq < r.seq {
            return Err(StoreError::Lost {
                path: self.path.clone(),
                head: path(&self.lab_dir),
                found: seq,
                recorded: r.seq,
            });
        }
        let found = if seq == r.seq {
            Some(hash)
        } else {
            self.stored_hash(r.seq)?
        };
        if found != Some(r.hash) {
            return Err(StoreError::Replaced {
                path: self.path.clone(),
                head: path(&self.lab_dir),
                seq: r.seq,
                found: found.map_or("missing".into(), |h| h.short()),
                recorded: r.hash.short(),
            });
        }
        Ok(())
    }

    /// The stored hash of entry `seq`, without decoding its body.
    fn stored_hash(&self, seq: u64) -> Result<Option<Hash>, StoreError> {
        let r = self.db()?.begin_read().map_err(self.err("read"))?;
        let t = r.open_table(EVENTS).map_err(self.err("read"))?;
        let Some(v) = t.get(seq).map_err(self.err("read"))? else {
            return Ok(None);
        };
        let (_, h) = codec::split(v.value()).map_err(|source| StoreError::Codec {
            seq,
            path: self.path.clone(),
            source,
        })?;
        Ok(Some(h))
    }

    /// The head record of this log, if any (for `lab verify`).
    pub fn head_record(&self) -> Result<Option<HeadRecord>, StoreError> {
        read(&self.lab_dir).map_err(|detail| StoreError::HeadRecord {
            path: path(&self.lab_dir),
            detail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advances_only_forwards_and_round_trips() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read(d.path()).unwrap(), None);
        let a = HeadRecord {
            seq: 5,
            hash: Hash([5; 32]),
        };
        advance(d.path(), a).unwrap();
        assert_eq!(read(d.path()).unwrap(), Some(a));
        let older = HeadRecord {
            seq: 4,
            hash: Hash([4; 32]),
        };
        advance(d.path(), older).unwrap();
        assert_eq!(read(d.path()).unwrap(), Some(a), "never backwards");
        fs::write(path(d.path()), "garbage").unwrap();
        assert!(read(d.path()).is_err());
    }
}
