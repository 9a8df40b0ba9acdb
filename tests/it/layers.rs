//! The layers of ARCHITECTURE.md, checked on the source: candle only under `src/ml/`, no import
//! pointing up a layer, the tests' fault hooks read in one fenced file, and the test harness
//! clearing every one of them from a child's environment.

use std::path::{Path, PathBuf};

use crate::common;

/// Every `.rs` file under `src/DIR` (or the file `src/DIR.rs`), with its text.
fn sources(dir: &str) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let file = root.join(format!("{dir}.rs"));
    if file.is_file() {
        out.push((file.clone(), std::fs::read_to_string(&file).unwrap()));
    }
    let base = if dir.is_empty() { root } else { root.join(dir) };
    if base.is_dir() {
        for e in walkdir::WalkDir::new(&base).sort_by_file_name() {
            let e = e.unwrap();
            if e.path().extension().is_some_and(|x| x == "rs") {
                out.push((
                    e.path().to_path_buf(),
                    std::fs::read_to_string(e.path()).unwrap(),
                ));
            }
        }
    }
    assert!(!out.is_empty(), "no sources under src/{dir}");
    out
}

/// The files under `src/DIR` whose code (comments left out) contains one of `needles`.
fn offenders(dir: &str, needles: &[&str]) -> Vec<String> {
    sources(dir)
        .into_iter()
        .filter(|(_, text)| {
            text.lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .any(|code| needles.iter().any(|n| code.contains(n)))
        })
        .map(|(p, _)| p.display().to_string())
        .collect()
}

#[test]
fn candle_is_used_only_under_src_ml() {
    let outside: Vec<String> = offenders("", &["candle_core", "candle_nn", "candle_transformers"])
        .into_iter()
        .filter(|p| !p.contains("/src/ml/"))
        .collect();
    assert!(outside.is_empty(), "candle outside src/ml/: {outside:?}");
}

#[test]
fn no_import_points_up_a_layer() {
    // (folder, what it must not import)
    let rules: [(&str, &[&str]); 7] = [
        (
            "event",
            &["crate::store", "crate::lab", "crate::commands", "crate::ml"],
        ),
        (
            "store",
            &[
                "crate::lab",
                "crate::commands",
                "crate::ml",
                "crate::serve",
                "crate::tracking",
            ],
        ),
        (
            "ml",
            &[
                "crate::store",
                "crate::lab",
                "crate::commands",
                "crate::serve",
            ],
        ),
        ("stages", &["crate::commands", "crate::dispatch"]),
        (
            "report",
            &["crate::lab", "crate::commands", "crate::dispatch"],
        ),
        (
            "watch",
            &["crate::lab", "crate::commands", "crate::dispatch"],
        ),
        ("commands", &["crate::dispatch", "crate::cli"]),
    ];
    let mut bad = Vec::new();
    for (dir, banned) in rules {
        for file in offenders(dir, banned) {
            bad.push(format!("{file} imports one of {banned:?}"));
        }
    }
    assert!(bad.is_empty(), "imports up a layer:\n{}", bad.join("\n"));
}

#[test]
fn fault_hooks_are_read_only_in_src_faults() {
    let outside: Vec<String> = offenders("", &["LAB_FAULT_"])
        .into_iter()
        .filter(|p| !p.ends_with("src/faults.rs"))
        .collect();
    assert!(
        outside.is_empty(),
        "LAB_FAULT_ read outside src/faults.rs: {outside:?}"
    );
    for hook in lab::faults::ALL {
        assert!(
            common::LAB_ENV.contains(&hook),
            "{hook} is not cleared from the tests' children (tests/it/common LAB_ENV)"
        );
    }
}
