//! `lab monitor …`: from parsed arguments to the use cases of `commands::monitor`.

use anyhow::Result;

use super::{Answer, Ctx};
use crate::cli::MonitorCmd;
use crate::commands::monitor;

pub fn monitor(c: &Ctx, cmd: MonitorCmd) -> Result<Answer> {
    let lab = &c.lab("monitor")?;
    match cmd {
        MonitorCmd::Track { inputs, model, env } => {
            let inputs: Vec<_> = inputs.iter().map(|p| c.path(p)).collect();
            let o = monitor::track(lab, &inputs, model.as_deref(), &env, &c.bars)?;
            let failed = !o.failed.is_empty() || o.check.has_errors();
            Ok(Answer::one(c.json, &o, || o.text())?.failed_if(failed))
        }
        MonitorCmd::Drift {
            reference,
            model,
            window,
        } => {
            let o = monitor::drift(lab, reference.as_deref(), model.as_deref(), &window)?;
            Answer::one(c.json, &o, || o.text())
        }
        MonitorCmd::Check => {
            let o = monitor::check(lab, monitor::now_ms()?)?;
            let a = Answer::one(c.json, &o, || o.text())?;
            Ok(if o.has_errors() {
                a.code(1)
            } else if o.firing() {
                a.code(monitor::FIRING_EXIT)
            } else {
                a
            })
        }
        MonitorCmd::Alerts { all } => {
            let o = monitor::alerts(lab, all)?;
            Answer::lines(c.json, &o.rows, || monitor::alerts_text(&o, all))
        }
    }
}
