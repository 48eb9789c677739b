//! Readers reading copies where they are: `s3://BUCKET/KEY` given to
//! `texts`, `inspect`, `diff`... is streamed from the bucket (decrypted on
//! the way when its name ends in `.age`, [`open_object`]), or, for an
//! encrypted copy, read by byte ranges as a seekable plaintext
//! ([`open_sealed_ranged`]: age authenticates every chunk read). The
//! endpoint and the identities are the command's (`--s3-endpoint`,
//! `--identity`), set once per run with [`configure`] before any dump is
//! opened.
//!
//! `TEXTRESCUE_S3_STATS=FILE` appends, for each object read, a line
//! `URL<TAB>bytes received<TAB>object size` to FILE (for the tests and
//! measurements of ranged reads; nothing is said otherwise).

use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::{Result, anyhow};

use super::ranged::RangedObject;
use super::seal::{self, Identities};
use super::{Location, Remote};

/// How this run reaches buckets it reads from.
#[derive(Debug, Clone, Default)]
pub struct ReadSettings {
    pub endpoint: Option<String>,
    pub identity: Option<PathBuf>,
}

static SETTINGS: OnceLock<ReadSettings> = OnceLock::new();

/// Bytes received from buckets by this process (object bodies), for
/// `TEXTRESCUE_S3_STATS` and the tests of ranged reads.
static RECEIVED: AtomicU64 = AtomicU64::new(0);

pub(crate) fn count_received(n: usize) {
    RECEIVED.fetch_add(n as u64, Ordering::Relaxed);
}

pub fn received() -> u64 {
    RECEIVED.load(Ordering::Relaxed)
}

/// Sets this run's endpoint and identities (first call wins).
pub fn configure(settings: ReadSettings) {
    let _ = SETTINGS.set(settings);
}

fn settings() -> ReadSettings {
    SETTINGS.get().cloned().unwrap_or_default()
}

/// `s3://BUCKET/KEY` as a location and an object name.
pub fn split(url: &str) -> Result<(Location, String)> {
    let location = Location::parse(url)?;
    let (prefix, name) = match location.prefix.rsplit_once('/') {
        Some((p, n)) => (p.to_string(), n.to_string()),
        None => (String::new(), location.prefix.clone()),
    };
    if name.is_empty() || url.ends_with('/') {
        return Err(anyhow!(
            "{url}: names a folder; give one backup (s3://BUCKET/PREFIX/NAME)"
        ));
    }
    Ok((
        Location {
            bucket: location.bucket,
            prefix,
        },
        name,
    ))
}

/// The bytes of the backup `url` names, streamed, decrypted when it is an
/// age file (`.age`); its stored size.
pub fn open_object(url: &str) -> Result<(Box<dyn Read + Send>, u64)> {
    let (location, name) = split(url)?;
    let settings = settings();
    let remote = Remote::connect(&location, settings.endpoint.as_deref())?;
    let size = head_of(&remote, &name, url, settings.endpoint.as_deref())?.size;
    let received = Arc::new(AtomicU64::new(0));
    let reader = Stats {
        inner: Counted {
            inner: remote.open(&name)?,
            received: Arc::clone(&received),
        },
        report: Report::new(url, size, received),
    };
    if !name.ends_with(seal::EXTENSION) {
        return Ok((Box::new(reader), size));
    }
    let identities = identities_for(url)?;
    let plain = identities.decrypt(reader, url)?;
    Ok((Box::new(plain), size))
}

/// The object `name` (at `url`) as the bucket describes it. An object not
/// there is an error that says which is missing, the bucket or the object
/// (some services answer a missing bucket as a missing object), or that
/// `url` is a folder; so is a failed question about a name that is a
/// folder (s3s-fs answers 500 for those).
pub(crate) fn head_of(
    remote: &Remote,
    name: &str,
    url: &str,
    endpoint: Option<&str>,
) -> Result<super::Head> {
    match remote.head(name) {
        Ok(Some(head)) => Ok(head),
        Ok(None) => {
            remote.check_bucket()?;
            Err(folder_error(url, endpoint).unwrap_or_else(|| anyhow!("{url}: no such object")))
        }
        Err(e) => Err(folder_error(url, endpoint).unwrap_or(e)),
    }
}

/// "not one backup" when objects lie under `url` as a prefix.
fn folder_error(url: &str, endpoint: Option<&str>) -> Option<anyhow::Error> {
    match list_folder_at(url, endpoint) {
        Ok(Some(listed)) if !listed.is_empty() => Some(anyhow!(
            "{url} is a bucket folder ({} object{}), not one backup: name one \
             ({url}/NAME), or read the folder with history, restore, or --at",
            listed.len(),
            crate::counts::plural(listed.len())
        )),
        _ => None,
    }
}

/// The identities of `--identity`, for the encrypted copy `url`.
fn identities_for(url: &str) -> Result<Identities> {
    let Some(identity) = &settings().identity else {
        return Err(anyhow!(
            "{url} is encrypted (age): give the key to read it with --identity FILE"
        ));
    };
    Identities::from_file(identity)
}

/// The plaintext of the encrypted copy `url` (`.age`), read by byte
/// ranges as it is read and sought in, and its length; `None` when `url`
/// is not an encrypted copy. Every chunk read is authenticated by age (its
/// tag, its place in the file, whether it is the last); the last chunk is
/// authenticated here, so that a copy cut short fails at once. A chunk
/// that fails is an error of its own line ([`Sealed`]).
pub fn open_sealed_ranged(url: &str) -> Result<Option<(Sealed, u64)>> {
    let (location, name) = split(url)?;
    if !name.ends_with(seal::EXTENSION) {
        return Ok(None);
    }
    let identities = identities_for(url)?;
    let remote = Remote::connect(&location, settings().endpoint.as_deref())?;
    let size = head_of(&remote, &name, url, settings().endpoint.as_deref())?.size;
    let object = RangedObject::new(remote, &name, size);
    let report = Report::new(url, size, object.received());
    let plain = identities.decrypt(object, url)?;
    let mut sealed = Sealed {
        plain,
        pos: 0,
        _report: report,
    };
    let len = sealed
        .seek(SeekFrom::End(0))
        .and_then(|len| sealed.seek(SeekFrom::Start(0)).map(|_| len))
        .map_err(|e| anyhow!("{url}: {e}"))?;
    Ok(Some((sealed, len)))
}

/// The plaintext of an encrypted copy read by ranges: `Read + Seek`, each
/// error of age's authentication said as what it means.
pub struct Sealed {
    plain: age::stream::StreamReader<RangedObject>,
    /// Where the next read starts in the plaintext.
    pos: u64,
    _report: Report,
}

impl Sealed {
    /// Errors of the bucket (kind `Other`) as they are; age's (a chunk
    /// whose tag does not match, a last chunk missing) as damage.
    fn explain(&self, e: io::Error) -> io::Error {
        if e.kind() == io::ErrorKind::Other {
            return e;
        }
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the encrypted copy fails age's authentication near byte {} of its plaintext \
                 ({e}): it was damaged, cut short or altered after it was written",
                self.pos
            ),
        )
    }
}

impl Read for Sealed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.plain.read(buf) {
            Ok(n) => {
                self.pos += n as u64;
                Ok(n)
            }
            Err(e) => Err(self.explain(e)),
        }
    }
}

impl Seek for Sealed {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        match self.plain.seek(to) {
            Ok(pos) => {
                self.pos = pos;
                Ok(pos)
            }
            Err(e) => Err(self.explain(e)),
        }
    }
}

/// A reader that counts the bytes it gives.
struct Counted<R> {
    inner: R,
    received: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.received.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A streamed object that reports at its end (or when dropped).
struct Stats<R> {
    inner: R,
    report: Report,
}

impl<R: Read> Read for Stats<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.report.write();
        }
        Ok(n)
    }
}

/// The line `TEXTRESCUE_S3_STATS` asks for, written once per object.
struct Report {
    file: Option<PathBuf>,
    url: String,
    size: u64,
    received: Arc<AtomicU64>,
}

impl Report {
    fn new(url: &str, size: u64, received: Arc<AtomicU64>) -> Report {
        Report {
            file: std::env::var_os("TEXTRESCUE_S3_STATS")
                .filter(|f| !f.is_empty())
                .map(PathBuf::from),
            url: url.to_string(),
            size,
            received,
        }
    }

    fn write(&mut self) {
        let Some(file) = self.file.take() else {
            return;
        };
        let line = format!(
            "{}\t{}\t{}\n",
            self.url,
            self.received.load(Ordering::Relaxed),
            self.size
        );
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
            .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
    }
}

impl Drop for Report {
    fn drop(&mut self) {
        self.write();
    }
}

/// A bucket folder read like a backups folder: its objects (not those in
/// sub-folders) as `s3://BUCKET/PREFIX/NAME` URLs with their names and
/// last-modified times (nanoseconds since 1970). `None` when `url` names
/// one object rather than a folder (no object under it as a prefix).
pub fn list_folder(url: &str) -> Result<Option<Vec<Listed>>> {
    list_folder_at(url, settings().endpoint.as_deref())
}

/// [`list_folder`] at the service `endpoint` (rather than this run's).
fn list_folder_at(url: &str, endpoint: Option<&str>) -> Result<Option<Vec<Listed>>> {
    let location = Location::parse(url)?;
    let remote = Remote::connect(&location, endpoint)?;
    let objects = remote.list()?;
    if objects.is_empty() && !url.ends_with('/') && !location.prefix.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        objects
            .into_iter()
            .map(|o| Listed {
                url: location.display(&o.name),
                modified: o.modified,
                name: o.name,
            })
            .collect(),
    ))
}

/// Whether `url` names a bucket folder rather than one object: it ends in
/// `/`, or objects lie under it as a prefix. Returns the folder's URL
/// ending in `/` (how [`crate::restore::is_one_backup`] tells it), `None`
/// for one object.
pub fn as_folder(url: &str) -> Result<Option<String>> {
    if url.ends_with('/') {
        return Ok(Some(url.to_string()));
    }
    Ok(list_folder(url)?.map(|_| format!("{url}/")))
}

/// One object of a listed folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub url: String,
    pub name: String,
    /// Nanoseconds since 1970 (UTC).
    pub modified: i128,
}
