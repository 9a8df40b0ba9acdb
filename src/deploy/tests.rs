//! The gates file: shapes, per-task checks, messages.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;

fn cfg(text: &str) -> DeployConfig {
    DeployConfig::parse(Path::new("configs/deploy.toml"), text).unwrap()
}

fn metrics(kv: &[(&str, f64)]) -> BTreeMap<String, f64> {
    kv.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn the_embedded_default_has_gates_per_task() {
    let c = cfg(DEFAULT);
    let ocr = c.task(Task::Ocr).unwrap();
    let names: Vec<&str> = ocr.gates.iter().map(|g| g.metric.as_str()).collect();
    assert_eq!(names, ["accuracy", "cer", "latency_p95_ms"]);
    assert_eq!(ocr.max_regression, Some(0.02));
    let doc = c.task(Task::Doc).unwrap();
    let names: Vec<&str> = doc.gates.iter().map(|g| g.metric.as_str()).collect();
    assert_eq!(names, ["field_f1", "invalid"]);
    assert_eq!(c.regression_metric(Task::Doc), "field_f1");
    let e = c.extraction_gates().unwrap();
    let names: Vec<&str> = e.gates.iter().map(|g| g.metric.as_str()).collect();
    assert_eq!(names, ["entry_f1", "latency_per_page"]);
    assert!(c.task(Task::Other).is_none());
    assert_eq!(c.validation.split, "val");
    assert!(c.unknown_metric(Task::Ocr, &[]).is_none());
    assert!(c.unknown_metric(Task::Doc, &[]).is_none());
}

#[test]
fn a_document_model_is_not_judged_by_the_ocr_gates() {
    // The first shape of the file: top-level gates are the OCR gates, nothing else's.
    let c = cfg("[[gate]]\nmetric = \"accuracy\"\nop = \">\"\nthreshold = 0.9\n");
    assert_eq!(
        c.check(Task::Ocr, &metrics(&[("accuracy", 0.95)]), None)
            .len(),
        1
    );
    assert!(c.task(Task::Doc).is_none());
    assert!(
        c.check(Task::Doc, &metrics(&[("accuracy", 0.5)]), None)
            .is_empty()
    );
    let c = cfg(
        "[[doc.gate]]\nmetric = \"field_f1\"\nop = \">\"\nthreshold = 0.9\n\
         [[ocr.gate]]\nmetric = \"cer\"\nop = \"<\"\nthreshold = 0.05\n",
    );
    let r = c.check(
        Task::Doc,
        &metrics(&[("field_f1", 0.95), ("cer", 0.5)]),
        None,
    );
    assert_eq!(
        (r.len(), r[0].metric.as_str(), r[0].passed),
        (1, "field_f1", true)
    );
    // An OCR metric under [doc] is unknown there.
    let c = cfg("[[doc.gate]]\nmetric = \"cer\"\nop = \"<\"\nthreshold = 0.05\n");
    let (m, section, _) = c.unknown_metric(Task::Doc, &[]).unwrap();
    assert_eq!((m.as_str(), section), ("cer", "[doc]"));
    // Other models are judged on what their run recorded.
    let c = cfg("[[other.gate]]\nmetric = \"val_auc\"\nop = \">\"\nthreshold = 0.8\n");
    assert!(c.unknown_metric(Task::Other, &["val_auc".into()]).is_none());
    assert!(c.unknown_metric(Task::Other, &["loss".into()]).is_some());
}

#[test]
fn gates_compare_with_each_operator_and_a_missing_metric_fails() {
    let c = cfg(r#"
[[ocr.gate]]
metric = "accuracy"
op = ">"
threshold = 0.9
[[ocr.gate]]
metric = "val.cer"
op = "<="
threshold = 0.1
[[ocr.gate]]
name = "fast"
metric = "latency"
op = "<"
threshold = 0.5
[[ocr.gate]]
metric = "lines_per_s"
op = ">="
threshold = 100.0
"#);
    let r = c.check(
        Task::Ocr,
        &metrics(&[("accuracy", 0.9), ("cer", 0.1), ("latency", 0.2)]),
        None,
    );
    let passed: Vec<bool> = r.iter().map(|g| g.passed).collect();
    // 0.9 > 0.9 fails; 0.1 <= 0.1 passes (split prefix stripped); 0.2 < 0.5 passes;
    // lines_per_s was not measured: fails.
    assert_eq!(passed, [false, true, true, false]);
    assert_eq!(r[2].name, "fast");
    assert_eq!(r[3].value, None);
    assert!(!Op::Gt.holds(f64::NAN, 0.0));
}

#[test]
fn regression_gate_follows_the_metric_direction_and_needs_a_baseline() {
    let c = cfg("max_regression = 0.02\n");
    assert!(
        c.check(Task::Ocr, &metrics(&[("accuracy", 0.5)]), None)
            .is_empty()
    );
    let r = c.check(Task::Ocr, &metrics(&[("accuracy", 0.79)]), Some(0.80));
    assert!(r[0].passed && (r[0].threshold - 0.78).abs() < 1e-12 && r[0].op == ">=");
    let r = c.check(Task::Ocr, &metrics(&[("accuracy", 0.77)]), Some(0.80));
    assert!(!r[0].passed);
    let c = cfg("[doc]\nmax_regression = 0.1\nregression_metric = \"latency\"\n");
    let r = c.check(Task::Doc, &metrics(&[("latency", 0.35)]), Some(0.3));
    assert!(r[0].passed && r[0].op == "<=");
    let r = c.check(Task::Doc, &metrics(&[("latency", 0.45)]), Some(0.3));
    assert!(!r[0].passed);
}

#[test]
fn extraction_gates_are_prefixed_and_checked_on_their_own_metrics() {
    let c = cfg(
        "[extraction]\nlimit = 5\n[[extraction.gate]]\nmetric = \"entry_f1\"\nop = \">\"\nthreshold = 0.5\n",
    );
    let r = c.check_extraction(&metrics(&[("entry_f1", 0.6)]));
    assert_eq!(
        (r[0].name.as_str(), r[0].passed),
        ("extraction.entry_f1", true)
    );
    assert_eq!(c.extraction_gates().unwrap().limit, 5);
    let c = cfg("[[extraction.gate]]\nmetric = \"accuracy\"\nop = \">\"\nthreshold = 0.5\n");
    assert_eq!(c.unknown_metric(Task::Ocr, &[]).unwrap().1, "[extraction]");
}

#[test]
fn a_file_without_gates_is_refused() {
    let p = Path::new("configs/deploy.toml");
    for text in [
        "",
        "# nothing here\n",
        "[validation]\nsplit = \"val\"\n",
        "[ocr]\n[doc]\n",
    ] {
        let e = DeployConfig::parse(p, text).unwrap_err().to_string();
        assert!(e.contains("deploy.toml") && e.contains("no gate"), "{e}");
    }
    let e = DeployConfig::parse(p, "max_regression = 0.1\n[ocr]\nmax_regression = 0.1\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("[ocr]") && e.contains("top-level"), "{e}");
}

#[test]
fn bad_files_name_the_place_and_the_key() {
    let p = Path::new("configs/deploy.toml");
    let e = DeployConfig::parse(p, "[validation]\nsplit = 3\n").unwrap_err();
    let s = e.to_string();
    assert!(s.contains("deploy.toml:2:"), "{s}");
    assert!(s.contains("split"), "{s}");
    let e = DeployConfig::parse(
        p,
        "[[gate]]\nmetric = \"accuracy\"\nop = \">\"\nthreshold = 0.9\ncolour = 1\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("deploy.toml:5:") && e.contains("colour"), "{e}");
    let e = DeployConfig::parse(
        p,
        "[[doc.gate]]\nmetric = \"field_f1\"\nop = \"=>\"\nthreshold = 0.9\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("deploy.toml:3:") && e.contains("=>"), "{e}");
    let c = cfg("[[gate]]\nmetric = \"acuracy\"\nop = \">\"\nthreshold = 0.9\n");
    assert_eq!(c.unknown_metric(Task::Ocr, &[]).unwrap().0, "acuracy");
}
