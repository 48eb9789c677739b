//! `pg_dump -Fd` directory dumps. (Being written.)

use std::path::Path;

use anyhow::{Result, bail};

use super::Visitor;

pub fn read(_dir: &Path, _visitor: &mut dyn Visitor) -> Result<()> {
    bail!("directory-format dumps (pg_dump -Fd) are not read yet")
}
