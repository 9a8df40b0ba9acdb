//! `lab data snapshot|ls|diff|checkout|import`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::dataset::{self, manifest, snapshot};
use crate::event::{Event, Hash, ManifestEntry, human_bytes};
use crate::lab::Lab;
use crate::progress::Reporter;
use crate::store::views::Query;
use crate::store::{DatasetRow, StoreError};

/// What `lab data snapshot` did.
#[derive(Debug, Serialize)]
pub struct SnapshotOut {
    pub name: String,
    pub version: u32,
    pub unchanged: bool,
    pub seq: Option<u64>,
    pub root: String,
    pub files: u64,
    pub bytes: u64,
    pub manifest: Hash,
    pub hashed_files: u64,
    pub hashed_bytes: u64,
    /// Blobs the store had lost and this snapshot stored again (files and manifest).
    pub restored: u64,
}

impl SnapshotOut {
    pub fn text(&self) -> String {
        let restored = if self.restored > 0 {
            format!(
                "\n  restored {} blobs missing from .lab/objects (run `lab verify` to check the rest)",
                self.restored
            )
        } else {
            String::new()
        };
        if self.unchanged {
            format!(
                "{}@{} unchanged ({} files, {}) — nothing recorded{restored}",
                self.name,
                self.version,
                self.files,
                human_bytes(self.bytes)
            )
        } else {
            format!(
                "{}@{} snapshotted: {} files, {} (read {} files, {}), manifest {} (event #{})",
                self.name,
                self.version,
                self.files,
                human_bytes(self.bytes),
                self.hashed_files,
                human_bytes(self.hashed_bytes),
                self.manifest.short(),
                self.seq.unwrap_or(0)
            ) + &restored
        }
    }
}

/// What `lab data import` did.
#[derive(Debug, Serialize)]
pub struct ImportOut {
    pub dir: PathBuf,
    pub lines: std::collections::BTreeMap<crate::dataset::synth::Split, u64>,
    pub snapshot: SnapshotOut,
}

impl ImportOut {
    pub fn text(&self) -> String {
        let splits: Vec<String> = self
            .lines
            .iter()
            .map(|(s, n)| format!("{} {n}", s.as_str()))
            .collect();
        format!(
            "imported {} lines into {} ({})\n{}",
            self.lines.values().sum::<u64>(),
            self.dir.display(),
            splits.join(", "),
            self.snapshot.text()
        )
    }
}

/// `lab data import lines DIR`: the labelled lines of `src` into `datasets/NAME` (every label
/// checked against the OCR alphabet first), then a snapshot of it named NAME.
pub fn import_lines(
    lab: &Lab,
    src: &Path,
    name: Option<&str>,
    reporter: &dyn Reporter,
) -> Result<ImportOut> {
    let name = name.map_or_else(|| default_name(src), str::to_string);
    check_name(&name)?;
    let dir = lab.project.datasets_dir().join(&name);
    let vocab = crate::ml::vocab::Vocab::latin();
    let out = dataset::import::import_lines(src, &dir, &vocab)?;
    let snap = snapshot(lab, &dir, Some(&name), reporter)?;
    Ok(ImportOut {
        dir,
        lines: out.lines,
        snapshot: snap,
    })
}

/// What `lab data import timetables` did.
#[derive(Debug, Serialize)]
pub struct TimetablesImportOut {
    #[serde(flatten)]
    pub imported: dataset::import::timetables::ImportedTimetables,
    /// The models that found and read the lines.
    pub models: String,
    /// Text lines found in class cells, and how many of them a truth text claimed.
    pub cell_lines: u64,
    pub labelled: u64,
    /// Pages that gave no lines, and why (their truth is imported all the same).
    pub unread: Vec<(String, String)>,
    pub snapshot: SnapshotOut,
}

impl TimetablesImportOut {
    pub fn text(&self) -> String {
        let per = |m: &std::collections::BTreeMap<dataset::synth::Split, u64>| {
            m.iter()
                .map(|(s, n)| format!("{} {n}", s.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let i = &self.imported;
        let mut s = format!(
            "imported {} timetables ({}) with {} entries into {}\n\
             {} of {} text lines in their cells labelled from the truth by {}{}\n",
            i.timetables.values().sum::<u64>(),
            per(&i.timetables),
            i.entries,
            i.dir.display(),
            self.labelled,
            self.cell_lines,
            self.models,
            if i.lines.is_empty() {
                String::new()
            } else {
                format!(" ({})", per(&i.lines))
            },
        );
        for (page, why) in &self.unread {
            s.push_str(&format!("  no lines from {page}: {why}\n"));
        }
        s.push_str(&self.snapshot.text());
        s
    }
}

/// `lab data import timetables DIR`: the timetables of `src` with their truth into
/// `datasets/NAME`, and the text lines lab finds on them (with the OCR and document models
/// `ocr` / `doc`, as `lab extract` chooses them) labelled from that truth; then a snapshot.
pub fn import_timetables(
    lab: &Lab,
    src: &Path,
    name: Option<&str>,
    ocr: Option<&str>,
    doc: Option<&str>,
    reporter: &dyn Reporter,
) -> Result<TimetablesImportOut> {
    use dataset::import::timetables;
    let name = name.map_or_else(|| default_name(src), str::to_string);
    check_name(&name)?;
    let dir = lab.project.datasets_dir().join(&name);
    let pages = timetables::read_truth(src, &crate::ml::vocab::Vocab::latin())?;
    let pair = crate::commands::extract::Pair::load(lab, ocr, doc)?;
    let m = pair.models();
    let (mut lines, mut unread) = (Vec::new(), Vec::new());
    let (mut cell_lines, mut labelled) = (0u64, 0u64);
    reporter.begin("reading pages", pages.len() as u64, false);
    for p in &pages {
        let read = std::fs::read(&p.src)
            .map_err(|e| e.to_string())
            .and_then(|b| image::load_from_memory(&b).map_err(|e| e.to_string()))
            .and_then(|img| {
                crate::ml::label::label_lines(&img, &m, &p.entries).map_err(|e| e.to_string())
            });
        match read {
            Ok(l) => {
                cell_lines += l.cell_lines as u64;
                labelled += l.lines.len() as u64;
                lines.push(l.lines.into_iter().map(|x| (x.image, x.text)).collect());
            }
            Err(why) => {
                unread.push((p.name.clone(), why));
                lines.push(Vec::new());
            }
        }
        reporter.advance(1);
    }
    reporter.end();
    let imported = timetables::import_timetables(src, &dir, &pages, &lines)?;
    let snapshot = snapshot(lab, &dir, Some(&name), reporter)?;
    Ok(TimetablesImportOut {
        imported,
        models: pair.label(),
        cell_lines,
        labelled,
        unread,
        snapshot,
    })
}

/// The name a snapshot of `path` gets when none is given: the directory's own name.
fn default_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".into())
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.contains('@')
        || name.chars().all(|c| c == '.')
        || name.chars().any(|c| c.is_control() || c == '/')
    {
        bail!("bad dataset name `{name}`: use letters, digits, `-`, `_` or `.` (no `@` or `/`)");
    }
    Ok(())
}

/// Snapshots the tree at `path` under `name` (default: the directory's name).
pub fn snapshot(
    lab: &Lab,
    path: &Path,
    name: Option<&str>,
    reporter: &dyn Reporter,
) -> Result<SnapshotOut> {
    let abs = std::path::absolute(path).with_context(|| format!("bad path {}", path.display()))?;
    let root = abs.canonicalize().unwrap_or(abs.clone());
    let lab_dir = lab.project.lab_dir();
    let lab_dir = lab_dir.canonicalize().unwrap_or(lab_dir);
    if lab_dir.starts_with(&root) {
        bail!(
            "{} contains lab's own state ({}): a snapshot of it would record the log and the \
             blob store themselves — snapshot a data directory instead, e.g. datasets/NAME",
            root.display(),
            lab_dir.display()
        );
    }
    let name = name
        .map(str::to_string)
        .unwrap_or_else(|| default_name(&root));
    check_name(&name)?;
    let cache_path = snapshot::cache_path(&lab.project.lab_dir(), &root);
    let cache = snapshot::StatCache::load(&cache_path);
    let mut scan = snapshot::scan(&root, &lab.store.blobs, cache, reporter)?;
    let encoded = manifest::encode(&scan.entries);
    let manifest_hash = Hash::of(&encoded);
    let files = scan.entries.len() as u64;
    let bytes = manifest::total_bytes(&scan.entries);
    let root_display = lab.project.display_path(&root);

    // Cheap path first: the same manifest as the latest version means nothing to record.
    let latest = lab.store.read_views(|v| v.latest_dataset(&name))?;
    if let Some(l) = latest.filter(|l| l.manifest == manifest_hash) {
        // Nothing to record, but blobs the store lost (read again by the scan) go back.
        let blobs = &lab.store.blobs;
        let mut restored = scan
            .staged
            .iter()
            .filter(|s| !blobs.contains(&s.hash))
            .count() as u64;
        if !lab.store.blobs.contains(&manifest_hash) {
            scan.staged.push(lab.store.blobs.stage_bytes(&encoded)?);
            restored += 1;
        }
        if restored > 0 {
            if let Err(e) = lab.store.blobs.publish(&mut scan.staged) {
                lab.store.blobs.discard(&mut scan.staged);
                return Err(e.into());
            }
        }
        lab.store.blobs.discard(&mut scan.staged);
        let _ = scan.cache.save(&cache_path);
        return Ok(SnapshotOut {
            name,
            version: l.version,
            unchanged: true,
            seq: None,
            root: root_display,
            files,
            bytes,
            manifest: manifest_hash,
            hashed_files: scan.hashed_files,
            hashed_bytes: scan.hashed_bytes,
            restored,
        });
    }
    // Everything that can fail before a blob becomes visible happens first: reading the git
    // state (the envelope) and staging the manifest next to the files. A failure up to here
    // (a full disk, say) leaves the store exactly as it was.
    let staged_manifest = lab
        .author()
        .and_then(|_| lab.store.blobs.stage_bytes(&encoded).map_err(Into::into));
    match staged_manifest {
        Ok(m) => scan.staged.push(m),
        Err(e) => {
            lab.store.blobs.discard(&mut scan.staged);
            return Err(e);
        }
    }
    // Blobs first, durable; the event that names them last.
    if let Err(e) = lab.store.blobs.publish(&mut scan.staged) {
        lab.store.blobs.discard(&mut scan.staged);
        return Err(e.into());
    }
    let (records, (version, unchanged)) = lab.append_with(|v| {
        let latest = v.latest_dataset(&name)?;
        if let Some(l) = latest.as_ref().filter(|l| l.manifest == manifest_hash) {
            return Ok((Vec::new(), (l.version, true)));
        }
        let version = latest.map_or(1, |l| l.version + 1);
        Ok((
            vec![Event::DatasetSnapshotted {
                name: name.clone(),
                version,
                root: root_display.clone(),
                files,
                bytes,
                manifest: manifest_hash,
            }],
            (version, false),
        ))
    })?;
    // Only after the event is durable: a cache must never vouch for an unrecorded blob.
    let _ = scan.cache.save(&cache_path);
    Ok(SnapshotOut {
        name,
        version,
        unchanged,
        seq: records.first().map(|r| r.envelope.seq),
        root: root_display,
        files,
        bytes,
        manifest: manifest_hash,
        hashed_files: scan.hashed_files,
        hashed_bytes: scan.hashed_bytes,
        restored: scan.restored,
    })
}

/// All snapshot rows (optionally of one name).
pub fn list(lab: &Lab, name: Option<&str>) -> Result<Vec<DatasetRow>> {
    let mut rows = lab.store.read_views(|v| v.datasets())?;
    if let Some(n) = name {
        rows.retain(|r| r.name == n);
        if rows.is_empty() {
            bail!("no dataset named `{n}` — see `lab data ls`");
        }
    }
    Ok(rows)
}

pub fn list_text(rows: &[DatasetRow]) -> String {
    if rows.is_empty() {
        return "no snapshots yet — run `lab data snapshot PATH`".into();
    }
    let mut t = crate::table::Table::new(["SNAPSHOT", "FILES", "SIZE", "MANIFEST", "TIME", "ROOT"])
        .right(&[1, 2]);
    for r in rows {
        t.row([
            format!("{}@{}", r.name, r.version),
            r.files.to_string(),
            human_bytes(r.bytes),
            r.manifest.short().to_string(),
            crate::commands::log::fmt_time(r.time_ns),
            r.root.to_string(),
        ]);
    }
    t.render()
}

/// Resolves a reference and loads its manifest.
pub fn load(lab: &Lab, reference: &str) -> Result<(DatasetRow, Vec<ManifestEntry>)> {
    let rows = lab.store.read_views(|v| v.datasets())?;
    let row = dataset::resolve(&rows, reference)
        .map_err(|m| anyhow::anyhow!(StoreError::NotFound(m)))?
        .clone();
    let bytes = lab.store.blobs.get(&row.manifest)?;
    let entries = manifest::decode(&bytes).map_err(|e| {
        anyhow::anyhow!(
            "manifest {} of {}@{} does not decode: {e} (run `lab verify`)",
            row.manifest,
            row.name,
            row.version
        )
    })?;
    Ok((row, entries))
}

#[derive(Debug, Serialize)]
pub struct DiffOut {
    pub a: String,
    pub b: String,
    #[serde(flatten)]
    pub diff: manifest::Diff,
}

impl DiffOut {
    pub fn text(&self) -> String {
        let mut out = String::new();
        for p in &self.diff.added {
            out.push_str(&format!("added     {p}\n"));
        }
        for p in &self.diff.removed {
            out.push_str(&format!("removed   {p}\n"));
        }
        for p in &self.diff.modified {
            out.push_str(&format!("modified  {p}\n"));
        }
        out.push_str(&format!(
            "{} → {}: {} added, {} removed, {} modified, {} unchanged",
            self.a,
            self.b,
            self.diff.added.len(),
            self.diff.removed.len(),
            self.diff.modified.len(),
            self.diff.unchanged
        ));
        out
    }
}

pub fn diff(lab: &Lab, a: &str, b: &str) -> Result<DiffOut> {
    let (ra, ea) = load(lab, a)?;
    let (rb, eb) = load(lab, b)?;
    Ok(DiffOut {
        a: format!("{}@{}", ra.name, ra.version),
        b: format!("{}@{}", rb.name, rb.version),
        diff: manifest::diff(&ea, &eb),
    })
}

#[derive(Debug, Serialize)]
pub struct CheckoutOut {
    pub snapshot: String,
    pub dir: PathBuf,
    pub files: u64,
    pub bytes: u64,
}

pub fn checkout(
    lab: &Lab,
    reference: &str,
    dir: &Path,
    reporter: &dyn Reporter,
) -> Result<CheckoutOut> {
    crate::fence::check(&lab.project, dir, "check out into")?;
    let (row, entries) = load(lab, reference)?;
    let bytes = dataset::checkout(&lab.store.blobs, &entries, dir, reporter)?;
    Ok(CheckoutOut {
        snapshot: format!("{}@{}", row.name, row.version),
        dir: dir.to_path_buf(),
        files: entries.len() as u64,
        bytes,
    })
}
