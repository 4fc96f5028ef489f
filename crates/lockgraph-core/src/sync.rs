//! The one place where the core picks its per-thread storage and learns about
//! loom model iterations (`--cfg loom`, see `docs/loom.md`).
//!
//! Normal builds use std's `thread_local!` (`const`-initialised where the
//! caller asks for it). Under loom every loom thread is a coroutine on one OS
//! thread, so per-thread state must be loom's thread-locals, and the
//! process-wide state is reset when a new model iteration starts: each
//! module that keeps some registers its own reset ([`on_new_iteration`]).
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

/// Marks the branch that calls it unlikely (`std::hint::cold_path`, which
/// is newer than this workspace's minimum Rust version): a call of a cold
/// function is what the optimiser reads as such, and it is inlined away.
#[cold]
#[inline]
pub(crate) fn cold_path() {}

/// Marks the start of a graph operation. Under loom, the first one of each
/// model iteration resets the process-wide state (graphs, reported cycles,
/// atomicity reports: whatever registered with [`on_new_iteration`]), so
/// every iteration is checked on its own; in normal builds it is nothing.
#[inline(always)]
pub(crate) fn enter_iteration() {
    #[cfg(loom)]
    loom_iteration::enter();
}

/// Registers `reset`, run at the start of every later loom model iteration
/// (a module calls this when it first makes the state `reset` empties);
/// nothing outside loom.
#[inline(always)]
pub(crate) fn on_new_iteration(reset: fn()) {
    #[cfg(loom)]
    loom_iteration::register(reset);
    #[cfg(not(loom))]
    let _ = reset;
}

#[cfg(loom)]
mod loom_iteration {
    use std::sync::atomic::{AtomicU64, Ordering};

    static ITERATIONS: AtomicU64 = AtomicU64::new(0);
    /// The registered resets (std's lock: lockgraph's own bookkeeping, not
    /// something loom should explore).
    static RESETS: std::sync::Mutex<Vec<fn()>> = std::sync::Mutex::new(Vec::new());

    loom::lazy_static! {
        // loom re-initialises its lazy statics in every execution: the
        // initialiser runs once per model iteration.
        static ref ITERATION: u64 = {
            let resets = RESETS.lock().map(|r| r.clone()).unwrap_or_default();
            for reset in resets {
                reset();
            }
            ITERATIONS.fetch_add(1, Ordering::Relaxed) + 1
        };
    }

    pub(super) fn enter() {
        runner::check();
        let _ = *ITERATION;
    }

    /// Which OS thread runs loom models: the state the iterations reset is
    /// one per process, so two models run at once (`cargo test` without
    /// `--test-threads=1`) reset each other's and lose reports. Said once,
    /// on stderr.
    mod runner {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::time::{Duration, Instant};

        /// The token of the OS thread that ran the last model (0: none, or
        /// that thread has exited).
        static RUNNER: AtomicUsize = AtomicUsize::new(0);
        static WARNED: AtomicBool = AtomicBool::new(false);

        /// A live OS thread's token (its thread-local's address, never 0:
        /// the byte makes it a distinct address per thread); its exit gives
        /// [`RUNNER`] up.
        struct Token {
            _byte: u8,
        }

        impl Drop for Token {
            fn drop(&mut self) {
                let me = std::ptr::from_ref(self) as usize;
                let _ = RUNNER.compare_exchange(me, 0, Ordering::AcqRel, Ordering::Relaxed);
            }
        }

        std::thread_local! {
            static TOKEN: Token = const { Token { _byte: 0 } };
        }

        pub(super) fn check() {
            if WARNED.load(Ordering::Relaxed) {
                return;
            }
            let Ok(me) = TOKEN.try_with(|t| std::ptr::from_ref(t) as usize) else {
                return;
            };
            let r = RUNNER.load(Ordering::Acquire);
            if r == me {
                return;
            }
            // A test thread that finished its model may still be exiting
            // while the next test starts: give it a moment. (Models shorter
            // than that, run at once, are thus run one after the other.)
            let give_up = Instant::now() + Duration::from_millis(200);
            loop {
                match RUNNER.compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return,
                    Err(x) if x == me => return,
                    Err(_) if Instant::now() >= give_up => break,
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
            if !WARNED.swap(true, Ordering::Relaxed) {
                crate::stderr::line(
                    "lockgraph: loom models are running on two threads at once; lockgraph's \
                     graph and reports are one per process and reset by every model \
                     iteration, so reports can be lost or mixed: run loom tests with \
                     --test-threads=1",
                );
            }
        }
    }

    pub(super) fn register(reset: fn()) {
        if let Ok(mut r) = RESETS.lock() {
            if !r.iter().any(|f| std::ptr::fn_addr_eq(*f, reset)) {
                r.push(reset);
            }
        }
    }
}

/// The name of the current thread for reports (loom's thread under loom):
/// an unnamed thread is `unnamed, tid 24191` on Linux (the id `top`, `gdb`
/// and `/proc` know; it was its `ThreadId`, `ThreadId(2)`, a counter of
/// Rust's that nothing outside the process shows; found by an outside
/// test), `ThreadId(2)` elsewhere.
pub fn thread_name() -> String {
    #[cfg(loom)]
    let t = loom::thread::current();
    #[cfg(not(loom))]
    let t = std::thread::current();
    match t.name() {
        Some(n) => n.to_string(),
        #[cfg(all(target_os = "linux", not(loom)))]
        // SAFETY: gettid has no preconditions.
        None => format!("unnamed, tid {}", unsafe { libc::gettid() }),
        #[cfg(not(all(target_os = "linux", not(loom))))]
        None => format!("{:?}", t.id()),
    }
}
