//! One-line human summaries of events, for `lab log`.

use super::{Event, ReplayVerdict, human_bytes};

impl Event {
    /// A one-line human summary for `lab log`.
    pub fn summary(&self) -> String {
        match self {
            Event::DatasetSnapshotted {
                name,
                version,
                root,
                files,
                bytes,
                manifest,
            } => format!(
                "{name}@{version} {root} — {files} files, {} (manifest {})",
                human_bytes(*bytes),
                manifest.short()
            ),
            Event::RunStarted {
                run,
                name,
                recipe,
                seed,
                ..
            } => format!(
                "run {} '{name}' started ({recipe}{})",
                &run[..run.len().min(8)],
                seed.map(|s| format!(", seed {s}")).unwrap_or_default()
            ),
            Event::MetricsLogged { run, metrics } => {
                let n: usize = metrics.iter().map(|m| m.points.len()).sum();
                let keys: Vec<&str> = metrics.iter().map(|m| m.key.as_str()).collect();
                format!(
                    "run {} logged {n} points ({})",
                    &run[..run.len().min(8)],
                    keys.join(", ")
                )
            }
            Event::ArtifactLogged {
                run, path, size, ..
            } => format!(
                "run {} artifact {path} ({})",
                &run[..run.len().min(8)],
                human_bytes(*size)
            ),
            Event::RunFinished { run, status, .. } => {
                format!("run {} {}", &run[..run.len().min(8)], status.as_str())
            }
            Event::ModelRegistered { name, version, .. } => {
                format!("model {name}@{version} registered")
            }
            Event::ModelPromoted {
                name,
                version,
                stage,
            } => format!("model {name}@{version} → {stage:?}"),
            Event::ModelAliased {
                name,
                version,
                alias,
            } => format!("model {name}@{version} aliased {alias}"),
            Event::Evaluated { model, metrics, .. } => {
                let m: Vec<String> = metrics.iter().map(|(k, v)| format!("{k}={v:.4}")).collect();
                format!("evaluated {model}: {}", m.join(" "))
            }
            Event::DeploymentRequested {
                env,
                model,
                version,
            } => format!("deploy {model}@{version} to {env} requested"),
            Event::DeploymentValidated {
                env,
                model,
                version,
                passed,
                ..
            } => format!(
                "deploy {model}@{version} to {env}: gates {}",
                if *passed { "passed" } else { "failed" }
            ),
            Event::Deployed {
                env,
                model,
                version,
            } => format!("{model}@{version} deployed to {env}"),
            Event::RolledBack {
                env,
                model,
                from_version,
                to_version,
            } => format!("{env} rolled back {model}@{from_version} → @{to_version}"),
            Event::Undeployed {
                env,
                model,
                version,
                reason,
            } => format!("{model}@{version} no longer served in {env}: {reason}"),
            Event::AbStarted {
                name, a, b, split, ..
            } => {
                format!("A/B {name} started: {a} vs {b}, split {split}")
            }
            Event::AbConcluded { name, winner, .. } => format!(
                "A/B {name} concluded, winner {}",
                winner.as_deref().unwrap_or("none")
            ),
            Event::InferencesRecorded { records } => {
                format!("{} inferences recorded", records.len())
            }
            Event::FeedbackRecorded { records } => format!(
                "{} feedback records ({} correct)",
                records.len(),
                records.iter().filter(|r| r.correct).count()
            ),
            Event::DriftChecked {
                model,
                metric,
                score,
                drifted,
                ..
            } => format!(
                "drift {model} {metric}={score:.4}{}",
                if *drifted { " DRIFT" } else { "" }
            ),
            Event::AlertRaised {
                rule,
                metric,
                value,
                ..
            } => format!("alert {rule}: {metric}={value}"),
            Event::AlertResolved { rule } => format!("alert {rule} resolved"),
            Event::ReplayVerified { run, verdict, .. } => {
                let v = match verdict {
                    ReplayVerdict::Identical => "identical",
                    ReplayVerdict::Differs { .. } => "differs",
                    ReplayVerdict::CannotReplay { .. } => "cannot replay",
                };
                format!("replay of run {}: {v}", &run[..run.len().min(8)])
            }
            Event::GitCommitted {
                commit,
                branch,
                changed,
            } => format!(
                "commit {} on {}: {} paths changed",
                &commit[..commit.len().min(12)],
                branch.as_deref().unwrap_or("(detached)"),
                changed.len()
            ),
            Event::ExperimentSet {
                id,
                name,
                lifecycle,
                ..
            } => format!("experiment {id} `{name}` ({lifecycle})"),
            Event::RunUpdated {
                run,
                params,
                tags,
                deleted_tags,
                attrs,
            } => format!(
                "run {} updated: {} params, {} tags set, {} deleted, {}",
                &run[..run.len().min(8)],
                params.len(),
                tags.len(),
                deleted_tags.len(),
                attrs
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            Event::ArtifactDeleted { run, path } => {
                format!(
                    "artifact {path} of run {} deleted",
                    &run[..run.len().min(8)]
                )
            }
            Event::LoggedModelSet {
                id,
                name,
                status,
                deleted,
                ..
            } => {
                if *deleted {
                    format!("logged model {name} ({id}) deleted")
                } else {
                    format!(
                        "logged model {name} ({id}) {}",
                        status
                            .strip_prefix("LOGGED_MODEL_")
                            .unwrap_or(status)
                            .to_lowercase()
                    )
                }
            }
            Event::RegisteredModelSet { name, deleted, .. } => {
                if *deleted {
                    format!("registered model {name} deleted")
                } else {
                    format!("registered model {name} set")
                }
            }
            Event::ModelVersionSet {
                name,
                version,
                deleted,
                ..
            } => {
                if *deleted {
                    format!("model version {name}@{version} deleted")
                } else {
                    format!("model version {name}@{version} updated")
                }
            }
            Event::ModelUnaliased { name, alias } => format!("alias {name}@{alias} removed"),
        }
    }
}
