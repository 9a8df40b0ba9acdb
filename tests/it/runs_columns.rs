//! `lab runs ls --columns` (issue 17, item 5: "its metrics column shows the first four keys
//! alphabetically (hiding `val_accuracy`)"): the columns are chosen with the keys of `--filter`
//! — attributes, `params.KEY`, `metrics.KEY`, `tags.KEY` — in text and in `--json`, with
//! `--filter` and `--sort`; a key no run has is an empty cell, a bad one a clear error.

use crate::common;

use common::Project;
use serde_json::json;

/// A `lab run` whose command logs `val_accuracy` and a few other metrics.
fn run(p: &Project, name: &str, lr: &str, acc: f64) {
    let cmd = format!(
        r#"for k in a_loss b_loss c_loss d_loss; do echo "{{\"key\":\"$k\",\"value\":1}}" >> "$LAB_METRICS"; done; echo '{{"key":"val_accuracy","value":{acc}}}' >> "$LAB_METRICS""#
    );
    p.ok(&[
        "run",
        "--name",
        name,
        "--param",
        &format!("lr={lr}"),
        "--",
        "sh",
        "-c",
        &cmd,
    ]);
}

#[test]
fn runs_ls_shows_the_columns_asked_for_in_text_and_json() {
    let p = Project::new();
    run(&p, "first", "0.1", 0.75);
    run(&p, "second", "0.01", 0.875);
    run(&p, "third", "0.001", 0.5);
    let cols = "name,status,params.lr,metrics.val_accuracy,tags.lab.recipe,params.missing";
    let lines = p
        .ok(&[
            "--json",
            "runs",
            "ls",
            "--columns",
            cols,
            "--sort",
            "metrics.val_accuracy DESC",
        ])
        .json_lines();
    assert_eq!(
        lines,
        [
            json!({"name": "second", "status": "finished", "params.lr": "0.01",
                   "metrics.val_accuracy": 0.875, "tags.lab.recipe": "cmd", "params.missing": null}),
            json!({"name": "first", "status": "finished", "params.lr": "0.1",
                   "metrics.val_accuracy": 0.75, "tags.lab.recipe": "cmd", "params.missing": null}),
            json!({"name": "third", "status": "finished", "params.lr": "0.001",
                   "metrics.val_accuracy": 0.5, "tags.lab.recipe": "cmd", "params.missing": null}),
        ]
    );
    // Object keys keep the order asked for.
    let raw = p.ok(&[
        "--json",
        "runs",
        "ls",
        "--columns",
        "metrics.val_accuracy,name",
    ]);
    assert!(
        raw.stdout
            .lines()
            .all(|l| l.starts_with("{\"metrics.val_accuracy\":")),
        "{raw}"
    );

    // Text: a header of the keys, the columns in that order, `-` for nothing.
    let text = p.ok(&[
        "runs",
        "ls",
        "--columns",
        cols,
        "--filter",
        "metrics.val_accuracy > 0.6",
    ]);
    let rows: Vec<Vec<&str>> = text
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec![
                "NAME",
                "STATUS",
                "PARAMS.LR",
                "METRICS.VAL_ACCURACY",
                "TAGS.LAB.RECIPE",
                "PARAMS.MISSING"
            ],
            vec!["second", "finished", "0.01", "0.8750", "cmd", "-"],
            vec!["first", "finished", "0.1", "0.7500", "cmd", "-"],
        ],
        "{text}"
    );
    // Attributes: an id is shortened in text and whole in JSON; times and durations too.
    let j = p
        .ok(&[
            "--json",
            "runs",
            "ls",
            "--columns",
            "id,start_time,duration,recipe",
            "--filter",
            "name = 'third'",
        ])
        .json();
    assert!(j["id"].as_str().unwrap().len() > 8, "{j}");
    assert!(j["start_time"].as_i64().unwrap() > 1_600_000_000_000, "{j}");
    assert!(j["duration"].as_f64().unwrap() >= 0.0, "{j}");
    assert_eq!(j["recipe"], "cmd");
    let t = p.ok(&[
        "runs",
        "ls",
        "--columns",
        "id",
        "--filter",
        "name = 'third'",
    ]);
    assert_eq!(
        t.stdout.lines().nth(1).unwrap().trim(),
        &j["id"].as_str().unwrap()[..8]
    );
    // Tags filter too, now that they are read.
    let n = p
        .ok(&[
            "--json",
            "runs",
            "ls",
            "--filter",
            "tags.mlflow.runName = 'first'",
        ])
        .json_lines();
    assert_eq!(n.len(), 1);

    // Mistakes: named, with what to write instead; the log is untouched (`fails` checks).
    p.fails(&["runs", "ls", "--columns", "name,colour"])
        .stderr_has(&["--columns", "`colour` is not an attribute", "params.KEY"]);
    p.fails(&["runs", "ls", "--columns", "name,"])
        .stderr_has(&["--columns", "ends with a comma"]);
    p.fails(&["runs", "ls", "--columns", "metric.x,nope.y"])
        .stderr_has(&["--columns", "Invalid entity type 'nope'"]);
    p.fails(&["runs", "ls", "--columns", "datasets.x"])
        .stderr_has(&["--columns", "not a column"]);
}
