//! `lab ui` through the real binary: the MLflow REST API (experiments, runs, metrics with NaN,
//! params, tags, batches, history, search with filters / order / page tokens, MLflow's error
//! JSON), the `mlflow-artifacts` proxy (with MLflow's path-traversal CVE payloads refused), the
//! model registry (versions, stages, aliases, download URI), the web pages, the token — each
//! checked again through `lab runs` / `lab metrics` / `lab models` / `lab verify`. The last test
//! drives the official `mlflow` Python client (skipped loudly when it is not installed).

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

use common::Project;
use serde_json::{Value, json};

/// A running `lab ui`, killed when dropped.
pub(crate) struct Ui {
    child: Child,
    pub(crate) addr: String,
}

impl Ui {
    #[allow(clippy::zombie_processes)]
    pub(crate) fn start(p: &Project, args: &[&str]) -> Ui {
        let mut child = common::lab_cmd(&p.root)
            .args(["ui", "--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            let n = out.read_line(&mut line).unwrap();
            assert!(n > 0, "lab ui exited before printing its address");
            if let Some(a) = line.trim().strip_prefix("lab ui: listening on http://") {
                return Ui {
                    child,
                    addr: a.to_string(),
                };
            }
        }
    }

    fn req(&self, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
        let (st, _, b) = http(&self.addr, method, path, &[], body);
        (
            st,
            serde_json::from_slice(&b).unwrap_or(Value::String(String::from_utf8_lossy(&b).into())),
        )
    }

    /// A call that must answer 200; its JSON.
    #[track_caller]
    pub(crate) fn ok(&self, method: &str, endpoint: &str, body: Value) -> Value {
        let (st, v) = self.req(
            method,
            &format!("/api/2.0/mlflow/{endpoint}"),
            body.to_string().as_bytes(),
        );
        assert_eq!(st, 200, "{endpoint} {body}: {v}");
        v
    }

    /// A call that must fail with `code`; its message.
    #[track_caller]
    fn err(&self, method: &str, endpoint: &str, body: &[u8], status: u16, code: &str) -> String {
        let (st, v) = self.req(method, &format!("/api/2.0/mlflow/{endpoint}"), body);
        assert_eq!(
            (st, v["error_code"].as_str()),
            (status, Some(code)),
            "{endpoint}: {v}"
        );
        v["message"].as_str().unwrap().to_string()
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 client: (status, head, body).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, raw[split + 4..].to_vec())
}

pub(crate) fn run_id(v: &Value) -> String {
    v["run"]["info"]["run_id"].as_str().unwrap().to_string()
}

#[test]
fn ui_tracking_api_errors_and_search() {
    let p = Project::new();
    let ui = Ui::start(&p, &[]);
    let exp = ui.ok("POST", "experiments/create", json!({"name": "timetable"}))["experiment_id"]
        .as_str()
        .unwrap()
        .to_string();
    ui.err(
        "POST",
        "experiments/create",
        br#"{"name": "timetable"}"#,
        400,
        "RESOURCE_ALREADY_EXISTS",
    );
    ui.err(
        "GET",
        "experiments/get?experiment_id=999",
        b"",
        404,
        "RESOURCE_DOES_NOT_EXIST",
    );
    let got = ui.ok(
        "GET",
        "experiments/get-by-name?experiment_name=timetable",
        json!({}),
    );
    assert_eq!(got["experiment"]["experiment_id"], exp);

    // Three runs with params, metrics by step (one NaN), tags.
    let mut ids = Vec::new();
    for (name, lr, loss) in [("a", "0.01", 0.5), ("b", "0.01", 0.2), ("c", "0.1", 0.9)] {
        let r = ui.ok(
            "POST",
            "runs/create",
            json!({"experiment_id": exp, "run_name": name, "start_time": 1000 + ids.len() as i64, "tags": [{"key": "team", "value": format!("{name}-x")}]}),
        );
        let id = run_id(&r);
        ui.ok(
            "POST",
            "runs/log-parameter",
            json!({"run_id": id, "key": "lr", "value": lr}),
        );
        for step in 0..3 {
            ui.ok(
                "POST",
                "runs/log-metric",
                json!({"run_id": id, "key": "loss", "value": loss + (2 - step) as f64, "timestamp": 5, "step": step}),
            );
        }
        ui.ok(
            "POST",
            "runs/log-batch",
            json!({"run_id": id, "metrics": [{"key": "odd", "value": "NaN", "timestamp": "7", "step": "0"}], "params": [{"key": "bs", "value": "8"}], "tags": [{"key": "t", "value": "v"}]}),
        );
        ids.push(id);
    }
    // MLflow's errors: a changed param, a bad type, malformed JSON, unknown run, a bad filter.
    let m = ui.err(
        "POST",
        "runs/log-parameter",
        json!({"run_id": ids[0], "key": "lr", "value": "0.5"})
            .to_string()
            .as_bytes(),
        400,
        "INVALID_PARAMETER_VALUE",
    );
    assert!(m.contains("Changing param values is not allowed"), "{m}");
    let m = ui.err(
        "POST",
        "runs/log-parameter",
        br#"{"run_id": 31, "key": "k", "value": "v"}"#,
        400,
        "INVALID_PARAMETER_VALUE",
    );
    assert!(
        m.contains("Invalid value 31 for parameter 'run_id' supplied"),
        "{m}"
    );
    ui.err("POST", "runs/log-metric", b"{not json", 400, "BAD_REQUEST");
    ui.err(
        "POST",
        "runs/log-metric",
        br#"{"run_id": "nope", "key": "k", "value": 1, "timestamp": 1}"#,
        404,
        "RESOURCE_DOES_NOT_EXIST",
    );
    let m = ui.err(
        "POST",
        "runs/log-batch",
        json!({"run_id": ids[0], "metrics": [{"key": "mae", "value": 2.5}]})
            .to_string()
            .as_bytes(),
        400,
        "INVALID_PARAMETER_VALUE",
    );
    assert!(m.contains("'metrics[0].timestamp'"), "{m}");
    let m = ui.err(
        "POST",
        "runs/search",
        json!({"experiment_ids": [exp], "filter": "metrics.loss > 'x'"})
            .to_string()
            .as_bytes(),
        400,
        "INVALID_PARAMETER_VALUE",
    );
    assert!(m.contains("Invalid filter"), "{m}");

    // NaN read back exactly; history in order.
    let h = ui.ok(
        "GET",
        &format!("metrics/get-history?run_id={}&metric_key=odd", ids[0]),
        json!({}),
    );
    assert_eq!(h["metrics"][0]["value"], "NaN");
    let h = ui.ok(
        "GET",
        &format!("metrics/get-history?run_id={}&metric_key=loss", ids[1]),
        json!({}),
    );
    let steps: Vec<i64> = h["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["step"].as_i64().unwrap())
        .collect();
    assert_eq!(steps, [0, 1, 2]);
    assert_eq!(h["metrics"][2]["value"], 0.2);

    // Search: the issue's filter shape, order, page tokens.
    let s = ui.ok(
        "POST",
        "runs/search",
        json!({"experiment_ids": [exp], "filter": "metrics.loss < 0.8 and params.lr = '0.01' and tags.team LIKE '%-x' and attributes.status = 'RUNNING'", "order_by": ["metrics.loss ASC"]}),
    );
    let names: Vec<&str> = s["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["info"]["run_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b", "a"]);
    let page1 = ui.ok(
        "POST",
        "runs/search",
        json!({"experiment_ids": [exp], "max_results": 2}),
    );
    assert_eq!(page1["runs"].as_array().unwrap().len(), 2);
    let tok = page1["next_page_token"].as_str().unwrap();
    let page2 = ui.ok(
        "POST",
        "runs/search",
        json!({"experiment_ids": [exp], "max_results": 2, "page_token": tok}),
    );
    assert_eq!(page2["runs"].as_array().unwrap().len(), 1);
    assert!(page2.get("next_page_token").is_none());
    // Default order: newest start first.
    assert_eq!(page1["runs"][0]["info"]["run_name"], "c");

    // Finish one, delete another: logging to a deleted run is MLflow's error.
    ui.ok(
        "POST",
        "runs/update",
        json!({"run_id": ids[1], "status": "FINISHED", "end_time": 2000}),
    );
    ui.ok("POST", "runs/delete", json!({"run_id": ids[2]}));
    let m = ui.err(
        "POST",
        "runs/log-metric",
        json!({"run_id": ids[2], "key": "k", "value": 1, "timestamp": 1})
            .to_string()
            .as_bytes(),
        400,
        "INVALID_PARAMETER_VALUE",
    );
    assert!(m.contains("must be in the 'active' state"), "{m}");
    let active = ui.ok("POST", "runs/search", json!({"experiment_ids": [exp]}));
    assert_eq!(active["runs"].as_array().unwrap().len(), 2);
    // The server kept answering through every error.
    let (st, _) = ui.req("GET", "/health", b"");
    assert_eq!(st, 200);

    // The same facts through the CLI.
    let runs = p.ok(&["--json", "runs", "ls"]).json_lines();
    let b = runs
        .iter()
        .find(|r| r["id"] == ids[1].as_str())
        .expect("run b listed");
    assert_eq!(
        (b["name"].as_str(), b["status"].as_str()),
        (Some("b"), Some("Finished")),
        "{b}"
    );
    assert_eq!(b["params"]["lr"], "0.01");
    assert_eq!(b["experiment"], "timetable");
    let out = p.ok(&["metrics", &ids[1], "loss"]);
    assert!(out.stdout.contains("0.2"), "{out}");
    p.ok(&["verify"]);
}

#[test]
fn ui_artifacts_registry_pages_and_token() {
    let p = Project::new();
    let ui = Ui::start(&p, &[]);
    let r = ui.ok(
        "POST",
        "runs/create",
        json!({"experiment_id": "0", "run_name": "m"}),
    );
    let id = run_id(&r);
    let uri = r["run"]["info"]["artifact_uri"]
        .as_str()
        .unwrap()
        .to_string();
    let root = uri.strip_prefix("mlflow-artifacts:/").unwrap().to_string();
    let art = |rel: &str| format!("/api/2.0/mlflow-artifacts/artifacts/{root}/{rel}");
    for (rel, body) in [
        (
            "model/model.safetensors",
            &b"\x08\0\0\0\0\0\0\0{}      "[..],
        ),
        ("model/MLmodel", b"flavors: {}\n"),
        ("notes.txt", b"hello"),
    ] {
        let (st, v) = ui.req("PUT", &art(rel), body);
        assert_eq!(st, 200, "{v}");
    }
    let (st, v) = ui.req(
        "GET",
        &format!("/api/2.0/mlflow-artifacts/artifacts?path={root}/model"),
        b"",
    );
    assert_eq!(st, 200);
    let names: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["MLmodel", "model.safetensors"]);
    let (st, head, body) = http(&ui.addr, "GET", &art("notes.txt"), &[], b"");
    assert_eq!((st, body.as_slice()), (200, &b"hello"[..]));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-disposition: attachment"),
        "{head}"
    );

    // MLflow's path-traversal history: every payload refused, nothing written.
    let before = p.log_json();
    for bad in [
        format!("{root}/../../../etc/passwd"),
        format!("{root}/%2e%2e/%2e%2e/x"),
        format!("{root}/%252e%252e%252fx"),
        "%2Fetc%2Fpasswd".to_string(),
        format!("{root}/a%23/../../b"),
        format!("{root}/..%5c..%5cx"),
    ] {
        for m in ["PUT", "GET", "DELETE"] {
            let (st, v) = ui.req(
                m,
                &format!("/api/2.0/mlflow-artifacts/artifacts/{bad}"),
                b"x",
            );
            assert!(st == 400 || st == 404, "{m} {bad}: {st} {v}");
        }
    }
    for q in [
        "path=../x",
        "path=%2e%2e/x",
        "path=/etc",
        "path=file:///etc/passwd",
    ] {
        let (st, _) = ui.req(
            "GET",
            &format!("/api/2.0/mlflow-artifacts/artifacts?{q}"),
            b"",
        );
        assert_eq!(st, 400, "{q}");
        let (st, _) = ui.req("GET", &format!("/get-artifact?run_id={id}&{q}"), b"");
        assert_eq!(st, 400, "{q}");
    }
    let m = ui.err(
        "POST",
        "model-versions/create",
        br#"{"name": "x", "source": "file:///etc"}"#,
        404,
        "RESOURCE_DOES_NOT_EXIST",
    );
    assert!(m.contains("Registered Model"), "{m}");
    assert_eq!(before, p.log_json(), "a refused payload changed the log");

    // The registry: a version from runs:/, stage, alias, download URI.
    ui.ok(
        "POST",
        "registered-models/create",
        json!({"name": "ocr_model"}),
    );
    ui.err(
        "POST",
        "registered-models/create",
        br#"{"name": "ocr_model"}"#,
        400,
        "RESOURCE_ALREADY_EXISTS",
    );
    ui.err(
        "POST",
        "model-versions/create",
        br#"{"name": "ocr_model", "source": "file:///etc/passwd"}"#,
        400,
        "INVALID_PARAMETER_VALUE",
    );
    let v = ui.ok(
        "POST",
        "model-versions/create",
        json!({"name": "ocr_model", "source": format!("runs:/{id}/model"), "run_id": id}),
    );
    assert_eq!(v["model_version"]["version"], "1");
    ui.ok(
        "POST",
        "model-versions/transition-stage",
        json!({"name": "ocr_model", "version": "1", "stage": "Production"}),
    );
    ui.ok(
        "POST",
        "registered-models/alias",
        json!({"name": "ocr_model", "alias": "champion", "version": "1"}),
    );
    ui.err(
        "POST",
        "registered-models/alias",
        br#"{"name": "ocr_model", "alias": "v1", "version": "1"}"#,
        400,
        "INVALID_PARAMETER_VALUE",
    );
    let a = ui.ok(
        "GET",
        "registered-models/alias?name=ocr_model&alias=champion",
        json!({}),
    );
    assert_eq!(a["model_version"]["current_stage"], "Production");
    assert_eq!(a["model_version"]["aliases"], json!(["champion"]));
    let d = ui.ok(
        "GET",
        "model-versions/get-download-uri?name=ocr_model&version=1",
        json!({}),
    );
    assert_eq!(d["artifact_uri"], format!("{uri}/model"));
    let l = ui.ok(
        "POST",
        "registered-models/get-latest-versions",
        json!({"name": "ocr_model", "stages": ["Production"]}),
    );
    assert_eq!(l["model_versions"][0]["version"], "1");
    ui.err(
        "GET",
        "model-versions/get?name=ocr_model&version=9",
        b"",
        404,
        "RESOURCE_DOES_NOT_EXIST",
    );

    // lab's registry has it: stage, alias, and a bundle naming the two model files.
    let models = p.ok(&["--json", "models", "ls"]).json_lines();
    let m = &models[0];
    assert_eq!(
        (
            m["name"].as_str(),
            m["version"].as_u64(),
            m["stage"].as_str()
        ),
        (Some("ocr_model"), Some(1), Some("production")),
        "{m}"
    );
    assert_eq!(m["aliases"], json!(["champion"]));
    let bundle: Value = serde_json::from_slice(&p.blob(m["model"].as_str().unwrap())).unwrap();
    assert_eq!(bundle["files"].as_object().unwrap().len(), 2, "{bundle}");

    // Delete an artifact.
    let (st, _) = ui.req("DELETE", &art("notes.txt"), b"");
    assert_eq!(st, 200);
    let (st, _) = ui.req("GET", &art("notes.txt"), b"");
    assert_eq!(st, 404);

    // The pages.
    for (path, marker) in [
        ("/".to_string(), "id=\"runs\""),
        (format!("/runs/{id}"), "id=\"artifacts\""),
        (
            format!("/runs/{id}?path=model/MLmodel"),
            "id=\"artifact-view\"",
        ),
        ("/models".to_string(), "ocr_model"),
        (
            "/?filter=metrics.x%20%3E%20'a'".to_string(),
            "id=\"filter-error\"",
        ),
    ] {
        let (st, _, body) = http(&ui.addr, "GET", &path, &[], b"");
        let body = String::from_utf8_lossy(&body);
        assert_eq!(st, 200, "{path}");
        assert!(body.contains(marker), "{path} lacks {marker}");
    }
    p.ok(&["verify"]);
    drop(ui);

    // The token: needed off loopback; asked for on every API call when given.
    let out = p.lab(&["ui", "--addr", "0.0.0.0:0"]);
    assert!(!out.ok() && out.stderr.contains("--token"), "{out}");
    let ui = Ui::start(&p, &["--token", "s3cret"]);
    let (st, v) = ui.req("GET", "/api/2.0/mlflow/experiments/search", b"");
    assert_eq!(
        (st, v["error_code"].as_str()),
        (401, Some("UNAUTHENTICATED")),
        "{v}"
    );
    let (st, _, _) = http(
        &ui.addr,
        "GET",
        "/api/2.0/mlflow/experiments/search",
        &[("Authorization", "Bearer s3cret")],
        b"",
    );
    assert_eq!(st, 200);
    let (st, _, _) = http(&ui.addr, "GET", "/", &[("Cookie", "lab_token=s3cret")], b"");
    assert_eq!(st, 200);
}

/// The Python with the official `mlflow` client: $LAB_MLFLOW_PYTHON, else the venv `.ci/run`
/// makes, else the benchmarks' venv.
fn mlflow_python() -> Option<String> {
    let mut c: Vec<String> = Vec::new();
    if let Ok(p) = std::env::var("LAB_MLFLOW_PYTHON") {
        c.push(p);
    }
    if let Ok(h) = std::env::var("HOME") {
        c.push(format!("{h}/.cache/lab-ci/mlflow-venv/bin/python"));
    }
    c.push("/tmp/mlflowvenv/bin/python".into());
    c.into_iter().find(|py| {
        std::process::Command::new(py)
            .args(["-c", "import mlflow"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

#[test]
fn ui_official_mlflow_client() {
    let Some(py) = mlflow_python() else {
        eprintln!(
            "\n*** SKIPPED ui_official_mlflow_client: no Python with the `mlflow` package \
             (set LAB_MLFLOW_PYTHON, or run .ci/run, which makes ~/.cache/lab-ci/mlflow-venv) ***\n"
        );
        return;
    };
    let p = Project::new();
    let ui = Ui::start(&p, &[]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/mlflow_client_flow.py"
    );
    let out = std::process::Command::new(&py)
        .args([script, &format!("http://{}", ui.addr)])
        .current_dir(&p.root)
        .env("MLFLOW_DISABLE_TELEMETRY", "true")
        .env("DO_NOT_TRACK", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the mlflow client flow failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let facts: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    // The same facts through lab.
    let run = facts["run_id"].as_str().unwrap();
    let show = p.ok(&["--json", "runs", "show", run]).json();
    assert_eq!(show["name"], "ocr_lora_v1", "{show}");
    assert_eq!(show["params"]["rank"], "16");
    assert_eq!(show["latest"]["train_loss"]["step"], 9);
    let models = p
        .ok(&["--json", "models", "show", "ocr_model@champion"])
        .json();
    assert_eq!(models["version"], 1, "{models}");
    // The logged model: its events, and the version registered from it with its run and files.
    let logged = facts["logged_model"].as_str().unwrap();
    let events = p.ok(&["log", "--kind", "logged-model"]).stdout;
    assert!(
        events.contains(logged) && events.contains("ready"),
        "{events}"
    );
    let echo = p.ok(&["--json", "models", "show", "echo_model@1"]).json();
    assert_eq!(echo["run"], facts["pyfunc_run"], "{echo}");
    let files = p.ok(&["--json", "models", "ls", "echo_model"]).json_lines();
    assert_eq!(files.len(), 1);
    // 8 processes × 200 points: nothing lost.
    let runs = p.ok(&["--json", "runs", "ls"]).json_lines();
    let conc: Vec<&Value> = runs
        .iter()
        .filter(|r| r["name"].as_str().is_some_and(|n| n.starts_with("worker-")))
        .collect();
    assert_eq!(conc.len(), 8);
    for r in conc {
        let id = r["id"].as_str().unwrap();
        let out = p.ok(&["--json", "metrics", id, "x"]).json_lines();
        assert_eq!(out.len(), 200, "{id}");
    }
    p.ok(&["verify"]);
}

#[test]
fn an_mlflow_dataset_whose_digest_names_a_snapshot_becomes_a_lab_input() {
    let p = Project::new();
    p.write_tree("datasets/d", &[("a.txt", b"some data")]);
    let manifest = p.ok(&["--json", "data", "snapshot", "datasets/d"]).json()["manifest"]
        .as_str()
        .unwrap()
        .to_string();
    let ui = Ui::start(&p, &[]);
    let id = run_id(&ui.ok(
        "POST",
        "runs/create",
        json!({"experiment_id": "0", "run_name": "uses-d"}),
    ));
    let dataset = |name: &str, digest: &str| {
        json!({"dataset": {"name": name, "digest": digest, "source_type": "local", "source": "{}"},
               "tags": [{"key": "mlflow.data.context", "value": "training"}]})
    };
    ui.ok(
        "POST",
        "runs/log-inputs",
        json!({"run_id": id, "datasets": [
            // MLflow's own digests are 8+ hex digits; this one is the snapshot's, upper case.
            dataset("train", &manifest[..10].to_uppercase()),
            // Too short to name anything, and a digest no snapshot has: kept, not linked.
            dataset("short", &manifest[..6]),
            dataset("other", "0123456789abcdef"),
        ]}),
    );
    // MLflow's view: all three dataset inputs, as sent.
    let run = ui.ok("GET", &format!("runs/get?run_id={id}"), json!({}));
    assert_eq!(
        run["run"]["inputs"]["dataset_inputs"]
            .as_array()
            .map(Vec::len),
        Some(3),
        "{run}"
    );
    // lab's view: the snapshot is the run's input, by name and content hash.
    let shown = p.ok(&["--json", "runs", "show", &id]).json();
    let inputs = shown["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 1, "{shown}");
    assert_eq!(inputs[0]["role"], "dataset");
    assert_eq!(inputs[0]["name"], "d@1");
    assert_eq!(inputs[0]["hash"], manifest.as_str());
    // The same after the views are rebuilt from the log.
    drop(ui);
    p.ok(&["reindex"]);
    let again = p.ok(&["--json", "runs", "show", &id]).json();
    assert_eq!(again["inputs"], shown["inputs"]);
    p.ok(&["verify"]);
}
