//! `textrescue backup`: one verified backup.
//!
//! The steps, each of which can fail the backup (and then no file is left
//! under a backup's name):
//! 1. create DIR (mode 0700) if missing, take the lock `DIR/.textrescue-backup.lock`;
//! 2. start pg_dump (locally or with `docker exec -i`) in its own process
//!    group, its password in its environment only;
//! 3. stream its stdout into a temporary file in DIR (created 0600), through
//!    gzip for plain dumps; collect its stderr (bounded);
//! 4. judge pg_dump by its exit status and stderr; fsync the file;
//! 5. read the file back with our own reader (complete, texts table parsed);
//! 6. link it under `PREFIX + YYYYMMDD-HHMMSS + .sql.gz|.dump` without ever
//!    replacing a file, remove the temporary name, fsync DIR;
//! 7. apply retention, print one line.
//!
//! SIGINT, SIGTERM and SIGHUP set a flag; pg_dump's process group is then
//! terminated and the run fails and cleans up (a second signal exits at once).
//! With `--container`, ending the `docker exec` client does not end pg_dump
//! inside the container: a run that fails or is interrupted also stops that
//! pg_dump, by the process id its wrapper reported (`conn::PID_MARKER`).

pub mod conn;
pub mod names;
pub mod retention;

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use chrono::Utc;
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::commands::UsageError;
use crate::dump::{self, ReadOptions};
use crate::input::{Format, Source};
use conn::{Conn, DumpFormat, Launch};
use retention::Keep;

/// The lock file and partial backups: see [`names`].
pub use names::{LOCK_FILE, PARTIAL_PREFIX};

/// Everything `backup` needs, from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    pub dir: PathBuf,
    pub conn: Conn,
    pub launch: Launch,
    pub prefix: String,
    pub keep: Keep,
    pub dry_run: bool,
    pub lock_timeout: Duration,
    pub quiet: bool,
}

/// The backup's file name prefix when `--prefix` is not given: `<dbname>_bk_`,
/// with the database pg_dump will dump (its default is the user name).
pub fn default_prefix(conn: &Conn, in_container: bool) -> Result<String> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let db = conn.dbname.clone().or_else(|| conn.username.clone());
    let db = match db {
        Some(db) => db,
        None if in_container => {
            return Err(UsageError(
                "with --container, give --dbname (or --prefix): the backup is named after the database"
                    .into(),
            )
            .into());
        }
        None => env("PGDATABASE")
            .or_else(|| env("PGUSER"))
            .or_else(os_user)
            .ok_or_else(|| {
                UsageError(
                    "cannot tell which database pg_dump will dump: give --dbname or --prefix"
                        .into(),
                )
            })?,
    };
    let clean: String = db
        .chars()
        .map(|c| {
            if c == '/' || c == '\0' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    Ok(format!("{clean}_bk_"))
}

fn os_user() -> Option<String> {
    // SAFETY: getpwuid returns a pointer into static storage or null; the
    // name is copied out at once (single-threaded at this point).
    unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr((*pw).pw_name)
            .to_str()
            .ok()
            .map(str::to_string)
    }
}

/// Checks a `--prefix`.
pub fn check_prefix(prefix: &str) -> Result<()> {
    if prefix.is_empty() || prefix.contains('/') || prefix.contains('\0') || prefix.starts_with('.')
    {
        return Err(UsageError(format!(
            "--prefix {prefix:?}: must be non-empty, without '/', and not start with '.'"
        ))
        .into());
    }
    Ok(())
}

/// The signal flag: the number of the first SIGINT/SIGTERM/SIGHUP, or 0.
struct Signals {
    which: Arc<AtomicUsize>,
}

impl Signals {
    fn install() -> Result<Signals> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let which = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(AtomicBool::new(false));
        // Past a file-size limit (`ulimit -f`), SIGXFSZ would kill us before
        // we could remove the temporary file; ignored, the write fails with
        // EFBIG and the run cleans up like any other write error.
        // SAFETY: setting a signal's disposition to SIG_IGN.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        }
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            // A second signal ends the process at once.
            signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&seen))
                .context("cannot install signal handlers")?;
            signal_hook::flag::register(sig, Arc::clone(&seen))
                .context("cannot install signal handlers")?;
            let w = Arc::clone(&which);
            // SAFETY: the action only does an atomic compare-exchange.
            unsafe {
                signal_hook::low_level::register(sig, move || {
                    let _ = w.compare_exchange(0, sig as usize, Ordering::SeqCst, Ordering::SeqCst);
                })
            }
            .context("cannot install signal handlers")?;
        }
        Ok(Signals { which })
    }

    fn check(&self) -> Result<()> {
        match self.which.load(Ordering::SeqCst) {
            0 => Ok(()),
            sig => bail!(
                "interrupted by {}; no backup written",
                signal_name(sig as i32)
            ),
        }
    }

    fn raised(&self) -> bool {
        self.which.load(Ordering::SeqCst) != 0
    }
}

fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        libc::SIGBUS => "SIGBUS",
        _ => return format!("signal {sig}"),
    };
    format!("signal {sig} ({name})")
}

/// A temporary file removed on drop unless [`Partial::disarm`]ed.
struct Partial {
    path: PathBuf,
    armed: bool,
}

impl Drop for Partial {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Where pg_dump's output goes.
enum Sink {
    Gzip(Box<GzEncoder<BufWriter<File>>>),
    Raw(BufWriter<File>),
}

impl Sink {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Sink::Gzip(w) => w.write_all(buf),
            Sink::Raw(w) => w.write_all(buf),
        }
    }

    fn finish(self) -> io::Result<File> {
        let buffered = match self {
            Sink::Gzip(w) => w.finish()?,
            Sink::Raw(w) => w,
        };
        buffered.into_inner().map_err(|e| e.into_error())
    }
}

/// Takes one backup as `settings` say; prints its summary line (unless
/// quiet) and returns the backup's path.
pub fn run(settings: &Settings) -> Result<PathBuf> {
    let started = Instant::now();
    let signals = Signals::install()?;
    let dir = &settings.dir;
    prepare_dir(dir)?;
    let _lock = lock(dir, settings.lock_timeout, &signals)?;
    remove_stale_partials(dir);

    let stamp = Utc::now().format("%Y%m%d-%H%M%S").to_string();
    let ext = settings.launch.format.extension();
    let partial_path = dir.join(format!(
        "{PARTIAL_PREFIX}{}-{}{stamp}{ext}",
        std::process::id(),
        settings.prefix
    ));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial_path)
        .map_err(|e| {
            anyhow!(
                "cannot create {}: {e}; no backup written",
                partial_path.display()
            )
        })?;
    let mut partial = Partial {
        path: partial_path,
        armed: true,
    };

    let dumped = dump_into(settings, file, &signals)?;
    signals.check()?;

    let texts = verify_unless_signalled(&partial.path, settings.launch.format, &signals)?;
    signals.check()?;

    let final_path = link_no_clobber(dir, &partial.path, &settings.prefix, &stamp, ext)?;
    partial.armed = false;
    sync_dir(dir)?;
    let size = fs::metadata(&final_path)
        .with_context(|| format!("cannot stat {}", final_path.display()))?
        .len();
    let elapsed = started.elapsed();

    // Retention: the backup is safe on disk now.
    let mut retention_note = String::new();
    if settings.keep.any() {
        let final_name = final_path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let found = retention::scan(dir, &settings.prefix)?;
        let remove = retention::plan(&found, &final_name, &settings.keep);
        if settings.dry_run {
            for name in &remove {
                println!("would remove {}", dir.join(name).display());
            }
            retention_note = format!(
                "; --dry-run: would remove {} old backup{}",
                remove.len(),
                plural(remove.len())
            );
        } else {
            let mut failed = Vec::new();
            for name in &remove {
                if let Err(e) = fs::remove_file(dir.join(name)) {
                    failed.push(format!("{name}: {e}"));
                }
            }
            if !failed.is_empty() {
                bail!(
                    "backup {} written, but removing old backups failed: {}",
                    final_path.display(),
                    failed.join("; ")
                );
            }
            retention_note = format!(
                "; removed {} old backup{}",
                remove.len(),
                plural(remove.len())
            );
        }
    }
    if !settings.quiet {
        println!(
            "{}: {} ({size} bytes, {} from pg_dump) in {:.1} s, {}{retention_note}",
            final_path.display(),
            human_size(size),
            human_size(dumped),
            elapsed.as_secs_f64(),
            texts,
        );
    }
    Ok(final_path)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Creates DIR (and missing parents) with mode 0700; an existing DIR is left as it is.
fn prepare_dir(dir: &Path) -> Result<()> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => bail!("--dir {}: not a directory", dir.display()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(anyhow!("--dir {}: {e}", dir.display())),
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    // The umask may have taken bits away, never added; make it exactly 0700.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot set the mode of {}", dir.display()))?;
    Ok(())
}

/// Takes DIR's lock, waiting up to `timeout` (polling, so signals are heard).
fn lock(dir: &Path, timeout: Duration, signals: &Signals) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| {
            anyhow!(
                "cannot open the lock file {}: {e}; no backup written",
                path.display()
            )
        })?;
    let start = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) => {
                signals.check()?;
                if start.elapsed() >= timeout {
                    let mut holder = String::new();
                    let _ = (&file).read_to_string(&mut holder);
                    let holder = holder.trim();
                    let who = if holder.is_empty() {
                        String::new()
                    } else {
                        format!(" (pid {holder})")
                    };
                    let waited = if timeout.is_zero() {
                        "not waiting (--lock-timeout 0)".to_string()
                    } else {
                        format!("gave up after {} s (--lock-timeout)", timeout.as_secs())
                    };
                    bail!(
                        "another textrescue backup{who} is running in {} (it holds {}); {waited}",
                        dir.display(),
                        path.display()
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(anyhow!("cannot lock {}: {e}", path.display()));
            }
        }
    }
    // Who holds it, for the message a waiting run gives.
    let _ = file.set_len(0);
    let _ = writeln!(file, "{}", std::process::id());
    Ok(file)
}

fn remove_stale_partials(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let is_partial = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(PARTIAL_PREFIX));
        if is_partial && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Runs pg_dump into `file`; returns the number of bytes pg_dump wrote.
/// Fails unless pg_dump exited 0 without an error message.
fn dump_into(settings: &Settings, file: File, signals: &Signals) -> Result<u64> {
    let mut cmd = conn::command(&settings.launch, &settings.conn);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a signal to us is handled by us, and
        // terminating the group also ends a wrapper script's children.
        .process_group(0);
    // SAFETY: only signal(2), which is async-signal-safe, between fork and exec.
    unsafe {
        // pg_dump gets SIGXFSZ's default action back (an ignored signal stays
        // ignored across exec).
        cmd.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_DFL);
            Ok(())
        });
    }
    let what = match &settings.launch.container {
        None => settings.launch.pg_dump.clone(),
        Some((docker, container)) => {
            format!("{docker} exec -i {container} {}", settings.launch.pg_dump)
        }
    };
    let mut child = cmd.spawn().map_err(|e| anyhow!("cannot run {what}: {e}"))?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let pid_in_container = Arc::new(AtomicU32::new(0));
    let stderr_thread = {
        let pid = settings
            .launch
            .container
            .is_some()
            .then(|| Arc::clone(&pid_in_container));
        std::thread::spawn(move || collect_stderr(stderr, 64 * 1024, pid.as_deref()))
    };

    let buffered = BufWriter::with_capacity(256 * 1024, file);
    let mut sink = match settings.launch.format {
        DumpFormat::Plain => Sink::Gzip(Box::new(GzEncoder::new(buffered, Compression::default()))),
        DumpFormat::Custom => Sink::Raw(buffered),
    };
    // Ends the docker client or local pg_dump early. In a container,
    // pg_dump's id there must be known first, to stop it there afterwards:
    // the wrapper says it before pg_dump starts, so it is at most a moment
    // away.
    let in_container = settings.launch.container.is_some();
    let stop_child = |child: &mut Child| {
        if in_container {
            let deadline = Instant::now() + Duration::from_secs(2);
            while pid_in_container.load(Ordering::SeqCst) == 0
                && Instant::now() < deadline
                && matches!(child.try_wait(), Ok(None))
            {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        terminate(child);
    };
    let mut buf = vec![0u8; 256 * 1024];
    let mut total: u64 = 0;
    let mut failure: Option<anyhow::Error> = None;
    let fd = stdout.as_raw_fd();
    loop {
        if signals.raised() {
            stop_child(&mut child);
            break;
        }
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for an fd we own.
        let ready = unsafe { libc::poll(&mut pfd, 1, 100) };
        if ready == 0 {
            continue;
        }
        if ready < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            failure = Some(anyhow!("cannot read pg_dump's output: {e}"));
            stop_child(&mut child);
            break;
        }
        match stdout.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                total += n as u64;
                if let Err(e) = sink.write_all(&buf[..n]) {
                    failure = Some(write_failure("write", &settings.dir, &e));
                    stop_child(&mut child);
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                failure = Some(anyhow!("cannot read pg_dump's output: {e}"));
                stop_child(&mut child);
                break;
            }
        }
    }
    drop(stdout);
    let status = wait(&mut child, signals);
    let stderr = stderr_thread.join().unwrap_or_default();
    if let Some((docker, container)) = &settings.launch.container
        && (signals.raised() || failure.is_some() || !status.success())
    {
        let pid = pid_in_container.load(Ordering::SeqCst);
        if pid != 0 {
            stop_in_container(docker, container, pid, &settings.launch.pg_dump);
        }
    }
    signals.check()?;
    if let Some(e) = failure {
        return Err(e);
    }
    let stderr_text = redact(&String::from_utf8_lossy(&stderr), &settings.conn);
    let first_error = first_error_line(&stderr_text);
    if !status.success() {
        let how = match (status.code(), status.signal()) {
            (Some(code), _) => format!("failed (exit status {code})"),
            (None, Some(sig)) => format!("was killed by {}", signal_name(sig)),
            _ => "failed".to_string(),
        };
        if let Some((docker, container)) = &settings.launch.container
            && let Some(message) =
                docker_failure(docker, container, &what, &how, first_error.as_deref())
        {
            bail!("{message}; no backup written");
        }
        let why = first_error
            .map(|l| format!(": {l}"))
            .unwrap_or_else(|| ", with no message".to_string());
        bail!("{what} {how}{why}; no backup written");
    }
    if let Some(line) = first_error.filter(|l| l.to_ascii_lowercase().contains("error")) {
        bail!("{what} reported an error though it exited 0: {line}; no backup written");
    }
    let file = sink
        .finish()
        .map_err(|e| write_failure("write", &settings.dir, &e))?;
    file.sync_all()
        .map_err(|e| write_failure("sync", &settings.dir, &e))?;
    Ok(total)
}

/// The one-line message for a failed write of the temporary file.
fn write_failure(what: &str, dir: &Path, e: &io::Error) -> anyhow::Error {
    let hint = match e.raw_os_error() {
        Some(libc::EFBIG) => " (over the file-size limit: ulimit -f)",
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => " (the disk or quota is full)",
        _ => "",
    };
    anyhow!(
        "cannot {what} the backup in {}: {e}{hint}; no backup written",
        dir.display()
    )
}

/// Terminates the child's process group: SIGTERM, then SIGKILL after 3 s.
/// The child is not reaped here, so its pid (the group id) is still ours.
fn terminate(child: &mut Child) {
    let pgid = child.id() as libc::pid_t;
    // SAFETY: plain kill(2) on the group we created.
    unsafe {
        libc::kill(-pgid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        // Is it gone (still unreaped, so the group id stays valid)?
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid with WNOWAIT only inspects; info is a valid out-pointer.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pgid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        if r == 0 && unsafe { info.si_pid() } != 0 {
            // Its children may linger: end them too.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: as above.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Waits for the child, terminating it if a signal arrives meanwhile.
fn wait(child: &mut Child, signals: &Signals) -> ExitStatus {
    let mut terminated = false;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) => {}
            Err(_) => {
                if let Ok(status) = child.wait() {
                    return status;
                }
                return ExitStatus::from_raw(1 << 8);
            }
        }
        if signals.raised() && !terminated {
            terminate(child);
            terminated = true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads pg_dump's stderr to its end, keeping at most `limit` bytes. With
/// `pid` (a run in a container), a first line `conn::PID_MARKER` + id is
/// taken out of what is kept, and the id stored in `pid` as soon as it comes.
fn collect_stderr(mut r: impl Read, limit: usize, pid: Option<&AtomicU32>) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    let mut first_line_seen = pid.is_none();
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
        if !first_line_seen && let Some(end) = kept.iter().position(|&b| b == b'\n') {
            first_line_seen = true;
            let id = std::str::from_utf8(&kept[..end])
                .ok()
                .and_then(|l| l.trim_end().strip_prefix(conn::PID_MARKER))
                .and_then(|n| n.parse::<u32>().ok());
            if let (Some(id), Some(pid)) = (id, pid) {
                pid.store(id, Ordering::SeqCst);
                kept.drain(..=end);
            }
        }
    }
    kept
}

/// Runs a short docker command (stdin closed, output collected), giving up
/// after `timeout`: a hung engine must not hang a failing backup.
fn docker_output(docker: &str, args: &[&str], timeout: Duration) -> Option<std::process::Output> {
    let mut child = std::process::Command::new(docker)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().ok(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Ends the pg_dump that runs as `pid` inside `container`, if it still does:
/// SIGTERM, then SIGKILL after 3 s. The process is first checked to be a
/// pg_dump (its name, from /proc), so that an id taken by another process
/// since is left alone. Uses only sh built-ins and /proc, which every
/// PostgreSQL image has. Best effort: a stopped container or engine has
/// already ended it.
fn stop_in_container(docker: &str, container: &str, pid: u32, pg_dump: &str) {
    // The kernel keeps the first 15 bytes of the program's name.
    let name: String = Path::new(pg_dump)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("pg_dump")
        .chars()
        .take(15)
        .collect();
    let script = r#"p=$1; is_it() { [ "$(cat /proc/$p/comm 2>/dev/null)" = "$2" ]; }
is_it "$@" || exit 0
kill -TERM "$p" 2>/dev/null
i=0; while [ $i -lt 30 ] && is_it "$@"; do sleep 0.1; i=$((i+1)); done
if is_it "$@"; then kill -KILL "$p" 2>/dev/null; fi
exit 0"#;
    let pid = pid.to_string();
    let _ = docker_output(
        docker,
        &[
            "exec", "-i", container, "sh", "-c", script, "sh", &pid, &name,
        ],
        Duration::from_secs(10),
    );
}

/// The one line for a `docker exec` that failed because of the container
/// rather than pg_dump: no such container, a stopped one, one that stopped
/// (or was removed) while pg_dump ran. `None` when the container is fine.
fn docker_failure(
    docker: &str,
    container: &str,
    what: &str,
    how: &str,
    first_error: Option<&str>,
) -> Option<String> {
    let said = first_error.unwrap_or_default();
    if said.contains("No such container") {
        return Some(format!(
            "{what} failed: there is no container named {container} (`{docker} ps -a` lists them)"
        ));
    }
    if said.contains("is not running") || said.contains("is paused") {
        let state = if said.contains("is paused") {
            "paused"
        } else {
            "not running"
        };
        return Some(format!(
            "{what} failed: container {container} is {state} (`{docker} ps -a` shows its state)"
        ));
    }
    let out = docker_output(
        docker,
        &[
            "inspect",
            "--type",
            "container",
            "--format",
            "{{.State.Running}}",
            container,
        ],
        Duration::from_secs(10),
    )?;
    let stopped = if out.status.success() {
        if String::from_utf8_lossy(&out.stdout).trim() != "false" {
            return None;
        }
        "stopped"
    } else if String::from_utf8_lossy(&out.stderr).contains("No such") {
        "was removed"
    } else {
        return None;
    };
    let why = first_error.map(|l| format!(": {l}")).unwrap_or_default();
    Some(format!(
        "container {container} {stopped} while pg_dump was running: {what} {how}{why}"
    ))
}

/// The password, should a message ever echo it, replaced by `***`.
fn redact(text: &str, conn: &Conn) -> String {
    let mut out = text.to_string();
    let env_pw = std::env::var("PGPASSWORD").ok();
    for pw in conn
        .password
        .as_ref()
        .map(|p| p.0.as_str())
        .into_iter()
        .chain(env_pw.as_deref())
    {
        if pw.len() >= 3 {
            out = out.replace(pw, "***");
        }
    }
    out
}

/// The line of pg_dump's (or docker's) stderr that says what went wrong:
/// the first with "error" or "fatal", else the first non-empty one.
fn first_error_line(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let pick = lines
        .iter()
        .find(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("error") || l.contains("fatal")
        })
        .or_else(|| {
            lines
                .iter()
                .find(|l| !l.to_ascii_lowercase().contains("warning"))
        })
        .or(lines.first())?;
    Some(pick.to_string())
}

/// [`verify`] in a thread, so that a signal ends the run at once rather
/// than after reading back a large dump (the thread ends with the process).
fn verify_unless_signalled(path: &Path, format: DumpFormat, signals: &Signals) -> Result<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let path = path.to_path_buf();
    std::thread::Builder::new()
        .name("verify".into())
        .spawn(move || {
            let _ = tx.send(verify(&path, format));
        })
        .context("cannot start reading the backup back")?;
    loop {
        signals.check()?;
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(result) => return result,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                bail!("reading the backup back failed unexpectedly; no backup written")
            }
        }
    }
}

/// Reads the written file back; returns how to report its texts.
fn verify(path: &Path, format: DumpFormat) -> Result<String> {
    let options = ReadOptions {
        skip_text_content: false,
        progress: false,
        ..ReadOptions::default()
    };
    let shown = path.display().to_string();
    let dump = dump::read(&Source::Path(path.to_path_buf()), &options).map_err(|e| {
        anyhow!(
            "pg_dump's output does not read back as a complete dump, so no backup was written: {}",
            format!("{e:#}")
                .replace(&shown, "the dump")
                .replace('\n', " ")
        )
    })?;
    if !dump.complete {
        bail!("pg_dump's output is incomplete (no end-of-dump marker); no backup written");
    }
    let expected = match format {
        DumpFormat::Plain => Format::Plain,
        DumpFormat::Custom => Format::Custom,
    };
    if dump.format != expected {
        bail!(
            "pg_dump wrote a {} dump, not {}; no backup written",
            dump.format.name(),
            expected.name()
        );
    }
    let with_texts = dump.databases.iter().find(|d| d.texts_table.is_some());
    Ok(match with_texts {
        Some(db) => {
            let n = db.texts.rows.len();
            format!(
                "{n} text{} ({})",
                plural(n),
                db.texts_table
                    .as_ref()
                    .map(|t| t.to_string())
                    .unwrap_or_default()
            )
        }
        None => "no texts table".to_string(),
    })
}

/// Gives the verified temporary file its backup name (and removes the
/// temporary name), never replacing a file: a second backup within the same
/// second gets `-2`, `-3`, ... after the time.
fn link_no_clobber(
    dir: &Path,
    partial: &Path,
    prefix: &str,
    stamp: &str,
    ext: &str,
) -> Result<PathBuf> {
    for n in 1..1000 {
        let name = if n == 1 {
            format!("{prefix}{stamp}{ext}")
        } else {
            format!("{prefix}{stamp}-{n}{ext}")
        };
        let target = dir.join(&name);
        match fs::hard_link(partial, &target) {
            Ok(()) => {
                fs::remove_file(partial)
                    .with_context(|| format!("cannot remove {}", partial.display()))?;
                return Ok(target);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(link_err) => {
                // A filesystem without hard links: rename, having checked
                // that the name is free (we hold DIR's lock).
                if fs::symlink_metadata(&target).is_ok() {
                    continue;
                }
                fs::rename(partial, &target).with_context(|| {
                    format!("cannot name the backup {} ({link_err})", target.display())
                })?;
                return Ok(target);
            }
        }
    }
    bail!(
        "too many backups named {prefix}{stamp}* in {}",
        dir.display()
    )
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync the directory {}", dir.display()))
}
