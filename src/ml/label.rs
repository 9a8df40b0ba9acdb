//! A user's timetable truth turned into OCR training lines: lab finds the table on the page
//! and reads every line of it as `lab extract` does; each line of a class cell is then given
//! the truth text it reads closest to — among the fields of the truth entry at that cell's day
//! and start time when the document model placed it there, else among every field of the page
//! but only when the reading is already close (also when the headers could not be read and
//! no cell was placed). A line no truth text claims clearly (a header,
//! a wrapped half of a long name, a misread with two equally near candidates) is left out:
//! a wrong label teaches worse than a missing one.

use image::{DynamicImage, GrayImage};

use super::doc::record::Record;
use super::extract::{ExtractError, Models, read_grid, read_page};
use super::textmetrics::{align, fold};

/// How far (edits / truth length) a reading may be from a field of the entry the document model
/// placed at the cell: misreads are what training on the user's own pages is for.
const NEAR_IN_ENTRY: f64 = 0.5;

/// How far a reading may be from a field of any entry of the page, when the cell's entry is not
/// known: only clear matches.
const NEAR_ON_PAGE: f64 = 0.25;

/// One line crop with its truth text.
pub struct LabelledLine {
    /// The grey crop as the layout cut it (before the OCR's own preprocessing).
    pub image: GrayImage,
    pub text: String,
    /// What the OCR model read, and its distance to `text` (edits / text length).
    pub read: String,
    pub cer: f64,
}

/// What one page gave.
pub struct Labelled {
    pub lines: Vec<LabelledLine>,
    /// Text lines the layout found in class cells (headers not counted).
    pub cell_lines: usize,
}

/// The day and start of a record as compared: the English day name, the time without a
/// leading zero (`9:00` and `09:00` are one start).
fn slot_key(r: &Record) -> (String, String) {
    let day = crate::timetable::days::day_name(&r.day).unwrap_or(&r.day);
    (
        day.to_lowercase(),
        r.start.trim_start_matches('0').to_string(),
    )
}

/// Edits from `read` to `truth` over the truth's length, compared as scores are (`fold`).
fn distance(read: &str, truth: &str) -> f64 {
    let a: Vec<char> = read.chars().map(fold).collect();
    let b: Vec<char> = truth.chars().map(fold).collect();
    align(&a, &b).0 as f64 / b.len().max(1) as f64
}

/// The truth texts `reads` (one cell part's lines) are: each line the nearest candidate within
/// `near`, each candidate at most once, nearest pairs first; a line whose nearest two
/// candidates are different texts at the same distance gets none.
fn assign(reads: &[String], candidates: &[&str], near: f64) -> Vec<Option<(String, f64)>> {
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (li, r) in reads.iter().enumerate() {
        let mut d: Vec<(f64, usize)> = candidates
            .iter()
            .enumerate()
            .map(|(ci, c)| (distance(r, c), ci))
            .collect();
        d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let ambiguous = d.len() > 1 && d[0].0 == d[1].0 && candidates[d[0].1] != candidates[d[1].1];
        if !ambiguous {
            pairs.extend(
                d.into_iter()
                    .filter(|(x, _)| *x <= near)
                    .map(|(x, ci)| (x, li, ci)),
            );
        }
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut out = vec![None; reads.len()];
    let mut used = vec![false; candidates.len()];
    for (x, li, ci) in pairs {
        if out[li].is_none() && !used[ci] {
            out[li] = Some((candidates[ci].to_string(), x));
            used[ci] = true;
        }
    }
    out
}

/// The lines of `img` labelled from `truth` (the page's entries).
pub fn label_lines(
    img: &DynamicImage,
    m: &Models,
    truth: &[Record],
) -> Result<Labelled, ExtractError> {
    let page = read_page(img, m)?;
    // Without readable headers no cell is placed, but a clear reading still finds its text.
    let placed = read_grid(&page.grid, m.doc, m.tok)
        .map(|r| r.entries)
        .unwrap_or_default();
    let page_fields: Vec<&str> = truth
        .iter()
        .flat_map(|r| [r.subject.as_str(), r.room.as_str(), r.teacher.as_str()])
        .filter(|t| !t.is_empty())
        .collect();
    let mut out = Labelled {
        lines: Vec::new(),
        cell_lines: 0,
    };
    for (cell, text) in page.table.cells.iter().zip(&page.grid.cells) {
        if cell.row == 0 || cell.col == 0 {
            continue; // the day and time headers
        }
        for part in 0..cell.parts.len().max(1) {
            let idx: Vec<usize> = (0..text.lines.len())
                .filter(|&i| text.line_part.get(i).copied().unwrap_or(0) == part)
                .collect();
            if idx.is_empty() {
                continue;
            }
            out.cell_lines += idx.len();
            let reads: Vec<String> = idx.iter().map(|&i| text.lines[i].clone()).collect();
            let entry = placed
                .iter()
                .find(|f| f.row == cell.row && f.col == cell.col && f.part == part)
                .and_then(|f| {
                    let key = slot_key(&f.record);
                    truth.iter().find(|t| slot_key(t) == key)
                });
            let labels = match entry {
                Some(t) => {
                    let own: Vec<&str> = [t.subject.as_str(), t.room.as_str(), t.teacher.as_str()]
                        .into_iter()
                        .filter(|x| !x.is_empty())
                        .collect();
                    assign(&reads, &own, NEAR_IN_ENTRY)
                }
                None => assign(&reads, &page_fields, NEAR_ON_PAGE),
            };
            for ((&i, r), label) in idx.iter().zip(reads).zip(labels) {
                if let (Some((text, cer)), Some(image)) = (label, cell.lines.get(i)) {
                    out.lines.push(LabelledLine {
                        image: image.clone(),
                        text,
                        read: r,
                        cer,
                    });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn each_line_gets_its_nearest_field_once_and_misreads_within_reach() {
        let got = assign(
            &s(&["Textles", "Roon F6", "Mr. Bryamt"]),
            &["Textiles", "Room F6", "Mr. Bryant"],
            NEAR_IN_ENTRY,
        );
        let texts: Vec<Option<&str>> = got
            .iter()
            .map(|g| g.as_ref().map(|(t, _)| t.as_str()))
            .collect();
        assert_eq!(
            texts,
            [Some("Textiles"), Some("Room F6"), Some("Mr. Bryant")]
        );
        assert!((got[0].as_ref().unwrap().1 - 1.0 / 8.0).abs() < 1e-9);
    }

    #[test]
    fn far_readings_ties_and_reused_fields_get_nothing() {
        // Too far for a page-wide match; the same field is not given to two lines.
        let got = assign(
            &s(&["Tunrday", "Maths", "Maths"]),
            &["Textiles", "Maths"],
            0.25,
        );
        assert_eq!(got[0], None);
        assert_eq!(got[1].as_ref().map(|x| x.0.as_str()), Some("Maths"));
        assert_eq!(got[2], None);
        // Two different texts equally near: no label.
        let got = assign(&s(&["B-2"]), &["B-1", "B-3"], 0.5);
        assert_eq!(got[0], None);
        // The en dash reads as a hyphen, as scores count it.
        let got = assign(&s(&["9:00-9:45"]), &["9:00–9:45"], 0.0);
        assert_eq!(got[0].as_ref().map(|x| x.1), Some(0.0));
    }

    #[test]
    fn a_slot_is_its_english_day_and_start_without_a_leading_zero() {
        let r = |day: &str, start: &str| Record {
            day: day.into(),
            start: start.into(),
            end: String::new(),
            subject: String::new(),
            room: String::new(),
            teacher: String::new(),
        };
        assert_eq!(slot_key(&r("Mon", "09:00")), slot_key(&r("Monday", "9:00")));
        assert_ne!(
            slot_key(&r("Monday", "09:00")),
            slot_key(&r("Tuesday", "09:00"))
        );
    }
}
