//! A scan's long waits: every wait past the timeout that no cycle holds,
//! a retry loop's counted from its first try (and found between two tries:
//! `retry.rs`), reported once with the threads it waits for.

use super::*;

impl Watchdog {
    /// Reports the long waits of `snaps` (`edges`: their wait-for graph;
    /// `on_cycle`: the threads on a cycle, reported as deadlocks), timed at
    /// `now` (`wall`: the same instant's wall clock). A retry loop's thread
    /// found between two tries gets its last try as its wait in `snaps`
    /// (and its row of `edges`). Returns the waits seen, by (thread key,
    /// wait serial).
    pub(super) fn long_waits(
        &mut self,
        snaps: &mut [Snap],
        edges: &mut [Vec<usize>],
        on_cycle: &HashSet<usize>,
        now: u64,
        wall: std::time::SystemTime,
    ) -> HashSet<(u64, u64)> {
        let timeout = super::super::saturating_nanos(self.config.timeout);
        for i in 0..snaps.len() {
            if let Some(w) = between_tries(&snaps[i], now, timeout) {
                snaps[i].wait = Some(w);
                edges[i] = edges_of(snaps, i);
            }
        }
        let (snaps, edges) = (&*snaps, &*edges);
        let key_of = |i: usize| (snaps[i].slot.key, snaps[i].wait.map_or(0, |w| w.serial));
        // Taken before a long wait's report is built (its stacks resolved),
        // dropped once it is queued: the process's exit waits for it.
        let mut building: Option<crate::delivery::Building> = None;
        let grace = u64::from(STACK_GRACE_SCANS)
            .saturating_mul(super::super::saturating_nanos(self.config.scan_period));
        let mut live = HashSet::new();
        for (i, s) in snaps.iter().enumerate() {
            let Some(w) = s.wait else { continue };
            let key = key_of(i);
            live.insert(key);
            if on_cycle.contains(&i) {
                // A wait on a wait-for cycle goes out in the cycle's
                // deadlock report, once the cycle is seen again (next
                // scan): a watchdog that first sees the cycle after the
                // timeout (a loaded machine) must not call it a long wait,
                // and, with the abort action, abort on that.
                continue;
            }
            // A thread's sync wait on a task watchdog DEADLOCK's cycle (a
            // worker thread blocked by its task) was explained there.
            if super::tasks::covered_by_task_deadlock(key.0, key.1) {
                continue;
            }
            // A timed wait of a retry loop (the lock asked again within
            // the timeout of the last try's end) is long once the loop
            // has lasted the timeout, though each try is shorter, and is
            // reported once per loop (found by an outside test: a loop
            // of 300 ms tries against a holder asleep for a minute was
            // never reported).
            let retry = retry_since(s, &w);
            let waited = now.saturating_sub(retry.unwrap_or(w.since));
            if waited <= timeout
                || self.reported_waits.contains(&key)
                || retry.is_some_and(|r| self.reported_retries.contains(&(s.slot.key, r)))
            {
                continue;
            }
            let has_stack = stack_of(&s.slot, w.serial).is_some();
            // Lock waits block in slices and capture their stacks between
            // them; condvar waits and blocking calls do not, nor does a
            // retry loop's thread between two tries.
            let sliced = matches!(w.target, Target::Lock { mode, .. } if mode != WaitMode::Condvar)
                && w.gave_up_at.is_none();
            if sliced && !has_stack && waited <= timeout + grace {
                // Give the waiter a slice to capture its own stack.
                continue;
            }
            self.reported_waits.insert(key);
            if let Some(r) = retry {
                self.reported_retries.insert((s.slot.key, r));
            }
            // The rate limit, before anything is signalled for the report.
            let lock = match w.target {
                Target::Lock {
                    id, class, kind, ..
                } => LockRef::of(id, class, kind).to_string(),
                Target::Resource(what) => format!("`{what}`"),
            };
            if !RATE.lock().admit(Instant::now(), &lock) {
                continue;
            }
            building.get_or_insert_with(crate::delivery::building);
            let mut threads = vec![thread_info(s, now, true, true)];
            let mut idx = vec![i];
            for &j in &edges[i] {
                if j != i {
                    threads.push(thread_info(&snaps[j], now, true, true));
                    idx.push(j);
                }
            }
            if idx.len() == 1 {
                // A wait no thread holds anything for (a notification, a
                // receive, a blocking call): the threads that wait for
                // this one instead, whose locks it holds (a producer
                // that needs one of them before it sends; found by an
                // outside test), for the advice.
                for (j, e) in edges.iter().enumerate() {
                    if j != i && e.contains(&i) {
                        threads.push(thread_info(&snaps[j], now, true, false));
                        idx.push(j);
                    }
                }
            }
            add_blocked_peers(&mut threads, &idx, snaps, edges, on_cycle, now);
            add_waiting_now(&mut threads, snaps);
            add_left_holders(&mut threads[..1], snaps);
            self.emit(WatchdogReport {
                kind: WatchdogKind::LongWait,
                cycle: None,
                other_waiters: other_waiters(snaps, i),
                threads,
                also_deadlocked: Vec::new(),
                pid: std::process::id(),
                order: None,
                action: self.config.action,
                reported_at: wall,
            });
        }
        live
    }
}

/// How many threads of `snaps` besides `i` wait for what `snaps[i]` waits
/// for (the same lock, condvar or queue; a retry loop's thread between two
/// tries counts): the crowd a long wait is one of (found by an outside
/// test: the first report of a lock sixty threads waited for said nothing
/// of the other fifty-nine; the rate limit holds back their reports).
fn other_waiters(snaps: &[Snap], i: usize) -> usize {
    let Some(Target::Lock { id, .. }) = snaps[i].wait.map(|w| w.target) else {
        return 0;
    };
    (snaps.iter().enumerate())
        .filter(|&(j, o)| {
            j != i
                && matches!(o.wait.map(|w| w.target), Some(Target::Lock { id: x, .. }) if x == id)
        })
        .count()
}
