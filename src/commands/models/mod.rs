//! `lab models`: the model registry. `register` adds a version of a name (pointing at a bundle
//! and its source run), `ls` and `show` read the registry view, `promote` moves a version to a
//! stage (the previous production version of the name is archived, as its own event), `alias`
//! points a free alias at a version (moving it from another), `export` writes a bundle in the
//! Hugging Face layout.
//!
//! Training outputs are versions too (`ocr_teacher@1` is version 1 of `ocr_teacher`): see
//! `store::registry` for the one namespace of versions.

use crate::table::Table;
use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use crate::event::{Event, Hash, Stage, fmt_time};
use crate::lab::Lab;
use crate::models::{self, parse_stage, stage_name};
use crate::store::views::Query;
use crate::store::{StoreError, VersionRow};

mod export;
mod files;
mod show;
pub use export::{ExportOut, export};
pub use show::{EvalRow, ParentRow, ShowOut, show, show_text};

/// Aliases that would read as something else in `NAME@X`.
const RESERVED: [&str; 5] = ["none", "staging", "production", "archived", "latest"];

/// Checks a registered model name or alias: letters, digits, `_`, `-`, `.`.
fn check_word(what: &str, s: &str) -> Result<()> {
    if s.is_empty()
        || s.chars().all(|c| c == '.')
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        bail!(
            "bad {what} `{s}`: use letters, digits, `_`, `-` and `.` (no `@`, and not only dots)"
        );
    }
    Ok(())
}

/// A version as listed.
#[derive(Debug, Serialize)]
pub struct VersionOut {
    pub name: String,
    pub version: u32,
    pub model: Hash,
    pub stage: &'static str,
    pub aliases: Vec<String>,
    pub source: &'static str,
    pub run: Option<String>,
    pub description: String,
    pub meta: BTreeMap<String, String>,
    pub time: String,
}

impl VersionOut {
    fn of(v: &VersionRow) -> VersionOut {
        VersionOut {
            name: v.name.clone(),
            version: v.version,
            model: v.model,
            stage: stage_name(v.stage),
            aliases: v.aliases.clone(),
            source: match v.source {
                crate::store::Source::Trained => "trained",
                crate::store::Source::Registered => "registered",
            },
            run: v.run.clone(),
            description: v.description.clone(),
            meta: v.meta.clone(),
            time: fmt_time(v.time_ns),
        }
    }
}

/// What to register: a run (its model output), a bundle hash, or a model reference.
pub fn register(
    lab: &Lab,
    what: &str,
    name: &str,
    description: &str,
    meta: BTreeMap<String, String>,
) -> Result<VersionOut> {
    check_word("model name", name)?;
    let (hash, run) = source_of(lab, what)?;
    let (_, row) = lab.append_with(|v| {
        let reg = v.registry()?;
        let version = models::next_version(&reg, name);
        let ev = Event::ModelRegistered {
            name: name.to_string(),
            version,
            model: hash,
            run: run.clone(),
            description: description.to_string(),
            meta: meta.clone(),
        };
        Ok((vec![ev], version))
    })?;
    let reg = lab.store.read_views(|v| v.registry())?;
    let v = reg
        .iter()
        .find(|v| v.name == name && v.version == row)
        .ok_or_else(|| anyhow!("registered {name}@{row}, but the view lacks it: lab reindex"))?;
    Ok(VersionOut::of(v))
}

/// The bundle and run `what` names: a run id / prefix / name (its model output), a model
/// reference, or the full hash of a bundle in the blob store.
fn source_of(lab: &Lab, what: &str) -> Result<(Hash, Option<String>)> {
    let mut run_err = None;
    if !what.contains('@') {
        let found = super::runs::find(lab, what);
        if let Err(e) = &found {
            run_err = Some(format!("{e:#}"));
        }
        if let Ok(r) = found {
            if let Some(o) = r.outputs.iter().find(|o| o.role == "model") {
                return Ok((o.hash, Some(r.id.clone())));
            }
            // A `lab run`: what it wrote (its --out outputs, else its captured artifacts).
            let Some((hash, _kind)) = files::bundle_of_run(lab, &r)? else {
                bail!(
                    "run {} ({}) wrote no model: declare what it writes with `lab run --out PATH`, or have \
                     the command append {{\"artifact\": \"PATH\"}} to $LAB_METRICS; or register a \
                     directory, a model NAME@N or a bundle hash",
                    r.id,
                    r.name
                );
            };
            return Ok((hash, Some(r.id.clone())));
        }
    }
    match models::resolve_in(&lab.store, what) {
        Ok(m) => Ok((m.hash, m.run)),
        Err(models::ResolveError::Store(e)) => Err(e.into()),
        Err(models::ResolveError::Unknown(msg)) => {
            let dir = std::path::Path::new(what);
            if dir.is_dir() {
                let (hash, _kind, run) = files::bundle_of_dir(lab, dir)?;
                return Ok((hash, run));
            }
            if let Some(h) = Hash::from_hex(what) {
                if lab.store.blobs.contains(&h) {
                    models::bundle(&lab.store.blobs, &h)
                        .with_context(|| format!("{what} is a blob but not a model bundle"))?;
                    return Ok((h, None));
                }
            }
            match run_err {
                // Several runs carry the name: say which, rather than "not a run".
                Some(e) if e.contains(" runs — give a run id") => bail!("{e}"),
                _ => {
                    bail!("`{what}` is neither a run (lab runs ls), a model nor a directory: {msg}")
                }
            }
        }
    }
}

/// Every version, or those of one name.
pub fn list(lab: &Lab, name: Option<&str>) -> Result<Vec<VersionOut>> {
    let reg = lab.store.read_views(|v| v.registry())?;
    if let Some(n) = name {
        if !reg.iter().any(|v| v.name == n) {
            models::resolve_version(&reg, n).map_err(|e| anyhow!(e))?;
        }
    }
    Ok(reg
        .iter()
        .filter(|v| name.is_none_or(|n| v.name == n))
        .map(VersionOut::of)
        .collect())
}

pub fn list_text(rows: &[VersionOut]) -> String {
    if rows.is_empty() {
        return "no models yet — train one (lab train ocr-teacher) or register one (lab models register)".into();
    }
    let mut t = Table::new([
        "NAME",
        "VER",
        "STAGE",
        "ALIASES",
        "SOURCE",
        "MODEL",
        "RUN",
        "DESCRIPTION",
    ])
    .right(&[1]);
    for r in rows {
        t.row([
            r.name.clone(),
            r.version.to_string(),
            r.stage.to_string(),
            if r.aliases.is_empty() {
                "-".to_string()
            } else {
                r.aliases.join(",")
            },
            r.source.to_string(),
            r.model.short().to_string(),
            r.run
                .as_deref()
                .map_or("-", |x| &x[..x.len().min(8)])
                .to_string(),
            r.description.clone(),
        ]);
    }
    t.render()
}

/// The registry row of `name` version `version`, or a message naming what exists.
fn version_of<'a>(reg: &'a [VersionRow], name: &str, version: &str) -> Result<&'a VersionRow> {
    let n: u32 = version
        .parse()
        .map_err(|_| anyhow!("bad version `{version}`: give a number, e.g. {name} 3"))?;
    models::resolve_version(reg, &format!("{name}@{n}")).map_err(|e| anyhow!(e))
}

#[derive(Debug, Serialize)]
pub struct PromoteOut {
    pub name: String,
    pub version: u32,
    pub stage: &'static str,
    /// Versions moved to archived because this one became production.
    pub archived: Vec<u32>,
    pub changed: bool,
    /// For the production stage: what the production environment serves for the version's
    /// task (a stage is a label in the registry; a deployment is what serves).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serving: Option<String>,
}

/// Moves a version to a stage; promoting to production archives the previous production.
pub fn promote(lab: &Lab, name: &str, version: &str, to: &str) -> Result<PromoteOut> {
    let stage = parse_stage(to).ok_or_else(|| {
        anyhow!("unknown stage `{to}`: use none, staging, production or archived")
    })?;
    let reg = lab.store.read_views(|v| v.registry())?;
    let target = version_of(&reg, name, version)?.version;
    let (_, out) = lab.append_with(|v| {
        let reg = v.registry()?;
        let mut events = Vec::new();
        let mut archived = Vec::new();
        let Some(row) = reg.iter().find(|r| r.name == name && r.version == target) else {
            return Err(StoreError::NotFound(format!(
                "model {name}@{target} does not exist"
            )));
        };
        if stage == Stage::Production {
            for r in reg
                .iter()
                .filter(|r| r.name == name && r.version != target && r.stage == Stage::Production)
            {
                archived.push(r.version);
                events.push(Event::ModelPromoted {
                    name: name.to_string(),
                    version: r.version,
                    stage: Stage::Archived,
                });
            }
        }
        if row.stage != stage {
            events.push(Event::ModelPromoted {
                name: name.to_string(),
                version: target,
                stage,
            });
        }
        let changed = !events.is_empty();
        Ok((
            events,
            PromoteOut {
                name: name.to_string(),
                version: target,
                stage: stage_name(stage),
                archived,
                changed,
                serving: None,
            },
        ))
    })?;
    let mut out = out;
    if stage == Stage::Production {
        let v = lab
            .store
            .read_views(|q| q.registry())?
            .into_iter()
            .find(|r| r.name == name && r.version == target);
        if let Some(v) = v {
            let task = super::deploy::task_of(lab, &v)?;
            let slot = crate::models::serving::slot(task, name);
            out.serving = Some(
                crate::models::serving(&lab.store, Some("production"))?
                    .into_iter()
                    .find(|s| s.slot() == slot)
                    .map_or_else(|| "nothing".to_string(), |s| s.label()),
            );
        }
    }
    Ok(out)
}

#[derive(Debug, Serialize)]
pub struct AliasOut {
    pub name: String,
    pub version: u32,
    pub alias: String,
    /// The version the alias pointed at before, if another.
    pub moved_from: Option<u32>,
    pub changed: bool,
}

/// Points `alias` at a version of `name` (moving it from another version).
pub fn alias(lab: &Lab, name: &str, version: &str, alias: &str) -> Result<AliasOut> {
    check_word("alias", alias)?;
    if RESERVED.contains(&alias.to_ascii_lowercase().as_str()) {
        bail!(
            "alias `{alias}` collides with a stage or `latest` in {name}@{alias}: choose another (e.g. champion)"
        );
    }
    if alias.chars().all(|c| c.is_ascii_digit()) {
        bail!("alias `{alias}` reads as a version number in {name}@{alias}: choose a word");
    }
    let reg = lab.store.read_views(|v| v.registry())?;
    let target = version_of(&reg, name, version)?.version;
    let (_, out) = lab.append_with(|v| {
        let reg = v.registry()?;
        let holder = reg
            .iter()
            .find(|r| r.name == name && r.aliases.iter().any(|a| a == alias))
            .map(|r| r.version);
        let changed = holder != Some(target);
        let events = if changed {
            vec![Event::ModelAliased {
                name: name.to_string(),
                version: target,
                alias: alias.to_string(),
            }]
        } else {
            Vec::new()
        };
        Ok((
            events,
            AliasOut {
                name: name.to_string(),
                version: target,
                alias: alias.to_string(),
                moved_from: holder.filter(|h| *h != target),
                changed,
            },
        ))
    })?;
    Ok(out)
}
