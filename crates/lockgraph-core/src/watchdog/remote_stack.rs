//! Another thread's *current* stack (Linux): the watchdog sends the thread a
//! real-time signal; the thread's handler walks its own stack into a static
//! buffer; the watchdog copies the addresses out and resolves them.
//!
//! # When it is used
//!
//! Unwinding in a signal handler is only safe when the unwinder never takes a
//! lock the interrupted code may hold. libgcc's unwinder finds the unwind
//! tables of an address with glibc's `_dl_find_object` (lock-free and
//! async-signal-safe, glibc >= 2.35) when libgcc >= 12 was built against such
//! a glibc; otherwise it calls `dl_iterate_phdr`, which takes the loader
//! lock: a thread stopped inside `dlopen` would deadlock its own handler. So
//! the capture is on only when (decided once, [`support`]):
//!
//! * the C library is glibc (`target_env = "gnu"`) and
//!   `gnu_get_libc_version()` is 2.35 or later, and
//! * the object that holds the unwinder in use (the one defining the
//!   `_Unwind_Backtrace` this crate links to, normally `libgcc_s.so.1`)
//!   *imports* `_dl_find_object` (an undefined symbol of its `.dynsym`).
//!   That is exactly "this libgcc calls `_dl_find_object`": only libgcc >= 12
//!   does, and only when built against glibc >= 2.35. Checking the `GCC_12.0.0`
//!   version node instead would accept a libgcc 12 built against an older
//!   glibc (toolchain and conda builds often are), which still takes the
//!   loader lock.
//!
//! `LOCKGRAPH_REMOTE_STACKS=off` turns the capture off; `=on` forces it even
//! where the check fails (at your own risk: the handler may deadlock the
//! thread it interrupts). `auto` (or unset) means "decide"; another value is
//! named once (the `env` table's rule) and means `auto`.
//!
//! # The signal
//!
//! `SIGRTMIN() + 4` ([`SIGNAL_OFFSET`]), with `SA_SIGINFO | SA_RESTART`,
//! installed once when the watchdog starts, and only if nothing else handles
//! (or ignores) that signal; otherwise the capture stays off. It is sent with
//! `tgkill` to one thread at a time, only to the threads a report needs.
//! `SA_RESTART` restarts most interrupted calls, but `poll`, `epoll_wait`,
//! `nanosleep` and a few others return `EINTR` anyway: that is why only the
//! holders a report is about are signalled.
//!
//! # The handler
//!
//! No allocation, no lock, no formatting: it checks that the pending request
//! names its own thread, claims it with a compare-exchange, walks its stack
//! with `backtrace::trace_unsynchronized` (not `trace`, which takes the
//! crate's global lock) into [`IPS`], and publishes the count with a release
//! store. Requests are serialised by a mutex and numbered; a handler that
//! runs after the watchdog gave up finds another request number (or no
//! request) and returns without writing.
//!
//! # Its files
//!
//! This file holds the request's shared state and the watchdog's side
//! ([`capture`]); [`platform`] decides whether the capture is safe here
//! ([`elf`]: the unwinder's imports); [`handler`] installs the handler and
//! is the thread's side.

use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::fork::Mutex;

mod elf;
mod handler;
mod platform;
#[cfg(test)]
mod tests;

pub(crate) use handler::install;
pub(crate) use platform::support;

/// The signal is `SIGRTMIN() + SIGNAL_OFFSET`.
pub(crate) const SIGNAL_OFFSET: c_int = 4;
/// How long the watchdog waits for a thread's handler.
pub(crate) const ANSWER_WAIT: Duration = Duration::from_millis(200);
/// Frames kept per capture, the handler's own (about five) included.
const MAX_FRAMES: usize = 128;

const IDLE: u64 = 0;
const ASKED: u64 = 1;
const BUSY: u64 = 2;
const DONE: u64 = 3;
const PHASE: u64 = 3;
const NO_START: usize = usize::MAX;

/// The request number (`<< 2`) and its phase: IDLE, ASKED (signal sent),
/// BUSY (the handler claimed it and writes), DONE (the buffer is complete).
static STATE: AtomicU64 = AtomicU64::new(IDLE);
/// The thread the current request is for.
static TARGET: AtomicI32 = AtomicI32::new(0);
/// The frame addresses the handler found, innermost first.
static IPS: [AtomicUsize; MAX_FRAMES] = [const { AtomicUsize::new(0) }; MAX_FRAMES];
static COUNT: AtomicUsize = AtomicUsize::new(0);
/// Index in [`IPS`] of the interrupted frame (the first below the handler).
static START: AtomicUsize = AtomicUsize::new(NO_START);
static TRUNCATED: AtomicBool = AtomicBool::new(false);
/// Serialises requests; holds the last request number.
static REQUESTS: Mutex<u64> = Mutex::new(0);
/// The signal number once the handler is installed, or why it is not.
static INSTALLED: OnceLock<Result<c_int, String>> = OnceLock::new();
/// Handler runs, for tests.
#[cfg(test)]
static HANDLED: AtomicUsize = AtomicUsize::new(0);

/// Held by a test that counts handler runs ([`HANDLED`]) and by the tests
/// of this crate that make a report or a dump of waiting threads, which
/// signals them for their current stacks: run beside the counting test,
/// they made it count one run too many.
#[cfg(test)]
pub(crate) static TEST_SIGNALS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A captured stack: raw addresses, innermost first, each flagged `exact`
/// when it is the interrupted instruction rather than a return address.
pub(crate) struct Captured {
    pub(crate) frames: Vec<(usize, bool)>,
    pub(crate) truncated: bool,
}
/// Captures thread `tid`'s current stack: signals it and waits up to
/// [`ANSWER_WAIT`] for its handler. Never call it for the calling thread.
pub(crate) fn capture(tid: u64) -> Result<Captured, String> {
    let sig = match INSTALLED.get() {
        Some(Ok(sig)) => *sig,
        Some(Err(why)) => return Err(why.clone()),
        None => return Err("the watchdog has not installed its signal handler".into()),
    };
    let Ok(tid) = libc::pid_t::try_from(tid) else {
        return Err(format!("bad thread id {tid}"));
    };
    let mut number = REQUESTS.lock();
    // A handler from a request that was given up on may still be writing.
    if STATE.load(Ordering::Acquire) & PHASE == BUSY && !wait_for(|s| s & PHASE != BUSY) {
        return Err("an earlier capture is still being written".into());
    }
    *number += 1;
    let me = *number << 2;
    TARGET.store(tid, Ordering::Relaxed);
    STATE.store(me | ASKED, Ordering::Release);
    // SAFETY: tgkill with our own pid only reaches a thread of this process;
    // the handler for `sig` is installed.
    let sent = unsafe {
        libc::syscall(
            libc::SYS_tgkill,
            libc::getpid() as libc::c_long,
            tid as libc::c_long,
            sig as libc::c_long,
        )
    };
    if sent != 0 {
        let e = std::io::Error::last_os_error();
        let _ = STATE.compare_exchange(me | ASKED, me | IDLE, Ordering::AcqRel, Ordering::Acquire);
        return Err(if e.raw_os_error() == Some(libc::ESRCH) {
            "the thread has exited".to_string()
        } else {
            format!("cannot signal the thread: {e}")
        });
    }
    if !wait_for(|s| s == me | DONE) {
        // Cancel, unless the handler claimed the request meanwhile.
        match STATE.compare_exchange(me | ASKED, me | IDLE, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                return Err(format!(
                    "no answer to SIGRTMIN+{SIGNAL_OFFSET} within {ANSWER_WAIT:?} (the thread blocks the signal, or was not scheduled)"
                ))
            }
            Err(s) if s == me | DONE => {}
            Err(_) => {
                if !wait_for(|s| s == me | DONE) {
                    return Err("the thread's handler did not finish in time".into());
                }
            }
        }
    }
    let n = COUNT.load(Ordering::Relaxed).min(MAX_FRAMES);
    let start = START.load(Ordering::Relaxed);
    let from = if start < n { start } else { 0 };
    let frames = (from..n)
        .map(|i| (IPS[i].load(Ordering::Relaxed), i == start))
        .collect();
    let truncated = TRUNCATED.load(Ordering::Relaxed);
    STATE.store(me | IDLE, Ordering::Release);
    Ok(Captured { frames, truncated })
}

/// Before `fork()`: waits for a capture in progress to end, and keeps the
/// next one from starting until the fork is over (see the watchdog's fork
/// hooks).
pub(crate) fn fork_lock() {
    crate::fork::hold(REQUESTS.lock());
}

/// In a forked child: a handler of the parent's that was still writing a
/// cancelled capture did not follow.
pub(crate) fn fork_child() {
    let s = STATE.load(Ordering::Relaxed);
    STATE.store((s & !PHASE) | IDLE, Ordering::Relaxed);
}

/// Waits up to [`ANSWER_WAIT`] for `done(STATE)`.
fn wait_for(done: impl Fn(u64) -> bool) -> bool {
    let deadline = Instant::now() + ANSWER_WAIT;
    let mut spins = 0u32;
    loop {
        if done(STATE.load(Ordering::Acquire)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        spins += 1;
        if spins < 100 {
            std::hint::spin_loop();
        } else {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}
