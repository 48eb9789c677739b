//! Lines of a script, read from a stream without copying them where
//! possible, plus a fast skip over a COPY block that nobody needs (which
//! takes the rows' line count instead of the rows where the input counted
//! them already: [`DumpRead::skip_counted_rows`]).
//!
//! Line ends are LF or CRLF: a dump that went through `docker exec -t` has
//! CRLF on every line (the pseudo-terminal turns every LF into CRLF). The
//! first line decides: in a CRLF dump one trailing CR is dropped from every
//! line, in an LF dump none is, since a CR before an LF inside a quoted
//! INSERT string is data. In COPY data a raw CR never occurs (COPY writes
//! `\r`), so either way COPY rows come out exact.

use std::io::{self, Read};

use anyhow::{Result, bail};
use memchr::{memchr, memchr_iter, memmem};

use crate::stream::DumpRead;

const INITIAL: usize = 1 << 20;
/// A line longer than this is not something pg_dump writes.
const MAX_LINE: usize = 1 << 30;

pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// Number of the line most recently returned (1-based).
    line: u64,
    /// Bytes consumed before `buf[start]`.
    consumed: u64,
    /// False when the last line returned ended at the end of input without
    /// a line end: in table data, a row cut short.
    terminated: bool,
    /// Decided by the first line's end: is this a CRLF dump?
    crlf: Option<bool>,
    terminator: memmem::Finder<'static>,
}

/// How a skipped COPY block ended.
pub struct Skipped {
    pub rows: u64,
    /// False when the input ended before the block's `\.` line.
    pub ended: bool,
}

impl<R: Read> LineReader<R> {
    pub fn new(inner: R) -> Self {
        LineReader {
            inner,
            buf: vec![0; INITIAL],
            start: 0,
            end: 0,
            eof: false,
            line: 0,
            consumed: 0,
            terminated: true,
            crlf: None,
            terminator: memmem::Finder::new(b"\n\\.").into_owned(),
        }
    }

    /// The 1-based number of the last line returned.
    pub fn line_number(&self) -> u64 {
        self.line
    }

    /// Bytes of (decompressed) input consumed so far.
    pub fn offset(&self) -> u64 {
        self.consumed
    }

    /// Reads more input behind what is buffered; false at the end of input.
    fn fill(&mut self) -> Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() >= MAX_LINE {
                bail!(
                    "line {} is longer than {} bytes: this is not pg_dump output",
                    self.line + 1,
                    MAX_LINE
                );
            }
            let bigger = self.buf.len() * 2;
            self.buf.resize(bigger, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The next line without its line end, or `None` at the end of input.
    pub fn next_line(&mut self) -> Result<Option<&[u8]>> {
        Ok(self.advance()?.map(|(s, e)| &self.buf[s..e]))
    }

    /// As [`next_line`](Self::next_line), with whether the line had its line
    /// end (false for a last line cut short).
    pub fn next_line_with_end(&mut self) -> Result<Option<(&[u8], bool)>> {
        Ok(self
            .advance()?
            .map(|(s, e)| (&self.buf[s..e], self.terminated)))
    }

    /// Moves past the next line; its place in `buf`, without its line end.
    fn advance(&mut self) -> Result<Option<(usize, usize)>> {
        let found = self.advance_raw()?;
        Ok(found.map(|(s, e)| {
            let ends_in_cr = e > s && self.buf[e - 1] == b'\r';
            let crlf = *self.crlf.get_or_insert(ends_in_cr && self.terminated);
            if crlf && ends_in_cr {
                (s, e - 1)
            } else {
                (s, e)
            }
        }))
    }

    fn advance_raw(&mut self) -> Result<Option<(usize, usize)>> {
        let mut searched = 0;
        loop {
            if let Some(at) = memchr(b'\n', &self.buf[self.start + searched..self.end]) {
                let line_start = self.start;
                let line_end = self.start + searched + at;
                self.start = line_end + 1;
                self.consumed += (self.start - line_start) as u64;
                self.line += 1;
                self.terminated = true;
                return Ok(Some((line_start, line_end)));
            }
            searched = self.end - self.start;
            if !self.fill()? {
                if self.start == self.end {
                    return Ok(None);
                }
                // The last line has no line end.
                let line_start = self.start;
                self.consumed += (self.end - self.start) as u64;
                self.start = self.end;
                self.line += 1;
                self.terminated = false;
                return Ok(Some((line_start, self.end)));
            }
        }
    }

    fn take(&mut self, bytes: usize, lines: u64) {
        self.start += bytes;
        self.consumed += bytes as u64;
        self.line += lines;
    }
}

impl<R: DumpRead> LineReader<R> {
    /// Skips the rows of a COPY block up to and including its `\.` line,
    /// counting them without looking at their content.
    pub fn skip_copy_block(&mut self) -> Result<Skipped> {
        let mut rows = self.skip_counted_rows()?;
        // A block whose first line is `\.` has no rows.
        loop {
            let avail = &self.buf[self.start..self.end];
            if avail.len() >= 4 || self.eof {
                if let Some(len) = terminator_line_len(avail, self.eof) {
                    self.take(len, 1);
                    return Ok(Skipped { rows, ended: true });
                }
                break;
            }
            self.fill()?;
        }
        loop {
            let eof = self.eof;
            let avail = &self.buf[self.start..self.end];
            let mut found = None;
            let mut need_more_at = None;
            for hit in self.terminator.find_iter(avail) {
                // `hit` is the LF that ends the last row; the `\.` line starts after it.
                let after = &avail[hit + 1..];
                if after.len() < 4 && !eof {
                    need_more_at = Some(hit);
                    break;
                }
                if let Some(len) = terminator_line_len(after, eof) {
                    found = Some((hit, len));
                    break;
                }
            }
            if let Some((hit, len)) = found {
                let newlines = memchr_iter(b'\n', &avail[..=hit]).count() as u64;
                rows += newlines;
                self.take(hit + 1 + len, newlines + 1);
                return Ok(Skipped { rows, ended: true });
            }
            if eof {
                // The input ended inside the block; a last line without its
                // line end is a cut row and is not counted.
                let left = avail.len();
                let complete = memchr_iter(b'\n', avail).count() as u64;
                rows += complete;
                self.take(left, complete);
                return Ok(Skipped { rows, ended: false });
            }
            // Consume up to where a terminator could still start: the last
            // LF when fewer bytes follow it than a `\.` line has, else
            // everything (no terminator starts after that LF: it would have
            // been found), so that a huge row is streamed, never held.
            let keep_from = need_more_at
                .or_else(|| memchr::memrchr(b'\n', avail).filter(|&lf| avail.len() - lf <= 4))
                .unwrap_or(avail.len());
            let newlines = memchr_iter(b'\n', &avail[..keep_from]).count() as u64;
            rows += newlines;
            self.take(keep_from, newlines);
            self.fill()?;
        }
    }

    /// At the start of a COPY block's rows, with nothing of them buffered:
    /// the rows the input counted already, passed over (its count is from
    /// a line start to a line end). Their line ends.
    fn skip_counted_rows(&mut self) -> Result<u64> {
        let mut lines = 0;
        while self.start == self.end && !self.eof {
            let Some(counted) = self.inner.skip_counted_rows()? else {
                break;
            };
            self.consumed += counted.bytes;
            self.line += counted.lines;
            lines += counted.lines;
        }
        Ok(lines)
    }
}

/// If `data` starts with the line `\.` (LF, CRLF or end of input after it),
/// the length of that line with its line end.
fn terminator_line_len(data: &[u8], eof: bool) -> Option<usize> {
    if !data.starts_with(b"\\.") {
        return None;
    }
    match &data[2..] {
        [b'\n', ..] => Some(3),
        [b'\r', b'\n', ..] => Some(4),
        [] | [b'\r'] if eof => Some(data.len()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{CountedRows, Uncounted};

    /// A reader that hands out one byte per call, to cross every boundary.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    fn lines(data: &[u8]) -> Vec<Vec<u8>> {
        let mut r = LineReader::new(Uncounted(Trickle(data)));
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push(l.to_vec());
        }
        out
    }

    #[test]
    fn the_first_line_decides_whether_a_cr_is_a_line_end() {
        let v = |l: &[&[u8]]| l.iter().map(|x| x.to_vec()).collect::<Vec<_>>();
        assert_eq!(lines(b"a\r\nb\r\nc"), v(&[b"a", b"b", b"c"]));
        // In a CRLF dump a CR of the data stands before the line end's CR.
        assert_eq!(lines(b"a\r\nb\r\r\n"), v(&[b"a", b"b\r"]));
        // In an LF dump a CR before LF is data (inside a quoted INSERT string).
        assert_eq!(lines(b"a\nb\r\nc"), v(&[b"a", b"b\r", b"c"]));
        assert_eq!(lines(b""), Vec::<Vec<u8>>::new());
        assert_eq!(lines(b"\n"), vec![Vec::<u8>::new()]);
    }

    fn skip(data: &[u8]) -> (u64, bool, Option<Vec<u8>>, u64) {
        let mut r = LineReader::new(Uncounted(Trickle(data)));
        let s = r.skip_copy_block().unwrap();
        let next = r.next_line().unwrap().map(<[u8]>::to_vec);
        let (rows, ended, line) = (s.rows, s.ended, r.line_number());
        // The same through one big read.
        let mut big = LineReader::new(Uncounted(data));
        let s2 = big.skip_copy_block().unwrap();
        assert_eq!((s2.rows, s2.ended), (rows, ended));
        assert_eq!(big.next_line().unwrap().map(<[u8]>::to_vec), next);
        (rows, ended, next, line)
    }

    #[test]
    fn skipping_counts_rows_and_stops_after_the_terminator() {
        assert_eq!(skip(b"\\.\nnext\n"), (0, true, Some(b"next".to_vec()), 2));
        assert_eq!(
            skip(b"a\nb\n\\.\nnext\n"),
            (2, true, Some(b"next".to_vec()), 4)
        );
        assert_eq!(
            skip(b"a\r\nb\r\n\\.\r\nnext\r\n"),
            (2, true, Some(b"next".to_vec()), 4)
        );
        assert_eq!(skip(b"a\nb\n\\."), (2, true, None, 3));
    }

    #[test]
    fn an_escaped_dot_line_is_a_row_not_the_end() {
        // A text that is exactly `\.` is written `\\.` by COPY.
        assert_eq!(
            skip(b"1\t\\\\.\n\\.x\n\\.\nn\n"),
            (2, true, Some(b"n".to_vec()), 4)
        );
    }

    #[test]
    fn a_huge_skipped_row_is_streamed_in_constant_memory() {
        let mut data = b"1\t".to_vec();
        data.extend(std::iter::repeat_n(b'x', 8 * INITIAL));
        data.extend_from_slice(b"\n2\ty\n\\.\nnext\n");
        let mut r = LineReader::new(Uncounted(data.as_slice()));
        let s = r.skip_copy_block().unwrap();
        assert_eq!((s.rows, s.ended), (2, true));
        assert_eq!(r.next_line().unwrap(), Some(&b"next"[..]));
        assert_eq!(r.buf.len(), INITIAL, "the buffer never grew");
    }

    #[test]
    fn huge_rows_after_other_rows_are_streamed_in_constant_memory() {
        let mut data = Vec::new();
        for i in 0..3 {
            data.extend_from_slice(format!("{i}\t").as_bytes());
            data.extend(std::iter::repeat_n(b'x', 5 * INITIAL));
            data.push(b'\n');
        }
        data.extend_from_slice(b"\\.\nnext\n");
        let mut r = LineReader::new(Uncounted(data.as_slice()));
        let s = r.skip_copy_block().unwrap();
        assert_eq!((s.rows, s.ended), (3, true));
        assert_eq!(r.next_line().unwrap(), Some(&b"next"[..]));
        assert_eq!(r.buf.len(), INITIAL, "the buffer never grew");
        assert_eq!(skip(&data[..data.len() - 5]), (3, true, None, 4));
    }

    #[test]
    fn skipping_to_the_end_of_input_reports_no_end() {
        let (rows, ended, next, _) = skip(b"a\nb\nc");
        assert_eq!((rows, ended, next), (2, false, None));
        let (rows, ended, _, _) = skip(b"a\nb\n");
        assert_eq!((rows, ended), (2, false));
    }

    /// Rows counted ahead, given as whole pieces after a COPY line.
    struct CountedAhead {
        pieces: std::collections::VecDeque<(&'static [u8], bool)>,
        current: &'static [u8],
    }

    impl Read for CountedAhead {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            while self.current.is_empty() {
                match self.pieces.pop_front() {
                    Some((bytes, _)) => self.current = bytes,
                    None => return Ok(0),
                }
            }
            let n = buf.len().min(self.current.len());
            buf[..n].copy_from_slice(&self.current[..n]);
            self.current = &self.current[n..];
            Ok(n)
        }
    }

    impl DumpRead for CountedAhead {
        fn skip_counted_rows(&mut self) -> io::Result<Option<CountedRows>> {
            match self.pieces.front() {
                Some(&(bytes, true)) if self.current.is_empty() => {
                    self.pieces.pop_front();
                    Ok(Some(CountedRows {
                        bytes: bytes.len() as u64,
                        lines: memchr_iter(b'\n', bytes).count() as u64,
                    }))
                }
                _ => Ok(None),
            }
        }
    }

    /// Rows the input counted are taken as counted, with no byte of them
    /// read: the rows, line numbers and offsets after them are those of a
    /// read of every byte, and rows that are not counted are read.
    #[test]
    fn counted_rows_are_taken_as_counted() {
        let pieces = [
            (&b"COPY t (a) FROM stdin;\n"[..], false),
            (b"1\n2\n3", true),
            (b"3\n4\n", true),
            (b"\\.\nCOPY u (a) FROM stdin;\n", false),
            (b"5\n", false),
            (b"\\.\nSELECT 1;\n", false),
        ];
        let whole: Vec<u8> = pieces.iter().flat_map(|(b, _)| b.to_vec()).collect();
        let mut r = LineReader::new(CountedAhead {
            pieces: pieces.into_iter().collect(),
            current: b"",
        });
        let mut plain = LineReader::new(Uncounted(whole.as_slice()));
        for r in [&mut r as &mut dyn Skipping, &mut plain] {
            assert_eq!(r.line(), Some(b"COPY t (a) FROM stdin;".to_vec()));
            assert_eq!(r.skip(), (4, true));
            assert_eq!(r.line(), Some(b"COPY u (a) FROM stdin;".to_vec()));
            assert_eq!(r.skip(), (1, true));
            assert_eq!(r.line(), Some(b"SELECT 1;".to_vec()));
            assert_eq!(r.at(), (10, whole.len() as u64));
        }
    }

    /// [`LineReader`] of any input, as the test above uses it.
    trait Skipping {
        fn line(&mut self) -> Option<Vec<u8>>;
        fn skip(&mut self) -> (u64, bool);
        fn at(&self) -> (u64, u64);
    }

    impl<R: DumpRead> Skipping for LineReader<R> {
        fn line(&mut self) -> Option<Vec<u8>> {
            self.next_line().unwrap().map(<[u8]>::to_vec)
        }
        fn skip(&mut self) -> (u64, bool) {
            let s = self.skip_copy_block().unwrap();
            (s.rows, s.ended)
        }
        fn at(&self) -> (u64, u64) {
            (self.line_number(), self.offset())
        }
    }
}
