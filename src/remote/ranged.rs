//! One object of a bucket as a seekable [`Read`]: each read fetches only
//! the byte range it needs (HTTP `Range`), so that a reader that seeks (an
//! age stream reader over an indexed backup) transfers the parts it reads
//! and not the rest. This module owns the fetching policy: a read where
//! the last fetch ended fetches twice as much as that one did (up to
//! [`MAX_FETCH`]), any other read one age chunk ([`MIN_FETCH`]); the last
//! few fetched blocks are kept, so that a seek back within them costs
//! nothing. The bytes received are counted ([`super::read::count_received`]
//! and per object).

use std::collections::VecDeque;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore};

use super::Remote;

/// The smallest fetch: one encrypted chunk of age's payload (64 KiB of
/// plaintext and its 16-byte tag), which is what an age reader asks for at
/// once.
pub const MIN_FETCH: u64 = 64 * 1024 + 16;
/// The largest fetch, reached by doubling while the reads go on where the
/// last fetch ended (32 age chunks, 2 MiB).
pub const MAX_FETCH: u64 = 32 * MIN_FETCH;
/// Blocks kept: the memory of a ranged object is at most this many
/// [`MAX_FETCH`] blocks.
const KEPT_BLOCKS: usize = 3;

/// An object read by ranges.
pub struct RangedObject {
    remote: Remote,
    path: ObjectPath,
    /// `s3://...` for messages.
    url: String,
    size: u64,
    /// The object's ETag at the first fetch: a later fetch of another
    /// version (the object replaced while it is read) is an error, not a
    /// mix of two files.
    e_tag: Option<String>,
    pos: u64,
    /// Fetched blocks, most recent last.
    blocks: VecDeque<(u64, Bytes)>,
    /// Where the last fetch ended and how long it was.
    last_end: u64,
    last_len: u64,
    received: Arc<AtomicU64>,
}

impl RangedObject {
    /// `name` in `remote`'s folder, `size` bytes long (from its HEAD).
    pub fn new(remote: Remote, name: &str, size: u64) -> RangedObject {
        RangedObject {
            path: remote.path(name),
            url: remote.location.display(name),
            remote,
            size,
            e_tag: None,
            pos: 0,
            blocks: VecDeque::new(),
            last_end: u64::MAX,
            last_len: 0,
            received: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The bytes this object received so far (shared: it can be read after
    /// the object moved into a reader).
    pub fn received(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.received)
    }

    /// The kept block holding byte `at`, if any.
    fn block_at(&self, at: u64) -> Option<&(u64, Bytes)> {
        self.blocks
            .iter()
            .rev()
            .find(|(start, bytes)| *start <= at && at < start + bytes.len() as u64)
    }

    /// Fetches the block starting at `at` (`at < size`).
    fn fetch(&mut self, at: u64) -> io::Result<()> {
        let len = if at == self.last_end {
            (self.last_len * 2).clamp(MIN_FETCH, MAX_FETCH)
        } else {
            MIN_FETCH
        };
        let end = (at + len).min(self.size);
        let options = GetOptions {
            range: Some(GetRange::Bounded(at..end)),
            ..Default::default()
        };
        let (store, path) = (Arc::clone(&self.remote.store), self.path.clone());
        let got = self
            .remote
            .block_on(async move {
                let got = store.get_opts(&path, options).await?;
                let e_tag = got.meta.e_tag.clone();
                Ok::<_, object_store::Error>((e_tag, got.bytes().await?))
            })
            .map_err(|e| {
                io::Error::other(format!(
                    "{:#}",
                    self.remote
                        .error(&format!("cannot read bytes {at}-{end} of"), &self.url, &e)
                ))
            })?;
        let (e_tag, bytes) = got;
        super::read::count_received(bytes.len());
        self.received
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        match (&self.e_tag, e_tag) {
            (None, tag) => self.e_tag = tag,
            (Some(first), Some(now)) if *first != now => {
                return Err(io::Error::other(format!(
                    "{} changed while it was read (it was replaced in the bucket); read it again",
                    self.url
                )));
            }
            _ => {}
        }
        if bytes.len() as u64 != end - at {
            return Err(io::Error::other(format!(
                "{}: the bucket sent {} bytes for bytes {at}-{end} (the object is {} bytes long)",
                self.url,
                bytes.len(),
                self.size
            )));
        }
        self.last_end = end;
        self.last_len = end - at;
        if self.blocks.len() == KEPT_BLOCKS {
            self.blocks.pop_front();
        }
        self.blocks.push_back((at, bytes));
        Ok(())
    }
}

impl Read for RangedObject {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.pos >= self.size {
            return Ok(0);
        }
        if self.block_at(self.pos).is_none() {
            self.fetch(self.pos)?;
        }
        let (start, bytes) = self.block_at(self.pos).expect("the block was fetched");
        let from = (self.pos - start) as usize;
        let n = buf.len().min(bytes.len() - from);
        buf[..n].copy_from_slice(&bytes[from..from + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for RangedObject {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.size.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the object's start",
            )
        })?;
        Ok(self.pos)
    }
}
