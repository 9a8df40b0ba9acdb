//! `lab models` and `lab deploy` through the real binary on tiny trained OCR models: versions
//! per registered name, stages (promotion archives the previous production), aliases resolving
//! in `lab eval` and in training, export in the Hugging Face layout, deployment passing and
//! failing its gates, rollback, and bad input refused with the log untouched.

use crate::common;

use std::fs;

use common::Project;
use serde_json::Value;

/// Gates the tiny models pass, measured on a few validation lines.
const EASY_GATES: &str = r#"
max_regression = 1.0

[validation]
dataset = "tt"
split = "val"
limit = 12

[[gate]]
metric = "accuracy"
op = ">="
threshold = 0.0

[[gate]]
metric = "latency"
op = "<"
threshold = 100.0

[[doc.gate]]
metric = "field_f1"
op = ">="
threshold = 0.0
"#;

fn project() -> Project {
    let p = Project::with_tiny_dataset();
    assert!(
        p.path("configs/deploy.toml").is_file(),
        "lab init writes the default gates"
    );
    fs::write(p.path("configs/deploy.toml"), EASY_GATES).unwrap();
    p
}

fn train(p: &Project, seed: &str) -> Value {
    p.ok(&[
        "--json",
        "train",
        "ocr-teacher",
        "--epochs",
        "1",
        "--seed",
        seed,
    ])
    .json()
}

fn versions(p: &Project, name: &str) -> Vec<Value> {
    p.ok(&["--json", "models", "ls", name]).json_lines()
}

fn row(rows: &[Value], version: u64) -> &Value {
    rows.iter()
        .find(|r| r["version"] == version)
        .unwrap_or_else(|| panic!("no version {version} in {rows:?}"))
}

fn kinds(p: &Project) -> Vec<String> {
    p.events()
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn register_promote_alias_resolve_and_export() {
    let p = project();
    let t1 = train(&p, "7");
    let t2 = train(&p, "8");
    assert_eq!(t2["model"], "ocr_teacher@2");
    let trained = versions(&p, "ocr_teacher");
    assert_eq!(
        trained.len(),
        2,
        "training outputs are versions: {trained:?}"
    );
    assert_eq!(trained[0]["source"], "trained");

    // Register: by run id, by NAME@N, by full bundle hash; versions count up per name.
    let run1 = t1["run"].as_str().unwrap();
    let r1 = p
        .ok(&[
            "--json",
            "models",
            "register",
            run1,
            "--name",
            "ocr_prod",
            "--description",
            "first cut",
            "--meta",
            "accuracy=0.95",
        ])
        .json();
    assert_eq!(
        (r1["name"].as_str(), r1["version"].as_u64()),
        (Some("ocr_prod"), Some(1))
    );
    assert_eq!(r1["model"], t1["model_hash"]);
    assert_eq!(r1["run"], run1);
    assert_eq!(r1["meta"]["accuracy"], "0.95");
    let r2 = p
        .ok(&[
            "--json",
            "models",
            "register",
            "ocr_teacher@2",
            "--name",
            "ocr_prod",
        ])
        .json();
    assert_eq!(r2["version"], 2);
    assert_eq!(r2["model"], t2["model_hash"]);
    let h2 = t2["model_hash"].as_str().unwrap();
    let r3 = p
        .ok(&["--json", "models", "register", h2, "--name", "ocr_prod"])
        .json();
    assert_eq!(r3["version"], 3);
    assert_eq!(r3["run"], t2["run"], "a known bundle keeps its run");
    assert_eq!(versions(&p, "ocr_prod").len(), 3);

    // Promote: the previous production version is archived.
    p.ok(&["models", "promote", "ocr_prod", "1", "--to", "production"]);
    let o = p
        .ok(&[
            "--json",
            "models",
            "promote",
            "ocr_prod",
            "2",
            "--to",
            "Production",
        ])
        .json();
    assert_eq!(o["archived"], serde_json::json!([1]));
    p.ok(&["models", "promote", "ocr_prod", "3", "--to", "staging"]);
    let v = versions(&p, "ocr_prod");
    assert_eq!(row(&v, 1)["stage"], "archived");
    assert_eq!(row(&v, 2)["stage"], "production");
    assert_eq!(row(&v, 3)["stage"], "staging");

    // Aliases move.
    p.ok(&["models", "alias", "ocr_prod", "3", "champion"]);
    let o = p
        .ok(&["--json", "models", "alias", "ocr_prod", "1", "champion"])
        .json();
    assert_eq!(o["moved_from"], 3);
    let v = versions(&p, "ocr_prod");
    assert_eq!(row(&v, 1)["aliases"], serde_json::json!(["champion"]));
    assert_eq!(row(&v, 3)["aliases"], serde_json::json!([]));

    // NAME@alias, NAME@stage resolve in lab eval.
    let on = ["--dataset", "tt", "--split", "val", "--limit", "8"];
    let e = p
        .ok(&[&["--json", "eval", "ocr_prod@champion"][..], &on[..]].concat())
        .json();
    assert_eq!(e["model"], "ocr_prod@1");
    assert_eq!(e["model_hash"], t1["model_hash"]);
    let e = p
        .ok(&[&["--json", "eval", "ocr_prod@production"][..], &on[..]].concat())
        .json();
    assert_eq!(e["model"], "ocr_prod@2");
    let e = p
        .ok(&[&["--json", "eval", "ocr_prod@staging"][..], &on[..]].concat())
        .json();
    assert_eq!(e["model"], "ocr_prod@3");

    // …and in training: a LoRA on ocr_prod@production.
    let lora = common::TINY_OCR
        .split("[train]")
        .nth(1)
        .unwrap()
        .replace("output = \"ocr_teacher\"", "output = \"ocr_lora\"")
        .replace("epochs = 2", "epochs = 1");
    fs::write(
        p.path("configs/ocr_lora.toml"),
        format!("[train]{lora}\n[lora]\nbase = \"ocr_prod@production\"\nrank = 2\nalpha = 4.0\ntarget_modules = [\"query\", \"value\"]\n"),
    )
    .unwrap();
    let l = p.ok(&["--json", "train", "ocr-lora"]).json();
    assert_eq!(l["model"], "ocr_lora@1");

    // Show: run, dataset, metrics, evaluations of the bundle, lineage with versions.
    let s = p.ok(&["--json", "models", "show", "ocr_lora@1"]).json();
    assert_eq!(s["parents"][0]["role"], "base", "{s}");
    assert_eq!(s["parents"][0]["name"], "ocr_prod@2", "{s}");
    let pv: Vec<&str> = s["parents"][0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(
        pv.contains(&"ocr_teacher@2") && pv.contains(&"ocr_prod@3"),
        "{pv:?}"
    );
    assert_eq!(s["datasets"][0]["name"], "tt@1", "{s}");
    let s = p
        .ok(&["--json", "models", "show", "ocr_prod@champion"])
        .json();
    assert_eq!(s["version"], 1);
    assert!(s["run_metrics"]["val_accuracy"].is_number(), "{s}");
    assert!(
        s["evaluations"][0]["metrics"]["val.accuracy"].is_number(),
        "{s}"
    );
    assert_eq!(s["evaluations"][0]["dataset"], "tt@1");
    p.ok(&["models", "show", "ocr_prod@1"]).stdout_has(&[
        "ocr_prod@1",
        "archived",
        "champion",
        "first cut",
    ]);

    // Export: the Hugging Face layout, byte for byte; a LoRA carries its base.
    let out = p.path("export/ocr");
    let x = p
        .ok(&[
            "--json",
            "models",
            "export",
            "ocr_prod@champion",
            "export/ocr",
        ])
        .json();
    assert_eq!(x["model"], "ocr_prod@1");
    let bundle: Value =
        serde_json::from_slice(&p.blob(t1["model_hash"].as_str().unwrap())).unwrap();
    let mut names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".lab-export")
        .collect();
    names.sort();
    assert_eq!(names, ["config.json", "model.safetensors", "vocab.json"]);
    assert!(
        out.join(".lab-export").is_file(),
        "an export carries its marker"
    );
    for n in &names {
        let h = bundle["files"][n].as_str().unwrap();
        assert_eq!(fs::read(out.join(n)).unwrap(), p.blob(h), "{n}");
    }
    p.fails(&["models", "export", "ocr_prod@1", "export/ocr"])
        .stderr_has(&["not empty", "--force"]);
    p.ok(&["models", "export", "ocr_prod@2", "export/ocr", "--force"]);
    p.ok(&["models", "export", "ocr_lora", "export/lora"]);
    for f in [
        "adapter_config.json",
        "adapter.safetensors",
        "base/config.json",
        "base/model.safetensors",
        "base/vocab.json",
    ] {
        assert!(p.path("export/lora").join(f).is_file(), "export lacks {f}");
    }
    assert!(!p.path("export/lora/config.json").exists());

    // The registry is a view of the log: rebuilt, it reads the same.
    let before = p.ok(&["--json", "models", "ls"]).stdout;
    p.ok(&["reindex"]);
    assert_eq!(before, p.ok(&["--json", "models", "ls"]).stdout);

    // Training numbers after registered versions: never a version twice.
    p.ok(&[
        "models",
        "register",
        "ocr_teacher@1",
        "--name",
        "ocr_teacher",
    ]);
    let t4 = train(&p, "9");
    assert_eq!(t4["model"], "ocr_teacher@4");
}

#[test]
fn deploy_behind_gates_then_history_and_rollback() {
    let p = project();
    train(&p, "7");
    train(&p, "8");

    // Gates pass: requested, evaluated, validated, deployed.
    let before = p.events().len();
    let d = p
        .ok(&["--json", "deploy", "ocr_teacher@1", "--env", "production"])
        .json();
    assert_eq!(d["deployed"], true, "{d}");
    assert_eq!(
        d["gates"].as_array().unwrap().len(),
        2,
        "no baseline yet: {d}"
    );
    let k = kinds(&p)[before..].to_vec();
    assert_eq!(
        k,
        [
            "deployment-requested",
            "evaluated",
            "deployment-validated",
            "deployed",
            "model-promoted"
        ]
    );
    // A bare name where a model is used is the deployed version, not the newest, and says so.
    let line = std::fs::read_dir(p.path("datasets/tt/lines/val"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    p.ok(&["ocr", "--model", "ocr_teacher", line.to_str().unwrap()])
        .stderr_has(&["ocr_teacher@1 (deployed to production)"]);
    // Again: already there, nothing recorded.
    let n = p.events().len();
    p.ok(&["deploy", "ocr_teacher@1"])
        .stdout_has(&["already deployed"]);
    assert_eq!(p.events().len(), n);

    // The second version passes, with the regression gate against the first.
    let d = p.ok(&["--json", "deploy", "ocr_teacher@2"]).json();
    assert_eq!(d["deployed"], true, "{d}");
    assert_eq!(d["baseline"], "ocr_teacher@1");
    assert_eq!(d["gates"][2]["name"], "max_regression");
    let st = p.ok(&["--json", "deploy", "status"]).json_lines();
    assert_eq!(st.len(), 1);
    assert_eq!(
        (
            st[0]["env"].as_str(),
            st[0]["model"].as_str(),
            st[0]["version"].as_u64()
        ),
        (Some("production"), Some("ocr_teacher"), Some(2))
    );
    assert_eq!(st[0]["previous"], serde_json::json!([1]));

    // Gates fail: exit 1, a table, the results recorded, nothing deployed.
    fs::write(
        p.path("configs/strict.toml"),
        "[validation]\ndataset = \"tt\"\nlimit = 8\n\n[[gate]]\nmetric = \"accuracy\"\nop = \">\"\nthreshold = 2.0\n\n[[gate]]\nmetric = \"cer\"\nop = \"<=\"\nthreshold = 100.0\n",
    )
    .unwrap();
    p.ok(&[
        "models",
        "register",
        "ocr_teacher@1",
        "--name",
        "ocr_teacher",
    ]);
    let before = p.events().len();
    let out = p.lab(&[
        "deploy",
        "ocr_teacher@3",
        "--env",
        "staging",
        "--config",
        "configs/strict.toml",
    ]);
    assert_eq!(out.code, 1, "{out}");
    out.stdout_has(&["GATE", "accuracy", "2.0000", "NO", "NOT deployed"]);
    out.stderr_has(&["not deployed"]);
    let ev = p.events();
    let new = &ev[before..];
    let validated = new
        .iter()
        .find(|e| e["kind"] == "deployment-validated")
        .expect("the gates' results are recorded");
    let body = &validated["body"]["DeploymentValidated"];
    assert_eq!(body["passed"], false, "{validated}");
    assert_eq!(body["gates"][0]["passed"], false);
    assert_eq!(body["gates"][1]["passed"], true);
    assert!(!new.iter().any(|e| e["kind"] == "deployed"));
    assert!(
        p.ok(&["--json", "deploy", "status", "--env", "staging"])
            .json_lines()
            .is_empty()
    );

    // Rollback: back to version 1, then nothing earlier.
    let r = p
        .ok(&["--json", "deploy", "rollback", "--env", "production"])
        .json();
    assert_eq!(
        (r["from_version"].as_u64(), r["to_version"].as_u64()),
        (Some(2), Some(1))
    );
    let st = p.ok(&["--json", "deploy", "status"]).json_lines();
    assert_eq!(st[0]["version"], 1);
    p.fails(&["deploy", "rollback", "--env", "production"])
        .stderr_has(&["ocr_teacher@1", "no earlier"]);
    p.fails(&["deploy", "rollback", "--env", "staging"])
        .stderr_has(&["nothing is deployed in staging"]);

    let h = p.ok(&["--json", "deploy", "history"]).json_lines();
    let ev: Vec<&str> = h.iter().map(|x| x["event"].as_str().unwrap()).collect();
    assert_eq!(ev[0], "rolled-back", "{ev:?}");
    assert!(
        ev.contains(&"refused") && ev.contains(&"deployed"),
        "{ev:?}"
    );
    p.ok(&["deploy", "history", "--env", "production"])
        .stdout_has(&["rolled-back", "ocr_teacher@1"]);

    // The deployments view is rebuilt from the log to the same state.
    let before = p.ok(&["--json", "deploy", "status"]).stdout;
    p.ok(&["reindex"]);
    assert_eq!(before, p.ok(&["--json", "deploy", "status"]).stdout);
}

#[test]
fn bad_input_is_refused_clearly_with_the_log_untouched() {
    let p = project();
    p.fails(&["models", "show", "nope@1"])
        .stderr_has(&["unknown model `nope@1`"]);
    p.fails(&["deploy", "nope@1"])
        .stderr_has(&["cannot deploy `nope@1`"]);
    p.fails(&["deploy", "rollback"])
        .stderr_has(&["nothing is deployed in production"]);
    train(&p, "7");
    p.fails(&["models", "show", "ocr_teacher@9"])
        .stderr_has(&["ocr_teacher@9 does not exist", "1..=1"]);
    p.fails(&["eval", "ocr_teacher@production", "--dataset", "tt"])
        .stderr_has(&["no version in stage production", "lab models promote"]);
    p.fails(&["eval", "ocr_teacher@champ", "--dataset", "tt"])
        .stderr_has(&["no version, stage or alias `champ`"]);
    p.fails(&["models", "promote", "ocr_teacher", "1", "--to", "prod"])
        .stderr_has(&["unknown stage `prod`", "production"]);
    p.fails(&["models", "promote", "ocr_teacher", "7", "--to", "staging"])
        .stderr_has(&["ocr_teacher@7 does not exist"]);
    p.fails(&["models", "promote", "nope", "1", "--to", "staging"])
        .stderr_has(&["unknown model `nope@1`"]);
    p.fails(&["models", "alias", "ocr_teacher", "1", "production"])
        .stderr_has(&["collides"]);
    p.fails(&["models", "alias", "ocr_teacher", "1", "latest"])
        .stderr_has(&["collides"]);
    p.fails(&["models", "alias", "ocr_teacher", "1", "42"])
        .stderr_has(&["version number"]);
    p.fails(&["models", "alias", "ocr_teacher", "3", "champion"])
        .stderr_has(&["ocr_teacher@3 does not exist"]);
    p.fails(&["models", "register", "nope", "--name", "x"])
        .stderr_has(&["`nope`", "neither a run"]);
    p.fails(&["models", "register", "ocr_teacher@1", "--name", "a@b"])
        .stderr_has(&["bad model name `a@b`"]);
    p.fails(&["models", "ls", "nope"])
        .stderr_has(&["unknown model `nope`"]);
    p.fails(&["deploy", "ocr_teacher@4"])
        .stderr_has(&["ocr_teacher@4 does not exist"]);
    p.fails(&["deploy", "ocr_teacher@1", "--env", "prod uction"])
        .stderr_has(&["bad environment"]);

    // The gates file: a wrong type, an unknown key, an unknown operator, a metric not measured,
    // no gate at all (issue 18: an empty file deployed a failing model), only a regression
    // gate with nothing to compare with.
    for (text, want) in [
        ("", &["deploy.toml:1:", "no gate"][..]),
        (
            "max_regression = 0.1\n",
            &[
                "only max_regression",
                "ocr_teacher@1 would go out unchecked",
            ][..],
        ),
        (
            "[validation]\nsplit = 3\n",
            &["deploy.toml:2:", "split"][..],
        ),
        (
            "max_regresion = 0.1\n",
            &["deploy.toml:1:", "max_regresion"][..],
        ),
        (
            "[[gate]]\nmetric = \"accuracy\"\nop = \"=>\"\nthreshold = 0.9\n",
            &["deploy.toml:3:", "=>"][..],
        ),
        (
            "[[gate]]\nmetric = \"accuracy\"\nop = \">\"\nthreshold = \"high\"\n",
            &["deploy.toml:4:", "threshold"][..],
        ),
        (
            "[[gate]]\nmetric = \"acuracy\"\nop = \">\"\nthreshold = 0.9\n",
            &["metric `acuracy`", "accuracy"][..],
        ),
    ] {
        fs::write(p.path("configs/deploy.toml"), text).unwrap();
        p.fails(&["deploy", "ocr_teacher@1"]).stderr_has(want);
    }
    fs::write(
        p.path("configs/deploy.toml"),
        EASY_GATES.replace("\"tt\"", "\"nope\""),
    )
    .unwrap();
    p.fails(&["deploy", "ocr_teacher@1"])
        .stderr_has(&["validation snapshot", "nope"]);
}

#[test]
fn document_models_deploy_export_and_resolve_by_alias_in_extract() {
    let p = project();
    fs::write(p.path("configs/doc_base.toml"), common::TINY_DOC).unwrap();
    p.ok(&["train", "doc-base"]);
    p.ok(&["models", "alias", "doc_base", "1", "champion"]);

    // Gated by the document evaluation: accuracy is exact records, latency seconds per cell.
    let d = p.ok(&["--json", "deploy", "doc_base@champion"]).json();
    assert_eq!(d["deployed"], true, "{d}");
    assert_eq!(d["model"], "doc_base");
    assert!(d["metrics"]["field_f1"].is_number(), "{d}");
    assert!(d["metrics"]["subject.f1"].is_number(), "{d}");
    // An OCR-only metric is refused for a document model before anything is recorded.
    fs::write(
        p.path("configs/cer.toml"),
        "[[doc.gate]]\nmetric = \"cer\"\nop = \"<\"\nthreshold = 0.5\n",
    )
    .unwrap();
    p.fails(&[
        "deploy",
        "doc_base@1",
        "--env",
        "staging",
        "--config",
        "configs/cer.toml",
    ])
    .stderr_has(&["metric `cer`", "document", "field_f1"]);

    p.ok(&["models", "export", "doc_base@champion", "export/doc"]);
    let mut names: Vec<String> = fs::read_dir(p.path("export/doc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".lab-export")
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["config.json", "model.safetensors", "tokenizer.json"]
    );

    // `lab extract --model doc_base@champion` names the aliased version.
    train(&p, "7");
    let image = fs::read_dir(p.path("datasets/tt/images"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| f.extension().is_some_and(|x| x != "json"))
        .unwrap();
    let x = p.lab(&[
        "--json",
        "extract",
        image.to_str().unwrap(),
        "--ocr",
        "ocr_teacher@latest",
        "--model",
        "doc_base@champion",
    ]);
    assert_eq!(x.json()["models"], "ocr_teacher@1 + doc_base@1", "{x}");
}
