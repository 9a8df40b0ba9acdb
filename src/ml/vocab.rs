//! The OCR vocabulary: class 0 is the CTC blank, classes 1.. are characters. Saved beside the
//! weights as `vocab.json` (`{"blank": 0, "chars": ["a", "b", …]}`).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vocab {
    /// Always 0; written out so that the file explains itself.
    pub blank: u32,
    pub chars: Vec<String>,
}

impl Vocab {
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
}
