//! Line data from a dataset snapshot, read from the blob store (not the working tree), so a
//! run sees exactly the snapshot it records. A line dataset has `lines/<split>.jsonl` with
//! one `{"image": "lines/…png", "text": "…"}` object per line.

use std::collections::HashMap;

use anyhow::{Result, anyhow, bail};
use rayon::prelude::*;

use crate::dataset::manifest;
use crate::event::Hash;
use crate::lab::Lab;
use crate::ml::lines::{self, Line};
use crate::store::DatasetRow;

/// One labelled line of a split.
pub struct Item {
    pub image: String,
    pub text: String,
    pub font: Option<String>,
    /// What kind of line it is (`time`, `day`, `subject`, `name`, `code`, `words`, …), when
    /// the labels say.
    pub field: Option<String>,
    /// Its line in `lines/<split>.jsonl` (1-based), for messages.
    pub line: usize,
}

/// A split's lines, preprocessed, with their truth.
pub struct Split {
    pub items: Vec<Item>,
    pub lines: Vec<Line>,
}

/// A timetable image's truth: which split, and its entries.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct TimetableTruth {
    pub id: String,
    pub image: String,
    pub split: String,
    pub entries: Vec<crate::ml::doc::record::Record>,
    #[serde(default)]
    pub render: serde_json::Value,
}

/// The snapshot's files by path.
pub struct Snapshot {
    pub label: String,
    pub manifest: Hash,
    files: HashMap<Vec<u8>, Hash>,
}

pub fn snapshot(lab: &Lab, row: &DatasetRow) -> Result<Snapshot> {
    snapshot_of(lab, &format!("{}@{}", row.name, row.version), row.manifest)
}

/// A snapshot by its manifest hash (as a run recorded it).
pub fn snapshot_of(lab: &Lab, label: &str, manifest: Hash) -> Result<Snapshot> {
    let bytes = lab.store.blobs.get(&manifest)?;
    let entries = manifest::decode(&bytes)
        .map_err(|e| anyhow!("snapshot {label}: manifest unreadable ({e})"))?;
    Ok(Snapshot {
        label: label.to_string(),
        manifest,
        files: entries.into_iter().map(|e| (e.path, e.hash)).collect(),
    })
}

impl Snapshot {
    pub fn has(&self, path: &str) -> bool {
        self.files.contains_key(path.as_bytes())
    }

    pub fn read(&self, lab: &Lab, path: &str) -> Result<Vec<u8>> {
        let h = self
            .files
            .get(path.as_bytes())
            .ok_or_else(|| anyhow!("snapshot {} has no file {path}", self.label))?;
        lab.store.blobs.get(h).map_err(|e| {
            anyhow!(
                "snapshot {} file {path} (blob {}): {e}",
                self.label,
                h.short()
            )
        })
    }

    /// The splits with labels (`lines/*.jsonl`).
    pub fn splits(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .files
            .keys()
            .filter_map(|p| std::str::from_utf8(p).ok())
            .filter_map(|p| p.strip_prefix("lines/")?.strip_suffix(".jsonl"))
            .filter(|s| !s.contains('/'))
            .map(str::to_string)
            .collect();
        v.sort();
        v
    }

    /// The timetables of split `split` with their truth (`images/*.json` as `lab data synth`
    /// writes them), sorted by id.
    pub fn timetables(&self, lab: &Lab, split: &str) -> Result<Vec<TimetableTruth>> {
        let mut paths: Vec<&str> = self
            .files
            .keys()
            .filter_map(|p| std::str::from_utf8(p).ok())
            .filter(|p| p.starts_with("images/") && p.ends_with(".json"))
            .collect();
        paths.sort();
        if paths.is_empty() {
            bail!(
                "snapshot {} has no timetable truth (images/*.json): the document model and \
                 extraction need a timetable dataset as `lab data synth` writes it",
                self.label
            );
        }
        let mut out = Vec::new();
        for p in paths {
            let t: TimetableTruth = serde_json::from_slice(&self.read(lab, p)?).map_err(|e| {
                anyhow!(
                    "{p} in {}: {e} — expected a timetable truth with id, image, split, entries",
                    self.label
                )
            })?;
            if t.split == split {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// The labelled lines of split `split` (at most `limit`, 0 = all), as listed in
    /// `lines/<split>.jsonl`, each image checked to be in the snapshot; not read yet.
    pub fn line_items(&self, lab: &Lab, split: &str, limit: usize) -> Result<Vec<Item>> {
        let path = format!("lines/{split}.jsonl");
        if !self.has(&path) {
            let have = self.splits();
            bail!(
                "snapshot {} has no labels for split `{split}`: {path} is missing ({}) — a line \
                 dataset has lines/<split>.jsonl with {{\"image\": …, \"text\": …}} rows, as \
                 `lab data synth` writes",
                self.label,
                if have.is_empty() {
                    "it has no lines/*.jsonl at all".to_string()
                } else {
                    format!("it has {}", have.join(", "))
                }
            );
        }
        let text = String::from_utf8(self.read(lab, &path)?)
            .map_err(|_| anyhow!("{} in {}: not UTF-8", path, self.label))?;
        let mut items = Vec::new();
        for (i, l) in text.lines().enumerate() {
            if l.trim().is_empty() {
                continue;
            }
            #[derive(serde::Deserialize)]
            struct Row {
                image: String,
                text: String,
                #[serde(default)]
                font: Option<String>,
                #[serde(default)]
                field: Option<String>,
            }
            let r: Row = serde_json::from_str(l).map_err(|e| {
                anyhow!(
                    "{path}:{} in {}: {e} — each line must be {{\"image\": PATH, \"text\": TEXT}}",
                    i + 1,
                    self.label
                )
            })?;
            if !self.has(&r.image) {
                bail!(
                    "{path}:{} in {}: image {} is not in the snapshot",
                    i + 1,
                    self.label,
                    r.image
                );
            }
            items.push(Item {
                image: r.image,
                text: r.text,
                font: r.font,
                field: r.field,
                line: i + 1,
            });
            if limit > 0 && items.len() >= limit {
                break;
            }
        }
        if items.is_empty() {
            bail!("{path} in {} has no lines", self.label);
        }
        Ok(items)
    }

    /// Reads and preprocesses split `split` (at most `limit` lines, 0 = all).
    pub fn split(&self, lab: &Lab, split: &str, height: usize, limit: usize) -> Result<Split> {
        let items = self.line_items(lab, split, limit)?;
        let lines = items
            .par_iter()
            .map(|it| {
                let bytes = self.read(lab, &it.image)?;
                lines::load(&bytes, height)
                    .map_err(|e| anyhow!("{} in {}: {e}", it.image, self.label))
            })
            .collect::<Result<Vec<Line>>>()?;
        Ok(Split { items, lines })
    }
}

/// Training cell `i` with, for a share `open_vocab` of cells (drawn from `seed`), its shown
/// subject, room and teacher replaced by made-up ones (`dataset::synth::text::cell_values`);
/// the day and times stay, so the cell still agrees with its headers.
pub fn open_cell(
    mut r: crate::ml::doc::record::Record,
    open_vocab: f64,
    seed: u64,
    i: usize,
) -> crate::ml::doc::record::Record {
    use rand::{Rng, SeedableRng};
    use sha2::Digest;
    if open_vocab <= 0.0 {
        return r;
    }
    let mut h = sha2::Sha256::new();
    h.update(b"lab-open-vocab\0");
    h.update(seed.to_le_bytes());
    h.update((i as u64).to_le_bytes());
    let d = h.finalize();
    let mut rng = rand_chacha::ChaCha8Rng::from_seed(d.into());
    if rng.random_bool(open_vocab) {
        let [subject, room, teacher] = crate::dataset::synth::text::cell_values(&mut rng);
        r.subject = subject;
        if !r.room.is_empty() {
            r.room = room;
        }
        if !r.teacher.is_empty() {
            r.teacher = teacher;
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::doc::record::Record;

    #[test]
    fn open_cells_keep_day_time_and_shown_fields_and_are_seeded() {
        let r = Record {
            day: "Monday".into(),
            start: "09:00".into(),
            end: "09:45".into(),
            subject: "Mathematics".into(),
            room: "A101".into(),
            teacher: String::new(),
        };
        assert_eq!(
            open_cell(r.clone(), 0.0, 7, 3),
            r,
            "off: the cell as it was"
        );
        let all: Vec<Record> = (0..200).map(|i| open_cell(r.clone(), 0.8, 7, i)).collect();
        let again: Vec<Record> = (0..200).map(|i| open_cell(r.clone(), 0.8, 7, i)).collect();
        assert_eq!(all, again, "the same seed, the same cells");
        let changed = all.iter().filter(|x| x.subject != r.subject).count();
        assert!(
            (130..=190).contains(&changed),
            "{changed} of 200 changed at 0.8"
        );
        for x in &all {
            assert_eq!(
                (x.day.as_str(), x.start.as_str(), x.end.as_str()),
                ("Monday", "09:00", "09:45")
            );
            assert!(
                x.teacher.is_empty(),
                "a field the cell does not show stays empty: {x:?}"
            );
            assert!(!x.subject.is_empty() && !x.room.is_empty());
        }
        let other: Vec<Record> = (0..200).map(|i| open_cell(r.clone(), 0.8, 8, i)).collect();
        assert_ne!(all, other, "another seed, other cells");
    }
}
