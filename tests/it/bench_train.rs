//! `lab bench train --quick`: the benchmark runs end to end on tiny configs (a debug build, in
//! seconds) and reports the PyTorch comparison as skipped when torch is turned off.

use crate::common::{self, Out};

/// `lab ARGS` in a fresh directory with PyTorch turned off.
fn bench(args: &[&str]) -> Out {
    let dir = tempfile::tempdir().unwrap();
    common::lab_env(dir.path(), &[("LAB_BENCH_NO_TORCH", "1")], args)
}

#[test]
fn quick_json_reports_every_config_and_the_skipped_comparison() {
    let out = bench(&["--json", "bench", "train", "--quick"]);
    assert!(out.ok(), "{out}");
    let v = out.json();
    assert_eq!(v["comparison"], "skipped");
    assert!(
        v["torch_note"]
            .as_str()
            .unwrap()
            .contains("LAB_BENCH_NO_TORCH")
    );
    assert!(v["pass"].is_null());
    assert_eq!(v["train_target"], 0.5);
    assert_eq!(v["forward_target"], 1.0);
    let rows = v["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["config"].as_str().unwrap()).collect();
    assert_eq!(names, ["ocr_teacher", "ocr_student", "doc_base"]);
    for r in rows {
        assert!(r["params"].as_u64().unwrap() > 0, "{r}");
        for k in ["lab_train", "lab_forward"] {
            let x = r[k].as_f64().unwrap();
            assert!(x.is_finite() && x > 0.0, "{k} = {x}");
        }
        for k in [
            "torch_train",
            "torch_forward",
            "train_ratio",
            "forward_ratio",
        ] {
            assert!(r[k].is_null(), "{k} should be absent: {r}");
        }
    }
    // The schedule and the cases the PyTorch script would read.
    assert_eq!(v["spec"]["cases"][0]["kind"], "ocr");
    assert_eq!(v["spec"]["cases"][2]["kind"], "doc");
    assert_eq!(v["spec"]["threads"], 2);
    assert!(
        ["avx512", "avx2", "baseline"].contains(&v["simd"].as_str().unwrap()),
        "{}",
        v["simd"]
    );
}

#[test]
fn quick_table_says_the_comparison_was_skipped() {
    let out = bench(&["bench", "train", "--quick", "--no-torch"]);
    assert!(out.ok(), "{out}");
    let text = &out.stdout;
    for want in [
        "LAB TRAIN",
        "TORCH TRAIN",
        "ocr_teacher",
        "ocr_student",
        "doc_base",
        "comparison with PyTorch skipped",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }
}

/// `lab bench store` measures a peer's figure with its own tool when installed and says
/// "quoted" otherwise (issue 17): a stand-in `dvc` on the PATH is measured, MLflow without a
/// Python that has it is quoted.
#[test]
fn store_bench_measures_installed_baselines_and_quotes_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let dvc = bin.join("dvc");
    std::fs::write(&dvc, "#!/bin/sh\nexit 0\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dvc, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let no_python = dir.path().join("no-python");
    let out = common::lab_env(
        dir.path(),
        &[
            ("PATH", path.as_str()),
            ("LAB_MLFLOW_PYTHON", no_python.to_str().unwrap()),
        ],
        &["--json", "bench", "store", "--scale-down", "100"],
    );
    let v = out.json();
    let source = |m: &str| {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["measurement"].as_str().unwrap().starts_with(m))
            .map(|r| r["baseline_source"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(source("re-snapshot"), "dvc add, measured here", "{v}");
    assert_eq!(source("points out"), "MLflow 3.17 + SQLite, quoted", "{v}");
    // A missed target is exit 1, every target met exit 0: either way the code says which.
    assert_eq!(out.ok(), v["pass"] == true, "{out}");
}

/// `lab bench layout` (the table finder's stage timings and grid survey; once an `#[ignore]`
/// probe in the layout tests) runs and reports every stage and both domains.
#[test]
fn layout_bench_reports_stages_and_the_grid_survey() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::lab_env(
        dir.path(),
        &[],
        &["--json", "bench", "layout", "--count", "1"],
    );
    assert!(out.ok(), "{out}");
    let v = out.json();
    for k in ["grey_ms", "skew_ms", "rotate_ms", "rules_ms", "spans_ms"] {
        assert!(v["stages"][k].as_f64().is_some_and(|x| x > 0.0), "{k}: {v}");
    }
    assert!(v["stages"]["cells"].as_u64().unwrap() > 0, "{v}");
    let domains: Vec<&str> = v["survey"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["domain"].as_str().unwrap())
        .collect();
    assert_eq!(domains, ["default", "shifted"]);
    assert_eq!(v["survey"][0]["exact_grid"], 1, "{v}");
}

/// `lab bench doc` (the document model's learning speed; once an `#[ignore]` probe in its
/// tests) trains the shipped shape and reports every epoch.
#[test]
fn doc_bench_reports_each_epoch_of_the_shipped_shape() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::lab_env(
        dir.path(),
        &[],
        &["--json", "bench", "doc", "--count", "4", "--epochs", "2"],
    );
    assert!(out.ok(), "{out}");
    let v = out.json();
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/configs/doc_base.toml"
    ))
    .unwrap();
    let hidden: u64 = shipped
        .lines()
        .find_map(|l| l.strip_prefix("hidden_size = "))
        .and_then(|v| v.trim().parse().ok())
        .expect("configs/doc_base.toml has hidden_size");
    assert_eq!(
        v["hidden_size"], hidden,
        "configs/doc_base.toml's shape: {v}"
    );
    let epochs = v["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2, "{v}");
    for e in epochs {
        let f1 = e["val_field_f1"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&f1), "{e}");
        assert!(e["val_loss"].as_f64().unwrap() > 0.0, "{e}");
    }
    assert!(
        epochs[1]["train_loss"].as_f64() < epochs[0]["train_loss"].as_f64(),
        "it learns: {v}"
    );
    assert!(v["samples_per_s"].as_f64().unwrap() > 0.0, "{v}");
}
