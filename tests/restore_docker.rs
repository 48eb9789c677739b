//! `textrescue restore --container server-db-1` against a real PostgreSQL in
//! a real Docker container (tests/dockerdb/mod.rs): psql and the safety
//! backup's pg_dump run inside it with `docker exec -i`. Run under the
//! machine-wide Docker lock (see README).

use crate::common::{NASTY, assert_ok, insert_text_sql, text};
use crate::dockerdb::Container;

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `textrescue ARGS...` with no local connection settings: everything goes
/// through the container.
fn textrescue(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_textrescue"));
    for var in [
        "PGPASSWORD",
        "PGPASSFILE",
        "PGHOST",
        "PGPORT",
        "PGUSER",
        "PGDATABASE",
    ] {
        c.env_remove(var);
    }
    c.env_remove("TEXTRESCUE_DATABASE_URL")
        .env("TZ", "UTC")
        .args(args)
        .stdin(Stdio::null());
    c
}

fn run(mut c: Command) -> Output {
    c.output().expect("run textrescue")
}

/// alice's and bob's nasty texts: a backup taken through the container,
/// then some deleted and one overwritten on the live server; restore puts
/// them all back through `docker exec -i ... psql`, verified byte for byte;
/// the undo command (with --container) puts the damage back exactly.
#[test]
#[cfg_attr(not(has_docker), ignore = "needs a Docker Engine (bash .ci/docker-up)")]
fn restore_through_a_real_container_and_undo() {
    let c = Container::start();
    let db = c.create_db("restore_ok");
    c.load_schema_with_people(&db);
    let mut sql = String::new();
    for (i, t) in NASTY.iter().enumerate() {
        // One text per student and task.
        sql += &insert_text_sql(
            Some(100 + i as i64),
            2 + (i as i64 % 2),
            1 + (i as i64 / 2),
            "2024-03-01 14:22:11.123456+00",
            (i % 2 == 0).then_some("2024-03-06 09:10:00.5+00"),
            t,
        );
    }
    c.psql(
        &db,
        "INSERT INTO public.tasks (id, created_at, phase, name, title, is_enabled, sort_position) VALUES
           (5, now(), 5, 'REPORT', 'Report', true, 50);",
    );
    c.psql(&db, &sql);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    let conn = [
        "--container",
        c.name.as_str(),
        "--username",
        "buggy",
        "--dbname",
        db.as_str(),
    ];
    let mut backup = textrescue(&["backup", "--quiet", "--dir"]);
    backup.arg(&dir).args(conn);
    assert_ok(&run(backup));
    let good = c.texts_json(&db);

    c.psql(
        &db,
        "DELETE FROM public.tasktexts WHERE id IN (100, 103, 105);
         UPDATE public.tasktexts SET text = 'overwritten by mistake', modified_at = now() WHERE id = 101;",
    );
    let damaged = c.texts_json(&db);

    let mut restore = textrescue(&["restore"]);
    restore
        .arg(&dir)
        .args([
            "--user",
            "alice",
            "--user",
            "bob",
            "--on-conflict",
            "overwrite",
            "--yes",
        ])
        .args(conn);
    let out = run(restore);
    assert_ok(&out);
    let said = text(&out.stdout);
    assert!(
        said.contains("restored 3, overwrote 1, skipped 0: committed"),
        "{said}"
    );
    assert!(said.contains("verified: 4 texts"), "{said}");
    assert_eq!(c.texts_json(&db), good);

    let undo = said
        .lines()
        .find_map(|l| l.strip_prefix("to undo it: textrescue "))
        .unwrap_or_else(|| panic!("{said}"));
    assert!(undo.contains("--container server-db-1"), "{undo}");
    let mut c2 = Command::new("bash");
    for var in ["PGPASSWORD", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE"] {
        c2.env_remove(var);
    }
    c2.arg("-c")
        .arg(format!("\"$TEXTRESCUE\" {undo}"))
        .env("TEXTRESCUE", env!("CARGO_BIN_EXE_textrescue"))
        .stdin(Stdio::null());
    let undone = c2.output().unwrap();
    assert_ok(&undone);
    assert!(
        text(&undone.stdout).contains("deleted 3: committed"),
        "{}",
        text(&undone.stdout)
    );
    assert_eq!(c.texts_json(&db), damaged);
    // Two safety backups (the restore's and the undo's) and the first one.
    assert_eq!(std::fs::read_dir(Path::new(&dir)).unwrap().count(), 3 + 1);
}
