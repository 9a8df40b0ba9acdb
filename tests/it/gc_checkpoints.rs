//! `lab gc` and epoch checkpoints (issue 17: ".lab grows by every epoch checkpoint of every run
//! with no way to reclaim space"): old checkpoints of finished training runs go, the newest
//! `[gc] keep_checkpoints` / `--keep-checkpoints N` of each stay, a killed run's stay for
//! `--resume`, `--dry-run` says what would go and what replay and `--resume` lose, and after
//! it `lab verify`, `lab replay` and `lab train --resume` still work.

use crate::common;

use std::fs;

use common::Project;
use serde_json::Value;

/// The checkpoint artifacts of run `run` as `lab artifacts ls` lists them: (name, hash).
fn checkpoints(p: &Project, run: &str) -> Vec<(String, String)> {
    p.ok(&["--json", "artifacts", "ls", run])
        .json_lines()
        .iter()
        .filter(|a| a["name"].as_str().unwrap().starts_with("checkpoint/"))
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["hash"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn gc_drops_old_checkpoints_of_finished_runs_and_keeps_what_replay_and_resume_need() {
    let p = Project::with_tiny_dataset();
    let done = p
        .ok(&["--json", "train", "ocr-teacher", "--epochs", "3"])
        .json();
    let run = done["run"].as_str().unwrap().to_string();
    // A killed run of other inputs: its checkpoint is what --resume continues from.
    let killed = p.lab_env(
        &[("LAB_FAULT_KILL_AFTER_EPOCH", "1")],
        &["train", "ocr-teacher", "--epochs", "2", "--seed", "8"],
    );
    assert!(!killed.ok(), "{killed}");
    let all = checkpoints(&p, &run);
    assert_eq!(all.len(), 3, "{all:?}");
    let runs = p.ok(&["--json", "runs", "ls"]).json_lines();
    let killed_run = runs.iter().find(|r| r["id"] != run.as_str()).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let killed_ck = checkpoints(&p, &killed_run);
    assert_eq!(killed_ck.len(), 1, "{killed_ck:?}");

    // The dry run: which would go, which stay, what replay and --resume lose; nothing changes.
    let log = p.log_json();
    let blobs = common::blobs(&p.root);
    let dry = p.ok(&["--json", "gc", "--dry-run", "--grace", "0"]).json();
    assert_eq!(dry["keep_checkpoints"], 1, "{dry}");
    assert_eq!(dry["checkpoints_removed"], 2, "{dry}");
    let plan = dry["checkpoints"].as_array().unwrap();
    assert_eq!(plan.len(), 1, "only the finished run: {dry}");
    assert_eq!(plan[0]["run"], run.as_str());
    assert_eq!(
        names(&plan[0]["removed"]),
        [
            "checkpoint/epoch-1.safetensors",
            "checkpoint/epoch-2.safetensors"
        ]
    );
    assert_eq!(names(&plan[0]["kept"]), ["checkpoint/epoch-3.safetensors"]);
    assert!(dry["checkpoint_bytes"].as_u64().unwrap() > 0, "{dry}");
    assert_eq!(dry["removed"], 2, "the two checkpoint blobs: {dry}");
    assert!(dry["replay_loses"].as_str().unwrap().starts_with("nothing"));
    assert!(dry["resume_loses"].as_str().unwrap().starts_with("nothing"));
    let text = p.ok(&["gc", "--dry-run"]);
    text.stdout_has(&[
        "would remove 2 epoch checkpoints of 1 finished training runs",
        "keeping the newest 1 of each",
        "checkpoint/epoch-1.safetensors, checkpoint/epoch-2.safetensors",
        "keeps checkpoint/epoch-3.safetensors",
        "lab replay loses nothing",
        "lab train --resume loses nothing",
        "lab artifacts get",
        // Young blobs are kept by the grace period, said as such.
        "would remove 0 unreferenced blobs",
    ]);
    assert_eq!(p.log_json(), log, "a dry run records nothing");
    assert_eq!(common::blobs(&p.root), blobs, "a dry run removes nothing");

    // The real thing: two checkpoints and their blobs go, everything else stays.
    let out = p.ok(&["--json", "gc", "--grace", "0"]).json();
    assert_eq!(
        (out["checkpoints_removed"].as_u64(), out["removed"].as_u64()),
        (Some(2), Some(2)),
        "{out}"
    );
    for (_, h) in &all[..2] {
        assert!(!p.blob_path(h).exists(), "{h} should be gone");
    }
    assert!(p.blob_path(&all[2].1).exists());
    assert_eq!(
        checkpoints(&p, &run)
            .iter()
            .map(|c| &c.0)
            .collect::<Vec<_>>(),
        ["checkpoint/epoch-3.safetensors"]
    );
    p.ok(&["verify"]).stdout_has(&["ok:"]);
    p.ok(&["gc", "--grace", "0"])
        .stdout_has(&["no epoch checkpoints to remove", "removed 0 unreferenced"]);
    let epoch1 = p.fails(&[
        "artifacts",
        "get",
        &run,
        "checkpoint/epoch-1.safetensors",
        "e1",
    ]);
    assert!(!epoch1.stderr.contains("panicked"));
    // Replay needs no checkpoint: bit for bit without them.
    let replay = p.ok(&["--json", "replay", &run]).json();
    assert_eq!(replay["rows"][0]["verdict"], "identical", "{replay}");
    // The killed run kept its checkpoint: --resume still continues it.
    assert_eq!(checkpoints(&p, &killed_run), killed_ck);
    let resumed = p
        .ok(&[
            "--json",
            "train",
            "ocr-teacher",
            "--epochs",
            "2",
            "--seed",
            "8",
            "--resume",
        ])
        .json();
    assert_eq!(resumed["resumed_from"], killed_run.as_str(), "{resumed}");

    // lab.toml's [gc] keep_checkpoints = 0: every checkpoint of finished runs goes, the killed
    // run's too now that a finished --resume carried it to the end; verify and replay still pass.
    let toml = fs::read_to_string(p.path("lab.toml")).unwrap();
    assert!(
        toml.contains("keep_checkpoints = 1"),
        "lab init documents [gc]"
    );
    fs::write(
        p.path("lab.toml"),
        toml.replace("keep_checkpoints = 1", "keep_checkpoints = 0"),
    )
    .unwrap();
    let out = p.ok(&["--json", "gc", "--grace", "0"]).json();
    assert_eq!(out["keep_checkpoints"], 0, "{out}");
    let by_run: Vec<(String, String, usize)> = out["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["run"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
                r["removed"].as_array().unwrap().len(),
            )
        })
        .collect();
    let resumed_run = resumed["run"].as_str().unwrap().to_string();
    assert_eq!(
        by_run,
        [
            (run.clone(), "finished".to_string(), 1),
            (killed_run.clone(), "killed".to_string(), 1),
            (resumed_run.clone(), "finished".to_string(), 1),
        ],
        "{out}"
    );
    for r in [&run, &killed_run, &resumed_run] {
        assert!(checkpoints(&p, r).is_empty(), "{r}");
    }
    p.ok(&["verify"]);
    let replay = p.ok(&["--json", "replay", &run]).json();
    assert_eq!(replay["rows"][0]["verdict"], "identical", "{replay}");
    // --keep-checkpoints overrides lab.toml; a bad value is a usage error, a bad key in lab.toml
    // names the file, line and key.
    p.ok(&["gc", "--dry-run", "--keep-checkpoints", "5"])
        .stdout_has(&["keeping the newest 5"]);
    assert_eq!(p.lab(&["gc", "--keep-checkpoints", "-1"]).code, 2);
    fs::write(
        p.path("lab.toml"),
        toml.replace("keep_checkpoints = 1", "keep_checkpoint = 1"),
    )
    .unwrap();
    let bad = p.lab(&["gc", "--dry-run"]);
    assert_eq!(bad.code, 1, "{bad}");
    bad.stderr_has(&[
        "lab.toml:",
        "gc.keep_checkpoint",
        "expected `keep_checkpoints`",
    ]);
}
