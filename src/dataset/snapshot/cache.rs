//! The stat cache: for each file of a snapshotted root, the (size, mtime, ctime, inode) it had
//! and the hash it had then. A file whose stat matches is not read again.
//!
//! On disk: `codec::to_bytes` of the entries sorted by path (bincode, standard config). It is
//! only a cache: a missing or undecodable file is an empty cache. In memory the entries stay a
//! sorted list, so that a scan (whose files are sorted the same way) answers from it with one
//! merge instead of hashing 20,000 paths, and [`StatCache::save`] writes nothing when a scan
//! found every file unchanged.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::event::Hash;
use crate::store::codec;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Stat {
    pub(super) size: u64,
    pub(super) mtime_ns: i64,
    pub(super) ctime_ns: i64,
    pub(super) ino: u64,
}

impl Stat {
    pub(super) fn of(m: &fs::Metadata) -> Stat {
        Stat {
            size: m.len(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
            ino: m.ino(),
        }
    }
}

/// The stat cache of one snapshotted root.
#[derive(Default)]
pub struct StatCache {
    /// Sorted by path, no duplicates.
    pub(super) entries: Vec<(Vec<u8>, Stat, Hash)>,
    /// Built by a scan that found exactly the loaded entries: saving would rewrite the same
    /// bytes, so it is skipped.
    pub(super) unchanged: bool,
}

impl StatCache {
    /// Loads the cache at `path`; a missing or unreadable cache is an empty one.
    pub fn load(path: &Path) -> StatCache {
        let Ok(bytes) = fs::read(path) else {
            return StatCache::default();
        };
        let mut entries = decode(&bytes)
            .or_else(|| codec::from_bytes(&bytes).ok())
            .unwrap_or_default();
        if !entries.is_sorted_by(|a, b| a.0 < b.0) {
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries.dedup_by(|a, b| a.0 == b.0);
        }
        StatCache {
            entries,
            unchanged: false,
        }
    }

    /// Writes the cache atomically (temp file + rename). It is only a cache: not fsynced.
    /// Nothing is written when the scan that built it changed nothing.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if self.unchanged && path.exists() {
            return Ok(());
        }
        let bytes = codec::to_bytes(&self.entries);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        fs::write(&tmp, bytes)?;
        fs::rename(&tmp, path)
    }

    /// The hash cached for `rel` if its stat still matches. `from` is a cursor into the sorted
    /// entries: asking in path order makes the whole scan one merge.
    pub(super) fn lookup(&self, rel: &[u8], stat: &Stat, from: &mut usize) -> Option<Hash> {
        let rest = &self.entries[*from..];
        let i = rest.partition_point(|e| e.0.as_slice() < rel);
        *from += i;
        match rest.get(i) {
            Some((p, s, h)) if p == rel && s == stat => Some(*h),
            _ => None,
        }
    }
}

/// A hand-written decoder of exactly what `save` writes (bincode standard config: varint
/// integers, zigzag for signed ones, raw bytes for `u8`), several times faster than the
/// generic serde path for 20,000 entries. None on anything unexpected; the caller then falls
/// back to the generic decoder.
fn decode(b: &[u8]) -> Option<Vec<(Vec<u8>, Stat, Hash)>> {
    let mut r = Reader(b);
    let n = r.varint()?;
    let mut out = Vec::with_capacity(usize::try_from(n).ok()?.min(b.len() / 36));
    for _ in 0..n {
        let len = usize::try_from(r.varint()?).ok()?;
        let path = r.take(len)?.to_vec();
        let stat = Stat {
            size: r.varint()?,
            mtime_ns: unzigzag(r.varint()?),
            ctime_ns: unzigzag(r.varint()?),
            ino: r.varint()?,
        };
        let hash = Hash(r.take(32)?.try_into().ok()?);
        out.push((path, stat, hash));
    }
    r.0.is_empty().then_some(out)
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }

    fn varint(&mut self) -> Option<u64> {
        let tag = self.take(1)?[0];
        Some(match tag {
            0..=250 => u64::from(tag),
            251 => u64::from(u16::from_le_bytes(self.take(2)?.try_into().ok()?)),
            252 => u64::from(u32::from_le_bytes(self.take(4)?.try_into().ok()?)),
            253 => u64::from_le_bytes(self.take(8)?.try_into().ok()?),
            _ => return None,
        })
    }
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_decoder_matches_the_codec() {
        let mut entries = Vec::new();
        for i in 0..300u64 {
            let path = format!("dir{}/file-{i:05}.bin", i % 7).into_bytes();
            let stat = Stat {
                size: i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (i % 64),
                mtime_ns: (i as i64 - 150) * 1_700_000_000_123 * if i % 2 == 0 { 1 } else { -1 },
                ctime_ns: i64::MAX - i as i64,
                ino: u64::MAX >> (i % 64),
            };
            entries.push((path, stat, Hash::of(&i.to_le_bytes())));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let bytes = codec::to_bytes(&entries);
        assert_eq!(decode(&bytes).unwrap(), entries);
        assert!(decode(&bytes[..bytes.len() - 1]).is_none());
        let generic: Vec<(Vec<u8>, Stat, Hash)> = codec::from_bytes(&bytes).unwrap();
        assert_eq!(generic, entries);
    }

    #[test]
    fn lookup_merges_in_path_order() {
        let s = |n| Stat {
            size: n,
            mtime_ns: 1,
            ctime_ns: 2,
            ino: 3,
        };
        let c = StatCache {
            entries: vec![
                (b"a".to_vec(), s(1), Hash([1; 32])),
                (b"b/c".to_vec(), s(2), Hash([2; 32])),
                (b"d".to_vec(), s(3), Hash([3; 32])),
            ],
            unchanged: false,
        };
        let mut at = 0;
        assert_eq!(c.lookup(b"a", &s(1), &mut at), Some(Hash([1; 32])));
        assert_eq!(c.lookup(b"b", &s(9), &mut at), None);
        assert_eq!(c.lookup(b"b/c", &s(9), &mut at), None, "stat changed");
        assert_eq!(c.lookup(b"d", &s(3), &mut at), Some(Hash([3; 32])));
        assert_eq!(c.lookup(b"e", &s(3), &mut at), None);
    }
}
