//! `lab bench train --quick`: the benchmark runs end to end on tiny configs (a debug build, in
//! seconds) and reports the PyTorch comparison as skipped when torch is turned off.

use std::process::Command;

fn bench(args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(args)
        .current_dir(dir.path())
        .env("LAB_BENCH_NO_TORCH", "1")
        .env_remove("LAB_BENCH_PYTHON")
        .output()
        .expect("spawn lab")
}

#[test]
fn quick_json_reports_every_config_and_the_skipped_comparison() {
    let out = bench(&["--json", "bench", "train", "--quick"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
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
    let out = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["--json", "bench", "store", "--scale-down", "100"])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("LAB_MLFLOW_PYTHON", dir.path().join("no-python"))
        .output()
        .expect("spawn lab");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
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
    assert_eq!(out.status.success(), v["pass"] == true);
}
