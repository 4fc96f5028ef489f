//! The watchdog thread: scans, cycles seen twice, long waits, and reports
//! delivered (or written, or aborted on); and [`dump`].

use super::*;

mod long_waits;

/// How many scans a report waits for its waiters to capture their own stacks
/// before it goes out without them.
pub(super) const STACK_GRACE_SCANS: u32 = 10;

/// Every thread's held locks and waits, like `jstack` for lockgraph's locks.
/// Threads publish their state only while the watchdog is on. Each thread
/// that holds a lock without waiting also gets its current stack
/// ([`ThreadInfo::stack_now`]): on Linux that signals it (one at a time, up
/// to 200 ms each), so do not call this in a tight loop.
pub fn dump() -> Dump {
    // Every hold and wait is timed to the copy (as a scan times them):
    // the clock read after it, once, whatever the entries' current stacks
    // then take to capture and resolve.
    let snaps = snapshot();
    let now = now_ns();
    let taken_at = std::time::SystemTime::now();
    let idx: Vec<usize> = (0..snaps.len())
        .filter(|&i| !snaps[i].held.is_empty() || snaps[i].wait.is_some())
        .collect();
    let mut threads: Vec<ThreadInfo> = idx
        .iter()
        .map(|&i| thread_info(&snaps[i], now, true, true))
        .collect();
    // The verdict, as the watchdog would give it on this copy.
    let edges = wait_for_edges(&snaps);
    let (deadlocks, on_cycle) = super::verdict::dump_deadlocks(&snaps, &edges, now, taken_at);
    add_peers(&mut threads, &idx, &snaps, &edges, &on_cycle, now);
    add_waiting_now(&mut threads, &snaps);
    add_left_holders(&mut threads, &snaps);
    let listed: Vec<u64> = idx.iter().map(|&i| snaps[i].slot.tid).collect();
    let (others, others_left_out) = super::report::other_threads(&listed);
    Dump {
        others,
        others_left_out,
        deadlocks,
        pid: std::process::id(),
        taken_at,
        progress: markers(),
        watching: on(),
        threads,
        tasks: tasks::task_dump(),
    }
}

// ---------------------------------------------------------------------------
// The watchdog thread.

pub(super) struct Watchdog {
    config: Config,
    /// Cycles (as (thread key, wait serial) lists) seen in the last scan.
    last_cycles: HashSet<Vec<(u64, u64)>>,
    reported_cycles: HashSet<Vec<(u64, u64)>>,
    /// Stable cycles held back while their waiters capture their stacks,
    /// with the number of scans they were held back.
    deferred: HashMap<Vec<(u64, u64)>, u32>,
    /// Waits (thread key, serial) already reported, or part of a reported deadlock.
    reported_waits: HashSet<(u64, u64)>,
    /// Waits that a reported deadlock names: its cycle's, and its also
    /// deadlocked threads' (`members.rs`: the other permit holder of a
    /// wait for any of several threads, which is on one cycle per thread;
    /// all are one deadlock).
    in_deadlock: HashSet<(u64, u64)>,
    /// Held while a cycle was seen and not reported yet (seen once, or held
    /// back for its waiters' stacks): the process's exit waits for its
    /// report as for one being built.
    unsettled: Option<crate::delivery::Building>,
    /// Cycles with a timed wait already reported (or refused by the rate
    /// limit), by their holds: (holder's key, lock, hold's start) per edge.
    /// A timed waiter that gives up and asks again makes a new wait, but
    /// while the holds last it is the same hang: reported once.
    reported_timed: HashSet<Vec<(u64, u64, u64)>>,
    /// The holds of the cycles with a timed wait seen in the last scan.
    last_timed: HashSet<Vec<(u64, u64, u64)>>,
    /// When each set of holds of a cycle with a timed wait was first seen
    /// closing one (kept while the holds last, across retries).
    timed_first: HashMap<Vec<(u64, u64, u64)>, u64>,
    /// Retry loops reported as long waits, by (thread key, the loop's
    /// first try): each try is a new wait, the loop one report.
    reported_retries: HashSet<(u64, u64)>,
}

impl Watchdog {
    pub(super) fn new(config: Config) -> Watchdog {
        Watchdog {
            config,
            last_cycles: HashSet::new(),
            reported_cycles: HashSet::new(),
            deferred: HashMap::new(),
            reported_waits: HashSet::new(),
            in_deadlock: HashSet::new(),
            unsettled: None,
            reported_timed: HashSet::new(),
            last_timed: HashSet::new(),
            reported_retries: HashSet::new(),
            timed_first: HashMap::new(),
        }
    }

    pub(super) fn run(mut self) {
        let mut said = false;
        loop {
            std::thread::sleep(self.config.scan_period);
            if DUMP_REQUESTED.swap(false, Ordering::Relaxed) {
                self.answer_dump_request();
            }
            progress::flush_due(progress::WRITE_PERIOD);
            // A bug in a scan must not end the watching: say it once, and
            // scan again.
            let scanned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.scan()));
            if let Err(p) = scanned {
                if !said {
                    said = true;
                    let why = p
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    crate::stderr::line(&format!(
                        "lockgraph watchdog: a scan failed ({why}); the watchdog keeps scanning"
                    ));
                }
            }
        }
    }

    /// SIGUSR2: the dump in the dump directory's file, to each `lockgraph
    /// dump --pid` that asked (`answer`), and on stderr, in that order: once
    /// an asker has its answer the file has the dump too, and once the dump
    /// is on stderr every file is written. A `kill -USR2` by hand leaves no
    /// file in the temporary directory.
    fn answer_dump_request(&self) {
        let d = dump();
        let json = d.to_json();
        if let Some(dir) = &self.config.dump_dir {
            // The markers first, as before a report.
            progress::flush();
            append(dir, &json);
        }
        // Requests made since the signal was sent: a minute, or two scans
        // when those are longer.
        let fresh_for = (self.config.scan_period * 2).max(Duration::from_secs(60));
        super::answer::answer_requests(&json, fresh_for);
        crate::stderr::write(&d.to_string());
    }

    pub(super) fn scan(&mut self) {
        if let Some(text) = RATE.lock().roll(Instant::now()) {
            crate::delivery::send_to(crate::delivery::Notice::warn(text), dispatch());
        }
        let mut snaps = snapshot();
        let now = now_ns();
        // The wall clock of the same instant: a report's "since" is this
        // minus the waits measured at `now` (building the report, which
        // resolves stacks, can take long).
        let wall = std::time::SystemTime::now();
        let mut edges = wait_for_edges(&snaps);
        let key_of = |i: usize| (snaps[i].slot.key, snaps[i].wait.map_or(0, |w| w.serial));
        let timeout = super::saturating_nanos(self.config.timeout);
        let mut cycles_now = HashSet::new();
        let mut timed_young = HashSet::new();
        let mut timed_now = HashSet::new();
        let cycles = find_cycles(&edges, &wait_needs(&snaps));
        let on_cycle: HashSet<usize> = cycles.iter().flatten().copied().collect();
        let stuck = super::members::Stuck::of(&snaps, &edges);
        for mut cycle in cycles {
            // Start at the smallest thread name, so that output is stable.
            let first = (0..cycle.len())
                .min_by_key(|&k| (&snaps[cycle[k]].slot.name, snaps[cycle[k]].slot.key))
                .unwrap_or(0);
            cycle.rotate_left(first);
            let key: Vec<(u64, u64)> = cycle.iter().map(|&i| key_of(i)).collect();
            // The threads it holds besides, listed in its report as its own.
            let also = stuck.also_deadlocked(&snaps, &edges, &cycle);
            // Ask the waiters for their own stacks before the next scan.
            for &i in cycle.iter().chain(&also) {
                if let Some(w) = snaps[i].wait {
                    snaps[i].slot.want_stack.store(w.serial, Ordering::Relaxed);
                }
            }
            // A cycle with a timed wait ends when that wait gives up, unless
            // the waiter asks again while it keeps its own locks: it is a
            // hang once each lock of the cycle has been held for the
            // timeout (a back-off that lets its locks go between tries makes
            // only short cycles, none reported); reported once while those
            // holds last, and under the rate limit.
            let timed = cycle
                .iter()
                .any(|&i| snaps[i].wait.is_some_and(|w| w.limit.is_some()));
            let holds = timed.then(|| cycle_holds(&snaps, &cycle, now));
            let young = holds
                .as_ref()
                .is_some_and(|h| h.is_empty() || h.iter().any(|&(.., age)| age <= timeout));
            let hkey: Option<Vec<(u64, u64, u64)>> = holds
                .as_ref()
                .map(|h| h.iter().map(|&(k, id, since, _)| (k, id, since)).collect());
            // The cycle (by its holds, across retries) must have lasted the
            // timeout too: one short try beside old holds is no hang.
            // (Noted at every sight, young holds or not: noted only once
            // they were old, it reported after twice the timeout.)
            let first = hkey
                .as_ref()
                .map(|h| *self.timed_first.entry(h.clone()).or_insert(now));
            let young = young || first.is_some_and(|f| now.saturating_sub(f) <= timeout);
            if let Some(h) = &hkey {
                timed_now.insert(h.clone());
                if !h.is_empty() && self.reported_timed.contains(h) {
                    // The same hang, reported: settled at once.
                    self.reported_cycles.insert(key.clone());
                    self.reported_waits.extend(key.iter().copied());
                    cycles_now.insert(key);
                    continue;
                }
            }
            if young {
                // Not to be reported at the next scan: the exit need not
                // wait for it.
                timed_young.insert(key.clone());
            }
            let stacks_missing = cycle.iter().chain(&also).any(|&i| {
                let serial = snaps[i].wait.map_or(0, |w| w.serial);
                stack_of(&snaps[i].slot, serial).is_none()
            });
            if stacks_missing && self.last_cycles.contains(&key) {
                // Stable, but a waiter has not captured its stack yet (a loaded
                // machine can delay its wake-up): a few more scans at most.
                let held = self.deferred.entry(key.clone()).or_insert(0);
                *held += 1;
                if *held <= STACK_GRACE_SCANS {
                    cycles_now.insert(key);
                    continue;
                }
            }
            let seen = self.last_cycles.contains(&key)
                || hkey.as_ref().is_some_and(|h| self.last_timed.contains(h));
            let due = seen && !self.reported_cycles.contains(&key);
            if let (Some(hkey), true) = (hkey, due) {
                let held_back = young
                    || !RATE
                        .lock()
                        .admit(Instant::now(), &cycle_locks(&snaps, &cycle));
                if held_back {
                    if !young {
                        // Refused by the rate limit: counted, and settled
                        // as if reported.
                        self.reported_timed.insert(hkey);
                        self.reported_cycles.insert(key.clone());
                        self.reported_waits.extend(key.iter().copied());
                    }
                    cycles_now.insert(key);
                    continue;
                }
                self.reported_timed.insert(hkey);
            }
            if due {
                self.reported_cycles.insert(key.clone());
                self.reported_waits.extend(key.iter().copied());
                // Another cycle of a deadlock already reported (through
                // another consumer of the same full queue, say): that
                // report names every wait of this one.
                let covered = key.iter().all(|k| self.in_deadlock.contains(k));
                self.in_deadlock.extend(key.iter().copied());
                if !covered {
                    // An untimed deadlock's report always goes out (no rate limit).
                    // The exit waits for it: `unsettled` is held since the
                    // last scan saw this cycle unreported.
                    // Said on its own if the report is slow to build.
                    let _headline =
                        early::Headline::watch(&super::verdict::cycle_text(&snaps, &cycle));
                    let mut report = self.deadlock_report(&snaps, &cycle, now, wall);
                    add_blocked_peers(&mut report.threads, &cycle, &snaps, &edges, &on_cycle, now);
                    add_waiting_now(&mut report.threads, &snaps);
                    add_also_deadlocked(&mut report, &also, &snaps, &edges, &on_cycle, now);
                    // Its other threads' cycles (through the other permit
                    // holder, say) are this deadlock: not reported again.
                    self.in_deadlock.extend(also.iter().map(|&j| key_of(j)));
                    self.emit(report);
                }
            }
            cycles_now.insert(key);
        }
        self.last_cycles = cycles_now;
        self.last_timed = timed_now;
        if self
            .last_cycles
            .iter()
            .any(|k| !self.reported_cycles.contains(k) && !timed_young.contains(k))
        {
            self.unsettled.get_or_insert_with(crate::delivery::building);
        } else {
            self.unsettled = None;
        }

        let live = self.long_waits(&mut snaps, &mut edges, &on_cycle, now, wall);
        // Forget waits that ended, and cycles made of them.
        self.reported_waits.retain(|k| live.contains(k));
        self.in_deadlock.retain(|k| live.contains(k));
        self.reported_cycles
            .retain(|c| c.iter().all(|k| live.contains(k)));
        self.deferred
            .retain(|c, _| c.iter().all(|k| live.contains(k)));
        self.timed_first.retain(|h, _| holds_last(&snaps, h));
        // A loop is forgotten once its thread starts another (or ends).
        let loops: HashSet<(u64, u64)> = (snaps.iter())
            .map(|s| (s.slot.key, s.slot.streak.lock().since))
            .collect();
        self.reported_retries.retain(|r| loops.contains(r));
        self.reported_timed.retain(|h| holds_last(&snaps, h));
    }

    pub(super) fn deadlock_report(
        &self,
        snaps: &[Snap],
        cycle: &[usize],
        now: u64,
        wall: std::time::SystemTime,
    ) -> WatchdogReport {
        super::verdict::deadlock_report(snaps, cycle, now, wall, self.config.action)
    }

    /// Writes the report to the dump directory, and delivers it (or aborts).
    pub(super) fn emit(&mut self, report: WatchdogReport) {
        if let Some(dir) = &self.config.dump_dir {
            // The markers first: the report then reads after the last step.
            progress::flush();
            append(dir, &report.to_json());
        }
        crate::policy::emit(report);
    }
}

impl crate::policy::Report for WatchdogReport {
    fn event(&self, text: &str) -> bool {
        crate::delivery::event!(tracing::Level::WARN, kind = ?self.kind, "{text}")
    }

    /// The watchdog's own action decides (`LOCKGRAPH_WATCHDOG_ACTION`,
    /// [`Config::action`]), not the lock-order policy: a hang found is
    /// reported or aborted on, never dropped or panicked on (a panic on the
    /// watchdog thread would help no one).
    fn disposal(&self, _policy: crate::policy::OnCycle) -> crate::policy::Disposal {
        match config().action {
            Action::Abort => crate::policy::Disposal::Abort("watchdog action abort"),
            Action::Report => crate::policy::Disposal::Deliver,
        }
    }

    /// The subscriber current when the watchdog started.
    fn dispatch(&self) -> tracing::Dispatch {
        dispatch()
    }
}

/// For each edge of `cycle` (waiter `i`, then the thread that keeps it
/// out): the holder's key, the lock, when its hold started and its age at
/// `now`; for an untimed wait on no lock held there (a resource, a reader
/// queued behind a waiting writer), the waiter's key, 0 and its wait's
/// start and age. A timed wait on no hold is left out: each retry is a new
/// wait, and the holds of the other edges say how long the cycle lasts.
fn cycle_holds(snaps: &[Snap], cycle: &[usize], now: u64) -> Vec<(u64, u64, u64, u64)> {
    (0..cycle.len())
        .filter_map(|k| {
            let (i, j) = (cycle[k], cycle[(k + 1) % cycle.len()]);
            let wait = snaps[i].wait;
            let hold = match wait.map(|w| w.target) {
                Some(Target::Lock { id, .. }) => snaps[j]
                    .held
                    .iter()
                    .find(|h| h.id == id)
                    .map(|h| (id, h.since)),
                _ => None,
            };
            match hold {
                Some((id, since)) => {
                    Some((snaps[j].slot.key, id, since, now.saturating_sub(since)))
                }
                // A timed wait on no hold (a reader queued behind a writer):
                // each retry is a new wait; the holds around it say.
                None if wait.is_some_and(|w| w.limit.is_some()) => None,
                None => {
                    let since = wait.map_or(now, |w| w.since);
                    Some((snaps[i].slot.key, 0, since, now.saturating_sub(since)))
                }
            }
        })
        .collect()
}

/// Whether every hold (or wait) of a cycle's [`cycle_holds`] key is still
/// there.
fn holds_last(snaps: &[Snap], holds: &[(u64, u64, u64)]) -> bool {
    holds
        .iter()
        .all(|&(key, id, since)| still_held(snaps, key, id, since))
}

/// Whether the hold (or, for lock 0, the wait) of [`cycle_holds`] is still
/// there.
fn still_held(snaps: &[Snap], key: u64, id: u64, since: u64) -> bool {
    snaps.iter().filter(|s| s.slot.key == key).any(|s| {
        if id == 0 {
            s.wait.is_some_and(|w| w.since == since)
        } else {
            s.held.iter().any(|h| h.id == id && h.since == since)
        }
    })
}

/// The locks a cycle's threads wait for, as the rate limit names them.
fn cycle_locks(snaps: &[Snap], cycle: &[usize]) -> String {
    let mut locks: Vec<String> = Vec::new();
    for &i in cycle {
        if let Some(WaitView {
            target: Target::Lock {
                id, class, kind, ..
            },
            ..
        }) = snaps[i].wait
        {
            let l = LockRef::of(id, class, kind).to_string();
            if !locks.contains(&l) {
                locks.push(l);
            }
        }
    }
    locks.join(" and ")
}
