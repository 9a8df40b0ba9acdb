//! The MLflow model registry over lab's registry: a registered model is a lab model name, a
//! model version is a `ModelRegistered` version whose bundle names the artifact files under
//! its source, stages are `ModelPromoted`, aliases `ModelAliased` / `ModelUnaliased`. So a
//! version registered from Python shows in `lab models ls`, and `lab deploy NAME@N` can use it.

use std::collections::BTreeMap;

use super::filter::{self, Entity, Field};
use super::search::check_max;
use super::{
    RegModel, State, TResult, Tracking, Version, exists, internal, invalid, not_found, now_ms,
};
use crate::event::{Event, Stage};

fn parse_stage(s: &str) -> TResult<Stage> {
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

fn version_event(v: &Version, deleted: bool) -> Event {
    Event::ModelVersionSet {
        name: v.name.clone(),
        version: v.version,
        description: v.description.clone(),
        tags: v.tags.clone(),
        deleted,
    }
}

impl Tracking {
    fn model<'a>(s: &'a State, name: &str) -> TResult<&'a RegModel> {
        s.models
            .get(name)
            .ok_or_else(|| not_found(format!("Registered Model with name={name} not found")))
    }

    fn version<'a>(s: &'a State, name: &str, version: &str) -> TResult<&'a Version> {
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

    /// Where `source` is under the proxy root, if it names run artifacts.
    fn resolve_source(s: &State, source: &str, run_id: Option<&str>) -> TResult<Option<String>> {
        let decoded = super::percent_decode_all(source);
        if source.starts_with("file:")
            || decoded.split(['/', '\\']).any(|c| c == "..")
            || source.contains('#')
            || source.contains('?')
            || (source.starts_with('/') && !source.starts_with("//"))
        {
            return Err(invalid(format!(
                "Invalid model version source: '{source}'. To use a local path as a model version source, the run_id request parameter has to be specified and the local path has to be contained within the artifact directory of the run specified by the run_id."
            )));
        }
        if let Some(m) = source
            .strip_prefix("models:/")
            .and_then(|id| s.logged_models.get(id.trim_end_matches('/')))
        {
            // An MLflow 3 logged model: its files under its artifact location.
            return Ok(m
                .artifact_location
                .strip_prefix("mlflow-artifacts:")
                .map(|p| p.trim_start_matches('/').trim_end_matches('/').to_string()));
        }
        if let Some(rest) = source.strip_prefix("models:/") {
            // A copy (`copy_model_version`): the files of NAME/VERSION (or NAME@ALIAS).
            let v = if let Some((n, a)) = rest.split_once('@') {
                s.aliases
                    .get(n)
                    .and_then(|m| m.get(a))
                    .and_then(|v| s.versions.get(&(n.to_string(), *v)))
            } else {
                let (n, ver) = rest.rsplit_once('/').unwrap_or((rest, ""));
                ver.parse()
                    .ok()
                    .and_then(|ver: u32| s.versions.get(&(n.to_string(), ver)))
            };
            return Ok(v.and_then(|v| {
                v.storage
                    .strip_prefix("mlflow-artifacts:")
                    .map(|p| p.trim_start_matches('/').to_string())
            }));
        }
        if let Some(rest) = source.strip_prefix("runs:/") {
            let (run, path) = rest.split_once('/').unwrap_or((rest, ""));
            if !s.runs.contains_key(run) {
                // MLflow's registry does not check the run either: no files to bundle.
                return Ok(None);
            }
            let root = s.run_root(run);
            return Ok(Some(if path.is_empty() {
                root
            } else {
                format!("{root}/{}", path.trim_end_matches('/'))
            }));
        }
        if let Some(rest) = source.strip_prefix("mlflow-artifacts:") {
            let rest = rest.trim_start_matches('/');
            // `mlflow-artifacts://host:port/path` carries an authority.
            let rest = if source.starts_with("mlflow-artifacts://") {
                rest.split_once('/').map_or("", |(_, p)| p)
            } else {
                rest
            };
            return Ok(Some(rest.trim_end_matches('/').to_string()));
        }
        let _ = run_id;
        Ok(None)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn create_version(
        &self,
        name: &str,
        source: &str,
        run_id: Option<&str>,
        tags: BTreeMap<String, String>,
        description: &str,
        run_link: Option<&str>,
    ) -> TResult<Version> {
        let mut s = self.state()?;
        Self::model(&s, name)?;
        let under = Self::resolve_source(&s, source, run_id)?;
        // The bundle: every artifact file under the source, by relative path.
        let mut files = BTreeMap::new();
        if let Some(prefix) = &under {
            let p = format!("{prefix}/");
            for (k, (h, _)) in &s.artifacts {
                if let Some(rel) = k.strip_prefix(&p) {
                    files.insert(rel.to_string(), *h);
                } else if k == prefix {
                    let base = k.rsplit('/').next().unwrap_or(k);
                    files.insert(base.to_string(), *h);
                }
            }
        }
        let bundle = crate::models::Bundle {
            format: 1,
            kind: "mlflow".into(),
            files,
            base: None,
        };
        let mut json = serde_json::to_vec_pretty(&bundle).map_err(internal)?;
        json.push(b'\n');
        let model = self.lab.store.blobs.put(&json).map_err(internal)?;
        let version = s.last_version.get(name).copied().unwrap_or(0).max(
            // Native versions of the same name (lab's registry view) are counted too.
            self.lab
                .store
                .read_views(|v| {
                    use crate::store::views::Query;
                    Ok(crate::models::next_version(&v.registry()?, name) - 1)
                })
                .map_err(internal)?,
        ) + 1;
        let mut meta = BTreeMap::new();
        meta.insert("source".to_string(), source.to_string());
        let storage = match &under {
            Some(p) => format!("mlflow-artifacts:/{p}"),
            None => copied_storage(&s, source).unwrap_or_else(|| source.to_string()),
        };
        meta.insert("storage_location".to_string(), storage);
        if let Some(l) = run_link.filter(|l| !l.is_empty()) {
            meta.insert("run_link".to_string(), l.to_string());
        }
        let run = run_id
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .or_else(|| {
                source
                    .strip_prefix("runs:/")
                    .map(|r| r.split('/').next().unwrap_or(r).to_string())
            })
            .or_else(|| {
                // An MLflow 3 logged model: the run that logged it.
                source
                    .strip_prefix("models:/")
                    .and_then(|id| s.logged_models.get(id.trim_end_matches('/')))
                    .map(|m| m.source_run.clone())
                    .filter(|r| !r.is_empty())
            });
        let mut events = vec![Event::ModelRegistered {
            name: name.to_string(),
            version,
            model,
            run,
            description: description.to_string(),
            meta,
        }];
        if !tags.is_empty() || !description.is_empty() {
            events.push(Event::ModelVersionSet {
                name: name.to_string(),
                version,
                description: description.to_string(),
                tags,
                deleted: false,
            });
        }
        self.append(&mut s, events)?;
        s.versions
            .get(&(name.to_string(), version))
            .cloned()
            .ok_or_else(|| internal("the new version is missing"))
    }

    pub fn get_version(&self, name: &str, version: &str) -> TResult<Version> {
        let s = self.state()?;
        Self::version(&s, name, version).cloned()
    }

    pub fn change_version(
        &self,
        name: &str,
        version: &str,
        f: impl FnOnce(&mut Version) -> TResult<()>,
    ) -> TResult<Version> {
        let mut s = self.state()?;
        let mut v = Self::version(&s, name, version)?.clone();
        f(&mut v)?;
        self.append(&mut s, vec![version_event(&v, false)])?;
        Ok(s.versions
            .get(&(name.to_string(), v.version))
            .cloned()
            .expect("exists"))
    }

    pub fn delete_version(&self, name: &str, version: &str) -> TResult<()> {
        let mut s = self.state()?;
        let v = Self::version(&s, name, version)?.clone();
        self.append(&mut s, vec![version_event(&v, true)])
    }

    pub fn transition_stage(
        &self,
        name: &str,
        version: &str,
        stage: &str,
        archive_existing: bool,
    ) -> TResult<Version> {
        let st = parse_stage(stage)?;
        let mut s = self.state()?;
        let v = Self::version(&s, name, version)?.clone();
        let mut events = vec![Event::ModelPromoted {
            name: name.to_string(),
            version: v.version,
            stage: st,
        }];
        if archive_existing && matches!(st, Stage::Staging | Stage::Production) {
            for o in s.versions.values() {
                if o.name == name && o.version != v.version && o.stage == st {
                    events.push(Event::ModelPromoted {
                        name: name.to_string(),
                        version: o.version,
                        stage: Stage::Archived,
                    });
                }
            }
        }
        self.append(&mut s, events)?;
        Ok(s.versions
            .get(&(name.to_string(), v.version))
            .cloned()
            .expect("exists"))
    }

    pub fn search_versions(
        &self,
        filter_s: &str,
        order_by: &[String],
        max: usize,
        token: Option<&str>,
    ) -> TResult<(Vec<Version>, Option<String>)> {
        check_max(max, 200_000)?;
        let conds = filter::parse(filter_s).map_err(invalid)?;
        let field = |v: &Version, e: Entity, k: &str| match e {
            Entity::Tag => v.tags.get(k).map(|x| Field::Str(x.clone())),
            _ => match k {
                "name" => Some(Field::Str(v.name.clone())),
                "version_number" => Some(Field::Num(v.version as f64)),
                "run_id" => v.run_id.clone().map(Field::Str),
                "source_path" | "source" => Some(Field::Str(v.source.clone())),
                "current_stage" => Some(Field::Str(super::state::stage_name(v.stage).into())),
                "creation_timestamp" => Some(Field::Num(v.created_ms as f64)),
                "last_updated_timestamp" | "timestamp" => Some(Field::Num(v.updated_ms as f64)),
                _ => None,
            },
        };
        for c in &conds {
            if c.entity == Entity::Attr
                && field(
                    &Version {
                        name: String::new(),
                        version: 0,
                        model: Default::default(),
                        run_id: Some(String::new()),
                        source: String::new(),
                        storage: String::new(),
                        description: String::new(),
                        tags: BTreeMap::new(),
                        stage: Stage::None,
                        created_ms: 0,
                        updated_ms: 0,
                        seq: 0,
                    },
                    c.entity,
                    &c.key,
                )
                .is_none()
            {
                return Err(invalid(format!(
                    "Invalid attribute key '{}' specified. Valid keys are '['name', 'run_id', 'source_path', 'version_number']'",
                    c.key
                )));
            }
        }
        let mut orders = Vec::new();
        for o in order_by {
            orders.push(filter::parse_order(o).map_err(invalid)?);
        }
        let s = self.state()?;
        let default_order = orders.is_empty();
        let rows = filter::select(
            s.versions.values().cloned(),
            &conds,
            &orders,
            |v: &Version, e, k| field(v, e, k),
            registry_match,
            |a, b| {
                if default_order {
                    // MLflow's default: the most recently updated first.
                    b.updated_ms.cmp(&a.updated_ms).then(b.seq.cmp(&a.seq))
                } else {
                    a.name.cmp(&b.name).then(b.version.cmp(&a.version))
                }
            },
        );
        super::search_page(rows, max, token)
    }

    /// The versions with the newest in each stage, for a registered model's `latest_versions`.
    pub fn latest_all(&self, name: &str) -> TResult<Vec<Version>> {
        let s = self.state()?;
        Ok(latest_of(&s, name, &[]))
    }
}

/// Where a `models:/NAME/VERSION` source's files are, when they are not on this server.
fn copied_storage(s: &State, source: &str) -> Option<String> {
    let rest = source.strip_prefix("models:/")?;
    let (n, ver) = rest.rsplit_once('/')?;
    let v = s.versions.get(&(n.to_string(), ver.parse().ok()?))?;
    Some(v.storage.clone())
}

/// As `filter::matches`, but `tags.k != 'v'` also holds where the tag is missing (the registry's
/// semantics; the client hides prompts with `tag.mlflow.prompt.is_prompt != 'true'`).
fn registry_match(c: &filter::Cond, f: Option<&Field>) -> bool {
    if f.is_none() && c.op == filter::Op::Ne {
        return true;
    }
    filter::matches(c, f)
}

fn latest_of(s: &State, name: &str, wanted: &[Stage]) -> Vec<Version> {
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
