//! What pg_dump's archive formats share, as PostgreSQL's own
//! pg_backup_archiver.c does: the header and the table of contents (TOC)
//! that begin a custom archive and the `toc.dat` of tar and directory dumps,
//! the archive's integers and strings they are written in, and one TOC
//! entry's data (COPY text or INSERT statements) handed to the visitor.
//!
//! The header says `PGDMP`, the archive version, integer sizes, format,
//! compression, the dump's time, the database name and the two versions.
//! The TOC has one entry per dumped object, each with its SQL and, for table
//! data, the `COPY ... FROM stdin;` statement that names its columns and
//! where its data is: an offset in a custom archive, a file name in the
//! others. Integers are a sign byte and then `intSize` bytes, least
//! significant first; strings an integer length (-1 for none) and their
//! bytes. Where each format keeps its data is its own file's business
//! (`custom`, `tar`, `directory`).

use std::io::{self, Read};

use anyhow::{Context, Result, anyhow, bail};

use super::copy_text::Splitter;
use super::lines::LineReader;
use super::{Interest, Meta, TableName, Visitor, ddl};
use crate::codec::{self, Codec, Compression};
use crate::sql_scan::parse_copy_header;

mod insert_data;
use crate::stream::Uncounted;
use insert_data::read_insert_data;

/// Archive versions as (major, minor), named as pg_dump names them
/// (pg_backup_archiver.h), with what each added that this reader reads.
/// The oldest this reader knows (PostgreSQL 9.0): the tablespace.
pub(crate) const K_VERS_1_10: (u8, u8) = (1, 10);
/// The TOC entry's section.
pub(crate) const K_VERS_1_11: (u8, u8) = (1, 11);
/// The TOC entry's table access method (PostgreSQL 12).
pub(crate) const K_VERS_1_14: (u8, u8) = (1, 14);
/// The compression algorithm in the header, instead of a level (PostgreSQL 16).
pub(crate) const K_VERS_1_15: (u8, u8) = (1, 15);
/// The TOC entry's relkind (PostgreSQL 17); the newest this reader knows
/// (PostgreSQL 17 and 18; pg_dump's K_VERS_MAX).
pub(crate) const K_VERS_1_16: (u8, u8) = (1, 16);
const OLDEST: (u8, u8) = K_VERS_1_10;
const NEWEST: (u8, u8) = K_VERS_1_16;

/// The archive formats' codes in the header.
pub(crate) const FORMAT_CUSTOM: u8 = 1;
pub(crate) const FORMAT_TAR: u8 = 3;
pub(crate) const FORMAT_DIRECTORY: u8 = 5;

/// A custom archive's data offset flags.
pub(crate) const OFFSET_NOT_SET: u8 = 1;
pub(crate) const OFFSET_SET: u8 = 2;
pub(crate) const OFFSET_NO_DATA: u8 = 3;

/// No string in a TOC is longer than PostgreSQL's largest value.
const MAX_STRING: i64 = 1 << 30;

/// An archive's header: its version and integer sizes, format, compression
/// and the facts about the dump.
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

/// One dumped object in the TOC (what is read of it: its identity, SQL,
/// and where its data is).
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

    /// The columns its COPY statement names, in data order.
    pub(crate) fn copy_columns(&self) -> Result<Vec<String>> {
        parse_copy_header(&self.copy_stmt)
            .map(|(_, columns)| columns)
            .with_context(|| {
                format!(
                    "TOC entry {} ({}): cannot read its COPY statement {:?}",
                    self.dump_id,
                    self.table(),
                    self.copy_stmt
                )
            })
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
        visitor.meta(Meta::DataCompression(h.compression));
        if !h.dbname.is_empty() {
            visitor.meta(Meta::Database(h.dbname.clone()));
        }
    }
}

impl Toc {
    /// The CREATE TABLE of the table an entry's data belongs to, if the
    /// TOC has it (for data stored as INSERT statements).
    fn table_definition(&self, data: &TocEntry) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.desc == "TABLE" && e.tag == data.tag && e.namespace == data.namespace)
            .map(|e| e.defn.as_str())
    }
}

/// Which tables are partitions of which, from the TOC's definitions: a
/// `TABLE ATTACH` entry (pg_dump 14 and later), the partition's `TABLE`
/// entry followed by its `ALTER TABLE ... ATTACH PARTITION` (12, 13) or
/// made `PARTITION OF` its parent (10, 11).
fn report_partitions(entries: &[TocEntry], visitor: &mut dyn Visitor) {
    for e in entries {
        if e.desc != "TABLE" && e.desc != "TABLE ATTACH" {
            continue;
        }
        let attached = std::iter::once(0)
            .chain(e.defn.match_indices("\nALTER TABLE ").map(|(at, _)| at + 1))
            .find_map(|at| ddl::attach_partition(&e.defn[at..]));
        if let Some((partition, parent)) = attached.or_else(|| ddl::partition_of(&e.defn)) {
            visitor.meta(Meta::PartitionOf { partition, parent });
        }
    }
}

/// Reads an archive's integers and strings, counting bytes for messages.
pub(crate) struct ArchiveReader<R> {
    pub(crate) inner: R,
    /// Bytes read (or passed over) from the start of the archive.
    pub(crate) pos: u64,
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

    /// A reader of the archive whose `header` was read, from byte `pos`.
    pub(crate) fn after_header(inner: R, header: &Header, pos: u64) -> Self {
        ArchiveReader {
            inner,
            pos,
            int_size: header.int_size,
            off_size: header.off_size,
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

    pub(crate) fn read_byte(&mut self, what: &str) -> Result<u8> {
        let mut b = [0u8];
        self.read_exact(&mut b, what)?;
        Ok(b[0])
    }

    /// One byte, or `None` at the end of the input.
    pub(crate) fn try_read_byte(&mut self) -> Result<Option<u8>> {
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
    pub(crate) fn read_int_after_sign(&mut self, at: u64, sign: u8, what: &str) -> Result<i64> {
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
    report_partitions(&entries, visitor);
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
    let compression = if version >= K_VERS_1_15 {
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

pub(crate) fn read_entry<R: Read>(r: &mut ArchiveReader<R>, h: &Header) -> Result<TocEntry> {
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
    if version >= K_VERS_1_11 {
        r.read_int("the section")?;
    }
    let defn = r.read_string("the definition")?;
    r.read_str("the drop statement")?;
    let copy_stmt = r.read_string("the COPY statement")?;
    let namespace = r.read_string("the schema")?;
    r.read_str("the tablespace")?;
    if version >= K_VERS_1_14 {
        r.read_str("the table access method")?;
    }
    if version >= K_VERS_1_16 {
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

/// Hands one TOC entry's table data to the visitor: `begin_data`, rows,
/// `end_data`. `data` is the data as stored (compressed as `codec` says);
/// it is read to its end, so that damage anywhere in it is noticed.
/// [`Interest::PassOver`] is taken as [`Interest::Count`]: the data is read
/// anyway (a custom archive passes over data itself, before calling this).
pub(crate) fn read_table_data(
    toc: &Toc,
    entry: &TocEntry,
    data: &mut dyn Read,
    codec: Codec,
    visitor: &mut dyn Visitor,
) -> Result<()> {
    let table = entry.table();
    if entry.copy_stmt.trim().is_empty() {
        let mut decoded = codec::decoder(data, codec)?;
        return read_insert_data(toc, entry, &table, &mut decoded, visitor);
    }
    let columns = entry.copy_columns()?;
    let interest = visitor.begin_data(&table, &columns);
    let decoded = codec::decoder(data, codec)?;
    let rows = read_copy_data(entry, &table, columns.len(), interest, decoded, visitor)?;
    visitor.end_data(Some(rows));
    Ok(())
}

/// The rows of one entry's COPY data (decompressed), counted, and handed to
/// the visitor when it wants them; read to the end of the data. Returns the
/// number of rows.
pub(crate) fn read_copy_data(
    entry: &TocEntry,
    table: &TableName,
    columns: usize,
    interest: Interest,
    decoded: impl Read,
    visitor: &mut dyn Visitor,
) -> Result<u64> {
    let place = || format!("the data of {table} (TOC entry {})", entry.dump_id);
    let mut lines = LineReader::new(Uncounted(decoded));
    let rows = match interest {
        Interest::Count | Interest::PassOver => lines.skip_copy_block().with_context(place)?.rows,
        Interest::Rows => {
            let mut splitter = Splitter::default();
            let mut rows = 0u64;
            while let Some(line) = lines.next_line().with_context(place)? {
                if line == b"\\." {
                    break;
                }
                rows += 1;
                splitter
                    .split(line, columns)
                    .and_then(|row| visitor.row(&row))
                    .with_context(|| format!("row {rows} of {}", place()))?;
            }
            rows
        }
    };
    // Whatever follows `\.` (blank lines) is read to the end of the data,
    // so that a damaged compressed stream is noticed.
    while lines.next_line().with_context(place)?.is_some() {}
    Ok(rows)
}
