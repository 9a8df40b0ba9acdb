//! The `with` settings of each step, as types: an unknown key, a missing one or a wrong type
//! is the parser's error, named `with.KEY`; adding a setting is a field here.

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Synth {
    pub dataset: String,
    #[serde(default = "count")]
    pub count: u32,
    #[serde(default = "text_lines")]
    pub text_lines: u32,
    #[serde(default)]
    pub domain: Domain,
    #[serde(default)]
    pub seed: Option<u64>,
}

#[derive(Deserialize, Default, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    #[default]
    Default,
    Shifted,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Eval {
    pub model: String,
    #[serde(default)]
    pub dataset: Option<String>,
    #[serde(default = "splits")]
    pub splits: Vec<String>,
    #[serde(default = "noise")]
    pub noise: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extract {
    pub ocr: String,
    pub doc: String,
    #[serde(default)]
    pub dataset: Option<String>,
    #[serde(default = "splits")]
    pub splits: Vec<String>,
}

/// The overrides of `lab train` a training stage takes (passed on as they are written).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read for its checks; the table itself goes to the recipe
pub struct Train {
    pub dataset: Option<String>,
    pub teacher: Option<String>,
    pub base: Option<String>,
    pub epochs: Option<u32>,
    pub batch_size: Option<usize>,
    pub learning_rate: Option<f64>,
    pub seed: Option<u64>,
    pub output: Option<String>,
}

/// Steps that take no settings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct None {}

fn count() -> u32 {
    400
}
fn text_lines() -> u32 {
    crate::dataset::synth::write::TEXT_LINES_PER_TIMETABLE
}
fn splits() -> Vec<String> {
    vec!["test".into()]
}
fn noise() -> f64 {
    0.1
}

/// What a missing setting is, for its message.
pub const WHAT: &[(&str, &str)] = &[
    ("dataset", "the dataset name"),
    ("model", "a model (NAME, NAME@N or stage:NAME)"),
    ("ocr", "the OCR model (NAME, NAME@N or stage:NAME)"),
    ("doc", "the document model (NAME, NAME@N or stage:NAME)"),
];
