//! What `lab pipeline` prints: one row per stage, then the evaluations that ran.

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
            s.push_str(&format!(
                "\n{:<18} {:<24} {:>9} {:>9} {:>8} {:>8} {:>9}\n",
                "MODEL", "DATA", "PARAMS", "ACCURACY", "CER", "P50_MS", "LINES/S"
            ));
            for e in &self.evals {
                s.push_str(&format!(
                    "{:<18} {:<24} {:>9} {:>9.4} {:>8.4} {:>8.2} {:>9.0}\n",
                    e.model,
                    format!("{}:{}", e.dataset, e.split),
                    e.params.map_or("-".into(), |p| p.to_string()),
                    e.accuracy,
                    e.cer,
                    e.latency_p50_ms,
                    e.lines_per_s
                ));
            }
        }
        if !self.doc_evals.is_empty() {
            s.push_str(&format!(
                "\n{:<18} {:<24} {:>9} {:>9} {:>8} {:>8} {:>9}\n",
                "DOC MODEL",
                "DATA (OCR NOISE)",
                "PARAMS",
                "FIELD_F1",
                "EXACT",
                "INVALID",
                "CELLS/S"
            ));
            for e in &self.doc_evals {
                s.push_str(&format!(
                    "{:<18} {:<24} {:>9} {:>9.4} {:>8.4} {:>8.4} {:>9.0}\n",
                    e.model,
                    format!("{}:{} ({:.0}%)", e.dataset, e.split, e.noise * 100.0),
                    e.params,
                    e.field_f1,
                    e.exact,
                    e.invalid,
                    e.cells_per_s
                ));
            }
        }
        if !self.extract_evals.is_empty() {
            s.push_str(&format!(
                "\n{:<32} {:<26} {:>8} {:>8} {:>9} {:>7} {:>7}\n",
                "EXTRACTION (OCR + DOC)",
                "DATA",
                "ENTRY_F1",
                "FIELD_F1",
                "FAILED",
                "P50_MS",
                "P95_MS"
            ));
            for e in &self.extract_evals {
                s.push_str(&format!(
                    "{:<32} {:<26} {:>8.4} {:>8.4} {:>9} {:>7.0} {:>7.0}\n",
                    e.models,
                    format!("{}:{}", e.dataset, e.split),
                    e.entry_f1,
                    e.field_f1,
                    format!("{}/{}", e.failed, e.images),
                    e.latency_p50_ms,
                    e.latency_p95_ms
                ));
            }
        }
        let ran = self.steps.iter().filter(|s| s.status == "ran").count();
        let cached = self.steps.iter().filter(|s| s.status == "cached").count();
        s.push_str(&format!("{ran} ran, {cached} cached — "));
        s.push_str(if self.ok { "ok" } else { "FAILED" });
        s
    }
}
