//! `lab pipeline`: the whole default flow on the embedded default, end to end:
//! init if needed → render the default timetables and the shifted domain → snapshot both →
//! OCR teacher → distilled student → LoRA of the teacher on the shifted domain → evaluations
//! (test split, held-out fonts, shifted domain before and after LoRA) → document model →
//! its LoRA on the shifted domain → its evaluation on OCR-noised cells → extraction end to
//! end from the test images (and held-out fonts, and the shifted domain with both LoRA
//! models) → HTML/PNG report → verify → one summary.
//! Every step is an ordinary verb's use case; training reads configs/{ocr,doc}_*.toml.

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail};
use serde::Serialize;

use super::train::{Overrides, Recipe};
use crate::dataset::synth::Domain;
use crate::lab::Lab;
use crate::progress::Reporter;
use crate::project::{Project, ProjectError};

/// How many timetables the embedded default has.
pub const DEFAULT_COUNT: u32 = 400;
/// The OCR noise the document models are scored under (largest character error rate; each
/// cell draws its own from [0, this)).
pub const DOC_EVAL_NOISE: f64 = 0.1;

/// How many timetables the shifted domain (LoRA adaptation) has.
pub const SHIFTED_COUNT: u32 = 160;

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
    /// The evaluations, one row per (model, split).
    pub evals: Vec<super::eval::EvalOut>,
    /// The document models on OCR-noised cells.
    pub doc_evals: Vec<super::extract::DocEval>,
    /// Extraction end to end from images.
    pub extract_evals: Vec<super::extract::ExtractEval>,
    pub ok: bool,
}

impl PipelineOut {
    pub fn text(&self) -> String {
        let mut s = format!("pipeline in {}\n", self.root);
        s.push_str(&format!("{:<12} {:>8}  {}\n", "STEP", "TIME", "RESULT"));
        for st in &self.steps {
            s.push_str(&format!(
                "{:<12} {:>7.2}s  {}\n",
                st.name, st.seconds, st.result
            ));
        }
        if !self.evals.is_empty() {
            s.push_str(&format!(
                "\n{:<18} {:<24} {:>9} {:>9} {:>8} {:>8} {:>9}\n",
                "MODEL", "DATA", "PARAMS", "ACCURACY", "CER", "P50_MS", "LINES/S"
            ));
            for e in &self.evals {
                s.push_str(&format!(
                    "{:<18} {:<24} {:>9} {:>9.4} {:>8.4} {:>8.2} {:>9.0}\n",
                    e.model,
                    format!("{}:{}", e.dataset, e.split),
                    e.params.map_or("-".into(), |p| p.to_string()),
                    e.accuracy,
                    e.cer,
                    e.latency_p50_ms,
                    e.lines_per_s
                ));
            }
        }
        if !self.doc_evals.is_empty() {
            s.push_str(&format!(
                "\n{:<18} {:<24} {:>9} {:>9} {:>8} {:>8} {:>9}\n",
                "DOC MODEL",
                "DATA (OCR NOISE)",
                "PARAMS",
                "FIELD_F1",
                "EXACT",
                "INVALID",
                "CELLS/S"
            ));
            for e in &self.doc_evals {
                s.push_str(&format!(
                    "{:<18} {:<24} {:>9} {:>9.4} {:>8.4} {:>8.4} {:>9.0}\n",
                    e.model,
                    format!("{}:{} ({:.0}%)", e.dataset, e.split, e.noise * 100.0),
                    e.params,
                    e.field_f1,
                    e.exact,
                    e.invalid,
                    e.cells_per_s
                ));
            }
        }
        if !self.extract_evals.is_empty() {
            s.push_str(&format!(
                "\n{:<32} {:<26} {:>8} {:>8} {:>9} {:>7} {:>7}\n",
                "EXTRACTION (OCR + DOC)",
                "DATA",
                "ENTRY_F1",
                "FIELD_F1",
                "FAILED",
                "P50_MS",
                "P95_MS"
            ));
            for e in &self.extract_evals {
                s.push_str(&format!(
                    "{:<32} {:<26} {:>8.4} {:>8.4} {:>9} {:>7.0} {:>7.0}\n",
                    e.models,
                    format!("{}:{}", e.dataset, e.split),
                    e.entry_f1,
                    e.field_f1,
                    format!("{}/{}", e.failed, e.images),
                    e.latency_p50_ms,
                    e.latency_p95_ms
                ));
            }
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
            let p = Project::open(&r.root)?;
            super::train::config::write_defaults(&p)?;
            Ok((p, format!("created a project in {}", r.root.display())))
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
    let shifted_dir = super::synth::default_dir(&lab, &name, Domain::Shifted);
    timed(&mut steps, "synth-shift", || {
        let out = super::synth::synth(
            &lab,
            Some(&name),
            Some(seed),
            SHIFTED_COUNT,
            Domain::Shifted,
            None,
            reporter,
        )?;
        Ok((
            (),
            format!(
                "{SHIFTED_COUNT} timetables in the shifted domain, {} line crops",
                out.summary.lines.values().sum::<u64>()
            ),
        ))
    })?;
    timed(&mut steps, "snapshot", || {
        let a = super::data::snapshot(&lab, &dir, Some(&name), reporter)?;
        let b = super::data::snapshot(&lab, &shifted_dir, None, reporter)?;
        Ok((
            (),
            format!("{}\n{:<12} {:>8}  {}", a.text(), "", "", b.text()),
        ))
    })?;
    let shifted = format!("{name}_shifted");
    let train = |step: &str, recipe: Recipe, ov: Overrides, steps: &mut Vec<Step>| {
        timed(steps, step, || {
            let t = super::train::train(&lab, recipe, None, &ov, false, reporter)?;
            let text = t.text().lines().next().unwrap_or("").to_string();
            let val = match (t.val.get("accuracy"), t.val.get("field_f1")) {
                (Some(a), _) => format!("val accuracy {a:.4}"),
                (None, Some(f)) => format!("val field F1 {f:.4}"),
                _ => String::new(),
            };
            Ok((
                t.model.clone(),
                format!(
                    "{text}; {} params ({:.1}% trained), {val}, {:.0} samples/s",
                    t.params,
                    t.trainable_fraction * 100.0,
                    t.samples_per_s
                ),
            ))
        })
    };
    let data = Overrides {
        dataset: Some(name.clone()),
        ..Overrides::default()
    };
    let teacher = train("teacher", Recipe::OcrTeacher, data.clone(), &mut steps)?;
    let student = train(
        "distill",
        Recipe::OcrDistill,
        Overrides {
            teacher: Some(teacher.clone()),
            ..data.clone()
        },
        &mut steps,
    )?;
    let lora = train(
        "lora",
        Recipe::OcrLora,
        Overrides {
            dataset: Some(shifted.clone()),
            base: Some(teacher.clone()),
            ..Overrides::default()
        },
        &mut steps,
    )?;
    let doc = train("doc-base", Recipe::DocBase, data.clone(), &mut steps)?;
    let doc_lora = train(
        "doc-lora",
        Recipe::DocLora,
        Overrides {
            dataset: Some(shifted.clone()),
            base: Some(doc.clone()),
            ..Overrides::default()
        },
        &mut steps,
    )?;
    let mut evals = Vec::new();
    let mut doc_evals = Vec::new();
    let mut extract_evals = Vec::new();
    timed(&mut steps, "eval", || {
        for (model, ds, split) in [
            (&teacher, &name, "test"),
            (&teacher, &name, "test_heldout"),
            (&student, &name, "test"),
            (&student, &name, "test_heldout"),
            (&teacher, &shifted, "test"),
            (&lora, &shifted, "test"),
        ] {
            let on = super::eval::On {
                dataset: Some(ds),
                split,
                limit: 0,
            };
            evals.push(super::eval::eval(&lab, model, &on, reporter)?);
        }
        for (model, ds) in [(&doc, &name), (&doc_lora, &shifted)] {
            let on = super::eval::On {
                dataset: Some(ds),
                split: "test",
                limit: 0,
            };
            doc_evals.push(super::extract::eval_doc(
                &lab,
                model,
                &on,
                DOC_EVAL_NOISE,
                reporter,
            )?);
        }
        Ok((
            (),
            format!(
                "{} evaluations recorded (tables below)",
                evals.len() + doc_evals.len()
            ),
        ))
    })?;
    timed(&mut steps, "extract", || {
        for (ocr, doc, ds, split) in [
            (&student, &doc, &name, "test"),
            (&student, &doc, &name, "test_heldout"),
            (&lora, &doc_lora, &shifted, "test"),
        ] {
            let on = super::eval::On {
                dataset: Some(ds),
                split,
                limit: 0,
            };
            extract_evals.push(super::extract::eval_extract(
                &lab,
                &on,
                Some(ocr),
                Some(doc),
                reporter,
            )?);
        }
        Ok((
            (),
            format!(
                "{} end-to-end evaluations from images (table below)",
                extract_evals.len()
            ),
        ))
    })?;
    timed(&mut steps, "report", || {
        let r = super::report::report(&lab, None)?;
        Ok(((), r.text().replace('\n', " — ")))
    })?;
    let ok = timed(&mut steps, "verify", || {
        let v = super::verify::verify(&lab, reporter)?;
        Ok((v.ok, v.text()))
    })?;
    let out = PipelineOut {
        root: lab.project.root.display().to_string(),
        steps,
        evals,
        doc_evals,
        extract_evals,
        ok,
    };
    if !ok {
        bail!("{}", out.text());
    }
    Ok(out)
}
