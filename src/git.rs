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

/// `lab init`: when `root` is not inside a git repository, creates one (`create`) or says what
/// replay needs. The note to print, if any.
pub fn init_or_offer(root: &Path, create: bool) -> Result<Option<String>, git2::Error> {
    if Repository::discover(root).is_ok() {
        return Ok(None);
    }
    if create {
        Repository::init(root)?;
        return Ok(Some(format!(
            "created a git repository in {} — commit your code and configs: `lab replay` \
             rebuilds a run at the commit it was made from",
            root.display()
        )));
    }
    Ok(Some(format!(
        "{} is not inside a git repository: `lab replay` rebuilds a run at the commit it was \
         made from, so runs made here cannot be replayed — `git init` (or `lab init --git`) and \
         commit your code",
        root.display()
    )))
}

/// Untracked files up to this size are recorded with their content (a blob each), so that a
/// replay can put them back and a run is not blocked by files it may or may not have read.
pub const UNTRACKED_FILE_MAX: u64 = 1 << 20;
/// At most this many bytes of untracked files are recorded per state; beyond, names only.
pub const UNTRACKED_TOTAL_MAX: u64 = 32 << 20;

/// The state of the repository containing `root`. `store` is called with the diff's bytes
/// when the tree is dirty (and with each small untracked file's content) and returns the blob
/// hash. A repository git2 cannot read is reported as no repository rather than failing the
/// command.
pub fn state(
    root: &Path,
    mut store: impl FnMut(&[u8]) -> Result<Hash, crate::store::BlobError>,
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
        let bytes = diff_bytes(&repo, &untracked_and_changed, &mut store)?;
        Some(store(&bytes)?)
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

/// The patch of tracked changes (index and work tree against HEAD), followed by one line per
/// untracked file: `untracked: PATH\tHASH` with its content stored (files up to
/// [`UNTRACKED_FILE_MAX`], [`UNTRACKED_TOTAL_MAX`] in all), `untracked: PATH` otherwise.
fn diff_bytes(
    repo: &Repository,
    entries: &[(String, bool)],
    store: &mut dyn FnMut(&[u8]) -> Result<Hash, crate::store::BlobError>,
) -> Result<Vec<u8>, crate::store::BlobError> {
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
    let workdir = repo.workdir().map(Path::to_path_buf);
    let mut total = 0u64;
    for (path, untracked) in entries {
        if *untracked {
            out.extend_from_slice(b"untracked: ");
            out.extend_from_slice(path.as_bytes());
            let content = workdir.as_ref().map(|w| w.join(path)).and_then(|p| {
                let len = std::fs::metadata(&p).ok()?.len();
                (len <= UNTRACKED_FILE_MAX && total + len <= UNTRACKED_TOTAL_MAX)
                    .then(|| std::fs::read(&p).ok())
                    .flatten()
            });
            if let Some(bytes) = content {
                total += bytes.len() as u64;
                let h = store(&bytes)?;
                out.push(b'\t');
                out.extend_from_slice(h.to_hex().as_bytes());
            }
            out.push(b'\n');
        }
    }
    Ok(out)
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
/// the untracked files: each name with the blob of its content when it was recorded.
pub fn split_recorded_diff(bytes: &[u8]) -> (Vec<u8>, Vec<(String, Option<Hash>)>) {
    let mut patch = Vec::new();
    let mut untracked = Vec::new();
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        match line.strip_prefix(b"untracked: ") {
            Some(rest) => {
                let rest = String::from_utf8_lossy(rest)
                    .trim_end_matches('\n')
                    .to_string();
                let entry = match rest.rsplit_once('\t') {
                    Some((name, hex)) if Hash::from_hex(hex).is_some() => {
                        (name.to_string(), Hash::from_hex(hex))
                    }
                    _ => (rest, None),
                };
                untracked.push(entry);
            }
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
        // A small untracked file is recorded with its content, so a replay can restore it.
        let (_, untracked) = split_recorded_diff(&seen);
        assert_eq!(untracked, [("a.txt".to_string(), Some(Hash::of(b"hi")))]);
        let old = b"untracked: big.bin\n";
        assert_eq!(split_recorded_diff(old).1, [("big.bin".to_string(), None)]);
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
