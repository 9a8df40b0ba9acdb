//! Whether a stage can be skipped: an earlier finished run with the same inputs (training,
//! external commands), evaluations already recorded for the same model and snapshot, or nothing
//! recorded since the stage last ran (report, verify). Read from the log and the blob store.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};

use super::{Cache, Ctx, SNAPSHOTS, StageOutput};
use crate::commands::{run, synth, train};
use crate::dataset::synth::Domain;
use crate::event::{Hash, RunStatus};
use crate::stages::{Stage, Step};
use crate::store::RunRow;

fn short(h: &Hash) -> String {
    format!("{}…", &h.to_hex()[..4])
}

impl Ctx<'_> {
    /// Whether `stage` can be skipped, and why (or why not).
    pub fn check(&mut self, stage: &Stage) -> Result<Cache> {
        if self.names.is_empty() {
            self.names = crate::stages::Dag::of(&self.lab.project)?
                .stages
                .iter()
                .map(|s| s.name().to_string())
                .collect();
        }
        match &stage.step {
            Step::Synth {
                dataset,
                count,
                text_lines,
                shifted,
                seed,
            } => {
                let domain = Domain::of(*shifted);
                let dir = synth::default_dir(self.lab, dataset, domain);
                let seed = self
                    .seed
                    .or(*seed)
                    .unwrap_or(self.lab.project.config.project.seed);
                let meta = dir.join("meta.json");
                let shown = self.lab.project.display_path(&meta);
                let Ok(bytes) = std::fs::read(&meta) else {
                    return Ok(Cache::Miss(format!("{shown} does not exist")));
                };
                let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
                // A dataset of an older generator, or with another number of text lines, is
                // rendered again.
                let same = m["seed"].as_u64() == Some(seed)
                    && m["count"].as_u64() == Some(*count as u64)
                    && m["domain"].as_str() == Some(domain.as_str())
                    && m["generator"].as_str() == Some(crate::dataset::synth::GENERATOR)
                    && m["text_lines"].as_u64() == Some(u64::from(*text_lines));
                Ok(if same {
                    Cache::Hit {
                        why: format!(
                            "{shown}: seed {seed}, {count} timetables, domain {} (edits to the \
                             files are kept; the snapshot records them)",
                            domain.as_str()
                        ),
                        output: StageOutput::default(),
                    }
                } else {
                    Cache::Miss(format!("{shown} was made with other settings"))
                })
            }
            // A snapshot is its own cache: unchanged files are not read again (stat cache)
            // and an unchanged tree records nothing.
            Step::Snapshot { .. } => Ok(Cache::Miss(SNAPSHOTS.into())),
            Step::Train { uses, .. } => {
                let (recipe, path, ov) = self.train_args(stage)?;
                let inputs = train::planned_inputs(self.lab, recipe, path.as_deref(), &ov)?;
                let runs = self.runs()?;
                let version = crate::lab::version();
                let same = |r: &RunRow| train::same_run(self.lab, r, uses, &inputs);
                if let Some(r) = runs
                    .iter()
                    .filter(|r| same(r))
                    .max_by_key(|r| r.started_seq)
                {
                    let output = StageOutput {
                        models: r
                            .outputs
                            .iter()
                            .filter(|o| o.role == "model")
                            .map(|o| (o.name.clone(), o.hash))
                            .collect(),
                    };
                    let parts: Vec<String> = inputs
                        .iter()
                        .map(|i| format!("{} {}", i.role, short(&i.hash)))
                        .collect();
                    let model = output.models.first().map_or("", |m| m.0.as_str());
                    return Ok(Cache::Hit {
                        why: format!(
                            "same {}, lab {version}, as run {} → {model}",
                            parts.join(", "),
                            &r.id[..8]
                        ),
                        output,
                    });
                }
                // Why not: what differs from the newest finished run of this recipe.
                let last = runs
                    .iter()
                    .filter(|r| r.recipe == *uses && r.status == RunStatus::Finished)
                    .max_by_key(|r| r.started_seq);
                Ok(Cache::Miss(match last {
                    None => format!("no finished {uses} run yet"),
                    Some(r) => {
                        let diff: Vec<String> = inputs
                            .iter()
                            .filter_map(|i| {
                                let old = r.inputs.iter().find(|o| o.role == i.role);
                                match old {
                                    Some(o) if o.hash == i.hash => None,
                                    Some(o) => Some(format!(
                                        "{} {} → {}",
                                        i.role,
                                        short(&o.hash),
                                        short(&i.hash)
                                    )),
                                    None => Some(format!("new {}", i.role)),
                                }
                            })
                            .collect();
                        if diff.is_empty() {
                            format!("lab's version changed since run {}", &r.id[..8])
                        } else {
                            format!("{} since run {}", diff.join(", "), &r.id[..8])
                        }
                    }
                }))
            }
            Step::Eval {
                model,
                dataset,
                splits,
                ..
            } => {
                let m = self.model_ref(model, &self.names.clone())?;
                let (mname, mhash) = self.model(&m)?;
                let (dname, dhash) = self.dataset(dataset.as_deref())?;
                self.evals_cached(&mname, mhash, &dname, dhash, splits)
            }
            Step::Extract {
                ocr,
                doc,
                dataset,
                splits,
            } => {
                let names = self.names.clone();
                let (on, oh) = self.model(&self.model_ref(ocr, &names)?)?;
                let (dn, dh) = self.model(&self.model_ref(doc, &names)?)?;
                let mut both = oh.0.to_vec();
                both.extend_from_slice(&dh.0);
                let (dname, dhash) = self.dataset(dataset.as_deref())?;
                self.evals_cached(
                    &format!("{on} + {dn}"),
                    Hash::of(&both),
                    &dname,
                    dhash,
                    splits,
                )
            }
            Step::Report | Step::Verify => {
                let stamp = self.stamp_path(stage);
                let (_, head) = self.lab.store.head()?;
                let outs_there = stage
                    .decl
                    .outs
                    .iter()
                    .all(|o| self.lab.project.root.join(o).exists());
                let was = std::fs::read_to_string(&stamp).unwrap_or_default();
                Ok(if was.trim() == head.to_hex() && outs_there {
                    Cache::Hit {
                        why: format!(
                            "nothing recorded since it last ran (log head {})",
                            short(&head)
                        ),
                        output: StageOutput::default(),
                    }
                } else {
                    Cache::Miss("the log changed since it last ran".into())
                })
            }
            Step::Cmd { cmd } => self.cmd_cached(stage, cmd),
        }
    }

    fn evals_cached(
        &mut self,
        model: &str,
        mhash: Hash,
        dname: &str,
        dhash: Hash,
        splits: &[String],
    ) -> Result<Cache> {
        let done = self.evaluated()?;
        let missing: Vec<&String> = splits
            .iter()
            .filter(|s| !done.contains(&(mhash, dhash, s.to_string())))
            .collect();
        Ok(if missing.is_empty() {
            Cache::Hit {
                why: format!(
                    "{model} ({}) already evaluated on {dname} ({}) {}",
                    short(&mhash),
                    short(&dhash),
                    splits.join(", ")
                ),
                output: StageOutput::default(),
            }
        } else {
            Cache::Miss(format!(
                "{model} not yet evaluated on {dname} {}",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    fn stamp_path(&self, stage: &Stage) -> PathBuf {
        self.lab
            .project
            .lab_dir()
            .join("stages")
            .join(format!("{}.head", stage.name()))
    }

    pub(super) fn write_stamp(&self, stage: &Stage) -> Result<()> {
        let p = self.stamp_path(stage);
        std::fs::create_dir_all(p.parent().expect("has a parent"))?;
        let (_, head) = self.lab.store.head()?;
        std::fs::write(&p, head.to_hex()).with_context(|| format!("cannot write {}", p.display()))
    }

    fn cmd_cached(&self, stage: &Stage, cmd: &str) -> Result<Cache> {
        let root = &self.lab.project.root;
        let mut deps = Vec::new();
        for d in &stage.dep_paths {
            let h = run::hash_path(&root.join(d))
                .with_context(|| format!("stage `{}`: dep {d} (deps in lab.toml)", stage.name()))?;
            deps.push(h);
        }
        let runs = self.runs()?;
        let hit = runs
            .iter()
            .filter(|r| {
                r.recipe == "cmd"
                    && r.status == RunStatus::Finished
                    && r.params.get("stage").map(String::as_str) == Some(stage.name())
                    && r.params.get("command").map(String::as_str) == Some(cmd_line(cmd).as_str())
                    && r.inputs.iter().map(|i| i.hash).eq(deps.iter().copied())
            })
            .max_by_key(|r| r.started_seq);
        let Some(r) = hit else {
            return Ok(Cache::Miss(format!(
                "no finished run of `{cmd}` with these deps"
            )));
        };
        // Reuse its outputs: put back any that are missing or changed.
        let mut restored = Vec::new();
        for o in r.outputs.iter().filter(|o| o.role == "out") {
            let p = root.join(&o.name);
            if run::hash_path(&p).ok() != Some(o.hash) {
                crate::fence::check(&self.lab.project, &p, "restore a cached output over")
                    .map_err(|e| anyhow!("stage `{}`: {e}", stage.name()))?;
                let dir = run::is_manifest(self.lab, &o.hash);
                if dir && p.is_dir() {
                    std::fs::remove_dir_all(&p).ok();
                }
                run::restore_path(self.lab, &o.hash, &p, dir).map_err(|e| {
                    anyhow!("stage `{}`: cannot reuse {}: {e:#}", stage.name(), o.name)
                })?;
                restored.push(o.name.clone());
            }
        }
        let deps_s: Vec<String> = deps.iter().map(short).collect();
        Ok(Cache::Hit {
            why: format!(
                "same command and deps ({}) as run {}{}",
                if deps_s.is_empty() {
                    "none".into()
                } else {
                    deps_s.join(", ")
                },
                &r.id[..8],
                if restored.is_empty() {
                    String::new()
                } else {
                    format!("; restored {} from the blob store", restored.join(", "))
                }
            ),
            output: StageOutput::default(),
        })
    }
}

/// The `command` param `lab run` records for a stage's `sh -c CMD`.
fn cmd_line(cmd: &str) -> String {
    format!("sh -c {cmd}")
}
