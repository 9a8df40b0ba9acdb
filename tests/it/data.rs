//! Dataset versions through the real binary: snapshot, ls, diff, checkout, naming, and every
//! bad input a user can give (each: a clear message, a non-zero exit, the log unchanged).

use crate::common;

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{Project, blobs, tree};

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// A small tree with nested folders, an executable and a read-only file.
fn first_tree(p: &Project) -> std::path::PathBuf {
    let d = p.write_tree(
        "datasets/tt",
        &[
            ("a.txt", b"alpha\n"),
            ("keep.bin", &[0u8, 1, 2, 3, 255]),
            ("sub/b.txt", b"beta\n"),
            ("sub/deeper/c.txt", b"gamma\n"),
            ("run.sh", b"#!/bin/sh\necho hi\n"),
            ("gone.txt", b"to be removed\n"),
        ],
    );
    chmod(&d.join("run.sh"), 0o755);
    chmod(&d.join("keep.bin"), 0o600);
    d
}

#[test]
fn snapshot_ls_modify_diff_checkout_round_trip() {
    let p = Project::new();
    let d = first_tree(&p);
    let v1_tree = tree(&d);

    let out = p.ok(&["data", "snapshot", "datasets/tt", "--name", "tt"]);
    out.stdout_has(&["tt@1", "6 files"]);
    let snap1 = p
        .ok(&["--json", "data", "snapshot", "datasets/tt", "--name", "tt"])
        .json();
    assert_eq!(
        snap1["unchanged"], true,
        "re-snapshot of an unchanged tree: {snap1}"
    );
    assert_eq!(snap1["version"], 1);

    // ls: text and JSON.
    let ls = p.ok(&["data", "ls"]);
    ls.stdout_has(&["SNAPSHOT", "tt@1", "datasets/tt"]);
    let rows = p.ok(&["data", "ls", "--json"]).json_lines();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["name"], "tt");
    assert_eq!(rows[0]["version"], 1);
    assert_eq!(rows[0]["files"], 6);
    let m1 = rows[0]["manifest"].as_str().unwrap().to_string();
    assert_eq!(m1.len(), 64);

    // Modify one, add two, remove one, change one's mode only.
    fs::write(d.join("a.txt"), b"alpha, changed\n").unwrap();
    fs::write(d.join("new.txt"), b"new\n").unwrap();
    fs::create_dir_all(d.join("sub/added")).unwrap();
    fs::write(d.join("sub/added/x.txt"), b"x\n").unwrap();
    fs::remove_file(d.join("gone.txt")).unwrap();
    chmod(&d.join("sub/b.txt"), 0o640);
    let v2_tree = tree(&d);

    let out = p.ok(&["data", "snapshot", "datasets/tt", "--name", "tt"]);
    out.stdout_has(&["tt@2"]);
    assert_eq!(p.events().len(), 2);

    let diff = p.ok(&["--json", "data", "diff", "tt@1", "tt@2"]).json();
    assert_eq!(diff["a"], "tt@1");
    assert_eq!(diff["b"], "tt@2");
    assert_eq!(
        diff["added"],
        serde_json::json!(["new.txt", "sub/added/x.txt"])
    );
    assert_eq!(diff["removed"], serde_json::json!(["gone.txt"]));
    assert_eq!(diff["modified"], serde_json::json!(["a.txt", "sub/b.txt"]));
    assert_eq!(diff["unchanged"], 3);
    let text = p.ok(&["data", "diff", "tt@1", "tt@2"]);
    text.stdout_has(&[
        "added     new.txt",
        "removed   gone.txt",
        "modified  a.txt",
        "2 added, 1 removed, 2 modified, 3 unchanged",
    ]);

    // Checkout restores exact bytes and permission bits, for both versions.
    let out1 = p.path("out1");
    p.ok(&["data", "checkout", "tt@1", "out1"]);
    assert_eq!(
        tree(&out1),
        v1_tree,
        "checkout of tt@1 differs from the tree snapshotted"
    );
    let out2 = p.path("elsewhere/out2");
    fs::create_dir_all(&out2).unwrap(); // an existing empty directory is fine
    p.ok(&["data", "checkout", "tt@latest", "elsewhere/out2"]);
    assert_eq!(tree(&out2), v2_tree);

    // Unchanged re-snapshot appends nothing and says so.
    let before = p.log_json();
    let out = p.ok(&["data", "snapshot", "datasets/tt", "--name", "tt"]);
    out.stdout_has(&["tt@2 unchanged", "nothing recorded"]);
    assert_eq!(before, p.log_json());

    // Resolution: NAME@N, NAME@latest, NAME, a manifest hash prefix.
    for (reference, version) in [("tt@1", 1), ("tt@2", 2), ("tt@latest", 2), ("tt", 2)] {
        let dir = format!("res-{}", reference.replace('@', "-"));
        let o = p
            .ok(&["--json", "data", "checkout", reference, &dir])
            .json();
        assert_eq!(o["snapshot"], format!("tt@{version}"), "{reference}");
    }
    let o = p
        .ok(&["--json", "data", "checkout", &m1[..8], "by-hash"])
        .json();
    assert_eq!(o["snapshot"], "tt@1");
    assert_eq!(tree(&p.path("by-hash")), v1_tree);
    let o = p.ok(&["--json", "data", "diff", &m1[..10], "tt"]).json();
    assert_eq!(o["a"], "tt@1");

    // The default name is the directory's name; ls NAME filters.
    p.write_tree("datasets/other", &[("o", b"o")]);
    p.ok(&["data", "snapshot", "datasets/other"]);
    let rows = p.ok(&["data", "ls", "other", "--json"]).json_lines();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["name"], "other");
    p.ok(&["verify"]).stdout_has(&["ok:"]);
}

#[test]
fn non_utf8_file_names_round_trip_byte_exact() {
    let p = Project::new();
    let d = p.path("datasets/raw");
    fs::create_dir_all(&d).unwrap();
    let odd = std::ffi::OsStr::from_bytes(b"caf\xe9-\xff\xfe.txt");
    fs::write(d.join(odd), b"latin-1 name").unwrap();
    fs::create_dir_all(d.join(std::ffi::OsStr::from_bytes(b"dir\x80"))).unwrap();
    fs::write(
        d.join(std::ffi::OsStr::from_bytes(b"dir\x80"))
            .join("inner"),
        b"inside",
    )
    .unwrap();
    fs::write(d.join("plain.txt"), b"plain").unwrap();
    let want = tree(&d);

    let out = p.ok(&["data", "snapshot", "datasets/raw"]);
    out.stdout_has(&["raw@1", "3 files"]);
    p.ok(&["data", "checkout", "raw@1", "back"]);
    assert_eq!(
        tree(&p.path("back")),
        want,
        "non-UTF-8 names must come back byte-exact"
    );
    // diff shows them escaped, not mangled or crashed.
    fs::remove_file(d.join(odd)).unwrap();
    p.ok(&["data", "snapshot", "datasets/raw"]);
    let diff = p.ok(&["data", "diff", "raw@1", "raw@2"]);
    diff.stdout_has(&["removed   caf\\xe9-\\xff\\xfe.txt"]);
    p.ok(&["verify"]);
}

#[test]
fn bad_paths_give_clear_messages_and_leave_the_log_unchanged() {
    let p = Project::new();
    p.write_tree("datasets/ok", &[("f", b"f")]);
    p.ok(&["data", "snapshot", "datasets/ok"]);

    // Missing path.
    p.fails(&["data", "snapshot", "datasets/nope"])
        .stderr_has(&["datasets/nope", "does not exist"]);
    // A file instead of a directory.
    p.fails(&["data", "snapshot", "datasets/ok/f"])
        .stderr_has(&["datasets/ok/f", "is not a directory"]);
    // An empty directory (folders but no files).
    fs::create_dir_all(p.path("datasets/empty/sub")).unwrap();
    p.fails(&["data", "snapshot", "datasets/empty"])
        .stderr_has(&["datasets/empty", "no files"]);
    // A symlink loop.
    let l = p.write_tree("datasets/loop", &[("a", b"a")]);
    std::os::unix::fs::symlink(".", l.join("self")).unwrap();
    p.fails(&["data", "snapshot", "datasets/loop"])
        .stderr_has(&["symlink loop", "datasets/loop/self"]);
    // A dangling symlink.
    let b = p.write_tree("datasets/broken", &[("a", b"a")]);
    std::os::unix::fs::symlink("nowhere", b.join("dangling")).unwrap();
    p.fails(&["data", "snapshot", "datasets/broken"])
        .stderr_has(&["datasets/broken/dangling", "broken symbolic link"]);
    // The project root (or anything holding .lab/): the log would snapshot itself.
    p.fails(&["data", "snapshot", "."]).stderr_has(&[
        "contains lab's own state",
        ".lab",
        "datasets/NAME",
    ]);
    p.fails(&["data", "snapshot", ".lab"])
        .stderr_has(&["lab's own state"]);
    // A bad dataset name.
    p.fails(&["data", "snapshot", "datasets/ok", "--name", "a@b"])
        .stderr_has(&["bad dataset name `a@b`"]);
    p.fails(&["data", "snapshot", "datasets/ok", "--name", "a/b"])
        .stderr_has(&["bad dataset name"]);
    p.ok(&["verify"]);
}

#[test]
fn an_unreadable_file_is_named() {
    let p = Project::new();
    let d = p.write_tree(
        "datasets/locked",
        &[("open.txt", b"o"), ("secret.txt", b"s")],
    );
    let secret = d.join("secret.txt");
    chmod(&secret, 0o000);
    // As root (CI), lab runs without the capabilities that read past mode 000.
    let out = p.fails_unprivileged(&["data", "snapshot", "datasets/locked"]);
    out.stderr_has(&["datasets/locked/secret.txt", "cannot read", "permissions"]);
    // No temp file is left behind.
    assert_eq!(fs::read_dir(p.path(".lab/objects/tmp")).unwrap().count(), 0);
    // An unreadable directory too.
    chmod(&secret, 0o644);
    let sub = p
        .write_tree("datasets/locked", &[("closed/x", b"x")])
        .join("closed");
    chmod(&sub, 0o000);
    let out = p.fails_unprivileged(&["data", "snapshot", "datasets/locked"]);
    out.stderr_has(&["datasets/locked/closed", "cannot read"]);
    chmod(&sub, 0o755);
    p.ok(&["data", "snapshot", "datasets/locked"]);
}

#[test]
fn bad_references_and_checkout_targets_are_refused() {
    let p = Project::new();
    p.write_tree("datasets/tt", &[("a", b"a"), ("b", b"b")]);
    p.ok(&["data", "snapshot", "datasets/tt"]);

    p.fails(&["data", "checkout", "nope", "out"])
        .stderr_has(&["no dataset named `nope`", "known datasets: tt"]);
    p.fails(&["data", "checkout", "tt@7", "out"])
        .stderr_has(&["tt@7 does not exist", "1..=1"]);
    p.fails(&["data", "checkout", "tt@x", "out"])
        .stderr_has(&["bad snapshot version `x`"]);
    p.fails(&["data", "diff", "tt@1", "zzz@1"])
        .stderr_has(&["zzz"]);
    p.fails(&["data", "ls", "nope"])
        .stderr_has(&["no dataset named `nope`"]);
    p.fails(&["data", "checkout", "abcdef0123", "out"])
        .stderr_has(&["no snapshot matches `abcdef0123`"]);
    assert!(
        !p.path("out").exists(),
        "a refused checkout created its target"
    );

    // Checkout into a non-empty directory is refused and leaves it alone.
    p.write_tree("full", &[("mine.txt", b"do not touch")]);
    p.fails(&["data", "checkout", "tt@1", "full"]).stderr_has(&[
        "full",
        "is not empty",
        "new or empty directory",
    ]);
    assert_eq!(tree(&p.path("full")).len(), 1);
    // Onto a file: refused.
    fs::write(p.path("afile"), b"x").unwrap();
    p.fails(&["data", "checkout", "tt@1", "afile"])
        .stderr_has(&["afile exists and is not a directory"]);
    assert_eq!(fs::read(p.path("afile")).unwrap(), b"x");

    // With no snapshots at all the message says how to make one.
    let q = Project::new();
    q.fails(&["data", "checkout", "tt", "out"])
        .stderr_has(&["no snapshots yet", "lab data snapshot"]);
}

#[test]
fn a_full_disk_fails_cleanly() {
    let p = Project::new();
    p.write_tree("datasets/small", &[("s", b"small")]);
    p.ok(&["data", "snapshot", "datasets/small"]);
    let blobs_before = blobs(&p.root);

    // Three 60 KiB files: the fault hook refuses blob writes past 100,000 bytes.
    let chunk: Vec<u8> = (0..60 * 1024).map(|i| (i % 251) as u8).collect();
    let mut files = Vec::new();
    for i in 0..3u8 {
        let mut c = chunk.clone();
        c[0] = i;
        files.push((format!("f{i}.bin"), c));
    }
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, c)| (n.as_str(), c.as_slice()))
        .collect();
    p.write_tree("datasets/big", &refs);

    let out = p.fails_env(
        &[("LAB_FAULT_ENOSPC_AFTER", "100000")],
        &["data", "snapshot", "datasets/big"],
    );
    out.stderr_has(&["disk is full"]);
    p.ok(&["verify"]).stdout_has(&["ok:"]);
    // No temp file left, and nothing new visible as a blob; every blob is whole.
    let tmp: Vec<_> = fs::read_dir(p.path(".lab/objects/tmp")).unwrap().collect();
    assert!(tmp.is_empty(), "temp files left behind: {tmp:?}");
    let after = blobs(&p.root);
    assert_eq!(after, blobs_before, "a failed snapshot published blobs");
    for (name, actual) in &after {
        assert_eq!(name, actual, "blob {name} does not hash to its name");
    }
    // The files fit (2 × 49,990 bytes) but the manifest after them does not: still nothing
    // may become visible, not even the file blobs that were written fine.
    let a: Vec<u8> = (0..49_990).map(|i| (i % 241) as u8).collect();
    let mut b = a.clone();
    b[0] = 7;
    p.write_tree("datasets/edge", &[("a", &a), ("b", &b)]);
    p.fails_env(
        &[("LAB_FAULT_ENOSPC_AFTER", "100000")],
        &["data", "snapshot", "datasets/edge"],
    )
    .stderr_has(&["disk is full"]);
    assert_eq!(
        blobs(&p.root),
        blobs_before,
        "blobs of a failed snapshot became visible"
    );
    assert_eq!(fs::read_dir(p.path(".lab/objects/tmp")).unwrap().count(), 0);
    p.ok(&["verify"]);
    // With space again, the same command works.
    p.ok(&["data", "snapshot", "datasets/big"])
        .stdout_has(&["big@1"]);
    p.ok(&["verify"]);
}

/// `lab data import lines DIR`: a user's labelled lines become a snapshot; a bad label is
/// named with its line and nothing is imported.
#[test]
fn import_lines_makes_a_snapshot_and_refuses_bad_labels_whole() {
    let p = Project::new();
    let src = p.path("scans/mine");
    fs::create_dir_all(&src).unwrap();
    let mut rows = Vec::new();
    for i in 0..6 {
        image::GrayImage::from_pixel(40, 12, image::Luma([230]))
            .save(src.join(format!("l{i}.png")))
            .unwrap();
        rows.push(format!(r#"{{"image": "l{i}.png", "text": "Łódź {i}"}}"#));
    }
    fs::write(
        src.join("labels.jsonl"),
        format!(
            "{}\n{{\"image\": \"l0.png\", \"text\": \"a\u{2192}b\"}}\n",
            rows.join("\n")
        ),
    )
    .unwrap();
    p.fails(&["data", "import", "lines", "scans/mine", "--name", "mine"])
        .stderr_has(&[
            "labels.jsonl",
            "line 7",
            "not in the alphabet",
            "nothing imported",
        ]);
    assert!(!p.path("datasets/mine").exists());
    fs::write(src.join("labels.jsonl"), rows.join("\n")).unwrap();
    p.ok(&["data", "import", "lines", "scans/mine", "--name", "mine"])
        .stdout_has(&["imported 6 lines", "mine@1"]);
    let ls = p.ok(&["--json", "data", "ls", "mine"]).json_lines();
    assert_eq!(ls.len(), 1, "{ls:?}");
    assert!(p.path("datasets/mine/lines/train.jsonl").is_file());
}
