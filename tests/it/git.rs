//! The git state in every envelope: commit, branch, dirty and the diff's blob when dirty,
//! with a real repository made by the git CLI; no repository outside one.

use crate::common;

use std::fs;
use std::path::Path;

use common::Project;

/// Runs git in `dir` with a fixed identity (the tests that call it first make sure git runs).
fn git(dir: &Path, args: &[&str]) -> String {
    let out = common::git_cmd(dir).args(args).output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn envelopes_carry_commit_branch_dirty_and_the_diff() {
    let p = Project::bare();
    common::require_git();
    git(&p.root, &["init", "-q"]);
    p.ok(&["init"]);
    fs::write(p.path("train.py"), "print('v1')\n").unwrap();
    git(&p.root, &["add", "-A"]);
    git(&p.root, &["commit", "-q", "-m", "first"]);
    let head = git(&p.root, &["rev-parse", "HEAD"]).trim().to_string();
    assert_eq!(
        git(&p.root, &["status", "--porcelain"]),
        "",
        "clean after commit"
    );

    // Clean tree: datasets/ and .lab/ are git-ignored by `lab init`, so a snapshot is clean.
    p.write_tree("datasets/d", &[("a", b"a")]);
    p.ok(&["data", "snapshot", "datasets/d"]);
    let e = p.events().pop().unwrap();
    let g = &e["git"]["Repo"];
    assert_eq!(g["commit"], head.as_str(), "{e}");
    assert_eq!(g["branch"], "main");
    assert_eq!(g["dirty"], false);
    assert_eq!(g["diff"], serde_json::Value::Null);

    // Dirty: a tracked file changed and an untracked one added.
    fs::write(p.path("train.py"), "print('v2')\n").unwrap();
    fs::write(p.path("notes.txt"), "scratch\n").unwrap();
    p.write_tree("datasets/d", &[("b", b"b")]);
    p.ok(&["data", "snapshot", "datasets/d"]);
    let e = p.events().pop().unwrap();
    let g = &e["git"]["Repo"];
    assert_eq!(g["commit"], head.as_str());
    assert_eq!(g["dirty"], true, "{e}");
    let diff = g["diff"]
        .as_str()
        .expect("a dirty tree records its diff's blob");
    assert_eq!(diff.len(), 64);
    let blob = p.path(format!(".lab/objects/sha256/{}/{}", &diff[..2], &diff[2..]));
    let patch = String::from_utf8(fs::read(&blob).unwrap()).unwrap();
    assert!(
        patch.contains("-print('v1')") && patch.contains("+print('v2')"),
        "{patch}"
    );
    assert!(patch.contains("untracked: notes.txt"), "{patch}");
    // `lab show` says so in words, and runs carry the same state.
    p.ok(&["show", e["seq"].to_string().as_str()])
        .stdout_has(&[&format!("commit {head} on main, dirty (diff blob {diff})")]);
    p.ok(&["run", "--name", "r", "--", "true"]);
    let run = &p.ok(&["runs", "ls", "--json"]).json_lines()[0];
    assert_eq!(run["git"]["Repo"]["dirty"], true);
    p.ok(&["runs", "show", "r"])
        .stdout_has(&["git         commit", "dirty"]);
    // verify re-hashes the diff blobs too.
    p.ok(&["verify"]);

    // A detached HEAD has no branch.
    git(&p.root, &["stash", "-u", "-q"]);
    git(&p.root, &["checkout", "-q", "--detach"]);
    p.write_tree("datasets/d", &[("c", b"c")]);
    p.ok(&["data", "snapshot", "datasets/d"]);
    let g = p.events().pop().unwrap()["git"]["Repo"].clone();
    assert_eq!(g["branch"], serde_json::Value::Null, "{g}");
    assert_eq!(g["commit"], head.as_str());
    assert_eq!(g["dirty"], false);
}

#[test]
fn a_repository_without_commits_records_its_branch() {
    let p = Project::bare();
    common::require_git();
    git(&p.root, &["init", "-q"]);
    p.ok(&["init"]);
    p.write_tree("datasets/d", &[("a", b"a")]);
    p.ok(&["data", "snapshot", "datasets/d"]);
    let g = p.events().pop().unwrap()["git"]["Repo"].clone();
    assert_eq!(g["commit"], serde_json::Value::Null, "{g}");
    assert_eq!(g["branch"], "main");
    assert_eq!(g["dirty"], true, "lab.toml is untracked: {g}");
}

#[test]
fn outside_a_repository_no_repo_is_recorded() {
    let p = Project::new();
    let inside = common::git_cmd(&p.root)
        .args(["rev-parse", "--git-dir"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        !inside,
        "the temp directory {} is inside a git repository, so this test cannot check a \
         project outside one: set TMPDIR to a folder outside any repository",
        p.root.display()
    );
    p.write_tree("datasets/d", &[("a", b"a")]);
    p.ok(&["data", "snapshot", "datasets/d"]);
    let e = p.events().pop().unwrap();
    assert_eq!(e["git"], "NoRepo", "{e}");
    p.ok(&["show", "1"])
        .stdout_has(&["git     not a git repository"]);
}
