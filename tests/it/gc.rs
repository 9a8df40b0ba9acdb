//! `lab gc` through the real binary (issue 18: a killed `lab run --dep ..` left 2.2 GB of
//! orphan blobs): on a project with a snapshot and a trained model, blobs nothing refers to
//! are removed once older than the grace period, and every blob the log, its manifests and its
//! model bundles refer to is kept.

use crate::common;

use std::fs;
use std::process::Command;

use common::{Project, blobs, sha256_hex};

/// Writes `bytes` into the blob store as an orphan (as a killed run leaves it), last modified
/// `age` ago (`touch -d` syntax), and returns its hash.
fn orphan(p: &Project, bytes: &[u8], age: &str) -> String {
    let h = sha256_hex(bytes);
    let path = p.blob_path(&h);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, bytes).unwrap();
    let ok = Command::new("touch")
        .args(["-d", age])
        .arg(&path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "touch -d {age}");
    h
}

#[test]
fn gc_removes_old_orphans_and_keeps_everything_referenced() {
    let p = Project::with_tiny_dataset();
    p.ok(&["train", "ocr-teacher", "--epochs", "1"]);
    let before = blobs(&p.root);
    let old1 = orphan(&p, b"left by a killed run", "2 hours ago");
    // An orphan naming another (a killed training's bundle and its weights): names count only
    // from what the log keeps.
    let old2 = orphan(
        &p,
        format!("{{\"weights\": \"{old1}\"}}").as_bytes(),
        "3 hours ago",
    );
    let young = orphan(&p, b"being written right now", "1 minute ago");

    let dry = p.ok(&["--json", "gc", "--dry-run"]).json();
    assert_eq!(
        (dry["removed"].as_u64(), dry["recent"].as_u64()),
        (Some(2), Some(1)),
        "{dry}"
    );
    assert_eq!(
        blobs(&p.root).len(),
        before.len() + 3,
        "a dry run removes nothing"
    );

    let out = p.ok(&["--json", "gc"]).json();
    assert_eq!(out["removed"], 2, "{out}");
    assert_eq!(
        out["referenced"].as_u64().unwrap() as usize,
        before.len(),
        "{out}"
    );
    for h in [&old1, &old2] {
        assert!(!p.blob_path(h).exists(), "{h} should be gone");
    }
    assert!(p.blob_path(&young).exists(), "a young blob is kept");

    p.ok(&["gc", "--grace", "0"]).stdout_has(&["removed 1 "]);
    assert_eq!(
        blobs(&p.root),
        before,
        "every referenced blob is kept, bytes intact"
    );
    p.ok(&["verify"]);
    p.ok(&["eval", "ocr_teacher@1", "--dataset", "tt", "--split", "val"]);
    p.ok(&["data", "checkout", "tt@1", "restored"]);
}
