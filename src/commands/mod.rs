//! Use cases, one file per verb: open the Lab, do one thing, append its events, return a value
//! for the CLI to print.

pub mod ab;
pub mod bench;
pub mod ci;
pub mod data;
pub mod deploy;
pub mod eval;
pub mod extract;
pub mod gc;
pub mod hooks;
pub mod log;
pub mod mlflow_io;
pub mod models;
pub mod monitor;
pub mod pipeline;
pub mod replay;
pub mod report;
pub mod run;
pub mod runs;
pub mod serve;
pub mod sweep;
pub mod synth;
pub mod train;
pub mod verify;
pub mod watch;
