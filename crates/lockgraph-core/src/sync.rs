//! The one place where the core picks its per-thread storage and learns about
//! loom model iterations (`--cfg loom`, see `docs/loom.md`).
//!
//! Normal builds use std's `thread_local!` (`const`-initialised where the
//! caller asks for it). Under loom every loom thread is a coroutine on one OS
//! thread, so per-thread state must be loom's thread-locals, and the
//! process-wide graphs are reset when a new model iteration starts.
//!
//! lockgraph's own bookkeeping (ids, flags, the graph lock) stays on std's
//! atomics and a plain parking_lot mutex in every build: it is not user
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
