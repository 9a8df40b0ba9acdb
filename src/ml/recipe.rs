//! The built-in training recipes: which model each trains and how, its id in the log and
//! in stages (`train.ocr-teacher`, …), and its default config. Plain data, below the
//! commands that run a recipe and the stages that name one.

use serde::Serialize;

/// The built-in training recipes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum Recipe {
    /// `train.ocr-teacher`: an OCR model from scratch.
    OcrTeacher,
    /// `train.ocr-distill`: a student from scratch, distilled from a teacher.
    OcrDistill,
    /// `train.ocr-lora`: LoRA adapters on a frozen base.
    OcrLora,
    /// `train.doc-base`: the document model (cell text → record JSON) from scratch or from a
    /// local Hugging Face Llama checkpoint.
    DocBase,
    /// `train.doc-lora`: LoRA adapters on a frozen document model.
    DocLora,
}

impl Recipe {
    pub fn id(self) -> &'static str {
        match self {
            Recipe::OcrTeacher => "train.ocr-teacher",
            Recipe::OcrDistill => "train.ocr-distill",
            Recipe::OcrLora => "train.ocr-lora",
            Recipe::DocBase => "train.doc-base",
            Recipe::DocLora => "train.doc-lora",
        }
    }

    pub const ALL: [Recipe; 5] = [
        Recipe::OcrTeacher,
        Recipe::OcrDistill,
        Recipe::OcrLora,
        Recipe::DocBase,
        Recipe::DocLora,
    ];

    /// Whether the recipe trains the document model (else the OCR model).
    pub fn is_doc(self) -> bool {
        matches!(self, Recipe::DocBase | Recipe::DocLora)
    }

    /// The config file a recipe reads by default, and its embedded text.
    pub fn default_config(self) -> (&'static str, &'static str) {
        match self {
            Recipe::OcrTeacher => (
                "ocr_teacher.toml",
                include_str!("../../configs/ocr_teacher.toml"),
            ),
            Recipe::OcrDistill => (
                "ocr_student.toml",
                include_str!("../../configs/ocr_student.toml"),
            ),
            Recipe::OcrLora => ("ocr_lora.toml", include_str!("../../configs/ocr_lora.toml")),
            Recipe::DocBase => ("doc_base.toml", include_str!("../../configs/doc_base.toml")),
            Recipe::DocLora => ("doc_lora.toml", include_str!("../../configs/doc_lora.toml")),
        }
    }
}
