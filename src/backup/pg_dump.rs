//! Running pg_dump for a backup: started locally or with `docker exec -i`
//! in its own process group, its stdout copied to a writer as it comes, its
//! stderr collected (bounded), and judged by its exit status and stderr.
//! A signal or a failed write stops it; in a container that also stops the
//! pg_dump inside, which ending the docker client does not.

use std::io::{self, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};

use super::child::{GRACE, Group, Watched};
use super::conn::{self, Conn, Launch};
use crate::signals::{Interrupts, signal_name};

/// How much of pg_dump's stderr is kept for the message.
const STDERR_LIMIT: usize = 64 * 1024;

/// Why a dump did not complete.
pub enum Failure {
    /// Writing its output failed (pg_dump was then stopped).
    Write(io::Error),
    /// pg_dump failed or was interrupted, or its output could not be read:
    /// the whole message.
    Dump(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::Dump(e)
    }
}

/// Runs pg_dump, copying its output into `out`; returns the number of bytes
/// it wrote. Succeeds only when pg_dump exited 0 without an error message.
pub fn dump(
    launch: &Launch,
    conn: &Conn,
    out: &mut dyn Write,
    interrupts: &Interrupts,
) -> Result<u64, Failure> {
    let what = match &launch.container {
        None => launch.pg_dump.clone(),
        Some((docker, container)) => {
            format!("{docker} exec -i {container} {}", launch.pg_dump)
        }
    };
    let ran = run(launch, conn, &what, out, interrupts)?;
    interrupts.check()?;
    let total = match ran.copied {
        Ok(total) => total,
        Err(Copy::Write(e)) => return Err(Failure::Write(e)),
        Err(Copy::Read(e)) => return Err(anyhow!("cannot read pg_dump's output: {e}").into()),
    };
    judge(launch, conn, &what, ran.status, &ran.stderr)?;
    Ok(total)
}

/// How a run of pg_dump went.
struct Ran {
    copied: Result<u64, Copy>,
    status: ExitStatus,
    /// Its first [`STDERR_LIMIT`] bytes (without the container wrapper's line).
    stderr: Vec<u8>,
}

/// Starts pg_dump and copies its stdout into `out` until it ends, stopping
/// it on a signal or a failed copy; then waits for it. In a container, a
/// pg_dump that did not succeed is stopped there too.
fn run(
    launch: &Launch,
    conn: &Conn,
    what: &str,
    out: &mut dyn Write,
    interrupts: &Interrupts,
) -> Result<Ran> {
    let mut cmd = conn::command(launch, conn);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: a signal to us is handled by us, and
        // stopping the group also ends a wrapper script's children.
        .process_group(0);
    let mut child = Watched::spawn(&mut cmd).map_err(|e| anyhow!("cannot run {what}: {e}"))?;
    let mut stdout = child.child().stdout.take().expect("piped stdout");
    let stderr = child.child().stderr.take().expect("piped stderr");
    let in_container = launch
        .container
        .as_ref()
        .map(|_| Arc::new(ContainerPid::default()));
    let stderr_thread = {
        let pid = in_container.clone();
        std::thread::spawn(move || collect_stderr(stderr, STDERR_LIMIT, pid.as_deref()))
    };

    let stop_pg_dump = {
        let group = child.group();
        let pid = in_container.clone();
        move || stop(&group, pid.as_deref())
    };
    let on_signal = interrupts.on_signal(stop_pg_dump.clone());
    let copied = copy(&mut stdout, out);
    if copied.is_err() {
        stop_pg_dump();
    }
    drop(stdout);
    child.wait_ended(None);
    // A stop under way on the signal thread ends before the child is reaped.
    drop(on_signal);
    let status = child
        .reap()
        .unwrap_or_else(|_| ExitStatus::from_raw(1 << 8));
    let stderr = stderr_thread.join().unwrap_or_default();

    if let (Some((docker, container)), Some(pid)) = (&launch.container, &in_container)
        && (interrupts.raised() || copied.is_err() || !status.success())
        && let Some(pid) = pid.known()
    {
        stop_in_container(docker, container, pid, &launch.pg_dump);
    }
    Ok(Ran {
        copied,
        status,
        stderr,
    })
}

/// Fails unless pg_dump exited 0 without an error message; the message
/// quotes its first error line (a password in it redacted), or names the
/// container that failed it.
fn judge(
    launch: &Launch,
    conn: &Conn,
    what: &str,
    status: ExitStatus,
    stderr: &[u8],
) -> Result<()> {
    let stderr_text = redact(&String::from_utf8_lossy(stderr), conn);
    let first_error = first_error_line(&stderr_text);
    if !status.success() {
        let how = match (status.code(), status.signal()) {
            (Some(code), _) => format!("failed (exit status {code})"),
            (None, Some(sig)) => format!("was killed by {}", signal_name(sig)),
            _ => "failed".to_string(),
        };
        if let Some((docker, container)) = &launch.container
            && let Some(message) = docker_failure(
                docker,
                container,
                what,
                &how,
                status.code() == Some(137),
                first_error.as_deref(),
            )
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
    Ok(())
}

enum Copy {
    Read(io::Error),
    Write(io::Error),
}

/// Copies until pg_dump closes its stdout (it ended, or was stopped).
fn copy(from: &mut impl Read, to: &mut dyn Write) -> Result<u64, Copy> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Copy::Read(e)),
        };
        to.write_all(&buf[..n]).map_err(Copy::Write)?;
        total += n as u64;
    }
}

/// Stops pg_dump: its process group (the docker client, with `--container`).
/// In a container, pg_dump's id there is needed to stop it there
/// afterwards: its wrapper says it before pg_dump starts, so it is at most
/// a moment away, and is waited for first (unless the client has ended).
fn stop(group: &Group, in_container: Option<&ContainerPid>) {
    if let Some(pid) = in_container {
        pid.wait(Duration::from_secs(2));
    }
    group.terminate();
}

/// pg_dump's process id inside the container, as its wrapper says it on
/// stderr (`conn::PID_MARKER`).
#[derive(Default)]
struct ContainerPid {
    said: Mutex<Said>,
    changed: Condvar,
}

#[derive(Default, Clone, Copy)]
enum Said {
    #[default]
    Waiting,
    Pid(u32),
    /// Stderr ended without it.
    Never,
}

impl ContainerPid {
    fn set(&self, said: Said) {
        let mut current = self.said.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(*current, Said::Waiting) {
            *current = said;
            self.changed.notify_all();
        }
    }

    fn known(&self) -> Option<u32> {
        match *self.said.lock().unwrap_or_else(|e| e.into_inner()) {
            Said::Pid(pid) => Some(pid),
            _ => None,
        }
    }

    /// Waits up to `timeout` for the wrapper to say the id (or for stderr to end).
    fn wait(&self, timeout: Duration) {
        let said = self.said.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self
            .changed
            .wait_timeout_while(said, timeout, |s| matches!(s, Said::Waiting));
    }
}

/// Reads pg_dump's stderr to its end, keeping at most `limit` bytes. With
/// `pid` (a run in a container), a first line `conn::PID_MARKER` + id is
/// taken out of what is kept, and the id given to `pid` as soon as it comes.
fn collect_stderr(mut r: impl Read, limit: usize, pid: Option<&ContainerPid>) -> Vec<u8> {
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
                pid.set(Said::Pid(id));
                kept.drain(..=end);
            }
        }
    }
    if let Some(pid) = pid {
        pid.set(Said::Never);
    }
    kept
}

/// Runs a short docker command (stdin closed, output collected), giving up
/// after `timeout`: a hung engine must not hang a failing backup.
fn docker_output(docker: &str, args: &[&str], timeout: Duration) -> Option<std::process::Output> {
    let mut child = Watched::spawn(
        std::process::Command::new(docker)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
    .ok()?;
    if child.wait_ended(Some(timeout)) {
        child.reap_with_output().ok()
    } else {
        let _ = child.child().kill();
        let _ = child.reap();
        None
    }
}

/// Ends the pg_dump that runs as `pid` inside `container`, if it still does:
/// SIGTERM, then SIGKILL after [`GRACE`]. The process is first checked to
/// be a pg_dump (its name, from /proc), so that an id taken by another
/// process since is left alone. Uses only sh built-ins and /proc, which
/// every PostgreSQL image has. Best effort: a stopped container or engine
/// has already ended it.
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
i=0; while [ $i -lt $3 ] && is_it "$@"; do sleep 0.1; i=$((i+1)); done
if is_it "$@"; then kill -KILL "$p" 2>/dev/null; fi
exit 0"#;
    let pid = pid.to_string();
    let tenths = (GRACE.as_millis() / 100).to_string();
    let _ = docker_output(
        docker,
        &[
            "exec", "-i", container, "sh", "-c", script, "sh", &pid, &name, &tenths,
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
    killed: bool,
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
    // A killed container (pg_dump then ends with exit status 137) is
    // reported as not running a moment after the processes in it have
    // ended: then the engine is asked again, for up to a second.
    let asks = if killed { 10 } else { 1 };
    let stopped = (0..asks).find_map(|ask| {
        if ask > 0 {
            std::thread::sleep(Duration::from_millis(100));
        }
        container_gone(docker, container)
    })?;
    let why = first_error.map(|l| format!(": {l}")).unwrap_or_default();
    Some(format!(
        "container {container} {stopped} while pg_dump was running: {what} {how}{why}"
    ))
}

/// `stopped` or `was removed` when the engine says so of the container.
fn container_gone(docker: &str, container: &str) -> Option<&'static str> {
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
    if out.status.success() {
        (String::from_utf8_lossy(&out.stdout).trim() == "false").then_some("stopped")
    } else {
        String::from_utf8_lossy(&out.stderr)
            .contains("No such")
            .then_some("was removed")
    }
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
