//! Paths and values lab refuses, through the real binary (issue 18, rows B4, B10, B11, B12,
//! B13): exports, checkouts and outputs never write into or replace the project root, `.lab`
//! or a directory above them, and `--force` replaces only an earlier export; symlinks out of a
//! dataset are refused; NaN, infinite and absurd training values are config errors naming the
//! file and key; a killed `lab run` takes its command with it.

use crate::common;

use std::fs;
use std::time::Duration;

use common::{Project, TINY_OCR};

/// A project with a trained tiny OCR model `ocr_teacher@1`.
fn trained() -> Project {
    let p = Project::with_tiny_dataset();
    let cfg = TINY_OCR.replace("epochs = 2", "epochs = 1");
    fs::write(p.path("configs/ocr_teacher.toml"), cfg).unwrap();
    p.ok(&["train", "ocr-teacher"]);
    p
}

#[test]
fn export_and_checkout_never_touch_the_project_root_state_or_parents() {
    let p = trained();
    let parent = p.root.parent().unwrap().to_string_lossy().into_owned();
    let root = p.root.to_string_lossy().into_owned();
    for target in [
        ".",
        "./",
        "datasets/..",
        ".lab",
        ".lab/objects",
        ".lab/new",
        &parent,
        "/",
        &root,
    ] {
        for force in [true, false] {
            let mut args = vec!["models", "export", "ocr_teacher@1", target];
            if force {
                args.push("--force");
            }
            p.fails(&args).stderr_has(&["refusing to export into"]);
        }
        p.fails(&["data", "checkout", "tt", target])
            .stderr_has(&["refusing to check out into"]);
    }
    p.fails(&["data", "synth", "x", "--count", "1", "--out", ".lab/x"])
        .stderr_has(&["refusing", "lab's own state"]);
    assert!(p.path("lab.toml").is_file() && p.path(".lab/lab.redb").is_file());
    p.ok(&["verify"]);

    // --force replaces an earlier export, never a directory lab did not write.
    p.ok(&["models", "export", "ocr_teacher@1", "exports/m"]);
    assert!(p.path("exports/m/.lab-export").is_file());
    p.ok(&["models", "export", "ocr_teacher@1", "exports/m", "--force"]);
    p.write_tree("mine", &[("notes.txt", b"precious")]);
    p.fails(&["models", "export", "ocr_teacher@1", "mine", "--force"])
        .stderr_has(&["not an earlier export", ".lab-export"]);
    assert_eq!(fs::read(p.path("mine/notes.txt")).unwrap(), b"precious");
    fs::create_dir_all(p.path("empty")).unwrap();
    p.ok(&["models", "export", "ocr_teacher@1", "empty", "--force"]);

    // Names that read as paths or break a line are refused.
    for name in [".", ".."] {
        p.fails(&["models", "register", "ocr_teacher@1", "--name", name])
            .stderr_has(&["bad model name"]);
    }
    p.fails(&["run", "--name", "two\nlines", "--", "true"])
        .stderr_has(&["bad run name"]);
    // A run may not declare the root or lab's state as an output (a restore replaces outputs).
    for out in [".", ".lab"] {
        p.fails(&["run", "--out", out, "--", "true"])
            .stderr_has(&["refusing"]);
    }
}

#[test]
fn symlinks_out_of_a_dataset_are_refused() {
    let p = Project::new();
    p.write_tree("datasets/d", &[("a.txt", b"a")]);
    p.write_tree("outside", &[("secret.txt", b"not data")]);
    std::os::unix::fs::symlink("/etc/passwd", p.path("datasets/d/passwd")).unwrap();
    p.fails(&["data", "snapshot", "datasets/d"]).stderr_has(&[
        "datasets/d/passwd",
        "points outside the dataset",
        "/etc/passwd",
    ]);
    fs::remove_file(p.path("datasets/d/passwd")).unwrap();
    std::os::unix::fs::symlink(p.path("outside"), p.path("datasets/d/more")).unwrap();
    p.fails(&["data", "snapshot", "datasets/d"])
        .stderr_has(&["datasets/d/more", "points outside the dataset"]);
    fs::remove_file(p.path("datasets/d/more")).unwrap();
    // A link that stays inside the dataset is followed as before.
    std::os::unix::fs::symlink("a.txt", p.path("datasets/d/b.txt")).unwrap();
    let out = p.ok(&["--json", "data", "snapshot", "datasets/d"]).json();
    assert_eq!(out["files"], 2, "{out}");
    assert!(
        !common::blobs(&p.root)
            .iter()
            .any(|(_, h)| *h == common::sha256_hex(b"not data"))
    );
}

#[test]
fn nan_and_absurd_training_values_are_config_errors() {
    let p = Project::with_tiny_dataset();
    let cfg = p.path("configs/ocr_teacher.toml");
    let file = cfg.to_string_lossy().into_owned();
    for (line, key) in [
        ("weight_decay = nan", "train.weight_decay"),
        ("weight_decay = inf", "train.weight_decay"),
        ("learning_rate = nan", "train.learning_rate"),
    ] {
        let text = TINY_OCR
            .replace("learning_rate = 0.003\n", "")
            .replace("epochs = 2\n", &format!("epochs = 2\n{line}\n"));
        let text = if line.starts_with("learning_rate") {
            text
        } else {
            text.replace("epochs = 2\n", "epochs = 2\nlearning_rate = 0.003\n")
        };
        fs::write(&cfg, &text).unwrap();
        let out = p.fails(&["train", "ocr-teacher", "--config", &file]);
        let at = if line.starts_with("learning_rate") {
            13
        } else {
            14
        };
        out.stderr_has(&[&format!("ocr_teacher.toml:{at}:1: {key}")]);
    }
    // Sizes that would exhaust memory: the key and its line:col.
    for (from, to, key) in [
        (
            "stem = 16",
            "stem = 999999999",
            "ocr_teacher.toml:4:1: model.stem",
        ),
        (
            "height = 32",
            "height = 100000",
            "ocr_teacher.toml:3:1: model.height",
        ),
    ] {
        fs::write(&cfg, TINY_OCR.replace(from, to)).unwrap();
        p.fails(&["train", "ocr-teacher"]).stderr_has(&[key]);
    }
    // A flag: NaN given on the command line.
    fs::write(&cfg, TINY_OCR).unwrap();
    p.fails(&["train", "ocr-teacher", "--learning-rate", "nan"])
        .stderr_has(&["train.learning_rate", "command-line"]);
    fs::write(
        p.path("configs/ocr_lora.toml"),
        "[train]\ndataset = \"tt\"\nepochs = 1\nbatch_size = 8\nlearning_rate = 0.01\noutput = \"l\"\n\
         [lora]\nbase = \"ocr_teacher\"\nrank = 2\nalpha = 4.0\ntarget_modules = [\"query\"]\n",
    )
    .unwrap();
    for alpha in ["nan", "inf", "-1"] {
        p.fails(&["train", "ocr-lora", &format!("--alpha={alpha}")])
            .stderr_has(&["lora.alpha"]);
    }
    assert!(p.ok(&["models", "ls", "--json"]).stdout.trim().is_empty());
}

/// Whether process `pid` is running (not gone, not a zombie).
fn alive(pid: u32) -> bool {
    lab::lab::process_start(pid).is_some()
}

#[test]
fn a_killed_run_takes_its_command_with_it() {
    let p = Project::new();
    let script = r#"echo $$ > cmd.pid; i=0; while :; do i=$((i+1)); echo "{\"key\":\"n\",\"value\":$i}" >> "$LAB_METRICS"; echo $i > n.txt; sleep 0.05; done"#;
    for sig in [libc::SIGKILL, libc::SIGTERM] {
        let _ = fs::remove_file(p.path("cmd.pid"));
        let _ = fs::remove_file(p.path("n.txt"));
        let mut lab = p.spawn(&["run", "--name", "loop", "--", "sh", "-c", script]);
        common::wait_for("the command to start", Duration::from_secs(20), || {
            fs::read_to_string(p.path("cmd.pid")).is_ok_and(|s| s.ends_with('\n'))
        });
        let pid: u32 = fs::read_to_string(p.path("cmd.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(alive(pid));
        // A few metric lines written before the signal.
        common::wait_for(
            "the command to log metrics",
            Duration::from_secs(20),
            || {
                fs::read_to_string(p.path("n.txt"))
                    .is_ok_and(|n| n.trim().parse::<u32>().is_ok_and(|n| n >= 3))
            },
        );
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(lab.id() as libc::pid_t, sig);
        }
        lab.wait().unwrap();
        common::wait_for(
            "the command to die with lab",
            Duration::from_secs(20),
            || !alive(pid),
        );
    }
    // SIGTERM: lab stopped the command, took its metrics and recorded how it ended. The run
    // SIGKILL left behind is marked killed by the next `lab run`.
    let ended: Vec<String> = p
        .events()
        .iter()
        .filter_map(|e| {
            e["body"]["RunFinished"]["error"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(ended.len(), 2, "{ended:?}");
    assert!(ended[0].contains("died"), "{ended:?}");
    assert!(ended[1].contains("signal 15"), "{ended:?}");
    let statuses: Vec<_> = p
        .events()
        .iter()
        .filter_map(|e| {
            e["body"]["RunFinished"]["status"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(statuses, ["Killed", "Killed"]);
    let m = p.ok(&["runs", "ls", "--json"]).json_lines();
    assert!(m.iter().all(|r| r["status"] != "Running"), "{m:?}");
    assert!(p.events().iter().any(|e| e["kind"] == "metrics"));
}
