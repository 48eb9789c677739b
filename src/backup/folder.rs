//! The backups folder's side of a backup: the folder made (0700) and
//! locked, what a killed run left removed, the backup written as an
//! [`AtomicFile`] under a partial name, and that file named as a backup
//! without ever replacing one. The names are [`crate::folder_names`]'s.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use nix::fcntl::OFlag;

use crate::atomic_file::{AtomicFile, Noclobber};
use crate::folder_names::{self, LOCK_FILE, PARTIAL_PREFIX};
use crate::signals::Interrupts;

/// Creates DIR (and missing parents) with mode 0700; an existing DIR is
/// left as it is, unless group or others can write it: it is refused then.
pub fn prepare(dir: &Path) -> Result<()> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => return check_not_writable_by_others(dir, m.permissions().mode()),
        Ok(_) => bail!("--dir {}: not a directory", dir.display()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(anyhow!("--dir {}: {e}", dir.display())),
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    // The umask may have taken bits away, never added; make it exactly 0700.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot set the mode of {}", dir.display()))?;
    Ok(())
}

/// Refuses a backups folder that group or others can write (as ssh refuses
/// a key file others can read): whoever can write there can remove or
/// replace backups, or plant names that retention and `restore` would read
/// as backups. A sticky bit does not help: planted names are the problem.
fn check_not_writable_by_others(dir: &Path, mode: u32) -> Result<()> {
    if mode & 0o022 == 0 {
        return Ok(());
    }
    let who = match mode & 0o022 {
        0o020 => "its group",
        0o002 => "others",
        _ => "its group and others",
    };
    bail!(
        "--dir {}: {who} can write it (mode {:04o}), so they could remove, replace or plant \
         backups; make it yours alone with `chmod go-w {}`; no backup written",
        dir.display(),
        mode & 0o7777,
        shell_word(&dir.display().to_string())
    )
}

/// `s` as one shell word, for a command a message suggests.
fn shell_word(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+,:@%".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Takes DIR's lock, waiting up to `timeout` (trying every 100 ms, and
/// giving up on a signal). The lock file is never opened through a link.
/// Held until the returned file is dropped.
pub fn lock(dir: &Path, timeout: Duration, interrupts: &Interrupts) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(OFlag::O_NOFOLLOW.bits())
        .open(&path)
        .map_err(|e| {
            anyhow!(
                "cannot open the lock file {}: {e}; no backup written",
                path.display()
            )
        })?;
    let start = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) => {
                interrupts.check()?;
                if start.elapsed() >= timeout {
                    let mut holder = String::new();
                    let _ = (&file).read_to_string(&mut holder);
                    let holder = holder.trim();
                    let who = if holder.is_empty() {
                        String::new()
                    } else {
                        format!(" (pid {holder})")
                    };
                    let waited = if timeout.is_zero() {
                        "not waiting (--lock-timeout 0)".to_string()
                    } else {
                        format!("gave up after {} s (--lock-timeout)", timeout.as_secs())
                    };
                    bail!(
                        "another textrescue backup{who} is running in {} (it holds {}); {waited}",
                        dir.display(),
                        path.display()
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(anyhow!("cannot lock {}: {e}", path.display()));
            }
        }
    }
    // Who holds it, for the message a waiting run gives.
    let _ = file.set_len(0);
    let _ = writeln!(file, "{}", std::process::id());
    Ok(file)
}

/// Removes the partial backups a run killed outright left (with the lock
/// held, no other run is writing one).
pub fn remove_stale_partials(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let is_partial = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(PARTIAL_PREFIX));
        if is_partial && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The file a backup is written into: a partial name in DIR, mode 0600.
pub fn create_partial(dir: &Path, extension: &str) -> Result<AtomicFile> {
    AtomicFile::create_in(dir, PARTIAL_PREFIX, extension, 0o600).map_err(|e| {
        anyhow!(
            "cannot create a file in {}: {e}; no backup written",
            dir.display()
        )
    })
}

/// Gives the verified file its backup name, never replacing a file: a
/// second backup within the same second gets `-2`, `-3`, ... after the time.
pub fn name_backup(
    mut file: AtomicFile,
    dir: &Path,
    prefix: &str,
    stamp: &str,
    extension: &str,
) -> Result<PathBuf> {
    for seq in 1..1000 {
        let target = dir.join(folder_names::backup_name(prefix, stamp, seq, extension));
        match file.persist_noclobber(&target)? {
            Noclobber::Persisted => return Ok(target),
            Noclobber::NameTaken(again) => file = again,
        }
    }
    bail!(
        "too many backups named {prefix}{stamp}* in {}",
        dir.display()
    )
}

/// The one-line message for a failed write (or sync) of the backup.
pub fn write_failure(what: &str, dir: &Path, e: &io::Error) -> anyhow::Error {
    let hint = match e.kind() {
        io::ErrorKind::FileTooLarge => " (over the file-size limit: ulimit -f)",
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => " (the disk or quota is full)",
        _ => "",
    };
    anyhow!(
        "cannot {what} the backup in {}: {e}{hint}; no backup written",
        dir.display()
    )
}
