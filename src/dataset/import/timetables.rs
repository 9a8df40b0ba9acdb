//! A folder of the user's own timetables as a dataset: `DIR/truth.jsonl` (one
//! `{"image": "week.png", "entries": [{day, start, end, subject, room, teacher}, …]}` per
//! image, as `lab eval-extract --images` reads it) becomes
//!
//! ```text
//! images/tt_NNNN.png|jpg, images/tt_NNNN.json    the page and its truth (id, image, split,
//!                                                entries, source) as `lab data synth` writes
//! lines/SPLIT/tt_NNNN_lLLL.png, lines/SPLIT.jsonl the text lines lab found on the page, each
//!                                                labelled with the truth text it reads as
//! ```
//!
//! so `lab train doc-lora` learns the user's entries and `lab train ocr-lora` their lettering.
//! This module checks and writes; which crop says what is decided by the caller (with the
//! models: `ml::label`) and handed in per page.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use image::GrayImage;
use serde::{Deserialize, Serialize};

use super::{
    ImportError, ImportMeta, LineRows, all_or_nothing, check_image, install, io, split_of,
    write_meta,
};
use crate::dataset::synth::Split;
use crate::ml::doc::record::Record;
use crate::ml::vocab::Vocab;

const IMPORTER: &str = "lab-import-timetables/1";

/// One row of `truth.jsonl`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TruthRow {
    image: String,
    entries: Vec<Record>,
    #[serde(default)]
    split: Option<Split>,
}

/// A checked page: where it is, what it says, where it goes.
#[derive(Clone, Debug)]
pub struct Page {
    /// As named in truth.jsonl.
    pub name: String,
    pub src: PathBuf,
    ext: &'static str,
    pub entries: Vec<Record>,
    pub split: Split,
}

/// A time as truth may write it: `H:MM` or `HH:MM`, 00:00–23:59.
fn is_time(t: &str) -> bool {
    let Some((h, m)) = t.split_once(':') else {
        return false;
    };
    let num = |s: &str, max: u32| {
        (1..=2).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_digit())
            && s.parse::<u32>().is_ok_and(|v| v <= max)
    };
    num(h, 23) && m.len() == 2 && num(m, 59)
}

/// The problems of one entry (`k`-th of line `n`), if any.
fn check_entry(n: usize, k: usize, r: &Record, vocab: &Vocab) -> Option<String> {
    let at = format!("  line {n}, entry {k}");
    if crate::timetable::days::day_name(&r.day).is_none() {
        return Some(format!(
            "{at}: day {:?} is not a day name (Monday…Sunday, Mon, Lundi, Montag, Lunes…)",
            r.day
        ));
    }
    if !is_time(&r.start) {
        return Some(format!(
            "{at}: start {:?} is not a time like 09:00",
            r.start
        ));
    }
    if !r.end.is_empty() && !is_time(&r.end) {
        return Some(format!(
            "{at}: end {:?} is not a time like 10:00 (leave it \"\" when unknown)",
            r.end
        ));
    }
    if r.subject.trim().is_empty() {
        return Some(format!("{at}: the subject is empty"));
    }
    for (field, text) in [
        ("subject", &r.subject),
        ("room", &r.room),
        ("teacher", &r.teacher),
    ] {
        if let Some(c) = text.chars().find(|&c| !vocab.contains(c)) {
            return Some(format!(
                "{at}: the {field} {text:?} has {c:?} (U+{:04X}), which is not in the alphabet",
                c as u32
            ));
        }
    }
    None
}

/// Reads and checks `src/truth.jsonl`: every image a PNG or JPEG inside `src`, listed once,
/// every entry a known day, times, a subject and text in `vocab`. One problem means nothing.
pub fn read_truth(src: &Path, vocab: &Vocab) -> Result<Vec<Page>, ImportError> {
    let truth_path = src.join("truth.jsonl");
    let text = match fs::read_to_string(&truth_path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ImportError::NoTruth(src.to_path_buf()));
        }
        Err(e) => return Err(io("read", &truth_path)(e)),
    };
    let (mut pages, mut problems) = (Vec::new(), Vec::new());
    let mut seen = BTreeMap::new();
    for (i, row) in text.lines().enumerate() {
        let n = i + 1;
        if row.trim().is_empty() {
            continue;
        }
        let t: TruthRow = match serde_json::from_str(row) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!(
                    "  line {n}: {e} — expected {{\"image\": \"week.png\", \"entries\": [{{\"day\", \"start\", \"end\", \"subject\", \"room\", \"teacher\"}}, …]}}"
                ));
                continue;
            }
        };
        if let Some(first) = seen.insert(t.image.clone(), n) {
            problems.push(format!(
                "  line {n}: image {} is already listed on line {first}",
                t.image
            ));
            continue;
        }
        if t.image.to_lowercase().ends_with(".pdf") {
            problems.push(format!(
                "  line {n}: {} is a PDF — import takes pages as PNG or JPEG (e.g. `pdftoppm -png -r 150 {} page`); `lab eval-extract --images` reads PDFs as they are",
                t.image, t.image
            ));
            continue;
        }
        if t.entries.is_empty() {
            problems.push(format!("  line {n}: {} has no entries", t.image));
            continue;
        }
        let bad: Vec<String> = t
            .entries
            .iter()
            .enumerate()
            .filter_map(|(k, r)| check_entry(n, k + 1, r, vocab))
            .collect();
        if !bad.is_empty() {
            problems.extend(bad);
            continue;
        }
        match check_image(src, n, &t.image, crate::ml::lines::MAX_PIXELS) {
            Ok((path, ext)) => pages.push(Page {
                split: t.split.unwrap_or_else(|| split_of(&t.image)),
                name: t.image,
                src: path,
                ext,
                entries: t.entries,
            }),
            Err(p) => problems.push(p),
        }
    }
    all_or_nothing(
        pages,
        problems,
        truth_path,
        "the file lists no timetables",
        |p| &mut p.split,
    )
}

/// One page's truth as written (`images/tt_NNNN.json`): what training reads, and the name it
/// had in the user's folder.
#[derive(Serialize)]
struct TruthFile<'a> {
    id: &'a str,
    image: &'a str,
    split: &'a str,
    source: &'a str,
    entries: &'a [Record],
}

/// What a timetables import wrote.
#[derive(Debug, Serialize)]
pub struct ImportedTimetables {
    pub dir: PathBuf,
    pub timetables: BTreeMap<Split, u64>,
    pub entries: u64,
    pub lines: BTreeMap<Split, u64>,
}

/// Writes `pages` into the dataset directory `dir`, each with the labelled line crops
/// `lines[i]` (possibly none) of page `i`.
pub fn import_timetables(
    src: &Path,
    dir: &Path,
    pages: &[Page],
    lines: &[Vec<(GrayImage, String)>],
) -> Result<ImportedTimetables, ImportError> {
    install(dir, |staging| {
        let mut out = ImportedTimetables {
            dir: dir.to_path_buf(),
            timetables: BTreeMap::new(),
            entries: 0,
            lines: BTreeMap::new(),
        };
        let mut jsonl = LineRows::default();
        let images = staging.join("images");
        fs::create_dir_all(&images).map_err(io("create", &images))?;
        for (i, (p, crops)) in pages.iter().zip(lines).enumerate() {
            let id = format!("tt_{i:04}");
            let image = format!("images/{id}.{}", p.ext);
            let to = staging.join(&image);
            fs::copy(&p.src, &to).map_err(io("copy", &p.src))?;
            let truth = TruthFile {
                id: &id,
                image: &image,
                split: p.split.as_str(),
                source: &p.name,
                entries: &p.entries,
            };
            let json = staging.join(format!("images/{id}.json"));
            let mut bytes = serde_json::to_vec(&truth).expect("plain data serialises");
            bytes.push(b'\n');
            fs::write(&json, bytes).map_err(io("write", &json))?;
            *out.timetables.entry(p.split).or_default() += 1;
            out.entries += p.entries.len() as u64;
            for (l, (crop, text)) in crops.iter().enumerate() {
                let rel = format!("lines/{}/{id}_l{l:03}.png", p.split.as_str());
                let to = staging.join(&rel);
                fs::create_dir_all(to.parent().expect("has a parent"))
                    .map_err(io("create", &to))?;
                crop.save(&to).map_err(|e| ImportError::Io {
                    what: "write",
                    path: to.clone(),
                    source: std::io::Error::other(e),
                })?;
                jsonl.add(
                    p.split,
                    serde_json::json!({"image": rel, "text": text, "timetable": id, "field": "user"}),
                );
                *out.lines.entry(p.split).or_default() += 1;
            }
        }
        jsonl.write(staging)?;
        write_meta(
            staging,
            &ImportMeta {
                importer: IMPORTER.into(),
                source: src.display().to_string(),
                lines: out.lines.clone(),
                timetables: out.timetables.clone(),
            },
        )?;
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(path: &Path) {
        image::GrayImage::from_pixel(60, 40, image::Luma([230]))
            .save(path)
            .unwrap();
    }

    const GOOD: &str = r#"{"day": "Mon", "start": "9:00", "end": "10:00", "subject": "Maths", "room": "MB 1", "teacher": "Sir Jerome"}"#;

    #[test]
    fn truth_is_checked_whole_and_every_problem_named() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path();
        png(&src.join("a.png"));
        png(&src.join("b.png"));
        fs::write(src.join("c.pdf"), b"%PDF-1.4").unwrap();
        let rows = [
            format!(r#"{{"image": "a.png", "entries": [{GOOD}]}}"#),
            format!(r#"{{"image": "a.png", "entries": [{GOOD}]}}"#),
            r#"{"image": "b.png", "entries": [{"day": "Someday", "start": "9:00", "end": "", "subject": "X", "room": "", "teacher": ""}]}"#.to_string(),
            r#"{"image": "b.png", "entries": []}"#.to_string(),
            format!(r#"{{"image": "c.pdf", "entries": [{GOOD}]}}"#),
            format!(r#"{{"image": "missing.png", "entries": [{GOOD}]}}"#),
            r#"{"image": "../a.png", "entries": [{"day": "Tue", "start": "25:00", "end": "", "subject": "X", "room": "", "teacher": ""}]}"#.to_string(),
            "{oops".to_string(),
        ];
        fs::write(src.join("truth.jsonl"), rows.join("\n")).unwrap();
        let err = read_truth(src, &Vocab::latin()).unwrap_err().to_string();
        for want in [
            "line 2: image a.png is already listed on line 1",
            "line 3, entry 1: day \"Someday\"",
            "line 4: image b.png is already listed",
            "line 5: c.pdf is a PDF",
            "line 6: image missing.png",
            "line 7, entry 1: start \"25:00\"",
            "line 8:",
        ] {
            assert!(err.contains(want), "{want:?} not in {err}");
        }
        fs::remove_file(src.join("truth.jsonl")).unwrap();
        assert!(matches!(
            read_truth(src, &Vocab::latin()),
            Err(ImportError::NoTruth(_))
        ));
    }

    #[test]
    fn pages_and_their_lines_are_written_as_training_reads_them() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("mine");
        fs::create_dir_all(&src).unwrap();
        let mut rows = Vec::new();
        for i in 0..4 {
            png(&src.join(format!("p{i}.png")));
            rows.push(format!(r#"{{"image": "p{i}.png", "entries": [{GOOD}]}}"#));
        }
        fs::write(src.join("truth.jsonl"), rows.join("\n")).unwrap();
        let pages = read_truth(&src, &Vocab::latin()).unwrap();
        assert_eq!(pages.len(), 4);
        assert!(pages.iter().any(|p| p.split == Split::Val));
        assert!(pages.iter().any(|p| p.split == Split::Test));
        let crop = GrayImage::from_pixel(30, 12, image::Luma([0]));
        let lines: Vec<Vec<(GrayImage, String)>> = pages
            .iter()
            .map(|_| vec![(crop.clone(), "Maths".to_string())])
            .collect();
        let dir = tmp.path().join("datasets/mine");
        let out = import_timetables(&src, &dir, &pages, &lines).unwrap();
        assert_eq!(out.timetables.values().sum::<u64>(), 4);
        assert_eq!(out.lines.values().sum::<u64>(), 4);
        let truth: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join("images/tt_0000.json")).unwrap()).unwrap();
        assert_eq!(truth["image"], "images/tt_0000.png");
        assert_eq!(truth["source"], "p0.png");
        assert_eq!(truth["entries"][0]["teacher"], "Sir Jerome");
        assert!(dir.join("images/tt_0000.png").is_file());
        let split = pages[0].split.as_str();
        let jsonl = fs::read_to_string(dir.join(format!("lines/{split}.jsonl"))).unwrap();
        assert!(jsonl.contains(&format!("lines/{split}/tt_0000_l000.png")));
        assert!(jsonl.contains("\"text\":\"Maths\""));
        // A second import replaces the first; a folder not ours is refused.
        import_timetables(&src, &dir, &pages, &lines).unwrap();
        let other = tmp.path().join("other");
        fs::create_dir_all(&other).unwrap();
        fs::write(other.join("keep.txt"), b"x").unwrap();
        assert!(matches!(
            import_timetables(&src, &other, &pages, &lines),
            Err(ImportError::NotOurs(_))
        ));
    }
}
