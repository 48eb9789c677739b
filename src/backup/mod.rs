//! `textrescue backup`: one verified backup.
//!
//! The steps, each of which can fail the backup (and then no file is left
//! under a backup's name):
//! 1. create DIR (mode 0700) if missing, refuse a DIR that group or others
//!    can write, take the lock `DIR/.textrescue-backup.lock`, remove what a
//!    killed run left ([`folder`]);
//! 2. start pg_dump (locally or with `docker exec -i`) in its own process
//!    group, its password in its environment only ([`conn`], [`pg_dump`]);
//! 3. stream its stdout into an [`AtomicFile`] in DIR (created 0600 under a
//!    partial name), through gzip for plain dumps (an indexed `.sql.gz`,
//!    [`crate::indexed_gzip`]); collect its stderr (bounded);
//! 4. judge pg_dump by its exit status and stderr; sync the file;
//! 5. read the file back with our own reader: complete, texts table parsed ([`verify`]);
//! 6. name it `PREFIX + YYYYMMDD-HHMMSS + .sql.gz|.dump` ([`names`]) without
//!    ever replacing a file, sync DIR;
//! 7. apply retention ([`retention`]), print one line.
//!
//! SIGINT, SIGTERM and SIGHUP stop pg_dump (or the read-back) and fail the
//! run, which cleans up; a second signal exits at once ([`crate::signals`]).
//! With `--container`, ending the `docker exec` client does not end pg_dump
//! inside the container: a run that fails or is interrupted also stops that
//! pg_dump, by the process id its wrapper reported (`conn::PID_MARKER`).

mod child;
pub mod conn;
pub mod copy;
mod folder;
mod pg_dump;
pub mod retention;
mod verify;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use chrono::Utc;
use flate2::Compression;
use nix::unistd::{Uid, User};

use crate::atomic_file::AtomicFile;
use crate::counts::{human_size, plural};
use crate::indexed_gzip::IndexedGzWriter;
use crate::signals::Interrupts;
use conn::{Conn, DumpFormat, Launch};
use retention::Keep;

/// Everything `backup` needs, from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    pub dir: PathBuf,
    pub conn: Conn,
    pub launch: Launch,
    pub prefix: String,
    pub keep: Keep,
    pub dry_run: bool,
    pub lock_timeout: Duration,
    pub quiet: bool,
}

impl Settings {
    /// One backup of the database `conn` names into `dir`, pg_dump started
    /// as `launch` says, its files named `prefix` (else `<dbname>_bk_`, see
    /// [`default_prefix`]), checked either way: how `backup` and restore's
    /// safety backup both start. It keeps every old backup, waits for no
    /// lock and prints its summary: the caller changes what it needs.
    pub fn new(dir: PathBuf, conn: Conn, launch: Launch, prefix: Option<&str>) -> Result<Settings> {
        let prefix = match prefix {
            Some(p) => p.to_string(),
            None => default_prefix(&conn, launch.container.is_some())?,
        };
        check_prefix(&prefix)?;
        Ok(Settings {
            dir,
            conn,
            launch,
            prefix,
            keep: Keep::default(),
            dry_run: false,
            lock_timeout: Duration::ZERO,
            quiet: false,
        })
    }
}

/// The backup a run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Its final name, in DIR.
    pub path: PathBuf,
    /// Its size on disk.
    pub bytes: u64,
}

/// Takes one backup as `settings` say; prints its summary line (unless
/// `quiet`) and returns what it wrote.
pub fn run(settings: &Settings) -> Result<Written> {
    let started = Instant::now();
    let interrupts = Interrupts::install()?;
    let dir = &settings.dir;
    folder::prepare(dir)?;
    let _lock = folder::lock(dir, settings.lock_timeout, &interrupts)?;
    folder::remove_stale_partials(dir);

    let stamp = crate::folder_names::stamp(Utc::now());
    let format = settings.launch.format;
    let file = folder::create_partial(dir, format.extension())?;
    let dumped = dump_into(settings, &file, &interrupts)?;
    interrupts.check()?;
    let texts = verify::verify_unless_interrupted(file.path(), format, &interrupts)?;
    interrupts.check()?;
    let path = folder::name_backup(file, dir, &settings.prefix, &stamp, format.extension())?;
    let bytes = std::fs::metadata(&path)
        .with_context(|| format!("cannot stat {}", path.display()))?
        .len();
    let elapsed = started.elapsed();

    // Retention: the backup is safe on disk now.
    let mut retention_note = String::new();
    if settings.keep.any() {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let plan = retention::apply(
            dir,
            &settings.prefix,
            name,
            &settings.keep,
            settings.dry_run,
        )
        .map_err(|e| anyhow!("backup {} written, but {e:#}", path.display()))?;
        for future in &plan.future {
            crate::escape::warn(&format!(
                "{} is dated after now (a clock set wrong, or not a backup of ours): retention \
                 gives it no slot and never removes it; rename it to the date it was taken, or \
                 remove it",
                dir.join(future).display()
            ));
        }
        let removed = plan.remove;
        let n = removed.len();
        if settings.dry_run {
            for name in &removed {
                println!("would remove {}", dir.join(name).display());
            }
            retention_note = format!("; --dry-run: would remove {n} old backup{}", plural(n));
        } else {
            retention_note = format!("; removed {n} old backup{}", plural(n));
        }
        if !plan.future.is_empty() {
            let f = plan.future.len();
            retention_note += &format!("; {f} backup{} dated after now left alone", plural(f));
        }
    }
    if !settings.quiet {
        println!(
            "{}: {} ({bytes} bytes, {} from pg_dump) in {:.1} s, {texts}{retention_note}",
            path.display(),
            human_size(bytes),
            human_size(dumped),
            elapsed.as_secs_f64(),
        );
    }
    Ok(Written { path, bytes })
}

/// Runs pg_dump into `file` (through gzip for a plain dump) and syncs it;
/// returns the number of bytes pg_dump wrote.
fn dump_into(settings: &Settings, file: &AtomicFile, interrupts: &Interrupts) -> Result<u64> {
    let dir = &settings.dir;
    let buffered = BufWriter::with_capacity(256 * 1024, file.file());
    let mut sink = match settings.launch.format {
        DumpFormat::Plain => Sink::Gzip(Box::new(IndexedGzWriter::new(
            buffered,
            Compression::default(),
        ))),
        DumpFormat::Custom => Sink::Raw(buffered),
    };
    let dumped = pg_dump::dump(&settings.launch, &settings.conn, &mut sink, interrupts).map_err(
        |failure| match failure {
            pg_dump::Failure::Write(e) => folder::write_failure("write", dir, &e),
            pg_dump::Failure::Dump(e) => e,
        },
    )?;
    sink.finish()
        .map_err(|e| folder::write_failure("write", dir, &e))?;
    file.file()
        .sync_all()
        .map_err(|e| folder::write_failure("sync", dir, &e))?;
    Ok(dumped)
}

/// Where pg_dump's output goes on its way to the file.
enum Sink<'a> {
    /// An indexed `.sql.gz` (docs/indexed-backups.md): gzip to any tool,
    /// and a reader can inflate only the tables it needs.
    Gzip(Box<IndexedGzWriter<BufWriter<&'a File>>>),
    Raw(BufWriter<&'a File>),
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Gzip(w) => w.write(buf),
            Sink::Raw(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Gzip(w) => w.flush(),
            Sink::Raw(w) => w.flush(),
        }
    }
}

impl Sink<'_> {
    /// Ends the gzip stream (with its index) and writes out every buffered
    /// byte.
    fn finish(self) -> io::Result<()> {
        let mut buffered = match self {
            Sink::Gzip(w) => w.finish()?,
            Sink::Raw(w) => w,
        };
        buffered.flush()
    }
}

/// The backup's file name prefix when `--prefix` is not given: `<dbname>_bk_`,
/// with the database pg_dump will dump (its default is the user name).
pub fn default_prefix(conn: &Conn, in_container: bool) -> Result<String> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let db = conn.dbname.clone().or_else(|| conn.username.clone());
    let db = match db {
        Some(db) => db,
        None if in_container => {
            anyhow::bail!(
                "with --container, give --dbname (or --prefix): the backup is named after the database"
            );
        }
        None => env("PGDATABASE")
            .or_else(|| env("PGUSER"))
            .or_else(os_user)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "cannot tell which database pg_dump will dump: give --dbname or --prefix"
                )
            })?,
    };
    let clean: String = db
        .chars()
        .map(|c| {
            if c == '/' || c == '\0' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    Ok(format!("{clean}_bk_"))
}

/// The name of the user we run as, which pg_dump takes as its default user.
fn os_user() -> Option<String> {
    User::from_uid(Uid::effective())
        .ok()
        .flatten()
        .map(|u| u.name)
}

/// Checks a `--prefix`.
pub fn check_prefix(prefix: &str) -> Result<()> {
    if prefix.is_empty() || prefix.contains('/') || prefix.contains('\0') || prefix.starts_with('.')
    {
        anyhow::bail!(
            "--prefix {prefix:?}: must be non-empty, without '/', and not start with '.'"
        );
    }
    Ok(())
}
