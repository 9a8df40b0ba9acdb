//! `lab serve` under test: a tiny trained and deployed OCR model, the real server started in
//! the background (its stderr kept in a file), a minimal HTTP/1.1 client, and the served
//! records read back from the log.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Project;
pub use super::wait_for;

/// Deployment gates every tiny model passes.
pub const EASY_GATES: &str = r#"
[validation]
dataset = "tt"
split = "val"
limit = 8

[[gate]]
metric = "accuracy"
op = ">="
threshold = 0.0
"#;

/// A project with `ocr_teacher@1..=versions` trained and version 1 deployed to production.
pub fn project(versions: usize) -> Project {
    let p = Project::with_tiny_dataset();
    train_and_deploy(&p, versions);
    p
}

/// Trains `ocr_teacher@1..=versions` (one epoch each) and deploys version 1 to production.
pub fn train_and_deploy(p: &Project, versions: usize) {
    fs::write(p.path("configs/deploy.toml"), EASY_GATES).unwrap();
    for i in 0..versions {
        let seed = (7 + i).to_string();
        p.ok(&["train", "ocr-teacher", "--epochs", "1", "--seed", &seed]);
    }
    p.ok(&["deploy", "ocr_teacher@1", "--env", "production"]);
}

/// A real line image of the tiny dataset.
pub fn line_png(p: &Project) -> Vec<u8> {
    let dir = p.path("datasets/tt/lines/val");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|f| f.extension().is_some_and(|x| x == "png"))
        .collect();
    files.sort();
    fs::read(&files[0]).unwrap()
}

/// A running `lab serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
    stderr: tempfile::NamedTempFile,
}

impl Server {
    /// Starts `lab serve ARGS` and waits for its address.
    pub fn start(p: &Project, args: &[&str]) -> Server {
        Server::start_env(p, args, &[])
    }

    /// [`Server::start`] with extra environment variables.
    // The child is waited for by `Drop`; a start that fails panics the test anyway.
    #[allow(clippy::zombie_processes)]
    pub fn start_env(p: &Project, args: &[&str], env: &[(&str, &str)]) -> Server {
        let stderr = tempfile::NamedTempFile::new().unwrap();
        let mut cmd = super::lab_cmd(&p.root);
        cmd.arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr.reopen().unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            let n = out.read_line(&mut line).unwrap();
            assert!(
                n > 0,
                "lab serve exited before printing its address:\n{}",
                fs::read_to_string(stderr.path()).unwrap_or_default()
            );
            if let Some(a) = line.trim().strip_prefix("lab serve: listening on http://") {
                let port = a.rsplit(':').next().unwrap();
                return Server {
                    child,
                    addr: format!("127.0.0.1:{port}"),
                    stderr,
                };
            }
        }
    }

    /// What the server wrote on stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }

    /// One request; (status, body as JSON or as a string).
    pub fn req(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Value) {
        http(&self.addr, method, path, headers, body)
    }

    /// An OCR request that must answer 200.
    #[track_caller]
    pub fn ocr(&self, png: &[u8], headers: &[(&str, &str)]) -> Value {
        let (st, v) = self.req("POST", "/v1/ocr", headers, png);
        assert_eq!(st, 200, "{v}");
        v
    }

    #[track_caller]
    pub fn healthy(&self) {
        let (st, v) = self.req("GET", "/healthz", &[], b"");
        assert_eq!((st, v["status"].as_str()), (200, Some("ok")), "{v}");
    }

    /// The value of the Prometheus sample `name` (a full sample name with labels) on /metrics.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metric_with(name, &[])
    }

    /// [`Server::metric`] with request headers (a server with a token wants one).
    pub fn metric_with(&self, name: &str, headers: &[(&str, &str)]) -> Option<f64> {
        let (_, m) = self.req("GET", "/metrics", headers, b"");
        let text = m.as_str()?.to_string();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// Sends `sig` and waits for the exit code.
    pub fn signal(&mut self, sig: i32) -> i32 {
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, sig) };
        let status = self.child.wait().unwrap();
        status.code().unwrap_or(-1)
    }

    /// The exit code once the server has exited, or None if it still runs after `within`.
    pub fn exit_within(&mut self, within: Duration) -> Option<i32> {
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s.code().unwrap_or(-1));
            }
            if t0.elapsed() > within {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How many file descriptors the server holds open now.
    pub fn open_fds(&self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 client (Connection: close).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
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
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let v = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
    (status, v)
}

/// Every inference record in the log.
pub fn inferences(p: &Project) -> Vec<Value> {
    records(p, "inferences", "InferencesRecorded")
}

/// Every record of event `variant` (listed by `lab log --kind KIND`), oldest event first.
pub fn records(p: &Project, kind: &str, variant: &str) -> Vec<Value> {
    let mut events = p.ok(&["--json", "log", "--kind", kind]).json_lines();
    events.reverse();
    events
        .iter()
        .flat_map(|e| e["body"][variant]["records"].as_array().unwrap().clone())
        .collect()
}
