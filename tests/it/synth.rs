//! `lab data synth` through the real binary: a tiny dataset, snapshotted, rendered again
//! without changing a byte; the shifted domain; and bad input (each: a clear message, a
//! non-zero exit, nothing written, the log unchanged).

use crate::common;

use std::fs;

use common::{Project, tree};

#[test]
fn synth_snapshot_resynth_is_unchanged() {
    let p = Project::new();
    let out = p.ok(&["data", "synth", "timetables", "--seed", "9", "--count", "3"]);
    out.stdout_has(&[
        "datasets/timetables",
        "3 timetables",
        "next: lab data snapshot",
    ]);
    let dir = p.path("datasets/timetables");
    assert!(dir.join("meta.json").is_file());
    assert!(dir.join("images/tt_0002.json").is_file());
    let before = tree(&dir);
    assert!(before.len() > 20, "{} files", before.len());
    p.ok(&["data", "snapshot", "datasets/timetables"])
        .stdout_has(&["timetables@1"]);

    let again = p
        .ok(&[
            "--json",
            "data",
            "synth",
            "timetables",
            "--seed",
            "9",
            "--count",
            "3",
        ])
        .json();
    assert_eq!(again["written"], 0, "{again}");
    assert_eq!(again["removed"], 0, "{again}");
    assert_eq!(again["count"], 3);
    assert_eq!(tree(&dir), before);
    let snap = p
        .ok(&["--json", "data", "snapshot", "datasets/timetables"])
        .json();
    assert_eq!(snap["unchanged"], true, "{snap}");

    // Another seed rewrites in place; the snapshot sees the change.
    let other = p
        .ok(&[
            "--json",
            "data",
            "synth",
            "timetables",
            "--seed",
            "10",
            "--count",
            "2",
        ])
        .json();
    assert!(other["removed"].as_u64().unwrap() > 0, "{other}");
    p.ok(&["data", "snapshot", "datasets/timetables"])
        .stdout_has(&["timetables@2"]);
}

#[test]
fn shifted_domain_goes_beside_the_default() {
    let p = Project::new();
    let out = p
        .ok(&[
            "--json", "data", "synth", "--domain", "shifted", "--count", "2",
        ])
        .json();
    assert_eq!(out["domain"], "shifted");
    assert_eq!(out["path"], "datasets/timetables_shifted");
    let meta: serde_json::Value =
        serde_json::from_slice(&fs::read(p.path("datasets/timetables_shifted/meta.json")).unwrap())
            .unwrap();
    assert_eq!(meta["domain"], "shifted");
    assert!(meta["fonts"]["shifted"].as_array().unwrap().len() >= 2);
    assert!(meta["fonts"].get("train").is_none());
}

#[test]
fn bad_input_is_refused_clearly_and_writes_nothing() {
    let p = Project::new();
    let bad_domain = p.lab(&["data", "synth", "--domain", "blurry"]);
    assert_eq!(bad_domain.code, 2, "{bad_domain}");
    bad_domain.stderr_has(&["blurry", "default", "shifted"]);
    let zero = p.lab(&["data", "synth", "--count", "0"]);
    assert_eq!(zero.code, 2, "{zero}");
    zero.stderr_has(&["--count", "0"]);
    p.fails(&["data", "synth", "a/b"])
        .stderr_has(&["bad dataset name"]);

    // Output under a regular file: cannot be created (root or not).
    fs::write(p.path("plain"), "x").unwrap();
    p.fails(&["data", "synth", "--count", "1", "--out", "plain/ds"])
        .stderr_has(&["cannot write", "plain/ds"]);
    p.fails(&["data", "synth", "--count", "1", "--out", "plain"])
        .stderr_has(&["not a directory"]);

    // A directory synth did not make is left alone.
    p.write_tree("datasets/mine", &[("notes.txt", b"keep me")]);
    p.fails(&["data", "synth", "mine", "--count", "1"])
        .stderr_has(&["datasets/mine", "not made by `lab data synth`"]);
    assert_eq!(tree(&p.path("datasets/mine")).len(), 1);

    // A read-only parent (as root, lab runs without the capabilities that write past it).
    let ro = p.path("ro");
    fs::create_dir(&ro).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    p.fails_unprivileged(&["data", "synth", "--count", "1", "--out", "ro/ds"])
        .stderr_has(&["cannot write", "ro"]);
    assert_eq!(fs::read_dir(&ro).unwrap().count(), 0);
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(!p.path("datasets/timetables").exists());
}

/// Issue 18: `--count 6` made a dataset every recipe refuses, silently. A dataset without train
/// or val timetables is now said to be unfit when it is made (stderr and `warnings`).
#[test]
fn a_dataset_too_small_to_train_on_is_said_so_at_synth_time() {
    let p = Project::new();
    // One timetable has one split: train or val is empty.
    let out = p.ok(&[
        "--json", "data", "synth", "one", "--count", "1", "--seed", "3",
    ]);
    out.stderr_has(&["warning", "datasets/one has no", "--count"]);
    let w = out.json()["warnings"].as_array().unwrap().clone();
    assert!(!w.is_empty(), "{out}");
    let ok = p.ok(&[
        "--json",
        "data",
        "synth",
        "tt",
        "--seed",
        "5",
        "--count",
        "8",
        "--text-lines",
        "4",
    ]);
    assert!(!ok.stderr.contains("warning"), "{ok}");
    assert_eq!(ok.json()["warnings"], serde_json::json!([]));
}
