//! `lab watch` through the real binary on a tiny project: it brings the project up to date at
//! start, reruns the stage a changed config feeds (a new run, a new report), and on SIGINT in
//! the middle of a run stops cleanly with that run marked killed in the log.

use crate::common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::Project;

const STAGES: &str = r#"
[[stages]]
name = "count"
cmd = "wc -c < configs/x.toml > out.txt && sleep \"$(cat configs/delay.txt)\""
deps = ["configs/x.toml", "configs/delay.txt"]
outs = ["out.txt"]
"#;

fn wait_for(what: &str, log: &Path, f: impl Fn() -> bool) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(90) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "timed out waiting for {what}; watch said:\n{}",
        fs::read_to_string(log).unwrap_or_default()
    );
}

/// Whether a descendant of process `root` runs the command line `argv` (read from /proc).
fn runs_under(root: u32, argv: &[&str]) -> bool {
    let want: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    let mut parent = std::collections::HashMap::new();
    let mut matching = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        // /proc/PID/stat: "PID (COMM) STATE PPID ..."; COMM may hold spaces and parentheses.
        let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        parent.insert(pid, ppid);
        if fs::read(e.path().join("cmdline")).is_ok_and(|c| c == want) {
            matching.push(pid);
        }
    }
    matching.into_iter().any(|mut pid| {
        while let Some(&pp) = parent.get(&pid) {
            if pp == root {
                return true;
            }
            pid = pp;
        }
        false
    })
}

fn finished(p: &Project) -> Vec<serde_json::Value> {
    p.ok(&["--json", "log", "--kind", "run-finished"])
        .json_lines()
}

#[test]
fn watch_reruns_on_change_and_stops_cleanly() {
    let p = Project::new();
    let toml = fs::read_to_string(p.path("lab.toml")).unwrap();
    let cut = toml.find("\n# The pipeline").unwrap();
    fs::write(p.path("lab.toml"), toml[..cut].to_string() + STAGES).unwrap();
    fs::write(p.path("configs/x.toml"), "a = 1\n").unwrap();
    fs::write(p.path("configs/delay.txt"), "0\n").unwrap();

    let log = p.path("watch.log");
    let out = fs::File::create(&log).unwrap();
    let mut child = common::lab_cmd(&p.root)
        .arg("watch")
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let said = |s: &str| {
        fs::read_to_string(&log)
            .unwrap_or_default()
            .matches(s)
            .count()
    };

    // The pass at start runs the stage and writes the report.
    wait_for("the first pass", &log, || said("watching") >= 1);
    assert_eq!(fs::read_to_string(p.path("out.txt")).unwrap().trim(), "6");
    assert!(p.path("reports/index.html").is_file());
    assert_eq!(finished(&p).len(), 1);
    let report_time = fs::metadata(p.path("reports/index.html"))
        .unwrap()
        .modified()
        .unwrap();

    // A config change: a new run of the stage it feeds, and a new report.
    fs::write(p.path("configs/x.toml"), "a = 12\n").unwrap();
    wait_for("the second pass", &log, || said("watching") >= 2);
    assert_eq!(fs::read_to_string(p.path("out.txt")).unwrap().trim(), "7");
    assert_eq!(finished(&p).len(), 2);
    assert!(
        fs::metadata(p.path("reports/index.html"))
            .unwrap()
            .modified()
            .unwrap()
            > report_time,
        "the report was not written again"
    );
    assert!(said("nothing deployed to production") >= 1);

    // A slow run, interrupted by Ctrl-C: watch stops, the run is marked killed.
    fs::write(p.path("configs/delay.txt"), "60\n").unwrap();
    wait_for("the slow run to start", &log, || {
        p.ok(&["--json", "log", "--kind", "run-started"])
            .json_lines()
            .len()
            >= 3
    });
    // In the middle of it: the stage's `sleep 60` runs under watch.
    let watch_pid = child.id();
    wait_for("the slow stage's command to run", &log, || {
        runs_under(watch_pid, &["sleep", "60"])
    });
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "watch did not stop");
        std::thread::sleep(Duration::from_millis(100));
    };
    let said_all = fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{status}: {said_all}");
    assert!(said_all.contains("stopped"), "{said_all}");
    let fin = finished(&p);
    assert_eq!(
        fin.len(),
        3,
        "the interrupted run was left dangling: {said_all}"
    );
    assert_eq!(
        fin[0]["body"]["RunFinished"]["status"], "Killed",
        "{:?}",
        fin[0]
    );
    assert!(!p.path(".lab/watch.pid").exists());
}
