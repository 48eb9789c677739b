//! Reading a `.sql.gz` file through its index (`crate::indexed_gzip`): only
//! the members a reader needs, or every member on every core, instead of
//! the one gzip stream. This module owns that choice for [`super::open`]:
//! which members ([`Members`]), the reader of them, where their lines are in
//! the whole dump ([`Positions`]), and counting their compressed bytes on
//! the progress bar, also for rows passed over as counted
//! ([`super::DumpRead`]). A file without an index, or with one that does not
//! agree with it, is no business of this module: it is read as a stream,
//! with no error and no warning.

use std::fs::File;
use std::io::{self, Read};

use super::{Content, Counted, DumpRead, NothingCounted};
use crate::indexed_gzip::{Index, Inflate, ParallelInflate, Positions};
use crate::progress::Progress;

/// Which members of an indexed `.sql.gz` a read inflates.
#[derive(Clone, Copy)]
pub enum Members<'a> {
    /// None by the index: the file is one gzip stream (`reindex`, which
    /// rewrites every byte anyway).
    Stream,
    /// Every member, inflated in parallel on every core (`inspect`, and
    /// backup's read-back, which checks every member).
    AllInParallel,
    /// The rows of the tables this says yes to (asked with each table's name
    /// as its `COPY` line writes it), and everything that is not table
    /// data: the dump with the other tables' rows cut out.
    Tables(&'a dyn Fn(&[u8]) -> bool),
}

/// `file` read through its index as `members` says, or `None` when it is
/// to be read as a stream (no index that agrees, or [`Members::Stream`]).
/// Counts the compressed bytes of the chosen members on `progress`; the
/// others count as passed over.
pub fn open(file: &File, members: Members, progress: &Progress) -> io::Result<Option<Content>> {
    if matches!(members, Members::Stream) {
        return Ok(None);
    }
    let Some(index) = Index::read(file)? else {
        return Ok(None);
    };
    let file_len = file.metadata()?.len();
    let (chosen, positions) = match members {
        Members::Tables(wanted) => {
            let chosen = index.plan(wanted);
            let positions =
                (chosen.len() < index.members.len()).then(|| Positions::new(&index, &chosen));
            (chosen, positions)
        }
        _ => (index.members.clone(), None),
    };
    let compressed: u64 = chosen.iter().map(|m| m.compressed_len).sum();
    progress.expect(file_len);
    progress.pass_over(file_len - compressed);
    let spans = chosen
        .iter()
        .map(|m| (m.uncompressed_len, m.compressed_len))
        .collect();
    let file = file.try_clone()?;
    let inflated: Box<dyn DumpRead + Send> = match members {
        Members::AllInParallel => Box::new(ParallelInflate::with_all_cores(file, chosen)?),
        _ => Box::new(NothingCounted(Inflate::new(file, chosen))),
    };
    Ok(Some(Content {
        reader: Box::new(CompressedProgress::new(inflated, spans, progress.clone())),
        positions,
        inflates_ahead: matches!(members, Members::AllInParallel),
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
    fn pass_over_counted(&mut self) -> io::Result<Option<Counted>> {
        let counted = self.inner.pass_over_counted()?;
        if let Some(c) = counted {
            self.count(c.bytes);
        }
        Ok(counted)
    }
}
