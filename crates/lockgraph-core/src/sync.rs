//! The one place where the core picks its per-thread storage and learns about
//! loom model iterations (`--cfg loom`, see `docs/loom.md`).
//!
//! Normal builds use std's `thread_local!` (`const`-initialised where the
//! caller asks for it). Under loom every loom thread is a coroutine on one OS
//! thread, so per-thread state must be loom's thread-locals, and the
//! process-wide graphs are reset when a new model iteration starts.
//!
//! lockgraph's own bookkeeping (ids, flags, the graph lock) stays on std's
//! atomics and std's mutex (`fork::Mutex`) in every build: it is not user
//! synchronisation, loom must not explore its interleavings, and it never
//! yields to loom's scheduler while it holds that lock.

/// Declares a thread-local whose initialiser is a constant expression:
/// std's `thread_local!` with `const { .. }` in normal builds, loom's
/// `thread_local!` under `--cfg loom`.
macro_rules! thread_local_const {
    ($(#[$m:meta])* static $name:ident: $t:ty = const { $init:expr };) => {
        #[cfg(not(loom))]
        std::thread_local! { $(#[$m])* static $name: $t = const { $init }; }
        #[cfg(loom)]
        loom::thread_local! { $(#[$m])* static $name: $t = $init; }
    };
}
pub(crate) use thread_local_const;

#[cfg(loom)]
use loom::thread::LocalKey;
#[cfg(not(loom))]
use std::thread::LocalKey;

/// A per-thread stack of report collectors (declared with
/// [`thread_local_const`]): [`capture`] pushes one for the length of a call,
/// [`offer`] hands a report to the innermost one.
pub(crate) type CaptureStack<T> = LocalKey<std::cell::RefCell<Vec<Vec<T>>>>;

/// Runs `f` and returns what was [`offer`]ed to `stack` on this thread
/// meanwhile. Captures nest; the innermost one gets the reports; the capture
/// ends even when `f` panics.
pub(crate) fn capture<T>(stack: &'static CaptureStack<T>, f: impl FnOnce()) -> Vec<T> {
    struct Pop<T: 'static>(&'static CaptureStack<T>);
    impl<T> Drop for Pop<T> {
        fn drop(&mut self) {
            let _ = self.0.try_with(|c| c.borrow_mut().pop());
        }
    }
    stack.with(|c| c.borrow_mut().push(Vec::new()));
    let pop = Pop(stack);
    f();
    std::mem::forget(pop);
    stack.with(|c| c.borrow_mut().pop().unwrap_or_default())
}

/// Hands `report` to the innermost [`capture`] of `stack` on this thread;
/// gives it back when there is none (or the thread is exiting).
pub(crate) fn offer<T>(stack: &'static CaptureStack<T>, report: T) -> Option<T> {
    let mut report = Some(report);
    let _ = stack.try_with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            if let Some(v) = c.last_mut() {
                v.extend(report.take());
            }
        }
    });
    report
}

/// Marks the start of a graph operation. Under loom, the first one of each
/// model iteration resets the process-wide state (graphs, reported cycles,
/// atomicity reports), so every iteration is checked on its own; in normal
/// builds it is nothing.
#[inline(always)]
pub(crate) fn enter_iteration() {
    #[cfg(loom)]
    loom_iteration::enter();
}

#[cfg(loom)]
mod loom_iteration {
    use std::sync::atomic::{AtomicU64, Ordering};

    static ITERATIONS: AtomicU64 = AtomicU64::new(0);

    loom::lazy_static! {
        // loom re-initialises its lazy statics in every execution: the
        // initialiser runs once per model iteration.
        static ref ITERATION: u64 = {
            crate::global::reset();
            crate::atomicity::reset();
            ITERATIONS.fetch_add(1, Ordering::Relaxed) + 1
        };
    }

    pub(super) fn enter() {
        let _ = *ITERATION;
    }
}

/// The name of the current thread for reports (loom's thread under loom).
pub(crate) fn thread_name() -> String {
    #[cfg(loom)]
    let t = loom::thread::current();
    #[cfg(not(loom))]
    let t = std::thread::current();
    match t.name() {
        Some(n) => n.to_string(),
        None => format!("{:?}", t.id()),
    }
}
