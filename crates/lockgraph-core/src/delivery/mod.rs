//! Report delivery: the one way a report (a lock-order cycle, an atomicity
//! finding, a watchdog report) or a message of lockgraph's own reaches the
//! user when it is not captured, panicked on or aborted on by the policy.
//!
//! Reports are raised inside a lock call, on a thread that holds locks, often
//! the very locks of the cycle. Calling the user's `tracing` subscriber there
//! can deadlock (a subscriber that takes one of those locks waits for its own
//! thread), and so can taking the standard error lock (another thread may
//! hold it while waiting for one of them). So [`warn`] only queues the report,
//! with the reporting thread's current subscriber, and returns; a lockgraph
//! thread delivers it:
//!
//! * the *reporter* thread (`lockgraph-reports`) takes reports off the queue
//!   in order and hands each to a short-lived worker thread
//!   (`lockgraph-reporter`), which renders it and emits the `tracing` event
//!   (target `lockgraph`) under that subscriber, or, when the subscriber
//!   does not enable the event (or there is none), writes it to the standard
//!   error file descriptor ([`crate::stderr`]);
//! * a worker that panics (a panicking subscriber) is caught: said once on
//!   stderr, and the report it panicked on is printed there;
//! * a worker whose subscriber has not returned after [`STUCK_AFTER`] (a
//!   subscriber that waits for a lock a deadlocked thread holds; rendering
//!   the report is not timed) is left behind: its report
//!   is printed on stderr, saying why, and the next report gets a new
//!   worker; after [`MAX_STUCK`] such workers, reports go to stderr only;
//! * at process exit ([`flush_reports`] at `atexit`, at most [`EXIT_WAIT`]),
//!   what is still queued is delivered, or printed; so is a report that a
//!   producer was still building ([`building`]: the watchdog resolving a
//!   report's stacks when the program returned from `main`);
//! * before the `abort` policy or watchdog action aborts, the reports being
//!   delivered get [`ABORT_WAIT`] to finish (a cycle report rendering its
//!   stacks when the watchdog found the deadlock it predicted), and what is
//!   left is printed.
//!
//! lockgraph's own threads are started from a thread of the C library's, not
//! from the thread that first needs them, so they do not inherit that
//! thread's libtest output capture (a test's `print!` buffer): a subscriber
//! that prints through `print!` prints for everyone to see.
//!
//! No lock of lockgraph's is held while user code (a subscriber, a
//! `Display` of the program's) runs, and the queue's lock is held only to
//! push or pop.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::fork::{self, Mutex};

mod exit;
mod notice;
mod reporter;
mod spawn;

use exit::{install_at_exit, FORK_HOOKS};
pub(crate) use notice::Notice;
use reporter::{print, print_current, supervise};
pub(crate) use spawn::spawn;

/// How long a worker may take to hand a report to the subscriber before the
/// report is printed on stderr instead.
pub(crate) const STUCK_AFTER: Duration = Duration::from_secs(2);
/// Workers left stuck before reports go to stderr only.
const MAX_STUCK: u32 = 4;
/// How long the exit hook waits for queued reports to be delivered.
const EXIT_WAIT: Duration = Duration::from_secs(5);
/// How long an abort waits for the reports being delivered.
const ABORT_WAIT: Duration = Duration::from_secs(2);

/// What the queue delivers: a report (every [`crate::Report`] is one) or a
/// message of lockgraph's own ([`Notice`]).
pub(crate) trait Deliver: fmt::Display + Send + Sync + 'static {
    /// Emits this report's `tracing` event (target `lockgraph`) with `text`,
    /// its rendering, when the current subscriber enables it (see
    /// [`event!`]); returns whether it did.
    fn event(&self, text: &str) -> bool;

    /// Whether it is printed on stderr when the subscriber does not take
    /// the event (false: it was printed already).
    fn print_when_unheard(&self) -> bool {
        true
    }
}

/// Emits a `tracing` event with target `lockgraph` at a constant level when
/// the current subscriber enables events of that target and level, and
/// evaluates to whether it did: `event!(tracing::Level::WARN, field = v,
/// "{text}")`.
macro_rules! event {
    ($level:expr, $($rest:tt)+) => {
        if tracing::enabled!(target: "lockgraph", $level) {
            tracing::event!(target: "lockgraph", $level, $($rest)+);
            true
        } else {
            false
        }
    };
}
pub(crate) use event;

struct Item {
    report: Box<dyn Deliver>,
    dispatch: tracing::Dispatch,
    /// The report's text, once a worker rendered it (an abort prints the
    /// item a worker holds from this, without rendering it again).
    text: std::sync::OnceLock<String>,
    /// Whether the report went out (to its subscriber or stderr): whoever
    /// prints it sets this first, so that it is printed once.
    out: AtomicBool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Threads {
    NotStarted,
    Running,
    /// The reporter thread could not be started: reports go to stderr.
    Failed,
}

struct Queue {
    items: VecDeque<Arc<Item>>,
    /// Items ever queued, and items delivered (or printed) since.
    queued: u64,
    finished: u64,
    threads: Threads,
    /// Workers that never returned.
    stuck: u32,
    /// Reports being built that will be queued ([`building`]).
    building: u32,
    /// The item the reporter thread is delivering, until it is finished.
    current: Option<Arc<Item>>,
    /// Run at exit before the queue is flushed (they may queue more).
    exit_hooks: Vec<fn()>,
}

static QUEUE: Mutex<Queue> = Mutex::new(Queue {
    items: VecDeque::new(),
    queued: 0,
    finished: 0,
    threads: Threads::NotStarted,
    stuck: 0,
    building: 0,
    current: None,
    exit_hooks: Vec::new(),
});
/// An item was queued.
static WORK: std::sync::Condvar = std::sync::Condvar::new();
/// An item was delivered or printed.
static PROGRESS: std::sync::Condvar = std::sync::Condvar::new();

thread_local! {
    /// Set on lockgraph's reporter threads (real threads, also under loom):
    /// [`flush_reports`] there would wait for itself.
    static ON_REPORTER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Queues `report` for delivery under this thread's current `tracing`
/// subscriber, and returns at once.
pub(crate) fn warn(report: impl Deliver) {
    let dispatch = tracing::dispatcher::get_default(tracing::Dispatch::clone);
    send_to(report, dispatch);
}

/// Queues `report` for delivery under `dispatch`, and returns at once.
pub(crate) fn send_to(report: impl Deliver, dispatch: tracing::Dispatch) {
    setup();
    let item = Arc::new(Item {
        report: Box::new(report),
        dispatch,
        text: std::sync::OnceLock::new(),
        out: AtomicBool::new(false),
    });
    let mut q = QUEUE.lock();
    match q.threads {
        Threads::Failed => {
            drop(q);
            print(&item, "");
        }
        Threads::Running => {
            q.items.push_back(item);
            q.queued += 1;
            WORK.notify_one();
        }
        Threads::NotStarted => {
            q.items.push_back(item);
            q.queued += 1;
            q.threads = Threads::Running;
            drop(q);
            if let Err(e) = spawn("lockgraph-reports", supervise) {
                let items: Vec<Arc<Item>> = {
                    let mut q = QUEUE.lock();
                    q.threads = Threads::Failed;
                    let items: Vec<_> = q.items.drain(..).collect();
                    q.finished += items.len() as u64;
                    PROGRESS.notify_all();
                    items
                };
                crate::stderr::line(&format!(
                    "lockgraph: cannot start the reporter thread ({e}); reports are printed here"
                ));
                for it in &items {
                    print(it, "");
                }
            }
        }
    }
}

/// Waits, for at most `timeout` (a [`Duration`]; `Duration::MAX` for no
/// limit), until every report queued before this call was handed to the
/// `tracing` subscriber or printed on stderr; returns whether they all
/// were. A report the watchdog is building (resolving its
/// stacks) is waited for too, with what is queued while one is built:
/// a call made while the watchdog finds one report after another may use
/// its whole `timeout`.
///
/// Reports that follow the `warn` policy (and the watchdog's reports) are
/// delivered by a lockgraph thread, shortly after they are raised, never
/// from inside the lock call that raised them. The process's exit waits for
/// them (up to 5 seconds, on Unix); call this where a program (or a test
/// asserting on a subscriber's output) needs them out now.
///
/// ```
/// # // The example is the one `lockgraph::flush_reports` shows (this is
/// # // its doc, re-exported): the path users of the `lockgraph` crate write.
/// # use lockgraph_core as lockgraph;
/// use std::time::Duration;
///
/// assert!(lockgraph::flush_reports(Duration::from_secs(5)));
/// // No limit.
/// assert!(lockgraph::flush_reports(Duration::MAX));
/// ```
pub fn flush_reports(timeout: Duration) -> bool {
    if ON_REPORTER.try_with(|c| c.get()).unwrap_or(false) {
        return QUEUE.lock().items.is_empty();
    }
    wait_delivered(deadline_after(timeout), true)
}

/// The instant `timeout` from now; a timeout past what an `Instant` can
/// hold (`Duration::MAX`) is "no limit": a century.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

/// Waits until every item queued before the call is finished, and with
/// `builders`, every report being built then or since is queued and
/// finished too; false when `end` came first.
fn wait_delivered(end: Instant, builders: bool) -> bool {
    // An abort's wait (no builders) is bounded from the start too: it must
    // not hang on the queue's lock (its holders only push or pop, but an
    // abort is the last resort). A flush takes it as any pusher does.
    let mut q = if builders {
        QUEUE.lock()
    } else {
        match QUEUE.lock_within(end.saturating_duration_since(Instant::now())) {
            Some(q) => q,
            None => return false,
        }
    };
    let mut target = q.queued;
    let mut saw_builder = false;
    loop {
        if builders && q.building > 0 {
            saw_builder = true;
        }
        if saw_builder {
            // What the builders queued (before they said they were done).
            target = target.max(q.queued);
        }
        if q.finished >= target && !(builders && q.building > 0) {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        q = fork::wait_until(&PROGRESS, q, end);
    }
}

/// A report being built that will be queued: while one lives,
/// [`flush_reports`] (and so the exit hook) waits for it.
pub(crate) struct Building(());

/// Says that this thread is building a report it will queue, until the
/// value drops: the watchdog takes one before it resolves a report's
/// stacks, which can take longer than the program has left to run.
pub(crate) fn building() -> Building {
    setup();
    QUEUE.lock().building += 1;
    Building(())
}

impl Drop for Building {
    fn drop(&mut self) {
        let mut q = QUEUE.lock();
        q.building = q.building.saturating_sub(1);
        PROGRESS.notify_all();
    }
}

/// Runs `hook` at process exit (Unix), before the queue is flushed: a
/// producer says there what it held back.
pub(crate) fn before_exit(hook: fn()) {
    setup();
    QUEUE.lock().exit_hooks.push(hook);
}

/// Prints `report` and what is still queued on stderr, says why, and aborts
/// the process (the `abort` policy and watchdog action).
pub(crate) fn abort(report: &dyn fmt::Display, why: &str) -> ! {
    // The reports on their way out get a moment to finish (not those being
    // built: this thread may be building one), unless this is a reporter
    // thread, which would wait for itself.
    if !ON_REPORTER.try_with(|c| c.get()).unwrap_or(true) {
        let _ = wait_delivered(Instant::now() + ABORT_WAIT, false);
    }
    // Nothing else will deliver what is still queued, or finish the one
    // being delivered.
    let (current, pending): (Option<Arc<Item>>, Vec<Arc<Item>>) =
        match QUEUE.lock_within(Duration::from_millis(100)) {
            Some(mut q) => (q.current.take(), q.items.drain(..).collect()),
            None => (None, Vec::new()),
        };
    if let Some(it) = current {
        print_current(&it);
    }
    for it in &pending {
        print(it, "");
    }
    crate::stderr::line(&report.to_string());
    crate::stderr::line(&format!("lockgraph: aborting ({why})"));
    std::process::abort()
}

/// Registers the fork hooks and the exit hook, once.
fn setup() {
    static FORK: AtomicBool = AtomicBool::new(false);
    fork::register(&FORK, &FORK_HOOKS);
    install_at_exit();
}
