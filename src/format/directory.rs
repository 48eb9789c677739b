//! `pg_dump -Fd` directory dumps: `toc.dat` (the archive header and TOC,
//! read by `archive`, naming a data file per entry) and one file per table's
//! data, `NNNN.dat`, or compressed `NNNN.dat.gz` (gzip), `.dat.lz4` or
//! `.dat.zst`. Tables are visited in TOC order.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::archive::{self, ArchiveReader, DataPlace, FORMAT_DIRECTORY};
use super::{Meta, TableName, Visitor};
use crate::codec::Codec;
use crate::progress::Progress;

pub fn read(dir: &Path, visitor: &mut dyn Visitor) -> Result<()> {
    read_counted(dir, visitor, &Progress::hidden())
}

/// [`read`], counting the bytes of every file on `progress`.
pub fn read_counted(dir: &Path, visitor: &mut dyn Visitor, progress: &Progress) -> Result<()> {
    progress.expect(crate::progress::size_on_disk(dir));
    let toc_path = dir.join("toc.dat");
    let file =
        File::open(&toc_path).with_context(|| format!("cannot open {}", toc_path.display()))?;
    let mut r = ArchiveReader::new(BufReader::new(progress.count_read(file)));
    let toc = archive::read_toc(&mut r, FORMAT_DIRECTORY, visitor)
        .with_context(|| toc_path.display().to_string())?;
    let mut missing = Vec::new();
    for entry in toc
        .entries
        .iter()
        .filter(|e| e.is_table_data() && e.has_data())
    {
        let DataPlace::File(Some(name)) = &entry.place else {
            continue;
        };
        let table: TableName = entry.table();
        if name.contains('/') || name.contains('\\') || name.starts_with('.') {
            bail!(
                "{}: TOC entry {} ({table}) names the data file {name:?}, which is not a file in the dump's directory",
                toc_path.display(),
                entry.dump_id
            );
        }
        let found = [
            ("", Codec::None),
            (".gz", Codec::Gzip),
            (".lz4", Codec::Lz4),
            (".zst", Codec::Zstd),
        ]
        .iter()
        .map(|(suffix, codec)| (dir.join(format!("{name}{suffix}")), *codec))
        .find(|(p, _)| p.is_file());
        let Some((path, codec)) = found else {
            // Read on: every table whose file is there is still reported,
            // and the error at the end names every file that is not.
            missing.push(format!(
                "{table} (TOC entry {}: no {name}, {name}.gz, .lz4 or .zst)",
                entry.dump_id
            ));
            continue;
        };
        let file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut data = BufReader::with_capacity(256 * 1024, progress.count_read(file));
        archive::read_table_data(&toc, entry, &mut data, codec, visitor)
            .with_context(|| path.display().to_string())?;
    }
    if !missing.is_empty() {
        bail!(
            "the data of {} {} missing from {}: {}",
            missing.len(),
            if missing.len() == 1 {
                "table is"
            } else {
                "tables are"
            },
            dir.display(),
            missing.join("; ")
        );
    }
    visitor.meta(Meta::Complete);
    Ok(())
}
