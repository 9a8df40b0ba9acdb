//! The TrueType fonts the timetables are drawn with, embedded in the binary (nothing is read
//! from the system at run time), and the role each plays.
//!
//! The files live under `assets/fonts/`, one folder per family with its licence (OFL, Apache,
//! GUST, Bitstream Vera, BSD, MIT; `assets/fonts/README.md` lists them). Roles:
//!
//! - **train** — the fonts of the `train`, `val` and `test` splits of the default domain: 44
//!   faces of 23 families (sans, serif, slab, mono, condensed, rounded, light to bold, italic),
//!   among them metric clones of Arial/Helvetica, Times, Calibri, Cambria and Courier;
//! - **heldout** — 13 faces of 11 families never in training: timetables and text lines drawn
//!   with them form the `test_heldout` split, so evaluation measures how OCR generalises to
//!   unseen typefaces;
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
pub static FONTS: [Font; 60] = [
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
        Role::Train,
        "dejavu/DejaVuSansCondensed.ttf"
    ),
    font!(
        "Liberation Mono",
        Role::Train,
        "liberation/LiberationMono-Regular.ttf"
    ),
    font!(
        "Liberation Sans Bold",
        Role::Train,
        "liberation/LiberationSans-Bold.ttf"
    ),
    font!(
        "Liberation Serif Bold",
        Role::Train,
        "liberation/LiberationSerif-Bold.ttf"
    ),
    font!(
        "TeX Gyre Heros",
        Role::Train,
        "texgyre/texgyreheros-regular.otf"
    ),
    font!(
        "TeX Gyre Heros Bold",
        Role::Train,
        "texgyre/texgyreheros-bold.otf"
    ),
    font!(
        "TeX Gyre Heros Italic",
        Role::Train,
        "texgyre/texgyreheros-italic.otf"
    ),
    font!(
        "TeX Gyre Heros Condensed",
        Role::Train,
        "texgyre/texgyreheroscn-regular.otf"
    ),
    font!(
        "TeX Gyre Termes",
        Role::Train,
        "texgyre/texgyretermes-regular.otf"
    ),
    font!(
        "TeX Gyre Termes Bold",
        Role::Train,
        "texgyre/texgyretermes-bold.otf"
    ),
    font!(
        "TeX Gyre Termes Italic",
        Role::Train,
        "texgyre/texgyretermes-italic.otf"
    ),
    font!(
        "TeX Gyre Cursor",
        Role::Train,
        "texgyre/texgyrecursor-regular.otf"
    ),
    font!(
        "TeX Gyre Cursor Bold",
        Role::Train,
        "texgyre/texgyrecursor-bold.otf"
    ),
    font!(
        "TeX Gyre Pagella",
        Role::Train,
        "texgyre/texgyrepagella-regular.otf"
    ),
    font!(
        "TeX Gyre Schola",
        Role::Train,
        "texgyre/texgyreschola-regular.otf"
    ),
    font!(
        "TeX Gyre Schola Bold",
        Role::Train,
        "texgyre/texgyreschola-bold.otf"
    ),
    font!(
        "TeX Gyre Bonum",
        Role::Train,
        "texgyre/texgyrebonum-regular.otf"
    ),
    font!(
        "TeX Gyre Adventor",
        Role::Train,
        "texgyre/texgyreadventor-regular.otf"
    ),
    font!("Carlito", Role::Train, "carlito/Carlito-Regular.ttf"),
    font!("Carlito Bold", Role::Train, "carlito/Carlito-Bold.ttf"),
    font!("Caladea", Role::Train, "caladea/Caladea-Regular.ttf"),
    font!("Caladea Bold", Role::Train, "caladea/Caladea-Bold.ttf"),
    font!("Roboto", Role::Train, "roboto/Roboto-Regular.ttf"),
    font!("Roboto Light", Role::Train, "roboto/Roboto-Light.ttf"),
    font!(
        "Roboto Condensed",
        Role::Train,
        "roboto/RobotoCondensed-Regular.ttf"
    ),
    font!(
        "Roboto Slab",
        Role::Train,
        "roboto-slab/RobotoSlab-Regular.otf"
    ),
    font!(
        "Roboto Slab Bold",
        Role::Train,
        "roboto-slab/RobotoSlab-Bold.otf"
    ),
    font!("Open Sans", Role::Train, "open-sans/OpenSans-Regular.ttf"),
    font!(
        "Open Sans Semibold",
        Role::Train,
        "open-sans/OpenSans-Semibold.ttf"
    ),
    font!(
        "Open Sans Light",
        Role::Train,
        "open-sans/OpenSans-Light.ttf"
    ),
    font!(
        "Open Sans Italic",
        Role::Train,
        "open-sans/OpenSans-Italic.ttf"
    ),
    font!("Comfortaa", Role::Train, "comfortaa/Comfortaa-Regular.ttf"),
    font!(
        "Comfortaa Bold",
        Role::Train,
        "comfortaa/Comfortaa-Bold.ttf"
    ),
    font!("Fira Code", Role::Train, "fira-code/FiraCode-Regular.ttf"),
    font!(
        "Courier Prime",
        Role::Train,
        "courier-prime/CourierPrime-Regular.otf"
    ),
    font!(
        "Courier Prime Bold",
        Role::Train,
        "courier-prime/CourierPrime-Bold.otf"
    ),
    font!(
        "League Spartan",
        Role::Train,
        "league-spartan/LeagueSpartan-Regular.otf"
    ),
    font!(
        "League Spartan Bold",
        Role::Train,
        "league-spartan/LeagueSpartan-Bold.otf"
    ),
    font!("Jura", Role::Train, "jura/Jura-Regular.otf"),
    font!("Lato", Role::Heldout, "lato/Lato-Regular.ttf"),
    font!("PT Sans", Role::Heldout, "paratype/PTS55F.ttf"),
    font!("PT Sans Bold", Role::Heldout, "paratype/PTS75F.ttf"),
    font!("PT Serif", Role::Heldout, "paratype/PTF55F.ttf"),
    font!(
        "Cantarell",
        Role::Heldout,
        "cantarell/Cantarell-Regular.otf"
    ),
    font!("Go", Role::Heldout, "go/Go-Regular.ttf"),
    font!("Go Bold", Role::Heldout, "go/Go-Bold.ttf"),
    font!("Gentium", Role::Heldout, "gentium/Gentium-R.ttf"),
    font!("Hack", Role::Heldout, "hack/Hack-Regular.ttf"),
    font!(
        "JetBrains Mono",
        Role::Heldout,
        "jetbrains-mono/JetBrainsMono-Regular.ttf"
    ),
    font!(
        "Quicksand",
        Role::Heldout,
        "quicksand/Quicksand-Regular.ttf"
    ),
    font!("B612", Role::Heldout, "b612/B612-Regular.otf"),
    font!(
        "Linux Biolinum",
        Role::Heldout,
        "biolinum/LinBiolinum_R.otf"
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

/// The file bytes of font `i` (TrueType or OpenType/CFF), for a second rasteriser.
pub fn bytes(i: usize) -> &'static [u8] {
    FONTS[i].bytes
}

/// Whether font `i` has a glyph for every character of `text` (spaces aside).
pub fn covers(i: usize, text: &str) -> bool {
    use ab_glyph::Font as _;
    let f = face(i);
    text.chars().all(|c| c == ' ' || f.glyph_id(c).0 != 0)
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
        assert_eq!(with_role(Role::Train).len(), 44);
        assert_eq!(with_role(Role::Heldout).len(), 13);
        assert_eq!(with_role(Role::Shifted).len(), 3);
        // Held-out families share no family name with training ones.
        let family = |n: &str| n.split(' ').next().unwrap().to_string();
        let train: Vec<String> = names(Role::Train).iter().map(|n| family(n)).collect();
        for n in names(Role::Heldout) {
            assert!(!train.contains(&family(n)), "{n} is a training family");
        }
    }

    /// Nearly every face covers the whole default alphabet; the two that lack a letter or a
    /// few are known, and the line renderer picks another face for such a line.
    #[test]
    fn alphabet_coverage_is_known() {
        let partial: Vec<&str> = (0..FONTS.len())
            .filter(|&i| !covers(i, crate::ml::vocab::LATIN))
            .map(|i| FONTS[i].name)
            .collect();
        assert_eq!(partial, ["Caladea", "Caladea Bold", "B612"]);
    }
}
