//! One meaning of "production" (issue 17, items 1 and 2): an environment serves one model per
//! task, and `lab deploy status` shows exactly that; deploying another model of a task replaces
//! the one served; rollback works per task and across names; gates are per task in one file
//! (a document model is not judged by the OCR gates); `lab deploy --dry-run` checks without
//! deploying; refusals name the gates file actually used.

use crate::common;

use std::fs;

use common::Project;
use serde_json::Value;

const GATES: &str = r#"
[validation]
dataset = "tt"
split = "val"
limit = 12

[ocr]
max_regression = 1.0

[[ocr.gate]]
metric = "accuracy"
op = ">="
threshold = 0.0

[[doc.gate]]
metric = "field_f1"
op = ">="
threshold = 0.0

[extraction]
limit = 2

[[extraction.gate]]
metric = "entry_f1"
op = ">="
threshold = 0.0
"#;

fn project() -> Project {
    let p = Project::with_tiny_dataset();
    fs::write(p.path("configs/deploy.toml"), GATES).unwrap();
    fs::write(p.path("configs/doc_base.toml"), common::TINY_DOC).unwrap();
    p.ok(&["train", "ocr-teacher", "--epochs", "1", "--seed", "7"]);
    p
}

fn status(p: &Project) -> Vec<(String, String, String)> {
    p.ok(&["--json", "deploy", "status"])
        .json_lines()
        .iter()
        .map(|r| {
            (
                r["env"].as_str().unwrap().to_string(),
                r["task"].as_str().unwrap().to_string(),
                format!("{}@{}", r["model"].as_str().unwrap(), r["version"]),
            )
        })
        .collect()
}

fn row(env: &str, task: &str, label: &str) -> (String, String, String) {
    (env.into(), task.into(), label.into())
}

fn stage(p: &Project, name: &str, version: u64) -> String {
    p.ok(&["--json", "models", "ls", name])
        .json_lines()
        .iter()
        .find(|r| r["version"] == version)
        .map(|r| r["stage"].as_str().unwrap().to_string())
        .unwrap()
}

#[test]
fn one_ocr_model_per_environment_replaced_and_rolled_back_across_names() {
    let p = project();
    p.ok(&["models", "register", "ocr_teacher@1", "--name", "ocr_prod"]);
    p.ok(&["deploy", "ocr_teacher@1"]);
    assert_eq!(stage(&p, "ocr_teacher", 1), "production");

    // A registry stage is a label: promoting says what production serves instead.
    p.ok(&["models", "promote", "ocr_prod", "1", "--to", "production"])
        .stdout_has(&[
            "production environment serves ocr_teacher@1",
            "lab deploy ocr_prod@1",
        ]);

    // Deploying another OCR model replaces the one served: status shows one OCR model.
    let d = p.ok(&["--json", "deploy", "ocr_prod@1"]).json();
    assert_eq!(
        (
            d["deployed"].as_bool(),
            d["replaced"].as_str(),
            d["task"].as_str()
        ),
        (Some(true), Some("ocr_teacher@1"), Some("ocr")),
        "{d}"
    );
    assert_eq!(
        d["baseline"], "ocr_teacher@1",
        "the regression gate compares with what served the task, whatever its name"
    );
    assert_eq!(status(&p), [row("production", "ocr", "ocr_prod@1")]);
    let h = p.ok(&["--json", "deploy", "history"]).json_lines();
    let undeployed = h
        .iter()
        .find(|x| x["event"] == "undeployed")
        .expect("the replaced model's end is recorded");
    assert_eq!(undeployed["model"], "ocr_teacher");
    assert!(
        undeployed["detail"]
            .as_str()
            .unwrap()
            .contains("replaced by ocr_prod@1")
    );
    // `lab ocr` with no model reads with what production serves, and says so.
    let line = fs::read_dir(p.path("datasets/tt/lines/val"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    p.ok(&["ocr", line.to_str().unwrap()])
        .stderr_has(&["ocr_prod@1 (what production serves for ocr)"]);

    // Rollback goes back to what served the task before, across names.
    let r = p
        .ok(&["--json", "deploy", "rollback", "--env", "production"])
        .json();
    assert_eq!(
        (r["from"].as_str(), r["to"].as_str()),
        (Some("ocr_prod@1"), Some("ocr_teacher@1")),
        "{r}"
    );
    assert_eq!(status(&p), [row("production", "ocr", "ocr_teacher@1")]);
    p.fails(&["deploy", "rollback", "--env", "production"])
        .stderr_has(&["ocr_teacher@1 is the first OCR model", "no earlier"]);
    // The views rebuild to the same state.
    let before = p.ok(&["--json", "deploy", "status"]).stdout;
    p.ok(&["reindex"]);
    assert_eq!(before, p.ok(&["--json", "deploy", "status"]).stdout);
}

#[test]
fn gates_per_task_dry_run_and_rollback_per_task() {
    let p = project();
    p.ok(&["train", "doc-base"]);
    p.ok(&["deploy", "ocr_teacher@1"]);

    // The OCR gates cannot refuse a document model: only [doc] and [extraction] judge it.
    fs::write(
        p.path("configs/deploy.toml"),
        GATES.replace(
            "metric = \"accuracy\"\nop = \">=\"\nthreshold = 0.0",
            "metric = \"accuracy\"\nop = \">=\"\nthreshold = 1.01",
        ),
    )
    .unwrap();
    let d = p.ok(&["--json", "deploy", "doc_base@1"]).json();
    assert_eq!(d["deployed"], true, "{d}");
    let names: Vec<&str> = d["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["field_f1", "extraction.entry_f1"], "{d}");
    assert!(d["metrics"]["extraction.entry_f1"].is_number(), "{d}");
    assert_eq!(
        status(&p),
        [
            row("production", "ocr", "ocr_teacher@1"),
            row("production", "doc", "doc_base@1")
        ]
    );

    // --dry-run re-checks what production serves, deploys nothing, exits 1 on a failing gate
    // and names the file.
    let before = p.events().len();
    let out = p.lab(&["deploy", "--dry-run"]);
    assert_eq!(out.code, 1, "{out}");
    out.stdout_has(&[
        "ocr_teacher@1 (OCR model)",
        "doc_base@1 (document model)",
        "dry run: ocr_teacher@1 fails the gates of configs/deploy.toml",
    ]);
    let new: Vec<Value> = p.events()[before..].to_vec();
    assert!(
        new.iter().all(|e| e["kind"] == "evaluated"),
        "a dry run records evaluations only: {new:?}"
    );
    fs::write(p.path("configs/easy.toml"), GATES).unwrap();
    p.ok(&["deploy", "--dry-run", "--config", "configs/easy.toml"])
        .stdout_has(&["every gate of configs/easy.toml passes"]);
    // A candidate checked as `lab deploy` would judge it.
    let c = p
        .ok(&[
            "--json",
            "deploy",
            "--dry-run",
            "doc_base@1",
            "--config",
            "configs/easy.toml",
        ])
        .json();
    assert_eq!(c["checks"][0]["model"], "doc_base@1", "{c}");

    // A refusal names the gates file actually used.
    let out = p.lab(&["deploy", "ocr_teacher@1", "--env", "staging"]);
    assert_eq!(out.code, 1, "{out}");
    out.stdout_has(&["NOT deployed", "(configs/deploy.toml)"]);
    fs::write(
        p.path("configs/strict.toml"),
        "[[ocr.gate]]\nmetric = \"cer\"\nop = \"<\"\nthreshold = -1.0\n[validation]\ndataset = \"tt\"\nlimit = 4\n",
    )
    .unwrap();
    let out = p.lab(&[
        "deploy",
        "ocr_teacher@1",
        "--env",
        "staging",
        "--config",
        "configs/strict.toml",
    ]);
    assert_eq!(out.code, 1, "{out}");
    out.stdout_has(&["(configs/strict.toml)"]);
    out.stderr_has(&["configs/strict.toml"]);
    // A task without gates is refused before anything is recorded, naming the section.
    fs::write(
        p.path("configs/ocr_only.toml"),
        "[[ocr.gate]]\nmetric = \"accuracy\"\nop = \">=\"\nthreshold = 0.0\n",
    )
    .unwrap();
    p.fails(&[
        "deploy",
        "doc_base@1",
        "--env",
        "staging",
        "--config",
        "configs/ocr_only.toml",
    ])
    .stderr_has(&["configs/ocr_only.toml has no [doc] gates", "[[doc.gate]]"]);

    // Two tasks served: a rollback must say which.
    p.fails(&["deploy", "rollback"]).stderr_has(&[
        "ocr (ocr_teacher@1, nothing earlier)",
        "doc (doc_base@1, nothing earlier)",
        "--task",
    ]);
    p.fails(&["deploy", "rollback", "--task", "doc"])
        .stderr_has(&["doc_base@1 is the first document model"]);
    p.fails(&["deploy", "rollback", "--task", "nope"])
        .stderr_has(&["--task `nope`"]);
}
