//! Dataset manifests: the sorted list of (relative path, size, mode, hash) of a snapshot, stored
//! as a blob. Paths are raw bytes so that non-UTF-8 file names survive a round trip exactly.

use serde::Serialize;

use crate::event::{Hash, ManifestEntry};
use crate::store::codec;

/// Manifest encoding version (the first byte of a manifest blob).
const MANIFEST_VERSION: u8 = 1;

/// Encodes a manifest; `entries` must be sorted by path.
pub fn encode(entries: &[ManifestEntry]) -> Vec<u8> {
    debug_assert!(entries.windows(2).all(|w| w[0].path < w[1].path));
    let mut out = vec![MANIFEST_VERSION];
    out.extend_from_slice(&codec::to_bytes(&entries));
    out
}

/// Decodes a manifest blob.
pub fn decode(bytes: &[u8]) -> Result<Vec<ManifestEntry>, String> {
    match bytes.first() {
        Some(&MANIFEST_VERSION) => codec::from_bytes(&bytes[1..]).map_err(|e| e.to_string()),
        Some(v) => Err(format!("manifest version {v} is newer than this lab reads")),
        None => Err("empty manifest".into()),
    }
}

/// A path for people: UTF-8 as is, other bytes escaped as `\xNN`.
pub fn display_path(p: &[u8]) -> String {
    let mut out = String::new();
    for chunk in p.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// What changed between two manifests.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Diff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub modified: Vec<String>,
    pub unchanged: usize,
}

/// Compares two sorted manifests by path; a changed hash or mode is a modification.
pub fn diff(a: &[ManifestEntry], b: &[ManifestEntry]) -> Diff {
    let mut d = Diff::default();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.path == y.path => {
                if x.hash != y.hash || x.mode != y.mode {
                    d.modified.push(display_path(&x.path));
                } else {
                    d.unchanged += 1;
                }
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.path < y.path => {
                d.removed.push(display_path(&x.path));
                i += 1;
            }
            (Some(_), Some(y)) => {
                d.added.push(display_path(&y.path));
                j += 1;
            }
            (Some(x), None) => {
                d.removed.push(display_path(&x.path));
                i += 1;
            }
            (None, Some(y)) => {
                d.added.push(display_path(&y.path));
                j += 1;
            }
            (None, None) => unreachable!(),
        }
    }
    d
}

/// Total bytes of a manifest.
pub fn total_bytes(entries: &[ManifestEntry]) -> u64 {
    entries.iter().map(|e| e.size).sum()
}

/// The hash of an encoded manifest (its blob name).
pub fn hash(entries: &[ManifestEntry]) -> Hash {
    Hash::of(&encode(entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(p: &str, h: u8) -> ManifestEntry {
        ManifestEntry {
            path: p.as_bytes().to_vec(),
            size: 1,
            mode: 0o644,
            hash: Hash([h; 32]),
        }
    }

    #[test]
    fn diff_finds_added_removed_modified() {
        let a = vec![e("a", 1), e("b", 2), e("c", 3)];
        let b = vec![e("b", 2), e("c", 4), e("d", 5)];
        let d = diff(&a, &b);
        assert_eq!(d.added, vec!["d"]);
        assert_eq!(d.removed, vec!["a"]);
        assert_eq!(d.modified, vec!["c"]);
        assert_eq!(d.unchanged, 1);
    }

    #[test]
    fn round_trip_and_non_utf8_display() {
        let mut x = e("z", 9);
        x.path = vec![b'a', 0xff, b'b'];
        let m = vec![e("a", 1), x];
        assert_eq!(decode(&encode(&m)).unwrap(), m);
        assert_eq!(display_path(&[b'a', 0xff, b'b']), "a\\xffb");
    }
}
