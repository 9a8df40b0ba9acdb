//! `lab hooks install|uninstall|run`: git hooks that tie the log to commits.
//!
//! `post-commit` records the commit as a `GitCommitted` event (commit, branch, changed paths);
//! when `datasets/` or `configs/` changed, the stages that read them (and what is downstream)
//! run in the background, or are left to `lab watch` when it runs. `pre-push` runs
//! `lab verify` and re-checks the deployment gates of the models in production, and blocks
//! the push, with the reason, when the log or a blob is damaged or a gate fails.
//! A hook that was already there is kept as `HOOK.lab-previous` and runs first (its failure
//! stops the chain, as git would); `uninstall` puts it back.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::event::Event;
use crate::lab::Lab;
use crate::progress::Reporter;

pub const HOOKS: [&str; 2] = ["post-commit", "pre-push"];
const MARK: &str = "# installed by `lab hooks install`";

#[derive(Debug, Serialize)]
pub struct HooksOut {
    pub dir: String,
    /// (hook, what happened).
    pub hooks: Vec<(String, String)>,
}

impl HooksOut {
    pub fn text(&self) -> String {
        let mut s = format!("hooks in {}\n", self.dir);
        for (h, what) in &self.hooks {
            s.push_str(&format!("  {h:<12} {what}\n"));
        }
        s.trim_end().to_string()
    }
}

fn sh_quote(p: &Path) -> String {
    format!("'{}'", p.to_string_lossy().replace('\'', "'\\''"))
}

/// The hook script: the previous hook first, then `lab hooks run`. lab is the binary that
/// installed the hook while it exists there, else the `lab` on the PATH (a `cargo clean`, a
/// move or a reinstall does not break every commit), else a message that says what to do.
fn script(hook: &str, lab_bin: &Path, root: &Path) -> String {
    let find = format!(
        "LAB={bin}\n\
         if [ ! -x \"$LAB\" ]; then\n  \
         LAB=$(command -v lab) || {{ echo \"lab hooks: lab is no longer at {shown} and not on \
         the PATH — put lab on the PATH or run \\`lab hooks install\\` again\" >&2; exit 1; }}\n\
         fi\n",
        bin = sh_quote(lab_bin),
        shown = lab_bin
            .display()
            .to_string()
            .replace(['"', '`', '$', '\\'], "_"),
    );
    let lab = format!("\"$LAB\" -C {}", sh_quote(root));
    let prev = format!("\"$(dirname \"$0\")/{hook}.lab-previous\"");
    if hook == "pre-push" {
        // git gives pre-push the refs on stdin: keep them for both hooks.
        format!(
            "#!/bin/sh\n{MARK} — `lab hooks uninstall` restores the previous hook\n{find}\
             input=$(cat)\n\
             if [ -x {prev} ]; then printf '%s\\n' \"$input\" | {prev} \"$@\" || exit $?; fi\n\
             printf '%s\\n' \"$input\" | exec {lab} hooks run {hook} \"$@\"\n"
        )
    } else {
        format!(
            "#!/bin/sh\n{MARK} — `lab hooks uninstall` restores the previous hook\n{find}\
             if [ -x {prev} ]; then {prev} \"$@\" || exit $?; fi\n\
             exec {lab} hooks run {hook} \"$@\"\n"
        )
    }
}

fn dirs(lab: &Lab) -> Result<PathBuf> {
    let Some((dir, _)) = crate::git::hooks_dir(&lab.project.root) else {
        bail!(
            "{} is not inside a git repository — run `git init` first (hooks tie the log to commits)",
            lab.project.root.display()
        );
    };
    Ok(dir)
}

fn ours(path: &Path) -> bool {
    fs::read_to_string(path).is_ok_and(|s| s.contains(MARK))
}

/// Installs both hooks, keeping hooks that were there.
pub fn install(lab: &Lab) -> Result<HooksOut> {
    let dir = dirs(lab)?;
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let bin = std::env::current_exe().context("cannot find lab's own executable")?;
    let mut hooks = Vec::new();
    for hook in HOOKS {
        let path = dir.join(hook);
        let prev = dir.join(format!("{hook}.lab-previous"));
        let what = if ours(&path) {
            "updated"
        } else if path.exists() {
            if prev.exists() {
                bail!(
                    "{} and {} both exist — move one away, then install again",
                    path.display(),
                    prev.display()
                );
            }
            fs::rename(&path, &prev).with_context(|| format!("cannot move {}", path.display()))?;
            "installed (the existing hook runs first)"
        } else {
            "installed"
        };
        let tmp = dir.join(format!(".{hook}.lab-tmp"));
        fs::write(&tmp, script(hook, &bin, &lab.project.root))
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(0o755))?;
        fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        hooks.push((hook.to_string(), what.to_string()));
    }
    Ok(HooksOut {
        dir: dir.display().to_string(),
        hooks,
    })
}

/// Removes lab's hooks and restores the ones they replaced.
pub fn uninstall(lab: &Lab) -> Result<HooksOut> {
    let dir = dirs(lab)?;
    let mut hooks = Vec::new();
    for hook in HOOKS {
        let path = dir.join(hook);
        let prev = dir.join(format!("{hook}.lab-previous"));
        let what = if !ours(&path) {
            if path.exists() {
                "left alone (not lab's)"
            } else {
                "not installed"
            }
        } else {
            fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
            if prev.exists() {
                fs::rename(&prev, &path)
                    .with_context(|| format!("cannot restore {}", prev.display()))?;
                "removed; the previous hook is back"
            } else {
                "removed"
            }
        };
        hooks.push((hook.to_string(), what.to_string()));
    }
    Ok(HooksOut {
        dir: dir.display().to_string(),
        hooks,
    })
}

/// The post-commit hook's answer to changed data or configs: the stages they affect run in
/// the background (`lab pipeline STAGE…`, logged to `.lab/post-commit.log`, so the commit
/// returns at once), or, when `lab watch` runs on the project, are left to it.
fn affected_stages(lab: &Lab, changed: &[String]) -> Result<String> {
    let dag = crate::stages::Dag::of(&lab.project)?;
    let hit: Vec<&str> = dag
        .affected(changed)
        .into_iter()
        .map(|i| dag.stages[i].name())
        .collect();
    let n = changed.len();
    let what = format!(
        "lab: {n} path{} changed under datasets/ or configs/",
        if n == 1 { "" } else { "s" }
    );
    if hit.is_empty() {
        return Ok(format!("{what}; no stage reads them"));
    }
    if crate::git::head_is_root(&lab.project.root) {
        // Every path of a first commit is "changed": that is not a change to react to.
        return Ok(format!(
            "{what} (the first commit): run `lab pipeline` to build everything"
        ));
    }
    let lab_dir = lab.project.lab_dir();
    if let Some(pid) = crate::watch::running(&lab_dir) {
        return Ok(format!(
            "{what}: `lab watch` (pid {pid}) reruns the affected stages: {}",
            hit.join(", ")
        ));
    }
    let log = lab_dir.join("post-commit.log");
    let file = fs::File::create(&log).with_context(|| format!("cannot write {}", log.display()))?;
    let exe = std::env::current_exe().context("cannot find lab's own executable")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("-C")
        .arg(&lab.project.root)
        .arg("pipeline")
        .args(&hit)
        .stdin(std::process::Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file);
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid is async-signal-safe; it detaches the run from git's session.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let child = cmd.spawn().context("cannot start `lab pipeline`")?;
    Ok(format!(
        "{what}: running the affected stages in the background (pid {}): {}\n  log: {}",
        child.id(),
        hit.join(", "),
        lab.project.display_path(&log)
    ))
}

/// What a hook run did; `ok` false blocks (pre-push).
#[derive(Debug, Serialize)]
pub struct RunOut {
    pub ok: bool,
    pub message: String,
}

/// Runs hook `hook` (called by the scripts `install` writes).
pub fn run(lab: &Lab, hook: &str, reporter: &dyn Reporter) -> Result<RunOut> {
    match hook {
        "post-commit" => {
            let Some((commit, branch, changed)) = crate::git::head_commit(&lab.project.root) else {
                return Ok(RunOut {
                    ok: true,
                    message: "no commit to record".into(),
                });
            };
            let cfg = &lab.project.config.paths;
            let watched: Vec<&String> = changed
                .iter()
                .filter(|p| {
                    let p = lab.project.root.join(p);
                    p.starts_with(lab.project.root.join(&cfg.datasets))
                        || p.starts_with(lab.project.root.join(&cfg.configs))
                })
                .collect();
            lab.append(vec![Event::GitCommitted {
                commit: commit.clone(),
                branch,
                changed: changed.clone(),
            }])?;
            let mut message = format!(
                "lab: recorded commit {} ({} paths)",
                &commit[..12],
                changed.len()
            );
            if !watched.is_empty() {
                let changed: Vec<String> = watched.iter().map(|s| s.to_string()).collect();
                message.push('\n');
                message.push_str(&affected_stages(lab, &changed)?);
            }
            Ok(RunOut { ok: true, message })
        }
        "pre-push" => {
            let v = super::verify::verify(lab, reporter)?;
            if !v.ok {
                return Ok(RunOut {
                    ok: false,
                    message: format!("lab: push blocked — `lab verify` failed:\n{}", v.text()),
                });
            }
            let d = super::deploy::dry_run(lab, "production", None, None, reporter)?;
            if !d.passed {
                let mut message = format!(
                    "lab: push blocked — a model production serves no longer passes the \
                     deployment gates of {}:",
                    d.config
                );
                for c in d.checks.iter().filter(|c| !c.passed) {
                    message.push_str(&format!(
                        "\n{}:\n{}",
                        c.model,
                        c.note
                            .clone()
                            .unwrap_or_else(|| crate::deploy::table(&c.gates))
                    ));
                }
                message.push_str(
                    "\nfix the model or the gates (or roll back with `lab deploy rollback`), then push again",
                );
                return Ok(RunOut { ok: false, message });
            }
            Ok(RunOut {
                ok: true,
                message: format!(
                    "lab: verify {}\nlab: {}",
                    v.text(),
                    if d.checks.is_empty() {
                        "production serves no model: no deployment gates to check".to_string()
                    } else {
                        format!(
                            "deployment gates pass for {}",
                            d.checks
                                .iter()
                                .map(|c| c.model.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                ),
            })
        }
        other => bail!("unknown hook `{other}`: lab runs {}", HOOKS.join(", ")),
    }
}
