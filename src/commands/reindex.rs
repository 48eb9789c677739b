//! `textrescue reindex OLD -o NEW`: rewrites a plain dump (gzip, zstd, LZ4
//! or uncompressed, LF or CRLF) as an indexed `.sql.gz` (see
//! docs/indexed-backups.md) that inflates to exactly the same bytes.
//!
//! NEW is written to a temporary file (mode 0600, as backups hold password
//! hashes) in its folder, read back whole and compared with OLD by SHA-256,
//! and only then renamed to its name, never over an existing file unless
//! `--force` says so. A failure or a signal leaves no file behind.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::atomic_file::{AtomicFile, Noclobber};
use crate::folder_names;
use crate::indexed_gzip::rewrite;
use crate::input::{self, Format, Opened, Source};
use crate::progress::Progress;

#[derive(clap::Args, Debug, Clone)]
#[command(after_help = "Examples:
  textrescue reindex buggy_race_bk_20240305.sql.gz \\
      -o buggy_race_bk_20240305-indexed.sql.gz
  pg_dump -U buggy buggy_race | textrescue reindex - -o buggy_race.sql.gz

The new file is an ordinary .sql.gz (gunzip -c | psql restores it) whose
members start at each table's data, with an index that lets textrescue read
only the tables it needs. It is verified (inflated and compared with the old
dump by SHA-256) before it takes its name.")]
pub struct Args {
    /// The plain dump to rewrite (pg_dump or pg_dumpall SQL; gzip, zstd, LZ4
    /// or uncompressed), or - for stdin.
    pub dump: String,
    /// The indexed .sql.gz to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Replace FILE if it exists (by default an existing file is never overwritten).
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let target = &args.output;
    super::settings::not_an_input(Some(target), &[&args.dump])?;
    if !args.force && std::fs::symlink_metadata(target).is_ok() {
        bail!(
            "{} exists: reindex never overwrites a file (--force replaces it)",
            target.display()
        );
    }
    // The copy stops and the temporary file is removed.
    let interrupted = crate::signals::stop_flag()?;
    let source = Source::from_arg(&args.dump);
    let progress = Progress::for_stderr("reindexing");
    let opened = input::open(&source, &progress)?;
    if opened.format() != Format::Plain {
        bail!(
            "{} is a {} dump (pg_dump -F{}): reindex rewrites plain SQL dumps only",
            source.display(),
            opened.format().name(),
            &opened.format().name()[..1]
        );
    }
    let Opened::Stream { reader, .. } = opened else {
        unreachable!("a directory dump is not plain")
    };
    let folder = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // 0600: a dump holds the users' password hashes.
    let temp = AtomicFile::create_in(folder, folder_names::OUTPUT_TEMP_PREFIX, "", 0o600)
        .with_context(|| format!("cannot create a file in the folder {}", folder.display()))?;
    let written = rewrite::write(reader, temp.file(), &interrupted);
    progress.finish();
    let (len, digest) = written.with_context(|| format!("cannot reindex {}", source.display()))?;
    rewrite::verify(temp.path(), len, &digest)
        .with_context(|| format!("{} did not read back as written", target.display()))?;
    if args.force {
        temp.persist_replacing(target)?;
    } else if let Noclobber::NameTaken(_) = temp.persist_noclobber(target)? {
        bail!(
            "{} appeared while reindexing: left as it is (--force replaces it)",
            target.display()
        );
    }
    eprintln!(
        "textrescue: wrote {} ({} bytes of dump, verified)",
        target.display(),
        len
    );
    Ok(())
}
