//! Atomicity violations (check-then-act): a decision taken under one guard of
//! a lock and acted on under a later write guard of the same lock, while
//! another thread wrote the lock in between.
//!
//! Off unless `LOCKGRAPH_ATOMICITY` is `on` (report violations) or `warn`
//! (also report the pattern without an interleaving write, as a warning), or
//! [`set_atomicity`] turns it on. Off, it costs one relaxed load (of the word
//! that says which optional features are on) per acquisition and release.
//!
//! This module is the checker's part below the held-lock state: the state
//! calls [`acquired`] and [`released`] with its per-thread part
//! ([`AtomThread`]). The one entry point that needs the state,
//! `atomic_region`, is in `crate::region`, above it.
//!
//! "In between" is decided with vector clocks ([`lockgraph_graph::vclock`]):
//! each thread is an actor with its own clock; an acquisition joins the clock
//! left by the lock's last recorded exclusive release; an exclusive release (a
//! write) ticks the thread's clock and stamps the lock with the write's epoch.
//! When a thread re-acquires a lock for writing, the lock's last write is an
//! interleaving write if another thread made it and it does not happen before
//! the re-acquiring thread's clock at the release that opened the region.
//! The clocks do not follow thread spawn and join (`lockgraph::thread` puts
//! joins in the lock-order graph, not here), and they could not change a verdict: every write before the
//! check is ordered before it through the lock itself, and no later spawn or
//! join can order a write made after the check's release before it.
//!
//! Cost with the checker on: see [`released`] (writes are recorded only for
//! locks some region could check) and [`AtomThread`] (the per-thread part
//! lives in the held-lock state; clocks are copied only when a thread learnt
//! something from another since its last release of that lock).
//!
//! # Regions
//!
//! * **Implicit** (always): the release of a *shared* guard of `L` (`read`,
//!   `read_recursive`, `upgradable_read` released without upgrading) opens a
//!   region that the thread's next lock operation closes. If that operation
//!   is an exclusive acquisition of `L` (`write`, or `lock` of a mutex type
//!   used as an `RwLock`'s lock), it is checked. Any other acquisition or
//!   release, of `L` or another lock, ends the region (a new shared release
//!   of `L` opens a new one). A mutex taken twice in a row is *not* checked
//!   implicitly: `loop { let job = queue.lock().pop(); ... }` is the normal
//!   use of a mutex, not a decision carried across.
//! * **Explicit** ([`atomic_region`](crate::atomic_region)): inside the closure every release of a
//!   lock `L`, in any mode, opens a check that lasts until the closure
//!   returns; the next exclusive acquisition of `L` inside the closure (a
//!   `lock`, a `write`) is checked, whatever other locks were taken meanwhile.
//!   A condition variable's wait is the exception: its release of the mutex
//!   opens no check, so the re-acquisition when the wait returns is not
//!   judged (the program re-checks its predicate under that guard: the wait
//!   loop). See [`condvar_release`].
//!
//! The per-lock state (the last write and the clock of the last exclusive
//! release) lives in a block that the lock's [`LockMeta`](crate::LockMeta) allocates on first
//! use while detection is on; it is read and written only by threads that
//! hold the lock, and written only under an exclusive hold.
//!
//! The module's files: [`mode`] (whether the checker runs), [`hooks`] (what
//! it does at each lock operation, and its findings), [`thread`] (its
//! per-thread state, and the process-wide tables of actors and reports
//! made), [`block`] (its per-lock state) and [`report`] (the reports it
//! raises).

mod block;
mod hooks;
mod mode;
mod report;
mod thread;

pub(crate) use block::free;
pub(crate) use hooks::{
    acquired, condvar_release, downgrading, enter_region, exit_region, recheck, released,
};
pub(crate) use mode::on;
pub use mode::{atomicity, set_atomicity, Atomicity};
pub use report::{capture_atomicity, AtomicityReport, Interleaving, Severity};
pub(crate) use thread::AtomThread;
