//! Reading a `.sql.gz` file through its index (`crate::indexed_gzip`):
//! every member inflated on every core, instead of one gzip stream on one.
//! This module owns that choice for [`super::open`]: which members' bytes
//! are worth keeping ([`Members`]), their reader, and their compressed bytes
//! on the progress bar. A file without an index that agrees is streamed,
//! silently. The index of a file or of a plain copy is believed for where
//! the members are, never for what they hold; that of an age-encrypted copy
//! in a bucket, whose every byte is authenticated as the writer's, is
//! trusted with what they hold too, and the rows passed over are never
//! fetched ([`open_sealed`]; docs/indexed-backups.md, "What the index is
//! trusted with").

use std::fs::File;
use std::io::{self, Read};

use anyhow::Result;

use super::Content;
use crate::indexed_gzip::{Index, Job, ParallelInflate, SeekInflate};
use crate::progress::Progress;
use crate::stream::{CountedRows, DumpRead};

/// How an indexed `.sql.gz` is read.
#[derive(Clone, Copy)]
pub enum Members<'a> {
    /// As one gzip stream, whatever the index (`reindex`, which rewrites
    /// every byte anyway).
    IgnoreIndex,
    /// Every member on every core, every member's bytes kept.
    AllInParallel,
    /// The members the index labels as rows of tables this says no to
    /// (asked with each table's name as its `COPY` line writes it) on
    /// worker threads, their line ends counted and their bytes checked and
    /// dropped: rows the reader is expected to pass over. The others (the
    /// SQL, the rows it reads) inflated by the reader as it reads them, in
    /// the memory of one decoder. A hint only: a member checked that the
    /// reader does read is inflated again for it.
    Tables(&'a dyn Fn(&[u8]) -> bool),
}

/// `file` read through its index as `members` says, or `None` when it is
/// to be read as a stream (no index that agrees, or [`Members::IgnoreIndex`]).
/// Counts the compressed bytes of the members on `progress`.
pub fn open(file: &File, members: Members, progress: &Progress) -> io::Result<Option<Content>> {
    if matches!(members, Members::IgnoreIndex) {
        return Ok(None);
    }
    let Some(index) = Index::read(file)? else {
        return Ok(None);
    };
    let file_len = file.metadata()?.len();
    let compressed: u64 = index.members.iter().map(|m| m.compressed_len).sum();
    progress.expect(file_len);
    progress.pass_over(file_len - compressed);
    let spans = index
        .members
        .iter()
        .map(|m| (m.uncompressed_len, m.compressed_len))
        .collect();
    let kept = index
        .members
        .into_iter()
        .map(|m| {
            let job = match (members, &m.table) {
                (Members::AllInParallel, _) => Job::Keep,
                (Members::Tables(wanted), Some(table)) if !wanted(table) => Job::Check,
                _ => Job::OnReader,
            };
            (m, job)
        })
        .collect();
    let threads = rayon::current_num_threads();
    let inflated = ParallelInflate::with_jobs(file.try_clone()?, kept, threads, threads)?;
    Ok(Some(Content {
        reader: Box::new(CompressedProgress::new(inflated, spans, progress.clone())),
        positions: None,
        inflates_ahead: true,
    }))
}

/// The encrypted copy `url` in a bucket (`.age`) read by byte ranges
/// through its index, as `members` says: the rows of the tables it says no
/// to are not fetched. `None` (read it streamed) for a copy that is not
/// encrypted, without an index, or when every member is wanted anyway
/// ([`Members::AllInParallel`], [`Members::IgnoreIndex`]).
pub fn open_sealed(url: &str, members: Members, progress: &Progress) -> Result<Option<Content>> {
    let Members::Tables(wanted) = members else {
        return Ok(None);
    };
    let Some((mut plain, len)) = crate::remote::read::open_sealed_ranged(url)? else {
        return Ok(None);
    };
    let index = Index::read_seekable(&mut plain, len).map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    let Some(index) = index else {
        return Ok(None);
    };
    progress.expect(len);
    let compressed: u64 = index.members.iter().map(|m| m.compressed_len).sum();
    progress.pass_over(len - compressed);
    let spans = index
        .members
        .iter()
        .map(|m| (m.uncompressed_len, m.compressed_len))
        .collect();
    let inflated = SeekInflate::new(plain, index, wanted);
    Ok(Some(Content {
        reader: Box::new(CompressedProgress::new(inflated, spans, progress.clone())),
        positions: None,
        // No thread reads ahead: a thread would hide the rows the reader
        // passes over (it reads bytes, it cannot skip them).
        inflates_ahead: true,
    }))
}

/// Counts on the progress bar, as the members' inflated bytes go by, their
/// compressed bytes: each member's in proportion to how much of it is read,
/// all of it once it is read whole, so that the bar ends at its end.
struct CompressedProgress<R> {
    inner: R,
    /// Per member in reading order: inflated and compressed length.
    spans: std::vec::IntoIter<(u64, u64)>,
    current: Option<(u64, u64)>,
    /// Inflated bytes of the current member read, and compressed bytes
    /// counted for it.
    read: u64,
    counted: u64,
    progress: Progress,
}

impl<R> CompressedProgress<R> {
    fn new(inner: R, spans: Vec<(u64, u64)>, progress: Progress) -> Self {
        let mut spans = spans.into_iter();
        CompressedProgress {
            inner,
            current: spans.next(),
            spans,
            read: 0,
            counted: 0,
            progress,
        }
    }

    fn count(&mut self, mut n: u64) {
        while n > 0 {
            let Some((len, compressed)) = self.current else {
                return;
            };
            let take = n.min(len - self.read);
            n -= take;
            self.read += take;
            let due = (u128::from(compressed) * u128::from(self.read) / u128::from(len)) as u64;
            self.progress.advance(due - self.counted);
            self.counted = due;
            if self.read == len {
                self.current = self.spans.next();
                self.read = 0;
                self.counted = 0;
            }
        }
    }
}

impl<R: Read> Read for CompressedProgress<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count(n as u64);
        Ok(n)
    }
}

impl<R: DumpRead> DumpRead for CompressedProgress<R> {
    fn skip_counted_rows(&mut self) -> io::Result<Option<CountedRows>> {
        let counted = self.inner.skip_counted_rows()?;
        if let Some(c) = counted {
            self.count(c.bytes);
        }
        Ok(counted)
    }
}
