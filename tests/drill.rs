//! `textrescue drill DIR` against the local PostgreSQL (and, in the tests
//! named `container_*`, the Docker container `server-db-1`): the newest
//! backup restored into a scratch database, checked, and the scratch
//! database dropped whatever happens: success, a damaged backup, a schema
//! older than the live one, a name already taken, SIGINT and SIGTERM during
//! the load and during the check (no client left running either); and
//! `--prometheus FILE --ping URL` (the ping server and the Prometheus
//! parser of tests/monitor.rs).

use crate::common::{Pg, TempDb, pg, text};
use crate::dockerdb::Container;
use crate::monitor::{PingServer, closed_port, samples, value};
use crate::whole_restore::{
    container_conn, container_race_db, container_textrescue, db_of_someone_else, docker_out,
    race_db, textrescue,
};

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use textrescue::drills;

/// A plain backup of `db` in `dir`, as the nightly backups are named,
/// with `extra` SQL put in before its closing line.
fn backup_with(dump: &[u8], dir: &Path, extra: &str) -> PathBuf {
    let dump = text(dump);
    let end = dump.rfind("-- PostgreSQL database dump complete").unwrap();
    let sql = format!("{}{extra}{}", &dump[..end], &dump[end..]);
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("buggy_race_bk_20260301-020000.sql.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(sql.as_bytes()).unwrap();
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    path
}

/// The scratch database a drill named on its first line.
fn scratch_of(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.split("into the scratch database ").nth(1))
        .unwrap_or_else(|| panic!("no scratch database named in:\n{stdout}"))
        .trim()
        .to_string()
}

fn drill(pg: &Pg, dir: &Path, db: &TempDb, extra: &[&str]) -> std::process::Output {
    textrescue(pg)
        .arg("drill")
        .arg(dir)
        .args(["--dbname", db.name()])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_drill_restores_checks_drops_and_records() {
    let pg = pg();
    let db = race_db(&pg, "drill_ok");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    let out = textrescue(&pg)
        .args(["backup", "--quiet", "--dbname", db.name(), "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    crate::common::assert_ok(&out);
    let out = drill(&pg, &dir, &db, &[]);
    crate::common::assert_ok(&out);
    let said = text(&out.stdout);
    assert!(
        said.contains("texts: 9 texts of public.tasktexts"),
        "{said}"
    );
    assert!(
        said.contains("schema version: 3f2a9c1b7d4e in the backup and in the live database"),
        "{said}"
    );
    assert!(said.contains("drill passed"), "{said}");
    let scratch = scratch_of(&said);
    assert!(scratch.starts_with("textrescue_drill_"), "{scratch}");
    assert!(!pg.database_exists(&scratch));
    let record = drills::last(&dir).unwrap().unwrap();
    assert!(record.success, "{record:?}");
    assert!(record.backup.starts_with(db.name()), "{record:?}");
    assert!(record.restore_seconds.unwrap() > 0.0);
    assert!(record.backup_bytes > 0);
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_damaged_backup_fails_the_drill_and_the_scratch_database_goes() {
    let pg = pg();
    let db = race_db(&pg, "drill_damaged");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    let path = backup_with(&db.pg_dump(&["-Fp"]), &dir, "");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let out = drill(&pg, &dir, &db, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let scratch = scratch_of(&text(&out.stdout));
    assert!(!pg.database_exists(&scratch));
    let record = drills::last(&dir).unwrap().unwrap();
    assert!(!record.success);
    assert!(!record.failures.is_empty());
    assert!(
        text(&out.stderr).contains("drill failed"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_backup_of_another_schema_version_fails_the_drill() {
    let pg = pg();
    let db = race_db(&pg, "drill_schema");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    backup_with(&db.pg_dump(&["-Fp"]), &dir, "");
    db.psql("UPDATE public.alembic_version SET version_num = 'newer0000001'");
    let out = drill(&pg, &dir, &db, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "schema version: the backup's is 3f2a9c1b7d4e, the live database's newer0000001"
        ),
        "{err}"
    );
    assert!(!pg.database_exists(&scratch_of(&text(&out.stdout))));
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn a_scratch_name_already_taken_is_refused_and_left_alone() {
    let pg = pg();
    let db = race_db(&pg, "drill_taken");
    let taken = db_of_someone_else(&pg, "drill_taken_scratch", 42);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    backup_with(&db.pg_dump(&["-Fp"]), &dir, "");
    let out = drill(&pg, &dir, &db, &["--scratch-name", taken.name()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("exists already"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(taken.psql("SELECT x FROM mine"), "42");
    let record = drills::last(&dir).unwrap().unwrap();
    assert!(!record.success);
}

// ---- --prometheus FILE and --ping URL ----

#[test]
#[cfg_attr(
    not(all(has_postgres, has_prometheus_client)),
    ignore = "needs PostgreSQL (PGHOST/PGPORT) and the prometheus-client Python package"
)]
fn a_drill_pings_start_then_success_and_writes_its_metrics() {
    let pg = pg();
    let db = race_db(&pg, "drill_ping");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    backup_with(&db.pg_dump(&["-Fp"]), &dir, "");
    let file = tmp.path().join("textrescue.prom");
    let server = PingServer::start();
    let before = chrono::Utc::now().timestamp();
    let out = drill(
        &pg,
        &dir,
        &db,
        &[
            "--prometheus",
            file.to_str().unwrap(),
            "--ping",
            &server.url("/ping/drill-1"),
        ],
    );
    crate::common::assert_ok(&out);
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    assert_eq!(
        server.lines(),
        [
            "POST /ping/drill-1/start HTTP/1.1",
            "POST /ping/drill-1 HTTP/1.1"
        ]
    );
    assert_eq!(server.bodies()[1], "drill passed");
    let record = drills::last(&dir).unwrap().unwrap();
    assert!(record.success, "{record:?}");
    let samples = samples(&file);
    let last = value(
        &samples,
        "textrescue_restore_drill_last_success_timestamp_seconds",
    )
    .unwrap();
    assert_eq!(last, record.finished_at.timestamp() as f64);
    assert!(last >= before as f64 && last <= chrono::Utc::now().timestamp() as f64);
    assert_eq!(
        value(&samples, "textrescue_restore_drill_duration_seconds"),
        Some((record.restore_seconds.unwrap() * 1000.0).round() / 1000.0)
    );
    assert!(value(&samples, "textrescue_restore_drill_duration_seconds").unwrap() > 0.0);
    assert_eq!(
        value(&samples, "textrescue_restore_drill_success"),
        Some(1.0)
    );
    // The folder's backup is in the file too (every metric of the folder).
    assert_eq!(value(&samples, "textrescue_backups_retained"), Some(1.0));
}

#[test]
#[cfg_attr(
    not(all(has_postgres, has_prometheus_client)),
    ignore = "needs PostgreSQL (PGHOST/PGPORT) and the prometheus-client Python package"
)]
fn a_failing_drill_pings_fail_with_why_and_keeps_the_last_success() {
    let pg = pg();
    let db = race_db(&pg, "drill_ping_fail");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    let good = backup_with(&db.pg_dump(&["-Fp"]), &dir, "");
    let file = tmp.path().join("textrescue.prom");
    let prom = file.to_str().unwrap();
    crate::common::assert_ok(&drill(&pg, &dir, &db, &["--prometheus", prom]));
    let first = drills::last(&dir).unwrap().unwrap();
    assert!(first.success, "{first:?}");

    // A newer backup, cut short: the drill takes it and fails.
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(
        dir.join("buggy_race_bk_20260302-020000.sql.gz"),
        &bytes[..bytes.len() * 2 / 3],
    )
    .unwrap();
    let server = PingServer::start();
    let out = drill(
        &pg,
        &dir,
        &db,
        &["--prometheus", prom, "--ping", &server.url("/ping/drill-2")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        server.lines(),
        [
            "POST /ping/drill-2/start HTTP/1.1",
            "POST /ping/drill-2/fail HTTP/1.1"
        ]
    );
    let failed = drills::last(&dir).unwrap().unwrap();
    assert!(!failed.success, "{failed:?}");
    assert_eq!(failed.backup, "buggy_race_bk_20260302-020000.sql.gz");
    // The reason goes with the ping: the drill's own failure lines.
    let why = &server.bodies()[1];
    assert!(why.starts_with("drill failed: "), "{why}");
    for f in &failed.failures {
        assert!(why.contains(f.as_str()), "{f:?} not in {why:?}");
    }
    let samples = samples(&file);
    assert_eq!(
        value(
            &samples,
            "textrescue_restore_drill_last_success_timestamp_seconds"
        ),
        Some(first.finished_at.timestamp() as f64)
    );
    assert_eq!(
        value(&samples, "textrescue_restore_drill_duration_seconds"),
        Some((first.restore_seconds.unwrap() * 1000.0).round() / 1000.0)
    );
    assert_eq!(
        value(&samples, "textrescue_restore_drill_success"),
        Some(0.0)
    );
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn an_unreachable_ping_url_does_not_fail_the_drill() {
    let pg = pg();
    let db = race_db(&pg, "drill_ping_down");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    backup_with(&db.pg_dump(&["-Fp"]), &dir, "");
    let url = format!("http://127.0.0.1:{}/ping/secret-uuid", closed_port());
    let out = drill(&pg, &dir, &db, &["--ping", &url]);
    crate::common::assert_ok(&out);
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("textrescue: warning: the start ping to http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("3 tries"), "{stderr}");
    assert!(!stderr.contains("secret-uuid"), "{stderr}");
    assert!(text(&out.stdout).contains("drill passed"));
    assert!(drills::last(&dir).unwrap().unwrap().success);
}

/// A drill running, its stdout lines coming on a channel.
struct Running {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    fn wait_for(&mut self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(Instant::now() < deadline, "no {what:?} in {:?}", self.seen);
            if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(100)) {
                let found = l.contains(what);
                self.seen.push(l);
                if found {
                    return;
                }
            }
        }
    }

    /// Waits until `done` (asked every 100 ms, for up to 60 s) while the
    /// drill runs; fails, saying `what`, if the drill ends first.
    fn wait_until(&mut self, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done() {
            self.seen.extend(self.lines.try_iter());
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                let _ =
                    std::io::Read::read_to_string(&mut self.child.stderr.take().unwrap(), &mut err);
                panic!(
                    "the drill ended ({status}) before {what}: {:?}\n{err}",
                    self.seen
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {what} in 60 s: {:?}",
                self.seen
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits for the end; exit code and stderr.
    fn end(mut self) -> (Option<i32>, String, Vec<String>) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "the drill did not end: {:?}",
                self.seen
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        // The rest of its output, to its end (however late the reading
        // thread hands it on).
        loop {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(l) => self.seen.push(l),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => assert!(
                    Instant::now() < deadline,
                    "the drill's output did not end: {:?}",
                    self.seen
                ),
            }
        }
        let mut err = String::new();
        let _ = std::io::Read::read_to_string(&mut self.child.stderr.take().unwrap(), &mut err);
        (status.code(), err, self.seen)
    }
}

/// Processes whose command line names `word`.
fn local_processes_naming(word: &str) -> Vec<String> {
    let out = Command::new("ps")
        .args(["-eo", "pid,args"])
        .output()
        .unwrap();
    text(&out.stdout)
        .lines()
        .filter(|l| l.contains(word) && !l.contains("ps -eo"))
        .map(String::from)
        .collect()
}

/// SQL that makes the load wait (inside the load's transaction).
const SLOW_LOAD: &str = "SELECT pg_sleep(60);\n";
/// SQL that makes the check wait: a counted table replaced by a view that sleeps.
const SLOW_CHECK: &str = "ALTER TABLE public.alembic_version RENAME TO alembic_version_real;\n\
     CREATE VIEW public.alembic_version AS SELECT version_num FROM public.alembic_version_real, pg_sleep(60);\n";

/// The SQL that makes `step` ("load" or "check") wait.
fn slow(step: &str) -> &'static str {
    if step == "load" {
        SLOW_LOAD
    } else {
        SLOW_CHECK
    }
}

/// How many sessions of `scratch` wait in pg_sleep (the slow step under way).
fn asleep_in(scratch: &str) -> String {
    format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{scratch}' \
         AND wait_event = 'PgSleep'"
    )
}

/// Starts the drill `cmd` of a backup made slow at `step`; once a session
/// of its scratch database waits in that step's pg_sleep (`sql` answers
/// [`asleep_in`] on the drill's server), sends it `sig`. The drill must
/// fail as interrupted and say it dropped the scratch database. Returns
/// the scratch database's name.
fn interrupted_while_asleep(
    cmd: Command,
    step: &str,
    sig: &str,
    sql: impl Fn(&str) -> String,
) -> String {
    let mut running = Running::start(cmd);
    running.wait_for(if step == "load" {
        "loading "
    } else {
        "loaded in"
    });
    let scratch = scratch_of(&running.seen.join("\n"));
    running.wait_until(&format!("session of {scratch} in pg_sleep"), || {
        sql(&asleep_in(&scratch)) != "0"
    });
    running.signal(sig);
    let (code, err, said) = running.end();
    assert_eq!(code, Some(1), "{step} {sig}: {err}");
    assert!(err.contains("interrupted by"), "{step} {sig}: {err}");
    assert!(
        said.iter()
            .any(|l| l.starts_with("dropped the scratch database")),
        "{step} {sig}: {said:?}"
    );
    scratch
}

fn interrupted_locally(step: &str, sig: &str) {
    let pg = pg();
    let db = race_db(&pg, "drill_sig");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backups");
    backup_with(&db.pg_dump(&["-Fp"]), &dir, slow(step));
    let mut cmd = textrescue(&pg);
    cmd.arg("drill").arg(&dir).args(["--dbname", db.name()]);
    let scratch = interrupted_while_asleep(cmd, step, sig, |sql| pg.admin_sql(sql));
    assert!(!pg.database_exists(&scratch));
    assert_eq!(local_processes_naming(&scratch), Vec::<String>::new());
    assert_eq!(
        pg.admin_sql(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{scratch}'"
        )),
        "0"
    );
    let record = drills::last(&dir).unwrap().unwrap();
    assert!(!record.success);
    assert!(
        record.failures.iter().any(|f| f.contains("interrupted")),
        "{record:?}"
    );
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn sigint_during_the_load_drops_the_scratch_database() {
    interrupted_locally("load", "-INT");
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn sigterm_during_the_load_drops_the_scratch_database() {
    interrupted_locally("load", "-TERM");
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn sigint_during_the_check_drops_the_scratch_database() {
    interrupted_locally("check", "-INT");
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn sigterm_during_the_check_drops_the_scratch_database() {
    interrupted_locally("check", "-TERM");
}

// ---- In the container ----

fn container_drill(c: &Container, dir: &Path, db: &str) -> Command {
    let mut cmd = container_textrescue(&["drill"]);
    cmd.arg(dir).args(container_conn(c, db));
    cmd
}

fn container_exists(c: &Container, name: &str) -> bool {
    c.psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
    ) == "1"
}

fn container_dump(c: &Container, db: &str, format: &str) -> Vec<u8> {
    docker_out(&["exec", &c.name, "pg_dump", "-U", "buggy", format, db])
}

#[test]
#[cfg_attr(not(has_docker), ignore = "needs a Docker Engine (bash .ci/docker-up)")]
fn container_drill_passes_and_survives_signals_without_strays() {
    let c = Container::start();
    let db = container_race_db(&c, "drill_src");
    let tmp = tempfile::tempdir().unwrap();

    // Success, from a custom archive (copied into the container).
    let ok_dir = tmp.path().join("ok");
    std::fs::create_dir_all(&ok_dir).unwrap();
    std::fs::write(
        ok_dir.join("buggy_race_bk_20260301-020000.dump"),
        container_dump(&c, &db, "-Fc"),
    )
    .unwrap();
    let out = container_drill(&c, &ok_dir, &db).output().unwrap();
    crate::common::assert_ok(&out);
    let scratch = scratch_of(&text(&out.stdout));
    assert!(!container_exists(&c, &scratch));
    assert!(drills::last(&ok_dir).unwrap().unwrap().success);

    let plain = container_dump(&c, &db, "-Fp");
    for (step, sig) in [
        ("load", "-INT"),
        ("load", "-TERM"),
        ("check", "-INT"),
        ("check", "-TERM"),
    ] {
        let dir = tmp.path().join(format!("{step}{sig}"));
        backup_with(&plain, &dir, slow(step));
        let scratch = interrupted_while_asleep(container_drill(&c, &dir, &db), step, sig, |sql| {
            c.psql("postgres", sql)
        });
        assert!(!container_exists(&c, &scratch), "{step} {sig}");
        assert_eq!(
            c.psql(
                "postgres",
                &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{scratch}'")
            ),
            "0"
        );
        let ps = c.ps();
        assert!(
            !ps.lines()
                .any(|l| l.contains("psql") || l.contains("pg_restore")),
            "{step} {sig}: strays in the container:\n{ps}"
        );
        assert_eq!(
            local_processes_naming(&scratch),
            Vec::<String>::new(),
            "{step} {sig}"
        );
        assert_eq!(
            local_processes_naming("textrescue-load-pid"),
            Vec::<String>::new(),
            "{step} {sig}"
        );
        assert!(!drills::last(&dir).unwrap().unwrap().success);
    }
}
