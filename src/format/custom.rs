//! `pg_dump -Fc` custom archives, and the archive header and TOC that the
//! tar (`-Ft`) and directory (`-Fd`) formats share with them.
//!
//! An archive starts with a header (`PGDMP`, the archive version, integer
//! sizes, format, compression, the dump's time, database name and the two
//! versions) and a table of contents: one entry per dumped object, each with
//! its SQL and, for table data, the `COPY ... FROM stdin;` statement that
//! names its columns. Integers are a sign byte and then `intSize` bytes,
//! least significant first; strings an integer length (-1 for none) and
//! their bytes.
//!
//! In a custom archive the data follows the TOC as blocks: a type byte
//! (1 data, 3 large objects), the entry's dump id, then chunks (a length and
//! that many bytes, length 0 ends the block). The chunks of one block are
//! one compressed stream: zlib (not gzip) for gzip, an LZ4 frame, a zstd
//! frame, or the COPY text itself. Written to a file, the TOC says where each
//! block starts; written to a pipe it does not, and the blocks are found by
//! reading on. Usually the blocks are read in file order, in one pass, and
//! every table's rows are counted (`inspect` wants them). When the visitor
//! needs no counts and the archive is a file whose TOC has every offset,
//! the reader seeks instead: it decompresses only the tables the visitor
//! wants and passes over the others' chunks by their lengths, which still
//! proves every block is whole.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};

use super::lines::LineReader;
use super::plain::{self, parse_copy_header};
use super::{Interest, Meta, TableName, Visitor, ddl, frames};

/// The archive versions this reader knows: 1.10 (PostgreSQL 9.0) to 1.16
/// (PostgreSQL 17 and 18).
const OLDEST: (u8, u8) = (1, 10);
const NEWEST: (u8, u8) = (1, 16);

/// The archive formats' codes in the header.
pub(crate) const FORMAT_CUSTOM: u8 = 1;
pub(crate) const FORMAT_TAR: u8 = 3;
pub(crate) const FORMAT_DIRECTORY: u8 = 5;

const BLOCK_DATA: u8 = 1;
const BLOCK_BLOBS: u8 = 3;

const OFFSET_NOT_SET: u8 = 1;
const OFFSET_SET: u8 = 2;
const OFFSET_NO_DATA: u8 = 3;

/// No string in a TOC is longer than PostgreSQL's largest value.
const MAX_STRING: i64 = 1 << 30;

pub fn read(
    input: Box<dyn Read + Send>,
    seekable: Option<&Path>,
    visitor: &mut dyn Visitor,
) -> Result<()> {
    let mut r = ArchiveReader::new(BufReader::with_capacity(256 * 1024, input));
    let toc = read_toc(&mut r, FORMAT_CUSTOM, visitor)?;
    let pass_over = !visitor.counts_skipped_rows();
    let Some(path) = seekable.filter(|_| pass_over) else {
        // A stream: read on; the chunks of tables nobody needs are still
        // read (there is no seeking in a pipe) but not decompressed.
        return read_in_order(&mut r, &toc, visitor, pass_over, &mut |r, id| {
            Chunks::new(r, id).drain()
        });
    };
    // A file and no counts wanted: decompress only the tables needed and
    // seek over the others' chunks.
    let data_start = r.position();
    drop(r);
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let end = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    let mut r = ArchiveReader::new(BufReader::with_capacity(256 * 1024, file));
    r.int_size = toc.header.int_size;
    r.off_size = toc.header.off_size;
    if toc.every_data_offset_known() {
        read_by_offsets(&mut r, end, &toc, visitor)
    } else {
        // Written through a pipe: no offsets, but the blocks can still be
        // found in order by their chunks' lengths.
        r.seek_to(data_start)?;
        read_in_order(&mut r, &toc, visitor, true, &mut |r, id| {
            r.pass_over_chunks(id, end)
        })
    }
}

/// Reads the data blocks one after the other from where `r` stands (just
/// after the TOC). With `pass_over`, tables the visitor skips are not
/// decompressed: `pass` moves past their chunks.
fn read_in_order<R: Read>(
    r: &mut ArchiveReader<R>,
    toc: &Toc,
    visitor: &mut dyn Visitor,
    pass_over: bool,
    pass: &mut dyn FnMut(&mut ArchiveReader<R>, i64) -> Result<()>,
) -> Result<()> {
    let index: HashMap<i64, usize> = toc
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.dump_id, i))
        .collect();
    let mut seen = vec![false; toc.entries.len()];
    let mut blocks = 0u64;
    // Where each dump id's block starts.
    let mut block_at: HashMap<i64, u64> = HashMap::new();
    loop {
        let at = r.position();
        let Some(kind) = r.try_read_byte()? else {
            break;
        };
        if kind == 0 {
            // No block starts with 0: this is the sign of the entry count of
            // the TOC that pg_dump 16 and later append to an archive written
            // to standard output that is a file (see `read_appended_toc`).
            read_appended_toc(r, toc, &block_at, at).with_context(|| {
                format!(
                    "byte {at}: after {blocks} data blocks, neither a block nor a copy of the TOC"
                )
            })?;
            break;
        }
        let id = r.read_int("a data block's dump id")?;
        blocks += 1;
        block_at.insert(id, at);
        match kind {
            BLOCK_DATA => {
                let Some(&i) = index.get(&id) else {
                    bail!(
                        "byte {at}: a data block for dump id {id}, which the archive's TOC does not list: the archive is damaged"
                    );
                };
                if std::mem::replace(&mut seen[i], true) {
                    bail!(
                        "byte {at}: a second data block for TOC entry {id}: the archive is damaged"
                    );
                }
                let entry = &toc.entries[i];
                let mut read = false;
                if entry.is_table_data() {
                    let mut chunks = Chunks::new(r, id);
                    read = visit_data(
                        toc,
                        entry,
                        &mut chunks,
                        toc.header.compression.codec(),
                        visitor,
                        pass_over,
                    )
                    .with_context(|| format!("the data block at byte {at}"))?;
                    if read {
                        chunks.drain()?;
                    }
                }
                if !read {
                    pass(r, id)?;
                }
            }
            BLOCK_BLOBS => {
                if let Some(&i) = index.get(&id) {
                    seen[i] = true;
                }
                loop {
                    let oid = r.read_int("a large object's oid")?;
                    if oid == 0 {
                        break;
                    }
                    pass(r, id)?;
                }
            }
            other => bail!(
                "byte {at}: unknown data block type {other} (after {} blocks): the archive is damaged or not a pg_dump archive",
                blocks - 1
            ),
        }
    }
    if let Some(missing) = toc
        .entries
        .iter()
        .zip(&seen)
        .find(|(e, seen)| e.is_table_data() && e.has_data() && !**seen)
    {
        bail!(
            "the archive ends at byte {} before the data of {} (TOC entry {}): it is truncated",
            r.position(),
            missing.0.table(),
            missing.0.dump_id
        );
    }
    visitor.meta(Meta::Complete);
    Ok(())
}

/// Reads the copy of the TOC that pg_dump 16 and later append after the data
/// blocks when the archive goes to standard output redirected to a file
/// (`pg_dump -Fc db > x.dump`). pg_dump means to rewrite the TOC in place
/// with the data offsets filled in, as it does for `-f`; but it has opened
/// its standard output for appending as well (for plain text), which puts
/// the descriptor in append mode, so the rewritten TOC lands at the end.
/// pg_restore never reads it. Here it must be that TOC (the same entries in
/// the same order, offsets pointing at the blocks just read) and end the
/// file: anything else is damage. `at` is where its first byte, the
/// entry count's sign, was read.
fn read_appended_toc<R: Read>(
    r: &mut ArchiveReader<R>,
    toc: &Toc,
    block_at: &HashMap<i64, u64>,
    at: u64,
) -> Result<()> {
    let count = r.read_int_after_sign(at, 0, "the number of TOC entries")?;
    if count != toc.entries.len() as i64 {
        bail!(
            "it would be a TOC of {count} entries, but the archive's has {}: the archive is damaged or not a pg_dump archive",
            toc.entries.len()
        );
    }
    for (n, first) in toc.entries.iter().enumerate() {
        let entry_at = r.position();
        let entry = read_entry(r, &toc.header).with_context(|| {
            format!(
                "TOC entry {} of {count} of the TOC copy (at byte {entry_at})",
                n + 1
            )
        })?;
        if entry.dump_id != first.dump_id || entry.desc != first.desc || entry.tag != first.tag {
            bail!(
                "byte {entry_at}: the TOC copy's entry {} is {} {:?} {:?} where the archive's TOC has {} {:?} {:?}: the archive is damaged",
                n + 1,
                entry.dump_id,
                entry.desc,
                entry.tag,
                first.dump_id,
                first.desc,
                first.tag
            );
        }
        if let DataPlace::Offset {
            flag: OFFSET_SET,
            offset,
        } = entry.place
            && block_at.get(&entry.dump_id) != Some(&offset)
        {
            bail!(
                "byte {entry_at}: the TOC copy puts the data of entry {} at byte {offset}, where no block of it starts: the archive is damaged",
                entry.dump_id
            );
        }
    }
    if r.try_read_byte()?.is_some() {
        bail!(
            "byte {}: more bytes after the TOC copy that ends the archive: the archive is damaged",
            r.position() - 1
        );
    }
    Ok(())
}

/// How the data of one table is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    None,
    /// A zlib stream (the data blocks of a custom archive).
    Zlib,
    /// gzip members (the data files of a directory dump).
    Gzip,
    Lz4,
    Zstd,
}

/// The archive's compression, as its header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Lz4,
    Zstd,
}

impl Compression {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// How a custom archive's data blocks hold data compressed this way.
    fn codec(self) -> Codec {
        match self {
            Compression::None => Codec::None,
            Compression::Gzip => Codec::Zlib,
            Compression::Lz4 => Codec::Lz4,
            Compression::Zstd => Codec::Zstd,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub major: u8,
    pub minor: u8,
    pub rev: u8,
    pub format: u8,
    /// Bytes in the archive's integers and offsets.
    pub int_size: usize,
    pub off_size: usize,
    pub compression: Compression,
    pub dbname: String,
    pub server_version: Option<String>,
    pub pg_dump_version: Option<String>,
}

/// Where a TOC entry's data is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DataPlace {
    /// Custom archives: the offset flag and offset.
    Offset { flag: u8, offset: u64 },
    /// Tar and directory dumps: the data file's name, if any.
    File(Option<String>),
}

#[derive(Debug, Clone)]
pub(crate) struct TocEntry {
    pub dump_id: i64,
    pub had_dumper: bool,
    pub tag: String,
    pub desc: String,
    pub defn: String,
    pub copy_stmt: String,
    pub namespace: String,
    pub place: DataPlace,
}

impl TocEntry {
    pub(crate) fn is_table_data(&self) -> bool {
        self.desc == "TABLE DATA"
    }

    /// Whether pg_dump wrote data for this entry.
    pub(crate) fn has_data(&self) -> bool {
        self.had_dumper
            && match &self.place {
                DataPlace::Offset { flag, .. } => *flag != OFFSET_NO_DATA,
                DataPlace::File(f) => f.is_some(),
            }
    }

    /// The table, from the COPY statement (quoted exactly) or the entry.
    pub(crate) fn table(&self) -> TableName {
        match parse_copy_header(&self.copy_stmt) {
            Ok((t, _)) => t,
            Err(_) => TableName::new(self.namespace.clone(), self.tag.clone()),
        }
    }
}

/// An archive's header and table of contents.
#[derive(Debug, Clone)]
pub(crate) struct Toc {
    pub header: Header,
    pub entries: Vec<TocEntry>,
    /// `standard_conforming_strings` at dump time (the STDSTRINGS entry).
    pub std_strings: bool,
}

impl Header {
    /// Reports the header's facts.
    fn report(&self, visitor: &mut dyn Visitor) {
        let h = self;
        if let Some(v) = &h.pg_dump_version {
            visitor.meta(Meta::PgDumpVersion(v.clone()));
        }
        if let Some(v) = &h.server_version {
            visitor.meta(Meta::ServerVersion(v.clone()));
        }
        let version = if h.rev == 0 {
            format!("{}.{}", h.major, h.minor)
        } else {
            format!("{}.{}-{}", h.major, h.minor, h.rev)
        };
        visitor.meta(Meta::ArchiveVersion(version));
        visitor.meta(Meta::DataCompression(h.compression.name().to_string()));
        if !h.dbname.is_empty() {
            visitor.meta(Meta::Database(h.dbname.clone()));
        }
    }
}

impl Toc {
    /// Whether the TOC says where every entry's data starts (an archive
    /// written to a file; one written to a pipe has no offsets).
    fn every_data_offset_known(&self) -> bool {
        self.entries
            .iter()
            .filter(|e| e.has_data())
            .all(|e| matches!(e.place, DataPlace::Offset { flag, .. } if flag == OFFSET_SET))
    }

    /// The CREATE TABLE of the table an entry's data belongs to, if the
    /// TOC has it (for data stored as INSERT statements).
    fn table_definition(&self, data: &TocEntry) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.desc == "TABLE" && e.tag == data.tag && e.namespace == data.namespace)
            .map(|e| e.defn.as_str())
    }
}

/// Reads an archive's integers and strings, counting bytes for messages.
pub(crate) struct ArchiveReader<R> {
    inner: R,
    pos: u64,
    int_size: usize,
    off_size: usize,
}

impl<R: Read> ArchiveReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        ArchiveReader {
            inner,
            pos: 0,
            int_size: 4,
            off_size: 8,
        }
    }

    pub(crate) fn position(&self) -> u64 {
        self.pos
    }

    fn read_exact(&mut self, buf: &mut [u8], what: &str) -> Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => bail!(
                    "the archive ends at byte {} inside {what}: it is truncated",
                    self.pos + filled as u64
                ),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(anyhow!(e).context(format!(
                        "cannot read the archive at byte {}",
                        self.pos + filled as u64
                    )));
                }
            }
        }
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn read_byte(&mut self, what: &str) -> Result<u8> {
        let mut b = [0u8];
        self.read_exact(&mut b, what)?;
        Ok(b[0])
    }

    /// One byte, or `None` at the end of the input.
    fn try_read_byte(&mut self) -> Result<Option<u8>> {
        let mut b = [0u8];
        loop {
            match self.inner.read(&mut b) {
                Ok(0) => return Ok(None),
                Ok(_) => {
                    self.pos += 1;
                    return Ok(Some(b[0]));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(
                        anyhow!(e).context(format!("cannot read the archive at byte {}", self.pos))
                    );
                }
            }
        }
    }

    pub(crate) fn read_int(&mut self, what: &str) -> Result<i64> {
        let at = self.pos;
        let sign = self.read_byte(what)?;
        self.read_int_after_sign(at, sign, what)
    }

    /// The rest of an integer whose sign byte, at byte `at`, was read.
    fn read_int_after_sign(&mut self, at: u64, sign: u8, what: &str) -> Result<i64> {
        let mut bytes = [0u8; 16];
        let n = self.int_size;
        self.read_exact(&mut bytes[..n], what)?;
        if bytes[8..].iter().any(|&b| b != 0) || bytes[7] & 0x80 != 0 {
            bail!("byte {at}: {what} is out of range: the archive is damaged");
        }
        let mut value = [0u8; 8];
        value.copy_from_slice(&bytes[..8]);
        let value = i64::from_le_bytes(value);
        Ok(if sign == 0 { value } else { -value })
    }

    fn read_bytes(&mut self, what: &str) -> Result<Option<Vec<u8>>> {
        let at = self.pos;
        let len = self.read_int(what)?;
        if len < 0 {
            return Ok(None);
        }
        if len > MAX_STRING {
            bail!("byte {at}: {what} claims {len} bytes: the archive is damaged");
        }
        // Grows with what is actually there, not with what the length claims.
        let mut out = Vec::new();
        let got = (&mut self.inner)
            .take(len as u64)
            .read_to_end(&mut out)
            .with_context(|| format!("cannot read the archive at byte {}", self.pos))?;
        self.pos += got as u64;
        if (got as i64) < len {
            bail!(
                "the archive ends at byte {} inside {what} (which claims {len} bytes from byte {at}): it is truncated",
                self.pos
            );
        }
        Ok(Some(out))
    }

    fn read_str(&mut self, what: &str) -> Result<Option<String>> {
        Ok(self.read_bytes(what)?.map(|b| {
            String::from_utf8(b)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
        }))
    }

    fn read_string(&mut self, what: &str) -> Result<String> {
        Ok(self.read_str(what)?.unwrap_or_default())
    }

    fn read_offset(&mut self) -> Result<DataPlace> {
        let flag = self.read_byte("a data offset")?;
        let mut bytes = [0u8; 16];
        let n = self.off_size;
        self.read_exact(&mut bytes[..n], "a data offset")?;
        let mut value = [0u8; 8];
        value.copy_from_slice(&bytes[..8]);
        Ok(DataPlace::Offset {
            flag,
            offset: u64::from_le_bytes(value),
        })
    }
}

impl<R: Read + Seek> ArchiveReader<BufReader<R>> {
    fn seek_to(&mut self, offset: u64) -> Result<()> {
        self.inner
            .seek(SeekFrom::Start(offset))
            .with_context(|| format!("cannot seek to byte {offset} of the archive"))?;
        self.pos = offset;
        Ok(())
    }

    /// Moves past the rest of a data block by its chunks' lengths, without
    /// reading their bytes; fails where the archive ends too soon.
    fn pass_over_chunks(&mut self, dump_id: i64, end: u64) -> Result<()> {
        loop {
            let at = self.pos;
            let len = self.read_int("a data chunk's length")?;
            if len < 0 {
                bail!(
                    "byte {at}: a data chunk of TOC entry {dump_id} claims length {len}: the archive is damaged"
                );
            }
            if len == 0 {
                return Ok(());
            }
            let len = len as u64;
            if self.pos + len > end {
                bail!(
                    "the archive ends at byte {end} inside a data chunk of TOC entry {dump_id} \
                     ({} bytes missing): it is truncated",
                    self.pos + len - end
                );
            }
            self.inner
                .seek_relative(len as i64)
                .with_context(|| format!("cannot seek in the archive at byte {}", self.pos))?;
            self.pos += len;
        }
    }
}

/// Reads the header and TOC of an archive whose format code must be
/// `expected_format`. (A directory dump's toc.dat says "tar", as the tar
/// format's does: both name their data files the same way.) The header's
/// facts go to `visitor` as soon as it is read, so that an archive damaged
/// in its TOC still says what it is.
pub(crate) fn read_toc<R: Read>(
    r: &mut ArchiveReader<R>,
    expected_format: u8,
    visitor: &mut dyn Visitor,
) -> Result<Toc> {
    let header = read_header(r, expected_format)?;
    header.report(visitor);
    let count = r.read_int("the number of TOC entries")?;
    if count < 0 {
        bail!("the archive's TOC claims {count} entries: the archive is damaged");
    }
    let mut entries = Vec::new();
    let mut std_strings = true;
    for n in 0..count {
        let at = r.position();
        let entry = read_entry(r, &header)
            .with_context(|| format!("TOC entry {} of {count} (at byte {at})", n + 1))?;
        if entry.desc == "STDSTRINGS" && entry.defn.contains("'off'") {
            std_strings = false;
        }
        entries.push(entry);
    }
    Ok(Toc {
        header,
        entries,
        std_strings,
    })
}

fn read_header<R: Read>(r: &mut ArchiveReader<R>, expected_format: u8) -> Result<Header> {
    let mut magic = [0u8; 5];
    r.read_exact(&mut magic, "the archive header")?;
    if &magic != b"PGDMP" {
        bail!("not a pg_dump archive: it does not start with PGDMP");
    }
    let major = r.read_byte("the archive header")?;
    let minor = r.read_byte("the archive header")?;
    let rev = r.read_byte("the archive header")?;
    let version = (major, minor);
    if version < OLDEST {
        bail!(
            "archive version {major}.{minor} (pg_dump before PostgreSQL 9.0) is too old to read; versions {}.{} to {}.{} are",
            OLDEST.0,
            OLDEST.1,
            NEWEST.0,
            NEWEST.1
        );
    }
    if version > NEWEST {
        bail!(
            "archive version {major}.{minor} is newer than this tool knows (up to {}.{}): a newer pg_dump wrote it",
            NEWEST.0,
            NEWEST.1
        );
    }
    let int_size = r.read_byte("the archive header")? as usize;
    let off_size = r.read_byte("the archive header")? as usize;
    if !(1..=8).contains(&int_size) || !(1..=8).contains(&off_size) {
        bail!(
            "the archive header claims {int_size}-byte integers and {off_size}-byte offsets: the archive is damaged"
        );
    }
    r.int_size = int_size;
    r.off_size = off_size;
    let format = r.read_byte("the archive header")?;
    let file_formats = [FORMAT_TAR, FORMAT_DIRECTORY];
    let fits = format == expected_format
        || (file_formats.contains(&format) && file_formats.contains(&expected_format));
    if !fits {
        bail!(
            "the archive header says format {} where {} was expected: the archive is damaged",
            format_name(format),
            format_name(expected_format)
        );
    }
    let compression = if version >= (1, 15) {
        match r.read_byte("the archive header")? {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Lz4,
            3 => Compression::Zstd,
            other => bail!(
                "the archive header names compression algorithm {other}, which pg_dump does not write"
            ),
        }
    } else {
        match r.read_int("the archive header's compression level")? {
            0 => Compression::None,
            _ => Compression::Gzip,
        }
    };
    for _ in 0..7 {
        r.read_int("the archive header's dump time")?;
    }
    let dbname = r.read_string("the database name")?;
    let server_version = r.read_str("the server version")?;
    let pg_dump_version = r.read_str("the pg_dump version")?;
    // The header's facts are reported even when the TOC after it is
    // damaged: strings that cannot be what pg_dump wrote mean the header
    // itself is.
    for (what, value) in [
        ("database name", Some(&dbname)),
        ("server version", server_version.as_ref()),
        ("pg_dump version", pg_dump_version.as_ref()),
    ] {
        if let Some(v) = value.filter(|v| v.len() > 255 || v.chars().any(char::is_control)) {
            bail!(
                "the archive header's {what} ({} bytes: {:?}) is not one pg_dump writes: the header is damaged",
                v.len(),
                crate::input::truncate_chars(v, 40)
            );
        }
    }
    Ok(Header {
        major,
        minor,
        rev,
        format,
        int_size,
        off_size,
        compression,
        dbname,
        server_version,
        pg_dump_version,
    })
}

fn format_name(code: u8) -> String {
    match code {
        FORMAT_CUSTOM => "custom".into(),
        FORMAT_TAR => "tar".into(),
        FORMAT_DIRECTORY => "directory".into(),
        other => format!("{other} (unknown)"),
    }
}

fn read_entry<R: Read>(r: &mut ArchiveReader<R>, h: &Header) -> Result<TocEntry> {
    let version = (h.major, h.minor);
    let dump_id = r.read_int("the dump id")?;
    if dump_id <= 0 {
        bail!("dump id {dump_id} is out of range: the archive is damaged");
    }
    let had_dumper = r.read_int("the data flag")? != 0;
    r.read_str("the table oid")?;
    r.read_str("the oid")?;
    let tag = r.read_string("the tag")?;
    let desc = r.read_string("the description")?;
    if version >= (1, 11) {
        r.read_int("the section")?;
    }
    let defn = r.read_string("the definition")?;
    r.read_str("the drop statement")?;
    let copy_stmt = r.read_string("the COPY statement")?;
    let namespace = r.read_string("the schema")?;
    r.read_str("the tablespace")?;
    if version >= (1, 14) {
        r.read_str("the table access method")?;
    }
    if version >= (1, 16) {
        r.read_int("the relkind")?;
    }
    r.read_str("the owner")?;
    r.read_str("the WITH OIDS flag")?;
    // Dependencies: strings up to a missing one.
    let mut deps = 0u64;
    while r.read_str("a dependency")?.is_some() {
        deps += 1;
        if deps > 1 << 24 {
            bail!("more than {deps} dependencies: the archive is damaged");
        }
    }
    let place = match h.format {
        FORMAT_CUSTOM => r.read_offset()?,
        _ => DataPlace::File(r.read_str("the data file name")?.filter(|f| !f.is_empty())),
    };
    if let DataPlace::Offset { flag, .. } = place
        && !matches!(flag, OFFSET_NOT_SET | OFFSET_SET | OFFSET_NO_DATA)
    {
        bail!("data offset flag {flag} is not one pg_dump writes: the archive is damaged");
    }
    Ok(TocEntry {
        dump_id,
        had_dumper,
        tag,
        desc,
        defn,
        copy_stmt,
        namespace,
        place,
    })
}

/// The bytes of one data block's chunks, up to the zero length that ends it.
pub(crate) struct Chunks<'a, R> {
    r: &'a mut ArchiveReader<R>,
    dump_id: i64,
    left: u64,
    done: bool,
}

impl<'a, R: Read> Chunks<'a, R> {
    fn new(r: &'a mut ArchiveReader<R>, dump_id: i64) -> Self {
        Chunks {
            r,
            dump_id,
            left: 0,
            done: false,
        }
    }

    /// Reads (and drops) the rest of the block.
    fn drain(&mut self) -> Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match self.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(anyhow!("{e}")),
            }
        }
    }
}

impl<R: Read> Read for Chunks<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.left == 0 {
            if self.done || buf.is_empty() {
                return Ok(0);
            }
            let at = self.r.pos;
            let len = self
                .r
                .read_int("a data chunk's length")
                .map_err(|e| io::Error::new(io::ErrorKind::UnexpectedEof, format!("{e:#}")))?;
            if len < 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "byte {at}: a data chunk of TOC entry {} claims length {len}: the archive is damaged",
                        self.dump_id
                    ),
                ));
            }
            if len == 0 {
                self.done = true;
                return Ok(0);
            }
            self.left = len as u64;
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = loop {
            match self.r.inner.read(&mut buf[..want]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the archive ends at byte {} inside a data chunk of TOC entry {} ({} bytes missing): it is truncated",
                    self.r.pos, self.dump_id, self.left
                ),
            ));
        }
        self.r.pos += n as u64;
        self.left -= n as u64;
        Ok(n)
    }
}

/// `data` decompressed as `codec` says. Data of no bytes at all is
/// taken as an empty table whatever the codec.
pub(crate) fn decoder<'a>(data: &'a mut dyn Read, codec: Codec) -> Result<Box<dyn Read + 'a>> {
    if codec == Codec::None {
        return Ok(Box::new(data));
    }
    let mut data = BufReader::with_capacity(64 * 1024, data);
    if data.fill_buf()?.is_empty() {
        return Ok(Box::new(io::empty()));
    }
    Ok(match codec {
        Codec::None | Codec::Zlib => Box::new(flate2::bufread::ZlibDecoder::new(data)),
        Codec::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(data)),
        Codec::Lz4 => Box::new(frames::lz4(data)),
        Codec::Zstd => Box::new(frames::zstd(data)),
    })
}

/// Hands one table's data to the visitor: `begin_data`, rows, `end_data`.
/// `data` is the data as stored; it is read up to its end or its `\.` line.
pub(crate) fn visit_table_data(
    toc: &Toc,
    entry: &TocEntry,
    data: &mut dyn Read,
    codec: Codec,
    visitor: &mut dyn Visitor,
) -> Result<()> {
    visit_data(toc, entry, data, codec, visitor, false).map(|_| ())
}

/// As [`visit_table_data`]; with `may_pass_over`, a table the visitor skips
/// is not read at all (`Ok(false)`), and the caller passes over its data.
fn visit_data(
    toc: &Toc,
    entry: &TocEntry,
    data: &mut dyn Read,
    codec: Codec,
    visitor: &mut dyn Visitor,
    may_pass_over: bool,
) -> Result<bool> {
    let table = entry.table();
    if entry.copy_stmt.trim().is_empty() {
        let mut decoded = decoder(data, codec)?;
        return visit_insert_data(toc, entry, &table, &mut decoded, visitor).map(|_| true);
    }
    let (_, columns) = parse_copy_header(&entry.copy_stmt).with_context(|| {
        format!(
            "TOC entry {} ({table}): cannot read its COPY statement {:?}",
            entry.dump_id, entry.copy_stmt
        )
    })?;
    let place = || format!("the data of {table} (TOC entry {})", entry.dump_id);
    let interest = visitor.begin_data(&table, &columns);
    if interest == Interest::Skip && may_pass_over {
        visitor.end_data_unread();
        return Ok(false);
    }
    let decoded = decoder(data, codec)?;
    let mut lines = LineReader::new(decoded);
    let rows = match interest {
        Interest::Skip => lines.skip_copy_block().with_context(place)?.rows,
        Interest::Rows => {
            let mut rows = 0u64;
            while let Some(line) = lines.next_line().with_context(place)? {
                if line == b"\\." {
                    break;
                }
                rows += 1;
                visitor
                    .copy_row(line)
                    .with_context(|| format!("row {rows} of {}", place()))?;
            }
            rows
        }
    };
    // Whatever follows `\.` (blank lines) is read to the end of the data,
    // so that a damaged compressed stream is noticed.
    while lines.next_line().with_context(place)?.is_some() {}
    visitor.end_data(rows);
    Ok(true)
}

/// Reads a custom archive file by its TOC's offsets: the data blocks in file
/// order, decompressing only those the visitor wants; the chunks of the
/// others are passed over by their lengths (which still checks that each
/// block is whole, so a truncated archive is noticed).
fn read_by_offsets(
    r: &mut ArchiveReader<BufReader<File>>,
    end: u64,
    toc: &Toc,
    visitor: &mut dyn Visitor,
) -> Result<()> {
    let mut blocks: Vec<(u64, &TocEntry)> = toc
        .entries
        .iter()
        .filter(|e| e.has_data())
        .filter_map(|e| match e.place {
            DataPlace::Offset { offset, .. } => Some((offset, e)),
            DataPlace::File(_) => None,
        })
        .collect();
    blocks.sort_by_key(|(offset, _)| *offset);
    for (offset, entry) in blocks {
        r.seek_to(offset)?;
        let kind = r.read_byte("a data block's type")?;
        let id = r.read_int("a data block's dump id")?;
        if id != entry.dump_id || !matches!(kind, BLOCK_DATA | BLOCK_BLOBS) {
            bail!(
                "byte {offset}: the TOC says the data of entry {} starts here, but the archive holds \
                 block type {kind} of entry {id}: the archive is damaged",
                entry.dump_id
            );
        }
        let read = if kind == BLOCK_DATA && entry.is_table_data() {
            let mut chunks = Chunks::new(r, id);
            let read = visit_data(
                toc,
                entry,
                &mut chunks,
                toc.header.compression.codec(),
                visitor,
                true,
            )
            .with_context(|| format!("the data block at byte {offset}"))?;
            if read {
                chunks.drain()?;
            }
            read
        } else {
            false
        };
        if !read {
            if kind == BLOCK_BLOBS {
                loop {
                    if r.read_int("a large object's oid")? == 0 {
                        break;
                    }
                    r.pass_over_chunks(id, end)?;
                }
            } else {
                r.pass_over_chunks(id, end)?;
            }
        }
    }
    visitor.meta(Meta::Complete);
    Ok(())
}

/// Data stored as INSERT statements (`pg_dump -Fc --inserts`): a small SQL
/// script, read by the plain reader.
fn visit_insert_data(
    toc: &Toc,
    entry: &TocEntry,
    table: &TableName,
    data: &mut dyn Read,
    visitor: &mut dyn Visitor,
) -> Result<()> {
    let place = || {
        format!(
            "the data of {table} (TOC entry {}, INSERT statements)",
            entry.dump_id
        )
    };
    let mut script = Vec::new();
    if let Some(defn) = toc.table_definition(entry) {
        script.extend_from_slice(defn.as_bytes());
        script.push(b'\n');
    }
    if !toc.std_strings {
        script.extend_from_slice(b"SET standard_conforming_strings = off;\n");
    }
    data.read_to_end(&mut script).with_context(place)?;
    let columns = toc
        .table_definition(entry)
        .and_then(ddl::create_table_columns)
        .map(|(_, c)| c)
        .unwrap_or_default();
    let mut proxy = InsertProxy {
        inner: visitor,
        table,
        columns: &columns,
        begun: false,
        other: None,
    };
    plain::read(Box::new(Cursor::new(script)), &mut proxy).with_context(place)?;
    if let Some(other) = proxy.other {
        bail!("{}: an INSERT into {other}, another table", place());
    }
    if !proxy.begun {
        // No INSERT at all: the table is empty.
        visitor.begin_data(table, &columns);
        visitor.end_data(0);
    }
    Ok(())
}

struct InsertProxy<'v, 't> {
    inner: &'v mut dyn Visitor,
    table: &'t TableName,
    columns: &'t [String],
    begun: bool,
    other: Option<TableName>,
}

impl Visitor for InsertProxy<'_, '_> {
    fn meta(&mut self, _meta: Meta) {}

    fn begin_data(&mut self, table: &TableName, columns: &[String]) -> Interest {
        if table != self.table || self.begun {
            self.other.get_or_insert_with(|| table.clone());
            return Interest::Skip;
        }
        self.begun = true;
        let columns = if columns.is_empty() {
            self.columns
        } else {
            columns
        };
        self.inner.begin_data(table, columns)
    }

    fn copy_row(&mut self, line: &[u8]) -> Result<()> {
        self.inner.copy_row(line)
    }

    fn value_row(&mut self, values: &[Option<Vec<u8>>]) -> Result<()> {
        if self.other.is_some() {
            return Ok(());
        }
        self.inner.value_row(values)
    }

    fn end_data(&mut self, rows: u64) {
        if self.other.is_none() {
            self.inner.end_data(rows);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes archive integers as pg_dump does (4-byte ints).
    fn int(out: &mut Vec<u8>, v: i64) {
        out.push(u8::from(v < 0));
        out.extend_from_slice(&(v.unsigned_abs() as u32).to_le_bytes());
    }

    fn string(out: &mut Vec<u8>, s: Option<&str>) {
        match s {
            None => int(out, -1),
            Some(s) => {
                int(out, s.len() as i64);
                out.extend_from_slice(s.as_bytes());
            }
        }
    }

    fn header(minor: u8, compression: u8) -> Vec<u8> {
        let mut h = b"PGDMP".to_vec();
        h.extend_from_slice(&[1, minor, 0, 4, 8, FORMAT_CUSTOM]);
        if minor >= 15 {
            h.push(compression);
        } else {
            int(&mut h, if compression == 0 { 0 } else { -1 });
        }
        for v in [1, 2, 3, 4, 5, 124, 0] {
            int(&mut h, v);
        }
        string(&mut h, Some("buggy_race"));
        string(&mut h, Some("15.4"));
        string(&mut h, Some("15.14"));
        h
    }

    fn entry(out: &mut Vec<u8>, minor: u8, id: i64, desc: &str, copy: &str, flag: u8) {
        entry_at(out, minor, id, desc, copy, flag, 0);
    }

    fn entry_at(
        out: &mut Vec<u8>,
        minor: u8,
        id: i64,
        desc: &str,
        copy: &str,
        flag: u8,
        offset: u64,
    ) {
        int(out, id);
        int(out, 1);
        string(out, Some("0"));
        string(out, Some("0"));
        string(out, Some("tasktexts"));
        string(out, Some(desc));
        int(out, 3);
        string(out, Some(""));
        string(out, Some(""));
        string(out, Some(copy));
        string(out, Some("public"));
        string(out, Some(""));
        if minor >= 14 {
            string(out, Some(""));
        }
        if minor >= 16 {
            int(out, b'r' as i64);
        }
        string(out, Some("postgres"));
        string(out, Some("false"));
        string(out, Some("12"));
        string(out, None);
        out.push(flag);
        out.extend_from_slice(&offset.to_le_bytes());
    }

    fn archive(minor: u8, data: &[u8]) -> Vec<u8> {
        let mut a = header(minor, 0);
        int(&mut a, 1);
        entry(
            &mut a,
            minor,
            7,
            "TABLE DATA",
            "COPY public.tasktexts (id, text) FROM stdin;\n",
            1,
        );
        a.push(BLOCK_DATA);
        int(&mut a, 7);
        for part in data.chunks(5) {
            int(&mut a, part.len() as i64);
            a.extend_from_slice(part);
        }
        int(&mut a, 0);
        a
    }

    #[derive(Default, Debug)]
    struct Seen {
        meta: Vec<Meta>,
        tables: Vec<(TableName, Vec<String>, u64)>,
        rows: Vec<Vec<u8>>,
    }

    impl Visitor for Seen {
        fn meta(&mut self, meta: Meta) {
            self.meta.push(meta);
        }
        fn begin_data(&mut self, table: &TableName, columns: &[String]) -> Interest {
            self.tables.push((table.clone(), columns.to_vec(), 0));
            Interest::Rows
        }
        fn copy_row(&mut self, line: &[u8]) -> Result<()> {
            self.rows.push(line.to_vec());
            Ok(())
        }
        fn value_row(&mut self, _values: &[Option<Vec<u8>>]) -> Result<()> {
            Ok(())
        }
        fn end_data(&mut self, rows: u64) {
            self.tables.last_mut().unwrap().2 = rows;
        }
    }

    fn run(bytes: Vec<u8>) -> Result<Seen> {
        let mut seen = Seen::default();
        read(Box::new(Cursor::new(bytes)), None, &mut seen)?;
        Ok(seen)
    }

    #[test]
    fn reads_every_archive_version_with_and_without_the_end_marker() {
        for minor in [12, 13, 14, 15, 16] {
            for data in [&b"1\ta\n2\tb\\nc\n"[..], b"1\ta\n2\tb\\nc\n\\.\n\n\n"] {
                let seen = run(archive(minor, data)).unwrap();
                assert_eq!(seen.rows, vec![b"1\ta".to_vec(), b"2\tb\\nc".to_vec()]);
                assert_eq!(
                    seen.tables,
                    vec![(
                        TableName::new("public", "tasktexts"),
                        vec!["id".into(), "text".into()],
                        2
                    )]
                );
                assert!(seen.meta.contains(&Meta::Complete));
                assert!(seen.meta.contains(&Meta::Database("buggy_race".into())));
                assert!(
                    seen.meta
                        .contains(&Meta::ArchiveVersion(format!("1.{minor}")))
                );
            }
        }
    }

    /// What pg_dump 16+ writes to standard output redirected to a file:
    /// the archive as through a pipe, then the TOC again with the offsets.
    fn archive_with_toc_copy(offset: u64, count: i64) -> Vec<u8> {
        let mut a = archive(16, b"1\ta\n");
        int(&mut a, count);
        entry_at(
            &mut a,
            16,
            7,
            "TABLE DATA",
            "COPY public.tasktexts (id, text) FROM stdin;\n",
            OFFSET_SET,
            offset,
        );
        a
    }

    #[test]
    fn a_toc_copy_after_the_data_is_read_and_checked() {
        // The block (type, id, end mark: 11 bytes) starts after header and TOC.
        let block = archive(16, b"").len() as u64 - 11;
        let good = archive_with_toc_copy(block, 1);
        let seen = run(good.clone()).unwrap();
        assert_eq!(seen.rows, vec![b"1\ta".to_vec()]);
        assert!(seen.meta.contains(&Meta::Complete));
        for (bad, what) in [
            (archive_with_toc_copy(block + 1, 1), "where no block"),
            (archive_with_toc_copy(block, 2), "TOC of 2 entries"),
            ([good.clone(), vec![0]].concat(), "more bytes after"),
            (good[..good.len() - 1].to_vec(), "truncated"),
        ] {
            let e = format!("{:#}", run(bad).unwrap_err());
            assert!(e.contains(what), "{what}: {e}");
        }
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let full = archive(14, b"1\ta\n2\tb\n");
        for cut in 0..full.len() {
            let r = run(full[..cut].to_vec());
            assert!(r.is_err(), "cut at {cut} was accepted");
        }
    }

    #[test]
    fn absurd_lengths_are_errors() {
        let mut a = header(14, 0);
        int(&mut a, 1);
        // A string claiming 2^31 bytes, then nothing.
        int(&mut a, 1);
        int(&mut a, 1);
        a.push(0);
        a.extend_from_slice(&0x3fff_ffffu32.to_le_bytes());
        let e = run(a).unwrap_err();
        assert!(format!("{e:#}").contains("truncated"), "{e:#}");
        // Garbage after the header.
        let mut b = header(16, 3);
        b.extend_from_slice(&[0xff; 64]);
        assert!(run(b).is_err());
    }

    #[test]
    fn compressed_blocks() {
        use std::io::Write;
        let data = b"1\ta\n2\tb\n";
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(data).unwrap();
        let zlib = z.finish().unwrap();
        let mut l = lz4_flex::frame::FrameEncoder::new(Vec::new());
        l.write_all(data).unwrap();
        let lz4 = l.finish().unwrap();
        let zstd = ruzstd::encoding::compress_to_vec(
            &data[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        for (codec, bytes) in [(Codec::Zlib, zlib), (Codec::Lz4, lz4), (Codec::Zstd, zstd)] {
            let mut out = Vec::new();
            let mut src = Cursor::new(bytes.clone());
            decoder(&mut src, codec)
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "{codec:?}");
            // Two frames in a row read as one stream; a cut one is an error.
            if codec != Codec::Zlib {
                let mut twice = bytes.clone();
                twice.extend_from_slice(&bytes);
                let mut out = Vec::new();
                let mut src = Cursor::new(twice);
                decoder(&mut src, codec)
                    .unwrap()
                    .read_to_end(&mut out)
                    .unwrap();
                assert_eq!(out.len(), 2 * data.len(), "{codec:?}");
            }
            let mut src = Cursor::new(bytes[..bytes.len() - 3].to_vec());
            let mut out = Vec::new();
            let r = decoder(&mut src, codec).and_then(|mut d| Ok(d.read_to_end(&mut out)?));
            assert!(r.is_err(), "{codec:?} accepted a cut stream");
        }
    }
}
