//! `lab ui`'s web pages in a real browser: headless Chromium loads each page (its scripts run:
//! the live poll, the chart zoom), and the test checks the rendered DOM for the page's key
//! elements and Chromium's log for any console message or uncaught error. Skipped loudly
//! where Chromium is not installed (`.ci/run` installs it).

use std::process::Command;

use serde_json::json;

use crate::common::Project;
use crate::ui::{Ui, run_id};

/// The Chromium binary, if one is installed.
fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// The DOM of `url` after its scripts ran, and the console lines Chromium logged for it.
fn load(browser: &str, url: &str) -> (String, Vec<String>) {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=3000",
            "--dump-dom",
            url,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium failed on {url}: {out:?}");
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .map(str::to_string)
        .collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}

#[test]
fn ui_pages_render_in_chromium_without_console_errors() {
    let Some(browser) = chromium() else {
        eprintln!(
            "SKIPPED ui_browser: no chromium on this machine (apt-get install chromium; .ci/run does)"
        );
        return;
    };
    let p = Project::new();
    let ui = Ui::start(&p, &[]);
    // Two runs with params and curves, an artifact, a registered model with an alias.
    let mut ids = Vec::new();
    for (name, lr) in [("first-run", "0.01"), ("second-run", "0.003")] {
        let id = run_id(&ui.ok(
            "POST",
            "runs/create",
            json!({"experiment_id": "0", "run_name": name}),
        ));
        let metrics: Vec<_> = (0..10)
            .flat_map(|s| {
                [
                    json!({"key": "loss", "value": 1.0 / (1.0 + s as f64), "timestamp": s, "step": s}),
                    json!({"key": "accuracy", "value": s as f64 / 10.0, "timestamp": s, "step": s}),
                ]
            })
            .collect();
        ui.ok(
            "POST",
            "runs/log-batch",
            json!({"run_id": id, "metrics": metrics, "params": [{"key": "lr", "value": lr}]}),
        );
        ids.push(id);
    }
    ui.ok(
        "POST",
        "registered-models/create",
        json!({"name": "ocr_model"}),
    );
    ui.ok(
        "POST",
        "model-versions/create",
        json!({"name": "ocr_model", "source": format!("runs:/{}/model", ids[0]), "run_id": ids[0]}),
    );
    ui.ok(
        "POST",
        "registered-models/alias",
        json!({"name": "ocr_model", "alias": "champion", "version": "1"}),
    );
    let base = format!("http://{}", ui.addr);
    let pages = [
        (
            "/".to_string(),
            vec!["id=\"runs\"", "first-run", "second-run"],
        ),
        (
            format!("/runs/{}", ids[0]),
            vec![
                "first-run",
                "<svg",
                "<polyline",
                "lr",
                "0.01",
                "id=\"artifacts\"",
            ],
        ),
        (
            format!("/runs/{}?metric=loss", ids[0]),
            vec!["<svg", "<polyline"],
        ),
        (
            format!("/compare?runs={},{}", ids[0], ids[1]),
            vec![
                "param-diff",
                "first-run",
                "second-run",
                "0.003",
                "<polyline",
            ],
        ),
        ("/models".to_string(), vec!["ocr_model", "champion"]),
    ];
    for (path, markers) in pages {
        let (dom, console) = load(browser, &format!("{base}{path}"));
        for m in markers {
            assert!(dom.contains(m), "{path}: the rendered page lacks {m:?}");
        }
        // A chart's frame is an empty <rect>: an SVG element left open in the HTML would hold
        // the ticks and curves inside it, where the browser draws nothing.
        assert_eq!(
            dom.matches("<rect").count(),
            dom.matches(r##"stroke="#ccc"></rect>"##).count(),
            "{path}: a chart's <rect> holds other elements (an SVG tag left open)"
        );
        assert!(
            console.is_empty(),
            "{path}: the browser logged console messages:\n{}",
            console.join("\n")
        );
    }
}
