//! `lab gc`: removes the blobs nothing refers to — what a killed `lab run --dep …` or an
//! interrupted training leaves in `.lab/objects` (issue 18) — and the old epoch checkpoints of
//! finished training runs (issue 17). A blob is kept when the log names it, or when a kept
//! blob names it: a dataset manifest its files, a model bundle its files and base. Names are
//! found generously: every 64-hex-digit string in an event (so an event kind added later is
//! covered without a change here) and in a kept blob that reads as text; a kept blob that
//! decodes as a manifest gives its entries. Finding too many only keeps a blob that could have
//! gone, never the reverse. The one exception: an artifact deleted later in the log
//! (`ArtifactDeleted`) no longer keeps its blob, unless a live artifact or anything else names
//! the same bytes ([`ArtifactLedger`], which `lab verify` shares).
//!
//! Checkpoints: each training epoch stores one (`checkpoint/epoch-N.safetensors`). Of a
//! finished run — or of a killed or failed one that a finished `--resume` run carried to the
//! end — `lab gc` keeps the newest `[gc] keep_checkpoints` (lab.toml, default 1;
//! `--keep-checkpoints N` overrides) and drops the others by appending `ArtifactDeleted`; their
//! blobs then go like any unreferenced blob. Nothing else needs them: `lab replay` retrains from
//! the recorded dataset snapshot, effective settings and parent model and compares with the
//! recorded model bundle (`commands::replay::job_of`, which reads no checkpoint), and
//! `--resume` continues only killed or failed runs not yet carried to the end
//! (`commands::train::find_checkpoint`), whose checkpoints are never dropped. What is lost is
//! `lab artifacts get` of the dropped epochs' weights and optimiser state.
//!
//! Blobs younger than `--grace` are kept too: a process writes its blobs before the event that
//! names them, and may be doing so now. A log that cannot be read whole stops `gc` before
//! anything is removed.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::dataset::manifest;
use crate::event::{Event, Hash, RunStatus, human_bytes};
use crate::lab::Lab;
use crate::ml::recipe::Recipe;

/// The largest blob read to look for the names of other blobs (manifests, bundles and
/// configs are far smaller; weights and images are not read).
const SCAN_LIMIT: u64 = 64 << 20;

/// What `lab gc` did (or, with --dry-run, would do).
#[derive(Debug, Serialize)]
pub struct GcOut {
    pub dry_run: bool,
    /// Blobs in the store, and those kept because something refers to them.
    pub blobs: u64,
    pub referenced: u64,
    /// Unreferenced blobs kept because they are younger than the grace period.
    pub recent: u64,
    /// Unreferenced blobs removed (or to remove) and their size.
    pub removed: u64,
    pub bytes: u64,
    /// Epoch checkpoints kept of each finished training run.
    pub keep_checkpoints: u32,
    /// The checkpoints dropped (or to drop), per run, oldest run first.
    pub checkpoints: Vec<RunCheckpoints>,
    /// Checkpoints dropped and the bytes their blobs hold.
    pub checkpoints_removed: u64,
    pub checkpoint_bytes: u64,
    /// What `lab replay` and `lab train --resume` lose by it.
    pub replay_loses: String,
    pub resume_loses: String,
}

/// The checkpoints of one run that `lab gc` drops, and those it keeps.
#[derive(Debug, Serialize)]
pub struct RunCheckpoints {
    pub run: String,
    pub name: String,
    /// `finished`, or `killed` / `failed` for a run a finished `--resume` carried to the end.
    pub status: String,
    pub removed: Vec<String>,
    pub kept: Vec<String>,
    pub bytes: u64,
}

/// What replay loses when checkpoints go (nothing: see the module doc).
const REPLAY_LOSES: &str = "nothing: lab replay retrains from the recorded dataset snapshot, settings and parent model and compares with the recorded model, all kept";
/// What `--resume` loses (nothing: see the module doc).
const RESUME_LOSES: &str = "nothing: --resume continues only killed or failed runs not yet carried to the end, whose checkpoints are kept";

impl GcOut {
    pub fn text(&self) -> String {
        let mut s = String::new();
        let verb = if self.dry_run {
            "would remove"
        } else {
            "removed"
        };
        if self.checkpoints.is_empty() {
            s.push_str(&format!(
                "no epoch checkpoints to remove (keeping the newest {} of each finished training run)\n",
                self.keep_checkpoints
            ));
        } else {
            s.push_str(&format!(
                "{verb} {} epoch checkpoints of {} finished training runs ({}), keeping the newest {} of each ([gc] keep_checkpoints in lab.toml, or --keep-checkpoints N):\n",
                self.checkpoints_removed,
                self.checkpoints.len(),
                human_bytes(self.checkpoint_bytes),
                self.keep_checkpoints
            ));
            for r in &self.checkpoints {
                s.push_str(&format!(
                    "  {} {} ({}): {} ({}){}\n",
                    &r.run[..8.min(r.run.len())],
                    r.name,
                    r.status,
                    r.removed.join(", "),
                    human_bytes(r.bytes),
                    if r.kept.is_empty() {
                        String::new()
                    } else {
                        format!("; keeps {}", r.kept.join(", "))
                    }
                ));
            }
            s.push_str(&format!("  lab replay loses {}\n", self.replay_loses));
            s.push_str(&format!(
                "  lab train --resume loses {}\n",
                self.resume_loses
            ));
            s.push_str(&format!(
                "  `lab artifacts get` {} those epochs' weights and optimiser state\n",
                if self.dry_run {
                    "would no longer find"
                } else {
                    "no longer finds"
                }
            ));
        }
        s.push_str(&format!(
            "{} {} unreferenced blobs ({}); kept {} referenced and {} recent of {} blobs",
            if self.dry_run {
                "would remove"
            } else {
                "removed"
            },
            self.removed,
            human_bytes(self.bytes),
            self.referenced,
            self.recent,
            self.blobs
        ));
        s
    }
}

/// Which artifacts of the log are live: logged (`ArtifactLogged`) and not deleted since
/// (`ArtifactDeleted` of the path or a folder above it). Fold the events in log order.
#[derive(Default)]
pub struct ArtifactLedger {
    /// (run, path) → the blobs logged under it while it stayed live.
    live: BTreeMap<(String, String), Vec<Hash>>,
}

impl ArtifactLedger {
    /// Folds one event (others than the two artifact events change nothing). Returns whether
    /// the event was an artifact event.
    pub fn apply(&mut self, e: &Event) -> bool {
        match e {
            Event::ArtifactLogged {
                run, path, hash, ..
            } => {
                self.live
                    .entry((run.clone(), path.clone()))
                    .or_default()
                    .push(*hash);
                true
            }
            Event::ArtifactDeleted { run, path } => {
                self.delete(run, path);
                true
            }
            _ => false,
        }
    }

    fn delete(&mut self, run: &str, path: &str) {
        let under = format!("{path}/");
        self.live
            .retain(|(r, p), _| !(r == run && (p == path || p.starts_with(&under))));
    }

    /// Every blob a live artifact names.
    pub fn live(&self) -> impl Iterator<Item = Hash> + '_ {
        self.live.values().flatten().copied()
    }
}

/// Every 64-hex-digit run in `text` as a hash.
fn hashes_in(text: &[u8], out: &mut Vec<Hash>) {
    let mut start = None;
    for (i, b) in text.iter().chain(std::iter::once(&b' ')).enumerate() {
        if b.is_ascii_hexdigit() {
            start.get_or_insert(i);
            continue;
        }
        if let Some(s) = start.take() {
            if i - s == 64 {
                if let Some(h) = std::str::from_utf8(&text[s..i])
                    .ok()
                    .and_then(|t| Hash::from_hex(&t.to_ascii_lowercase()))
                {
                    out.push(h);
                }
            }
        }
    }
}

/// The blobs the log refers to, directly or through kept blobs (see the module doc), as if
/// the artifacts `dropping` names were deleted at the end of the log (a dry run's plan).
fn referenced(lab: &Lab, dropping: &[(String, String)]) -> Result<HashSet<Hash>> {
    let mut todo = Vec::new();
    let mut ledger = ArtifactLedger::default();
    lab.store.scan(1, |rec| {
        let body = &rec.envelope.body;
        let json = serde_json::to_vec(&rec.envelope).unwrap_or_default();
        if ledger.apply(body) {
            // An artifact's blob is kept while the artifact lives (the ledger says); any other
            // hash in the event (the git diff) counts as usual.
            let mut found = Vec::new();
            hashes_in(&json, &mut found);
            if let Event::ArtifactLogged { hash, .. } = body {
                found.retain(|h| h != hash);
            }
            todo.extend(found);
        } else {
            todo.extend(body.blobs());
            hashes_in(&json, &mut todo);
        }
        Ok(true)
    })?;
    for (run, path) in dropping {
        ledger.delete(run, path);
    }
    todo.extend(ledger.live());
    let mut seen = HashSet::new();
    while let Some(h) = todo.pop() {
        if !seen.insert(h) {
            continue;
        }
        let path = lab.store.blobs.path(&h);
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if meta.len() > SCAN_LIMIT {
            continue;
        }
        let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if let Ok(entries) = manifest::decode(&bytes) {
            todo.extend(entries.iter().map(|e| e.hash));
        }
        if std::str::from_utf8(&bytes).is_ok() {
            hashes_in(&bytes, &mut todo);
        }
    }
    Ok(seen)
}

/// Every blob in the store: (hash, path, size, modified).
fn all_blobs(lab: &Lab) -> Result<Vec<(Hash, PathBuf, u64, SystemTime)>> {
    let root = lab.project.lab_dir().join("objects").join("sha256");
    let mut out = Vec::new();
    let Ok(fans) = fs::read_dir(&root) else {
        return Ok(out);
    };
    for fan in fans {
        let fan = fan.with_context(|| format!("cannot list {}", root.display()))?;
        let prefix = fan.file_name().to_string_lossy().into_owned();
        let Ok(files) = fs::read_dir(fan.path()) else {
            continue;
        };
        for f in files {
            let f = f.with_context(|| format!("cannot list {}", fan.path().display()))?;
            let name = format!("{prefix}{}", f.file_name().to_string_lossy());
            let Some(h) = Hash::from_hex(&name) else {
                continue;
            };
            let meta = f
                .metadata()
                .with_context(|| format!("cannot read {}", f.path().display()))?;
            if meta.is_file() {
                let modified = meta.modified().unwrap_or(SystemTime::now());
                out.push((h, f.path(), meta.len(), modified));
            }
        }
    }
    Ok(out)
}

/// Per run: the run, the checkpoints to drop and those kept, each (path, blob) in epoch order.
type Plan = Vec<(
    crate::store::RunRow,
    Vec<(String, Hash)>,
    Vec<(String, Hash)>,
)>;

/// The epoch checkpoints `lab gc` drops with `keep` kept per run (see the module doc).
fn checkpoint_plan(lab: &Lab, keep: u32) -> Result<Plan> {
    let runs = lab.store.read_views(|v| v.runs_all())?;
    let is_training = |recipe: &str| Recipe::ALL.iter().any(|r| r.id() == recipe);
    // Killed or failed runs a finished `--resume` run carried to the end: never resumed again.
    let carried: HashSet<&str> = runs
        .iter()
        .filter(|r| r.status == RunStatus::Finished)
        .filter_map(|r| r.params.get("resumed_from").map(String::as_str))
        .collect();
    let mut plan = Vec::new();
    for r in &runs {
        let status = super::runs::effective_status(r);
        let done = status == RunStatus::Finished
            || (matches!(status, RunStatus::Killed | RunStatus::Failed)
                && carried.contains(r.id.as_str()));
        if !done || !is_training(&r.recipe) {
            continue;
        }
        let mut cks: Vec<(String, Hash)> = r
            .artifacts
            .iter()
            .filter(|a| a.name.starts_with("checkpoint/"))
            .map(|a| (a.name.clone(), a.hash))
            .collect();
        // Epoch order (`checkpoint/epoch-10` after `epoch-9`); the log's order otherwise.
        cks.sort_by_key(|(name, _)| epoch_of(name));
        let cut = cks.len().saturating_sub(keep as usize);
        if cut == 0 {
            continue;
        }
        let kept = cks.split_off(cut);
        plan.push((r.clone(), cks, kept));
    }
    plan.sort_by_key(|(r, _, _)| r.started_seq);
    Ok(plan)
}

/// The epoch number of `checkpoint/epoch-N.safetensors` (0 when the name has none).
fn epoch_of(name: &str) -> u64 {
    name.rsplit('/')
        .next()
        .and_then(|f| f.strip_prefix("epoch-"))
        .and_then(|f| f.split('.').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Drops the old epoch checkpoints of finished training runs (keeping the newest `keep` of
/// each; with `dry_run` only says which), then removes (with `dry_run`, only counts) the blobs
/// nothing refers to that are older than `grace`.
pub fn gc(lab: &Lab, dry_run: bool, grace: Duration, keep: u32) -> Result<GcOut> {
    let plan = checkpoint_plan(lab, keep)?;
    let dropping: Vec<(String, String)> = plan
        .iter()
        .flat_map(|(r, drop, _)| drop.iter().map(|(p, _)| (r.id.clone(), p.clone())))
        .collect();
    if !dry_run && !dropping.is_empty() {
        lab.append(
            dropping
                .iter()
                .map(|(run, path)| Event::ArtifactDeleted {
                    run: run.clone(),
                    path: path.clone(),
                })
                .collect(),
        )?;
    }
    let keep_set = referenced(lab, if dry_run { &dropping } else { &[] }).context(
        "lab gc needs the whole log to know what is referenced; nothing was removed (lab verify tells what is wrong)",
    )?;
    let size = |h: &Hash| {
        fs::metadata(lab.store.blobs.path(h))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let mut checkpoints = Vec::new();
    let mut checkpoint_bytes = 0;
    for (r, drop, kept) in &plan {
        // Bytes freed: the blobs no live reference keeps (counted once).
        let bytes: u64 = drop
            .iter()
            .filter(|(_, h)| !keep_set.contains(h))
            .map(|(_, h)| *h)
            .collect::<HashSet<Hash>>()
            .iter()
            .map(size)
            .sum();
        checkpoint_bytes += bytes;
        checkpoints.push(RunCheckpoints {
            run: r.id.clone(),
            name: r.name.clone(),
            status: super::runs::effective_status(r).as_str().to_string(),
            removed: drop.iter().map(|(p, _)| p.clone()).collect(),
            kept: kept.iter().map(|(p, _)| p.clone()).collect(),
            bytes,
        });
    }
    let now = SystemTime::now();
    let mut out = GcOut {
        dry_run,
        blobs: 0,
        referenced: 0,
        recent: 0,
        removed: 0,
        bytes: 0,
        keep_checkpoints: keep,
        checkpoints_removed: dropping.len() as u64,
        checkpoints,
        checkpoint_bytes,
        replay_loses: REPLAY_LOSES.into(),
        resume_loses: RESUME_LOSES.into(),
    };
    for (h, path, size, modified) in all_blobs(lab)? {
        out.blobs += 1;
        if keep_set.contains(&h) {
            out.referenced += 1;
            continue;
        }
        if now.duration_since(modified).unwrap_or_default() < grace {
            out.recent += 1;
            continue;
        }
        if !dry_run {
            fs::remove_file(&path).with_context(|| {
                format!("cannot remove the unreferenced blob {}", path.display())
            })?;
        }
        out.removed += 1;
        out.bytes += size;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_runs_of_64_are_hashes_and_others_are_not() {
        let a = Hash::of(b"a");
        let b = Hash::of(b"b");
        let text = format!(
            "{{\"x\": \"{}\", \"y\": [\"{}\"], \"short\": \"abcdef\", \"long\": \"{}0\"}}",
            a.to_hex(),
            b.to_hex().to_uppercase(),
            a.to_hex()
        );
        let mut out = Vec::new();
        hashes_in(text.as_bytes(), &mut out);
        assert_eq!(out, vec![a, b]);
    }

    #[test]
    fn deleted_artifacts_and_folders_stop_keeping_their_blobs() {
        let (a, b, c) = (Hash::of(b"a"), Hash::of(b"b"), Hash::of(b"c"));
        let logged = |path: &str, hash| Event::ArtifactLogged {
            run: "r".into(),
            path: path.into(),
            hash,
            size: 1,
        };
        let mut l = ArtifactLedger::default();
        l.apply(&logged("checkpoint/epoch-1.safetensors", a));
        l.apply(&logged("checkpoint/epoch-2.safetensors", b));
        l.apply(&logged("checkpointer.txt", c));
        assert!(!l.apply(&Event::AlertResolved { rule: "x".into() }));
        l.apply(&Event::ArtifactDeleted {
            run: "r".into(),
            path: "checkpoint/epoch-1.safetensors".into(),
        });
        let live: Vec<Hash> = l.live().collect();
        assert_eq!(live.len(), 2);
        assert!(!live.contains(&a));
        // A folder takes what is under it, not a sibling that shares the prefix.
        l.delete("r", "checkpoint");
        assert_eq!(l.live().collect::<Vec<_>>(), vec![c]);
        // Logged again after a delete: live again.
        l.apply(&logged("checkpoint/epoch-1.safetensors", a));
        assert_eq!(l.live().count(), 2);
        assert_eq!(epoch_of("checkpoint/epoch-12.safetensors"), 12);
        assert_eq!(epoch_of("checkpoint/last"), 0);
    }
}
