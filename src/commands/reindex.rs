//! `textrescue reindex OLD -o NEW`: rewrites a plain dump (gzip, zstd, LZ4
//! or uncompressed, LF or CRLF) as an indexed `.sql.gz` (see
//! docs/indexed-backups.md) that inflates to exactly the same bytes.
//!
//! NEW is written to a temporary file (mode 0600, as backups hold password
//! hashes) in its folder, read back whole and compared with OLD by SHA-256,
//! and only then renamed to its name, never over an existing file unless
//! `--force` says so. A failure or a signal leaves no file behind.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, anyhow, bail};
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use crate::indexed_gzip::{Index, IndexedGzWriter};
use crate::input::{self, Format, Source};
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
    crate::output::check_not_an_input(Some(target), &[&args.dump])?;
    if !args.force && std::fs::symlink_metadata(target).is_ok() {
        bail!(
            "{} exists: reindex never overwrites a file (--force replaces it)",
            target.display()
        );
    }
    let interrupted = on_signals()?;
    let source = Source::from_arg(&args.dump);
    let progress = Progress::for_stderr("reindexing");
    let opened = input::open(&source, &progress)?;
    if opened.format != Format::Plain {
        bail!(
            "{} is a {} dump (pg_dump -F{}): reindex rewrites plain SQL dumps only",
            source.display(),
            opened.format.name(),
            &opened.format.name()[..1]
        );
    }
    let folder = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(crate::backup::names::OUTPUT_TEMP_PREFIX)
        .tempfile_in(folder)
        .with_context(|| format!("cannot create a file in the folder {}", folder.display()))?;
    let cannot_write = || format!("cannot write {}", target.display());

    let (len, digest) = {
        let out = BufWriter::with_capacity(1 << 20, temp.as_file().try_clone()?);
        let mut gz = IndexedGzWriter::new(out, Compression::default());
        let copied = copy_hashed(opened.reader, &mut gz, &interrupted)
            .with_context(|| format!("cannot reindex {}", source.display()));
        progress.finish();
        let copied = copied?;
        let out = gz.finish().with_context(cannot_write)?;
        out.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .with_context(cannot_write)?;
        copied
    };
    verify(temp.path(), len, &digest)
        .with_context(|| format!("{} did not read back as written", target.display()))?;
    let persisted = if args.force {
        temp.persist(target)
    } else {
        temp.persist_noclobber(target)
    };
    persisted.map_err(|e| {
        anyhow!(e.error).context(format!("cannot move the new file to {}", target.display()))
    })?;
    File::open(folder).and_then(|d| d.sync_all()).ok();
    eprintln!(
        "textrescue: wrote {} ({} bytes of dump, verified)",
        target.display(),
        len
    );
    Ok(())
}

/// Copies `reader` into `out`, returning its length and SHA-256.
fn copy_hashed(
    mut reader: impl Read,
    out: &mut impl Write,
    interrupted: &AtomicBool,
) -> Result<(u64, [u8; 32])> {
    let mut hash = Sha256::new();
    let mut buf = vec![0; 1 << 20];
    let mut len = 0u64;
    loop {
        if interrupted.load(Ordering::SeqCst) {
            bail!("interrupted by a signal; nothing written");
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok((len, hash.finalize().into())),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        hash.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        len += n as u64;
    }
}

/// The file at `path` has an index that agrees with it and inflates, as
/// any gzip reader sees it, to `len` bytes with this SHA-256.
fn verify(path: &Path, len: u64, digest: &[u8; 32]) -> Result<()> {
    let file = File::open(path)?;
    let index = Index::read(&file)?.context("its index does not agree with it")?;
    if index.dump_len != len {
        bail!(
            "its index counts {} bytes of dump, not {len}",
            index.dump_len
        );
    }
    let never = AtomicBool::new(false);
    let gunzip = MultiGzDecoder::new(BufReader::with_capacity(1 << 20, file));
    let (read_len, read_digest) = copy_hashed(gunzip, &mut io::sink(), &never)?;
    if (read_len, &read_digest) != (len, digest) {
        bail!("it inflates to {read_len} bytes that differ from the {len} bytes of the dump");
    }
    Ok(())
}

/// A flag set by SIGINT, SIGTERM or SIGHUP, so that the copy stops and the
/// temporary file is removed; a second signal ends the process at once.
fn on_signals() -> Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&flag))
            .context("cannot install signal handlers")?;
        signal_hook::flag::register(sig, Arc::clone(&flag))
            .context("cannot install signal handlers")?;
    }
    Ok(flag)
}
