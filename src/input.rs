//! Opening a dump: a file, a `pg_dump -Fd` directory or standard input.
//!
//! This module owns the bytes before any format is known: it undoes gzip,
//! zstd and LZ4 around the whole dump (with `crate::codec`), decompresses on
//! a read-ahead thread, counts compressed bytes for the progress bar, and
//! sniffs the first bytes for the format, never the file name. What it opens
//! is an [`Opened`]: a [`crate::stream::DumpRead`] stream, or a directory.
//! An indexed `.sql.gz` whose index agrees is read through it ([`indexed`]);
//! so is an age-encrypted copy of one in a bucket, by byte ranges.

mod indexed;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use flate2::bufread::MultiGzDecoder;

use crate::codec::{Compression, frames};
use crate::indexed_gzip::Positions;
use crate::progress::Progress;
use crate::stream::{DumpRead, Prefixed, Uncounted, read_ahead};
pub use indexed::Members;

/// Where a dump comes from, as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Stdin,
    Path(PathBuf),
    /// Bytes already in memory (fuzzing, tests, embedding).
    Memory(std::sync::Arc<[u8]>),
    /// One object in an S3-compatible bucket, `s3://BUCKET/KEY`, streamed
    /// (and decrypted when it is `.age`) by [`crate::remote::read`].
    Remote(String),
}

impl Source {
    pub fn from_arg(arg: &str) -> Source {
        if arg == "-" {
            Source::Stdin
        } else if crate::remote::Location::is_remote(arg) {
            Source::Remote(arg.to_string())
        } else {
            Source::Path(PathBuf::from(arg))
        }
    }

    /// A dump found in a folder or a bucket folder by its path: an
    /// `s3://` URL (as [`crate::nightlies`] lists a bucket's) is read from
    /// the bucket, anything else is a file or directory.
    pub fn from_path(path: &std::path::Path) -> Source {
        match path.to_str() {
            Some(url) if crate::remote::Location::is_remote(url) => Source::Remote(url.to_string()),
            _ => Source::Path(path.to_path_buf()),
        }
    }

    /// How messages and outputs name this source.
    pub fn display(&self) -> String {
        match self {
            Source::Stdin => "-".to_string(),
            Source::Path(p) => p.display().to_string(),
            Source::Memory(_) => "<memory>".to_string(),
            Source::Remote(url) => url.clone(),
        }
    }
}

/// Which pg_dump output the content is, judged from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Plain SQL from pg_dump or pg_dumpall (COPY or INSERT data).
    Plain,
    /// `pg_dump -Fc`: starts with `PGDMP`.
    Custom,
    /// `pg_dump -Ft`: a POSIX tar archive.
    Tar,
    /// `pg_dump -Fd`: a directory with `toc.dat`.
    Directory,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Plain => "plain",
            Format::Custom => "custom",
            Format::Tar => "tar",
            Format::Directory => "directory",
        }
    }
}

/// An opened dump, ready for the reader of its format.
pub enum Opened {
    /// A file or standard input: one stream of bytes.
    Stream {
        /// Plain, custom or tar.
        format: Format,
        /// Compression around the whole content, undone here.
        compression: Compression,
        /// The decompressed content from its first byte (the sniffed bytes
        /// are put back in front).
        reader: Box<dyn DumpRead + Send>,
        /// The file itself when it can be read again at any offset (an
        /// uncompressed regular file): a custom archive seeks in it.
        file: Option<PathBuf>,
        /// Where the lines of `reader` are in the whole dump, when it gives
        /// only some of the dump's bytes (the chosen members of an indexed
        /// `.sql.gz`); `None` when it gives them all.
        positions: Option<Positions>,
        /// What a failed read of it adds to its message ([`crlf_hint`]).
        crlf_hint: &'static str,
    },
    /// A `pg_dump -Fd` directory: its files are opened by its reader.
    Directory(PathBuf),
}

impl Opened {
    pub fn format(&self) -> Format {
        match self {
            Opened::Stream { format, .. } => *format,
            Opened::Directory(_) => Format::Directory,
        }
    }

    /// What a failed read adds to its message: why the file may be
    /// damaged, as its first bytes on disk show ([`crlf_hint`]).
    pub fn crlf_hint(&self) -> &'static str {
        match self {
            Opened::Stream { crlf_hint, .. } => crlf_hint,
            Opened::Directory(_) => "",
        }
    }

    /// Compression around the whole content (not inside an archive).
    pub fn compression(&self) -> Compression {
        match self {
            Opened::Stream { compression, .. } => *compression,
            Opened::Directory(_) => Compression::None,
        }
    }
}
const SNIFF_LEN: usize = 8192;

/// The decompressed bytes of a source, before the format is sniffed.
struct Content {
    /// The dump's bytes, or the chosen members' of an indexed `.sql.gz`.
    reader: Box<dyn DumpRead + Send>,
    /// Where the lines of `reader` are in the whole dump, when it gives
    /// only some of them.
    positions: Option<Positions>,
    /// `reader` decompresses on threads of its own, ahead of its caller.
    inflates_ahead: bool,
}

/// Opens `source`, undoes outer gzip, zstd or LZ4 and sniffs the format.
/// An indexed `.sql.gz` is read as one gzip stream, whole.
pub fn open(source: &Source, progress: &Progress) -> Result<Opened> {
    open_members(source, progress, Members::IgnoreIndex)
}

/// [`open`], reading an indexed `.sql.gz` file through its index as
/// `members` says.
pub fn open_members(source: &Source, progress: &Progress, members: Members) -> Result<Opened> {
    let (raw, len, path): (Box<dyn Read + Send>, Option<u64>, Option<&Path>) = match source {
        Source::Stdin => (Box::new(io::stdin()), None, None),
        Source::Memory(bytes) => (
            Box::new(io::Cursor::new(bytes.clone())),
            Some(bytes.len() as u64),
            None,
        ),
        Source::Remote(url) => {
            if let Some(content) = indexed::open_sealed(url, members, progress)? {
                return sniffed(source, Compression::Gzip, content, None, "");
            }
            let (reader, len) = crate::remote::read::open_object(url)?;
            (reader, Some(len), None)
        }
        Source::Path(path) => {
            let meta = std::fs::metadata(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            if meta.is_dir() {
                if path.join("toc.dat").is_file() {
                    return Ok(Opened::Directory(path.clone()));
                }
                return Err(NotADump(format!(
                    "{} is a directory without toc.dat: not a pg_dump -Fd dump",
                    path.display()
                ))
                .into());
            }
            let file =
                File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            let through_index = indexed::open(&file, members, progress)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if let Some(chosen) = through_index {
                let mut head = vec![0; RAW_HEAD_LEN];
                let n = std::os::unix::fs::FileExt::read_at(&file, &mut head, 0)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let hint = crlf_hint(&head[..n]);
                return sniffed(source, Compression::Gzip, chosen, None, hint);
            }
            (Box::new(file), Some(meta.len()), Some(path.as_path()))
        }
    };
    let counted = progress.wrap_read(raw, len);
    let mut buffered = BufReader::with_capacity(256 * 1024, counted);
    let raw_head = buffered
        .fill_buf()
        .with_context(|| format!("cannot read {}", source.display()))?;
    let compression = Compression::of_stream(raw_head);
    let hint = crlf_hint(&raw_head[..raw_head.len().min(RAW_HEAD_LEN)]);
    let content: Box<dyn Read + Send> = match compression {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(Decompressing::new("gzip", MultiGzDecoder::new(buffered))),
        Compression::Zstd => Box::new(Decompressing::new("zstd", frames::zstd(buffered))),
        Compression::Lz4 => Box::new(Decompressing::new("LZ4", frames::lz4(buffered))),
    };
    let file = match (compression, path) {
        (Compression::None, Some(p)) => Some(p.to_path_buf()),
        _ => None,
    };
    let content = Content {
        reader: Box::new(Uncounted(content)),
        positions: None,
        inflates_ahead: false,
    };
    sniffed(source, compression, content, file, hint)
}

/// The stream of `content` with its format sniffed.
fn sniffed(
    source: &Source,
    compression: Compression,
    content: Content,
    file: Option<PathBuf>,
    crlf_hint: &'static str,
) -> Result<Opened> {
    let positions = content.positions;
    // Decompressing runs on a thread of its own, unless it runs on several
    // already; the reader gets finished chunks.
    let mut content: Box<dyn DumpRead + Send> = if content.inflates_ahead {
        content.reader
    } else {
        Box::new(Uncounted(read_ahead(Box::new(content.reader))))
    };
    let hinted = |e: anyhow::Error| match e.downcast::<NotADump>() {
        Ok(NotADump(message)) => NotADump(format!("{message}{crlf_hint}")).into(),
        Err(e) => anyhow::anyhow!("{e:#}{crlf_hint}"),
    };
    let head = read_up_to(&mut content, SNIFF_LEN)
        .with_context(|| source.display())
        .map_err(hinted)?;
    let format = sniff(&head, source).map_err(|e| hinted(e.into()))?;
    Ok(Opened::Stream {
        format,
        compression,
        reader: Box::new(Prefixed::new(head, content)),
        file,
        positions,
        crlf_hint,
    })
}

/// How many of a file's first bytes [`crlf_hint`] looks at.
const RAW_HEAD_LEN: usize = 64 * 1024;

/// What to add to the message of a failed read whose file looks like a
/// binary file (an archive, gzip) put through a terminal that turned every
/// LF into CRLF, as `docker exec -t` does: empty for anything else (a plain
/// dump with CRLF line ends is no binary file, and reads).
pub fn crlf_hint(raw_head: &[u8]) -> &'static str {
    let binary = raw_head.starts_with(b"PGDMP")
        || raw_head.starts_with(&[0x1f, 0x8b])
        || raw_head.contains(&0);
    // Binary bytes hold an LF now and then by chance (about one in 256), and
    // one after a CR by chance too: only several LFs, every one after a CR,
    // say the file was converted (a chance of 2^-32 in a file never touched).
    const ENOUGH_LFS: usize = 4;
    let lfs: Vec<usize> = memchr::memchr_iter(b'\n', raw_head).collect();
    let converted =
        lfs.len() >= ENOUGH_LFS && lfs.iter().all(|&at| at > 0 && raw_head[at - 1] == b'\r');
    if binary && converted {
        ". The file looks like a CRLF conversion of a binary file: every LF in it follows a CR, \
         as when pg_dump's output passes through `docker exec -t` (a terminal); take backups \
         with `docker exec -i`. Turning every CRLF back into LF restores this one exactly: \
         perl -pe 's/\\r\\n\\z/\\n/' < FILE > FIXED"
    } else {
        ""
    }
}

/// The input is no dump at all (empty, an error message, some other file),
/// as opposed to a dump that is damaged: `history` skips such a file found
/// in a folder, where a damaged dump is a failure.
#[derive(Debug)]
pub struct NotADump(pub String);

impl std::fmt::Display for NotADump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotADump {}

/// Says which format `head` (the first bytes of the content) starts.
fn sniff(head: &[u8], source: &Source) -> Result<Format, NotADump> {
    let name = source.display();
    if head.is_empty() {
        return Err(NotADump(format!(
            "{name} is empty: no dump inside (this is what a failed `pg_dump | gzip` leaves behind)"
        )));
    }
    if head.starts_with(&frames::LZ4_LEGACY_MAGIC) {
        return Err(NotADump(format!(
            "{name} is LZ4 in the legacy format (`lz4 -l`), which textrescue does not read: \
             decompress it with `lz4 -d` first"
        )));
    }
    if head.starts_with(b"PGDMP") {
        return Ok(Format::Custom);
    }
    if head.len() >= 263 && &head[257..262] == b"ustar" {
        return Ok(Format::Tar);
    }
    let text = String::from_utf8_lossy(&head[..head.len().min(2048)]);
    let first_line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if first_line.starts_with("pg_dump:")
        || first_line.starts_with("pg_dumpall:")
        || first_line.starts_with("Error response from daemon")
        || first_line.starts_with("OCI runtime")
    {
        return Err(NotADump(format!(
            "{name} holds an error message, not a dump: \"{}\" (the backup that wrote it failed)",
            truncate_chars(first_line, 200)
        )));
    }
    if looks_like_sql_dump(&text) {
        return Ok(Format::Plain);
    }
    Err(NotADump(format!(
        "{name} is not a pg_dump output: it starts with \"{}\"",
        truncate_chars(&first_line.escape_debug().to_string(), 80)
    )))
}

/// True when the start of a text reads like pg_dump or pg_dumpall output.
fn looks_like_sql_dump(text: &str) -> bool {
    if text.contains("PostgreSQL database dump")
        || text.contains("PostgreSQL database cluster dump")
    {
        return true;
    }
    text.lines().map(str::trim_start).any(|l| {
        l.starts_with("\\restrict ")
            || l.starts_with("SET statement_timeout")
            || l.starts_with("SET client_encoding")
            || l.starts_with("COPY ")
            || l.starts_with("CREATE TABLE ")
            || l.starts_with("INSERT INTO ")
    })
}

pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

fn read_up_to(reader: &mut impl Read, n: usize) -> Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    reader.by_ref().take(n as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// A decompressing reader (gzip of any number of members, zstd or LZ4 of
/// any number of frames) whose errors say where they are.
struct Decompressing<D> {
    name: &'static str,
    decoder: D,
    produced: u64,
}

impl<D: Read> Decompressing<D> {
    fn new(name: &'static str, decoder: D) -> Self {
        Decompressing {
            name,
            decoder,
            produced: 0,
        }
    }
}

impl<D: Read> Read for Decompressing<D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let name = self.name;
        match self.decoder.read(buf) {
            Ok(n) => {
                self.produced += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the {name} data is truncated: it ends after {} decompressed bytes (the file was cut short)",
                    self.produced
                ),
            )),
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!(
                    "the {name} data is damaged after {} decompressed bytes: {e}",
                    self.produced
                ),
            )),
        }
    }
}
