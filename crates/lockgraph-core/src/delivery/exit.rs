//! Process exit and fork: the exit hook that flushes the queue, and the
//! queue's fork hooks.

use std::panic::catch_unwind;
#[cfg(unix)]
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{flush_reports, print, print_current, Item, Threads, EXIT_WAIT, QUEUE};
use crate::fork;

#[cfg(unix)]
pub(super) fn install_at_exit() {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.load(Ordering::Relaxed) || INSTALLED.swap(true, Ordering::AcqRel) {
        return;
    }
    extern "C" fn at_exit() {
        // Never unwind into the C runtime.
        let _ = catch_unwind(flush_at_exit);
    }
    // SAFETY: `at_exit` is an `extern "C"` function without arguments that
    // never unwinds, living as long as the program.
    let _ = unsafe { libc::atexit(at_exit) };
}

#[cfg(not(unix))]
pub(super) fn install_at_exit() {}

/// Runs the exit hooks, waits for the queue, and prints what is left.
fn flush_at_exit() {
    let hooks = QUEUE.lock().exit_hooks.clone();
    for h in hooks {
        let _ = catch_unwind(h);
    }
    if flush_reports(EXIT_WAIT) {
        return;
    }
    let (current, left, building): (Option<Arc<Item>>, Vec<Arc<Item>>, u32) = {
        let mut q = QUEUE.lock();
        (q.current.take(), q.items.drain(..).collect(), q.building)
    };
    if building > 0 {
        crate::stderr::line(&format!(
            "lockgraph: {building} watchdog report(s) still being built (stacks resolving) after \
             waiting {EXIT_WAIT:?} at exit; lost"
        ));
    }
    if let Some(it) = current {
        print_current(&it);
    }
    if !left.is_empty() {
        crate::stderr::line(&format!(
            "lockgraph: {} report(s) not delivered to the tracing subscriber before the process \
             exited; they follow",
            left.len()
        ));
        for it in &left {
            print(it, "");
        }
    }
}

/// The queue across `fork()` (see `fork.rs`). In the child the reporter
/// threads did not follow: the parent delivers what it queued, and the
/// child's first report starts the child's own.
pub(super) static FORK_HOOKS: fork::Hooks = fork::Hooks {
    prepare: || fork::hold(QUEUE.lock()),
    child: fork_child,
};

fn fork_child() {
    let mut q = QUEUE.lock();
    // Leaked, not dropped: dropping an item could drop the last handle of a
    // subscriber, which is user code.
    std::mem::forget(std::mem::take(&mut q.items));
    q.queued = 0;
    q.finished = 0;
    q.stuck = 0;
    // The parent's builders and its reporter's item did not follow.
    q.building = 0;
    std::mem::forget(q.current.take());
    if q.threads == Threads::Running {
        q.threads = Threads::NotStarted;
    }
}
