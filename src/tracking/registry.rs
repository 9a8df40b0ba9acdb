//! The MLflow model registry over lab's registry: a registered model is a lab model name, a
//! model version is a `ModelRegistered` version whose bundle names the artifact files under
//! its source, stages are `ModelPromoted`, aliases `ModelAliased` / `ModelUnaliased`. So a
//! version registered from Python shows in `lab models ls`, and `lab deploy NAME@N` can use it.

use std::collections::BTreeMap;

use super::filter::{self, Entity, Field};
use super::search::check_max;
use super::{RegModel, State, TResult, Tracking, Version, exists, invalid, not_found, now_ms};
use crate::event::{Event, Stage};

pub(super) fn parse_stage(s: &str) -> TResult<Stage> {
    match s.to_ascii_lowercase().as_str() {
        "none" => Ok(Stage::None),
        "staging" => Ok(Stage::Staging),
        "production" => Ok(Stage::Production),
        "archived" => Ok(Stage::Archived),
        _ => Err(invalid(format!(
            "Invalid Model Version stage: {s}. Value must be one of None, Staging, Production, Archived."
        ))),
    }
}

fn check_name(name: &str) -> TResult<()> {
    if name.trim().is_empty() {
        return Err(invalid("Registered model name cannot be empty."));
    }
    if name.contains('/') || name.contains('\0') || name.contains('%') || name.contains(':') {
        return Err(invalid(format!(
            "Invalid model name '{name}': '/', ':', '%' and NUL are not allowed"
        )));
    }
    Ok(())
}

fn check_alias(alias: &str) -> TResult<()> {
    let lower = alias.to_ascii_lowercase();
    let vnum =
        lower.len() > 1 && lower.starts_with('v') && lower[1..].chars().all(|c| c.is_ascii_digit());
    if alias.is_empty() || lower == "latest" || vnum {
        return Err(invalid(format!(
            "'{alias}' is an invalid alias name. The alias cannot be 'latest' or start with 'v' followed by a number."
        )));
    }
    if alias.len() > 255
        || !alias
            .chars()
            .all(|c| c.is_alphanumeric() || "_-".contains(c))
    {
        return Err(invalid(format!(
            "Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores (_) and dashes (-)."
        )));
    }
    Ok(())
}

fn parse_version(v: &str) -> TResult<u32> {
    v.trim().parse().map_err(|_| {
        invalid(format!(
            "Parameter 'version' must be an integer, got '{v}'."
        ))
    })
}

fn model_event(m: &RegModel, deleted: bool) -> Event {
    Event::RegisteredModelSet {
        name: m.name.clone(),
        description: m.description.clone(),
        tags: m.tags.clone(),
        created_ms: m.created_ms,
        deleted,
    }
}

pub(super) fn version_event(v: &Version, deleted: bool) -> Event {
    Event::ModelVersionSet {
        name: v.name.clone(),
        version: v.version,
        description: v.description.clone(),
        tags: v.tags.clone(),
        deleted,
    }
}

impl Tracking {
    pub(super) fn model<'a>(s: &'a State, name: &str) -> TResult<&'a RegModel> {
        s.models
            .get(name)
            .ok_or_else(|| not_found(format!("Registered Model with name={name} not found")))
    }

    pub(super) fn version<'a>(s: &'a State, name: &str, version: &str) -> TResult<&'a Version> {
        let n = parse_version(version)?;
        Self::model(s, name)?;
        s.versions.get(&(name.to_string(), n)).ok_or_else(|| {
            not_found(format!(
                "Model Version (name={name}, version={version}) not found"
            ))
        })
    }

    pub fn create_registered_model(
        &self,
        name: &str,
        tags: BTreeMap<String, String>,
        description: &str,
    ) -> TResult<RegModel> {
        check_name(name)?;
        let mut s = self.state()?;
        if s.models.contains_key(name) {
            return Err(exists(format!(
                "Registered Model (name={name}) already exists."
            )));
        }
        let now = now_ms();
        let m = RegModel {
            name: name.to_string(),
            description: description.to_string(),
            tags,
            created_ms: now,
            updated_ms: now,
        };
        self.append(&mut s, vec![model_event(&m, false)])?;
        Ok(s.models.get(name).cloned().expect("just created"))
    }

    pub fn get_registered_model(&self, name: &str) -> TResult<RegModel> {
        let s = self.state()?;
        Self::model(&s, name).cloned()
    }

    /// Changes a registered model with `f` and records its state.
    pub fn change_registered_model(
        &self,
        name: &str,
        f: impl FnOnce(&mut RegModel) -> TResult<()>,
    ) -> TResult<RegModel> {
        let mut s = self.state()?;
        let mut m = Self::model(&s, name)?.clone();
        f(&mut m)?;
        self.append(&mut s, vec![model_event(&m, false)])?;
        Ok(s.models.get(name).cloned().expect("exists"))
    }

    pub fn delete_registered_model(&self, name: &str) -> TResult<()> {
        let mut s = self.state()?;
        let m = Self::model(&s, name)?.clone();
        self.append(&mut s, vec![model_event(&m, true)])
    }

    /// Renames by recording the versions again under the new name, then deleting the old.
    pub fn rename_registered_model(&self, name: &str, new_name: &str) -> TResult<RegModel> {
        check_name(new_name)?;
        let mut s = self.state()?;
        let mut m = Self::model(&s, name)?.clone();
        if s.models.contains_key(new_name) {
            return Err(exists(format!(
                "Registered Model (name={new_name}) already exists."
            )));
        }
        let old = m.clone();
        m.name = new_name.to_string();
        let mut events = vec![model_event(&m, false)];
        let versions: Vec<Version> = s
            .versions
            .values()
            .filter(|v| v.name == name)
            .cloned()
            .collect();
        for v in &versions {
            let mut meta = BTreeMap::new();
            meta.insert("source".to_string(), v.source.clone());
            meta.insert("storage_location".to_string(), v.storage.clone());
            events.push(Event::ModelRegistered {
                name: new_name.to_string(),
                version: v.version,
                model: v.model,
                run: v.run_id.clone(),
                description: v.description.clone(),
                meta,
            });
            let mut nv = v.clone();
            nv.name = new_name.to_string();
            events.push(version_event(&nv, false));
            if v.stage != Stage::None {
                events.push(Event::ModelPromoted {
                    name: new_name.to_string(),
                    version: v.version,
                    stage: v.stage,
                });
            }
        }
        for (alias, ver) in s.aliases.get(name).cloned().unwrap_or_default() {
            events.push(Event::ModelAliased {
                name: new_name.to_string(),
                version: ver,
                alias,
            });
        }
        events.push(model_event(&old, true));
        self.append(&mut s, events)?;
        Ok(s.models.get(new_name).cloned().expect("renamed"))
    }

    pub fn search_registered_models(
        &self,
        filter_s: &str,
        order_by: &[String],
        max: usize,
        token: Option<&str>,
    ) -> TResult<(Vec<RegModel>, Option<String>)> {
        check_max(max, 1000)?;
        let conds = filter::parse(filter_s).map_err(invalid)?;
        for c in &conds {
            if !(c.entity == Entity::Tag || (c.entity == Entity::Attr && c.key == "name")) {
                return Err(invalid(format!(
                    "Invalid attribute key '{}' specified. Valid keys are '{{'name'}}'",
                    c.key
                )));
            }
        }
        let field = |m: &RegModel, e: Entity, k: &str| match e {
            Entity::Tag => m.tags.get(k).map(|v| Field::Str(v.clone())),
            _ => match k {
                "name" => Some(Field::Str(m.name.clone())),
                "timestamp" | "last_updated_timestamp" => Some(Field::Num(m.updated_ms as f64)),
                "creation_timestamp" => Some(Field::Num(m.created_ms as f64)),
                _ => None,
            },
        };
        let mut orders = Vec::new();
        for o in order_by {
            let o = filter::parse_order(o).map_err(invalid)?;
            if ![
                "name",
                "timestamp",
                "last_updated_timestamp",
                "creation_timestamp",
            ]
            .contains(&o.key.as_str())
            {
                return Err(invalid(format!(
                    "Invalid order by key '{}' specified.",
                    o.key
                )));
            }
            orders.push(o);
        }
        let s = self.state()?;
        let rows = filter::select(
            s.models.values().cloned(),
            &conds,
            &orders,
            |m: &RegModel, e, k| field(m, e, k),
            registry_match,
            |a, b| a.name.cmp(&b.name),
        );
        super::search_page(rows, max, token)
    }

    /// The newest version in each stage (all stages when `stages` is empty).
    pub fn latest_versions(&self, name: &str, stages: &[String]) -> TResult<Vec<Version>> {
        let s = self.state()?;
        Self::model(&s, name)?;
        let wanted: Vec<Stage> = stages
            .iter()
            .map(|st| parse_stage(st))
            .collect::<TResult<_>>()?;
        Ok(latest_of(&s, name, &wanted))
    }

    pub fn set_alias(&self, name: &str, alias: &str, version: &str) -> TResult<()> {
        check_alias(alias)?;
        let mut s = self.state()?;
        let v = Self::version(&s, name, version)?.version;
        self.append(
            &mut s,
            vec![Event::ModelAliased {
                name: name.to_string(),
                version: v,
                alias: alias.to_string(),
            }],
        )
    }

    pub fn delete_alias(&self, name: &str, alias: &str) -> TResult<()> {
        let mut s = self.state()?;
        Self::model(&s, name)?;
        if !s.aliases.get(name).is_some_and(|a| a.contains_key(alias)) {
            return Ok(());
        }
        self.append(
            &mut s,
            vec![Event::ModelUnaliased {
                name: name.to_string(),
                alias: alias.to_string(),
            }],
        )
    }

    pub fn version_by_alias(&self, name: &str, alias: &str) -> TResult<Version> {
        let s = self.state()?;
        Self::model(&s, name)?;
        let v = s
            .aliases
            .get(name)
            .and_then(|a| a.get(alias))
            .ok_or_else(|| not_found(format!("Registered model alias {alias} not found.")))?;
        s.versions
            .get(&(name.to_string(), *v))
            .cloned()
            .ok_or_else(|| not_found(format!("Registered model alias {alias} not found.")))
    }
}

/// As `filter::matches`, but `tags.k != 'v'` also holds where the tag is missing (the registry's
/// semantics; the client hides prompts with `tag.mlflow.prompt.is_prompt != 'true'`).
pub(super) fn registry_match(c: &filter::Cond, f: Option<&Field>) -> bool {
    if f.is_none() && c.op == filter::Op::Ne {
        return true;
    }
    filter::matches(c, f)
}

pub(super) fn latest_of(s: &State, name: &str, wanted: &[Stage]) -> Vec<Version> {
    let mut best: BTreeMap<u8, Version> = BTreeMap::new();
    for v in s.versions.values().filter(|v| v.name == name) {
        if !wanted.is_empty() && !wanted.contains(&v.stage) {
            continue;
        }
        let k = v.stage as u8;
        if best.get(&k).is_none_or(|b| v.version > b.version) {
            best.insert(k, v.clone());
        }
    }
    let mut out: Vec<Version> = best.into_values().collect();
    out.sort_by_key(|v| v.version);
    out
}
