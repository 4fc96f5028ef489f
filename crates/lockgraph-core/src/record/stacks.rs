//! The record's own thread: resolves the stacks of recorded edges off the
//! threads that took the locks, and appends each as a `stack` line.
//!
//! Resolving symbols the first time reads the program's debug information
//! (a second or more in a large debug build); the thread that records an
//! edge holds its locks while it does, so it never resolves: its edge line
//! carries a `stack` key, and the stack is queued here. The thread is
//! started with the record file (the first lock use).
//!
//! A stack whose raw line was written (`raw.rs`: on Linux, every one) is
//! in the file already, for the checker to resolve: neither the exit nor
//! the `abort` policy waits for it. The others are waited for at exit (5 s
//! at most, then what is left is resolved by the exiting thread, which
//! holds no lock of the program's) and by the `abort` policy (2 s) before
//! it aborts; a process killed meanwhile leaves complete edge lines whose
//! `stack` has no `stack` line (`docs/record-format.md`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{recorder, stack_line, write_line};
use crate::fork::{self, Mutex};
use crate::report::Backtrace;

struct Queue {
    /// Each stack's key, its frames, and whether its raw line is written.
    items: VecDeque<(String, Backtrace, bool)>,
    /// The thread was started (and has not died with a fork).
    running: bool,
    /// The thread is resolving an item it took off the queue, one with no
    /// raw line.
    busy: bool,
}

static QUEUE: Mutex<Queue> = Mutex::new(Queue {
    items: VecDeque::new(),
    running: false,
    busy: false,
});
static WORK: std::sync::Condvar = std::sync::Condvar::new();
static IDLE: std::sync::Condvar = std::sync::Condvar::new();
static NEXT: AtomicU64 = AtomicU64::new(0);

/// How long the exit waits for the queue before it resolves the rest itself.
const EXIT_WAIT: Duration = Duration::from_secs(5);
/// How long the `abort` policy waits for the queue.
const ABORT_WAIT: Duration = Duration::from_secs(2);

/// A new stack key, unique in the file: the process id (a forked child
/// appends to its parent's file) and a counter.
pub(super) fn next_key() -> String {
    format!(
        "{}:{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed) + 1
    )
}

/// Starts the thread, when it is not running: when the record file is
/// made (the first lock use), so that the first edge does not wait for a
/// thread to start, and again after a fork.
pub(super) fn start() {
    setup();
    let mut q = QUEUE.lock();
    if q.running {
        return;
    }
    q.running = true;
    drop(q);
    if let Err(e) = crate::delivery::spawn("lockgraph-record", run) {
        QUEUE.lock().running = false;
        crate::stderr::line(&format!(
            "lockgraph: cannot start the record's thread ({e}); stacks are resolved at exit"
        ));
    }
}

/// Queues `bt` for resolution as the stack `key` (whose raw line is
/// written, when `raw`), and returns at once.
pub(super) fn resolve_later(key: String, bt: Backtrace, raw: bool) {
    let mut q = QUEUE.lock();
    q.items.push_back((key, bt, raw));
    if q.running {
        WORK.notify_one();
        return;
    }
    drop(q);
    start();
}

fn run() {
    loop {
        let (key, bt) = {
            let mut q = QUEUE.lock();
            loop {
                if let Some((key, bt, raw)) = q.items.pop_front() {
                    q.busy = !raw;
                    break (key, bt);
                }
                q.busy = false;
                IDLE.notify_all();
                q = fork::wait(&WORK, q);
            }
        };
        write_stack(&key, &bt);
        QUEUE.lock().busy = false;
    }
}

/// Resolves `bt` and appends its `stack` line.
fn write_stack(key: &str, bt: &Backtrace) {
    if let Some(r) = recorder() {
        let frames = bt.user_frames(16);
        write_line(r, &stack_line(key, std::process::id(), &frames));
    }
}

/// Waits until every queued stack that has no raw line is written, or
/// `timeout` passed; whether they all were. (The thread resolves in queue
/// order; those with a raw line before them are waited for too.)
pub(crate) fn drain(timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    let mut q = QUEUE.lock();
    while q.busy || q.items.iter().any(|(_, _, raw)| !raw) {
        if !q.running || Instant::now() >= end {
            return false;
        }
        q = fork::wait_until(&IDLE, q, end);
    }
    true
}

/// The `abort` policy's wait: the stacks of the edges written so far.
pub(crate) fn before_abort() {
    let _ = drain(ABORT_WAIT);
}

fn at_exit() {
    if drain(EXIT_WAIT) {
        return;
    }
    // The thread is gone or slow: the exiting thread, which holds no lock
    // of the program's any more, resolves the rest that has no raw line.
    let left: Vec<(String, Backtrace, bool)> = QUEUE.lock().items.drain(..).collect();
    for (key, bt, _) in left.into_iter().filter(|(_, _, raw)| !raw) {
        write_stack(&key, &bt);
    }
}

/// Registers the exit hook and the fork hooks, once.
fn setup() {
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.load(Ordering::Acquire) || DONE.swap(true, Ordering::AcqRel) {
        return;
    }
    crate::delivery::before_exit(at_exit);
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    fork::register(&REGISTERED, &FORK_HOOKS);
}

/// The queue across `fork()`: in the child the thread did not follow, and
/// the stacks queued belong to the parent's lines (it writes them).
static FORK_HOOKS: fork::Hooks = fork::Hooks {
    prepare: || fork::hold(QUEUE.lock()),
    child: || {
        let mut q = QUEUE.lock();
        q.items.clear();
        q.running = false;
        q.busy = false;
    },
};
