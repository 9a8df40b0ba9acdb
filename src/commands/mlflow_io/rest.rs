//! A blocking client for an MLflow tracking server's REST API (`/api/2.0/mlflow/…`) and its
//! `mlflow-artifacts` proxy, plain HTTP only (loopback or a LAN: no TLS stack). Every failure
//! is a message that names the server and what to do.

use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use serde_json::Value;

pub struct Rest {
    /// `http://host:port`, no trailing slash.
    pub base: String,
    agent: ureq::Agent,
}

/// What an MLflow server answered with an error: (HTTP status, error_code, message).
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl Rest {
    /// A client for `uri` (`http://host:port[/prefix]`); checks that the server answers like
    /// MLflow.
    pub fn connect(uri: &str) -> Result<Rest> {
        let base = uri.trim_end_matches('/').to_string();
        if base.starts_with("https://") {
            bail!(
                "{uri}: lab speaks plain http to an MLflow server (a loopback or LAN address); \
                 for a TLS server, tunnel it to a local port (ssh -L 5000:host:443 …) and use http://127.0.0.1:5000"
            );
        }
        let Some(rest) = base.strip_prefix("http://") else {
            bail!(
                "{uri}: not an MLflow server address; use http://HOST:PORT, a local mlruns directory, or file:///path/to/mlruns"
            );
        };
        if rest.is_empty() || rest.starts_with('/') {
            bail!("{uri}: the address has no host; use http://HOST:PORT");
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(120)))
            .http_status_as_error(false)
            .build()
            .into();
        let r = Rest { base, agent };
        // One cheap call that every MLflow 2/3 server answers.
        r.post("experiments/search", &serde_json::json!({"max_results": 1}))
            .map_err(|e| anyhow!("{e:#}"))?;
        Ok(r)
    }

    fn url(&self, endpoint: &str) -> String {
        format!("{}/api/2.0/mlflow/{endpoint}", self.base)
    }

    fn transport(&self, what: &str, e: ureq::Error) -> anyhow::Error {
        match e {
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound | ureq::Error::Io(_) => {
                anyhow!(
                    "cannot reach the MLflow server at {} ({what}: {e}); is `mlflow server` running there, on that port?",
                    self.base
                )
            }
            ureq::Error::Timeout(_) => anyhow!(
                "the MLflow server at {} did not answer in time ({what}); is it overloaded or stuck?",
                self.base
            ),
            e => anyhow!("{}: {what}: {e}", self.base),
        }
    }

    /// The JSON of a call, or the server's error as `ApiError` (inside the anyhow error).
    fn json(
        &self,
        what: &str,
        resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value> {
        let mut resp = resp.map_err(|e| self.transport(what, e))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .map_err(|e| self.transport(what, e))?;
        let v: Value = serde_json::from_slice(&body).map_err(|_| {
            anyhow!(
                "{} did not answer like an MLflow tracking server ({what}: HTTP {status}, {}); \
                 check the address (http://HOST:PORT of `mlflow server`)",
                self.base,
                snippet(&body)
            )
        })?;
        if status != 200 {
            let code = v["error_code"].as_str().unwrap_or("").to_string();
            let message = v["message"].as_str().unwrap_or("").to_string();
            if code.is_empty() {
                bail!(
                    "{} did not answer like an MLflow tracking server ({what}: HTTP {status}, {})",
                    self.base,
                    snippet(&body)
                );
            }
            return Err(anyhow::Error::new(ApiError {
                status,
                code,
                message,
            })
            .context(format!("MLflow at {}: {what}", self.base)));
        }
        Ok(v)
    }

    pub fn get(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<Value> {
        let mut req = self.agent.get(&self.url(endpoint));
        for (k, v) in query {
            req = req.query(*k, *v);
        }
        self.json(endpoint, req.call())
    }

    pub fn post(&self, endpoint: &str, body: &Value) -> Result<Value> {
        let req = self
            .agent
            .post(&self.url(endpoint))
            .header("Content-Type", "application/json");
        self.json(endpoint, req.send(body.to_string().as_bytes()))
    }

    fn artifact_url(&self, path: &str) -> String {
        format!(
            "{}/api/2.0/mlflow-artifacts/artifacts/{}",
            self.base,
            encode_path(path)
        )
    }

    /// One file through the `mlflow-artifacts` proxy (`path` under the proxy root).
    pub fn download(&self, path: &str) -> Result<Vec<u8>> {
        let what = format!("download artifact {path}");
        let mut resp = self
            .agent
            .get(&self.artifact_url(path))
            .call()
            .map_err(|e| self.transport(&what, e))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .map_err(|e| self.transport(&what, e))?;
        if status != 200 {
            bail!(
                "MLflow at {}: {what}: HTTP {status}, {} (does the server proxy artifacts? start it without --no-serve-artifacts)",
                self.base,
                snippet(&body)
            );
        }
        Ok(body)
    }

    /// One file up through the `mlflow-artifacts` proxy.
    pub fn upload(&self, path: &str, data: &[u8]) -> Result<()> {
        let what = format!("upload artifact {path}");
        let mut resp = self
            .agent
            .put(&self.artifact_url(path))
            .header("Content-Type", "application/octet-stream")
            .send(data)
            .map_err(|e| self.transport(&what, e))?;
        let status = resp.status().as_u16();
        if status != 200 {
            let body = resp.body_mut().read_to_vec().unwrap_or_default();
            bail!(
                "MLflow at {}: {what}: HTTP {status}, {} (does the server proxy artifacts? start it without --no-serve-artifacts)",
                self.base,
                snippet(&body)
            );
        }
        Ok(())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

/// The MLflow error code of a failed call, if the server answered with one.
pub fn api_code(e: &anyhow::Error) -> Option<&str> {
    e.downcast_ref::<ApiError>().map(|a| a.code.as_str())
}

/// A path's segments percent-encoded (the `/`s kept).
fn encode_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for b in p.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The start of a body, for a message.
fn snippet(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let s = s.trim();
    if s.is_empty() {
        return "an empty body".into();
    }
    let cut: String = s.chars().take(120).collect();
    format!("'{}'", cut.replace('\n', " "))
}

// ---- the server as an import source ----

use std::collections::BTreeMap;

use super::import::{ExpIn, ModelIn, RunIn, Source, VersionIn};
use crate::tracking::MetricIn;

/// A number MLflow may send as a JSON number or a string (int64 in proto JSON).
pub fn num(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_f64().map(|f| f as i64))
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// A metric value: a number, or "NaN" / "Infinity" / "-Infinity" as MLflow writes them.
fn value(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => match s.as_str() {
            "Infinity" | "inf" => f64::INFINITY,
            "-Infinity" | "-inf" => f64::NEG_INFINITY,
            o => o.parse().unwrap_or(f64::NAN),
        },
        _ => f64::NAN,
    }
}

/// `[{key, value}]` as a map.
pub fn kv(v: &Value) -> BTreeMap<String, String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| {
                    Some((
                        x["key"].as_str()?.to_string(),
                        x["value"].as_str().unwrap_or("").to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub struct RestSource {
    rest: Rest,
}

impl RestSource {
    pub fn connect(uri: &str) -> Result<RestSource> {
        Ok(RestSource {
            rest: Rest::connect(uri)?,
        })
    }

    /// Every page of a POST search: the items under `field`.
    fn pages_post(&self, endpoint: &str, mut body: Value, field: &str) -> Result<Vec<Value>> {
        let mut all = Vec::new();
        loop {
            let v = self.rest.post(endpoint, &body)?;
            all.extend(v[field].as_array().cloned().unwrap_or_default());
            match v["next_page_token"].as_str().filter(|t| !t.is_empty()) {
                Some(t) => body["page_token"] = Value::String(t.to_string()),
                None => return Ok(all),
            }
        }
    }

    /// Every page of a GET search.
    fn pages_get(&self, endpoint: &str, query: &[(&str, &str)], field: &str) -> Result<Vec<Value>> {
        let mut all = Vec::new();
        let mut token = String::new();
        loop {
            let mut q: Vec<(&str, &str)> = query.to_vec();
            if !token.is_empty() {
                q.push(("page_token", token.as_str()));
            }
            let v = self.rest.get(endpoint, &q)?;
            all.extend(v[field].as_array().cloned().unwrap_or_default());
            match v["next_page_token"].as_str().filter(|t| !t.is_empty()) {
                Some(t) => token = t.to_string(),
                None => return Ok(all),
            }
        }
    }

    /// The proxy path of a run artifact, from the run's artifact URI.
    fn proxy_path(&self, run: &RunIn, rel: &str) -> Option<String> {
        let uri = &run.artifact_uri;
        let rest = uri.strip_prefix("mlflow-artifacts:")?;
        let root = if let Some(r) = rest.strip_prefix("//") {
            r.split_once('/').map_or("", |(_, p)| p)
        } else {
            rest.trim_start_matches('/')
        };
        Some(format!("{}/{rel}", root.trim_end_matches('/')))
    }
}

impl Source for RestSource {
    fn experiments(&self) -> Result<Vec<ExpIn>> {
        let exps = self.pages_post(
            "experiments/search",
            serde_json::json!({"max_results": 1000}),
            "experiments",
        )?;
        Ok(exps
            .iter()
            .filter_map(|e| {
                Some(ExpIn {
                    id: e["experiment_id"].as_str()?.to_string(),
                    name: e["name"].as_str()?.to_string(),
                    tags: kv(&e["tags"])
                        .into_iter()
                        .filter(|(k, _)| !k.starts_with("mlflow."))
                        .collect(),
                })
            })
            .collect())
    }

    fn runs(&self, exp: &ExpIn) -> Result<Vec<RunIn>> {
        let runs = self.pages_post(
            "runs/search",
            serde_json::json!({"experiment_ids": [exp.id], "max_results": 1000}),
            "runs",
        )?;
        let mut out = Vec::new();
        for r in runs {
            let info = &r["info"];
            let Some(id) = info["run_id"].as_str().or(info["run_uuid"].as_str()) else {
                continue;
            };
            let mut keys: Vec<String> = r["data"]["metrics"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|m| m["key"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            keys.sort();
            keys.dedup();
            out.push(RunIn {
                id: id.to_string(),
                name: info["run_name"].as_str().unwrap_or(id).to_string(),
                user_id: info["user_id"].as_str().unwrap_or("").to_string(),
                status: info["status"].as_str().unwrap_or("FINISHED").to_string(),
                start_ms: num(&info["start_time"]).unwrap_or(0),
                end_ms: num(&info["end_time"]),
                params: kv(&r["data"]["params"]),
                tags: kv(&r["data"]["tags"]),
                metric_keys: keys,
                artifact_uri: info["artifact_uri"].as_str().unwrap_or("").to_string(),
            });
        }
        out.sort_by(|a, b| (a.start_ms, &a.id).cmp(&(b.start_ms, &b.id)));
        Ok(out)
    }

    fn history(&self, run: &RunIn) -> Result<Vec<MetricIn>> {
        let mut out = Vec::new();
        for key in &run.metric_keys {
            let pts = self.pages_get(
                "metrics/get-history",
                &[
                    ("run_id", run.id.as_str()),
                    ("metric_key", key.as_str()),
                    ("max_results", "25000"),
                ],
                "metrics",
            )?;
            out.extend(pts.iter().map(|p| MetricIn {
                key: key.clone(),
                value: value(&p["value"]),
                timestamp: num(&p["timestamp"]).unwrap_or(0),
                step: num(&p["step"]).unwrap_or(0),
            }));
        }
        Ok(out)
    }

    fn artifacts(
        &self,
        run: &RunIn,
        each: &mut dyn FnMut(&str, Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        let mut dirs = vec![String::new()];
        while let Some(dir) = dirs.pop() {
            let mut q = vec![("run_id", run.id.as_str())];
            if !dir.is_empty() {
                q.push(("path", dir.as_str()));
            }
            let v = self.rest.get("artifacts/list", &q)?;
            for f in v["files"].as_array().cloned().unwrap_or_default() {
                let Some(path) = f["path"].as_str() else {
                    continue;
                };
                if f["is_dir"].as_bool() == Some(true) {
                    dirs.push(path.to_string());
                    continue;
                }
                let data = if let Some(p) = self.proxy_path(run, path) {
                    self.rest.download(&p)?
                } else {
                    let local = run
                        .artifact_uri
                        .strip_prefix("file://")
                        .unwrap_or(&run.artifact_uri);
                    let file = std::path::Path::new(local).join(path);
                    std::fs::read(&file).map_err(|e| {
                        anyhow!(
                            "artifact {path} of run {} is at {} ({e}), which lab cannot fetch: start the server with the artifact proxy (the default `mlflow server`, not --no-serve-artifacts)",
                            run.id,
                            file.display()
                        )
                    })?
                };
                each(path, data)?;
            }
        }
        Ok(())
    }

    fn models(&self) -> Result<Vec<ModelIn>> {
        let models = self.pages_get(
            "registered-models/search",
            &[("max_results", "1000")],
            "registered_models",
        )?;
        let mut out = Vec::new();
        for m in models {
            let Some(name) = m["name"].as_str() else {
                continue;
            };
            let filter = format!("name='{}'", name.replace('\'', "\\'"));
            let vs = self.pages_get(
                "model-versions/search",
                &[("filter", filter.as_str()), ("max_results", "1000")],
                "model_versions",
            )?;
            let mut aliases: BTreeMap<u32, Vec<String>> = BTreeMap::new();
            for a in m["aliases"].as_array().cloned().unwrap_or_default() {
                if let (Some(al), Some(v)) = (a["alias"].as_str(), num(&a["version"])) {
                    aliases.entry(v as u32).or_default().push(al.to_string());
                }
            }
            out.push(ModelIn {
                name: name.to_string(),
                description: m["description"].as_str().unwrap_or("").to_string(),
                tags: kv(&m["tags"]),
                versions: vs
                    .iter()
                    .filter_map(|v| {
                        let n = num(&v["version"])? as u32;
                        Some(VersionIn {
                            version: n,
                            source: v["source"].as_str().unwrap_or("").to_string(),
                            run_id: v["run_id"]
                                .as_str()
                                .filter(|r| !r.is_empty())
                                .map(str::to_string),
                            stage: v["current_stage"].as_str().unwrap_or("None").to_string(),
                            description: v["description"].as_str().unwrap_or("").to_string(),
                            tags: kv(&v["tags"]),
                            aliases: aliases.remove(&n).unwrap_or_default(),
                        })
                    })
                    .collect(),
            });
        }
        Ok(out)
    }
}
