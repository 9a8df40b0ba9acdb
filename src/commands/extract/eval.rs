//! Scoring extraction end to end (`lab eval-extract`: a snapshot's split, or a folder of
//! images or PDFs with `truth.jsonl`) and the document model alone on gold cells (`lab eval`
//! of a doc model): entry and per-field F1, failures with their reason, latency.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use serde::Serialize;

use crate::commands::eval::On;
use crate::commands::train::{data, load_doc_model};
use crate::event::{Event, Hash};
use crate::lab::Lab;
use crate::ml::doc::record::{FieldMetrics, FieldScore, Record};
use crate::ml::doc::train::{Example, evaluate};
use crate::ml::extract;
use crate::progress::Reporter;

use super::{Pair, decode_image, extract_file};

/// A latency quantile of sorted values (0 for none, as the reports print it).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let v = crate::stats::quantile(sorted, q);
    if v.is_nan() { 0.0 } else { v }
}

#[derive(Debug, Serialize)]
pub struct ExtractEval {
    pub models: String,
    pub dataset: String,
    pub split: String,
    pub images: usize,
    pub failed: usize,
    pub entries: usize,
    pub entry_precision: f64,
    pub entry_recall: f64,
    pub entry_f1: f64,
    pub field_f1: f64,
    pub invalid: usize,
    pub fields: Vec<FieldMetrics>,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
}

impl ExtractEval {
    pub fn text(&self) -> String {
        let mut s = format!(
            "{} on {} ({}, {} images, {} entries)\n  entry P {:.4} R {:.4} F1 {:.4}   field F1 {:.4}   \
             images failed {}   unreadable answers {}\n  latency per image p50 {:.0} ms, p95 {:.0} ms\n",
            self.models,
            self.dataset,
            self.split,
            self.images,
            self.entries,
            self.entry_precision,
            self.entry_recall,
            self.entry_f1,
            self.field_f1,
            self.failed,
            self.invalid,
            self.latency_p50_ms,
            self.latency_p95_ms
        );
        s.push_str(&fields_table(&self.fields));
        s
    }
}

fn fields_table(fields: &[FieldMetrics]) -> String {
    let mut t = crate::table::Table::new(["FIELD", "PRECISION", "RECALL", "F1"]).right(&[1, 2, 3]);
    for f in fields {
        t.row([
            f.field.to_string(),
            format!("{:.4}", f.precision),
            format!("{:.4}", f.recall),
            format!("{:.4}", f.f1),
        ]);
    }
    t.render()
        .lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn record_eval(
    lab: &Lab,
    model: String,
    hash: Hash,
    snap: &data::Snapshot,
    split: &str,
    values: Vec<(String, f64)>,
) -> Result<()> {
    let metrics: BTreeMap<String, f64> = values
        .into_iter()
        .map(|(k, v)| (format!("{split}.{k}"), v))
        .collect();
    lab.append(vec![Event::Evaluated {
        model,
        model_hash: hash,
        dataset: snap.manifest,
        metrics,
        run: None,
    }])?;
    Ok(())
}

/// Extraction end to end on a snapshot's timetable images against their truth.
pub fn eval_extract(
    lab: &Lab,
    on: &On,
    ocr: Option<&str>,
    doc: Option<&str>,
    reporter: &dyn Reporter,
) -> Result<ExtractEval> {
    let snap = crate::commands::eval::snapshot_of(lab, on)?;
    let mut tts = snap.timetables(lab, on.split)?;
    if tts.is_empty() {
        bail!(
            "snapshot {} has no timetables in split `{}`",
            snap.label,
            on.split
        );
    }
    if on.limit > 0 {
        tts.truncate(on.limit);
    }
    let pair = Pair::load(lab, ocr, doc)?;
    let m = pair.models();
    let mut score = FieldScore::default();
    let (mut exact, mut predicted, mut truth_n, mut failed, mut invalid) = (0, 0, 0, 0, 0);
    let mut lat = Vec::new();
    reporter.begin("eval-extract", tts.len() as u64, false);
    for t in &tts {
        let bytes = snap.read(lab, &t.image)?;
        let t0 = Instant::now();
        let r = decode_image(&bytes)
            .and_then(|img| extract::extract(&img, &m).map_err(|e| e.to_string()));
        lat.push(t0.elapsed().as_secs_f64() * 1e3);
        let pred: Vec<Record> = match &r {
            Ok(x) => {
                invalid += x.invalid.len();
                x.entries.iter().map(|f| f.record.clone()).collect()
            }
            Err(_) => {
                failed += 1;
                Vec::new()
            }
        };
        predicted += pred.len();
        truth_n += t.entries.len();
        exact += extract::score_image(&pred, &t.entries, &mut score);
        reporter.advance(1);
    }
    reporter.end();
    lat.sort_by(f64::total_cmp);
    let (p, r, f1) = crate::ml::doc::record::prf(exact, predicted, truth_n);
    let out = ExtractEval {
        models: pair.label(),
        dataset: snap.label.clone(),
        split: on.split.to_string(),
        images: tts.len(),
        failed,
        entries: truth_n,
        entry_precision: p,
        entry_recall: r,
        entry_f1: f1,
        field_f1: score.field_f1(),
        invalid,
        fields: score.per_field(),
        latency_p50_ms: percentile(&lat, 0.5),
        latency_p95_ms: percentile(&lat, 0.95),
    };
    let mut values = vec![
        ("entry_precision".to_string(), p),
        ("entry_recall".to_string(), r),
        ("entry_f1".to_string(), f1),
        ("field_f1".to_string(), out.field_f1),
        ("images_failed".to_string(), failed as f64),
        ("latency_p50_ms".to_string(), out.latency_p50_ms),
        ("latency_p95_ms".to_string(), out.latency_p95_ms),
    ];
    values.extend(out.fields.iter().map(|f| (format!("{}.f1", f.field), f.f1)));
    // The pair is one "model" in the log: its name says both, its hash the pair's bundles.
    let mut both = pair.ocr.hash.0.to_vec();
    both.extend_from_slice(&pair.doc.hash.0);
    record_eval(
        lab,
        out.models.clone(),
        Hash::of(&both),
        &snap,
        on.split,
        values,
    )?;
    Ok(out)
}

/// One line of `DIR/truth.jsonl`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TruthLine {
    image: String,
    entries: Vec<Record>,
    /// Where `lab data import timetables` puts the page; not used in scoring.
    #[serde(default)]
    #[allow(dead_code)]
    split: Option<String>,
}

/// A file that gave no entries, and why.
#[derive(Debug, Serialize)]
pub struct Failure {
    pub image: String,
    pub reason: String,
}

/// Extraction scored on a user's folder of timetables against its `truth.jsonl`.
#[derive(Debug, Serialize)]
pub struct FolderEval {
    pub models: String,
    pub dir: String,
    pub images: usize,
    pub failed: usize,
    pub entries: usize,
    pub entry_precision: f64,
    pub entry_recall: f64,
    pub entry_f1: f64,
    pub field_f1: f64,
    pub fields: Vec<FieldMetrics>,
    pub failures: Vec<Failure>,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
}

impl FolderEval {
    pub fn text(&self) -> String {
        let mut s = format!(
            "{} on {} ({} files, {} true entries)\n  entry P {:.4} R {:.4} F1 {:.4}   field F1 {:.4}   \
             files failed {}\n  latency per page p50 {:.0} ms, p95 {:.0} ms\n",
            self.models,
            self.dir,
            self.images,
            self.entries,
            self.entry_precision,
            self.entry_recall,
            self.entry_f1,
            self.field_f1,
            self.failed,
            self.latency_p50_ms,
            self.latency_p95_ms
        );
        s.push_str(&fields_table(&self.fields));
        for f in &self.failures {
            s.push_str(&format!("\n  failed: {}: {}", f.image, f.reason));
        }
        s
    }
}

/// A record with its day in English (`Mon`, `Lundi` → `Monday`), so that truth written either
/// way scores the same.
fn canonical_day(mut r: Record) -> Record {
    if let Some(d) = crate::timetable::days::day_name(&r.day) {
        r.day = d.to_string();
    }
    r
}

/// Scores extraction on `dir`'s timetables (PNG, JPEG, PDF: all pages of a PDF together)
/// against `dir/truth.jsonl` (`{"image": NAME, "entries": [{day, start, end, subject, room,
/// teacher}, …]}` per line, NAME relative to `dir`): entry and per-field F1, and each file
/// that failed with its reason. Nothing is recorded in the log (a folder is no snapshot).
pub fn eval_images(
    lab: &Lab,
    dir: &Path,
    ocr: Option<&str>,
    doc: Option<&str>,
    reporter: &dyn Reporter,
) -> Result<FolderEval> {
    let truth_path = dir.join("truth.jsonl");
    let text = std::fs::read_to_string(&truth_path).map_err(|e| {
        anyhow!(
            "{}: {e} — write one line per image: {{\"image\": \"a.png\", \"entries\": [{{\"day\": \
             \"Monday\", \"start\": \"09:00\", \"end\": \"10:00\", \"subject\": …, \"room\": …, \
             \"teacher\": …}}]}}",
            truth_path.display()
        )
    })?;
    let mut truth = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let t: TruthLine = serde_json::from_str(line)
            .map_err(|e| anyhow!("{}:{}: {e}", truth_path.display(), i + 1))?;
        truth.push(t);
    }
    if truth.is_empty() {
        bail!("{}: no images listed", truth_path.display());
    }
    let pair = Pair::load(lab, ocr, doc)?;
    let m = pair.models();
    let mut score = FieldScore::default();
    let (mut exact, mut predicted, mut truth_n) = (0, 0, 0);
    let mut failures = Vec::new();
    let mut lat = Vec::new();
    reporter.begin("eval-extract", truth.len() as u64, false);
    for t in &truth {
        let path = dir.join(&t.image);
        let results = match std::fs::read(&path) {
            Ok(b) => extract_file(&t.image, &b, &m),
            Err(e) => vec![(t.image.clone(), Err(format!("cannot read: {e}")), 0.0)],
        };
        let mut pred = Vec::new();
        for (name, r, ms) in results {
            lat.push(ms);
            match r {
                Ok(x) => pred.extend(x.entries.into_iter().map(|f| canonical_day(f.record))),
                Err(reason) => failures.push(Failure {
                    image: name,
                    reason,
                }),
            }
        }
        let want: Vec<Record> = t.entries.iter().cloned().map(canonical_day).collect();
        predicted += pred.len();
        truth_n += want.len();
        exact += extract::score_image(&pred, &want, &mut score);
        reporter.advance(1);
    }
    reporter.end();
    lat.sort_by(f64::total_cmp);
    let (p, r, f1) = crate::ml::doc::record::prf(exact, predicted, truth_n);
    Ok(FolderEval {
        models: pair.label(),
        dir: dir.display().to_string(),
        images: truth.len(),
        failed: failures.len(),
        entries: truth_n,
        entry_precision: p,
        entry_recall: r,
        entry_f1: f1,
        field_f1: score.field_f1(),
        fields: score.per_field(),
        failures,
        latency_p50_ms: percentile(&lat, 0.5),
        latency_p95_ms: percentile(&lat, 0.95),
    })
}

#[derive(Debug, Serialize)]
pub struct DocEval {
    pub model: String,
    pub model_hash: Hash,
    pub dataset: String,
    pub split: String,
    pub records: usize,
    pub noise: f64,
    pub field_f1: f64,
    pub exact: f64,
    pub invalid: f64,
    pub fields: Vec<FieldMetrics>,
    pub cells_per_s: f64,
    pub params: usize,
}

impl DocEval {
    pub fn text(&self) -> String {
        format!(
            "{} on {} ({}, {} cells, OCR noise up to {:.0}% of characters)\n  field F1 {:.4}   \
             exact records {:.4}   unreadable answers {:.4}   {:.0} cells/s\n{}",
            self.model,
            self.dataset,
            self.split,
            self.records,
            self.noise * 100.0,
            self.field_f1,
            self.exact,
            self.invalid,
            self.cells_per_s,
            fields_table(&self.fields)
        )
    }
}

/// The document model alone on a split's cells, their text noised like OCR output at up to
/// `noise` (a fixed seeded draw).
pub fn eval_doc(
    lab: &Lab,
    model: &str,
    on: &On,
    noise: f64,
    reporter: &dyn Reporter,
) -> Result<DocEval> {
    if !(0.0..=0.5).contains(&noise) {
        bail!("--noise must be in [0, 0.5], not {noise}");
    }
    let snap = crate::commands::eval::snapshot_of(lab, on)?;
    let m = load_doc_model(lab, model)?;
    let mut ex: Vec<Example> = snap
        .timetables(lab, on.split)?
        .iter()
        .flat_map(|t| t.entries.iter().map(Example::of))
        .collect();
    if ex.is_empty() {
        bail!(
            "snapshot {} has no entries in split `{}`",
            snap.label,
            on.split
        );
    }
    if on.limit > 0 {
        ex.truncate(on.limit);
    }
    reporter.status(&format!("evaluating {} on {} cells", m.name, ex.len()));
    let t = Instant::now();
    let ev = evaluate(&m.loaded.model, &m.loaded.tok, &ex, noise, 0, 64)?;
    let secs = t.elapsed().as_secs_f64();
    let out = DocEval {
        model: m.name.clone(),
        model_hash: m.hash,
        dataset: snap.label.clone(),
        split: on.split.to_string(),
        records: ev.score.records,
        noise,
        field_f1: ev.score.field_f1(),
        exact: ev.score.exact_match(),
        invalid: ev.score.invalid as f64 / ev.score.records.max(1) as f64,
        fields: ev.score.per_field(),
        cells_per_s: ex.len() as f64 / secs.max(1e-9),
        params: m.loaded.params,
    };
    let mut values = vec![
        ("field_f1".to_string(), out.field_f1),
        ("exact".to_string(), out.exact),
        ("invalid".to_string(), out.invalid),
        ("noise".to_string(), noise),
        ("cells_per_s".to_string(), out.cells_per_s),
        ("cells".to_string(), ex.len() as f64),
    ];
    values.extend(out.fields.iter().map(|f| (format!("{}.f1", f.field), f.f1)));
    record_eval(lab, out.model.clone(), m.hash, &snap, on.split, values)?;
    Ok(out)
}
