//! The restore drill: the newest backup of a folder (or the one given)
//! restored into a scratch database of a name no one else uses, checked as
//! a whole restore is and against the live database's schema version, and
//! the scratch database dropped, always: after success, failure or a
//! signal (SIGINT, SIGTERM, SIGHUP stop the load's clients, here and in the
//! container, and the drop runs to its end). The result is appended to the
//! folder's record of drills and printed.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use chrono::Utc;

use super::server::Server;
use super::{check, load, load_and_check, seconds};
use crate::drills::{self, DrillRecord};
use crate::escape;
use crate::nightlies;
use crate::signals::Caught;

/// What `drill` was asked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: Server,
    /// The backups folder (the record of drills is kept there).
    pub dir: PathBuf,
    /// `--from`: this backup instead of the newest (a path, or a name in the folder).
    pub from: Option<PathBuf>,
    pub database: Option<String>,
    pub table: Option<String>,
    /// `--scratch-name`: the scratch database's name (tests; default: a new one).
    pub scratch: Option<String>,
}

/// The backup to drill, and the database name its file is named after.
fn choose_backup(settings: &Settings) -> Result<(PathBuf, Option<String>)> {
    if let Some(from) = &settings.from {
        let path = if from.exists() || from.is_absolute() {
            from.clone()
        } else {
            settings.dir.join(from)
        };
        return Ok((path, None));
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
        eprintln!("textrescue: warning: {w}");
    }
    let newest = found
        .into_iter()
        .next_back()
        .ok_or_else(|| anyhow!("{} holds no backup to drill", settings.dir.display()))?;
    let db = newest
        .prefix
        .as_deref()
        .map(|p| p.strip_suffix("_bk_").unwrap_or(p).to_string());
    Ok((newest.path, db))
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

fn size_of(path: &Path) -> u64 {
    let Ok(meta) = std::fs::metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Runs one drill; fails (after recording it) when anything failed.
pub fn run(settings: &Settings) -> Result<()> {
    let interrupt = Caught::install()?;
    let started_at = Utc::now();
    let (backup, named_db) = choose_backup(settings)?;
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
        backup.display(),
        escape::visible(&scratch)
    );
    let mut created = false;
    let mut failures = Vec::new();
    let mut restore_seconds = None;
    let result = load_and_check(
        &server,
        &backup,
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
        backup: match (&settings.from, backup.file_name()) {
            (None, Some(name)) => name.to_string_lossy().into_owned(),
            _ => backup.display().to_string(),
        },
        backup_bytes: size_of(&backup),
        restore_seconds,
        success: failures.is_empty(),
        failures: failures.clone(),
    };
    let recorded = drills::append(&settings.dir, &record);
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
    for f in &failures {
        eprintln!("textrescue: drill: {f}");
    }
    bail!("drill failed: {}", failures.join("; "))
}
