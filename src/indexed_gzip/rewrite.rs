//! Rewriting a plain dump as an indexed `.sql.gz` (what `reindex` does), and
//! the check that the new file is what it should be before it takes its
//! name: its index agrees with it, and any gzip reader inflates it to
//! exactly the old dump's bytes.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use super::{Index, IndexedGzWriter};

/// Writes the dump `reader` gives into `file` as an indexed `.sql.gz`,
/// synced; returns the dump's length and SHA-256. Stops with an error once
/// `interrupted` is set.
pub fn write(reader: impl Read, file: &File, interrupted: &AtomicBool) -> Result<(u64, [u8; 32])> {
    let out = BufWriter::with_capacity(1 << 20, file.try_clone()?);
    let mut gz = IndexedGzWriter::new(out, Compression::default());
    let copied = copy_hashed(reader, &mut gz, interrupted)?;
    let out = gz.finish()?;
    out.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())?;
    Ok(copied)
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
pub fn verify(path: &Path, len: u64, digest: &[u8; 32]) -> Result<()> {
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
