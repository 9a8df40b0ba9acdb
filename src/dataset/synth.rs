//! The embedded default dataset: synthetic school timetables, generated deterministically from
//! a seed. Each timetable is ground truth — days, time slots and entries
//! `{day, start, end, subject, room, teacher}` — written as `tt_NNNN.json`.
//! (Rendering them to images for OCR training builds on this; see the OCR issue.)

use std::fs;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// One timetable entry: what a cell of the grid says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub day: String,
    pub start: String,
    pub end: String,
    pub subject: String,
    pub room: String,
    pub teacher: String,
}

/// One generated timetable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timetable {
    pub id: String,
    pub days: Vec<String>,
    /// Time ranges of the rows, `["09:00", "10:30"]`.
    pub slots: Vec<(String, String)>,
    pub entries: Vec<Entry>,
}

const DAYS: [&str; 6] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const SUBJECTS: [&str; 24] = [
    "Mathematics",
    "Physics",
    "Chemistry",
    "Biology",
    "English",
    "History",
    "Geography",
    "Computer Science",
    "Art",
    "Music",
    "Physical Education",
    "French",
    "German",
    "Spanish",
    "Economics",
    "Philosophy",
    "Statistics",
    "Linear Algebra",
    "Literature",
    "Drama",
    "Civics",
    "Latin",
    "Astronomy",
    "Robotics",
];
const SURNAMES: [&str; 20] = [
    "Smith", "Garcia", "Okafor", "Nguyen", "Müller", "Rossi", "Kowalski", "Tanaka", "Silva",
    "Dubois", "Johansson", "Patel", "Kim", "O'Brien", "Haddad", "Novak", "Jensen", "Costa",
    "Ivanova", "Mensah",
];
const TITLES: [&str; 5] = ["Dr.", "Mr.", "Ms.", "Mrs.", "Prof."];
const BUILDINGS: [&str; 6] = ["A", "B", "C", "Lab ", "Room ", "Hall "];

fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Generates timetable `index` of the stream `seed`. The same (seed, index) always gives the
/// same timetable, independent of how many others are generated.
pub fn timetable(seed: u64, index: u32) -> Timetable {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (u64::from(index) << 32) ^ 0x7431_6d65);
    let n_days = if rng.random_bool(0.2) { 6 } else { 5 };
    let days: Vec<String> = DAYS[..n_days].iter().map(|d| d.to_string()).collect();
    let mut t = [420u32, 450, 480, 510, 540][rng.random_range(0..5)];
    let duration = [45u32, 50, 60, 90][rng.random_range(0..4)];
    let n_slots = rng.random_range(4..=8);
    let mut slots = Vec::with_capacity(n_slots);
    for _ in 0..n_slots {
        slots.push((hhmm(t), hhmm(t + duration)));
        t += duration + [0u32, 5, 10, 15][rng.random_range(0..4)];
    }
    let n_teachers = rng.random_range(4..10);
    let teachers: Vec<String> = (0..n_teachers)
        .map(|_| {
            format!(
                "{} {}",
                TITLES[rng.random_range(0..TITLES.len())],
                SURNAMES[rng.random_range(0..SURNAMES.len())]
            )
        })
        .collect();
    let fill = rng.random_range(0.5..0.9);
    let mut entries = Vec::new();
    for (start, end) in &slots {
        for day in &days {
            if !rng.random_bool(fill) {
                continue;
            }
            let b = BUILDINGS[rng.random_range(0..BUILDINGS.len())];
            let room = if b.len() == 1 {
                format!("{b}{}", rng.random_range(1..4) * 100 + rng.random_range(1..30))
            } else {
                format!("{b}{}", rng.random_range(1..20))
            };
            entries.push(Entry {
                day: day.clone(),
                start: start.clone(),
                end: end.clone(),
                subject: SUBJECTS[rng.random_range(0..SUBJECTS.len())].to_string(),
                room,
                teacher: teachers[rng.random_range(0..teachers.len())].clone(),
            });
        }
    }
    Timetable {
        id: format!("tt_{index:04}"),
        days,
        slots,
        entries,
    }
}

/// Writes `count` timetables of stream `seed` into `dir` as `tt_NNNN.json`. Files whose bytes
/// are already right are not rewritten (so a snapshot of the result stays unchanged).
/// Returns the number of files written.
pub fn write_timetables(dir: &Path, seed: u64, count: u32) -> std::io::Result<u32> {
    fs::create_dir_all(dir)?;
    let mut written = 0;
    for i in 0..count {
        let t = timetable(seed, i);
        let mut bytes = serde_json::to_vec_pretty(&t).expect("plain data serialises");
        bytes.push(b'\n');
        let p = dir.join(format!("{}.json", t.id));
        if fs::read(&p).ok().as_deref() == Some(&bytes[..]) {
            continue;
        }
        fs::write(&p, &bytes)?;
        written += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_timetable_and_entries_are_on_the_grid() {
        let a = timetable(42, 3);
        assert_eq!(a, timetable(42, 3));
        assert_ne!(a, timetable(43, 3));
        for e in &a.entries {
            assert!(a.days.contains(&e.day));
            assert!(a.slots.contains(&(e.start.clone(), e.end.clone())));
        }
        assert!(!a.entries.is_empty());
    }

    #[test]
    fn rewriting_is_a_no_op() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(write_timetables(d.path(), 1, 5).unwrap(), 5);
        assert_eq!(write_timetables(d.path(), 1, 5).unwrap(), 0);
    }
}
