//! The project: `lab.toml`, its paths, discovery (walk up like git), and `lab init`.

use std::fs;
use std::path::{Path, PathBuf};

pub mod spans;

use serde::Deserialize;

/// The file that marks a lab project.
pub const CONFIG_FILE: &str = "lab.toml";

/// Errors a user causes with the project's files. Each says where and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// No `lab.toml` in the current directory or above.
    #[error(
        "not a lab project (no lab.toml here or in any parent) — run lab init\n  (searched {0} and every directory above it)"
    )]
    NotFound(PathBuf),
    /// The directory to start from (the current one, or `-C DIR`) does not exist.
    #[error("directory {0} does not exist — check the path given with -C/--dir")]
    NoDir(PathBuf),
    /// `lab.toml` does not parse or has an unknown key.
    #[error(
        "{path}:{line}:{column}: {message}\n  fix the file (every key is documented in the file `lab init` writes)"
    )]
    Config {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source} — check that the path exists and that you may read and write it")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ProjectError + '_ {
    move |source| ProjectError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `lab.toml`, parsed. Unknown keys are errors (a typo must not be silently ignored).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub project: ProjectSection,
    pub paths: PathsSection,
    pub data: DataSection,
    /// What `lab gc` keeps.
    pub gc: GcSection,
    /// The pipeline as stages (`[[stages]]`); empty means the default flow
    /// (`stages::default_decls`).
    pub stages: Vec<StageDecl>,
}

/// One `[[stages]]` entry of `lab.toml`: a built-in step (`uses`) or an external command
/// (`cmd`), with what it depends on and what it writes. Checked by `stages::Dag::new`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StageDecl {
    pub name: String,
    /// A built-in step: `data.synth`, `data.snapshot`, `train.ocr-teacher`, `eval`, …
    pub uses: Option<String>,
    /// An external command, run with `sh -c` in the project root as a tracked run.
    pub cmd: Option<String>,
    /// A training recipe's config file (default: the recipe's own under configs/).
    pub config: Option<String>,
    /// Paths (files or directories, relative to the project) and `stage:NAME` references.
    pub deps: Vec<String>,
    /// Paths the stage writes.
    pub outs: Vec<String>,
    /// The step's settings (`dataset`, `teacher = "stage:ocr_teacher"`, `splits`, …).
    pub with: toml::Table,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectSection {
    pub name: String,
    pub experiment: String,
    pub seed: u64,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PathsSection {
    pub datasets: PathBuf,
    pub configs: PathBuf,
    pub reports: PathBuf,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DataSection {
    pub default: String,
}

/// `[gc]`: what `lab gc` keeps besides every blob the log refers to.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GcSection {
    /// Epoch checkpoints kept of each finished training run: the newest N (`--keep-checkpoints`
    /// overrides it). Replay needs none; `--resume` only those of killed or failed runs, which
    /// `lab gc` never removes.
    pub keep_checkpoints: u32,
}

impl Default for GcSection {
    fn default() -> Self {
        GcSection {
            keep_checkpoints: 1,
        }
    }
}

impl Default for ProjectSection {
    fn default() -> Self {
        ProjectSection {
            name: "lab-project".into(),
            experiment: "timetable-extraction".into(),
            seed: 42,
        }
    }
}

impl Default for PathsSection {
    fn default() -> Self {
        PathsSection {
            datasets: "datasets".into(),
            configs: "configs".into(),
            reports: "reports".into(),
        }
    }
}

impl Default for DataSection {
    fn default() -> Self {
        DataSection {
            default: "timetables".into(),
        }
    }
}

/// The commented `lab.toml` that `lab init` writes. Every key, with its default.
pub fn default_toml(name: &str) -> String {
    format!(
        r#"# lab.toml — the settings of this lab project. Every key is optional; the values
# below are the defaults. lab finds the project by looking for this file in the current
# directory and its parents, like git. Unknown keys are errors, so a typo cannot hide.

[project]
# The project's name, shown in reports and by `lab serve`.
name = "{name}"
# The experiment runs are filed under when a command is not given --experiment.
experiment = "timetable-extraction"
# The seed every recipe derives its random streams from when not given --seed.
seed = 42

[paths]
# Where datasets live (raw data; the embedded default is generated here). Relative to this file.
datasets = "datasets"
# Training recipes, monitoring rules and deployment gates, one TOML each.
configs = "configs"
# Generated HTML and PNG reports (git-ignored).
reports = "reports"

[data]
# The dataset `lab pipeline` works on: a directory under `paths.datasets`.
default = "timetables"

[gc]
# How many epoch checkpoints `lab gc` keeps of each finished training run (the newest ones;
# `lab gc --keep-checkpoints N` overrides it). `lab replay` needs none of them (it retrains
# from the recorded dataset, settings and parent model); `--resume` needs only those of
# killed or failed runs, which `lab gc` never removes.
keep_checkpoints = 1
"#
    ) + &default_stages_toml("timetables")
}

/// The `[[stages]]` of the default pipeline for dataset `dataset`, as `lab init` writes them.
pub fn default_stages_toml(dataset: &str) -> String {
    include_str!("../stages/default.toml").replace("{dataset}", dataset)
}

/// An opened project: its root and settings.
#[derive(Clone, Debug)]
pub struct Project {
    pub root: PathBuf,
    pub config: Config,
}

impl Project {
    /// Finds the project containing `start` by walking up to the first `lab.toml`.
    pub fn discover(start: &Path) -> Result<Project, ProjectError> {
        let start = start.canonicalize().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ProjectError::NoDir(start.to_path_buf()),
            _ => io(start)(e),
        })?;
        let mut dir = start.as_path();
        loop {
            let candidate = dir.join(CONFIG_FILE);
            if candidate.is_file() {
                return Project::open(dir);
            }
            match dir.parent() {
                Some(p) => dir = p,
                None => return Err(ProjectError::NotFound(start)),
            }
        }
    }

    /// Opens the project whose `lab.toml` is in `root`.
    pub fn open(root: &Path) -> Result<Project, ProjectError> {
        let path = root.join(CONFIG_FILE);
        let text = fs::read_to_string(&path).map_err(io(&path))?;
        let config = parse_config(&path, &text)?;
        Ok(Project {
            root: root.to_path_buf(),
            config,
        })
    }

    pub fn lab_dir(&self) -> PathBuf {
        self.root.join(".lab")
    }

    pub fn datasets_dir(&self) -> PathBuf {
        self.root.join(&self.config.paths.datasets)
    }

    pub fn configs_dir(&self) -> PathBuf {
        self.root.join(&self.config.paths.configs)
    }

    pub fn reports_dir(&self) -> PathBuf {
        self.root.join(&self.config.paths.reports)
    }

    /// `path` relative to the project root when it is inside it, else absolute.
    pub fn display_path(&self, path: &Path) -> String {
        match path.strip_prefix(&self.root) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".into(),
            Ok(rel) => rel.to_string_lossy().into_owned(),
            Err(_) => path.to_string_lossy().into_owned(),
        }
    }
}

/// Parses `lab.toml` text, turning errors into file:line:column messages.
pub fn parse_config(path: &Path, text: &str) -> Result<Config, ProjectError> {
    parse_toml(path, text)
}

/// Parses any TOML file of the project (lab.toml, recipe configs), turning errors — syntax,
/// a wrong type, an unknown key — into file:line:column messages.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, ProjectError> {
    toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map(|s| spans::line_col(text, s.start))
            .unwrap_or((1, 1));
        let mut message = e.message().trim().to_string();
        if let Some(key) = e.span().and_then(|s| spans::key_at(text, s.start)) {
            if !message.contains(&format!("`{key}`")) {
                message = format!("key `{key}`: {message}");
            }
        }
        ProjectError::Config {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    })
}

/// What `init` did.
#[derive(Debug, serde::Serialize)]
pub struct InitReport {
    pub root: PathBuf,
    /// Paths created (relative to root); empty when the project already existed as is.
    pub created: Vec<String>,
}

/// `lab init DIR`: writes `lab.toml`, the folders, `.lab/` and a `.gitignore` entry for lab's
/// generated state. Idempotent: an existing file is never overwritten.
pub fn init(dir: &Path) -> Result<InitReport, ProjectError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    let root = dir.canonicalize().map_err(io(dir))?;
    let mut created = Vec::new();
    let cfg_path = root.join(CONFIG_FILE);
    let config = if cfg_path.exists() {
        // Validate, so that `init` on a broken project says so instead of "done".
        Project::open(&root)?.config
    } else {
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "lab-project".into());
        let name: String = name
            .chars()
            .filter(|c| !matches!(c, '"' | '\\') && !c.is_control())
            .collect();
        write_new(&cfg_path, &default_toml(&name))?;
        created.push(CONFIG_FILE.to_string());
        parse_config(&cfg_path, &default_toml(&name))?
    };
    for d in [
        config.paths.datasets.clone(),
        config.paths.configs.clone(),
        config.paths.reports.clone(),
        PathBuf::from(".lab"),
    ] {
        let p = root.join(&d);
        if !p.exists() {
            fs::create_dir_all(&p).map_err(io(&p))?;
            created.push(d.to_string_lossy().into_owned());
        }
    }
    // lab's state and generated files stay out of git: the log tracks them by hash.
    let gi = root.join(".gitignore");
    let existing = fs::read_to_string(&gi).unwrap_or_default();
    let wanted = [
        "/.lab/".to_string(),
        format!("/{}/", config.paths.reports.display()),
        format!("/{}/", config.paths.datasets.display()),
    ];
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|w| !existing.lines().any(|l| l.trim() == w.as_str()))
        .collect();
    if !missing.is_empty() {
        let mut text = existing.clone();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        if existing.is_empty() {
            text.push_str("# lab: state, generated data and reports are tracked by lab, not git\n");
        }
        for m in missing {
            text.push_str(m);
            text.push('\n');
        }
        fs::write(&gi, text).map_err(io(&gi))?;
        created.push(".gitignore".into());
    }
    Ok(InitReport { root, created })
}

fn write_new(path: &Path, text: &str) -> Result<(), ProjectError> {
    use std::io::Write;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io(path))?;
    f.write_all(text.as_bytes()).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_toml_parses_to_defaults() {
        let c = parse_config(Path::new("lab.toml"), &default_toml("x")).unwrap();
        assert_eq!(c.project.name, "x");
        assert_eq!(c.paths, PathsSection::default());
        assert_eq!(c.project.seed, 42);
        assert_eq!(c.gc, GcSection::default());
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let text = "[project]\nname = \"a\"\nsede = 3\n";
        let e = parse_config(Path::new("lab.toml"), text).unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("lab.toml:3:1:"), "{msg}");
        assert!(msg.contains("sede"), "{msg}");
    }

    #[test]
    fn syntax_error_names_line() {
        let text = "[project]\nname = \"a\n";
        let msg = parse_config(Path::new("lab.toml"), text)
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("lab.toml:2:"), "{msg}");
    }

    #[test]
    fn init_twice_changes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let r1 = init(d.path()).unwrap();
        assert!(r1.created.contains(&"lab.toml".to_string()));
        let before = fs::read_to_string(d.path().join("lab.toml")).unwrap();
        let r2 = init(d.path()).unwrap();
        assert!(r2.created.is_empty(), "{:?}", r2.created);
        assert_eq!(
            fs::read_to_string(d.path().join("lab.toml")).unwrap(),
            before
        );
    }

    #[test]
    fn discover_walks_up() {
        let d = tempfile::tempdir().unwrap();
        init(d.path()).unwrap();
        let sub = d.path().join("datasets/a/b");
        fs::create_dir_all(&sub).unwrap();
        let p = Project::discover(&sub).unwrap();
        assert_eq!(p.root, d.path().canonicalize().unwrap());
        let e = tempfile::tempdir().unwrap();
        let err = Project::discover(e.path()).unwrap_err().to_string();
        assert!(err.starts_with("not a lab project"), "{err}");
    }
}
