//! How one version's bytes are compressed: zstd, either alone (a "full"
//! version) or with the version before it of the same text as zstd's
//! dictionary (a "delta"), which for a one-line edit of a 2 KB text is a
//! few dozen bytes instead of the ~45% a text alone compresses to.

use anyhow::{Context, Result};

/// Every this many versions of a text one is stored full, so reading any
/// version decompresses at most this many frames (docs/journal.md has the
/// measurements behind the number).
pub const MAX_CHAIN: i64 = 32;

/// zstd's level. Versions are small and few per poll: writing speed does
/// not matter, size does; 19 is zstd's highest level without the
/// memory-hungry "ultra" ones.
const LEVEL: i32 = 19;
/// Past this size a text is compressed at zstd's default level: a level-19
/// pass over a 10 MB text takes seconds.
const LARGE: usize = 1 << 20;

fn level_for(size: usize) -> i32 {
    if size > LARGE { 3 } else { LEVEL }
}

/// `text` compressed alone.
pub fn compress_full(text: &[u8]) -> Result<Vec<u8>> {
    zstd::bulk::compress(text, level_for(text.len())).context("journal: compressing a version")
}

/// `text` compressed with `previous` as the dictionary: a zstd "prefix",
/// always taken as raw content (a loaded dictionary would be parsed as a
/// zstd dictionary if a text happened to start with its magic number).
pub fn compress_delta(text: &[u8], previous: &[u8]) -> Result<Vec<u8>> {
    let mut compressor =
        zstd::bulk::Compressor::new(level_for(text.len())).context("journal: setting up zstd")?;
    compressor
        .compress_with_prefix(text, previous)
        .context("journal: compressing a version")
}

/// A frame from [`compress_full`] back to its `size` bytes.
pub fn decompress_full(data: &[u8], size: usize) -> Result<Vec<u8>> {
    let text = zstd::bulk::decompress(data, size).context("journal: decompressing a version")?;
    check_size(&text, size)?;
    Ok(text)
}

/// A frame from [`compress_delta`] back to its `size` bytes.
pub fn decompress_delta(data: &[u8], size: usize, previous: &[u8]) -> Result<Vec<u8>> {
    let mut context = zstd::zstd_safe::DCtx::create();
    context
        .ref_prefix(previous)
        .map_err(zstd_error)
        .context("journal: the previous version as prefix")?;
    let mut text = Vec::with_capacity(size);
    context
        .decompress(&mut text, data)
        .map_err(zstd_error)
        .context("journal: decompressing a version")?;
    check_size(&text, size)?;
    Ok(text)
}

fn zstd_error(code: zstd::zstd_safe::ErrorCode) -> anyhow::Error {
    anyhow::anyhow!("zstd: {}", zstd::zstd_safe::get_error_name(code))
}

fn check_size(text: &[u8], size: usize) -> Result<()> {
    anyhow::ensure!(
        text.len() == size,
        "journal: a version decompressed to {} bytes, {} expected",
        text.len(),
        size
    );
    Ok(())
}
