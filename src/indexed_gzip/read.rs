//! Reading an indexed `.sql.gz`: finding and checking its index
//! ([`Index::read`]), and inflating its members in order on the calling
//! thread ([`Inflate`]) or on worker threads ahead of the reader
//! ([`ParallelInflate`], which also counts the line ends of members that are
//! only rows, for a reader that passes over them). An index that does not
//! agree with the file is no index (`None`: the file is streamed); a member
//! that does not inflate to its bytes is damage. From a seekable source
//! whose every byte is the writer's (an age-encrypted copy), the index is
//! trusted with the rows a reader passes over, which are not read at all
//! ([`SeekInflate`]); [`check_labels`] is the check that a file's index
//! tells the truth before it is sealed so. [`Index::plan`] and
//! [`Positions`] (some members only) serve tools and tests.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use flate2::Crc;
use flate2::bufread::GzDecoder;

use crate::sql_scan::parse_table_name;
use crate::stream::{CountedRows, DumpRead};

mod labels;
mod parallel;
mod seekable;
pub use labels::{Labels, check_labels};
pub use parallel::{Job, ParallelInflate};
pub use seekable::SeekInflate;

use super::{
    EMPTY_DEFLATE, ENTRY_FIXED_LEN, FLAG_DATA_END, FLAG_TABLE_DATA, FOOTER_DATA_LEN, FOOTER_LEN,
    KIND_FOOTER, KIND_INDEX, MAX_MEMBER_LEN, Member, SUBFIELD_ID, VERSION,
};

/// An index larger than this is not believed (it would list over a million
/// members: a dump of 16 TiB).
const MAX_INDEX_LEN: u64 = 64 << 20;
/// The smallest gzip member: header 10, a deflate stream 2, trailer 8.
const MIN_MEMBER_LEN: u64 = 20;

/// The members of an indexed `.sql.gz`, checked against the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// Every data member, in file order (the index members after them are
    /// not listed).
    pub members: Vec<Member>,
    /// The length of the whole inflated dump.
    pub dump_len: u64,
}

impl Index {
    /// The index of `file`, if it has one that agrees with it: the footer
    /// at its end, the index's checksum, the members one after another from
    /// byte 0 up to the index, each with a gzip header where the index says
    /// it starts and, in its trailer, the length the index gives it.
    /// `Ok(None)` for a file without an index or with one that does not
    /// agree (read it as a stream); `Err` only for a failed read.
    pub fn read(file: &File) -> io::Result<Option<Index>> {
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Ok(None);
        }
        let Some(index) = Index::find(|offset, len| read_at(file, offset, len), meta.len())? else {
            return Ok(None);
        };
        for m in &index.members {
            if !member_agrees(file, m)? {
                return Ok(None);
            }
        }
        Ok(Some(index))
    }

    /// The index of a file of `len` bytes read through `source`, if it has
    /// one: its footer, index members and checksum, and the entries
    /// following one another. The members themselves are not looked at
    /// (each is checked when it is inflated): for a source read by ranges,
    /// where looking costs a request.
    pub fn read_seekable<S: Read + Seek>(source: &mut S, len: u64) -> io::Result<Option<Index>> {
        Index::find(
            |offset, n| {
                source.seek(SeekFrom::Start(offset))?;
                let mut buf = Vec::with_capacity(n);
                source.by_ref().take(n as u64).read_to_end(&mut buf)?;
                Ok(buf)
            },
            len,
        )
    }

    /// The footer at the end of a file of `file_len` bytes, the index it
    /// points to and its entries, read with `read_at(offset, len)`.
    fn find(
        mut read_at: impl FnMut(u64, usize) -> io::Result<Vec<u8>>,
        file_len: u64,
    ) -> io::Result<Option<Index>> {
        if file_len < FOOTER_LEN as u64 {
            return Ok(None);
        }
        let footer = read_at(file_len - FOOTER_LEN as u64, FOOTER_LEN)?;
        let Some((data, FOOTER_LEN)) = empty_member(&footer, KIND_FOOTER) else {
            return Ok(None);
        };
        let Ok(data) = <[u8; FOOTER_DATA_LEN]>::try_from(data) else {
            return Ok(None);
        };
        let u64_at = |at: usize| u64::from_le_bytes(data[at..at + 8].try_into().unwrap());
        let u32_at = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
        let (index_offset, index_len, dump_len) = (u64_at(0), u64_at(8), u64_at(16));
        let (member_count, checksum) = (u32_at(24), u32_at(28));
        if index_len > MAX_INDEX_LEN
            || index_offset.checked_add(index_len) != Some(file_len - FOOTER_LEN as u64)
        {
            return Ok(None);
        }
        let region = read_at(index_offset, index_len as usize)?;
        let mut payload = Vec::with_capacity(region.len());
        let mut at = 0;
        while at < region.len() {
            let Some((chunk, len)) = empty_member(&region[at..], KIND_INDEX) else {
                return Ok(None);
            };
            payload.extend_from_slice(chunk);
            at += len;
        }
        let mut crc = Crc::new();
        crc.update(&payload);
        if at == 0 || crc.sum() != checksum {
            return Ok(None);
        }
        let Some(members) = parse_entries(&payload, member_count, index_offset, dump_len) else {
            return Ok(None);
        };
        Ok(Some(Index { members, dump_len }))
    }

    /// The members to inflate to read the tables that `wanted` says yes to
    /// (it is asked with each table's name as its `COPY` line writes it; see
    /// [`crate::sql_scan::parse_table_name`]): every member except the rows of other tables.
    ///
    /// Inflated and joined in order, the chosen members are the dump with
    /// the rows of the other tables cut out, and nothing else changed: the
    /// opening comments and settings, the schema, every `COPY` line with
    /// its `\.` line (so every table is still there, the others with no
    /// rows), the `\connect` lines of a pg_dumpall script, the wanted
    /// tables' rows and the closing `-- PostgreSQL database dump complete`.
    /// A plain-SQL reader finds the same rows of the wanted tables, the
    /// same tables and the same completeness as in the whole dump. Rows
    /// whose `\.` line never came (a dump cut inside a table's data) are
    /// kept whatever their table, so that the cut is seen.
    pub fn plan(&self, mut wanted: impl FnMut(&[u8]) -> bool) -> Vec<Member> {
        let mut chosen = Vec::new();
        let mut i = 0;
        while i < self.members.len() {
            let Some(table) = &self.members[i].table else {
                chosen.push(self.members[i].clone());
                i += 1;
                continue;
            };
            let mut end = i;
            while end < self.members.len()
                && self.members[end].table.as_ref() == Some(table)
                && !(end > i && self.members[end - 1].data_end)
            {
                end += 1;
            }
            let whole = self.members[end - 1].data_end;
            if !whole || wanted(table) {
                chosen.extend_from_slice(&self.members[i..end]);
            }
            i = end;
        }
        chosen
    }

    /// The distinct tables with data, in dump order.
    pub fn tables(&self) -> Vec<&[u8]> {
        let mut tables: Vec<&[u8]> = Vec::new();
        for t in self.members.iter().filter_map(|m| m.table.as_deref()) {
            if tables.last() != Some(&t) {
                tables.push(t);
            }
        }
        tables
    }
}

/// `len` bytes of `file` from `offset` (fewer where the file ends).
fn read_at(file: &File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; len];
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

/// At the start of `bytes`, an empty member carrying one "TR" subfield of
/// this version and `kind`: its data and the member's length.
fn empty_member(bytes: &[u8], kind: u8) -> Option<(&[u8], usize)> {
    if bytes.len() < 12 || bytes[..4] != [0x1f, 0x8b, 8, 0x04] {
        return None;
    }
    let xlen = u16::from_le_bytes([bytes[10], bytes[11]]) as usize;
    let extra = bytes.get(12..12 + xlen)?;
    if xlen < 6
        || extra[..2] != SUBFIELD_ID
        || u16::from_le_bytes([extra[2], extra[3]]) as usize != xlen - 4
        || extra[4] != VERSION
        || extra[5] != kind
    {
        return None;
    }
    let end = 12 + xlen;
    let tail = bytes.get(end..end + 10)?;
    if tail[..2] != EMPTY_DEFLATE || tail[2..] != [0; 8] {
        return None;
    }
    Some((&extra[6..], end + 10))
}

/// The entries of the index, if they describe members that follow one
/// another from the file's first byte to `index_offset`, and the dump's
/// first byte to `dump_len`.
fn parse_entries(p: &[u8], count: u32, index_offset: u64, dump_len: u64) -> Option<Vec<Member>> {
    let mut members = Vec::with_capacity((count as usize).min(p.len() / ENTRY_FIXED_LEN));
    let (mut u, mut c, mut at) = (0u64, 0u64, 0usize);
    let mut in_table_data: Option<&[u8]> = None;
    while at < p.len() {
        let fixed = p.get(at..at + ENTRY_FIXED_LEN)?;
        let u64_at = |i: usize| u64::from_le_bytes(fixed[i..i + 8].try_into().unwrap());
        let member = Member {
            uncompressed_offset: u64_at(0),
            uncompressed_len: u64_at(8),
            compressed_offset: u64_at(16),
            compressed_len: u64_at(24),
            newlines: u64_at(32),
            table: None,
            data_end: false,
        };
        let flags = fixed[40];
        let name_len = u16::from_le_bytes([fixed[41], fixed[42]]) as usize;
        let name = p.get(at + ENTRY_FIXED_LEN..at + ENTRY_FIXED_LEN + name_len)?;
        at += ENTRY_FIXED_LEN + name_len;
        let table_data = flags & FLAG_TABLE_DATA != 0;
        if flags & !(FLAG_TABLE_DATA | FLAG_DATA_END) != 0
            || (flags & FLAG_DATA_END != 0 && !table_data)
            || table_data != (name_len > 0)
            || (table_data && parse_table_name(name).is_none())
            || member.uncompressed_offset != u
            || member.compressed_offset != c
            || member.uncompressed_len == 0
            || member.uncompressed_len > MAX_MEMBER_LEN
            || member.compressed_len < MIN_MEMBER_LEN
            || member.newlines > member.uncompressed_len
        {
            return None;
        }
        // A table's data goes on only in a member of the same table.
        if let Some(open) = in_table_data
            && (!table_data || name != open)
        {
            return None;
        }
        in_table_data = (table_data && flags & FLAG_DATA_END == 0).then_some(name);
        u = u.checked_add(member.uncompressed_len)?;
        c = c.checked_add(member.compressed_len)?;
        members.push(Member {
            table: table_data.then(|| name.to_vec()),
            data_end: flags & FLAG_DATA_END != 0,
            ..member
        });
    }
    (members.len() == count as usize && u == dump_len && c == index_offset).then_some(members)
}

/// Whether `m` is a gzip member where the index says, with the length it
/// says in its trailer.
fn member_agrees(file: &File, m: &Member) -> io::Result<bool> {
    let head = read_at(file, m.compressed_offset, 10)?;
    let isize_at = m.compressed_offset + m.compressed_len - 4;
    let isize = read_at(file, isize_at, 4)?;
    Ok(head.len() == 10
        && head[..3] == [0x1f, 0x8b, 8]
        && head[3] & 0xe0 == 0
        && isize.len() == 4
        && u32::from_le_bytes(isize[..].try_into().unwrap()) == m.uncompressed_len as u32)
}

/// Where the bytes of chosen members, joined as [`Inflate`] gives them, are
/// in the whole dump: so that a reader of the chosen members can say where
/// something is (a cut row, a bad line) in the dump's own bytes and lines,
/// as a reader of the whole dump does. Exact because members are cut out
/// only at line boundaries.
#[derive(Debug, Clone)]
pub struct Positions {
    /// One per chosen member, in reading order.
    starts: Vec<Start>,
}

#[derive(Debug, Clone, Copy)]
struct Start {
    /// Where the member starts in the joined bytes.
    joined: u64,
    /// Line ends before it in the joined bytes.
    joined_newlines: u64,
    /// Where it starts in the dump.
    dump: u64,
    /// Line ends before it in the dump.
    dump_newlines: u64,
}

impl Positions {
    /// For `chosen`, members of `index` in the order they are read (as
    /// [`Index::plan`] gives them).
    pub fn new(index: &Index, chosen: &[Member]) -> Positions {
        let mut newlines_before = Vec::with_capacity(index.members.len());
        let mut total = 0;
        for m in &index.members {
            newlines_before.push(total);
            total += m.newlines;
        }
        let (mut joined, mut joined_newlines) = (0, 0);
        let mut starts = Vec::with_capacity(chosen.len());
        for m in chosen {
            let i = index
                .members
                .partition_point(|x| x.uncompressed_offset < m.uncompressed_offset);
            starts.push(Start {
                joined,
                joined_newlines,
                dump: m.uncompressed_offset,
                dump_newlines: newlines_before.get(i).copied().unwrap_or(total),
            });
            joined += m.uncompressed_len;
            joined_newlines += m.newlines;
        }
        Positions { starts }
    }

    /// The offset in the dump of byte `offset` of the joined members.
    pub fn dump_offset(&self, offset: u64) -> u64 {
        match self
            .starts
            .partition_point(|s| s.joined <= offset)
            .checked_sub(1)
        {
            Some(k) => self.starts[k].dump + (offset - self.starts[k].joined),
            None => offset,
        }
    }

    /// The line number (from 1) in the dump of line `line` (from 1) of the
    /// joined members.
    pub fn dump_line(&self, line: u64) -> u64 {
        let before = line.saturating_sub(1);
        match self
            .starts
            .partition_point(|s| s.joined_newlines <= before)
            .checked_sub(1)
        {
            Some(k) => self.starts[k].dump_newlines + (before - self.starts[k].joined_newlines) + 1,
            None => line,
        }
    }
}

/// A file's bytes from one offset to another, read at their position (the
/// file is shared by workers).
struct Span {
    file: Arc<File>,
    pos: u64,
    end: u64,
}

impl Read for Span {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min((self.end - self.pos) as usize);
        if n == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..n], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// A failure of the source under the compressed bytes (the bucket, the
/// decryption), which a member reader passes on as it is rather than as
/// damaged gzip data.
#[derive(Debug)]
pub struct SourceFailed(pub String);

impl std::fmt::Display for SourceFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SourceFailed {}

/// One member, inflated as a stream, that fails unless it gives exactly
/// its bytes (CRC-32 and length checked) and fills exactly its span.
struct MemberReader<R = Span> {
    member: Member,
    decoder: GzDecoder<BufReader<R>>,
    produced: u64,
}

impl MemberReader {
    fn new(file: Arc<File>, member: Member) -> MemberReader {
        let span = Span {
            file,
            pos: member.compressed_offset,
            end: member.compressed_offset + member.compressed_len,
        };
        MemberReader::over(span, member)
    }
}

impl<R: Read> MemberReader<R> {
    /// `member` inflated from `compressed`, its bytes in the file from its
    /// first to its last.
    fn over(compressed: R, member: Member) -> MemberReader<R> {
        let buffer = (member.compressed_len as usize).clamp(64, 256 * 1024);
        MemberReader {
            decoder: GzDecoder::new(BufReader::with_capacity(buffer, compressed)),
            member,
            produced: 0,
        }
    }

    fn damaged(&self, why: impl std::fmt::Display) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the gzip data is damaged after {} decompressed bytes (in the member at byte {} \
                 of the file): {why}",
                self.member.uncompressed_offset + self.produced,
                self.member.compressed_offset
            ),
        )
    }
}

impl<R: Read> Read for MemberReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.decoder.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            // The source's own failure (a copy whose reading failed), said
            // as it is: not the gzip data's.
            Err(e) if e.get_ref().is_some_and(|inner| inner.is::<SourceFailed>()) => {
                return Err(e);
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(self.damaged("the member is cut short"));
            }
            Err(e) => return Err(self.damaged(e)),
        };
        self.produced += n as u64;
        if self.produced > self.member.uncompressed_len {
            return Err(self.damaged(format!(
                "the member holds more than its {} bytes",
                self.member.uncompressed_len
            )));
        }
        if n == 0 {
            if self.produced != self.member.uncompressed_len {
                return Err(self.damaged(format!(
                    "the member holds {} bytes, not {}",
                    self.produced, self.member.uncompressed_len
                )));
            }
            let rest = self.decoder.get_mut();
            let left = rest.fill_buf()?.len() as u64;
            if left > 0 {
                return Err(self.damaged(format!("{left} bytes follow the member's end")));
            }
        }
        Ok(n)
    }
}

/// The chosen members of an indexed file, inflated in order on the calling
/// thread: the memory of one decoder whatever the members' sizes.
pub struct Inflate {
    file: Arc<File>,
    members: std::vec::IntoIter<Member>,
    current: Option<MemberReader>,
}

impl Inflate {
    /// `members`: from [`Index::plan`], or any of [`Index::members`] in any
    /// order (say, the users table's first).
    pub fn new(file: File, members: Vec<Member>) -> Inflate {
        Inflate {
            file: Arc::new(file),
            members: members.into_iter(),
            current: None,
        }
    }
}

impl Read for Inflate {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let reader = match &mut self.current {
                Some(r) => r,
                None => match self.members.next() {
                    Some(m) => self
                        .current
                        .insert(MemberReader::new(Arc::clone(&self.file), m)),
                    None => return Ok(0),
                },
            };
            match reader.read(buf)? {
                0 => self.current = None,
                n => return Ok(n),
            }
        }
    }
}
