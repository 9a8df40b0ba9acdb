//! Users' own labelled data as datasets, in the layouts training and evaluation read.
//!
//! Lines (`lab data import lines DIR`): `DIR/labels.jsonl` (`{"image": "a.png", "text": "…"}`
//! per line, the format `lab ocr --json` writes; an optional `"split"` of `train`, `val`,
//! `test` or `test_heldout` keeps the user's own split) becomes `lines/<split>/NNNNN.png|jpg`
//! and `lines/<split>.jsonl`. Timetables (`lab data import timetables DIR`, in `timetables`):
//! `DIR/truth.jsonl` as `lab eval-extract --images` reads it becomes `images/tt_NNNN.*` with
//! their truth, plus the line crops lab found on them labelled from that truth.
//!
//! Everything is checked before anything is written: every bad label (malformed JSON, a
//! missing or unreadable image, an image that is not a PNG or JPEG, empty text, a character
//! outside the alphabet) is named with its line number, and one bad label means nothing is
//! imported. Items without a split are assigned by a hash of their image name (80 / 10 / 10),
//! so the assignment does not change when items are added; val and test each get at least
//! one when there are three or more. The output is written into a staging directory and
//! renamed into place; an existing target is replaced only if an earlier import made it
//! (`import.json` of ours).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::dataset::synth::Split;
use crate::ml::vocab::Vocab;

/// The largest image accepted (pixels), as `ml::lines` reads them.
const MAX_PIXELS: u64 = crate::ml::lines::MAX_PIXELS;

/// One row of `labels.jsonl`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Label {
    image: String,
    text: String,
    #[serde(default)]
    split: Option<Split>,
    /// Written by `lab ocr --json`; ignored here.
    #[serde(default)]
    #[allow(dead_code)]
    confidence: Option<serde_json::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    model: Option<serde_json::Value>,
}

pub mod timetables;

/// `import.json`: what was imported, so a later import may replace it.
#[derive(Debug, Serialize, Deserialize)]
pub struct ImportMeta {
    pub importer: String,
    pub source: String,
    pub lines: BTreeMap<Split, u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub timetables: BTreeMap<Split, u64>,
}

const IMPORTER: &str = "lab-import-lines/1";

/// Every importer's `import.json` starts so; a folder one of them made may be replaced.
const IMPORTER_FAMILY: &str = "lab-import-";

/// Why an import was refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "{0} has no labels.jsonl — put one {{\"image\": \"a.png\", \"text\": \"…\"}} per line there"
    )]
    NoLabels(PathBuf),
    #[error("{path}: {problems} bad label(s), nothing imported:\n{list}", problems = .problems.len(), list = .problems.join("\n"))]
    BadLabels {
        path: PathBuf,
        problems: Vec<String>,
    },
    #[error(
        "{0} has no truth.jsonl — put one {{\"image\": \"week.png\", \"entries\": [{{\"day\": \"Monday\", \"start\": \"09:00\", \"end\": \"10:00\", \"subject\": …, \"room\": …, \"teacher\": …}}]}} per timetable there"
    )]
    NoTruth(PathBuf),
    #[error(
        "{0} is not empty and was not made by `lab data import` — choose another --name, or move it away"
    )]
    NotOurs(PathBuf),
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ImportError + 'a {
    move |source| ImportError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// What an import wrote.
#[derive(Debug, Serialize)]
pub struct Imported {
    pub dir: PathBuf,
    pub lines: BTreeMap<Split, u64>,
}

/// The split of an unsplit line, by a hash of its image name: 80 % train, 10 % val, 10 % test.
fn split_of(image: &str) -> Split {
    let h = sha2::Sha256::digest(image.as_bytes());
    match h[0] % 10 {
        8 => Split::Val,
        9 => Split::Test,
        _ => Split::Train,
    }
}

/// The checked items of a labels file, when it had no problem (else every problem, naming
/// `path`; `empty` when it had neither), with val and test made non-empty.
fn all_or_nothing<T>(
    mut items: Vec<T>,
    mut problems: Vec<String>,
    path: PathBuf,
    empty: &str,
    split: impl Fn(&mut T) -> &mut Split,
) -> Result<Vec<T>, ImportError> {
    if items.is_empty() && problems.is_empty() {
        problems.push(format!("  {empty}"));
    }
    if !problems.is_empty() {
        return Err(ImportError::BadLabels { path, problems });
    }
    fill_val_test(&mut items, split);
    Ok(items)
}

/// Small sets: val and test made non-empty when there are three items or more (the last
/// train items move).
fn fill_val_test<T>(items: &mut [T], split: impl Fn(&mut T) -> &mut Split) {
    for want in [Split::Val, Split::Test] {
        if items.len() >= 3 && !items.iter_mut().any(|g| *split(g) == want) {
            if let Some(i) = (0..items.len())
                .rev()
                .find(|&i| *split(&mut items[i]) == Split::Train)
            {
                *split(&mut items[i]) = want;
            }
        }
    }
}

/// A checked label: its source image, extension, text and split.
struct Good {
    src: PathBuf,
    ext: &'static str,
    text: String,
    split: Split,
}

/// Checks one label (line `n` of labels.jsonl).
fn check(dir: &Path, n: usize, row: &str, vocab: &Vocab) -> Result<Good, String> {
    let l: Label = serde_json::from_str(row).map_err(|e| {
        format!("  line {n}: {e} — expected {{\"image\": \"a.png\", \"text\": \"…\"}}")
    })?;
    if l.text.trim().is_empty() {
        return Err(format!("  line {n}: empty text for {}", l.image));
    }
    if let Some(c) = l.text.chars().find(|&c| !vocab.contains(c)) {
        return Err(format!(
            "  line {n}: the text {:?} has {c:?} (U+{:04X}), which is not in the alphabet",
            l.text, c as u32
        ));
    }
    let (src, ext) = check_image(dir, n, &l.image, MAX_PIXELS)?;
    Ok(Good {
        src,
        ext,
        split: l.split.unwrap_or_else(|| split_of(&l.image)),
        text: l.text,
    })
}

/// Imports the labelled lines of `src` into the dataset directory `dir`, every text checked
/// against `vocab`.
pub fn import_lines(src: &Path, dir: &Path, vocab: &Vocab) -> Result<Imported, ImportError> {
    let labels_path = src.join("labels.jsonl");
    let labels = match fs::read_to_string(&labels_path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ImportError::NoLabels(src.to_path_buf()));
        }
        Err(e) => return Err(io("read", &labels_path)(e)),
    };
    let (mut good, mut problems) = (Vec::new(), Vec::new());
    for (i, row) in labels.lines().enumerate() {
        if row.trim().is_empty() {
            continue;
        }
        match check(src, i + 1, row, vocab) {
            Ok(g) => good.push(g),
            Err(p) => problems.push(p),
        }
    }
    let good = all_or_nothing(good, problems, labels_path, "the file has no labels", |g| {
        &mut g.split
    })?;
    let lines = install(dir, |staging| write(staging, src, &good))?;
    Ok(Imported {
        dir: dir.to_path_buf(),
        lines,
    })
}

/// Writes an import into `dir`: `write` fills a staging directory beside it, which then
/// replaces `dir` — when `dir` is missing, empty, or an earlier import (`import.json` of ours);
/// on any error the staging directory is removed and `dir` is as it was.
fn install<T>(
    dir: &Path,
    write: impl FnOnce(&Path) -> Result<T, ImportError>,
) -> Result<T, ImportError> {
    if dir.exists() {
        let ours = fs::read(dir.join("import.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<ImportMeta>(&b).ok())
            .is_some_and(|m| m.importer.starts_with(IMPORTER_FAMILY));
        let empty = fs::read_dir(dir).map_err(io("read", dir))?.next().is_none();
        if !ours && !empty {
            return Err(ImportError::NotOurs(dir.to_path_buf()));
        }
    }
    let parent = dir.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io("create", parent))?;
    let name = dir
        .file_name()
        .map_or("import".into(), |n| n.to_string_lossy().into_owned());
    let staging = parent.join(format!(".{name}.import-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let out = match write(&staging) {
        Ok(out) => out,
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(io("replace", dir))?;
    }
    fs::rename(&staging, dir).map_err(io("move into place", dir))?;
    Ok(out)
}

/// Writes `import.json` into `staging`.
fn write_meta(staging: &Path, meta: &ImportMeta) -> Result<(), ImportError> {
    let p = staging.join("import.json");
    let mut bytes = serde_json::to_vec_pretty(meta).expect("plain data serialises");
    bytes.push(b'\n');
    fs::write(&p, bytes).map_err(io("write", &p))
}

/// The image `rel` of row `n`, checked: a path inside `dir`, a PNG or JPEG of 1 to
/// `max_pixels` pixels. Its path and the extension its copy gets.
fn check_image(
    dir: &Path,
    n: usize,
    rel: &str,
    max_pixels: u64,
) -> Result<(PathBuf, &'static str), String> {
    let p = Path::new(rel);
    if p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!(
            "  line {n}: image {rel} must be a path inside {}",
            dir.display()
        ));
    }
    let src = dir.join(p);
    let reader = image::ImageReader::open(&src)
        .map_err(|e| format!("  line {n}: image {rel}: {e}"))?
        .with_guessed_format()
        .map_err(|e| format!("  line {n}: image {rel}: {e}"))?;
    let ext = match reader.format() {
        Some(image::ImageFormat::Png) => "png",
        Some(image::ImageFormat::Jpeg) => "jpg",
        _ => return Err(format!("  line {n}: image {rel} is not a PNG or JPEG")),
    };
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| format!("  line {n}: image {rel} is unreadable: {e}"))?;
    if w == 0 || h == 0 || u64::from(w) * u64::from(h) > max_pixels {
        return Err(format!(
            "  line {n}: image {rel} is {w}×{h} pixels — at most {max_pixels} pixels"
        ));
    }
    Ok((src, ext))
}

/// The rows of `lines/<split>.jsonl`, gathered per split and written at the end.
#[derive(Default)]
struct LineRows(BTreeMap<Split, String>);

impl LineRows {
    fn add(&mut self, split: Split, row: serde_json::Value) {
        let buf = self.0.entry(split).or_default();
        buf.push_str(&row.to_string());
        buf.push('\n');
    }

    fn write(&self, staging: &Path) -> Result<(), ImportError> {
        for (split, buf) in &self.0 {
            let p = staging.join(format!("lines/{}.jsonl", split.as_str()));
            fs::write(&p, buf).map_err(io("write", &p))?;
        }
        Ok(())
    }
}

fn write(staging: &Path, src: &Path, good: &[Good]) -> Result<BTreeMap<Split, u64>, ImportError> {
    let mut jsonl = LineRows::default();
    let mut counts: BTreeMap<Split, u64> = BTreeMap::new();
    for g in good {
        let n = counts.entry(g.split).or_default();
        let rel = format!("lines/{}/{:05}.{}", g.split.as_str(), *n, g.ext);
        *n += 1;
        let to = staging.join(&rel);
        fs::create_dir_all(to.parent().expect("has a parent")).map_err(io("create", &to))?;
        fs::copy(&g.src, &to).map_err(io("copy", &g.src))?;
        jsonl.add(
            g.split,
            serde_json::json!({"image": rel, "text": g.text, "field": "user"}),
        );
    }
    jsonl.write(staging)?;
    write_meta(
        staging,
        &ImportMeta {
            importer: IMPORTER.into(),
            source: src.display().to_string(),
            lines: counts.clone(),
            timetables: BTreeMap::new(),
        },
    )?;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(path: &Path, w: u32, h: u32) {
        image::GrayImage::from_pixel(w, h, image::Luma([200]))
            .save(path)
            .unwrap();
    }

    #[test]
    fn imports_all_or_nothing_and_names_every_bad_label() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("mine");
        fs::create_dir_all(&src).unwrap();
        for i in 0..12 {
            png(&src.join(format!("l{i}.png")), 40, 12);
        }
        fs::write(src.join("not-an-image.png"), b"hello").unwrap();
        let mut rows: Vec<String> = (0..12)
            .map(|i| format!(r#"{{"image": "l{i}.png", "text": "Mme Lefèvre {i}"}}"#))
            .collect();
        rows.push(r#"{"image": "missing.png", "text": "x"}"#.into());
        rows.push(r#"{"image": "l0.png", "text": "  "}"#.into());
        rows.push(r#"{"image": "l1.png", "text": "a → b"}"#.into());
        rows.push(r#"{"image": "not-an-image.png", "text": "y"}"#.into());
        rows.push("{oops".into());
        fs::write(src.join("labels.jsonl"), rows.join("\n")).unwrap();
        let dir = tmp.path().join("datasets/mine");
        let err = import_lines(&src, &dir, &Vocab::latin())
            .unwrap_err()
            .to_string();
        for want in [
            "5 bad label",
            "line 13",
            "missing.png",
            "line 14: empty",
            "line 15",
            "'→'",
            "line 16",
            "line 17",
        ] {
            assert!(err.contains(want), "{want} not in {err}");
        }
        assert!(!dir.exists(), "nothing is written");
        // The good lines alone import; every split non-empty; a re-import replaces it.
        fs::write(src.join("labels.jsonl"), rows[..12].join("\n")).unwrap();
        let out = import_lines(&src, &dir, &Vocab::latin()).unwrap();
        assert_eq!(out.lines.values().sum::<u64>(), 12);
        assert!(out.lines[&Split::Val] >= 1 && out.lines[&Split::Test] >= 1);
        let train = fs::read_to_string(dir.join("lines/train.jsonl")).unwrap();
        assert!(train.contains("Lefèvre") && train.contains("lines/train/00000.png"));
        assert!(dir.join("lines/train/00000.png").exists());
        import_lines(&src, &dir, &Vocab::latin()).unwrap();
        // A directory import did not make is refused.
        let other = tmp.path().join("other");
        fs::create_dir_all(&other).unwrap();
        fs::write(other.join("keep.txt"), b"mine").unwrap();
        assert!(matches!(
            import_lines(&src, &other, &Vocab::latin()),
            Err(ImportError::NotOurs(_))
        ));
        assert!(matches!(
            import_lines(&other, &dir, &Vocab::latin()),
            Err(ImportError::NoLabels(_))
        ));
    }
}
