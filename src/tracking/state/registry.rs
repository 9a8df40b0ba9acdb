//! The registry's part of the picture: registered models, versions (registered from MLflow,
//! or a finished run's model outputs), stages and aliases.

use std::collections::BTreeMap;

use super::{RegModel, State, Version};
use crate::event::{Event, Hash, RunStatus, Stage};

impl State {
    /// Folds one event's registry facts (none for most events).
    pub(super) fn fold_registry(&mut self, body: &Event, ms: i64) {
        match body {
            Event::RegisteredModelSet {
                name,
                description,
                tags,
                created_ms,
                deleted,
            } => {
                if *deleted {
                    self.models.remove(name);
                    self.versions.retain(|(n, _), _| n != name);
                    self.aliases.remove(name);
                    self.last_version.remove(name);
                } else {
                    self.models.insert(
                        name.clone(),
                        RegModel {
                            name: name.clone(),
                            description: description.clone(),
                            tags: tags.clone(),
                            created_ms: *created_ms,
                            updated_ms: ms,
                        },
                    );
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
                self.add_version(name, *version, *model, run.clone(), description, meta, ms);
            }
            Event::ModelVersionSet {
                name,
                version,
                description,
                tags,
                deleted,
            } => {
                let key = (name.clone(), *version);
                if *deleted {
                    self.versions.remove(&key);
                    if let Some(a) = self.aliases.get_mut(name) {
                        a.retain(|_, v| *v != *version);
                    }
                    self.touch_model(name, ms);
                } else if let Some(v) = self.versions.get_mut(&key) {
                    // A version's description or tags do not touch its registered model.
                    v.description = description.clone();
                    v.tags = tags.clone();
                    v.updated_ms = ms;
                }
            }
            Event::ModelPromoted {
                name,
                version,
                stage,
            } => {
                if let Some(v) = self.versions.get_mut(&(name.clone(), *version)) {
                    v.stage = *stage;
                    v.updated_ms = ms;
                }
                self.touch_model(name, ms);
            }
            Event::ModelAliased {
                name,
                version,
                alias,
            } => {
                self.aliases
                    .entry(name.clone())
                    .or_default()
                    .insert(alias.clone(), *version);
            }
            Event::ModelUnaliased { name, alias } => {
                if let Some(a) = self.aliases.get_mut(name) {
                    a.remove(alias);
                }
            }
            _ => {}
        }
        // Trained versions (a finished run's model outputs).
        if let Event::RunFinished {
            run,
            status: RunStatus::Finished,
            outputs,
            ..
        } = body
        {
            for o in outputs.iter().filter(|o| o.role == "model") {
                if let Some((n, v)) = crate::store::registry::split_label(&o.name) {
                    if !self.versions.contains_key(&(n.to_string(), v)) {
                        self.add_version(n, v, o.hash, Some(run.clone()), "", &BTreeMap::new(), ms);
                    }
                }
            }
        }
    }

    fn touch_model(&mut self, name: &str, ms: i64) {
        if let Some(m) = self.models.get_mut(name) {
            m.updated_ms = ms;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add_version(
        &mut self,
        name: &str,
        version: u32,
        model: Hash,
        run: Option<String>,
        description: &str,
        meta: &BTreeMap<String, String>,
        ms: i64,
    ) {
        let key = (name.to_string(), version);
        if self.versions.contains_key(&key) {
            return;
        }
        if !self.models.contains_key(name) {
            self.models.insert(
                name.to_string(),
                RegModel {
                    name: name.to_string(),
                    description: String::new(),
                    tags: BTreeMap::new(),
                    created_ms: ms,
                    updated_ms: ms,
                },
            );
        }
        self.touch_model(name, ms);
        let last = self.last_version.entry(name.to_string()).or_insert(0);
        *last = (*last).max(version);
        let source = meta.get("source").cloned().unwrap_or_else(|| match &run {
            Some(r) => format!("runs:/{r}/model"),
            None => format!("lab:{}", model.to_hex()),
        });
        let storage = meta
            .get("storage_location")
            .cloned()
            .unwrap_or_else(|| source.clone());
        self.versions.insert(
            key,
            Version {
                name: name.to_string(),
                version,
                model,
                run_id: run,
                source,
                storage,
                description: description.to_string(),
                tags: BTreeMap::new(),
                stage: Stage::None,
                created_ms: ms,
                updated_ms: ms,
                seq: self.seq,
            },
        );
    }

    /// The aliases pointing at one version.
    pub fn aliases_of(&self, name: &str, version: u32) -> Vec<String> {
        self.aliases
            .get(name)
            .map(|a| {
                a.iter()
                    .filter(|(_, v)| **v == version)
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}
