//! A child process whose end is watched without reaping it: a thread waits
//! with `waitid(WEXITED | WNOWAIT)`, which leaves the child a zombie, so its
//! process id (and the group id it leads) stays ours, and cannot name
//! another process, until [`Watched::reap`]. That is what makes it safe to
//! signal its process group from another thread ([`Group::terminate`]),
//! and to wait for it with a time limit without polling.

use std::process::{Child, Command, ExitStatus};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;

/// How long a process group has to end after SIGTERM before SIGKILL.
pub const GRACE: Duration = Duration::from_secs(3);

/// Whether the child has ended (set once by the watching thread).
#[derive(Default)]
struct Ended {
    ended: Mutex<bool>,
    changed: Condvar,
}

impl Ended {
    /// Waits until the child has ended, or `timeout` has passed; true if it ended.
    fn wait(&self, timeout: Option<Duration>) -> bool {
        let ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        let ended = match timeout {
            None => self
                .changed
                .wait_while(ended, |e| !*e)
                .unwrap_or_else(|e| e.into_inner()),
            Some(t) => {
                self.changed
                    .wait_timeout_while(ended, t, |e| !*e)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
        *ended
    }
}

/// A running child and the thread that watches for its end.
pub struct Watched {
    child: Child,
    ended: Arc<Ended>,
}

/// The process group a [`Watched`] child leads (spawned with
/// `process_group(0)`), to stop from any thread while the child is unreaped.
#[derive(Clone)]
pub struct Group {
    pgid: Pid,
    ended: Arc<Ended>,
}

impl Watched {
    pub fn spawn(command: &mut Command) -> std::io::Result<Watched> {
        let child = command.spawn()?;
        let ended = Arc::new(Ended::default());
        let pid = Pid::from_raw(child.id() as i32);
        let watcher = Arc::clone(&ended);
        let spawned = std::thread::Builder::new()
            .name("child-watch".into())
            .spawn(move || {
                // Until it ended, or (ECHILD) was already reaped.
                while let Err(Errno::EINTR) =
                    waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT)
                {
                }
                *watcher.ended.lock().unwrap_or_else(|e| e.into_inner()) = true;
                watcher.changed.notify_all();
            });
        let mut watched = Watched { child, ended };
        if let Err(e) = spawned {
            let _ = watched.child.kill();
            let _ = watched.child.wait();
            return Err(e);
        }
        Ok(watched)
    }

    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// The process group it leads.
    pub fn group(&self) -> Group {
        Group {
            pgid: Pid::from_raw(self.child.id() as i32),
            ended: Arc::clone(&self.ended),
        }
    }

    /// Waits until it ends, or `timeout` has passed; true if it ended.
    pub fn wait_ended(&self, timeout: Option<Duration>) -> bool {
        self.ended.wait(timeout)
    }

    /// Reaps it (waiting for it to end, if it has not): from then on its
    /// process id may name another process, so no [`Group`] of it may be
    /// used any more.
    pub fn reap(mut self) -> std::io::Result<ExitStatus> {
        self.child.wait()
    }

    /// Reaps it, collecting what is left in its piped stdout and stderr.
    pub fn reap_with_output(self) -> std::io::Result<std::process::Output> {
        self.child.wait_with_output()
    }
}

impl Group {
    /// Stops the group: SIGTERM, then SIGKILL once the leader has ended or
    /// after [`GRACE`] (its children may linger after it).
    pub fn terminate(&self) {
        let _ = killpg(self.pgid, Signal::SIGTERM);
        self.ended.wait(Some(GRACE));
        let _ = killpg(self.pgid, Signal::SIGKILL);
    }
}
