//! Paths and values lab refuses, through the real binary (issue 18, rows B4, B10, B11, B12,
//! B13): exports, checkouts and outputs never write into or replace the project root, `.lab`
//! or a directory above them, and `--force` replaces only an earlier export; symlinks out of a
//! dataset are refused; NaN, infinite and absurd training values are config errors naming the
//! file and key; a killed `lab run` takes its command with it.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::{Project, TINY_OCR};

/// A project with a trained tiny OCR model `ocr_teacher@1`.
fn trained() -> Project {
    let p = Project::with_tiny_dataset();
    let cfg = TINY_OCR.replace("epochs = 2", "epochs = 1");
    fs::write(p.path("configs/ocr_teacher.toml"), cfg).unwrap();
    p.ok(&["train", "ocr-teacher"]);
    p
}

#[test]
fn symlinks_out_of_a_dataset_are_refused() {
    let p = Project::new();
    p.write_tree("datasets/d", &[("a.txt", b"a")]);
    p.write_tree("outside", &[("secret.txt", b"not data")]);
    std::os::unix::fs::symlink("/etc/passwd", p.path("datasets/d/passwd")).unwrap();
    p.fails(&["data", "snapshot", "datasets/d"]).stderr_has(&[
        "datasets/d/passwd",
        "points outside the dataset",
        "/etc/passwd",
    ]);
    fs::remove_file(p.path("datasets/d/passwd")).unwrap();
    std::os::unix::fs::symlink(p.path("outside"), p.path("datasets/d/more")).unwrap();
    p.fails(&["data", "snapshot", "datasets/d"])
        .stderr_has(&["datasets/d/more", "points outside the dataset"]);
    fs::remove_file(p.path("datasets/d/more")).unwrap();
    // A link that stays inside the dataset is followed as before.
    std::os::unix::fs::symlink("a.txt", p.path("datasets/d/b.txt")).unwrap();
    let out = p.ok(&["--json", "data", "snapshot", "datasets/d"]).json();
    assert_eq!(out["files"], 2, "{out}");
    assert!(
        !common::blobs(&p.root)
            .iter()
            .any(|(_, h)| *h == common::sha256_hex(b"not data"))
    );
}
