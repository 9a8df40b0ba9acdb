//! `lab models …`, `lab deploy …` and `lab ab …`: from parsed arguments to the use cases of the
//! registry, deployment and A/B commands.

use anyhow::Result;

use super::{Answer, Ctx};
use crate::cli::{AbCmd, DeployArgs, DeployCmd, ModelsCmd};
use crate::commands;

pub fn models(c: &Ctx, cmd: ModelsCmd) -> Result<Answer> {
    use commands::models;
    let lab = &c.lab("models")?;
    let json = c.json;
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
            Answer::one(json, &v, || text)
        }
        ModelsCmd::Ls { name } => {
            let rows = models::list(lab, name.as_deref())?;
            Answer::lines(json, &rows, || models::list_text(&rows))
        }
        ModelsCmd::Show { model } => {
            let s = models::show(lab, &model)?;
            Answer::one(json, &s, || models::show_text(&s))
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
            Answer::one(json, &o, || text)
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
            Answer::one(json, &o, || text)
        }
        ModelsCmd::Export {
            model,
            target,
            force,
        } => {
            let o = models::export(lab, &model, &c.path(target), force)?;
            let text = format!(
                "exported {} into {}: {}",
                o.model,
                o.dir.display(),
                o.files.join(", ")
            );
            Answer::one(json, &o, || text)
        }
    }
}

pub fn ab(c: &Ctx, cmd: AbCmd) -> Result<Answer> {
    use commands::ab;
    let lab = &c.lab("ab")?;
    let json = c.json;
    match cmd {
        AbCmd::Start {
            name,
            a,
            b,
            split,
            metrics,
        } => {
            let o = ab::start(lab, &name, &a, &b, split, &metrics)?;
            Answer::one(json, &o, || {
                format!(
                    "started A/B test {}: a = {}, b = {} ({:.0}% to b; metrics {}) — lab serve routes /v1/ocr by it",
                    o.name,
                    o.a,
                    o.b,
                    o.split * 100.0,
                    o.metrics.join(",")
                )
            })
        }
        AbCmd::Ls => {
            let rows = ab::ls(lab)?;
            Answer::lines(json, &rows, || ab::ls_text(&rows))
        }
        AbCmd::Results { name } => {
            let r = ab::results(lab, &name)?;
            Answer::one(json, &r, || ab::results_text(&r))
        }
        AbCmd::Stop { name, promote } => {
            let o = ab::stop(lab, &name, promote.as_deref(), &c.bars)?;
            let a = Answer::one(json, &o, || o.text())?;
            if o.deployed.as_ref().is_some_and(|d| !d.passed) {
                return Ok(a
                    .note("lab: the A/B test is concluded, but its arm was not deployed: a gate failed")
                    .code(1));
            }
            Ok(a)
        }
    }
}

pub fn deploy(c: &Ctx, a: DeployArgs) -> Result<Answer> {
    use commands::deploy;
    let lab = &c.lab("deploy")?;
    let json = c.json;
    match a.cmd {
        Some(DeployCmd::Status { env }) => {
            let rows = deploy::status(lab, env.as_deref())?;
            Answer::lines(json, &rows, || deploy::status_text(&rows))
        }
        Some(DeployCmd::History { env }) => {
            let rows = deploy::history(lab, env.as_deref())?;
            Answer::lines(json, &rows, || deploy::history_text(&rows))
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
            Answer::one(json, &o, || o.text())
        }
        None if a.dry_run => {
            let config = a.config.map(|p| c.path(p));
            let o = deploy::dry_run(lab, &a.env, a.model.as_deref(), config.as_deref(), &c.bars)?;
            Ok(Answer::one(json, &o, || o.text())?.failed_if(!o.passed))
        }
        None => {
            let model = a.model.expect("clap requires NAME@V without a subcommand");
            let config = a.config.map(|p| c.path(p));
            let o = deploy::deploy(lab, &model, &a.env, config.as_deref(), &c.bars)?;
            let ans = Answer::one(json, &o, || o.text())?;
            if o.passed {
                return Ok(ans);
            }
            Ok(ans
                .note(format!(
                    "lab: {}@{} was not deployed to {}: a gate failed (see the table; {})",
                    o.model, o.version, o.env, o.config
                ))
                .code(1))
        }
    }
}
