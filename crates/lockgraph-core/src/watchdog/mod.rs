//! Run-time watchdog: real deadlocks (a cycle in the wait-for graph) and long
//! waits, found while the program runs.
//!
//! Off by default. [`start`] turns it on in code; `LOCKGRAPH_WATCHDOG=<duration>`
//! (`5s`, `750ms`) turns it on at the first lock use, with
//! `LOCKGRAPH_WATCHDOG_ACTION=report|abort` and `LOCKGRAPH_DUMP_DIR=<dir>`.
//!
//! While it is on, each thread registers its held-lock stack with the
//! watchdog once (a per-thread slot, allocated once per thread), which
//! reads the stack in place: holding a lock is publishing it. A thread
//! registers a wait only after the first non-blocking attempt failed (in
//! the lean mode a mutex's spins first, as `lock` does:
//! `primitive::Blocking::attempt`); it then blocks in timed slices. The
//! watchdog thread scans the slots every scan period. An uncontended
//! acquisition reads no clock, allocates nothing, does no atomic
//! read-modify-write of lockgraph's and writes nothing but its own stack
//! (a lean mutex's attempt reads the clock when its compare-and-swap
//! fails: the lock held, or free with threads still parked on it).
//!
//! A report shows, for each thread involved, the kernel's view of it
//! (`/proc/self/task/<tid>/{stat,wchan,syscall}`, Linux) and each waiter's
//! own stack, which the waiter captures itself once its wait exceeds the
//! timeout. A holder that is not waiting for a lock (a long hold, and the
//! threads of a [`dump`]) has no stack of its own to give: on Linux with
//! glibc >= 2.35 and a libgcc unwinder that uses `_dl_find_object` (libgcc >=
//! 12), the watchdog sends it the real-time signal `SIGRTMIN()+4`, whose
//! handler walks the thread's stack into a preallocated buffer; the watchdog
//! resolves it ([`StackNow::Captured`], "now at"). Elsewhere, when
//! `LOCKGRAPH_REMOTE_STACKS=off`, when another handler owns that signal, or
//! when the thread does not answer within 200 ms, the report says so and why
//! ([`StackNow::Unavailable`]) and shows only the `/proc` state.
//! `LOCKGRAPH_REMOTE_STACKS=on` forces the capture where the check fails (at
//! your own risk). Only those holders are signalled, one at a time: a signal
//! makes some blocking calls (`poll`, `epoll_wait`, `nanosleep`) return
//! `EINTR` even with `SA_RESTART`. Waiters (every thread of a deadlock cycle)
//! are not signalled: their own stacks are already in the report.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::panic::Location;
use std::path::PathBuf;
use std::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::class::{Class, LockKind, Site};
use crate::features::{self, WATCHDOG};
use crate::fork::Mutex;
use crate::held_stack::{HeldCopy, HeldStack};
use crate::meta::{LockMeta, MAX_HELD};
use crate::report::{Backtrace, Hold, Request};

pub(crate) mod advice;
mod after_fork;
mod answer;
mod ask_dump;
mod dump_file;
mod early;
mod json;
mod left;
mod members;
mod new_deadlocks;
mod order_locks;
mod parties;
mod peers;
mod progress;
mod queued;
mod rate_limit;
#[cfg(target_os = "linux")]
mod remote_stack;
mod report;
mod retry;
mod scan;
mod sizes;
mod slot;
mod spans;
pub(crate) mod tasks;
#[cfg(test)]
mod tests;
mod verdict;
mod wait;
mod wait_for;
mod what;
mod words;

pub use crate::env::{parse_duration, ParseDurationError};
pub use answer::{dump_answer_path, dump_request_path};
pub use ask_dump::{ask_for_dump, AskDumpError};
use dump_file::*;
pub(crate) use dump_file::{append_report, unix_ms};
#[allow(unused_imports)]
use json::*;
pub(crate) use json::{json_async_wait, json_holds, json_queue, json_taken};
use left::add_left_holders;
pub use left::LeftHold;
use members::add_also_deadlocked;
pub use new_deadlocks::new_deadlocks;
pub use parties::{forget_rounds, party_token, publish_round, PartyToken};
use peers::*;
pub(crate) use peers::{fill_line, queue_state};
pub use peers::{watch_queue, BlockedPeer, QueueProbe, QueueState};
pub use progress::{markers, progress};
use report::*;
pub(crate) use report::{opt_site, ABORTS, REPORT_END};
pub use report::{
    Dump, HeldInfo, LockRef, OrderContext, OrderOrigin, OrderStep, OtherThread, ProcState,
    StackNow, ThreadInfo, WaitInfo, WatchdogKind, WatchdogReport, OTHER_THREADS,
};
pub use scan::dump;
use scan::*;
use sizes::*;
pub(crate) use slot::*;
#[cfg(feature = "tracing-spans")]
pub use spans::{layer, SpanLayer};
pub use tasks::TaskInfo;
pub(crate) use tasks::{async_hold_text, hold_mode_name, write_hold};
pub use verdict::DumpDeadlock;
pub use wait::WaitMode;
pub(crate) use wait::*;
use wait_for::*;
pub(crate) use what::waits_for_sized;
use words::*;
pub(crate) use words::{and_list, utc};

use rate_limit::RATE;
use retry::{between_tries, retry_since, stack_of};

/// Whether the watchdog thread runs. The switch ("publish held locks and
/// register waits") is the `WATCHDOG` bit of `crate::features`; the thread
/// is started by [`start`], or, when the environment turned the switch on,
/// by the first thread that publishes or waits ([`ensure_running`]).
static RUNNING: AtomicBool = AtomicBool::new(false);
/// Held while the thread is being started.
static STARTING: Mutex<()> = Mutex::new(());
static CONFIG: OnceLock<Config> = OnceLock::new();
static EPOCH: OnceLock<Instant> = OnceLock::new();
static DUMP_REQUESTED: AtomicBool = AtomicBool::new(false);
static SLOTS: Mutex<Vec<Arc<Slot>>> = Mutex::new(Vec::new());
static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);
/// The subscriber current when [`start`] was called.
static DISPATCH: OnceLock<tracing::Dispatch> = OnceLock::new();
/// Set in a forked child while its fork hook runs: no thread is started
/// from there (the next wait or new thread of the child starts one).
static IN_FORK_CHILD: AtomicBool = AtomicBool::new(false);

/// What the watchdog does with a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// A `tracing` WARN event (target `lockgraph`, field `kind`) under the
    /// subscriber current when the watchdog started, delivered by a
    /// lockgraph thread (see [`crate::flush_reports`]), or the report on the
    /// standard error file descriptor when that subscriber does not enable
    /// the event (or there is none).
    Report,
    /// Print the report on the standard error file descriptor and abort the
    /// process.
    Abort,
}

/// Watchdog settings: `Config::default().timeout(..).action(..)`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// A wait longer than this is reported (default 5 s).
    pub timeout: Duration,
    /// How often the watchdog scans the threads (default 100 ms).
    pub scan_period: Duration,
    /// What to do with a report (default [`Action::Report`]).
    pub action: Action,
    /// Where each report, dump and progress marker is also appended as a
    /// JSON line, to one file per process (default `LOCKGRAPH_DUMP_DIR`).
    pub dump_dir: Option<PathBuf>,
    /// On SIGUSR2, print [`dump`] on stderr, append it to the dump
    /// directory's file, and leave it where `lockgraph dump --pid` reads it
    /// (default off; `LOCKGRAPH_DUMP_SIGNAL=1` turns it on).
    pub dump_on_sigusr2: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            timeout: Duration::from_secs(5),
            scan_period: Duration::from_millis(100),
            action: Action::Report,
            dump_dir: None,
            dump_on_sigusr2: false,
        }
    }
}

impl Config {
    /// Sets the wait timeout.
    pub fn timeout(mut self, timeout: Duration) -> Config {
        self.timeout = timeout;
        self
    }
    /// Sets the scan period.
    pub fn scan_period(mut self, period: Duration) -> Config {
        self.scan_period = period;
        self
    }
    /// Sets the action.
    pub fn action(mut self, action: Action) -> Config {
        self.action = action;
        self
    }
    /// Sets the JSON dump directory.
    pub fn dump_dir(mut self, dir: impl Into<PathBuf>) -> Config {
        self.dump_dir = Some(dir.into());
        self
    }
    /// Prints [`dump`] on SIGUSR2 (Unix only).
    pub fn dump_on_sigusr2(mut self, on: bool) -> Config {
        self.dump_on_sigusr2 = on;
        self
    }

    /// The slice a waiter blocks for between checks.
    fn slice(&self) -> Duration {
        (self.scan_period.min(self.timeout) / 2).max(Duration::from_millis(1))
    }
}

/// Whether the watchdog is on: started by [`start`], or by
/// `LOCKGRAPH_WATCHDOG` (read at the first lock operation; its thread
/// starts when the first thread takes a lock or waits). Always false in a
/// build that does not track locks ([`TRACKING`](crate::TRACKING)).
#[inline]
pub fn on() -> bool {
    crate::TRACKING && features::is_on(WATCHDOG)
}

/// Starts the watchdog thread when the switch is on and it does not run
/// (the environment turned it on, or this is a forked child): with the
/// configuration of [`start`], or the environment's. Cheap once it runs.
#[inline]
pub(crate) fn ensure_running() {
    if !RUNNING.load(Ordering::Relaxed) {
        start_when_on();
    }
}

#[cold]
#[inline(never)]
fn start_when_on() {
    if IN_FORK_CHILD.load(Ordering::Relaxed) || !on() {
        return;
    }
    let _starting = STARTING.lock();
    if RUNNING.load(Ordering::Relaxed) {
        return;
    }
    if CONFIG.get().is_some() {
        // A forked child of a watching process: a thread of its own.
        if !spawn_thread() {
            features::set(WATCHDOG, false);
        }
        return;
    }
    let mut config = Config::default();
    if let Some(timeout) = crate::env::WATCHDOG.duration() {
        config.timeout = timeout;
    }
    if crate::env::WATCHDOG_ACTION.word() == "abort" {
        config.action = Action::Abort;
    }
    if !configure_and_spawn(config) {
        features::set(WATCHDOG, false);
    }
}

/// Starts the watchdog thread. Returns false (and changes nothing) when it is
/// already running, or when this build does not track locks (a release
/// build without `watchdog-in-release` or `track-in-release`: the locks
/// publish nothing to watch; said once on stderr). `dump_dir` defaults to
/// `LOCKGRAPH_DUMP_DIR`.
pub fn start(config: Config) -> bool {
    if !crate::TRACKING {
        static SAID: AtomicBool = AtomicBool::new(false);
        if !SAID.swap(true, Ordering::Relaxed) {
            crate::stderr::line(
                "lockgraph: the watchdog is not started: this build does not track locks (a \
                 release build without lockgraph's `watchdog-in-release` feature, or \
                 `track-in-release`); build with `--features lockgraph/watchdog-in-release` \
                 to watch it",
            );
        }
        return false;
    }
    let _starting = STARTING.lock();
    configure_and_spawn(config)
}

/// [`start`], with [`STARTING`] held.
fn configure_and_spawn(mut config: Config) -> bool {
    if config.dump_dir.is_none() {
        config.dump_dir = crate::env::DUMP_DIR.path();
    }
    if !config.dump_on_sigusr2 && crate::env::DUMP_SIGNAL.switch() {
        config.dump_on_sigusr2 = true;
    }
    if config.scan_period.is_zero() {
        config.scan_period = Duration::from_millis(1);
    }
    if CONFIG.set(config.clone()).is_err() {
        return false;
    }
    EPOCH.get_or_init(Instant::now);
    // Capture the caller's subscriber: a scoped default is invisible elsewhere.
    let _ = DISPATCH.set(tracing::dispatcher::get_default(tracing::Dispatch::clone));
    if config.dump_on_sigusr2 {
        install_sigusr2();
    }
    // Decide once whether holders' current stacks can be captured, and
    // install the signal handler if so (reports say why not otherwise).
    #[cfg(target_os = "linux")]
    let _ = remote_stack::install();
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    crate::fork::register(&REGISTERED, &after_fork::HOOKS);
    crate::delivery::before_exit(rate_limit::say_suppressed);
    spawn_thread()
}

/// Starts the watchdog thread with the configuration set; false when it
/// cannot be started (said on stderr).
fn spawn_thread() -> bool {
    let config = config().clone();
    // Started so that it inherits no test's output capture (`delivery/spawn.rs`).
    let spawned = crate::delivery::spawn("lockgraph-watchdog", move || Watchdog::new(config).run());
    if let Err(e) = spawned {
        crate::stderr::line(&format!("lockgraph: cannot start the watchdog thread: {e}"));
        return false;
    }
    RUNNING.store(true, Ordering::Relaxed);
    features::set(WATCHDOG, true);
    true
}

/// The subscriber current when the watchdog started, which gets its reports.
fn dispatch() -> tracing::Dispatch {
    DISPATCH
        .get()
        .cloned()
        .unwrap_or_else(tracing::Dispatch::none)
}

/// The configuration in force (the defaults until one is set).
pub(crate) fn config() -> &'static Config {
    static DEFAULT: OnceLock<Config> = OnceLock::new();
    CONFIG
        .get()
        .unwrap_or_else(|| DEFAULT.get_or_init(Config::default))
}

/// `d` in nanoseconds, `u64::MAX` for anything longer (about 584 years):
/// the watchdog's times are 64-bit nanoseconds, where `as u64` would wrap
/// a longer timeout or limit round to a short one.
pub(super) fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn now_ns() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

#[cfg(unix)]
fn install_sigusr2() {
    extern "C" fn on_sigusr2(_: libc::c_int) {
        // Only an atomic store: async-signal-safe. The watchdog prints.
        DUMP_REQUESTED.store(true, Ordering::Relaxed);
    }
    // SAFETY: a zeroed `sigaction` is a valid empty one; the handler only
    // stores to an atomic, which is async-signal-safe.
    let installed = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigusr2 as extern "C" fn(libc::c_int) as libc::sighandler_t;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGUSR2, &sa, std::ptr::null_mut()) == 0
    };
    if !installed {
        crate::stderr::line("lockgraph: cannot install the SIGUSR2 handler");
        return;
    }
    mark_dump_handler();
}

/// The mark `lockgraph dump --pid` looks for before it signals (a process
/// that catches SIGUSR2 for its own reasons, a shell or a server, must not
/// get it): an open memory file named [`ask_dump::HANDLER_MARK`], seen in
/// `/proc/<pid>/fd`. Kept open for the process's life (and a fork's, which
/// inherits the handler with it); closed at `exec`, which resets the handler.
#[cfg(target_os = "linux")]
fn mark_dump_handler() {
    static MARKED: AtomicBool = AtomicBool::new(false);
    if MARKED.swap(true, Ordering::Relaxed) {
        return;
    }
    let name = std::ffi::CString::new(ask_dump::HANDLER_MARK).unwrap_or_default();
    // SAFETY: `name` is a NUL-terminated string that outlives the call;
    // MFD_CLOEXEC is a valid flag. The descriptor is left open on purpose.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        crate::stderr::line(&format!(
            "lockgraph: cannot mark the SIGUSR2 dump handler ({}): `lockgraph dump --pid` will \
             not signal this process",
            std::io::Error::last_os_error()
        ));
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
fn mark_dump_handler() {}

#[cfg(not(unix))]
fn install_sigusr2() {}

#[cfg(target_os = "linux")]
fn os_tid() -> u64 {
    // SAFETY: gettid has no preconditions.
    (unsafe { libc::gettid() }) as u64
}

#[cfg(not(target_os = "linux"))]
fn os_tid() -> u64 {
    0
}

/// Whether reports can show a holder's current stack in this process (see
/// the module docs): `Ok` on Linux with glibc >= 2.35 and an unwinder that
/// uses `_dl_find_object`, or with `LOCKGRAPH_REMOTE_STACKS=on`; otherwise
/// why not. Decided once per process. It says nothing about the signal being
/// free: a report also falls back when another handler owns `SIGRTMIN()+4`.
pub fn current_stack_support() -> Result<(), String> {
    #[cfg(target_os = "linux")]
    {
        remote_stack::support()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err("another thread's current stack is captured on Linux only".to_string())
    }
}
