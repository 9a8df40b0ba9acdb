//! From parsed arguments to one use case and its printed result. Data goes to stdout (text, or
//! JSON with `--json`), messages and progress to stderr.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{
    ArtifactsCmd, BenchCmd, CiCmd, Cli, Command, DataCmd, HooksCmd, RunsCmd, SynthDomain,
};
use crate::commands::{self, log::Filter};
use crate::lab::Lab;
use crate::progress::Reporter;

mod monitor;
mod registry;
use registry::{ab_cmd, deploy_cmd, models_cmd};

/// The entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
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

/// Prints `text` and a newline on stdout; a closed pipe is an error (see `is_broken_pipe`),
/// not a panic as with `println!`.
fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// Progress bars on a terminal, nothing otherwise.
struct Bars {
    bar: std::sync::Mutex<Option<ProgressBar>>,
    enabled: bool,
    /// When the last plain status line went out (not a terminal).
    last_line: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Bars {
    fn new() -> Bars {
        Bars {
            bar: std::sync::Mutex::new(None),
            enabled: std::io::stderr().is_terminal(),
            last_line: std::sync::Mutex::new(None),
        }
    }
}

impl Reporter for Bars {
    fn begin(&self, label: &str, total: u64, bytes: bool) {
        if !self.enabled {
            return;
        }
        let pb = ProgressBar::new(total);
        let tmpl = if bytes {
            "{prefix:>14} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}"
        } else {
            "{prefix:>14} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}"
        };
        pb.set_style(
            ProgressStyle::with_template(tmpl)
                .unwrap()
                .progress_chars("=> "),
        );
        pb.set_prefix(label.to_string());
        *self.bar.lock().unwrap() = Some(pb);
    }
    fn advance(&self, n: u64) {
        if let Some(b) = self.bar.lock().unwrap().as_ref() {
            b.inc(n);
        }
    }
    fn end(&self) {
        if let Some(b) = self.bar.lock().unwrap().take() {
            b.finish_and_clear();
        }
    }
    fn status(&self, line: &str) {
        if self.enabled {
            match self.bar.lock().unwrap().as_ref() {
                Some(b) => b.set_message(line.to_string()),
                None => eprintln!("{line}"),
            }
            return;
        }
        // Not a terminal: a plain line every few seconds, and every end-of-epoch line.
        let mut last = self.last_line.lock().unwrap();
        let due = last.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(5));
        if due || line.contains("done:") {
            eprintln!("{line}");
            *last = Some(std::time::Instant::now());
        }
    }
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

fn print_lines<T: serde::Serialize>(items: &[T]) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for it in items {
        serde_json::to_writer(&mut out, it)?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(())
}

fn say(json: bool, text: String, value: &impl serde::Serialize) -> Result<()> {
    if json { print_json(value) } else { emit(&text) }
}

fn cwd(cli_dir: &Option<PathBuf>) -> Result<PathBuf> {
    let here = std::env::current_dir().context("cannot read the current directory")?;
    Ok(match cli_dir {
        Some(d) => here.join(d),
        None => here,
    })
}

fn open(dir: &Path, verb: &str) -> Result<Lab> {
    Lab::open(dir, verb)
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let json = cli.json;
    let here = cwd(&cli.dir)?;
    let bars = Bars::new();
    match cli.command {
        Command::Init { path, git } => {
            let mut r = crate::project::init(&here.join(path))?;
            let git_note = crate::git::init_or_offer(&r.root, git)?;
            let project = crate::project::Project::open(&r.root)?;
            r.created
                .extend(commands::train::config::write_defaults(&project)?);
            // Open the store so .lab/lab.redb exists from the start.
            Lab::open_project(project, "init")?;
            let text = if r.created.is_empty() {
                format!(
                    "{} is already a lab project — nothing changed",
                    r.root.display()
                )
            } else {
                format!(
                    "initialised lab project in {} (created {})",
                    r.root.display(),
                    r.created.join(", ")
                )
            };
            say(json, text, &r)?;
            if let Some(n) = git_note {
                eprintln!("lab: {n}");
            }
        }
        Command::Pipeline(args) => {
            let force = if args.force.is_empty() {
                None
            } else {
                Some(args.force.into_iter().filter(|f| !f.is_empty()).collect())
            };
            let opts = commands::pipeline::Options {
                seed: args.seed,
                force,
                plan: args.plan,
                only: args.stages,
            };
            let out = commands::pipeline::run(&here, &opts, &bars)?;
            say(json, out.text(), &out)?;
        }
        Command::Data(cmd) => {
            let lab = open(&here, "data")?;
            match cmd {
                DataCmd::Synth {
                    name,
                    seed,
                    count,
                    text_lines,
                    domain,
                    out,
                } => {
                    let domain = match domain {
                        SynthDomain::Default => crate::dataset::synth::Domain::Default,
                        SynthDomain::Shifted => crate::dataset::synth::Domain::Shifted,
                    };
                    let out_dir = out.map(|o| here.join(o));
                    let out = commands::synth::synth(
                        &lab,
                        name.as_deref(),
                        seed,
                        count,
                        text_lines,
                        domain,
                        out_dir.as_deref(),
                        &bars,
                    )?;
                    for w in &out.warnings {
                        eprintln!("lab: warning: {w}");
                    }
                    say(json, out.text(), &out)?;
                }
                DataCmd::Snapshot { path, name } => {
                    let out =
                        commands::data::snapshot(&lab, &here.join(path), name.as_deref(), &bars)?;
                    say(json, out.text(), &out)?;
                }
                DataCmd::Ls { name } => {
                    let rows = commands::data::list(&lab, name.as_deref())?;
                    if json {
                        print_lines(&rows)?;
                    } else {
                        emit(&commands::data::list_text(&rows))?;
                    }
                }
                DataCmd::Diff { a, b } => {
                    let out = commands::data::diff(&lab, &a, &b)?;
                    say(json, out.text(), &out)?;
                }
                DataCmd::Import { kind, folder, name } => {
                    let crate::cli::ImportKind::Lines = kind;
                    let out = commands::data::import_lines(
                        &lab,
                        &here.join(folder),
                        name.as_deref(),
                        &bars,
                    )?;
                    say(json, out.text(), &out)?;
                }
                DataCmd::Checkout { snapshot, target } => {
                    let out = commands::data::checkout(&lab, &snapshot, &here.join(target), &bars)?;
                    let text = format!(
                        "checked out {} into {}: {} files, {}",
                        out.snapshot,
                        out.dir.display(),
                        out.files,
                        crate::event::human_bytes(out.bytes)
                    );
                    say(json, text, &out)?;
                }
            }
        }
        Command::Train(cmd) => {
            let lab = open(&here, "train")?;
            let out = train_cmd(&lab, cmd, &bars)?;
            say(json, out.text(), &out)?;
        }
        Command::Sweep(a) => {
            let lab = open(&here, "sweep")?;
            let out = commands::sweep::sweep(
                &lab, &a.config, &a.grid, a.random, a.seed, &a.metric, a.epochs, &bars,
            )?;
            say(json, out.text(), &out)?;
        }
        Command::Eval(a) => {
            let lab = open(&here, "eval")?;
            if commands::train::load_any(&lab, &a.model)
                .is_ok_and(|m| matches!(m, commands::train::Parent::Doc(_)))
            {
                let out = commands::extract::eval_doc(&lab, &a.model, &on(&a.on), a.noise, &bars)?;
                say(json, out.text(), &out)?;
            } else {
                let out = commands::eval::eval(&lab, &a.model, &on(&a.on), &bars)?;
                say(json, out.text(), &out)?;
            }
        }
        Command::Extract(a) => {
            if let Some(d) = &a.week_of {
                crate::timetable::export::Date::parse(d)
                    .map_err(|e| anyhow::anyhow!("--week-of: {e}"))?;
            }
            let lab = open(&here, "extract")?;
            let out = commands::extract::extract_images(
                &lab,
                &a.images,
                a.ocr.as_deref(),
                a.model.as_deref(),
                a.out.as_deref(),
                &bars,
            )?;
            if a.csv {
                print!("{}", out.csv());
                eprintln!("{}", out.failures());
            } else if a.ics {
                let (cal, skipped) = out.ics(a.week_of.as_deref())?;
                print!("{cal}");
                if skipped > 0 {
                    eprintln!("{skipped} entries left out of the calendar: day or start unread");
                }
                eprintln!("{}", out.failures());
            } else {
                say(json, out.text(), &out)?;
            }
            if out.failed > 0 {
                return Ok(ExitCode::from(1));
            }
        }
        Command::EvalExtract(a) if a.images.is_some() => {
            let lab = open(&here, "eval-extract")?;
            let dir = here.join(a.images.as_ref().expect("matched"));
            let out = commands::extract::eval_images(
                &lab,
                &dir,
                a.ocr.as_deref(),
                a.model.as_deref(),
                &bars,
            )?;
            say(json, out.text(), &out)?;
        }
        Command::EvalExtract(a) => {
            let lab = open(&here, "eval-extract")?;
            let out = commands::extract::eval_extract(
                &lab,
                &on(&a.on),
                a.ocr.as_deref(),
                a.model.as_deref(),
                &bars,
            )?;
            say(json, out.text(), &out)?;
        }
        Command::Models(cmd) => {
            let lab = open(&here, "models")?;
            models_cmd(&lab, cmd, &here, json)?;
        }
        Command::Deploy(a) => {
            let lab = open(&here, "deploy")?;
            return deploy_cmd(&lab, a, &here, json, &bars);
        }
        Command::Monitor(cmd) => {
            let lab = open(&here, "monitor")?;
            return monitor::run(&lab, cmd, &here, json, &bars);
        }
        Command::Serve(a) => {
            let lab = open(&here, "serve")?;
            let token = commands::serve::token(a.token, a.token_file.as_deref())?;
            let limits = commands::serve::limits(
                a.max_connections,
                a.header_timeout,
                a.body_timeout,
                a.shutdown_timeout,
            )?;
            let o = commands::serve::serve(
                lab,
                &a.addr,
                &a.env,
                token,
                a.max_body,
                limits,
                a.ocr.as_deref(),
                a.model.as_deref(),
            )?;
            eprintln!(
                "lab serve: stopped ({} records appended to the log)",
                o.recorded
            );
        }
        Command::Ui(a) => {
            let lab = open(&here, "ui")?;
            let o = crate::serve::ui::run(
                lab,
                crate::serve::ui::Config {
                    addr: a.addr,
                    token: a.token,
                    max_body: a.max_body,
                },
            )?;
            eprintln!("lab ui: stopped ({})", o.addr);
        }
        Command::Import(crate::cli::ImportCmd::Mlflow(a)) => {
            let lab = open(&here, "import")?;
            let out = commands::mlflow_io::import(lab, &a.from, &a.experiment)?;
            say(json, out.text(), &out)?;
        }
        Command::Export(crate::cli::ExportCmd::Mlflow(a)) => {
            let lab = open(&here, "export")?;
            let out = commands::mlflow_io::export(lab, &a.to, &a.experiment)?;
            say(json, out.text(), &out)?;
        }
        Command::Ab(cmd) => {
            let lab = open(&here, "ab")?;
            return ab_cmd(&lab, cmd, json, &bars);
        }
        Command::Compare(a) => {
            let lab = open(&here, "compare")?;
            let out = commands::eval::compare(&lab, &a.models, &on(&a.on), &bars)?;
            say(json, out.text(), &out)?;
        }
        Command::Ocr(a) => {
            let lab = open(&here, "ocr")?;
            let out = commands::eval::ocr(&lab, a.model.as_deref(), &a.images)?;
            if json {
                print_lines(&out.lines)?;
            } else {
                let text: Vec<String> = out
                    .lines
                    .iter()
                    .map(|l| format!("{}\t{}", l.image, l.text))
                    .collect();
                emit(&text.join("\n"))?;
            }
            if !out.failed.is_empty() {
                for (p, e) in &out.failed {
                    eprintln!("lab ocr: {p}: {e}");
                }
                anyhow::bail!(
                    "{} of {} images could not be read (each named above)",
                    out.failed.len(),
                    out.failed.len() + out.lines.len()
                );
            }
        }
        Command::Run(args) => {
            let lab = open(&here, "run")?;
            let params = commands::run::parse_params(&args.params)?;
            let r = commands::run::run(
                &lab,
                args.name.as_deref(),
                args.experiment.as_deref(),
                params,
                &here,
                &args.deps,
                &args.outs,
                &args.envs,
                &args.cmd,
            )?;
            let text = format!(
                "run {} {} ({}{} metric points{})",
                r.run,
                r.status.as_str(),
                r.error
                    .as_deref()
                    .map(|e| format!("{e}, "))
                    .unwrap_or_default(),
                r.points,
                if r.bad_lines > 0 {
                    format!(", {} bad lines skipped", r.bad_lines)
                } else {
                    String::new()
                }
            );
            if json {
                print_json(&r)?;
            } else {
                eprintln!("lab: {text}");
            }
            // The command's own exit code; killed by a signal: 128 + the signal, as shells do.
            // A command that succeeded but left a declared output missing: 1.
            let code = match (r.exit_code, r.signal) {
                (Some(0), _) if r.status != crate::event::RunStatus::Finished => 1,
                (Some(c), _) => c.clamp(0, 255) as u8,
                (None, Some(sig)) => (128 + sig).clamp(0, 255) as u8,
                (None, None) => 1,
            };
            return Ok(ExitCode::from(code));
        }
        Command::Runs(cmd) => {
            let lab = open(&here, "runs")?;
            match cmd {
                RunsCmd::Ls {
                    experiment,
                    filter,
                    sort,
                    columns,
                } => {
                    let cols = columns
                        .as_deref()
                        .map(commands::runs::parse_columns)
                        .transpose()?;
                    let runs = commands::runs::list(
                        &lab,
                        experiment.as_deref(),
                        filter.as_deref(),
                        sort.as_deref(),
                        cols.as_deref().unwrap_or_default(),
                    )?;
                    match (&cols, json) {
                        (Some(c), true) => print_lines(&commands::runs::columns_json(&runs, c))?,
                        (Some(c), false) => emit(&commands::runs::columns_text(&runs, c))?,
                        (None, true) => print_lines(&runs)?,
                        (None, false) => emit(&commands::runs::list_text(&runs))?,
                    }
                }
                RunsCmd::Show { run } => {
                    let r = commands::runs::show(&lab, &run)?;
                    say(json, commands::runs::show_text(&r), &r)?;
                }
                RunsCmd::Diff { a, b } => {
                    let d = commands::runs::diff(&lab, &a, &b)?;
                    say(json, commands::runs::diff_text(&d), &d)?;
                }
            }
        }
        Command::Artifacts(cmd) => {
            let lab = open(&here, "artifacts")?;
            match cmd {
                ArtifactsCmd::Ls { run } => {
                    let o = commands::runs::artifacts::ls(&lab, &run)?;
                    if json {
                        print_lines(&o.rows)?;
                    } else {
                        emit(&commands::runs::artifacts::ls_text(&o))?;
                    }
                }
                ArtifactsCmd::Get { run, name, dest } => {
                    let o = commands::runs::artifacts::get(&lab, &run, &name, dest.as_deref())?;
                    let text = format!(
                        "wrote {} to {}{}",
                        o.name,
                        o.written.display(),
                        if o.folder { " (a folder)" } else { "" }
                    );
                    say(json, text, &o)?;
                }
            }
        }
        Command::Metrics { run, key } => {
            let lab = open(&here, "metrics")?;
            let (_, points) = commands::runs::metric(&lab, &run, &key)?;
            if json {
                // JSON lines, one point per line, as every listing.
                print_lines(&points)?;
            } else {
                emit(&commands::runs::metric_text(&points))?;
            }
        }
        Command::Report(args) => {
            let lab = open(&here, "report")?;
            let out = commands::report::report(&lab, args.what.as_deref())?;
            say(json, out.text(), &out)?;
        }
        Command::Log(args) => {
            let lab = open(&here, "log")?;
            let filter = Filter {
                kinds: commands::log::parse_kinds(&args.kind)?,
                since_ns: args
                    .since
                    .as_deref()
                    .map(commands::log::parse_since)
                    .transpose()?,
                run: args.run,
                limit: args.limit,
            };
            let records = commands::log::events(&lab, &filter)?;
            if json {
                let vals: Vec<_> = records.iter().map(commands::log::json).collect();
                print_lines(&vals)?;
            } else {
                emit(&commands::log::text(&records))?;
            }
        }
        Command::Show { what } => {
            let lab = open(&here, "show")?;
            let r = commands::log::show(&lab, &what)?;
            if json {
                print_json(&commands::log::json(&r))?;
            } else {
                emit(&commands::log::show_text(&r))?;
            }
        }
        Command::Gc {
            dry_run,
            grace,
            keep_checkpoints,
        } => {
            let lab = open(&here, "gc")?;
            let grace = std::time::Duration::from_secs(grace.saturating_mul(60));
            let keep = keep_checkpoints.unwrap_or(lab.project.config.gc.keep_checkpoints);
            let out = commands::gc::gc(&lab, dry_run, grace, keep)?;
            say(json, out.text(), &out)?;
        }
        Command::Verify => {
            let lab = open(&here, "verify")?;
            let out = commands::verify::verify(&lab, &bars)?;
            say(json, out.text(), &out)?;
            if !out.ok {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Replay { what, all, plan } => {
            let lab = open(&here, "replay")?;
            let out = commands::replay::replay(&lab, what.as_deref(), all, plan, &bars)?;
            say(json, out.text(), &out)?;
            if !out.ok {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Hooks(cmd) => {
            let lab = open(&here, "hooks")?;
            match cmd {
                HooksCmd::Install => {
                    let out = commands::hooks::install(&lab)?;
                    say(json, out.text(), &out)?;
                }
                HooksCmd::Uninstall => {
                    let out = commands::hooks::uninstall(&lab)?;
                    say(json, out.text(), &out)?;
                }
                HooksCmd::Run { hook, args: _ } => {
                    let out = commands::hooks::run(&lab, &hook, &bars)?;
                    eprintln!("{}", out.message);
                    if !out.ok {
                        return Ok(ExitCode::from(1));
                    }
                }
            }
        }
        Command::Ci(CiCmd::Init {
            provider: crate::cli::CiProvider::Github,
            force,
            lab_git,
        }) => {
            let project = crate::project::Project::discover(&here)?;
            let out = commands::ci::init_github(&project, force, lab_git.as_deref())?;
            say(json, out.text(), &out)?;
        }
        Command::Reindex => {
            let lab = open(&here, "reindex")?;
            let n = lab.store.reindex()?;
            say(
                json,
                format!("rebuilt the views from {n} events"),
                &serde_json::json!({ "events": n }),
            )?;
        }
        Command::Bench(BenchCmd::Store { dir, scale_down }) => {
            if !commands::bench::store(dir.as_deref(), scale_down, json)? {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Bench(BenchCmd::Train {
            torch,
            no_torch,
            quick,
        }) => {
            if !commands::bench::train::train(&here, quick, torch, no_torch, json)? {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Bench(BenchCmd::Ops { reps }) => {
            commands::bench::ops::ops(reps, json)?;
        }
        Command::Bench(BenchCmd::Layout { count }) => {
            commands::bench::layout::layout(count, json)?;
        }
        Command::Watch => {
            commands::watch::watch(&here)?;
        }
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, "lab", &mut buf);
            let mut out = std::io::stdout().lock();
            out.write_all(&buf)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn on(a: &crate::cli::EvalOn) -> commands::eval::On<'_> {
    commands::eval::On {
        dataset: a.dataset.as_deref(),
        split: &a.split,
        limit: a.limit,
    }
}

fn overrides(c: &crate::cli::CommonTrain) -> commands::train::Overrides {
    commands::train::Overrides {
        dataset: c.dataset.clone(),
        epochs: c.epochs,
        batch_size: c.batch_size,
        learning_rate: c.learning_rate,
        seed: c.seed,
        output: c.output.clone(),
        reuse: !c.force,
        ..Default::default()
    }
}

fn lora(
    recipe: commands::train::Recipe,
    l: crate::cli::LoraArgs,
) -> (
    commands::train::Recipe,
    crate::cli::CommonTrain,
    commands::train::Overrides,
) {
    let mut ov = overrides(&l.common);
    ov.base = l.base;
    ov.rank = l.rank;
    ov.lora_alpha = l.alpha;
    ov.target_modules = l.target_modules;
    ov.merge = l.merge;
    (recipe, l.common, ov)
}

fn train_cmd(
    lab: &Lab,
    cmd: crate::cli::TrainCmd,
    bars: &Bars,
) -> Result<commands::train::TrainOut> {
    use crate::cli::TrainCmd;
    use commands::train::Recipe;
    let (recipe, common, ov) = match cmd {
        TrainCmd::OcrTeacher(c) => {
            let ov = overrides(&c);
            (Recipe::OcrTeacher, c, ov)
        }
        TrainCmd::OcrDistill {
            common,
            teacher,
            temperature,
            alpha,
        } => {
            let mut ov = overrides(&common);
            ov.teacher = teacher;
            ov.temperature = temperature;
            ov.alpha = alpha;
            (Recipe::OcrDistill, common, ov)
        }
        TrainCmd::OcrLora(l) => lora(Recipe::OcrLora, l),
        TrainCmd::DocBase { common, init_from } => {
            let mut ov = overrides(&common);
            ov.init_from = init_from;
            (Recipe::DocBase, common, ov)
        }
        TrainCmd::DocLora(l) => lora(Recipe::DocLora, l),
    };
    commands::train::train(
        lab,
        recipe,
        common.config.as_deref(),
        &ov,
        common.resume,
        bars,
    )
}
