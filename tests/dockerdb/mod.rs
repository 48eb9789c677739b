//! A real PostgreSQL in a real Docker container, for tests/docker.rs and
//! tests/week.rs (`mod dockerdb;`). The engine and the image come from
//! `bash .ci/docker-up` (a PostgreSQL 15 image built from Debian packages,
//! with a superuser `buggy` and a database `buggy_race`, as on a race
//! server).
//!
//! [`Container::start`] gives a test its own fresh container under the
//! race server's usual name `server-db-1` (`--network none`: `docker exec`
//! needs no network), removed again when the test ends. The tests that use
//! it never run at once: within one test binary a lock serialises them (the
//! `cargo test` harness runs tests on threads), across binaries and
//! processes the nextest test group `docker-server-db-1`
//! (.config/nextest.toml) does.
#![allow(dead_code)]

use crate::common::text;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The image `.ci/docker-up` builds.
pub fn image() -> String {
    std::env::var("TEXTRESCUE_PG_IMAGE")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "textrescue-pg15:bookworm".to_string())
}

/// The name the race server's docker-compose gives its database container.
pub const NAME: &str = "server-db-1";

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// `docker ARGS...`, stdin closed; no check.
pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker: {e}"))
}

/// `docker ARGS...`, panicking with its stderr unless it succeeds; stdout.
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?} failed ({}): {}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Panics unless a Docker Engine answers and the image is there. Tests that
/// call this carry `#[cfg_attr(not(has_docker), ignore = ...)]`, so a
/// missing engine is a failure here, never a silent pass.
pub fn require_engine() {
    let info = docker(&["info", "--format", "{{.ServerVersion}}"]);
    assert!(
        info.status.success(),
        "no Docker Engine answers (`bash .ci/docker-up` starts one): {}",
        text(&info.stderr).trim()
    );
    let img = docker(&["image", "inspect", "--format", "{{.Id}}", &image()]);
    assert!(
        img.status.success(),
        "no image {} (`bash .ci/docker-up` builds it): {}",
        image(),
        text(&img.stderr).trim()
    );
}

/// A running container of the test image, removed (with everything running
/// in it) on drop.
pub struct Container {
    pub name: String,
    _turn: Option<MutexGuard<'static, ()>>,
}

impl Container {
    /// A fresh `server-db-1`: any old container of that name is removed
    /// first; returns once PostgreSQL in it takes queries.
    pub fn start() -> Container {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let mut c = Container::start_named(NAME);
        c._turn = Some(turn);
        c
    }

    /// A fresh container named `name` (for tests where the name does not
    /// matter, so that they need not wait for `server-db-1`).
    pub fn start_named(name: &str) -> Container {
        require_engine();
        let _ = docker(&["rm", "--force", "--volumes", name]);
        docker_ok(&[
            "run",
            "--detach",
            "--name",
            name,
            "--network",
            "none",
            &image(),
        ]);
        let c = Container {
            name: name.to_string(),
            _turn: None,
        };
        c.wait_ready();
        c
    }

    /// Waits until PostgreSQL in the container answers a query (not only
    /// pg_isready: right after a restart it still recovers).
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = docker(&[
                "exec",
                &self.name,
                "psql",
                "-X",
                "-At",
                "-U",
                "buggy",
                "-d",
                "buggy_race",
                "-c",
                "select 1",
            ]);
            if out.status.success() && text(&out.stdout).trim() == "1" {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL in {} did not start: {}\n{}",
                self.name,
                text(&out.stderr),
                text(&docker(&["logs", "--tail", "20", &self.name]).stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `docker exec -i NAME psql -X -q -v ON_ERROR_STOP=1 -At -U buggy -d DB`
    /// with `input` on stdin; no check.
    pub fn psql_input(&self, db: &str, input: &[u8]) -> Output {
        let mut c = Command::new("docker");
        c.args(["exec", "-i", &self.name])
            .args(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At"])
            .args(["-U", "buggy", "-d", db]);
        run_with_input(c, input)
    }

    /// SQL in database `db`; panics on failure; stdout without its last newline.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self.psql_input(db, sql.as_bytes());
        assert!(
            out.status.success(),
            "psql in {} failed ({}) for:\n{}\n--- stderr:\n{}",
            self.name,
            out.status,
            &sql[..sql.len().min(2000)],
            text(&out.stderr)
        );
        let mut s = text(&out.stdout);
        if s.ends_with('\n') {
            s.pop();
        }
        s
    }

    /// A new, empty UTF-8 database owned by `buggy`.
    pub fn create_db(&self, name: &str) -> String {
        self.psql(
            "postgres",
            &format!(
                "CREATE DATABASE {name} OWNER buggy TEMPLATE template0 ENCODING 'UTF8' \
                 LC_COLLATE 'C' LC_CTYPE 'C'"
            ),
        );
        name.to_string()
    }

    /// The race server's schema (fixtures/schema.sql) and a minimal
    /// population, the same as `TempDb::load_schema_with_people`: users
    /// admin (1), alice (2), bob (3); tasks 0-GET (1), 1-EDIT (2), 3-MULTI
    /// (3), 4-AUTOFLAG (4, disabled).
    pub fn load_schema_with_people(&self, db: &str) {
        let schema =
            std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/schema.sql"))
                .unwrap();
        let out = self.psql_input(db, &schema);
        assert!(out.status.success(), "schema: {}", text(&out.stderr));
        self.psql(
            db,
            "INSERT INTO public.users (username, created_at, is_admin, is_student, id) VALUES
               ('admin', '2024-01-15 08:00:00+00', true, false, 1),
               ('alice', '2024-01-20 10:00:00.5+00', false, true, 2),
               ('bob', '2024-01-20 10:01:00+00', false, true, 3);
             SELECT setval('public.users_id_seq', 3);
             INSERT INTO public.tasks (id, created_at, phase, name, title, is_enabled, sort_position) VALUES
               (1, '2024-01-10 12:00:00+00', 0, 'GET', 'Get the code', true, 10),
               (2, '2024-01-10 12:00:00+00', 1, 'EDIT', 'Edit', true, 20),
               (3, '2024-01-10 12:00:00+00', 3, 'MULTI', 'Multi', true, 30),
               (4, '2024-01-10 12:00:00+00', 4, 'AUTOFLAG', 'Auto flag', false, 40);
             SELECT setval('public.tasks_id_seq', 4);",
        );
    }

    /// The one cell a query returns, byte-exact (it travels hex-encoded:
    /// psql's display of text is not exact).
    pub fn cell_exact(&self, db: &str, sql: &str) -> String {
        let sql = sql.trim().trim_end_matches(';');
        let hex = self.psql(
            db,
            &format!("SELECT encode(convert_to(({sql}\n)::text, 'UTF8'), 'hex')"),
        );
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        String::from_utf8(bytes).unwrap()
    }

    /// The live texts of `db` as `textrescue texts --format json` gives them
    /// (ordered by id, times in UTC: the container's zone).
    pub fn texts_json(&self, db: &str) -> serde_json::Value {
        let sql = crate::common::texts_json_sql("public.tasktexts");
        serde_json::from_str(&self.cell_exact(db, &sql)).unwrap()
    }

    /// `COPY`s about `mib` MiB of incompressible text into `db_files`
    /// (fixtures/schema.sql's race files table), so that pg_dump takes a
    /// while: a large dump to interrupt in the middle.
    pub fn fill_large(&self, db: &str, mib: usize) {
        self.psql(
            db,
            "ALTER TABLE public.db_files ALTER COLUMN contents SET STORAGE EXTERNAL",
        );
        let mut data = Vec::with_capacity(mib * 1024 * 1024 + 4096);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let hex = b"0123456789abcdef";
        while data.len() < mib * 1024 * 1024 {
            data.extend_from_slice(b"2024-03-01 00:00:00+00\trace\t");
            for _ in 0..32 * 1024 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                data.push(hex[(x & 15) as usize]);
            }
            data.push(b'\n');
        }
        let mut c = Command::new("docker");
        c.args(["exec", "-i", &self.name])
            .args(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", "buggy"])
            .args(["-d", db, "-c"])
            .arg("COPY public.db_files (created_at, type, contents) FROM STDIN");
        let out = run_with_input(c, &data);
        assert!(out.status.success(), "COPY: {}", text(&out.stderr));
    }

    /// The names of the processes running in the container (`ps`).
    pub fn process_names(&self) -> Vec<String> {
        docker_ok(&["exec", &self.name, "ps", "-eo", "comm="])
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// `docker exec NAME ps -eo pid,args`, for messages.
    pub fn ps(&self) -> String {
        text(&docker(&["exec", &self.name, "ps", "-eo", "pid,args"]).stdout)
    }

    /// Whether a process named `comm` runs in the container.
    pub fn runs(&self, comm: &str) -> bool {
        self.process_names().iter().any(|n| n == comm)
    }

    /// Waits until a process named `comm` runs in the container.
    pub fn wait_for_process(&self, comm: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.runs(comm) {
            assert!(
                Instant::now() < deadline,
                "no {comm} in {}:\n{}",
                self.name,
                self.ps()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until a session in `db` waits for a lock on `table` (the
    /// pg_dump that [`Container::hold_lock`] holds up: connected, its dump
    /// begun, nothing written yet).
    pub fn wait_for_lock_waiter(&self, db: &str, table: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let waiting = self.psql(
                db,
                &format!(
                    "SELECT count(*) FROM pg_locks WHERE relation = '{table}'::regclass \
                     AND NOT granted"
                ),
            );
            if waiting != "0" {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nothing waits for the lock on {table}:\n{}",
                self.ps()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Holds an ACCESS EXCLUSIVE lock on `table` in `db` from a psql session
    /// in the container, until the returned guard is dropped: a pg_dump
    /// started meanwhile waits for it, connected and running, its output
    /// not yet written. Returns once the lock is held.
    pub fn hold_lock(&self, db: &str, table: &str) -> LockHolder {
        let mut child = Command::new("docker")
            .args(["exec", "-i", &self.name])
            .args(["psql", "-X", "-q", "-U", "buggy", "-d", db])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(
            stdin,
            "BEGIN;\nLOCK TABLE {table} IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(600);"
        )
        .unwrap();
        stdin.flush().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let held = self.psql(
                db,
                &format!(
                    "SELECT count(*) FROM pg_locks WHERE relation = '{table}'::regclass \
                     AND mode = 'AccessExclusiveLock' AND granted"
                ),
            );
            if held == "1" {
                break;
            }
            assert!(Instant::now() < deadline, "the lock was never taken");
            std::thread::sleep(Duration::from_millis(50));
        }
        LockHolder {
            child,
            _stdin: stdin,
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // Never panic in drop.
        let _ = docker(&["rm", "--force", "--volumes", &self.name]);
    }
}

/// A psql session holding a lock (see [`Container::hold_lock`]); ended on drop.
pub struct LockHolder {
    child: Child,
    _stdin: std::process::ChildStdin,
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cmd` with `input` on its stdin, collecting its output.
pub fn run_with_input(mut cmd: Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}
