//! Fences around destructive paths: lab never writes into, replaces or deletes the project
//! root, its `.lab/` state, or any directory above them, whatever path a user (or a recorded
//! run) names. Every verb that writes or removes a user-named path (`models export`,
//! `data checkout`, `data synth --out`, `extract --out`, `run --out`, restoring a stage's or a
//! replay's outputs) asks [`check`] first.
//!
//! Paths are compared after resolving symbolic links and `..` in the part that exists, so
//! `datasets/../.`, a link to the root, or `/` are caught as what they are.

use std::path::{Component, Path, PathBuf};

use crate::project::Project;

/// A path lab refuses to write into or remove.
#[derive(Debug, thiserror::Error)]
pub enum FenceError {
    /// The path is the project root or a directory above it.
    #[error(
        "refusing to {what} {path}: it is {which} — lab never writes into or replaces it; \
         name a new directory inside the project, e.g. exports/NAME"
    )]
    Holds {
        what: String,
        path: PathBuf,
        which: &'static str,
    },
    /// The path is `.lab/` or inside it.
    #[error(
        "refusing to {what} {path}: it is inside lab's own state ({lab_dir}), which only lab \
         writes — name a directory outside .lab/"
    )]
    InState {
        what: String,
        path: PathBuf,
        lab_dir: PathBuf,
    },
}

/// `path` made absolute and free of `.`/`..` and symbolic links in the part that exists (the
/// rest, not yet created, is appended as written after dropping `.` and resolving `..`).
pub fn resolve(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                // Resolve what exists so far first: `link/..` is the link target's parent.
                out = out.canonicalize().unwrap_or(out);
                out.pop();
            }
            other => out.push(other),
        }
    }
    // Canonicalise the longest existing prefix.
    let mut existing = out.clone();
    let mut rest = Vec::new();
    loop {
        if let Ok(c) = existing.canonicalize() {
            let mut r = c;
            for part in rest.iter().rev() {
                r.push(part);
            }
            return r;
        }
        match (
            existing.file_name().map(|f| f.to_os_string()),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return out,
        }
    }
}

/// Refuses `path` when it is the project root, an ancestor of it, `.lab/` or inside `.lab/`.
/// `what` names the action in the message ("export into", "remove", …).
pub fn check(project: &Project, path: &Path, what: &str) -> Result<(), FenceError> {
    let target = resolve(path);
    let root = resolve(&project.root);
    let lab_dir = resolve(&project.lab_dir());
    if target == root {
        return Err(FenceError::Holds {
            what: what.into(),
            path: path.to_path_buf(),
            which: "the project root",
        });
    }
    if root.starts_with(&target) {
        return Err(FenceError::Holds {
            what: what.into(),
            path: path.to_path_buf(),
            which: "a directory that holds the project",
        });
    }
    if target.starts_with(&lab_dir) {
        return Err(FenceError::InState {
            what: what.into(),
            path: path.to_path_buf(),
            lab_dir: project.lab_dir(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_its_parents_and_state_are_fenced() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap().join("proj");
        std::fs::create_dir_all(root.join(".lab/objects")).unwrap();
        std::fs::create_dir_all(root.join("datasets")).unwrap();
        std::os::unix::fs::symlink(&root, root.join("datasets/up")).unwrap();
        let p = Project {
            root: root.clone(),
            config: Default::default(),
        };
        for bad in [
            root.clone(),
            root.join("."),
            root.join("datasets/.."),
            root.join("datasets/up"),
            root.join("datasets/up/.lab"),
            root.parent().unwrap().to_path_buf(),
            PathBuf::from("/"),
            root.join(".lab"),
            root.join(".lab/objects"),
            root.join(".lab/new/dir"),
        ] {
            assert!(check(&p, &bad, "export into").is_err(), "{}", bad.display());
        }
        for good in [
            root.join("datasets"),
            root.join("exports/m"),
            root.join("datasets/new/../other"),
            tmp.path().join("elsewhere"),
        ] {
            check(&p, &good, "export into").unwrap_or_else(|e| panic!("{}: {e}", good.display()));
        }
        let e = check(&p, &root.join(".lab"), "export into").unwrap_err();
        assert!(e.to_string().contains("lab's own state"), "{e}");
        let e = check(&p, &root, "export into").unwrap_err();
        assert!(e.to_string().contains("the project root"), "{e}");
    }
}
