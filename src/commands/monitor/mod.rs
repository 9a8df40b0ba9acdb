//! `lab monitor`: drift of recorded inputs against a reference snapshot (`drift`), the alert
//! rules of `configs/monitoring.toml` evaluated over their windows (`check`, also what
//! `lab serve` calls after each batch it records), the alerts (`alerts`), and offline batches
//! read with the deployed OCR model and recorded like served requests (`track`).
//!
//! The statistics and the alert state machine are in `crate::monitor` (pure); this module
//! reads the window's records from the store's views, the reference features from a snapshot,
//! and appends the events.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use crate::event::Hash;
use crate::lab::Lab;
use crate::monitor::rules::{self, MonitoringConfig};
use crate::store::VersionRow;

mod check;
mod drift;
mod gauges;
mod reference;
mod track;

pub use check::{AlertsOut, CheckOut, FIRING_EXIT, HookRun, RuleState, alerts, alerts_text, check};
pub use drift::{DriftOut, ModelDrift, drift};
pub use gauges::window_gauges;
pub use reference::reference;
pub use track::{TrackOut, track};

/// The environment variable `lab monitor` reads "now" from when set: milliseconds since the
/// Unix epoch or an RFC 3339 time. For tests, and for recording a batch as of another time;
/// recorded inferences and every window use it.
pub const NOW_ENV: &str = "LAB_MONITOR_NOW";

/// Now, in milliseconds since the Unix epoch ([`NOW_ENV`] when set, else the clock).
pub fn now_ms() -> Result<i64> {
    match std::env::var(NOW_ENV) {
        Ok(v) if !v.trim().is_empty() => parse_time_ms(v.trim())
            .ok_or_else(|| anyhow!("{NOW_ENV}=`{v}`: expected milliseconds since the Unix epoch or an RFC 3339 time (2026-11-28T10:00:00Z)")),
        _ => Ok(crate::store::now_ns() / 1_000_000),
    }
}

fn parse_time_ms(s: &str) -> Option<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Some(ms);
    }
    let t = humantime::parse_rfc3339_weak(s).ok()?;
    Some(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64)
}

/// `1h` → milliseconds, with a message naming the flag.
pub fn window_ms(flag: &str, s: &str) -> Result<i64> {
    let d = rules::parse_window(s).map_err(|e| anyhow!("{flag}: {e}"))?;
    Ok(d.as_millis().min(i64::MAX as u128) as i64)
}

/// Reads `path`, or configs/monitoring.toml (written from the embedded default when missing).
pub fn load_config(lab: &Lab, path: Option<&Path>) -> Result<(PathBuf, MonitoringConfig)> {
    let p = match path {
        Some(p) => p.to_path_buf(),
        None => {
            let p = lab.project.configs_dir().join(rules::FILE);
            if !p.exists() {
                std::fs::create_dir_all(lab.project.configs_dir())?;
                std::fs::write(&p, rules::DEFAULT)
                    .with_context(|| format!("cannot write {}", p.display()))?;
                eprintln!("wrote the default {}", lab.project.display_path(&p));
            }
            p
        }
    };
    let text =
        std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
    let c = MonitoringConfig::parse(&p, &text)?;
    Ok((p, c))
}

/// Which inputs a model reads, and so which reference it is compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// OCR models read line images: compared with the snapshot's line crops.
    Ocr,
    /// Document models (extraction) take whole timetable images.
    Document,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ocr => "ocr",
            Family::Document => "document",
        }
    }
}

/// The family of a model version, from its bundle's kind; `None` for a version the registry
/// does not know. Bundles never change, so the answer is cached per bundle hash.
pub fn family_of(
    lab: &Lab,
    registry: &[VersionRow],
    model: &str,
    version: u32,
) -> Result<Option<Family>> {
    static CACHE: OnceLock<Mutex<HashMap<Hash, Family>>> = OnceLock::new();
    let Some(row) = registry
        .iter()
        .find(|v| v.name == model && v.version == version)
    else {
        return Ok(None);
    };
    let cache = CACHE.get_or_init(Default::default);
    if let Some(f) = cache.lock().unwrap().get(&row.model) {
        return Ok(Some(*f));
    }
    let b = crate::models::bundle(&lab.store.blobs, &row.model)?;
    let f = if b.kind.starts_with("doc") {
        Family::Document
    } else {
        Family::Ocr
    };
    cache.lock().unwrap().insert(row.model, f);
    Ok(Some(f))
}

/// Checks that `--model NAME` (or `NAME@N`) names a registered model; returns (name, version).
pub fn parse_model_filter(registry: &[VersionRow], m: &str) -> Result<(String, Option<u32>)> {
    let (name, version) = match crate::store::registry::split_label(m) {
        Some((n, v)) => (n.to_string(), Some(v)),
        None => (m.to_string(), None),
    };
    let known = registry
        .iter()
        .any(|v| v.name == name && version.is_none_or(|n| n == v.version));
    if !known {
        let mut names: Vec<&str> = registry.iter().map(|v| v.name.as_str()).collect();
        names.dedup();
        bail!(
            "--model {m}: no such model version in the registry — {}",
            if names.is_empty() {
                "no models yet".to_string()
            } else {
                format!("known models: {} (see `lab models ls`)", names.join(", "))
            }
        );
    }
    Ok((name, version))
}
