//! Writing an indexed `.sql.gz`: [`IndexedGzWriter`] takes a plain dump's
//! SQL in chunks of any size and compresses it into gzip members, each
//! table's COPY rows in members of their own, none over [`MAX_MEMBER_LEN`]
//! bytes; [`finish`] appends the index and the footer. It follows the SQL
//! with the plain reader's own line scanner (`crate::sql_scan`) so that its
//! boundaries are where the reader sees table data; whatever the input, the
//! members inflate to exactly the bytes written (docs/indexed-backups.md,
//! "What goes in which member").
//!
//! [`finish`]: IndexedGzWriter::finish

use std::io::{self, Write};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use memchr::memchr;

use crate::sql_scan::{LineStart, QuoteState, StatementKind, classify, parse_table_name};

use super::{
    ENTRY_FIXED_LEN, FOOTER_DATA_LEN, INDEX_CHUNK, KIND_FOOTER, KIND_INDEX, MAX_MEMBER_LEN, Member,
    empty_member_with, member_header,
};

/// A line outside table data held back longer than this is compressed as
/// it comes, and the writer stops starting table members (pg_dump writes no
/// such line outside `--inserts` dumps, which have no COPY data anyway).
const MAX_HELD: usize = 8 << 20;
/// Longest table name kept in the index (PostgreSQL's are at most 63
/// bytes a part, twice that quoted).
const MAX_NAME: usize = 1024;
/// Compressed bytes gathered before a write to the inner writer.
const OUT_BUF: usize = 256 * 1024;

/// A `Write` that compresses a plain SQL dump into an indexed `.sql.gz`.
///
/// ```no_run
/// # fn main() -> std::io::Result<()> {
/// use std::io::Write;
/// use textrescue::indexed_gzip::IndexedGzWriter;
/// let file = std::io::BufWriter::new(std::fs::File::create("dump.sql.gz")?);
/// let mut gz = IndexedGzWriter::new(file, flate2::Compression::default());
/// gz.write_all(b"-- PostgreSQL database dump\n")?;
/// let file = gz.finish()?; // the inner writer, flushed
/// # Ok(()) }
/// ```
///
/// Unlike `GzEncoder`, dropping it without [`finish`](Self::finish) writes
/// nothing more: the file stays without its index (and its last member).
/// After an error of the inner writer the output is unusable.
pub struct IndexedGzWriter<W: Write> {
    out: W,
    /// Compressed bytes handed to `out` so far.
    written: u64,
    /// Compressed bytes not yet handed to `out`.
    buf: Vec<u8>,
    level: u32,
    deflate: Compress,
    crc: Crc,
    /// Dump bytes taken so far.
    taken: u64,
    /// The member being written, if any (members start at their first byte).
    open: Option<Member>,
    members: Vec<Member>,
    /// The table whose data the next bytes are (inside COPY data).
    table: Option<Vec<u8>>,
    /// The open member ended at a line end short of its 16 MiB.
    cut_at_line_end: bool,
    /// The last byte compressed is a line end.
    fed_lf: bool,
    scan: Scan,
}

/// Where the scan is in the dump's lines.
#[derive(Default)]
struct Scan {
    /// The next byte starts a line.
    at_line_start: bool,
    /// The start of a line not yet decided (not yet compressed either).
    held: Vec<u8>,
    /// Where the SQL stands, as the plain reader follows it.
    sql: Sql,
}

/// The plain reader's view of the SQL between tables' data
/// (`crate::format::plain::PlainReader::run`, followed step by step).
#[derive(Default)]
struct Sql {
    quotes: QuoteState,
    /// The kind of the statement that has begun and not ended.
    pending: Option<StatementKind>,
    /// `SET standard_conforming_strings = off` came: backslashes escape in
    /// every `'...'`.
    strings_not_standard: bool,
    /// CRLF line ends, decided by the first line.
    crlf: Option<bool>,
    /// A line too long to hold came: where the SQL stands is not known, and
    /// no more table members are started.
    lost: bool,
}

/// What a line (or the start of one) is.
enum Line {
    /// More bytes are needed to tell.
    Undecided,
    /// Nothing that starts or ends table data, and the rest of it does not
    /// matter.
    Other,
    /// `COPY name ... FROM stdin;` between statements: table data starts
    /// after it.
    CopyStart(Vec<u8>),
    /// `\.` in COPY data: the table's data ended before this line.
    CopyEnd,
}

impl<W: Write> IndexedGzWriter<W> {
    /// A writer into `out` at `level` (`backup` uses `Compression::default()`).
    pub fn new(out: W, level: Compression) -> Self {
        IndexedGzWriter {
            out,
            written: 0,
            buf: Vec::with_capacity(OUT_BUF),
            level: level.level(),
            deflate: Compress::new(level, false),
            crc: Crc::new(),
            taken: 0,
            open: None,
            members: Vec::new(),
            table: None,
            cut_at_line_end: false,
            fed_lf: false,
            scan: Scan {
                at_line_start: true,
                ..Scan::default()
            },
        }
    }

    /// The members closed so far (the last one is closed by [`finish`](Self::finish)).
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Ends the last member, writes the index and the footer, flushes and
    /// returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        let held = std::mem::take(&mut self.scan.held);
        self.feed(&held)?;
        self.close_member()?;
        let payload = index_payload(&self.members);
        let index_offset = self.position();
        for chunk in payload.chunks(INDEX_CHUNK) {
            self.push_bytes(&empty_member_with(KIND_INDEX, chunk))?;
        }
        if payload.is_empty() {
            self.push_bytes(&empty_member_with(KIND_INDEX, &[]))?;
        }
        let index_len = self.position() - index_offset;
        let mut crc = Crc::new();
        crc.update(&payload);
        let mut footer = Vec::with_capacity(FOOTER_DATA_LEN);
        footer.extend_from_slice(&index_offset.to_le_bytes());
        footer.extend_from_slice(&index_len.to_le_bytes());
        footer.extend_from_slice(&self.taken.to_le_bytes());
        footer.extend_from_slice(&(self.members.len() as u32).to_le_bytes());
        footer.extend_from_slice(&crc.sum().to_le_bytes());
        self.push_bytes(&empty_member_with(KIND_FOOTER, &footer))?;
        self.flush_buf()?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// The compressed length so far.
    fn position(&self) -> u64 {
        self.written + self.buf.len() as u64
    }

    /// Scans `buf`, starting members where its lines say, and compresses it.
    fn take(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut pos = 0; // bytes of buf scanned
        let mut fed = 0; // bytes of buf compressed (fed <= pos)
        if !self.scan.held.is_empty() {
            // The held line start goes on in buf.
            let line_end = memchr(b'\n', buf).map(|k| k + 1);
            let upto = line_end.unwrap_or(buf.len());
            self.scan.held.extend_from_slice(&buf[..upto]);
            let held = std::mem::take(&mut self.scan.held);
            let line = self.classify(&held, line_end.is_some());
            if let Line::Undecided = line {
                self.scan.held = held;
                return Ok(());
            }
            self.apply(line, &held)?;
            self.scan.at_line_start = line_end.is_some();
            pos = upto;
            fed = upto;
        }
        while pos < buf.len() {
            if !self.scan.at_line_start {
                match memchr(b'\n', &buf[pos..]) {
                    Some(k) => {
                        pos += k + 1;
                        self.scan.at_line_start = true;
                    }
                    None => pos = buf.len(),
                }
                continue;
            }
            let line_end = memchr(b'\n', &buf[pos..]).map(|k| pos + k + 1);
            let upto = line_end.unwrap_or(buf.len());
            let line = self.classify(&buf[pos..upto], line_end.is_some());
            match line {
                Line::Undecided => {
                    self.feed(&buf[fed..pos])?;
                    self.scan.held.extend_from_slice(&buf[pos..]);
                    return Ok(());
                }
                Line::CopyStart(_) => {
                    self.feed(&buf[fed..upto])?;
                    fed = upto;
                    self.apply(line, &[])?;
                }
                Line::CopyEnd => {
                    self.feed(&buf[fed..pos])?;
                    fed = pos;
                    self.apply(line, &[])?;
                }
                other => self.apply(other, &[])?,
            }
            pos = upto;
            self.scan.at_line_start = line_end.is_some();
        }
        self.feed(&buf[fed..pos])
    }

    /// Says what `line` (a line with its end when `complete`, else the start
    /// of one) is; a whole line outside table data moves the SQL on.
    fn classify(&mut self, line: &[u8], complete: bool) -> Line {
        if self.table.is_some() {
            return match line {
                b"\\.\n" | b"\\.\r\n" => Line::CopyEnd,
                b"\\" | b"\\." | b"\\.\r" if !complete => Line::Undecided,
                _ => Line::Other,
            };
        }
        let sql = &mut self.scan.sql;
        if sql.lost {
            return Line::Other;
        }
        if !complete {
            if line.len() > MAX_HELD {
                sql.lost = true;
                return Line::Other;
            }
            return Line::Undecided;
        }
        sql.line(line)
    }

    /// Acts on a decided line; `held` is the held line start, if the line
    /// was held (it is compressed here, on the right side of a boundary).
    fn apply(&mut self, line: Line, held: &[u8]) -> io::Result<()> {
        match line {
            Line::Undecided => unreachable!("only decided lines are applied"),
            Line::CopyStart(name) => {
                self.feed(held)?;
                self.close_member()?;
                self.table = Some(name);
            }
            Line::CopyEnd => {
                if let Some(open) = &mut self.open {
                    open.data_end = true;
                }
                self.close_member()?;
                self.table = None;
                self.feed(held)?;
            }
            Line::Other => self.feed(held)?,
        }
        Ok(())
    }

    /// Compresses dump bytes into the open member, opening one first and
    /// starting the next when one is full.
    fn feed(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            if self
                .open
                .as_ref()
                .is_some_and(|m| m.uncompressed_len == MAX_MEMBER_LEN || self.cut_at_line_end)
            {
                self.close_member()?;
            }
            self.cut_at_line_end = false;
            if self.open.is_none() {
                self.open_member()?;
            }
            let open = self.open.as_mut().expect("a member is open");
            let room = (MAX_MEMBER_LEN - open.uncompressed_len) as usize;
            let mut n = data.len().min(room);
            if data.len() > room && open.table.is_some() {
                // Rows end their member at a line end where the bytes at
                // hand have one, so that a reader can take the member's
                // rows as a count (src/indexed_gzip/read.rs).
                match memchr::memrchr(b'\n', &data[..room]) {
                    Some(lf) => n = lf + 1,
                    // The member so far ends at a line end: it ends there.
                    None if open.uncompressed_len > 0 && self.fed_lf => n = 0,
                    None => {}
                }
            }
            self.cut_at_line_end = n < data.len();
            open.uncompressed_len += n as u64;
            open.newlines += memchr::memchr_iter(b'\n', &data[..n]).count() as u64;
            if n > 0 {
                self.fed_lf = data[n - 1] == b'\n';
            }
            self.crc.update(&data[..n]);
            self.taken += n as u64;
            self.deflate_into_buf(&data[..n], FlushCompress::None)?;
            data = &data[n..];
        }
        Ok(())
    }

    fn open_member(&mut self) -> io::Result<()> {
        self.open = Some(Member {
            uncompressed_offset: self.taken,
            uncompressed_len: 0,
            compressed_offset: self.position(),
            compressed_len: 0,
            newlines: 0,
            table: self.table.clone(),
            data_end: false,
        });
        self.deflate.reset();
        self.crc.reset();
        self.push_bytes(&member_header(self.level))
    }

    /// Ends the open member, if any: the end of its deflate stream, CRC-32
    /// and length.
    fn close_member(&mut self) -> io::Result<()> {
        let Some(mut member) = self.open.take() else {
            return Ok(());
        };
        self.deflate_into_buf(&[], FlushCompress::Finish)?;
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&self.crc.sum().to_le_bytes());
        trailer[4..].copy_from_slice(&(member.uncompressed_len as u32).to_le_bytes());
        self.push_bytes(&trailer)?;
        member.compressed_len = self.position() - member.compressed_offset;
        self.members.push(member);
        Ok(())
    }

    fn deflate_into_buf(&mut self, mut input: &[u8], flush: FlushCompress) -> io::Result<()> {
        loop {
            if self.buf.capacity() - self.buf.len() < 1024 {
                self.flush_buf()?;
            }
            let before = self.deflate.total_in();
            let status = self
                .deflate
                .compress_vec(input, &mut self.buf, flush)
                .map_err(io::Error::other)?;
            input = &input[(self.deflate.total_in() - before) as usize..];
            let done = match flush {
                FlushCompress::Finish => status == Status::StreamEnd,
                _ => input.is_empty(),
            };
            if done {
                return Ok(());
            }
        }
    }

    fn push_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.buf.len() + bytes.len() > self.buf.capacity() {
            self.flush_buf()?;
        }
        if bytes.len() > self.buf.capacity() {
            self.out.write_all(bytes)?;
            self.written += bytes.len() as u64;
        } else {
            self.buf.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.written += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

impl<W: Write> Write for IndexedGzWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.take(buf)?;
        Ok(buf.len())
    }

    /// Hands the bytes compressed so far to the inner writer and flushes
    /// it. (The deflate stream is not flushed: members end only at their
    /// boundaries, so that the file is the same however it was written.)
    fn flush(&mut self) -> io::Result<()> {
        self.flush_buf()?;
        self.out.flush()
    }
}

impl Sql {
    /// A whole line (with its line end, unless it is the dump's last)
    /// outside table data, as the plain reader takes it: table data starts
    /// after it, or not.
    fn line(&mut self, raw: &[u8]) -> Line {
        let terminated = raw.ends_with(b"\n");
        let body = raw.strip_suffix(b"\n").unwrap_or(raw);
        let ends_in_cr = body.ends_with(b"\r");
        let crlf = *self.crlf.get_or_insert(ends_in_cr && terminated);
        let line = if crlf && ends_in_cr {
            &body[..body.len() - 1]
        } else {
            body
        };
        if self.pending.is_none() && self.quotes.is_normal() {
            match classify(line) {
                LineStart::Blank | LineStart::Comment | LineStart::MetaCommand => {
                    return Line::Other;
                }
                LineStart::Copy => {
                    return match copy_table(raw) {
                        Some(name) => Line::CopyStart(name.to_vec()),
                        None => {
                            // COPY data the writer cannot name: it does
                            // not follow it, nor the SQL after it.
                            self.lost = true;
                            Line::Other
                        }
                    };
                }
                LineStart::Statement(StatementKind::Copy) => {
                    // A COPY over several lines (a name with a line end):
                    // its table data would be followed as SQL, so the
                    // writer follows nothing after it, as above.
                    self.lost = true;
                    return Line::Other;
                }
                LineStart::Statement(kind) => self.pending = Some(kind),
            }
        }
        let ends = self.quotes.scan_line(line, !self.strings_not_standard);
        if self.pending == Some(StatementKind::Other)
            && line.starts_with(b"SET standard_conforming_strings")
        {
            self.strings_not_standard = line.ends_with(b"off;");
        }
        if ends {
            self.pending = None;
        }
        Line::Other
    }
}

/// A piece of [`write_as_told`]: its bytes, the table whose rows the index
/// says it holds, and whether it says they end with it.
#[doc(hidden)]
pub type ToldPiece<'a> = (&'a [u8], Option<&'a [u8]>, bool);

/// An indexed `.sql.gz` of `pieces` joined, each piece a member of its own
/// (or several, past [`MAX_MEMBER_LEN`]) labelled as the caller says: the
/// table whose rows it holds, and whether they end with it. For tests and
/// fuzzing: a file as anyone may write one, cut and labelled anywhere, that
/// the readers must read as they read the same bytes streamed. (The index
/// is well formed only where the labels follow the rules of
/// docs/indexed-backups.md; otherwise the readers find no index.)
#[doc(hidden)]
pub fn write_as_told<W: Write>(out: W, pieces: &[ToldPiece]) -> io::Result<W> {
    let mut w = IndexedGzWriter::new(out, Compression::fast());
    w.scan.sql.lost = true;
    for &(bytes, table, data_end) in pieces {
        w.close_member()?;
        w.table = table.map(<[u8]>::to_vec);
        w.feed(bytes)?;
        if let Some(open) = &mut w.open {
            open.data_end = data_end;
        }
    }
    w.close_member()?;
    w.table = None;
    w.finish()
}

/// The table a `COPY ... FROM stdin;` line (with its line end) names, as
/// written: `COPY ` then a name of one or more parts, each bare or in
/// double quotes (`""` for a quote), joined by dots, then a space.
pub(crate) fn copy_table(line: &[u8]) -> Option<&[u8]> {
    let body = line.strip_suffix(b"\n")?;
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    if !body.ends_with(b" FROM stdin;") {
        return None;
    }
    let rest = body.strip_prefix(b"COPY ")?;
    let end = name_end(rest)?;
    if end > MAX_NAME {
        return None;
    }
    // Only a name the readers can read again gets members of its own.
    parse_table_name(&rest[..end])?;
    Some(&rest[..end])
}

/// The length of the qualified name at the start of `s` (up to the space
/// after it; a space inside quotes is part of the name).
fn name_end(s: &[u8]) -> Option<usize> {
    let mut in_quotes = false;
    for (i, &c) in s.iter().enumerate() {
        match c {
            b'"' => in_quotes = !in_quotes,
            b' ' if !in_quotes => return (i > 0).then_some(i),
            _ => {}
        }
    }
    None
}

/// The index as the index members carry it: one entry per member.
fn index_payload(members: &[Member]) -> Vec<u8> {
    let names: usize = members
        .iter()
        .map(|m| m.table.as_ref().map_or(0, Vec::len))
        .sum();
    let mut p = Vec::with_capacity(members.len() * ENTRY_FIXED_LEN + names);
    for m in members {
        p.extend_from_slice(&m.uncompressed_offset.to_le_bytes());
        p.extend_from_slice(&m.uncompressed_len.to_le_bytes());
        p.extend_from_slice(&m.compressed_offset.to_le_bytes());
        p.extend_from_slice(&m.compressed_len.to_le_bytes());
        p.extend_from_slice(&m.newlines.to_le_bytes());
        p.push(m.flags());
        let name = m.table.as_deref().unwrap_or_default();
        p.extend_from_slice(&(name.len() as u16).to_le_bytes());
        p.extend_from_slice(name);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_lines_name_their_table_byte_exact() {
        assert_eq!(
            copy_table(b"COPY public.users (id, username) FROM stdin;\n"),
            Some(&b"public.users"[..])
        );
        assert_eq!(
            copy_table(b"COPY \"my schema\".\"Task \"\"Texts\"\"\" (id) FROM stdin;\r\n"),
            Some(&b"\"my schema\".\"Task \"\"Texts\"\"\""[..])
        );
        assert_eq!(
            copy_table(b"COPY public.empty  FROM stdin;\n"),
            Some(&b"public.empty"[..])
        );
        assert_eq!(copy_table(b"COPY public.t (id) TO stdout;\n"), None);
        assert_eq!(copy_table(b"COPY public.t (id) FROM stdin;"), None);
    }
}
