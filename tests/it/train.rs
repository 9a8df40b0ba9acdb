//! `lab train`, `eval`, `compare`, `ocr` and `sweep` through the real binary on a tiny rendered
//! dataset with tiny models: runs and their records, byte-identical models from the same seed,
//! resume after a kill giving the same bytes, distillation, LoRA (base untouched, adapter
//! alone), and bad input refused clearly.

use crate::common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::Project;

use common::TINY_OCR as TINY;

fn project() -> Project {
    let p = Project::with_tiny_dataset();
    let student = TINY
        .replace("output = \"ocr_teacher\"", "output = \"ocr_student\"")
        .replace("hidden = 16", "hidden = 8")
        + "\n[distill]\nteacher = \"ocr_teacher\"\ntemperature = 5.0\nalpha = 0.5\n";
    fs::write(p.path("configs/ocr_student.toml"), student).unwrap();
    let lora = TINY
        .split("[train]")
        .nth(1)
        .unwrap()
        .replace("output = \"ocr_teacher\"", "output = \"ocr_lora\"");
    let lora = format!(
        "[train]{lora}\n[lora]\nbase = \"ocr_teacher@1\"\nrank = 2\nalpha = 4.0\ntarget_modules = [\"query\", \"value\"]\n"
    );
    fs::write(p.path("configs/ocr_lora.toml"), lora).unwrap();
    p
}

fn bundle(p: &Project, hash: &str) -> serde_json::Value {
    serde_json::from_slice(&p.blob(hash)).unwrap()
}

fn file_name(path: impl AsRef<Path>) -> String {
    path.as_ref()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// `lab ocr --model MODEL DIR`: each image's file name and the text read.
fn read_folder(p: &Project, model: &str, dir: &Path) -> BTreeMap<String, String> {
    p.ok(&["--json", "ocr", "--model", model, dir.to_str().unwrap()])
        .json_lines()
        .iter()
        .map(|l| {
            (
                file_name(l["image"].as_str().unwrap()),
                l["text"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The true text of each val line of the tiny dataset, by file name (`lines/val.jsonl`).
fn val_texts(p: &Project) -> BTreeMap<String, String> {
    fs::read_to_string(p.path("datasets/tt/lines/val.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let r: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                file_name(r["image"].as_str().unwrap()),
                r["text"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn train_distill_lora_eval_resume_and_sweep() {
    let p = project();

    // A teacher: a finished run with its inputs, metrics, checkpoints and model.
    let t1 = p.ok(&["--json", "train", "ocr-teacher"]).json();
    assert_eq!(t1["model"], "ocr_teacher@1", "{t1}");
    let run = t1["run"].as_str().unwrap().to_string();
    let show = p.ok(&["--json", "runs", "show", &run]).json();
    assert_eq!(show["status"], "Finished", "{show}");
    let roles: Vec<&str> = show["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["dataset", "config", "settings"], "{show}");
    for key in [
        "train_loss",
        "lr",
        "samples_per_s",
        "val_loss",
        "val_cer",
        "val_accuracy",
    ] {
        let series = p.ok(&["--json", "metrics", &run, key]).json_lines();
        assert!(!series.is_empty(), "no {key} points");
    }
    let ckpts = p
        .ok(&["--json", "log", "--kind", "artifact", "--run", &run])
        .json_lines();
    assert_eq!(ckpts.len(), 2, "one checkpoint per epoch");
    let b = bundle(&p, t1["model_hash"].as_str().unwrap());
    let files: Vec<&String> = b["files"].as_object().unwrap().keys().collect();
    assert_eq!(files, ["config.json", "model.safetensors", "vocab.json"]);

    // Identical inputs again: the finished run is reused — nothing trained, nothing recorded.
    let n = p.events().len();
    let again = p.ok(&["--json", "train", "ocr-teacher"]).json();
    assert_eq!(
        (
            again["cached"].as_bool(),
            again["run"].as_str(),
            again["model"].as_str()
        ),
        (Some(true), t1["run"].as_str(), Some("ocr_teacher@1")),
        "{again}"
    );
    assert_eq!(again["model_hash"], t1["model_hash"]);
    assert_eq!(p.events().len(), n, "a cached train recorded something");
    p.ok(&["train", "ocr-teacher"])
        .stdout_has(&["cached", "--force trains again"]);
    // The same seed and inputs: the same bytes (--force: train again, not reuse t1's run).
    let t2 = p.ok(&["--json", "train", "ocr-teacher", "--force"]).json();
    assert_eq!(t2["model"], "ocr_teacher@2");
    assert_eq!(
        t1["model_hash"], t2["model_hash"],
        "training is not deterministic"
    );
    // One thread or four: the same bytes (shards, not threads, split the work).
    for threads in ["1", "4"] {
        let t = p.lab_env(
            &[("RAYON_NUM_THREADS", threads)],
            &[
                "--json",
                "train",
                "ocr-teacher",
                "--output",
                "threads",
                "--force",
            ],
        );
        assert!(t.ok(), "{t}");
        assert_eq!(
            t.json()["model_hash"],
            t1["model_hash"],
            "RAYON_NUM_THREADS={threads} changed the model"
        );
    }
    // Another seed: other weights.
    let t3 = p
        .ok(&[
            "--json",
            "train",
            "ocr-teacher",
            "--seed",
            "8",
            "--output",
            "other",
        ])
        .json();
    assert_ne!(t1["model_hash"], t3["model_hash"]);

    // Killed after the first epoch's checkpoint; --resume finishes with the same bytes.
    let killed = p.lab_env(
        &[("LAB_FAULT_KILL_AFTER_EPOCH", "1")],
        &["train", "ocr-teacher", "--force"],
    );
    assert!(!killed.ok(), "{killed}");
    let resumed = p.ok(&["--json", "train", "ocr-teacher", "--resume"]).json();
    assert!(resumed["resumed_from"].is_string(), "{resumed}");
    assert_eq!(
        resumed["model_hash"], t1["model_hash"],
        "resume changed the result"
    );
    let runs = p.ok(&["--json", "runs", "ls"]).json_lines();
    assert!(
        runs.iter().any(|r| r["status"] == "Killed"),
        "the killed run is marked"
    );
    // Nothing left to resume now.
    p.fails(&["train", "ocr-teacher", "--resume"])
        .stderr_has(&["nothing to resume"]);

    // Distillation: a student with the teacher as a recorded input.
    let s = p
        .ok(&["--json", "train", "ocr-distill", "--epochs", "1"])
        .json();
    assert_eq!(s["model"], "ocr_student@1");
    assert!(s["params"].as_u64().unwrap() < t1["params"].as_u64().unwrap());
    let show = p
        .ok(&["--json", "runs", "show", s["run"].as_str().unwrap()])
        .json();
    assert!(
        show["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["role"] == "teacher" && i["name"] == "ocr_teacher@3"),
        "{show}"
    );

    // LoRA: only adapters train; the base's file is untouched; the adapter is saved alone.
    let base = bundle(&p, t1["model_hash"].as_str().unwrap());
    let base_weights = base["files"]["model.safetensors"]
        .as_str()
        .unwrap()
        .to_string();
    let before = p.blob(&base_weights);
    let l = p.ok(&["--json", "train", "ocr-lora", "--merge"]).json();
    assert_eq!(l["model"], "ocr_lora@1", "{l}");
    let frac = l["trainable_fraction"].as_f64().unwrap();
    assert!(frac > 0.0 && frac < 0.2, "{l}");
    assert_eq!(p.blob(&base_weights), before, "the base weights changed");
    let lb = bundle(&p, l["model_hash"].as_str().unwrap());
    assert_eq!(lb["kind"], "ocr-lora");
    assert_eq!(lb["base"], t1["model_hash"]);
    let files: Vec<&String> = lb["files"].as_object().unwrap().keys().collect();
    assert_eq!(files, ["adapter.safetensors", "adapter_config.json"]);
    assert!(l["weights_bytes"].as_u64().unwrap() < p.blob(&base_weights).len() as u64);
    assert_eq!(l["merged"], "ocr_lora_merged@1");
    // The merged model reads exactly like base + adapter.
    let a = p
        .ok(&[
            "--json",
            "eval",
            "ocr_lora",
            "--dataset",
            "tt",
            "--split",
            "val",
        ])
        .json();
    let m = p
        .ok(&[
            "--json",
            "eval",
            "ocr_lora_merged",
            "--dataset",
            "tt",
            "--split",
            "val",
        ])
        .json();
    assert_eq!(
        (&a["lines"], &a["accuracy"], &a["cer"]),
        (&m["lines"], &m["accuracy"], &m["cer"]),
        "{a} {m}"
    );
    // Line by line, not only on average.
    let val = p.path("datasets/tt/lines/val");
    assert_eq!(
        read_folder(&p, "ocr_lora", &val),
        read_folder(&p, "ocr_lora_merged", &val),
        "the merged model reads some line differently from base + adapter"
    );

    // eval records an Evaluated event; compare prints one table; ocr reads files.
    let e = p
        .ok(&[
            "--json",
            "eval",
            "ocr_teacher@1",
            "--dataset",
            "tt",
            "--split",
            "val",
        ])
        .json();
    assert_eq!(e["lines"], 46); // 42 cell lines of the val timetable + 4 text lines
    let evs = p
        .ok(&["--json", "log", "--kind", "evaluated", "--limit", "1"])
        .json_lines();
    assert_eq!(
        evs[0]["body"]["Evaluated"]["model"], "ocr_teacher@1",
        "{:?}",
        evs[0]
    );
    assert!(evs[0]["body"]["Evaluated"]["metrics"]["val.accuracy"].is_number());
    let c = p.ok(&[
        "compare",
        "ocr_teacher@1",
        "ocr_student",
        "tesseract",
        "--dataset",
        "tt",
        "--split",
        "val",
    ]);
    c.stdout_has(&[
        "ocr_teacher@1",
        "ocr_student@1",
        "ACCURACY",
        "CER",
        "P50_MS",
    ]);
    let line = fs::read_dir(p.path("datasets/tt/lines/val"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let o = p
        .ok(&[
            "--json",
            "ocr",
            "--model",
            "ocr_teacher@1",
            line.to_str().unwrap(),
        ])
        .json_lines();
    assert_eq!(o.len(), 1);
    let one = o[0]["text"].as_str().unwrap().to_string();
    // A folder is walked (images in path order); an unreadable image is named, the others
    // read, exit 1.
    let n_val = fs::read_dir(&val).unwrap().count();
    let o = p
        .ok(&[
            "--json",
            "ocr",
            "--model",
            "ocr_teacher@1",
            val.to_str().unwrap(),
        ])
        .json_lines();
    assert_eq!(o.len(), n_val);
    let names: Vec<&str> = o.iter().map(|l| l["image"].as_str().unwrap()).collect();
    assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
    // What ocr reads is what eval scored: scored against the dataset's own texts, the folder's
    // lines give eval's accuracy and CER, and the one file alone reads as it does in the folder.
    let read = read_folder(&p, "ocr_teacher@1", &val);
    assert_eq!(
        read[&file_name(&line)],
        one,
        "one file read alone and in its folder"
    );
    let truth = val_texts(&p);
    let mut score = lab::ml::textmetrics::TextScore::default();
    for (image, text) in &read {
        score.add(text, &truth[image]);
    }
    let ocr_score = score.metrics();
    assert_eq!(
        (ocr_score.lines as u64, ocr_score.accuracy, ocr_score.cer),
        (
            e["lines"].as_u64().unwrap(),
            e["accuracy"].as_f64().unwrap(),
            e["cer"].as_f64().unwrap()
        ),
        "lab ocr and lab eval read the val lines differently: {e}"
    );
    fs::create_dir_all(p.path("mixed")).unwrap();
    fs::copy(&line, p.path("mixed/a.png")).unwrap();
    fs::write(p.path("mixed/b.png"), b"not an image").unwrap();
    let out = p.fails(&["--json", "ocr", "--model", "ocr_teacher@1", "mixed"]);
    out.stderr_has(&[
        "b.png",
        "not a readable image",
        "1 of 2 images could not be read",
    ]);
    assert_eq!(out.json_lines().len(), 1);
    fs::create_dir_all(p.path("empty")).unwrap();
    p.fails(&["ocr", "--model", "ocr_teacher@1", "empty"])
        .stderr_has(&["empty", "no PNG, JPEG"]);

    // A sweep: one run per trial, tagged, the best named.
    let sw = p
        .ok(&[
            "--json",
            "sweep",
            "configs/ocr_teacher.toml",
            "--grid",
            "learning_rate=0.003,0.001",
            "--epochs",
            "1",
        ])
        .json();
    assert_eq!(sw["trials"].as_array().unwrap().len(), 2, "{sw}");
    assert!(sw["best"] == 1 || sw["best"] == 2);
    let trial_run = sw["trials"][0]["run"].as_str().unwrap();
    let show = p.ok(&["--json", "runs", "show", trial_run]).json();
    assert_eq!(show["params"]["sweep"], sw["sweep"]);

    p.ok(&["verify"]);
}

#[test]
fn bad_training_input_is_refused_clearly() {
    let p = Project::with_tiny_dataset();
    // A wrong type and an unknown key: file:line:col.
    fs::write(
        p.path("configs/bad.toml"),
        TINY.replace("epochs = 2", "epochs = \"two\""),
    )
    .unwrap();
    p.fails(&["train", "ocr-teacher", "--config", "configs/bad.toml"])
        .stderr_has(&["bad.toml:", "epochs"]);
    fs::write(
        p.path("configs/bad.toml"),
        TINY.replace("epochs = 2", "epochs = 2\nepoch = 3"),
    )
    .unwrap();
    p.fails(&["train", "ocr-teacher", "--config", "configs/bad.toml"])
        .stderr_has(&["bad.toml:", "unknown field `epoch`"]);
    fs::write(
        p.path("configs/bad.toml"),
        TINY.replace("heads = 2", "heads = 3"),
    )
    .unwrap();
    p.fails(&["train", "ocr-teacher", "--config", "configs/bad.toml"])
        .stderr_has(&["model.hidden", "model.heads"]);
    // An unknown model and an unknown dataset.
    fs::write(p.path("configs/ocr_teacher.toml"), TINY).unwrap();
    p.fails(&[
        "train",
        "ocr-distill",
        "--teacher",
        "nope",
        "--dataset",
        "tt",
    ])
    .stderr_has(&["unknown model `nope`"]);
    p.fails(&["train", "ocr-teacher", "--dataset", "missing"])
        .stderr_has(&["missing"]);
    p.fails(&["eval", "nope", "--dataset", "tt"])
        .stderr_has(&["unknown model `nope`"]);
    // A snapshot without labels.
    p.write_tree("datasets/plain", &[("a.txt", b"hello")]);
    p.ok(&["data", "snapshot", "datasets/plain"]);
    p.fails(&["train", "ocr-teacher", "--dataset", "plain"])
        .stderr_has(&["lines/train.jsonl", "no labels"]);
    // A model whose weights blob was truncated, a non-image file.
    p.ok(&["train", "ocr-teacher", "--epochs", "1"]);
    fs::write(p.path("junk.png"), b"not an image").unwrap();
    p.fails(&["ocr", "--model", "ocr_teacher", "junk.png"])
        .stderr_has(&["junk.png", "not a readable image"]);
    let m = p
        .ok(&[
            "--json",
            "train",
            "ocr-teacher",
            "--epochs",
            "1",
            "--output",
            "t2",
        ])
        .json();
    let b = bundle(&p, m["model_hash"].as_str().unwrap());
    let w = b["files"]["model.safetensors"].as_str().unwrap();
    let bytes = p.blob(w);
    common::overwrite(&p.blob_path(w), &bytes[..bytes.len() / 2]);
    p.fails(&["eval", "t2", "--dataset", "tt", "--split", "val"])
        .stderr_has(&[&w[..12]]);
}
