//! MLflow model versions over lab's registry: a version is a `ModelRegistered` event whose
//! bundle names the artifact files under its source (a run's artifacts, a logged model, another
//! version); its stage is `ModelPromoted`. Registered models and aliases are in `registry`.

use std::collections::BTreeMap;

use super::filter::{self, Entity, Field};
use super::registry::{latest_of, parse_stage, registry_match, version_event};
use super::search::check_max;
use super::{State, TResult, Tracking, Version, internal, invalid};
use crate::event::{Event, Stage};

impl Tracking {
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
