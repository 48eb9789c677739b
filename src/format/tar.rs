//! `pg_dump -Ft` tar archives. (Being written.)

use std::io::Read;

use anyhow::{Result, bail};

use super::Visitor;

pub fn read(_input: Box<dyn Read + Send>, _visitor: &mut dyn Visitor) -> Result<()> {
    bail!("tar-format archives (pg_dump -Ft) are not read yet")
}
