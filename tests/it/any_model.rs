//! Any model in the registry (issue 17, item 3): a `lab run` of a script logs params (string
//! values), tags and artifacts through `$LAB_METRICS`, records declared environment variables
//! as inputs, and what it wrote registers as a model (opaque files or a Hugging Face layout),
//! with the run as lineage; such a model exports, and deploys behind `[other]` gates judged on
//! its run's metrics.

use crate::common;

use std::fs;

use common::Project;

const SCRIPT: &str = r#"set -e
mkdir -p out
printf 'weights' > out/model.bin
printf 'plot' > loss.png
echo '{"key":"optimizer","value":"adam"}' >> "$LAB_METRICS"
echo '{"param":"layers","value":4}' >> "$LAB_METRICS"
echo '{"tag":"team","value":"ocr"}' >> "$LAB_METRICS"
echo "{\"key\":\"val_accuracy\",\"value\":0.91,\"step\":1}" >> "$LAB_METRICS"
echo "{\"param\":\"lr_seen\",\"value\":\"$LR\"}" >> "$LAB_METRICS"
echo '{"artifact":"out"}' >> "$LAB_METRICS"
echo '{"artifact":"loss.png"}' >> "$LAB_METRICS"
echo '{"artifact":"missing.bin"}' >> "$LAB_METRICS"
"#;

#[test]
fn a_script_logs_params_tags_artifacts_and_env_and_its_files_register_as_a_model() {
    let p = Project::new();
    fs::write(p.path("train.sh"), SCRIPT).unwrap();
    let r = p.lab_env(
        &[("LR", "0.01")],
        &[
            "--json", "run", "--name", "mytrain2", "--env", "LR", "--", "sh", "train.sh",
        ],
    );
    assert!(r.ok(), "{r}");
    r.stderr_has(&["missing.bin", "not captured"]);
    let run = p.ok(&["--json", "runs", "show", "mytrain2"]).json();
    assert_eq!(run["params"]["optimizer"], "adam", "{run}");
    assert_eq!(run["params"]["layers"], "4");
    assert_eq!(run["params"]["lr_seen"], "0.01");
    let env: Vec<&serde_json::Value> = run["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["role"] == "env")
        .collect();
    assert_eq!(env.len(), 1, "{run}");
    assert_eq!(env[0]["name"], "LR");
    // The tag is recorded on the run (what MLflow's client reads through `lab ui`).
    assert!(
        p.events().iter().any(|e| e["kind"] == "run-updated"
            && e["body"]["RunUpdated"]["tags"]["team"] == "ocr"),
        "no tag event"
    );
    p.ok(&["artifacts", "ls", "mytrain2"])
        .stdout_has(&["out", "loss.png"]);
    // An undeclared --env is refused before anything runs.
    p.fails(&["run", "--env", "NOPE_NOT_SET", "--", "true"])
        .stderr_has(&["--env NOPE_NOT_SET", "not set"]);

    // What the run wrote registers as a model, with the run as lineage.
    let v = p
        .ok(&[
            "--json", "models", "register", "mytrain2", "--name", "mymodel",
        ])
        .json();
    assert_eq!(
        (v["name"].as_str(), v["version"].as_u64()),
        (Some("mymodel"), Some(1)),
        "{v}"
    );
    assert!(v["run"].as_str().is_some(), "{v}");
    let ls = p.ok(&["--json", "models", "ls", "mymodel"]).json_lines();
    assert_eq!(ls.len(), 1);
    p.ok(&["models", "export", "mymodel@1", "exported"]);
    assert_eq!(
        fs::read(p.path("exported/out/model.bin")).unwrap(),
        b"weights"
    );
    assert_eq!(fs::read(p.path("exported/loss.png")).unwrap(), b"plot");

    // Deployed behind [other] gates, on the metrics its run recorded.
    fs::write(
        p.path("configs/deploy.toml"),
        "[[other.gate]]\nmetric = \"val_accuracy\"\nop = \">\"\nthreshold = 0.95\n",
    )
    .unwrap();
    let out = p.lab(&["deploy", "mymodel@1"]);
    assert_eq!(out.code, 1, "{out}");
    out.stdout_has(&["val_accuracy", "0.9100", "NOT deployed"]);
    fs::write(
        p.path("configs/deploy.toml"),
        "[[other.gate]]\nmetric = \"val_accuracy\"\nop = \">\"\nthreshold = 0.9\n",
    )
    .unwrap();
    let d = p.ok(&["--json", "deploy", "mymodel@1"]).json();
    assert_eq!(
        (d["deployed"].as_bool(), d["task"].as_str()),
        (Some(true), Some("other")),
        "{d}"
    );
    let st = p.ok(&["--json", "deploy", "status"]).json_lines();
    assert_eq!(
        (st[0]["task"].as_str(), st[0]["model"].as_str()),
        (Some("other"), Some("mymodel"))
    );
    // A gate on a metric the run never recorded is named with what it did record.
    fs::write(
        p.path("configs/deploy.toml"),
        "[[other.gate]]\nmetric = \"auc\"\nop = \">\"\nthreshold = 0.9\n",
    )
    .unwrap();
    p.ok(&["models", "register", "mytrain2", "--name", "mymodel"]);
    p.fails(&["deploy", "mymodel@2"])
        .stderr_has(&["metric `auc`", "val_accuracy"]);
}

#[test]
fn a_hugging_face_directory_registers_with_the_run_that_wrote_it() {
    let p = Project::new();
    let r = p.lab(&[
        "run",
        "--name",
        "hf",
        "--out",
        "hfdir",
        "--",
        "sh",
        "-c",
        "mkdir -p hfdir && printf '{}' > hfdir/config.json && printf 'st' > hfdir/model.safetensors",
    ]);
    assert!(r.ok(), "{r}");
    let v = p
        .ok(&["--json", "models", "register", "hfdir", "--name", "hfm"])
        .json();
    assert_eq!(v["version"], 1, "{v}");
    let run = p.ok(&["--json", "runs", "show", "hf"]).json();
    assert_eq!(
        v["run"], run["id"],
        "the run that wrote the directory is its lineage"
    );
    p.ok(&["models", "show", "hfm@1"]).stdout_has(&["hf"]);
    // A directory no run wrote registers without lineage; an empty one is refused.
    fs::create_dir_all(p.path("mine")).unwrap();
    p.fails(&["models", "register", "mine", "--name", "x"])
        .stderr_has(&["holds no files"]);
    fs::write(p.path("mine/w.bin"), b"w").unwrap();
    let v = p
        .ok(&["--json", "models", "register", "mine", "--name", "x"])
        .json();
    assert!(v["run"].is_null(), "{v}");
    // lab serves only its own families: an opaque model is not something to read lines with.
    p.fails(&["ocr", "--model", "x@1", "mine/w.bin"]);
}

#[test]
fn an_exported_ocr_model_registers_back_as_the_same_ocr_model() {
    let p = Project::with_tiny_dataset();
    let t = p.ok(&["--json", "train", "ocr-teacher"]).json();
    p.ok(&["models", "export", "ocr_teacher@1", "out/ocr"]);
    let v = p
        .ok(&["--json", "models", "register", "out/ocr", "--name", "back"])
        .json();
    assert_eq!(
        v["model"], t["model_hash"],
        "the same files, the same bundle: {v}"
    );
    // It is an OCR model again: it reads lines.
    let line = fs::read_dir(p.path("datasets/tt/lines/train"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    p.ok(&["ocr", "--model", "back@1", line.to_str().unwrap()]);
}
