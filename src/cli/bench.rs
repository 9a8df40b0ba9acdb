//! `lab bench`: the benchmarks' clap structs only.

use std::path::PathBuf;

use clap::Subcommand;

/// Benchmarks that print ratios against a baseline measured in the same run
///
/// No test asserts a time; the ratios are the result, and a missed target exits 1. Example:
///
///   cargo run --release -- bench store --scale-down 10
#[derive(Debug, Subcommand)]
#[command(verbatim_doc_comment)]
pub enum BenchCmd {
    /// Store speed: dataset snapshot vs sha256sum, unchanged re-snapshot, event appends,
    /// metric points in and out
    ///
    /// Example (the full size, ~506 MiB under /tmp):
    ///
    ///   cargo run --release -- bench store
    #[command(verbatim_doc_comment)]
    Store {
        /// Where to generate the data (default: a temp directory, removed afterwards).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Scale the data set down by this factor (1 = 20,000 × 8 KiB + 7 × 50 MiB).
        #[arg(long, default_value_t = 1)]
        scale_down: u32,
    },
    /// Training and forward speed of the shipped OCR and document-model configs, beside the
    /// same architectures in PyTorch (2 threads) when a Python with torch is available
    ///
    /// Times lab's training step (forward + backward + AdamW, two shards on two threads as the
    /// training loop runs it) and forward pass on synthetic seeded inputs of the real shapes
    /// (batch 32; OCR lines 32×256 px with 12-character CTC targets; 30-token document
    /// sequences), and prints samples/s with the ratio lab / PyTorch against issue 7's targets
    /// (training >= 0.5x, forward >= 1.0x). torch is never a dependency of lab: the comparison
    /// uses LAB_BENCH_PYTHON, else the project's .lab/bench/venv, else python3, whichever can
    /// `import torch`; without one it is skipped (said so). `--torch` makes .lab/bench/venv
    /// (python3 -m venv) and runs `pip install torch` in it: the Linux wheel pulls several GB
    /// of CUDA packages, and needs the network once.
    ///
    /// Example:
    ///
    ///   cargo run --release -- bench train --torch
    #[command(verbatim_doc_comment)]
    Train {
        /// Make .lab/bench/venv with torch (pip install torch, several GB) when no Python has it.
        #[arg(long)]
        torch: bool,
        /// Skip the PyTorch comparison (also: LAB_BENCH_NO_TORCH=1).
        #[arg(long, conflicts_with = "torch")]
        no_torch: bool,
        /// Tiny configs and one step each: checks that the benchmark runs, measures nothing.
        #[arg(long)]
        quick: bool,
    },
    /// lab's fused ops (GELU, log-softmax, softmax, layer norm) against candle's own versions,
    /// forward + backward on the same inputs, with the speed-up
    ///
    /// Shapes are one training shard of the OCR teacher. Example:
    ///
    ///   cargo run --release -- bench ops
    #[command(verbatim_doc_comment)]
    Ops {
        /// Repetitions per op (each runs both versions, alternating).
        #[arg(long, default_value_t = 30)]
        reps: usize,
    },
    /// The table finder: each stage's time on a 1500×1000 JPEG timetable, and how many
    /// synthetic timetables of both domains it finds the exact grid of
    ///
    /// A report (no target). Example:
    ///
    ///   cargo run --release -- bench layout --count 40
    #[command(verbatim_doc_comment)]
    Layout {
        /// Synthetic timetables per domain in the grid survey.
        #[arg(long, default_value_t = 20)]
        count: u32,
    },
    /// How fast the shipped document model learns: its configs/doc_base.toml shape and noise,
    /// trained from a seeded start on synthetic timetables' cells, scored after each epoch
    ///
    /// Prints validation field F1, exact rate and loss per epoch and examples per second. A
    /// report (no target). Example:
    ///
    ///   cargo run --release -- bench doc --count 320 --epochs 2
    #[command(verbatim_doc_comment)]
    Doc {
        /// Synthetic timetables whose cells are the training examples.
        #[arg(long, default_value_t = 320)]
        count: u32,
        /// Passes over them.
        #[arg(long, default_value_t = 2)]
        epochs: u32,
    },
}
