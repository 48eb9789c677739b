//! Indexed `.sql.gz` in use: `textrescue backup` writes one (gzip and psql
//! take it as any `.sql.gz`), and the readers inflate only the members they
//! need from it, with the same output, line numbers and damage reports as a
//! read of the whole file; an index that does not agree is passed over
//! silently.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{NASTY, assert_ok, insert_text_sql, pg, text};
use textrescue::indexed_gzip::Index;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_textrescue"))
}

fn index_of(path: &Path) -> Option<Index> {
    Index::read(&std::fs::File::open(path).unwrap()).unwrap()
}

/// The one `.sql.gz` in `dir`.
fn only_backup(dir: &Path) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".sql.gz"))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found.into_iter().next().unwrap()
}

/// A plain backup made by `textrescue backup` is an indexed `.sql.gz` that
/// the real gzip checks and that `gunzip -c | psql` restores to the same
/// database, texts byte for byte.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn backup_writes_an_indexed_sql_gz_that_gunzip_and_psql_restore() {
    let pg = pg();
    let db = pg.create_db("tr_idx_backup");
    db.load_schema_with_people();
    let mut sql = String::new();
    for (i, t) in NASTY.iter().enumerate() {
        sql += &insert_text_sql(
            None,
            2 + (i as i64 % 2),
            1 + (i as i64 % 4),
            "2024-03-05 10:00:00+00",
            None,
            t,
        );
    }
    // Over one member's 16 MiB, so that the texts' rows span members.
    sql += &insert_text_sql(
        None,
        2,
        3,
        "2024-03-06 10:00:00+00",
        None,
        &"17 MiB of text\t\\\n".repeat(17 << 16),
    );
    db.psql(&sql);
    let dir = tempfile::tempdir().unwrap();
    let mut c = db.command(env!("CARGO_BIN_EXE_textrescue"));
    c.env_remove("PGPASSWORD")
        .env_remove("TEXTRESCUE_DATABASE_URL")
        .arg("backup")
        .arg("--dir")
        .arg(dir.path())
        .stdin(Stdio::null());
    assert_ok(&c.output().unwrap());
    let file = only_backup(dir.path());

    let index = index_of(&file).expect("the backup has an index that agrees");
    assert!(index.members.len() > 3, "{}", index.members.len());
    assert!(
        index
            .tables()
            .iter()
            .any(|t| textrescue::indexed_gzip::table_is(t, "tasktexts"))
    );
    let t = Command::new("gzip").arg("-t").arg(&file).output().unwrap();
    assert!(t.status.success(), "gzip -t: {}", text(&t.stderr));
    let gunzip = Command::new("gzip").arg("-dc").arg(&file).output().unwrap();
    assert_ok(&gunzip);
    assert_eq!(gunzip.stdout.len() as u64, index.dump_len);

    let restored = pg.create_db("tr_idx_restored");
    let out = restored.psql_input(&gunzip.stdout);
    assert!(out.status.success(), "psql: {}", text(&out.stderr));
    assert_eq!(
        restored.texts_json_string("public.tasktexts"),
        db.texts_json_string("public.tasktexts")
    );
    assert_eq!(
        restored.psql("SELECT count(*) FROM users"),
        db.psql("SELECT count(*) FROM users")
    );
    // And textrescue reads the texts back from it as from the database.
    let out = bin()
        .args(["texts", "--format", "json"])
        .arg(&file)
        .output()
        .unwrap();
    assert_ok(&out);
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read, db.texts_json("public.tasktexts"));
}
