//! The document model's tokenizer: byte-level BPE trained on the task's own corpus with the
//! tokenizers crate, saved as `tokenizer.json` (Hugging Face format) beside the weights.
//! Byte-level means every string round-trips, whatever characters OCR makes up.

use anyhow::{Result, anyhow};
use tokenizers::decoders::DecoderWrapper;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::ModelWrapper;
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

/// The special tokens, in id order from 0.
pub const SPECIALS: [&str; 4] = ["<pad>", "<s>", "</s>", "<sep>"];

/// A loaded tokenizer with the ids of its special tokens.
#[derive(Clone)]
pub struct Tok {
    inner: Tokenizer,
    pub pad: u32,
    pub bos: u32,
    pub eos: u32,
    pub sep: u32,
}

impl Tok {
    /// Trains byte-level BPE with `vocab_size` tokens (specials included) on `corpus`.
    /// The same corpus gives the same `tokenizer.json` bytes.
    pub fn train(corpus: &[String], vocab_size: usize) -> Result<Tok> {
        let mut trainer = TrainerWrapper::BpeTrainer(
            BpeTrainerBuilder::new()
                .vocab_size(vocab_size)
                .min_frequency(2)
                .show_progress(false)
                .special_tokens(
                    SPECIALS
                        .iter()
                        .map(|s| AddedToken::from(*s, true))
                        .collect(),
                )
                .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
                .build(),
        );
        let mut t = Tokenizer::new(ModelWrapper::BPE(BPE::default()));
        // No word splitting: merges may cross spaces and punctuation, so the record's JSON
        // keys (`","start":"`) and frequent names become single tokens.
        t.with_pre_tokenizer(Some(PreTokenizerWrapper::ByteLevel(ByteLevel::new(
            false, true, false,
        ))));
        t.with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevelDecoder::default())));
        t.train(&mut trainer, corpus.iter())
            .map_err(|e| anyhow!("training the tokenizer: {e}"))?;
        Tok::wrap(t)
    }

    fn wrap(inner: Tokenizer) -> Result<Tok> {
        let id = |s: &str| {
            inner.token_to_id(s).ok_or_else(|| {
                anyhow!("tokenizer.json lacks the special token `{s}` (needed: {SPECIALS:?})")
            })
        };
        Ok(Tok {
            pad: id("<pad>")?,
            bos: id("<s>")?,
            eos: id("</s>")?,
            sep: id("<sep>")?,
            inner,
        })
    }

    /// Reads `tokenizer.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Tok> {
        let t = Tokenizer::from_bytes(bytes).map_err(|e| anyhow!("tokenizer.json: {e}"))?;
        Tok::wrap(t)
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut s = self.inner.to_string(true).expect("a tokenizer serialises");
        s.push('\n');
        s.into_bytes()
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.inner
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .unwrap_or_default()
    }

    /// Text of `ids`, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> String {
        self.inner.decode(ids, true).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trains_deterministically_and_round_trips_any_text() {
        let corpus: Vec<String> = (0..300)
            .map(|i| {
                format!(
                    "day: Monday\ntime: {:02}:30\u{2013}10:45\nline: Mathematics\n{{\"day\":\"Monday\",\"start\":\"{:02}:30\"}}",
                    i % 24,
                    i % 24
                )
            })
            .collect();
        let a = Tok::train(&corpus, 300).unwrap();
        let b = Tok::train(&corpus, 300).unwrap();
        assert_eq!(a.to_json(), b.to_json());
        assert_eq!((a.pad, a.bos, a.eos, a.sep), (0, 1, 2, 3));
        let back = Tok::from_json(&a.to_json()).unwrap();
        for s in [
            "{\"day\":\"Monday\"",
            "Mrs. Müller O9:3O\u{2013}1O:45 ~#€",
            "",
        ] {
            assert_eq!(back.decode(&back.encode(s)), s);
        }
        // Merges learned: the frequent JSON key is far shorter than its bytes.
        assert!(a.encode("{\"day\":\"Monday\"").len() <= 4);
        assert!(Tok::from_json(b"{}").is_err());
    }
}
