//! A report's locks and edges ([`Locks`], [`Edges`]): a list of entries, or
//! runs of equal entries that a long cycle found by the graph is made of.
//!
//! A cycle through 10,000 locks of one class has 10,000 locks that differ
//! only by their instance id and 10,000 edges that differ only by their
//! indices (a chain's edges share one recording). Laid out as
//! [`LockInfo`]s (88 bytes) and [`EdgeInfo`]s (104 bytes) that is about
//! 1.9 MB, and where the memory is fresh its page faults alone took longer
//! than finding the cycle. So a report the graph builds holds runs (one
//! entry and a length) and the instance ids (8 bytes a lock), and makes an
//! entry when it is read ([`Locks::entry`], [`Locks::entries`]; printing
//! reads only the entries it prints). Reading the locks as a slice
//! (`report.locks[i]`, `report.locks.iter()`, through `Deref`) lays the
//! entries out once, on first use, and keeps them.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use super::{EdgeInfo, LockInfo};

/// The locks of a [`CycleReport`](super::CycleReport), in cycle order.
///
/// `len`, [`entry`](Locks::entry) and [`entries`](Locks::entries) read the
/// report as it was built; the slice methods (`locks[i]`, `iter()`, ...,
/// through [`Deref`]) lay every entry out first, once (88 bytes a lock).
/// Made from a `Vec<LockInfo>` with `into()`.
///
/// ```
/// use lockgraph_core::{CycleReport, EdgeInfo, Level, LockInfo, LockKind, ReportKind};
///
/// let lock = |name| LockInfo::new(LockKind::Mutex, Some(name), None, None);
/// let edge = |from, to| EdgeInfo::new(from, to, "main".into(), None, None, from == 0);
/// let report = CycleReport::new(
///     ReportKind::LockOrderCycle,
///     Level::Class,
///     vec![lock("a"), lock("b")],
///     vec![edge(0, 1), edge(1, 0)],
/// );
/// // Read in place, one entry at a time ...
/// assert_eq!(report.locks.len(), 2);
/// assert_eq!(report.locks.entry(1).and_then(|l| l.name), Some("b"));
/// let names: Vec<_> = report.locks.entries().filter_map(|l| l.name).collect();
/// assert_eq!(names, ["a", "b"]);
/// // ... or as a slice.
/// assert_eq!(report.locks[0].name, Some("a"));
/// assert!(report.edges.iter().any(|e| e.closing));
/// ```
#[derive(Clone)]
pub struct Locks {
    repr: Repr<LockInfo, LockRuns>,
}

/// The edges of a [`CycleReport`](super::CycleReport): `edges[i]` runs from
/// lock `i` to lock `(i + 1) % len`.
///
/// `len`, [`entry`](Edges::entry) and [`entries`](Edges::entries) read the
/// report as it was built; the slice methods (through [`Deref`]) lay every
/// entry out first, once (104 bytes an edge). Made from a `Vec<EdgeInfo>`
/// with `into()`.
#[derive(Clone)]
pub struct Edges {
    repr: Repr<EdgeInfo, EdgeRuns>,
}

enum Repr<T, R> {
    /// Entries one by one (a report built outside the graph).
    List(Vec<T>),
    /// Runs, shared by the report's clones, and the entries laid out on
    /// first use as a slice.
    Runs(Arc<R>, OnceLock<Box<[T]>>),
}

/// A clone shares the runs (and what was laid out so far is copied).
impl<T: Clone, R> Clone for Repr<T, R> {
    fn clone(&self) -> Self {
        match self {
            Repr::List(v) => Repr::List(v.clone()),
            Repr::Runs(r, laid) => Repr::Runs(r.clone(), laid.clone()),
        }
    }
}

/// What [`Repr`] needs of its runs: how many entries, and entry `i` made.
trait Runs<T> {
    fn len(&self) -> usize;
    fn entry(&self, i: usize) -> Option<T>;
    /// How many runs are stored (tests).
    #[cfg(test)]
    fn stored(&self) -> usize;
}

/// What [`Locks`] and [`Edges`] share: read in place, or laid out once.
impl<T: Clone, R: Runs<T>> Repr<T, R> {
    fn len(&self) -> usize {
        match self {
            Repr::List(v) => v.len(),
            Repr::Runs(r, _) => r.len(),
        }
    }

    fn entry(&self, i: usize) -> Option<T> {
        match self {
            Repr::List(v) => v.get(i).cloned(),
            Repr::Runs(r, _) => r.entry(i),
        }
    }

    /// Each entry made when it is reached. Sequential reads could walk the
    /// runs; a lookup per entry keeps this simple, and long reports are
    /// mostly one run.
    fn entries(&self) -> impl ExactSizeIterator<Item = T> + '_ {
        (0..self.len()).map(move |i| match self {
            Repr::List(v) => v[i].clone(),
            Repr::Runs(r, _) => r.entry(i).unwrap_or_else(|| unreachable!("{i} < len")),
        })
    }

    /// The entries as a slice, laid out on first use where runs are held.
    fn slice(&self) -> &[T] {
        match self {
            Repr::List(v) => v,
            Repr::Runs(_, laid) => laid.get_or_init(|| self.entries().collect()),
        }
    }

    fn into_vec(self) -> Vec<T> {
        match self {
            Repr::List(v) => v,
            Repr::Runs(..) => self.entries().collect(),
        }
    }

    #[cfg(test)]
    fn stored(&self) -> (usize, bool) {
        match self {
            Repr::List(v) => (v.len(), true),
            Repr::Runs(r, laid) => (r.stored(), laid.get().is_some()),
        }
    }
}

/// Runs of locks: each run's entry, and where the run ends (exclusive).
pub(crate) struct LockRuns {
    runs: Vec<(LockInfo, usize)>,
    /// The instance of each lock, else empty.
    instances: Vec<u64>,
}

/// Runs of edges of one recording: each run's entry (its indices, closing
/// flag and stack set per edge), and where the run ends (exclusive).
pub(crate) struct EdgeRuns {
    runs: Vec<(EdgeInfo, usize)>,
    /// Edge 0, the closing one, made once ([`CycleReport::closing_edge`]
    /// hands out a reference).
    ///
    /// [`CycleReport::closing_edge`]: super::CycleReport::closing_edge
    first: Option<EdgeInfo>,
    /// In a long cycle, only the first and last this many edges (and the
    /// closing one) keep their stack.
    kept_stacks: Option<usize>,
}

/// The index of the run holding entry `i`, by the runs' ends.
fn run_of<T>(runs: &[(T, usize)], i: usize) -> Option<usize> {
    let r = runs.partition_point(|(_, end)| *end <= i);
    (r < runs.len()).then_some(r)
}

fn len_of<T>(runs: &[(T, usize)]) -> usize {
    runs.last().map_or(0, |(_, end)| *end)
}

impl LockRuns {
    /// Runs from `(entry, length)` pairs, and the instance of each lock
    /// (empty: the entries' own).
    pub(crate) fn new(
        runs: impl IntoIterator<Item = (LockInfo, usize)>,
        instances: Vec<u64>,
    ) -> Self {
        let mut end = 0;
        let runs: Vec<(LockInfo, usize)> = runs
            .into_iter()
            .map(|(lock, len)| {
                end += len;
                (lock, end)
            })
            .collect();
        debug_assert!(instances.is_empty() || instances.len() == end);
        LockRuns { runs, instances }
    }
}

impl Runs<LockInfo> for LockRuns {
    fn len(&self) -> usize {
        len_of(&self.runs)
    }

    #[cfg(test)]
    fn stored(&self) -> usize {
        self.runs.len()
    }

    fn entry(&self, i: usize) -> Option<LockInfo> {
        let (lock, _) = &self.runs[run_of(&self.runs, i)?];
        let mut lock = lock.clone();
        if let Some(&id) = self.instances.get(i) {
            lock.instance = Some(id);
        }
        Some(lock)
    }
}

impl EdgeRuns {
    /// Runs of a cycle's edges from `(entry, length)` pairs (each entry's
    /// indices and closing flag are set per edge); in a cycle longer than
    /// `long` edges only the first and last `kept` (and the closing one)
    /// keep their stack.
    pub(crate) fn new(
        runs: impl IntoIterator<Item = (EdgeInfo, usize)>,
        long: usize,
        kept: usize,
    ) -> Self {
        let mut end = 0;
        let runs: Vec<(EdgeInfo, usize)> = runs
            .into_iter()
            .map(|(edge, len)| {
                end += len;
                (edge, end)
            })
            .collect();
        let mut out = EdgeRuns {
            runs,
            first: None,
            kept_stacks: (end > long).then_some(kept),
        };
        out.first = out.make(0);
        out
    }

    fn make(&self, i: usize) -> Option<EdgeInfo> {
        let (edge, _) = &self.runs[run_of(&self.runs, i)?];
        let n = self.len();
        let keep = match self.kept_stacks {
            None => true,
            Some(k) => i == 0 || i < k || i >= n.saturating_sub(k),
        };
        Some(EdgeInfo {
            from: i,
            to: if i + 1 == n { 0 } else { i + 1 },
            thread: edge.thread.clone(),
            hold: edge.hold,
            request: edge.request,
            upgradable_request: edge.upgradable_request,
            held_at: edge.held_at,
            requested_at: edge.requested_at,
            backtrace: if keep { edge.backtrace.clone() } else { None },
            closing: i == 0,
        })
    }
}

impl Runs<EdgeInfo> for EdgeRuns {
    fn len(&self) -> usize {
        len_of(&self.runs)
    }

    #[cfg(test)]
    fn stored(&self) -> usize {
        self.runs.len()
    }

    fn entry(&self, i: usize) -> Option<EdgeInfo> {
        match (i, &self.first) {
            (0, Some(first)) => Some(first.clone()),
            _ => self.make(i),
        }
    }
}

impl Locks {
    /// The locks of `runs`.
    pub(crate) fn runs(runs: LockRuns) -> Locks {
        Locks {
            repr: Repr::Runs(Arc::new(runs), OnceLock::new()),
        }
    }

    /// How many locks.
    pub fn len(&self) -> usize {
        self.repr.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lock `i`, made from the report as it was built (the slice is not
    /// laid out).
    pub fn entry(&self, i: usize) -> Option<LockInfo> {
        self.repr.entry(i)
    }

    /// The locks in cycle order, each made when it is reached (the slice is
    /// not laid out).
    pub fn entries(&self) -> impl ExactSizeIterator<Item = LockInfo> + '_ {
        self.repr.entries()
    }

    /// How many entries the report stores (runs, or listed entries), and
    /// whether the slice was laid out (tests).
    #[cfg(test)]
    pub(crate) fn stored(&self) -> (usize, bool) {
        self.repr.stored()
    }

    /// How many locks `f` holds for, asked once per run of equal locks (it
    /// must not read [`LockInfo::instance`], which differs within a run).
    pub(crate) fn count_by_run(&self, f: impl Fn(&LockInfo) -> bool) -> usize {
        match &self.repr {
            Repr::List(v) => v.iter().filter(|l| f(l)).count(),
            Repr::Runs(r, _) => {
                let mut start = 0;
                let mut n = 0;
                for (lock, end) in &r.runs {
                    if f(lock) {
                        n += end - start;
                    }
                    start = *end;
                }
                n
            }
        }
    }
}

impl Edges {
    /// The edges of `runs`.
    pub(crate) fn runs(runs: EdgeRuns) -> Edges {
        Edges {
            repr: Repr::Runs(Arc::new(runs), OnceLock::new()),
        }
    }

    /// How many edges.
    pub fn len(&self) -> usize {
        self.repr.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Edge `i`, made from the report as it was built (the slice is not
    /// laid out).
    pub fn entry(&self, i: usize) -> Option<EdgeInfo> {
        self.repr.entry(i)
    }

    /// The edges in cycle order, each made when it is reached (the slice is
    /// not laid out).
    pub fn entries(&self) -> impl ExactSizeIterator<Item = EdgeInfo> + '_ {
        self.repr.entries()
    }

    /// How many entries the report stores (runs, or listed entries), and
    /// whether the slice was laid out (tests).
    #[cfg(test)]
    pub(crate) fn stored(&self) -> (usize, bool) {
        self.repr.stored()
    }

    /// The edge that closed the cycle, without laying the slice out.
    pub(crate) fn closing(&self) -> Option<&EdgeInfo> {
        match &self.repr {
            Repr::List(v) => v.iter().find(|e| e.closing),
            Repr::Runs(r, _) => r.first.as_ref(),
        }
    }

    /// The actor of each edge, in cycle order, without laying the slice out.
    pub(crate) fn threads(&self) -> Vec<&str> {
        match &self.repr {
            Repr::List(v) => v.iter().map(|e| &*e.thread).collect(),
            Repr::Runs(r, _) => {
                let mut out = Vec::with_capacity(r.len());
                let mut start = 0;
                for (edge, end) in &r.runs {
                    out.extend(std::iter::repeat_n(&*edge.thread, end - start));
                    start = *end;
                }
                out
            }
        }
    }
}

impl Deref for Locks {
    type Target = [LockInfo];

    /// The locks as a slice: laid out on first use (88 bytes a lock) where
    /// the report holds runs.
    fn deref(&self) -> &[LockInfo] {
        self.repr.slice()
    }
}

impl Deref for Edges {
    type Target = [EdgeInfo];

    /// The edges as a slice: laid out on first use (104 bytes an edge)
    /// where the report holds runs.
    fn deref(&self) -> &[EdgeInfo] {
        self.repr.slice()
    }
}

impl<'a> IntoIterator for &'a Locks {
    type Item = &'a LockInfo;
    type IntoIter = std::slice::Iter<'a, LockInfo>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a Edges {
    type Item = &'a EdgeInfo;
    type IntoIter = std::slice::Iter<'a, EdgeInfo>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl From<Vec<LockInfo>> for Locks {
    fn from(v: Vec<LockInfo>) -> Locks {
        Locks {
            repr: Repr::List(v),
        }
    }
}

impl From<Vec<EdgeInfo>> for Edges {
    fn from(v: Vec<EdgeInfo>) -> Edges {
        Edges {
            repr: Repr::List(v),
        }
    }
}

impl From<Locks> for Vec<LockInfo> {
    fn from(l: Locks) -> Vec<LockInfo> {
        l.repr.into_vec()
    }
}

impl From<Edges> for Vec<EdgeInfo> {
    fn from(e: Edges) -> Vec<EdgeInfo> {
        e.repr.into_vec()
    }
}

/// As a list of [`LockInfo`]s, the same as a `Vec<LockInfo>`'s.
impl fmt::Debug for Locks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries()).finish()
    }
}

/// As a list of [`EdgeInfo`]s, the same as a `Vec<EdgeInfo>`'s.
impl fmt::Debug for Edges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries()).finish()
    }
}

#[cfg(test)]
mod tests;
