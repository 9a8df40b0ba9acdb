//! The on-disk encoding of log entries, and the versioning rule that keeps old logs readable.
//!
//! A stored entry is `[FORMAT_VERSION] ++ bincode(Envelope) ++ hash[32]`, where
//! `hash = SHA-256(prev_hash ++ [FORMAT_VERSION] ++ bincode(Envelope))`. The hash covers the
//! stored bytes themselves, so an entry written by any release verifies without re-encoding.
//!
//! **Versioning rule.** New event variants are appended at the end of `Event` (bincode tags
//! variants by index, so old entries decode unchanged). Changing the fields of an existing
//! variant or of the envelope bumps `FORMAT_VERSION`; the old shape moves to a frozen module
//! here with a `From` into the new one, and `decode` dispatches on the leading byte. A test
//! decodes a golden entry written by format 1 so that this cannot regress silently.

use sha2::{Digest, Sha256};

use crate::event::{Envelope, Hash, Record};

/// The format of newly written entries.
pub const FORMAT_VERSION: u8 = 1;

/// The most bytes one decode may claim for its containers. Without a limit bincode allocates
/// what a length prefix says before reading it, so one damaged byte in a stored length (a view
/// row, a manifest) aborted the process asking for petabytes; with it that is a decode error.
/// Nothing lab stores comes near it (a 20,000-file manifest claims a few MB).
const DECODE_LIMIT: usize = 1 << 30;

fn config() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<DECODE_LIMIT>,
> {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// Why an entry could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The entry is shorter than its fixed parts.
    #[error("entry is truncated ({0} bytes)")]
    Truncated(usize),
    /// The entry was written by a newer lab.
    #[error("entry has format version {0}, this lab reads up to {FORMAT_VERSION}: upgrade lab")]
    UnknownVersion(u8),
    /// The bytes are not a valid envelope.
    #[error("entry does not decode: {0}")]
    Decode(String),
}

/// Encodes `env` and computes its chain hash. Returns (stored bytes, hash).
pub fn encode(env: &Envelope) -> (Vec<u8>, Hash) {
    let mut bytes = Vec::with_capacity(256);
    let hash = encode_into(env, &mut bytes);
    (bytes, hash)
}

/// [`encode`] into `bytes` (cleared first), so that a batch reuses one buffer.
pub fn encode_into(env: &Envelope, bytes: &mut Vec<u8>) -> Hash {
    bytes.clear();
    bytes.push(FORMAT_VERSION);
    bincode::serde::encode_into_writer(env, VecWriter(bytes), config())
        .expect("encoding into a Vec cannot fail");
    let hash = chain_hash(&env.prev, bytes);
    bytes.extend_from_slice(&hash.0);
    hash
}

/// Appends to a `Vec` directly (bincode's `std::io::Write` adapter costs a call per field).
struct VecWriter<'a>(&'a mut Vec<u8>);

impl bincode::enc::write::Writer for VecWriter<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// `SHA-256(prev ++ body)`.
pub fn chain_hash(prev: &Hash, body: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(prev.0);
    h.update(body);
    Hash(h.finalize().into())
}

/// Splits a stored entry into (hashed part, stored hash).
pub fn split(bytes: &[u8]) -> Result<(&[u8], Hash), CodecError> {
    if bytes.len() < 1 + 32 {
        return Err(CodecError::Truncated(bytes.len()));
    }
    let (body, h) = bytes.split_at(bytes.len() - 32);
    Ok((body, Hash(h.try_into().unwrap())))
}

/// Decodes a stored entry (any supported format version). Does not check the hash.
pub fn decode(bytes: &[u8]) -> Result<Record, CodecError> {
    let (body, hash) = split(bytes)?;
    match body[0] {
        1 => {
            let (envelope, used): (Envelope, usize) =
                bincode::serde::decode_from_slice(&body[1..], config())
                    .map_err(|e| CodecError::Decode(e.to_string()))?;
            if used != body.len() - 1 {
                return Err(CodecError::Decode(format!(
                    "{} trailing bytes",
                    body.len() - 1 - used
                )));
            }
            Ok(Record { envelope, hash })
        }
        v => Err(CodecError::UnknownVersion(v)),
    }
}

/// Encodes any view row or blob payload with the same bincode configuration.
pub fn to_bytes<T: serde::Serialize>(v: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(v, config()).expect("encoding into a Vec cannot fail")
}

/// Decodes what `to_bytes` wrote.
pub fn from_bytes<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, CodecError> {
    bincode::serde::decode_from_slice(b, config())
        .map(|(v, _)| v)
        .map_err(|e| CodecError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, GitState};

    fn sample() -> Envelope {
        Envelope {
            seq: 1,
            time_ns: 1_700_000_000_000_000_000,
            actor: "dev@box (lab data snapshot, pid 42)".into(),
            git: GitState::Repo {
                commit: Some("a".repeat(40)),
                branch: Some("main".into()),
                dirty: false,
                diff: None,
            },
            lab_version: "0.1.0".into(),
            prev: Hash::ZERO,
            body: Event::DatasetSnapshotted {
                name: "timetables".into(),
                version: 1,
                root: "datasets/timetables".into(),
                files: 3,
                bytes: 300,
                manifest: Hash::of(b"manifest"),
            },
        }
    }

    #[test]
    fn round_trip_and_hash_covers_bytes() {
        let env = sample();
        let (bytes, hash) = encode(&env);
        let rec = decode(&bytes).unwrap();
        assert_eq!(rec.envelope, env);
        assert_eq!(rec.hash, hash);
        let (body, stored) = split(&bytes).unwrap();
        assert_eq!(chain_hash(&env.prev, body), stored);
    }

    /// Format 1 as written by lab 0.1.0, for `sample()`. If this fails, an old log no longer
    /// reads (or new logs are written differently): follow the versioning rule in the module
    /// doc instead of changing these bytes.
    const GOLDEN_V1: &str = "0101fd0000546cfc392f2f2364657640626f7820286c6162206461746120736e617073686f742c20706964203432290101286161616161616161616161616161616161616161616161616161616161616161616161616161616101046d61696e000005302e312e300000000000000000000000000000000000000000000000000000000000000000000a74696d657461626c6573011364617461736574732f74696d657461626c657303fb2c0105b3abf2579a5eb66403cd78be557fd860633a1fe2103c7642030defe32c657f2fa55d5ede02b1a996b1253a1725469248d1ac287ed096bc0c3f2be716a2430f";

    #[test]
    fn golden_format_1_entry_still_decodes_and_verifies() {
        let bytes = hex::decode(GOLDEN_V1).unwrap();
        let rec = decode(&bytes).unwrap();
        assert_eq!(rec.envelope, sample());
        let (body, stored) = split(&bytes).unwrap();
        assert_eq!(chain_hash(&Hash::ZERO, body), stored);
        let (now, _) = encode(&sample());
        assert_eq!(hex::encode(now), GOLDEN_V1, "format 1 encoding changed");
    }

    #[test]
    fn a_damaged_length_is_an_error_not_an_abort() {
        // A byte string whose length prefix claims 2^62 bytes (varint tag 253 + u64).
        let mut b = vec![253u8];
        b.extend_from_slice(&(1u64 << 62).to_le_bytes());
        b.extend_from_slice(b"short");
        assert!(from_bytes::<Vec<u8>>(&b).is_err());
        assert!(from_bytes::<String>(&b).is_err());
    }

    #[test]
    fn rejects_newer_and_truncated() {
        let (mut bytes, _) = encode(&sample());
        bytes[0] = 9;
        assert!(matches!(decode(&bytes), Err(CodecError::UnknownVersion(9))));
        assert!(matches!(decode(&[1, 2]), Err(CodecError::Truncated(2))));
    }
}
