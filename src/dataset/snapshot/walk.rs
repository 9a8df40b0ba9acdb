//! The parallel walk of a snapshot root: one rayon task per directory, one `stat` per file.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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

/// A directory on the way down from the root, to detect symlink loops.
struct Ancestor {
    dev: u64,
    ino: u64,
    path: PathBuf,
}

/// Every regular file under `root` (following symbolic links), walked in parallel: one task
/// per directory, one `stat` per file (relative to its directory), none for directories
/// reached without a link. The first error in path order wins, so the message is the same
/// from run to run.
pub(super) fn walk(root: &Path, meta: &fs::Metadata) -> Result<Vec<Found>, SnapshotError> {
    let found = Mutex::new(Vec::new());
    let errors = Mutex::new(Vec::new());
    let top = vec![Ancestor {
        dev: meta.dev(),
        ino: meta.ino(),
        path: root.to_path_buf(),
    }];
    rayon::scope(|s| {
        walk_dir(
            s,
            root.to_path_buf(),
            Vec::new(),
            Arc::new(top),
            &found,
            &errors,
        );
    });
    let mut errors = errors.into_inner().unwrap();
    if !errors.is_empty() {
        errors.sort_by(|a: &(PathBuf, SnapshotError), b| a.0.cmp(&b.0));
        return Err(errors.swap_remove(0).1);
    }
    Ok(found.into_inner().unwrap())
}

fn walk_dir<'s>(
    s: &rayon::Scope<'s>,
    dir: PathBuf,
    rel: Vec<u8>,
    ancestors: Arc<Vec<Ancestor>>,
    found: &'s Mutex<Vec<Found>>,
    errors: &'s Mutex<Vec<(PathBuf, SnapshotError)>>,
) {
    let fail = |path: PathBuf, e: std::io::Error| {
        let message = if e.kind() == std::io::ErrorKind::NotFound {
            "it vanished or is a broken symbolic link".to_string()
        } else {
            e.to_string()
        };
        let err = SnapshotError::Unreadable {
            path: path.clone(),
            message,
        };
        errors.lock().unwrap().push((path, err));
    };
    let rd = match fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) => return fail(dir, e),
    };
    let mut local = Vec::new();
    for entry in rd {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                fail(dir.clone(), e);
                break;
            }
        };
        let name = entry.file_name();
        let path = entry.path();
        let mut child_rel = rel.clone();
        if !child_rel.is_empty() {
            child_rel.push(b'/');
        }
        child_rel.extend_from_slice(name.as_bytes());
        let ft = match entry.file_type() {
            Ok(t) => t,
            Err(e) => {
                fail(path, e);
                continue;
            }
        };
        // A link is followed (`stat` by path); anything else is stat'ed relative to its
        // directory, which spares the kernel the walk down the full path.
        let m = if ft.is_symlink() {
            fs::metadata(&path)
        } else if ft.is_file() || ft.is_dir() {
            entry.metadata()
        } else {
            continue;
        };
        let m = match m {
            Ok(m) => m,
            Err(e) => {
                fail(path, e);
                continue;
            }
        };
        if m.is_dir() {
            if let Some(a) = ancestors
                .iter()
                .find(|a| a.dev == m.dev() && a.ino == m.ino())
            {
                let err = SnapshotError::Loop {
                    path: path.clone(),
                    ancestor: a.path.clone(),
                };
                errors.lock().unwrap().push((path, err));
                continue;
            }
            let mut down: Vec<Ancestor> = Vec::with_capacity(ancestors.len() + 1);
            down.extend(ancestors.iter().map(|a| Ancestor {
                dev: a.dev,
                ino: a.ino,
                path: a.path.clone(),
            }));
            down.push(Ancestor {
                dev: m.dev(),
                ino: m.ino(),
                path: path.clone(),
            });
            let down = Arc::new(down);
            s.spawn(move |s| walk_dir(s, path, child_rel, down, found, errors));
        } else if m.is_file() {
            local.push(Found {
                rel: child_rel,
                abs: path,
                stat: Stat::of(&m),
                mode: m.mode() & 0o7777,
            });
        }
    }
    found.lock().unwrap().extend(local);
}
