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
