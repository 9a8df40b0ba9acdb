//! `[train] init` / `--init`: a recipe starts from a built-in pretrained base (or any model of
//! the same shape) instead of a seeded initialisation. The base is recorded as the run's
//! `init` input by content hash, stored in the blob store so `lab replay` rebuilds the run
//! bit for bit without it, and a model of another shape, family or an adapter is refused by
//! name.

use crate::common;

use std::fs;

use common::Project;

/// The teacher config `lab init` writes (the built-in base's shape), on the tiny dataset.
fn teacher_shape() -> String {
    let t = include_str!("../../configs/ocr_teacher.toml");
    t.replace("dataset = \"timetables\"", "dataset = \"tt\"")
        .replace("epochs = 3", "epochs = 1")
        .replace("val_lines = 400", "val_lines = 40")
        .replace("batch_size = 16", "batch_size = 32")
}

#[test]
fn a_recipe_starts_from_the_built_in_base_and_replays() {
    let p = Project::with_tiny_dataset();
    let cfg = teacher_shape()
        .lines()
        .filter(|l| !l.starts_with("init"))
        .collect::<Vec<_>>()
        .join("\n");
    fs::write(p.path("configs/ocr_teacher.toml"), &cfg).unwrap();

    // From a seeded start, one epoch of 274 lines reads nothing.
    let scratch = p
        .ok(&[
            "--json",
            "train",
            "ocr-teacher",
            "--init",
            "none",
            "--output",
            "scratch",
        ])
        .json();
    let scratch_acc = scratch["val_accuracy"].as_f64().unwrap();

    // From the built-in base, with a learning rate too small to move it far: it reads.
    let based = p
        .ok(&[
            "--json",
            "train",
            "ocr-teacher",
            "--init",
            "ocr_base",
            "--output",
            "based",
            "--learning-rate",
            "0.00001",
        ])
        .json();
    let based_acc = based["val_accuracy"].as_f64().unwrap();
    assert!(
        based_acc >= 0.5 && based_acc > scratch_acc + 0.3,
        "the base was not used: {based_acc} from the base, {scratch_acc} from scratch"
    );
    let run = based["run"].as_str().unwrap();
    let show = p.ok(&["--json", "runs", "show", run]).json();
    let init = show["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["role"] == "init")
        .unwrap_or_else(|| panic!("no init input: {show}"));
    assert_eq!(init["name"], "ocr_base (built in)", "{show}");
    let hash = init["hash"].as_str().unwrap();
    // Its bundle is in the blob store: the run does not depend on the binary that shipped it.
    let bundle: serde_json::Value = serde_json::from_slice(&p.blob(hash)).unwrap();
    assert_eq!(bundle["kind"], "ocr", "{bundle}");
    assert_eq!(show["params"]["train.init"], "ocr_base", "{show}");

    let r = p.ok(&["--json", "replay", "based@1"]).json();
    assert_eq!(r["rows"][0]["verdict"], "identical", "{r}");

    // Any model of the same shape starts a run too, by its registry name.
    let again = p
        .ok(&[
            "--json",
            "train",
            "ocr-teacher",
            "--init",
            "based@1",
            "--output",
            "again",
        ])
        .json();
    assert!(again["val_accuracy"].as_f64().unwrap() >= 0.5, "{again}");
}

#[test]
fn a_start_that_does_not_fit_is_refused_by_name() {
    let p = Project::with_tiny_dataset();
    // The tiny config's shape is not the base's.
    p.fails(&["train", "ocr-teacher", "--init", "ocr_base"])
        .stderr_has(&["train.init", "ocr_base (built in)", "shape", "[model]"]);
    p.fails(&["train", "ocr-teacher", "--init", "no_such_model"])
        .stderr_has(&["train.init `no_such_model`", "ocr_base, ocr_student_base"]);
    // The student base has the student's shape, not the teacher's.
    fs::write(p.path("configs/ocr_teacher.toml"), teacher_shape()).unwrap();
    p.fails(&["train", "ocr-teacher", "--init", "ocr_student_base"])
        .stderr_has(&["ocr_student_base (built in)", "shape"]);
    // An OCR model cannot start the document model.
    fs::write(p.path("configs/doc_base.toml"), common::TINY_DOC).unwrap();
    p.fails(&["train", "doc-base", "--init", "ocr_base"])
        .stderr_has(&["train.init `ocr_base`", "is an OCR model"]);
    // Nor does a LoRA recipe take one: its adapters start from zero on lora.base.
    p.ok(&["train", "ocr-teacher", "--init", "none"]);
    let lora = common::TINY_OCR
        .split("[train]")
        .nth(1)
        .unwrap()
        .replace("output = \"ocr_teacher\"", "output = \"ocr_lora\"");
    let lora = format!(
        "[train]{lora}init = \"ocr_teacher\"\n[lora]\nbase = \"ocr_teacher@1\"\nrank = 2\nalpha = 4.0\ntarget_modules = [\"query\"]\n"
    );
    fs::write(p.path("configs/ocr_lora.toml"), lora).unwrap();
    p.fails(&["train", "ocr-lora"])
        .stderr_has(&["configs/ocr_lora.toml", "train.init", "LoRA"]);
}
