//! The `mlflow-artifacts` proxy and artifact downloads, and the plain HTTP answer they give.

use serde_json::{Value, json};

use crate::tracking::{TResult, Tracking, TrackingError, invalid, not_found};

use super::json::*;
use super::params::*;

/// An answer: status, content type, body.
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// A download's file name (`Content-Disposition: attachment; filename=…`).
    pub filename: Option<String>,
}

impl Answer {
    pub fn json(v: Value) -> Answer {
        Answer::json_bytes(serde_json::to_vec(&v).unwrap_or_default())
    }

    /// JSON already serialised.
    pub fn json_bytes(body: Vec<u8>) -> Answer {
        Answer {
            status: 200,
            content_type: "application/json",
            body,
            filename: None,
        }
    }

    pub fn error(e: &TrackingError) -> Answer {
        Answer {
            status: e.code.status(),
            content_type: "application/json",
            body: serde_json::to_vec(&json!({"error_code": e.code.name(), "message": e.message}))
                .unwrap_or_default(),
            filename: None,
        }
    }

    pub fn code(status: u16, code: &str, msg: &str) -> Answer {
        Answer {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(&json!({"error_code": code, "message": msg}))
                .unwrap_or_default(),
            filename: None,
        }
    }
}

/// The `mlflow-artifacts` proxy: `PUT|GET|DELETE /api/2.0/mlflow-artifacts/artifacts/PATH`,
/// `GET …/artifacts?path=DIR` (list).
pub fn artifacts(t: &Tracking, method: &str, path: &str, p: &Params, body: &[u8]) -> Answer {
    let r = (|| -> TResult<Answer> {
        match (method, path) {
            ("GET", "") => {
                let dir = p.opt_str("path")?.unwrap_or_default();
                let dir = dir.trim_end_matches('/');
                let files: Vec<Value> = t
                    .list_artifacts(dir)?
                    .into_iter()
                    .map(|(n, d, size)| {
                        let mut f = json!({"path": n, "is_dir": d});
                        if let Some(sz) = size {
                            f["file_size"] = json!(sz);
                        }
                        f
                    })
                    .collect();
                Ok(Answer::json(json!({"files": files})))
            }
            ("GET", p) => Ok(download(p, t.get_artifact(p)?)),
            ("PUT", p) => {
                t.put_artifact(p, body)?;
                Ok(Answer::json(json!({})))
            }
            ("DELETE", p) => {
                t.delete_artifact(p)?;
                Ok(Answer::json(json!({})))
            }
            (m, _) => Err(invalid(format!("{m} is not allowed on artifacts"))),
        }
    })();
    r.unwrap_or_else(|e| Answer::error(&e))
}

/// A file download: its type from its name, as an attachment.
pub fn download(path: &str, body: Vec<u8>) -> Answer {
    let name = path.rsplit('/').next().unwrap_or(path);
    Answer {
        status: 200,
        content_type: content_type(path),
        body,
        filename: Some(name.replace(['"', '\\', '\r', '\n'], "_")),
    }
}

/// A safe content type for a downloaded artifact (never HTML: nothing served runs script).
pub fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    if name.eq_ignore_ascii_case("MLmodel") || name.eq_ignore_ascii_case("MLproject") {
        return "text/plain";
    }
    let ext = match name.rsplit_once('.') {
        Some((_, e)) => e.to_ascii_lowercase(),
        None => return "application/octet-stream",
    };
    match ext.as_str() {
        "txt" | "log" | "yaml" | "yml" | "md" | "csv" | "toml" | "py" | "ini" | "cfg" => {
            "text/plain"
        }
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// `GET /get-artifact?run_id=R&path=P` and `GET /model-versions/get-artifact?name&version&path`
/// (what MLflow's UI downloads with).
pub fn get_artifact(t: &Tracking, endpoint: &str, p: &Params) -> Answer {
    let r = (|| -> TResult<Answer> {
        let path = p.opt_str("path")?.unwrap_or_default();
        crate::tracking::check_artifact_path(&path)?;
        let root = if endpoint == "get-artifact" {
            let run = run_id(p)?;
            let s = t.state()?;
            if !s.runs.contains_key(&run) {
                return Err(not_found(format!("Run with id={run} not found")));
            }
            s.run_root(&run)
        } else {
            let v = t.get_version(&p.str("name")?, &p.str("version")?)?;
            match v.storage.strip_prefix("mlflow-artifacts:") {
                Some(r) => r.trim_start_matches('/').to_string(),
                None => return Err(invalid("this model version's files are not on this server")),
            }
        };
        let full = format!("{root}/{}", path.trim_matches('/'));
        Ok(download(&full, t.get_artifact(&full)?))
    })();
    r.unwrap_or_else(|e| Answer::error(&e))
}
