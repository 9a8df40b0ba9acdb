//! `lab monitor` through the real binary: a tiny OCR model deployed to production reads line
//! images like served requests (`lab monitor track`); normal traffic raises nothing, traffic
//! from the shifted domain raises `drift_detected` exactly once (however often it is checked),
//! its `on_alert` command runs, and when the window has moved past the shifted traffic the
//! alert is resolved exactly once. Time is set with LAB_MONITOR_NOW so the windows move
//! without waiting. Bad input is refused with the log untouched.

use crate::common;

use std::fs;

use common::Project;
use serde_json::Value;

const GATES: &str = r#"
[validation]
dataset = "tt"
split = "val"
limit = 8

[[gate]]
metric = "accuracy"
op = ">="
threshold = 0.0
"#;

/// Drift against the tiny dataset's training lines, over a 10-minute window.
const RULES: &str = r#"
[drift]
reference = "tt"
split = "train"

[rules.drift_detected]
metric = "drift"
condition = "above"
threshold = 0.2
window = "10m"
min_samples = 40
on_alert = "echo \"$LAB_ALERT_RULE $LAB_ALERT_STATE $LAB_ALERT_METRIC\" >> alerts.log"
on_resolve = "echo \"$LAB_ALERT_RULE $LAB_ALERT_STATE\" >> alerts.log"

[rules.latency_increase]
metric = "latency_p95"
condition = "above"
threshold = 1000.0
window = "10m"
min_samples = 5

[rules.accuracy_drop]
metric = "accuracy"
condition = "below"
threshold = 0.9
window = "10m"
min_samples = 5
"#;

/// 2027-01-15 08:00:00 UTC, in ms.
const T0: i64 = 1_800_000_000_000;
const MINUTE: i64 = 60_000;

fn at(p: &Project, t: i64, args: &[&str]) -> common::Out {
    let t = t.to_string();
    let out = p.lab_env(&[("LAB_MONITOR_NOW", t.as_str())], args);
    assert!(out.ok(), "expected success:\n{out}");
    out
}

/// `lab monitor check` while a rule fires: exit status 3.
fn firing(p: &Project, t: i64, args: &[&str]) -> common::Out {
    let t = t.to_string();
    let out = p.lab_env(&[("LAB_MONITOR_NOW", t.as_str())], args);
    assert_eq!(out.code, 3, "expected exit 3 while a rule fires:\n{out}");
    out
}

fn count(p: &Project, kind: &str) -> usize {
    p.events().iter().filter(|e| e["kind"] == kind).count()
}

fn rule<'a>(check: &'a Value, name: &str) -> &'a Value {
    check["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == name)
        .unwrap_or_else(|| panic!("no rule {name} in {check}"))
}

#[test]
fn drift_raises_once_and_resolves_once_when_traffic_returns_to_normal() {
    let p = Project::with_tiny_dataset();
    assert!(
        p.path("configs/monitoring.toml").is_file(),
        "lab init writes the default monitoring rules"
    );
    fs::write(p.path("configs/monitoring.toml"), RULES).unwrap();
    fs::write(p.path("configs/deploy.toml"), GATES).unwrap();
    p.ok(&["train", "ocr-teacher", "--epochs", "1"]);
    p.ok(&["deploy", "ocr_teacher@1", "--env", "production"]);
    p.ok(&[
        "data", "synth", "tt", "--domain", "shifted", "--seed", "5", "--count", "8",
    ]);
    // Normal traffic is drawn from the reference itself: with 8 timetables, one split's lines
    // come from one or two timetables whose font size alone sets them apart from the rest.
    let normal = "datasets/tt/lines/train";
    let shifted = "datasets/tt_shifted/lines/train";

    // Nothing recorded yet: drift has nothing to compare.
    let e = p.fails_env(
        &[("LAB_MONITOR_NOW", &T0.to_string())],
        &["monitor", "drift", "--window", "10m"],
    );
    e.stderr_has(&["no inferences", "last 10m"]);

    // Normal traffic: the deployed model reads the lines; nothing fires.
    let t = at(&p, T0, &["--json", "monitor", "track", normal]).json();
    assert_eq!(t["model"], "ocr_teacher@1");
    let n_normal = t["recorded"].as_u64().unwrap();
    assert!(n_normal >= 100, "{t}");
    assert!(t["check"]["raised"].as_array().unwrap().is_empty(), "{t}");
    let d = rule(&t["check"], "drift_detected");
    assert_eq!(d["state"], "ok", "{d}");
    assert!(d["value"].as_f64().unwrap() < 0.2, "{d}");
    assert_eq!(rule(&t["check"], "latency_increase")["state"], "ok");
    // No feedback was sent: accuracy has too few samples to decide.
    assert_eq!(
        rule(&t["check"], "accuracy_drop")["state"],
        "too few samples"
    );
    // A one-epoch model may emit no character at all: then it reports no confidence.
    let conf = &t["mean_confidence"];
    assert!(
        conf.is_null() || (0.0..=1.0).contains(&conf.as_f64().unwrap()),
        "{t}"
    );

    // The drift table: one DriftChecked per feature, no drift.
    let dr = at(&p, T0, &["--json", "monitor", "drift", "--window", "10m"]).json();
    assert_eq!(dr["reference"], "tt@1");
    assert_eq!(dr["drifted"], false, "{dr}");
    let feats = dr["models"][0]["features"].as_array().unwrap();
    assert_eq!(feats.len(), 6);
    assert_eq!(count(&p, "drift"), 6);

    // Shifted traffic a minute later dominates the window: drift_detected is raised once.
    let t = at(&p, T0 + MINUTE, &["--json", "monitor", "track", shifted]).json();
    let n_shifted = t["recorded"].as_u64().unwrap();
    assert!(n_shifted > n_normal, "{n_shifted} vs {n_normal}");
    assert_eq!(
        t["check"]["raised"],
        serde_json::json!(["drift_detected"]),
        "{t}"
    );
    assert_eq!(t["check"]["hooks"][0]["ok"], true, "{t}");
    let v = rule(&t["check"], "drift_detected")["value"]
        .as_f64()
        .unwrap();
    assert!(v > 0.2, "{v}");
    // Checked again, by another process: still one alert, and exit 3 while it fires (CI
    // gates on it).
    let c = firing(&p, T0 + MINUTE, &["--json", "monitor", "check"]).json();
    assert!(c["raised"].as_array().unwrap().is_empty(), "{c}");
    assert_eq!(rule(&c, "drift_detected")["open"], true);
    firing(&p, T0 + 2 * MINUTE, &["monitor", "check"]);
    assert_eq!(count(&p, "alert-raised"), 1);
    let open = at(&p, T0 + 2 * MINUTE, &["--json", "monitor", "alerts"]).json_lines();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["rule"], "drift_detected");
    let dr = at(
        &p,
        T0 + MINUTE,
        &["--json", "monitor", "drift", "--model", "ocr_teacher"],
    )
    .json();
    assert_eq!(dr["drifted"], true, "{dr}");

    // Twenty minutes on, only normal traffic is in the window: resolved once.
    let t = at(
        &p,
        T0 + 20 * MINUTE,
        &["--json", "monitor", "track", normal],
    )
    .json();
    assert_eq!(
        t["check"]["resolved"],
        serde_json::json!(["drift_detected"]),
        "{t}"
    );
    at(&p, T0 + 21 * MINUTE, &["monitor", "check"]);
    assert_eq!(count(&p, "alert-resolved"), 1);
    assert_eq!(count(&p, "alert-raised"), 1);
    let text = at(&p, T0 + 21 * MINUTE, &["monitor", "alerts"]).stdout;
    assert!(text.contains("no open alerts"), "{text}");
    let all = at(
        &p,
        T0 + 21 * MINUTE,
        &["--json", "monitor", "alerts", "--all"],
    )
    .json_lines();
    assert_eq!(all.len(), 1);
    assert!(all[0]["resolved_seq"].as_u64().is_some());

    // A folder with a labels.jsonl: its truth is recorded as feedback and scored.
    let val: Vec<Value> = fs::read_to_string(p.path("datasets/tt/lines/val.jsonl"))
        .unwrap()
        .lines()
        .take(4)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    fs::create_dir_all(p.path("labelled")).unwrap();
    let mut labels = String::new();
    for (i, v) in val.iter().enumerate() {
        let name = format!("l{i}.png");
        fs::copy(
            p.path(format!("datasets/tt/{}", v["image"].as_str().unwrap())),
            p.path(format!("labelled/{name}")),
        )
        .unwrap();
        labels.push_str(&format!(
            "{}\n",
            serde_json::json!({"image": name, "text": v["text"]})
        ));
    }
    fs::write(p.path("labelled/labels.jsonl"), labels).unwrap();
    let fb = count(&p, "feedback");
    let t = at(
        &p,
        T0 + 22 * MINUTE,
        &[
            "--json",
            "monitor",
            "track",
            "labelled",
            "--model",
            "ocr_teacher@1",
        ],
    )
    .json();
    assert_eq!(t["labelled"], 4, "{t}");
    assert!(t["correct"].as_u64().unwrap() <= 4);
    assert_eq!(
        count(&p, "feedback"),
        fb + 1,
        "one feedback event of four records"
    );
    fs::write(p.path("labelled/labels.jsonl"), "{\"image\": 3}\n").unwrap();
    p.fails_env(
        &[("LAB_MONITOR_NOW", &(T0 + 23 * MINUTE).to_string())],
        &["monitor", "track", "labelled", "--model", "ocr_teacher@1"],
    )
    .stderr_has(&["labels.jsonl:1", "not a label"]);

    // The hooks ran once each, with the alert in their environment.
    let log = fs::read_to_string(p.path("alerts.log")).unwrap();
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        ["drift_detected raised drift", "drift_detected resolved"]
    );

    // The views rebuilt from the log equal the live ones.
    let before = at(&p, T0, &["--json", "monitor", "alerts", "--all"]).stdout;
    p.ok(&["reindex"]);
    assert_eq!(
        at(&p, T0, &["--json", "monitor", "alerts", "--all"]).stdout,
        before
    );
}

#[test]
fn bad_input_is_refused_with_the_log_untouched() {
    let p = Project::new();
    let now = [("LAB_MONITOR_NOW", "1800000000000")];
    p.fails_env(&now, &["monitor", "drift", "--window", "soon"])
        .stderr_has(&["--window", "soon", "15m"]);
    p.fails_env(&[("LAB_MONITOR_NOW", "yesterday")], &["monitor", "check"])
        .stderr_has(&["LAB_MONITOR_NOW", "RFC 3339"]);
    p.fails(&["monitor", "drift", "--model", "nope"])
        .stderr_has(&["--model nope", "no models yet"]);
    p.fails(&["monitor", "track", "missing.png"])
        .stderr_has(&["missing.png", "no such file"]);
    fs::write(p.path("line.png"), b"not a png").unwrap();
    p.fails(&["monitor", "track", "line.png"])
        .stderr_has(&["no OCR model is deployed in production"]);
    fs::write(
        p.path("configs/monitoring.toml"),
        "[rules.x]\nmetric = \"drift\"\ncondition = \"above\"\nthreshold = 0.1\nwindow = \"1h\"\nwindw = \"2h\"\n",
    )
    .unwrap();
    p.fails(&["monitor", "check"])
        .stderr_has(&["monitoring.toml:6:", "windw"]);
    fs::write(
        p.path("configs/monitoring.toml"),
        "[rules.x]\nmetric = \"drift\"\ncondition = \"above\"\nthreshold = 0.1\nwindow = \"fortnight\"\n",
    )
    .unwrap();
    p.fails(&["monitor", "check"]).stderr_has(&[
        "monitoring.toml:5:",
        "rules.x.window",
        "fortnight",
    ]);
    // No rules and no records: a check decides nothing and records nothing.
    fs::write(p.path("configs/monitoring.toml"), "").unwrap();
    let before = p.log_json();
    let c = p.ok(&["--json", "monitor", "check"]).json();
    assert!(c["rules"].as_array().unwrap().is_empty());
    assert_eq!(p.log_json(), before);
}
