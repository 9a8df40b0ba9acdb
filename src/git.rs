//! The project's git state, read with git2: commit, branch, dirty, and the diff when dirty.

use std::path::Path;

use git2::{DiffFormat, DiffOptions, Repository, StatusOptions};

use crate::event::{GitState, Hash};

/// HEAD's commit, branch and the paths it changed against its first parent; `None` outside a
/// repository or before the first commit.
pub fn head_commit(root: &Path) -> Option<(String, Option<String>, Vec<String>)> {
    let repo = Repository::discover(root).ok()?;
    let head = repo.head().ok()?;
    let commit = head.peel_to_commit().ok()?;
    let branch = head
        .is_branch()
        .then(|| head.shorthand().map(str::to_string))
        .flatten();
    let tree = commit.tree().ok()?;
    let parent = commit.parent(0).ok().and_then(|p| p.tree().ok());
    let diff = repo
        .diff_tree_to_tree(parent.as_ref(), Some(&tree), None)
        .ok()?;
    let mut changed: Vec<String> = diff
        .deltas()
        .filter_map(|d| d.new_file().path().or(d.old_file().path()))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    changed.sort();
    changed.dedup();
    Some((commit.id().to_string(), branch, changed))
}

/// Whether HEAD is a root commit (no parent): the first commit of a repository.
pub fn head_is_root(root: &Path) -> bool {
    Repository::discover(root)
        .ok()
        .and_then(|r| {
            r.head()
                .ok()?
                .peel_to_commit()
                .ok()
                .map(|c| c.parent_count() == 0)
        })
        .unwrap_or(false)
}

/// The work tree of the git repository containing `root`, if any.
pub fn workdir(root: &Path) -> Option<std::path::PathBuf> {
    let repo = Repository::discover(root).ok()?;
    repo.workdir().map(Path::to_path_buf)
}

/// The hooks directory of the repository containing `root` (honours `core.hooksPath`), and the
/// repository's work tree.
pub fn hooks_dir(root: &Path) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let repo = Repository::discover(root).ok()?;
    let workdir = repo.workdir()?.to_path_buf();
    let dir = match repo
        .config()
        .ok()
        .and_then(|c| c.get_path("core.hooksPath").ok())
    {
        Some(p) if p.is_absolute() => p,
        Some(p) => workdir.join(p),
        None => repo.path().join("hooks"),
    };
    Some((dir, workdir))
}

/// The state of the repository containing `root`. `store_diff` is called with the diff's bytes
/// when the tree is dirty and returns the blob hash. A repository git2 cannot read is reported
/// as no repository rather than failing the command.
pub fn state(
    root: &Path,
    store_diff: impl FnOnce(&[u8]) -> Result<Hash, crate::store::BlobError>,
) -> Result<GitState, crate::store::BlobError> {
    let Ok(repo) = Repository::discover(root) else {
        return Ok(GitState::NoRepo);
    };
    if repo.is_bare() {
        return Ok(GitState::NoRepo);
    }
    let head = repo.head().ok();
    let commit = head
        .as_ref()
        .and_then(|h| h.peel_to_commit().ok())
        .map(|c| c.id().to_string());
    let branch = match &head {
        Some(h) if h.is_branch() => h.shorthand().map(str::to_string),
        Some(_) => None,
        // Unborn branch: HEAD names a branch with no commits yet.
        None => repo
            .find_reference("HEAD")
            .ok()
            .and_then(|r| r.symbolic_target().map(str::to_string))
            .map(|t| t.trim_start_matches("refs/heads/").to_string()),
    };
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .include_ignored(false)
        .recurse_untracked_dirs(true)
        .exclude_submodules(true);
    let untracked_and_changed: Vec<(String, bool)> = repo
        .statuses(Some(&mut opts))
        .map(|st| {
            st.iter()
                .filter(|e| e.status() != git2::Status::CURRENT)
                .map(|e| {
                    (
                        e.path().unwrap_or("?").to_string(),
                        e.status().contains(git2::Status::WT_NEW),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let dirty = !untracked_and_changed.is_empty();
    let diff = if dirty {
        let bytes = diff_bytes(&repo, &untracked_and_changed);
        Some(store_diff(&bytes)?)
    } else {
        None
    };
    Ok(GitState::Repo {
        commit,
        branch,
        dirty,
        diff,
    })
}

/// The patch of tracked changes (index and work tree against HEAD), followed by the names of
/// untracked files (their content would make the record as large as the data).
fn diff_bytes(repo: &Repository, entries: &[(String, bool)]) -> Vec<u8> {
    let mut out = Vec::new();
    let tree = repo.head().ok().and_then(|h| h.peel_to_tree().ok());
    let mut opts = DiffOptions::new();
    opts.include_untracked(false);
    if let Ok(diff) = repo.diff_tree_to_workdir_with_index(tree.as_ref(), Some(&mut opts)) {
        let _ = diff.print(DiffFormat::Patch, |_, _, line| {
            match line.origin() {
                '+' | '-' | ' ' => out.push(line.origin() as u8),
                _ => {}
            }
            out.extend_from_slice(line.content());
            true
        });
    }
    for (path, untracked) in entries {
        if *untracked {
            out.extend_from_slice(b"untracked: ");
            out.extend_from_slice(path.as_bytes());
            out.push(b'\n');
        }
    }
    out
}

/// Why a recorded commit could not be checked out.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// The project is no longer inside a git repository.
    #[error("{0} is not inside a git repository any more")]
    NoRepo(std::path::PathBuf),
    /// The commit is gone (rebased away and garbage-collected, or another repository).
    #[error("commit {0} no longer exists in the repository")]
    NoCommit(String),
    /// The recorded diff of a dirty tree does not apply to its commit.
    #[error("the recorded diff of the dirty tree does not apply to commit {commit}: {message}")]
    Diff { commit: String, message: String },
    /// Any other git failure while checking out.
    #[error("git: {0}")]
    Git(#[from] git2::Error),
}

/// Writes the tree of `commit` (plus `patch`, the recorded diff of a dirty work tree, when
/// given) into the empty directory `target`: a temporary work tree of that commit, made
/// without touching the repository's own work tree, index or HEAD.
pub fn checkout_commit(
    root: &Path,
    commit: &str,
    patch: Option<&[u8]>,
    target: &Path,
) -> Result<(), CheckoutError> {
    let repo = Repository::discover(root).map_err(|_| CheckoutError::NoRepo(root.to_path_buf()))?;
    let oid = git2::Oid::from_str(commit).map_err(|_| CheckoutError::NoCommit(commit.into()))?;
    let c = repo
        .find_commit(oid)
        .map_err(|_| CheckoutError::NoCommit(commit.into()))?;
    let mut tree = c.tree()?;
    if let Some(p) = patch.filter(|p| !p.is_empty()) {
        let bad = |e: git2::Error| CheckoutError::Diff {
            commit: commit.into(),
            message: e.message().to_string(),
        };
        let diff = git2::Diff::from_buffer(p).map_err(bad)?;
        let mut index = repo.apply_to_tree(&tree, &diff, None).map_err(bad)?;
        let oid = index.write_tree_to(&repo)?;
        tree = repo.find_tree(oid)?;
    }
    let mut co = git2::build::CheckoutBuilder::new();
    co.target_dir(target)
        .force()
        .recreate_missing(true)
        .update_index(false);
    repo.checkout_tree(tree.as_object(), Some(&mut co))?;
    Ok(())
}

/// Splits a recorded dirty-tree diff (see [`state`]) into the patch of tracked changes and
/// the names of untracked files.
pub fn split_recorded_diff(bytes: &[u8]) -> (Vec<u8>, Vec<String>) {
    let mut patch = Vec::new();
    let mut untracked = Vec::new();
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        match line.strip_prefix(b"untracked: ") {
            Some(name) => untracked.push(String::from_utf8_lossy(name).trim_end().to_string()),
            None => patch.extend_from_slice(line),
        }
    }
    (patch, untracked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_repo_and_dirty_repo() {
        let d = tempfile::tempdir().unwrap();
        let st = state(d.path(), |_| unreachable!()).unwrap();
        assert_eq!(st, GitState::NoRepo);
        let repo = Repository::init(d.path()).unwrap();
        std::fs::write(d.path().join("a.txt"), "hi").unwrap();
        let mut seen = Vec::new();
        let st = state(d.path(), |b| {
            seen = b.to_vec();
            Ok(Hash::of(b))
        })
        .unwrap();
        match st {
            GitState::Repo {
                commit,
                dirty,
                diff,
                branch,
            } => {
                assert!(commit.is_none());
                assert!(dirty);
                assert!(diff.is_some());
                assert!(branch.is_some());
            }
            _ => panic!(),
        }
        assert!(String::from_utf8_lossy(&seen).contains("untracked: a.txt"));
        drop(repo);
    }

    #[test]
    fn checkout_of_a_commit_with_its_recorded_diff() {
        let d = tempfile::tempdir().unwrap();
        let repo = Repository::init(d.path()).unwrap();
        std::fs::write(d.path().join("a.txt"), "one\n").unwrap();
        std::fs::write(d.path().join("b.txt"), "keep\n").unwrap();
        let mut index = repo.index().unwrap();
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        let c = repo
            .commit(Some("HEAD"), &sig, &sig, "one", &tree, &[])
            .unwrap()
            .to_string();
        // A dirty tree: the diff is what a run records.
        std::fs::write(d.path().join("a.txt"), "two\n").unwrap();
        let mut diff = Vec::new();
        state(d.path(), |b| {
            diff = b.to_vec();
            Ok(Hash::of(b))
        })
        .unwrap();
        let (patch, untracked) = split_recorded_diff(&diff);
        assert!(untracked.is_empty(), "{untracked:?}");
        let clean = tempfile::tempdir().unwrap();
        checkout_commit(d.path(), &c, None, clean.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(clean.path().join("a.txt")).unwrap(),
            "one\n"
        );
        assert_eq!(
            std::fs::read_to_string(clean.path().join("b.txt")).unwrap(),
            "keep\n"
        );
        let dirty = tempfile::tempdir().unwrap();
        checkout_commit(d.path(), &c, Some(&patch), dirty.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dirty.path().join("a.txt")).unwrap(),
            "two\n"
        );
        // The repository's own work tree is untouched.
        assert_eq!(
            std::fs::read_to_string(d.path().join("a.txt")).unwrap(),
            "two\n"
        );
        let gone = "0123456789012345678901234567890123456789";
        let e = checkout_commit(d.path(), gone, None, dirty.path()).unwrap_err();
        assert!(e.to_string().contains("no longer exists"), "{e}");
    }
}
