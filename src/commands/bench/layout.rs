//! `lab bench layout`: how fast the table finder reads a page, stage by stage, on a
//! 1500×1000 JPEG-decoded synthetic timetable, and how many synthetic timetables of both
//! domains it finds the exact grid of. A report, not a gate (no timed test asserts a time);
//! what used to be two `#[ignore]` probes in `ml::layout`'s tests.

use anyhow::{Context, Result};
use serde::Serialize;

use crate::dataset::synth::render::render;
use crate::dataset::synth::{Domain, assign, timetable};
use crate::ml::layout::{self, Probe};

/// What `lab bench layout --json` prints.
#[derive(Debug, Serialize)]
pub struct LayoutBench {
    pub image: String,
    pub stages: Probe,
    /// `find_table` whole, median and best of 15, milliseconds.
    pub find_table_median_ms: f64,
    pub find_table_best_ms: f64,
    pub survey: Vec<Survey>,
}

/// The grid survey of one domain.
#[derive(Debug, Serialize)]
pub struct Survey {
    pub domain: String,
    pub timetables: u32,
    /// The grid found has the truth's rows and columns.
    pub exact_grid: u32,
    /// Of those, the skew found within 0.1° of the rendered one.
    pub exact_skew: u32,
    /// `id: what came out` for each miss.
    pub misses: Vec<String>,
}

/// Runs the probe and the survey (`count` timetables per domain).
pub fn layout(count: u32, json: bool) -> Result<()> {
    let (split, font) = assign(11, Domain::Shifted, 1);
    let r = render(
        &timetable(11, Domain::Shifted, 1),
        11,
        Domain::Shifted,
        1,
        split,
        font,
    );
    let img = image::load_from_memory(&r.image).context("the rendered timetable")?;
    let big = image::imageops::resize(
        &img.to_rgb8(),
        1500,
        1000,
        image::imageops::FilterType::Triangle,
    );
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80).encode_image(&big)?;
    let img = image::load_from_memory(&jpeg)?;
    let stages = layout::probe(&img);
    let mut times: Vec<f64> = Vec::new();
    for _ in 0..15 {
        let t0 = std::time::Instant::now();
        layout::find_table(&img).context("the probe's timetable")?;
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    let best = times.iter().copied().fold(f64::INFINITY, f64::min);
    let mut survey = Vec::new();
    for domain in [Domain::Default, Domain::Shifted] {
        let mut s = Survey {
            domain: format!("{domain:?}").to_lowercase(),
            timetables: count,
            exact_grid: 0,
            exact_skew: 0,
            misses: Vec::new(),
        };
        for i in 0..count {
            let (split, font) = assign(101, domain, i);
            let r = render(&timetable(101, domain, i), 101, domain, i, split, font);
            let t = &r.truth;
            let page = image::load_from_memory(&r.image).context("a rendered timetable")?;
            match layout::find_table(&page) {
                Ok(table) => {
                    let (rows, cols) = (t.slots.len() + 1, t.days.len() + 1);
                    if table.rows == rows && table.cols == cols {
                        s.exact_grid += 1;
                        if (table.angle_deg - t.render.rotation_deg).abs() <= 0.1 {
                            s.exact_skew += 1;
                        }
                    } else {
                        s.misses.push(format!(
                            "{}: {}×{} found, {rows}×{cols} drawn",
                            t.id, table.rows, table.cols
                        ));
                    }
                }
                Err(e) => s.misses.push(format!("{}: {e}", t.id)),
            }
        }
        survey.push(s);
    }
    let out = LayoutBench {
        image: "a synthetic timetable (shifted domain) at 1500×1000, JPEG quality 80".into(),
        stages,
        find_table_median_ms: crate::stats::median(&times),
        find_table_best_ms: best,
        survey,
    };
    if json {
        println!("{}", serde_json::to_string(&out)?);
        return Ok(());
    }
    let p = &out.stages;
    println!(
        "{}\nstages: grey {:.1} ms, skew {:.1} ms, rotate {:.1} ms, rules {:.1} ms ({} + {}), \
         spans and splits {:.1} ms ({} cells, {} parts)\nfind_table: median {:.1} ms, best {:.1} ms (15 runs)",
        out.image,
        p.grey_ms,
        p.skew_ms,
        p.rotate_ms,
        p.rules_ms,
        p.h_rules,
        p.v_rules,
        p.spans_ms,
        p.cells,
        p.parts,
        out.find_table_median_ms,
        out.find_table_best_ms
    );
    for s in &out.survey {
        println!(
            "survey {}: {} of {} exact grids, {} with the skew within 0.1°",
            s.domain, s.exact_grid, s.timetables, s.exact_skew
        );
        for m in &s.misses {
            println!("  {m}");
        }
    }
    Ok(())
}
