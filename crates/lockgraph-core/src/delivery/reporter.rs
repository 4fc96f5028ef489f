//! The reporter thread and its workers: each report rendered, handed to
//! its subscriber or printed on stderr.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use super::{Item, MAX_STUCK, ON_REPORTER, PROGRESS, QUEUE, STUCK_AFTER, WORK};
use crate::fork;

/// The reporter thread: hands queued items to workers, in order.
pub(super) fn supervise() {
    let _ = ON_REPORTER.try_with(|c| c.set(true));
    loop {
        let (item, stuck) = {
            let mut q = QUEUE.lock();
            loop {
                if let Some(it) = q.items.pop_front() {
                    q.current = Some(Arc::clone(&it));
                    break (it, q.stuck);
                }
                q = fork::wait(&WORK, q);
            }
        };
        if stuck >= MAX_STUCK {
            print(&item, "");
        } else if !on_worker(&item) {
            QUEUE.lock().stuck += 1;
        }
        let mut q = QUEUE.lock();
        q.finished += 1;
        q.current = None;
        PROGRESS.notify_all();
    }
}

/// Delivers `item` on a new worker thread; false when the subscriber did
/// not return in time (the item is then printed on stderr).
fn on_worker(item: &Arc<Item>) -> bool {
    let (tx, rx) = mpsc::sync_channel(2);
    let it = Arc::clone(item);
    let spawned = std::thread::Builder::new()
        .name("lockgraph-reporter".into())
        .spawn(move || {
            let _ = ON_REPORTER.try_with(|c| c.set(true));
            deliver(&it, || {
                let _ = tx.send(());
            });
            let _ = tx.send(());
        });
    if let Err(e) = spawned {
        print(
            item,
            &format!("lockgraph: cannot start a reporter thread ({e}); the report follows\n"),
        );
        return true;
    }
    // Rendering is lockgraph's own work (resolving stacks can take seconds
    // the first time in a debug build): only the subscriber is timed.
    if rx.recv().is_err() {
        return true;
    }
    match rx.recv_timeout(STUCK_AFTER) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => true,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            print(
                item,
                &format!(
                    "lockgraph: the tracing subscriber has not returned from a lockgraph report \
                     for {STUCK_AFTER:?} (it may wait for a lock that a deadlocked thread holds); \
                     the report follows, and later reports go to a new reporter thread\n"
                ),
            );
            false
        }
    }
}

static SAID_PANIC: AtomicBool = AtomicBool::new(false);

/// Renders `item` (then calls `rendered`) and hands it to its subscriber, or
/// prints it on stderr.
fn deliver(item: &Item, rendered: impl FnOnce()) {
    let text = match catch_unwind(AssertUnwindSafe(|| item.report.to_string())) {
        Ok(t) => t,
        Err(p) => {
            crate::stderr::line(&format!(
                "lockgraph: a report could not be rendered (panic: {})",
                panic_text(&*p)
            ));
            return;
        }
    };
    let _ = item.text.set(text.clone());
    rendered();
    let sent = catch_unwind(AssertUnwindSafe(|| {
        tracing::dispatcher::with_default(&item.dispatch, || item.report.event(&text))
    }));
    match sent {
        Ok(true) => item.out.store(true, Ordering::Release),
        Ok(false) => {
            if item.report.print_when_unheard() && !item.out.swap(true, Ordering::AcqRel) {
                crate::stderr::line(&text);
            }
        }
        Err(p) => {
            if !SAID_PANIC.swap(true, Ordering::Relaxed) {
                crate::stderr::line(&format!(
                    "lockgraph: the tracing subscriber panicked while receiving a lockgraph \
                     report ({}); reports it panics on are printed here instead",
                    panic_text(&*p)
                ));
            }
            if !item.out.swap(true, Ordering::AcqRel) {
                crate::stderr::line(&text);
            }
        }
    }
}

/// Prints `item` on stderr after `note`, without a subscriber (unless it
/// went out already).
pub(super) fn print(item: &Item, note: &str) {
    if !item.report.print_when_unheard() {
        // Printed already, when it was raised.
        return;
    }
    if item.out.swap(true, Ordering::AcqRel) {
        return;
    }
    let text = match item.text.get() {
        Some(t) => t.clone(),
        None => catch_unwind(AssertUnwindSafe(|| item.report.to_string()))
            .unwrap_or_else(|_| "lockgraph: a report could not be rendered".to_string()),
    };
    crate::stderr::line(&format!("{note}{text}"));
}

/// The item a worker still holds when the process ends: printed from the
/// text the worker rendered, never rendered again here (its stacks may be
/// what keeps the worker); said lost when the worker has not rendered it.
pub(super) fn print_current(item: &Item) {
    if item.text.get().is_some() {
        print(item, "");
    } else if item.report.print_when_unheard() && !item.out.swap(true, Ordering::AcqRel) {
        crate::stderr::line(
            "lockgraph: a report was still being rendered (its stacks resolving) when the \
             process ended; it is lost",
        );
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic".to_string()
    }
}
