//! Names that break command lines, in the commands textrescue prints for a
//! person to run (the undo command, `history`'s restore commands), and the
//! live database taken from the backups' names (issue 20, items 5a, 5f).
//!
//! The students, tasks and the database itself are named `-y`, `--dbname=x`,
//! `a b`, `$(touch x)`, quotes, non-ASCII. Every printed command is read
//! back by a real bash (`printf '%s\0'`) and its values compared with the
//! names, then run as printed: it must do what it says, and never run the
//! `$(touch x)`.

use crate::common::{self, Pg, assert_ok, insert_text_sql, sql_text, text};
use crate::dockerdb::Container;
use crate::restore::run;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Students that break a command line unless quoted and joined to `--user=`.
const STUDENTS: &[&str] = &[
    "-y",
    "--dbname=x",
    "a b",
    "$(touch x)",
    "it's \"q\"",
    "Ünïcødé",
];

/// Tasks (phase, name) likewise.
const TASKS: &[(i64, &str)] = &[(0, "-y"), (1, "a b"), (2, "$(touch x)")];

/// A database whose name begins with `-` and holds a space, `$(...)`,
/// quotes and non-ASCII; dropped on drop.
struct OddDb {
    pg: Pg,
    name: String,
}

impl OddDb {
    fn create(pg: &Pg) -> OddDb {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "-d $(touch x) 'q' ü_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        pg.admin_sql(&format!(
            "CREATE DATABASE \"{}\" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'",
            name.replace('"', "\"\"")
        ));
        OddDb {
            pg: pg.clone(),
            name,
        }
    }

    /// `psql --dbname=NAME` (no shell: the name goes as it is).
    fn psql(&self, sql: &str) -> String {
        let out = self
            .pg
            .command("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At"])
            .arg(format!("--dbname={}", self.name))
            .arg("-c")
            .arg(sql)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{sql}: {}", text(&out.stderr));
        text(&out.stdout).trim_end().to_string()
    }

    fn texts(&self) -> String {
        self.psql(
            "SELECT coalesce(json_agg(t ORDER BY id), '[]')::text FROM \
             (SELECT id, created_at, modified_at, user_id, task_id, text FROM public.tasktexts) t",
        )
    }

    /// The race schema, the odd students and tasks, a text for each student.
    fn load(&self) {
        let schema = std::fs::read_to_string(common::fixture("schema.sql")).unwrap();
        let out = self
            .pg
            .command("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
            .arg(format!("--dbname={}", self.name))
            .arg("-f")
            .arg(common::fixture("schema.sql"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            schema.len(),
            text(&out.stderr)
        );
        let mut sql = String::new();
        for (i, s) in STUDENTS.iter().enumerate() {
            sql += &format!(
                "INSERT INTO public.users (username, created_at, is_admin, is_student, id) \
                 VALUES ({}, '2024-01-20 10:00:00+00', false, true, {});",
                sql_text(s),
                10 + i
            );
        }
        for (i, (phase, name)) in TASKS.iter().enumerate() {
            sql += &format!(
                "INSERT INTO public.tasks (id, created_at, phase, name, title, is_enabled, \
                 sort_position) VALUES ({}, '2024-01-10 12:00:00+00', {phase}, {}, 't', true, {});",
                i + 1,
                sql_text(name),
                10 * (i + 1)
            );
        }
        for i in 0..STUDENTS.len() {
            sql += &insert_text_sql(
                Some(100 + i as i64),
                10 + i as i64,
                1 + (i % TASKS.len()) as i64,
                "2024-03-01 14:22:11.123456+00",
                None,
                &format!("text number {i}"),
            );
        }
        self.psql(&sql);
    }
}

impl Drop for OddDb {
    fn drop(&mut self) {
        let _ = self.pg.admin_sql(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name.replace('"', "\"\"")
        ));
    }
}

/// `textrescue ARGS...` against `pg`, PGDATABASE unset, in `cwd`.
fn textrescue(pg: &Pg, cwd: &Path, args: &[&str]) -> Command {
    let mut c = pg.command(env!("CARGO_BIN_EXE_textrescue"));
    c.env_remove("PGPASSWORD")
        .env_remove("TEXTRESCUE_DATABASE_URL")
        .env("TZ", "UTC")
        .current_dir(cwd)
        .args(args)
        .stdin(Stdio::null());
    c
}

/// The words bash makes of a printed command line (after `textrescue `).
fn words_of(command: &str, cwd: &Path) -> Vec<String> {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("printf '%s\\0' {command}"))
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(out.status.success(), "{command}: {}", text(&out.stderr));
    text(&out.stdout)
        .split_terminator('\0')
        .map(String::from)
        .collect()
}

/// A printed command run as printed by bash, `textrescue` being this build.
fn run_printed(pg: &Pg, command: &str, cwd: &Path) -> Output {
    let mut c = pg.command("bash");
    c.env_remove("PGPASSWORD")
        .env("TZ", "UTC")
        .current_dir(cwd)
        .arg("-c")
        .arg(format!("\"$TEXTRESCUE\" {command}"))
        .env("TEXTRESCUE", env!("CARGO_BIN_EXE_textrescue"))
        .stdin(Stdio::null());
    c.output().unwrap()
}

/// A backups folder with one backup of `db` taken by `textrescue backup`
/// (named after the database, as a nightly one is).
fn backed_up(pg: &Pg, db: &OddDb, tmp: &Path) -> PathBuf {
    let dir = tmp.join("backups");
    let dbname = format!("--dbname={}", db.name);
    let mut c = textrescue(pg, tmp, &["backup", "--quiet", "--dir"]);
    c.arg(&dir).arg(&dbname);
    assert_ok(&run(c));
    dir
}

/// Every odd student's text restored, into the database the backups are
/// named after (no --dbname, no PGDATABASE); the undo command names each
/// student and the database exactly as they are, and run as printed puts
/// the live database back.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn odd_names_survive_the_undo_command_and_the_database_comes_from_the_backups() {
    let pg = common::pg();
    let db = OddDb::create(&pg);
    db.load();
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let dir = backed_up(&pg, &db, tmp.path());
    let good = db.texts();
    db.psql("DELETE FROM public.tasktexts");
    let deleted = db.texts();

    let users: Vec<String> = STUDENTS.iter().map(|s| format!("--user={s}")).collect();
    let mut c = textrescue(&pg, &cwd, &["restore"]);
    c.arg(&dir).args(&users).arg("--yes");
    let out = run(c);
    assert_ok(&out);
    let said = text(&out.stdout);
    assert!(
        said.contains(&format!(
            "  live database: {} (from the backups' names, {}_bk_YYYYMMDD...; --dbname chooses another)",
            db.name, db.name
        )),
        "{said}"
    );
    assert!(
        said.contains("restored 6, overwrote 0, skipped 0: committed"),
        "{said}"
    );
    assert!(said.contains("verified: 6 texts"), "{said}");
    assert_eq!(db.texts(), good);

    let undo = said
        .lines()
        .find_map(|l| l.strip_prefix("to undo it: textrescue "))
        .unwrap_or_else(|| panic!("{said}"));
    let words = words_of(undo, &cwd);
    assert_eq!(words[0], "restore", "{undo}");
    assert!(
        Path::new(&words[1]).starts_with(&dir),
        "the safety backup: {words:?}"
    );
    for s in STUDENTS {
        assert!(words.contains(&format!("--user={s}")), "{s} in {words:?}");
    }
    assert!(
        words.contains(&format!("--dbname={}", db.name)),
        "{words:?}"
    );
    for (i, _) in STUDENTS.iter().enumerate() {
        assert!(words.contains(&format!("--id={}", 100 + i)), "{words:?}");
    }
    let undone = run_printed(&pg, undo, &cwd);
    assert_ok(&undone);
    assert!(
        text(&undone.stdout).contains("deleted 6: committed"),
        "{}",
        text(&undone.stdout)
    );
    assert_eq!(db.texts(), deleted);
    assert!(!cwd.join("x").exists(), "a printed $(touch x) ran");
}

/// `history` of two nights, the second without the texts: each gone
/// text's printed `texts` command names its odd student and task exactly,
/// and run as printed writes that text's restore script.
#[test]
#[cfg_attr(not(has_postgres), ignore = "needs PostgreSQL (PGHOST/PGPORT)")]
fn historys_restore_commands_keep_odd_names() {
    let pg = common::pg();
    let db = OddDb::create(&pg);
    db.load();
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let dir = backed_up(&pg, &db, tmp.path());
    db.psql("DELETE FROM public.tasktexts");
    // A second backup a second later, without the texts.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    backed_up(&pg, &db, tmp.path());

    let mut c = textrescue(&pg, &cwd, &["history"]);
    c.arg(&dir);
    let out = run(c);
    assert_ok(&out);
    let said = text(&out.stdout);
    let commands: Vec<&str> = said
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("textrescue texts "))
        .collect();
    assert_eq!(commands.len(), STUDENTS.len(), "{said}");
    for (i, s) in STUDENTS.iter().enumerate() {
        let (phase, task) = TASKS[i % TASKS.len()];
        let user = format!("--user={s}");
        let command = commands
            .iter()
            .find(|c| words_of(c, &cwd).contains(&user))
            .unwrap_or_else(|| panic!("{user} in {said}"));
        let words = words_of(command, &cwd);
        assert!(
            words.contains(&format!("--task={phase}-{}", task.to_uppercase())),
            "{words:?}"
        );
        let out = run_printed(&pg, &format!("texts {command}"), &cwd);
        assert_ok(&out);
        let file = words
            .iter()
            .find_map(|w| w.strip_prefix("--output="))
            .unwrap();
        let script = std::fs::read_to_string(cwd.join(file)).unwrap();
        assert!(script.contains(&format!("text number {i}")), "{script}");
        for (j, _) in STUDENTS.iter().enumerate().filter(|(j, _)| *j != i) {
            assert!(!script.contains(&format!("text number {j}")), "{script}");
        }
    }
    assert!(!cwd.join("x").exists(), "a printed $(touch x) ran");
}

/// `restore --container server-db-1` without --dbname, the backups named
/// DBNAME_bk_...: the database comes from their names and the plan says
/// so; the undo names it.
#[test]
#[cfg_attr(not(has_docker), ignore = "needs a Docker Engine (bash .ci/docker-up)")]
fn a_container_restore_takes_the_database_from_the_backups_names() {
    let c = Container::start();
    let db = c.create_db("restore_named");
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
    let clean = |mut cmd: Command| {
        for var in ["PGPASSWORD", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE"] {
            cmd.env_remove(var);
        }
        cmd.env_remove("TEXTRESCUE_DATABASE_URL")
            .env("TZ", "UTC")
            .stdin(Stdio::null());
        cmd
    };
    let mut backup = Command::new(env!("CARGO_BIN_EXE_textrescue"));
    backup.args(["backup", "--quiet", "--dir"]).arg(&dir).args([
        "--container",
        &c.name,
        "--username",
        "buggy",
        "--dbname",
        &db,
    ]);
    assert_ok(&run(clean(backup)));
    c.psql(&db, "DELETE FROM public.tasktexts WHERE id = 7");
    let before = c.texts_json(&db);

    let mut restore = Command::new(env!("CARGO_BIN_EXE_textrescue"));
    restore.arg("restore").arg(&dir).args([
        "--user",
        "alice",
        "--yes",
        "--container",
        &c.name,
        "--username",
        "buggy",
    ]);
    let out = run(clean(restore));
    assert_ok(&out);
    let said = text(&out.stdout);
    assert!(
        said.contains(&format!(
            "  live database: {db}, in the container {} (from the backups' names, {db}_bk_YYYYMMDD...; --dbname chooses another)",
            c.name
        )),
        "{said}"
    );
    assert!(said.contains("verified: 1 text"), "{said}");
    assert_eq!(
        c.psql(&db, "SELECT text FROM public.tasktexts WHERE id = 7"),
        "alice's text"
    );
    let undo = said
        .lines()
        .find_map(|l| l.strip_prefix("to undo it: textrescue "))
        .unwrap_or_else(|| panic!("{said}"));
    assert!(undo.contains(&format!("--dbname={db}")), "{undo}");
    let mut bash = Command::new("bash");
    bash.arg("-c")
        .arg(format!("\"$TEXTRESCUE\" {undo}"))
        .env("TEXTRESCUE", env!("CARGO_BIN_EXE_textrescue"));
    assert_ok(&run(clean(bash)));
    assert_eq!(c.texts_json(&db), before);

    // Backups of two databases in one folder: no guess, the candidates.
    std::fs::copy(
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "gz"))
            .unwrap(),
        dir.join("staging_bk_20240305.sql.gz"),
    )
    .unwrap();
    let mut restore = Command::new(env!("CARGO_BIN_EXE_textrescue"));
    restore
        .arg("restore")
        .arg(&dir)
        .args(["--user", "alice", "--yes", "--container", &c.name]);
    let out = run(clean(restore));
    // A usage error (exit 2), before anything connects.
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    assert!(
        err.contains("cannot tell which database to restore into: give --dbname; the backups' names name no one database: "),
        "{err}"
    );
    assert!(
        err.contains(&format!("{db} (")) && err.contains("staging (1 backup staging_bk_...)"),
        "{err}"
    );
}
