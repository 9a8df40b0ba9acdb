//! `lab ci init github` (issue 17, "CI/CD as in the guide"): the workflow it writes parses as
//! YAML, runs on pushes touching configs/** and datasets/**, builds lab, runs `lab pipeline`,
//! `lab verify` and `lab deploy --dry-run --env production` and uploads reports/ — and its
//! steps' commands, run here in order in a tiny project (the built binary standing in for
//! `lab`, the cargo build skipped), succeed and leave the reports it uploads.

use crate::common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::Project;
use serde_norway::Value;

/// A pipeline that runs in seconds: the tiny dataset, a one-epoch teacher, its evaluation, the
/// report and the verification.
const STAGES: &str = r#"
[project]
seed = 5

[[stages]]
name = "synth"
uses = "data.synth"
with = { dataset = "tt", count = 8, text_lines = 4 }
outs = ["datasets/tt"]

[[stages]]
name = "snapshot"
uses = "data.snapshot"
deps = ["datasets/tt"]

[[stages]]
name = "teacher"
uses = "train.ocr-teacher"
deps = ["stage:snapshot"]

[[stages]]
name = "eval_teacher"
uses = "eval"
with = { model = "stage:teacher", dataset = "tt", splits = ["val"] }

[[stages]]
name = "report"
uses = "report"
deps = ["stage:eval_teacher"]
outs = ["reports/index.html"]

[[stages]]
name = "verify"
uses = "verify"
deps = ["stage:report"]
"#;

fn s<'a>(v: &'a Value, key: &str) -> &'a Value {
    &v[key]
}

/// Runs one `run:` of the workflow as GitHub would (bash -e), `lab` being the built binary.
fn run_step(p: &Project, bin_dir: &Path, workdir: &str, name: &str, run: &str) {
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-e", "-c", run])
        .current_dir(p.root.join(workdir))
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env_remove("LAB_FAULT_ENOSPC_AFTER")
        .env_remove("LAB_FAULT_KILL_AFTER_EPOCH")
        .env_remove("LAB_FAULT_LOG_FULL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "step `{name}` ({run}) failed: {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_github_workflow_parses_and_its_steps_run_in_order() {
    let p = Project::with_tiny_dataset();
    fs::write(p.path("lab.toml"), STAGES).unwrap();
    let tiny = common::TINY_OCR.replace("epochs = 2", "epochs = 1");
    fs::write(p.path("configs/ocr_teacher.toml"), &tiny).unwrap();
    fs::write(p.path("configs/deploy.toml"), common::server::EASY_GATES).unwrap();

    // Not lab's source tree: CI must be told where to install lab from.
    p.fails(&["ci", "init", "github"])
        .stderr_has(&["not lab's source tree", "--lab-git URL"]);
    p.fails(&["ci", "init", "github", "--lab-git", "has space"])
        .stderr_has(&["--lab-git"]);
    let url = "https://example.com/you/lab.git";
    let out = p.ok(&["ci", "init", "github", "--lab-git", url]);
    out.stdout_has(&[
        "wrote",
        ".github/workflows/lab.yml",
        "configs/**, datasets/**",
        "lab pipeline",
        "lab verify",
        "lab deploy --dry-run --env production",
        "reports/",
    ]);
    let file = p.path(".github/workflows/lab.yml");
    let written = fs::read_to_string(&file).unwrap();
    // An existing workflow is kept unless --force, and the message says how.
    p.fails(&["ci", "init", "github", "--lab-git", url])
        .stderr_has(&["lab.yml exists", "--force"]);
    assert_eq!(fs::read_to_string(&file).unwrap(), written);
    let j = p
        .ok(&[
            "--json",
            "ci",
            "init",
            "github",
            "--lab-git",
            url,
            "--force",
        ])
        .json();
    assert_eq!(j["overwritten"], true, "{j}");
    assert_eq!(fs::read_to_string(&file).unwrap(), written);

    // The YAML as GitHub reads it.
    let y: Value = serde_norway::from_str(&written).unwrap();
    let paths: Vec<&str> = s(s(s(&y, "on"), "push"), "paths")
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"configs/**") && paths.contains(&"datasets/**"),
        "{paths:?}"
    );
    let job = s(s(&y, "jobs"), "lab");
    assert_eq!(job["runs-on"].as_str(), Some("ubuntu-latest"));
    let workdir = job["defaults"]["run"]["working-directory"]
        .as_str()
        .unwrap()
        .to_string();
    let steps = job["steps"].as_sequence().unwrap();
    let runs: Vec<(String, String)> = steps
        .iter()
        .filter_map(|st| {
            Some((
                st["name"].as_str().unwrap_or("").to_string(),
                st["run"].as_str()?.trim().to_string(),
            ))
        })
        .collect();
    let cmds: Vec<&str> = runs.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(
        cmds,
        [
            format!("cargo install --locked --git '{url}' lab").as_str(),
            "lab pipeline",
            "lab verify",
            "lab deploy --dry-run --env production",
        ]
    );
    let upload = steps
        .iter()
        .find(|st| {
            st["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .expect("an upload-artifact step");
    assert_eq!(upload["with"]["path"].as_str(), Some("reports/"));
    assert_eq!(upload["if"].as_str(), Some("always()"));
    assert!(
        steps.iter().position(|st| st == upload).unwrap()
            > steps.iter().position(|st| st["run"].is_string()).unwrap(),
        "the upload comes after the commands"
    );

    // A project with a history: production serves a model, so the dry run has one to check.
    p.ok(&["train", "ocr-teacher"]);
    p.ok(&["deploy", "ocr_teacher@1", "--env", "production"]);

    // The steps' commands, in order, with the built binary as `lab`.
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_lab"), bin.path().join("lab")).unwrap();
    let mut ran = Vec::new();
    for (name, run) in &runs {
        if run.starts_with("cargo ") {
            continue; // building lab: the test's binary stands in for it
        }
        run_step(&p, bin.path(), &workdir, name, run);
        ran.push(run.clone());
    }
    // pipeline, verify and the gates' dry run (nothing is deployed in a fresh CI checkout).
    assert!(
        ran.iter()
            .any(|r| r.contains("lab deploy --dry-run --env production")),
        "{ran:?}"
    );
    assert!(ran.len() >= 3, "{ran:?}");
    // What the upload step takes is there.
    assert!(p.path("reports/index.html").is_file());
    p.ok(&["verify"]);
}

#[test]
fn in_lab_s_own_source_tree_ci_builds_lab_and_the_workflow_goes_to_the_repository_root() {
    let p = Project::bare();
    // A git repository whose root is lab's source (a Cargo.toml of package `lab`) and a project
    // in a subfolder.
    assert!(
        common::git_cmd(&p.root)
            .args(["init", "-q"])
            .status()
            .unwrap()
            .success()
    );
    fs::write(
        p.path("Cargo.toml"),
        "[package]\nname = \"lab\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    let sub = p.path("ml/project");
    fs::create_dir_all(&sub).unwrap();
    assert!(common::lab_in(&sub, &["init"]).ok());
    let out = common::lab_in(&sub, &["ci", "init", "github"]);
    assert!(out.ok(), "{out}");
    let y: Value =
        serde_norway::from_str(&fs::read_to_string(p.path(".github/workflows/lab.yml")).unwrap())
            .unwrap();
    let paths: Vec<&str> = y["on"]["push"]["paths"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "ml/project/configs/**",
            "ml/project/datasets/**",
            "ml/project/lab.toml"
        ]
    );
    let job = &y["jobs"]["lab"];
    assert_eq!(
        job["defaults"]["run"]["working-directory"].as_str(),
        Some("ml/project")
    );
    let build = job["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["run"].as_str().is_some_and(|r| r.contains("cargo build")))
        .expect("a cargo build step");
    assert!(
        build["run"]
            .as_str()
            .unwrap()
            .contains("cargo build --release --locked")
    );
    assert_eq!(build["working-directory"].as_str(), Some("."));
    let upload = job["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.contains("upload-artifact"))
        })
        .unwrap();
    assert_eq!(upload["with"]["path"].as_str(), Some("ml/project/reports/"));
    assert!(!p.path("ml/project/.github").exists());
}
