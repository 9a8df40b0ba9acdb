//! The pretrained bases lab ships inside its binary (`assets/models/`): OCR models that lab
//! itself trained, for hours, on a larger render of its default dataset, so that a recipe
//! can start from them (`[train] init = "ocr_base"`) and spend the pipeline's minutes
//! adapting instead of learning to read from nothing. How each was made, and the command
//! that makes it again, is in `assets/models/README.md`.
//!
//! A base is used by content hash like any other model: the run that starts from one records
//! it as its `init` input, and its files go into the blob store so that `lab replay` finds
//! them without the binary that shipped them.

use crate::event::Hash;
use crate::store::BlobStore;

use super::{ModelsError, bundle_hash, save};

/// One built-in base.
pub struct Builtin {
    pub name: &'static str,
    pub kind: &'static str,
    pub about: &'static str,
    pub files: [(&'static str, &'static [u8]); 3],
}

macro_rules! asset {
    ($dir:literal, $file:literal) => {
        (
            $file,
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/assets/models/",
                $dir,
                "/",
                $file
            )) as &[u8],
        )
    };
}

/// Every built-in base.
pub static BUILTINS: [Builtin; 2] = [
    Builtin {
        name: "ocr_base",
        kind: "ocr",
        about: "the OCR teacher's shape (configs/ocr_teacher.toml [model]), pretrained by lab",
        files: [
            asset!("ocr_base", "config.json"),
            asset!("ocr_base", "vocab.json"),
            asset!("ocr_base", "model.safetensors"),
        ],
    },
    Builtin {
        name: "ocr_student_base",
        kind: "ocr",
        about: "the OCR student's shape (configs/ocr_student.toml [model]), pretrained by lab",
        files: [
            asset!("ocr_student_base", "config.json"),
            asset!("ocr_student_base", "vocab.json"),
            asset!("ocr_student_base", "model.safetensors"),
        ],
    },
];

/// The built-in base called `name`.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

impl Builtin {
    /// The name a run records for it.
    pub fn label(&self) -> String {
        format!("{} (built in)", self.name)
    }

    /// Its bundle hash, storing nothing.
    pub fn hash(&self) -> Hash {
        bundle_hash(self.kind, &self.files, None).0
    }

    /// Puts its files and bundle into `blobs` (a no-op when they are there) and returns the
    /// bundle hash.
    pub fn store(&self, blobs: &BlobStore) -> Result<Hash, ModelsError> {
        save(blobs, self.kind, &self.files, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_base_is_a_whole_ocr_bundle() {
        for b in &BUILTINS {
            assert!(builtin(b.name).is_some());
            let names: Vec<&str> = b.files.iter().map(|f| f.0).collect();
            assert_eq!(names, ["config.json", "vocab.json", "model.safetensors"]);
            assert!(
                b.files.iter().all(|f| !f.1.is_empty()),
                "{}: an empty file",
                b.name
            );
        }
        assert_ne!(BUILTINS[0].hash(), BUILTINS[1].hash());
        assert!(builtin("ocr_teacher").is_none());
    }
}
