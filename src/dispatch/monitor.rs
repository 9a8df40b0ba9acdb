//! `lab monitor …`: from parsed arguments to the use cases of `commands::monitor`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::{Bars, emit, print_lines, say};
use crate::cli::MonitorCmd;
use crate::commands::monitor;
use crate::lab::Lab;

pub(super) fn run(
    lab: &Lab,
    cmd: MonitorCmd,
    here: &Path,
    json: bool,
    bars: &Bars,
) -> Result<ExitCode> {
    match cmd {
        MonitorCmd::Track { inputs, model, env } => {
            let inputs: Vec<_> = inputs.iter().map(|p| here.join(p)).collect();
            let o = monitor::track(lab, &inputs, model.as_deref(), &env, bars)?;
            say(json, o.text(), &o)?;
            if !o.failed.is_empty() || o.check.has_errors() {
                return Ok(ExitCode::from(1));
            }
        }
        MonitorCmd::Drift {
            reference,
            model,
            window,
        } => {
            let o = monitor::drift(lab, reference.as_deref(), model.as_deref(), &window)?;
            say(json, o.text(), &o)?;
        }
        MonitorCmd::Check => {
            let o = monitor::check(lab, monitor::now_ms()?)?;
            say(json, o.text(), &o)?;
            if o.has_errors() {
                return Ok(ExitCode::from(1));
            }
            if o.firing() {
                return Ok(ExitCode::from(monitor::FIRING_EXIT));
            }
        }
        MonitorCmd::Alerts { all } => {
            let o = monitor::alerts(lab, all)?;
            if json {
                print_lines(&o.rows)?;
            } else {
                emit(&monitor::alerts_text(&o, all))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
