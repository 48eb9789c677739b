//! `textrescue restore --container server-db-1` against a real PostgreSQL in
//! a real Docker container (tests/dockerdb/mod.rs): psql and the safety
//! backup's pg_dump run inside it with `docker exec -i`. Run under the
//! machine-wide Docker lock (see README).

use crate::common::{NASTY, assert_ok, insert_text_sql, text};
use crate::dockerdb::Container;
use crate::restore::run;
use crate::whole_restore::{container_conn, container_textrescue as textrescue};

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    let conn = container_conn(&c, &db);
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
    assert!(undo.contains("--container=server-db-1"), "{undo}");
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

/// Ctrl-C while the restore's psql runs in the container, before COMMIT:
/// ending the `docker exec` client does not end psql inside the container,
/// but psql's input then ends without a COMMIT, so it rolls back and exits:
/// nothing changed, no lock left behind. (The psql in the container is a
/// stand-in that waits 2 s on its third run, the restore, before it is psql.)
#[test]
#[cfg_attr(not(has_docker), ignore = "needs a Docker Engine (bash .ci/docker-up)")]
fn sigint_during_a_restore_through_a_container_changes_nothing() {
    let c = Container::start();
    let db = c.create_db("restore_int");
    c.load_schema_with_people(&db);
    c.psql(
        &db,
        &insert_text_sql(
            Some(7),
            2,
            2,
            "2024-03-01 14:22:11+00",
            None,
            "alice's text",
        ),
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    let conn = container_conn(&c, &db);
    let mut backup = textrescue(&["backup", "--quiet", "--dir"]);
    backup.arg(&dir).args(conn);
    assert_ok(&run(backup));
    c.psql(&db, "DELETE FROM public.tasktexts WHERE id = 7");
    let before = c.texts_json(&db);

    let standin = "#!/bin/sh\n\
                   n=$(( $(cat /tmp/psql-runs 2>/dev/null || echo 0) + 1 ))\n\
                   echo $n > /tmp/psql-runs\n\
                   if [ $n = 3 ]; then sleep 2; fi\n\
                   exec psql \"$@\"\n";
    let mut put = Command::new("docker");
    put.args(["exec", "-i", &c.name, "sh", "-c"])
        .arg("cat > /tmp/psql-standin && chmod 755 /tmp/psql-standin");
    let out = crate::dockerdb::run_with_input(put, standin.as_bytes());
    assert!(out.status.success(), "{}", text(&out.stderr));

    let mut restore = textrescue(&["restore"]);
    restore
        .arg(&dir)
        .args(["--user", "alice", "--yes", "--psql", "/tmp/psql-standin"])
        .args(conn)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = restore.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let runs =
        || text(&crate::dockerdb::docker(&["exec", &c.name, "cat", "/tmp/psql-runs"]).stdout);
    while runs().trim() != "3" {
        assert!(Instant::now() < deadline, "the restore never started");
        assert!(
            child.try_wait().unwrap().is_none(),
            "textrescue ended early"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill(2) on our own child.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) },
        0
    );
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("step 5 of 6 (restore) failed"), "{err}");
    assert!(err.contains("interrupted by SIGINT"), "{err}");
    // psql in the container runs what it got, finds no COMMIT, and ends.
    let deadline = Instant::now() + Duration::from_secs(30);
    while c.runs("psql") || c.runs("sleep") {
        assert!(Instant::now() < deadline, "psql still runs: {}", c.ps());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(c.texts_json(&db), before);
    c.psql(
        &db,
        "SET lock_timeout = '2s'; UPDATE public.tasktexts SET text = text WHERE false;",
    );
}
