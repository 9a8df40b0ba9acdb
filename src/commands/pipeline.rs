//! `lab pipeline`: the whole default flow on the embedded default, end to end.
//! For now: init if needed → render the default timetables (images, ground truth, line crops)
//! → snapshot → verify → summary.
//! The ML issues add training, evaluation and deployment steps here.

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::dataset::synth::Domain;
use crate::lab::Lab;
use crate::progress::Reporter;
use crate::project::{Project, ProjectError};

/// How many timetables the embedded default has.
pub const DEFAULT_COUNT: u32 = 200;

#[derive(Debug, Serialize)]
pub struct Step {
    pub name: String,
    pub seconds: f64,
    pub result: String,
}

#[derive(Debug, Serialize)]
pub struct PipelineOut {
    pub root: String,
    pub steps: Vec<Step>,
    pub ok: bool,
}

impl PipelineOut {
    pub fn text(&self) -> String {
        let mut s = format!("pipeline in {}\n", self.root);
        s.push_str(&format!("{:<10} {:>8}  {}\n", "STEP", "TIME", "RESULT"));
        for st in &self.steps {
            s.push_str(&format!(
                "{:<10} {:>7.2}s  {}\n",
                st.name, st.seconds, st.result
            ));
        }
        s.push_str(if self.ok { "ok" } else { "FAILED" });
        s
    }
}

fn timed<T>(
    steps: &mut Vec<Step>,
    name: &str,
    f: impl FnOnce() -> Result<(T, String)>,
) -> Result<T> {
    let t = Instant::now();
    let (v, result) = f()?;
    steps.push(Step {
        name: name.to_string(),
        seconds: t.elapsed().as_secs_f64(),
        result,
    });
    Ok(v)
}

/// Runs the default flow from `here` (a project or a directory to make one of).
pub fn run(here: &Path, seed: Option<u64>, reporter: &dyn Reporter) -> Result<PipelineOut> {
    let mut steps = Vec::new();
    let project = timed(&mut steps, "init", || match Project::discover(here) {
        Ok(p) => {
            let r = p.root.display().to_string();
            Ok((p, format!("project {r}")))
        }
        Err(ProjectError::NotFound(_)) => {
            let r = crate::project::init(here)?;
            Ok((
                Project::open(&r.root)?,
                format!("created a project in {}", r.root.display()),
            ))
        }
        Err(e) => Err(e.into()),
    })?;
    let lab = Lab::open_project(project, "pipeline")?;
    let seed = seed.unwrap_or(lab.project.config.project.seed);
    let name = lab.project.config.data.default.clone();
    let dir = super::synth::default_dir(&lab, &name, Domain::Default);
    timed(&mut steps, "synth", || {
        let out = super::synth::synth(
            &lab,
            Some(&name),
            Some(seed),
            DEFAULT_COUNT,
            Domain::Default,
            None,
            reporter,
        )?;
        let s = &out.summary;
        Ok((
            (),
            format!(
                "{DEFAULT_COUNT} timetables (seed {seed}), {} line crops; {} files written, {} \
                 unchanged, {} removed",
                s.lines.values().sum::<u64>(),
                s.written,
                s.unchanged,
                s.removed
            ),
        ))
    })?;
    timed(&mut steps, "snapshot", || {
        let out = super::data::snapshot(&lab, &dir, Some(&name), reporter)?;
        Ok(((), out.text()))
    })?;
    let ok = timed(&mut steps, "verify", || {
        let v = super::verify::verify(&lab, reporter)?;
        Ok((v.ok, v.text()))
    })?;
    let out = PipelineOut {
        root: lab.project.root.display().to_string(),
        steps,
        ok,
    };
    if !ok {
        bail!("{}", out.text());
    }
    Ok(out)
}
