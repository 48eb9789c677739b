//! Readers reading copies where they are: `s3://BUCKET/KEY` given to
//! `texts`, `inspect`, `diff`... is streamed from the bucket (decrypted on
//! the way when its name ends in `.age`). The endpoint and the identities
//! are the command's (`--s3-endpoint`, `--identity`), set once per run
//! with [`configure`] before any dump is opened.

use std::io::Read;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Result, anyhow};

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
    let size = remote
        .head(&name)?
        .ok_or_else(|| anyhow!("{url}: no such object"))?
        .size;
    let reader = remote.open(&name)?;
    if !name.ends_with(seal::EXTENSION) {
        return Ok((Box::new(reader), size));
    }
    let Some(identity) = &settings.identity else {
        return Err(anyhow!(
            "{url} is encrypted (age): give the key to read it with --identity FILE"
        ));
    };
    let identities = Identities::from_file(identity)?;
    let plain = identities.decrypt(reader, url)?;
    Ok((Box::new(plain), size))
}

/// A bucket folder read like a backups folder: its objects (not those in
/// sub-folders) as `s3://BUCKET/PREFIX/NAME` URLs with their names and
/// last-modified times (nanoseconds since 1970). `None` when `url` names
/// one object rather than a folder (no object under it as a prefix).
pub fn list_folder(url: &str) -> Result<Option<Vec<Listed>>> {
    let location = Location::parse(url)?;
    let remote = Remote::connect(&location, settings().endpoint.as_deref())?;
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

/// One object of a listed folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub url: String,
    pub name: String,
    /// Nanoseconds since 1970 (UTC).
    pub modified: i128,
}
