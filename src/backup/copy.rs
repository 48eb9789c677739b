//! Off-host copies of verified backups (`backup --copy-to`, `copy`): each
//! backup file uploaded to a bucket folder, plain or age-encrypted
//! ([`crate::remote`]), checked by reading the copy back (its size and
//! SHA-256 against what was sent), and the bucket's old copies removed by
//! the same retention rules as the local folder ([`retention::plan`] on the
//! listed object names).
//!
//! A copy already in the bucket under the same name, of the same local
//! bytes (the SHA-256 recorded with it, or for a plain copy without one, its
//! size and read-back SHA-256), is not sent again: `copy` can be run again
//! after any failure and picks up where it stopped.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, anyhow, bail};
use chrono::Utc;
use sha2::{Digest, Sha256};

use super::retention::{self, Backup, Keep, Plan};
use crate::folder_names;
use crate::hex::hex;
use crate::indexed_gzip::{Labels, check_labels};
use crate::remote::Remote;
use crate::remote::seal::{self, Recipients};

/// Where copies go and how.
pub struct CopyTo {
    pub remote: Remote,
    /// Encrypt to these keys (never upload in clear when given).
    pub recipients: Option<Recipients>,
    /// Set by SIGINT, SIGTERM or SIGHUP ([`crate::signals::stop_flag`]):
    /// the upload under way stops and is aborted.
    pub stop: Option<Arc<AtomicBool>>,
}

/// The local file, failing once a signal asked to stop (an error that
/// `io::copy` does not retry), so that the upload is aborted.
struct Stoppable<'a, R> {
    inner: R,
    stop: Option<&'a AtomicBool>,
}

impl<R: Read> Read for Stoppable<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
            return Err(io::Error::other("interrupted by a signal"));
        }
        self.inner.read(buf)
    }
}

/// What copying one backup did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Copied {
    /// Uploaded and read back: `bytes` as the bucket holds it.
    Sent { name: String, bytes: u64 },
    /// The bucket already had it.
    AlreadyThere { name: String },
}

impl Copied {
    pub fn name(&self) -> &str {
        match self {
            Copied::Sent { name, .. } | Copied::AlreadyThere { name } => name,
        }
    }
}

impl CopyTo {
    /// The object name of the copy of the local file `file_name`.
    pub fn object_name(&self, file_name: &str) -> String {
        match self.recipients {
            Some(_) => format!("{file_name}{}", seal::EXTENSION),
            None => file_name.to_string(),
        }
    }

    /// Copies the backup file `local` unless the bucket has it already;
    /// checks the copy. On failure no object is left under its name (the
    /// multipart upload is aborted, a copy that reads back wrong removed)
    /// and the local file is untouched.
    ///
    /// An encrypted copy's index is trusted by its readers with what the
    /// members hold (docs/indexed-backups.md): a backup that sat in the
    /// folder (`copy`) is read whole against its index before it is sealed,
    /// and one whose index does not tell the truth is not copied.
    pub fn copy_one(&self, local: &Path) -> Result<Copied> {
        self.copy_checked(local, false)
    }

    /// [`copy_one`](Self::copy_one); `index_written_now` when this run
    /// wrote `local` and its index, and read it back (`backup
    /// --copy-to`): its index is the writer's, not checked again.
    fn copy_checked(&self, local: &Path, index_written_now: bool) -> Result<Copied> {
        let file_name = local
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| anyhow!("{}: not a backup file name", local.display()))?;
        let name = self.object_name(file_name);
        let remote = &self.remote;
        remote.check_bucket()?;
        let (local_size, local_sha) = sha256_file(local)?;
        let local_hex = hex(&local_sha);
        if let Some(head) = remote.head(&name)? {
            let same = match (&head.source_sha256, &self.recipients) {
                (Some(recorded), _) => *recorded == local_hex,
                // A plain copy someone else made: compare its bytes.
                (None, None) => head.size == local_size && remote.sha256_of(&name)?.1 == local_sha,
                (None, Some(_)) => false,
            };
            if same {
                return Ok(Copied::AlreadyThere { name });
            }
        }

        if self.recipients.is_some() && !index_written_now {
            let file =
                File::open(local).with_context(|| format!("cannot open {}", local.display()))?;
            let labels = check_labels(&file)
                .with_context(|| format!("cannot read {} back", local.display()))?;
            if let Labels::Lie(why) = labels {
                bail!(
                    "{}: its index does not match its contents ({why}): it was changed after it \
                     was written; not copied (`textrescue reindex` writes a new one)",
                    local.display()
                );
            }
        }

        let target = remote.location.display(&name);
        let mut upload = remote
            .upload(&name, &local_hex)
            .map_err(|e| anyhow!("{e:#}; no object was created"))?;
        let mut input = Stoppable {
            inner: BufReader::with_capacity(
                1024 * 1024,
                File::open(local).with_context(|| format!("cannot open {}", local.display()))?,
            ),
            stop: self.stop.as_deref(),
        };
        let streamed: Result<u64> = match &self.recipients {
            Some(recipients) => (|| {
                let mut sealed = recipients.encrypt(&mut upload)?;
                let n = io::copy(&mut input, &mut sealed)?;
                sealed.finish()?;
                Ok(n)
            })(),
            None => io::copy(&mut input, &mut upload).map_err(Into::into),
        };
        let failed = |why: String, aborted: Result<(), String>| {
            let cleanup = match aborted {
                Ok(()) => "the partial upload was aborted".to_string(),
                Err(e) => format!(
                    "aborting the partial upload failed too ({e}), but no object was created"
                ),
            };
            anyhow!("cannot upload {target}: {why}; {cleanup}")
        };
        let sent = match streamed {
            // `finish` aborts the upload itself when it fails.
            Ok(n) if n == local_size => upload
                .finish()
                .map_err(|e| anyhow!("{}; no object was created", strip_target(&e, &target)))
                .map_err(|e| anyhow!("cannot upload {target}: {e}"))?,
            Ok(n) => {
                let why = format!(
                    "{} changed while it was copied ({n} bytes read, {local_size} expected)",
                    local.display()
                );
                return Err(failed(why, upload.abort()));
            }
            Err(e) => return Err(failed(format!("{e:#}"), upload.abort())),
        };
        if self.recipients.is_none() && sent.sha256 != local_sha {
            let _ = remote.delete(&name);
            bail!(
                "{} changed while it was copied; the copy was removed",
                local.display()
            );
        }
        let stopped = || self.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst));
        // A signal during the upload's completion: the run fails, and
        // leaves no copy it did not check.
        if stopped() {
            let _ = remote.delete(&name);
            bail!("cannot upload {target}: interrupted by a signal; the copy was removed");
        }
        let (held, held_sha) = remote.sha256_of(&name)?;
        if held != sent.bytes || held_sha != sent.sha256 {
            let _ = remote.delete(&name);
            bail!(
                "{target} reads back wrong ({held} bytes, sha256 {}; sent {} bytes, sha256 {}); the copy was removed",
                hex(&held_sha),
                sent.bytes,
                hex(&sent.sha256)
            );
        }
        Ok(Copied::Sent { name, bytes: held })
    }

    /// Applies `keep` to the copies in the bucket folder whose names are
    /// backups with `prefix` (`.age` or not); `new_name` (the copy just
    /// made) is always kept. Removes them unless `dry_run`; returns the plan.
    pub fn apply_retention(
        &self,
        prefix: &str,
        new_name: &str,
        keep: &Keep,
        dry_run: bool,
    ) -> Result<Plan> {
        let backups: Vec<Backup> = self
            .remote
            .list()?
            .into_iter()
            .filter_map(|o| {
                let base = o.name.strip_suffix(seal::EXTENSION).unwrap_or(&o.name);
                let dated = folder_names::backup_with_prefix(base, prefix)?;
                Some(Backup {
                    when: dated.when,
                    timed: dated.timed,
                    seq: dated.seq,
                    name: o.name.clone(),
                })
            })
            .collect();
        let plan = retention::plan(&backups, new_name, keep, Utc::now());
        if !dry_run {
            for name in &plan.remove {
                self.remote.delete(name)?;
            }
        }
        Ok(plan)
    }
}

/// The message of an upload error without its target said twice.
fn strip_target(e: &anyhow::Error, target: &str) -> String {
    let text = format!("{e:#}");
    text.strip_prefix(&format!("cannot upload {target}: "))
        .map(str::to_string)
        .unwrap_or(text)
}

/// The size and SHA-256 of a local file, streamed.
pub fn sha256_file(path: &Path) -> Result<(u64, [u8; 32])> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hasher.finalize().into()))
}

/// The backups in `dir` that `copy` copies: regular files named like a
/// backup (`.sql.gz` or `.dump`), oldest first (by name date, then name).
/// With `prefix`, only those with it.
pub fn local_backups(dir: &Path, prefix: Option<&str>) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let dated = match prefix {
            Some(p) => folder_names::backup_with_prefix(&name, p).map(|d| (d.when, d.seq)),
            None => folder_names::dated_name(&name)
                .filter(|d| matches!(d.extension, ".sql.gz" | ".dump"))
                .map(|d| (d.when, d.seq)),
        };
        let Some((when, seq)) = dated else { continue };
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        found.push((when, seq, name, entry.path()));
    }
    found.sort();
    Ok(found.into_iter().map(|(_, _, _, p)| p).collect())
}

/// `backup --copy-to`: the verified backup at `local` copied and checked,
/// then the bucket's retention; one line unless `quiet`. A failure leaves
/// the local backup and says so.
pub fn after_backup(to: &CopyTo, local: &Path, settings: &super::Settings) -> Result<()> {
    let fail = |e: anyhow::Error| {
        anyhow!(
            "backup {} written and verified, but not copied: {e:#}",
            local.display()
        )
    };
    let copied = to.copy_checked(local, true).map_err(fail)?;
    let mut note = String::new();
    if settings.keep.any() {
        let plan = to
            .apply_retention(
                &settings.prefix,
                copied.name(),
                &settings.keep,
                settings.dry_run,
            )
            .map_err(|e| anyhow!("backup {} copied, but {e:#}", local.display()))?;
        let n = plan.remove.len();
        if settings.dry_run {
            for name in &plan.remove {
                println!("would remove {}", to.remote.location.display(name));
            }
            note = format!(
                "; --dry-run: would remove {n} old cop{}",
                if n == 1 { "y" } else { "ies" }
            );
        } else {
            note = format!("; removed {n} old cop{}", if n == 1 { "y" } else { "ies" });
        }
    }
    if !settings.quiet {
        let target = to.remote.location.display(copied.name());
        match &copied {
            Copied::Sent { bytes, .. } => {
                println!(
                    "copied to {target} ({bytes} bytes, read back: size and sha256 match){note}"
                )
            }
            Copied::AlreadyThere { .. } => println!("{target} already there{note}"),
        }
    }
    Ok(())
}
