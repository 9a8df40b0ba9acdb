//! `GET /metrics` in the Prometheus text exposition format (version 0.0.4): requests by
//! endpoint and status, a latency histogram per endpoint, inference records recorded and
//! pending, and the model versions served.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Hist {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Hist>>,
    /// Inference and feedback records appended to the log.
    pub recorded: AtomicU64,
    /// Records made but not yet appended.
    pub pending: AtomicU64,
    /// Appends that failed (and were retried).
    pub append_errors: AtomicU64,
    /// Connections open now.
    pub conns_open: AtomicU64,
    /// Connections closed to make room for a new one (see `conns`).
    pub conns_evicted: AtomicU64,
    /// Connections refused because every open one was inside a request.
    pub conns_refused: AtomicU64,
}

impl Metrics {
    /// Counts one finished request.
    pub fn observe(&self, endpoint: &str, status: u16, seconds: f64) {
        *self
            .requests
            .lock()
            .unwrap()
            .entry((endpoint.to_string(), status))
            .or_default() += 1;
        let mut lat = self.latency.lock().unwrap();
        let h = lat.entry(endpoint.to_string()).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// The exposition text; `served` is (endpoint, model, version, arm) per served model.
    pub fn render(&self, served: &[(String, String, u32, String)]) -> String {
        let mut s = String::new();
        s.push_str("# HELP lab_requests_total HTTP requests by endpoint and status.\n");
        s.push_str("# TYPE lab_requests_total counter\n");
        for ((e, st), n) in self.requests.lock().unwrap().iter() {
            let _ = writeln!(
                s,
                "lab_requests_total{{endpoint=\"{}\",status=\"{st}\"}} {n}",
                esc(e)
            );
        }
        s.push_str("# HELP lab_request_duration_seconds Request latency by endpoint.\n");
        s.push_str("# TYPE lab_request_duration_seconds histogram\n");
        for (e, h) in self.latency.lock().unwrap().iter() {
            let e = esc(e);
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "lab_request_duration_seconds_bucket{{endpoint=\"{e}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                s,
                "lab_request_duration_seconds_bucket{{endpoint=\"{e}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                s,
                "lab_request_duration_seconds_sum{{endpoint=\"{e}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                s,
                "lab_request_duration_seconds_count{{endpoint=\"{e}\"}} {}",
                h.count
            );
        }
        for (name, help, kind, v) in [
            (
                "lab_records_recorded_total",
                "Inference and feedback records appended to the log.",
                "counter",
                &self.recorded,
            ),
            (
                "lab_records_pending",
                "Records waiting for the next append.",
                "gauge",
                &self.pending,
            ),
            (
                "lab_record_append_errors_total",
                "Appends that failed and were retried.",
                "counter",
                &self.append_errors,
            ),
            (
                "lab_connections_open",
                "Client connections open now.",
                "gauge",
                &self.conns_open,
            ),
            (
                "lab_connections_evicted_total",
                "Connections outside a request closed to make room (the connection limit).",
                "counter",
                &self.conns_evicted,
            ),
            (
                "lab_connections_refused_total",
                "Connections refused at the limit while every open one was inside a request.",
                "counter",
                &self.conns_refused,
            ),
        ] {
            let _ = writeln!(
                s,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        s.push_str("# HELP lab_served_model The model versions served (1 per served model).\n");
        s.push_str("# TYPE lab_served_model gauge\n");
        for (e, m, v, arm) in served {
            let _ = writeln!(
                s,
                "lab_served_model{{endpoint=\"{}\",model=\"{}\",version=\"{v}\",arm=\"{}\"}} 1",
                esc(e),
                esc(m),
                esc(arm)
            );
        }
        s
    }
}

/// Escapes a label value (backslash, quote, newline).
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_text_is_well_formed() {
        let m = Metrics::default();
        m.observe("/v1/ocr", 200, 0.003);
        m.observe("/v1/ocr", 200, 0.2);
        m.observe("/v1/ocr", 400, 20.0);
        let t = m.render(&[("/v1/ocr".into(), "ocr\"x".into(), 2, "t/a".into())]);
        assert!(t.contains("lab_requests_total{endpoint=\"/v1/ocr\",status=\"200\"} 2\n"));
        assert!(t.contains("le=\"0.005\"} 1\n"), "{t}");
        assert!(t.contains("le=\"0.25\"} 2\n"), "{t}");
        assert!(t.contains("le=\"+Inf\"} 3\n"), "{t}");
        assert!(t.contains("model=\"ocr\\\"x\",version=\"2\",arm=\"t/a\"} 1"));
        for line in t.lines().filter(|l| !l.starts_with('#')) {
            let v = line.rsplit(' ').next().unwrap();
            assert!(v.parse::<f64>().is_ok(), "bad sample line {line}");
        }
    }
}
