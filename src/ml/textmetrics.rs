//! Text metrics of OCR output against the truth: exact match, character error rate
//! (Levenshtein distance / truth length, summed over lines) and character-level F1 (matched
//! characters of an optimal alignment against the lengths of prediction and truth).

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

impl TextScore {
    pub fn add(&mut self, pred: &str, truth: &str) {
        let p: Vec<char> = pred.chars().collect();
        let t: Vec<char> = truth.chars().collect();
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
    }
}
