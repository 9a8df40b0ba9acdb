//! lab: an offline-first, event-sourced ML lab. See DESIGN.md for the map.
//!
//! Layers, top to bottom: `cli` (clap structs) and `dispatch` → `commands` (one use case per
//! verb) → feature modules (`dataset`, `git`, `report`, `timetable` (reading a timetable's
//! axes, days, times and PDFs, no ML), `tracking` (MLflow's model of experiments, runs and
//! registry over lab's events), `serve` (inference and `lab ui`)) → `store` (log, views,
//! blobs) → `event` (plain data). `ml` holds every model and is the only user of candle;
//! `stats` is the one quantile/median.

pub mod ab;
pub mod cli;
pub mod commands;
pub mod dataset;
pub mod deploy;
mod dispatch;
pub mod event;
pub mod fence;
pub mod git;
pub mod lab;
pub mod ml;
pub mod models;
pub mod monitor;
pub mod progress;
pub mod project;
pub mod report;
pub mod serve;
pub mod stages;
pub mod stats;
pub mod store;
pub mod timetable;
pub mod tracking;
pub mod watch;

pub use dispatch::main;
