//! Off-host copies (`backup --copy-to`, `copy`) against two independent
//! S3-compatible servers on 127.0.0.1, s3s-fs and moto (`bash .ci/s3-up`
//! starts them; endpoints in .ci/s3.env or TEXTRESCUE_S3S_ENDPOINT /
//! TEXTRESCUE_MOTO_ENDPOINT). Each test body runs against both
//! ([`each_server`]). The bucket is looked at with a client of its own
//! (boto3, which moto brings), never through textrescue.
//!
//! Skipped (ignored) when the servers did not answer at build time
//! (build.rs `has_s3`); under CI they must run.
use crate::common;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Pg, TempDb, assert_ok, insert_text_sql, pg, text};

/// One S3-compatible test server.
#[derive(Debug, Clone)]
pub struct Server {
    pub name: &'static str,
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    /// Whether it checks credentials (moto takes any).
    pub checks_keys: bool,
}

fn ci_env(var: &str) -> String {
    if let Ok(v) = std::env::var(var)
        && !v.is_empty()
    {
        return v;
    }
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/s3.env");
    let file = fs::read_to_string(file).unwrap();
    file.lines()
        .find_map(|l| l.strip_prefix(var)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("{var} is not in .ci/s3.env"))
        .to_string()
}

pub fn servers() -> Vec<Server> {
    let key = ci_env("TEXTRESCUE_S3_ACCESS_KEY");
    let secret = ci_env("TEXTRESCUE_S3_SECRET_KEY");
    vec![
        Server {
            name: "s3s-fs",
            endpoint: ci_env("TEXTRESCUE_S3S_ENDPOINT"),
            access_key: key.clone(),
            secret_key: secret.clone(),
            checks_keys: true,
        },
        Server {
            name: "moto",
            endpoint: ci_env("TEXTRESCUE_MOTO_ENDPOINT"),
            access_key: key,
            secret_key: secret,
            checks_keys: false,
        },
    ]
}

/// Runs `body` against each server, saying which one on failure.
pub fn each_server(body: impl Fn(&Server)) {
    for server in servers() {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&server)));
        if let Err(e) = result {
            eprintln!("failed against {} at {}", server.name, server.endpoint);
            std::panic::resume_unwind(e);
        }
    }
}

static BUCKETS: AtomicU64 = AtomicU64::new(0);

/// boto3, as an independent client: `python3 -c SCRIPT OP ENDPOINT ...`.
const BOTO: &str = r#"
import sys, boto3, botocore.config
op, endpoint, key, secret = sys.argv[1:5]
args = sys.argv[5:]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key,
    aws_secret_access_key=secret, region_name="us-east-1",
    config=botocore.config.Config(s3={"addressing_style": "path"}))
if op == "mkbucket":
    s3.create_bucket(Bucket=args[0])
elif op == "ls":
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=args[0]):
        for o in page.get("Contents", []):
            print(f"{o['Key']}\t{o['Size']}")
elif op == "get":
    sys.stdout.buffer.write(s3.get_object(Bucket=args[0], Key=args[1])["Body"].read())
elif op == "put":
    s3.put_object(Bucket=args[0], Key=args[1], Body=sys.stdin.buffer.read())
elif op == "uploads":
    print(len(s3.list_multipart_uploads(Bucket=args[0]).get("Uploads", [])))
elif op == "upload_file":
    s3.upload_file(args[1], args[0], args[2])
"#;

impl Server {
    pub fn boto(&self, op: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
        let mut child = Command::new("python3")
            .args([
                "-c",
                BOTO,
                op,
                &self.endpoint,
                &self.access_key,
                &self.secret_key,
            ])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3");
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "boto3 {op} {args:?} on {}: {}",
            self.name,
            text(&out.stderr)
        );
        out.stdout
    }

    /// A new, empty bucket.
    pub fn bucket(&self) -> String {
        let name = format!(
            "tr-{}-{}-{}",
            std::process::id(),
            BUCKETS.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        self.boto("mkbucket", &[&name], b"");
        name
    }

    /// Every key in the bucket with its size, sorted.
    pub fn ls(&self, bucket: &str) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = text(&self.boto("ls", &[bucket], b""))
            .lines()
            .map(|l| {
                let (k, s) = l.split_once('\t').unwrap();
                (k.to_string(), s.parse().unwrap())
            })
            .collect();
        v.sort();
        v
    }

    pub fn keys(&self, bucket: &str) -> Vec<String> {
        self.ls(bucket).into_iter().map(|(k, _)| k).collect()
    }

    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        self.boto("get", &[bucket, key], b"")
    }

    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) {
        self.boto("put", &[bucket, key], bytes);
    }

    /// The multipart uploads under way that this server lets a test tell
    /// apart: moto counts a bucket's; s3s-fs does not list them, so these are
    /// the upload ids of every part file in its folder, any test's (one that
    /// kills the server mid-upload leaves its parts behind): compare with a
    /// set taken before.
    pub fn uploads(&self, bucket: &str) -> BTreeSet<String> {
        if self.name == "moto" {
            let n: usize = text(&self.boto("uploads", &[bucket], b""))
                .trim()
                .parse()
                .unwrap();
            return (0..n).map(|i| i.to_string()).collect();
        }
        fs::read_dir(ci_env("TEXTRESCUE_S3S_DATA"))
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        let id = name.strip_prefix(".upload_id-")?;
                        Some(id.split(".part").next().unwrap_or(id).to_string())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// textrescue with this server's keys in the environment (and no other AWS settings).
    pub fn textrescue(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_textrescue"));
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") {
                c.env_remove(k);
            }
        }
        c.env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .env("AWS_REGION", "us-east-1")
            .stdin(Stdio::null());
        c
    }
}

/// A database with the race server's schema and a few texts.
pub fn small_db(pg: &Pg) -> TempDb {
    db_with_texts(
        pg,
        "s3",
        20,
        |i| format!("text {i}: {}", "la la ".repeat(50)),
        "",
    )
}

/// A database `prefix...` with the race server's schema and `n` texts
/// (`text(i)`), of alice's and bob's, then `more_sql` run.
pub fn db_with_texts(
    pg: &Pg,
    prefix: &str,
    n: i64,
    text: impl Fn(i64) -> String,
    more_sql: &str,
) -> TempDb {
    let db = pg.create_db(prefix);
    db.load_schema_with_people();
    let mut sql = String::new();
    for i in 0..n {
        sql += &insert_text_sql(
            None,
            2 + i % 2,
            1 + i % 4,
            "2024-03-01 14:22:11+00",
            None,
            &text(i),
        );
    }
    db.psql(&(sql + more_sql));
    db
}

/// `textrescue backup` of `db` into `dir` with `args`, against `server`.
pub fn backup(server: &Server, db: &TempDb, dir: &Path, args: &[&str]) -> Output {
    let mut c = server.textrescue();
    for (k, v) in [
        ("PGHOST", db.pg().host.as_str()),
        ("PGPORT", db.pg().port.as_str()),
        ("PGUSER", db.pg().user.as_str()),
        ("PGDATABASE", db.name()),
    ] {
        c.env(k, v);
    }
    c.env_remove("PGPASSWORD")
        .env_remove("TEXTRESCUE_DATABASE_URL")
        .args(["backup", "--prefix", "race_bk_", "--dir"])
        .arg(dir)
        .args(args);
    c.output().unwrap()
}

/// [`backup`] with `--copy-to URL --s3-endpoint ENDPOINT` and `more` args.
pub fn backup_copied_to(
    server: &Server,
    db: &TempDb,
    dir: &Path,
    url: &str,
    more: &[&str],
) -> Output {
    let mut args = vec!["--copy-to", url, "--s3-endpoint", &server.endpoint];
    args.extend_from_slice(more);
    backup(server, db, dir, &args)
}

/// The backups (not the lock) in `dir`.
pub fn local_backups(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_str().unwrap().starts_with('.'))
        .collect();
    v.sort();
    v
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_str().unwrap().to_string()
}

/// One line of stderr, no panic.
pub fn one_line(stderr: &[u8]) -> String {
    let s = text(stderr);
    assert_eq!(s.trim_end().lines().count(), 1, "not one line: {s}");
    assert!(!s.contains("panicked"), "{s}");
    s
}

/// A run that failed (exit 1) saying why in one line: that line.
fn failed_in_one_line(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    one_line(&out.stderr)
}

/// `textrescue copy DIR --to URL --s3-endpoint ENDPOINT` against `server`.
pub fn copy(server: &Server, dir: &Path, url: &str) -> Command {
    let mut c = server.textrescue();
    c.arg("copy")
        .arg(dir)
        .args(["--to", url, "--s3-endpoint", &server.endpoint]);
    c
}

/// Checks `done` every `every` until it is true; panics with `what` after `within`.
fn wait_until(what: &str, within: Duration, every: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < within, "{what}");
        std::thread::sleep(every);
    }
}

/// A backups folder holding one backup of `len` bytes that do not compress
/// (xorshift from `seed`): the folder, the backup's path and its bytes.
fn incompressible_backup(seed: u64, len: usize) -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race_bk_20240101-000000.dump");
    let mut state = seed;
    let data: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    fs::write(&path, &data).unwrap();
    (dir, path, data)
}

/// [`copy`] of `dir` to `s3://BUCKET/n` in 5 MiB parts (a multipart upload),
/// started, its output piped.
fn spawn_multipart_copy(server: &Server, dir: &Path, bucket: &str) -> Child {
    copy(server, dir, &format!("s3://{bucket}/n"))
        .env("TEXTRESCUE_S3_PART_SIZE", (5 * 1024 * 1024).to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
#[cfg_attr(
    not(all(has_s3, has_postgres)),
    ignore = "needs the S3 test servers (bash .ci/s3-up) and PostgreSQL"
)]
fn backup_copy_to_uploads_verifies_and_applies_retention() {
    let pg = pg();
    let db = small_db(&pg);
    each_server(|server| {
        let bucket = server.bucket();
        // Older copies in the bucket, and something that is not a backup.
        for old in [
            "race_bk_20240101-000000.sql.gz",
            "race_bk_20240102-000000.sql.gz",
            "race_bk_20240102-120000.sql.gz.age",
            "notes.txt",
        ] {
            server.put(&bucket, &format!("nightly/{old}"), b"old");
        }
        server.put(&bucket, "elsewhere/race_bk_20240101-000000.sql.gz", b"old");
        let dir = tempfile::tempdir().unwrap();
        let url = format!("s3://{bucket}/nightly/");
        let out = backup_copied_to(server, &db, dir.path(), &url, &["--keep-daily", "2"]);
        assert_ok(&out);
        let local = local_backups(dir.path());
        assert_eq!(local.len(), 1);
        let name = file_name(&local[0]);
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains("read back: size and sha256 match"),
            "{stdout}"
        );
        assert!(stdout.contains("removed 2 old copies"), "{stdout}");
        let bytes = fs::read(&local[0]).unwrap();
        assert_eq!(server.get(&bucket, &format!("nightly/{name}")), bytes);
        let mut kept = vec![
            "elsewhere/race_bk_20240101-000000.sql.gz".to_string(),
            format!("nightly/{name}"),
            "nightly/notes.txt".to_string(),
            "nightly/race_bk_20240102-120000.sql.gz.age".to_string(),
        ];
        kept.sort();
        assert_eq!(server.keys(&bucket), kept);
    });
}

#[test]
#[cfg_attr(
    not(all(has_s3, has_postgres)),
    ignore = "needs the S3 test servers (bash .ci/s3-up) and PostgreSQL"
)]
fn copy_catches_up_after_an_outage() {
    let pg = pg();
    let db = small_db(&pg);
    each_server(|server| {
        let bucket = server.bucket();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("s3://{bucket}/n");
        // Nothing listens on port 9 (discard) here: the service is down.
        let out = backup(
            server,
            &db,
            dir.path(),
            &["--copy-to", &url, "--s3-endpoint", "http://127.0.0.1:9"],
        );
        let err = failed_in_one_line(&out);
        assert!(
            err.contains("written and verified, but not copied"),
            "{err}"
        );
        assert!(err.contains("does not answer"), "{err}");
        let local = local_backups(dir.path());
        assert_eq!(local.len(), 1, "the verified local backup stays");
        assert!(server.keys(&bucket).is_empty());

        // A second backup, then the catch-up copies both; again: nothing to do.
        std::thread::sleep(Duration::from_millis(1100));
        assert_ok(&backup(server, &db, dir.path(), &[]));
        let out = copy(server, dir.path(), &url).output().unwrap();
        assert_ok(&out);
        assert!(
            text(&out.stdout).contains("2 backups copied"),
            "{}",
            text(&out.stdout)
        );
        let local = local_backups(dir.path());
        for path in &local {
            assert_eq!(
                server.get(&bucket, &format!("n/{}", file_name(path))),
                fs::read(path).unwrap()
            );
        }
        let out = copy(server, dir.path(), &url).output().unwrap();
        assert_ok(&out);
        assert!(
            text(&out.stdout).contains("0 backups copied (0 B), 2 already there"),
            "{}",
            text(&out.stdout)
        );
    });
}

/// A backups folder holding the fixture backup.
fn fixture_folder() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("buggy_race_bk_20240305.sql.gz");
    fs::copy(
        common::fixture("nights/buggy_race_bk_20240305.sql.gz"),
        &path,
    )
    .unwrap();
    (dir, path)
}

#[test]
#[cfg_attr(not(has_s3), ignore = "needs the S3 test servers (bash .ci/s3-up)")]
fn wrong_keys_and_a_missing_bucket_are_one_clear_line() {
    let (dir, _) = fixture_folder();
    each_server(|server| {
        let bucket = server.bucket();
        if server.checks_keys {
            let out = copy(server, dir.path(), &format!("s3://{bucket}/x"))
                .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
                .output()
                .unwrap();
            let err = failed_in_one_line(&out);
            assert!(err.contains("access denied"), "{err}");
            assert!(!err.contains("not-the-secret"), "{err}");
        }
        let out = copy(server, dir.path(), "s3://no-such-bucket-here/x")
            .output()
            .unwrap();
        let err = failed_in_one_line(&out);
        assert!(err.contains("no bucket \"no-such-bucket-here\""), "{err}");
    });
}

/// A backup whose name holds characters S3 clients send as they are
/// (`é`, `~`, `#`, `[`, a space), in a folder whose name holds some too,
/// is stored under exactly its name (another client finds it there), read
/// back by that name and by listing the folder, and a second copy finds it
/// already there.
#[test]
#[cfg_attr(not(has_s3), ignore = "needs the S3 test servers (bash .ci/s3-up)")]
fn a_name_with_unusual_characters_is_stored_under_that_name() {
    let dir = tempfile::tempdir().unwrap();
    let name = "café~#[x]_bk_20240305.sql.gz";
    let path = dir.path().join(name);
    fs::copy(
        common::fixture("nights/buggy_race_bk_20240305.sql.gz"),
        &path,
    )
    .unwrap();
    let local = Command::new(env!("CARGO_BIN_EXE_textrescue"))
        .arg("texts")
        .arg(&path)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_ok(&local);
    each_server(|server| {
        let bucket = server.bucket();
        let url = format!("s3://{bucket}/ni~ght é");
        assert_ok(
            &copy(server, dir.path(), &url)
                .arg("--quiet")
                .output()
                .unwrap(),
        );
        let key = format!("ni~ght é/{name}");
        assert_eq!(server.keys(&bucket), vec![key.clone()]);
        assert_eq!(server.get(&bucket, &key), fs::read(&path).unwrap());
        let out = server
            .textrescue()
            .args(["texts", &format!("{url}/{name}"), "--format", "json"])
            .args(["--s3-endpoint", &server.endpoint])
            .output()
            .unwrap();
        assert_ok(&out);
        assert_eq!(out.stdout, local.stdout);
        let out = server
            .textrescue()
            .args(["history", &url, "--s3-endpoint", &server.endpoint])
            .output()
            .unwrap();
        assert_ok(&out);
        assert!(text(&out.stdout).contains(&format!("{url}/{name}")));
        let out = copy(server, dir.path(), &url).output().unwrap();
        assert_ok(&out);
        assert!(
            text(&out.stdout).contains("1 already there"),
            "{}",
            text(&out.stdout)
        );
    });
}

/// A bucket folder holding an object whose name object_store refuses to
/// list (here an escape sequence; also `.` and `..`) cannot be read: one
/// line says which object and what to do, with the escape shown escaped.
/// moto only: s3s-fs keeps objects as files and refuses such names.
#[test]
#[cfg_attr(not(has_s3), ignore = "needs the S3 test servers (bash .ci/s3-up)")]
fn a_folder_holding_a_name_the_library_refuses_is_one_line() {
    let server = servers().into_iter().find(|s| s.name == "moto").unwrap();
    let bucket = server.bucket();
    server.put(&bucket, "nightly/x\u{1b}[2J.sql.gz", b"not a backup");
    let url = format!("s3://{bucket}/nightly");
    let out = server
        .textrescue()
        .args(["history", &url, "--s3-endpoint", &server.endpoint])
        .output()
        .unwrap();
    let err = failed_in_one_line(&out);
    assert!(err.contains(&format!("cannot list {url}")), "{err}");
    assert!(err.contains("rename or remove that object"), "{err}");
    assert!(
        err.contains("x\\u{1b}[2J.sql.gz") && !err.contains('\u{1b}'),
        "{err}"
    );
}

/// A free TCP port on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An s3s-fs of this test's own, on its own port and folder, to kill.
struct OwnS3s {
    child: Child,
    port: u16,
}

impl OwnS3s {
    fn start(root: &Path, port: u16) -> OwnS3s {
        let s = &servers()[0];
        let child = Command::new("s3s-fs")
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", &s.access_key, "--secret-key", &s.secret_key])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs (bash .ci/s3-up installs it)");
        wait_until(
            "s3s-fs did not start",
            Duration::from_secs(10),
            Duration::from_millis(20),
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        );
        OwnS3s { child, port }
    }

    fn server(&self) -> Server {
        Server {
            name: "own s3s-fs",
            endpoint: format!("http://127.0.0.1:{}", self.port),
            ..servers()[0].clone()
        }
    }
}

impl Drop for OwnS3s {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[cfg_attr(not(has_s3), ignore = "needs s3s-fs (bash .ci/s3-up)")]
fn server_killed_mid_upload_leaves_no_object() {
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut own = OwnS3s::start(root.path(), port);
    let server = own.server();
    let bucket = server.bucket();
    // 40 MB that does not compress, in 5 MiB parts: 8 parts.
    let (dir, path, data) = incompressible_backup(0x9e3779b97f4a7c15, 40_000_000);
    let copy = spawn_multipart_copy(&server, dir.path(), &bucket);
    // Kill the server once the multipart upload exists (s3s-fs keeps it as
    // .upload-ID.json in its folder).
    wait_until(
        "the upload never started",
        Duration::from_secs(30),
        Duration::from_millis(1),
        || {
            fs::read_dir(root.path()).unwrap().any(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".upload")
            })
        },
    );
    own.child.kill().unwrap();
    own.child.wait().unwrap();
    let out = copy.wait_with_output().unwrap();
    let err = failed_in_one_line(&out);
    assert!(err.contains("cannot upload"), "{err}");
    assert!(
        err.contains("no object was created") || err.contains("aborted"),
        "{err}"
    );
    assert_eq!(fs::read(&path).unwrap(), data, "the local backup is intact");
    // The server back: no object under the name.
    let own = OwnS3s::start(root.path(), port);
    assert!(
        own.server().keys(&bucket).is_empty(),
        "{:?}",
        own.server().ls(&bucket)
    );
}

#[test]
#[cfg_attr(not(has_s3), ignore = "needs the S3 test servers (bash .ci/s3-up)")]
fn sigterm_during_an_upload_aborts_it() {
    let (dir, _, _) = incompressible_backup(0x2545_f491_4f6c_dd1d, 120_000_000);
    each_server(|server| {
        let bucket = server.bucket();
        let before = server.uploads(&bucket);
        let child = spawn_multipart_copy(server, dir.path(), &bucket);
        // Once the multipart upload exists, the signal.
        wait_until(
            "the upload never started",
            Duration::from_secs(30),
            Duration::from_millis(20),
            || !server.uploads(&bucket).is_subset(&before),
        );
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let out = child.wait_with_output().unwrap();
        let err = failed_in_one_line(&out);
        assert!(
            err.contains("interrupted by a signal; the partial upload was aborted")
                || err.contains("interrupted by a signal; the copy was removed"),
            "{err}"
        );
        assert!(server.keys(&bucket).is_empty());
        if server.name == "moto" {
            // (s3s-fs does not list multipart uploads.)
            assert_eq!(text(&server.boto("uploads", &[&bucket], b"")).trim(), "0");
        }
    });
}
