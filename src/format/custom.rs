//! `pg_dump -Fc` custom archives: the archive header and TOC (read by
//! `archive`), then the data as blocks, walked here.
//!
//! A block is a type byte (1 data, 3 large objects), the entry's dump id,
//! then chunks (a length and that many bytes, length 0 ends the block). The
//! chunks of one block are one compressed stream: zlib (not gzip) for gzip,
//! an LZ4 frame, a zstd frame, or the COPY text itself.
//!
//! The blocks are walked in file order, in one pass, whether the archive is
//! a stream (a pipe, a compressed file) or a file. Data nobody needs (large
//! objects, other entries, tables the visitor passes over) goes through one
//! path, as pg_backup_custom.c's `_skipData`: chunk by chunk, by their
//! lengths, seeking when the archive is a file and reading when it is a
//! stream. Passing over by lengths still proves every block is whole, so a
//! truncated archive is noticed either way. Written to a file, the TOC also
//! says where each block starts; the walk does not need it.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};

use super::archive::{
    self, ArchiveReader, DataPlace, FORMAT_CUSTOM, OFFSET_SET, Toc, TocEntry, read_entry,
};
use super::{Interest, Meta, Visitor};
use crate::codec::{self, Codec};

const BLOCK_DATA: u8 = 1;
const BLOCK_BLOBS: u8 = 3;

const BUFFER: usize = 256 * 1024;

/// Reads a custom archive from `input`. `file` is the archive itself when
/// it can be read again at any offset (an uncompressed regular file): its
/// data is then read from the file, seeking over what nobody needs.
pub fn read(
    input: Box<dyn Read + Send>,
    file: Option<&Path>,
    visitor: &mut dyn Visitor,
) -> Result<()> {
    let mut r = ArchiveReader::new(BufReader::with_capacity(BUFFER, input));
    let toc = archive::read_toc(&mut r, FORMAT_CUSTOM, visitor)?;
    let Some(path) = file else {
        return read_blocks(&mut r, &toc, visitor);
    };
    // The input is a stream (read ahead on another thread): the data is
    // read from the file again, from where it begins.
    let data_start = r.position();
    drop(r);
    let cannot_read = || format!("cannot read {}", path.display());
    let file = File::open(path).with_context(cannot_read)?;
    let len = file.metadata().with_context(cannot_read)?.len();
    let mut reader = BufReader::with_capacity(BUFFER, file);
    reader
        .seek(SeekFrom::Start(data_start))
        .with_context(cannot_read)?;
    let mut r = ArchiveReader::after_header(Seekable { reader, len }, &toc.header, data_start);
    read_blocks(&mut r, &toc, visitor)
}

/// Moving past bytes nobody needs: seek when the archive can, read when it
/// must.
trait Skip: Read {
    /// Moves `len` bytes on from byte `at`; fewer only where the archive
    /// ends. Returns how many.
    fn skip(&mut self, at: u64, len: u64) -> io::Result<u64>;
}

/// A stream: its bytes are read and dropped.
impl<R: Read> Skip for BufReader<R> {
    fn skip(&mut self, _at: u64, len: u64) -> io::Result<u64> {
        io::copy(&mut self.take(len), &mut io::sink())
    }
}

/// The archive file, `len` bytes long.
struct Seekable {
    reader: BufReader<File>,
    len: u64,
}

impl Read for Seekable {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

impl Skip for Seekable {
    fn skip(&mut self, at: u64, len: u64) -> io::Result<u64> {
        let there = len.min(self.len.saturating_sub(at));
        self.reader.seek_relative(there as i64)?;
        Ok(there)
    }
}

/// Walks the data blocks one after the other from where `r` stands (just
/// after the TOC) to the end of the archive.
fn read_blocks<R: Skip>(
    r: &mut ArchiveReader<R>,
    toc: &Toc,
    visitor: &mut dyn Visitor,
) -> Result<()> {
    let index: HashMap<i64, usize> = toc
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.dump_id, i))
        .collect();
    let codec = Codec::of_custom_blocks(toc.header.compression);
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
                if entry.is_table_data() {
                    read_table_block(r, toc, entry, codec, visitor)
                        .with_context(|| format!("the data block at byte {at}"))?;
                } else {
                    pass_over_chunks(r, id)?;
                }
            }
            BLOCK_BLOBS => {
                if let Some(&i) = index.get(&id) {
                    seen[i] = true;
                }
                while r.read_int("a large object's oid")? != 0 {
                    pass_over_chunks(r, id)?;
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

/// One table's data block, from just after its dump id to its end: passed
/// over unread when the visitor says so, else decompressed and read.
fn read_table_block<R: Skip>(
    r: &mut ArchiveReader<R>,
    toc: &Toc,
    entry: &TocEntry,
    codec: Codec,
    visitor: &mut dyn Visitor,
) -> Result<()> {
    if entry.copy_stmt.trim().is_empty() {
        // INSERT statements (`--inserts`): read whole, they are small.
        let mut chunks = Chunks::new(r, entry.dump_id);
        archive::read_table_data(toc, entry, &mut chunks, codec, visitor)?;
        return chunks.drain();
    }
    let table = entry.table();
    let columns = entry.copy_columns()?;
    match visitor.begin_data(&table, &columns) {
        Interest::PassOver => {
            pass_over_chunks(r, entry.dump_id)?;
            visitor.end_data(None);
        }
        interest => {
            let mut chunks = Chunks::new(r, entry.dump_id);
            let decoded = codec::decoder(&mut chunks, codec)?;
            let rows =
                archive::read_copy_data(entry, &table, columns.len(), interest, decoded, visitor)?;
            chunks.drain()?;
            visitor.end_data(Some(rows));
        }
    }
    Ok(())
}

/// Moves past the rest of a data block by its chunks' lengths, without
/// looking at their bytes; fails where the archive ends too soon.
fn pass_over_chunks<R: Skip>(r: &mut ArchiveReader<R>, dump_id: i64) -> Result<()> {
    loop {
        let at = r.position();
        let len = r.read_int("a data chunk's length")?;
        if len < 0 {
            bail!(
                "byte {at}: a data chunk of TOC entry {dump_id} claims length {len}: the archive is damaged"
            );
        }
        if len == 0 {
            return Ok(());
        }
        let len = len as u64;
        let passed = r
            .inner
            .skip(r.pos, len)
            .with_context(|| format!("cannot read the archive at byte {}", r.pos))?;
        r.pos += passed;
        if passed < len {
            bail!(
                "the archive ends at byte {} inside a data chunk of TOC entry {dump_id} \
                 ({} bytes missing): it is truncated",
                r.pos,
                len - passed
            );
        }
    }
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

/// The bytes of one data block's chunks, up to the zero length that ends it.
struct Chunks<'a, R> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::archive::{FORMAT_CUSTOM, K_VERS_1_14, K_VERS_1_15, K_VERS_1_16};
    use crate::format::{Row, TableName};
    use std::io::Cursor;

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
        if (1, minor) >= K_VERS_1_15 {
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
        if (1, minor) >= K_VERS_1_14 {
            string(out, Some(""));
        }
        if (1, minor) >= K_VERS_1_16 {
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
        fn row(&mut self, row: &Row) -> Result<()> {
            let fields: Vec<Vec<u8>> = (0..row.len())
                .map(|i| row.get(i).unwrap().unwrap_or_default().into_owned())
                .collect();
            self.rows.push(fields.join(&b'|'));
            Ok(())
        }
        fn end_data(&mut self, rows: Option<u64>) {
            self.tables.last_mut().unwrap().2 = rows.unwrap();
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
                assert_eq!(seen.rows, vec![b"1|a".to_vec(), b"2|b\nc".to_vec()]);
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
        assert_eq!(seen.rows, vec![b"1|a".to_vec()]);
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

    /// Wants no table at all: every block is passed over unread.
    struct PassEverything(Vec<Option<u64>>);

    impl Visitor for PassEverything {
        fn meta(&mut self, _meta: Meta) {}
        fn begin_data(&mut self, _table: &TableName, _columns: &[String]) -> Interest {
            Interest::PassOver
        }
        fn row(&mut self, _row: &Row) -> Result<()> {
            unreachable!("no rows are wanted")
        }
        fn end_data(&mut self, rows: Option<u64>) {
            self.0.push(rows);
        }
    }

    #[test]
    fn passing_over_reads_a_stream_and_seeks_in_a_file_and_both_notice_a_cut() {
        let full = archive(14, b"1\ta\n2\tb\n");
        let file = std::env::temp_dir().join(format!(
            "textrescue-custom-pass-over-{}.dump",
            std::process::id()
        ));
        for cut in (0..=full.len()).rev() {
            std::fs::write(&file, &full[..cut]).unwrap();
            let stream = Box::new(Cursor::new(full[..cut].to_vec()));
            let from_file = Box::new(File::open(&file).unwrap());
            for (input, path) in [
                (stream as Box<dyn Read + Send>, None),
                (from_file as _, Some(file.as_path())),
            ] {
                let mut v = PassEverything(Vec::new());
                let r = read(input, path, &mut v);
                if cut == full.len() {
                    r.unwrap();
                    assert_eq!(v.0, vec![None]);
                } else {
                    assert!(r.is_err(), "cut at {cut} was accepted ({path:?})");
                }
            }
        }
        std::fs::remove_file(&file).unwrap();
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
}
