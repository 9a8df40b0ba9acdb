//! Writing a whole dataset: render every timetable in parallel into a staging directory beside
//! the target (only the files whose bytes differ from what is there), then move them in, write
//! the split lists and `meta.json`, and remove the files of ours that no longer belong. A
//! failure before the move leaves the target as it was.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Domain, GENERATOR, Split, assign, fonts, render, textline, timetable};

/// Free text lines drawn beside each timetable ([`textline`]), in its split, by default: what
/// teaches the OCR models to read text other than a timetable's.
pub const TEXT_LINES_PER_TIMETABLE: u32 = 40;
use crate::progress::Reporter;

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub seed: u64,
    pub count: u32,
    pub domain: Domain,
    /// Free text lines per timetable ([`TEXT_LINES_PER_TIMETABLE`] by default).
    pub text_lines: u32,
}

/// What [`write_dataset`] did.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub dir: PathBuf,
    pub seed: u64,
    pub count: u32,
    pub domain: Domain,
    /// Timetables per split.
    pub timetables: BTreeMap<Split, u32>,
    /// Line crops per split.
    pub lines: BTreeMap<Split, u64>,
    /// Files in the dataset and their total size.
    pub files: u64,
    pub bytes: u64,
    /// Files (re)written, left alone because their bytes were right, and removed.
    pub written: u64,
    pub unchanged: u64,
    pub removed: u64,
}

/// Why a dataset could not be written. The target is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// The target exists and is a file (or another non-directory).
    #[error("{0} exists and is not a directory — choose another name or --out DIR")]
    NotADir(PathBuf),
    /// The target holds files that `lab data synth` did not write.
    #[error(
        "{0} is not empty and was not made by `lab data synth` (no meta.json of ours) — \
         choose another name or --out DIR, or move it away"
    )]
    NotOurs(PathBuf),
    /// Reading or writing a file failed.
    #[error("cannot write {path}: {source} (check that it is writable and the disk has room)")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SynthError + '_ {
    move |source| SynthError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `meta.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Meta {
    pub generator: String,
    pub seed: u64,
    pub count: u32,
    pub domain: Domain,
    /// Free text lines per timetable.
    #[serde(default)]
    pub text_lines: u32,
    /// Font names by role (`train`, `heldout`, `shifted`).
    pub fonts: BTreeMap<String, Vec<String>>,
    /// Timetable ids by split.
    pub splits: BTreeMap<Split, Vec<String>>,
    /// Line crops by split.
    pub lines: BTreeMap<Split, u64>,
}

/// One line of `lines/<split>.jsonl`.
#[derive(Debug, Serialize, Deserialize)]
pub struct LineRecord {
    pub image: String,
    pub text: String,
    pub timetable: String,
    pub font: String,
    pub field: String,
}

/// What one timetable contributed.
struct Part {
    split: Split,
    paths: Vec<String>,
    records: Vec<LineRecord>,
    bytes: u64,
    written: u64,
}

/// Where files go while a run is in flight.
struct Sink<'a> {
    dir: &'a Path,
    staging: PathBuf,
    /// The target has nothing to compare with.
    fresh: bool,
}

impl Sink<'_> {
    /// Stages `bytes` for `rel` unless the target already holds exactly them. Returns whether
    /// it was staged.
    fn put(&self, rel: &str, bytes: &[u8]) -> Result<bool, SynthError> {
        if !self.fresh {
            let old = self.dir.join(rel);
            if fs::metadata(&old).is_ok_and(|m| m.len() == bytes.len() as u64)
                && fs::read(&old).is_ok_and(|b| b == bytes)
            {
                return Ok(false);
            }
        }
        let p = self.staging.join(rel);
        fs::write(&p, bytes).map_err(io(&p))?;
        Ok(true)
    }
}

fn pretty(v: &impl Serialize) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).expect("plain data serialises");
    b.push(b'\n');
    b
}

/// Whether `dir` is missing or empty (`Ok(true)`), ours (`Ok(false)`), or neither (an error).
fn check_target(dir: &Path) -> Result<bool, SynthError> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(io(dir)(e)),
        Ok(m) if !m.is_dir() => return Err(SynthError::NotADir(dir.to_path_buf())),
        Ok(_) => {}
    }
    let names: Vec<String> = fs::read_dir(dir)
        .map_err(io(dir))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()
        .map_err(io(dir))?;
    if names.is_empty() {
        return Ok(true);
    }
    let meta = dir.join("meta.json");
    let ours = fs::read(&meta)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| {
            v["generator"]
                .as_str()
                .is_some_and(|g| g.starts_with("lab-synth/"))
        });
    // The first generator wrote only tt_NNNN.json files at the top.
    let legacy = names.iter().all(|n| is_legacy(n));
    if ours || legacy {
        Ok(false)
    } else {
        Err(SynthError::NotOurs(dir.to_path_buf()))
    }
}

fn is_legacy(name: &str) -> bool {
    name.len() == 12
        && name.starts_with("tt_")
        && name.ends_with(".json")
        && name[3..7].bytes().all(|b| b.is_ascii_digit())
}

/// Whether `rel` (relative to the dataset root) is a file this generator writes.
fn is_ours(rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    let split = |s: &str| Split::ALL.iter().any(|x| x.as_str() == s);
    match parts[..] {
        ["meta.json"] => true,
        [f] => is_legacy(f),
        ["images", f] => {
            f.starts_with("tt_")
                && (f.ends_with(".png") || f.ends_with(".jpg") || f.ends_with(".json"))
        }
        ["lines", f] => f.strip_suffix(".jsonl").is_some_and(split),
        ["lines", s, f] => split(s) && f.starts_with("tt_") && f.ends_with(".png"),
        _ => false,
    }
}

/// Every file under `root`, relative, with `/` separators.
fn files_under(root: &Path) -> Result<Vec<String>, SynthError> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(root).sort_by_file_name() {
        let e = e.map_err(|e| {
            let p = e.path().unwrap_or(root).to_path_buf();
            io(&p)(e.into())
        })?;
        if e.file_type().is_file() {
            let rel = e.path().strip_prefix(root).expect("under root");
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(out)
}

/// Removes staging directories of runs that died (their process is gone).
fn sweep_stale_staging(parent: &Path, prefix: &str) {
    let Ok(rd) = fs::read_dir(parent) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(prefix)
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks whether the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Renders `opts.count` timetables into `dir` (see the module doc of `synth` for the layout).
pub fn write_dataset(
    dir: &Path,
    opts: &Options,
    reporter: &dyn Reporter,
) -> Result<Summary, SynthError> {
    let fresh = check_target(dir)?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".into());
    let parent = dir.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io(parent))?;
    let prefix = format!(".{name}.synth-tmp-");
    sweep_stale_staging(parent, &prefix);
    let staging = parent.join(format!("{prefix}{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    let result = stage_and_commit(dir, &staging, fresh, opts, reporter);
    let _ = fs::remove_dir_all(&staging);
    result
}

fn stage_and_commit(
    dir: &Path,
    staging: &Path,
    fresh: bool,
    opts: &Options,
    reporter: &dyn Reporter,
) -> Result<Summary, SynthError> {
    for sub in ["images", "lines"]
        .into_iter()
        .map(String::from)
        .chain(Split::ALL.iter().map(|s| format!("lines/{}", s.as_str())))
    {
        let p = staging.join(sub);
        fs::create_dir_all(&p).map_err(io(&p))?;
    }
    let sink = Sink {
        dir,
        staging: staging.to_path_buf(),
        fresh,
    };
    let Options {
        seed,
        count,
        domain,
        text_lines,
    } = *opts;
    reporter.begin("rendering", u64::from(count), false);
    let parts: Result<Vec<Part>, SynthError> = (0..count)
        .into_par_iter()
        .map(|i| {
            let (split, font) = assign(seed, domain, i);
            let t = timetable(seed, domain, i);
            let r = render::render(&t, seed, domain, i, split, font);
            let mut part = Part {
                split,
                paths: Vec::with_capacity(r.crops.len() + 2),
                records: Vec::with_capacity(r.crops.len()),
                bytes: 0,
                written: 0,
            };
            let mut json = serde_json::to_vec(&r.truth).expect("plain data serialises");
            json.push(b'\n');
            let files = [
                (r.truth.image.clone(), &r.image[..]),
                (format!("images/{}.json", t.id), &json[..]),
            ];
            let crops = r.truth.lines.iter().zip(&r.crops);
            for (rel, bytes) in files
                .into_iter()
                .chain(crops.map(|(l, c)| (l.crop.clone(), &c[..])))
            {
                part.written += u64::from(sink.put(&rel, bytes)?);
                part.bytes += bytes.len() as u64;
                part.paths.push(rel);
            }
            for l in &r.truth.lines {
                part.records.push(LineRecord {
                    image: l.crop.clone(),
                    text: l.text.clone(),
                    timetable: t.id.clone(),
                    font: r.truth.render.font.clone(),
                    field: l.field.clone(),
                });
            }
            for k in 0..text_lines {
                let l = textline::render(seed, domain, i, k, split);
                let rel = format!("lines/{}/{}_t{k:02}.png", split.as_str(), t.id);
                part.written += u64::from(sink.put(&rel, &l.png)?);
                part.bytes += l.png.len() as u64;
                part.paths.push(rel.clone());
                part.records.push(LineRecord {
                    image: rel,
                    text: l.text,
                    timetable: t.id.clone(),
                    font: fonts::FONTS[l.font].name.to_string(),
                    field: l.kind.as_str().to_string(),
                });
            }
            reporter.advance(1);
            Ok(part)
        })
        .collect();
    reporter.end();
    let parts = parts?;

    let mut expected: BTreeSet<String> = BTreeSet::new();
    let (mut bytes, mut written) = (0u64, 0u64);
    let mut timetables: BTreeMap<Split, u32> = BTreeMap::new();
    let mut splits: BTreeMap<Split, Vec<String>> = BTreeMap::new();
    let mut jsonl: BTreeMap<Split, Vec<u8>> = BTreeMap::new();
    let mut lines: BTreeMap<Split, u64> = BTreeMap::new();
    for (i, p) in parts.iter().enumerate() {
        *timetables.entry(p.split).or_default() += 1;
        splits
            .entry(p.split)
            .or_default()
            .push(format!("tt_{i:04}"));
        let buf = jsonl.entry(p.split).or_default();
        for rec in &p.records {
            serde_json::to_writer(&mut *buf, rec).expect("plain data serialises");
            buf.push(b'\n');
        }
        *lines.entry(p.split).or_default() += p.records.len() as u64;
        expected.extend(p.paths.iter().cloned());
        bytes += p.bytes;
        written += p.written;
    }
    let used: &[Split] = match domain {
        Domain::Default => &Split::ALL,
        Domain::Shifted => &Split::ALL[..3],
    };
    for split in used {
        jsonl.entry(*split).or_default();
        lines.entry(*split).or_default();
        timetables.entry(*split).or_default();
        splits.entry(*split).or_default();
    }
    for (split, buf) in &jsonl {
        let rel = format!("lines/{}.jsonl", split.as_str());
        written += u64::from(sink.put(&rel, buf)?);
        bytes += buf.len() as u64;
        expected.insert(rel);
    }
    let mut font_roles = BTreeMap::new();
    let roles: &[fonts::Role] = match domain {
        Domain::Default => &[fonts::Role::Train, fonts::Role::Heldout],
        Domain::Shifted => &[fonts::Role::Shifted],
    };
    for &role in roles {
        let names = fonts::names(role).into_iter().map(String::from).collect();
        font_roles.insert(format!("{role:?}").to_lowercase(), names);
    }
    let meta = pretty(&Meta {
        generator: GENERATOR.into(),
        seed,
        count,
        domain,
        text_lines,
        fonts: font_roles,
        splits,
        lines: lines.clone(),
    });
    written += u64::from(sink.put("meta.json", &meta)?);
    bytes += meta.len() as u64;
    expected.insert("meta.json".into());

    // Commit: everything rendered, so move the staged files in (meta.json last), then remove
    // what no longer belongs.
    let removed = if !dir.exists() {
        fs::rename(staging, dir).map_err(io(dir))?;
        0
    } else {
        let mut staged = files_under(staging)?;
        staged.sort_by_key(|r| r == "meta.json");
        for rel in &staged {
            let to = dir.join(rel);
            if let Some(p) = to.parent() {
                fs::create_dir_all(p).map_err(io(p))?;
            }
            fs::rename(staging.join(rel), &to).map_err(io(&to))?;
        }
        let mut removed = 0;
        for rel in files_under(dir)? {
            if is_ours(&rel) && !expected.contains(&rel) {
                let p = dir.join(&rel);
                fs::remove_file(&p).map_err(io(&p))?;
                removed += 1;
            }
        }
        removed
    };
    // Split folders with nothing in them (a split this seed and count do not use).
    for s in Split::ALL {
        let _ = fs::remove_dir(dir.join("lines").join(s.as_str()));
    }
    Ok(Summary {
        dir: dir.to_path_buf(),
        seed,
        count,
        domain,
        timetables,
        lines,
        files: expected.len() as u64,
        bytes,
        written,
        unchanged: expected.len() as u64 - written,
        removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    fn opts(seed: u64, count: u32, domain: Domain) -> Options {
        Options {
            text_lines: 3,
            seed,
            count,
            domain,
        }
    }

    /// Every file under `dir` with its bytes, sorted by path.
    fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
        files_under(dir)
            .unwrap()
            .into_iter()
            .map(|r| {
                let b = fs::read(dir.join(&r)).unwrap();
                (r, b)
            })
            .collect()
    }

    fn leftovers(parent: &Path) -> Vec<String> {
        fs::read_dir(parent)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".synth-tmp-"))
            .collect()
    }

    /// Same seed → byte-identical trees; rewriting changes nothing; a smaller count or another
    /// seed leaves exactly what a fresh run would have written.
    #[test]
    fn deterministic_idempotent_and_self_cleaning() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        let s1 = write_dataset(&a, &opts(5, 3, Domain::Default), &Silent).unwrap();
        write_dataset(&b, &opts(5, 3, Domain::Default), &Silent).unwrap();
        let ta = tree(&a);
        assert_eq!(ta, tree(&b));
        assert_eq!(s1.written, s1.files);
        assert_eq!(s1.files as usize, ta.len());
        assert!(ta.iter().any(|(p, _)| p == "meta.json"));
        assert!(ta.iter().any(|(p, _)| p == "lines/train.jsonl"));
        let again = write_dataset(&a, &opts(5, 3, Domain::Default), &Silent).unwrap();
        assert_eq!((again.written, again.removed), (0, 0));
        assert_eq!(ta, tree(&a));

        // Fewer timetables: the others' files go.
        let fewer = write_dataset(&a, &opts(5, 2, Domain::Default), &Silent).unwrap();
        assert!(fewer.removed > 0);
        let c = tmp.path().join("c");
        write_dataset(&c, &opts(5, 2, Domain::Default), &Silent).unwrap();
        assert_eq!(tree(&a), tree(&c));
        // Another seed, in place, equals a fresh run of it.
        write_dataset(&a, &opts(6, 2, Domain::Default), &Silent).unwrap();
        let d = tmp.path().join("d");
        write_dataset(&d, &opts(6, 2, Domain::Default), &Silent).unwrap();
        assert_eq!(tree(&a), tree(&d));
        assert!(leftovers(tmp.path()).is_empty());

        // The ground truth reads back; its lines are in the jsonl files.
        let meta: Meta = serde_json::from_slice(&fs::read(d.join("meta.json")).unwrap()).unwrap();
        assert_eq!((meta.seed, meta.count), (6, 2));
        let mut jsonl = String::new();
        for s in Split::ALL {
            jsonl += &fs::read_to_string(d.join(format!("lines/{}.jsonl", s.as_str()))).unwrap();
        }
        for ids in meta.splits.values() {
            for id in ids {
                let t: render::Truth =
                    serde_json::from_slice(&fs::read(d.join(format!("images/{id}.json"))).unwrap())
                        .unwrap();
                assert!(d.join(&t.image).is_file());
                for l in &t.lines {
                    assert!(d.join(&l.crop).is_file());
                    assert!(jsonl.contains(&format!("\"image\":\"{}\"", l.crop)));
                }
            }
        }
    }

    #[test]
    fn refuses_what_it_did_not_make_and_takes_over_the_first_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let foreign = tmp.path().join("foreign");
        fs::create_dir(&foreign).unwrap();
        fs::write(foreign.join("notes.txt"), "mine").unwrap();
        let e = write_dataset(&foreign, &opts(1, 1, Domain::Default), &Silent).unwrap_err();
        assert!(matches!(e, SynthError::NotOurs(_)), "{e}");
        assert_eq!(fs::read_dir(&foreign).unwrap().count(), 1);
        let file = tmp.path().join("file");
        fs::write(&file, "x").unwrap();
        let e = write_dataset(&file, &opts(1, 1, Domain::Default), &Silent).unwrap_err();
        assert!(matches!(e, SynthError::NotADir(_)), "{e}");
        let under_file = file.join("sub");
        let e = write_dataset(&under_file, &opts(1, 1, Domain::Default), &Silent).unwrap_err();
        assert!(e.to_string().contains("cannot write"), "{e}");

        // The first generator's output (tt_NNNN.json only) is ours: replaced, not refused.
        let legacy = tmp.path().join("legacy");
        fs::create_dir(&legacy).unwrap();
        fs::write(legacy.join("tt_0000.json"), "{}").unwrap();
        let s = write_dataset(&legacy, &opts(1, 1, Domain::Shifted), &Silent).unwrap();
        assert_eq!(s.removed, 1);
        assert!(!legacy.join("tt_0000.json").exists());
        assert!(!legacy.join("lines/test_heldout.jsonl").exists());
        assert!(leftovers(tmp.path()).is_empty());
    }

    #[test]
    fn recognises_its_own_files_only() {
        for ours in [
            "meta.json",
            "tt_0001.json",
            "images/tt_0001.png",
            "images/tt_0001.jpg",
            "images/tt_0001.json",
            "lines/train.jsonl",
            "lines/test_heldout/tt_0001_r01_c02_l0.png",
        ] {
            assert!(is_ours(ours), "{ours}");
        }
        for other in [
            "notes.txt",
            "images/photo.png",
            "lines/other.jsonl",
            "lines/mine/tt_0001_r01_c02_l0.png",
            "deep/images/tt_0001.png",
        ] {
            assert!(!is_ours(other), "{other}");
        }
    }
}
