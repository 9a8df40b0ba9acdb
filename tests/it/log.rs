//! The log through the real binary: `lab log` filters and JSON, `lab show`, `lab verify` on a
//! good log and on a tampered one (a flipped byte in an event, in a blob), and `lab reindex`
//! (rebuilt views equal the live ones byte for byte).

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::Project;

/// A project with a varied log:
/// #1 dataset `alpha`, #2 dataset `zqxtamperds` (unique bytes to find in the file),
/// #3..#6 a run `trainer` (started, metrics, …, finished), then a failing run, then `omega`.
fn busy_project() -> Project {
    let p = Project::new();
    p.write_tree("datasets/a", &[("one.txt", b"one"), ("two.txt", b"two")]);
    p.ok(&["data", "snapshot", "datasets/a", "--name", "alpha"]);
    p.write_tree(
        "datasets/z",
        &[("z.txt", b"the tampered dataset's only file")],
    );
    p.ok(&["data", "snapshot", "datasets/z", "--name", "zqxtamperds"]);
    p.ok(&[
        "run",
        "--name",
        "trainer",
        "--param",
        "lr=0.1",
        "--",
        "sh",
        "-c",
        r#"for i in 1 2 3; do echo "{\"key\":\"loss\",\"value\":0.$i,\"step\":$i}" >> "$LAB_METRICS"; done"#,
    ]);
    let out = p.lab(&["run", "--name", "broken", "--", "sh", "-c", "exit 4"]);
    assert_eq!(out.code, 4, "{out}");
    p.write_tree("datasets/o", &[("o.txt", b"o")]);
    p.ok(&["data", "snapshot", "datasets/o", "--name", "omega"]);
    p
}

fn seqs(out: &common::Out) -> Vec<u64> {
    out.json_lines()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect()
}

#[test]
fn log_json_has_the_envelope_and_a_linked_chain() {
    let p = busy_project();
    let evs = p.events();
    assert!(evs.len() >= 8, "{evs:?}");
    let mut prev = "0".repeat(64);
    for (i, e) in evs.iter().enumerate() {
        for field in [
            "seq", "hash", "prev", "time", "git", "body", "kind", "actor",
        ] {
            assert!(e.get(field).is_some(), "event lacks {field}: {e}");
        }
        assert_eq!(e["seq"].as_u64().unwrap(), i as u64 + 1);
        assert_eq!(
            e["prev"].as_str().unwrap(),
            prev,
            "event #{} does not link",
            i + 1
        );
        let hash = e["hash"].as_str().unwrap();
        assert_eq!(hash.len(), 64);
        assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            e["git"], "NoRepo",
            "a temp dir outside git records no repo: {e}"
        );
        assert!(e["time"].as_str().unwrap().ends_with('Z'));
        prev = hash.to_string();
    }
    assert_eq!(evs[0]["kind"], "dataset");
    assert_eq!(evs[1]["body"]["DatasetSnapshotted"]["name"], "zqxtamperds");
    // Text: newest first, one line per event.
    let text = p.ok(&["log"]);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines.len(), evs.len());
    assert!(
        lines[0].starts_with(&format!("#{}", evs.len())),
        "{}",
        lines[0]
    );
    // Event #2 (the line before the oldest) is zqxtamperds' one snapshot: version 1.
    let second = lines[lines.len() - 2];
    assert!(second.starts_with("#2 "), "{second}");
    assert!(
        second.contains("dataset") && second.contains("zqxtamperds@1"),
        "{second}"
    );
    assert!(
        !text.stdout.contains("zqxtamperds@2"),
        "zqxtamperds has one version:\n{}",
        text.stdout
    );
}

#[test]
fn log_filters_by_kind_since_run_and_limit() {
    let p = busy_project();
    let evs = p.events();
    let n = evs.len() as u64;

    // --kind, one, several (comma and repeated).
    let ds = p.ok(&["log", "--json", "--kind", "dataset"]);
    assert_eq!(seqs(&ds), vec![n, 2, 1]);
    let two = p.ok(&["log", "--json", "--kind", "dataset,run-finished"]);
    let two_rep = p.ok(&[
        "log",
        "--json",
        "--kind",
        "dataset",
        "--kind",
        "run-finished",
    ]);
    assert_eq!(seqs(&two), seqs(&two_rep));
    assert!(
        two.json_lines()
            .iter()
            .all(|e| e["kind"] == "dataset" || e["kind"] == "run-finished")
    );
    assert_eq!(seqs(&two).len(), 5);
    // An unknown kind: error naming the kinds.
    let out = p.fails(&["log", "--kind", "datasets"]);
    out.stderr_has(&[
        "unknown event kind `datasets`",
        "dataset",
        "run-started",
        "metrics",
    ]);

    // --limit: the newest N.
    assert_eq!(
        seqs(&p.ok(&["log", "--json", "--limit", "3"])),
        vec![n, n - 1, n - 2]
    );
    assert_eq!(
        seqs(&p.ok(&["log", "--json", "-n", "1", "--kind", "metrics"])).len(),
        1
    );
    assert_eq!(p.ok(&["log", "--limit", "0"]).stdout.trim(), "no events");

    // --since: a time, an age, a date.
    let t3 = evs[2]["time"].as_str().unwrap();
    let since = seqs(&p.ok(&["log", "--json", "--since", t3]));
    assert_eq!(since, (3..=n).rev().collect::<Vec<_>>(), "--since {t3}");
    assert_eq!(
        seqs(&p.ok(&["log", "--json", "--since", "1h"])).len() as u64,
        n
    );
    assert_eq!(
        seqs(&p.ok(&["log", "--json", "--since", "2000-01-01"])).len() as u64,
        n
    );
    assert_eq!(
        p.ok(&["log", "--since", "2999-01-01"]).stdout.trim(),
        "no events"
    );
    p.fails(&["log", "--since", "yesterday-ish"])
        .stderr_has(&["bad --since `yesterday-ish`"]);

    // --run: by id prefix; only that run's events.
    let run_id = evs
        .iter()
        .find(|e| e["kind"] == "run-started")
        .map(|e| e["body"]["RunStarted"]["run"].as_str().unwrap().to_string())
        .unwrap();
    let of_run = p.ok(&["log", "--json", "--run", &run_id[..6]]).json_lines();
    let kinds: Vec<&str> = of_run.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["run-finished", "metrics", "run-started"]);
    // Filters combine.
    let both = p.ok(&["log", "--json", "--run", &run_id, "--kind", "metrics"]);
    assert_eq!(both.json_lines().len(), 1);
}

#[test]
fn show_by_seq_hash_prefix_and_errors() {
    let p = busy_project();
    let evs = p.events();
    let h2 = evs[1]["hash"].as_str().unwrap();
    for what in ["2", "#2", &h2[..8], &h2.to_uppercase()[..10]] {
        let out = p.ok(&["show", what]);
        out.stdout_has(&["event #2", h2, "zqxtamperds", "not a git repository"]);
        let j = p.ok(&["--json", "show", what]).json();
        assert_eq!(j["seq"], 2, "{what}");
        assert_eq!(j["hash"], h2);
    }
    // Every event by a 6-digit hash prefix, even one that happens to be all digits (a prefix
    // that reads as an existing sequence number is that event instead, by design).
    for e in &evs {
        let prefix = &e["hash"].as_str().unwrap()[..6];
        if prefix
            .parse::<u64>()
            .is_ok_and(|s| s >= 1 && s <= evs.len() as u64)
        {
            continue;
        }
        let j = p.ok(&["--json", "show", prefix]).json();
        assert_eq!(j["seq"], e["seq"], "show {prefix}");
    }
    p.fails(&["show", "999"])
        .stderr_has(&["no event #999", "#1..#"]);
    p.fails(&["show", "#x"])
        .stderr_has(&["not a sequence number"]);
    p.fails(&["show", "zz"])
        .stderr_has(&["neither a sequence number nor a hash prefix"]);
    p.fails(&["show", "ffffffffff"])
        .stderr_has(&["no event's hash starts with"]);
}

/// Flips one bit of every occurrence of `needle` in `file` (no lab process is running).
fn flip_all(file: &std::path::Path, needle: &[u8]) -> usize {
    let mut bytes = fs::read(file).unwrap();
    let mut n = 0;
    let mut i = 0;
    while i + needle.len() <= bytes.len() {
        if &bytes[i..i + needle.len()] == needle {
            bytes[i + 3] ^= 0x01; // 't' → 'u': still valid UTF-8, still decodes
            n += 1;
            i += needle.len();
        } else {
            i += 1;
        }
    }
    fs::write(file, bytes).unwrap();
    n
}

#[test]
fn verify_names_a_tampered_event() {
    let p = busy_project();
    let out = p.ok(&["verify"]);
    out.stdout_has(&["ok:", "chain intact"]);
    assert_eq!(p.ok(&["--json", "verify"]).json()["ok"], true);

    // The name is in the event (#2) and in the views; flipping it everywhere must be caught
    // at the event, by the chain.
    let db = p.path(".lab/lab.redb");
    let hits = flip_all(&db, b"zqxtamperds");
    assert!(hits >= 1, "the dataset name is not in {}", db.display());
    let out = p.lab(&["verify"]);
    assert_eq!(out.code, 1, "{out}");
    out.stdout_has(&["FAILED", "event #2", "hash mismatch"]);
    let j = p.lab(&["--json", "verify"]).json();
    assert_eq!(j["ok"], false);
    assert_eq!(j["bad_event"], 2, "{j}");
}

#[test]
fn verify_names_a_tampered_blob() {
    let p = busy_project();
    let content = b"the tampered dataset's only file";
    let hash = lab::event::Hash::of(content).to_hex();
    let blob = p.path(format!(".lab/objects/sha256/{}/{}", &hash[..2], &hash[2..]));
    assert_eq!(fs::read(&blob).unwrap(), content);
    let mode = fs::metadata(&blob).unwrap().permissions().mode();
    assert_eq!(mode & 0o222, 0, "blobs are read-only");
    fs::set_permissions(&blob, fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = fs::read(&blob).unwrap();
    bytes[5] ^= 0x20;
    fs::write(&blob, bytes).unwrap();

    let out = p.lab(&["verify"]);
    assert_eq!(out.code, 1, "{out}");
    out.stdout_has(&["FAILED", &hash, "corrupt"]);
    let j = p.lab(&["--json", "verify"]).json();
    assert_eq!(j["bad_blob"], hash.as_str());
    assert_eq!(j["bad_event"], serde_json::Value::Null);
    // A checkout of that version refuses the damaged bytes.
    p.fails(&["data", "checkout", "zqxtamperds", "out"])
        .stderr_has(&[&hash, "corrupt"]);

    // A missing blob is named too.
    fs::remove_file(&blob).unwrap();
    let out = p.lab(&["verify"]);
    assert_eq!(out.code, 1, "{out}");
    out.stdout_has(&[&hash, "missing"]);
}

#[test]
fn reindex_rebuilds_views_equal_to_the_live_ones() {
    let p = busy_project();
    let lab_dir = p.path(".lab");
    let live = {
        let store = lab::store::Store::open(&lab_dir).unwrap();
        store.dump_views().unwrap()
    };
    assert!(
        live.iter().any(|(t, _, _)| t.contains("runs"))
            && live.iter().any(|(t, _, _)| t.contains("metrics"))
            && live.iter().any(|(t, _, _)| t.contains("datasets")),
        "the busy project fills every view"
    );
    let runs_before = p.ok(&["runs", "ls", "--json"]).stdout;
    let data_before = p.ok(&["data", "ls", "--json"]).stdout;

    // Through the binary.
    let out = p.ok(&["reindex"]);
    out.stdout_has(&["rebuilt the views from"]);
    let n = p.events().len();
    assert_eq!(p.ok(&["--json", "reindex"]).json()["events"], n);
    let rebuilt = lab::store::Store::open(&lab_dir)
        .unwrap()
        .dump_views()
        .unwrap();
    assert_eq!(
        live, rebuilt,
        "views rebuilt by `lab reindex` differ from the live ones"
    );

    // Through the library, twice (idempotent).
    let store = lab::store::Store::open(&lab_dir).unwrap();
    assert_eq!(store.reindex().unwrap(), n as u64);
    assert_eq!(store.dump_views().unwrap(), live);
    drop(store);

    assert_eq!(p.ok(&["runs", "ls", "--json"]).stdout, runs_before);
    assert_eq!(p.ok(&["data", "ls", "--json"]).stdout, data_before);
    p.ok(&["verify"]);
}
