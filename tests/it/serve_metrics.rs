//! `/metrics` of `lab serve` (issue 17, item 10: "`/metrics` has nothing on accuracy,
//! confidence, drift or arms"): accuracy from feedback over the monitoring window, mean
//! confidence, PSI per input feature against the drift reference — the same numbers
//! `lab monitor drift` computes — and requests per A/B arm, in the Prometheus text format with
//! HELP and TYPE lines; a missing reference is said in a comment, and the scrape still parses.

use crate::common;

use std::collections::BTreeMap;
use std::fs;
use std::time::Duration;

use common::server::{Server, line_png, project, wait_for};

const MONITORING: &str = r#"
[drift]
reference = "tt"
split = "train"

[rules.accuracy_drop]
metric = "accuracy"
condition = "below"
threshold = 0.5
window = "1h"
min_samples = 1000

[rules.low_confidence]
metric = "confidence"
condition = "below"
threshold = 0.0
window = "30m"
min_samples = 1000

[rules.drift_detected]
metric = "drift"
condition = "above"
threshold = 0.1
window = "1h"
min_samples = 1000
"#;

/// The scrape as text.
fn scrape(srv: &Server) -> String {
    let (st, v) = srv.req("GET", "/metrics", &[], b"");
    assert_eq!(st, 200);
    v.as_str().expect("text").to_string()
}

/// Every sample line parses, and every metric has HELP and TYPE lines before its samples.
fn well_formed(t: &str) {
    let mut typed = Vec::new();
    let mut helped = Vec::new();
    for line in t.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.push(rest.split(' ').next().unwrap().to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.push(rest.split(' ').next().unwrap().to_string());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let name = line.split(['{', ' ']).next().unwrap();
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|b| typed.iter().any(|t| t == b))
            .unwrap_or(name);
        assert!(typed.iter().any(|t| t == base), "no TYPE before {line}");
        assert!(helped.iter().any(|t| t == base), "no HELP before {line}");
        let v = line.rsplit(' ').next().unwrap();
        assert!(v.parse::<f64>().is_ok(), "bad sample line {line}");
    }
}

/// `lab_monitor_psi` samples: feature → value, for model `model`.
fn psi(t: &str, model: &str, reference: &str) -> BTreeMap<String, f64> {
    let head = format!("lab_monitor_psi{{model=\"{model}\",feature=\"");
    t.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&head)?;
            let (feature, rest) = rest.split_once('"')?;
            let value = rest.strip_prefix(&format!(",reference=\"{reference}\"}} "))?;
            Some((feature.to_string(), value.parse().unwrap()))
        })
        .collect()
}

#[test]
fn metrics_export_window_accuracy_confidence_psi_and_arm_requests() {
    let p = project(2);
    let png = line_png(&p);
    let srv = Server::start(&p, &["--addr", "127.0.0.1:0"]);
    srv.healthy();

    // Nothing served yet: the window's gauges are declared, with no value and no samples.
    let t = scrape(&srv);
    well_formed(&t);
    for want in [
        "# TYPE lab_monitor_accuracy gauge",
        "# TYPE lab_monitor_confidence_mean gauge",
        "# TYPE lab_monitor_psi gauge",
        "# TYPE lab_ab_requests_total counter",
        "lab_monitor_accuracy_samples 0\n",
        "lab_monitor_window_seconds{metric=\"accuracy\"} 3600\n",
    ] {
        assert!(t.contains(want), "{want} missing:\n{t}");
    }
    assert!(!t.contains("\nlab_monitor_accuracy "), "{t}");

    // Answers and feedback: two right, one wrong (and the wrong one corrected to right counts
    // once, as the last feedback says).
    let answers: Vec<serde_json::Value> = (0..4).map(|_| srv.ocr(&png, &[])).collect();
    let feedback = |id: &serde_json::Value, truth: &str| {
        let body = serde_json::json!({"request_id": id, "truth": truth}).to_string();
        let (st, v) = srv.req("POST", "/v1/feedback", &[], body.as_bytes());
        assert_eq!(st, 200, "{v}");
    };
    let text = |a: &serde_json::Value| a["text"].as_str().unwrap().to_string();
    feedback(&answers[0]["request_id"], &text(&answers[0]));
    feedback(&answers[1]["request_id"], &text(&answers[1]));
    feedback(
        &answers[2]["request_id"],
        &format!("{}x", text(&answers[2])),
    );
    wait_for(
        "three answers with feedback",
        Duration::from_secs(20),
        || srv.metric("lab_monitor_accuracy_samples") == Some(3.0),
    );
    let acc = srv.metric("lab_monitor_accuracy").unwrap();
    assert!((acc - 2.0 / 3.0).abs() < 1e-12, "{acc}");
    let confs: Vec<f64> = answers
        .iter()
        .filter_map(|a| a["confidence"].as_f64())
        .collect();
    wait_for(
        "four inferences and three feedbacks in the log",
        Duration::from_secs(20),
        || srv.metric("lab_records_recorded_total") == Some(7.0),
    );
    assert_eq!(
        srv.metric("lab_monitor_confidence_mean_samples"),
        Some(confs.len() as f64)
    );
    if !confs.is_empty() {
        let mean = confs.iter().sum::<f64>() / confs.len() as f64;
        let got = srv.metric("lab_monitor_confidence_mean").unwrap();
        assert!((got - mean).abs() < 1e-9, "{got} vs {mean}");
    }

    // The default drift reference (`timetables`) is not in this project: PSI is left out, a
    // comment says why, and the scrape still parses.
    wait_for(
        "the inferences in the window",
        Duration::from_secs(20),
        || scrape(&srv).contains("# lab: no PSI for ocr_teacher"),
    );
    let t = scrape(&srv);
    well_formed(&t);
    assert!(t.contains("timetables"), "{t}");
    assert!(!t.contains("\nlab_monitor_psi{"), "{t}");

    // With the tiny dataset as the reference (read at each scrape, no restart): one PSI per
    // input feature, the numbers `lab monitor drift` gives for the same window.
    fs::write(p.path("configs/monitoring.toml"), MONITORING).unwrap();
    wait_for("PSI per feature", Duration::from_secs(60), || {
        !psi(&scrape(&srv), "ocr_teacher", "tt@1").is_empty()
    });
    let t = scrape(&srv);
    well_formed(&t);
    assert!(
        t.contains("lab_monitor_window_seconds{metric=\"confidence\"} 1800\n"),
        "{t}"
    );
    let served = psi(&t, "ocr_teacher", "tt@1");
    let drift = p
        .ok(&[
            "--json",
            "monitor",
            "drift",
            "--reference",
            "tt",
            "--window",
            "1h",
        ])
        .json();
    let model = drift["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "ocr_teacher")
        .unwrap();
    let expected: BTreeMap<String, f64> = model["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["feature"].as_str().unwrap().to_string(),
                f["psi"].as_f64().unwrap(),
            )
        })
        .collect();
    assert!(expected.contains_key("brightness"), "{drift}");
    assert_eq!(
        served.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (k, v) in &expected {
        assert!((served[k] - v).abs() < 1e-12, "{k}: {} vs {v}", served[k]);
    }

    // An A/B test: requests counted per arm, as the answers say they were routed.
    p.ok(&[
        "ab",
        "start",
        "t1",
        "--a",
        "ocr_teacher@1",
        "--b",
        "ocr_teacher@2",
        "--split",
        "0.5",
    ]);
    wait_for("the A/B test served", Duration::from_secs(20), || {
        let (_, v) = srv.req("GET", "/healthz", &[], b"");
        v["serving"].as_str().unwrap_or("").contains("A/B test t1")
    });
    let mut per_arm: BTreeMap<String, f64> = BTreeMap::new();
    for i in 0..12 {
        let key = format!("user-{i}");
        let a = srv.ocr(&png, &[("X-Lab-Key", &key)]);
        *per_arm
            .entry(a["arm"].as_str().unwrap().to_string())
            .or_default() += 1.0;
    }
    assert_eq!(per_arm.values().sum::<f64>(), 12.0);
    for (arm, version) in [("t1/a", 1), ("t1/b", 2)] {
        let letter = &arm[3..];
        let got = srv
            .metric(&format!(
                "lab_ab_requests_total{{test=\"t1\",arm=\"{letter}\",model=\"ocr_teacher\",version=\"{version}\"}}"
            ))
            .unwrap_or(0.0);
        assert_eq!(got, per_arm.get(arm).copied().unwrap_or(0.0), "{arm}");
    }
    well_formed(&scrape(&srv));
}
