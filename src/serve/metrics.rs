//! `GET /metrics` in the Prometheus text exposition format (version 0.0.4): requests by
//! endpoint and status, a latency histogram per endpoint, inference records recorded and
//! pending, the model versions served, requests per A/B arm, and the monitoring window's
//! figures ([`WindowGauges`]: accuracy from feedback, mean confidence, PSI per input feature
//! against the drift reference — computed by `lab monitor`'s code, see
//! `commands::monitor::window_gauges`).

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
    /// OCR requests answered per A/B arm: (test, arm letter, model, version).
    arms: Mutex<BTreeMap<(String, String, String, u32), u64>>,
}

/// One figure over a window of recorded inferences or feedback.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Windowed {
    /// `None` when the window holds nothing to measure.
    pub value: Option<f64>,
    pub samples: usize,
    pub window_s: f64,
}

/// One feature's PSI for one model.
#[derive(Clone, Debug, PartialEq)]
pub struct FeaturePsi {
    pub model: String,
    pub feature: String,
    pub psi: f64,
    /// The model's inferences in the window.
    pub samples: usize,
}

/// The monitoring window's figures, as `lab monitor` computes them (configs/monitoring.toml's
/// windows and drift reference).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WindowGauges {
    pub accuracy: Windowed,
    pub confidence: Windowed,
    /// The drift window (its value is unused) and the reference compared with (`NAME@N`).
    pub drift: Windowed,
    pub reference: String,
    pub psi: Vec<FeaturePsi>,
    /// Why a figure is missing (no reference configured, a snapshot that is gone…), written as
    /// comments so that a scrape still parses.
    pub notes: Vec<String>,
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

    /// Counts one OCR request answered by `arm` (`a` or `b`) of A/B test `test`.
    pub fn arm_request(&self, test: &str, arm: &str, model: &str, version: u32) {
        *self
            .arms
            .lock()
            .unwrap()
            .entry((test.into(), arm.into(), model.into(), version))
            .or_default() += 1;
    }

    /// The exposition text; `served` is (endpoint, model, version, arm) per served model,
    /// `window` the monitoring window's figures.
    pub fn render(
        &self,
        served: &[(String, String, u32, String)],
        window: &WindowGauges,
    ) -> String {
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
        s.push_str("# HELP lab_ab_requests_total OCR requests answered per arm of an A/B test (since the server started).\n");
        s.push_str("# TYPE lab_ab_requests_total counter\n");
        for ((test, arm, model, version), n) in self.arms.lock().unwrap().iter() {
            let _ = writeln!(
                s,
                "lab_ab_requests_total{{test=\"{}\",arm=\"{}\",model=\"{}\",version=\"{version}\"}} {n}",
                esc(test),
                esc(arm),
                esc(model)
            );
        }
        render_window(&mut s, window);
        s
    }
}

/// The monitoring window's gauges (see [`WindowGauges`]).
fn render_window(s: &mut String, w: &WindowGauges) {
    s.push_str("# HELP lab_monitor_window_seconds The window each monitoring figure looks back over (configs/monitoring.toml).\n");
    s.push_str("# TYPE lab_monitor_window_seconds gauge\n");
    for (metric, x) in [
        ("accuracy", &w.accuracy),
        ("confidence", &w.confidence),
        ("psi", &w.drift),
    ] {
        let _ = writeln!(
            s,
            "lab_monitor_window_seconds{{metric=\"{metric}\"}} {}",
            x.window_s
        );
    }
    for (name, help, samples, x) in [
        (
            "lab_monitor_accuracy",
            "Share of correct answers among the feedback in the window (the last feedback per request counts).",
            "Answers with feedback in the accuracy window.",
            &w.accuracy,
        ),
        (
            "lab_monitor_confidence_mean",
            "Mean confidence of the inferences in the window that report one.",
            "Inferences reporting a confidence in the confidence window.",
            &w.confidence,
        ),
    ] {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} gauge");
        if let Some(v) = x.value {
            let _ = writeln!(s, "{name} {v}");
        }
        let _ = writeln!(
            s,
            "# HELP {name}_samples {samples}\n# TYPE {name}_samples gauge\n{name}_samples {}",
            x.samples
        );
    }
    s.push_str("# HELP lab_monitor_psi Population stability index of an input feature in the window against the drift reference ([drift] of configs/monitoring.toml): < 0.1 none, 0.1-0.2 moderate, > 0.2 significant.\n");
    s.push_str("# TYPE lab_monitor_psi gauge\n");
    for f in &w.psi {
        let _ = writeln!(
            s,
            "lab_monitor_psi{{model=\"{}\",feature=\"{}\",reference=\"{}\"}} {}",
            esc(&f.model),
            esc(&f.feature),
            esc(&w.reference),
            f.psi
        );
    }
    s.push_str("# HELP lab_monitor_psi_samples Inferences of a model in the drift window.\n");
    s.push_str("# TYPE lab_monitor_psi_samples gauge\n");
    let mut seen = Vec::new();
    for f in &w.psi {
        if !seen.contains(&&f.model) {
            seen.push(&f.model);
            let _ = writeln!(
                s,
                "lab_monitor_psi_samples{{model=\"{}\"}} {}",
                esc(&f.model),
                f.samples
            );
        }
    }
    for n in &w.notes {
        let _ = writeln!(s, "# lab: {}", n.replace('\n', " "));
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
        m.arm_request("t", "a", "ocr", 2);
        m.arm_request("t", "a", "ocr", 2);
        let w = WindowGauges {
            accuracy: Windowed {
                value: Some(0.75),
                samples: 4,
                window_s: 3600.0,
            },
            confidence: Windowed {
                value: None,
                samples: 0,
                window_s: 900.0,
            },
            drift: Windowed {
                value: None,
                samples: 3,
                window_s: 3600.0,
            },
            reference: "tt@1".into(),
            psi: vec![FeaturePsi {
                model: "ocr".into(),
                feature: "brightness".into(),
                psi: 0.25,
                samples: 3,
            }],
            notes: vec!["a note\non two lines".into()],
        };
        let t = m.render(&[("/v1/ocr".into(), "ocr\"x".into(), 2, "t/a".into())], &w);
        assert!(
            t.contains(
                "lab_ab_requests_total{test=\"t\",arm=\"a\",model=\"ocr\",version=\"2\"} 2\n"
            ),
            "{t}"
        );
        assert!(t.contains("\nlab_monitor_accuracy 0.75\n"), "{t}");
        assert!(t.contains("lab_monitor_accuracy_samples 4\n"), "{t}");
        assert!(
            !t.contains("\nlab_monitor_confidence_mean "),
            "no value, no sample: {t}"
        );
        assert!(
            t.contains("lab_monitor_window_seconds{metric=\"confidence\"} 900\n"),
            "{t}"
        );
        assert!(
            t.contains(
                "lab_monitor_psi{model=\"ocr\",feature=\"brightness\",reference=\"tt@1\"} 0.25\n"
            ),
            "{t}"
        );
        assert!(t.contains("# lab: a note on two lines\n"), "{t}");
        // Every metric has its HELP and TYPE before its samples.
        for line in t.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let base = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(
                t.contains(&format!("# TYPE {name} ")) || t.contains(&format!("# TYPE {base} ")),
                "no TYPE for {name}"
            );
            assert!(
                t.contains(&format!("# HELP {name} ")) || t.contains(&format!("# HELP {base} ")),
                "no HELP for {name}"
            );
        }
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
