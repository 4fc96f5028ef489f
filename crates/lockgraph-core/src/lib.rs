//! The engine behind [lockgraph](https://docs.rs/lockgraph): lock identity and
//! classes, per-thread held-lock stacks, the process-wide lock-order graphs,
//! reports and the reporting policy.
//!
//! Lock types (in the `lockgraph` facade) embed a [`LockMeta`] and hand
//! their raw operations to the [`primitive`] protocol, which calls its
//! hooks: [`LockMeta::before_wait`] before a blocking acquisition,
//! [`LockMeta::acquired`] after any successful one, [`LockMeta::released`]
//! on unlock, and the optional features' (watchdog, profile, atomicity
//! checker) around them. Everything else happens here:
//!
//! * the steady state (a chain of held locks this thread has seen before) is a
//!   thread-local hash lookup; no shared state is touched;
//! * a new chain records its edges in the process-wide graphs
//!   ([`lockgraph_graph`]) and, when an edge closes a cycle that can deadlock,
//!   raises a [`CycleReport`] *before* the caller blocks;
//! * every report (any type implementing [`Report`], this crate's or
//!   another's) goes through [`emit`]: to the innermost [`capture_reports`]
//!   of its type on this thread, or per the [`OnCycle`] policy; under `warn`
//!   a lockgraph thread delivers it (to the `tracing` subscriber, or
//!   stderr), never the lock call itself ([`flush_reports`] waits for that);
//! * every `LOCKGRAPH_*` environment variable is in one table
//!   ([`environment`]), parsed one way.
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

// The layers, from the ground up (docs/design.md, "Layers"): each module
// imports only modules listed above it.
mod atomicity;
mod capacity;
mod class;
mod delivery;
mod env;
mod features;
mod fork;
#[cfg(test)]
mod found_tests;
mod global;
mod held_stack;
mod meta;
mod order;
mod policy;
pub mod primitive;
pub mod profile;
mod record;
mod region;
mod report;
pub mod resource;
pub mod site_key;
mod state;
mod stderr;
mod sync;
mod table;
pub mod task;
pub mod watchdog;

pub use atomicity::{
    atomicity, capture_atomicity, set_atomicity, Atomicity, AtomicityReport, Interleaving, Severity,
};
pub use class::{Class, LockKind, Site};
pub use delivery::flush_reports;
pub use global::{stats, taken_while_holding, GraphStats, Limits};
pub use meta::{LockMeta, MAX_HELD};
pub use order::{order_graph, set_order_graph};
pub use policy::{
    capture, capture_reports, emit, emit_at, on_cycle, set_on_cycle, Disposal, OnCycle,
    ParseOnCycleError, Report,
};
pub use primitive::blocking;
pub use record::{record_file, RECORD_VERSION};
pub use region::{atomic_region, recheck};
#[doc(hidden)]
pub use report::program_frame;
pub use report::{
    resource_fix_lines, resource_words, Backtrace, CycleReport, EdgeInfo, Edges, Hold, Level,
    LockInfo, Locks, ReportKind, Request, ResourceWords,
};
pub use state::{held_lock_ids, held_locks};
pub use task::HeldAcrossAwait;
pub use watchdog::dump;

/// Every `LOCKGRAPH_*` environment variable, as one table (name, kind,
/// default, documentation), for tools and docs: see `docs/environment.md`.
pub mod environment {
    pub use crate::env::{markdown_table, Kind, Value, Variable, VARIABLES};
}

/// Plumbing for lockgraph's own crates (the facade's lock types, the CUDA
/// crate): not a stable API, not for use elsewhere.
#[doc(hidden)]
pub mod __private {
    pub use crate::features::lean_mode;
    pub use crate::features::quiet as features_off;
    /// `fork()` hooks and the fork-safe mutex, for the facade's own
    /// tables (the backpressure profile's counters): see `fork.rs`.
    pub use crate::fork::{
        hold as fork_hold, register as fork_register, Hooks as ForkHooks, Mutex as ForkMutex,
    };
    pub use crate::primitive::{self, Blocking, Deadline, WaitMode};
    pub use crate::state::{clear_pending_site, set_pending_site};
    pub use crate::sync::thread_name;
    pub use crate::table::{cut, padded, width};
    pub use crate::watchdog::{watch_queue, QueueProbe, QueueState};
}

/// Whether lock tracking is compiled into this build of the core: with
/// `debug_assertions`, with the `track-in-release` feature, or under `--cfg loom`.
pub const TRACKING: bool = cfg!(any(debug_assertions, feature = "track-in-release", loom));
