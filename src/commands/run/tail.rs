//! The metrics file of a run (`$LAB_METRICS`): complete new JSON lines since the last read.
//! A line is one of
//!
//! - `{"key":"loss","value":0.3,"step":7}` — a metric point (`step`, `timestamp` optional);
//! - `{"key":"optimizer","value":"adam"}` or `{"param":"optimizer","value":"adam"}` — a param
//!   (a string value, or any scalar under `param`);
//! - `{"tag":"stage","value":"dev"}` — a tag;
//! - `{"artifact":"plots/loss.png"}` — a file or folder the command wrote, captured (stored as
//!   a blob, an artifact of the run) when the line is read; relative to the command's cwd.
//!
//! A bad line is skipped with a message naming the file and line.

use std::collections::BTreeMap;
use std::io::{BufRead, Seek};
use std::path::PathBuf;

use serde_json::Value;

use crate::event::{MetricBatch, MetricPoint};
use crate::store::now_ns;

/// Reads complete new lines of the metrics file.
pub(super) struct Tail {
    path: PathBuf,
    offset: u64,
    line_no: u64,
    pub(super) bad_lines: u64,
}

/// What new lines said.
#[derive(Debug, Default)]
pub(super) struct Ingest {
    pub metrics: Vec<MetricBatch>,
    pub params: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// `(line number, path as written)` of each `{"artifact": …}` line.
    pub artifacts: Vec<(u64, String)>,
}

impl Ingest {
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
            && self.params.is_empty()
            && self.tags.is_empty()
            && self.artifacts.is_empty()
    }

    pub fn points(&self) -> u64 {
        self.metrics.iter().map(|b| b.points.len() as u64).sum()
    }
}

/// A scalar JSON value as a param or tag string.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One parsed line.
enum Line {
    Metric {
        key: String,
        point_step: Option<i64>,
        value: f64,
        timestamp: Option<i64>,
    },
    Param(String, String),
    Tag(String, String),
    Artifact(String),
}

fn parse(t: &str) -> Result<Line, String> {
    let v: Value = serde_json::from_str(t).map_err(|e| e.to_string())?;
    let Some(o) = v.as_object() else {
        return Err("not a JSON object".into());
    };
    let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
    let nonempty = |k: String, what: &str| {
        if k.is_empty() {
            Err(format!("an empty {what}"))
        } else {
            Ok(k)
        }
    };
    if let Some(a) = o.get("artifact") {
        let a = a.as_str().ok_or("`artifact` must be a path string")?;
        return Ok(Line::Artifact(nonempty(a.to_string(), "artifact path")?));
    }
    let value = o.get("value").ok_or("no `value`")?;
    if let Some(k) = text("param") {
        let v = scalar(value).ok_or("a param's `value` must be a string, number or boolean")?;
        return Ok(Line::Param(nonempty(k, "param name")?, v));
    }
    if let Some(k) = text("tag") {
        let v = scalar(value).ok_or("a tag's `value` must be a string, number or boolean")?;
        return Ok(Line::Tag(nonempty(k, "tag name")?, v));
    }
    let key = nonempty(
        text("key").ok_or("no `key`, `param`, `tag` or `artifact`")?,
        "key",
    )?;
    match value {
        Value::String(s) => Ok(Line::Param(key, s.clone())),
        Value::Number(n) => Ok(Line::Metric {
            key,
            value: n.as_f64().ok_or("a number out of range")?,
            point_step: o.get("step").and_then(Value::as_i64),
            timestamp: o.get("timestamp").and_then(Value::as_i64),
        }),
        _ => Err("`value` must be a number (a metric) or a string (a param)".into()),
    }
}

impl Tail {
    pub(super) fn new(path: PathBuf) -> Tail {
        Tail {
            path,
            offset: 0,
            line_no: 0,
            bad_lines: 0,
        }
    }

    /// Counts a line that parsed but could not be acted on (an artifact that is not there).
    pub(super) fn bad(&mut self, line: u64, why: &str) {
        self.bad_lines += 1;
        eprintln!("lab: {}:{line}: {why}", self.path.display());
    }

    pub(super) fn read_new(&mut self) -> Ingest {
        let mut out = Ingest::default();
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return out;
        };
        if f.seek(std::io::SeekFrom::Start(self.offset)).is_err() {
            return out;
        }
        let mut r = std::io::BufReader::new(f);
        let mut by_key: BTreeMap<String, Vec<MetricPoint>> = BTreeMap::new();
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                // An incomplete last line: read it next time.
                Ok(_) if !line.ends_with('\n') => break,
                Ok(n) => {
                    self.offset += n as u64;
                    self.line_no += 1;
                    let t = line.trim();
                    if t.is_empty() {
                        continue;
                    }
                    match parse(t) {
                        Ok(Line::Metric {
                            key,
                            point_step,
                            value,
                            timestamp,
                        }) => {
                            let v = by_key.entry(key).or_default();
                            let step = point_step.unwrap_or(v.len() as i64);
                            v.push(MetricPoint {
                                step,
                                value,
                                time_ms: timestamp.unwrap_or(now_ns() / 1_000_000),
                            });
                        }
                        Ok(Line::Param(k, v)) => {
                            out.params.insert(k, v);
                        }
                        Ok(Line::Tag(k, v)) => {
                            out.tags.insert(k, v);
                        }
                        Ok(Line::Artifact(p)) => out.artifacts.push((self.line_no, p)),
                        Err(e) => {
                            let n = self.line_no;
                            self.bad(
                                n,
                                &format!(
                                    "skipped a metrics line ({e}); write {{\"key\":\"loss\",\"value\":0.3,\"step\":7}}, \
                                     {{\"param\":\"optimizer\",\"value\":\"adam\"}}, {{\"tag\":\"t\",\"value\":\"x\"}} \
                                     or {{\"artifact\":\"path\"}}"
                                ),
                            );
                        }
                    }
                }
            }
        }
        out.metrics = by_key
            .into_iter()
            .map(|(key, points)| MetricBatch { key, points })
            .collect();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_every_kind_and_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.jsonl");
        std::fs::write(
            &p,
            concat!(
                "{\"key\":\"loss\",\"value\":0.5,\"step\":3}\n",
                "{\"key\":\"optimizer\",\"value\":\"adam\"}\n",
                "{\"param\":\"layers\",\"value\":4}\n",
                "{\"tag\":\"stage\",\"value\":\"dev\"}\n",
                "{\"artifact\":\"out/plot.png\"}\n",
                "{\"key\":\"x\",\"value\":[1]}\n",
                "{\"artifact\":3}\n",
                "not json\n",
                "{\"key\":\"loss\",\"value\":0.4}",
            ),
        )
        .unwrap();
        let mut t = Tail::new(p.clone());
        let i = t.read_new();
        assert_eq!(i.metrics.len(), 1);
        assert_eq!(i.metrics[0].points[0].step, 3);
        assert_eq!(i.params["optimizer"], "adam");
        assert_eq!(i.params["layers"], "4");
        assert_eq!(i.tags["stage"], "dev");
        assert_eq!(i.artifacts, [(5, "out/plot.png".to_string())]);
        assert_eq!(t.bad_lines, 3);
        // The incomplete last line is read once it ends.
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        std::io::Write::write_all(&mut f, b"\n").unwrap();
        let i = t.read_new();
        assert_eq!((i.points(), i.metrics[0].points[0].value), (1, 0.4));
    }
}
