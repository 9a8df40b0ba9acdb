//! `lab ci init github`: writes `.github/workflows/lab.yml`, a GitHub Actions workflow that on
//! a push touching the project's configs or datasets (or lab.toml) builds lab, runs
//! `lab pipeline`, `lab verify` and `lab deploy --dry-run --env production` (production against
//! the gates of configs/deploy.toml; nothing is deployed), and uploads the reports folder as an
//! artifact. The file goes at the root of the git repository holding the project (GitHub reads
//! workflows there only); the steps run in the project's folder. Nothing is recorded in the log.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::project::Project;

/// Where the workflow goes, relative to the repository root.
pub const WORKFLOW: &str = ".github/workflows/lab.yml";

/// What `lab ci init` wrote.
#[derive(Debug, Serialize)]
pub struct CiOut {
    /// The file written, and whether it replaced one (`--force`).
    pub path: PathBuf,
    pub overwritten: bool,
    /// The paths whose change starts the workflow (relative to the repository root).
    pub triggers: Vec<String>,
    /// The steps' names and commands (or actions), in order.
    pub steps: Vec<String>,
    /// Said when the project is not in a git repository yet.
    pub note: Option<String>,
}

impl CiOut {
    pub fn text(&self) -> String {
        let mut s = format!(
            "{} {} — on a push touching {}:\n",
            if self.overwritten {
                "overwrote"
            } else {
                "wrote"
            },
            self.path.display(),
            self.triggers.join(", ")
        );
        for (i, step) in self.steps.iter().enumerate() {
            s.push_str(&format!("  {}. {step}\n", i + 1));
        }
        if let Some(n) = &self.note {
            s.push_str(&format!("note: {n}\n"));
        }
        s.trim_end().to_string()
    }
}

/// A YAML double-quoted scalar.
fn q(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `dir` (a project path) relative to the repository root `base`, with `/` separators and no
/// leading `./`; empty for the root itself.
fn rel(base: &Path, dir: &Path) -> String {
    let r = dir.strip_prefix(base).unwrap_or(dir);
    let parts: Vec<String> = r
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

/// Whether `root` holds lab's own source (a Cargo.toml whose package is `lab`).
fn is_lab_source(root: &Path) -> bool {
    fs::read_to_string(root.join("Cargo.toml"))
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| t.get("package")?.get("name")?.as_str().map(|n| n == "lab"))
        .unwrap_or(false)
}

/// Writes the GitHub Actions workflow for `project` (see the module doc). `lab_git` is where CI
/// installs lab from when the repository is not lab's source tree.
pub fn init_github(project: &Project, force: bool, lab_git: Option<&str>) -> Result<CiOut> {
    let repo = crate::git::workdir(&project.root)
        .and_then(|w| w.canonicalize().ok())
        .filter(|w| project.root.starts_with(w));
    let base = repo.clone().unwrap_or_else(|| project.root.clone());
    let path = base.join(WORKFLOW);
    let exists = path.exists();
    if exists && !force {
        bail!(
            "{} exists — lab keeps it; pass --force to overwrite it (lab ci init github --force)",
            path.display()
        );
    }
    // How CI gets lab.
    let (build_name, build_run, cache) = match lab_git {
        Some(url) => {
            if url.trim().is_empty()
                || url
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "'\"`$\\".contains(c))
            {
                bail!(
                    "--lab-git `{url}`: give a plain repository URL (no spaces or quotes), e.g. https://example.com/you/lab.git"
                );
            }
            (
                "Install lab".to_string(),
                format!("cargo install --locked --git '{url}' lab"),
                false,
            )
        }
        None if is_lab_source(&base) => (
            "Build lab".to_string(),
            "cargo build --release --locked\necho \"$GITHUB_WORKSPACE/target/release\" >> \"$GITHUB_PATH\"".to_string(),
            true,
        ),
        None => bail!(
            "{} is not lab's source tree, so CI cannot build lab from it: pass --lab-git URL, the repository CI installs lab from (cargo install --locked --git URL lab)",
            base.display()
        ),
    };
    let project_dir = rel(&base, &project.root);
    let under = |p: &Path| rel(&base, &project.root.join(p));
    let configs = under(&project.config.paths.configs);
    let datasets = under(&project.config.paths.datasets);
    let reports = under(&project.config.paths.reports);
    let lab_toml = rel(&base, &project.root.join(crate::project::CONFIG_FILE));
    let triggers = vec![
        format!("{configs}/**"),
        format!("{datasets}/**"),
        lab_toml.clone(),
    ];
    let workdir = if project_dir.is_empty() {
        ".".to_string()
    } else {
        project_dir.clone()
    };
    let mut y = String::new();
    y.push_str(&format!(
        "# Written by `lab ci init github`. On a push that changes {configs}/ or {datasets}/ (or\n\
         # {lab_toml}, which declares the stages): build lab, run the pipeline (the [[stages]] of\n\
         # lab.toml), verify the log, check what production serves against the gates of\n\
         # configs/deploy.toml (nothing is deployed), and keep {reports}/ as an artifact — also when\n\
         # a step failed. lab's log (.lab/) is not in git, so each run starts from an empty one.\n\
         # Each step is an ordinary lab command: run them in the same order to try it locally.\n"
    ));
    y.push_str("name: lab\n\non:\n  push:\n    paths:\n");
    for t in &triggers {
        y.push_str(&format!("      - {}\n", q(t)));
    }
    y.push_str("  workflow_dispatch: {}\n\n");
    y.push_str("jobs:\n  lab:\n    runs-on: ubuntu-latest\n    timeout-minutes: 90\n");
    y.push_str(&format!(
        "    defaults:\n      run:\n        shell: bash\n        working-directory: {}\n",
        q(&workdir)
    ));
    y.push_str("    steps:\n      - uses: actions/checkout@v4\n");
    let mut steps = vec!["check out the repository (actions/checkout@v4)".to_string()];
    if cache {
        y.push_str(
            "      - name: Cache cargo and the build\n        uses: actions/cache@v4\n        with:\n          path: |\n            ~/.cargo/registry\n            ~/.cargo/git\n            target\n          key: lab-${{ runner.os }}-${{ hashFiles('Cargo.lock') }}\n",
        );
        steps.push("cache cargo and target/ (actions/cache@v4)".into());
    }
    let build_dir = if cache {
        // lab's own source is at the repository root.
        "\n        working-directory: \".\"".to_string()
    } else {
        String::new()
    };
    y.push_str(&format!(
        "      - name: {build_name}{build_dir}\n        run: |\n"
    ));
    for l in build_run.lines() {
        y.push_str(&format!("          {l}\n"));
    }
    steps.push(format!("{}: {}", build_name, build_run.replace('\n', "; ")));
    for (name, cmd) in [
        ("Run the pipeline", "lab pipeline"),
        ("Verify the log", "lab verify"),
        (
            "Check production against the deployment gates",
            "lab deploy --dry-run --env production",
        ),
    ] {
        y.push_str(&format!("      - name: {name}\n        run: {cmd}\n"));
        steps.push(format!("{name}: {cmd}"));
    }
    y.push_str(&format!(
        "      - name: Upload the reports\n        if: always()\n        uses: actions/upload-artifact@v4\n        with:\n          name: lab-reports\n          path: {}\n          if-no-files-found: warn\n",
        q(&format!("{reports}/"))
    ));
    steps.push(format!(
        "upload {reports}/ as the artifact lab-reports (actions/upload-artifact@v4), also after a failure"
    ));
    let dir = path.parent().expect("a file in a folder");
    fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create {} — check that you may write there",
            dir.display()
        )
    })?;
    fs::write(&path, y).with_context(|| {
        format!(
            "cannot write {} — check that you may write there",
            path.display()
        )
    })?;
    Ok(CiOut {
        path,
        overwritten: exists,
        triggers,
        steps,
        note: repo.is_none().then(|| {
            format!(
                "{} is not in a git repository: GitHub reads workflows at a repository's root — git init here, or move the file there",
                project.root.display()
            )
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_relative_paths() {
        assert_eq!(q("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(rel(Path::new("/r"), Path::new("/r/./configs")), "configs");
        assert_eq!(rel(Path::new("/r"), Path::new("/r")), "");
        assert_eq!(rel(Path::new("/r"), Path::new("/r/sub/proj")), "sub/proj");
    }
}
