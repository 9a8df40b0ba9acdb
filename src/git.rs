//! The project's git state, read with git2: commit, branch, dirty, and the diff when dirty.

use std::path::Path;

use git2::{DiffFormat, DiffOptions, Repository, StatusOptions};

use crate::event::{GitState, Hash};

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
}
