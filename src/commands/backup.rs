//! `textrescue backup`. (Being written.)

use anyhow::{Result, bail};

#[derive(clap::Args, Debug, Clone)]
pub struct Args {}

pub fn run(_args: &Args) -> Result<()> {
    bail!("`textrescue backup` is not written yet")
}
