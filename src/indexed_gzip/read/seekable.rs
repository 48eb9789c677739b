//! [`SeekInflate`]: an indexed `.sql.gz` read from a seekable source whose
//! bytes are the writer's (an age-encrypted copy, every chunk authenticated
//! as it is read), where the index is trusted with what the rows of a
//! table hold: the rows a reader passes over are given as the index's
//! count of their lines and never read, so a source read by byte ranges
//! never fetches them (the parent module has the index and the member
//! reader).

use super::*;

/// The members of an indexed file, in order, from a seekable source on the
/// calling thread (the memory of one decoder), where the rows of the
/// tables not wanted are skipped unread when the reader passes over them.
///
/// Only for a source whose every byte is the writer's, index included
/// (docs/indexed-backups.md, "What the index is trusted with"): a run of
/// members labelled as one table's rows, ending with its last rows, is
/// given to a reader passing over COPY data at its start as one count
/// ([`DumpRead::skip_counted_rows`]: the run's bytes and line ends from
/// the index) and the source never reads them. The reader decides by
/// the `COPY` line it read, not by the label: a run it reads (it wants
/// that table's rows after all) is inflated as any member. Every member
/// read is inflated with its CRC-32 and length checked.
pub struct SeekInflate<S> {
    members: Vec<Member>,
    /// For a member starting a run that may be skipped: the index after
    /// the run's last member.
    skippable: Vec<Option<usize>>,
    /// The next member to start.
    next: usize,
    /// The source, while no member is being read.
    source: Option<S>,
    current: Option<MemberReader<Window<S>>>,
}

impl<S: Read + Seek> SeekInflate<S> {
    /// The members of `index` from `source`; the rows of the tables that
    /// `wanted` says no to (asked with each table's name as its `COPY` line
    /// writes it) may be skipped.
    pub fn new(source: S, index: Index, wanted: impl Fn(&[u8]) -> bool) -> SeekInflate<S> {
        let members = index.members;
        let mut skippable = vec![None; members.len()];
        let mut i = 0;
        while i < members.len() {
            let Some(table) = &members[i].table else {
                i += 1;
                continue;
            };
            let mut end = i;
            while end < members.len()
                && members[end].table.as_ref() == Some(table)
                && !(end > i && members[end - 1].data_end)
            {
                end += 1;
            }
            // Rows whose end never came (a dump cut inside a table) are
            // read, so that the cut is seen.
            if members[end - 1].data_end && !wanted(table) {
                skippable[i] = Some(end);
            }
            i = end;
        }
        SeekInflate {
            members,
            skippable,
            next: 0,
            source: Some(source),
            current: None,
        }
    }

    /// Ends the current member once all its bytes were read (its CRC-32
    /// and length checked); whether none is left being read.
    fn end_current(&mut self) -> io::Result<bool> {
        let Some(reader) = &mut self.current else {
            return Ok(true);
        };
        if reader.produced < reader.member.uncompressed_len {
            return Ok(false);
        }
        if reader.read(&mut [0; 1])? != 0 {
            return Err(reader.damaged("the member holds more than its bytes"));
        }
        let reader = self.current.take().expect("a member is being read");
        self.source = Some(reader.decoder.into_inner().into_inner().source);
        Ok(true)
    }

    /// Starts reading the next member; false after the last.
    fn start_next(&mut self) -> io::Result<bool> {
        let Some(member) = self.members.get(self.next).cloned() else {
            return Ok(false);
        };
        let mut source = self.source.take().expect("no member is being read");
        if let Err(e) = source.seek(SeekFrom::Start(member.compressed_offset)) {
            self.source = Some(source);
            return Err(failed(e));
        }
        let window = Window {
            source,
            left: member.compressed_len,
        };
        self.current = Some(MemberReader::over(window, member));
        self.next += 1;
        Ok(true)
    }
}

impl<S: Read + Seek> Read for SeekInflate<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if let Some(reader) = &mut self.current {
                match reader.read(buf)? {
                    0 => {
                        let reader = self.current.take().expect("a member is being read");
                        self.source = Some(reader.decoder.into_inner().into_inner().source);
                    }
                    n => return Ok(n),
                }
            }
            if !self.start_next()? {
                return Ok(0);
            }
        }
    }
}

impl<S: Read + Seek> DumpRead for SeekInflate<S> {
    /// A run of a passed-over table's rows, from the index, when nothing of
    /// the member before it is left to read.
    fn skip_counted_rows(&mut self) -> io::Result<Option<CountedRows>> {
        if !self.end_current()? {
            return Ok(None);
        }
        let Some(Some(end)) = self.skippable.get(self.next).copied() else {
            return Ok(None);
        };
        let run = &self.members[self.next..end];
        let counted = CountedRows {
            bytes: run.iter().map(|m| m.uncompressed_len).sum(),
            lines: run.iter().map(|m| m.newlines).sum(),
        };
        self.next = end;
        Ok(Some(counted))
    }
}

/// `left` bytes of the source from where it stands: one member's.
struct Window<S> {
    source: S,
    left: u64,
}

impl<S: Read> Read for Window<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        if n == 0 {
            return Ok(0);
        }
        let n = self.source.read(&mut buf[..n]).map_err(failed)?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// An error of the source, passed on by the member reader as it is.
fn failed(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::Interrupted {
        return e;
    }
    io::Error::new(e.kind(), SourceFailed(e.to_string()))
}
