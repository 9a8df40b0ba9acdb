//! `lab report [RUN|MODEL|--all]`: static HTML + PNG reports of runs, model comparisons and
//! replay verdicts under the project's reports folder (see `crate::report`).

use std::path::PathBuf;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::lab::Lab;
use crate::report::{self, Request, RunIn};

/// What `lab report` wrote.
#[derive(Debug, Serialize)]
pub struct ReportOut {
    /// The index page.
    pub index: PathBuf,
    /// How many files were written (pages and charts).
    pub files: usize,
    pub run_pages: usize,
    pub charts: usize,
    pub comparisons: usize,
    pub replays: usize,
    /// What the report covers: `all runs`, or one run.
    pub scope: String,
}

impl ReportOut {
    pub fn text(&self) -> String {
        format!(
            "{}\n{} files written ({} run page{}, {} chart{}, {} comparison{}; {})",
            self.index.display(),
            self.files,
            self.run_pages,
            if self.run_pages == 1 { "" } else { "s" },
            self.charts,
            if self.charts == 1 { "" } else { "s" },
            self.comparisons,
            if self.comparisons == 1 { "" } else { "s" },
            self.scope
        )
    }
}

/// Writes the report of every run (`what` = None), or of one run given by id, id prefix or
/// name (as `lab runs show` takes it), or of the run that made a model (`NAME@N`, `NAME`).
pub fn report(lab: &Lab, what: Option<&str>) -> Result<ReportOut> {
    let all_rows = lab.store.read_views(|v| v.runs_all())?;
    let listed = super::runs::list(lab, None, None, None, &[])?;
    let (keep, scope) = match what {
        None => (None, "all runs".to_string()),
        Some(w) => {
            // `NAME@N` is a model; anything else is tried as a run first.
            let run = if w.contains('@') {
                Err(anyhow::anyhow!("not a run"))
            } else {
                super::runs::find(lab, w)
            };
            match run {
                Ok(r) => {
                    let scope = format!("run {} ({})", &r.id[..r.id.len().min(8)], r.name);
                    (Some(r.id), scope)
                }
                Err(run_err) => match crate::models::resolve_in(&lab.store, w) {
                    Ok(m) => {
                        let Some(run) = m.run else {
                            bail!(
                                "model {} was registered without a run: nothing to report",
                                m.name
                            );
                        };
                        let scope = format!("model {} (run {})", m.name, &run[..run.len().min(8)]);
                        (Some(run), scope)
                    }
                    Err(model_err) if w.contains('@') => bail!("{model_err}"),
                    Err(model_err) => {
                        bail!("`{w}` names no run and no model: {run_err}; {model_err}")
                    }
                },
            }
        }
    };
    let runs: Vec<RunIn> = listed
        .into_iter()
        .filter(|r| keep.as_deref().is_none_or(|id| r.row.id == id))
        .map(|r| RunIn {
            row: r.row,
            status: r.effective_status,
            duration_s: r.duration_s,
        })
        .collect();
    let dir = lab.project.reports_dir();
    let rep = report::collect(
        &lab.store,
        Request {
            project: &lab.project.config.project.name,
            dir: &dir,
            runs,
            all_runs: &all_rows,
            all: keep.is_none(),
            scope: scope.clone(),
        },
    )?;
    let written = report::write(&dir, &rep)?;
    Ok(ReportOut {
        index: written.index,
        files: written.files.len(),
        run_pages: written.run_pages,
        charts: written.charts,
        comparisons: rep.groups.len(),
        replays: rep.replays.len(),
        scope,
    })
}
