//! Text metrics of OCR output against the truth: exact match, character error rate
//! (Levenshtein distance / truth length, summed over lines) and character-level F1 (matched
//! characters of an optimal alignment against the lengths of prediction and truth).
//!
//! A hyphen and an en dash count as the same character ([`fold`]): many faces draw them
//! alike, people type one for the other, and no reader of a timetable tells "9:00-9:45" from
//! "9:00–9:45". Tesseract is scored the same way.

use serde::Serialize;

/// Edit distance and matched characters of an optimal alignment of `a` to `b`.
pub fn align(a: &[char], b: &[char]) -> (usize, usize) {
    // dp over (distance, -matches): fewest edits, then most matches.
    let mut prev: Vec<(usize, usize)> = (0..=b.len()).map(|j| (j, 0)).collect();
    let mut cur = vec![(0usize, 0usize); b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = (i, 0);
        for j in 1..=b.len() {
            let better = |x: (usize, usize), y: (usize, usize)| {
                if x.0 < y.0 || (x.0 == y.0 && x.1 > y.1) {
                    x
                } else {
                    y
                }
            };
            let diag = if a[i - 1] == b[j - 1] {
                (prev[j - 1].0, prev[j - 1].1 + 1)
            } else {
                (prev[j - 1].0 + 1, prev[j - 1].1)
            };
            let del = (prev[j].0 + 1, prev[j].1);
            let ins = (cur[j - 1].0 + 1, cur[j - 1].1);
            cur[j] = better(better(diag, del), ins);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Running totals over many lines.
#[derive(Clone, Debug, Default)]
pub struct TextScore {
    pub lines: usize,
    pub exact: usize,
    pub edits: usize,
    pub truth_chars: usize,
    pub pred_chars: usize,
    pub matched: usize,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TextMetrics {
    pub lines: usize,
    pub accuracy: f64,
    pub cer: f64,
    pub char_precision: f64,
    pub char_recall: f64,
    pub char_f1: f64,
}

/// The character a scored text is compared by: the en dash as a hyphen.
pub fn fold(c: char) -> char {
    if c == '–' { '-' } else { c }
}

impl TextScore {
    pub fn add(&mut self, pred: &str, truth: &str) {
        let p: Vec<char> = pred.chars().map(fold).collect();
        let t: Vec<char> = truth.chars().map(fold).collect();
        let (d, m) = align(&p, &t);
        self.lines += 1;
        self.exact += (p == t) as usize;
        self.edits += d;
        self.truth_chars += t.len();
        self.pred_chars += p.len();
        self.matched += m;
    }

    pub fn metrics(&self) -> TextMetrics {
        let div = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let p = div(self.matched, self.pred_chars);
        let r = div(self.matched, self.truth_chars);
        TextMetrics {
            lines: self.lines,
            accuracy: div(self.exact, self.lines),
            cer: div(self.edits, self.truth_chars),
            char_precision: p,
            char_recall: r,
            char_f1: if p + r == 0.0 {
                0.0
            } else {
                2.0 * p * r / (p + r)
            },
        }
    }
}

/// Which characters of the truth an optimal alignment matches (same costs as [`align`]: fewest
/// edits, then most matches), as a flag per truth character.
pub fn matched_truth(pred: &[char], truth: &[char]) -> Vec<bool> {
    let (n, m) = (pred.len(), truth.len());
    // Full table for the traceback: lines are short.
    let mut dp = vec![(0usize, 0usize); (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for j in 0..=m {
        dp[at(0, j)] = (j, 0);
    }
    let better = |x: (usize, usize), y: (usize, usize)| x.0 < y.0 || (x.0 == y.0 && x.1 > y.1);
    for i in 1..=n {
        dp[at(i, 0)] = (i, 0);
        for j in 1..=m {
            let d = dp[at(i - 1, j - 1)];
            let diag = if pred[i - 1] == truth[j - 1] {
                (d.0, d.1 + 1)
            } else {
                (d.0 + 1, d.1)
            };
            let del = (dp[at(i - 1, j)].0 + 1, dp[at(i - 1, j)].1);
            let ins = (dp[at(i, j - 1)].0 + 1, dp[at(i, j - 1)].1);
            let mut best = diag;
            for c in [del, ins] {
                if better(c, best) {
                    best = c;
                }
            }
            dp[at(i, j)] = best;
        }
    }
    let mut out = vec![false; m];
    let (mut i, mut j) = (n, m);
    while i > 0 && j > 0 {
        let here = dp[at(i, j)];
        let d = dp[at(i - 1, j - 1)];
        let same = pred[i - 1] == truth[j - 1];
        if same && here == (d.0, d.1 + 1) {
            out[j - 1] = true;
            i -= 1;
            j -= 1;
        } else if !same && here == (d.0 + 1, d.1) {
            i -= 1;
            j -= 1;
        } else if here == (dp[at(i - 1, j)].0 + 1, dp[at(i - 1, j)].1) {
            i -= 1;
        } else {
            j -= 1;
        }
    }
    out
}

/// Per-character recall over many lines: how often each character of the truth was read.
#[derive(Clone, Debug, Default)]
pub struct CharRecall {
    /// Character → (times in the truth, times matched by the prediction).
    pub counts: std::collections::BTreeMap<char, (usize, usize)>,
}

impl CharRecall {
    pub fn add(&mut self, pred: &str, truth: &str) {
        let p: Vec<char> = pred.chars().map(fold).collect();
        let folded: Vec<char> = truth.chars().map(fold).collect();
        let t: Vec<char> = truth.chars().collect();
        for (c, hit) in t.iter().zip(matched_truth(&p, &folded)) {
            let e = self.counts.entry(*c).or_default();
            e.0 += 1;
            e.1 += usize::from(hit);
        }
    }

    /// `(character, recall, occurrences)` of every character seen, worst recall first (ties:
    /// the more frequent first, then by character).
    pub fn worst(&self) -> Vec<(char, f64, usize)> {
        let mut v: Vec<(char, f64, usize)> = self
            .counts
            .iter()
            .map(|(&c, &(n, hit))| (c, hit as f64 / n as f64, n))
            .collect();
        v.sort_by(|a, b| a.1.total_cmp(&b.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(align(&c("kitten"), &c("sitting")), (3, 4));
        assert_eq!(align(&c(""), &c("abc")), (3, 0));
        let mut s = TextScore::default();
        s.add("Room 12", "Room 12");
        s.add("R0om", "Room");
        let m = s.metrics();
        assert_eq!(m.accuracy, 0.5);
        assert!((m.cer - 1.0 / 11.0).abs() < 1e-12);
        assert!((m.char_f1 - 10.0 / 11.0).abs() < 1e-12);
        // A hyphen for an en dash is no error; an em dash is.
        let mut s = TextScore::default();
        s.add("9:00-9:45", "9:00–9:45");
        s.add("a – b", "a - b");
        s.add("a — b", "a - b");
        assert_eq!(s.metrics().accuracy, 2.0 / 3.0);
        let mut r = CharRecall::default();
        r.add("9-10", "9–10");
        assert_eq!(r.worst()[0].1, 1.0);
    }

    #[test]
    fn per_character_recall_follows_the_alignment() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(
            matched_truth(&c("R0om"), &c("Room")),
            [true, false, true, true]
        );
        assert_eq!(matched_truth(&c(""), &c("ab")), [false, false]);
        assert_eq!(matched_truth(&c("xaby"), &c("ab")), [true, true]);
        let mut r = CharRecall::default();
        r.add("R0om 1", "Room 12");
        r.add("Lódz", "Łódź");
        let w = r.worst();
        assert_eq!(w[0], ('2', 0.0, 1));
        assert!(w.contains(&('o', 0.5, 2)));
        assert!(w.contains(&('Ł', 0.0, 1)) && w.contains(&('ó', 1.0, 1)));
        assert_eq!(w.last().unwrap().1, 1.0);
        // Matches counted agree with `align`.
        let (_, m) = align(&c("Lódz"), &c("Łódź"));
        assert_eq!(
            matched_truth(&c("Lódz"), &c("Łódź"))
                .iter()
                .filter(|&&x| x)
                .count(),
            m
        );
    }
}
