//! The engine behind [lockgraph](https://docs.rs/lockgraph): lock identity and
//! classes, per-thread held-lock stacks, the process-wide lock-order graphs,
//! reports and the reporting policy.
//!
//! Lock types (in the `lockgraph` facade) embed a [`LockMeta`] and call its
//! hooks: [`LockMeta::before_wait`] before a blocking acquisition,
//! [`LockMeta::acquired`] after any successful one, [`LockMeta::released`] on
//! unlock. Everything else happens here:
//!
//! * the steady state (a chain of held locks this thread has seen before) is a
//!   thread-local hash lookup; no shared state is touched;
//! * a new chain records its edges in the process-wide graphs
//!   ([`lockgraph_graph`]) and, when an edge closes a cycle that can deadlock,
//!   raises a [`CycleReport`] *before* the caller blocks;
//! * the report goes to the innermost [`capture`] on this thread, or follows
//!   the [`OnCycle`] policy; under `warn` a lockgraph thread delivers it
//!   (to the `tracing` subscriber, or stderr), never the lock call itself
//!   ([`flush_reports`] waits for that).
//!
//! ```
//! use lockgraph_core::{capture, Class, Hold, LockKind, LockMeta, Request};
//!
//! // Two lock identities, as a lock type would embed them.
//! let a = LockMeta::new(LockKind::Mutex, Class::Named("doc-a"));
//! let b = LockMeta::new(LockKind::Mutex, Class::Named("doc-b"));
//! let reports = capture(|| {
//!     // a then b ...
//!     a.before_wait(Request::Exclusive, None);
//!     a.acquired(Hold::Exclusive, None);
//!     b.before_wait(Request::Exclusive, None);
//!     b.acquired(Hold::Exclusive, None);
//!     b.released();
//!     a.released();
//!     // ... then b then a: reported before "blocking" on a.
//!     b.before_wait(Request::Exclusive, None);
//!     b.acquired(Hold::Exclusive, None);
//!     a.before_wait(Request::Exclusive, None);
//!     b.released();
//! });
//! assert_eq!(reports.len(), 1);
//! assert_eq!(reports[0].locks.len(), 2);
//! ```

mod atomicity;
mod class;
mod delivery;
mod features;
#[doc(hidden)]
pub use features::quiet as features_off;
mod fork;
mod global;
mod order;
mod policy;
pub mod profile;
mod record;
mod report;
mod state;
mod stderr;
mod sync;
pub mod watchdog;

pub use atomicity::{
    atomic_region, atomicity, capture_atomicity, set_atomicity, Atomicity, AtomicityReport,
    Interleaving, Severity,
};
pub use class::{Class, LockKind, Site};
pub use delivery::flush_reports;
pub use global::{stats, taken_while_holding, GraphStats, Limits};
pub use order::{order_graph, set_order_graph};
pub use policy::{capture, emit_report, on_cycle, set_on_cycle, OnCycle, ParseOnCycleError};
pub use record::{record_file, RECORD_VERSION};
pub use report::{Backtrace, CycleReport, EdgeInfo, Hold, Level, LockInfo, ReportKind, Request};
pub use state::{
    blocking, clear_pending_site, held_lock_ids, held_locks, set_pending_site, LockMeta, MAX_HELD,
};
pub use watchdog::dump;

/// Whether lock tracking is compiled into this build of the core: with
/// `debug_assertions`, with the `track-in-release` feature, or under `--cfg loom`.
pub const TRACKING: bool = cfg!(any(debug_assertions, feature = "track-in-release", loom));
