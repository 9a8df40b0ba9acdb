//! A damaged or lost log, through the real binary (issue 18, rows B1, B2, B3, B5): opening a
//! damaged `.lab/lab.redb` is an error naming the file, never a panic; an emptied or deleted
//! log in a project with history is an error, never "0 events"; `lab verify` finds damaged
//! views and names `lab reindex`; a snapshot restores blobs the store lost.

use crate::common;

use std::fs;

use common::Project;

/// A project with a few snapshots and runs (8 events).
fn busy() -> Project {
    let p = Project::new();
    for i in 0..3 {
        let files: Vec<(String, Vec<u8>)> = (0..20)
            .map(|j| (format!("f{j}.txt"), format!("{i} {j}").into_bytes()))
            .collect();
        let refs: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect();
        p.write_tree(&format!("datasets/d{i}"), &refs);
        p.ok(&["data", "snapshot", &format!("datasets/d{i}")]);
    }
    p.ok(&[
        "run",
        "--name",
        "t",
        "--",
        "sh",
        "-c",
        r#"for i in 1 2 3; do echo "{\"key\":\"loss\",\"value\":0.$i,\"step\":$i}" >> "$LAB_METRICS"; done"#,
    ]);
    p
}

/// Asserts a damaged-log outcome: exit 0 or 1, no panic, and an error that names the file.
#[track_caller]
fn no_panic(out: &common::Out, what: &str) {
    assert!(
        !out.stderr.contains("panicked") && (out.code == 0 || out.code == 1),
        "{what}: a damaged log must be an error, not a crash:\n{out}"
    );
    if out.code == 1 && out.cmd.contains("log") {
        assert!(out.stderr.contains("lab: error:"), "{what}:\n{out}");
    }
}

#[test]
fn a_flipped_byte_in_the_log_is_an_error_never_a_panic() {
    let p = busy();
    let db = p.path(".lab/lab.redb");
    let pristine = fs::read(&db).unwrap();
    let head = fs::read(p.path(".lab/HEAD")).ok();
    // The file header (where redb panicked while opening) byte by byte, then a sample of the
    // pages: tables, views and the allocator state.
    let mut offsets: Vec<usize> = (0..320).collect();
    offsets.extend(
        (4096..pristine.len())
            .step_by(1021)
            .filter(|&o| pristine[o] != 0),
    );
    let mut errors = 0;
    for &o in &offsets {
        let mut bytes = pristine.clone();
        bytes[o] ^= 0xff;
        fs::write(&db, &bytes).unwrap();
        if let Some(h) = &head {
            fs::write(p.path(".lab/HEAD"), h).unwrap();
        }
        let out = p.lab(&["log", "--limit", "1"]);
        no_panic(&out, &format!("offset {o}"));
        if out.code != 0 {
            errors += 1;
            out.stderr_has(&["lab.redb"]);
        }
    }
    assert!(errors > 0, "no flipped byte was noticed at all");
    // `lab verify` and `lab runs ls` on a header flip that redb cannot open past.
    for o in [0usize, 9, 16, 64, 200] {
        let mut bytes = pristine.clone();
        bytes[o] ^= 0xff;
        fs::write(&db, &bytes).unwrap();
        for verb in [&["verify"][..], &["runs", "ls"], &["data", "ls"]] {
            no_panic(&p.lab(verb), &format!("offset {o}"));
        }
    }
    fs::write(&db, &pristine).unwrap();
    p.ok(&["verify"]);
}

#[test]
fn an_emptied_or_deleted_log_is_an_error_not_an_empty_history() {
    let p = busy();
    let n = p.events().len();
    assert!(n >= 4);
    let db = p.path(".lab/lab.redb");
    let pristine = fs::read(&db).unwrap();

    // Emptied (`: > .lab/lab.redb`).
    fs::write(&db, b"").unwrap();
    for verb in [&["verify"][..], &["log"], &["data", "ls"]] {
        let out = p.lab(verb);
        assert_eq!(out.code, 1, "{out}");
        out.stderr_has(&[
            "lab.redb",
            "has 0 events",
            &format!("records event #{n}"),
            "restore .lab/lab.redb from a backup",
        ]);
        assert!(!out.stdout.contains("ok:"), "{out}");
    }
    assert_eq!(fs::read(&db).unwrap(), b"", "the empty file was left alone");
    let head = fs::read_to_string(p.path(".lab/HEAD")).unwrap();
    assert!(head.contains(&format!("seq {n}")), "{head}");

    // Deleted.
    fs::remove_file(&db).unwrap();
    let out = p.lab(&["verify"]);
    assert_eq!(out.code, 1, "{out}");
    out.stderr_has(&["has 0 events", "restore .lab/lab.redb"]);
    assert!(!db.exists(), "no new, empty log was made in its place");

    // Deleted with the head record too: the blob store still says there was a history.
    fs::remove_file(p.path(".lab/HEAD")).unwrap();
    let out = p.lab(&["verify"]);
    assert_eq!(out.code, 1, "{out}");
    out.stderr_has(&["missing or empty", "holds blobs", "restore .lab/lab.redb"]);

    // Replaced by another project's log (with as many events or more).
    fs::write(&db, &pristine).unwrap();
    p.ok(&["verify"]);
    let other = busy();
    other.ok(&["run", "--name", "extra", "--", "true"]);
    fs::copy(other.path(".lab/lab.redb"), &db).unwrap();
    let out = p.lab(&["verify"]);
    assert_eq!(out.code, 1, "{out}");
    out.stderr_has(&[&format!("event #{n} of the log"), "replaced by another one"]);

    // An older backup put back: refused until the head record is removed, as the error says.
    fs::write(&db, &pristine).unwrap();
    p.ok(&["verify"]);
    p.ok(&["run", "--name", "later", "--", "true"]);
    fs::write(&db, &pristine).unwrap();
    let out = p.lab(&["log"]);
    assert_eq!(out.code, 1, "{out}");
    out.stderr_has(&[&format!("has {n} events"), "delete"]);
    fs::remove_file(p.path(".lab/HEAD")).unwrap();
    p.ok(&["verify"]);
    assert_eq!(p.events().len(), n);
    assert!(
        fs::read_to_string(p.path(".lab/HEAD"))
            .unwrap()
            .contains(&format!("seq {n}")),
        "the log's head is adopted as the new record"
    );
}

#[test]
fn verify_finds_damaged_views_and_names_reindex() {
    use redb::ReadableTable;
    let p = busy();
    p.ok(&["verify"]);
    let before = p.ok(&["data", "ls", "--json"]).stdout;

    // Change one byte of a snapshot's manifest hash as the datasets view holds it (the log
    // is untouched, so the chain verifies).
    {
        let db = redb::Database::builder()
            .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
            .create(p.path(".lab/lab.redb"))
            .unwrap();
        let def: redb::TableDefinition<(&str, u32), &[u8]> =
            redb::TableDefinition::new("view_datasets");
        let tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_table(def).unwrap();
            let mut row = t.get(("d1", 1)).unwrap().unwrap().value().to_vec();
            let last = row.len() - 1;
            row[last] ^= 0x01;
            t.insert(("d1", 1), row.as_slice()).unwrap();
        }
        tx.commit().unwrap();
    }
    assert_ne!(p.ok(&["data", "ls", "--json"]).stdout, before);
    let out = p.lab(&["verify"]);
    assert_eq!(out.code, 1, "{out}");
    out.stdout_has(&["view `view_datasets`", "d1", "lab reindex"]);
    let j = p.lab(&["--json", "verify"]).json();
    assert_eq!(j["views_ok"], false, "{j}");
    assert_eq!(
        j["bad_event"],
        serde_json::Value::Null,
        "the log itself is fine"
    );

    p.ok(&["reindex"]);
    p.ok(&["verify"]).stdout_has(&["views match the log"]);
    assert_eq!(p.ok(&["data", "ls", "--json"]).stdout, before);
}

#[test]
fn a_snapshot_restores_blobs_the_store_lost() {
    let p = Project::new();
    let files: Vec<(String, Vec<u8>)> = (0..30)
        .map(|j| (format!("f{j:02}.txt"), format!("file {j}").into_bytes()))
        .collect();
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    p.write_tree("datasets/d", &refs);
    p.ok(&["data", "snapshot", "datasets/d"]);
    // The stat cache must vouch for these files: let them settle past the racy window.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let again = p.ok(&["--json", "data", "snapshot", "datasets/d"]).json();
    assert_eq!(again["unchanged"], true);
    let events = p.events().len();

    // Lose a third of the file blobs and the manifest.
    let mut lost = 0;
    for (i, (_, bytes)) in files.iter().enumerate() {
        if i % 3 == 0 {
            fs::remove_file(p.blob_path(&common::sha256_hex(bytes))).unwrap();
            lost += 1;
        }
    }
    let manifest = again["manifest"].as_str().unwrap().to_string();
    fs::remove_file(p.blob_path(&manifest)).unwrap();
    assert_eq!(p.lab(&["verify"]).code, 1);

    let out = p.ok(&["--json", "data", "snapshot", "datasets/d"]).json();
    assert_eq!(out["unchanged"], true, "{out}");
    assert_eq!(out["restored"], lost + 1, "{out}");
    assert_eq!(p.events().len(), events, "nothing new is recorded");
    p.ok(&["data", "snapshot", "datasets/d"])
        .stdout_has(&["unchanged"]);
    p.ok(&["verify"]);
    p.ok(&["data", "checkout", "d", "out"]);
    assert_eq!(
        common::tree(&p.path("out")),
        common::tree(&p.path("datasets/d"))
    );
}
