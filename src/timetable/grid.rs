//! A timetable's grid as text: what every cell says, however it was read (OCR of an image's
//! cells, or a PDF's text layer). For a text layer, the grid is rebuilt from where the text
//! stands: the header is the topmost line with two or more labels that read as days or
//! times; its labels (runs closer than a space apart joined) are the columns; the labels left
//! of the first column, below the header, are the rows (lines less than ~1.5 lines apart are
//! one label); every other run belongs to the column and row it stands in. Which axis holds
//! the days is decided afterwards from the text (see [`super::read_axes`]).

use super::{days, time};

/// A run of text on a page: its left end and baseline (`x`, `y`, from the top-left corner),
/// estimated width, font size, all in the page's units.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub size: f32,
    pub text: String,
}

/// One cell of a grid as text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextCell {
    pub row: usize,
    pub col: usize,
    pub row_span: usize,
    pub col_span: usize,
    /// `[x0, y0, x1, y1]` in the page's (image's) units.
    pub bbox: [u32; 4],
    /// Stacked sub-cells (one when not split).
    pub parts: Vec<[u32; 4]>,
    /// Its text lines, top to bottom, and the sub-cell of each.
    pub lines: Vec<String>,
    pub line_part: Vec<usize>,
}

/// A grid as text: `rows` × `cols` squares including header row 0 and column 0.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextGrid {
    pub rows: usize,
    pub cols: usize,
    pub cells: Vec<TextCell>,
}

fn is_label(t: &str) -> bool {
    days::day_name(t).is_some() || time::parse_axis(&[t]).is_ok_and(|s| s[0].is_some())
}

/// Runs on one line (baselines within 40% of the font size), top to bottom, left to right.
fn lines(runs: &[&Run]) -> Vec<Vec<Run>> {
    let mut sorted: Vec<Run> = runs.iter().map(|r| (*r).clone()).collect();
    sorted.sort_by(|a, b| a.y.total_cmp(&b.y).then(a.x.total_cmp(&b.x)));
    let mut out: Vec<Vec<Run>> = Vec::new();
    for r in sorted {
        match out.last_mut() {
            Some(l) if (r.y - l[0].y).abs() <= 0.4 * r.size.max(l[0].size) => l.push(r),
            _ => out.push(vec![r]),
        }
    }
    for l in &mut out {
        l.sort_by(|a, b| a.x.total_cmp(&b.x));
    }
    out
}

/// Runs of one line joined into labels where the gap between them is under a space or two.
fn labels(line: &[Run]) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    for r in line {
        match out.last_mut() {
            Some(l) if r.x - (l.x + l.w) <= 1.2 * r.size => {
                l.text = format!("{} {}", l.text, r.text);
                l.w = (r.x + r.w - l.x).max(l.w);
            }
            _ => out.push(r.clone()),
        }
    }
    out
}

/// The grid of a page's text runs, or why there is none.
pub fn from_runs(runs: &[Run]) -> Result<TextGrid, String> {
    let all: Vec<&Run> = runs.iter().collect();
    let page_lines = lines(&all);
    let header = page_lines
        .iter()
        .map(|l| labels(l))
        .find(|ls| ls.iter().filter(|l| is_label(&l.text)).count() >= 2)
        .ok_or_else(|| {
            let first: Vec<String> = page_lines
                .iter()
                .take(3)
                .map(|l| {
                    l.iter()
                        .map(|r| r.text.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            format!(
                "no line of two or more day names or times in the text layer (it begins {first:?})"
            )
        })?;
    // The header's labels that read as days or times are the columns; what stands left of
    // the first is the corner.
    let first = header.iter().position(|l| is_label(&l.text)).unwrap_or(0);
    let heads: Vec<Run> = header[first..].to_vec();
    let head_y = heads[0].y;
    let size = heads[0].size;
    let left_edge = heads[0].x - 0.5 * size;
    let centres: Vec<f32> = heads.iter().map(|h| h.x + h.w / 2.0).collect();
    let col_of = |x: f32| -> usize {
        let mut best = 0;
        for (i, c) in centres.iter().enumerate() {
            if (x - c).abs() < (x - centres[best]).abs() {
                best = i;
            }
        }
        best
    };
    let below: Vec<&Run> = runs.iter().filter(|r| r.y > head_y + 0.4 * size).collect();
    let left: Vec<&Run> = below
        .iter()
        .copied()
        .filter(|r| r.x + r.w / 2.0 < left_edge && r.x < left_edge)
        .collect();
    // Row labels: the left column's lines, grouped.
    let mut row_labels: Vec<(f32, f32, String)> = Vec::new(); // top, bottom, text
    let left_lines = lines(&left);
    for l in &left_lines {
        let text = l
            .iter()
            .map(|r| r.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let (y, s) = (l[0].y, l[0].size);
        match row_labels.last_mut() {
            Some(last) if y - last.1 < 1.5 * s => {
                last.1 = y;
                last.2 = format!("{} {}", last.2, text);
            }
            _ => row_labels.push((y, y, text)),
        }
    }
    // Only labels that read as days or times are rows (a legend or a note below the table
    // stands in the left column too).
    row_labels.retain(|l| is_label(&l.2));
    if row_labels.is_empty() {
        return Err(format!(
            "a header line reads {:?} but nothing stands left of it below: no row labels",
            heads.iter().map(|h| h.text.as_str()).collect::<Vec<_>>()
        ));
    }
    let mids: Vec<f32> = row_labels
        .windows(2)
        .map(|w| (w[0].1 + w[1].0) / 2.0)
        .collect();
    let row_of = |y: f32| mids.iter().filter(|&&m| y >= m).count();
    // The last row ends a row's height below its label (what is further down is no cell).
    let pitch = row_labels
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .fold(4.0 * size, f32::max);
    let bottom = row_labels.last().map_or(f32::MAX, |l| l.1 + 0.75 * pitch);
    let below: Vec<&Run> = below.into_iter().filter(|r| r.y <= bottom).collect();
    let left: Vec<&Run> = left.into_iter().filter(|r| r.y <= bottom).collect();
    let (rows, cols) = (row_labels.len() + 1, heads.len() + 1);
    let mut body: Vec<Vec<Vec<&Run>>> = vec![vec![Vec::new(); cols - 1]; rows - 1];
    for r in below
        .iter()
        .copied()
        .filter(|r| r.x >= left_edge || r.x + r.w / 2.0 >= left_edge)
    {
        body[row_of(r.y)][col_of(r.x + r.w / 2.0)].push(r);
    }
    let bx = |rs: &[&Run]| -> [u32; 4] {
        let x0 = rs.iter().map(|r| r.x).fold(f32::MAX, f32::min);
        let y0 = rs.iter().map(|r| r.y - r.size).fold(f32::MAX, f32::min);
        let x1 = rs.iter().map(|r| r.x + r.w).fold(0.0, f32::max);
        let y1 = rs.iter().map(|r| r.y + 0.3 * r.size).fold(0.0, f32::max);
        [
            x0.max(0.0) as u32,
            y0.max(0.0) as u32,
            x1.ceil() as u32,
            y1.ceil() as u32,
        ]
    };
    let cell = |row: usize, col: usize, rs: &[&Run], text: Vec<String>| {
        let b = if rs.is_empty() { [0; 4] } else { bx(rs) };
        TextCell {
            row,
            col,
            row_span: 1,
            col_span: 1,
            bbox: b,
            parts: vec![b],
            line_part: vec![0; text.len()],
            lines: text,
        }
    };
    let mut cells = vec![cell(0, 0, &[], Vec::new())];
    for (c, h) in heads.iter().enumerate() {
        cells.push(cell(0, c + 1, &[h], vec![h.text.clone()]));
    }
    for (r, (_, _, text)) in row_labels.iter().enumerate() {
        let rs: Vec<&Run> = left.iter().copied().filter(|x| row_of(x.y) == r).collect();
        cells.push(cell(r + 1, 0, &rs, vec![text.clone()]));
        for (c, rs) in body[r].iter().enumerate() {
            let text: Vec<String> = lines(rs)
                .iter()
                .map(|l| {
                    labels(l)
                        .iter()
                        .map(|x| x.text.clone())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            cells.push(cell(r + 1, c + 1, rs, text));
        }
    }
    cells.sort_by_key(|c| (c.row, c.col));
    Ok(TextGrid { rows, cols, cells })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(x: f32, y: f32, text: &str) -> Run {
        Run {
            x,
            y,
            w: text.chars().count() as f32 * 5.0,
            size: 10.0,
            text: text.into(),
        }
    }

    fn text_at(g: &TextGrid, r: usize, c: usize) -> String {
        g.cells
            .iter()
            .find(|x| (x.row, x.col) == (r, c))
            .map(|x| x.lines.join(" | "))
            .unwrap_or_default()
    }

    #[test]
    fn a_page_of_runs_becomes_a_grid() {
        let runs = vec![
            run(200.0, 40.0, "Spring timetable"),
            run(30.0, 80.0, "Time"),
            run(120.0, 80.0, "Monday"),
            run(220.0, 80.0, "Tuesday"),
            run(30.0, 110.0, "07:20 AM"),
            run(30.0, 122.0, "08:00 AM"),
            run(120.0, 110.0, "Maths"),
            run(120.0, 122.0, "MB 1"),
            run(120.0, 134.0, "Sir Jerome"),
            run(220.0, 116.0, "ITC02"),
            run(30.0, 160.0, "8:00 - 9:00"),
            run(220.0, 160.0, "Art"),
            run(30.0, 220.0, "Legend: MB = main building"),
        ];
        let g = from_runs(&runs).unwrap();
        assert_eq!((g.rows, g.cols), (3, 3));
        assert_eq!(text_at(&g, 0, 1), "Monday");
        assert_eq!(text_at(&g, 1, 0), "07:20 AM 08:00 AM");
        assert_eq!(text_at(&g, 1, 1), "Maths | MB 1 | Sir Jerome");
        assert_eq!(text_at(&g, 1, 2), "ITC02");
        assert_eq!(text_at(&g, 2, 2), "Art");
        assert_eq!(text_at(&g, 2, 1), "");
    }

    #[test]
    fn times_across_the_top_days_down_the_side() {
        let runs = vec![
            run(120.0, 80.0, "9:00"),
            run(220.0, 80.0, "10:00"),
            run(30.0, 110.0, "MON"),
            run(120.0, 110.0, "Physics"),
            run(30.0, 150.0, "TUE"),
            run(220.0, 150.0, "Drama"),
        ];
        let g = from_runs(&runs).unwrap();
        assert_eq!((g.rows, g.cols), (3, 3));
        assert_eq!(text_at(&g, 2, 0), "TUE");
        assert_eq!(text_at(&g, 2, 2), "Drama");
    }

    #[test]
    fn text_without_a_timetable_says_what_it_begins_with() {
        let e = from_runs(&[run(10.0, 10.0, "Invoice"), run(10.0, 30.0, "Total 12")]).unwrap_err();
        assert!(e.contains("Invoice"), "{e}");
    }
}
