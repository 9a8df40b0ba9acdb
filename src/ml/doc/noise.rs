//! OCR noise for training the document model: the substitutions OCR really makes (`O`↔`0`,
//! `l`↔`1`, `rn`↔`m`, `:`→`.`, dropped characters, doubled ones), injected into the truth's
//! text from a seeded stream, so the model learns to turn `O9:3O` back into `09:30`.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Look-alike characters OCR confuses, both ways.
const CONFUSIONS: &[(&str, &str)] = &[
    ("O", "0"),
    ("o", "0"),
    ("D", "0"),
    ("Q", "O"),
    ("l", "1"),
    ("I", "1"),
    ("I", "l"),
    ("i", "l"),
    ("i", "j"),
    ("t", "f"),
    ("S", "5"),
    ("s", "5"),
    ("B", "8"),
    ("Z", "2"),
    ("z", "2"),
    ("G", "6"),
    ("b", "6"),
    ("g", "9"),
    ("q", "9"),
    ("A", "4"),
    ("T", "7"),
    ("e", "c"),
    ("a", "o"),
    ("n", "h"),
    ("n", "r"),
    ("u", "v"),
    ("v", "y"),
    ("w", "vv"),
    ("m", "rn"),
    ("h", "b"),
    ("c", "o"),
    ("E", "F"),
    ("P", "R"),
    (":", "."),
    (":", ";"),
    (".", ","),
    ("\u{2013}", "-"),
    ("\u{2013}", "~"),
    ("ü", "u"),
    ("'", "`"),
];

/// Characters OCR inserts out of nothing.
const SPECKS: &[char] = &['.', ',', '\'', 'i', 'l', '1', ' ', '-'];

/// `text` as an OCR with character error rate about `rate` might read it.
pub fn corrupt(text: &str, rate: f64, rng: &mut ChaCha8Rng) -> String {
    if rate <= 0.0 {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 4);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if !rng.random_bool(rate.min(1.0)) {
            out.push(c);
            i += 1;
            continue;
        }
        match rng.random_range(0..10) {
            // Look-alike substitution (either direction), multi-character ones included.
            0..=5 => {
                let rest: String = chars[i..].iter().take(2).collect();
                let opts: Vec<(&str, &str)> = CONFUSIONS
                    .iter()
                    .flat_map(|&(a, b)| [(a, b), (b, a)])
                    .filter(|(from, _)| rest.starts_with(from))
                    .collect();
                if opts.is_empty() {
                    out.push(c);
                } else {
                    let (from, to) = opts[rng.random_range(0..opts.len())];
                    out.push_str(to);
                    i += from.chars().count();
                    continue;
                }
            }
            // Dropped character.
            6..=7 => {}
            // Doubled character.
            8 => {
                out.push(c);
                out.push(c);
            }
            // A speck read as a character.
            _ => {
                out.push(c);
                out.push(SPECKS[rng.random_range(0..SPECKS.len())]);
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn noise_is_seeded_and_scales_with_rate() {
        let t = "09:30\u{2013}10:45 Mathematics Mrs. Müller";
        let run = |seed, rate| corrupt(t, rate, &mut ChaCha8Rng::seed_from_u64(seed));
        assert_eq!(run(1, 0.0), t);
        assert_eq!(run(7, 0.2), run(7, 0.2));
        let changed = |rate| (0..200).filter(|&s| run(s, rate) != t).count();
        let (low, high) = (changed(0.01), changed(0.2));
        assert!(low < high, "{low} {high}");
        assert!(high > 190, "{high}");
        // Look-alikes do happen: some corrupted time reads with a letter O.
        assert!((0..400).any(|s| run(s, 0.3).contains('O')));
    }
}
