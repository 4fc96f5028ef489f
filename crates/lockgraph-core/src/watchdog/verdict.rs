//! A DEADLOCK's report built from a copy of every thread's state: the
//! scan's, and the verdict a [`dump`](super::dump) gives of the deadlocks
//! among the threads it shows (found by an outside test: a dump of a
//! deadlocked process said nothing of the deadlock).

use super::*;

/// The DEADLOCK report of `cycle` (indices into `snaps`, each thread
/// waiting for a lock the next one holds), seen at `now` (`wall`).
pub(super) fn deadlock_report(
    snaps: &[Snap],
    cycle: &[usize],
    now: u64,
    wall: std::time::SystemTime,
    action: Action,
) -> WatchdogReport {
    let text = cycle_text(snaps, cycle);
    // The locks waited for, in cycle order: the thread after each waiter
    // holds the lock that waiter wants and asks for the next one, so the
    // lock-order graph has "lock k -> lock k+1" if it saw it.
    let order = super::order_locks::order_context(snaps, cycle);
    WatchdogReport {
        order,
        kind: WatchdogKind::Deadlock,
        cycle: Some(text),
        threads: cycle
            .iter()
            .map(|&i| thread_info(&snaps[i], now, true, true))
            .collect(),
        also_deadlocked: Vec::new(),
        other_waiters: 0,
        pid: std::process::id(),
        action,
        reported_at: wall,
    }
}

/// The `cycle:` line of `cycle`'s report: `thread `a` -> Mutex `m` ->
/// thread `b` -> ... -> thread `a`` (no symbols: cheap to say early).
pub(super) fn cycle_text(snaps: &[Snap], cycle: &[usize]) -> String {
    let mut text = String::new();
    for &i in cycle {
        let _ = write!(text, "thread `{}` -> ", snaps[i].slot.name);
        if let Some(WaitView {
            target:
                Target::Lock {
                    id,
                    class,
                    kind,
                    mode,
                },
            ..
        }) = snaps[i].wait
        {
            let upgrade = if mode == WaitMode::Upgrade {
                "upgrade of "
            } else {
                ""
            };
            let _ = write!(text, "{upgrade}{} -> ", LockRef::of(id, class, kind));
        }
    }
    let _ = write!(text, "thread `{}`", snaps[cycle[0]].slot.name);
    text
}

/// A deadlock among a dump's threads, as the watchdog sees it in the same
/// copy: what its DEADLOCK report would say first and last.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DumpDeadlock {
    /// The cycle, as the report's `cycle:` line says it.
    pub cycle: String,
    /// The threads in it: those of the cycle, and those it holds besides
    /// (its report's `also deadlocked` threads: a second permit holder
    /// waiting for what the cycle holds).
    pub threads: usize,
    /// Whether a wait of it is timed: the cycle ends when that wait gives
    /// up (a retry can close it again).
    pub timed: bool,
    /// What to do, as the report says it.
    pub advice: String,
}

/// A deadlock's cycle (indices into a scan's copy, each thread waiting for
/// a lock the next holds) and the threads it holds besides.
pub(super) type DeadlockGroup = (Vec<usize>, Vec<usize>);

/// The deadlocks among `snaps`' threads, one per group of threads (a cycle
/// whose threads an earlier one covers is left out): each cycle, started
/// at its first thread by name, with the threads it holds besides (its
/// DEADLOCK report's `also deadlocked`); and who is on a cycle.
pub(super) fn deadlock_groups(
    snaps: &[Snap],
    edges: &[Vec<usize>],
) -> (Vec<DeadlockGroup>, HashSet<usize>) {
    let cycles = find_cycles(edges, &wait_needs(snaps));
    let stuck = super::members::Stuck::of(snaps, edges);
    let on_cycle: HashSet<usize> = cycles.iter().flatten().copied().collect();
    let mut covered: HashSet<usize> = HashSet::new();
    let mut groups = Vec::new();
    for mut cycle in cycles {
        if cycle.iter().all(|i| covered.contains(i)) {
            continue;
        }
        let first = (0..cycle.len())
            .min_by_key(|&k| (&snaps[cycle[k]].slot.name, snaps[cycle[k]].slot.key))
            .unwrap_or(0);
        cycle.rotate_left(first);
        let also = stuck.also_deadlocked(snaps, edges, &cycle);
        covered.extend(cycle.iter().chain(&also).copied());
        groups.push((cycle, also));
    }
    (groups, on_cycle)
}

/// Whether a wait of `cycle` is timed: the cycle ends when it gives up.
pub(super) fn has_timed_wait(snaps: &[Snap], cycle: &[usize]) -> bool {
    cycle
        .iter()
        .any(|&i| snaps[i].wait.is_some_and(|w| w.limit.is_some()))
}

/// The deadlocks among `snaps`' threads at `now` ([`deadlock_groups`]),
/// and who is on one.
pub(super) fn dump_deadlocks(
    snaps: &[Snap],
    edges: &[Vec<usize>],
    now: u64,
    wall: std::time::SystemTime,
) -> (Vec<DumpDeadlock>, HashSet<usize>) {
    let (groups, on_cycle) = deadlock_groups(snaps, edges);
    let mut out = Vec::new();
    for (cycle, also) in groups {
        let mut report = deadlock_report(snaps, &cycle, now, wall, Action::Report);
        add_blocked_peers(&mut report.threads, &cycle, snaps, edges, &on_cycle, now);
        add_waiting_now(&mut report.threads, snaps);
        out.push(DumpDeadlock {
            cycle: report.cycle.clone().unwrap_or_default(),
            threads: cycle.len() + also.len(),
            timed: has_timed_wait(snaps, &cycle),
            advice: report.advice(),
        });
    }
    (out, on_cycle)
}
