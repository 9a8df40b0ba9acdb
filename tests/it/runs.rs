//! Tracked runs through the real binary: `lab run -- CMD` with params and metrics, `lab runs
//! ls|show`, `lab metrics`, a failing command, and a run whose process was SIGKILLed.

use crate::common;

use std::fs;
use std::time::Duration;

use common::Project;

const THREE_LOSSES: &str = r#"for i in 1 2 3; do echo "{\"key\":\"loss\",\"value\":0.$i,\"step\":$i}" >> "$LAB_METRICS"; done; echo '{"key":"acc","value":0.9,"step":3}' >> "$LAB_METRICS""#;

#[test]
fn a_run_records_params_metrics_status_and_duration() {
    let p = Project::new();
    let out = p.ok(&[
        "run",
        "--name",
        "x",
        "--param",
        "lr=0.1",
        "--param",
        "epochs=3",
        "--",
        "sh",
        "-c",
        THREE_LOSSES,
    ]);
    out.stderr_has(&["finished", "4 metric points"]);

    // runs ls: text and JSON.
    let ls = p.ok(&["runs", "ls"]);
    ls.stdout_has(&[
        "RUN",
        "STATUS",
        "x",
        "finished",
        "timetable-extraction",
        "loss=0.3000",
    ]);
    let rows = p.ok(&["runs", "ls", "--json"]).json_lines();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r["name"], "x");
    assert_eq!(r["status"], "Finished");
    assert_eq!(r["effective_status"], "Finished");
    assert_eq!(r["params"]["lr"], "0.1");
    assert_eq!(r["params"]["epochs"], "3");
    assert_eq!(r["latest"]["loss"]["value"], 0.3);
    assert_eq!(r["latest"]["loss"]["step"], 3);
    assert_eq!(r["latest"]["acc"]["value"], 0.9);
    assert!(r["duration_s"].as_f64().unwrap() >= 0.0);
    assert_eq!(r["git"], "NoRepo");
    let id = r["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);

    // runs show: by name, id, id prefix.
    for what in ["x", id.as_str(), &id[..6]] {
        let show = p.ok(&["runs", "show", what]);
        show.stdout_has(&[
            &format!("run {id}"),
            "status      finished",
            "duration",
            "git         not a git repository",
            "lr = 0.1",
            "epochs = 3",
            "loss = 0.3000 (step 3)",
            "acc = 0.9000 (step 3)",
        ]);
    }
    let j = p.ok(&["--json", "runs", "show", "x"]).json();
    assert_eq!(j["id"], id.as_str());

    // metrics: the full series by step.
    let m = p.ok(&["metrics", "x", "loss"]);
    m.stdout_has(&["STEP", "VALUE"]);
    assert_eq!(m.stdout.lines().count(), 4, "{m}");
    let pts = p.ok(&["--json", "metrics", &id[..8], "loss"]).json_lines();
    let series: Vec<(i64, f64)> = pts
        .iter()
        .map(|p| (p["step"].as_i64().unwrap(), p["value"].as_f64().unwrap()))
        .collect();
    assert_eq!(series, vec![(1, 0.1), (2, 0.2), (3, 0.3)]);

    // Errors a user can make.
    p.fails(&["metrics", "x", "los"])
        .stderr_has(&["no metric `los`", "it logged: acc, loss"]);
    p.fails(&["metrics", "nope", "loss"])
        .stderr_has(&["no run `nope`", "lab runs ls"]);
    p.fails(&["runs", "show", "nope"])
        .stderr_has(&["no run `nope`"]);
    // A name two runs carry is not silently the newest: both ids are listed.
    p.ok(&["run", "--name", "twice", "--", "true"]);
    p.ok(&["run", "--name", "twice", "--", "true"]);
    let ids: Vec<String> = p
        .ok(&["runs", "ls", "--json"])
        .json_lines()
        .iter()
        .filter(|r| r["name"] == "twice")
        .map(|r| r["id"].as_str().unwrap()[..8].to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    p.fails(&["runs", "show", "twice"]).stderr_has(&[
        "`twice` names 2 runs",
        "give a run id",
        &ids[0],
        &ids[1],
    ]);
    p.fails(&["metrics", "twice", "loss"])
        .stderr_has(&["`twice` names 2 runs"]);
    p.fails(&["models", "register", "twice", "--name", "m"])
        .stderr_has(&["`twice` names 2 runs"]);
    p.ok(&["runs", "show", &ids[0]]);
    // runs ls --filter / --sort: MLflow's search syntax, the parser lab ui uses.
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["--json", "runs", "ls"];
        a.extend_from_slice(args);
        p.ok(&a)
            .json_lines()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(&["--filter", "params.lr = '0.1' and metrics.acc >= 0.9"]),
        ["x"]
    );
    assert_eq!(
        names(&[
            "--filter",
            "attributes.status = 'FINISHED' and run_name = 'twice'"
        ]),
        ["twice", "twice"]
    );
    assert!(names(&["--filter", "metrics.acc > 0.95"]).is_empty());
    // Sorted by a metric: runs that lack it come last.
    assert_eq!(names(&["--sort", "metrics.loss DESC"])[0], "x");
    p.fails(&["runs", "ls", "--filter", "metrics.acc >"])
        .stderr_has(&["--filter", "expected a value"]);
    p.fails(&["runs", "ls", "--sort", "nope.x"])
        .stderr_has(&["--sort", "Invalid entity type"]);

    // runs diff: the params that differ and every last metric with its change.
    let d = p.ok(&["runs", "diff", &ids[1], "x"]);
    d.stdout_has(&[
        "params that differ",
        "lr",
        "0.1",
        "loss",
        "0.3000",
        "metrics (last value)",
    ]);
    let j = p.ok(&["--json", "runs", "diff", &ids[1], &id[..8]]).json();
    assert_eq!(j["b"]["id"], id.as_str());
    let lr = j["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "lr")
        .unwrap();
    assert_eq!((lr["a"].is_null(), lr["b"].as_str()), (true, Some("0.1")));
    let loss = j["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "loss")
        .unwrap();
    assert_eq!(loss["b"], 0.3);
    p.fails(&["runs", "diff", "x", "twice"])
        .stderr_has(&["`twice` names 2 runs"]);
    p.fails(&["run", "--param", "lr", "--", "true"])
        .stderr_has(&["bad --param `lr`", "KEY=VALUE"]);
}

#[test]
fn experiments_filter_the_listing() {
    let p = Project::new();
    p.ok(&["run", "--name", "a", "--experiment", "exp-a", "--", "true"]);
    p.ok(&["run", "--name", "b", "--experiment", "exp-b", "--", "true"]);
    p.ok(&["run", "--name", "c", "--", "true"]);
    let names = |args: &[&str]| -> Vec<String> {
        p.ok(args)
            .json_lines()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(&["runs", "ls", "--json"]),
        ["c", "b", "a"],
        "newest first"
    );
    assert_eq!(
        names(&["runs", "ls", "--json", "--experiment", "exp-a"]),
        ["a"]
    );
    assert_eq!(
        names(&[
            "runs",
            "ls",
            "--json",
            "--experiment",
            "timetable-extraction"
        ]),
        ["c"]
    );
    let text = p.ok(&["runs", "ls", "--experiment", "exp-b"]);
    assert!(
        text.stdout.contains(" b ") && !text.stdout.contains(" a "),
        "{text}"
    );
}

#[test]
fn metrics_lines_without_steps_and_bad_lines() {
    let p = Project::new();
    let script = r#"
        echo '{"key":"lr","value":1.0}' >> "$LAB_METRICS"
        echo 'not json' >> "$LAB_METRICS"
        echo '{"key":"lr","value":0.5}' >> "$LAB_METRICS"
    "#;
    let out = p.ok(&["run", "--name", "s", "--", "sh", "-c", script]);
    out.stderr_has(&[
        "metrics.jsonl:2",
        "skipped a metrics line",
        "1 bad lines skipped",
    ]);
    let pts = p.ok(&["--json", "metrics", "s", "lr"]).json_lines();
    let steps: Vec<i64> = pts.iter().map(|p| p["step"].as_i64().unwrap()).collect();
    assert_eq!(steps, [0, 1]);
}

#[test]
fn a_failing_command_is_a_failed_run_and_lab_exits_with_its_code() {
    let p = Project::new();
    let out = p.lab(&["run", "--name", "bad", "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.code, 7, "{out}");
    out.stderr_has(&["failed", "exit code 7"]);
    let r = &p.ok(&["runs", "ls", "--json"]).json_lines()[0];
    assert_eq!(r["status"], "Failed");
    assert_eq!(r["error"], "exit code 7");
    p.ok(&["runs", "show", "bad"])
        .stdout_has(&["status      failed", "error       exit code 7"]);
    let fin = p.events().pop().unwrap();
    assert_eq!(fin["kind"], "run-finished");
    assert_eq!(fin["body"]["RunFinished"]["status"], "Failed");

    // A command killed by a signal: 128 + the signal, like a shell.
    let out = p.lab(&["run", "--name", "sig", "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(out.code, 128 + 15, "{out}");
    out.stderr_has(&["killed by signal 15"]);

    // A command that does not exist: a failed run and a message naming it.
    let out = p.lab(&["run", "--", "./no-such-program"]);
    assert_eq!(out.code, 1, "{out}");
    out.stderr_has(&["cannot start `./no-such-program`", "PATH"]);
    let r = &p.ok(&["runs", "ls", "--json"]).json_lines()[0];
    assert_eq!(r["status"], "Failed");
}

#[test]
fn a_sigkilled_run_shows_as_killed_and_the_next_run_records_it() {
    let p = Project::new();
    let pid_file = p.path("sleep.pid");
    let mut lab = p.spawn(&[
        "run",
        "--name",
        "sleeper",
        "--",
        "sh",
        "-c",
        &format!("echo $$ > {}; exec sleep 30", pid_file.display()),
    ]);
    common::wait_for("the run to start", Duration::from_secs(60), || {
        fs::read_to_string(&pid_file).is_ok_and(|s| s.ends_with('\n'))
    });
    common::wait_for("the run in the view", Duration::from_secs(60), || {
        let rows = p.ok(&["runs", "ls", "--json"]).json_lines();
        rows.len() == 1 && rows[0]["effective_status"] == "Running"
    });
    p.ok(&["runs", "ls"]).stdout_has(&["sleeper", "running"]);

    // kill -9 lab, then the orphaned sleep.
    lab.kill().unwrap();
    lab.wait().unwrap();
    let sleep_pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: kill has no memory-safety preconditions; the pid is the sleep this test started.
    unsafe { libc::kill(sleep_pid, libc::SIGKILL) };

    let events_before = p.events().len();
    let ls = p.ok(&["runs", "ls"]);
    ls.stdout_has(&["sleeper", "killed"]);
    let r = &p.ok(&["runs", "ls", "--json"]).json_lines()[0];
    assert_eq!(r["effective_status"], "Killed");
    assert_eq!(r["status"], "Running", "listing records nothing");
    assert_eq!(p.events().len(), events_before, "listing appended events");
    p.ok(&["runs", "show", "sleeper"])
        .stdout_has(&["status      killed"]);

    // The next run appends a RunFinished with status killed for the dead one.
    p.ok(&["run", "--name", "next", "--", "true"]);
    let evs = p.events();
    let killed: Vec<_> = evs
        .iter()
        .filter(|e| e["kind"] == "run-finished" && e["body"]["RunFinished"]["status"] == "Killed")
        .collect();
    assert_eq!(killed.len(), 1, "{evs:?}");
    assert_eq!(killed[0]["body"]["RunFinished"]["run"], r["id"]);
    let rows = p.ok(&["runs", "ls", "--json"]).json_lines();
    let sleeper = rows.iter().find(|r| r["name"] == "sleeper").unwrap();
    assert_eq!(sleeper["status"], "Killed");
    // And only once: another run does not mark it again.
    p.ok(&["run", "--", "true"]);
    let again = p
        .events()
        .iter()
        .filter(|e| e["kind"] == "run-finished" && e["body"]["RunFinished"]["status"] == "Killed")
        .count();
    assert_eq!(again, 1);
    p.ok(&["verify"]);
}

#[test]
fn deps_outputs_and_output_tails_are_recorded_and_verified() {
    let p = Project::new();
    p.write_tree("raw", &[("a.txt", b"alpha"), ("sub/b.txt", b"beta")]);
    fs::write(p.path("params.txt"), "lr=0.1").unwrap();
    let out = p.ok(&[
        "--json", "run", "--name", "prep", "--dep", "raw", "--dep", "params.txt", "--out", "clean",
        "--", "sh", "-c", "mkdir -p clean && cat raw/a.txt raw/sub/b.txt > clean/all.txt && echo done-prep && echo warn >&2",
    ]);
    assert!(
        out.stdout.contains("done-prep"),
        "the command's stdout still reaches ours"
    );
    let show = p.ok(&["--json", "runs", "show", "prep"]).json();
    let deps: Vec<&str> = show["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(deps, ["raw", "params.txt"], "{show}");
    assert_eq!(show["outputs"][0]["role"], "out");
    assert_eq!(show["outputs"][0]["name"], "clean");
    let arts: Vec<&str> = show["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(arts, ["stdout.tail", "stderr.tail"]);
    let tail = show["artifacts"][0]["hash"].as_str().unwrap();
    let tail_bytes = p.blob(tail);
    assert_eq!(tail_bytes, b"done-prep\n");
    // Read back through lab: a listing, a file and a folder, never over an existing path.
    let arts = p.ok(&["--json", "artifacts", "ls", "prep"]).json_lines();
    let names: Vec<(&str, &str)> = arts
        .iter()
        .map(|a| (a["kind"].as_str().unwrap(), a["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("artifact", "stdout.tail"),
            ("artifact", "stderr.tail"),
            ("output", "clean")
        ]
    );
    assert_eq!(arts[2]["folder"], true);
    let got = p.path("got");
    fs::create_dir_all(&got).unwrap();
    let tail_path = got.join("tail.txt");
    p.ok(&[
        "artifacts",
        "get",
        "prep",
        "stdout.tail",
        tail_path.to_str().unwrap(),
    ]);
    assert_eq!(fs::read(&tail_path).unwrap(), b"done-prep\n");
    p.fails(&[
        "artifacts",
        "get",
        "prep",
        "stdout.tail",
        tail_path.to_str().unwrap(),
    ])
    .stderr_has(&["already exists"]);
    let clean = got.join("clean");
    p.ok(&["artifacts", "get", "prep", "clean", clean.to_str().unwrap()]);
    assert_eq!(
        fs::read(clean.join("all.txt")).unwrap(),
        fs::read(p.path("clean/all.txt")).unwrap()
    );
    p.fails(&["artifacts", "get", "prep", "nope"]).stderr_has(&[
        "no artifact `nope`",
        "stdout.tail",
        "clean",
    ]);

    // A declared output the command did not write fails the run.
    let bad = p.lab(&[
        "run",
        "--name",
        "lazy",
        "--out",
        "nothing-here",
        "--",
        "true",
    ]);
    assert_eq!(bad.code, 1, "{bad}");
    let show = p.ok(&["--json", "runs", "show", "lazy"]).json();
    assert_eq!(show["status"], "Failed");
    assert!(
        show["error"].as_str().unwrap().contains("nothing-here"),
        "{show}"
    );

    // verify re-hashes the files inside a recorded directory.
    p.ok(&["verify"]);
    let hash = common::sha256_hex(b"beta");
    common::overwrite(&p.blob_path(&hash), b"BETA");
    let v = p.lab(&["verify"]);
    assert_eq!(v.code, 1, "{v}");
    assert!(v.stdout.contains(&hash[..12]), "{v}");
}
