//! Who a deadlock holds besides its cycle: the threads the cycle waits for
//! whose own waits cannot end because every thread that could end them is
//! in the deadlock (a second permit holder waiting for the lock the
//! cycle's acquirer holds: found by an outside test, the report said "2
//! threads" and named the third in one line). The DEADLOCK report lists
//! them as its "also deadlocked" threads and counts them in its first line;
//! a dump's verdict counts them the same way.

use super::*;
use lockgraph_graph::waitfor::{self, Need};

/// The wait-for graph's threads that can never go on, and how each waits:
/// computed once per scan (or dump) for all its cycles.
pub(super) struct Stuck {
    needs: Vec<Need>,
    stuck: HashSet<usize>,
}

impl Stuck {
    /// Of the wait-for graph `edges` over `snaps`.
    pub(super) fn of(snaps: &[Snap], edges: &[Vec<usize>]) -> Stuck {
        let needs = wait_needs(snaps);
        let stuck = waitfor::stuck(0..edges.len(), |n| {
            Some((needs[n], edges[n].iter().copied()))
        });
        Stuck { needs, stuck }
    }

    /// The threads deadlocked with `cycle` and not on it, by name: those
    /// the cycle waits for (directly, or through one another) that can never
    /// go on, whose wait has a known waker (not a condvar's notification, a
    /// receive or a blocking call, which someone outside may end) and is
    /// kept by the deadlock: a wait for all of its threads (a lock's
    /// holders, a barrier's parties) by one of them in it, a wait for any
    /// (a permit's holders, a full queue's consumers) by all of them.
    pub(super) fn also_deadlocked(
        &self,
        snaps: &[Snap],
        edges: &[Vec<usize>],
        cycle: &[usize],
    ) -> Vec<usize> {
        // The stuck threads the cycle waits for, through stuck threads.
        let mut seen: HashSet<usize> = cycle.iter().copied().collect();
        let mut todo: Vec<usize> = cycle.to_vec();
        let mut candidates: Vec<usize> = Vec::new();
        while let Some(i) = todo.pop() {
            for &j in &edges[i] {
                if self.stuck.contains(&j) && seen.insert(j) {
                    candidates.push(j);
                    todo.push(j);
                }
            }
        }
        // Those kept by the deadlock, growing it until none is added.
        let mut members: HashSet<usize> = cycle.iter().copied().collect();
        let mut out: Vec<usize> = Vec::new();
        loop {
            let before = out.len();
            candidates.retain(|&j| {
                let known = snaps[j].wait.is_some_and(|w| !w.target.unknown_waker());
                let on = &edges[j];
                let kept = known
                    && !on.is_empty()
                    && match self.needs[j] {
                        Need::All => on.iter().any(|k| members.contains(k)),
                        Need::Any => on.iter().all(|k| members.contains(k)),
                    };
                if kept {
                    members.insert(j);
                    out.push(j);
                }
                !kept
            });
            if out.len() == before {
                break;
            }
        }
        out.sort_by(|&a, &b| {
            (&snaps[a].slot.name, snaps[a].slot.key).cmp(&(&snaps[b].slot.name, snaps[b].slot.key))
        });
        out
    }
}

impl WatchdogReport {
    /// The text's section of the [`also_deadlocked`](Self::also_deadlocked)
    /// threads, after the cycle's (nothing when there are none).
    pub(super) fn fmt_also_deadlocked(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.also_deadlocked.is_empty() {
            return Ok(());
        }
        writeln!(
            f,
            "  also deadlocked (threads the cycle waits for, whose waits only threads of this deadlock could end):"
        )?;
        for t in &self.also_deadlocked {
            fmt::Display::fmt(t, f)?;
        }
        Ok(())
    }

    /// Every thread of the report: the cycle's, then the also deadlocked.
    pub(super) fn all_threads(&self) -> impl Iterator<Item = &ThreadInfo> {
        self.threads.iter().chain(&self.also_deadlocked)
    }
}

/// Lists the threads `also` (of [`Stuck::also_deadlocked`]) in `report`,
/// each as its cycle's threads are (its own stack while waiting, its
/// holds, the blocked threads it waits for).
pub(super) fn add_also_deadlocked(
    report: &mut WatchdogReport,
    also: &[usize],
    snaps: &[Snap],
    edges: &[Vec<usize>],
    on_cycle: &HashSet<usize>,
    now: u64,
) {
    let mut threads: Vec<ThreadInfo> = also
        .iter()
        .map(|&i| thread_info(&snaps[i], now, true, true))
        .collect();
    add_peers(&mut threads, also, snaps, edges, on_cycle, now);
    add_waiting_now(&mut threads, snaps);
    report.also_deadlocked = threads;
}
