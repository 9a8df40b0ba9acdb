//! Datasets: snapshots of directory trees into the blob store, their manifests, diffs,
//! checkout, and naming (`name@N`, `name@latest`, a manifest hash prefix).

pub mod import;
pub mod manifest;
pub mod snapshot;
pub mod synth;

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::event::ManifestEntry;
use crate::progress::Reporter;
use crate::store::blobs::{hash_reader, io_err};
use crate::store::{BlobError, BlobStore, DatasetRow};

/// Resolves a snapshot reference against the dataset view rows.
/// Accepts `NAME` (latest), `NAME@latest`, `NAME@N`, or a manifest hash prefix (≥ 4 hex digits).
pub fn resolve<'a>(rows: &'a [DatasetRow], reference: &str) -> Result<&'a DatasetRow, String> {
    let known = || {
        let mut names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        names.dedup();
        if names.is_empty() {
            "no snapshots yet — run `lab data snapshot PATH`".to_string()
        } else {
            format!("known datasets: {} (see `lab data ls`)", names.join(", "))
        }
    };
    let (name, version) = match reference.rsplit_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (reference, None),
    };
    let of_name: Vec<&DatasetRow> = rows.iter().filter(|r| r.name == name).collect();
    if !of_name.is_empty() {
        return match version {
            None | Some("latest") => Ok(of_name.last().unwrap()),
            Some(v) => {
                let n: u32 = v.parse().map_err(|_| {
                    format!(
                        "bad snapshot version `{v}` in `{reference}`: use NAME@N or NAME@latest"
                    )
                })?;
                of_name
                    .iter()
                    .find(|r| r.version == n)
                    .copied()
                    .ok_or_else(|| {
                        format!(
                            "snapshot {reference} does not exist: {name} has versions 1..={}",
                            of_name.last().unwrap().version
                        )
                    })
            }
        };
    }
    if version.is_none() && reference.len() >= 4 && reference.chars().all(|c| c.is_ascii_hexdigit())
    {
        let prefix = reference.to_ascii_lowercase();
        let hits: Vec<&DatasetRow> = rows
            .iter()
            .filter(|r| r.manifest.to_hex().starts_with(&prefix))
            .collect();
        let mut distinct: Vec<&DatasetRow> = Vec::new();
        for h in &hits {
            if !distinct.iter().any(|d| d.manifest == h.manifest) {
                distinct.push(h);
            }
        }
        return match distinct.len() {
            0 => Err(format!("no snapshot matches `{reference}`; {}", known())),
            1 => Ok(distinct[0]),
            _ => Err(format!(
                "`{reference}` is ambiguous: {} — give more digits",
                distinct
                    .iter()
                    .map(|r| format!("{}@{} ({})", r.name, r.version, r.manifest.short()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
    }
    Err(format!("no dataset named `{name}`; {}", known()))
}

/// Why a checkout failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// The target exists and is not an empty directory.
    #[error("{0} exists and is not empty — check out into a new or empty directory")]
    NotEmpty(PathBuf),
    /// The target exists and is a file (or something else that is not a directory).
    #[error("{0} exists and is not a directory — check out into a new or empty directory")]
    NotADir(PathBuf),
    /// A manifest path would escape the target directory.
    #[error(
        "manifest path {0} is not a plain relative path; the manifest is damaged (run `lab verify`)"
    )]
    BadPath(String),
    #[error(transparent)]
    Blob(#[from] BlobError),
}

/// Restores the exact bytes (and permission bits) of a manifest into `dir`, verifying every
/// blob's hash while copying. Returns bytes written.
pub fn checkout(
    blobs: &BlobStore,
    entries: &[ManifestEntry],
    dir: &Path,
    reporter: &dyn Reporter,
) -> Result<u64, CheckoutError> {
    if dir.exists() && !dir.is_dir() {
        return Err(CheckoutError::NotADir(dir.to_path_buf()));
    }
    if dir.exists() {
        let empty = fs::read_dir(dir).map_err(io_err(dir))?.next().is_none();
        if !empty {
            return Err(CheckoutError::NotEmpty(dir.to_path_buf()));
        }
    }
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    for e in entries {
        let rel = Path::new(std::ffi::OsStr::from_bytes(&e.path));
        if rel.is_absolute()
            || rel
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(CheckoutError::BadPath(manifest::display_path(&e.path)));
        }
    }
    reporter.begin("restoring", manifest::total_bytes(entries), true);
    let res: Result<Vec<u64>, BlobError> = entries
        .par_iter()
        .map_init(Vec::new, |buf, e| {
            let dst = dir.join(std::ffi::OsStr::from_bytes(&e.path));
            if let Some(parent) = dst.parent() {
                fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            let src = blobs.path(&e.hash);
            let mut input = fs::File::open(&src).map_err(|err| {
                if err.kind() == std::io::ErrorKind::NotFound {
                    BlobError::Missing {
                        hash: e.hash,
                        path: src.clone(),
                    }
                } else {
                    io_err(&src)(err)
                }
            })?;
            let mut out = fs::File::create(&dst).map_err(io_err(&dst))?;
            let mut tee = Tee {
                r: &mut input,
                w: &mut out,
            };
            let (actual, size) = hash_reader(&mut tee, buf).map_err(io_err(&dst))?;
            if actual != e.hash {
                return Err(BlobError::Corrupt {
                    hash: e.hash,
                    actual,
                    path: src,
                });
            }
            fs::set_permissions(&dst, fs::Permissions::from_mode(e.mode)).map_err(io_err(&dst))?;
            reporter.advance(size);
            Ok(size)
        })
        .collect();
    reporter.end();
    Ok(res?.into_iter().sum())
}

/// Copies what it reads into a writer.
struct Tee<'a, R, W> {
    r: &'a mut R,
    w: &'a mut W,
}

impl<R: std::io::Read, W: std::io::Write> std::io::Read for Tee<'_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.r.read(buf)?;
        self.w.write_all(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Hash;

    fn row(name: &str, version: u32, h: u8) -> DatasetRow {
        DatasetRow {
            name: name.into(),
            version,
            seq: version as u64,
            time_ns: 0,
            root: "d".into(),
            files: 1,
            bytes: 1,
            manifest: Hash([h; 32]),
        }
    }

    #[test]
    fn resolves_names_versions_and_prefixes() {
        let rows = vec![row("a", 1, 0xab), row("a", 2, 0xac), row("b", 1, 0xcd)];
        assert_eq!(resolve(&rows, "a").unwrap().version, 2);
        assert_eq!(resolve(&rows, "a@latest").unwrap().version, 2);
        assert_eq!(resolve(&rows, "a@1").unwrap().version, 1);
        assert_eq!(resolve(&rows, "cdcd").unwrap().name, "b");
        assert!(resolve(&rows, "a@3").unwrap_err().contains("1..=2"));
        assert!(
            resolve(&rows, "a@x")
                .unwrap_err()
                .contains("bad snapshot version")
        );
        assert!(
            resolve(&rows, "zzz")
                .unwrap_err()
                .contains("known datasets: a, b")
        );
    }
}
