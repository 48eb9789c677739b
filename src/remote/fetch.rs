//! A copy in a bucket fetched into a private temporary file, for what
//! needs a file rather than a stream (psql and pg_restore under `restore`
//! and `drill`): decrypted on the way when it is an age file (`.age`),
//! checked against the SHA-256 its upload recorded, and removed when the
//! [`Fetched`] is dropped (at the end, on an error, or when a signal stops
//! the run that holds it).
//!
//! The file is `FOLDER/.textrescue-fetch-XXXXXX/NAME` (the object's name
//! without `.age`, so that what reads it by its name, a backup's database,
//! its format, reads the backup's own name): the folder is created with
//! mode 0700 and the file with 0600, both new (`O_EXCL`), so no other user
//! reads the backup or plants a name in its way.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};

use super::read::{self, ReadSettings, split};
use super::seal::{self, Identities};
use super::{Head, Remote};
use crate::counts::human_size;
use crate::folder_names;
use crate::hex::hex;

/// A copy fetched into a temporary file; the file and its folder are
/// removed when this is dropped.
#[derive(Debug)]
pub struct Fetched {
    /// `s3://BUCKET/KEY` it was fetched from.
    pub url: String,
    path: PathBuf,
    /// The plaintext's size.
    pub bytes: u64,
    /// Whether the bytes were checked against a SHA-256 the copy records.
    pub checked: bool,
    // Last: removed after everything else is dropped.
    _folder: tempfile::TempDir,
}

impl Fetched {
    /// The temporary file (gone once `self` is dropped).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One line for the user: what was fetched, and how it was checked.
    pub fn describe(&self) -> String {
        format!(
            "fetched {} ({}{}) into a temporary file, removed at the end",
            self.url,
            human_size(self.bytes),
            if self.checked {
                ", sha256 matches the copy's record"
            } else {
                "; the copy records no sha256 to check it against"
            }
        )
    }
}

/// Counts and hashes what is read through it, for the bytes the bucket
/// sent (the ciphertext of an encrypted copy).
struct Tee<R> {
    inner: R,
    seen: Rc<RefCell<(Sha256, u64)>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut seen = self.seen.borrow_mut();
        seen.0.update(&buf[..n]);
        seen.1 += n as u64;
        Ok(n)
    }
}

/// Fetches the object `url` (`s3://BUCKET/PREFIX/NAME`) into a new private
/// temporary file in `folder`, decrypting it with `settings.identity` when
/// its name ends in `.age`. `stop` is asked between chunks and fails the
/// fetch once a signal came. On any failure nothing is left in `folder`.
pub fn fetch(
    url: &str,
    settings: &ReadSettings,
    folder: &Path,
    stop: &dyn Fn() -> Result<()>,
) -> Result<Fetched> {
    let (location, name) = split(url)?;
    let encrypted = name.ends_with(seal::EXTENSION);
    // The key first: a missing or unreadable one fails before any request.
    let identities = match (&settings.identity, encrypted) {
        (Some(path), true) => Some(Identities::from_file(path)?),
        (None, true) => {
            bail!("{url} is encrypted (age): give the key to read it with --identity FILE")
        }
        (_, false) => None,
    };
    let plain_name = name.strip_suffix(seal::EXTENSION).unwrap_or(&name);
    if plain_name.is_empty() || folder_names::is_own_file(plain_name) {
        bail!("{url}: not a backup's name");
    }
    let remote = Remote::connect(&location, settings.endpoint.as_deref())?;
    let head = read::head_of(&remote, &name, url, settings.endpoint.as_deref())?;
    check_room(folder, head.size)?;
    let dir = tempfile::Builder::new()
        .prefix(".textrescue-fetch-")
        .tempdir_in(folder)
        .with_context(|| format!("cannot make a temporary folder in {}", folder.display()))?;
    let path = dir.path().join(plain_name);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let written =
        write_object(&remote, &name, url, identities.as_ref(), file, stop).map_err(|e| {
            match e.downcast::<WriteError>() {
                Ok(w) => anyhow!(
                    "cannot write the copy fetched from {url} into {}: {}; nothing was kept",
                    folder.display(),
                    w.0
                ),
                Err(e) => anyhow!("{e:#}; nothing was kept"),
            }
        })?;
    let checked = check(url, &head, &written)?;
    Ok(Fetched {
        url: url.to_string(),
        path,
        bytes: written.plain_bytes,
        checked,
        _folder: dir,
    })
}

/// A local write that failed (a full disk, a quota): said as such.
#[derive(Debug)]
struct WriteError(io::Error);

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for WriteError {}

/// What one fetch wrote, and what the bucket sent.
struct Written {
    sent_bytes: u64,
    sent_sha: [u8; 32],
    plain_bytes: u64,
    plain_sha: [u8; 32],
}

fn write_object(
    remote: &Remote,
    name: &str,
    url: &str,
    identities: Option<&Identities>,
    file: File,
    stop: &dyn Fn() -> Result<()>,
) -> Result<Written> {
    let seen = Rc::new(RefCell::new((Sha256::new(), 0u64)));
    let sent = Tee {
        inner: remote.open(name)?,
        seen: Rc::clone(&seen),
    };
    let mut input: Box<dyn Read> = match identities {
        Some(ids) => Box::new(ids.decrypt(sent, url)?),
        None => Box::new(sent),
    };
    let mut out = BufWriter::with_capacity(1024 * 1024, file);
    let mut plain = Sha256::new();
    let mut plain_bytes = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        stop()?;
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => bail!("cannot read {url}: {e}"),
        };
        plain.update(&buf[..n]);
        plain_bytes += n as u64;
        out.write_all(&buf[..n]).map_err(WriteError)?;
    }
    drop(input);
    let file = out.into_inner().map_err(|e| WriteError(e.into_error()))?;
    file.sync_all().map_err(WriteError)?;
    let (hasher, sent_bytes) = Rc::try_unwrap(seen)
        .map_err(|_| anyhow!("the fetch of {url} is still in use"))?
        .into_inner();
    Ok(Written {
        sent_bytes,
        sent_sha: hasher.finalize().into(),
        plain_bytes,
        plain_sha: plain.finalize().into(),
    })
}

/// The fetched bytes against what the bucket said of the object (its
/// size) and what its upload recorded (the SHA-256 of the object, and of
/// the local backup it is a copy of). Whether a SHA-256 was compared.
fn check(url: &str, head: &Head, written: &Written) -> Result<bool> {
    if written.sent_bytes != head.size {
        bail!(
            "{url}: {} bytes received, the bucket lists {}; nothing was kept",
            written.sent_bytes,
            head.size
        );
    }
    let mut checked = false;
    for (recorded, got, what) in [
        (&head.sha256, &written.sent_sha, "the object's"),
        (&head.source_sha256, &written.plain_sha, "the backup's"),
    ] {
        let Some(recorded) = recorded else { continue };
        if !recorded.eq_ignore_ascii_case(&hex(got)) {
            bail!(
                "{url}: the fetched bytes are not those recorded with the copy ({what} sha256 is \
                 {recorded}, read {}); nothing was kept",
                hex(got)
            );
        }
        checked = true;
    }
    Ok(checked)
}

/// Fails at once, in one line, when `folder` has not room for `size`
/// bytes (a fetch would fill the disk and fail at the end).
fn check_room(folder: &Path, size: u64) -> Result<()> {
    let stat = nix::sys::statvfs::statvfs(folder)
        .map_err(|e| anyhow!("cannot use {} for the fetched copy: {e}", folder.display()))?;
    let free = stat.blocks_available().saturating_mul(stat.fragment_size());
    if free < size {
        bail!(
            "no space left in {} to fetch the copy: {} free, the copy is {}",
            folder.display(),
            human_size(free),
            human_size(size)
        );
    }
    Ok(())
}
