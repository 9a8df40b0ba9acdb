//! `lab pipeline` with stages declared in lab.toml, through the real binary on a tiny project:
//! the DAG runs in order, a second run is fully cached (and says why), changing one config
//! reruns that stage and what is downstream only, `--force` reruns, a cached command's
//! missing output comes back from the blob store, and mistakes name the stage and key.

use crate::common;

use std::fs;

use common::Project;

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
name = "student"
uses = "train.ocr-distill"
config = "configs/student.toml"
deps = ["stage:snapshot"]
with = { teacher = "stage:teacher" }

[[stages]]
name = "teacher"
uses = "train.ocr-teacher"
deps = ["stage:snapshot"]

[[stages]]
name = "eval_student"
uses = "eval"
with = { model = "stage:student", dataset = "tt", splits = ["val"] }

[[stages]]
name = "count"
cmd = "wc -l < datasets/tt/lines/train.jsonl > count.txt"
deps = ["datasets/tt/lines/train.jsonl"]
outs = ["count.txt"]

[[stages]]
name = "report"
uses = "report"
deps = ["stage:eval_student", "stage:count"]
outs = ["reports/index.html"]

[[stages]]
name = "verify"
uses = "verify"
deps = ["stage:report"]
"#;

fn statuses(out: &serde_json::Value) -> Vec<(String, String)> {
    out["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn status_of(out: &serde_json::Value, name: &str) -> String {
    statuses(out)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no stage {name} in {out}"))
        .1
}

fn runs_started(p: &Project) -> usize {
    p.ok(&["--json", "log", "--kind", "run-started"])
        .json_lines()
        .len()
}

#[test]
fn stages_run_in_order_cache_and_rerun_what_changed() {
    let p = Project::new();
    fs::write(p.path("lab.toml"), STAGES).unwrap();
    let tiny = common::TINY_OCR.replace("epochs = 2", "epochs = 1");
    fs::write(p.path("configs/ocr_teacher.toml"), &tiny).unwrap();
    let student = tiny
        .replace("output = \"ocr_teacher\"", "output = \"ocr_student\"")
        .replace("hidden = 16", "hidden = 8")
        + "\n[distill]\nteacher = \"ocr_teacher\"\ntemperature = 5.0\nalpha = 0.5\n";
    fs::write(p.path("configs/student.toml"), &student).unwrap();

    // Before anything ran: the plan says what would run, in dependency order.
    let plan = p.ok(&["pipeline", "--plan"]);
    plan.stdout_has(&["would run", "runs if synth changes its output"]);
    assert_eq!(runs_started(&p), 0, "--plan ran something");

    let first = p.ok(&["--json", "pipeline"]).json();
    let order: Vec<String> = statuses(&first).into_iter().map(|s| s.0).collect();
    let at = |n: &str| order.iter().position(|x| x == n).unwrap();
    assert!(at("teacher") < at("student"), "{order:?}");
    assert!(statuses(&first).iter().all(|(_, s)| s == "ran"), "{first}");
    assert_eq!(
        fs::read_to_string(p.path("count.txt")).unwrap().trim(),
        "274" // 254 cell lines of the 5 train timetables + 4 text lines each
    );
    let runs = runs_started(&p);

    // Unchanged: everything is cached, nothing is recorded, and each stage says why.
    let again = p.ok(&["pipeline"]);
    again.stdout_has(&[
        "teacher",
        "cached — same dataset",
        "as run",
        "already evaluated on tt@1",
        "same command and deps",
        "0 ran, 8 cached",
    ]);
    assert_eq!(runs_started(&p), runs);

    // One config changes: that stage and what is downstream of it rerun, nothing else.
    fs::write(
        p.path("configs/student.toml"),
        student.replace("alpha = 0.5", "alpha = 0.6"),
    )
    .unwrap();
    p.ok(&["pipeline", "--plan"])
        .stdout_has(&["would run: config", "since run"]);
    let changed = p.ok(&["--json", "pipeline"]).json();
    for (stage, want) in [
        ("synth", "cached"),
        ("teacher", "cached"),
        ("student", "ran"),
        ("eval_student", "ran"),
        ("count", "cached"),
        ("report", "ran"),
        ("verify", "ran"),
    ] {
        assert_eq!(status_of(&changed, stage), want, "{stage}: {changed}");
    }
    assert_eq!(runs_started(&p), runs + 1);

    // --force STAGE reruns it; the teacher is deterministic, so its student stays cached.
    let forced = p.ok(&["--json", "pipeline", "--force", "teacher"]).json();
    assert_eq!(status_of(&forced, "teacher"), "ran");
    assert_eq!(status_of(&forced, "student"), "cached", "{forced}");

    // A cached command's output that went missing is put back from the blob store.
    fs::remove_file(p.path("count.txt")).unwrap();
    p.ok(&["pipeline", "count"])
        .stdout_has(&["restored count.txt"]);
    assert_eq!(
        fs::read_to_string(p.path("count.txt")).unwrap().trim(),
        "274" // 254 cell lines of the 5 train timetables + 4 text lines each
    );

    p.fails(&["pipeline", "--force", "nope"])
        .stderr_has(&["no stage `nope`", "teacher"]);
    // Mistakes in the stages name the file, line, stage and key.
    fs::write(
        p.path("lab.toml"),
        STAGES.replace("uses = \"eval\"", "uses = \"evaluate\""),
    )
    .unwrap();
    p.fails(&["pipeline"])
        .stderr_has(&["lab.toml:", "stage `eval_student`: uses:", "evaluate"]);
    fs::write(
        p.path("lab.toml"),
        STAGES.replace(
            "deps = [\"datasets/tt\"]",
            "deps = [\"datasets/tt\", \"stage:verify\"]",
        ),
    )
    .unwrap();
    p.fails(&["pipeline"]).stderr_has(&["cycle"]);
}

#[test]
fn a_project_without_stages_gets_the_default_flow() {
    let p = Project::new();
    let toml = fs::read_to_string(p.path("lab.toml")).unwrap();
    assert!(toml.contains("[[stages]]"), "lab init writes the stages");
    // An older lab.toml: no stages at all.
    let cut = toml.find("\n# The pipeline").unwrap();
    fs::write(p.path("lab.toml"), &toml[..cut]).unwrap();
    let plan = p.ok(&["--json", "pipeline", "--plan"]).json();
    let names: Vec<String> = statuses(&plan).into_iter().map(|s| s.0).collect();
    for n in [
        "synth",
        "snapshot",
        "ocr_teacher",
        "doc_lora",
        "extract",
        "report",
        "verify",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} missing: {names:?}");
    }
}
