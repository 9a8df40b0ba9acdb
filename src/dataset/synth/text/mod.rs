//! What the free text lines say: a seeded source of line texts that teaches reading rather
//! than a fixed list — timetable content (times in the formats people write, days in five
//! languages, subjects), words from an embedded English word list, person names from the US
//! Census name lists with titles and initials, European names and words with their accents,
//! room and course codes of many schemes, numbers, prices, dates, punctuation, and random
//! strings over the whole alphabet so that rare characters are seen often enough.
//!
//! The lists live under `assets/text/` with their licences (`assets/text/README.md`). One
//! entry in eight of each list (chosen by a hash of the entry, so the slice does not move when
//! a list grows) is **held out**: it is never drawn for training, and the `test_heldout` lines
//! draw only from it, so evaluation measures reading of words and names the model never saw.

use std::sync::OnceLock;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::ml::vocab::LATIN;

mod tables;
use tables::{ACCENTS, DAYS, MONTHS, SUBJECTS, TITLES};

/// What kind of line a text is; written into `lines/<split>.jsonl` as its `field`, so that
/// evaluation can report accuracy by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Time,
    Day,
    Subject,
    Name,
    Code,
    Words,
    Number,
    Date,
    Random,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Time,
        Kind::Day,
        Kind::Subject,
        Kind::Name,
        Kind::Code,
        Kind::Words,
        Kind::Number,
        Kind::Date,
        Kind::Random,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Time => "time",
            Kind::Day => "day",
            Kind::Subject => "subject",
            Kind::Name => "name",
            Kind::Code => "code",
            Kind::Words => "words",
            Kind::Number => "number",
            Kind::Date => "date",
            Kind::Random => "random",
        }
    }
}

/// One embedded list split into its training part and its held-out part.
struct List {
    train: Vec<&'static str>,
    heldout: Vec<&'static str>,
}

impl List {
    fn new(text: &'static str) -> List {
        let (mut train, mut heldout) = (Vec::new(), Vec::new());
        for w in text.lines().map(str::trim).filter(|w| !w.is_empty()) {
            if is_heldout(w) {
                heldout.push(w);
            } else {
                train.push(w);
            }
        }
        List { train, heldout }
    }

    fn pick(&self, rng: &mut ChaCha8Rng, heldout: bool) -> &'static str {
        let pool = if heldout && !self.heldout.is_empty() {
            &self.heldout
        } else {
            &self.train
        };
        pool[rng.random_range(0..pool.len())]
    }
}

/// Whether a list entry belongs to the held-out slice: one in eight, by an FNV-1a hash of its
/// lower-cased text (so "Smith" and "SMITH" fall on the same side).
pub fn is_heldout(entry: &str) -> bool {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in entry.to_lowercase().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h % 8 == 0
}

struct Lists {
    words: List,
    surnames: List,
    given: List,
    european: List,
}

fn lists() -> &'static Lists {
    static LISTS: OnceLock<Lists> = OnceLock::new();
    LISTS.get_or_init(|| Lists {
        words: List::new(include_str!("../../../../assets/text/words.txt")),
        surnames: List::new(include_str!("../../../../assets/text/surnames.txt")),
        given: List::new(include_str!("../../../../assets/text/given_names.txt")),
        european: List::new(include_str!("../../../../assets/text/european.txt")),
    })
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, xs: &[T]) -> T {
    xs[rng.random_range(0..xs.len())]
}

/// A capitalisation people use: as is, all caps, lower case, or title case.
fn recase(rng: &mut ChaCha8Rng, s: &str) -> String {
    match rng.random_range(0..10) {
        0 => s.to_uppercase(),
        1 => s.to_lowercase(),
        2 => title(s),
        _ => s.to_string(),
    }
}

fn title(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A time of day in one of the forms people write; `m` is minutes since midnight.
fn clock(rng: &mut ChaCha8Rng, m: u32, form: u32) -> String {
    let (h, mm) = (m / 60 % 24, m % 60);
    let h12 = if h % 12 == 0 { 12 } else { h % 12 };
    let (am, pm) = if h < 12 { ("AM", "am") } else { ("PM", "pm") };
    match form {
        0 => format!("{h:02}:{mm:02}"),
        1 => format!("{h}:{mm:02}"),
        2 => format!("{h:02}.{mm:02}"),
        3 => format!("{h12}:{mm:02} {am}"),
        4 => format!("{h12:02}:{mm:02} {am}"),
        5 if mm == 0 => format!("{h12} {}", if h < 12 { "a.m." } else { "p.m." }),
        5 => format!("{h12}.{mm:02} {pm}"),
        6 => format!("{h}h{mm:02}"),
        7 => format!("{h12}:{mm:02}"),
        _ => {
            if m == 720 && rng.random_bool(0.5) {
                "noon".into()
            } else {
                format!("{h:02}{mm:02}")
            }
        }
    }
}

fn time(rng: &mut ChaCha8Rng) -> String {
    let start = rng.random_range(6 * 12..21 * 12) * 5;
    let len = pick(rng, &[30u32, 40, 45, 50, 55, 60, 75, 90, 120]);
    let form = rng.random_range(0..9);
    let a = clock(rng, start, form);
    let b = clock(rng, start + len, form);
    match rng.random_range(0..12) {
        0..=2 => format!("{a}–{b}"),
        3 => format!("{a} – {b}"),
        4 => format!("{a}-{b}"),
        5 => format!("{a} - {b}"),
        6 => format!("{a} to {b}"),
        7 => format!("Period {} {a}–{b}", rng.random_range(1..10)),
        8 => format!("{}. {a}", rng.random_range(1..10)),
        _ => a,
    }
}

fn day(rng: &mut ChaCha8Rng) -> String {
    let lang = if rng.random_bool(0.6) {
        0
    } else {
        rng.random_range(1..DAYS.len())
    };
    let d = pick(rng, &DAYS[lang]);
    match rng.random_range(0..8) {
        0 => d.to_uppercase(),
        1 => d.chars().take(3).collect(),
        2 => d.chars().take(3).collect::<String>().to_uppercase(),
        3 => format!("{}.", d.chars().take(2).collect::<String>()),
        4 => format!("{d} {}", rng.random_range(1..32)),
        _ => d.to_string(),
    }
}

fn surname(rng: &mut ChaCha8Rng, heldout: bool) -> String {
    let l = lists();
    let s = if rng.random_bool(0.25) {
        l.european.pick(rng, heldout)
    } else {
        l.surnames.pick(rng, heldout)
    };
    if rng.random_bool(0.05) {
        format!("{s}-{}", l.surnames.pick(rng, heldout))
    } else {
        s.to_string()
    }
}

fn initial(rng: &mut ChaCha8Rng, heldout: bool) -> String {
    let g = lists().given.pick(rng, heldout);
    format!("{}.", g.chars().next().unwrap_or('A'))
}

fn name(rng: &mut ChaCha8Rng, heldout: bool) -> String {
    let l = lists();
    let s = surname(rng, heldout);
    let t = pick(rng, &TITLES);
    let n = match rng.random_range(0..8) {
        0 => format!("{t} {s}"),
        1 => format!("{t} {} {s}", initial(rng, heldout)),
        2 => format!("{} {s}", initial(rng, heldout)),
        3 => format!("{} {s}", l.given.pick(rng, heldout)),
        4 => format!("{s}, {}", initial(rng, heldout)),
        5 => format!("{t} {}", l.given.pick(rng, heldout)),
        6 => format!("{} {} {s}", initial(rng, heldout), initial(rng, heldout)),
        _ => format!("{t} {} {s}", l.given.pick(rng, heldout)),
    };
    if rng.random_bool(0.08) {
        n.to_uppercase()
    } else {
        n
    }
}

fn upper(rng: &mut ChaCha8Rng) -> char {
    char::from(b'A' + rng.random_range(0..26u8))
}

fn digits(rng: &mut ChaCha8Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

fn code(rng: &mut ChaCha8Rng) -> String {
    let u = upper(rng);
    let v = upper(rng);
    match rng.random_range(0..14) {
        0 => format!("{u}-{}", rng.random_range(100..500)),
        1 => format!(
            "{u}{}.{:02}",
            rng.random_range(0..5),
            rng.random_range(1..40)
        ),
        2 => format!(
            "{u}{v}{}{}/{}{}{}",
            upper(rng),
            digits(rng, 2),
            upper(rng),
            upper(rng),
            digits(rng, 3)
        ),
        3 => format!("Lab {}", rng.random_range(1..12)),
        4 => format!("Room {u}{}", rng.random_range(1..30)),
        5 => format!("{u}{v} {}", rng.random_range(1..9)),
        6 => format!("{u}{v}{}{}", upper(rng), digits(rng, 2)),
        7 => format!("{u}{}", rng.random_range(100..999)),
        8 => format!("Hall {u}"),
        9 => format!(
            "R. {}.{:02}",
            rng.random_range(0..6),
            rng.random_range(1..50)
        ),
        10 => format!("{u}{}/{}", rng.random_range(1..9), digits(rng, 3)),
        11 => format!("{u}.{:02}", rng.random_range(0..40)),
        12 => format!(
            "{} {}",
            pick(rng, &["Sala", "Salle", "Raum", "Aula", "Gym", "Studio"]),
            rng.random_range(1..40)
        ),
        _ => format!("{u}{v}{}-{}", digits(rng, 3), digits(rng, 2)),
    }
}

fn words(rng: &mut ChaCha8Rng, heldout: bool) -> String {
    let l = lists();
    let n = rng.random_range(1..5);
    let mut out: Vec<String> = (0..n)
        .map(|_| {
            if rng.random_bool(0.12) {
                l.european.pick(rng, heldout).to_string()
            } else if rng.random_bool(0.2) {
                let w = l.words.pick(rng, heldout);
                accent(rng, w)
            } else {
                l.words.pick(rng, heldout).to_string()
            }
        })
        .collect();
    // Punctuation as prose has it.
    match rng.random_range(0..14) {
        0 => out.last_mut().unwrap().push('.'),
        1 => out.last_mut().unwrap().push(','),
        2 => out.first_mut().unwrap().insert(0, '('),
        3 => {
            let w = out.first_mut().unwrap();
            *w = format!("“{w}”");
        }
        4 => {
            let w = out.last_mut().unwrap();
            *w = format!("‘{w}’");
        }
        5 => out
            .last_mut()
            .unwrap()
            .push_str(pick(rng, &["!", "?", ":", ";", "…"])),
        6 => out.insert(
            out.len() / 2,
            pick(rng, &["&", "/", "+", "—", "–", "•", "·", "|"]).into(),
        ),
        7 => {
            let w = out.last_mut().unwrap();
            *w = format!("\"{w}\"");
        }
        8 => {
            let w = out.last_mut().unwrap();
            *w = format!("[{w}]");
        }
        _ => {}
    }
    let s = out.join(" ").replace('…', "...");
    recase(rng, &s)
}

fn number(rng: &mut ChaCha8Rng) -> String {
    let n = rng.random_range(0..10_000);
    match rng.random_range(0..14) {
        0 => format!("{n}"),
        1 => format!("{}.{:02}", n / 100, n % 100),
        2 => format!(
            "{},{:03}",
            rng.random_range(1..99),
            rng.random_range(0..1000)
        ),
        3 => format!("-{}", n % 100),
        4 => format!("{}%", n % 101),
        5 => format!("€ {},{:02}", n / 100, n % 100),
        6 => format!("£{}.{:02}", n / 100, n % 100),
        7 => format!("${}", n / 10),
        8 => format!("No. {}", n % 50),
        9 => format!("#{}", n % 1000),
        10 => format!("{}°C", n % 40),
        11 => format!("{}°", n % 360),
        12 => format!("{} × {}", n % 12, rng.random_range(1..12)).replace('×', "x"),
        _ => format!("{} = {}", n % 100, rng.random_range(0..100)),
    }
}

fn date(rng: &mut ChaCha8Rng) -> String {
    let (d, m, y) = (
        rng.random_range(1..29),
        rng.random_range(1..13),
        rng.random_range(1990..2035),
    );
    let month = MONTHS[m as usize - 1];
    match rng.random_range(0..9) {
        0 => format!("{d:02}/{m:02}/{y}"),
        1 => format!("{y}-{m:02}-{d:02}"),
        2 => format!("{d:02}.{m:02}."),
        3 => format!("{d}.{m}.{y}"),
        4 => format!("{d} {} {y}", &month[..3]),
        5 => format!("{month} {d}, {y}"),
        6 => format!("{d}th {month}"),
        7 => format!("{}/{}", m, d),
        _ => format!("Week {}", rng.random_range(1..53)),
    }
}

/// A random string over the whole alphabet: what makes rare characters common enough to
/// learn.
fn random(rng: &mut ChaCha8Rng) -> String {
    let chars = alphabet_chars();
    let n = rng.random_range(3..18);
    let mut s = String::new();
    for i in 0..n {
        let c = if i > 0 && i + 1 < n && rng.random_bool(0.12) {
            ' '
        } else {
            pick(rng, chars)
        };
        if c == ' ' && s.ends_with(' ') {
            continue;
        }
        s.push(c);
    }
    s.trim().to_string()
}

/// `word` with about a third of its letters swapped for accented forms of them ("planet" →
/// "plånęt"): the accented letters of the alphabet are rare in any word list, and a model sees
/// each of them often only this way, inside words rather than in random strings.
fn accent(rng: &mut ChaCha8Rng, word: &str) -> String {
    word.chars()
        .map(|c| match ACCENTS.iter().find(|(b, _)| *b == c) {
            Some((_, forms)) if rng.random_bool(0.35) => {
                let forms: Vec<char> = forms.chars().filter(|&f| in_alphabet(f)).collect();
                if forms.is_empty() {
                    c
                } else {
                    pick(rng, &forms)
                }
            }
            _ => c,
        })
        .collect()
}

/// The characters of the default alphabet, space excluded.
pub fn alphabet_chars() -> &'static [char] {
    static CHARS: OnceLock<Vec<char>> = OnceLock::new();
    CHARS.get_or_init(|| LATIN.chars().filter(|&c| c != ' ').collect())
}

/// One line of text and its kind, drawn from `rng`. `heldout` draws the words and names of
/// the held-out slice instead of the training ones.
pub fn line(rng: &mut ChaCha8Rng, heldout: bool) -> (Kind, String) {
    let kind = match rng.random_range(0..100) {
        0..=11 => Kind::Time,
        12..=17 => Kind::Day,
        18..=25 => Kind::Subject,
        26..=43 => Kind::Name,
        44..=55 => Kind::Code,
        56..=75 => Kind::Words,
        76..=81 => Kind::Number,
        82..=86 => Kind::Date,
        _ => Kind::Random,
    };
    let text = match kind {
        Kind::Time => time(rng),
        Kind::Day => day(rng),
        Kind::Subject => {
            let s = pick(rng, &SUBJECTS);
            recase(rng, s)
        }
        Kind::Name => name(rng, heldout),
        Kind::Code => code(rng),
        Kind::Words => words(rng, heldout),
        Kind::Number => number(rng),
        Kind::Date => date(rng),
        Kind::Random => random(rng),
    };
    // Case mapping can leave the alphabet ("İstanbul" lower-cased is "i" + U+0307, a
    // combining dot): drop what the alphabet lacks, so every label is trainable.
    let text: String = text.chars().filter(|&c| in_alphabet(c)).collect();
    let text = match text.trim() {
        "" => "Room 1".to_string(),
        t => t.to_string(),
    };
    (kind, text)
}

/// Made-up values for a timetable cell's subject, room and teacher, from the training slice of
/// the lists: one to three title-case words, a room or course code, a person's name. The
/// document model trains on cells holding them (`[noise] open_vocab`), so that it copies what
/// it reads instead of recalling the generator's own lists.
pub fn cell_values(rng: &mut ChaCha8Rng) -> [String; 3] {
    let l = lists();
    let n = rng.random_range(1..4);
    let subject = (0..n)
        .map(|_| title(l.words.pick(rng, false)))
        .collect::<Vec<_>>()
        .join(" ");
    let clean = |t: String| {
        let t: String = t.chars().filter(|&c| in_alphabet(c)).collect();
        match t.trim() {
            "" => "Room 1".to_string(),
            t => t.to_string(),
        }
    };
    [clean(subject), clean(code(rng)), clean(name(rng, false))]
}

/// Whether `c` is in the default alphabet (space included).
fn in_alphabet(c: char) -> bool {
    static SORTED: OnceLock<Vec<char>> = OnceLock::new();
    let sorted = SORTED.get_or_init(|| {
        let mut v = alphabet_chars().to_vec();
        v.sort_unstable();
        v
    });
    c == ' ' || sorted.binary_search(&c).is_ok()
}

#[cfg(test)]
mod tests;
