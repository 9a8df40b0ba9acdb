//! `lab monitor track`: line images read with an OCR model (the one deployed in an
//! environment by default) one by one, like served requests, each recorded as an
//! `InferenceRecord` of the same shape `lab serve` records — input features, latency, the
//! model's confidence — then [`super::check`]. Monitors offline batches without a server.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use serde::Serialize;

use super::{CheckOut, Family, check, family_of, now_ms};
use crate::commands::extract::image_files;
use crate::commands::train::load_model;
use crate::event::{Event, FeedbackRecord, InferenceRecord};
use crate::lab::Lab;
use crate::ml::lines;
use crate::ml::ocr::read::read_with_confidence;
use crate::monitor::stats;
use crate::progress::Reporter;
use crate::store::views::Query;

/// Records per `InferencesRecorded` event.
const BATCH: usize = 256;

#[derive(Debug, Serialize)]
pub struct TrackOut {
    /// `NAME@N`.
    pub model: String,
    pub images: usize,
    pub recorded: usize,
    /// (path, why) of the images that could not be read.
    pub failed: Vec<(String, String)>,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub mean_confidence: Option<f64>,
    /// Lines whose truth a `labels.jsonl` beside them gave, and how many were read exactly
    /// (recorded as feedback, so the accuracy rules see them).
    pub labelled: usize,
    pub correct: usize,
    pub check: CheckOut,
}

impl TrackOut {
    pub fn text(&self) -> String {
        let mut s = format!(
            "recorded {} inferences of {} ({} images{}): latency p50 {:.2} ms, p95 {:.2} ms; mean confidence {}\n",
            self.recorded,
            self.model,
            self.images,
            if self.failed.is_empty() {
                String::new()
            } else {
                format!(", {} failed", self.failed.len())
            },
            self.latency_p50_ms,
            self.latency_p95_ms,
            self.mean_confidence
                .map_or("-".into(), |c| format!("{c:.3}"))
        );
        if self.labelled > 0 {
            s.push_str(&format!(
                "accuracy {:.4} on the {} images labels.jsonl gives the truth of (recorded as feedback)\n",
                self.correct as f64 / self.labelled as f64,
                self.labelled
            ));
        }
        for (p, why) in &self.failed {
            s.push_str(&format!("{p}: {why}\n"));
        }
        s.push('\n');
        s.push_str(&self.check.text());
        s
    }
}

/// The OCR model deployed in `env` (the most recently deployed, when several are).
fn deployed_ocr(lab: &Lab, env: &str) -> Result<String> {
    let (deps, registry) = lab
        .store
        .read_views(|v| Ok((v.deployments()?, v.registry()?)))?;
    let mut deps: Vec<_> = deps.into_iter().filter(|d| d.env == env).collect();
    deps.sort_by_key(|d| std::cmp::Reverse(d.seq));
    for d in &deps {
        if family_of(lab, &registry, &d.model, d.version)? == Some(Family::Ocr) {
            return Ok(format!("{}@{}", d.model, d.version));
        }
    }
    bail!(
        "no OCR model is deployed in {env} — deploy one (lab deploy NAME@V --env {env}) or name one with --model NAME@V"
    )
}

/// Reads every image of `inputs` (files, or directories walked for PNG and JPEG) with `model`
/// (default: the OCR model deployed in `env`), records each as a served inference, then runs
/// the monitoring check.
pub fn track(
    lab: &Lab,
    inputs: &[PathBuf],
    model: Option<&str>,
    env: &str,
    reporter: &dyn Reporter,
) -> Result<TrackOut> {
    let files = image_files(inputs)?;
    if files.is_empty() {
        bail!("no images given");
    }
    let reference = match model {
        Some(m) => m.to_string(),
        None => deployed_ocr(lab, env)?,
    };
    let m = load_model(lab, &reference)?;
    let (name, version) = crate::store::registry::split_label(&m.name)
        .map(|(n, v)| (n.to_string(), v))
        .ok_or_else(|| anyhow!("model {} has no registry version", m.name))?;
    let height = m.loaded.model.config.height;
    let truths = truths_beside(inputs)?;
    let mut feedback = Vec::new();
    let start_ms = now_ms()?;
    let mut records = Vec::with_capacity(files.len());
    let mut failed = Vec::new();
    reporter.begin("tracking", files.len() as u64, false);
    for (i, path) in files.iter().enumerate() {
        let shown = lab.project.display_path(path);
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                failed.push((shown, e.to_string()));
                continue;
            }
        };
        // Timed like a request: decode, preprocess, read.
        let t = Instant::now();
        let (grey, features) = match crate::monitor::features_of_encoded(&bytes) {
            Ok(x) => x,
            Err(e) => {
                failed.push((shown, format!("not a readable PNG or JPEG image ({e})")));
                continue;
            }
        };
        let line = lines::prepare(&grey, height);
        let (text, confidence) = read_with_confidence(&m.loaded.model, &m.loaded.vocab, &[&line])?
            .pop()
            .unwrap_or_default();
        let latency_us = t.elapsed().as_micros() as u64;
        let request_id = format!("track-{start_ms}-{i}");
        if let Some(truth) = truths.get(&std::path::absolute(path).unwrap_or(path.clone())) {
            feedback.push(FeedbackRecord {
                request_id: request_id.clone(),
                model: name.clone(),
                version,
                arm: None,
                time_ms: now_ms()?,
                correct: text
                    .chars()
                    .map(crate::ml::textmetrics::fold)
                    .eq(truth.chars().map(crate::ml::textmetrics::fold)),
                prediction: text.clone(),
                truth: truth.clone(),
            });
        }
        records.push(InferenceRecord {
            request_id,
            model: name.clone(),
            version,
            arm: None,
            time_ms: now_ms()?,
            latency_us,
            features,
            confidence,
        });
        reporter.advance(1);
    }
    reporter.end();
    if records.is_empty() {
        bail!(
            "none of the {} images could be read: {}",
            files.len(),
            failed
                .first()
                .map(|(p, e)| format!("{p}: {e}"))
                .unwrap_or_default()
        );
    }
    let lat: Vec<f64> = records.iter().map(|r| r.latency_us as f64 / 1e3).collect();
    let conf: Vec<f64> = records.iter().filter_map(|r| r.confidence).collect();
    let recorded = records.len();
    let (labelled, correct) = (
        feedback.len(),
        feedback.iter().filter(|f| f.correct).count(),
    );
    let mut events: Vec<Event> = records
        .chunks(BATCH)
        .map(|c| Event::InferencesRecorded {
            records: c.to_vec(),
        })
        .collect();
    events.extend(feedback.chunks(BATCH).map(|c| Event::FeedbackRecorded {
        records: c.to_vec(),
    }));
    lab.append(events)?;
    let check = check(lab, now_ms()?)?;
    Ok(TrackOut {
        model: m.name.clone(),
        images: files.len(),
        recorded,
        failed,
        latency_p50_ms: stats::percentile(&lat, 0.5),
        latency_p95_ms: stats::percentile(&lat, 0.95),
        mean_confidence: (!conf.is_empty()).then(|| conf.iter().sum::<f64>() / conf.len() as f64),
        labelled,
        correct,
        check,
    })
}

/// The truth of the images under each folder of `inputs` that holds a `labels.jsonl` (the
/// format `lab data import lines` reads and `lab ocr --json` writes: `{"image", "text"}` per
/// line), by absolute image path. A malformed line is an error naming the file and line.
fn truths_beside(inputs: &[PathBuf]) -> Result<std::collections::HashMap<PathBuf, String>> {
    #[derive(serde::Deserialize)]
    struct Label {
        image: String,
        text: String,
    }
    let mut out = std::collections::HashMap::new();
    for dir in inputs.iter().filter(|p| p.is_dir()) {
        let file = dir.join("labels.jsonl");
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let l: Label = serde_json::from_str(line).map_err(|e| {
                anyhow!(
                    "{}:{}: not a label ({e}) — expected {{\"image\": \"a.png\", \"text\": \"…\"}}",
                    file.display(),
                    i + 1
                )
            })?;
            let p = dir.join(&l.image);
            out.insert(std::path::absolute(&p).unwrap_or(p), l.text);
        }
    }
    Ok(out)
}
