//! The integration tests: one test binary (`cargo test --test it`), one module per area, each
//! driving the real `lab` binary through the harness in [`common`].
//!
//! One binary instead of one per file: each test binary links the whole crate, so 24 of them
//! made most of a clean `cargo test`'s time. A test is named `MODULE::NAME`, so
//! `cargo test registry::` runs one area's tests.
//!
//! All tests run as threads of this one process, in parallel. So no test changes process-wide
//! state (environment variables, the working directory, signal handlers): what a `lab` child
//! needs goes on its own `Command` ([`common::lab_env`], [`common::lab_cmd`]), and every
//! path is absolute (a [`common::Project`]'s `root`). A new area is a file here and a `mod`
//! line below.

mod common;

mod any_model;
mod bench_train;
mod ci;
mod cli;
mod concurrency;
mod damage;
mod data;
mod doc;
mod fences;
mod gc;
mod gc_checkpoints;
mod git;
mod hooks;
mod layers;
mod log;
mod mlflow_io;
mod monitor;
mod production;
mod registry;
mod replay;
mod replay_cmd;
mod report;
mod runs;
mod runs_columns;
mod serve;
mod serve_hardening;
mod serve_metrics;
mod stages;
mod synth;
mod train;
mod train_init;
mod ui;
mod ui_browser;
mod watch;
