//! `lab bench store`: see `crate::cli::BenchCmd`.

use std::path::Path;

use anyhow::{Result, bail};

pub fn store(_dir: Option<&Path>, _scale_down: u32, _json: bool) -> Result<()> {
    bail!("the store benchmark is being written in this session")
}
