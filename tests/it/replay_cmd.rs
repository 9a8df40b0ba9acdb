//! `lab replay` of external commands (`lab run -- CMD`) in a temporary git repository: a
//! deterministic command replays identical at its recorded commit even after the work tree
//! moved on; a nondeterministic one differs; a missing dep blob or a vanished commit is
//! "cannot replay", named.

use crate::common;

use std::fs;
use std::path::Path;

use common::Project;

fn git(dir: &Path, args: &[&str]) -> String {
    let o = common::git_cmd(dir).args(args).output().expect("git runs");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn commands_replay_at_their_commit() {
    common::require_git();
    let p = Project::bare();
    git(&p.root, &["init", "-q"]);
    common::lab_in(&p.root, &["init"]);
    // The script is code (committed); the input is data (a dep, restored from its blob).
    fs::write(p.path("sort.sh"), "#!/bin/sh\nsort in.txt > out.txt\n").unwrap();
    fs::write(p.path("in.txt"), "b\nc\na\n").unwrap();
    // Outputs are not committed.
    let gi = fs::read_to_string(p.path(".gitignore")).unwrap();
    fs::write(p.path(".gitignore"), gi + "/out.txt\n/now.txt\n").unwrap();
    git(&p.root, &["add", "-A"]);
    git(&p.root, &["commit", "-qm", "sort"]);
    let r = p
        .ok(&[
            "--json", "run", "--name", "sort", "--dep", "in.txt", "--out", "out.txt", "--", "sh",
            "sort.sh",
        ])
        .json();
    let sort_run = r["run"].as_str().unwrap().to_string();
    assert_eq!(fs::read_to_string(p.path("out.txt")).unwrap(), "a\nb\nc\n");
    let params = p.ok(&["--json", "runs", "show", &sort_run]).json();
    assert!(params.to_string().contains("cmd.argv"), "{params}");

    // The work tree moves on: the script changes and is committed, the input changes.
    fs::write(p.path("sort.sh"), "#!/bin/sh\nsort -r in.txt > out.txt\n").unwrap();
    fs::write(p.path("in.txt"), "z\n").unwrap();
    git(&p.root, &["commit", "-qam", "reverse"]);
    let same = p.ok(&["replay", &sort_run]);
    same.stdout_has(&["identical", "1 output identical"]);
    assert_eq!(
        fs::read_to_string(p.path("in.txt")).unwrap(),
        "z\n",
        "replay touched the work tree"
    );

    // A command that reads the clock differs.
    let d = p
        .ok(&[
            "--json",
            "run",
            "--name",
            "clock",
            "--out",
            "now.txt",
            "--",
            "sh",
            "-c",
            "date +%s%N > now.txt",
        ])
        .json();
    let clock = p.lab(&["replay", d["run"].as_str().unwrap()]);
    assert_eq!(clock.code, 1, "{clock}");
    clock.stdout_has(&["differs", "now.txt", "not deterministic"]);

    // A missing dep blob: cannot replay, and the blob is named.
    let hash = common::sha256_hex(b"b\nc\na\n");
    fs::remove_file(p.blob_path(&hash)).unwrap();
    let gone = p.lab(&["replay", &sort_run]);
    assert_eq!(gone.code, 1, "{gone}");
    gone.stdout_has(&["cannot replay", "in.txt", &hash[..12]]);

    // The verdicts are events.
    let evs = p.ok(&["--json", "log", "--kind", "replay"]).json_lines();
    assert_eq!(evs.len(), 3, "{evs:?}");
}

#[test]
fn a_vanished_commit_cannot_replay() {
    common::require_git();
    let p = Project::bare();
    git(&p.root, &["init", "-q"]);
    common::lab_in(&p.root, &["init"]);
    git(&p.root, &["add", "-A"]);
    git(&p.root, &["commit", "-qm", "one"]);
    let r = p.ok(&["--json", "run", "--name", "t", "--", "true"]).json();
    // History rewritten: a fresh repository without that commit.
    fs::remove_dir_all(p.path(".git")).unwrap();
    git(&p.root, &["init", "-q"]);
    git(&p.root, &["add", "-A"]);
    git(&p.root, &["commit", "-qm", "other"]);
    let out = p.lab(&["replay", r["run"].as_str().unwrap()]);
    assert_eq!(out.code, 1, "{out}");
    out.stdout_has(&["cannot replay", "no longer exists"]);
}

#[test]
fn an_untracked_script_is_recorded_with_its_content_and_replays() {
    let p = Project::bare();
    git(&p.root, &["init", "-q"]);
    common::lab_in(&p.root, &["init"]);
    let gi = fs::read_to_string(p.path(".gitignore")).unwrap();
    fs::write(p.path(".gitignore"), gi + "/out.txt\n").unwrap();
    git(&p.root, &["add", "-A"]);
    git(&p.root, &["commit", "-qm", "init"]);
    // Never committed: before, replay said "untracked files whose content lab did not record".
    fs::write(p.path("gen.sh"), "#!/bin/sh\necho hello > out.txt\n").unwrap();
    let r = p
        .ok(&[
            "--json", "run", "--name", "gen", "--out", "out.txt", "--", "sh", "gen.sh",
        ])
        .json();
    let run = r["run"].as_str().unwrap().to_string();
    fs::remove_file(p.path("gen.sh")).unwrap();
    p.ok(&["replay", &run]).stdout_has(&["identical"]);
}

#[test]
fn init_says_what_replay_needs_and_makes_a_repository_with_git() {
    let p = Project::bare();
    let out = common::lab_in(&p.root, &["init"]);
    assert!(out.ok(), "{out}");
    out.stderr_has(&["not inside a git repository", "lab init --git"]);
    let out = common::lab_in(&p.root, &["init", "--git"]);
    assert!(out.ok(), "{out}");
    out.stderr_has(&["created a git repository"]);
    assert!(p.path(".git").is_dir());
    let out = common::lab_in(&p.root, &["init"]);
    assert!(!out.stderr.contains("git repository"), "{out}");
}
