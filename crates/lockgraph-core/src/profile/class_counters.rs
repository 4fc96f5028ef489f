//! [`Counters`]: one lock class's raw counters, their checks and their merge.

use crate::class::LockKind;

/// Raw counters of one lock class: summed over this process's threads by
/// [`counters`](super::counters), or read back from a profile file
/// (`lockgraph profile`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// The class identity, as in record files: `name:<name>`,
    /// `site:<file>:<line>:<column>` or `anon:<pid>:<id>`.
    pub class: String,
    /// The name, for named classes.
    pub name: Option<String>,
    /// `Mutex`, `RwLock`, `ReentrantMutex`, `Condvar` or `lock`.
    pub kind: String,
    /// The creation site, for site classes.
    pub site: Option<String>,
    /// Acquisitions.
    pub acquisitions: u64,
    /// Contended acquisitions.
    pub contended: u64,
    /// Total wait, nanoseconds.
    pub wait_ns: u64,
    /// Longest wait, nanoseconds.
    pub max_wait_ns: u64,
    /// Shared acquisitions.
    pub reads: u64,
    /// Sampled holds.
    pub hold_samples: u64,
    /// Sum of sampled hold times, nanoseconds.
    pub hold_ns: u64,
    /// Longest sampled hold, nanoseconds.
    pub max_hold_ns: u64,
    /// Threads that waited; for an async lock, tasks (and threads outside
    /// a task), told apart up to 8,192.
    pub waiting_threads: u64,
    /// Blocking calls made while holding the class.
    pub blocking_calls: u64,
    /// Time in those calls, nanoseconds.
    pub blocking_ns: u64,
    /// What one of those calls was.
    pub blocking_what: Option<String>,
}

impl Counters {
    /// What in these counters cannot be (a count above the count it is part
    /// of, a time without the events it sums, a maximum above its total, a
    /// kind lockgraph does not have), said in words; `None` when nothing.
    /// A snapshot of counters other threads are still updating can tear so
    /// (a first wait's maximum read after its total):
    /// [`counters`](super::counters) and `lockgraph profile` make such
    /// counters [`consistent`](Self::consistent).
    pub fn inconsistency(&self) -> Option<String> {
        let above = |part: (&str, u64), whole: (&str, u64)| {
            (part.1 > whole.1).then(|| {
                format!(
                    "`{}` ({}) is above `{}` ({}), which counts it",
                    part.0, part.1, whole.0, whole.1
                )
            })
        };
        let without = |time: (&str, u64), events: (&str, u64)| {
            (time.1 > 0 && events.1 == 0)
                .then(|| format!("`{}` is {} with no `{}`", time.0, time.1, events.0))
        };
        above(("contended", self.contended), ("acquisitions", self.acquisitions))
            .or_else(|| above(("reads", self.reads), ("acquisitions", self.acquisitions)))
            .or_else(|| above(("max_wait_ns", self.max_wait_ns), ("wait_ns", self.wait_ns)))
            .or_else(|| above(("max_hold_ns", self.max_hold_ns), ("hold_ns", self.hold_ns)))
            .or_else(|| without(("wait_ns", self.wait_ns), ("contended", self.contended)))
            .or_else(|| without(("hold_ns", self.hold_ns), ("hold_samples", self.hold_samples)))
            .or_else(|| {
                without(
                    ("blocking_ns", self.blocking_ns),
                    ("blocking_calls", self.blocking_calls),
                )
            })
            .or_else(|| {
                (LockKind::from_name(&self.kind).name() != self.kind).then(|| {
                    format!(
                        "unknown `kind` {:?} (a lockgraph lock kind: `Mutex`, `RwLock`, `AsyncMutex`, ...)",
                        self.kind
                    )
                })
            })
    }

    /// These counters with what [`inconsistency`](Self::inconsistency)
    /// finds made right the least way: a part at most its whole, a maximum
    /// at most its total, no time without events, an unknown kind `lock`.
    pub fn consistent(mut self) -> Counters {
        self.contended = self.contended.min(self.acquisitions);
        self.reads = self.reads.min(self.acquisitions);
        if self.contended == 0 {
            (self.wait_ns, self.max_wait_ns) = (0, 0);
        }
        if self.hold_samples == 0 {
            (self.hold_ns, self.max_hold_ns) = (0, 0);
        }
        if self.blocking_calls == 0 {
            self.blocking_ns = 0;
        }
        self.max_wait_ns = self.max_wait_ns.min(self.wait_ns);
        self.max_hold_ns = self.max_hold_ns.min(self.hold_ns);
        self.kind = LockKind::from_name(&self.kind).name().to_string();
        self
    }

    /// Adds `other` (the same class, from another thread or process);
    /// sums saturate rather than overflow.
    pub fn merge(&mut self, other: &Counters) {
        let add = |a: &mut u64, b: u64| *a = a.saturating_add(b);
        add(&mut self.acquisitions, other.acquisitions);
        add(&mut self.contended, other.contended);
        add(&mut self.wait_ns, other.wait_ns);
        self.max_wait_ns = self.max_wait_ns.max(other.max_wait_ns);
        add(&mut self.reads, other.reads);
        add(&mut self.hold_samples, other.hold_samples);
        add(&mut self.hold_ns, other.hold_ns);
        self.max_hold_ns = self.max_hold_ns.max(other.max_hold_ns);
        add(&mut self.waiting_threads, other.waiting_threads);
        add(&mut self.blocking_calls, other.blocking_calls);
        add(&mut self.blocking_ns, other.blocking_ns);
        if self.blocking_what.is_none() {
            self.blocking_what.clone_from(&other.blocking_what);
        }
    }
}
