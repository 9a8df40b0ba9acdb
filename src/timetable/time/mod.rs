//! The time axis of a timetable as people write it, normalised to `HH:MM`.
//!
//! One label per slot (the text of a time header cell, its lines joined by spaces), read in
//! slot order:
//! - ranges with `-`, `–`, `—`, `to`, `until`, spaces or nothing between the two times;
//! - hours and minutes with `:`, `.` or `h` (`9:30`, `9.30`, `9h30`), four digits (`0930`),
//!   or the hour alone (`9`);
//! - 24-hour, or 12-hour with `AM`/`PM`, `a.m.`/`p.m.`, `a`/`p`, and `noon`, `midday`,
//!   `midnight`;
//! - 12-hour *without* AM/PM: resolved from the order of the slots, each time the earliest
//!   reading not before the time before it (8, 9, …, 12, 1, 2 → 13:00, 14:00); a first time
//!   of 1–6 o'clock is read as afternoon (nobody starts lessons at 2 a.m.);
//! - start times only: the end of a slot is the next slot's start, and the last slot's end is
//!   unknown (`None`), never invented;
//! - numbered periods beside the times (`Period 3 10:40–11:25`, `P3`, `3.`, `Lesson 2`,
//!   `Stunde 4`) are kept apart from the times.
//!
//! A few OCR slips are forgiven inside numbers (`O9:30`, `1l:00`).

use serde::Serialize;

/// One slot of the axis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Slot {
    /// `HH:MM`, 24-hour.
    pub start: String,
    /// `HH:MM`, or `None` when the label gave only a start and no later slot says when it ends.
    pub end: Option<String>,
    /// The period number written beside the times, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Meridiem {
    Am,
    Pm,
}

/// One time as written, before the axis resolves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Raw {
    h: u32,
    m: u32,
    mer: Option<Meridiem>,
    /// Written with minutes, a meridiem or a word (`noon`): surely a time, not a count.
    strong: bool,
}

/// What one label says: its times in order and its period number.
#[derive(Clone, Debug, Default, PartialEq)]
struct Label {
    times: Vec<Raw>,
    period: Option<u32>,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    /// Hour, minutes when written, and whether it was written as `HHMM` or with a separator.
    Num(u32, Option<u32>),
    Mer(Meridiem),
    Noon,
    Midnight,
    /// A range separator: `-`, `–`, `—`, `to`, `until`, `till`.
    Range,
    /// A word that announces a period number (`Period`, `P`, `Lesson`, `#`…).
    PeriodWord,
    /// A number ended by `.` or `)` followed by a space: an ordinal (`3.`, `3)`).
    Ordinal(u32),
    Other,
}

const PERIOD_WORDS: [&str; 14] = [
    "period", "per", "p", "lesson", "les", "hour", "class", "block", "slot", "stunde", "std",
    "heure", "séance", "hora",
];

/// Text with OCR slips inside numbers fixed: `O`/`o` → `0`, `l`/`I`/`|` → `1` next to a
/// digit (or, for `O`, after a `:`), and spaces around a `:` between digits dropped.
fn fix_digits(s: &str) -> String {
    let c: Vec<char> = s.chars().collect();
    let mut out: Vec<char> = Vec::with_capacity(c.len());
    for (i, &x) in c.iter().enumerate() {
        let prev = out.last().copied();
        let next = c.get(i + 1).copied();
        let digit_near =
            prev.is_some_and(|p| p.is_ascii_digit()) || next.is_some_and(|n| n.is_ascii_digit());
        let y = match x {
            'O' | 'o' if digit_near || prev == Some(':') => '0',
            'l' | 'I' | '|' if digit_near => '1',
            _ => x,
        };
        if y.is_whitespace() {
            let next_solid = c[i + 1..].iter().find(|n| !n.is_whitespace()).copied();
            let colon_gap = (prev == Some(':') && next_solid.is_some_and(|n| n.is_ascii_digit()))
                || (prev.is_some_and(|p| p.is_ascii_digit()) && next_solid == Some(':'));
            if colon_gap {
                continue;
            }
        }
        out.push(y);
    }
    out.into_iter().collect()
}

fn tokens(label: &str) -> Vec<Tok> {
    let s = fix_digits(&label.to_lowercase());
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let x = c[i];
        if x.is_ascii_digit() {
            let j = (i..c.len())
                .find(|&j| !c[j].is_ascii_digit())
                .unwrap_or(c.len());
            let digits: String = c[i..j].iter().collect();
            i = j;
            // hour[:.h]minutes
            let sep = c.get(i).copied();
            let two_after = c
                .get(i + 1..i + 3)
                .filter(|d| d.iter().all(char::is_ascii_digit))
                .filter(|_| digits.len() <= 2 && matches!(sep, Some(':' | '.' | 'h')));
            if let Some(two) = two_after {
                let m: String = two.iter().collect();
                out.push(Tok::Num(digits.parse().unwrap(), Some(m.parse().unwrap())));
                i += 3;
                continue;
            }
            match digits.len() {
                1 | 2 => {
                    let n: u32 = digits.parse().unwrap();
                    let next_space = c.get(i + 1).is_none_or(|x| x.is_whitespace());
                    if matches!(sep, Some('.' | ')')) && next_space {
                        out.push(Tok::Ordinal(n));
                        i += 1;
                    } else if sep == Some('h') && c.get(i + 1).is_none_or(|x| !x.is_alphabetic()) {
                        // French `14h`.
                        out.push(Tok::Num(n, Some(0)));
                        i += 1;
                    } else {
                        out.push(Tok::Num(n, None));
                    }
                }
                3 | 4 => {
                    let n: u32 = digits.parse().unwrap();
                    out.push(Tok::Num(n / 100, Some(n % 100)));
                }
                // Two 4-digit times with nothing between them (`09001000`).
                8 => {
                    let a: u32 = digits[..4].parse().unwrap();
                    let b: u32 = digits[4..].parse().unwrap();
                    out.push(Tok::Num(a / 100, Some(a % 100)));
                    out.push(Tok::Range);
                    out.push(Tok::Num(b / 100, Some(b % 100)));
                }
                _ => out.push(Tok::Other),
            }
            continue;
        }
        if x.is_alphabetic() {
            let j = (i..c.len())
                .find(|&j| {
                    !(c[j].is_alphabetic()
                        || (c[j] == '.' && j + 1 < c.len() && c[j + 1].is_alphabetic()))
                })
                .unwrap_or(c.len());
            let mut word: String = c[i..j].iter().collect();
            i = j;
            // `a.m.`: the word stops before the last dot.
            if c.get(i) == Some(&'.') {
                i += 1;
            }
            word.retain(|ch| ch != '.');
            let tok = match word.as_str() {
                "am" => Tok::Mer(Meridiem::Am),
                "a" if matches!(out.last(), Some(Tok::Num(..))) => Tok::Mer(Meridiem::Am),
                "pm" | "p" if matches!(out.last(), Some(Tok::Num(..))) => Tok::Mer(Meridiem::Pm),
                "noon" | "midday" | "mittag" | "midi" | "mediodía" | "mediodia" => Tok::Noon,
                "midnight" | "minuit" | "mitternacht" | "medianoche" => Tok::Midnight,
                "to" | "until" | "till" | "til" | "bis" | "à" | "a-" | "hasta" => Tok::Range,
                w if PERIOD_WORDS.contains(&w) => Tok::PeriodWord,
                _ => Tok::Other,
            };
            out.push(tok);
            continue;
        }
        match x {
            '-' | '–' | '—' | '‒' | '−' | '~' => out.push(Tok::Range),
            '#' | '№' => out.push(Tok::PeriodWord),
            _ => {}
        }
        i += 1;
    }
    out
}

/// The times and period number of one label.
fn read_label(label: &str) -> Label {
    let toks = tokens(label);
    let mut out = Label::default();
    // Candidates: (index in toks, raw).
    let mut cand: Vec<(usize, Raw)> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::PeriodWord => {
                if let Some(Tok::Num(n, None) | Tok::Ordinal(n)) = toks.get(i + 1) {
                    out.period.get_or_insert(*n);
                    i += 2;
                    continue;
                }
            }
            Tok::Ordinal(n) => {
                out.period.get_or_insert(*n);
            }
            &Tok::Num(h, m) => {
                let mer = match toks.get(i + 1) {
                    Some(Tok::Mer(x)) => Some(*x),
                    _ => None,
                };
                // `12 noon`.
                let noon_after = matches!(toks.get(i + 1), Some(Tok::Noon)) && h == 12;
                cand.push((
                    i,
                    Raw {
                        h,
                        m: m.unwrap_or(0),
                        mer: if noon_after { Some(Meridiem::Pm) } else { mer },
                        strong: m.is_some() || mer.is_some() || noon_after,
                    },
                ));
                if mer.is_some() || noon_after {
                    i += 1;
                }
            }
            Tok::Noon => cand.push((
                i,
                Raw {
                    h: 12,
                    m: 0,
                    mer: Some(Meridiem::Pm),
                    strong: true,
                },
            )),
            Tok::Midnight => cand.push((
                i,
                Raw {
                    h: 12,
                    m: 0,
                    mer: Some(Meridiem::Am),
                    strong: true,
                },
            )),
            _ => {}
        }
        i += 1;
    }
    // Where strong times are written, a bare number is a time only when a range separator
    // joins it to a strong time (`9 - 10:30`, `11 to noon`); otherwise it is a count (`3 10:40`).
    if cand.iter().any(|(_, r)| r.strong) {
        let joined = |k: usize| -> bool {
            let (ti, _) = cand[k];
            let next = cand
                .get(k + 1)
                .filter(|(tj, r)| r.strong && toks[ti + 1..*tj].contains(&Tok::Range));
            let prev = k
                .checked_sub(1)
                .map(|p| cand[p])
                .filter(|(tp, r)| r.strong && toks[*tp + 1..ti].contains(&Tok::Range));
            next.is_some() || prev.is_some()
        };
        let keep: Vec<bool> = (0..cand.len())
            .map(|k| cand[k].1.strong || joined(k))
            .collect();
        let dropped: Vec<u32> = cand
            .iter()
            .zip(&keep)
            .filter(|(_, k)| !**k)
            .map(|((_, r), _)| r.h)
            .collect();
        if out.period.is_none() {
            out.period = dropped.first().copied();
        }
        cand = cand
            .into_iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|(c, _)| c)
            .collect();
    }
    // `9 - 11am`: a meridiem written once applies to the range's first time too, when that
    // keeps the range in order.
    if let [(_, a), (_, b), ..] = cand.as_mut_slice() {
        if let (None, Some(mb)) = (a.mer, b.mer) {
            let with = to_minutes(Raw {
                mer: Some(mb),
                ..*a
            });
            if a.h <= 12 && with.is_some_and(|x| Some(x) < to_minutes(*b)) {
                a.mer = Some(mb);
            }
        }
    }
    out.times = cand.into_iter().map(|(_, r)| r).take(2).collect();
    out
}

/// Minutes after midnight of a time whose meridiem is known (or that is 24-hour).
fn to_minutes(r: Raw) -> Option<u32> {
    if r.m >= 60 {
        return None;
    }
    let h = match r.mer {
        None if r.h < 24 => r.h,
        None if r.h == 24 && r.m == 0 => 24,
        Some(_) if r.h == 0 || r.h > 12 => return None,
        Some(Meridiem::Am) => r.h % 12,
        Some(Meridiem::Pm) => r.h % 12 + 12,
        None => return None,
    };
    Some(h * 60 + r.m)
}

/// Why a time axis could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AxisError {
    #[error("no time in any of the labels {0:?}")]
    NoTimes(Vec<String>),
}

/// Reads the time axis: one label per slot, in slot order. A label with no time gives `None`
/// at its place (a break row, a misread); the others give their slot, normalised to `HH:MM`.
pub fn parse_axis<S: AsRef<str>>(labels: &[S]) -> Result<Vec<Option<Slot>>, AxisError> {
    let read: Vec<Label> = labels.iter().map(|l| read_label(l.as_ref())).collect();
    if read.iter().all(|l| l.times.is_empty()) {
        return Err(AxisError::NoTimes(
            labels.iter().map(|l| l.as_ref().to_string()).collect(),
        ));
    }
    // 24-hour when any time says so (an hour of 0 or past 12 with no meridiem); then every
    // time is read as written. Otherwise hours without a meridiem are resolved in order.
    let clock24 = read
        .iter()
        .flat_map(|l| &l.times)
        .any(|r| r.mer.is_none() && (r.h == 0 || r.h > 12));
    let mut prev: Option<u32> = None;
    let mut resolve = |r: Raw, after: Option<u32>, strict: bool| -> Option<u32> {
        let fixed = if r.mer.is_some() || clock24 || r.h == 0 || r.h > 12 {
            to_minutes(r)
        } else {
            let am = to_minutes(Raw {
                mer: Some(Meridiem::Am),
                ..r
            })?;
            let pm = to_minutes(Raw {
                mer: Some(Meridiem::Pm),
                ..r
            })?;
            let floor = after.or(prev);
            Some(match floor {
                Some(f) => {
                    let ok = |x: u32| if strict { x > f } else { x >= f };
                    if ok(am) {
                        am
                    } else if ok(pm) {
                        pm
                    } else {
                        am.max(pm)
                    }
                }
                // The first time of the day: 7–11 is morning, 12 noon, 1–6 afternoon.
                None if (1..=6).contains(&r.h) => pm,
                None if r.h == 12 => pm,
                None => am,
            })
        }?;
        prev = Some(fixed);
        Some(fixed)
    };
    // (start, end, period) in minutes, per label.
    type Read = (u32, Option<u32>, Option<u32>);
    let mut slots: Vec<Option<Read>> = Vec::new();
    for l in &read {
        let slot = match l.times.as_slice() {
            [] => None,
            [s] => resolve(*s, None, false).map(|s| (s, None, l.period)),
            [s, e, ..] => match resolve(*s, None, false) {
                Some(s) => resolve(*e, Some(s), true).map(|e| (s, Some(e), l.period)),
                None => None,
            },
        };
        slots.push(slot);
    }
    // Start times only: a slot's end is the next slot's start.
    for k in 0..slots.len() {
        if let Some((s, None, p)) = slots[k] {
            let next = slots[k + 1..].iter().flatten().next().map(|n| n.0);
            slots[k] = Some((s, next.filter(|&n| n > s), p));
        }
    }
    let hhmm = |m: u32| format!("{:02}:{:02}", m / 60 % 24, m % 60);
    Ok(slots
        .into_iter()
        .map(|s| {
            s.filter(|(s, e, _)| e.is_none_or(|e| e > *s))
                .map(|(s, e, period)| Slot {
                    start: hhmm(s),
                    end: e.map(|e| {
                        if e == 24 * 60 {
                            "23:59".into()
                        } else {
                            hhmm(e)
                        }
                    }),
                    period,
                })
        })
        .collect())
}

#[cfg(test)]
mod tests;
