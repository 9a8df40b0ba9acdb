//! End-to-end timetable extraction, pure compute: image → grid (`layout`) → every text line
//! read by the OCR model in batches → for every non-empty cell, the document model answers
//! the record from the cell's lines and its day and time headers.

use std::time::Instant;

use image::DynamicImage;
use serde::Serialize;

use super::doc::llama::Llama;
use super::doc::record::{self, Record};
use super::doc::tok::Tok;
use super::layout;
use super::lines;
use super::ocr::Ocr;
use super::ocr::read::read_lines;
use super::vocab::Vocab;
use crate::timetable::grid::{TextCell, TextGrid};
use crate::timetable::time::Slot;
use crate::timetable::{self, Orientation, days};

/// The two models extraction runs.
pub struct Models<'a> {
    pub ocr: &'a Ocr,
    pub vocab: &'a Vocab,
    pub doc: &'a Llama,
    pub tok: &'a Tok,
}

/// One extracted entry with where it was found.
#[derive(Clone, Debug, Serialize)]
pub struct Found {
    /// The grid position of its cell (the top-left square of a merged cell).
    pub row: usize,
    pub col: usize,
    /// Its stacked sub-cell, 0 at the top (0 when the slot is not split).
    pub part: usize,
    /// The box of its cell (or sub-cell), `[x0, y0, x1, y1]` in the image's pixels.
    pub bbox: [u32; 4],
    /// 0–1: the document model's probability of its answer (geometric mean over its tokens),
    /// × 0.7 for each header (day, time) that could not be read and was left to the model.
    pub confidence: f32,
    #[serde(flatten)]
    pub record: Record,
}

/// Where one prompt's text came from: a cell or one of its sub-cells, and the day headers and
/// slots it covers.
struct Site {
    row: usize,
    col: usize,
    part: usize,
    bbox: [u32; 4],
    days: (usize, usize),
    slots: (usize, usize),
    /// The text lines of the cell (or sub-cell), as read.
    lines: Vec<String>,
}

/// One PDF page's result (or why it gave none) and its milliseconds.
pub type PageResult = (Result<Extracted, String>, f64);

/// Every page of a PDF read as `lab extract` reads it: a page with a text layer from its text
/// and positions (no OCR), a scanned page as an image; each page's result (or why it gave
/// none) with its milliseconds. `Err` when the file is not a readable PDF at all.
pub fn extract_pdf(
    bytes: &[u8],
    m: &Models,
) -> Result<Vec<PageResult>, crate::timetable::pdf::PdfError> {
    use crate::timetable::{grid, pdf};
    let mut out = Vec::new();
    for page in pdf::pages(bytes)? {
        let t = Instant::now();
        let r = match page {
            pdf::Page::Text { runs, .. } => grid::from_runs(&runs)
                .map_err(|e| format!("no timetable found: {e}"))
                .and_then(|g| extract_text(&g, m.doc, m.tok).map_err(|e| e.to_string())),
            pdf::Page::Scan(img) => extract(&img, m).map_err(|e| e.to_string()),
            pdf::Page::Unreadable(why) => Err(why),
        };
        out.push((r, t.elapsed().as_secs_f64() * 1e3));
    }
    Ok(out)
}

/// What one image gave.
#[derive(Clone, Debug, Serialize)]
pub struct Extracted {
    pub entries: Vec<Found>,
    /// Cells whose answer failed the record schema: (row, col, why).
    pub invalid: Vec<(usize, usize, String)>,
    pub rows: usize,
    pub cols: usize,
    /// Which way round the grid was read.
    pub orientation: Orientation,
    pub skew_deg: f32,
    /// Wall time of layout, OCR and the document model, milliseconds.
    pub layout_ms: f64,
    pub ocr_ms: f64,
    pub doc_ms: f64,
}

/// Why an image gave no entries.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("{0}")]
    NoTimetable(String),
    #[error("{0}")]
    Model(#[from] candle_core::Error),
}

/// A page's table and the OCR's reading of it: the layout's grid, each cell's lines as text.
pub(super) struct ReadPage {
    pub table: layout::Table,
    pub grid: TextGrid,
    pub layout_ms: f64,
    pub ocr_ms: f64,
}

/// Finds the table on `img` and reads every text line of it with the OCR model, in batches.
pub(super) fn read_page(img: &DynamicImage, m: &Models) -> Result<ReadPage, ExtractError> {
    let t0 = Instant::now();
    let table = layout::find_table(img).map_err(|e| ExtractError::NoTimetable(e.to_string()))?;
    // Every line crop of the table, remembered by (cell index, line index).
    let mut crops = Vec::new();
    let mut owner = Vec::new();
    for (ci, cell) in table.cells.iter().enumerate() {
        for (li, g) in cell.lines.iter().enumerate() {
            crops.push(lines::prepare(g, m.ocr.config.height));
            owner.push((ci, li));
        }
    }
    let layout_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    let texts = read_lines(m.ocr, m.vocab, &crops)?;
    let ocr_ms = t1.elapsed().as_secs_f64() * 1e3;
    let mut cell_text: Vec<Vec<String>> = table.cells.iter().map(|_| Vec::new()).collect();
    for ((ci, _), t) in owner.iter().zip(texts) {
        cell_text[*ci].push(t);
    }
    let grid = TextGrid {
        rows: table.rows,
        cols: table.cols,
        cells: table
            .cells
            .iter()
            .zip(cell_text)
            .map(|(c, lines)| TextCell {
                row: c.row,
                col: c.col,
                row_span: c.row_span,
                col_span: c.col_span,
                bbox: c.bbox,
                parts: c.parts.clone(),
                lines,
                line_part: c.line_part.clone(),
            })
            .collect(),
    };
    Ok(ReadPage {
        table,
        grid,
        layout_ms,
        ocr_ms,
    })
}

/// Extracts the entries of one timetable image.
pub fn extract(img: &DynamicImage, m: &Models) -> Result<Extracted, ExtractError> {
    let page = read_page(img, m)?;
    let read = read_grid(&page.grid, m.doc, m.tok)?;
    Ok(Extracted {
        entries: read.entries,
        invalid: read.invalid,
        rows: page.table.rows,
        cols: page.table.cols,
        orientation: read.orientation,
        skew_deg: page.table.angle_deg,
        layout_ms: page.layout_ms,
        ocr_ms: page.ocr_ms,
        doc_ms: read.doc_ms,
    })
}

/// Extracts the entries of a page whose text was read without OCR (a PDF's text layer).
pub fn extract_text(grid: &TextGrid, doc: &Llama, tok: &Tok) -> Result<Extracted, ExtractError> {
    let read = read_grid(grid, doc, tok)?;
    Ok(Extracted {
        entries: read.entries,
        invalid: read.invalid,
        rows: grid.rows,
        cols: grid.cols,
        orientation: read.orientation,
        skew_deg: 0.0,
        layout_ms: 0.0,
        ocr_ms: 0.0,
        doc_ms: read.doc_ms,
    })
}

/// What the headers and the document model make of a grid's text.
pub(super) struct GridRead {
    pub entries: Vec<Found>,
    pub invalid: Vec<(usize, usize, String)>,
    pub orientation: Orientation,
    pub doc_ms: f64,
}

/// The axes from the headers, then one document-model answer per non-empty cell (or
/// sub-cell), overruled by what the headers say for sure.
pub(super) fn read_grid(grid: &TextGrid, doc: &Llama, tok: &Tok) -> Result<GridRead, ExtractError> {
    let table = grid;
    let cell_text: Vec<&Vec<String>> = grid.cells.iter().map(|c| &c.lines).collect();
    let at = |r: usize, c: usize| table.cells.iter().position(|x| x.row == r && x.col == c);
    let joined = |r: usize, c: usize| at(r, c).map(|i| cell_text[i].join(" ")).unwrap_or_default();
    let row0: Vec<String> = (1..table.cols).map(|c| joined(0, c)).collect();
    let col0: Vec<String> = (1..table.rows).map(|r| joined(r, 0)).collect();
    let axes = timetable::read_axes(&row0, &col0)
        .map_err(|why| ExtractError::NoTimetable(format!("no timetable found: {why}")))?;
    let (day_labels, time_labels) = match axes.orientation {
        Orientation::DaysAsColumns => (&row0, &col0),
        Orientation::DaysAsRows => (&col0, &row0),
    };
    // The model reads the headers as the generator prints them when the axes were read (an
    // English day, `HH:MM–HH:MM`), else as the OCR read them.
    let day_header = |d: usize| match axes.days[d] {
        Some(i) => days::ENGLISH[i].to_string(),
        None => day_labels[d].clone(),
    };
    let slot = |t: usize| axes.slots.get(t).cloned().flatten();
    // The time header of slots `t0..=t1` (a merged cell covers several).
    let time_header = |t0: usize, t1: usize| match (slot(t0), slot(t1)) {
        (Some(a), Some(Slot { end: Some(end), .. })) => format!("{}\u{2013}{end}", a.start),
        (Some(a), Some(_)) => a.start,
        _ => time_labels[t0].clone(),
    };
    let mut prompts = Vec::new();
    let mut sites = Vec::new();
    for (ci, cell) in table.cells.iter().enumerate() {
        if cell.row == 0 || cell.col == 0 {
            continue;
        }
        let (d0, t0) = axes.place(cell.row, cell.col);
        let (d1, t1) = axes.place(cell.row + cell.row_span - 1, cell.col + cell.col_span - 1);
        for (p, &bbox) in cell.parts.iter().enumerate() {
            let lines: Vec<String> = cell_text[ci]
                .iter()
                .zip(&cell.line_part)
                .filter(|(t, lp)| **lp == p && !t.trim().is_empty())
                .map(|(t, _)| t.clone())
                .collect();
            if lines.is_empty() {
                continue;
            }
            prompts.push(record::prompt(
                &day_header(d0),
                &time_header(t0, t1),
                &lines,
            ));
            sites.push(Site {
                row: cell.row,
                col: cell.col,
                part: p,
                bbox,
                days: (d0, d1),
                slots: (t0, t1),
                lines,
            });
        }
    }
    let t2 = Instant::now();
    let answers = super::doc::train::answers_scored(doc, tok, &prompts, 64)?;
    let doc_ms = t2.elapsed().as_secs_f64() * 1e3;
    let shaped: Vec<Result<Record, String>> = answers
        .iter()
        .map(|(a, _)| Record::parse_shape(a))
        .collect();
    // Consensus runs on (slot, day header) so that it groups days and times whichever way
    // round the grid is; then what the headers say for sure overrules the model.
    let by_axes: Vec<(usize, usize)> = sites.iter().map(|s| (s.slots.0, s.days.0)).collect();
    let agreed = consensus(&by_axes, &shaped);
    let mut entries = Vec::new();
    let mut invalid = Vec::new();
    for ((site, a), (_, model_conf)) in sites.into_iter().zip(agreed).zip(&answers) {
        // The model's own certainty, less where a header could not be read and the model's
        // reading of it stands.
        let timed_by_axis = slot(site.slots.0).is_some() && slot(site.slots.1).is_some();
        let day_by_axis = axes.days.get(site.days.0).copied().flatten().is_some();
        let confidence = model_conf
            * if timed_by_axis { 1.0 } else { 0.7 }
            * if day_by_axis { 1.0 } else { 0.7 };
        let timed = a.and_then(|mut r| match (slot(site.slots.0), slot(site.slots.1)) {
            (Some(first), Some(last)) => {
                r.start = first.start;
                r.end = last.end.unwrap_or_default();
                r.validate_open_end()
            }
            _ => r.validate(),
        });
        let r = match timed {
            Ok(r) => copied(r, &site.lines),
            Err(why) => {
                invalid.push((site.row, site.col, why));
                continue;
            }
        };
        // A cell merged across days is an entry on each of them.
        for d in site.days.0..=site.days.1 {
            let mut record = r.clone();
            match axes.days.get(d).copied().flatten() {
                Some(i) => record.day = days::ENGLISH[i].to_string(),
                None if d > site.days.0 => continue,
                None => {}
            }
            entries.push(Found {
                row: site.row,
                col: site.col,
                part: site.part,
                bbox: site.bbox,
                confidence: (confidence * 1000.0).round() / 1000.0,
                record,
            });
        }
    }
    Ok(GridRead {
        entries,
        invalid,
        orientation: axes.orientation,
        doc_ms,
    })
}

/// How far (edits / length) the model's value may be from the nearest span of the cell's text
/// and still stand (a correction of a misread); farther, it is a value recalled from training,
/// and the span stands instead. Measured with the pipeline's models, entry F1 on the Chromium
/// fixtures / `test` / `test_heldout` / shifted: never copying 0.19 / 0.993 / 0.871 / 0.881;
/// 0.2 (this) 0.31 / 0.994 / 0.873 / 0.858. Lower thresholds copy more (always, 0: 0.44 on the
/// fixtures but 0.950 / 0.864 / 0.782): the OCR's misreads the model mends are lost with it.
const SNAP_BEYOND: f64 = 0.2;

/// The record with its subject, room and teacher copied from the cell's text where the model
/// answered something the text does not hold: each such value becomes the span of the text
/// nearest to it (a line, a run of its words, or two lines joined) when the value is farther
/// than [`SNAP_BEYOND`] from it. Day and times come from the headers, not from here.
fn copied(mut r: Record, lines: &[String]) -> Record {
    // Spans with the lines they take: runs of words of one line, and two lines joined.
    let mut spans: Vec<(String, usize, usize)> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let words: Vec<&str> = l.split_whitespace().collect();
        for a in 0..words.len() {
            for b in a + 1..=words.len() {
                spans.push((words[a..b].join(" "), i, i));
            }
        }
        if let Some(next) = lines.get(i + 1) {
            spans.push((format!("{l} {next}"), i, i + 1));
        }
    }
    let joined = lines.join(" ");
    // A line holding a value that stands is taken.
    let mut taken = vec![false; lines.len()];
    for v in [&r.subject, &r.room, &r.teacher] {
        if !v.is_empty() && joined.contains(v.as_str()) {
            if let Some(i) = lines.iter().position(|l| l.contains(v.as_str())) {
                taken[i] = true;
            }
        }
    }
    let distance = |a: &str, b: &str| {
        let (x, y): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        super::textmetrics::align(&x, &y).0 as f64 / x.len().max(y.len()).max(1) as f64
    };
    // Nearest pairs of (value not in the text, span of untaken lines) first.
    let values = [r.subject.clone(), r.room.clone(), r.teacher.clone()];
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (f, v) in values.iter().enumerate() {
        if v.is_empty() || joined.contains(v.as_str()) {
            continue;
        }
        for (k, (s, i, j)) in spans.iter().enumerate() {
            if !taken[*i] && !taken[*j] {
                pairs.push((distance(v, s), f, k));
            }
        }
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut done = [false; 3];
    for (d, f, k) in pairs {
        let (s, i, j) = &spans[k];
        if done[f] || taken[*i] || taken[*j] {
            continue;
        }
        done[f] = true;
        if d > SNAP_BEYOND {
            let v = match f {
                0 => &mut r.subject,
                1 => &mut r.room,
                _ => &mut r.teacher,
            };
            *v = s.clone();
            taken[*i] = true;
            taken[*j] = true;
        }
    }
    r
}

/// The grid's own constraint on the answers: every cell of a column has that column's day,
/// every cell of a row that row's times. Each cell is read on its own, so a misread can make
/// one answer disagree with its neighbours; where most answers of a column agree on the day
/// (or of a row on a valid start–end pair), every answer there takes it.
fn consensus(
    at: &[(usize, usize)],
    answers: &[Result<Record, String>],
) -> Vec<Result<Record, String>> {
    use std::collections::HashMap;
    fn majority<K: Clone + Eq + std::hash::Hash + Ord>(votes: &[K]) -> Option<K> {
        let mut n: HashMap<&K, usize> = HashMap::new();
        for v in votes {
            *n.entry(v).or_default() += 1;
        }
        let mut ranked: Vec<(&K, usize)> = n.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        match ranked.as_slice() {
            [(k, c), rest @ ..] if rest.first().is_none_or(|r| r.1 < *c) => Some((*k).clone()),
            _ => None,
        }
    }
    let mut days: HashMap<usize, Vec<String>> = HashMap::new();
    let mut times: HashMap<usize, Vec<(String, String)>> = HashMap::new();
    for (&(row, col), a) in at.iter().zip(answers) {
        if let Ok(r) = a {
            days.entry(col).or_default().push(r.day.clone());
            let ok = Record {
                day: "d".into(),
                subject: "s".into(),
                ..r.clone()
            }
            .validate()
            .is_ok();
            if ok {
                times
                    .entry(row)
                    .or_default()
                    .push((r.start.clone(), r.end.clone()));
            }
        }
    }
    let day_of: HashMap<usize, String> = days
        .iter()
        .filter_map(|(c, v)| majority(v).map(|d| (*c, d)))
        .collect();
    let time_of: HashMap<usize, (String, String)> = times
        .iter()
        .filter_map(|(r, v)| majority(v).map(|t| (*r, t)))
        .collect();
    at.iter()
        .zip(answers)
        .map(|(&(row, col), a)| {
            let mut r = a.clone()?;
            if let Some(d) = day_of.get(&col) {
                r.day = d.clone();
            }
            if let Some((s, e)) = time_of.get(&row) {
                r.start = s.clone();
                r.end = e.clone();
            }
            Ok(r)
        })
        .collect()
}

/// Scores one image's extracted entries against its truth: each prediction is paired with
/// the unpaired truth entry sharing most fields (at least one); fields are counted over the
/// pairs, unpaired predictions and unpaired truths. Returns the entries that match exactly.
pub fn score_image(pred: &[Record], truth: &[Record], s: &mut record::FieldScore) -> usize {
    let mut used = vec![false; truth.len()];
    let mut exact = 0;
    for p in pred {
        let best = truth
            .iter()
            .enumerate()
            .filter(|(i, _)| !used[*i])
            .map(|(i, t)| {
                let same = record::FIELDS
                    .iter()
                    .filter(|f| !t.field(f).is_empty() && p.field(f) == t.field(f))
                    .count();
                (same, i)
            })
            .max_by_key(|&(same, i)| (same, std::cmp::Reverse(i)));
        match best {
            Some((same, i)) if same > 0 => {
                used[i] = true;
                exact += (p == &truth[i]) as usize;
                s.add(Ok(p), &truth[i]);
            }
            _ => s.add(Ok(p), &Record::default()),
        }
    }
    for (i, t) in truth.iter().enumerate() {
        if !used[i] {
            s.add(Err("missed"), t);
        }
    }
    exact
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(day: &str, start: &str, subject: &str) -> Record {
        Record {
            day: day.into(),
            start: start.into(),
            end: "23:00".into(),
            subject: subject.into(),
            room: String::new(),
            teacher: String::new(),
        }
    }

    #[test]
    fn scoring_pairs_by_shared_fields_and_counts_misses() {
        let truth = vec![r("Monday", "09:00", "Art"), r("Tuesday", "09:00", "Latin")];
        let pred = vec![r("Tuesday", "09:00", "Latn"), r("Monday", "09:00", "Art")];
        let mut s = record::FieldScore::default();
        assert_eq!(score_image(&pred, &truth, &mut s), 1);
        // subject: one right of two predicted, of two true.
        let f = s.per_field();
        assert_eq!((f[3].precision, f[3].recall), (0.5, 0.5));
        assert_eq!(f[0].f1, 1.0);
        let mut s = record::FieldScore::default();
        assert_eq!(score_image(&[], &truth, &mut s), 0);
        assert_eq!(s.per_field()[0].recall, 0.0);
    }

    #[test]
    fn the_grid_overrules_a_cell_that_disagrees_with_its_row_and_column() {
        let mut a = r("Monday", "09:00", "Art");
        a.end = "10:00".into();
        let mut b = a.clone();
        b.subject = "Latin".into();
        let mut c = a.clone();
        c.day = "Friday".into();
        c.start = "10:30".into(); // start after end: invalid alone
        let mut lone = r("Tuesday", "11:00", "Music");
        lone.end = "12:00".into();
        let at = [(1, 1), (1, 1), (1, 1), (2, 2)];
        let got = consensus(&at, &[Ok(a.clone()), Ok(b), Ok(c), Ok(lone.clone())]);
        let c2 = got[2].clone().unwrap().validate().unwrap();
        assert_eq!((c2.day.as_str(), c2.start.as_str()), ("Monday", "09:00"));
        assert_eq!(
            got[3].as_ref().unwrap(),
            &lone,
            "a lone answer keeps its own"
        );
        // A tie decides nothing.
        let mut d = a.clone();
        d.day = "Friday".into();
        let got = consensus(&[(1, 1), (2, 1)], &[Ok(a.clone()), Ok(d.clone())]);
        assert_eq!(got[1].as_ref().unwrap().day, "Friday");
    }

    #[test]
    fn values_not_in_the_cell_are_copied_from_it_unless_a_near_mend() {
        let lines: Vec<String> = ["Metalwork", "W2", "Mr. Abernathy"]
            .map(String::from)
            .to_vec();
        let mut a = r("Monday", "07:30", "Mathematics");
        a.room = "W2".into();
        a.teacher = "Mr. Kowalski".into();
        let c = copied(a, &lines);
        assert_eq!(
            (c.subject.as_str(), c.room.as_str(), c.teacher.as_str()),
            ("Metalwork", "W2", "Mr. Abernathy"),
            "recalled values give way to what the cell says"
        );
        // A misread the model mended (one edit in ten) stands; a wrapped value is one span.
        let lines: Vec<String> = ["Mathernatics", "Marine", "Biology"]
            .map(String::from)
            .to_vec();
        let mut a = r("Monday", "07:30", "Mathematics");
        a.room = "Marine Biology".into();
        let c = copied(a, &lines);
        assert_eq!(
            (c.subject.as_str(), c.room.as_str()),
            ("Mathematics", "Marine Biology")
        );
    }
}
