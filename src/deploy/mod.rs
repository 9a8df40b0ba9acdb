//! Deployment gates: `configs/deploy.toml` (parsed strictly: a wrong type or an unknown key is
//! `file:line:col` with the key named) and the pure check of measured metrics against it.
//! `commands::deploy` measures and records; this module only decides.
//!
//! Gates are per task: `[ocr]` for OCR models (per line), `[doc]` for document models (per
//! cell), `[extraction]` for the pair end to end (per page; checked whenever an OCR or a
//! document model is deployed, with the other model the environment serves), `[other]` for any
//! other registered model (on the metrics its run recorded). The gates of the first shape of the
//! file (top-level `max_regression` and `[[gate]]`) are the `[ocr]` section.

use serde::{Deserialize, Serialize};

use crate::event::GateResult;

mod config;
pub use config::{
    DeployConfig, EXTRACTION_METRICS, ExtractionGates, Gate, Gates, Op, Validation, known_metrics,
};

/// The embedded default, written into `configs/` by `lab init`.
pub const DEFAULT: &str = include_str!("../../configs/deploy.toml");
pub const FILE: &str = "deploy.toml";

/// What a deployed model does: one model serves each task in an environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Reads text lines (a bundle kind `ocr…`).
    Ocr,
    /// Cell text + headers → entries (a bundle kind `doc…`).
    Doc,
    /// Any other registered model (opaque files, a Hugging Face layout lab does not serve).
    Other,
}

impl Task {
    /// The task of a bundle kind.
    pub fn of_kind(kind: &str) -> Task {
        if kind.starts_with("ocr") {
            Task::Ocr
        } else if kind.starts_with("doc") {
            Task::Doc
        } else {
            Task::Other
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Task::Ocr => "ocr",
            Task::Doc => "doc",
            Task::Other => "other",
        }
    }

    /// `OCR`, `document`, `other` — for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Task::Ocr => "OCR",
            Task::Doc => "document",
            Task::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Task> {
        match s {
            "ocr" => Some(Task::Ocr),
            "doc" | "document" => Some(Task::Doc),
            "other" => Some(Task::Other),
            _ => None,
        }
    }
}

/// The table of gate / value / threshold / pass.
pub fn table(gates: &[GateResult]) -> String {
    let mut t = crate::table::Table::new(["GATE", "METRIC", "VALUE", "OP", "THRESHOLD", "PASS"])
        .right(&[2, 3, 4]);
    for g in gates {
        t.row([
            g.name.to_string(),
            g.metric.to_string(),
            g.value.map_or("not measured".into(), |v| format!("{v:.4}")),
            g.op.to_string(),
            format!("{:.4}", g.threshold),
            (if g.passed { "yes" } else { "NO" }).to_string(),
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests;
