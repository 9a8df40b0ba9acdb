//! `lab data`: render, snapshot, list, diff, check out and import datasets.

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};

/// Datasets: render the embedded default; snapshot, list, diff, check out versions
///
/// Versions count up per dataset name and are never overwritten. Example:
///
///   lab data synth && lab data snapshot datasets/timetables && lab data ls
#[derive(Debug, Subcommand)]
#[command(verbatim_doc_comment)]
pub enum DataCmd {
    /// Render the embedded default dataset from a seed: timetable images with ground truth
    /// and line crops for OCR, split into train / val / test (+ test_heldout)
    ///
    /// Images (PNG, some JPEG) of ruled timetable grids in varied sizes, fonts, colours, noise,
    /// blur and small rotations; beside each, JSON with the entries and the pixel box of every
    /// cell and text line; and 40 free text lines per timetable (words, names, codes, times,
    /// dates, numbers, random strings over the OCR alphabet, in 44 training faces, many sizes,
    /// polarities and degradations). Layout:
    ///
    ///   DIR/meta.json                      seed, count, domain, fonts per role, splits
    ///   DIR/images/tt_NNNN.png|jpg|json    timetable image and its ground truth
    ///   DIR/lines/SPLIT/tt_NNNN_rRR_cCC_lL.png, DIR/lines/SPLIT.jsonl   line crops, texts
    ///   DIR/lines/SPLIT/tt_NNNN_tKK.png    free text lines (field: time, name, words, …)
    ///
    /// The same seed gives byte-identical files, and files already right are not rewritten,
    /// so a following snapshot records nothing. test_heldout is drawn with 13 held-out faces
    /// (11 families never in training), held-out words and names, and its free lines by a
    /// second rasteriser (fontdue); --domain shifted (other fonts, heavier noise and blur)
    /// writes datasets/NAME_shifted. A non-empty DIR that synth did not make is refused.
    /// Example:
    ///
    ///   lab data synth timetables --seed 7 --count 50 && lab data snapshot datasets/timetables
    #[command(verbatim_doc_comment)]
    Synth {
        /// The dataset name (default: lab.toml's data.default); written to datasets/NAME.
        name: Option<String>,
        /// The seed (default: lab.toml's project.seed).
        #[arg(long)]
        seed: Option<u64>,
        /// How many timetables.
        #[arg(long, default_value_t = crate::commands::pipeline::DEFAULT_COUNT,
              value_parser = clap::value_parser!(u32).range(1..=crate::commands::synth::MAX_COUNT as i64))]
        count: u32,
        /// Free text lines drawn beside each timetable (0 = only the timetables' own lines).
        #[arg(long, default_value_t = crate::commands::synth::TEXT_LINES,
              value_parser = clap::value_parser!(u32).range(0..=1000))]
        text_lines: u32,
        /// default: training fonts (and held-out ones for test_heldout); shifted: other fonts,
        /// heavier degradations, for adaptation.
        #[arg(long, value_enum, default_value_t = SynthDomain::Default)]
        domain: SynthDomain,
        /// Write here instead of datasets/NAME (datasets/NAME_shifted for --domain shifted).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Snapshot a directory tree: every file's bytes into the blob store, a manifest, an event
    ///
    /// Files are hashed in parallel; unchanged files (same size, mtime, ctime, inode) are not
    /// read again, and an unchanged tree records nothing. Example:
    ///
    ///   lab data snapshot datasets/timetables --name timetables
    #[command(verbatim_doc_comment)]
    Snapshot {
        /// The directory to snapshot.
        path: PathBuf,
        /// The dataset name (default: the directory's name). Versions count up per name.
        #[arg(long)]
        name: Option<String>,
    },
    /// List snapshots (all, or the versions of one dataset)
    ///
    /// Example:
    ///
    ///   lab data ls timetables --json
    #[command(verbatim_doc_comment)]
    Ls {
        /// Only this dataset's versions.
        name: Option<String>,
    },
    /// Show what changed between two snapshots: added, removed, modified files
    ///
    /// Snapshots are named NAME@N, NAME@latest, NAME (= latest) or a manifest hash prefix.
    /// Example:
    ///
    ///   lab data diff timetables@1 timetables@latest
    #[command(verbatim_doc_comment)]
    Diff {
        /// The older snapshot (NAME@N, NAME@latest, NAME or a manifest hash prefix).
        a: String,
        /// The newer snapshot.
        b: String,
    },
    /// Restore a snapshot's exact bytes into a new or empty directory
    ///
    /// Every file's hash is checked while it is written. Example:
    ///
    ///   lab data checkout timetables@2 /tmp/timetables-v2
    #[command(verbatim_doc_comment)]
    Checkout {
        /// The snapshot: NAME@N, NAME@latest, NAME or a manifest hash prefix.
        snapshot: String,
        /// The directory to restore into (created if missing; must be empty).
        #[arg(value_name = "DIR")]
        target: PathBuf,
    },
    /// Import your own labelled images as a dataset, then snapshot it
    ///
    /// lines: DIR/labels.jsonl has one {"image": "a.png", "text": "…"} per line (what
    /// `lab ocr --json` writes; an optional "split": train|val|test|test_heldout). Every label
    /// is checked first — the image exists and is a PNG or JPEG of a sensible size, the text is
    /// not empty and uses only the OCR alphabet — and one bad label, named with its line
    /// number, means nothing is imported. Unsplit lines go 80/10/10 to train/val/test by a
    /// hash of their name. Writes datasets/NAME and snapshots it as NAME, ready for
    /// `lab train ocr-lora --dataset NAME` and `lab eval MODEL --dataset NAME`.
    ///
    /// timetables: DIR/truth.jsonl has one {"image": "week.png", "entries": [{"day": "Monday",
    /// "start": "09:00", "end": "10:00", "subject": …, "room": …, "teacher": …}]} per page
    /// (PNG or JPEG; the file `lab eval-extract --images` scores against). Every entry is
    /// checked (a day name, HH:MM times, a subject, the OCR alphabet). lab then finds the table
    /// on each page with --ocr and --model, as `lab extract` does, and labels each text line
    /// of a class cell with the truth text it reads as (lines no truth text clearly claims
    /// are left out). Writes the pages with their truth and the labelled lines, ready for
    /// `lab train doc-lora --dataset NAME` and `lab train ocr-lora --dataset NAME`. Examples:
    ///
    ///   lab data import lines scans/mylines --name mylines
    ///   lab data import timetables my-timetables/ --name mine
    #[command(verbatim_doc_comment)]
    Import {
        /// What the folder holds (lines: text-line images with their texts; timetables: pages
        /// with their entries).
        kind: ImportKind,
        /// The folder with labels.jsonl and the images. (Not named `dir`: that is the global
        /// `-C DIR`, and clap would merge the two.)
        #[arg(value_name = "DIR")]
        folder: PathBuf,
        /// The dataset name (default: the folder's name); written to datasets/NAME.
        #[arg(long)]
        name: Option<String>,
        /// timetables: the OCR model that reads the lines (default: what production serves,
        /// else ocr_student).
        #[arg(long)]
        ocr: Option<String>,
        /// timetables: the document model that places the cells (default: what production
        /// serves, else doc_base).
        #[arg(long)]
        model: Option<String>,
    },
}

/// What `lab data import` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ImportKind {
    Lines,
    Timetables,
}

/// The look of synthesised timetables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SynthDomain {
    Default,
    Shifted,
}
