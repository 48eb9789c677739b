//! Which live database `restore` writes to, and why, decided once before
//! anything connects, in this order:
//!
//! 1. `--dbname` (or the database in `--database-url`);
//! 2. `PGDATABASE`, when psql runs here (with `--container`, psql runs in
//!    the container, where this environment does not reach);
//! 3. the backups' names: a backup `backup` writes is named
//!    `DBNAME_bk_DATE...` (the old cron script's names too), so `--prefix
//!    DBNAME_bk_`, or the one database all the backups to read are named
//!    after, says which database they are of;
//! 4. else a usage error that lists what the names offer.
//!
//! The plan says which database it is and why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::backup::conn::Conn;
use crate::counts::plural;
use crate::folder_names;
use crate::nightlies;

/// What the backups' prefix ends with when it names a database.
const SUFFIX: &str = "_bk_";

/// The database restore writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub dbname: String,
    /// Why this one, for the plan: `--dbname`, `the backups' names (...)`.
    pub why: String,
    /// Whether the undo command must name it (`--dbname`): not when the
    /// URL in TEXTRESCUE_DATABASE_URL names it again.
    pub from_backup_names: bool,
}

/// Where the backups to read are, as the command line gives them.
pub struct Backups<'a> {
    /// The backup or folder given.
    pub source: &'a Path,
    /// `--from`.
    pub from: Option<&'a Path>,
    /// `--prefix`.
    pub prefix: Option<&'a str>,
}

/// The database a backup prefix names: `buggy_race_bk_` names `buggy_race`.
pub fn database_of(prefix: &str) -> Option<&str> {
    prefix.strip_suffix(SUFFIX).filter(|d| !d.is_empty())
}

/// Decides the database (see the module's documentation). `url`: the
/// connection came from a URL (`Some(true)` when from the environment).
pub fn decide(
    conn: &Conn,
    url: Option<bool>,
    in_container: bool,
    backups: &Backups<'_>,
) -> Result<Target> {
    if let Some(db) = &conn.dbname {
        return Ok(Target {
            dbname: db.clone(),
            why: match url {
                None => "--dbname".into(),
                Some(false) => "from --database-url".into(),
                Some(true) => "from TEXTRESCUE_DATABASE_URL".into(),
            },
            from_backup_names: false,
        });
    }
    if !in_container && let Some(db) = std::env::var("PGDATABASE").ok().filter(|d| !d.is_empty()) {
        return Ok(Target {
            dbname: db,
            why: "from PGDATABASE".into(),
            from_backup_names: false,
        });
    }
    let derived = |db: &str, why: String| Target {
        dbname: db.to_string(),
        why: format!("{why}; --dbname chooses another"),
        from_backup_names: true,
    };
    if let Some(prefix) = backups.prefix {
        return match database_of(prefix) {
            Some(db) => Ok(derived(db, format!("from --prefix {prefix}"))),
            None => Err(refuse(
                in_container,
                &format!("--prefix {prefix} does not end in {SUFFIX}, so it names no database"),
            )),
        };
    }
    let prefixes = backup_prefixes(backups)?;
    let databases: BTreeMap<&str, usize> = prefixes
        .iter()
        .filter_map(|(p, n)| database_of(p).map(|d| (d, *n)))
        .fold(BTreeMap::new(), |mut m, (d, n)| {
            *m.entry(d).or_default() += n;
            m
        });
    let one = backups.from.is_some() || crate::restore::is_one_backup(backups.source);
    let what = if one {
        "the backup's name"
    } else {
        "the backups' names"
    };
    match databases.len() {
        1 if prefixes.len() == 1 => {
            let (db, _) = databases.into_iter().next().expect("one");
            let prefix = prefixes.keys().next().expect("one");
            Ok(derived(db, format!("from {what}, {prefix}YYYYMMDD...")))
        }
        0 => Err(refuse(
            in_container,
            &format!(
                "{what} {} not say it (backups named DBNAME{SUFFIX}YYYYMMDD... do)",
                if one { "does" } else { "do" }
            ),
        )),
        _ => Err(refuse(
            in_container,
            &format!(
                "{what} name no one database: {}",
                prefixes
                    .iter()
                    .map(|(p, n)| match database_of(p) {
                        Some(d) => format!("{d} ({n} backup{} {p}...)", plural(*n)),
                        None => format!("no database ({n} backup{} {p}...)", plural(*n)),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// The command line does not say which database to restore into (the
/// command turns this into a usage error; other errors of [`decide`], such
/// as a folder that cannot be read, are not the caller's mistake).
#[derive(Debug)]
pub struct NoTarget(pub String);

impl std::fmt::Display for NoTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NoTarget {}

fn refuse(in_container: bool, why: &str) -> anyhow::Error {
    NoTarget(format!(
        "cannot tell which database to restore into: give --dbname{}; {why}",
        if in_container { "" } else { " (or PGDATABASE)" }
    ))
    .into()
}

/// The name prefixes of the backups restore would read, with how many
/// backups have each (undated names have none).
fn backup_prefixes(backups: &Backups<'_>) -> Result<BTreeMap<String, usize>> {
    let files: Vec<PathBuf> = match backups.from {
        Some(from) if from.exists() => vec![from.to_path_buf()],
        Some(from) => vec![backups.source.join(from)],
        None => vec![backups.source.to_path_buf()],
    };
    let mut warnings = Vec::new();
    let found = nightlies::candidates(&files, &mut warnings)?;
    let mut prefixes = BTreeMap::new();
    for c in found {
        let prefix = c
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| folder_names::dated_name(n).map(|d| d.prefix.to_string()));
        if let Some(p) = prefix {
            *prefixes.entry(p).or_default() += 1;
        }
    }
    Ok(prefixes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(names: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for n in names {
            std::fs::write(dir.path().join(n), b"x").unwrap();
        }
        dir
    }

    fn decide_in(
        dir: &Path,
        conn: &Conn,
        from: Option<&Path>,
        prefix: Option<&str>,
    ) -> Result<Target> {
        let backups = Backups {
            source: dir,
            from,
            prefix,
        };
        // In a container: PGDATABASE of this test's environment plays no part.
        decide(conn, None, true, &backups)
    }

    #[test]
    fn the_database_comes_from_the_option_then_the_names() {
        let dir = folder(&[
            "buggy_race_bk_20240304.sql.gz",
            "buggy_race_bk_20240305-020000.sql.gz",
            ".textrescue-backup.lock",
        ]);
        let t = decide_in(dir.path(), &Conn::default(), None, None).unwrap();
        assert_eq!(t.dbname, "buggy_race");
        assert!(
            t.why
                .contains("from the backups' names, buggy_race_bk_YYYYMMDD"),
            "{}",
            t.why
        );
        assert!(t.from_backup_names);
        let given = Conn {
            dbname: Some("other".into()),
            ..Conn::default()
        };
        let t = decide_in(dir.path(), &given, None, None).unwrap();
        assert_eq!((t.dbname.as_str(), t.why.as_str()), ("other", "--dbname"));
        let one = dir.path().join("buggy_race_bk_20240304.sql.gz");
        let t = decide_in(&one, &Conn::default(), None, None).unwrap();
        assert_eq!(t.dbname, "buggy_race");
        assert!(t.why.starts_with("from the backup's name"), "{}", t.why);
    }

    #[test]
    fn several_databases_or_none_are_refused_with_the_candidates() {
        let dir = folder(&[
            "buggy_race_bk_20240304.sql.gz",
            "staging_bk_20240305.sql.gz",
            "staging_bk_20240306.sql.gz",
        ]);
        let e = decide_in(dir.path(), &Conn::default(), None, None).unwrap_err();
        let e = format!("{e:#}");
        assert!(e.contains("give --dbname"), "{e}");
        assert!(
            e.contains(
                "buggy_race (1 backup buggy_race_bk_...), staging (2 backups staging_bk_...)"
            ),
            "{e}"
        );
        // --prefix and --from choose one.
        let t = decide_in(dir.path(), &Conn::default(), None, Some("staging_bk_")).unwrap();
        assert_eq!(t.dbname, "staging");
        let t = decide_in(
            dir.path(),
            &Conn::default(),
            Some(Path::new("buggy_race_bk_20240304.sql.gz")),
            None,
        )
        .unwrap();
        assert_eq!(t.dbname, "buggy_race");
        let undated = folder(&["nightly.sql.gz", "nightly-20240304.sql"]);
        let e = format!(
            "{:#}",
            decide_in(undated.path(), &Conn::default(), None, None).unwrap_err()
        );
        assert!(e.contains("do not say it"), "{e}");
        let e = format!(
            "{:#}",
            decide_in(undated.path(), &Conn::default(), None, Some("nightly-")).unwrap_err()
        );
        assert!(e.contains("--prefix nightly- does not end in _bk_"), "{e}");
    }
}
