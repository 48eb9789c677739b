//! SIGINT, SIGTERM and SIGHUP, caught the one way for every command:
//! [`Interrupts`] for a backup run, [`Caught`] for a restore (which runs a
//! backup in between), [`stop_flag`] for a copy that checks a flag
//! (`reindex`), and [`before_default_action`] for the files of a process
//! that handles none of them (`atomic_file` removes its temporary names).
//!
//! During a backup the first signal is noted and acted on, so that the run
//! fails and cleans up; a second one ends the process at once (exit status 1).
//!
//! The signals are received by `signal-hook`'s iterator on a thread of its
//! own, which records the first one and runs the action the run has set
//! for the step it is in (stop pg_dump, stop waiting for the read-back).
//! The main thread never polls for them: it checks [`Interrupts::check`]
//! between steps, and a blocking step is ended by its action.
//!
//! While an [`Interrupts`] exists, SIGXFSZ (a file-size limit, `ulimit -f`)
//! is caught and does nothing, so that a write past the limit fails with
//! EFBIG and the run cleans up instead of being killed. A caught signal is
//! reset to its default action by `exec`, so pg_dump still gets SIGXFSZ's.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;

use anyhow::{Context, Result, bail};
use nix::sys::signal::Signal;
use signal_hook::SigId;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGXFSZ};
use signal_hook::iterator::{Handle, Signals};

const HANDLED: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

/// What to do when a signal comes, run once on the signal thread.
type Action = Box<dyn FnOnce() + Send>;

/// The signal handling of one backup run; dropping it gives the signals
/// their default action back.
pub struct Interrupts {
    /// The number of the first signal, or 0.
    first: Arc<AtomicI32>,
    action: Arc<Mutex<Option<Action>>>,
    handle: Handle,
    thread: Option<JoinHandle<()>>,
    registered: Vec<SigId>,
    /// Dropped last, once the default action is set again.
    _run: RunCounted,
}

/// How many [`Interrupts`] exist.
static RUNS: AtomicUsize = AtomicUsize::new(0);

/// One count in [`RUNS`], for as long as it lives.
struct RunCounted(());

impl RunCounted {
    fn count() -> RunCounted {
        RUNS.fetch_add(1, Ordering::SeqCst);
        RunCounted(())
    }
}

impl Drop for RunCounted {
    fn drop(&mut self) {
        RUNS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether SIGINT, SIGTERM and SIGHUP are handled by a run under way (a
/// backup's [`Interrupts`], or a caller holding [`HandledElsewhere`]): the
/// run fails on them and cleans up. Otherwise they end the process, and
/// `atomic_file` removes its temporary files first.
pub fn taken() -> bool {
    RUNS.load(Ordering::SeqCst) > 0 || HANDLED_ELSEWHERE.load(Ordering::SeqCst) > 0
}

/// Keeps an action set (see [`Interrupts::on_signal`]); dropping it unsets
/// the action, waiting for it to finish if it is running.
#[must_use]
pub struct OnSignal<'a> {
    interrupts: &'a Interrupts,
}

impl Drop for OnSignal<'_> {
    fn drop(&mut self) {
        *lock(&self.interrupts.action) = None;
    }
}

fn lock(action: &Mutex<Option<Action>>) -> MutexGuard<'_, Option<Action>> {
    // An action that panicked leaves nothing to protect.
    action.lock().unwrap_or_else(|e| e.into_inner())
}

impl Interrupts {
    pub fn install() -> Result<Interrupts> {
        let context = "cannot install signal handlers";
        // Counted before any handler is in place, so that the thread of
        // `atomic_file` never ends a run that handles the signal itself.
        let run = RunCounted::count();
        default_action().store(false, Ordering::SeqCst);
        let seen = Arc::new(AtomicBool::new(false));
        let mut registered = flag_then_exit(&seen)?;
        let ignored = Arc::new(AtomicBool::new(false));
        registered.push(signal_hook::flag::register(SIGXFSZ, ignored).context(context)?);

        let mut signals = Signals::new(HANDLED).context(context)?;
        let handle = signals.handle();
        let first = Arc::new(AtomicI32::new(0));
        let action: Arc<Mutex<Option<Action>>> = Arc::default();
        let thread = {
            let first = Arc::clone(&first);
            let action = Arc::clone(&action);
            std::thread::Builder::new()
                .name("signals".into())
                .spawn(move || {
                    for sig in signals.forever() {
                        let _ = first.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
                        // Held while the action runs: see `OnSignal`.
                        let mut slot = lock(&action);
                        if let Some(act) = slot.take() {
                            act();
                        }
                    }
                })
                .context(context)?
        };
        Ok(Interrupts {
            first,
            action,
            handle,
            thread: Some(thread),
            registered,
            _run: run,
        })
    }

    /// Fails once a signal has come.
    pub fn check(&self) -> Result<()> {
        match self.first.load(Ordering::SeqCst) {
            0 => Ok(()),
            sig => bail!("interrupted by {}; no backup written", signal_name(sig)),
        }
    }

    pub fn raised(&self) -> bool {
        self.first.load(Ordering::SeqCst) != 0
    }

    /// Runs `action` on the signal thread when a signal comes, or at once
    /// if one has come already; at most once, until the returned guard is
    /// dropped.
    pub fn on_signal(&self, action: impl FnOnce() + Send + 'static) -> OnSignal<'_> {
        let mut slot = lock(&self.action);
        // Checked under the lock: the signal thread sets `first` before
        // taking it, so the action runs here or there, exactly once.
        if self.raised() {
            drop(slot);
            action();
        } else {
            *slot = Some(Box::new(action));
        }
        OnSignal { interrupts: self }
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        for id in self.registered.drain(..) {
            signal_hook::low_level::unregister(id);
        }
        // A caller that handles the signals itself around this run
        // (`restore`, whose safety backup this was) keeps them.
        if HANDLED_ELSEWHERE.load(Ordering::SeqCst) > 0 {
            return;
        }
        // signal-hook keeps its handler installed; make it act as the
        // default would (end the process) until another run installs its own.
        default_action().store(true, Ordering::SeqCst);
        static REGISTERED: OnceLock<()> = OnceLock::new();
        REGISTERED.get_or_init(|| {
            for sig in HANDLED {
                let _ = signal_hook::flag::register_conditional_default(
                    sig,
                    Arc::clone(default_action()),
                );
            }
        });
    }
}

/// Sets `flag` on SIGINT, SIGTERM and SIGHUP; one of them once `flag` is
/// set ends the process at once (exit status 1).
fn flag_then_exit(flag: &Arc<AtomicBool>) -> Result<Vec<SigId>> {
    let context = "cannot install signal handlers";
    let mut registered = Vec::new();
    for sig in HANDLED {
        // The shutdown first: it sees the flag the first signal sets.
        registered.push(
            signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(flag))
                .context(context)?,
        );
        registered.push(signal_hook::flag::register(sig, Arc::clone(flag)).context(context)?);
    }
    Ok(registered)
}

/// A flag set by SIGINT, SIGTERM or SIGHUP, for a copy that checks it so
/// that it stops and cleans up; a second signal ends the process at once.
/// For the rest of the process.
pub fn stop_flag() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    flag_then_exit(&flag)?;
    Ok(flag)
}

/// The first SIGINT, SIGTERM or SIGHUP of a restore, once caught: checked
/// between its steps and in its waits. While one is alive the signals stay
/// the restore's, also after the safety backup's run ([`HandledElsewhere`]).
#[derive(Clone)]
pub struct Caught {
    which: Arc<AtomicUsize>,
    /// Keeps the signals ours when the safety backup's run ends.
    _held: Option<Arc<HandledElsewhere>>,
}

impl Caught {
    pub fn install() -> Result<Caught> {
        let which = Arc::new(AtomicUsize::new(0));
        for (sig, name) in [(SIGINT, 1), (SIGTERM, 2), (SIGHUP, 3)] {
            signal_hook::flag::register_usize(sig, Arc::clone(&which), name)
                .context("cannot install signal handlers")?;
        }
        Ok(Caught {
            which,
            _held: Some(Arc::new(HandledElsewhere::hold())),
        })
    }

    /// One that is never raised: for what must run to its end (after COMMIT).
    pub fn never() -> Caught {
        Caught {
            which: Arc::new(AtomicUsize::new(0)),
            _held: None,
        }
    }

    pub fn check(&self) -> Result<()> {
        match self.which.load(Ordering::SeqCst) {
            0 => Ok(()),
            n => bail!(
                "interrupted by {}",
                ["SIGINT", "SIGTERM", "SIGHUP"][(n - 1).min(2)]
            ),
        }
    }
}

/// Once per process, starts a thread that, on SIGINT, SIGTERM or SIGHUP
/// while no run handles them ([`taken`]), calls `cleanup` and then ends the
/// process by that signal (the shell sees 128 + its number). `cleanup` may
/// keep a lock to the end (forget its guard): the process ends right after.
/// Without the thread (it could not be started) a signal ends the process
/// as before, without `cleanup`.
pub fn before_default_action(cleanup: fn()) {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let Ok(mut signals) = Signals::new(HANDLED) else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("remove-temporaries".into())
            .spawn(move || {
                for sig in signals.forever() {
                    if taken() {
                        continue;
                    }
                    cleanup();
                    let _ = signal_hook::low_level::emulate_default_handler(sig);
                    std::process::exit(128 + sig);
                }
            });
    });
}

/// How many [`HandledElsewhere`] are held.
static HANDLED_ELSEWHERE: AtomicUsize = AtomicUsize::new(0);

/// Held by a caller that catches SIGINT, SIGTERM and SIGHUP itself and runs
/// a backup in between (`restore`'s safety backup): while one is held, the
/// end of a backup run leaves the signals to that caller instead of giving
/// them their default action (ending the process) back.
pub struct HandledElsewhere(());

impl HandledElsewhere {
    pub fn hold() -> HandledElsewhere {
        HANDLED_ELSEWHERE.fetch_add(1, Ordering::SeqCst);
        HandledElsewhere(())
    }
}

impl Drop for HandledElsewhere {
    fn drop(&mut self) {
        HANDLED_ELSEWHERE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether SIGINT, SIGTERM and SIGHUP act as by default (no run is
/// handling them).
fn default_action() -> &'static Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// `signal 15 (SIGTERM)`, for messages.
pub fn signal_name(sig: i32) -> String {
    match Signal::try_from(sig) {
        Ok(signal) => format!("signal {sig} ({})", signal.as_str()),
        Err(_) => format!("signal {sig}"),
    }
}
