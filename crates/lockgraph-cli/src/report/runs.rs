//! A finding's locks and edges as runs: a run of `count` consecutive locks
//! of one class (or edges recorded alike) is one entry, so that a cycle a
//! process found through a million per-object locks costs what its record
//! line does. The lookups every output uses (the lock or edge at a place of
//! the cycle), and the names of the locks as a message says them, at most
//! [`SHOWN_RUNS`] runs.

use super::{Finding, FindingEdge, FindingLock, LockId};

/// Messages name at most this many runs of locks: the first half and the
/// last half of them, and count the locks between (as the runtime's
/// report shows its first and last edges).
pub(crate) const SHOWN_RUNS: usize = 12;

/// One edge of a finding, at its place in the cycle: the run it belongs to
/// and its own two locks.
#[derive(Clone, Copy, Debug)]
pub struct EdgeAt<'a> {
    /// The run of edges it is one of.
    pub run: &'a FindingEdge,
    /// Its held lock.
    pub from: LockId,
    /// Its requested lock.
    pub to: LockId,
}

impl FindingLock {
    /// The id of the run's last lock.
    pub fn last(&self) -> LockId {
        LockId::of_place(u64::from(self.id.0).saturating_sub(1) + self.count.saturating_sub(1))
    }

    /// The run's ids: `L1` for one lock, `L1 to L200000` for a run.
    pub fn ids(&self) -> String {
        if self.count > 1 {
            format!("{} to {}", self.id, self.last())
        } else {
            self.id.to_string()
        }
    }
}

impl Finding {
    /// How many locks the finding goes through (for a cycle, as many edges):
    /// its runs' counts added up.
    pub fn lock_count(&self) -> u64 {
        self.locks.iter().map(|l| l.count).sum()
    }

    /// The run of locks that the lock with this id (`L1`, ...) is in.
    pub fn lock(&self, id: LockId) -> Option<&FindingLock> {
        let place = u64::from(id.0).checked_sub(1)?;
        let i = self
            .locks
            .partition_point(|l| u64::from(l.id.0).saturating_sub(1) <= place);
        let l = self.locks.get(i.checked_sub(1)?)?;
        (place < u64::from(l.id.0).saturating_sub(1) + l.count).then_some(l)
    }

    /// The run of locks that the lock at place `i` (from 0) is in.
    pub fn lock_at(&self, i: u64) -> Option<&FindingLock> {
        self.lock(LockId::of_place(i))
    }

    /// The `k`-th edge (from 0) of the run `e`: its two locks.
    pub fn edge_ends(&self, e: &FindingEdge, k: u64) -> (LockId, LockId) {
        let n = self.lock_count().max(1);
        let from = (u64::from(e.from.0).saturating_sub(1) + k) % n;
        (LockId::of_place(from), LockId::of_place((from + 1) % n))
    }

    /// The edge at place `i` of the cycle (from 0): the edge from the lock
    /// at place `i` to the next.
    pub fn edge_at(&self, i: u64) -> Option<EdgeAt<'_>> {
        let at = self
            .edges
            .partition_point(|e| u64::from(e.from.0).saturating_sub(1) <= i);
        let run = self.edges.get(at.checked_sub(1)?)?;
        let k = i - (u64::from(run.from.0) - 1);
        (k < run.count).then(|| {
            let (from, to) = self.edge_ends(run, k);
            EdgeAt { run, from, to }
        })
    }

    /// How many edges the finding has: its edge runs' counts added up.
    pub fn edge_count(&self) -> u64 {
        self.edges.iter().map(|e| e.count).sum()
    }
}

/// Runs of up to this many locks or edges are listed one by one; a longer
/// one shows its first and last and counts those between.
pub(crate) const LISTED_RUN: u64 = 4;

/// At most this many locks (and as many edges) are listed one by one: the
/// first half and the last half of them, and the closing edge.
pub(crate) const LISTED: usize = 24;

/// One line of a bounded list of a finding's locks or edges.
#[derive(Debug)]
pub(crate) enum Listed<'a, T> {
    /// The lock or edge at this place of the cycle (from 0), of this run.
    One(u64, &'a T),
    /// `count` in a row, from place `from` on, left out: all of one run
    /// (`Some`), or of several.
    Left {
        from: u64,
        count: u64,
        run: Option<&'a T>,
    },
}

/// A bounded list of `runs` (each spanning places `span(run)`: its first
/// place and count): each run of up to [`LISTED_RUN`] one by one, a longer
/// one by its first and last; past [`LISTED`] in all, the first and last
/// halves and the one at place `keep` (the closing edge), the rest counted.
fn listed<'a, T>(
    runs: &'a [T],
    span: impl Fn(&T) -> (u64, u64),
    keep: Option<u64>,
) -> Vec<Listed<'a, T>> {
    let mut all = Vec::new();
    for r in runs {
        let (from, count) = span(r);
        if count <= LISTED_RUN {
            all.extend((from..from + count).map(|p| Listed::One(p, r)));
        } else {
            all.push(Listed::One(from, r));
            let (from, count, run) = (from + 1, count - 2, Some(r));
            all.push(Listed::Left { from, count, run });
            all.push(Listed::One(from + count, r));
        }
    }
    let ones = all.iter().filter(|l| matches!(l, Listed::One(..))).count();
    if ones <= LISTED {
        return all;
    }
    let half = LISTED / 2;
    let kept = |k: usize, place: u64| k < half || k + half >= ones || Some(place) == keep;
    let place = |l: Option<&Listed<'_, T>>| match l {
        Some(Listed::One(p, _)) => *p,
        _ => u64::MAX,
    };
    let mut out: Vec<Listed<'a, T>> = Vec::with_capacity(LISTED + 8);
    // The ones left out so far: first place, count, their run if one.
    let mut gap: Option<(u64, u64, Option<&'a T>)> = None;
    let mut k = 0;
    for i in 0..all.len() {
        let (show, from, count, run) = match all[i] {
            Listed::One(p, r) => {
                k += 1;
                (kept(k - 1, p), p, 1, r)
            }
            Listed::Left { from, count, run } => {
                // Between the first and last of its run.
                let both = kept(k.saturating_sub(1), place(all.get(i.wrapping_sub(1))))
                    && kept(k, place(all.get(i + 1)));
                (both, from, count, run.unwrap_or(&runs[0]))
            }
        };
        if show {
            if let Some((from, count, run)) = gap.take() {
                out.push(Listed::Left { from, count, run });
            }
            out.push(match all[i] {
                Listed::One(p, r) => Listed::One(p, r),
                Listed::Left { from, count, run } => Listed::Left { from, count, run },
            });
            continue;
        }
        gap = Some(match gap {
            None => (from, count, Some(run)),
            Some((start, n, was)) => {
                let same = was.is_some_and(|w| std::ptr::eq(w, run));
                (start, n + count, if same { was } else { None })
            }
        });
    }
    if let Some((from, count, run)) = gap {
        out.push(Listed::Left { from, count, run });
    }
    out
}

impl Finding {
    /// The locks as a bounded list ([`LISTED`]).
    pub(crate) fn listed_locks(&self) -> Vec<Listed<'_, FindingLock>> {
        listed(&self.locks, |l| (u64::from(l.id.0) - 1, l.count), None)
    }

    /// The edges as a bounded list ([`LISTED`]), the closing edge kept.
    pub(crate) fn listed_edges(&self) -> Vec<Listed<'_, FindingEdge>> {
        let closing = self
            .edges
            .iter()
            .find(|e| e.closes_cycle)
            .map(|e| u64::from(e.from.0) - 1);
        listed(&self.edges, |e| (u64::from(e.from.0) - 1, e.count), closing)
    }
}

/// The locks as a message names them: each run's ids and label (`L1
/// Mutex `a` -> L2 to L200000 Mutex created at src/a.rs:3:9 (199999
/// locks)`), joined by ` -> `; past [`SHOWN_RUNS`] runs, the first and last
/// ones and a count of the locks between (names as they are: escape them
/// for a terminal).
pub(crate) fn lock_names(locks: &[FindingLock]) -> String {
    let name = |l: &FindingLock| {
        if l.count > 1 {
            format!("{} {} ({} locks)", l.ids(), l.label(), l.count)
        } else {
            format!("{} {}", l.id, l.label())
        }
    };
    if locks.len() <= SHOWN_RUNS {
        return locks.iter().map(name).collect::<Vec<_>>().join(" -> ");
    }
    let half = SHOWN_RUNS / 2;
    let between: u64 = locks[half..locks.len() - half]
        .iter()
        .map(|l| l.count)
        .sum();
    let mut parts: Vec<String> = locks[..half].iter().map(name).collect();
    parts.push(format!("... ({between} more locks)"));
    parts.extend(locks[locks.len() - half..].iter().map(name));
    parts.join(" -> ")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::report::{Detail, Kinds, Rule};

    fn lock(id: u32, count: u64) -> FindingLock {
        FindingLock {
            id: LockId(id),
            count,
            class: Arc::from("site:src/a.rs:3:9:T"),
            name: None,
            kind: Arc::from("Mutex"),
            site: Some(Arc::from("src/a.rs:3:9")),
        }
    }

    fn edge(from: u32, to: u32, count: u64) -> FindingEdge {
        FindingEdge {
            from: LockId(from),
            to: LockId(to),
            count,
            kinds: Kinds(lockgraph_graph::EdgeKinds::EN),
            closes_cycle: false,
            recordings: 1,
            origins: Vec::new(),
        }
    }

    fn finding(locks: Vec<FindingLock>, edges: Vec<FindingEdge>) -> Finding {
        Finding {
            rule: Rule::Cycle,
            key: String::new(),
            fingerprint: String::new(),
            message: String::new(),
            locks,
            edges,
            notes: Vec::new(),
            detail: Detail::Cycle {
                exact: true,
                run_time: None,
            },
        }
    }

    #[test]
    fn a_run_is_found_by_any_of_its_locks_and_edges() {
        // L1, then L2 to L1000000 (one class), then L1000001.
        let f = finding(
            vec![lock(1, 1), lock(2, 999_999), lock(1_000_001, 1)],
            vec![edge(1, 2, 1), edge(2, 3, 999_999), edge(1_000_001, 1, 1)],
        );
        assert_eq!(f.lock_count(), 1_000_001);
        assert_eq!(f.edge_count(), 1_000_001);
        assert_eq!(f.lock(LockId(1)).map(|l| l.id), Some(LockId(1)));
        assert_eq!(f.lock(LockId(500_000)).map(|l| l.id), Some(LockId(2)));
        assert_eq!(f.lock(LockId(1_000_000)).map(|l| l.id), Some(LockId(2)));
        assert_eq!(
            f.lock(LockId(1_000_001)).map(|l| l.id),
            Some(LockId(1_000_001))
        );
        assert!(f.lock(LockId(1_000_002)).is_none());
        assert!(f.lock(LockId(0)).is_none());
        assert_eq!(f.locks[1].ids(), "L2 to L1000000");
        let at = f.edge_at(999_999).unwrap();
        assert_eq!(
            (at.from, at.to, at.run.from),
            (LockId(1_000_000), LockId(1_000_001), LockId(2))
        );
        let at = f.edge_at(1_000_000).unwrap();
        assert_eq!((at.from, at.to), (LockId(1_000_001), LockId(1)));
        assert!(f.edge_at(1_000_001).is_none());
        let names = lock_names(&f.locks);
        assert!(
            names.contains("L2 to L1000000 Mutex created at src/a.rs:3:9 (999999 locks)"),
            "{names}"
        );
    }

    #[test]
    fn a_message_names_the_first_and_last_runs_and_counts_the_rest() {
        let locks: Vec<FindingLock> = (1..=1000).map(|i| lock(i, 1)).collect();
        let names = lock_names(&locks);
        assert!(names.starts_with("L1 Mutex"), "{names}");
        assert!(names.contains("L6 Mutex created at src/a.rs:3:9 -> ... (988 more locks) -> L995 "));
        assert!(
            names.ends_with("L1000 Mutex created at src/a.rs:3:9"),
            "{names}"
        );
        assert!(names.len() < 1000, "{}", names.len());
    }
}
