//! The metrics file of a run (`$LAB_METRICS`): complete new JSON lines since the last read,
//! grouped by key. A bad line is skipped with a message naming the file and line.

use std::collections::BTreeMap;
use std::io::{BufRead, Seek};
use std::path::PathBuf;

use crate::event::{MetricBatch, MetricPoint};
use crate::store::now_ns;

/// Reads complete new lines of the metrics file.
pub(super) struct Tail {
    path: PathBuf,
    offset: u64,
    line_no: u64,
    pub(super) bad_lines: u64,
}

#[derive(serde::Deserialize)]
struct Line {
    key: String,
    value: f64,
    #[serde(default)]
    step: Option<i64>,
    #[serde(default)]
    timestamp: Option<i64>,
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

    pub(super) fn read_new(&mut self) -> Vec<MetricBatch> {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        if f.seek(std::io::SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut r = std::io::BufReader::new(f);
        let mut by_key: BTreeMap<String, Vec<MetricPoint>> = BTreeMap::new();
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(n) if !line.ends_with('\n') => {
                    let _ = n; // an incomplete last line: read it next time
                    break;
                }
                Ok(n) => {
                    self.offset += n as u64;
                    self.line_no += 1;
                    let t = line.trim();
                    if t.is_empty() {
                        continue;
                    }
                    match serde_json::from_str::<Line>(t) {
                        Ok(l) => {
                            let v = by_key.entry(l.key).or_default();
                            let step = l.step.unwrap_or(v.len() as i64);
                            v.push(MetricPoint {
                                step,
                                value: l.value,
                                time_ms: l.timestamp.unwrap_or(now_ns() / 1_000_000),
                            });
                        }
                        Err(e) => {
                            self.bad_lines += 1;
                            eprintln!(
                                "lab: {}:{}: skipped a metrics line ({e}); write {{\"key\":\"loss\",\"value\":0.3,\"step\":7}}",
                                self.path.display(),
                                self.line_no
                            );
                        }
                    }
                }
            }
        }
        by_key
            .into_iter()
            .map(|(key, points)| MetricBatch { key, points })
            .collect()
    }
}
