//! What `backup` trusts in its folder, with real files and the real
//! PostgreSQL: a name dated after now (a clock set wrong, then corrected,
//! or a planted file) holds no retention slot and is never removed; a
//! folder that group or others can write is refused before pg_dump runs.
use crate::common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use chrono::{Duration, Utc};
use common::{Pg, TempDb, assert_failed, assert_ok, pg, text};

const PREFIX: &str = "buggy_race_bk_";
const LOCK_FILE: &str = ".textrescue-backup.lock";

fn standin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bin/pg_dump-standin")
}

fn small_db(pg: &Pg, name: &str) -> TempDb {
    let db = pg.create_db(name);
    db.load_schema_with_people();
    db
}

/// `textrescue backup --dir DIR --prefix buggy_race_bk_` for `db`.
fn backup(db: &TempDb, dir: &Path) -> Command {
    let mut c = db.command(env!("CARGO_BIN_EXE_textrescue"));
    c.env_remove("PGPASSWORD")
        .env_remove("TEXTRESCUE_DATABASE_URL")
        .arg("backup")
        .arg("--dir")
        .arg(dir)
        .args(["--prefix", PREFIX])
        .stdin(Stdio::null());
    c
}

fn run(mut c: Command) -> Output {
    c.output().expect("run textrescue")
}

fn entries(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != LOCK_FILE)
        .collect()
}

/// The case that lost a week: three names dated after now took the three
/// daily slots, and `--keep-daily 3` removed the five real backups of the
/// five days before, keeping only the new one.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn names_dated_after_now_hold_no_slot_and_are_never_removed() {
    let pg = pg();
    let db = small_db(&pg, "backup_future");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let now = Utc::now();
    let real: Vec<String> = (1..=5)
        .map(|days| {
            let when = now - Duration::days(days);
            format!("{PREFIX}{}.sql.gz", when.format("%Y%m%d-%H%M%S"))
        })
        .collect();
    let future = [
        format!(
            "{PREFIX}{}.sql.gz",
            (now + Duration::days(2)).format("%Y%m%d-%H%M%S")
        ),
        format!(
            "{PREFIX}{}.sql.gz",
            (now + Duration::days(3)).format("%Y%m%d")
        ),
        format!(
            "{PREFIX}{}.dump",
            (now + Duration::days(400)).format("%Y%m%d-%H%M%S-2")
        ),
    ];
    for name in real.iter().chain(&future) {
        fs::write(dir.join(name), b"a backup").unwrap();
    }
    let before = entries(dir);

    let mut c = backup(&db, dir);
    c.args(["--keep-daily", "3"]);
    let out = run(c);
    assert_ok(&out);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(stdout.contains("removed 3 old backups"), "{stdout}");
    assert!(
        stdout.contains("3 backups dated after now left alone"),
        "{stdout}"
    );
    for name in &future {
        assert!(
            stderr.contains(&format!(
                "warning: {} is dated after now",
                dir.join(name).display()
            )),
            "{name}: {stderr}"
        );
    }
    let after = entries(dir);
    let new: Vec<&String> = after.difference(&before).collect();
    assert_eq!(new.len(), 1, "{after:?}");
    // Kept: the new backup and the two days before it; every future name.
    let mut expected: BTreeSet<String> = future.iter().cloned().collect();
    expected.extend(real[..2].iter().cloned());
    expected.insert(new[0].clone());
    assert_eq!(after, expected);

    // A run with a rule that keeps nothing still keeps the backup it made,
    // and the future names.
    let mut c = backup(&db, dir);
    c.args(["--keep-daily", "0", "--quiet"]);
    assert_ok(&run(c));
    let last: Vec<String> = entries(dir)
        .into_iter()
        .filter(|n| !future.contains(n))
        .collect();
    assert_eq!(last.len(), 1, "{last:?}");
    assert!(!expected.contains(&last[0]), "{last:?}");
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_folder_others_can_write_is_refused_before_pg_dump_runs() {
    let pg = pg();
    let db = small_db(&pg, "backup_folder_mode");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups dir");
    fs::create_dir(&dir).unwrap();
    let log = tmp.path().join("pg_dump.log");
    let old = dir.join(format!("{PREFIX}20240101.sql.gz"));
    fs::write(&old, b"an old backup").unwrap();
    for (mode, who) in [
        (0o770, "its group can write it (mode 0770)"),
        (0o707, "others can write it (mode 0707)"),
        (0o777, "its group and others can write it (mode 0777)"),
        (0o1777, "its group and others can write it (mode 1777)"),
    ] {
        fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
        let mut c = backup(&db, &dir);
        c.arg("--pg-dump")
            .arg(standin())
            .args(["--keep-daily", "0"])
            .env("STANDIN_MODE", "record")
            .env("STANDIN_LOG", &log);
        let err = assert_failed(&run(c));
        assert!(err.contains(who), "{err}");
        assert!(
            err.contains(&format!("chmod go-w '{}'", dir.display())),
            "{err}"
        );
        assert!(err.contains("no backup written"), "{err}");
        assert!(!log.exists(), "pg_dump ran for mode {mode:o}");
        // Nothing made, nothing removed: not even the lock file.
        let names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, [format!("{PREFIX}20240101.sql.gz")], "{mode:o}");
    }
    // As the message says: then it works.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let mut c = backup(&db, &dir);
    c.arg("--quiet");
    assert_ok(&run(c));
    assert_eq!(entries(&dir).len(), 2);
}
