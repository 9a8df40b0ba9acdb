//! What a timetable says: days, time slots and entries `{day, start, end, subject, room,
//! teacher}`, drawn from the seeded stream of one timetable. How it looks is `render`'s job.

use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::{Domain, rng};

/// One timetable entry: what a cell of the grid says. An empty `room` or `teacher` means the
/// timetable does not show it (its cell has fewer lines).
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
    "Smith",
    "Garcia",
    "Okafor",
    "Nguyen",
    "Müller",
    "Rossi",
    "Kowalski",
    "Tanaka",
    "Silva",
    "Dubois",
    "Johansson",
    "Patel",
    "Kim",
    "O'Brien",
    "Haddad",
    "Novak",
    "Jensen",
    "Costa",
    "Ivanova",
    "Mensah",
];
const TITLES: [&str; 5] = ["Dr.", "Mr.", "Ms.", "Mrs.", "Prof."];
const BUILDINGS: [&str; 6] = ["A", "B", "C", "Lab ", "Room ", "Hall "];

fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Every character the generator can put into a timetable (checked against every font).
pub fn alphabet() -> String {
    let mut s: String = DAYS.concat();
    s.push_str(&SUBJECTS.concat());
    s.push_str(&SURNAMES.concat());
    s.push_str(&TITLES.concat());
    s.push_str(&BUILDINGS.concat());
    s.push_str("0123456789:\u{2013} Time");
    s
}

/// Generates timetable `index` of the stream `seed` in `domain`. The same (seed, domain, index)
/// always gives the same timetable, independent of how many others are generated.
pub fn timetable(seed: u64, domain: Domain, index: u32) -> Timetable {
    let mut rng = rng(seed, domain, index, "content");
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
    // Distinct surnames: a school rarely has two teachers of one name.
    let mut surnames = SURNAMES.to_vec();
    surnames.shuffle(&mut rng);
    let teachers: Vec<String> = surnames[..rng.random_range(4..10)]
        .iter()
        .map(|s| format!("{} {s}", TITLES[rng.random_range(0..TITLES.len())]))
        .collect();
    let fill = rng.random_range(0.5..0.9);
    // Which lines a cell shows: subject, room, teacher (most), or fewer.
    let (show_room, show_teacher) = match rng.random_range(0..20) {
        0..=12 => (true, true),
        13..=16 => (true, false),
        17..=18 => (false, true),
        _ => (false, false),
    };
    let mut entries = Vec::new();
    for (start, end) in &slots {
        for day in &days {
            if !rng.random_bool(fill) {
                continue;
            }
            let b = BUILDINGS[rng.random_range(0..BUILDINGS.len())];
            let room = if b.len() == 1 {
                format!(
                    "{b}{}",
                    rng.random_range(1..4) * 100 + rng.random_range(1..30)
                )
            } else {
                format!("{b}{}", rng.random_range(1..20))
            };
            let subject = SUBJECTS[rng.random_range(0..SUBJECTS.len())].to_string();
            let teacher = teachers[rng.random_range(0..teachers.len())].clone();
            entries.push(Entry {
                day: day.clone(),
                start: start.clone(),
                end: end.clone(),
                subject,
                room: if show_room { room } else { String::new() },
                teacher: if show_teacher { teacher } else { String::new() },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_timetable_and_entries_are_on_the_grid() {
        let a = timetable(42, Domain::Default, 3);
        assert_eq!(a, timetable(42, Domain::Default, 3));
        assert_ne!(a, timetable(43, Domain::Default, 3));
        assert_ne!(a, timetable(42, Domain::Shifted, 3));
        for e in &a.entries {
            assert!(a.days.contains(&e.day));
            assert!(a.slots.contains(&(e.start.clone(), e.end.clone())));
        }
        assert!(!a.entries.is_empty());
    }
}
