//! Many real `lab` processes on one log at once, and SIGKILL at random moments: the chain stays
//! linear and verifies, nothing that was reported done is lost, no half-written blob shows.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// `lab` in `dir` through the harness (its environment cleaned of fault hooks).
fn lab(dir: &Path) -> Command {
    common::lab_cmd(dir)
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    lab(dir).args(args).output().expect("spawn lab")
}

fn ok_in(dir: &Path, args: &[&str]) -> String {
    let o = run_in(dir, args);
    assert!(
        o.status.success(),
        "lab {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn project() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    ok_in(d.path(), &["init", "."]);
    d
}

/// Writes `n` files of a few KiB with content unique to (tag, i).
fn make_tree(dir: &Path, tag: &str, n: usize) {
    fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        let sub = dir.join(format!("part{}", i % 7));
        fs::create_dir_all(&sub).unwrap();
        let body = format!("{tag}-{i}-").repeat(200 + i % 50);
        fs::write(sub.join(format!("f{i:04}.txt")), body).unwrap();
    }
}

/// Every event as parsed JSON, oldest first.
fn events(dir: &Path) -> Vec<serde_json::Value> {
    let out = ok_in(dir, &["log", "--json"]);
    let mut v: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    v.reverse();
    v
}

fn assert_linear_chain(evs: &[serde_json::Value]) {
    let mut prev = "0".repeat(64);
    for (i, e) in evs.iter().enumerate() {
        assert_eq!(
            e["seq"].as_u64().unwrap(),
            i as u64 + 1,
            "seqs have no gaps"
        );
        assert_eq!(
            e["prev"].as_str().unwrap(),
            prev,
            "event #{} links to its predecessor",
            i + 1
        );
        prev = e["hash"].as_str().unwrap().to_string();
    }
}

/// Every file under objects/sha256 hashes to its name (no half-written blob is visible).
fn assert_all_blobs_whole(project: &Path) {
    let blobs = common::blobs(project);
    for (name, actual) in &blobs {
        assert_eq!(actual, name, "blob {name} is whole");
    }
    assert!(!blobs.is_empty());
}

#[test]
fn four_snapshots_and_a_log_loop_at_once() {
    let p = project();
    let dir = p.path();
    for k in 0..4 {
        make_tree(&dir.join(format!("d{k}")), &format!("tree{k}"), 150);
    }
    // Four more trees snapshotted under one shared name: versions must come out 1..4, unique.
    for k in 0..4 {
        make_tree(&dir.join(format!("s{k}")), &format!("shared{k}"), 40);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        let dir: PathBuf = dir.to_path_buf();
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(Ordering::Relaxed) || rounds < 3 {
                let o = run_in(&dir, &["log", "--json"]);
                assert!(
                    o.status.success(),
                    "lab log failed while others wrote: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                rounds += 1;
            }
            rounds
        })
    };
    let mut children: Vec<(String, Child)> = Vec::new();
    for k in 0..4 {
        let d = format!("d{k}");
        let c = lab(dir)
            .args(["data", "snapshot", &d])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        children.push((d, c));
        let s = format!("s{k}");
        let c = lab(dir)
            .args(["data", "snapshot", &s, "--name", "shared"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        children.push((s, c));
    }
    for (what, c) in children {
        let o = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "snapshot of {what} failed: {err}");
        assert!(!err.contains("already open"), "{err}");
    }
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() >= 3);

    let evs = events(dir);
    assert_eq!(evs.len(), 8, "no event is lost");
    assert_linear_chain(&evs);
    let mut shared: Vec<u64> = evs
        .iter()
        .filter(|e| e["body"]["DatasetSnapshotted"]["name"] == "shared")
        .map(|e| e["body"]["DatasetSnapshotted"]["version"].as_u64().unwrap())
        .collect();
    shared.sort();
    assert_eq!(
        shared,
        vec![1, 2, 3, 4],
        "versions are numbered inside the transaction"
    );
    let v = run_in(dir, &["verify"]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}

#[test]
fn parallel_runs_logging_metrics_lose_nothing() {
    let p = project();
    let dir = p.path();
    let script = "for i in $(seq 1 40); do echo \"{\\\"key\\\":\\\"loss\\\",\\\"value\\\":$i,\\\"step\\\":$i}\" >> \"$LAB_METRICS\"; sleep 0.01; done";
    let children: Vec<Child> = (0..3)
        .map(|k| {
            lab(dir)
                .args(["run", "--name", &format!("r{k}"), "--", "sh", "-c", script])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    for k in 0..3 {
        let out = ok_in(dir, &["metrics", &format!("r{k}"), "loss", "--json"]);
        let pts: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(pts.len(), 40, "run r{k} kept all its points");
        let steps: Vec<i64> = pts.iter().map(|p| p["step"].as_i64().unwrap()).collect();
        assert_eq!(steps, (1..=40).collect::<Vec<_>>());
    }
    assert_linear_chain(&events(dir));
    assert!(run_in(dir, &["verify"]).status.success());
}

/// A small deterministic generator for kill delays (no OS randomness in tests either).
fn delays(seed: u64, n: usize, max_ms: u64) -> Vec<u64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % max_ms
        })
        .collect()
}

#[test]
fn sigkill_at_random_moments_never_breaks_the_log() {
    let p = project();
    let dir = p.path();
    let iterations = 24;
    let mut confirmed: Vec<serde_json::Value> = Vec::new();
    let mut killed = 0;
    for (i, delay) in delays(0x5eed, iterations, 250).into_iter().enumerate() {
        // Fresh content each time, so every snapshot has blobs to write.
        let tree = dir.join(format!("t{i}"));
        // Big enough that a snapshot outlasts most of the random delays on a fast machine.
        make_tree(&tree, &format!("iter{i}"), 1000);
        let mut victim = if i % 3 == 2 {
            // An appender: a run ingesting metric lines as fast as they come.
            let script = "true crash-victim-marker; i=0; while [ $i -lt 100000 ]; do echo \"{\\\"key\\\":\\\"m\\\",\\\"value\\\":$i}\" >> \"$LAB_METRICS\"; i=$((i+1)); done";
            lab(dir)
                .args([
                    "run",
                    "--name",
                    &format!("victim{i}"),
                    "--",
                    "sh",
                    "-c",
                    script,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        } else {
            lab(dir)
                .args([
                    "data",
                    "snapshot",
                    tree.to_str().unwrap(),
                    "--name",
                    "crash",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        };
        // A command that completes alongside: what it reported must survive every later kill.
        let side = dir.join(format!("side{i}"));
        make_tree(&side, &format!("side{i}"), 5);
        ok_in(dir, &["data", "snapshot", side.to_str().unwrap()]);
        std::thread::sleep(Duration::from_millis(delay));
        let _ = victim.kill(); // SIGKILL
        if let Ok(st) = victim.wait() {
            if st.code().is_none() {
                killed += 1;
            }
        }
        // An appender's shell dies with its lab (`lab run` owns its command: own process group,
        // parent-death signal — tests/it/runs.rs checks that no orphan is left), so nothing is
        // killed here by name.

        let v = run_in(dir, &["verify"]);
        assert!(
            v.status.success(),
            "iteration {i} (killed after {delay} ms): verify failed:\n{}{}",
            String::from_utf8_lossy(&v.stdout),
            String::from_utf8_lossy(&v.stderr)
        );
        let evs = events(dir);
        assert_linear_chain(&evs);
        // Nothing confirmed earlier was lost or rewritten.
        assert!(evs.len() >= confirmed.len());
        for (a, b) in confirmed.iter().zip(&evs) {
            assert_eq!(
                a["hash"], b["hash"],
                "event #{} changed after a crash",
                a["seq"]
            );
        }
        let side_name = format!("side{i}");
        assert!(
            evs.iter()
                .any(|e| e["body"]["DatasetSnapshotted"]["name"] == side_name.as_str()),
            "the completed snapshot {side_name} is in the log"
        );
        confirmed = evs;
    }
    // Most victims must really have died mid-work, or this test proves little.
    assert!(
        killed * 3 >= iterations * 2,
        "only {killed} of {iterations} victims were killed"
    );
    assert_all_blobs_whole(dir);
    // The killed runs show as killed, not running forever.
    let runs = ok_in(dir, &["runs", "ls", "--json"]);
    for line in runs.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_ne!(r["effective_status"], "Running", "{r}");
    }
}
