//! Timetables as text: reading the axes people write (times, day names, which way round the
//! grid goes) and writing the entries out in the formats people use. Pure functions, no
//! model and no I/O; extraction (`ml::extract`) calls them on what the OCR read.

pub mod days;
pub mod export;
pub mod grid;
pub mod pdf;
pub mod time;

use serde::Serialize;

use time::Slot;

/// Which way round a grid is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Orientation {
    /// Days across the top (row 0), times down the side (column 0).
    DaysAsColumns,
    /// Days down the side (column 0), times across the top (row 0).
    DaysAsRows,
}

/// The two axes of a grid, read from its headers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Axes {
    pub orientation: Orientation,
    /// Per day header (columns 1.. or rows 1..): the day, 0 = Monday.
    pub days: Vec<Option<usize>>,
    /// Per time header (rows 1.. or columns 1..): the slot.
    pub slots: Vec<Option<Slot>>,
}

impl Axes {
    /// The (day header index, slot index) of grid cell (`row`, `col`), both ≥ 1.
    pub fn place(&self, row: usize, col: usize) -> (usize, usize) {
        match self.orientation {
            Orientation::DaysAsColumns => (col - 1, row - 1),
            Orientation::DaysAsRows => (row - 1, col - 1),
        }
    }
}

/// Decides which way round a grid is by reading its headers: `row0` is the text of row 0's
/// cells from column 1 on, `col0` column 0's from row 1 on. Days along one, times along the
/// other; where both readings work, the one that reads more headers wins (days as columns on
/// a tie). The error says what is missing and what row 0 and column 0 read.
pub fn read_axes(row0: &[String], col0: &[String]) -> Result<Axes, String> {
    let count_days = |d: &[Option<usize>]| d.iter().flatten().count();
    let count_slots = |s: &Result<Vec<Option<Slot>>, _>| {
        s.as_ref()
            .map_or(0, |v: &Vec<_>| v.iter().flatten().count())
    };
    let (days_r0, days_c0) = (days::read_days(row0), days::read_days(col0));
    let (times_r0, times_c0) = (time::parse_axis(row0), time::parse_axis(col0));
    let cols = (count_days(&days_r0), count_slots(&times_c0));
    let rows = (count_days(&days_c0), count_slots(&times_r0));
    let ok = |(d, t): (usize, usize)| d > 0 && t > 0;
    let reads = format!("row 0 reads {row0:?}, column 0 reads {col0:?}");
    let pick_cols = match (ok(cols), ok(rows)) {
        (true, true) => cols.0 + cols.1 >= rows.0 + rows.1,
        (true, false) => true,
        (false, true) => false,
        (false, false) => {
            return Err(if cols.0 == 0 && rows.0 == 0 {
                format!("no day header in row 0 or column 0 ({reads})")
            } else if cols.0 > 0 {
                format!("days in row 0 but no time axis in column 0 ({reads})")
            } else {
                format!("days in column 0 but no time axis in row 0 ({reads})")
            });
        }
    };
    Ok(if pick_cols {
        Axes {
            orientation: Orientation::DaysAsColumns,
            days: days_r0,
            slots: times_c0.unwrap_or_default(),
        }
    } else {
        Axes {
            orientation: Orientation::DaysAsRows,
            days: days_c0,
            slots: times_r0.unwrap_or_default(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn days_as_columns_or_rows_by_reading_the_headers() {
        let days = s(&["Mon", "Tue", "Wed"]);
        let times = s(&["8-9", "9-10"]);
        let a = read_axes(&days, &times).unwrap();
        assert_eq!(a.orientation, Orientation::DaysAsColumns);
        assert_eq!(a.days, [Some(0), Some(1), Some(2)]);
        assert_eq!(a.place(2, 3), (2, 1));
        let b = read_axes(&times, &days).unwrap();
        assert_eq!(b.orientation, Orientation::DaysAsRows);
        assert_eq!(b.slots[1].as_ref().unwrap().start, "09:00");
        assert_eq!(b.place(2, 1), (1, 0));
        let de = read_axes(&s(&["07:45", "08:35"]), &s(&["MONTAG", "DIENSTAG"])).unwrap();
        assert_eq!(de.orientation, Orientation::DaysAsRows);
        assert_eq!(de.days, [Some(0), Some(1)]);
    }

    #[test]
    fn what_is_missing_is_said_with_what_the_headers_read() {
        let e = read_axes(&s(&["Name", "Score"]), &s(&["Alice", "Bob"])).unwrap_err();
        assert!(e.starts_with("no day header"), "{e}");
        assert!(e.contains("\"Score\"") && e.contains("\"Bob\""), "{e}");
        let e = read_axes(&s(&["Mon", "Tue"]), &s(&["Alice", "Bob"])).unwrap_err();
        assert!(e.starts_with("days in row 0 but no time axis"), "{e}");
        let e = read_axes(&s(&["x", "y"]), &s(&["Friday", "Monday"])).unwrap_err();
        assert!(e.starts_with("days in column 0 but no time axis"), "{e}");
    }
}
