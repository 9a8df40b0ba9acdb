//! `lab hooks`: real commits in a temporary repository become `GitCommitted` events, an
//! existing hook keeps running, a commit of a config a stage reads runs that stage in the
//! background, pre-push blocks a push when a production model fails its deployment gates or
//! `lab verify` fails, uninstall puts the old hook back.

use crate::common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use common::Project;

fn git(dir: &Path, args: &[&str]) -> Output {
    common::git_cmd(dir).args(args).output().expect("git runs")
}

fn git_ok(dir: &Path, args: &[&str]) -> String {
    let o = git(dir, args);
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

#[test]
fn hooks_record_commits_chain_old_hooks_and_guard_pushes() {
    common::require_git();
    let p = Project::bare();
    git_ok(&p.root, &["init", "-q"]);
    common::lab_in(&p.root, &["init"]);
    // A hook the user had before lab.
    let hooks = p.path(".git/hooks");
    fs::create_dir_all(&hooks).unwrap();
    fs::write(
        hooks.join("post-commit"),
        "#!/bin/sh\ntouch \"$(git rev-parse --show-toplevel)/old-hook-ran\"\n",
    )
    .unwrap();
    fs::set_permissions(hooks.join("post-commit"), fs::Permissions::from_mode(0o755)).unwrap();

    p.ok(&["hooks", "install"]).stdout_has(&[
        "post-commit",
        "pre-push",
        "existing hook runs first",
    ]);
    p.ok(&["hooks", "install"]).stdout_has(&["updated"]);

    fs::write(p.path("notes.txt"), "a").unwrap();
    git_ok(&p.root, &["add", "-A"]);
    let out = git_ok(&p.root, &["commit", "-qm", "first"]);
    assert!(out.contains("lab: recorded commit"), "{out}");
    assert!(
        p.path("old-hook-ran").exists(),
        "the previous hook did not run"
    );
    let head = git_ok(&p.root, &["rev-parse", "HEAD"]).trim().to_string();
    let evs = p.ok(&["--json", "log", "--kind", "commit"]).json_lines();
    assert_eq!(evs.len(), 1);
    let c = &evs[0]["body"]["GitCommitted"];
    assert_eq!(c["commit"], head.as_str());
    assert_eq!(c["branch"], "main");
    assert!(
        c["changed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "notes.txt"),
        "{c}"
    );

    // A config no stage reads is pointed out, and nothing runs.
    fs::write(p.path("configs/extra.toml"), "# x\n").unwrap();
    git_ok(&p.root, &["add", "-A"]);
    let out = git_ok(&p.root, &["commit", "-qm", "config"]);
    assert!(
        out.contains("configs/") && out.contains("no stage reads them"),
        "{out}"
    );

    // A config a stage reads: the affected stage runs in the background.
    let toml = fs::read_to_string(p.path("lab.toml")).unwrap();
    let cut = toml.find("\n# The pipeline").unwrap();
    fs::write(
        p.path("lab.toml"),
        toml[..cut].to_string()
            + "\n[[stages]]\nname = \"count\"\ncmd = \"wc -c < configs/extra.toml > count.txt\"\n\
               deps = [\"configs/extra.toml\"]\nouts = [\"count.txt\"]\n",
    )
    .unwrap();
    fs::write(p.path("configs/extra.toml"), "# xyz\n").unwrap();
    git_ok(&p.root, &["add", "-A"]);
    let out = git_ok(&p.root, &["commit", "-qm", "config read by a stage"]);
    assert!(
        out.contains("running the affected stages in the background"),
        "{out}"
    );
    assert!(out.contains("count"), "{out}");
    let done = (0..300).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        fs::read_to_string(p.path("count.txt")).is_ok_and(|c| c.trim() == "6")
    });
    let log = fs::read_to_string(p.path(".lab/post-commit.log")).unwrap_or_default();
    assert!(done, "the stage did not run:\n{log}");
    // Let the background pipeline finish before the log is read again.
    let finished = (0..300).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        fs::read_to_string(p.path(".lab/post-commit.log")).is_ok_and(|l| l.contains("ok"))
    });
    assert!(
        finished,
        "{}",
        fs::read_to_string(p.path(".lab/post-commit.log")).unwrap_or_default()
    );
    fs::write(
        p.path(".gitignore"),
        fs::read_to_string(p.path(".gitignore")).unwrap() + "/count.txt\n",
    )
    .unwrap();
    git_ok(&p.root, &["commit", "-qam", "ignore the output"]);

    // pre-push: a push goes through with an intact log, and is blocked once a blob is damaged.
    let remote = tempfile::tempdir().unwrap();
    git_ok(remote.path(), &["init", "-q", "--bare"]);
    git_ok(
        &p.root,
        &["remote", "add", "origin", remote.path().to_str().unwrap()],
    );
    git_ok(&p.root, &["push", "-q", "origin", "main"]);

    // pre-push re-checks the deployment gates of the models in production.
    p.tiny_dataset();
    fs::write(
        p.path("configs/ocr_teacher.toml"),
        common::TINY_OCR.replace("epochs = 2", "epochs = 1"),
    )
    .unwrap();
    let gates = |threshold: &str| {
        format!(
            "[validation]\ndataset = \"tt\"\nsplit = \"val\"\nlimit = 12\n\n\
             [[gate]]\nmetric = \"accuracy\"\nop = \">=\"\nthreshold = {threshold}\n"
        )
    };
    fs::write(p.path("configs/deploy.toml"), gates("0.0")).unwrap();
    p.ok(&["train", "ocr-teacher"]);
    p.ok(&["deploy", "ocr_teacher@1", "--env", "production"]);
    git_ok(&p.root, &["add", "-A"]);
    git_ok(&p.root, &["commit", "-qm", "deployed"]);
    let out = git_ok(&p.root, &["push", "-q", "origin", "main"]);
    assert!(
        out.contains("deployment gates pass for ocr_teacher@1"),
        "{out}"
    );
    fs::write(p.path("configs/deploy.toml"), gates("1.01")).unwrap();
    git_ok(&p.root, &["commit", "-qam", "stricter gates"]);
    let blocked = git(&p.root, &["push", "-q", "origin", "main"]);
    assert!(
        !blocked.status.success(),
        "the push went through a failing gate"
    );
    let err = String::from_utf8_lossy(&blocked.stderr);
    assert!(
        err.contains("push blocked")
            && err.contains("deployment gates")
            && err.contains("ocr_teacher@1"),
        "{err}"
    );
    fs::write(p.path("configs/deploy.toml"), gates("0.0")).unwrap();
    git_ok(&p.root, &["commit", "-qam", "gates back"]);
    git_ok(&p.root, &["push", "-q", "origin", "main"]);

    p.write_tree("data", &[("x.txt", b"payload")]);
    p.ok(&["data", "snapshot", "data"]);
    common::overwrite(&p.blob_path(&common::sha256_hex(b"payload")), b"PAYLOAD");
    fs::write(p.path("notes.txt"), "b").unwrap();
    git_ok(&p.root, &["commit", "-qam", "second"]);
    let blocked = git(&p.root, &["push", "-q", "origin", "main"]);
    assert!(
        !blocked.status.success(),
        "the push went through a damaged log"
    );
    let err = String::from_utf8_lossy(&blocked.stderr);
    assert!(err.contains("push blocked"), "{err}");

    // Uninstall: lab's hooks go, the old one is back.
    p.ok(&["hooks", "uninstall"])
        .stdout_has(&["previous hook is back"]);
    assert!(
        fs::read_to_string(hooks.join("post-commit"))
            .unwrap()
            .contains("old-hook-ran")
    );
    assert!(!hooks.join("pre-push").exists());
}

#[test]
fn a_hook_finds_lab_on_the_path_when_its_binary_moved_and_says_what_to_do_otherwise() {
    common::require_git();
    let p = Project::bare();
    git_ok(&p.root, &["init", "-q"]);
    common::lab_in(&p.root, &["init"]);
    p.ok(&["hooks", "install"]);
    // As after `cargo clean` or a move: the binary that installed the hook is gone.
    let hook = p.path(".git/hooks/post-commit");
    let script = fs::read_to_string(&hook).unwrap();
    let lab = env!("CARGO_BIN_EXE_lab");
    assert!(script.contains(lab), "{script}");
    fs::write(&hook, script.replace(lab, "/nonexistent/lab")).unwrap();
    let out = git_ok(&p.root, &["commit", "-q", "--allow-empty", "-m", "a"]);
    assert!(
        out.contains("not on the PATH") && out.contains("lab hooks install"),
        "{out}"
    );
    // With lab on the PATH, the hook uses it.
    let bin = p.path("bin");
    fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(lab, bin.join("lab")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = common::git_cmd(&p.root)
        .args(["commit", "-q", "--allow-empty", "-m", "b"])
        .env("PATH", path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && err.contains("lab: recorded commit"),
        "{err}"
    );
}
