//! Tests of the seeded free-text source (`dataset::synth::text`).

use std::collections::BTreeSet;

use rand::SeedableRng;

use super::*;
use crate::ml::vocab::Vocab;

#[test]
fn accented_forms_are_in_the_alphabet_and_appear_inside_words() {
    // Every accented letter of the alphabet is some letter's form.
    let forms: String = ACCENTS.iter().map(|(_, f)| *f).collect();
    for c in alphabet_chars() {
        if c.is_alphabetic() && !c.is_ascii() {
            assert!(forms.contains(*c), "{c:?} is no letter's accented form");
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let w = accent(&mut rng, "planetarium observation");
    assert_eq!(w.chars().count(), "planetarium observation".chars().count());
    assert!(!w.is_ascii(), "{w}");
    assert!(w.contains(' '));
}

fn texts(seed: u64, n: usize, heldout: bool) -> Vec<(Kind, String)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| line(&mut rng, heldout)).collect()
}

#[test]
fn every_character_of_the_alphabet_is_written_and_nothing_else() {
    let v = Vocab::latin();
    let mut seen = BTreeSet::new();
    for (_, t) in texts(1, 20_000, false) {
        assert!(!t.is_empty() && t == t.trim(), "{t:?}");
        for c in t.chars() {
            assert!(v.contains(c), "{c:?} in {t:?} is outside the alphabet");
            seen.insert(c);
        }
    }
    let missing: String = LATIN.chars().filter(|c| !seen.contains(c)).collect();
    assert!(missing.is_empty(), "never generated: {missing:?}");
    // Case mapping stays inside the alphabet (lower-cased "İ" is "i" + U+0307).
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for _ in 0..200 {
        let t = recase(&mut rng, "İstanbul Straße ŸVETTE");
        let kept: String = t.chars().filter(|&c| in_alphabet(c)).collect();
        assert!(kept.chars().count() >= "İstanbul".chars().count(), "{t:?}");
    }
    // Every kind occurs, and rare letters are not rare: each seen ≥ 20 times in 20,000.
    let mut counts = std::collections::BTreeMap::new();
    for (_, t) in texts(1, 20_000, false) {
        for c in t.chars() {
            *counts.entry(c).or_insert(0usize) += 1;
        }
    }
    let rarest = counts.iter().min_by_key(|(_, n)| **n).unwrap();
    assert!(*rarest.1 >= 20, "{rarest:?}");
}

#[test]
fn deterministic_varied_and_the_held_out_slice_stays_out() {
    assert_eq!(texts(7, 200, false), texts(7, 200, false));
    assert_ne!(texts(7, 200, false), texts(8, 200, false));
    let kinds: BTreeSet<&str> = texts(7, 2_000, false)
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(kinds.len(), Kind::ALL.len());
    let l = lists();
    for list in [&l.words, &l.surnames, &l.given, &l.european] {
        assert!(!list.heldout.is_empty() && list.train.len() > list.heldout.len() * 4);
        assert!(list.train.iter().all(|w| !is_heldout(w)));
    }
    // Training lines never contain a held-out word; held-out lines do.
    let held: BTreeSet<&str> = l.words.heldout.iter().copied().collect();
    let in_held = |t: &str| {
        t.split(|c: char| !c.is_alphanumeric() && c != '-')
            .any(|w| held.contains(w))
    };
    let train_hits = texts(3, 5_000, false)
        .iter()
        .filter(|(k, t)| *k == Kind::Words && in_held(t))
        .count();
    let held_hits = texts(3, 5_000, true)
        .iter()
        .filter(|(k, t)| *k == Kind::Words && in_held(t))
        .count();
    // A training word list entry may coincide with a held-out one only by case.
    assert!(train_hits < 20, "{train_hits}");
    assert!(held_hits > 300, "{held_hits}");
}
