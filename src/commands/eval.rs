//! `lab eval`, `lab compare` and `lab ocr`: a model read against a snapshot's split (recorded
//! as an `Evaluated` event), several side by side, or on image files.
//!
//! Metrics of `Evaluated` are keyed `SPLIT.METRIC` (`test.accuracy`, `test.cer`,
//! `test.char_f1`, `test.latency_p50_ms`, `test.latency_p95_ms`, `test.lines_per_s`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use serde::Serialize;

use crate::event::{Event, Hash};
use crate::lab::Lab;
use crate::ml::lines;
use crate::ml::ocr::read::read;
use crate::ml::ocr::train::{self as ocr_train, LineSet};
use crate::ml::textmetrics::{CharRecall, TextScore};
use crate::progress::Reporter;
use crate::store::views::Query;

use super::train::{data, load_model};

/// Lines timed one by one for the latency percentiles.
const LATENCY_LINES: usize = 200;

/// What to evaluate on.
pub struct On<'a> {
    pub dataset: Option<&'a str>,
    pub split: &'a str,
    pub limit: usize,
}

#[derive(Debug, Serialize, Clone)]
pub struct EvalOut {
    pub model: String,
    pub model_hash: Option<Hash>,
    pub dataset: String,
    pub split: String,
    pub lines: usize,
    pub accuracy: f64,
    pub cer: f64,
    pub char_f1: f64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub lines_per_s: f64,
    pub params: Option<usize>,
    /// Accuracy by kind of line (the labels' `field`: time, day, subject, name, code, words,
    /// …), where the labels say.
    pub by_kind: BTreeMap<String, KindScore>,
    /// The characters read worst (recall below 1), worst first, at most [`WORST_CHARS`].
    pub worst_chars: Vec<CharMiss>,
    /// The characters of the truth whose recall is below 0.9.
    pub chars_below_90: usize,
}

/// Lines of one kind and how many were read exactly.
#[derive(Debug, Serialize, Clone, Default)]
pub struct KindScore {
    pub lines: usize,
    pub accuracy: f64,
}

/// A character of the truth and how often it was read.
#[derive(Debug, Serialize, Clone)]
pub struct CharMiss {
    pub char: char,
    pub recall: f64,
    pub count: usize,
}

/// How many of the worst-read characters an evaluation lists.
pub const WORST_CHARS: usize = 12;

/// Accuracy by kind and per-character recall of `predictions` against the items' truth.
fn breakdown(
    items: &[data::Item],
    predictions: &[String],
) -> (BTreeMap<String, KindScore>, Vec<CharMiss>, usize) {
    let mut kinds: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut chars = CharRecall::default();
    for (it, pred) in items.iter().zip(predictions) {
        if let Some(f) = &it.field {
            let e = kinds.entry(f.clone()).or_default();
            e.0 += 1;
            e.1 += usize::from(*pred == it.text);
        }
        chars.add(pred, &it.text);
    }
    let worst = chars.worst();
    let below = worst.iter().filter(|w| w.1 < 0.9).count();
    let misses = worst
        .into_iter()
        .filter(|w| w.1 < 1.0)
        .take(WORST_CHARS)
        .map(|(char, recall, count)| CharMiss {
            char,
            recall,
            count,
        })
        .collect();
    let by_kind = kinds
        .into_iter()
        .map(|(k, (n, hit))| {
            (
                k,
                KindScore {
                    lines: n,
                    accuracy: hit as f64 / n.max(1) as f64,
                },
            )
        })
        .collect();
    (by_kind, misses, below)
}

impl EvalOut {
    pub fn text(&self) -> String {
        format!(
            "{} on {} ({}, {} lines)\n  accuracy {:.4}  CER {:.4}  char F1 {:.4}\n  latency p50 {:.2} ms, p95 {:.2} ms per line; {:.0} lines/s batched",
            self.model,
            self.dataset,
            self.split,
            self.lines,
            self.accuracy,
            self.cer,
            self.char_f1,
            self.latency_p50_ms,
            self.latency_p95_ms,
            self.lines_per_s
        ) + &self.breakdown_text()
    }

    fn breakdown_text(&self) -> String {
        let mut s = String::new();
        if !self.by_kind.is_empty() {
            let kinds: Vec<String> = self
                .by_kind
                .iter()
                .map(|(k, v)| format!("{k} {:.3} ({})", v.accuracy, v.lines))
                .collect();
            s.push_str(&format!("\n  accuracy by kind: {}", kinds.join(", ")));
        }
        if !self.worst_chars.is_empty() {
            let worst: Vec<String> = self
                .worst_chars
                .iter()
                .map(|c| format!("{:?} {:.2} ({})", c.char, c.recall, c.count))
                .collect();
            s.push_str(&format!(
                "\n  characters read worst (recall, occurrences): {}; {} below 0.90",
                worst.join(", "),
                self.chars_below_90
            ));
        }
        s
    }
}

/// A latency quantile of sorted values (0 for none, as the reports print it).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let v = crate::stats::quantile(sorted, q);
    if v.is_nan() { 0.0 } else { v }
}

pub(crate) fn snapshot_of(lab: &Lab, on: &On) -> Result<data::Snapshot> {
    let rows = lab.store.read_views(|v| v.datasets())?;
    let name = on.dataset.unwrap_or(&lab.project.config.data.default);
    let row = crate::dataset::resolve(&rows, name).map_err(|e| anyhow!("--dataset {name}: {e}"))?;
    data::snapshot(lab, row)
}

/// Whether `reference` names a document model — read from its bundle, no weights loaded
/// (`lab eval` scores either family). `false` when it names nothing: the OCR path says why.
pub fn is_doc_model(lab: &Lab, reference: &str) -> bool {
    crate::models::resolve_in(&lab.store, reference)
        .ok()
        .and_then(|m| crate::models::bundle(&lab.store.blobs, &m.hash).ok())
        .is_some_and(|b| b.kind.starts_with("doc"))
}

/// Evaluates one model and records the result.
pub fn eval(lab: &Lab, model: &str, on: &On, reporter: &dyn Reporter) -> Result<EvalOut> {
    let snap = snapshot_of(lab, on)?;
    let out = if model == "tesseract" {
        tesseract(lab, &snap, on, reporter)?
    } else {
        let m = load_model(lab, model)?;
        reporter.status(&format!("loading {} ({})", snap.label, on.split));
        let split = snap.split(lab, on.split, m.loaded.model.config.height, on.limit)?;
        let set = LineSet {
            texts: split.items.iter().map(|i| i.text.clone()).collect(),
            lines: split.lines,
            targets: Vec::new(),
        };
        reporter.status(&format!("evaluating {} on {} lines", m.name, set.len()));
        let t = Instant::now();
        let ev = ocr_train::evaluate(&m.loaded.model, &set, set.len(), 64, Some(&m.loaded.vocab))?;
        let batched = t.elapsed().as_secs_f64();
        let mut lat = Vec::new();
        for line in set.lines.iter().take(LATENCY_LINES) {
            let t = Instant::now();
            read(&m.loaded.model, &m.loaded.vocab, &[line])?;
            lat.push(t.elapsed().as_secs_f64() * 1e3);
        }
        lat.sort_by(f64::total_cmp);
        let (by_kind, worst_chars, chars_below_90) = breakdown(&split.items, &ev.predictions);
        EvalOut {
            model: m.name.clone(),
            model_hash: Some(m.hash),
            dataset: snap.label.clone(),
            split: on.split.to_string(),
            lines: ev.metrics.lines,
            accuracy: ev.metrics.accuracy,
            cer: ev.metrics.cer,
            char_f1: ev.metrics.char_f1,
            latency_p50_ms: percentile(&lat, 0.5),
            latency_p95_ms: percentile(&lat, 0.95),
            lines_per_s: set.len() as f64 / batched.max(1e-9),
            params: Some(m.loaded.params),
            by_kind,
            worst_chars,
            chars_below_90,
        }
    };
    let mut metrics = BTreeMap::new();
    let s = &out.split;
    for (k, v) in [
        ("accuracy", out.accuracy),
        ("cer", out.cer),
        ("char_f1", out.char_f1),
        ("latency_p50_ms", out.latency_p50_ms),
        ("latency_p95_ms", out.latency_p95_ms),
        ("lines_per_s", out.lines_per_s),
        ("lines", out.lines as f64),
    ] {
        metrics.insert(format!("{s}.{k}"), v);
    }
    for (kind, k) in &out.by_kind {
        metrics.insert(format!("{s}.accuracy.{kind}"), k.accuracy);
    }
    lab.append(vec![Event::Evaluated {
        model: out.model.clone(),
        model_hash: out.model_hash.unwrap_or(Hash::of(b"tesseract")),
        dataset: snap.manifest,
        metrics,
        run: None,
    }])?;
    Ok(out)
}

pub(crate) fn tesseract_path() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("tesseract"))
            .find(|f| f.is_file())
    })
}

/// Tesseract (`--psm 7`, one text line) as an external baseline.
fn tesseract(
    lab: &Lab,
    snap: &data::Snapshot,
    on: &On,
    reporter: &dyn Reporter,
) -> Result<EvalOut> {
    let Some(bin) = tesseract_path() else {
        bail!(
            "tesseract is unavailable: it is not on the PATH (Debian: apt-get install tesseract-ocr)"
        );
    };
    let split = snap.split(lab, on.split, 32, on.limit)?;
    let dir = tempfile_dir(lab)?;
    let mut score = TextScore::default();
    let mut predictions = Vec::new();
    let mut lat = Vec::new();
    reporter.begin("tesseract", split.items.len() as u64, false);
    for it in &split.items {
        let p = dir.join("line.png");
        std::fs::write(&p, snap.read(lab, &it.image)?)?;
        let t = Instant::now();
        let o = std::process::Command::new(&bin)
            .arg(&p)
            .arg("stdout")
            .args(["--psm", "7", "-l", "eng"])
            .stderr(std::process::Stdio::null())
            .output()?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        let text = String::from_utf8_lossy(&o.stdout).trim().to_string();
        score.add(&text, &it.text);
        predictions.push(text);
        reporter.advance(1);
    }
    reporter.end();
    let _ = std::fs::remove_dir_all(&dir);
    let total: f64 = lat.iter().sum();
    lat.sort_by(f64::total_cmp);
    let m = score.metrics();
    let (by_kind, worst_chars, chars_below_90) = breakdown(&split.items, &predictions);
    Ok(EvalOut {
        model: "tesseract".into(),
        model_hash: None,
        dataset: snap.label.clone(),
        split: on.split.to_string(),
        lines: m.lines,
        accuracy: m.accuracy,
        cer: m.cer,
        char_f1: m.char_f1,
        latency_p50_ms: percentile(&lat, 0.5),
        latency_p95_ms: percentile(&lat, 0.95),
        lines_per_s: m.lines as f64 / (total / 1e3).max(1e-9),
        params: None,
        by_kind,
        worst_chars,
        chars_below_90,
    })
}

fn tempfile_dir(lab: &Lab) -> Result<PathBuf> {
    let d = lab
        .project
        .lab_dir()
        .join("tmp")
        .join(format!("tess-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

#[derive(Debug, Serialize)]
pub struct CompareOut {
    pub rows: Vec<EvalOut>,
    /// Models that could not be evaluated, with why (tesseract missing).
    pub unavailable: Vec<(String, String)>,
}

impl CompareOut {
    pub fn text(&self) -> String {
        let mut s = String::new();
        if let Some(r) = self.rows.first() {
            s.push_str(&format!(
                "on {} ({}, {} lines)\n",
                r.dataset, r.split, r.lines
            ));
        }
        let mut t = crate::table::Table::new([
            "MODEL", "PARAMS", "ACCURACY", "CER", "CHAR_F1", "P50_MS", "P95_MS", "LINES/S",
        ])
        .right(&[1, 2, 3, 4, 5, 6, 7]);
        for r in &self.rows {
            t.row([
                r.model.clone(),
                r.params.map_or("-".to_string(), |p| p.to_string()),
                format!("{:.4}", r.accuracy),
                format!("{:.4}", r.cer),
                format!("{:.4}", r.char_f1),
                format!("{:.2}", r.latency_p50_ms),
                format!("{:.2}", r.latency_p95_ms),
                format!("{:.0}", r.lines_per_s),
            ]);
        }
        for (m, why) in &self.unavailable {
            t.row([m.clone(), format!("unavailable: {why}")]);
        }
        s.push_str(&t.render());
        s
    }
}

/// Evaluates each model on the same snapshot and split.
pub fn compare(
    lab: &Lab,
    models: &[String],
    on: &On,
    reporter: &dyn Reporter,
) -> Result<CompareOut> {
    let mut rows = Vec::new();
    let mut unavailable = Vec::new();
    for m in models {
        if m == "tesseract" && tesseract_path().is_none() {
            unavailable.push((
                m.clone(),
                "not on the PATH (Debian: apt-get install tesseract-ocr)".into(),
            ));
            continue;
        }
        rows.push(eval(lab, m, on, reporter)?);
    }
    Ok(CompareOut { rows, unavailable })
}

#[derive(Debug, Serialize)]
pub struct OcrLine {
    pub image: String,
    pub text: String,
}

/// What `lab ocr` read, and the images it could not read (path, why).
pub struct OcrOut {
    pub lines: Vec<OcrLine>,
    pub failed: Vec<(String, String)>,
}

/// Reads image files (folders walked) with a model; an image that cannot be read is named
/// in `failed` and the others are read.
pub fn ocr(lab: &Lab, model: Option<&str>, inputs: &[PathBuf]) -> Result<OcrOut> {
    let images = crate::commands::extract::image_files(inputs)?;
    let (model, why) = crate::models::named_or_default(
        &lab.store,
        model,
        crate::deploy::Task::Ocr,
        "ocr_student",
    )?;
    if let Some(why) = why {
        eprintln!("lab ocr: {model} ({why})");
    }
    let m = load_model(lab, &model)?;
    let mut out = OcrOut {
        lines: Vec::new(),
        failed: Vec::new(),
    };
    for p in images {
        let line = std::fs::read(&p)
            .map_err(|e| e.to_string())
            .and_then(|b| lines::load(&b, m.loaded.model.config.height).map_err(|e| e.to_string()));
        match line {
            Ok(line) => {
                let text = read(&m.loaded.model, &m.loaded.vocab, &[&line])?.remove(0);
                out.lines.push(OcrLine {
                    image: p.display().to_string(),
                    text,
                });
            }
            Err(e) => out.failed.push((p.display().to_string(), e)),
        }
    }
    Ok(out)
}
