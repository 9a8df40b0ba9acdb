//! The training and evaluation verbs: `lab train`, `lab sweep`, `lab eval`, `lab compare`,
//! `lab ocr`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// Flags every recipe accepts; each overrides its config key for one run.
#[derive(Debug, Args, Clone)]
pub struct CommonTrain {
    /// The recipe config (default: configs/<recipe>.toml, written from the built-in default
    /// when missing).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Dataset snapshot: NAME, NAME@N or a manifest hash prefix (train.dataset).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Passes over the training lines (train.epochs).
    #[arg(long)]
    pub epochs: Option<u32>,
    /// Lines per step (train.batch_size).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Peak learning rate (train.learning_rate).
    #[arg(long)]
    pub learning_rate: Option<f64>,
    /// Seed of initialisation and batch order (train.seed; default lab.toml's project.seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The model's name; versions count up per name (train.output).
    #[arg(long)]
    pub output: Option<String>,
    /// Start from this model's weights: NAME, NAME@N, a run id, a hash prefix or a built-in
    /// base (`ocr_base`, `ocr_student_base`); `none` starts from a seeded initialisation
    /// (train.init).
    #[arg(long, value_name = "MODEL")]
    pub init: Option<String>,
    /// Continue the newest interrupted run with the same inputs from its last epoch checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Train even when a finished run had the same inputs (by default its model is reused).
    #[arg(long)]
    pub force: bool,
}

/// Flags of the LoRA recipes (OCR and document model); each overrides its config key.
#[derive(Debug, Args, Clone)]
pub struct LoraArgs {
    #[command(flatten)]
    pub common: CommonTrain,
    /// The base model: NAME, NAME@N, a run id or a model hash prefix.
    #[arg(long)]
    pub base: Option<String>,
    /// Adapter rank r.
    #[arg(long)]
    pub rank: Option<usize>,
    /// LoRA alpha (the update is scaled by alpha / r).
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Comma-separated modules to adapt: query, key, value (OCR); q_proj, k_proj, v_proj,
    /// o_proj, gate_proj, up_proj, down_proj (document model).
    #[arg(long, value_delimiter = ',')]
    pub target_modules: Option<Vec<String>>,
    /// Also write the merged weights as a full model.
    #[arg(long)]
    pub merge: bool,
}

/// Train a built-in recipe; each is a run in the log that outputs a model `NAME@N`
///
/// Recipes read configs/ocr_teacher.toml, ocr_student.toml, ocr_lora.toml, doc_base.toml and
/// doc_lora.toml. Example:
///
///   lab train ocr-teacher && lab train ocr-distill --teacher ocr_teacher && lab train ocr-lora
///   lab train doc-base && lab train doc-lora --base doc_base
#[derive(Debug, Subcommand)]
#[command(verbatim_doc_comment)]
pub enum TrainCmd {
    /// Train an OCR model from scratch on the line crops of a snapshot (CTC on a transformer)
    ///
    /// Example:
    ///
    ///   lab train ocr-teacher --epochs 2 --batch-size 32
    #[command(verbatim_doc_comment)]
    OcrTeacher(CommonTrain),
    /// Train a small student from scratch, distilled from a teacher
    ///
    /// The loss mixes the KL to the teacher's outputs softened by T (× T²) with CTC by alpha.
    /// Example:
    ///
    ///   lab train ocr-distill --teacher ocr_teacher --temperature 5.0 --alpha 0.5
    #[command(verbatim_doc_comment)]
    OcrDistill {
        #[command(flatten)]
        common: CommonTrain,
        /// The teacher model: NAME, NAME@N, a run id or a model hash prefix.
        #[arg(long)]
        teacher: Option<String>,
        /// Softening temperature T.
        #[arg(long)]
        temperature: Option<f64>,
        /// Weight of the distillation loss (1 − alpha goes to CTC).
        #[arg(long)]
        alpha: Option<f64>,
    },
    /// Adapt a frozen base model with LoRA adapters on its attention projections
    ///
    /// Only the adapters train and are saved (small); --merge also writes the merged weights
    /// as a full model NAME_merged. Example:
    ///
    ///   lab train ocr-lora --base ocr_teacher --rank 16 --alpha 32 --target-modules query,key,value
    #[command(verbatim_doc_comment)]
    OcrLora(LoraArgs),
    /// Train the document model: a cell's OCR text and headers in, the entry as JSON out
    ///
    /// A small Llama-family decoder with a BPE tokenizer trained on the snapshot's truth, fed
    /// OCR-noised text (configs/doc_base.toml). Example:
    ///
    ///   lab train doc-base --epochs 4
    ///   lab train doc-base --init-from ~/models/tiny-llama   (config.json, model.safetensors, tokenizer.json)
    #[command(verbatim_doc_comment)]
    DocBase {
        #[command(flatten)]
        common: CommonTrain,
        /// Start from a local Hugging Face Llama checkpoint directory (config.json,
        /// model.safetensors, tokenizer.json with <pad>, <s>, </s>, <sep>): its shape and
        /// tokenizer replace [doc].
        #[arg(long, value_name = "DIR")]
        init_from: Option<PathBuf>,
    },
    /// Adapt a frozen document model with LoRA adapters (configs/doc_lora.toml)
    ///
    /// Example:
    ///
    ///   lab train doc-lora --base doc_base --rank 32 --alpha 64
    #[command(verbatim_doc_comment)]
    DocLora(LoraArgs),
}

/// Run a grid or seeded random search over a recipe config
///
/// Each trial is a training run tagged with the sweep; the best is chosen by a metric.
/// Example:
///
///   lab sweep configs/ocr_student.toml --grid learning_rate=1e-3,3e-3 --grid batch_size=16,32
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct SweepArgs {
    /// The recipe config (its sections say which recipe: [distill], [lora], or a teacher).
    pub config: PathBuf,
    /// KEY=V1,V2,… over learning_rate, batch_size, epochs, seed (repeatable; the grid is the
    /// product).
    #[arg(long = "grid", value_name = "KEY=V1,V2")]
    pub grid: Vec<String>,
    /// Instead of the full grid, N trials drawn from it with the sweep's seed.
    #[arg(long, value_name = "N")]
    pub random: Option<usize>,
    /// Seed of --random draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The metric that picks the best trial (val_accuracy, val_cer, val_loss: higher accuracy,
    /// lower error/loss wins).
    #[arg(long, default_value = "val_accuracy")]
    pub metric: String,
    /// Override train.epochs for every trial.
    #[arg(long)]
    pub epochs: Option<u32>,
}

/// Evaluate a model on a snapshot's split, recorded as an Evaluated event
///
/// OCR models: line accuracy (exact match), CER, character F1, latency per line (p50, p95)
/// and throughput. Document models: per-field precision, recall and F1, exact records and
/// unreadable answers on the split's cells with OCR noise injected (--noise). Metrics are
/// keyed SPLIT.METRIC (test.accuracy, test.field_f1). Examples:
///
///   lab eval ocr_teacher --dataset timetables --split test_heldout
///   lab eval doc_base --noise 0.1
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct EvalArgs {
    /// The model: NAME, NAME@N, a run id or a model hash prefix.
    pub model: String,
    #[command(flatten)]
    pub on: EvalOn,
    /// Document models: the largest OCR character error rate injected into the cell text
    /// (each cell draws its rate from [0, noise), seeded).
    #[arg(long, default_value_t = 0.1)]
    pub noise: f64,
}

/// Extract timetable entries from images: layout, OCR, document model
///
/// Prints each image's entries {day, start, end, subject, room, teacher}, each with a
/// confidence (0–1) and its cell's box; directories are walked for PNG and JPEG files. Days
/// may be columns or rows, in English, German, French or Spanish; times in any common
/// writing (12- or 24-hour, ranges or start times only). An image without a timetable is
/// reported (why, and what row 0 and column 0 read) and counted; the rest are still read;
/// the exit code is 1 when any image failed. Output: text, `--json` (everything),
/// `--csv` (one row per entry), or `--ics` (an iCalendar file of weekly recurring events,
/// first in the week of `--week-of`); per-image errors go to stderr with --csv and --ics.
/// Examples:
///
///   lab extract timetable.png
///   lab extract scans/ --json --out entries.jsonl --ocr ocr_lora --model doc_lora
///   lab extract timetable.png --csv > entries.csv
///   lab extract timetable.png --ics --week-of 2026-09-07 > term.ics
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ExtractArgs {
    #[arg(required = true, value_name = "IMAGE|DIR")]
    pub images: Vec<PathBuf>,
    /// The document model: NAME, NAME@N, a run id or a hash prefix (default: what production
    /// serves, else doc_base).
    #[arg(long)]
    pub model: Option<String>,
    /// The OCR model (default: what production serves, else ocr_student).
    #[arg(long)]
    pub ocr: Option<String>,
    /// Also write every entry as a JSON line {image, day, start, end, subject, room, teacher}.
    #[arg(long, value_name = "FILE.jsonl")]
    pub out: Option<PathBuf>,
    /// Print the entries as CSV: image, day, start, end, subject, room, teacher, confidence,
    /// and the cell box x0, y0, x1, y1.
    #[arg(long, conflicts_with = "ics")]
    pub csv: bool,
    /// Print the entries as an iCalendar file: one weekly recurring event per entry.
    #[arg(long)]
    pub ics: bool,
    /// With --ics: a date (YYYY-MM-DD) in the first week of the events (default: today).
    #[arg(long, value_name = "DATE", requires = "ics")]
    pub week_of: Option<String>,
}

/// Score extraction end to end on a snapshot's timetable images, recorded as Evaluated
///
/// Entry-level precision, recall and F1 (an entry counts when all six fields are right),
/// per-field precision, recall and F1, failed images and latency per image (p50, p95).
/// Example:
///
///   lab eval-extract --dataset timetables --split test_heldout
///
/// With --images DIR, your own timetables instead: DIR's PNG, JPEG and PDF files scored
/// against DIR/truth.jsonl, one line per file:
///
///   {"image": "week.png", "entries": [{"day": "Monday", "start": "09:00", "end": "10:00",
///    "subject": "Maths", "room": "MB 1", "teacher": "Sir Jerome"}]}
///
///   lab eval-extract --images my-timetables/
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct EvalExtractArgs {
    #[command(flatten)]
    pub on: EvalOn,
    /// A folder of your own timetables with a truth.jsonl (instead of a snapshot's split).
    #[arg(long, value_name = "DIR", conflicts_with = "dataset")]
    pub images: Option<PathBuf>,
    /// The document model (default: what production serves, else doc_base).
    #[arg(long)]
    pub model: Option<String>,
    /// The OCR model (default: what production serves, else ocr_student).
    #[arg(long)]
    pub ocr: Option<String>,
}

#[derive(Debug, Args)]
pub struct EvalOn {
    /// Dataset snapshot (default: lab.toml's data.default).
    #[arg(long)]
    pub dataset: Option<String>,
    /// The split (lines/SPLIT.jsonl).
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Score at most N lines, cells or timetables (0 = all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
}

/// Evaluate several models on the same snapshot and print one table
///
/// `tesseract` is accepted as a model when it is on the PATH. Example:
///
///   lab compare ocr_teacher ocr_student tesseract --split test
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct CompareArgs {
    #[arg(required = true, value_name = "MODEL")]
    pub models: Vec<String>,
    #[command(flatten)]
    pub on: EvalOn,
}

/// Read line images with a model and print their text
///
/// Example:
///
///   lab ocr --model ocr_student@2 line1.png line2.jpg
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct OcrArgs {
    /// The model: NAME, NAME@N, a run id or a model hash prefix (default: what production
    /// serves, else ocr_student).
    #[arg(long)]
    pub model: Option<String>,
    /// Line images (PNG or JPEG); a folder is read whole, its images in name order.
    #[arg(required = true, value_name = "IMAGE|DIR")]
    pub images: Vec<PathBuf>,
}
