//! A backup loaded into a new database: the database created (from
//! template0, in the dump's encoding), then the backup run into it by
//! PostgreSQL's own clients: psql for plain SQL (decompressed here and
//! streamed into psql's standard input, in one transaction, stopping at
//! the first error), pg_restore for custom, tar and directory archives.
//!
//! With a container, the clients run in it through `docker exec -i`: plain
//! SQL and compressed archives stream in; an archive file or directory is
//! copied in with `docker cp` (pg_restore seeks in it) and removed after.
//! Stopping the docker client does not stop the process in the container,
//! so the client is started under `sh`, which says its process id first,
//! and a stopped load ends it there by that id and waits until it is gone.
//!
//! A pg_dumpall script, or a `pg_dump --create` script, is cut to the one
//! database's part (from its `\connect` to its closing line): the
//! `\connect`, and the statements about databases (`CREATE/ALTER/COMMENT
//! ON DATABASE`, grants on them), never reach psql, so the load never
//! touches another database. The part's `\restrict` and `\unrestrict`
//! (pg_dump 15.14 and later) do.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::server::{MAINTENANCE_DB, Server, ident, literal};
use super::tee::Tee;
use crate::backup::conn::client_command;
use crate::codec::Compression;
use crate::escape;
use crate::input::{self, Format, Opened, Source};
use crate::progress::Progress;
use crate::signals::Caught;

/// How much of a dump's start is searched for its encoding.
const HEAD_LEN: usize = 4 << 20;

/// What the first line of a client's stderr in the container says.
const PID_MARKER: &str = "textrescue-load-pid=";
const IN_CONTAINER: &str = "echo \"textrescue-load-pid=$$\" >&2; exec \"$@\"";

/// How the backup is to be loaded.
pub struct Plan {
    pub format: Format,
    pub compression: Compression,
    /// The dump's encoding (`SET client_encoding`), if it says.
    pub encoding: Option<String>,
    /// A plain script holding `\connect`: only this database's part is
    /// loaded (`None` until chosen).
    pub cut_to: Option<Option<String>>,
}

/// The encoding a dump's SQL sets first, in `head`.
fn encoding_in(head: &[u8]) -> Option<String> {
    let key = b"SET client_encoding = '";
    let at = memchr::memmem::find(head, key)? + key.len();
    let end = memchr::memchr(b'\'', &head[at..])?;
    let name = std::str::from_utf8(&head[at..at + end]).ok()?;
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        .then(|| name.to_string())
}

fn head_of(reader: &mut dyn Read) -> Result<Vec<u8>> {
    let mut head = Vec::new();
    reader
        .take(HEAD_LEN as u64)
        .read_to_end(&mut head)
        .context("cannot read the backup")?;
    Ok(head)
}

/// The backup's format, compression and encoding, and whether it is a
/// script of several databases.
pub fn plan(source: &Path) -> Result<Plan> {
    let opened = input::open(&Source::Path(source.to_path_buf()), &Progress::hidden())?;
    let format = opened.format();
    let compression = opened.compression();
    let head = match opened {
        Opened::Directory(dir) => {
            let mut toc = std::fs::File::open(dir.join("toc.dat"))
                .with_context(|| format!("cannot open {}", dir.join("toc.dat").display()))?;
            head_of(&mut toc)?
        }
        Opened::Stream { mut reader, .. } => head_of(&mut reader)?,
    };
    let several = format == Format::Plain
        && (memchr::memmem::find(&head, b"database cluster dump").is_some()
            || head
                .split(|&b| b == b'\n')
                .any(|l| l.starts_with(b"\\connect")));
    Ok(Plan {
        format,
        compression,
        encoding: encoding_in(&head),
        cut_to: several.then_some(None),
    })
}

/// The encoding of `database`'s part of a script of several: the first
/// `SET client_encoding` after its `\connect`.
pub fn encoding_of_part(source: &Path, database: &str) -> Result<Option<String>> {
    let opened = input::open(&Source::Path(source.to_path_buf()), &Progress::hidden())?;
    let Opened::Stream { reader, .. } = opened else {
        return Ok(None);
    };
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    let mut inside = false;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        if line.starts_with(b"\\connect") {
            inside = connect_target(&line).as_deref() == Some(database);
        } else if inside && line.starts_with(b"SET client_encoding") {
            return Ok(encoding_in(&line));
        }
    }
}

/// The database a `\connect` line names (pg_dump's two spellings).
fn connect_target(line: &[u8]) -> Option<String> {
    let line = String::from_utf8_lossy(line);
    let rest = line.strip_prefix("\\connect")?.trim();
    if let Some(q) = rest.strip_prefix("-reuse-previous=on \"dbname='") {
        let end = q.rfind("'\"")?;
        return Some(q[..end].replace("\\'", "'").replace("''", "'"));
    }
    if let Some(q) = rest.strip_prefix('"') {
        return Some(q.strip_suffix('"')?.replace("\"\"", "\""));
    }
    Some(rest.to_string())
}

/// Statements about databases, cut from a script's part with `\connect`.
fn about_databases(line: &[u8]) -> bool {
    let starts = |p: &[u8]| line.starts_with(p);
    starts(b"\\connect")
        || starts(b"CREATE DATABASE ")
        || starts(b"ALTER DATABASE ")
        || starts(b"COMMENT ON DATABASE ")
        || starts(b"SECURITY LABEL ON DATABASE ")
        || ((starts(b"GRANT ") || starts(b"REVOKE "))
            && memchr::memmem::find(line, b" ON DATABASE ").is_some())
}

/// Fails if a database `name` exists.
pub fn refuse_existing(server: &Server, name: &str, interrupt: &Caught) -> Result<()> {
    if server.exists(name, interrupt)? {
        bail!(
            "the database {} exists already: refusing to restore into it (choose another name)",
            escape::visible(name)
        );
    }
    Ok(())
}

/// Creates `name` from template0 in `encoding`, owned by the live
/// database's owner (so that the app, which owns its tables, may still
/// migrate it). CREATE DATABASE itself fails if it exists; a signal
/// during it is seen once it has ended.
pub fn create(
    server: &Server,
    name: &str,
    encoding: Option<&str>,
    interrupt: &Caught,
) -> Result<()> {
    let owner = match server.live_db() {
        Some(live) => server
            .lines(
                MAINTENANCE_DB,
                &format!(
                    "SELECT 'textrescue-owner ' || pg_get_userbyid(datdba) FROM pg_database \
                     WHERE datname = {};\n",
                    literal(live)
                ),
                "textrescue-owner ",
                interrupt,
            )?
            .pop(),
        None => None,
    };
    let mut sql = format!("CREATE DATABASE {} TEMPLATE template0", ident(name));
    if let Some(e) = encoding {
        sql += &format!(" ENCODING {}", literal(e));
    }
    if let Some(o) = owner {
        sql += &format!(" OWNER {}", ident(&o));
    }
    sql.push_str(";\n");
    // Run to its end whatever signal comes, then the signal is seen: a
    // client stopped here would leave a CREATE DATABASE going on in the
    // container (stopping `docker exec` does not stop psql in it), which
    // could commit after a drill dropped the database it had not yet made.
    server.run(MAINTENANCE_DB, &sql, &Caught::never())?;
    interrupt.check()
}

/// A client process loading the backup, and what ends it.
struct Loader {
    child: Child,
    what: String,
    /// The client's process id in the container, once it has said.
    inner_pid: Arc<AtomicU32>,
    stderr: Option<JoinHandle<String>>,
    stop_watch: Arc<AtomicBool>,
    watch: Option<JoinHandle<()>>,
    container: Option<(String, String)>,
}

impl Loader {
    fn start(
        server: &Server,
        args: Vec<String>,
        stdin: bool,
        interrupt: &Caught,
    ) -> Result<Loader> {
        let wrapper: &[&str] = &["sh", "-c", IN_CONTAINER, "sh"];
        let mut cmd: Command = client_command(
            &server.conn,
            server.container.as_ref(),
            if server.container.is_some() {
                wrapper
            } else {
                &[]
            },
            &args,
        );
        cmd.stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0);
        let what = format!("{}{}", args[0], server.where_());
        let mut child = cmd.spawn().with_context(|| format!("cannot run {what}"))?;
        let inner_pid = Arc::new(AtomicU32::new(0));
        let err = child.stderr.take().expect("piped stderr");
        let stderr = {
            let inner_pid = Arc::clone(&inner_pid);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(err);
                let mut kept = String::new();
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    if let Some(pid) = line.trim().strip_prefix(PID_MARKER) {
                        inner_pid.store(pid.parse().unwrap_or(0), Ordering::SeqCst);
                    } else if kept.len() < 64 << 10 {
                        kept.push_str(&line);
                    }
                    line.clear();
                }
                kept
            })
        };
        let stop_watch = Arc::new(AtomicBool::new(false));
        // Ends the client as soon as a signal comes, whatever the main
        // thread is blocked in (a write to a busy psql, a wait).
        let watch = {
            let stop = Arc::clone(&stop_watch);
            let interrupt = interrupt.clone();
            let pid = child.id();
            let inner = Arc::clone(&inner_pid);
            let container = server.container.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    if interrupt.check().is_err() {
                        end_client(pid, &inner, container.as_ref());
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        };
        Ok(Loader {
            child,
            what,
            inner_pid,
            stderr: Some(stderr),
            stop_watch,
            watch: Some(watch),
            container: server.container.clone(),
        })
    }

    /// Waits for the client; its failure, with what it said.
    fn finish(mut self, interrupt: &Caught) -> Result<()> {
        drop(self.child.stdin.take());
        let status = self.child.wait().context("cannot wait for the load")?;
        self.stop_watch.store(true, Ordering::SeqCst);
        if let Some(w) = self.watch.take() {
            let _ = w.join();
        }
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        interrupt.check()?;
        if !status.success() {
            return Err(psql_like_failure(&self.what, &stderr, status.code()));
        }
        Ok(())
    }

    /// Ends the client (here and in the container) and waits for it. Its
    /// input is closed only once it is stopped: psql at the end of its
    /// input would commit what it was given.
    fn abandon(mut self, container: Option<&(String, String)>) {
        end_client(self.child.id(), &self.inner_pid, container);
        drop(self.child.stdin.take());
        let _ = self.child.wait();
        self.stop_watch.store(true, Ordering::SeqCst);
        if let Some(w) = self.watch.take() {
            let _ = w.join();
        }
    }
}

/// Stops a loading client: its process group here, and with a container
/// the client inside it by its id, waited for until it is gone.
fn end_client(pid: u32, inner: &AtomicU32, container: Option<&(String, String)>) {
    let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGTERM);
    let Some((docker, name)) = container else {
        return;
    };
    let inner_pid = inner.load(Ordering::SeqCst);
    if inner_pid == 0 {
        return;
    }
    let in_container = |args: &[&str]| {
        Command::new(docker)
            .args(["exec", name.as_str()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let p = inner_pid.to_string();
    in_container(&["kill", "-TERM", &p]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while in_container(&["kill", "-0", &p]) {
        if Instant::now() > deadline {
            in_container(&["kill", "-KILL", &p]);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn psql_like_failure(what: &str, stderr: &str, code: Option<i32>) -> anyhow::Error {
    let why = stderr
        .lines()
        .find(|l| l.contains("ERROR:") || l.contains("FATAL:") || l.contains("error:"))
        .or_else(|| stderr.lines().rev().find(|l| !l.trim().is_empty()))
        .map_or_else(
            || format!("it ended with status {}", code.unwrap_or(-1)),
            |l| l.trim().to_string(),
        );
    anyhow!(
        "{what} failed to load the backup: {}",
        escape::visible(&why)
    )
}

/// Loads `source` into the new database `into` (already created). With
/// `tee`, a plain script's decompressed bytes also go to its reading end
/// as they go to psql (a whole script only, not a part cut from several).
pub fn load(
    server: &Server,
    source: &Path,
    plan: &Plan,
    into: &str,
    tee: Option<Tee>,
    interrupt: &Caught,
) -> Result<()> {
    let target = server.conn_to(into);
    let mut conn_args = target.pg_dump_args();
    if plan.format == Format::Plain {
        let mut args: Vec<String> = [
            server.psql.as_str(),
            "-X",
            "-q",
            "--no-password",
            "-v",
            "ON_ERROR_STOP=1",
            "--single-transaction",
        ]
        .map(String::from)
        .to_vec();
        args.append(&mut conn_args);
        let opened = input::open(&Source::Path(source.to_path_buf()), &Progress::hidden())?;
        let Opened::Stream { reader, .. } = opened else {
            bail!("{} is not a plain SQL script", source.display());
        };
        let loader = Loader::start(
            &Server {
                conn: target,
                ..server.clone()
            },
            args,
            true,
            interrupt,
        )?;
        return fed(
            loader,
            reader,
            plan.cut_to.as_ref().map(|c| c.as_deref()),
            tee,
            interrupt,
        );
    }
    let mut args: Vec<String> = [
        server.pg_restore.as_str(),
        "--no-password",
        "--exit-on-error",
        "--single-transaction",
    ]
    .map(String::from)
    .to_vec();
    args.append(&mut conn_args);
    let copied = server.container.is_some() && plan.compression == Compression::None;
    let streamed = plan.compression != Compression::None;
    let mut in_container_path = None;
    if copied {
        let path = copy_in(server, source)?;
        args.push(path.clone());
        in_container_path = Some(path);
    } else if !streamed {
        args.push(source.display().to_string());
    }
    let result = (|| {
        let loader = Loader::start(
            &Server {
                conn: target.clone(),
                ..server.clone()
            },
            args,
            streamed,
            interrupt,
        )?;
        if !streamed {
            return loader.finish(interrupt);
        }
        let opened = input::open(&Source::Path(source.to_path_buf()), &Progress::hidden())?;
        let Opened::Stream { reader, .. } = opened else {
            bail!("{} cannot be streamed", source.display());
        };
        fed(loader, reader, None, None, interrupt)
    })();
    if let Some(path) = in_container_path {
        remove_copy(server, &path);
    }
    result
}

/// Copies an archive into the container's /tmp under a name of its own;
/// its path there.
fn copy_in(server: &Server, source: &Path) -> Result<String> {
    let (docker, name) = server.container.as_ref().expect("a container");
    let path = format!(
        "/tmp/textrescue-load-{}-{:08x}",
        std::process::id(),
        rand_u32()
    );
    let out = Command::new(docker)
        .arg("cp")
        .arg(source)
        .arg(format!("{name}:{path}"))
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {docker}"))?;
    if !out.status.success() {
        remove_copy(server, &path);
        bail!(
            "cannot copy {} into the container {name}: {}",
            source.display(),
            escape::visible(String::from_utf8_lossy(&out.stderr).trim())
        );
    }
    // docker cp keeps the files' modes and makes root their owner: the
    // user the clients run as in the container (the image's) gets them.
    let uid = Command::new(docker)
        .args(["exec", name.as_str(), "id", "-u"])
        .stdin(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if !uid.is_empty() && uid != "0" {
        let chown = Command::new(docker)
            .args([
                "exec",
                "-u",
                "0",
                name.as_str(),
                "chown",
                "-R",
                &uid,
                "--",
                &path,
            ])
            .stdin(Stdio::null())
            .output();
        if !chown.is_ok_and(|o| o.status.success()) {
            remove_copy(server, &path);
            bail!("cannot give the copy of the backup in the container {name} to its user");
        }
    }
    Ok(path)
}

fn remove_copy(server: &Server, path: &str) {
    if let Some((docker, name)) = &server.container {
        let _ = Command::new(docker)
            .args(["exec", name.as_str(), "rm", "-rf", "--", path])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A number no other run is likely to pick (names of scratch files and
/// databases).
pub fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    // std's hasher keys are random for each process (and each call here).
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish() as u32
}

/// Streams `reader` into the loader's input and waits for it. A backup
/// that cannot be read, or a signal, stops the client before its input
/// closes (nothing committed); a client that stopped reading says why.
fn fed(
    mut loader: Loader,
    reader: Box<dyn crate::stream::DumpRead + Send>,
    cut_to: Option<Option<&str>>,
    tee: Option<Tee>,
    interrupt: &Caught,
) -> Result<()> {
    let mut stdin = loader.child.stdin.take().expect("piped stdin");
    // The tee's reading end sees the end of the stream when this returns.
    let result = feed(reader, &mut stdin, cut_to, tee, interrupt);
    loader.child.stdin = Some(stdin);
    match result {
        Ok(()) => loader.finish(interrupt),
        Err(e) => {
            let broken_pipe = e
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe);
            if broken_pipe && interrupt.check().is_ok() {
                loader.finish(interrupt)?;
                // A message, not the I/O error: a broken pipe is no
                // failure to the binary's main.
                bail!("the client stopped reading the backup before its end");
            }
            let container = loader.container.clone();
            loader.abandon(container.as_ref());
            interrupt.check()?;
            Err(anyhow!("{e:#}"))
        }
    }
}

/// Streams `reader` into a client's input; with `cut_to`, only the lines
/// of that database's part (see the module's doc).
fn feed(
    reader: Box<dyn crate::stream::DumpRead + Send>,
    stdin: &mut std::process::ChildStdin,
    cut_to: Option<Option<&str>>,
    mut tee: Option<Tee>,
    interrupt: &Caught,
) -> Result<()> {
    match cut_to {
        None => {
            let mut reader = reader;
            let mut buf = vec![0u8; 256 << 10];
            loop {
                interrupt.check()?;
                let n = reader.read(&mut buf).context("cannot read the backup")?;
                if n == 0 {
                    break;
                }
                if let Some(tee) = &mut tee {
                    tee.hand(&buf[..n]);
                }
                stdin.write_all(&buf[..n])?;
            }
        }
        Some(database) => {
            let database = database.ok_or_else(|| anyhow!("no database chosen"))?;
            let mut reader = BufReader::with_capacity(256 << 10, reader);
            let mut line = Vec::new();
            let mut inside = false;
            let mut out = std::io::BufWriter::with_capacity(256 << 10, &mut *stdin);
            let mut n = 0u64;
            loop {
                line.clear();
                if reader
                    .read_until(b'\n', &mut line)
                    .context("cannot read the backup")?
                    == 0
                {
                    break;
                }
                n += 1;
                if n.is_multiple_of(4096) {
                    interrupt.check()?;
                }
                if line.starts_with(b"\\connect") {
                    let was_inside = inside;
                    inside = connect_target(&line).as_deref() == Some(database);
                    if was_inside && !inside {
                        break;
                    }
                    continue;
                }
                if inside && !about_databases(&line) {
                    out.write_all(&line)?;
                    // What follows is the next database's header.
                    if line.trim_ascii_end() == b"-- PostgreSQL database dump complete" {
                        break;
                    }
                }
            }
            out.flush()?;
        }
    }
    Ok(())
}

/// Where a backup of the folder format lives (for messages).
pub fn describe(source: &Path, plan: &Plan) -> String {
    format!(
        "{} ({}{})",
        source.display(),
        plan.format.name(),
        match plan.compression {
            Compression::None => String::new(),
            c => format!(", {}", c.name()),
        }
    )
}
