//! The registry and deployment views: model versions per name (from training outputs and
//! `ModelRegistered`), their stages and aliases, and what is deployed in each environment.
//! Folded from the log like every view (see `views`), rebuilt by `lab reindex`.
//!
//! One namespace of versions: a training run's output `NAME@N` (role `model`) *is* version N of
//! NAME (source `trained`); `lab models register` adds the next version of a name (source
//! `registered`), which may point at the same bundle as a trained version. Training numbers its
//! output after every version of the name, registered ones included, so a version is never
//! assigned twice.

use std::collections::BTreeMap;

use redb::{ReadableTable, Table, TableDefinition};
use serde::{Deserialize, Serialize};

use super::codec::{from_bytes, to_bytes};
use crate::event::{Event, Hash, Record, RunId, RunStatus, Stage};

/// (name, version) → `VersionRow`.
pub(super) const REGISTRY: TableDefinition<(&str, u32), &[u8]> =
    TableDefinition::new("view_registry");
/// (env, model name) → `DeploymentRow`.
pub(super) const DEPLOYMENTS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("view_deployments");

/// Where a version came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// A training run's output.
    Trained,
    /// `lab models register`.
    Registered,
}

/// One model version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionRow {
    pub name: String,
    pub version: u32,
    /// The bundle hash (the model's identity).
    pub model: Hash,
    pub run: Option<RunId>,
    pub source: Source,
    pub description: String,
    pub meta: BTreeMap<String, String>,
    pub stage: Stage,
    pub aliases: Vec<String>,
    /// The event that made the version.
    pub seq: u64,
    pub time_ns: i64,
}

impl VersionRow {
    /// `NAME@N`.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// What one environment runs of one model name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRow {
    pub env: String,
    pub model: String,
    pub version: u32,
    /// The `Deployed` or `RolledBack` event that made it current.
    pub seq: u64,
    pub time_ns: i64,
    /// Earlier deployed versions, oldest first: what `lab deploy rollback` goes back to.
    pub previous: Vec<u32>,
}

type RegT<'t> = Table<'t, (&'static str, u32), &'static [u8]>;
type DepT<'t> = Table<'t, (&'static str, &'static str), &'static [u8]>;

fn get_version(t: &RegT, name: &str, version: u32) -> Result<Option<VersionRow>, redb::Error> {
    Ok(match t.get((name, version))? {
        Some(v) => from_bytes(v.value()).ok(),
        None => None,
    })
}

fn put_version(t: &mut RegT, row: &VersionRow) -> Result<(), redb::Error> {
    t.insert((row.name.as_str(), row.version), to_bytes(row).as_slice())?;
    Ok(())
}

fn versions_of(t: &RegT, name: &str) -> Result<Vec<VersionRow>, redb::Error> {
    let mut out = Vec::new();
    for item in t.range((name, 0u32)..=(name, u32::MAX))? {
        let (_, v) = item?;
        if let Ok(row) = from_bytes(v.value()) {
            out.push(row);
        }
    }
    Ok(out)
}

/// `NAME@N` → (NAME, N).
pub fn split_label(s: &str) -> Option<(&str, u32)> {
    let (n, v) = s.rsplit_once('@')?;
    Some((n, v.parse().ok()?))
}

/// Folds one event into the registry and deployment views.
pub(super) fn fold(reg: &mut RegT, dep: &mut DepT, rec: &Record) -> Result<(), redb::Error> {
    let env = &rec.envelope;
    let new = |name: &str, version, model, run: Option<RunId>, source| VersionRow {
        name: name.to_string(),
        version,
        model,
        run,
        source,
        description: String::new(),
        meta: BTreeMap::new(),
        stage: Stage::None,
        aliases: Vec::new(),
        seq: env.seq,
        time_ns: env.time_ns,
    };
    match &env.body {
        Event::RunFinished {
            run,
            status: RunStatus::Finished,
            outputs,
            ..
        } => {
            for o in outputs.iter().filter(|o| o.role == "model") {
                let Some((name, version)) = split_label(&o.name) else {
                    continue;
                };
                // First writer wins: a version is never reassigned.
                if get_version(reg, name, version)?.is_none() {
                    let row = new(name, version, o.hash, Some(run.clone()), Source::Trained);
                    put_version(reg, &row)?;
                }
            }
        }
        Event::ModelRegistered {
            name,
            version,
            model,
            run,
            description,
            meta,
        } => {
            let mut row = new(name, *version, *model, run.clone(), Source::Registered);
            row.description = description.clone();
            row.meta = meta.clone();
            // First writer wins: a version is never reassigned.
            if get_version(reg, name, *version)?.is_none() {
                put_version(reg, &row)?;
            }
        }
        Event::ModelPromoted {
            name,
            version,
            stage,
        } => {
            if let Some(mut row) = get_version(reg, name, *version)? {
                row.stage = *stage;
                put_version(reg, &row)?;
            }
        }
        Event::ModelAliased {
            name,
            version,
            alias,
        } => {
            for mut row in versions_of(reg, name)? {
                let had = row.aliases.contains(alias);
                if row.version == *version && !had {
                    row.aliases.push(alias.clone());
                    row.aliases.sort();
                    put_version(reg, &row)?;
                } else if row.version != *version && had {
                    row.aliases.retain(|a| a != alias);
                    put_version(reg, &row)?;
                }
            }
        }
        Event::RegisteredModelSet {
            name,
            deleted: true,
            ..
        } => {
            for row in versions_of(reg, name)? {
                reg.remove((row.name.as_str(), row.version))?;
            }
        }
        Event::ModelVersionSet {
            name,
            version,
            description,
            deleted,
            ..
        } => {
            if *deleted {
                reg.remove((name.as_str(), *version))?;
            } else if let Some(mut row) = get_version(reg, name, *version)? {
                row.description = description.clone();
                put_version(reg, &row)?;
            }
        }
        Event::ModelUnaliased { name, alias } => {
            for mut row in versions_of(reg, name)? {
                if row.aliases.contains(alias) {
                    row.aliases.retain(|a| a != alias);
                    put_version(reg, &row)?;
                }
            }
        }
        Event::Deployed {
            env: e,
            model,
            version,
        } => {
            let old: Option<DeploymentRow> = match dep.get((e.as_str(), model.as_str()))? {
                Some(v) => from_bytes(v.value()).ok(),
                None => None,
            };
            let mut previous = Vec::new();
            if let Some(o) = old {
                previous = o.previous;
                if o.version != *version {
                    previous.push(o.version);
                }
            }
            let row = DeploymentRow {
                env: e.clone(),
                model: model.clone(),
                version: *version,
                seq: env.seq,
                time_ns: env.time_ns,
                previous,
            };
            dep.insert((e.as_str(), model.as_str()), to_bytes(&row).as_slice())?;
        }
        Event::RolledBack {
            env: e,
            model,
            to_version,
            ..
        } => {
            let old: Option<DeploymentRow> = match dep.get((e.as_str(), model.as_str()))? {
                Some(v) => from_bytes(v.value()).ok(),
                None => None,
            };
            if let Some(mut row) = old {
                if let Some(i) = row.previous.iter().rposition(|v| v == to_version) {
                    row.previous.truncate(i);
                }
                row.version = *to_version;
                row.seq = env.seq;
                row.time_ns = env.time_ns;
                dep.insert((e.as_str(), model.as_str()), to_bytes(&row).as_slice())?;
            }
        }
        Event::Undeployed { env: e, model, .. } => {
            dep.remove((e.as_str(), model.as_str()))?;
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{DataRef, GitState};
    use crate::store::views::Query;
    use crate::store::{Author, Store};

    fn author() -> Author {
        Author {
            actor: "test".into(),
            git: GitState::NoRepo,
            lab_version: "0".into(),
        }
    }

    fn trained(run: &str, name: &str, hash: u8) -> Event {
        Event::RunFinished {
            run: run.into(),
            status: RunStatus::Finished,
            outputs: vec![DataRef {
                role: "model".into(),
                name: name.into(),
                hash: Hash([hash; 32]),
            }],
            error: None,
        }
    }

    /// A log written before these views existed gets them folded when it is next opened.
    #[test]
    fn an_older_log_gets_the_new_views_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.append(
            &author(),
            vec![
                trained("r1", "ocr@1", 1),
                Event::Deployed {
                    env: "production".into(),
                    model: "ocr".into(),
                    version: 1,
                },
            ],
        )
        .unwrap();
        let tx = s.db().unwrap().begin_write().unwrap();
        tx.delete_table(REGISTRY).unwrap();
        tx.delete_table(DEPLOYMENTS).unwrap();
        tx.commit().unwrap();
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        let (reg, deps) = s
            .read_views(|v| Ok((v.registry()?, v.deployments()?)))
            .unwrap();
        assert_eq!(reg.len(), 1);
        assert_eq!(
            (reg[0].label(), reg[0].source),
            ("ocr@1".into(), Source::Trained)
        );
        assert_eq!(deps[0].version, 1);
    }

    #[test]
    fn versions_stages_aliases_and_deployments_fold() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let promote = |version, stage| Event::ModelPromoted {
            name: "ocr".into(),
            version,
            stage,
        };
        let alias = |version| Event::ModelAliased {
            name: "ocr".into(),
            version,
            alias: "champion".into(),
        };
        let deploy = |version| Event::Deployed {
            env: "production".into(),
            model: "ocr".into(),
            version,
        };
        s.append(
            &author(),
            vec![
                trained("r1", "ocr@1", 1),
                // A failed run's output is no version.
                Event::RunFinished {
                    run: "r2".into(),
                    status: RunStatus::Failed,
                    outputs: vec![],
                    error: Some("x".into()),
                },
                Event::ModelRegistered {
                    name: "ocr".into(),
                    version: 2,
                    model: Hash([2; 32]),
                    run: None,
                    description: "d".into(),
                    meta: BTreeMap::new(),
                },
                // A version is never reassigned.
                trained("r3", "ocr@2", 9),
                promote(1, Stage::Production),
                promote(1, Stage::Archived),
                promote(2, Stage::Production),
                alias(1),
                alias(2),
                deploy(1),
                deploy(2),
                deploy(2),
                Event::RolledBack {
                    env: "production".into(),
                    model: "ocr".into(),
                    from_version: 2,
                    to_version: 1,
                },
            ],
        )
        .unwrap();
        let (reg, deps) = s
            .read_views(|v| Ok((v.registry()?, v.deployments()?)))
            .unwrap();
        assert_eq!(reg.len(), 2);
        assert_eq!((reg[0].stage, reg[0].aliases.len()), (Stage::Archived, 0));
        assert_eq!(reg[1].stage, Stage::Production);
        assert_eq!(reg[1].aliases, ["champion"]);
        assert_eq!(
            (reg[1].model, reg[1].source),
            (Hash([2; 32]), Source::Registered)
        );
        assert_eq!((deps[0].version, deps[0].previous.len()), (1, 0));
        let live = s.dump_views().unwrap();
        s.reindex().unwrap();
        assert_eq!(s.dump_views().unwrap(), live);
    }
}
