//! `lab data synth`: render the embedded default dataset — timetable images with their ground
//! truth and line crops — deterministically from a seed (see `dataset::synth` for the layout).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::dataset::synth::{self, Domain, Split, Summary};
use crate::event::human_bytes;
use crate::lab::Lab;
use crate::progress::Reporter;

/// The largest `--count` accepted.
pub const MAX_COUNT: u32 = 100_000;

/// Free text lines per timetable by default (`--text-lines`, and the pipeline's).
pub const TEXT_LINES: u32 = synth::write::TEXT_LINES_PER_TIMETABLE;

/// What `lab data synth` did.
#[derive(Debug, Serialize)]
pub struct SynthOut {
    pub name: String,
    /// The dataset directory as given to the user (relative to the project when inside it).
    pub path: String,
    #[serde(flatten)]
    pub summary: Summary,
    pub seconds: f64,
    /// What makes the dataset unfit for training (an empty train or val split), said on
    /// stderr too.
    pub warnings: Vec<String>,
}

impl SynthOut {
    pub fn text(&self) -> String {
        let s = &self.summary;
        let per_split: Vec<String> = s
            .timetables
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{n} {}", k.as_str()))
            .collect();
        let lines: u64 = s.lines.values().sum();
        format!(
            "{} ({} domain, seed {}): {} timetables ({}), {} line crops; {} files, {}: \
             {} written, {} unchanged, {} removed, in {:.2}s\nnext: lab data snapshot {}",
            self.path,
            s.domain.as_str(),
            s.seed,
            s.count,
            per_split.join(", "),
            lines,
            s.files,
            human_bytes(s.bytes),
            s.written,
            s.unchanged,
            s.removed,
            self.seconds,
            self.path
        )
    }

    /// Timetables in `split`.
    pub fn timetables(&self, split: Split) -> u32 {
        self.summary.timetables.get(&split).copied().unwrap_or(0)
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.starts_with('.')
        || name.contains('@')
        || name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        bail!(
            "bad dataset name `{name}`: use letters, digits, `-`, `_` or `.` (not first; no `@` \
             or `/`), or give --out DIR"
        );
    }
    Ok(())
}

/// The directory `lab data synth` writes by default: `datasets/NAME`, or
/// `datasets/NAME_shifted` for the shifted domain.
pub fn default_dir(lab: &Lab, name: &str, domain: Domain) -> PathBuf {
    let leaf = match domain {
        Domain::Default => name.to_string(),
        Domain::Shifted => format!("{name}_shifted"),
    };
    lab.project.datasets_dir().join(leaf)
}

/// Renders `count` timetables of `seed` in `domain` into `out` (default: see [`default_dir`]);
/// `name` defaults to lab.toml's `data.default`, `seed` to its `project.seed`.
#[allow(clippy::too_many_arguments)]
pub fn synth(
    lab: &Lab,
    name: Option<&str>,
    seed: Option<u64>,
    count: u32,
    text_lines: u32,
    domain: Domain,
    out: Option<&Path>,
    reporter: &dyn Reporter,
) -> Result<SynthOut> {
    let name = name.unwrap_or(&lab.project.config.data.default).to_string();
    check_name(&name)?;
    if count == 0 || count > MAX_COUNT {
        bail!("--count must be between 1 and {MAX_COUNT}, not {count}");
    }
    let seed = seed.unwrap_or(lab.project.config.project.seed);
    let dir = match out {
        Some(d) => std::path::absolute(d)?,
        None => default_dir(lab, &name, domain),
    };
    crate::fence::check(&lab.project, &dir, "write a dataset into")?;
    let started = Instant::now();
    let summary = synth::write_dataset(
        &dir,
        &synth::Options {
            seed,
            count,
            domain,
            text_lines,
        },
        reporter,
    )?;
    let path = lab.project.display_path(&dir);
    let warnings = unfit(&path, &summary);
    Ok(SynthOut {
        name,
        path,
        summary,
        seconds: started.elapsed().as_secs_f64(),
        warnings,
    })
}

/// Why the training recipes would refuse the dataset: they read the train and val splits, and
/// a small --count can leave one of them empty (splits are drawn per timetable).
fn unfit(path: &str, s: &Summary) -> Vec<String> {
    let n = |split| s.timetables.get(&split).copied().unwrap_or(0);
    [Split::Train, Split::Val]
        .into_iter()
        .filter(|&split| n(split) == 0)
        .map(|split| {
            format!(
                "{path} has no {} timetables ({} train, {} val, {} test, {} test_heldout): every training recipe refuses it — use a larger --count (50 or more makes an empty split unlikely) or another --seed",
                split.as_str(),
                n(Split::Train),
                n(Split::Val),
                n(Split::Test),
                n(Split::TestHeldout),
            )
        })
        .collect()
}
