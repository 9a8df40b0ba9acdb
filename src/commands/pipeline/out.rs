//! What `lab pipeline` prints: one row per stage, then the evaluations that ran.

use crate::table::Table;
use serde::Serialize;

/// One stage (or `init`) of a pipeline run.
#[derive(Debug, Serialize)]
pub struct Step {
    pub name: String,
    pub seconds: f64,
    /// `ran`, `cached`, `planned` (would run), `pending` (runs if an upstream stage changes
    /// its output) or `skipped` (not selected).
    pub status: String,
    pub result: String,
}

#[derive(Debug, Serialize)]
pub struct PipelineOut {
    pub root: String,
    /// `--plan`: nothing ran.
    pub plan: bool,
    pub steps: Vec<Step>,
    /// The evaluations, one row per (model, split).
    pub evals: Vec<crate::commands::eval::EvalOut>,
    /// The document models on OCR-noised cells.
    pub doc_evals: Vec<crate::commands::extract::DocEval>,
    /// Extraction end to end from images.
    pub extract_evals: Vec<crate::commands::extract::ExtractEval>,
    pub ok: bool,
}

impl PipelineOut {
    pub fn text(&self) -> String {
        let mut s = format!(
            "pipeline in {}{}\n",
            self.root,
            if self.plan {
                " (plan: nothing runs)"
            } else {
                ""
            }
        );
        s.push_str(&format!("{:<20} {:>8}  {}\n", "STAGE", "TIME", "RESULT"));
        for st in &self.steps {
            let result = st
                .result
                .replace('\n', &format!("\n{:<20} {:>8}  ", "", ""));
            s.push_str(&format!("{:<20} {:>7.2}s  {result}\n", st.name, st.seconds));
        }
        if !self.evals.is_empty() {
            let mut t = Table::new([
                "MODEL", "DATA", "PARAMS", "ACCURACY", "CER", "P50_MS", "LINES/S",
            ])
            .right(&[2, 3, 4, 5, 6]);
            for e in &self.evals {
                t.row([
                    e.model.to_string(),
                    format!("{}:{}", e.dataset, e.split),
                    e.params.map_or("-".into(), |p| p.to_string()),
                    format!("{:.4}", e.accuracy),
                    format!("{:.4}", e.cer),
                    format!("{:.2}", e.latency_p50_ms),
                    format!("{:.0}", e.lines_per_s),
                ]);
            }
            s.push_str(&format!("\n{t}\n"));
        }
        if !self.doc_evals.is_empty() {
            let mut t = Table::new([
                "DOC MODEL",
                "DATA (OCR NOISE)",
                "PARAMS",
                "FIELD_F1",
                "EXACT",
                "INVALID",
                "CELLS/S",
            ])
            .right(&[2, 3, 4, 5, 6]);
            for e in &self.doc_evals {
                t.row([
                    e.model.to_string(),
                    format!("{}:{} ({:.0}%)", e.dataset, e.split, e.noise * 100.0),
                    e.params.to_string(),
                    format!("{:.4}", e.field_f1),
                    format!("{:.4}", e.exact),
                    format!("{:.4}", e.invalid),
                    format!("{:.0}", e.cells_per_s),
                ]);
            }
            s.push_str(&format!("\n{t}\n"));
        }
        if !self.extract_evals.is_empty() {
            let mut t = Table::new([
                "EXTRACTION (OCR + DOC)",
                "DATA",
                "ENTRY_F1",
                "FIELD_F1",
                "FAILED",
                "P50_MS",
                "P95_MS",
            ])
            .right(&[2, 3, 4, 5, 6]);
            for e in &self.extract_evals {
                t.row([
                    e.models.to_string(),
                    format!("{}:{}", e.dataset, e.split),
                    format!("{:.4}", e.entry_f1),
                    format!("{:.4}", e.field_f1),
                    format!("{}/{}", e.failed, e.images),
                    format!("{:.0}", e.latency_p50_ms),
                    format!("{:.0}", e.latency_p95_ms),
                ]);
            }
            s.push_str(&format!("\n{t}\n"));
        }
        let ran = self.steps.iter().filter(|s| s.status == "ran").count();
        let cached = self.steps.iter().filter(|s| s.status == "cached").count();
        s.push_str(&format!("{ran} ran, {cached} cached — "));
        s.push_str(if self.ok { "ok" } else { "FAILED" });
        s
    }
}
