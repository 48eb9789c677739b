//! The restore drill: the newest backup of a folder (or the one given)
//! restored into a scratch database of a name no one else uses, checked as
//! a whole restore is and against the live database's schema version, and
//! the scratch database dropped, always: after success, failure or a
//! signal (SIGINT, SIGTERM, SIGHUP stop the load's clients, here and in the
//! container, and the drop runs to its end). The result is appended to the
//! folder's record of drills and printed.
//!
//! The backup may be a copy in a bucket (`--from s3://...`, or a bucket
//! folder as the backups folder): it is fetched into a private temporary
//! file ([`crate::remote::fetch`]: in the local backups folder, else in
//! TMPDIR), drilled from there, and removed at the end. A drill whose
//! backups folder is a bucket's records nothing (a bucket is not written
//! to): it prints its result only.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use chrono::Utc;

use super::server::Server;
use super::{check, load, load_and_check, seconds};
use crate::drills::{self, DrillRecord};
use crate::escape;
use crate::nightlies;
use crate::remote::Location;
use crate::remote::fetch::{self, Fetched};
use crate::remote::read::{self, ReadSettings};
use crate::signals::Caught;

/// What `drill` was asked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: Server,
    /// The backups folder (the record of drills is kept there), or a bucket
    /// folder (`s3://BUCKET/PREFIX`: nothing is recorded).
    pub dir: PathBuf,
    /// `--from`: this backup instead of the newest (a path, or a name in
    /// the folder, or `s3://BUCKET/PREFIX[/NAME]`: a copy, or a bucket
    /// folder's newest).
    pub from: Option<PathBuf>,
    pub database: Option<String>,
    pub table: Option<String>,
    /// `--scratch-name`: the scratch database's name (tests; default: a new one).
    pub scratch: Option<String>,
    /// `--s3-endpoint` and `--identity`, for backups in a bucket.
    pub remote: ReadSettings,
}

/// The backup a drill restores.
struct Chosen {
    /// The file to load (for a copy in a bucket, its fetched temporary file).
    path: PathBuf,
    /// The database its file is named after.
    named_db: Option<String>,
    /// How the record names it: its file name in the folder, the path
    /// given with `--from`, or the copy's URL.
    shown: String,
    /// A copy fetched from a bucket: its file is removed when this is dropped.
    fetched: Option<Fetched>,
}

fn is_remote(path: &Path) -> bool {
    path.to_str().is_some_and(Location::is_remote)
}

/// Where the record of drills is kept: the backups folder, when it is a
/// local one.
fn record_dir(settings: &Settings) -> Option<&Path> {
    (!is_remote(&settings.dir)).then_some(settings.dir.as_path())
}

/// The bucket URL of the backup to drill (a copy, or a bucket folder whose
/// newest copy is drilled), when it is in a bucket.
fn in_bucket(settings: &Settings) -> Option<String> {
    let dir = settings.dir.to_string_lossy();
    match &settings.from {
        Some(from) if is_remote(from) => Some(from.to_string_lossy().into_owned()),
        Some(name) if is_remote(&settings.dir) => Some(format!(
            "{}/{}",
            dir.trim_end_matches('/'),
            name.to_string_lossy()
        )),
        None if is_remote(&settings.dir) => Some(dir.into_owned()),
        _ => None,
    }
}

/// The newest backup at `url` (or the copy it names), fetched.
fn from_bucket(settings: &Settings, url: &str, interrupt: &Caught) -> Result<Chosen> {
    read::configure(settings.remote.clone());
    let mut warnings = Vec::new();
    let found = nightlies::candidates(&[PathBuf::from(url)], &mut warnings)?;
    let mut found = nightlies::one_prefix(found, None, &mut warnings)?;
    if found.iter().any(|f| f.prefix.is_some()) {
        found.retain(|f| f.prefix.is_some());
    }
    for w in warnings {
        escape::warn(&w);
    }
    let newest = found
        .pop()
        .ok_or_else(|| anyhow!("{url} holds no backup to drill"))?;
    let url = newest.path.to_string_lossy().into_owned();
    let folder = match record_dir(settings) {
        Some(dir) => dir.to_path_buf(),
        None => std::env::temp_dir(),
    };
    let fetched = fetch::fetch(&url, &settings.remote, &folder, &|| interrupt.check())?;
    println!("{}", fetched.describe());
    Ok(Chosen {
        path: fetched.path().to_path_buf(),
        named_db: newest
            .prefix
            .as_deref()
            .filter(|_| !newest.explicit)
            .map(|p| p.strip_suffix("_bk_").unwrap_or(p).to_string()),
        shown: url,
        fetched: Some(fetched),
    })
}

/// The backup to drill, and the database name its file is named after.
fn choose_backup(settings: &Settings, interrupt: &Caught) -> Result<Chosen> {
    if let Some(url) = in_bucket(settings) {
        return from_bucket(settings, &url, interrupt);
    }
    if let Some(from) = &settings.from {
        let path = if from.exists() || from.is_absolute() {
            from.clone()
        } else {
            settings.dir.join(from)
        };
        return Ok(Chosen {
            shown: path.display().to_string(),
            path,
            named_db: None,
            fetched: None,
        });
    }
    let mut warnings = Vec::new();
    let found = nightlies::candidates(std::slice::from_ref(&settings.dir), &mut warnings)?;
    let mut found = nightlies::one_prefix(found, None, &mut warnings)?;
    // Where the backups have dated names, a file without one (a copy, an
    // export) is not the newest backup, whatever its modification time.
    if found.iter().any(|f| f.prefix.is_some()) {
        found.retain(|f| f.prefix.is_some());
    }
    for w in warnings {
        escape::warn(&w);
    }
    let newest = found
        .into_iter()
        .next_back()
        .ok_or_else(|| anyhow!("{} holds no backup to drill", settings.dir.display()))?;
    let db = newest
        .prefix
        .as_deref()
        .map(|p| p.strip_suffix("_bk_").unwrap_or(p).to_string());
    Ok(Chosen {
        shown: match newest.path.file_name() {
            Some(name) => name.to_string_lossy().into_owned(),
            None => newest.path.display().to_string(),
        },
        path: newest.path,
        named_db: db,
        fetched: None,
    })
}

/// `textrescue_drill_DB_YYYYMMDDHHMMSS_RANDOM`, within 63 bytes.
fn scratch_name(db: Option<&str>) -> String {
    let db: String = db
        .unwrap_or("db")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(20)
        .collect();
    format!(
        "textrescue_drill_{db}_{}_{:08x}",
        Utc::now().format("%Y%m%d%H%M%S"),
        load::rand_u32()
    )
}

/// Runs one drill; fails (after recording it) when anything failed.
pub fn run(settings: &Settings) -> Result<()> {
    let interrupt = Caught::install()?;
    let started_at = Utc::now();
    let chosen = choose_backup(settings, &interrupt)?;
    let (backup, named_db) = (&chosen.path, chosen.named_db.clone());
    let mut server = settings.server.clone();
    if server.conn.dbname.is_none() {
        server.conn.dbname = named_db.clone();
    }
    let scratch = settings
        .scratch
        .clone()
        .unwrap_or_else(|| scratch_name(server.live_db().or(named_db.as_deref())));
    println!(
        "drill: {} into the scratch database {}",
        match &chosen.fetched {
            Some(_) => chosen.shown.clone(),
            None => backup.display().to_string(),
        },
        escape::visible(&scratch)
    );
    let mut created = false;
    let mut failures = Vec::new();
    let mut restore_seconds = None;
    let result = load_and_check(
        &server,
        backup,
        &scratch,
        settings.database.as_deref(),
        settings.table.as_deref(),
        &interrupt,
        &mut created,
    )
    .and_then(|loaded| {
        restore_seconds = Some(loaded.load_seconds);
        let mut outcome = loaded.outcome;
        check::schema_version(&server, &loaded.expected, &interrupt, &mut outcome)?;
        Ok(outcome)
    });
    match result {
        Ok(outcome) => {
            for line in &outcome.said {
                println!("{line}");
            }
            failures.extend(outcome.failures);
        }
        Err(e) => failures.push(format!("{e:#}")),
    }
    if created {
        match server.drop_database(&scratch) {
            Ok(()) => match server.exists(&scratch, &Caught::never()) {
                Ok(false) => println!("dropped the scratch database {}", escape::visible(&scratch)),
                Ok(true) => failures.push(format!(
                    "the scratch database {} is still there",
                    escape::visible(&scratch)
                )),
                Err(e) => failures.push(format!(
                    "cannot tell whether the scratch database is gone: {e:#}"
                )),
            },
            Err(e) => failures.push(format!(
                "cannot drop the scratch database {}: {e:#}",
                escape::visible(&scratch)
            )),
        }
    }
    let record = DrillRecord {
        started_at,
        finished_at: Utc::now(),
        backup: chosen.shown.clone(),
        backup_bytes: crate::progress::size_on_disk(backup),
        restore_seconds,
        success: failures.is_empty(),
        failures: failures.clone(),
    };
    let recorded = match record_dir(settings) {
        Some(dir) => drills::append(dir, &record),
        None => {
            println!(
                "not recorded: the backups folder is a bucket (drill DIR --from s3://... keeps \
                 the result in the local folder DIR)"
            );
            Ok(())
        }
    };
    if let Some(s) = restore_seconds {
        println!(
            "restore time: {} (the recovery time of a whole restore today)",
            seconds(s)
        );
    }
    if let Err(e) = recorded {
        failures.push(format!("cannot record the drill: {e:#}"));
    }
    if failures.is_empty() {
        println!("drill passed: {}", record.backup);
        return Ok(());
    }
    // A fetched copy is named by its URL, not by its temporary file (gone
    // once this returns).
    if let Some(fetched) = &chosen.fetched {
        let file = fetched.path().display().to_string();
        for f in &mut failures {
            *f = f.replace(&file, &format!("{} (fetched)", fetched.url));
        }
    }
    for f in &failures {
        eprintln!(
            "textrescue: drill: {}",
            crate::escape::message(&f.to_string())
        );
    }
    bail!("drill failed: {}", failures.join("; "))
}
