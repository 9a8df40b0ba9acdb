//! Training and reading: `lab train …`, `sweep`, `eval`, `compare`, `ocr`, `extract`,
//! `eval-extract`.

use anyhow::Result;

use super::bars::Bars;
use super::{Answer, Ctx};
use crate::cli::{
    CompareArgs, EvalArgs, EvalExtractArgs, ExtractArgs, OcrArgs, SweepArgs, TrainCmd,
};
use crate::commands;
use crate::lab::Lab;

pub fn train(c: &Ctx, cmd: TrainCmd) -> Result<Answer> {
    let lab = c.lab("train")?;
    let out = train_cmd(&lab, cmd, &c.bars)?;
    Answer::one(c.json, &out, || out.text())
}

pub fn sweep(c: &Ctx, a: SweepArgs) -> Result<Answer> {
    let lab = c.lab("sweep")?;
    let out = commands::sweep::sweep(
        &lab, &a.config, &a.grid, a.random, a.seed, &a.metric, a.epochs, &c.bars,
    )?;
    Answer::one(c.json, &out, || out.text())
}

/// An OCR model is scored on line images, a document model on cells under OCR noise.
pub fn eval(c: &Ctx, a: EvalArgs) -> Result<Answer> {
    let lab = c.lab("eval")?;
    if commands::eval::is_doc_model(&lab, &a.model) {
        let out = commands::extract::eval_doc(&lab, &a.model, &on(&a.on), a.noise, &c.bars)?;
        Answer::one(c.json, &out, || out.text())
    } else {
        let out = commands::eval::eval(&lab, &a.model, &on(&a.on), &c.bars)?;
        Answer::one(c.json, &out, || out.text())
    }
}

pub fn compare(c: &Ctx, a: CompareArgs) -> Result<Answer> {
    let lab = c.lab("compare")?;
    let out = commands::eval::compare(&lab, &a.models, &on(&a.on), &c.bars)?;
    Answer::one(c.json, &out, || out.text())
}

/// Lines read, one per image; an image that cannot be read is named on stderr, and the
/// exit code is 1.
pub fn ocr(c: &Ctx, a: OcrArgs) -> Result<Answer> {
    let lab = c.lab("ocr")?;
    let out = commands::eval::ocr(&lab, a.model.as_deref(), &a.images)?;
    let mut ans = Answer::lines(c.json, &out.lines, || {
        let text: Vec<String> = out
            .lines
            .iter()
            .map(|l| format!("{}\t{}", l.image, l.text))
            .collect();
        text.join("\n")
    })?;
    if out.failed.is_empty() {
        return Ok(ans);
    }
    for (p, e) in &out.failed {
        ans = ans.note(format!("lab ocr: {p}: {e}"));
    }
    Ok(ans
        .note(format!(
            "lab: error: {} of {} images could not be read (each named above)",
            out.failed.len(),
            out.failed.len() + out.lines.len()
        ))
        .code(1))
}

/// Entries as text, JSON, CSV or iCalendar; exit code 1 when any image failed.
pub fn extract(c: &Ctx, a: ExtractArgs) -> Result<Answer> {
    if let Some(d) = &a.week_of {
        crate::timetable::export::Date::parse(d).map_err(|e| anyhow::anyhow!("--week-of: {e}"))?;
    }
    let lab = c.lab("extract")?;
    let out = commands::extract::extract_images(
        &lab,
        &a.images,
        a.ocr.as_deref(),
        a.model.as_deref(),
        a.out.as_deref(),
        &c.bars,
    )?;
    let ans = if a.csv {
        Answer::raw(out.csv()).note(out.failures())
    } else if a.ics {
        let (cal, skipped) = out.ics(a.week_of.as_deref())?;
        let ans = Answer::raw(cal);
        let ans = if skipped > 0 {
            ans.note(format!(
                "{skipped} entries left out of the calendar: day or start unread"
            ))
        } else {
            ans
        };
        ans.note(out.failures())
    } else {
        Answer::one(c.json, &out, || out.text())?
    };
    Ok(ans.failed_if(out.failed > 0))
}

pub fn eval_extract(c: &Ctx, a: EvalExtractArgs) -> Result<Answer> {
    let lab = c.lab("eval-extract")?;
    if let Some(images) = &a.images {
        let out = commands::extract::eval_images(
            &lab,
            &c.path(images),
            a.ocr.as_deref(),
            a.model.as_deref(),
            &c.bars,
        )?;
        return Answer::one(c.json, &out, || out.text());
    }
    let out = commands::extract::eval_extract(
        &lab,
        &on(&a.on),
        a.ocr.as_deref(),
        a.model.as_deref(),
        &c.bars,
    )?;
    Answer::one(c.json, &out, || out.text())
}

fn on(a: &crate::cli::EvalOn) -> commands::eval::On<'_> {
    commands::eval::On {
        dataset: a.dataset.as_deref(),
        split: &a.split,
        limit: a.limit,
    }
}

fn overrides(c: &crate::cli::CommonTrain) -> commands::train::Overrides {
    commands::train::Overrides {
        dataset: c.dataset.clone(),
        epochs: c.epochs,
        batch_size: c.batch_size,
        learning_rate: c.learning_rate,
        seed: c.seed,
        output: c.output.clone(),
        init: c.init.clone(),
        reuse: !c.force,
        ..Default::default()
    }
}

fn lora(
    recipe: commands::train::Recipe,
    l: crate::cli::LoraArgs,
) -> (
    commands::train::Recipe,
    crate::cli::CommonTrain,
    commands::train::Overrides,
) {
    let mut ov = overrides(&l.common);
    ov.base = l.base;
    ov.rank = l.rank;
    ov.lora_alpha = l.alpha;
    ov.target_modules = l.target_modules;
    ov.merge = l.merge;
    (recipe, l.common, ov)
}

fn train_cmd(
    lab: &Lab,
    cmd: crate::cli::TrainCmd,
    bars: &Bars,
) -> Result<commands::train::TrainOut> {
    use crate::cli::TrainCmd;
    use commands::train::Recipe;
    let (recipe, common, ov) = match cmd {
        TrainCmd::OcrTeacher(c) => {
            let ov = overrides(&c);
            (Recipe::OcrTeacher, c, ov)
        }
        TrainCmd::OcrDistill {
            common,
            teacher,
            temperature,
            alpha,
        } => {
            let mut ov = overrides(&common);
            ov.teacher = teacher;
            ov.temperature = temperature;
            ov.alpha = alpha;
            (Recipe::OcrDistill, common, ov)
        }
        TrainCmd::OcrLora(l) => lora(Recipe::OcrLora, l),
        TrainCmd::DocBase { common, init_from } => {
            let mut ov = overrides(&common);
            ov.init_from = init_from;
            (Recipe::DocBase, common, ov)
        }
        TrainCmd::DocLora(l) => lora(Recipe::DocLora, l),
    };
    commands::train::train(
        lab,
        recipe,
        common.config.as_deref(),
        &ov,
        common.resume,
        bars,
    )
}
