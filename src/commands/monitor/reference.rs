//! Reference features: what a snapshot shows a model, as the features served inferences
//! record (`monitor::features_of_encoded`). For an OCR model, the line crops of a split — the
//! images OCR training reads (`lines/<split>.jsonl`); for a document model (extraction), the
//! whole timetable images of the split (`images/*.json` truth files name them).
//!
//! Computing them decodes every image of the split, so the result is cached in memory (per
//! process: `lab serve` checks after every batch) and on disk under `.lab/cache/`, keyed by
//! the snapshot's manifest hash (a snapshot never changes), the family and the split.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Result, anyhow};
use rayon::prelude::*;

use super::Family;
use crate::commands::train::data;
use crate::event::Hash;
use crate::lab::Lab;
use crate::monitor::window::Reference;
use crate::store::codec;
use crate::store::views::Query;

/// Bump when the features or their extraction change: older cache files are then ignored.
const CACHE_VERSION: u32 = 1;

type Key = (Hash, Family, String);

fn memory() -> &'static Mutex<HashMap<Key, Arc<Reference>>> {
    static M: OnceLock<Mutex<HashMap<Key, Arc<Reference>>>> = OnceLock::new();
    M.get_or_init(Default::default)
}

/// The reference features of `snapshot` (`NAME`, `NAME@N`, a manifest hash prefix) for models
/// of `family`, over split `split`. Returns the snapshot's label (`NAME@N`) too.
pub fn reference(
    lab: &Lab,
    snapshot: &str,
    family: Family,
    split: &str,
) -> Result<(String, Arc<Reference>)> {
    let rows = lab.store.read_views(|v| v.datasets())?;
    let row = crate::dataset::resolve(&rows, snapshot)
        .map_err(|e| anyhow!("drift reference `{snapshot}`: {e}"))?;
    let label = format!("{}@{}", row.name, row.version);
    let key = (row.manifest, family, split.to_string());
    if let Some(r) = memory().lock().unwrap().get(&key) {
        return Ok((label, r.clone()));
    }
    let path = lab.project.lab_dir().join("cache").join(format!(
        "drift-v{CACHE_VERSION}-{}-{}-{split}.bin",
        &row.manifest.to_hex()[..16],
        family.as_str()
    ));
    let cached = std::fs::read(&path)
        .ok()
        .and_then(|b| codec::from_bytes::<Reference>(&b).ok())
        .filter(|r| r.samples > 0);
    let r = match cached {
        Some(r) => r,
        None => {
            let snap = data::snapshot(lab, row)?;
            let r = compute(lab, &snap, family, split)?;
            // Only a cache: failing to write it costs time next run, nothing else.
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            if std::fs::write(&tmp, codec::to_bytes(&r)).is_ok() {
                let _ = std::fs::rename(&tmp, &path);
            }
            r
        }
    };
    let r = Arc::new(r);
    memory().lock().unwrap().insert(key, r.clone());
    Ok((label, r))
}

fn compute(lab: &Lab, snap: &data::Snapshot, family: Family, split: &str) -> Result<Reference> {
    let images: Vec<String> = match family {
        Family::Ocr => snap
            .line_items(lab, split, 0)?
            .into_iter()
            .map(|i| i.image)
            .collect(),
        Family::Document => {
            let t = snap.timetables(lab, split)?;
            if t.is_empty() {
                return Err(anyhow!(
                    "snapshot {} has no timetables in split `{split}` — set [drift] split in configs/monitoring.toml",
                    snap.label
                ));
            }
            t.into_iter().map(|t| t.image).collect()
        }
    };
    let rows = images
        .par_iter()
        .map(|p| {
            let bytes = snap.read(lab, p)?;
            crate::monitor::features_of_encoded(&bytes)
                .map(|(_, f)| f)
                .map_err(|e| anyhow!("{p} in {}: {e}", snap.label))
        })
        .collect::<Result<Vec<BTreeMap<String, f64>>>>()?;
    Ok(Reference::from_rows(&rows))
}
