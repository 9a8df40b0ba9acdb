//! Day names as timetables write them: full, abbreviated, upper case, with a trailing dot or a
//! date beside them ("Mon 3/12"), in English, German, French and Spanish, with an OCR slip or
//! two forgiven in full names. Every day is given back as its English name, the record's
//! `day` value ("Monday").

/// The English names, Monday first: what a record says.
pub const ENGLISH: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// One language's day names: full names and accepted abbreviations (lower case, no accents,
/// no dot), Monday first.
struct Lang {
    full: [&'static str; 7],
    short: [&'static [&'static str]; 7],
}

const LANGS: [Lang; 4] = [
    Lang {
        full: [
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
        ],
        short: [
            &["mon", "mo"],
            &["tue", "tues", "tu"],
            &["wed", "weds", "we"],
            &["thu", "thur", "thurs", "th"],
            &["fri", "fr"],
            &["sat", "sa"],
            &["sun", "su"],
        ],
    },
    Lang {
        full: [
            "montag",
            "dienstag",
            "mittwoch",
            "donnerstag",
            "freitag",
            "samstag",
            "sonntag",
        ],
        short: [
            &["mo", "mon"],
            &["di", "die"],
            &["mi", "mit"],
            &["do", "don"],
            &["fr", "fre"],
            &["sa", "sam"],
            &["so", "son"],
        ],
    },
    Lang {
        full: [
            "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
        ],
        short: [
            &["lun", "lu"],
            &["mar", "ma"],
            &["mer", "me"],
            &["jeu", "je"],
            &["ven", "ve"],
            &["sam", "sa"],
            &["dim", "di"],
        ],
    },
    Lang {
        full: [
            "lunes",
            "martes",
            "miercoles",
            "jueves",
            "viernes",
            "sabado",
            "domingo",
        ],
        short: [
            &["lun", "lu"],
            &["mar", "ma"],
            &["mie", "mi"],
            &["jue", "ju"],
            &["vie", "vi"],
            &["sab", "sa"],
            &["dom", "do"],
        ],
    },
];

/// Lower case with the accents of these four languages taken off.
fn fold(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            _ => c,
        })
        .collect()
}

fn edits(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = (diag + usize::from(ca != cb)).min(row[j] + 1).min(up + 1);
            diag = up;
        }
    }
    row[b.len()]
}

/// Whether a long enough word is a full name with an OCR slip or two.
fn slip(word: &str, full: &str) -> bool {
    let allowed = if full.len() >= 7 { 2 } else { 1 };
    word.len() >= 5 && edits(word, full) <= allowed
}

/// How well a word reads as day `d` of `lang`: 3 the full name, 2 an abbreviation of three
/// letters or more, 1 a two-letter one or a full name with OCR slips, 0 not at all.
fn score(word: &str, lang: &Lang, d: usize) -> u8 {
    let full = lang.full[d];
    if word == full {
        3
    } else if word.len() >= 3 && lang.short[d].contains(&word) {
        2
    } else if lang.short[d].contains(&word) || slip(word, full) {
        1
    } else {
        0
    }
}

/// The words of a header cell, folded, that could name a day.
fn words(label: &str) -> Vec<String> {
    fold(label)
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The best day reading of one label in one language: (score, day).
fn best(label_words: &[String], lang: &Lang) -> Option<(u8, usize)> {
    label_words
        .iter()
        .take(3)
        .flat_map(|w| (0..7).map(move |d| (score(w, lang, d), d)))
        .filter(|&(s, _)| s > 0)
        .max_by_key(|&(s, d)| (s, std::cmp::Reverse(d)))
}

/// Reads a row or column of header labels as days (0 = Monday), `None` where a label is no
/// day. The language is the one that reads the most labels (English first on a tie), so
/// "Di" is Dienstag among German headers and "Do" Domingo among Spanish ones; a label that
/// language does not read is tried in the others by full name.
pub fn read_days<S: AsRef<str>>(labels: &[S]) -> Vec<Option<usize>> {
    let ws: Vec<Vec<String>> = labels.iter().map(|l| words(l.as_ref())).collect();
    let lang = LANGS
        .iter()
        .max_by_key(|lang| {
            let total: u32 = ws
                .iter()
                .filter_map(|w| best(w, lang))
                .map(|(s, _)| u32::from(s))
                .sum();
            // max_by_key keeps the last maximum: rank earlier languages higher on a tie.
            (
                total,
                std::cmp::Reverse(LANGS.iter().position(|l| std::ptr::eq(l, *lang))),
            )
        })
        .expect("four languages");
    ws.iter()
        .map(|w| {
            best(w, lang).map(|(_, d)| d).or_else(|| {
                LANGS
                    .iter()
                    .filter_map(|l| best(w, l).filter(|&(s, _)| s >= 2))
                    .max_by_key(|&(s, _)| s)
                    .map(|(_, d)| d)
            })
        })
        .collect()
}

/// One label read as a day, its English name.
pub fn day_name(label: &str) -> Option<&'static str> {
    read_days(&[label])[0].map(|d| ENGLISH[d])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(labels: &[&str]) -> Vec<&'static str> {
        read_days(labels)
            .into_iter()
            .map(|d| d.map_or("-", |d| ENGLISH[d]))
            .collect()
    }

    #[test]
    fn english_full_abbreviated_and_upper_case() {
        let week = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"];
        assert_eq!(names(&week), week);
        assert_eq!(names(&["Mon", "Tue", "Wed", "Thu", "Fri"]), week);
        assert_eq!(names(&["MON", "TUE", "WED", "THU", "FRI"]), week);
        assert_eq!(
            names(&["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]),
            week
        );
        assert_eq!(names(&["Mon.", "Tues.", "Weds", "Thurs.", "Fri."]), week);
        assert_eq!(names(&["Mo", "Tu", "We", "Th", "Fr"]), week);
        assert_eq!(
            names(&["Sat", "Sun", "SATURDAY"]),
            ["Saturday", "Sunday", "Saturday"]
        );
    }

    #[test]
    fn german_french_spanish() {
        let week = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"];
        assert_eq!(
            names(&["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag"]),
            week
        );
        assert_eq!(names(&["Mo", "Di", "Mi", "Do", "Fr"]), week);
        assert_eq!(
            names(&["Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi"]),
            week
        );
        assert_eq!(names(&["LUN.", "MAR.", "MER.", "JEU.", "VEN."]), week);
        assert_eq!(
            names(&["Lunes", "Martes", "Miércoles", "Jueves", "Viernes"]),
            week
        );
        assert_eq!(
            names(&["MIERCOLES", "Sábado", "Domingo"]),
            ["Wednesday", "Saturday", "Sunday"]
        );
        assert_eq!(
            names(&["Lu", "Ma", "Mi", "Ju", "Vi", "Sa", "Do"])[6],
            "Sunday"
        );
        assert_eq!(
            names(&["Samstag", "Sonntag", "Samedi", "Dimanche"]),
            ["Saturday", "Sunday", "Saturday", "Sunday"]
        );
    }

    #[test]
    fn dates_beside_names_and_ocr_slips() {
        assert_eq!(day_name("Monday 3/12"), Some("Monday"));
        assert_eq!(day_name("Mon, 03.12."), Some("Monday"));
        assert_eq!(day_name("12 Mar Tuesday"), Some("Tuesday"));
        assert_eq!(day_name("Mondav"), Some("Monday"));
        assert_eq!(day_name("Wednesdy"), Some("Wednesday"));
        assert_eq!(day_name("Thursdav"), Some("Thursday"));
    }

    #[test]
    fn other_headers_are_no_days() {
        assert_eq!(
            names(&[
                "Time",
                "Room",
                "Physics",
                "09:00",
                "",
                "Period",
                "Mathematics"
            ]),
            ["-"; 7]
        );
        assert_eq!(day_name("Sunny"), None);
        assert_eq!(day_name("Monitor"), None);
    }
}
