//! How the `directory` fuzz target lays one input out as a `pg_dump -Fd`
//! directory. Shared with tests/fuzz_regressions.rs, which replays the corpus.
//!
//! The input is `toc.dat` followed by any number of data files, each
//! introduced by `\0FILE:` and its name ended by `\0`:
//! `TOC-BYTES \0FILE:3439.dat.gz\0 FILE-BYTES \0FILE:...`. Names that are not
//! plain file names are dropped.

use std::path::Path;

use memchr::memmem;

pub const SEPARATOR: &[u8] = b"\0FILE:";

fn plain_file_name(name: &[u8]) -> Option<&str> {
    let name = std::str::from_utf8(name).ok()?;
    let plain = !name.is_empty()
        && name.len() <= 40
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    plain.then_some(name)
}

/// Empties `dir` and writes `data` into it as toc.dat and data files.
pub fn lay_out(data: &[u8], dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        std::fs::remove_file(entry?.path())?;
    }
    let mut starts = vec![0];
    starts.extend(memmem::find_iter(data, SEPARATOR).map(|at| at + SEPARATOR.len()));
    let ends = memmem::find_iter(data, SEPARATOR).chain([data.len()]);
    let mut parts = starts.into_iter().zip(ends).map(|(s, e)| &data[s..e]);
    std::fs::write(dir.join("toc.dat"), parts.next().unwrap_or_default())?;
    for part in parts {
        let Some(name_end) = memchr::memchr(0, part) else {
            continue;
        };
        if let Some(name) = plain_file_name(&part[..name_end]) {
            std::fs::write(dir.join(name), &part[name_end + 1..])?;
        }
    }
    Ok(())
}
