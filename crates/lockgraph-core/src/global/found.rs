//! A cycle the graph found, as the lock call that found it hands it on: its
//! content taken from the graph (the graph changes, and loses a dropped
//! lock's node, after the lock call), but compact, and turned into a
//! [`CycleReport`] only where the report is used.
//!
//! A cycle through 10,000 locks laid out as 10,000 [`LockInfo`]s and
//! 10,000 [`EdgeInfo`]s is about 1.9 MB: allocating and filling that took
//! most of the closing lock call, and later, built when `capture` returned,
//! most of "found and built" (page faults on fresh memory). The locks of an
//! instance cycle share their class and the edges of a chain their
//! recording ([`Origin`]), so the lock call keeps runs of equal locks and
//! edges, and the ids, and nothing per edge; the report keeps them as runs
//! too ([`Locks`], [`Edges`]: an entry is made when it is read), so
//! building it makes one entry per run and moves the ids in. It is built:
//!
//! * under `warn`, on lockgraph's reporter thread, which renders it (and
//!   resolves its stacks' symbols) too: the thread that closed the cycle goes
//!   on at once;
//! * under a capture ([`crate::capture`]), when the capture returns (its
//!   stacks are resolved when it is printed, [`crate::Backtrace`]);
//! * under `panic` and `abort`, on the thread that closed the cycle, which
//!   does not go on.

use std::sync::OnceLock;

use super::*;
use crate::report::{EdgeRuns, Edges, LockRuns, Locks};

/// A report the graph raised: a whole one (a self-deadlock), or a cycle found
/// and built into a [`CycleReport`] on first use.
pub(crate) struct Raised(Inner);

enum Inner {
    Ready(CycleReport),
    Found(Box<CycleFound>, OnceLock<CycleReport>),
}

impl Raised {
    pub(crate) fn ready(r: CycleReport) -> Raised {
        Raised(Inner::Ready(r))
    }

    pub(super) fn found(c: CycleFound) -> Raised {
        Raised(Inner::Found(Box::new(c), OnceLock::new()))
    }

    /// The report, built now if it was not yet.
    pub(crate) fn get(&self) -> &CycleReport {
        match &self.0 {
            Inner::Ready(r) => r,
            Inner::Found(c, built) => built.get_or_init(|| c.build(c.instances.clone())),
        }
    }

    /// The record's `cycle` line of a cycle found (`record::write_cycles`).
    pub(super) fn record_line(&self) -> Option<record::CycleLine> {
        match &self.0 {
            Inner::Ready(_) => None,
            Inner::Found(c, _) => Some(c.record_line()),
        }
    }

    /// The report, built now if it was not yet.
    pub(crate) fn into_report(self) -> CycleReport {
        match self.0 {
            Inner::Ready(r) => r,
            Inner::Found(mut c, built) => built.into_inner().unwrap_or_else(|| {
                let ids = std::mem::take(&mut c.instances);
                c.build(ids)
            }),
        }
    }
}

impl std::fmt::Display for Raised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self.get(), f)
    }
}

/// A run of consecutive locks of a cycle with the same kind, class and site
/// count.
struct LockRun {
    kind: LockKind,
    class: Class,
    /// The class's [`Class::identity`].
    identity: Option<(usize, usize)>,
    site_classes: usize,
    len: usize,
}

/// A cycle found, with what its report says about it.
pub(super) struct CycleFound {
    level: Level,
    /// The locks in cycle order, as runs.
    locks: Vec<LockRun>,
    /// The instance of each lock (an instance-graph cycle), else empty.
    instances: Vec<u64>,
    /// The edges in cycle order (edge 0 closes the cycle), as runs of one
    /// recording.
    edges: Vec<(Origin, usize)>,
}

impl CycleFound {
    pub(super) fn new(level: Level) -> CycleFound {
        CycleFound {
            level,
            locks: Vec::new(),
            instances: Vec::new(),
            edges: Vec::new(),
        }
    }

    /// The instance of each lock, in cycle order (an instance-graph cycle).
    pub(super) fn set_instances(&mut self, ids: Vec<u64>) {
        self.instances = ids;
    }

    /// Appends the next lock, of `class` (whose [`Class::identity`] is
    /// `identity`).
    pub(super) fn push_lock(
        &mut self,
        kind: LockKind,
        class: Class,
        identity: Option<(usize, usize)>,
        site_classes: usize,
    ) {
        if let Some(last) = self.locks.last_mut() {
            let same = identity.is_some()
                && last.identity == identity
                && last.kind == kind
                && last.site_classes == site_classes;
            if same {
                last.len += 1;
                return;
            }
        }
        self.locks.push(LockRun {
            kind,
            class,
            identity,
            site_classes,
            len: 1,
        });
    }

    /// Appends the next lock, equal to the one before (there is one).
    pub(super) fn repeat_lock(&mut self) {
        if let Some(last) = self.locks.last_mut() {
            last.len += 1;
        }
    }

    /// Appends the next edge, recorded as `o`.
    pub(super) fn push_edge(&mut self, o: &Origin) {
        if let Some((last, len)) = self.edges.last_mut() {
            if Arc::ptr_eq(last, o) {
                *len += 1;
                return;
            }
        }
        self.edges.push((o.clone(), 1));
    }

    /// An instance-level cycle among locks of one class: its key of
    /// [`repeats`](super::repeats) (the class and its edges' sites).
    fn repeat_key(&self) -> Option<u64> {
        if self.level != Level::Instance {
            return None;
        }
        let [run] = self.locks.as_slice() else {
            return None;
        };
        if run.len < 2 {
            return None;
        }
        super::repeats::key(
            run.kind,
            run.identity?,
            self.edges.iter().map(|(o, _)| (o.held_at, o.requested_at)),
        )
    }

    /// The cycle as the record's `cycle` line writes it: its runs of locks
    /// (each with the id of its first lock, which an anonymous class's id
    /// names) and of edges, as they are.
    fn record_line(&self) -> record::CycleLine {
        let mut at = 0;
        let locks = self
            .locks
            .iter()
            .map(|run| {
                let desc = record::ClassDesc {
                    class: run.class,
                    kind: run.kind,
                    instance: self.instances.get(at).copied().unwrap_or(0),
                };
                at += run.len;
                (desc, run.len)
            })
            .collect();
        let edges = self
            .edges
            .iter()
            .map(|(o, len)| record::CycleEdge {
                hold: o.hold,
                request: o.request,
                upgradable_request: o.upgradable_request,
                thread: o.thread.clone(),
                held_at: o.held_at.map(Site::from),
                requested_at: o.requested_at.map(Site::from),
                backtrace: o.backtrace.clone(),
                count: *len,
            })
            .collect();
        record::CycleLine {
            level: self.level,
            locks,
            edges,
        }
    }

    /// The report: each run's lock and edge made once, kept as runs (with
    /// the instance ids, moved in), not laid out one entry per lock
    /// ([`Locks`](crate::report::Locks)): a 10,000-lock chain's report is
    /// its 80 KB of ids and a few entries, not 1.9 MB of entries on fresh
    /// pages.
    fn build(&self, instances: Vec<u64>) -> CycleReport {
        #[cfg(test)]
        {
            counters::BUILT_HERE.with(|c| c.set(c.get() + 1));
            counters::BUILT.fetch_add(1, Ordering::Relaxed);
        }
        let locks = self.locks.iter().map(|run| {
            let mut lock = LockInfo::of_class(run.kind, run.class, None);
            lock.site_classes = run.site_classes;
            (lock, run.len)
        });
        let edges = self.edges.iter().map(|(o, len)| {
            let edge = EdgeInfo {
                from: 0,
                to: 0,
                thread: o.thread.clone(),
                hold: o.hold,
                request: o.request,
                upgradable_request: o.upgradable_request,
                held_at: o.held_at.map(Site::from),
                requested_at: o.requested_at.map(Site::from),
                backtrace: o.backtrace.clone(),
                closing: false,
            };
            (edge, *len)
        });
        // Stacks of the middle of a very long cycle are not printed, and not
        // kept (see the field doc).
        CycleReport {
            kind: ReportKind::LockOrderCycle,
            level: self.level,
            locks: Locks::runs(LockRuns::new(locks, instances)),
            edges: Edges::runs(EdgeRuns::new(edges, LONG_CYCLE, SHOWN_STACKS)),
        }
    }
}

/// A lock-order cycle found by the graph: its report, built on first use;
/// a capture takes it as that [`CycleReport`].
impl crate::policy::Report for Raised {
    fn event(&self, text: &str) -> bool {
        crate::policy::Report::event(self.get(), text)
    }

    /// The policy's, but for a one-class cycle through sites already
    /// delivered under `warn`: dropped (`repeats`). Decided from the cycle
    /// as found: nothing is built here, on the thread that closed it.
    fn disposal(&self, policy: crate::policy::OnCycle) -> crate::policy::Disposal {
        use crate::policy::{Disposal, OnCycle};
        let repeat = || match &self.0 {
            Inner::Found(c, _) => c
                .repeat_key()
                .is_some_and(super::repeats::already_delivered),
            Inner::Ready(_) => false,
        };
        match policy {
            OnCycle::Warn if repeat() => Disposal::Drop,
            OnCycle::Warn => Disposal::Deliver,
            OnCycle::Panic => Disposal::Panic,
            OnCycle::Abort => Disposal::Abort("LOCKGRAPH_ON_CYCLE=abort"),
            OnCycle::Off => Disposal::Drop,
        }
    }

    fn captured_as() -> std::any::TypeId {
        std::any::TypeId::of::<CycleReport>()
    }

    fn into_captured(self) -> Box<dyn std::any::Any> {
        Box::new(self.into_report())
    }
}

/// How many reports were built from a found cycle (tests).
#[cfg(test)]
pub(crate) mod counters {
    use std::cell::Cell;
    use std::sync::atomic::AtomicUsize;

    /// On any thread.
    pub(crate) static BUILT: AtomicUsize = AtomicUsize::new(0);

    std::thread_local! {
        /// On this thread.
        pub(crate) static BUILT_HERE: Cell<usize> = const { Cell::new(0) };
    }
}
