//! Drop-in `parking_lot` locks that find deadlocks before they hang.
//!
//! Replace `use parking_lot::{Mutex, RwLock, ...}` with
//! `use lockgraph::{Mutex, RwLock, ...}`. Nothing else changes. In debug builds
//! every blocking acquisition made while other locks are held records an edge
//! "held lock -> requested lock" in a process-wide lock-order graph, and the
//! acquisition that closes a cycle is reported *before* it blocks, with both
//! (or all) threads, every site and the stacks that recorded each edge. The
//! deadlock does not have to happen: the two orders only have to occur, in any
//! threads, at any time.
//!
//! ```
//! use lockgraph::Mutex;
//!
//! let accounts = Mutex::named("accounts", ());
//! let audit = Mutex::named("audit", ());
//!
//! let reports = lockgraph::capture(|| {
//!     {
//!         let _a = accounts.lock();
//!         let _b = audit.lock(); // records accounts -> audit
//!     }
//!     {
//!         let _b = audit.lock();
//!         let _a = accounts.lock(); // closes the cycle: reported, then taken
//!     }
//! });
//! if lockgraph::TRACKING {
//!     assert_eq!(reports.len(), 1);
//!     println!("{}", reports[0]); // names both locks, sites, threads, stacks
//! }
//! ```
//!
//! # What is detected
//!
//! * **Lock-order cycles** of any length, on lock *instances* (these very locks
//!   were taken in both orders) and on lock *classes*, so an inversion between
//!   two different pairs of accounts is caught too. The report gives the
//!   shortest cycle through the new edge and says which level it is.
//! * **Self-deadlocks**: locking a `Mutex` the thread holds, `write` after
//!   `read` on one `RwLock`, a second `read()` of a read-held lock (it blocks
//!   behind a queued writer; `read_recursive()` does not). One the policy
//!   prints is said once per lock class and pair of sites (the hold's and
//!   the request's), whichever lock of the class and whichever thread it
//!   happens on; one that panics or is captured, each time.
//! * **Condvar cycles**: waiting on a condvar while holding `A`, when the
//!   notifier holds `A` when it notifies (not one that took `A` and let it
//!   go before notifying: see docs/design.md, "What is not covered").
//! * **`Once` deadlocks**: a [`Once`] is a lock held while its closure runs
//!   and requested by every call made before it completed, so `call_once`
//!   from its own closure, or a closure that needs a lock held by a caller of
//!   the same `Once`, is reported (see [`Once`]).
//!
//! # Lock classes
//!
//! A lock made by `new` (also through `Default`, `From`, `serde`, a
//! `#[derive(Default)]` or a generic helper) belongs to the class of its
//! creation site *and* the type it protects: the two `Mutex` fields of a
//! derived `Default` (one site) are two classes when their types differ. A
//! lock made by `named` belongs to the class of its name, whatever its type.
//! Reports show a site class as `Mutex<T> created at file:line:col` and say
//! "one site, many fields" when one site makes locks of several types, or
//! when two locks of a report are one class (same site, same type: only
//! their instances tell them apart; name them to tell them apart).
//!
//! And what is not reported, because it cannot deadlock: `try_lock` (it never
//! waits: no edge into the tried lock), cycles made only of recursive reads
//! of shared holds (lockdep's strong-path rule), cycles two of whose edges
//! were always recorded under one lock held exclusively or as an upgradable
//! read (a *gate lock*: the two threads cannot both hold it so), re-entry of
//! a `ReentrantMutex`, upgrading an upgradable read, and a `read()` under the
//! thread's own upgradable read of the lock.
//!
//! # Reports and policy
//!
//! A report is a [`CycleReport`] (`Display` prints it for a terminal). What
//! happens to it is the [`OnCycle`] policy: environment variable
//! `LOCKGRAPH_ON_CYCLE` = `warn` (default: one `tracing` WARN event per distinct
//! cycle, or a block on stderr when no subscriber enables it), `panic`,
//! `abort` or `off`, or [`set_on_cycle`] in code. Tests use [`capture`], which
//! sees only the reports raised on the calling thread. `LOCKGRAPH_BACKTRACE=0`
//! turns off the stack captured when an edge is first recorded.
//!
//! # Contention profile
//!
//! With `LOCKGRAPH_PROFILE=1` (or [`profile::enable`]) lockgraph also counts,
//! per lock class, acquisitions, contended acquisitions, wait time (read only
//! when the first attempt failed), sampled hold times, the read share of
//! `RwLock`s, the threads that waited, and [`blocking`] calls made while
//! holding the lock. [`profile::report`] ranks the classes and says what to do
//! (shard, shrink the critical section, move the blocking call out), naming the
//! numbers behind each piece of advice.
//!
//! # Watchdog
//!
//! With `LOCKGRAPH_WATCHDOG=5s` (or [`watchdog::start`]) a watchdog thread
//! reports *real* deadlocks (a cycle of threads waiting for each other's locks)
//! and waits longer than the timeout, with every thread's locks, sites, stack
//! and kernel state; [`dump()`] shows every thread's locks on demand. See
//! `docs/watchdog.md`.
//!
//! # The release switch
//!
//! Tracking is compiled in when `debug_assertions` is on. Without it (and
//! without `track-in-release`), "parking_lot itself" means exactly this:
//!
//! * every guard *is* parking_lot's guard type (`lockgraph::MutexGuard<'a, T>`
//!   is `parking_lot::MutexGuard<'a, T>`; likewise the mapped, fair, read,
//!   write, upgradable, reentrant and `Arc` guards), and [`RawMutex`],
//!   [`RawFairMutex`], [`RawRwLock`], [`RawThreadId`], [`Once`],
//!   [`OnceState`], [`WaitTimeoutResult`] and [`lock_api`] are parking_lot's
//!   own items;
//! * the lock types ([`Mutex`], [`FairMutex`], [`RwLock`],
//!   [`ReentrantMutex`], [`Condvar`]) are `#[repr(transparent)]` newtypes of
//!   parking_lot's (`lock_api::Mutex<parking_lot::RawMutex, T>`, ...): same
//!   size and layout, same code, parking_lot's methods through `Deref`,
//!   plus `named`. `&*lock` is a `&parking_lot::Mutex<T>`; a guard's
//!   `MutexGuard::mutex(&guard)` gives that inner lock, and
//!   [`Mutex::from_lock_api`] the newtype back.
//!
//! Nothing is recorded. [`TRACKING`] says which build this is. In tracking
//! builds the same holds with lockgraph's raw locks in place of parking_lot's.
//!
//! # Races
//!
//! With `LOCKGRAPH_ATOMICITY=on` (or [`set_atomicity`]) lockgraph reports
//! check-then-act races: a decision taken under a read guard and acted on
//! under a later write guard of the same lock while another thread wrote in
//! between ([`atomic_region`] marks a region by hand). Built with
//! `RUSTFLAGS="--cfg loom"`, the lock types run on loom's primitives, so a
//! `loom::model` test explores every interleaving and still gets the
//! lock-order reports. See `docs/loom.md`.
//!
//! # Crate feature flags
//!
//! None is on by default.
//!
//! * `track-in-release`: keep tracking in release builds (benchmarks,
//!   staging): everything above, at the cost the README measures.
//! * `watchdog-in-release`: what the [`watchdog`] needs in production:
//!   tracking compiled into release builds, with the lock-order graph off
//!   unless `LOCKGRAPH_ORDER=on` (held-lock stacks and wait registration
//!   only; no potential-deadlock reports). Implies `track-in-release`.
//! * `arc_lock`, `send_guard`, `serde`: parking_lot's features of the same
//!   names. `arc_lock` adds `lock_arc` and friends and the `Arc*Guard`s;
//!   `serde` serializes a lock's data (a deserialized lock's class is serde's
//!   site and the type). `send_guard` makes guards `Send`: a guard released on
//!   another thread than the one that took it leaves the taking thread's
//!   held-lock stack (applied when that thread next records an edge or asks
//!   [`held_locks`]), so it records no edge from a lock it no longer holds;
//!   until the guard is released, the taking thread still counts as holding
//!   it, and the thread holding the moved guard records no edges from it.
//!   Exclusive holds have one holder, so the right stack is fixed. A moved
//!   *read* guard of a lock that other threads also read-hold since before
//!   may be taken off one of their stacks instead: that thread then misses
//!   edges from the lock, and the sender keeps its read hold (edges from it
//!   may be false), until that thread releases its own read guard.
//! * `deadlock_detection`, `hardware-lock-elision`, `nightly`: parking_lot's
//!   features that change no API, accepted (and changing nothing) so that
//!   a `package = "lockgraph"` rename of a parking_lot dependency that names
//!   them builds; [`deadlock`] is always there. parking_lot's `owning_ref`
//!   feature is not offered.
//!
//! `--cfg loom` is not a feature but a compiler flag (above). The
//! std-compatible locks (poisoning, `LockResult`) are in [`stdsync`], always
//! built.
//!
//! # Costs (tracking on)
//!
//! A chain of held locks a thread has seen before costs one lookup in a
//! thread-local cache and touches no shared state. Only a new chain takes the
//! global graph lock. See the README for measured ratios against parking_lot.
//!
//! # Supported Rust versions
//!
//! Rust 1.88 or newer (the `rust-version` the dependencies need; see the
//! README for how it is checked).

/// `Deref` to the lock_api type, `Default`, `From`, `Debug` and (with the
/// `serde` feature) `Serialize` (under the `$lock` method's guard) and
/// `Deserialize` for a lock newtype.
macro_rules! wrapper_impls {
    ($name:ident, $inner:ty, $lock:ident) => {
        impl<T: ?Sized> std::ops::Deref for $name<T> {
            type Target = $inner;

            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl<T: ?Sized> std::ops::DerefMut for $name<T> {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.0
            }
        }

        impl<T: Default> Default for $name<T> {
            #[track_caller]
            fn default() -> $name<T> {
                $name::new(T::default())
            }
        }

        impl<T> From<T> for $name<T> {
            #[track_caller]
            fn from(value: T) -> $name<T> {
                $name::new(value)
            }
        }

        impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        #[cfg(feature = "serde")]
        impl<T: ?Sized + serde::Serialize> serde::Serialize for $name<T> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.$lock().serialize(serializer)
            }
        }

        #[cfg(feature = "serde")]
        impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for $name<T> {
            /// A new lock around the deserialized value; its class is the
            /// caller's site (serde's code for the field) and `T`.
            #[track_caller]
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                match T::deserialize(deserializer) {
                    Ok(value) => Ok($name::new(value)),
                    Err(e) => Err(e),
                }
            }
        }
    };
}
pub(crate) use wrapper_impls;

#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
#[path = "raw_tracked.rs"]
pub mod raw;

#[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
#[path = "raw_plain.rs"]
pub mod raw;

mod barrier;
#[cfg(all(
    feature = "crossbeam",
    any(debug_assertions, feature = "track-in-release", loom)
))]
pub mod channel;
#[cfg(all(
    feature = "crossbeam",
    not(any(debug_assertions, feature = "track-in-release", loom))
))]
#[path = "channel_plain.rs"]
pub mod channel;
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
mod condvar;
#[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
#[path = "condvar_plain.rs"]
mod condvar;
pub mod deadlock;
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
pub mod mpsc;
#[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
#[path = "mpsc_plain.rs"]
pub mod mpsc;
mod mutex;
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
mod once;
pub mod pipeline;
mod semaphore;
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
pub mod thread;
/// `std::thread` (release builds without tracking).
#[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
pub mod thread {
    pub use std::thread::*;
}
mod remutex;
mod rwlock;
pub mod stdsync;
#[cfg(feature = "tokio")]
pub mod tokio;
// Release builds without tracking use parking_lot's raw locks directly and
// only need the thread id from here.
#[cfg_attr(
    not(any(debug_assertions, feature = "track-in-release", loom)),
    allow(dead_code, unused_imports)
)]
mod sync;

#[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
pub use condvar::Condvar;
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
pub use condvar::{Condvar, WaitTimeoutResult};
#[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
pub use parking_lot::WaitTimeoutResult;

#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
pub use once::{Once, OnceState};
#[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
pub use parking_lot::{Once, OnceState};

pub use barrier::{Barrier, BarrierWaitResult};
pub use semaphore::{Semaphore, SemaphoreGuard};

pub use mutex::{
    const_fair_mutex, const_mutex, FairMutex, FairMutexGuard, MappedFairMutexGuard,
    MappedMutexGuard, Mutex, MutexGuard,
};
pub use remutex::{
    const_reentrant_mutex, MappedReentrantMutexGuard, RawThreadId, ReentrantMutex,
    ReentrantMutexGuard,
};
pub use rwlock::{
    const_rwlock, MappedRwLockReadGuard, MappedRwLockWriteGuard, RwLock, RwLockReadGuard,
    RwLockUpgradableReadGuard, RwLockWriteGuard,
};

/// The raw locks under the lock types: lockgraph's tracking raw locks (see
/// [`raw`]), or parking_lot's own in release builds without tracking.
pub use raw::{RawFairMutex, RawMutex, RawRwLock};

/// lock_api, as parking_lot re-exports it: the generic lock types and
/// traits the guards come from.
pub use lock_api;

#[cfg(feature = "arc_lock")]
pub use lock_api::{
    ArcMutexGuard, ArcReentrantMutexGuard, ArcRwLockReadGuard, ArcRwLockUpgradableReadGuard,
    ArcRwLockWriteGuard,
};

pub use lockgraph_core::profile;
pub use lockgraph_core::watchdog;
pub use lockgraph_core::watchdog::progress;
/// The report of a sync lock held across an await (`lockgraph::tokio`).
pub use lockgraph_core::HeldAcrossAwait;

/// `tracing` spans in watchdog reports (the `tracing-spans` feature): add
/// [`layer`](tracing::layer) to the program's `tracing-subscriber` stack,
/// and each deadlock report, long-wait report and dump shows the spans open
/// on each thread (`in spans: request{id=7} > load_model{name="bert"}`).
#[cfg(feature = "tracing-spans")]
pub mod tracing {
    pub use lockgraph_core::watchdog::{layer, SpanLayer};
}
pub use lockgraph_core::{
    atomic_region, atomicity, capture_atomicity, set_atomicity, Atomicity, AtomicityReport,
    Interleaving, Severity,
};
pub use lockgraph_core::{
    blocking, capture, capture_reports, dump, flush_reports, held_locks, on_cycle, order_graph,
    set_on_cycle, set_order_graph, stats, Backtrace, CycleReport, EdgeInfo, Edges, GraphStats,
    Hold, Level, Limits, LockInfo, LockKind, Locks, OnCycle, ParseOnCycleError, ReportKind,
    Request, Site,
};

/// Says that this thread's next lock acquisition re-checks, under its own
/// guard, the condition it acts on, so that the atomicity checker does not
/// report it as the act of a check made under an earlier guard: the
/// double-checked pattern, where the decision taken under a read guard is
/// made again under the write guard.
///
/// ```
/// use lockgraph::RwLock;
///
/// lockgraph::set_atomicity(lockgraph::Atomicity::On);
/// let cache = RwLock::named("model_cache", None::<u32>);
/// if cache.read().is_none() {
///     lockgraph::recheck(); // the write guard below looks again
///     let mut w = cache.write();
///     if w.is_none() {
///         *w = Some(7);
///     }
/// }
/// assert_eq!(*cache.read(), Some(7));
/// ```
///
/// It applies to the next acquisition only (any release before it ends
/// it), in an implicit region and inside [`atomic_region`] (where that
/// lock's check is then used up). With the checker off, or no check open on
/// this thread, it does nothing; in release builds without tracking the
/// checker is compiled out.
#[inline]
pub fn recheck() {
    lockgraph_core::recheck();
}

/// Plumbing for lockgraph's own crates (the CUDA crate, the facade's
/// macros): not a stable API, not for use elsewhere.
#[doc(hidden)]
pub mod __private {
    pub use lockgraph_core::__private::*;

    /// The tracking metadata of `m`, in builds that track (`None` in
    /// release builds without tracking): for crates built on the lock
    /// types, whose own features cannot see the facade's.
    pub fn mutex_meta<T: ?Sized>(m: &crate::Mutex<T>) -> Option<&lockgraph_core::LockMeta> {
        #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
        {
            // SAFETY: the raw lock is only used to read its tracking
            // metadata; it is never locked or unlocked through this
            // reference.
            Some(unsafe { m.raw() }.meta())
        }
        #[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
        {
            let _ = m;
            None
        }
    }
}

/// Whether lock tracking is compiled into this build.
pub const TRACKING: bool = cfg!(any(debug_assertions, feature = "track-in-release", loom));
