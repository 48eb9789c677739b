//! The one way textrescue writes a file: whole under its name, or not at all.
//!
//! An [`AtomicFile`] is a new file in the target's own folder, with an
//! unpredictable name (a given prefix, random characters, a given suffix),
//! created with `O_CREAT | O_EXCL` and its final mode: nothing planted at
//! any name is ever followed or written, and no other user can open it
//! while it is written. Once written it is synced, given the target's name
//! in one rename (either replacing what is there, for `--output`, or never,
//! for backups), and the folder is synced so that the name survives a
//! crash. Dropped before that (an error, a panic, a signal that ends the
//! run cleanly), it is removed.
//!
//! A SIGINT, SIGTERM or SIGHUP that would end the process (`texts -o`,
//! `diff -o`, `history -o`, ...) removes every temporary name first: the
//! names of the files alive are kept in a list, and a thread started with
//! the first file receives those signals, removes them, and ends the
//! process by the same signal (the shell sees 128 + its number). While a
//! run handles the signals itself (`backup`, `restore`: see
//! [`crate::signals::taken`]), that thread leaves them to it:
//! that run fails, and its files are dropped on the way out.

use std::fs::File;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, Result};
use tempfile::NamedTempFile;

use crate::signals;

/// A file being written under a temporary name in its target's folder.
#[derive(Debug)]
pub struct AtomicFile {
    // Dropped in this order: the file removed, then its name forgotten.
    temp: NamedTempFile,
    folder: PathBuf,
    live: Live,
}

/// The temporary names of the files alive, for the signal thread.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn live() -> MutexGuard<'static, Vec<PathBuf>> {
    // A panic while holding it leaves a list still worth using.
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// One name in [`LIVE`], forgotten when dropped (or when named: [`Live::named`]).
#[derive(Debug)]
struct Live(Option<PathBuf>);

impl Live {
    /// The file has its final name: its temporary name is gone. Called with
    /// the list locked since before the rename, so that the signal thread
    /// sees either the temporary name or none.
    fn named(mut self, list: &mut Vec<PathBuf>) {
        if let Some(path) = self.0.take() {
            list.retain(|p| *p != path);
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            live().retain(|p| *p != path);
        }
    }
}

/// Starts the thread that removes the temporary names on SIGINT, SIGTERM
/// or SIGHUP, once per process (see [`signals::before_default_action`]).
fn watch_signals() {
    signals::before_default_action(|| {
        // Kept locked to the end: no file gets its name after this.
        let list = live();
        for path in list.iter() {
            let _ = std::fs::remove_file(path);
        }
        std::mem::forget(list);
    });
}

/// What [`AtomicFile::persist_noclobber`] did.
#[must_use]
#[derive(Debug)]
pub enum Noclobber {
    /// The file has the target's name, and the folder is synced.
    Persisted,
    /// Something already has that name (left as it was): the file, still
    /// under its temporary name, to try another.
    NameTaken(AtomicFile),
}

impl AtomicFile {
    /// A new, empty file in `folder`, named `prefix`, six random
    /// characters, `suffix`, created with `mode` (less the umask).
    pub fn create_in(folder: &Path, prefix: &str, suffix: &str, mode: u32) -> io::Result<Self> {
        watch_signals();
        // Locked while the file is made: a signal then removes it too.
        let mut list = live();
        let temp = builder(prefix, suffix, mode).tempfile_in(folder)?;
        list.push(temp.path().to_path_buf());
        drop(list);
        let live = Live(Some(temp.path().to_path_buf()));
        Ok(AtomicFile {
            temp,
            folder: folder.to_path_buf(),
            live,
        })
    }

    /// The open file, to write (`&File` is `Write`) and sync.
    pub fn file(&self) -> &File {
        self.temp.as_file()
    }

    /// Its temporary name.
    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    /// Syncs the file's data and gives it `target`'s name, replacing a
    /// file there (a link there is replaced, never followed); then syncs
    /// the folder.
    pub fn persist_replacing(self, target: &Path) -> Result<()> {
        self.sync_data(target)?;
        let AtomicFile { temp, folder, live } = self;
        let mut list = self::live();
        temp.persist(target)
            .map_err(|e| anyhow::Error::new(e.error))
            .with_context(|| format!("cannot name the file {}", target.display()))?;
        live.named(&mut list);
        drop(list);
        sync_folder(&folder)
    }

    /// Syncs the file's data and gives it `target`'s name unless that name
    /// is taken (by anything: a file, a link, a folder); then syncs the
    /// folder.
    pub fn persist_noclobber(self, target: &Path) -> Result<Noclobber> {
        self.sync_data(target)?;
        let AtomicFile { temp, folder, live } = self;
        let mut list = self::live();
        match temp.persist_noclobber(target) {
            Ok(_) => {
                live.named(&mut list);
                drop(list);
                sync_folder(&folder)?;
                Ok(Noclobber::Persisted)
            }
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
                Ok(Noclobber::NameTaken(AtomicFile {
                    temp: e.file,
                    folder,
                    live,
                }))
            }
            Err(e) => Err(anyhow::Error::new(e.error))
                .with_context(|| format!("cannot name the file {}", target.display())),
        }
    }

    fn sync_data(&self, target: &Path) -> Result<()> {
        self.file()
            .sync_all()
            .with_context(|| format!("cannot write {}", target.display()))
    }
}

/// How every temporary name is made and opened (`O_CREAT | O_EXCL`, so a
/// link at the name is an existing name, never followed).
fn builder<'a>(prefix: &'a str, suffix: &'a str, mode: u32) -> tempfile::Builder<'a, 'a> {
    let mut builder = tempfile::Builder::new();
    builder
        .prefix(prefix)
        .suffix(suffix)
        .permissions(std::fs::Permissions::from_mode(mode));
    builder
}

/// Syncs a folder, so that a name just given in it survives a crash.
fn sync_folder(folder: &Path) -> Result<()> {
    File::open(folder)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync the folder {}", folder.display()))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::Write;
    use std::os::unix::fs::symlink;

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn created_with_its_mode_and_an_unpredictable_name() {
        let dir = tempfile::tempdir().unwrap();
        let a = AtomicFile::create_in(dir.path(), ".textrescue-partial-", ".dump", 0o600).unwrap();
        let b = AtomicFile::create_in(dir.path(), ".textrescue-partial-", ".dump", 0o600).unwrap();
        assert_eq!(mode(a.path()), 0o600);
        assert_ne!(a.path(), b.path());
        for f in [&a, &b] {
            let name = f.path().file_name().unwrap().to_str().unwrap();
            assert!(name.starts_with(".textrescue-partial-"), "{name}");
            assert!(name.ends_with(".dump"), "{name}");
            assert_eq!(f.path().parent(), Some(dir.path()));
        }
        let target = dir.path().join("backup.dump");
        a.file().write_all(b"data").unwrap();
        assert!(matches!(
            a.persist_noclobber(&target).unwrap(),
            Noclobber::Persisted
        ));
        assert_eq!(mode(&target), 0o600);
        assert_eq!(fs::read(&target).unwrap(), b"data");
        drop(b);
        assert_eq!(names(dir.path()), ["backup.dump"]);
    }

    #[test]
    fn noclobber_leaves_whatever_has_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let file_there = dir.path().join("file");
        fs::write(&file_there, "earlier").unwrap();
        let link_there = dir.path().join("link");
        symlink(&victim, &link_there).unwrap();
        let dangling = dir.path().join("dangling");
        symlink(dir.path().join("nowhere"), &dangling).unwrap();

        let mut file = AtomicFile::create_in(dir.path(), ".t-", "", 0o600).unwrap();
        file.file().write_all(b"new").unwrap();
        for taken in [&file_there, &link_there, &dangling] {
            file = match file.persist_noclobber(taken).unwrap() {
                Noclobber::NameTaken(file) => file,
                Noclobber::Persisted => panic!("{} was replaced", taken.display()),
            };
        }
        assert_eq!(fs::read_to_string(&file_there).unwrap(), "earlier");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert!(fs::symlink_metadata(&link_there).unwrap().is_symlink());
        assert!(fs::symlink_metadata(&dangling).unwrap().is_symlink());
        assert!(!dir.path().join("nowhere").exists());
        let free = dir.path().join("free");
        assert!(matches!(
            file.persist_noclobber(&free).unwrap(),
            Noclobber::Persisted
        ));
        assert_eq!(fs::read_to_string(&free).unwrap(), "new");
        assert_eq!(
            names(dir.path()),
            ["dangling", "file", "free", "link", "victim"]
        );
    }

    #[test]
    fn replacing_a_planted_link_replaces_the_link_not_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let target = dir.path().join("out.json");
        symlink(&victim, &target).unwrap();
        let file = AtomicFile::create_in(dir.path(), ".t-", "", 0o644).unwrap();
        file.file().write_all(b"[]").unwrap();
        file.persist_replacing(&target).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert!(fs::symlink_metadata(&target).unwrap().is_file());
        assert_eq!(fs::read_to_string(&target).unwrap(), "[]");
        assert_eq!(names(dir.path()), ["out.json", "victim"]);
    }

    /// A link planted at the name a file is created under is never
    /// followed: with no random part (so that the name is known in
    /// advance), creation fails rather than writing through the link.
    #[test]
    fn a_link_planted_at_a_temporary_name_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        symlink(&victim, dir.path().join(".t-known")).unwrap();
        symlink(dir.path().join("created"), dir.path().join(".t-dangling")).unwrap();
        for name in ["known", "dangling"] {
            let made = builder(".t-", name, 0o600)
                .rand_bytes(0)
                .tempfile_in(dir.path());
            assert_eq!(made.unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        }
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!dir.path().join("created").exists());
        // With its random part, the file is made beside them.
        let file = AtomicFile::create_in(dir.path(), ".t-", "", 0o600).unwrap();
        assert!(fs::symlink_metadata(file.path()).unwrap().is_file());
        file.file().write_all(b"mine").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    }

    #[test]
    fn a_file_dropped_before_it_is_named_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("backup.sql.gz");
        let write_and_fail = || -> Result<()> {
            let file = AtomicFile::create_in(dir.path(), ".textrescue-partial-", "", 0o600)?;
            file.file().write_all(b"half a dump")?;
            anyhow::bail!("pg_dump failed");
        };
        assert!(write_and_fail().is_err());
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
        assert!(!target.exists());
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_nothing_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let e = AtomicFile::create_in(&dir.path().join("gone"), ".t-", "", 0o600).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
