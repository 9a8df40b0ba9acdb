//! `configs/deploy.toml` as typed sections: the per-task gates and the validation snapshot.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Task;
use crate::event::GateResult;
use crate::project::ProjectError;

/// A comparison of a gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }

    /// Whether `value OP threshold` holds (never for NaN).
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Gt => value > threshold,
            Op::Ge => value >= threshold,
            Op::Lt => value < threshold,
            Op::Le => value <= threshold,
        }
    }
}

/// One `[[gate]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// Shown in tables and recorded (default: the metric).
    #[serde(default)]
    pub name: Option<String>,
    pub metric: String,
    pub op: Op,
    pub threshold: f64,
}

/// `[validation]`: what the candidate is measured on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Validation {
    /// A snapshot `NAME` or `NAME@N` (default: lab.toml's data.default).
    pub dataset: Option<String>,
    pub split: String,
    /// At most this many lines / cells (0 = all).
    pub limit: usize,
    /// Document models: the OCR noise injected into cell text.
    pub noise: f64,
}

impl Default for Validation {
    fn default() -> Self {
        Validation {
            dataset: None,
            split: "val".into(),
            limit: 0,
            noise: 0.1,
        }
    }
}

/// The gates of one task: `[ocr]`, `[doc]`, `[other]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gates {
    /// Not worse than the version the environment serves for the task by more than this
    /// (absolute, on `regression_metric`).
    #[serde(default)]
    pub max_regression: Option<f64>,
    /// Default: `accuracy` (OCR), `field_f1` (document models).
    #[serde(default)]
    pub regression_metric: Option<String>,
    #[serde(default, rename = "gate")]
    pub gates: Vec<Gate>,
}

/// `[extraction]`: the OCR + document pair end to end on whole timetable images.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractionGates {
    /// At most this many images of the validation split (0 = all).
    #[serde(default)]
    pub limit: usize,
    #[serde(default, rename = "gate")]
    pub gates: Vec<Gate>,
}

/// The file as written (the first shape's top-level keys beside the per-task sections).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    max_regression: Option<f64>,
    #[serde(default)]
    regression_metric: Option<String>,
    #[serde(default)]
    validation: Validation,
    #[serde(default, rename = "gate")]
    gates: Vec<Gate>,
    #[serde(default)]
    ocr: Option<Gates>,
    #[serde(default)]
    doc: Option<Gates>,
    #[serde(default)]
    extraction: Option<ExtractionGates>,
    #[serde(default)]
    other: Option<Gates>,
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeployConfig {
    pub validation: Validation,
    pub ocr: Option<Gates>,
    pub doc: Option<Gates>,
    pub extraction: Option<ExtractionGates>,
    pub other: Option<Gates>,
}

/// The metrics a task's validation measures; `None` for [`Task::Other`] (any metric its run
/// recorded).
pub fn known_metrics(task: Task) -> Option<Vec<String>> {
    let common = ["accuracy", "latency"];
    let own: &[&str] = match task {
        Task::Doc => &["field_f1", "exact", "invalid", "cells_per_s"],
        Task::Ocr => &[
            "cer",
            "char_f1",
            "latency_p50_ms",
            "latency_p95_ms",
            "lines_per_s",
        ],
        Task::Other => return None,
    };
    let mut v: Vec<String> = common.iter().chain(own).map(|s| s.to_string()).collect();
    if task == Task::Doc {
        v.extend(
            crate::ml::doc::record::FIELDS
                .iter()
                .map(|f| format!("{f}.f1")),
        );
    }
    Some(v)
}

/// What `[extraction]` gates can name.
pub const EXTRACTION_METRICS: &[&str] = &[
    "entry_f1",
    "entry_precision",
    "entry_recall",
    "field_f1",
    "failed",
    "invalid",
    "latency_per_page",
    "latency_p50_ms",
    "latency_p95_ms",
];

/// Metrics where lower is better (for the regression gate's direction).
fn lower_is_better(metric: &str) -> bool {
    metric.starts_with("latency") || matches!(metric, "cer" | "invalid" | "failed" | "loss")
}

impl DeployConfig {
    /// Parses `text` (from `path`, for messages) and checks values the types cannot.
    pub fn parse(path: &Path, text: &str) -> Result<DeployConfig, ProjectError> {
        let r: Raw = crate::project::parse_toml(path, text)?;
        let bad = |message: String| ProjectError::Config {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message,
        };
        let legacy = !r.gates.is_empty() || r.max_regression.is_some();
        if legacy && r.ocr.is_some() {
            return Err(bad(
                "has both top-level gates (the first shape of this file, meaning OCR) and an \
                 [ocr] section — move the top-level `max_regression` and [[gate]] into [ocr] \
                 as `max_regression` and [[ocr.gate]]"
                    .into(),
            ));
        }
        let ocr = if legacy {
            Some(Gates {
                max_regression: r.max_regression,
                regression_metric: r.regression_metric.clone(),
                gates: r.gates,
            })
        } else {
            if r.regression_metric.is_some() {
                return Err(bad(
                    "key `regression_metric` belongs in a task's section ([ocr], [doc] or \
                     [other]) beside its `max_regression`"
                        .into(),
                ));
            }
            r.ocr
        };
        let c = DeployConfig {
            validation: r.validation,
            ocr,
            doc: r.doc,
            extraction: r.extraction,
            other: r.other,
        };
        let sections = [
            ("", c.ocr.as_ref()),
            ("doc.", c.doc.as_ref()),
            ("other.", c.other.as_ref()),
        ];
        let any = sections
            .iter()
            .any(|(_, g)| g.is_some_and(|g| !g.gates.is_empty() || g.max_regression.is_some()))
            || c.extraction.as_ref().is_some_and(|e| !e.gates.is_empty());
        if !any {
            return Err(bad(
                "names no gate, so a deployment would go out unchecked — add one, e.g. \
                 [[ocr.gate]] metric = \"accuracy\" op = \">\" threshold = 0.90 (or delete the \
                 file: lab deploy writes the default gates back)"
                    .into(),
            ));
        }
        let all_gates = c
            .ocr
            .iter()
            .chain(&c.doc)
            .chain(&c.other)
            .flat_map(|g| &g.gates)
            .chain(c.extraction.iter().flat_map(|e| &e.gates));
        for g in all_gates {
            if !g.threshold.is_finite() {
                return Err(bad(format!(
                    "gate `{}`: threshold must be finite",
                    g.metric
                )));
            }
        }
        for (prefix, g) in sections {
            if let Some(r) = g.and_then(|g| g.max_regression) {
                if !(r.is_finite() && r >= 0.0) {
                    return Err(bad(format!(
                        "key `{prefix}max_regression`: must be ≥ 0, not {r}"
                    )));
                }
            }
        }
        if !(0.0..=0.5).contains(&c.validation.noise) {
            return Err(bad(format!(
                "key `validation.noise`: must be in [0, 0.5], not {}",
                c.validation.noise
            )));
        }
        Ok(c)
    }

    /// The gates of a task, if the file has a section for it.
    pub fn task(&self, task: Task) -> Option<&Gates> {
        match task {
            Task::Ocr => self.ocr.as_ref(),
            Task::Doc => self.doc.as_ref(),
            Task::Other => self.other.as_ref(),
        }
        .filter(|g| !g.gates.is_empty() || g.max_regression.is_some())
    }

    /// The `[extraction]` gates, when there are any.
    pub fn extraction_gates(&self) -> Option<&ExtractionGates> {
        self.extraction.as_ref().filter(|e| !e.gates.is_empty())
    }

    /// The section name a task's gates are written under, for messages.
    pub fn section(task: Task) -> &'static str {
        match task {
            Task::Ocr => "[ocr]",
            Task::Doc => "[doc]",
            Task::Other => "[other]",
        }
    }

    fn strip<'a>(&self, m: &'a str) -> &'a str {
        m.strip_prefix(&format!("{}.", self.validation.split))
            .unwrap_or(m)
    }

    /// The first metric named by a task's gates (or its regression gate) or by `[extraction]`
    /// that is not measured, with what is. `other` lists what the model's run recorded (for
    /// [`Task::Other`]).
    pub fn unknown_metric(
        &self,
        task: Task,
        other: &[String],
    ) -> Option<(String, &'static str, Vec<String>)> {
        let known = known_metrics(task).unwrap_or_else(|| other.to_vec());
        if let Some(g) = self.task(task) {
            let mut named: Vec<String> = g
                .gates
                .iter()
                .map(|g| self.strip(&g.metric).into())
                .collect();
            if g.max_regression.is_some() {
                named.push(self.strip(&self.regression_metric(task)).into());
            }
            if let Some(m) = named.into_iter().find(|m| !known.contains(m)) {
                return Some((m, Self::section(task), known));
            }
        }
        if task != Task::Other {
            if let Some(e) = self.extraction_gates() {
                let known: Vec<String> = EXTRACTION_METRICS.iter().map(|s| s.to_string()).collect();
                if let Some(g) = e
                    .gates
                    .iter()
                    .find(|g| !known.iter().any(|k| k == self.strip(&g.metric)))
                {
                    return Some((g.metric.clone(), "[extraction]", known));
                }
            }
        }
        None
    }

    /// The metric the regression gate of a task compares.
    pub fn regression_metric(&self, task: Task) -> String {
        self.task(task)
            .and_then(|g| g.regression_metric.clone())
            .unwrap_or_else(|| match task {
                Task::Doc => "field_f1".into(),
                _ => "accuracy".into(),
            })
    }

    /// The regression metric without a split prefix (the key measurements use).
    pub fn regression_key(&self, task: Task) -> String {
        self.strip(&self.regression_metric(task)).to_string()
    }

    /// Each gate of `task` on `metrics` (keys without the split prefix), and the regression
    /// gate against `baseline` (the served version's value of the regression metric) when
    /// `max_regression` is set and there is a baseline.
    pub fn check(
        &self,
        task: Task,
        metrics: &BTreeMap<String, f64>,
        baseline: Option<f64>,
    ) -> Vec<GateResult> {
        let Some(g) = self.task(task) else {
            return Vec::new();
        };
        let mut out = self.results(&g.gates, metrics);
        if let (Some(max), Some(base)) = (g.max_regression, baseline) {
            let m = self.regression_metric(task);
            let (op, threshold) = if lower_is_better(self.strip(&m)) {
                (Op::Le, base + max)
            } else {
                (Op::Ge, base - max)
            };
            let value = metrics.get(self.strip(&m)).copied();
            out.push(GateResult {
                name: "max_regression".into(),
                metric: m.clone(),
                op: op.as_str().into(),
                threshold,
                value,
                passed: value.is_some_and(|v| op.holds(v, threshold)),
            });
        }
        out
    }

    /// Each `[extraction]` gate on end-to-end metrics; the names are prefixed `extraction.`.
    pub fn check_extraction(&self, metrics: &BTreeMap<String, f64>) -> Vec<GateResult> {
        let Some(e) = self.extraction_gates() else {
            return Vec::new();
        };
        let mut r = self.results(&e.gates, metrics);
        for g in &mut r {
            g.name = format!("extraction.{}", g.name);
        }
        r
    }

    fn results(&self, gates: &[Gate], metrics: &BTreeMap<String, f64>) -> Vec<GateResult> {
        gates
            .iter()
            .map(|g| {
                let value = metrics.get(self.strip(&g.metric)).copied();
                GateResult {
                    name: g.name.clone().unwrap_or_else(|| g.metric.clone()),
                    metric: g.metric.clone(),
                    op: g.op.as_str().into(),
                    threshold: g.threshold,
                    value,
                    passed: value.is_some_and(|v| g.op.holds(v, g.threshold)),
                }
            })
            .collect()
    }
}
