//! From parsed arguments to one use case and its printed result: [`run`] only routes. Each
//! verb group's file turns its arguments into one call of a use case (`commands::…`) and
//! returns an [`Answer`] — stdout as text or `--json`, notes for stderr, the exit code —
//! which is printed here, once, after the progress bars are gone.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use crate::cli::{Cli, Command};
use crate::lab::Lab;

mod answer;
mod bars;
mod learn;
mod monitor;
mod project;
mod registry;
mod runs;
mod serve;

pub use answer::Answer;
use bars::Bars;

/// How the binary's allocator treats freed memory (see `main.rs`): kept for reuse, or handed
/// back to the kernel soon after it is freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreedMemory {
    /// Keep it: a training step frees and reallocates the same tensors every few milliseconds.
    Keep,
    /// Hand it back: a long-lived server (`lab ui`) answers a big read now and then and would
    /// otherwise keep that peak, in each of its worker threads, for its whole life.
    Return,
}

/// The entry point of the binary. `allocator` is told how to treat freed memory once the
/// command is known.
pub fn main(allocator: fn(FreedMemory)) -> ExitCode {
    let cli = Cli::parse();
    allocator(match cli.command {
        Command::Ui(_) => FreedMemory::Return,
        _ => FreedMemory::Keep,
    });
    crate::store::guard::install_hook();
    // A panic inside redb (a damaged page) is a damaged log, said as such; any other panic
    // is a bug in lab and goes on as one.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli)))
        .unwrap_or_else(|p| match crate::store::guard::take_redb_panic() {
            Some((log, detail)) => Err(crate::store::StoreError::Damaged {
                path: log.unwrap_or_else(|| PathBuf::from(".lab/lab.redb")),
                detail,
            }
            .into()),
            None => std::panic::resume_unwind(p),
        });
    match result {
        Ok(code) => code,
        // `lab log | head`: the reader is gone, which is not an error of lab's.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = format!("lab: error: {e}");
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg.push_str(&format!("\n  caused by: {c}"));
                }
            }
            eprintln!("{msg}");
            ExitCode::from(1)
        }
    }
}

/// Whether `e` is a write to a closed pipe (stdout piped into `head`, say).
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}

/// What every verb is handed: where it runs, the output form asked for, the reporter.
pub struct Ctx {
    pub here: PathBuf,
    pub json: bool,
    pub bars: Bars,
}

impl Ctx {
    /// Opens the project around `here` for `verb` (it names the verb in lock messages).
    pub fn lab(&self, verb: &str) -> Result<Lab> {
        Lab::open(&self.here, verb)
    }

    /// A path the user gave, relative to where lab was started (`-C` included).
    pub fn path(&self, p: impl AsRef<Path>) -> PathBuf {
        self.here.join(p)
    }
}

fn cwd(cli_dir: &Option<PathBuf>) -> Result<PathBuf> {
    let here = std::env::current_dir().context("cannot read the current directory")?;
    Ok(match cli_dir {
        Some(d) => here.join(d),
        None => here,
    })
}

/// Runs one parsed command line: routes the verb to its group, prints its answer.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let c = Ctx {
        here: cwd(&cli.dir)?,
        json: cli.json,
        bars: Bars::new(),
    };
    let answer = match cli.command {
        Command::Init { path, git } => project::init(&c, &path, git)?,
        Command::Pipeline(a) => project::pipeline(&c, a)?,
        Command::Data(cmd) => project::data(&c, cmd)?,
        Command::Train(cmd) => learn::train(&c, cmd)?,
        Command::Sweep(a) => learn::sweep(&c, a)?,
        Command::Eval(a) => learn::eval(&c, a)?,
        Command::Compare(a) => learn::compare(&c, a)?,
        Command::Ocr(a) => learn::ocr(&c, a)?,
        Command::Extract(a) => learn::extract(&c, a)?,
        Command::EvalExtract(a) => learn::eval_extract(&c, a)?,
        Command::Models(cmd) => registry::models(&c, cmd)?,
        Command::Deploy(a) => registry::deploy(&c, a)?,
        Command::Ab(cmd) => registry::ab(&c, cmd)?,
        Command::Monitor(cmd) => monitor::monitor(&c, cmd)?,
        Command::Serve(a) => serve::serve(&c, a)?,
        Command::Ui(a) => serve::ui(&c, a)?,
        Command::Import(cmd) => runs::import(&c, cmd)?,
        Command::Export(cmd) => runs::export(&c, cmd)?,
        Command::Run(a) => runs::run(&c, a)?,
        Command::Runs(cmd) => runs::runs(&c, cmd)?,
        Command::Artifacts(cmd) => runs::artifacts(&c, cmd)?,
        Command::Metrics { run, key } => runs::metrics(&c, &run, &key)?,
        Command::Report(a) => runs::report(&c, a)?,
        Command::Log(a) => runs::log(&c, a)?,
        Command::Show { what } => runs::show(&c, &what)?,
        Command::Gc {
            dry_run,
            grace,
            keep_checkpoints,
        } => project::gc(&c, dry_run, grace, keep_checkpoints)?,
        Command::Verify => project::verify(&c)?,
        Command::Replay { what, all, plan } => project::replay(&c, what.as_deref(), all, plan)?,
        Command::Hooks(cmd) => project::hooks(&c, cmd)?,
        Command::Ci(cmd) => project::ci(&c, cmd)?,
        Command::Reindex => project::reindex(&c)?,
        Command::Bench(cmd) => serve::bench(&c, cmd)?,
        Command::Watch => project::watch(&c)?,
        Command::Completions { shell } => project::completions(shell),
    };
    answer.print()
}
