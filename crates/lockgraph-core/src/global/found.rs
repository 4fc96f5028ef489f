//! A cycle the graph found, as the lock call that found it hands it on: its
//! content taken from the graph (the graph changes, and loses a dropped
//! lock's node, after the lock call), but compact, and turned into a
//! [`CycleReport`] only where the report is used.
//!
//! A cycle through 10,000 locks makes a report of 10,000 [`LockInfo`]s and
//! 10,000 [`EdgeInfo`]s, about 2 MB: allocating and filling that took
//! most of the closing lock call (much of it page faults on fresh memory).
//! The locks of an instance cycle share their class and the edges of a
//! chain their recording ([`Origin`]), so the lock call keeps runs of equal
//! locks and edges, and the ids, and nothing per edge. The report is built
//! from them:
//!
//! * under `warn`, on lockgraph's reporter thread, which renders it (and
//!   resolves its stacks' symbols) too: the thread that closed the cycle goes
//!   on at once;
//! * under a capture ([`crate::capture`]), when the capture returns: a
//!   captured report is a whole [`CycleReport`], as before, and its stacks
//!   are resolved when it is printed ([`crate::Backtrace`]);
//! * under `panic` and `abort`, on the thread that closed the cycle, which
//!   does not go on.

use std::sync::OnceLock;

use super::*;

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
            Inner::Found(c, built) => built.get_or_init(|| c.build()),
        }
    }

    /// The report, built now if it was not yet.
    pub(crate) fn into_report(self) -> CycleReport {
        match self.0 {
            Inner::Ready(r) => r,
            Inner::Found(c, built) => built.into_inner().unwrap_or_else(|| c.build()),
        }
    }
}

impl std::fmt::Display for Raised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self.get(), f)
    }
}

impl crate::policy::Report for Raised {
    fn event(&self, text: &str) -> bool {
        crate::policy::Report::event(self.get(), text)
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

    /// The whole report.
    fn build(&self) -> CycleReport {
        #[cfg(test)]
        {
            tests::BUILT_HERE.with(|c| c.set(c.get() + 1));
            tests::BUILT.fetch_add(1, Ordering::Relaxed);
        }
        let n: usize = self.locks.iter().map(|r| r.len).sum();
        let mut locks = Vec::with_capacity(n);
        for run in &self.locks {
            for _ in 0..run.len {
                let instance = self.instances.get(locks.len()).copied();
                let mut lock = LockInfo::of_class(run.kind, run.class, instance);
                lock.site_classes = run.site_classes;
                locks.push(lock);
            }
        }
        let mut edges = Vec::with_capacity(n);
        for (o, len) in &self.edges {
            for _ in 0..*len {
                let i = edges.len();
                // Stacks of the middle of a very long cycle are not printed;
                // not keeping them keeps the report small (see the field doc).
                let keep_stack =
                    i == 0 || n <= LONG_CYCLE || i < SHOWN_STACKS || i >= n - SHOWN_STACKS;
                edges.push(EdgeInfo {
                    from: i,
                    to: (i + 1) % n,
                    thread: o.thread.clone(),
                    hold: o.hold,
                    request: o.request,
                    held_at: o.held_at.map(Site::from),
                    requested_at: o.requested_at.map(Site::from),
                    backtrace: if keep_stack {
                        o.backtrace.clone()
                    } else {
                        None
                    },
                    closing: i == 0,
                });
            }
        }
        CycleReport {
            kind: ReportKind::LockOrderCycle,
            level: self.level,
            locks,
            edges,
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::cell::Cell;
    use std::time::Duration;

    use super::*;
    use crate::primitive::{acquire, release, Blocking, Deadline, WaitMode};

    /// Reports built from a found cycle, on any thread.
    pub(crate) static BUILT: std::sync::atomic::AtomicUsize =
        std::sync::atomic::AtomicUsize::new(0);

    std::thread_local! {
        /// Reports built from a found cycle on this thread.
        pub(crate) static BUILT_HERE: Cell<usize> = const { Cell::new(0) };
    }

    /// A raw lock that is always free.
    struct Free;

    impl Blocking for Free {
        fn try_now(&self) -> bool {
            true
        }
        fn block(&self) {}
        fn block_until(&self, _: Deadline) -> bool {
            true
        }
    }

    fn nest(a: &LockMeta, b: &LockMeta) {
        acquire(a, Free, WaitMode::Lock, None);
        acquire(b, Free, WaitMode::Lock, None);
        release(b, WaitMode::Lock);
        release(a, WaitMode::Lock);
    }

    fn built_here() -> usize {
        BUILT_HERE.with(Cell::get)
    }

    #[test]
    fn a_delivered_report_is_built_off_the_thread_that_closed_the_cycle() {
        if !crate::TRACKING || crate::policy::on_cycle() != crate::OnCycle::Warn {
            return;
        }
        // A cycle of four locks of one class (the instance graph) and one
        // of two classes (the class graph).
        let ring: Vec<LockMeta> = (0..4)
            .map(|_| LockMeta::new(LockKind::Mutex, Class::Named("found-test-ring")))
            .collect();
        let a = LockMeta::new(LockKind::Mutex, Class::Named("found-test-a"));
        let b = LockMeta::new(LockKind::Mutex, Class::Named("found-test-b"));
        let before = built_here();
        let anywhere = BUILT.load(Ordering::Relaxed);
        for w in ring.windows(2) {
            nest(&w[0], &w[1]);
        }
        nest(&ring[3], &ring[0]);
        nest(&a, &b);
        nest(&b, &a);
        // Delivered: nothing is built on this thread.
        assert_eq!(built_here(), before, "built on the closing thread");
        assert!(crate::flush_reports(Duration::from_secs(10)));
        assert_eq!(built_here(), before);
        // ... but on the reporter thread, which delivered both.
        assert!(BUILT.load(Ordering::Relaxed) >= anywhere + 2);
        // Fresh locks, the same shape, captured: built when the capture
        // returns, whole.
        let ring: Vec<LockMeta> = (0..4)
            .map(|_| LockMeta::new(LockKind::Mutex, Class::Named("found-test-ring")))
            .collect();
        let reports = crate::policy::capture(|| {
            for w in ring.windows(2) {
                nest(&w[0], &w[1]);
            }
            nest(&ring[3], &ring[0]);
        });
        assert_eq!(built_here(), before + 1);
        assert_eq!(reports.len(), 1, "{reports:?}");
        let r = &reports[0];
        assert_eq!(r.level, Level::Instance);
        let ids: Vec<Option<u64>> = r.locks.iter().map(|l| l.instance).collect();
        assert_eq!(
            ids,
            [3, 0, 1, 2].map(|i| Some(ring[i].id())),
            "the cycle starts at the closing edge"
        );
        assert!(r.locks.iter().all(|l| l.name == Some("found-test-ring")));
        assert_eq!(r.edges.len(), 4);
        for (i, e) in r.edges.iter().enumerate() {
            assert_eq!((e.from, e.to, e.closing), (i, (i + 1) % 4, i == 0));
            assert!(e.held_at.is_none() && e.requested_at.is_none());
        }
    }
}
