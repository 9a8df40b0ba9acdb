//! The embedded default dataset: images of school timetables with their ground truth, rendered
//! deterministically from a seed (`lab data synth`).
//!
//! Each timetable's content (days, time slots, entries `{day, start, end, subject, room,
//! teacher}`, see [`content`]) and look (font, size, colours, rules, shading, rotation, blur,
//! noise, JPEG artefacts, see [`render`]) come from ChaCha8 streams keyed by (seed, domain,
//! timetable index, purpose), so the same seed gives byte-identical files on every run, and a
//! timetable does not change when the count does. Text is drawn with the TrueType fonts
//! embedded in the binary ([`fonts`]).
//!
//! # On disk
//!
//! ```text
//! datasets/<name>/                       (`<name>_shifted` for --domain shifted)
//!   meta.json                            seed, count, domain, generator, fonts per role,
//!                                        timetable ids per split, line counts per split
//!   images/tt_NNNN.png | tt_NNNN.jpg     the full timetable, grey or RGB (default domain:
//!                                        ~35% JPEG; shifted: all JPEG)
//!   images/tt_NNNN.json                  its ground truth (render::Truth), one JSON line:
//!       id, image, split, domain, width, height, days, slots, entries,
//!       cells: [{row, col, kind: corner|day|time|entry|empty, day, start, end, entry, box}],
//!       lines: [{row, col, line, text, field: corner|day|time|subject|room|teacher, box, crop}],
//!       render: {font, font_role, font_px, colours, rotation_deg, blur_sigma, noise_sigma, …}
//!   lines/<split>/tt_NNNN_rRR_cCC_lL.png grey PNG crop of the final image (JPEG artefacts
//!                                        included) around line L of the cell at row RR, col CC
//!   lines/<split>.jsonl                  one {"image", "text", "timetable", "font", "field"}
//!                                        per crop, "image" relative to the dataset root
//! ```
//!
//! Row 0 holds the day headers and column 0 the time ranges (`09:00–10:30`, an en dash); the
//! corner cell says `Time` or nothing. A box is `[x0, y0, x1, y1]` in pixels of the final
//! (rotated) image, x1 and y1 exclusive: the axis-aligned box around the rotated rectangle,
//! clipped to the image. A line's box spans its advance width and the font's ascent to
//! descent; its crop adds a small margin. Every path in the JSON is relative to the dataset
//! root.
//!
//! Splits are by timetable, drawn from the seed: about 80% `train`, 10% `val`, 10% `test`. In
//! the default domain about one timetable in ten is drawn with a held-out font instead and
//! goes to `test_heldout`, so evaluation can measure generalisation to unseen fonts. The
//! `shifted` domain (other fonts, heavier noise and blur, tinted paper, coloured ink, uneven
//! lighting, stronger JPEG compression) has train / val / test only, and is held back for LoRA
//! adaptation. Content differs between domains for the same seed.
//!
//! Writing is all or nothing: files are rendered into a staging directory beside the target,
//! files whose bytes are already right are not rewritten (so a snapshot of an unchanged
//! dataset records nothing), and only when everything rendered are the new files moved in and
//! the ones that no longer belong (another seed or count) removed. A non-empty directory that
//! `lab data synth` did not make is refused.

pub mod canvas;
pub mod content;
pub mod fonts;
pub mod layout;
pub mod render;
pub mod style;
pub mod text;
pub mod textline;
pub mod write;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::Digest;

pub use content::{Entry, Timetable, timetable};
pub use write::{Options, Summary, SynthError, write_dataset};

/// The generator's version, written into `meta.json`. Bump it when the same seed would give
/// other bytes.
pub const GENERATOR: &str = "lab-synth/2";

/// Which look the timetables have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    /// Training fonts (plus held-out ones for `test_heldout`), clean to moderately degraded.
    Default,
    /// Other fonts, heavier noise and blur, other colours: for adaptation.
    Shifted,
}

impl Domain {
    /// The domain a stage's `shifted` flag names.
    pub fn of(shifted: bool) -> Domain {
        if shifted {
            Domain::Shifted
        } else {
            Domain::Default
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Domain::Default => "default",
            Domain::Shifted => "shifted",
        }
    }
}

/// Where a timetable (and every crop of it) belongs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Train,
    Val,
    Test,
    /// Drawn with a held-out font (default domain only).
    TestHeldout,
}

impl Split {
    pub const ALL: [Split; 4] = [Split::Train, Split::Val, Split::Test, Split::TestHeldout];

    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
            Split::TestHeldout => "test_heldout",
        }
    }
}

/// The random stream of one purpose (`content`, `style`, `noise`, `split`) of timetable
/// `index` of `seed` in `domain`.
pub fn rng(seed: u64, domain: Domain, index: u32, purpose: &str) -> ChaCha8Rng {
    let mut h = sha2::Sha256::new();
    h.update(b"lab-synth\0");
    h.update(seed.to_le_bytes());
    h.update(domain.as_str().as_bytes());
    h.update([0]);
    h.update(index.to_le_bytes());
    h.update(purpose.as_bytes());
    ChaCha8Rng::from_seed(h.finalize().into())
}

/// The split of timetable `index` and the font (index into [`fonts::FONTS`]) it is drawn with.
pub fn assign(seed: u64, domain: Domain, index: u32) -> (Split, usize) {
    use rand::Rng;
    let mut r = rng(seed, domain, index, "split");
    let role = match domain {
        Domain::Default if r.random_bool(0.1) => fonts::Role::Heldout,
        Domain::Default => fonts::Role::Train,
        Domain::Shifted => fonts::Role::Shifted,
    };
    let pool = fonts::with_role(role);
    let font = pool[r.random_range(0..pool.len())];
    let split = if role == fonts::Role::Heldout {
        Split::TestHeldout
    } else {
        match r.random_range(0..10) {
            0..=7 => Split::Train,
            8 => Split::Val,
            _ => Split::Test,
        }
    };
    (split, font)
}
