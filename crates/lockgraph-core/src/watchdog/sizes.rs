//! What a report says of a pipeline resource's size: a barrier's party
//! count and the parties waiting at it now, a semaphore's permits (from
//! the side table the resource fills when it blocks, `crate::capacity`),
//! a bounded queue's bound (from its probe, `peers.rs`); and the advice of
//! a barrier wait that no other party is on its way to.

use super::*;

/// The size of the resource `target` waits for, as far as the watchdog
/// knows it: a barrier's parties, a semaphore's permits, a queue's bound
/// (`queue`: its probe's state).
pub(super) fn capacity_of(target: Target, queue: Option<QueueState>) -> Option<usize> {
    match target {
        Target::Lock {
            id,
            kind: LockKind::Barrier | LockKind::Semaphore,
            ..
        } => crate::capacity::get(id),
        Target::Lock {
            kind: LockKind::Queue,
            ..
        } => queue.and_then(|q| q.bound),
        _ => None,
    }
}

/// Fills in, for each thread of `threads` that waits at a barrier, which
/// threads of `snaps` (every thread the watchdog sees) wait at it now (by
/// name, sorted), and which parties of its last completed round have
/// exited.
pub(super) fn add_waiting_now(threads: &mut [ThreadInfo], snaps: &[Snap]) {
    let at = |id: u64| {
        let mut names: Vec<String> = (snaps.iter())
            .filter(|s| {
                matches!(
                    s.wait.map(|w| w.target),
                    Some(Target::Lock { id: i, mode: WaitMode::Barrier, .. }) if i == id
                )
            })
            .map(|s| s.slot.name.clone())
            .collect();
        names.sort();
        names
    };
    for t in threads {
        if let Some(w) = t
            .waiting
            .as_mut()
            .filter(|w| w.mode == Some(WaitMode::Barrier))
        {
            let names = at(w.lock.id);
            w.waiting_now = Some(names.len());
            w.waiting_parties = names;
            w.exited_parties = super::parties::exited(w.lock.id);
        }
    }
}

/// `1 party`, `4 parties`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The size a wait's words add in parentheses (`WaitInfo::what`, the task
/// watchdog's `TaskWait::what`): `4 parties; 3 waiting now` for a barrier
/// wait (`waiting_now`: the parties waiting at it, where known), `2
/// permits` for an acquire; `None` where `capacity` is unknown, and for a
/// queue (its fill level's line says its bound: [`fill_line`]).
pub(crate) fn size_words(
    mode: Option<WaitMode>,
    capacity: Option<usize>,
    waiting_now: Option<usize>,
) -> Option<String> {
    let n = capacity?;
    match mode? {
        WaitMode::Barrier => Some(match waiting_now {
            Some(w) => format!("{}; {w} waiting now", count(n, "party", "parties")),
            None => count(n, "party", "parties"),
        }),
        WaitMode::Permit => Some(count(n, "permit", "permits")),
        _ => None,
    }
}

impl WaitInfo {
    /// `this thread is`, or `these 3 threads (`a`, `b` and `c`) are`: the
    /// `w` parties waiting, by name where the watchdog saw them all (a
    /// short barrier's waiters are each reported, and no report named the
    /// others; found by an outside test).
    fn these_threads(&self, w: usize) -> String {
        if w == 1 {
            return "this thread is".to_string();
        }
        if self.waiting_parties.len() != w {
            return format!("these {w} threads are");
        }
        let names: Vec<String> = self
            .waiting_parties
            .iter()
            .map(|t| format!("`{t}`"))
            .collect();
        format!("these {w} threads ({}) are", and_list(&names))
    }

    /// A barrier wait's advice when no other party is on its way to it: how
    /// many of its parties wait, and what to look for.
    pub(super) fn lone_party_advice(&self) -> String {
        const SEEN: &str = "(no thread the watchdog sees has passed it and not waited again)";
        const WHY: &str = "(exited, panicked, or blocked before its first wait)";
        match (self.capacity, self.waiting_now) {
            // Parties of the last round that exited, no more than are
            // missing (more: the round was another set of threads').
            (Some(n), Some(w))
                if w < n
                    && !self.exited_parties.is_empty()
                    && self.exited_parties.len() <= n - w =>
            {
                let gone = &self.exited_parties;
                let named = and_list(
                    &gone.iter().map(|t| format!("thread `{t}`")).collect::<Vec<_>>(),
                );
                format!(
                    "what to do: {w} of the {n} parties of {} wait at it and no other is on its way to it {SEEN}: {named}, {} of its last round, {} exited (a panic, or a return before the wait) and will never arrive: find why, or, if {} all that should wait on it, make its party count {w}",
                    self.lock,
                    if gone.len() == 1 { "a party" } else { "parties" },
                    if gone.len() == 1 { "has" } else { "have" },
                    self.these_threads(w),
                )
            }
            (Some(n), Some(w)) if w < n => format!(
                "what to do: {w} of the {n} parties of {} wait at it and no other is on its way to it {SEEN}: find the {} that never arrived {WHY}, or, if {} all that should wait on it, make its party count {w}",
                self.lock,
                if n - w == 1 { "party".to_string() } else { format!("{} parties", n - w) },
                self.these_threads(w),
            ),
            (Some(n), _) => format!(
                "what to do: no other party of {} is on its way to it {SEEN}: check its party count ({n}) against the threads that wait on it, or find the party that never arrived {WHY}",
                self.lock
            ),
            (None, _) => format!(
                "what to do: no other party of {} is on its way to it {SEEN}: check its party count against the threads that wait on it, or find the party that never arrived {WHY}",
                self.lock
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    /// A wait in `mode` for `name`, a resource of `kind` of `capacity`.
    fn wait(
        kind: LockKind,
        name: &'static str,
        mode: WaitMode,
        capacity: Option<usize>,
    ) -> WaitInfo {
        WaitInfo {
            lock: LockRef {
                kind,
                id: 9,
                name: Some(name),
                created: None,
                resource: false,
            },
            request: None,
            mode: Some(mode),
            limit: None,
            retrying: None,
            this_try: None,
            between_tries: None,
            site: None,
            waited: Duration::from_secs(3),
            stack: Vec::new(),
            stack_unresolved: false,
            deadlocked: false,
            queue: None,
            blocked_peers: Vec::new(),
            no_consumer: false,
            capacity,
            waiting_now: None,
            exited_parties: Vec::new(),
            waiting_parties: Vec::new(),
            left_by: None,
        }
    }

    /// A long wait's report of a thread waiting as `w`, holding nothing.
    fn long_wait(w: WaitInfo) -> WatchdogReport {
        WatchdogReport {
            kind: WatchdogKind::LongWait,
            cycle: None,
            threads: vec![ThreadInfo {
                name: "party-1".into(),
                tid: 7,
                waiting: Some(w),
                held: Vec::new(),
                now: None,
                stack_now: None,
                spans: Vec::new(),
            }],
            also_deadlocked: Vec::new(),
            other_waiters: 0,
            pid: 42,
            order: None,
            action: Action::Report,
            reported_at: UNIX_EPOCH + Duration::from_secs(1_796_413_102),
        }
    }

    #[test]
    fn a_barrier_wait_says_its_parties_and_who_waits_at_it() {
        let mut w = wait(LockKind::Barrier, "sync", WaitMode::Barrier, Some(4));
        w.waiting_now = Some(3);
        assert_eq!(
            w.what(),
            "the other parties of Barrier `sync` (4 parties; 3 waiting now)"
        );
        let r = long_wait(w);
        assert_eq!(
            r.advice(),
            "what to do: 3 of the 4 parties of Barrier `sync` wait at it and no other is on its way to it (no thread the watchdog sees has passed it and not waited again): find the party that never arrived (exited, panicked, or blocked before its first wait), or, if these 3 threads are all that should wait on it, make its party count 3"
        );
        assert!(r.headline().contains("has waited 3.000s for the other parties of Barrier `sync` (4 parties; 3 waiting now) (pid 42)"), "{}", r.headline());
        // Two short, one waiting; the count unknown (a peer's line): as before.
        let mut w = wait(LockKind::Barrier, "sync", WaitMode::Barrier, Some(3));
        w.waiting_now = Some(1);
        assert!(long_wait(w).advice().contains("find the 2 parties that never arrived (exited, panicked, or blocked before its first wait), or, if this thread is all that should wait on it, make its party count 1"));
        let w = wait(LockKind::Barrier, "sync", WaitMode::Barrier, None);
        assert_eq!(w.what(), "the other parties of Barrier `sync`");
        assert!(long_wait(w)
            .advice()
            .contains(": check its party count against the threads that wait on it"));
    }

    /// A party of the last round whose thread exited is named (the advice
    /// said "find the party that never arrived" although the watchdog had
    /// seen it as a party; found by an outside test); more exited parties
    /// than are missing (another set of threads' round) are not.
    #[test]
    fn a_barrier_wait_names_a_party_of_the_last_round_that_exited() {
        let mut w = wait(LockKind::Barrier, "sync", WaitMode::Barrier, Some(4));
        w.waiting_now = Some(3);
        w.exited_parties = vec!["dp-rank-3".into()];
        assert_eq!(
            long_wait(w.clone()).advice(),
            "what to do: 3 of the 4 parties of Barrier `sync` wait at it and no other is on its way to it (no thread the watchdog sees has passed it and not waited again): thread `dp-rank-3`, a party of its last round, has exited (a panic, or a return before the wait) and will never arrive: find why, or, if these 3 threads are all that should wait on it, make its party count 3"
        );
        w.waiting_now = Some(2);
        w.exited_parties = vec!["a".into(), "b".into()];
        // The waiting parties by name, when the watchdog saw them all.
        w.waiting_parties = vec!["c".into(), "d".into()];
        assert!(
            long_wait(w.clone())
                .advice()
                .ends_with("if these 2 threads (`c` and `d`) are all that should wait on it, make its party count 2"),
            "{}",
            long_wait(w.clone()).advice()
        );
        assert!(
            long_wait(w.clone())
                .advice()
                .contains(": thread `a` and thread `b`, parties of its last round, have exited"),
            "{}",
            long_wait(w.clone()).advice()
        );
        w.exited_parties = vec!["a".into(), "b".into(), "c".into()];
        assert!(long_wait(w)
            .advice()
            .contains("find the 2 parties that never arrived"));
    }

    #[test]
    fn an_acquire_says_the_semaphores_permits_and_a_send_its_fill_line() {
        let w = wait(LockKind::Semaphore, "gpu", WaitMode::Permit, Some(2));
        assert_eq!(w.what(), "a permit of Semaphore `gpu` (2 permits)");
        let w = wait(LockKind::Semaphore, "gpu", WaitMode::Permit, Some(1));
        assert_eq!(w.what(), "a permit of Semaphore `gpu` (1 permit)");
        // A queue's bound is in its fill level's line (`full: 8 of 8`).
        let w = wait(LockKind::Queue, "jobs", WaitMode::Send, Some(8));
        assert_eq!(
            w.what(),
            "space in Queue `jobs` (a send into the full queue)"
        );
    }
}
