//! Moving between lab and MLflow (issue 16, item 5): `lab import mlflow` from a real
//! `mlflow server` (REST) and from an `mlruns` directory, `lab export mlflow` to a real server
//! read back with the official client; both run twice and the second adds nothing. The server
//! and the client come from the MLflow venv ($LAB_MLFLOW_VENV, else
//! ~/.cache/lab-ci/mlflow-venv); without it those tests are skipped loudly. The errors a user
//! can cause need no MLflow and always run.

use crate::common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Project;
use serde_json::Value;

/// The venv's bin folder with `mlflow` installed.
fn mlflow_bin() -> Option<PathBuf> {
    let mut c: Vec<PathBuf> = Vec::new();
    if let Ok(v) = std::env::var("LAB_MLFLOW_VENV") {
        c.push(PathBuf::from(v).join("bin"));
    }
    if let Ok(h) = std::env::var("HOME") {
        c.push(PathBuf::from(h).join(".cache/lab-ci/mlflow-venv/bin"));
    }
    c.into_iter().find(|b| {
        Command::new(b.join("python"))
            .args(["-c", "import mlflow"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn skip(test: &str) {
    eprintln!(
        "\n*** SKIPPED {test}: no MLflow venv (set LAB_MLFLOW_VENV to a venv with `pip install mlflow`, \
         or run .ci/run, which makes ~/.cache/lab-ci/mlflow-venv) ***\n"
    );
}

/// The venv's python at the lowest priority, with MLflow's telemetry off.
fn python(bin: &Path) -> Command {
    let mut c = Command::new("nice");
    c.args(["-n", "19"])
        .arg(bin.join("python"))
        .env("MLFLOW_DISABLE_TELEMETRY", "true")
        .env("DO_NOT_TRACK", "true");
    c
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs a fixture script; its last stdout line as JSON.
#[track_caller]
fn script(bin: &Path, dir: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut c = python(bin);
    c.arg(fixture(name)).args(args).current_dir(dir);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap()
}

/// A real `mlflow server` on a free loopback port (SQLite store, artifact proxy), in its own
/// process group, killed with the group when dropped.
struct MlflowServer {
    child: Child,
    url: String,
}

impl MlflowServer {
    fn start(bin: &Path, dir: &Path) -> MlflowServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.join("mlflow-server.log")).unwrap();
        let mut c = python(bin);
        c.args([
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--workers",
            "1",
        ])
        .args(["--port", &port.to_string()])
        .args([
            "--backend-store-uri",
            &format!("sqlite:///{}/mlflow.db", dir.display()),
        ])
        .args([
            "--artifacts-destination",
            &format!("{}/mlartifacts", dir.display()),
        ])
        .current_dir(dir)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0);
        let child = c.spawn().unwrap();
        let s = MlflowServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let t0 = Instant::now();
        loop {
            if health(port) {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(300),
                "mlflow server did not come up in 300 s:\n{}",
                std::fs::read_to_string(dir.join("mlflow-server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        s
    }
}

fn health(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let mut b = Vec::new();
    let _ = s.read_to_end(&mut b);
    b.starts_with(b"HTTP/1.1 200") || b.starts_with(b"HTTP/1.0 200")
}

impl Drop for MlflowServer {
    fn drop(&mut self) {
        // The whole group: the server's uvicorn / gunicorn workers too.
        let pgid = self.child.id() as i32;
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{pgid}")])
            .status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .status();
        let _ = self.child.wait();
    }
}

/// The number of events in the log.
fn event_count(p: &Project) -> usize {
    p.events().len()
}

#[test]
fn mlflow_server_import_then_export_round_trip() {
    let Some(bin) = mlflow_bin() else {
        return skip("mlflow_io::mlflow_server_import_then_export_round_trip");
    };
    let work = tempfile::tempdir().unwrap();
    let server = MlflowServer::start(&bin, work.path());
    let big: usize = 10_000;
    let facts = script(
        &bin,
        work.path(),
        "mlflow_io_log.py",
        &[&server.url, "registry"],
        &[("LAB_TEST_BIG_POINTS", &big.to_string())],
    );
    let rid = facts["run_id"].as_str().unwrap();

    // Import over REST.
    let p = Project::new();
    let t0 = Instant::now();
    let out = p
        .ok(&["--json", "import", "mlflow", "--from", &server.url])
        .json();
    eprintln!(
        "mlflow_io: import of a run with {big} + 5 metric points: {:.2} s (lab's own count: {:.2} s)",
        t0.elapsed().as_secs_f64(),
        out["seconds"].as_f64().unwrap()
    );
    assert_eq!(out["runs_imported"], 1, "{out}");
    assert_eq!(out["metric_points"], big as u64 + 5, "{out}");
    assert_eq!(out["artifacts"], 2, "{out}");
    assert_eq!(out["versions_imported"], 1, "{out}");
    let show = p.ok(&["--json", "runs", "show", rid]).json();
    assert_eq!(show["name"], "mlflow-run", "{show}");
    assert_eq!(show["params"]["lr"], "0.1");
    assert_eq!(show["params"]["layers"], "4");
    let loss = p.ok(&["--json", "metrics", rid, "loss"]).json_lines();
    let pts: Vec<(i64, f64, i64)> = loss
        .iter()
        .map(|m| {
            (
                m["step"].as_i64().unwrap(),
                m["value"].as_f64().unwrap(),
                m["time_ms"].as_i64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(i64, f64, i64)> = (0..5)
        .map(|s| (s, 1.0 / (s as f64 + 1.0), 1_700_000_000_000 + s * 1000))
        .collect();
    assert_eq!(pts, want, "{loss:?}");
    assert_eq!(
        p.ok(&["--json", "metrics", rid, "big"]).json_lines().len(),
        big
    );
    // The tag, status and artifacts, as MLflow's client sees them through `lab ui`'s picture.
    assert!(
        p.events().iter().any(|e| e["kind"] == "run-updated"
            && e["body"]["RunUpdated"]["tags"]["team"] == "ocr"),
        "the tag was not imported"
    );
    assert!(
        show["status"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("finished")),
        "{show}"
    );
    p.ok(&["artifacts", "ls", rid])
        .stdout_has(&["notes.txt", "model/weights.bin"]);
    let dest = p.path("notes-back.txt");
    p.ok(&["artifacts", "get", rid, "notes.txt", dest.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap(),
        "hello from mlflow\n"
    );
    let models = p
        .ok(&["--json", "models", "ls", "mlflow_model"])
        .json_lines();
    assert_eq!(models.len(), 1, "{models:?}");
    let v = p
        .ok(&["--json", "models", "show", "mlflow_model@champion"])
        .json();
    assert_eq!(v["version"], 1, "{v}");
    p.ok(&["verify"]);

    // Again: nothing new.
    let n = event_count(&p);
    let again = p
        .ok(&["--json", "import", "mlflow", "--from", &server.url])
        .json();
    assert_eq!(
        (
            again["runs_imported"].as_u64(),
            again["runs_skipped"].as_u64()
        ),
        (Some(0), Some(1)),
        "{again}"
    );
    assert_eq!(event_count(&p), n, "a second import appended events");

    // A lab run (metrics with steps, a param, a tag, an artifact), registered as a model.
    std::fs::write(
        p.path("train.sh"),
        r#"set -e
printf 'plot' > loss.png
for s in 0 1 2; do echo "{\"key\":\"acc\",\"value\":0.$((s+5)),\"step\":$s}" >> "$LAB_METRICS"; done
seq 0 9999 | awk '{printf "{\"key\":\"big\",\"value\":%d,\"step\":%d}\n", $1, $1}' >> "$LAB_METRICS"
echo '{"tag":"team","value":"lab"}' >> "$LAB_METRICS"
echo '{"artifact":"loss.png"}' >> "$LAB_METRICS"
"#,
    )
    .unwrap();
    p.ok(&[
        "run",
        "--name",
        "labrun",
        "--experiment",
        "exported",
        "--param",
        "lr=0.5",
        "--",
        "sh",
        "train.sh",
    ]);
    p.ok(&["models", "register", "labrun", "--name", "lab_model"]);
    let lab_id = p.ok(&["--json", "runs", "show", "labrun"]).json()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let t0 = Instant::now();
    let ex = p
        .ok(&["--json", "export", "mlflow", "--to", &server.url])
        .json();
    eprintln!(
        "mlflow_io: export of lab's runs ({} metric points): {:.2} s",
        ex["metric_points"],
        t0.elapsed().as_secs_f64()
    );
    // The imported run is already there (same id); the lab run is new.
    assert_eq!(
        (ex["runs_exported"].as_u64(), ex["runs_skipped"].as_u64()),
        (Some(1), Some(1)),
        "{ex}"
    );
    let back = script(
        &bin,
        work.path(),
        "mlflow_io_read.py",
        &[&server.url, &lab_id],
        &[],
    );
    assert_eq!(back["count"], 1, "{back}");
    assert_eq!(back["name"], "labrun");
    assert_eq!(back["experiment"], "exported");
    assert_eq!(back["status"], "FINISHED");
    assert_eq!(back["params"]["lr"], "0.5");
    assert_eq!(back["tags"]["team"], "lab");
    assert_eq!(back["tags"]["lab.exported"], "complete");
    let acc: Vec<(i64, f64)> = back["history"]["acc"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m[0].as_i64().unwrap(), m[1].as_f64().unwrap()))
        .collect();
    assert_eq!(acc, vec![(0, 0.5), (1, 0.6), (2, 0.7)], "{back}");
    assert_eq!(back["history"]["big"].as_array().unwrap().len(), 10_000);
    assert_eq!(back["artifact_text"]["loss.png"], "plot", "{back}");
    let lab_v: Vec<&Value> = back["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["name"] == "lab_model")
        .collect();
    assert_eq!(lab_v.len(), 1, "{back}");
    assert_eq!(lab_v[0]["tags"]["lab.version"], "1");

    // Again: no duplicate runs or versions there, nothing new here.
    let n = event_count(&p);
    let ex2 = p
        .ok(&["--json", "export", "mlflow", "--to", &server.url])
        .json();
    assert_eq!(
        (
            ex2["runs_exported"].as_u64(),
            ex2["versions_exported"].as_u64()
        ),
        (Some(0), Some(0)),
        "{ex2}"
    );
    let back = script(
        &bin,
        work.path(),
        "mlflow_io_read.py",
        &[&server.url, &lab_id],
        &[],
    );
    assert_eq!(
        back["count"], 1,
        "a second export duplicated the run: {back}"
    );
    let n_versions = back["versions"].as_array().unwrap().len();
    assert_eq!(n_versions, 2, "{back}");
    assert_eq!(event_count(&p), n, "an export appended events");

    // Importing what was exported from this lab adds nothing either.
    let n = event_count(&p);
    let again = p
        .ok(&["--json", "import", "mlflow", "--from", &server.url])
        .json();
    assert_eq!(again["runs_imported"], 0, "{again}");
    assert_eq!(
        event_count(&p),
        n,
        "re-importing lab's own runs appended events"
    );
    drop(server);
}

#[test]
fn mlflow_mlruns_directory_import() {
    let Some(bin) = mlflow_bin() else {
        return skip("mlflow_io::mlflow_mlruns_directory_import");
    };
    let work = tempfile::tempdir().unwrap();
    let mlruns = work.path().join("mlruns");
    let facts = script(
        &bin,
        work.path(),
        "mlflow_io_log.py",
        &[&format!("file:{}", mlruns.display())],
        &[("MLFLOW_ALLOW_FILE_STORE", "true")],
    );
    let rid = facts["run_id"].as_str().unwrap();
    let p = Project::new();
    let out = p
        .ok(&[
            "--json",
            "import",
            "mlflow",
            "--from",
            mlruns.to_str().unwrap(),
        ])
        .json();
    assert_eq!(out["runs_imported"], 1, "{out}");
    let show = p.ok(&["--json", "runs", "show", rid]).json();
    assert_eq!(show["name"], "mlflow-run", "{show}");
    assert_eq!(show["params"]["lr"], "0.1");
    let loss = p.ok(&["--json", "metrics", rid, "loss"]).json_lines();
    assert_eq!(loss.len(), 5);
    assert_eq!(loss[4]["step"], 4);
    assert_eq!(loss[4]["time_ms"], 1_700_000_004_000i64);
    p.ok(&["artifacts", "ls", rid])
        .stdout_has(&["notes.txt", "model/weights.bin"]);
    let n = event_count(&p);
    let uri = format!("file://{}", mlruns.display());
    let again = p.ok(&["--json", "import", "mlflow", "--from", &uri]).json();
    assert_eq!(again["runs_skipped"], 1, "{again}");
    assert_eq!(event_count(&p), n, "a second import appended events");
    p.ok(&["verify"]);
}

/// A one-shot HTTP server that answers every request with an HTML page (not MLflow).
fn not_mlflow() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for s in l.incoming().flatten().take(4) {
            let mut s = s;
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 20\r\nConnection: close\r\n\r\n<html>nope</html>\n\n\n",
            );
        }
    });
    format!("http://{addr}")
}

#[test]
fn mlflow_io_errors_are_clear_and_change_nothing() {
    let p = Project::new();
    // Nothing listens on the port.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{port}");
    p.fails(&["import", "mlflow", "--from", &dead])
        .stderr_has(&["cannot reach the MLflow server", &dead]);
    p.fails(&["export", "mlflow", "--to", &dead])
        .stderr_has(&["cannot reach the MLflow server", &dead]);
    // Something that is not MLflow.
    let web = not_mlflow();
    p.fails(&["import", "mlflow", "--from", &web])
        .stderr_has(&["did not answer like an MLflow tracking server", &web]);
    // Bad URIs.
    p.fails(&["import", "mlflow", "--from", "ftp://x/y"])
        .stderr_has(&["ftp://x/y", "http://HOST:PORT"]);
    p.fails(&["export", "mlflow", "--to", "https://mlflow.example.com"])
        .stderr_has(&["plain http"]);
    p.fails(&["import", "mlflow", "--from", "sqlite:///tmp/mlflow.db"])
        .stderr_has(&["mlflow server --backend-store-uri sqlite:///tmp/mlflow.db"]);
    // A missing mlruns directory, and one with a damaged meta.yaml.
    let missing = p.path("no-such-mlruns");
    p.fails(&["import", "mlflow", "--from", missing.to_str().unwrap()])
        .stderr_has(&["no-such-mlruns", "no such directory"]);
    let bad = p.write_tree(
        "mlruns",
        &[
            (
                "0/meta.yaml",
                &b"artifact_location: file:///x\nexperiment_id: '0'\nlifecycle_stage: active\nname: Default\n"[..],
            ),
            ("1/meta.yaml", &b"name: [unclosed\n  experiment_id: 1\n"[..]),
        ],
    );
    p.fails(&["import", "mlflow", "--from", bad.to_str().unwrap()])
        .stderr_has(&["1/meta.yaml", "damaged"]);
    p.fails(&["import", "mlflow", "--from", p.root.to_str().unwrap()])
        .stderr_has(&["not an MLflow mlruns directory"]);
}
