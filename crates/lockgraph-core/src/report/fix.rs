//! The "fix:" lines of a lock-order cycle's report: the order the rest of
//! the program keeps (the cycle's edges but the one that closed it), or,
//! through a pipeline resource (a barrier, a queue, a joined thread, a
//! semaphore), a condvar or a CUDA stream, which no lock order fixes, the
//! hold to release before the wait (or, for a condvar, to take only after
//! notifying).

use super::*;

impl CycleReport {
    /// The report's fix lines (`n`: the cycle's length).
    pub(super) fn fix_lines(&self, n: usize) -> Vec<String> {
        let device = self.device_fix_lines(n);
        if !device.is_empty() {
            return device;
        }
        let resources = self.resource_fix_lines(n);
        if !resources.is_empty() {
            return resources;
        }
        if self.one_class() {
            // Locks of one class (per-object locks, or fields of one
            // value): no order of classes fixes it, and an example order
            // of two instances says nothing of the others (the checker's
            // advice for such a cycle found at run time is the same).
            return vec![
                "fix: take the locks of this class in one order everywhere, by a key of what they guard"
                    .to_string(),
                "     (an id, or the lock's address: lower first); if they are different fields of one value,"
                    .to_string(),
                "     name them apart (`named`, or one creation line each) and keep one order of the names;"
                    .to_string(),
                "     or stop holding one while requesting the next.".to_string(),
            ];
        }
        vec![
            format!(
                "fix: take these locks in one global order everywhere (for example always {}),",
                self.kept_order(n)
            ),
            "     or stop holding one while requesting the next.".to_string(),
        ]
    }

    /// The order the cycle's other edges keep, from the closing request's
    /// lock around to the lock held when it was made (`L2 `b` before L1
    /// `a``): the order the program followed before the request that
    /// closed the cycle, the one the watchdog's deadlock advice names too.
    /// Without a closing edge (records merged by `lockgraph check`), the
    /// cycle's first edge is taken as one. Past four locks, the middle is
    /// elided.
    fn kept_order(&self, n: usize) -> String {
        let closing = self.edges.entries().find(|e| e.closing);
        let start = closing.map_or(1 % n, |e| e.to);
        let order: Vec<usize> = (0..n).map(|k| (start + k) % n).collect();
        let names: Vec<String> = if n <= 4 {
            order.iter().map(|&i| self.named(i)).collect()
        } else {
            vec![
                self.named(order[0]),
                self.named(order[1]),
                "...".to_string(),
                self.named(order[n - 1]),
            ]
        };
        names.join(" before ")
    }

    /// The fix of a cycle through a pipeline resource: a thread holds a
    /// lock while it waits for the resource (at a barrier, a send into a
    /// queue, a join, a permit), and the resource's holders (its parties,
    /// consumers, the joined thread, the permit holders) take that lock
    /// before they let the waiter go. Releasing the lock before the wait
    /// fixes it; no lock order does (the resource is taken in no order).
    /// Through a condvar: the hold kept across its wait, or what its
    /// notifier takes before notifying (`wait_fix.rs`). Empty when no
    /// such resource or condvar is in the cycle.
    fn resource_fix_lines(&self, n: usize) -> Vec<String> {
        let kinds: Vec<LockKind> = (0..n)
            .map(|i| self.locks.entry(i).map_or(LockKind::Other, |l| l.kind))
            .collect();
        // Edge `i` runs from lock `i` to the next (the cycle's order).
        let by_task = |i: usize| {
            (self.edges.entry(i).filter(|e| e.from == i))
                .or_else(|| self.edges.entries().find(|e| e.from == i))
                .is_some_and(|e| super::names::is_task(&e.thread))
        };
        super::wait_fix::resource_fix_lines(&kinds, by_task, |i| self.named(i))
    }

    /// The fix of a lock-order cycle through a CUDA stream's pseudo-lock
    /// (lockgraph-cuda): a stream is not taken in any order, so the advice
    /// is the hold across its synchronize, or the lock its host functions
    /// take. Empty when no stream is in the cycle.
    fn device_fix_lines(&self, n: usize) -> Vec<String> {
        let kind = |i: usize| self.locks.entry(i % n).map(|l| l.kind);
        let mut out = Vec::new();
        for i in 0..n {
            if kind(i) != Some(LockKind::Stream) {
                continue;
            }
            // The lock held across the synchronize, and the first real lock
            // after the stream (a host function's site pseudo-lock sits
            // between them when the cycle goes through it).
            let before = (i + n - 1) % n;
            let Some(after) = (1..n)
                .map(|k| (i + k) % n)
                .find(|&k| kind(k) != Some(LockKind::HostFn))
            else {
                continue;
            };
            if out.is_empty() {
                out.push(format!(
                    "fix: a host function on {} takes {} while a thread holds {} across a synchronize of that stream",
                    self.named(i),
                    self.named(after),
                    self.named(before)
                ));
                out.push(format!(
                    "     (the stream, an event recorded on it, or the context): release {} before the synchronize,",
                    self.named(before)
                ));
                out.push(format!(
                    "     or stop taking {} in that stream's host functions (a stream is not a lock: no lock order fixes this).",
                    self.named(after)
                ));
            } else {
                out.push(format!(
                    "     likewise for {}: release {} before synchronizing it, or stop taking {} in its host functions.",
                    self.named(i),
                    self.named(before),
                    self.named(after)
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::ring;
    use super::*;

    /// `ring(n)` with lock `i` of `kind`, named `name`.
    fn with(mut r: CycleReport, i: usize, kind: LockKind, name: &'static str) -> CycleReport {
        let mut locks: Vec<LockInfo> = r.locks.entries().collect();
        locks[i] = LockInfo::new(kind, Some(name), None, None);
        r.locks = locks.into();
        r
    }

    #[test]
    fn the_example_order_is_the_one_the_other_edges_keep() {
        // L1 -> L2 closed the cycle: the rest of the program takes L2 first.
        let r = with(
            with(ring(2), 0, LockKind::Mutex, "a"),
            1,
            LockKind::Mutex,
            "b",
        );
        assert_eq!(
            r.fix_lines(2)[0],
            "fix: take these locks in one global order everywhere (for example always L2 `b` before L1 `a`),"
        );
        // Past four locks, the middle is elided.
        assert!(ring(6).fix_lines(6)[0].contains(
            "always L2 `src/x.rs:2` before L3 `src/x.rs:3` before ... before L1 `src/x.rs:1`"
        ));
    }

    #[test]
    fn a_cycle_through_a_barrier_is_fixed_by_the_hold_not_an_order() {
        // `grad` held while waiting at `sync`, whose party takes `grad`
        // before it arrives: "always sync before grad" would be the bug.
        let r = with(
            with(ring(2), 0, LockKind::Mutex, "grad"),
            1,
            LockKind::Barrier,
            "sync",
        );
        assert_eq!(
            r.fix_lines(2),
            [
                "fix: a thread holds L1 `grad` while waiting at L2 `sync`, and a party takes it before it arrives:",
                "     release L1 `grad` before the wait at L2 `sync` (a barrier is taken in no order: no lock order fixes this).",
            ]
        );
        let text = r.to_string();
        assert!(!text.contains("one global order"), "{text}");
        for (kind, wait, holders) in [
            (
                LockKind::Queue,
                "sending into",
                "its consumer takes it before it receives again",
            ),
            (
                LockKind::Thread,
                "joining",
                "that thread takes it before it ends",
            ),
            (
                LockKind::Semaphore,
                "acquiring a permit of",
                "a permit holder takes it before it gives its permit back",
            ),
            // An async semaphore too (it got the lock-order advice).
            (
                LockKind::AsyncSemaphore,
                "acquiring a permit of",
                "a permit holder takes it before it gives its permit back",
            ),
        ] {
            let r = with(with(ring(2), 0, LockKind::Mutex, "m"), 1, kind, "r");
            assert_eq!(
                r.fix_lines(2)[0],
                format!("fix: a thread holds L1 `m` while {wait} L2 `r`, and {holders}:")
            );
        }
    }
}
