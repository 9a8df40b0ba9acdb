//! `lab verify`: walks the whole hash chain and re-hashes every blob the log references
//! (dataset files through their manifests, model files through their bundles, and the files
//! of a run's directory dependencies and outputs included), and compares the views with the
//! log folded afresh (a damaged view is named with `lab reindex` as the cure). The head record
//! `.lab/HEAD` was compared with the log when the store opened.

use std::collections::HashSet;

use anyhow::Result;
use rayon::prelude::*;
use serde::Serialize;

use crate::dataset::manifest;
use crate::event::{Event, GitState, Hash, human_bytes};
use crate::lab::Lab;
use crate::progress::Reporter;
use crate::store::{StoreError, codec};

#[derive(Debug, Serialize)]
pub struct VerifyOut {
    pub ok: bool,
    pub events: u64,
    pub head: Option<Hash>,
    pub blobs: u64,
    pub bytes: u64,
    /// The first broken event, if any.
    pub bad_event: Option<u64>,
    /// The first broken blob (in log order), if any.
    pub bad_blob: Option<Hash>,
    /// Whether the views equal the log folded afresh (None: not checked, the chain is broken).
    pub views_ok: Option<bool>,
    pub problems: Vec<String>,
}

impl VerifyOut {
    pub fn text(&self) -> String {
        if self.ok {
            format!(
                "ok: {} events, chain intact (head {}), views match the log, {} blobs ({}) match their hashes",
                self.events,
                self.head.map(|h| h.short()).unwrap_or_else(|| "-".into()),
                self.blobs,
                human_bytes(self.bytes)
            )
        } else {
            let mut s = String::from("FAILED:\n");
            for p in &self.problems {
                s.push_str("  ");
                s.push_str(p);
                s.push('\n');
            }
            s.push_str(&format!(
                "checked {} events and {} blobs",
                self.events, self.blobs
            ));
            s
        }
    }
}

/// Verifies the chain and the blobs. Never panics on a damaged file: storage-level damage
/// is reported as a problem.
pub fn verify(lab: &Lab, reporter: &dyn Reporter) -> Result<VerifyOut> {
    let res = crate::store::guard::guard(|| run(lab, reporter));
    match res {
        Ok(r) => r,
        Err(msg) => Ok(VerifyOut {
            ok: false,
            events: 0,
            head: None,
            blobs: 0,
            bytes: 0,
            bad_event: None,
            bad_blob: None,
            views_ok: None,
            problems: vec![format!(
                "{} is damaged at the storage level ({msg}); restore it from a backup",
                lab.store.path().display()
            )],
        }),
    }
}

fn run(lab: &Lab, reporter: &dyn Reporter) -> Result<VerifyOut> {
    let mut problems = Vec::new();
    let mut bad_event = None;
    let mut expected_seq = 1u64;
    let mut prev = Hash::ZERO;
    let mut events = 0u64;
    // Blobs in order of first reference; manifests expand to their files.
    let mut refs: Vec<Hash> = Vec::new();
    let mut manifests: Vec<(u64, Hash)> = Vec::new();
    // Model bundles name their files (weights, config, vocabulary) and their base; a run's
    // directory dependencies and outputs are manifests.
    let mut bundles: Vec<(u64, Hash)> = Vec::new();
    let mut maybe_manifests: Vec<(u64, Hash)> = Vec::new();
    // Artifacts deleted since they were logged (`lab gc` dropping old checkpoints) need not
    // keep their blobs: only live ones are checked.
    let mut artifacts = super::gc::ArtifactLedger::default();
    let walk = lab.store.scan_raw(1, |seq, bytes| {
        let fail = |problems: &mut Vec<String>, msg: String| {
            problems.push(format!("event #{seq}: {msg}"));
        };
        if seq != expected_seq {
            fail(
                &mut problems,
                format!("expected event #{expected_seq} here — events are missing"),
            );
            bad_event = Some(expected_seq.min(seq));
            return Ok(false);
        }
        let (body, stored) = match codec::split(bytes) {
            Ok(x) => x,
            Err(e) => {
                fail(&mut problems, e.to_string());
                bad_event = Some(seq);
                return Ok(false);
            }
        };
        let actual = codec::chain_hash(&prev, body);
        if actual != stored {
            fail(
                &mut problems,
                format!(
                    "hash mismatch: stored {}, computed {} — the entry or its predecessor was altered",
                    stored.short(),
                    actual.short()
                ),
            );
            bad_event = Some(seq);
            return Ok(false);
        }
        let rec = match codec::decode(bytes) {
            Ok(r) => r,
            Err(e) => {
                fail(&mut problems, e.to_string());
                bad_event = Some(seq);
                return Ok(false);
            }
        };
        if rec.envelope.seq != seq || rec.envelope.prev != prev {
            fail(
                &mut problems,
                "envelope seq/prev do not match its place in the chain".into(),
            );
            bad_event = Some(seq);
            return Ok(false);
        }
        if let GitState::Repo { diff: Some(d), .. } = &rec.envelope.git {
            refs.push(*d);
        }
        match &rec.envelope.body {
            Event::DatasetSnapshotted { manifest, .. } => manifests.push((seq, *manifest)),
            Event::RunStarted { inputs: refs_, .. } | Event::RunFinished { outputs: refs_, .. } => {
                for r in refs_ {
                    match r.role.as_str() {
                        "model" | "teacher" | "base" => bundles.push((seq, r.hash)),
                        "dep" | "out" | "dataset" => maybe_manifests.push((seq, r.hash)),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        if !artifacts.apply(&rec.envelope.body) {
            refs.extend(rec.envelope.body.blobs());
        }
        prev = stored;
        expected_seq += 1;
        events += 1;
        Ok(true)
    });
    if let Err(e) = walk {
        match e {
            StoreError::Codec { seq, .. } => {
                bad_event.get_or_insert(seq);
                problems.push(e.to_string());
            }
            other => problems.push(format!("reading the log failed: {other}")),
        }
    }
    refs.extend(artifacts.live());
    // The views, once the chain they are folded from is known to be intact.
    let views_ok = if bad_event.is_none() && problems.is_empty() {
        let view_problems = lab.store.check_views()?;
        let ok = view_problems.is_empty();
        problems.extend(view_problems);
        Some(ok)
    } else {
        None
    };
    let mut seen_bundles = HashSet::new();
    while let Some((seq, b)) = bundles.pop() {
        if !seen_bundles.insert(b) {
            continue;
        }
        match crate::models::bundle(&lab.store.blobs, &b) {
            Ok(bundle) => {
                refs.extend(bundle.files.values().copied());
                if let Some(base) = bundle.base {
                    refs.push(base);
                    bundles.push((seq, base));
                }
            }
            Err(crate::models::ModelsError::Blob(_)) => { /* reported by the blob pass below */ }
            Err(e) => problems.push(format!("event #{seq}: {e}")),
        }
    }
    for (seq, m) in maybe_manifests {
        if let Ok(bytes) = lab.store.blobs.get(&m) {
            if manifest::decode(&bytes).is_ok() && !manifests.iter().any(|x| x.1 == m) {
                manifests.push((seq, m));
            }
        }
    }
    // Expand manifests into the file blobs they name.
    for (seq, m) in &manifests {
        match lab.store.blobs.get(m) {
            Ok(bytes) => match manifest::decode(&bytes) {
                Ok(entries) => refs.extend(entries.iter().map(|e| e.hash)),
                Err(e) => problems.push(format!("manifest {} (event #{seq}): {e}", m.short())),
            },
            Err(_) => { /* reported by the blob pass below */ }
        }
    }
    let mut seen = HashSet::with_capacity(refs.len());
    refs.retain(|h| seen.insert(*h));
    reporter.begin("checking blobs", refs.len() as u64, false);
    let results: Vec<Result<u64, String>> = refs
        .par_iter()
        .map_init(Vec::new, |buf, h| {
            let r = lab.store.blobs.check(h, buf).map_err(|e| e.to_string());
            reporter.advance(1);
            r
        })
        .collect();
    reporter.end();
    let mut bad_blob = None;
    let mut bytes = 0;
    for (h, r) in refs.iter().zip(results) {
        match r {
            Ok(n) => bytes += n,
            Err(e) => {
                bad_blob.get_or_insert(*h);
                problems.push(e);
            }
        }
    }
    Ok(VerifyOut {
        ok: problems.is_empty(),
        events,
        head: (events > 0).then_some(prev),
        blobs: refs.len() as u64,
        bytes,
        bad_event,
        bad_blob,
        views_ok,
        problems,
    })
}
