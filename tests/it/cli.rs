//! The command line as a user meets it: `lab init`, project discovery, `lab.toml` errors,
//! `--help` and shell completions.

use crate::common;

use std::fs;

use common::{Project, lab_in};

const NOT_A_PROJECT: &str = "not a lab project (no lab.toml here or in any parent) — run lab init";

/// Every file and folder under `root` with the hash of its bytes (folders: none), for "nothing
/// changed". The redb file is left out: opening a database may rewrite its header; the log's
/// content is compared through `lab log` instead.
fn snapshot_of(root: &std::path::Path) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for e in walk(root) {
        let rel = e.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let hash = (e.is_file() && rel != ".lab/lab.redb")
            .then(|| lab::event::Hash::of(&fs::read(&e).unwrap()).to_hex());
        out.push((rel, hash));
    }
    out.sort();
    out
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        out.push(p.clone());
        if p.is_dir() {
            out.extend(walk(&p));
        }
    }
    out
}

#[test]
fn init_creates_the_project_and_twice_changes_nothing() {
    let p = Project::new();
    for f in ["lab.toml", ".gitignore"] {
        assert!(p.path(f).is_file(), "{f} missing");
    }
    for d in ["datasets", "configs", "reports", ".lab", ".lab/objects"] {
        assert!(p.path(d).is_dir(), "{d} missing");
    }
    assert!(p.path(".lab/lab.redb").is_file());
    let toml = fs::read_to_string(p.path("lab.toml")).unwrap();
    assert!(
        toml.contains("[project]") && toml.contains("seed = 42"),
        "{toml}"
    );

    let before = snapshot_of(&p.root);
    let again = p.ok(&["init"]);
    assert!(again.stdout.contains("nothing changed"), "{again}");
    assert_eq!(
        before,
        snapshot_of(&p.root),
        "a second `lab init` changed files"
    );
    assert_eq!(p.events().len(), 0, "init records no event");

    let json = p.ok(&["init", "--json"]).json();
    assert_eq!(json["created"], serde_json::json!([]));
}

#[test]
fn init_with_a_directory_argument_makes_that_directory_a_project() {
    let p = Project::bare();
    let out = lab_in(&p.root, &["init", "my-project"]);
    assert!(out.ok(), "{out}");
    assert!(p.path("my-project/lab.toml").is_file(), "{out}");
    assert!(
        !p.path("my-project/my-project").exists(),
        "the path was joined twice: {out}"
    );
    let toml = fs::read_to_string(p.path("my-project/lab.toml")).unwrap();
    assert!(toml.contains("name = \"my-project\""), "{toml}");
    // A directory that cannot be made is named.
    fs::write(p.path("a-file"), "x").unwrap();
    let out = lab_in(&p.root, &["init", "a-file/sub"]);
    assert_eq!(out.code, 1, "{out}");
    out.stderr_has(&["a-file/sub", "check that the path exists"]);
}

#[test]
fn every_verb_outside_a_project_says_run_lab_init() {
    let p = Project::bare();
    let verbs: &[&[&str]] = &[
        &["log"],
        &["show", "1"],
        &["verify"],
        &["reindex"],
        &["data", "ls"],
        &["data", "snapshot", "."],
        &["data", "diff", "a", "b"],
        &["data", "checkout", "a", "out"],
        &["runs", "ls"],
        &["runs", "show", "x"],
        &["metrics", "x", "loss"],
        &["run", "--", "true"],
    ];
    for v in verbs {
        let out = lab_in(&p.root, v);
        assert_eq!(out.code, 1, "{out}");
        out.stderr_has(&[NOT_A_PROJECT]);
    }
    assert!(
        !p.path("out").exists(),
        "checkout outside a project wrote files"
    );
    assert!(
        !p.path(".lab").exists(),
        "a verb outside a project created .lab"
    );
}

#[test]
fn a_verb_in_a_subdirectory_finds_the_project() {
    let p = Project::new();
    let sub = p.path("datasets/deep/er");
    fs::create_dir_all(&sub).unwrap();
    fs::write(sub.join("f.txt"), "x").unwrap();
    let out = lab_in(&sub, &["data", "snapshot", ".", "--name", "deep"]);
    assert!(out.ok(), "{out}");
    let ls = p.ok(&["data", "ls", "--json"]).json_lines();
    assert_eq!(ls.len(), 1);
    assert_eq!(ls[0]["root"], "datasets/deep/er");
    // -C runs as if started there.
    let out = lab_in(
        &std::env::temp_dir(),
        &["-C", p.root.to_str().unwrap(), "data", "ls"],
    );
    assert!(out.ok(), "{out}");
    out.stdout_has(&["deep@1"]);
    // A -C directory that does not exist is named.
    let out = lab_in(&p.root, &["-C", "no-such-dir", "log"]);
    assert_eq!(out.code, 1);
    out.stderr_has(&["no-such-dir", "does not exist"]);
}

#[test]
fn lab_toml_syntax_error_names_file_line_and_column() {
    let p = Project::new();
    p.write_tree("d", &[("a", b"a")]);
    p.ok(&["data", "snapshot", "d"]);
    let log = p.log_json();
    fs::write(
        p.path("lab.toml"),
        "[project]\nname = \"unterminated\nseed = 1\n",
    )
    .unwrap();
    for args in [
        &["log"][..],
        &["data", "snapshot", "d", "--name", "e"],
        &["init"],
    ] {
        let out = p.lab(args);
        assert_eq!(out.code, 1, "{out}");
        let want = format!("{}:2:", p.path("lab.toml").display());
        out.stderr_has(&[&want, "fix the file"]);
        // line:column, both numbers.
        let after = &out.stderr[out.stderr.find(&want).unwrap() + want.len()..];
        let col: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
        assert!(
            !col.is_empty() && after[col.len()..].starts_with(':'),
            "{out}"
        );
    }
    fs::write(p.path("lab.toml"), lab::project::default_toml("x")).unwrap();
    assert_eq!(p.log_json(), log, "a broken lab.toml changed the log");
}

#[test]
fn lab_toml_unknown_key_names_file_line_column_and_key() {
    let p = Project::new();
    p.write_tree("d", &[("a", b"a")]);
    p.ok(&["data", "snapshot", "d"]);
    let log = p.log_json();
    let text = "[project]\nname = \"a\"\nsede = 3\n";
    fs::write(p.path("lab.toml"), text).unwrap();
    let out = p.lab(&["data", "snapshot", "d", "--name", "other"]);
    assert_eq!(out.code, 1, "{out}");
    let want = format!("{}:3:1:", p.path("lab.toml").display());
    out.stderr_has(&[&want, "unknown field `sede`", "seed"]);
    // An unknown section too.
    fs::write(
        p.path("lab.toml"),
        "[project]\nname = \"a\"\n\n[trainig]\nepochs = 3\n",
    )
    .unwrap();
    let out = p.lab(&["log"]);
    assert_eq!(out.code, 1, "{out}");
    out.stderr_has(&[&format!("{}:4:", p.path("lab.toml").display()), "trainig"]);
    fs::write(p.path("lab.toml"), lab::project::default_toml("x")).unwrap();
    assert_eq!(p.log_json(), log);
}

#[test]
fn help_lists_the_grouped_verbs() {
    let out = lab_in(&std::env::temp_dir(), &["--help"]);
    assert!(out.ok(), "{out}");
    out.stdout_has(&[
        "Start a project:",
        "Data:",
        "Runs and metrics:",
        "The log:",
        "Tools:",
        "Exit codes:",
    ]);
    // Every verb clap knows is listed in the grouped help.
    use clap::CommandFactory;
    for sub in lab::cli::Cli::command().get_subcommands() {
        let line = format!("\n  {} ", sub.get_name());
        assert!(
            out.stdout.contains(&line),
            "--help does not list `{}`",
            sub.get_name()
        );
    }
}

/// Every command path: `["data"]`, `["data", "snapshot"]`, …
fn command_paths(cmd: &clap::Command, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let mut path = prefix.clone();
        path.push(sub.get_name().to_string());
        out.push(path.clone());
        command_paths(sub, path, out);
    }
}

#[test]
fn every_subcommand_help_has_an_example() {
    use clap::CommandFactory;
    let mut paths = Vec::new();
    command_paths(&lab::cli::Cli::command(), Vec::new(), &mut paths);
    assert!(paths.len() >= 15, "{paths:?}");
    for path in paths {
        let mut args = path.clone();
        args.push("--help".into());
        let out = lab_in(&std::env::temp_dir(), &args);
        assert!(out.ok(), "{out}");
        assert!(
            out.stdout.contains("Example"),
            "`lab {} --help` has no example:\n{}",
            path.join(" "),
            out.stdout
        );
        // The example line itself is indented and starts with lab (or cargo run).
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with("  lab ") || l.starts_with("  cargo run")),
            "`lab {} --help` has no example command line:\n{}",
            path.join(" "),
            out.stdout
        );
    }
}

#[test]
fn completions_print_scripts() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef lab"),
        ("fish", "complete -c lab"),
    ] {
        let out = lab_in(&std::env::temp_dir(), &["completions", shell]);
        assert!(out.ok(), "{out}");
        assert!(
            out.stdout.contains(marker),
            "{shell}: {}",
            &out.stdout[..200.min(out.stdout.len())]
        );
        for verb in ["snapshot", "checkout", "verify"] {
            assert!(out.stdout.contains(verb), "{shell} completion lacks {verb}");
        }
    }
    let out = lab_in(&std::env::temp_dir(), &["completions", "tcsh"]);
    assert_eq!(out.code, 2, "{out}");
}

#[test]
fn bad_command_lines_exit_2() {
    for args in [
        &["frobnicate"][..],
        &["data"],
        &["log", "--limit", "x"],
        &["run"],
    ] {
        let out = lab_in(&std::env::temp_dir(), args);
        assert_eq!(out.code, 2, "{out}");
    }
}

#[test]
fn a_closed_pipe_is_not_a_panic() {
    use std::process::Stdio;
    let p = Project::new();
    p.write_tree("d", &[("f", b"x")]);
    p.ok(&["data", "snapshot", "d"]);
    p.ok(&["run", "--", "true"]);
    // Like `lab log | head -0`: the reader is gone before lab writes.
    for args in [
        &["log"][..],
        &["log", "--json"],
        &["show", "1"],
        &["data", "ls"],
        &["runs", "ls"],
        &["completions", "bash"],
    ] {
        let mut child = common::lab_cmd(&p.root)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "lab {args:?}: {stderr}");
        assert!(out.status.success(), "lab {args:?}: {stderr}");
    }
}
