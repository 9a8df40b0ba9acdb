//! Runs and the log: `lab run`, `runs …`, `artifacts …`, `metrics`, `report`, `log`, `show`,
//! and moving runs to and from MLflow (`import mlflow`, `export mlflow`).

use anyhow::Result;

use super::{Answer, Ctx};
use crate::cli::{ArtifactsCmd, ExportCmd, ImportCmd, LogArgs, ReportArgs, RunArgs, RunsCmd};
use crate::commands::{self, log::Filter};

pub fn run(c: &Ctx, args: RunArgs) -> Result<Answer> {
    let lab = c.lab("run")?;
    let params = commands::run::parse_params(&args.params)?;
    let r = commands::run::run(
        &lab,
        args.name.as_deref(),
        args.experiment.as_deref(),
        params,
        &c.here,
        &args.deps,
        &args.outs,
        &args.envs,
        &args.cmd,
    )?;
    // The command's own exit code; killed by a signal: 128 + the signal, as shells do.
    // A command that succeeded but left a declared output missing: 1.
    let code = match (r.exit_code, r.signal) {
        (Some(0), _) if r.status != crate::event::RunStatus::Finished => 1,
        (Some(c), _) => c.clamp(0, 255) as u8,
        (None, Some(sig)) => (128 + sig).clamp(0, 255) as u8,
        (None, None) => 1,
    };
    // The command's stdout is the user's: lab's summary goes to stderr unless --json.
    let a = if c.json {
        Answer::one(true, &r, String::new)?
    } else {
        Answer::none().note(format!(
            "lab: run {} {} ({}{} metric points{})",
            r.run,
            r.status.as_str(),
            r.error
                .as_deref()
                .map(|e| format!("{e}, "))
                .unwrap_or_default(),
            r.points,
            if r.bad_lines > 0 {
                format!(", {} bad lines skipped", r.bad_lines)
            } else {
                String::new()
            }
        ))
    };
    Ok(a.code(code))
}

pub fn runs(c: &Ctx, cmd: RunsCmd) -> Result<Answer> {
    let lab = c.lab("runs")?;
    match cmd {
        RunsCmd::Ls {
            experiment,
            filter,
            sort,
            columns,
        } => {
            let cols = columns
                .as_deref()
                .map(commands::runs::parse_columns)
                .transpose()?;
            let runs = commands::runs::list(
                &lab,
                experiment.as_deref(),
                filter.as_deref(),
                sort.as_deref(),
                cols.as_deref().unwrap_or_default(),
            )?;
            match &cols {
                Some(cols) => {
                    Answer::lines(c.json, &commands::runs::columns_json(&runs, cols), || {
                        commands::runs::columns_text(&runs, cols)
                    })
                }
                None => Answer::lines(c.json, &runs, || commands::runs::list_text(&runs)),
            }
        }
        RunsCmd::Show { run } => {
            let r = commands::runs::show(&lab, &run)?;
            Answer::one(c.json, &r, || commands::runs::show_text(&r))
        }
        RunsCmd::Diff { a, b } => {
            let d = commands::runs::diff(&lab, &a, &b)?;
            Answer::one(c.json, &d, || commands::runs::diff_text(&d))
        }
    }
}

pub fn artifacts(c: &Ctx, cmd: ArtifactsCmd) -> Result<Answer> {
    let lab = c.lab("artifacts")?;
    match cmd {
        ArtifactsCmd::Ls { run } => {
            let o = commands::runs::artifacts::ls(&lab, &run)?;
            Answer::lines(c.json, &o.rows, || commands::runs::artifacts::ls_text(&o))
        }
        ArtifactsCmd::Get { run, name, dest } => {
            let o = commands::runs::artifacts::get(&lab, &run, &name, dest.as_deref())?;
            Answer::one(c.json, &o, || {
                format!(
                    "wrote {} to {}{}",
                    o.name,
                    o.written.display(),
                    if o.folder { " (a folder)" } else { "" }
                )
            })
        }
    }
}

/// One metric's points: JSON lines, one point per line, as every listing.
pub fn metrics(c: &Ctx, run: &str, key: &str) -> Result<Answer> {
    let lab = c.lab("metrics")?;
    let (_, points) = commands::runs::metric(&lab, run, key)?;
    Answer::lines(c.json, &points, || commands::runs::metric_text(&points))
}

pub fn report(c: &Ctx, args: ReportArgs) -> Result<Answer> {
    let lab = c.lab("report")?;
    let out = commands::report::report(&lab, args.what.as_deref())?;
    Answer::one(c.json, &out, || out.text())
}

pub fn log(c: &Ctx, args: LogArgs) -> Result<Answer> {
    let lab = c.lab("log")?;
    let filter = Filter {
        kinds: commands::log::parse_kinds(&args.kind)?,
        since_ns: args
            .since
            .as_deref()
            .map(commands::log::parse_since)
            .transpose()?,
        run: args.run,
        limit: args.limit,
    };
    let records = commands::log::events(&lab, &filter)?;
    if c.json {
        let vals: Vec<_> = records.iter().map(commands::log::json).collect();
        Answer::lines(true, &vals, String::new)
    } else {
        Answer::lines(false, &[] as &[()], || commands::log::text(&records))
    }
}

pub fn show(c: &Ctx, what: &str) -> Result<Answer> {
    let lab = c.lab("show")?;
    let r = commands::log::show(&lab, what)?;
    Answer::one(c.json, &commands::log::json(&r), || {
        commands::log::show_text(&r)
    })
}

pub fn import(c: &Ctx, cmd: ImportCmd) -> Result<Answer> {
    let ImportCmd::Mlflow(a) = cmd;
    let lab = c.lab("import")?;
    let out = commands::mlflow_io::import(lab, &a.from, &a.experiment)?;
    Answer::one(c.json, &out, || out.text())
}

pub fn export(c: &Ctx, cmd: ExportCmd) -> Result<Answer> {
    let ExportCmd::Mlflow(a) = cmd;
    let lab = c.lab("export")?;
    let out = commands::mlflow_io::export(lab, &a.to, &a.experiment)?;
    Answer::one(c.json, &out, || out.text())
}
