//! The OCR vocabulary: class 0 is the CTC blank, classes 1.. are characters. Saved beside the
//! weights as `vocab.json` (`{"blank": 0, "chars": ["a", "b", …]}`).
//!
//! The characters are *declared*, not derived from the training text: a model can only ever
//! emit what its vocabulary holds, so a vocabulary built from what a generator happened to
//! write can never read anything else. [`LATIN`] is the default alphabet (printable ASCII,
//! dashes, curly quotes, `° € £ • ·`, and the Latin-1 and Latin Extended-A letters of Western
//! and Central European languages); a recipe may declare its own (`[model] alphabet`).

use serde::{Deserialize, Serialize};

/// The default alphabet of the OCR models, in the order it is declared (the vocabulary sorts
/// it): printable ASCII (space included), en and em dashes, curly quotes, `° € £ • ·`, the
/// Latin-1 letters, and the Latin Extended-A (and Romanian comma-below) letters of Polish,
/// Czech, Slovak, Hungarian, Croatian, Romanian, Turkish and French.
pub const LATIN: &str = concat!(
    " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~",
    "–—‘’“”°€£•·",
    "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿ",
    "ĄąĆćĘęŁłŃńŚśŹźŻżČčĎďĚěŇňŘřŠšŤťŮůŽžŐőŰűĹĺĽľŔŕĐđĂăȘșȚțŞşŢţĞğİıŒœŸ",
);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vocab {
    /// Always 0; written out so that the file explains itself.
    pub blank: u32,
    pub chars: Vec<String>,
}

/// Why a declared alphabet cannot be used.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum AlphabetError {
    #[error("the alphabet is empty — declare at least two characters")]
    TooSmall,
    #[error(
        "the alphabet holds the control character U+{0:04X} — an OCR model cannot draw or read it"
    )]
    Control(u32),
}

impl Vocab {
    /// The vocabulary of a declared alphabet: its distinct characters, sorted. Repeats are
    /// allowed (a declaration may group characters as it likes).
    pub fn from_alphabet(alphabet: &str) -> Result<Vocab, AlphabetError> {
        if let Some(c) = alphabet.chars().find(|c| c.is_control()) {
            return Err(AlphabetError::Control(c as u32));
        }
        let v = Vocab::from_texts([alphabet]);
        if v.chars.len() < 2 {
            return Err(AlphabetError::TooSmall);
        }
        Ok(v)
    }

    /// The vocabulary of the default alphabet [`LATIN`].
    pub fn latin() -> Vocab {
        Vocab::from_alphabet(LATIN).expect("the default alphabet is valid")
    }

    /// Whether `c` is in the vocabulary.
    pub fn contains(&self, c: char) -> bool {
        self.encode(c.encode_utf8(&mut [0u8; 4])).is_ok()
    }

    /// The vocabulary of `texts`: their distinct characters, sorted.
    pub fn from_texts<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vocab {
        let mut set = std::collections::BTreeSet::new();
        for t in texts {
            set.extend(t.chars());
        }
        Vocab {
            blank: 0,
            chars: set.into_iter().map(String::from).collect(),
        }
    }

    /// Classes, including the blank.
    pub fn size(&self) -> usize {
        self.chars.len() + 1
    }

    /// Class ids of `text`; `None` names the first character the vocabulary lacks.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, char> {
        text.chars()
            .map(|c| {
                let mut buf = [0u8; 4];
                let s: &str = c.encode_utf8(&mut buf);
                self.chars
                    .binary_search_by(|x| x.as_str().cmp(s))
                    .map(|i| i as u32 + 1)
                    .map_err(|_| c)
            })
            .collect()
    }

    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter()
            .filter(|&&i| i != self.blank && (i as usize) <= self.chars.len())
            .map(|&i| self.chars[i as usize - 1].as_str())
            .collect()
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("vocab serialises");
        v.push(b'\n');
        v
    }

    pub fn from_json(bytes: &[u8]) -> Result<Vocab, String> {
        let v: Vocab = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if v.blank != 0 {
            return Err(format!("blank must be 0, found {}", v.blank));
        }
        if v.chars.iter().any(|c| c.chars().count() != 1) {
            return Err("every entry of `chars` must be one character".into());
        }
        if !v.chars.windows(2).all(|w| w[0] < w[1]) {
            return Err("`chars` must be sorted and distinct".into());
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let v = Vocab::from_texts(["09:00–10:30", "Dr. Müller"]);
        let ids = v.encode("Dr. 09:30").unwrap();
        assert!(ids.iter().all(|&i| i > 0));
        assert_eq!(v.decode(&ids), "Dr. 09:30");
        assert_eq!(v.encode("Dr. X"), Err('X'));
        assert_eq!(Vocab::from_json(&v.to_json()).unwrap(), v);
    }

    #[test]
    fn the_default_alphabet_is_the_declared_one() {
        let v = Vocab::latin();
        // 95 printable ASCII, 11 punctuation, 62 Latin-1 letters, 63 Latin Extended-A/B.
        assert_eq!(v.chars.len(), 231);
        assert_eq!(v.size(), 232);
        for c in "AZaz09 &-QUVXYZjqxz–—‘’“”°€£•·éèêëàâäåæçñöøœüßłśžŁŚŽȘțŐű".chars()
        {
            assert!(v.contains(c), "{c:?} missing");
        }
        assert!(!v.contains('\n') && !v.contains('→'));
        let text = "Mme Lefèvre – Łódź, 09:00–09:45 “B-204” £3.50 20°C";
        assert_eq!(v.decode(&v.encode(text).unwrap()), text);
        assert_eq!(Vocab::from_alphabet("a"), Err(AlphabetError::TooSmall));
        assert_eq!(Vocab::from_alphabet("ab\t"), Err(AlphabetError::Control(9)));
        assert_eq!(Vocab::from_alphabet("baab").unwrap().chars, ["a", "b"]);
    }
}
