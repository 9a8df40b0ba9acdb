//! lab: an offline-first, event-sourced ML lab. `ARCHITECTURE.md` is the map (layers, and
//! where to add a verb, a model, an event kind, a stage kind, an HTTP route); DESIGN.md the
//! long form.
//!
//! Layers, top to bottom: `cli` (clap structs) and `dispatch` (routing; every verb answers
//! with a `dispatch::Answer`) → `commands` (one use case per verb) → feature modules
//! (`dataset`, `ml` — every model and the only user of candle —, `timetable` (a timetable's
//! axes, days, times and PDFs, no ML), `models` (bundles, references, what is served, the
//! built-in bases), `deploy`, `ab`, `monitor`, `stages` (the declared pipeline, pure),
//! `report`, `serve` (inference and `lab ui`), `tracking` (MLflow's model of runs and the
//! registry over lab's events), `git`, `watch`) → `store` (log, views, blobs) → `event`
//! (plain data). Beside `commands`: `lab` (the open project), `project` (lab.toml, paths,
//! config spans), `progress` (the reporter trait), `fence` (no write into the project root or `.lab/`), `stats`
//! (the one quantile/median), `process` (version, host, whether a run's process lives), `table` (every text table), `faults` (the tests' `LAB_FAULT_*` hooks, fenced in one file).

pub mod ab;
pub mod cli;
pub mod commands;
pub mod dataset;
pub mod deploy;
mod dispatch;
pub mod event;
pub mod faults;
pub mod fence;
pub mod git;
pub mod lab;
pub mod ml;
pub mod models;
pub mod monitor;
pub mod process;
pub mod progress;
pub mod project;
pub mod report;
pub mod serve;
pub mod stages;
pub mod stats;
pub mod store;
pub mod table;
pub mod timetable;
pub mod tracking;
pub mod watch;

pub use dispatch::{FreedMemory, main};
