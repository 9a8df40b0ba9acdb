//! Extracted entries in the formats people use: CSV (RFC 4180) and iCalendar (RFC 5545), one
//! weekly recurring event per entry, placed in the week of a given date.

use std::fmt::Write as _;

use serde::Serialize;

use super::days;

/// One entry as exported.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    pub image: String,
    pub day: String,
    pub start: String,
    /// Empty when the timetable does not say (start times only, last slot).
    pub end: String,
    pub subject: String,
    pub room: String,
    pub teacher: String,
    pub confidence: f32,
    /// `[x0, y0, x1, y1]` of the entry's cell in the image's pixels (a PDF page's: points).
    pub bbox: [u32; 4],
}

/// The CSV header.
pub const CSV_HEADER: &str = "image,day,start,end,subject,room,teacher,confidence,x0,y0,x1,y1";

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Rows as CSV with a header line, CRLF line ends (RFC 4180).
pub fn csv(rows: &[Row]) -> String {
    let mut s = format!("{CSV_HEADER}\r\n");
    for r in rows {
        let text = [
            &r.image, &r.day, &r.start, &r.end, &r.subject, &r.room, &r.teacher,
        ];
        let fields: Vec<String> = text.iter().map(|f| csv_field(f)).collect();
        let _ = write!(
            s,
            "{},{:.3},{},{},{},{}\r\n",
            fields.join(","),
            r.confidence,
            r.bbox[0],
            r.bbox[1],
            r.bbox[2],
            r.bbox[3]
        );
    }
    s
}

/// A calendar date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub y: i32,
    pub m: u32,
    pub d: u32,
}

impl Date {
    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Result<Date, String> {
        let bad = || format!("`{s}` is not a date YYYY-MM-DD");
        let p: Vec<&str> = s.trim().split('-').collect();
        if p.len() != 3 || p[0].len() != 4 || p[1].len() != 2 || p[2].len() != 2 {
            return Err(bad());
        }
        let y: i32 = p[0].parse().map_err(|_| bad())?;
        let m: u32 = p[1].parse().map_err(|_| bad())?;
        let d: u32 = p[2].parse().map_err(|_| bad())?;
        let date = Date { y, m, d };
        if !(1..=12).contains(&m) || d == 0 || Date::from_days(date.days()) != date {
            return Err(format!("`{s}` is not a date of the calendar"));
        }
        Ok(date)
    }

    /// Days since 1970-01-01 (proleptic Gregorian).
    pub fn days(self) -> i64 {
        let y = i64::from(self.y) - i64::from(self.m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.m);
        let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(self.d) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    pub fn from_days(z: i64) -> Date {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        Date {
            y: (yoe + era * 400 + i64::from(m <= 2)) as i32,
            m,
            d,
        }
    }

    /// 0 = Monday.
    pub fn weekday(self) -> usize {
        // 1970-01-01 was a Thursday.
        (self.days() + 3).rem_euclid(7) as usize
    }

    /// The Monday of this date's week.
    pub fn monday(self) -> Date {
        Date::from_days(self.days() - self.weekday() as i64)
    }

    fn compact(self) -> String {
        format!("{:04}{:02}{:02}", self.y, self.m, self.d)
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.y, self.m, self.d)
    }
}

/// TEXT value escaping (RFC 5545 §3.3.11).
fn ics_text(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            ';' => o.push_str("\\;"),
            ',' => o.push_str("\\,"),
            '\n' => o.push_str("\\n"),
            '\r' => {}
            _ => o.push(c),
        }
    }
    o
}

/// One content line folded at 75 octets (continuation lines start with a space), CRLF.
fn fold(line: &str, out: &mut String) {
    let mut n = 0;
    for c in line.chars() {
        if n + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            n = 1;
        }
        out.push(c);
        n += c.len_utf8();
    }
    out.push_str("\r\n");
}

/// FNV-1a, for stable event ids.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Rows as an iCalendar file: one weekly recurring event (`RRULE:FREQ=WEEKLY`) per row, first
/// on its day of the week of `week_of`, at its start and end as floating local times (the
/// timetable says no time zone). An entry with an unknown end has no `DTEND`. Rows whose day
/// or times do not read are left out and counted in the second value.
pub fn ics(rows: &[Row], week_of: Date) -> (String, usize) {
    let monday = week_of.monday();
    let mut s = String::new();
    for l in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//lab//timetable extraction//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
    ] {
        fold(l, &mut s);
    }
    let stamp = format!("{}T000000Z", week_of.compact());
    let mut skipped = 0;
    for (i, r) in rows.iter().enumerate() {
        let day = days::read_days(&[&r.day])[0];
        let hm = |t: &str| -> Option<String> {
            let b = t.as_bytes();
            (b.len() == 5 && b[2] == b':').then(|| format!("{}{}00", &t[..2], &t[3..]))
        };
        let (Some(day), Some(start)) = (day, hm(&r.start)) else {
            skipped += 1;
            continue;
        };
        let date = Date::from_days(monday.days() + day as i64).compact();
        let uid = format!(
            "{:016x}-{i}@lab",
            fnv(&format!("{}|{}|{}|{}", r.image, r.day, r.start, r.subject))
        );
        fold("BEGIN:VEVENT", &mut s);
        fold(&format!("UID:{uid}"), &mut s);
        fold(&format!("DTSTAMP:{stamp}"), &mut s);
        fold(&format!("DTSTART:{date}T{start}"), &mut s);
        if let Some(end) = hm(&r.end) {
            fold(&format!("DTEND:{date}T{end}"), &mut s);
        }
        fold("RRULE:FREQ=WEEKLY", &mut s);
        fold(&format!("SUMMARY:{}", ics_text(&r.subject)), &mut s);
        if !r.room.is_empty() {
            fold(&format!("LOCATION:{}", ics_text(&r.room)), &mut s);
        }
        let mut desc = String::new();
        if !r.teacher.is_empty() {
            desc = format!("Teacher: {}\n", r.teacher);
        }
        desc.push_str(&format!(
            "Extracted by lab from {} (confidence {:.2})",
            r.image, r.confidence
        ));
        fold(&format!("DESCRIPTION:{}", ics_text(&desc)), &mut s);
        fold("END:VEVENT", &mut s);
    }
    fold("END:VCALENDAR", &mut s);
    (s, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(day: &str, start: &str, end: &str, subject: &str) -> Row {
        Row {
            image: "tt.png".into(),
            day: day.into(),
            start: start.into(),
            end: end.into(),
            subject: subject.into(),
            room: "B 12".into(),
            teacher: "Sir Jerome".into(),
            confidence: 0.9,
            bbox: [1, 2, 3, 4],
        }
    }

    #[test]
    fn dates_and_weeks() {
        let d = Date::parse("2026-12-09").unwrap();
        assert_eq!(d.weekday(), 2, "a Wednesday");
        assert_eq!(d.monday().to_string(), "2026-12-07");
        assert_eq!(
            Date::parse("2024-03-03").unwrap().monday().to_string(),
            "2024-02-26"
        );
        assert_eq!(Date::parse("1970-01-01").unwrap().days(), 0);
        assert_eq!(
            Date::from_days(Date::parse("2000-02-29").unwrap().days()).to_string(),
            "2000-02-29"
        );
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "26-01-01",
            "2026/01/01",
            "tomorrow",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let mut r = row("Monday", "09:00", "10:00", "Art, \"Design\"");
        r.teacher = "Smith".into();
        let s = csv(&[r]);
        let lines: Vec<&str> = s.split("\r\n").collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(
            lines[1],
            "tt.png,Monday,09:00,10:00,\"Art, \"\"Design\"\"\",B 12,Smith,0.900,1,2,3,4"
        );
    }

    /// The file read back by a real iCalendar parser (the `ical` crate).
    #[test]
    fn ics_is_weekly_events_a_parser_reads() {
        let mut long = row(
            "Friday",
            "13:00",
            "14:30",
            "Linear Algebra; Proofs, Part II",
        );
        long.teacher = "Prof. Ada Lovelace-Byron von Somewhere Very Long Indeed, PhD".into();
        let rows = [
            row("Monday", "09:00", "10:30", "Mathematics"),
            row("Mittwoch", "11:00", "", "Music"),
            long,
            row("?", "09:00", "10:00", "Lost"),
        ];
        let (text, skipped) = ics(&rows, Date::parse("2026-12-09").unwrap());
        assert_eq!(skipped, 1);
        assert!(text.lines().all(|l| l.len() <= 76), "folded at 75 octets");
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        let mut parser = ical::IcalParser::new(std::io::BufReader::new(text.as_bytes()));
        let cal = parser.next().expect("one calendar").expect("parses");
        assert!(parser.next().is_none());
        assert_eq!(cal.events.len(), 3);
        let prop = |e: &ical::parser::ical::component::IcalEvent, k: &str| {
            e.properties
                .iter()
                .find(|p| p.name == k)
                .and_then(|p| p.value.clone())
        };
        let e0 = &cal.events[0];
        assert_eq!(prop(e0, "DTSTART").as_deref(), Some("20261207T090000"));
        assert_eq!(prop(e0, "DTEND").as_deref(), Some("20261207T103000"));
        assert_eq!(prop(e0, "RRULE").as_deref(), Some("FREQ=WEEKLY"));
        assert_eq!(prop(e0, "SUMMARY").as_deref(), Some("Mathematics"));
        assert_eq!(prop(e0, "LOCATION").as_deref(), Some("B 12"));
        let e1 = &cal.events[1];
        assert_eq!(prop(e1, "DTSTART").as_deref(), Some("20261209T110000"));
        assert_eq!(prop(e1, "DTEND"), None, "an unknown end is not invented");
        let e2 = &cal.events[2];
        assert_eq!(prop(e2, "DTSTART").as_deref(), Some("20261211T130000"));
        assert_eq!(
            prop(e2, "SUMMARY").as_deref(),
            Some("Linear Algebra\\; Proofs\\, Part II")
        );
        assert!(
            prop(e2, "DESCRIPTION")
                .unwrap()
                .contains("Lovelace-Byron von Somewhere Very Long")
        );
        let uids: std::collections::BTreeSet<_> =
            cal.events.iter().map(|e| prop(e, "UID").unwrap()).collect();
        assert_eq!(uids.len(), 3);
    }
}
