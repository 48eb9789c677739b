//! `pg_dump -Fc` custom archives. (Being written.)

use std::io::Read;
use std::path::Path;

use anyhow::{Result, bail};

use super::Visitor;

pub fn read(
    _input: Box<dyn Read + Send>,
    _seekable: Option<&Path>,
    _visitor: &mut dyn Visitor,
) -> Result<()> {
    bail!("custom-format archives (pg_dump -Fc) are not read yet")
}
