//! What the server serves: the plan (which model versions, read from the deployments and A/B
//! views, cheap to recompute every second) and the loaded models it turns into.
//!
//! A plan names versions only; [`Served`] holds the loaded models. When the plan read from the
//! log changes (`lab deploy …`, `lab ab start|stop` in another process), the server loads the
//! new models off the request path and swaps them in; models already loaded are reused.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Result, anyhow, bail};
use image::GrayImage;

use crate::ab::{self, Arm};
use crate::deploy::Task;
use crate::event::Hash;
use crate::lab::Lab;
use crate::ml::doc::llama::Llama;
use crate::ml::doc::tok::Tok;
use crate::ml::lines;
use crate::ml::ocr::Ocr;
use crate::ml::ocr::read::read_with_confidence;
use crate::ml::vocab::Vocab;
use crate::models;
use crate::store::Store;
use crate::store::views::Query;

/// A running A/B test on /v1/ocr, as planned.
#[derive(Clone, Debug, PartialEq)]
pub struct AbPlan {
    pub name: String,
    pub seed: u64,
    pub split: f64,
    pub a: String,
    pub b: String,
}

/// Which versions to serve: `NAME@N` labels (or `ocr_tesseract` for an A/B arm).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub ocr: Option<String>,
    pub doc: Option<String>,
    pub ab: Option<AbPlan>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.ocr.is_none() && self.doc.is_none() && self.ab.is_none()
    }
}

/// Reads plans from the views; remembers bundle kinds (a bundle never changes).
pub struct Planner {
    pub env: String,
    /// `--ocr` / `--model`: fixed versions that override the deployments.
    pub ocr_override: Option<String>,
    pub doc_override: Option<String>,
    kinds: HashMap<Hash, String>,
}

impl Planner {
    pub fn new(env: &str, ocr: Option<String>, doc: Option<String>) -> Planner {
        Planner {
            env: env.to_string(),
            ocr_override: ocr,
            doc_override: doc,
            kinds: HashMap::new(),
        }
    }

    fn kind(&mut self, store: &Store, hash: Hash) -> Result<String> {
        if let Some(k) = self.kinds.get(&hash) {
            return Ok(k.clone());
        }
        let k = models::bundle(&store.blobs, &hash)?.kind;
        self.kinds.insert(hash, k.clone());
        Ok(k)
    }

    /// What should be served now.
    pub fn plan(&mut self, store: &Store) -> Result<Plan> {
        let (reg, deps, tests) =
            store.read_views(|v| Ok((v.registry()?, v.deployments()?, v.ab_tests()?)))?;
        let mut plan = Plan {
            ocr: self.ocr_override.clone(),
            doc: self.doc_override.clone(),
            ab: None,
        };
        // What `lab deploy status` shows for the environment: one model per task.
        let deps: Vec<_> = deps.into_iter().filter(|d| d.env == self.env).collect();
        for s in models::serving_rows(&reg, &deps, |h| self.kind(store, *h))? {
            let slot = match s.task {
                Task::Ocr => &mut plan.ocr,
                Task::Doc => &mut plan.doc,
                Task::Other => continue,
            };
            if slot.is_none() {
                *slot = Some(s.label());
            }
        }
        for t in tests.into_iter().filter(|t| t.running()) {
            let arm_is_ocr = |s: &mut Self, label: &str| -> Result<bool> {
                if label == ab::TESSERACT {
                    return Ok(true);
                }
                let (name, version) = crate::store::registry::split_label(label)
                    .ok_or_else(|| anyhow!("A/B test {}: bad arm {label}", t.name))?;
                match reg.iter().find(|r| r.name == name && r.version == version) {
                    Some(r) => Ok(s.kind(store, r.model)?.starts_with("ocr")),
                    None => Ok(false),
                }
            };
            if arm_is_ocr(self, &t.a)? && arm_is_ocr(self, &t.b)? {
                plan.ab = Some(AbPlan {
                    name: t.name.clone(),
                    seed: t.seed,
                    split: t.split,
                    a: t.a.clone(),
                    b: t.b.clone(),
                });
                break;
            }
        }
        Ok(plan)
    }
}

/// How an OCR slot reads a line.
pub enum OcrEngine {
    Model {
        model: Ocr,
        vocab: Vocab,
    },
    /// The `tesseract` binary (`--psm 7`: one text line), an A/B baseline.
    Tesseract {
        bin: PathBuf,
        tmp: PathBuf,
    },
}

/// A loaded OCR model.
pub struct OcrSlot {
    pub name: String,
    pub version: u32,
    pub engine: OcrEngine,
}

static TESS_FILES: AtomicU64 = AtomicU64::new(0);

impl OcrSlot {
    /// `NAME@N`.
    pub fn label(&self) -> String {
        if matches!(self.engine, OcrEngine::Tesseract { .. }) {
            return self.name.clone();
        }
        format!("{}@{}", self.name, self.version)
    }

    /// Reads one line image: text and confidence (see `ml::ocr::read::decode_with_confidence`;
    /// tesseract gives none). `bytes` is the encoded upload (what tesseract reads).
    pub fn read(&self, grey: &GrayImage, bytes: &[u8]) -> Result<(String, Option<f64>)> {
        match &self.engine {
            OcrEngine::Model { model, vocab } => {
                let line = lines::prepare(grey, model.config.height);
                Ok(read_with_confidence(model, vocab, &[&line])?.remove(0))
            }
            OcrEngine::Tesseract { bin, tmp } => {
                let n = TESS_FILES.fetch_add(1, Ordering::Relaxed);
                let p = tmp.join(format!("line-{n}.img"));
                std::fs::write(&p, bytes)?;
                let o = std::process::Command::new(bin)
                    .arg(&p)
                    .arg("stdout")
                    .args(["--psm", "7", "-l", "eng"])
                    .stderr(std::process::Stdio::null())
                    .output();
                let _ = std::fs::remove_file(&p);
                let o = o.map_err(|e| anyhow!("cannot run {}: {e}", bin.display()))?;
                if !o.status.success() {
                    bail!("tesseract failed ({})", o.status);
                }
                Ok((String::from_utf8_lossy(&o.stdout).trim().to_string(), None))
            }
        }
    }
}

/// A loaded document model.
pub struct DocSlot {
    pub name: String,
    pub version: u32,
    pub model: Llama,
    pub tok: Tok,
}

/// Loads models by label (implemented by the `lab serve` verb over the blob store).
pub trait Loader: Send + Sync {
    fn ocr(&self, lab: &Lab, label: &str) -> Result<OcrSlot>;
    fn doc(&self, lab: &Lab, label: &str) -> Result<DocSlot>;
    /// Called by the recorder after each batch of inferences is in the log (on a blocking
    /// thread, outside any transaction): the place for drift and alert rules. Default: nothing.
    fn after_flush(&self, _lab: &Lab) {}
    /// The monitoring window's figures for `/metrics` (on a blocking thread). Default: none.
    fn window_gauges(&self, _lab: &Lab) -> super::metrics::WindowGauges {
        super::metrics::WindowGauges::default()
    }
}

/// A running A/B test with its two loaded arms.
pub struct AbRoute {
    pub plan: AbPlan,
    pub a: Arc<OcrSlot>,
    pub b: Arc<OcrSlot>,
}

impl AbRoute {
    /// The arm and model for a request key.
    pub fn pick(&self, key: &str) -> (Arm, &Arc<OcrSlot>) {
        match ab::route(self.plan.seed, &self.plan.name, self.plan.split, key) {
            Arm::A => (Arm::A, &self.a),
            Arm::B => (Arm::B, &self.b),
        }
    }
}

/// The loaded models of one plan.
#[derive(Default)]
pub struct Served {
    pub plan: Plan,
    pub ocr: Option<Arc<OcrSlot>>,
    pub doc: Option<Arc<DocSlot>>,
    pub ab: Option<AbRoute>,
}

impl Served {
    /// Loads `plan`, reusing the models of `old` where the label is the same.
    pub fn load(
        lab: &Lab,
        plan: Plan,
        old: Option<&Served>,
        loader: &dyn Loader,
    ) -> Result<Served> {
        let mut ocr_pool: Vec<Arc<OcrSlot>> = Vec::new();
        let mut doc_pool: Vec<Arc<DocSlot>> = Vec::new();
        if let Some(o) = old {
            ocr_pool.extend(o.ocr.iter().cloned());
            if let Some(r) = &o.ab {
                ocr_pool.push(r.a.clone());
                ocr_pool.push(r.b.clone());
            }
            doc_pool.extend(o.doc.iter().cloned());
        }
        let mut ocr = |label: &str| -> Result<Arc<OcrSlot>> {
            if let Some(s) = ocr_pool.iter().find(|s| s.label() == label) {
                return Ok(s.clone());
            }
            let s = Arc::new(loader.ocr(lab, label)?);
            ocr_pool.push(s.clone());
            Ok(s)
        };
        let ocr_slot = plan.ocr.as_deref().map(&mut ocr).transpose()?;
        let ab = match &plan.ab {
            Some(p) => Some(AbRoute {
                plan: p.clone(),
                a: ocr(&p.a)?,
                b: ocr(&p.b)?,
            }),
            None => None,
        };
        let doc = match plan.doc.as_deref() {
            Some(l) => Some(
                match doc_pool
                    .iter()
                    .find(|d| format!("{}@{}", d.name, d.version) == l)
                {
                    Some(d) => d.clone(),
                    None => Arc::new(loader.doc(lab, l)?),
                },
            ),
            None => None,
        };
        Ok(Served {
            plan,
            ocr: ocr_slot,
            doc,
            ab,
        })
    }

    /// One line per served model, for the log on stderr.
    pub fn describe(&self) -> String {
        let mut s = Vec::new();
        if let Some(o) = &self.ocr {
            s.push(format!("/v1/ocr: {}", o.label()));
        }
        if let (Some(d), Some(o)) = (&self.doc, &self.ocr) {
            s.push(format!(
                "/v1/extract: {} + {}@{}",
                o.label(),
                d.name,
                d.version
            ));
        }
        if let Some(r) = &self.ab {
            s.push(format!(
                "A/B test {}: a = {}, b = {} ({:.0}% to b)",
                r.plan.name,
                r.a.label(),
                r.b.label(),
                r.plan.split * 100.0
            ));
        }
        if s.is_empty() {
            "nothing".into()
        } else {
            s.join("; ")
        }
    }
}
