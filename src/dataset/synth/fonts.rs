//! The TrueType fonts the timetables are drawn with, embedded in the binary (nothing is read
//! from the system at run time), and the role each plays.
//!
//! The files live under `assets/fonts/` with their licences (DejaVu: Bitstream Vera licence;
//! Liberation: SIL Open Font License 1.1). Roles:
//!
//! - **train** — the fonts of the `train`, `val` and `test` splits of the default domain;
//! - **heldout** — never in training: timetables drawn with them form the `test_heldout`
//!   split, so evaluation can measure how OCR generalises to an unseen typeface;
//! - **shifted** — the fonts of the `shifted` domain (italic and condensed serif faces), held
//!   back for LoRA adaptation.

use std::sync::OnceLock;

use ab_glyph::FontRef;
use serde::Serialize;

/// What a font is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Train,
    Heldout,
    Shifted,
}

/// One embedded font.
pub struct Font {
    /// The font's name as written into the ground truth (`"DejaVu Sans"`).
    pub name: &'static str,
    pub role: Role,
    bytes: &'static [u8],
}

macro_rules! font {
    ($name:literal, $role:expr, $path:literal) => {
        Font {
            name: $name,
            role: $role,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/fonts/", $path)),
        }
    };
}

/// Every embedded font, in a fixed order (indices are stable within a generator version).
pub static FONTS: [Font; 10] = [
    font!("DejaVu Sans", Role::Train, "dejavu/DejaVuSans.ttf"),
    font!("DejaVu Serif", Role::Train, "dejavu/DejaVuSerif.ttf"),
    font!("DejaVu Sans Mono", Role::Train, "dejavu/DejaVuSansMono.ttf"),
    font!(
        "Liberation Sans",
        Role::Train,
        "liberation/LiberationSans-Regular.ttf"
    ),
    font!(
        "Liberation Serif",
        Role::Train,
        "liberation/LiberationSerif-Regular.ttf"
    ),
    font!(
        "DejaVu Sans Condensed",
        Role::Heldout,
        "dejavu/DejaVuSansCondensed.ttf"
    ),
    font!(
        "Liberation Mono",
        Role::Heldout,
        "liberation/LiberationMono-Regular.ttf"
    ),
    font!(
        "DejaVu Serif Italic",
        Role::Shifted,
        "dejavu/DejaVuSerif-Italic.ttf"
    ),
    font!(
        "Liberation Sans Italic",
        Role::Shifted,
        "liberation/LiberationSans-Italic.ttf"
    ),
    font!(
        "DejaVu Serif Condensed",
        Role::Shifted,
        "dejavu/DejaVuSerifCondensed.ttf"
    ),
];

/// The indices into [`FONTS`] of the fonts with `role`.
pub fn with_role(role: Role) -> Vec<usize> {
    (0..FONTS.len())
        .filter(|&i| FONTS[i].role == role)
        .collect()
}

/// The names of the fonts with `role`.
pub fn names(role: Role) -> Vec<&'static str> {
    with_role(role).into_iter().map(|i| FONTS[i].name).collect()
}

/// The parsed font `i` of [`FONTS`] (parsed once per process).
pub fn face(i: usize) -> &'static FontRef<'static> {
    static PARSED: OnceLock<Vec<FontRef<'static>>> = OnceLock::new();
    &PARSED.get_or_init(|| {
        FONTS
            .iter()
            .map(|f| FontRef::try_from_slice(f.bytes).expect("embedded fonts are valid TrueType"))
            .collect()
    })[i]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ab_glyph::Font as _;

    /// Every character the generator can write has a real glyph in every font.
    #[test]
    fn every_font_parses_and_covers_the_alphabet() {
        let text = super::super::content::alphabet();
        for (i, f) in FONTS.iter().enumerate() {
            let face = face(i);
            for c in text.chars() {
                assert_ne!(face.glyph_id(c).0, 0, "{} lacks {c:?}", f.name);
            }
        }
        assert_eq!(with_role(Role::Train).len(), 5);
        assert_eq!(with_role(Role::Heldout).len(), 2);
        assert_eq!(with_role(Role::Shifted).len(), 3);
    }
}
