//! `lab models …`, `lab deploy …` and `lab ab …`: from parsed arguments to the use cases of the
//! registry, deployment and A/B commands.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::{Bars, emit, print_lines, say};
use crate::cli::{AbCmd, DeployArgs, DeployCmd, ModelsCmd};
use crate::commands;
use crate::lab::Lab;

pub(super) fn models_cmd(lab: &Lab, cmd: ModelsCmd, here: &Path, json: bool) -> Result<()> {
    use commands::models;
    match cmd {
        ModelsCmd::Register {
            what,
            name,
            description,
            meta,
        } => {
            let meta = commands::run::parse_params(&meta)?;
            let v = models::register(lab, &what, &name, &description, meta)?;
            let text = format!(
                "registered {}@{} ({}{})",
                v.name,
                v.version,
                v.model.short(),
                v.run
                    .as_deref()
                    .map(|r| format!(", run {}", &r[..r.len().min(8)]))
                    .unwrap_or_default()
            );
            say(json, text, &v)
        }
        ModelsCmd::Ls { name } => {
            let rows = models::list(lab, name.as_deref())?;
            if json {
                print_lines(&rows)
            } else {
                emit(&models::list_text(&rows))
            }
        }
        ModelsCmd::Show { model } => {
            let s = models::show(lab, &model)?;
            say(json, models::show_text(&s), &s)
        }
        ModelsCmd::Promote { name, version, to } => {
            let o = models::promote(lab, &name, &version, &to)?;
            let mut text = if o.changed {
                format!("{}@{} is now {}", o.name, o.version, o.stage)
            } else {
                format!(
                    "{}@{} is already {} — nothing changed",
                    o.name, o.version, o.stage
                )
            };
            for a in &o.archived {
                text.push_str(&format!("; {}@{a} archived", o.name));
            }
            if let Some(s) = o.serving.as_deref() {
                if s != format!("{}@{}", o.name, o.version) {
                    text.push_str(&format!(
                        "\n(a registry stage; the production environment serves {s} for this task — \
                         `lab deploy {}@{} --env production` serves it, behind the gates)",
                        o.name, o.version
                    ));
                }
            }
            say(json, text, &o)
        }
        ModelsCmd::Alias {
            name,
            version,
            alias,
        } => {
            let o = models::alias(lab, &name, &version, &alias)?;
            let text = match (o.changed, o.moved_from) {
                (false, _) => format!(
                    "{}@{} already is {} — nothing changed",
                    o.name, o.alias, o.version
                ),
                (true, Some(f)) => format!(
                    "{}@{} now names version {} (was {f})",
                    o.name, o.alias, o.version
                ),
                (true, None) => format!("{}@{} now names version {}", o.name, o.alias, o.version),
            };
            say(json, text, &o)
        }
        ModelsCmd::Export {
            model,
            target,
            force,
        } => {
            let o = models::export(lab, &model, &here.join(target), force)?;
            let text = format!(
                "exported {} into {}: {}",
                o.model,
                o.dir.display(),
                o.files.join(", ")
            );
            say(json, text, &o)
        }
    }
}

pub(super) fn ab_cmd(lab: &Lab, cmd: AbCmd, json: bool, bars: &Bars) -> Result<ExitCode> {
    use commands::ab;
    match cmd {
        AbCmd::Start {
            name,
            a,
            b,
            split,
            metrics,
        } => {
            let o = ab::start(lab, &name, &a, &b, split, &metrics)?;
            let text = format!(
                "started A/B test {}: a = {}, b = {} ({:.0}% to b; metrics {}) — lab serve routes /v1/ocr by it",
                o.name,
                o.a,
                o.b,
                o.split * 100.0,
                o.metrics.join(",")
            );
            say(json, text, &o)?;
            Ok(ExitCode::SUCCESS)
        }
        AbCmd::Ls => {
            let rows = ab::ls(lab)?;
            if json {
                print_lines(&rows)?;
            } else {
                emit(&ab::ls_text(&rows))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        AbCmd::Results { name } => {
            let r = ab::results(lab, &name)?;
            say(json, ab::results_text(&r), &r)?;
            Ok(ExitCode::SUCCESS)
        }
        AbCmd::Stop { name, promote } => {
            let o = ab::stop(lab, &name, promote.as_deref(), bars)?;
            say(json, o.text(), &o)?;
            if o.deployed.as_ref().is_some_and(|d| !d.passed) {
                eprintln!(
                    "lab: the A/B test is concluded, but its arm was not deployed: a gate failed"
                );
                return Ok(ExitCode::from(1));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub(super) fn deploy_cmd(
    lab: &Lab,
    a: DeployArgs,
    here: &Path,
    json: bool,
    bars: &Bars,
) -> Result<ExitCode> {
    use commands::deploy;
    match a.cmd {
        Some(DeployCmd::Status { env }) => {
            let rows = deploy::status(lab, env.as_deref())?;
            if json {
                print_lines(&rows)?;
            } else {
                emit(&deploy::status_text(&rows))?;
            }
        }
        Some(DeployCmd::History { env }) => {
            let rows = deploy::history(lab, env.as_deref())?;
            if json {
                print_lines(&rows)?;
            } else {
                emit(&deploy::history_text(&rows))?;
            }
        }
        Some(DeployCmd::Rollback { model, task, env }) => {
            let task = match task.as_deref() {
                Some(t) => Some(
                    crate::deploy::Task::parse(t)
                        .ok_or_else(|| anyhow::anyhow!("--task `{t}`: use ocr, doc or other"))?,
                ),
                None => None,
            };
            let o = deploy::rollback(lab, &env, model.as_deref(), task)?;
            say(json, o.text(), &o)?;
        }
        None if a.dry_run => {
            let config = a.config.map(|c| here.join(c));
            let o = deploy::dry_run(lab, &a.env, a.model.as_deref(), config.as_deref(), bars)?;
            say(json, o.text(), &o)?;
            if !o.passed {
                return Ok(ExitCode::from(1));
            }
        }
        None => {
            let model = a.model.expect("clap requires NAME@V without a subcommand");
            let config = a.config.map(|c| here.join(c));
            let o = deploy::deploy(lab, &model, &a.env, config.as_deref(), bars)?;
            say(json, o.text(), &o)?;
            if !o.passed {
                eprintln!(
                    "lab: {}@{} was not deployed to {}: a gate failed (see the table; {})",
                    o.model, o.version, o.env, o.config
                );
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
