//! The long-running verbs: `lab serve`, `lab ui` (they run until stopped and say so on
//! stderr) and `lab bench …` (benchmarks print each measurement as it is taken, so a long
//! one shows progress; the answer carries whether every check held).

use anyhow::Result;

use super::{Answer, Ctx};
use crate::cli::{BenchCmd, ServeArgs, UiArgs};
use crate::commands;

pub fn serve(c: &Ctx, a: ServeArgs) -> Result<Answer> {
    let lab = c.lab("serve")?;
    let token = commands::serve::token(a.token, a.token_file.as_deref())?;
    let limits = commands::serve::limits(
        a.max_connections,
        a.header_timeout,
        a.body_timeout,
        a.shutdown_timeout,
    )?;
    let o = commands::serve::serve(
        lab,
        &a.addr,
        &a.env,
        token,
        a.max_body,
        limits,
        a.ocr.as_deref(),
        a.model.as_deref(),
    )?;
    Ok(Answer::none().note(format!(
        "lab serve: stopped ({} records appended to the log)",
        o.recorded
    )))
}

pub fn ui(c: &Ctx, a: UiArgs) -> Result<Answer> {
    let lab = c.lab("ui")?;
    let o = crate::serve::ui::run(
        lab,
        crate::serve::ui::Config {
            addr: a.addr,
            token: a.token,
            max_body: a.max_body,
        },
    )?;
    Ok(Answer::none().note(format!("lab ui: stopped ({})", o.addr)))
}

pub fn bench(c: &Ctx, cmd: BenchCmd) -> Result<Answer> {
    let ok = match cmd {
        BenchCmd::Store { dir, scale_down } => {
            commands::bench::store(dir.as_deref(), scale_down, c.json)?
        }
        BenchCmd::Train {
            torch,
            no_torch,
            quick,
        } => commands::bench::train::train(&c.here, quick, torch, no_torch, c.json)?,
        BenchCmd::Ops { reps } => {
            commands::bench::ops::ops(reps, c.json)?;
            true
        }
        BenchCmd::Layout { count } => {
            commands::bench::layout::layout(count, c.json)?;
            true
        }
        BenchCmd::Doc { count, epochs } => {
            commands::bench::doc::doc(count, epochs, c.json)?;
            true
        }
    };
    Ok(Answer::none().failed_if(!ok))
}
