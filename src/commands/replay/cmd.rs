//! Replay of an external command (`lab run -- CMD`, or a `cmd` stage): check the recorded
//! commit out into a temporary work tree (plus the recorded diff when the tree was dirty),
//! restore the recorded deps from their blobs, run the same argv in the same directory with
//! the same `LAB_RUN_ID`, and compare the hashes of its outputs with the recorded ones.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::commands::run::{hash_path, restore_path};
use crate::event::{GitState, Hash, ReplayVerdict};
use crate::lab::Lab;
use crate::store::RunRow;

/// What replaying a command gave: the combined output hashes and the verdict's details.
pub struct CmdReplay {
    pub expected: Hash,
    pub actual: Option<Hash>,
    pub verdict: ReplayVerdict,
    pub detail: String,
}

/// One hash for a run's outputs (the outputs' hashes in order).
fn combined(hashes: &[Hash]) -> Hash {
    let bytes: Vec<u8> = hashes.iter().flat_map(|h| h.0).collect();
    Hash::of(&bytes)
}

fn cannot(expected: Hash, reason: String) -> CmdReplay {
    CmdReplay {
        expected,
        actual: None,
        detail: reason.clone(),
        verdict: ReplayVerdict::CannotReplay { reason },
    }
}

/// Replays the external command of `row`.
pub fn replay(lab: &Lab, row: &RunRow) -> CmdReplay {
    let outs: Vec<_> = row.outputs.iter().filter(|o| o.role == "out").collect();
    let expected = combined(&outs.iter().map(|o| o.hash).collect::<Vec<_>>());
    let Some(argv) = row
        .params
        .get("cmd.argv")
        .and_then(|a| serde_json::from_str::<Vec<String>>(a).ok())
        .filter(|a| !a.is_empty())
    else {
        return cannot(
            expected,
            "the run recorded no argv (it predates command replay): run it again with `lab run`"
                .into(),
        );
    };
    let (commit, diff) = match &row.git {
        GitState::Repo {
            commit: Some(c),
            diff,
            ..
        } => (c.clone(), *diff),
        GitState::Repo { commit: None, .. } => {
            return cannot(
                expected,
                "the repository had no commit when the command ran: there is no code to check out"
                    .into(),
            );
        }
        GitState::NoRepo => {
            return cannot(
                expected,
                "the project was not in a git repository when the command ran: there is no \
                 recorded code to run it from"
                    .into(),
            );
        }
    };
    let dirs: Vec<String> = row
        .params
        .get("cmd.dirs")
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or_default();
    let declared = |name: &str| {
        row.inputs
            .iter()
            .chain(outs.iter().copied())
            .any(|d| name == d.name || Path::new(name).starts_with(&d.name))
    };
    let mut restore_untracked: Vec<(String, Hash)> = Vec::new();
    let patch = match diff {
        None => None,
        Some(h) => {
            let bytes = match lab.store.blobs.get(&h) {
                Ok(b) => b,
                Err(e) => {
                    return cannot(
                        expected,
                        format!(
                            "the tree was dirty and its recorded diff (blob {}) is unreadable: {e}",
                            h.short()
                        ),
                    );
                }
            };
            let (patch, untracked) = crate::git::split_recorded_diff(&bytes);
            // The project's paths relative to the repository, to match untracked names.
            let project = row.params.get("cmd.project").cloned().unwrap_or(".".into());
            // Files recorded with their content come back with the checkout; only those
            // recorded by name (too large) and not declared as deps block the replay.
            restore_untracked = untracked
                .iter()
                .filter_map(|(u, h)| h.map(|h| (u.clone(), h)))
                .collect();
            let unknown: Vec<String> = untracked
                .into_iter()
                .filter(|(_, h)| h.is_none())
                .map(|(u, _)| u)
                .filter(|u| {
                    let rel = Path::new(u)
                        .strip_prefix(&project)
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or(u.clone());
                    !declared(&rel)
                })
                .collect();
            if !unknown.is_empty() {
                return cannot(
                    expected,
                    format!(
                        "the tree was dirty with untracked files whose content lab did not record: \
                         {} — commit them (or declare them with --dep) and run again",
                        unknown.join(", ")
                    ),
                );
            }
            Some(patch)
        }
    };
    let tmp = match tempfile::Builder::new().prefix("lab-replay-").tempdir() {
        Ok(t) => t,
        Err(e) => return cannot(expected, format!("cannot make a temporary directory: {e}")),
    };
    if let Err(e) =
        crate::git::checkout_commit(&lab.project.root, &commit, patch.as_deref(), tmp.path())
    {
        return cannot(expected, format!("{e}"));
    }
    for (name, h) in &restore_untracked {
        let dest = tmp.path().join(name);
        let restored = lab
            .store
            .blobs
            .get(h)
            .map_err(anyhow::Error::from)
            .and_then(|b| {
                if let Some(d) = dest.parent() {
                    std::fs::create_dir_all(d)?;
                }
                Ok(std::fs::write(&dest, b)?)
            });
        if let Err(e) = restored {
            return cannot(expected, format!("untracked file {name}: {e:#}"));
        }
    }
    let project = tmp
        .path()
        .join(row.params.get("cmd.project").map_or(".", String::as_str));
    for d in row.inputs.iter().filter(|i| i.role == "dep") {
        let p = Path::new(&d.name);
        if p.is_absolute() {
            if hash_path(p).ok() != Some(d.hash) {
                return cannot(
                    expected,
                    format!(
                        "dep {} lies outside the project and is no longer what the run read ({})",
                        d.name,
                        d.hash.short()
                    ),
                );
            }
            continue;
        }
        let dest = project.join(p);
        let dir = dirs.contains(&d.name);
        if dir && dest.is_dir() {
            let _ = std::fs::remove_dir_all(&dest);
        }
        if let Err(e) = restore_path(lab, &d.hash, &dest, dir) {
            return cannot(expected, format!("dep {}: {e:#}", d.name));
        }
    }
    for o in &outs {
        let p = project.join(&o.name);
        let _ = std::fs::remove_file(&p).or_else(|_| std::fs::remove_dir_all(&p));
    }
    let cwd = tmp
        .path()
        .join(row.params.get("cmd.cwd").map_or(".", String::as_str));
    let metrics = tmp.path().join(".lab-replay-metrics.jsonl");
    let _ = std::fs::write(&metrics, b"");
    let mut command = Command::new(&argv[0]);
    // Declared environment variables (`lab run --env NAME`) get their recorded values.
    for e in row.inputs.iter().filter(|i| i.role == "env") {
        match lab.store.blobs.get(&e.hash) {
            Ok(v) => {
                use std::os::unix::ffi::OsStrExt;
                command.env(&e.name, std::ffi::OsStr::from_bytes(&v));
            }
            Err(err) => {
                return cannot(
                    expected,
                    format!("env {}: its recorded value: {err}", e.name),
                );
            }
        }
    }
    let ran = command
        .args(&argv[1..])
        .current_dir(&cwd)
        .env("LAB_RUN_ID", &row.id)
        .env("LAB_METRICS", &metrics)
        .env("LAB_PROJECT", &project)
        .stdin(std::process::Stdio::null())
        .output();
    let out = match ran {
        Ok(o) => o,
        Err(e) => {
            return cannot(
                expected,
                format!("cannot start `{}` in the checkout: {e}", argv[0]),
            );
        }
    };
    let deltas = metric_deltas(&metrics, row);
    if !out.status.success() {
        let tail = String::from_utf8_lossy(&out.stderr);
        let tail: String = tail
            .chars()
            .rev()
            .take(300)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let cause = format!(
            "the command failed at replay ({}): {}",
            out.status,
            tail.trim()
        );
        return CmdReplay {
            expected,
            actual: None,
            detail: cause.clone(),
            verdict: ReplayVerdict::Differs {
                max_abs_weight_diff: f64::NAN,
                metric_deltas: deltas,
                likely_cause: cause,
            },
        };
    }
    let mut actual_hashes = Vec::new();
    let mut differ = Vec::new();
    for o in &outs {
        let h = hash_path(&project.join(&o.name)).ok();
        match h {
            Some(h) if h == o.hash => actual_hashes.push(h),
            Some(h) => {
                differ.push(format!("{} {} → {}", o.name, o.hash.short(), h.short()));
                actual_hashes.push(h);
            }
            None => {
                differ.push(format!("{} was not written", o.name));
                actual_hashes.push(Hash::ZERO);
            }
        }
    }
    let actual = combined(&actual_hashes);
    let command = argv.join(" ");
    if differ.is_empty() {
        return CmdReplay {
            expected,
            actual: Some(actual),
            verdict: ReplayVerdict::Identical,
            detail: if outs.is_empty() {
                format!(
                    "`{command}` ran again at commit {} (no outputs declared to compare)",
                    &commit[..12]
                )
            } else {
                format!(
                    "`{command}` at commit {}: {} output{} identical",
                    &commit[..12],
                    outs.len(),
                    if outs.len() == 1 { "" } else { "s" }
                )
            },
        };
    }
    let cause = format!(
        "the command is not deterministic, or reads something lab did not record (the clock, \
         the network, an undeclared file): {}",
        differ.join("; ")
    );
    CmdReplay {
        expected,
        actual: Some(actual),
        detail: format!("`{command}` at commit {}: {cause}", &commit[..12]),
        verdict: ReplayVerdict::Differs {
            max_abs_weight_diff: f64::NAN,
            metric_deltas: deltas,
            likely_cause: cause,
        },
    }
}

/// The last value per key the replay wrote to `LAB_METRICS`, minus the recorded one.
fn metric_deltas(path: &Path, row: &RunRow) -> BTreeMap<String, f64> {
    let mut last: BTreeMap<String, f64> = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            if let (Some(k), Some(x)) = (v["key"].as_str(), v["value"].as_f64()) {
                last.insert(k.to_string(), x);
            }
        }
    }
    last.into_iter()
        .filter_map(|(k, v)| row.latest.get(&k).map(|p| (k, v - p.value)))
        .collect()
}
