//! The pipeline as declared stages (`[[stages]]` in `lab.toml`): parsing each stage's step and
//! settings, checking references, ordering the DAG, and which stages a changed path affects.
//! Pure: no log, no training. Running the stages (and deciding from the log which are cached)
//! is `commands::pipeline`.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use crate::project::{Config, Project, StageDecl};

/// A reference to another stage's output, as written in `deps` and `with` values.
pub const STAGE_REF: &str = "stage:";

/// The built-in steps `uses` accepts.
pub const USES: &[&str] = &[
    "data.synth",
    "data.snapshot",
    "train.ocr-teacher",
    "train.ocr-distill",
    "train.ocr-lora",
    "train.doc-base",
    "train.doc-lora",
    "eval",
    "eval.extract",
    "report",
    "verify",
];

/// A mistake in the stages of `lab.toml`, naming the file, line, stage and key.
#[derive(Debug, thiserror::Error)]
#[error("{}: stage `{stage}`: {key}: {message}", self.place())]
pub struct StageError {
    pub file: String,
    /// 1-based, from the parser's spans; 0 for the default stages (no file to point into).
    pub line: usize,
    pub column: usize,
    pub stage: String,
    pub key: String,
    pub message: String,
}

impl StageError {
    /// `lab.toml:12:1`, or the file alone when there is no line to name.
    fn place(&self) -> String {
        if self.line == 0 {
            self.file.clone()
        } else {
            format!("{}:{}:{}", self.file, self.line, self.column)
        }
    }
}

/// What a stage does.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Render the embedded default dataset (`lab data synth`).
    Synth {
        dataset: String,
        count: u32,
        /// Free text lines per timetable.
        text_lines: u32,
        shifted: bool,
        seed: Option<u64>,
    },
    /// Snapshot each dependency directory under its directory name.
    Snapshot {
        dirs: Vec<String>,
    },
    /// A training recipe (`uses` is its id) with its config and overrides.
    Train {
        uses: String,
        config: Option<String>,
        with: toml::Table,
    },
    /// Evaluate a model (OCR, or a document model under OCR noise) on splits of a snapshot.
    Eval {
        model: String,
        dataset: Option<String>,
        splits: Vec<String>,
        noise: f64,
    },
    /// Extraction end to end from images.
    Extract {
        ocr: String,
        doc: String,
        dataset: Option<String>,
        splits: Vec<String>,
    },
    Report,
    Verify,
    /// An external command, run with `sh -c` in the project root.
    Cmd {
        cmd: String,
    },
}

/// One checked stage.
#[derive(Clone, Debug)]
pub struct Stage {
    pub decl: StageDecl,
    pub step: Step,
    /// Indices (into `Dag::stages`) of the stages this one needs.
    pub upstream: Vec<usize>,
    /// Dependency paths (relative to the project root).
    pub dep_paths: Vec<String>,
}

impl Stage {
    pub fn name(&self) -> &str {
        &self.decl.name
    }
}

/// The stages in an order that runs every stage after the ones it needs.
#[derive(Clone, Debug)]
pub struct Dag {
    pub stages: Vec<Stage>,
    /// Whether they came from `lab.toml` (else the default flow).
    pub declared: bool,
}

/// The default stages for a project whose `lab.toml` declares none.
pub fn default_decls(config: &Config) -> Vec<StageDecl> {
    #[derive(serde::Deserialize)]
    struct Only {
        stages: Vec<StageDecl>,
    }
    let text = crate::project::default_stages_toml(&config.data.default);
    let only: Only = toml::from_str(&text).expect("the default stages parse");
    only.stages
}

/// `a` is `b` or inside it (or the other way round), comparing normalised relative paths.
fn overlaps(a: &str, b: &str) -> bool {
    let a = norm(a);
    let b = norm(b);
    a.starts_with(&b) || b.starts_with(&a)
}

fn norm(p: &str) -> PathBuf {
    Path::new(p)
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

impl Dag {
    /// Checks the project's stages (or the default ones) and orders them.
    pub fn of(project: &Project) -> Result<Dag, StageError> {
        let declared = !project.config.stages.is_empty();
        let decls = if declared {
            project.config.stages.clone()
        } else {
            default_decls(&project.config)
        };
        let text = if declared {
            std::fs::read_to_string(project.root.join(crate::project::CONFIG_FILE))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Dag::new(decls, &text, declared)
    }

    /// Checks `decls` (from `text`, used to name lines) and orders them.
    pub fn new(decls: Vec<StageDecl>, text: &str, declared: bool) -> Result<Dag, StageError> {
        let file = if declared {
            crate::project::CONFIG_FILE.to_string()
        } else {
            "the default stages (lab.toml declares none)".to_string()
        };
        // Where the stage's key is, from the parser's spans: `stages[i].with.dataset`.
        let place = |stage: &str, key: &str| -> (usize, usize) {
            use crate::project::spans::{Seg, locate};
            let Some(i) = decls.iter().position(|d| d.name == stage) else {
                return (0, 0);
            };
            let mut path = vec![Seg::Key("stages"), Seg::Index(i)];
            path.extend(key.split('.').map(Seg::Key));
            locate(text, &path).unwrap_or((0, 0))
        };
        let err = |stage: &str, key: &str, message: String| {
            let (line, column) = place(stage, key);
            StageError {
                file: file.clone(),
                line,
                column,
                stage: stage.to_string(),
                key: key.to_string(),
                message,
            }
        };
        let mut seen = BTreeSet::new();
        for d in &decls {
            if d.name.is_empty()
                || !d
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(err(
                    &d.name,
                    "name",
                    "a stage needs a name of letters, digits, `_` or `-`".into(),
                ));
            }
            if !seen.insert(d.name.clone()) {
                return Err(err(
                    &d.name,
                    "name",
                    "two stages have this name — rename one".into(),
                ));
            }
        }
        let index = |n: &str| decls.iter().position(|d| d.name == n);
        let mut stages = Vec::new();
        for d in &decls {
            let step = step_of(d).map_err(|(key, m)| err(&d.name, &key, m))?;
            let mut upstream = BTreeSet::new();
            let mut dep_paths = Vec::new();
            for dep in &d.deps {
                match dep.strip_prefix(STAGE_REF) {
                    Some(n) => match index(n) {
                        Some(i) => {
                            upstream.insert(i);
                        }
                        None => {
                            return Err(err(
                                &d.name,
                                "deps",
                                format!(
                                    "`{dep}` names no stage — the stages are {}",
                                    names(&decls)
                                ),
                            ));
                        }
                    },
                    None => dep_paths.push(dep.clone()),
                }
            }
            for (key, v) in &d.with {
                if let Some(n) = v.as_str().and_then(|s| s.strip_prefix(STAGE_REF)) {
                    match index(n) {
                        Some(i) => {
                            upstream.insert(i);
                        }
                        None => {
                            return Err(err(
                                &d.name,
                                &format!("with.{key}"),
                                format!(
                                    "`stage:{n}` names no stage — the stages are {}",
                                    names(&decls)
                                ),
                            ));
                        }
                    }
                }
            }
            // A dependency path another stage writes makes that stage upstream (like DVC).
            for p in &dep_paths {
                for (i, o) in decls.iter().enumerate() {
                    if o.name != d.name && o.outs.iter().any(|out| overlaps(out, p)) {
                        upstream.insert(i);
                    }
                }
            }
            if let Some(i) = index(&d.name) {
                upstream.remove(&i);
            }
            stages.push(Stage {
                decl: d.clone(),
                step,
                upstream: upstream.into_iter().collect(),
                dep_paths,
            });
        }
        // Kahn's algorithm, taking the earliest declared ready stage first.
        let n = stages.len();
        let mut done = vec![false; n];
        let mut order = Vec::new();
        while order.len() < n {
            let next = (0..n).find(|&i| !done[i] && stages[i].upstream.iter().all(|&u| done[u]));
            match next {
                Some(i) => {
                    done[i] = true;
                    order.push(i);
                }
                None => {
                    let stuck: Vec<&str> = (0..n)
                        .filter(|&i| !done[i])
                        .map(|i| stages[i].name())
                        .collect();
                    return Err(err(
                        stuck[0],
                        "deps",
                        format!(
                            "the stages {} depend on each other in a cycle — remove one of the \
                             dependencies",
                            stuck.join(", ")
                        ),
                    ));
                }
            }
        }
        let pos: Vec<usize> = {
            let mut p = vec![0; n];
            for (k, &i) in order.iter().enumerate() {
                p[i] = k;
            }
            p
        };
        let mut sorted: Vec<Stage> = order.iter().map(|&i| stages[i].clone()).collect();
        for s in &mut sorted {
            s.upstream = s.upstream.iter().map(|&u| pos[u]).collect();
            s.upstream.sort();
        }
        Ok(Dag {
            stages: sorted,
            declared,
        })
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name() == name)
    }

    /// The names of all stages, for messages.
    pub fn names(&self) -> String {
        self.stages
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Stage `i` and every stage downstream of it.
    pub fn downstream(&self, i: usize) -> BTreeSet<usize> {
        let mut out = BTreeSet::from([i]);
        for (k, s) in self.stages.iter().enumerate().skip(i + 1) {
            if s.upstream.iter().any(|u| out.contains(u)) {
                out.insert(k);
            }
        }
        out
    }

    /// The stages a change to `changed` (paths relative to the project root) affects: those
    /// that depend on a changed path or read a changed config file, and everything downstream.
    pub fn affected(&self, changed: &[String]) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        for (i, s) in self.stages.iter().enumerate() {
            let mut reads: Vec<String> = s.dep_paths.clone();
            if let Step::Train { uses, config, .. } = &s.step {
                reads.push(config.clone().unwrap_or_else(|| default_config(uses)));
            }
            if changed.iter().any(|c| reads.iter().any(|r| overlaps(r, c))) {
                out.extend(self.downstream(i));
            }
        }
        out
    }
}

/// The config file a training step reads when the stage names none.
pub fn default_config(uses: &str) -> String {
    crate::ml::recipe::Recipe::ALL
        .into_iter()
        .find(|r| r.id() == uses)
        .map(|r| format!("configs/{}", r.default_config().0))
        .unwrap_or_default()
}

fn names(decls: &[StageDecl]) -> String {
    decls
        .iter()
        .map(|d| d.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

mod with;

type KeyErr = (String, String);

/// `w` as the settings type `T`, the parser's errors named `with.KEY`.
fn settings<T: serde::de::DeserializeOwned>(w: &toml::Table) -> Result<T, KeyErr> {
    toml::Value::Table(w.clone()).try_into::<T>().map_err(|e| {
        let msg = e.to_string();
        let msg = msg.trim();
        let quoted = |after: &str| {
            msg.split(after)
                .nth(1)
                .and_then(|r| r.split('`').next())
                .map(str::to_string)
        };
        if let Some(k) = quoted("unknown field `") {
            let takes = msg
                .split("expected one of ")
                .nth(1)
                .map_or_else(|| "none".to_string(), |r| r.replace('`', ""));
            return (
                format!("with.{k}"),
                format!("unknown setting for this step — it takes {takes}"),
            );
        }
        if let Some(k) = quoted("missing field `") {
            let what = with::WHAT
                .iter()
                .find(|(f, _)| *f == k)
                .map_or("it", |(_, d)| *d);
            return (format!("with.{k}"), format!("missing: give {what}"));
        }
        match msg.rsplit_once("\nin `") {
            Some((m, k)) => (format!("with.{}", k.trim_end_matches('`')), m.to_string()),
            None => ("with".into(), msg.to_string()),
        }
    })
}

fn step_of(d: &StageDecl) -> Result<Step, KeyErr> {
    let w = &d.with;
    let uses = match (&d.uses, &d.cmd) {
        (Some(_), Some(_)) => {
            return Err((
                "uses".into(),
                "give either `uses` (a built-in step) or `cmd` (a command), not both".into(),
            ));
        }
        (None, None) => {
            return Err((
                "uses".into(),
                format!(
                    "missing: give `uses` (one of {}) or `cmd = \"…\"`",
                    USES.join(", ")
                ),
            ));
        }
        (None, Some(cmd)) => {
            settings::<with::None>(w)?;
            if cmd.trim().is_empty() {
                return Err(("cmd".into(), "the command is empty".into()));
            }
            return Ok(Step::Cmd { cmd: cmd.clone() });
        }
        (Some(u), None) => u.as_str(),
    };
    if d.config.is_some() && !uses.starts_with("train.") {
        return Err((
            "config".into(),
            format!("only training steps read a config; `{uses}` does not"),
        ));
    }
    Ok(match uses {
        "data.synth" => {
            let s: with::Synth = settings(w)?;
            if s.count == 0 {
                return Err((
                    "with.count".into(),
                    "expected a positive number, found `0`".into(),
                ));
            }
            if s.text_lines > 1000 {
                return Err((
                    "with.text_lines".into(),
                    format!("expected a number from 0 to 1000, found `{}`", s.text_lines),
                ));
            }
            Step::Synth {
                dataset: s.dataset,
                count: s.count,
                text_lines: s.text_lines,
                shifted: s.domain == with::Domain::Shifted,
                seed: s.seed,
            }
        }
        "data.snapshot" => {
            settings::<with::None>(w)?;
            let dirs: Vec<String> = d
                .deps
                .iter()
                .filter(|p| !p.starts_with(STAGE_REF))
                .cloned()
                .collect();
            if dirs.is_empty() {
                return Err((
                    "deps".into(),
                    "data.snapshot needs the directories to snapshot in `deps`".into(),
                ));
            }
            Step::Snapshot { dirs }
        }
        u if u.starts_with("train.") => {
            if !crate::ml::recipe::Recipe::ALL.iter().any(|r| r.id() == u) {
                return Err(unknown_uses(u));
            }
            settings::<with::Train>(w)?;
            Step::Train {
                uses: u.to_string(),
                config: d.config.clone(),
                with: w.clone(),
            }
        }
        "eval" => {
            let e: with::Eval = settings(w)?;
            if !(0.0..=1.0).contains(&e.noise) {
                return Err((
                    "with.noise".into(),
                    format!("expected a number between 0 and 1, found `{}`", e.noise),
                ));
            }
            if e.splits.is_empty() {
                return Err((
                    "with.splits".into(),
                    "expected a list of split names like [\"test\"], found `[]`".into(),
                ));
            }
            Step::Eval {
                model: e.model,
                dataset: e.dataset,
                splits: e.splits,
                noise: e.noise,
            }
        }
        "eval.extract" => {
            let e: with::Extract = settings(w)?;
            if e.splits.is_empty() {
                return Err((
                    "with.splits".into(),
                    "expected a list of split names like [\"test\"], found `[]`".into(),
                ));
            }
            Step::Extract {
                ocr: e.ocr,
                doc: e.doc,
                dataset: e.dataset,
                splits: e.splits,
            }
        }
        "report" => {
            settings::<with::None>(w)?;
            Step::Report
        }
        "verify" => {
            settings::<with::None>(w)?;
            Step::Verify
        }
        other => return Err(unknown_uses(other)),
    })
}

fn unknown_uses(u: &str) -> KeyErr {
    (
        "uses".into(),
        format!(
            "`{u}` is not a built-in step — use one of {}",
            USES.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests;
