//! The document model's task as text: a prompt built from what the OCR read in one cell and
//! its headers, and the answer, one timetable record as JSON. The answer is checked against
//! the record schema; output that fails is an error the evaluation counts, never a panic.

use serde::{Deserialize, Serialize};

/// One timetable entry (the record schema: six strings; `room` / `teacher` may be empty).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub day: String,
    pub start: String,
    pub end: String,
    pub subject: String,
    pub room: String,
    pub teacher: String,
}

/// The record fields, in answer order.
pub const FIELDS: [&str; 6] = ["day", "start", "end", "subject", "room", "teacher"];

impl Record {
    /// The canonical answer text: compact JSON, fields in schema order.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("strings serialise")
    }

    pub fn field(&self, name: &str) -> &str {
        match name {
            "day" => &self.day,
            "start" => &self.start,
            "end" => &self.end,
            "subject" => &self.subject,
            "room" => &self.room,
            "teacher" => &self.teacher,
            _ => "",
        }
    }

    /// Parses and validates a generated answer: JSON of exactly the six fields, `start` and
    /// `end` as `HH:MM` with `start < end`, `day` and `subject` not empty.
    pub fn parse(text: &str) -> Result<Record, String> {
        Record::parse_shape(text)?.validate()
    }

    /// The answer as JSON of the six fields, values not yet checked.
    pub fn parse_shape(text: &str) -> Result<Record, String> {
        serde_json::from_str(text.trim())
            .map_err(|e| format!("not a record: {e} in `{}`", clip(text)))
    }

    /// Checks the values: times `HH:MM` with `start < end`, `day` and `subject` not empty.
    pub fn validate(self) -> Result<Record, String> {
        let r = self;
        for (k, v) in [("start", &r.start), ("end", &r.end)] {
            if !is_hhmm(v) {
                return Err(format!("{k} `{v}` is not a time HH:MM"));
            }
        }
        if r.start >= r.end {
            return Err(format!("start {} is not before end {}", r.start, r.end));
        }
        if r.day.is_empty() || r.subject.is_empty() {
            return Err("day and subject must not be empty".into());
        }
        Ok(r)
    }
}

impl Record {
    /// [`Record::validate`] for the last slot of a timetable that gives start times only:
    /// `end` is empty (unknown), the rest as usual.
    pub fn validate_open_end(self) -> Result<Record, String> {
        if !self.end.is_empty() {
            return self.validate();
        }
        if !is_hhmm(&self.start) {
            return Err(format!("start `{}` is not a time HH:MM", self.start));
        }
        if self.day.is_empty() || self.subject.is_empty() {
            return Err("day and subject must not be empty".into());
        }
        Ok(self)
    }
}

fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}

fn is_hhmm(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 5
        && b[2] == b':'
        && b[..2].iter().chain(&b[3..]).all(u8::is_ascii_digit)
        && s[..2].parse::<u32>().is_ok_and(|h| h < 24)
        && s[3..].parse::<u32>().is_ok_and(|m| m < 60)
}

/// What the model reads for one cell: the day header, the time header and the cell's lines,
/// as the OCR read them.
pub fn prompt(day: &str, time: &str, lines: &[String]) -> String {
    let mut s = format!("day: {day}\ntime: {time}\n");
    for l in lines {
        s.push_str("line: ");
        s.push_str(l);
        s.push('\n');
    }
    s
}

/// The truth's cell lines of a record, in the order a timetable prints them.
pub fn cell_lines(r: &Record) -> Vec<String> {
    [&r.subject, &r.room, &r.teacher]
        .into_iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect()
}

/// The time header of a record's row, as timetables print it (`09:00–10:30`).
pub fn time_header(r: &Record) -> String {
    format!("{}\u{2013}{}", r.start, r.end)
}

/// Per-field true / false positives and negatives over many predicted and true records, and
/// exact matches of whole records.
#[derive(Clone, Debug, Default)]
pub struct FieldScore {
    /// Per field: (true positives, predicted non-empty, true non-empty).
    pub counts: [(usize, usize, usize); 6],
    pub records: usize,
    pub exact: usize,
    pub invalid: usize,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FieldMetrics {
    pub field: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

pub fn prf(tp: usize, pred: usize, truth: usize) -> (f64, f64, f64) {
    let div = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    let (p, r) = (div(tp, pred), div(tp, truth));
    (
        p,
        r,
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        },
    )
}

impl FieldScore {
    /// Adds one answer against its truth: `Err` (invalid output) predicts nothing.
    pub fn add(&mut self, pred: Result<&Record, &str>, truth: &Record) {
        self.records += 1;
        let empty = Record::default();
        let p = match pred {
            Ok(p) => p,
            Err(_) => {
                self.invalid += 1;
                &empty
            }
        };
        self.exact += (p == truth) as usize;
        for (i, f) in FIELDS.iter().enumerate() {
            let (pv, tv) = (p.field(f), truth.field(f));
            let c = &mut self.counts[i];
            c.0 += (!pv.is_empty() && pv == tv) as usize;
            c.1 += !pv.is_empty() as usize;
            c.2 += !tv.is_empty() as usize;
        }
    }

    pub fn per_field(&self) -> Vec<FieldMetrics> {
        FIELDS
            .iter()
            .zip(&self.counts)
            .map(|(f, &(tp, p, t))| {
                let (precision, recall, f1) = prf(tp, p, t);
                FieldMetrics {
                    field: f.to_string(),
                    precision,
                    recall,
                    f1,
                }
            })
            .collect()
    }

    /// Micro-averaged field F1 over all six fields.
    pub fn field_f1(&self) -> f64 {
        let (tp, p, t) = self
            .counts
            .iter()
            .fold((0, 0, 0), |a, c| (a.0 + c.0, a.1 + c.1, a.2 + c.2));
        prf(tp, p, t).2
    }

    pub fn exact_match(&self) -> f64 {
        if self.records == 0 {
            0.0
        } else {
            self.exact as f64 / self.records as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> Record {
        Record {
            day: "Monday".into(),
            start: "09:30".into(),
            end: "10:45".into(),
            subject: "Physics".into(),
            room: "B12".into(),
            teacher: String::new(),
        }
    }

    #[test]
    fn answers_round_trip_and_bad_ones_are_errors() {
        let r = rec();
        assert_eq!(Record::parse(&r.to_json()).unwrap(), r);
        for bad in [
            "",
            "{",
            r#"{"day":"Monday"}"#,
            r#"{"day":"Monday","start":"9:30","end":"10:45","subject":"P","room":"","teacher":""}"#,
            r#"{"day":"Monday","start":"11:30","end":"10:45","subject":"P","room":"","teacher":""}"#,
            r#"{"day":"Monday","start":"09:30","end":"10:45","subject":"P","room":"","teacher":"","x":""}"#,
        ] {
            assert!(Record::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_scores_count_empty_fields_as_absent() {
        let t = rec();
        let mut s = FieldScore::default();
        let mut p = t.clone();
        p.room = "B13".into();
        s.add(Ok(&p), &t);
        s.add(Err("garbage"), &t);
        assert_eq!(s.records, 2);
        assert_eq!(s.invalid, 1);
        assert_eq!(s.exact, 0);
        let f = s.per_field();
        assert_eq!(f[0].precision, 1.0);
        assert_eq!(f[0].recall, 0.5);
        assert_eq!(f[4].precision, 0.0);
        // teacher is empty in truth and prediction: nothing to find, nothing wrong.
        assert_eq!(f[5].f1, 1.0);
        assert!(s.field_f1() > 0.5 && s.field_f1() < 0.8);
    }
}
