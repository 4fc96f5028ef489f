//! The task watchdog's report in words, in the thread watchdog's format
//! (docs/watchdog.md, "Reading a report"): a first line that says what
//! happened, in which process, since when and what the watchdog did (the
//! JSON record's `summary` too: one function makes both), the waits, the
//! async backtraces, a last line that says what to do (the JSON record's
//! `advice`), and the thread watchdog's end marker. Locks are named as
//! the thread watchdog names them (`crate::watchdog::LockRef`), and the
//! advice of a deadlock is worded by the functions the thread watchdog's
//! is (`crate::watchdog::advice`), decided alike from the waits' data.

use std::fmt;
use std::time::{Duration, SystemTime};

use super::watch::{TaskDeadlock, TaskWait};
use crate::watchdog::{advice, and_list, opt_site, utc, waits_for, WaitMode, ABORTS, REPORT_END};

impl TaskDeadlock {
    /// When what the report is about began: a deadlock when the last of
    /// its waits began, a long wait when it began.
    pub fn since(&self) -> SystemTime {
        let waited = (self.cycle.iter())
            .map(|w| w.waited)
            .min()
            .unwrap_or(Duration::ZERO);
        (self.reported_at.checked_sub(waited)).unwrap_or(self.reported_at)
    }

    pub(super) fn abort(&self) -> bool {
        crate::watchdog::config().action == crate::watchdog::Action::Abort
    }

    /// What the watchdog did: `reported only; the task still waits` ...
    fn done(&self) -> &'static str {
        let task = self
            .cycle
            .first()
            .is_some_and(|w| w.owner.starts_with("task "));
        match (self.abort(), self.deadlock) {
            (true, _) => ABORTS,
            (false, true) if self.cycle.len() == 1 => {
                "reported only; the process is still hung (this wait never ends)"
            }
            (false, true) => "reported only; the process is still hung (these waits never end)",
            // Owners are named `task 3 ...` or `thread `t` ...`.
            (false, false) if task => "reported only; the task still waits",
            (false, false) => "reported only; the thread still waits",
        }
    }

    /// The first line, on stderr and as the JSON record's `summary`: what
    /// waits for what, in which process, since when, and what the
    /// watchdog did.
    pub fn headline(&self) -> String {
        let pid = std::process::id();
        let since = utc(self.since());
        let done = self.done();
        match self.cycle.as_slice() {
            [w] if self.deadlock => format!(
                "lockgraph task watchdog: DEADLOCK: {} waits for itself on {} (pid {pid}), since {since}; {done}",
                w.owner, w.lock
            ),
            [w] => format!(
                "lockgraph task watchdog: LONG WAIT: {} has waited {:.3?} for {} (pid {pid}), since {since}; {done}",
                w.owner,
                w.waited,
                w.what()
            ),
            all => {
                let mut locks: Vec<String> = Vec::new();
                for w in all {
                    if !locks.contains(&w.lock) {
                        locks.push(w.lock.clone());
                    }
                }
                format!(
                    "lockgraph task watchdog: DEADLOCK: {} tasks or threads wait for each other on {} (pid {pid}), since {since}; {done}",
                    all.len(),
                    and_list(&locks)
                )
            }
        }
    }

    /// A deadlock's cycle as `owner -> lock -> next owner -> ... -> owner`.
    pub(super) fn cycle_text(&self) -> Option<String> {
        let first = self.cycle.first().filter(|_| self.deadlock)?;
        let mut s = String::new();
        for w in &self.cycle {
            s.push_str(&format!("{} -> {} -> ", w.owner, w.lock));
        }
        s.push_str(&first.owner);
        Some(s)
    }

    /// The last line: what to do (the lock order to adopt and who breaks
    /// it, the hold to shorten), as the thread watchdog's.
    pub fn advice(&self) -> String {
        if self.deadlock {
            deadlock_advice(&self.cycle)
        } else {
            long_wait_advice(self.cycle.first())
        }
    }
}

impl TaskWait {
    /// What it waits for, worded as the thread watchdog words it
    /// (`crate::watchdog::waits_for`: `space in Queue `jobs` (a send into
    /// the full queue)`, `a permit of AsyncSemaphore `gpu``), and
    /// ` (read)` for a read; its lock's name where its mode is unknown.
    pub fn what(&self) -> String {
        let Some(mode) = self.mode else {
            return self.lock.clone();
        };
        let read = match mode {
            WaitMode::Read | WaitMode::RecursiveRead => " (read)",
            _ => "",
        };
        format!("{}{read}", waits_for(&self.lock_ref, Some(mode)))
    }
}

/// Where `w` asked.
fn asked_at(w: &TaskWait) -> String {
    opt_site(&w.asked_at)
}

/// Where `w`'s owner took lock `id`, if it holds it.
fn held_at(w: &TaskWait, id: u64) -> Option<String> {
    let i = w.hold_ids.iter().position(|&h| h == id && id != 0)?;
    Some(opt_site(&w.holds.get(i)?.1))
}

/// A deadlock's advice, decided as the thread watchdog decides its own
/// (`watchdog/words.rs`): each wait `k` is for a lock the owner of wait
/// `k + 1` holds, so owner `k` holds the lock of wait `k - 1`.
fn deadlock_advice(ws: &[TaskWait]) -> String {
    let n = ws.len();
    if n == 0 {
        return "what to do: break the cycle above: one of its tasks or threads must release what it holds before it waits".into();
    }
    // An owner waiting for a lock it holds itself (alone, or a second read
    // queued behind a write that waits for its first).
    let own = |k: usize| held_at(&ws[k], ws[k].lock_ref.id);
    let again = if n == 1 {
        Some((0, own(0)))
    } else {
        (0..n).find_map(|k| own(k).map(|at| (k, Some(at))))
    };
    if let Some((k, at)) = again {
        let w = &ws[k];
        return match w.lock_ref.kind {
            // A consumer sending into its own full queue, an owner asking
            // for permits it holds: no guard to drop (found by a review).
            crate::class::LockKind::Queue => {
                advice::self_send(&w.owner, &w.lock, &asked_at(w), at.as_deref(), "task")
            }
            crate::class::LockKind::AsyncSemaphore => {
                advice::self_permit(&w.owner, &w.lock, &asked_at(w), at.as_deref())
            }
            _ => advice::ask_again(&w.owner, &w.lock, &asked_at(w), at.as_deref(), ""),
        };
    }
    // A cycle through a role (a queue's consumer): no lock order to adopt;
    // the one that holds a lock while it asks releases it.
    let before = |k: usize| &ws[(k + n - 1) % n].lock_ref;
    let role = |k: usize| before(k).kind.is_role();
    if (0..n).all(role) {
        return advice::roles_only("task or thread");
    }
    if (0..n).any(role) {
        let k = (0..n).find(|&k| !role(k)).unwrap_or(0);
        let w = &ws[k];
        let first = if w.lock_ref.kind.is_role() {
            String::new()
        } else {
            format!(", or take {} first", w.lock_ref)
        };
        return advice::release_before(
            &w.owner,
            &w.lock,
            &asked_at(w),
            &before(k).to_string(),
            held_at(w, before(k).id).as_deref(),
            &first,
        );
    }
    let ids: Vec<u64> = ws.iter().map(|w| w.lock_ref.id).collect();
    let distinct =
        ids.iter().all(|&id| id != 0) && (0..n).all(|i| ids[i + 1..].iter().all(|&j| j != ids[i]));
    // Locks of one class: their names say no order.
    let label = ws[0].lock_ref.to_string();
    if distinct && ws.iter().all(|w| w.lock_ref.to_string() == label) {
        return advice::one_class(n, &label);
    }
    let (w0, last) = (&ws[0], &ws[n - 1].lock_ref);
    let at = held_at(w0, last.id);
    if !distinct {
        let holding = at
            .as_ref()
            .map_or_else(|| "its locks".to_string(), |_| last.to_string());
        return advice::release_or_order(
            &w0.owner,
            &w0.lock,
            &asked_at(w0),
            &holding,
            at.as_deref(),
        );
    }
    let order: Vec<String> = ws.iter().map(|w| w.lock_ref.to_string()).collect();
    advice::adopt_order(
        &order,
        &w0.owner,
        &w0.lock_ref.to_string(),
        &asked_at(w0),
        &last.to_string(),
        at.as_deref(),
    )
}

/// A long wait's advice: the holds to shorten (where they were taken), the
/// write a read is queued behind, a queue's consumer, or that no tracked
/// owner holds the lock.
fn long_wait_advice(w: Option<&TaskWait>) -> String {
    let Some(w) = w else {
        return "what to do: nothing is known of the wait".into();
    };
    let lock = &w.lock_ref;
    let holders = |by: &[(String, Option<crate::class::Site>)]| -> String {
        let each: Vec<String> = (by.iter())
            .map(|(o, s)| format!("{o} (taken at {})", opt_site(s)))
            .collect();
        and_list(&each)
    };
    if let Some((o, s)) = &w.queued_behind {
        let at = s.map_or_else(String::new, |s| format!(" (asked at {s})"));
        let them = if w.held_by.is_empty() {
            "its holders".to_string()
        } else {
            holders(&w.held_by)
        };
        return format!(
            "what to do: this read of {lock} is queued behind the write {o} asked for before it{at} (tokio's RwLock is fair), and that write waits for {them}: shorten their holds (a long await under the lock, or a wait of their own), or do not read the lock again while holding it"
        );
    }
    if lock.kind == crate::class::LockKind::Queue {
        return if w.held_by.is_empty() {
            // A receive, or a send into a full queue before its consumer's
            // first receive (the consumer holds the queue from then on):
            // the wait does not say which (found by a review).
            format!(
                "what to do: no task or thread has sent on {lock}, or received from it, for {:.1?}: a receive waits for any Sender to send (if the producers are done, drop every Sender so that the receive ends); a send into the full queue waits for its consumer's first receive (find why it has not started)",
                w.waited
            )
        } else {
            format!(
                "what to do: {lock} is full and its consumer, {}, has not received for {:.1?}: find why it does not (it waits for something else, or is slower than its producers)",
                holders(&w.held_by),
                w.waited
            )
        };
    }
    match w.held_by.as_slice() {
        [] => format!(
            "what to do: find who holds {lock}: no tracked task or thread holds it (an owned guard or permit, from `lock_owned`, `acquire_owned`, ..., wherever it went; or untracked code); `lockgraph::dump()` lists every task's async locks"
        ),
        by => format!(
            "what to do: shorten the hold of {lock} by {}: look at what {} while {} the lock (a long await, or a wait of {} own): move that out of the critical section, or find why it does not end",
            holders(by),
            if by.len() == 1 { "it does" } else { "they do" },
            if by.len() == 1 { "it holds" } else { "they hold" },
            if by.len() == 1 { "its" } else { "their" },
        ),
    }
}

impl fmt::Display for TaskDeadlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.headline())?;
        if let Some(c) = self.cycle_text() {
            writeln!(f, "  cycle: {c}")?;
        }
        for w in &self.cycle {
            writeln!(f, "  {}", w.owner)?;
            match &w.asked_at {
                Some(s) => writeln!(
                    f,
                    "    waits {:.1?} for {} (asked at {s})",
                    w.waited,
                    w.what()
                )?,
                None => writeln!(f, "    waits {:.1?} for {}", w.waited, w.what())?,
            }
            for (l, s) in &w.holds {
                match s {
                    Some(s) => writeln!(f, "    holds {l} (taken at {s})")?,
                    None => writeln!(f, "    holds {l}")?,
                }
            }
            if w.held_by.is_empty() {
                writeln!(
                    f,
                    "    the lock it waits for is held by no tracked task or thread (an owned guard or permit, from `lock_owned`, `acquire_owned`, ...: no task's hold, wherever it went; or untracked code)"
                )?;
            }
            for (o, s) in &w.held_by {
                match s {
                    Some(s) => writeln!(f, "    held by {o} (taken at {s})")?,
                    None => writeln!(f, "    held by {o}")?,
                }
            }
            if let Some((o, s)) = &w.queued_behind {
                let at = s.as_ref().map_or_else(String::new, |s| format!(" at {s}"));
                writeln!(
                    f,
                    "    queued behind a write of the same lock by {o}, asked before this read{at}: tokio's RwLock is fair, so this read waits for that write, and the write for the holders"
                )?;
            }
        }
        match &self.backtraces {
            Err(why) => writeln!(f, "  async backtraces: not available ({why})")?,
            Ok(traces) => {
                writeln!(f, "  async backtraces (tokio's task dump):")?;
                for (task, trace) in traces {
                    writeln!(f, "    {task}:")?;
                    for line in trace.lines() {
                        writeln!(f, "      {line}")?;
                    }
                }
            }
        }
        writeln!(f, "{}", self.advice())?;
        writeln!(f, "{REPORT_END}")
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::class::{Class, LockKind, Site};
    use crate::watchdog::LockRef;

    fn site(line: u32) -> Option<Site> {
        Some(Site {
            file: "src/app.rs",
            line,
            column: 9,
        })
    }

    fn mutex((name, id): (&'static str, u64)) -> LockRef {
        LockRef::of(id, Class::Named(name), LockKind::AsyncMutex)
    }

    /// `owner` waits 300 ms for AsyncMutex `lock` (asked at line 10),
    /// holding `holds` (taken at line 9), the lock held by `held_by`.
    pub(crate) fn wait(
        owner: &str,
        lock: (&'static str, u64),
        holds: &[(&'static str, u64)],
        held_by: &str,
    ) -> TaskWait {
        TaskWait {
            owner: owner.into(),
            lock: mutex(lock).to_string(),
            lock_ref: mutex(lock),
            mode: Some(WaitMode::Lock),
            asked_at: site(10),
            waited: Duration::from_millis(300),
            holds: holds
                .iter()
                .map(|&l| (mutex(l).to_string(), site(9)))
                .collect(),
            hold_ids: holds.iter().map(|&(_, id)| id).collect(),
            held_by: vec![(held_by.into(), None)],
            queued_behind: None,
        }
    }

    /// A report of `cycle`, made at 2026-12-04 19:38:22 UTC.
    pub(crate) fn report(deadlock: bool, cycle: Vec<TaskWait>) -> TaskDeadlock {
        TaskDeadlock {
            cycle,
            deadlock,
            backtraces: Err("none".into()),
            reported_at: UNIX_EPOCH + Duration::from_secs(1_796_413_102),
        }
    }

    fn pid() -> u32 {
        std::process::id()
    }

    /// One owner waiting for itself is said so (it read "between 1 tasks
    /// or threads"), with the process, since when and what was done, and
    /// the advice is to drop the first guard.
    #[test]
    fn a_deadlock_of_one_owner_waits_for_itself() {
        let one = report(
            true,
            vec![wait(
                "task 3 \"reader\"",
                ("t", 4),
                &[("t", 4)],
                "task 3 \"reader\"",
            )],
        );
        assert_eq!(
            one.headline(),
            format!(
                "lockgraph task watchdog: DEADLOCK: task 3 \"reader\" waits for itself on AsyncMutex `t` (pid {}), since 2026-12-04 19:38:21 UTC; reported only; the process is still hung (this wait never ends)",
                pid()
            )
        );
        assert_eq!(
            one.advice(),
            "what to do: task 3 \"reader\" asks for AsyncMutex `t` at src/app.rs:10:9 while it already holds it (taken at src/app.rs:9:9): drop the first guard before asking again"
        );
    }

    /// A consumer task sending into its own full queue, and a task asking
    /// for permits it holds: no guard to drop (found by a review); a long
    /// wait on a queue nobody holds names both sides it can be.
    #[test]
    fn self_waits_on_a_queue_or_permits_and_an_unheld_queue_get_advice_that_fits() {
        let mut w = wait(
            "task 5 \"stage\"",
            ("q", 7),
            &[("q", 7)],
            "task 5 \"stage\"",
        );
        w.lock_ref = LockRef::of(7, Class::Named("q"), LockKind::Queue);
        w.lock = w.lock_ref.to_string();
        w.holds = vec![(w.lock.clone(), site(9))];
        let r = report(true, vec![w.clone()]);
        assert_eq!(
            r.advice(),
            "what to do: task 5 \"stage\" sends into Queue `q` at src/app.rs:10:9 while the queue is full and it is a consumer of the queue (it received from it at src/app.rs:9:9): it waits for itself to receive; receive before sending, send from another task, or use `try_send` (or an unbounded queue)"
        );
        let mut p = w.clone();
        p.lock_ref = LockRef::of(7, Class::Named("slots"), LockKind::AsyncSemaphore);
        p.lock = p.lock_ref.to_string();
        let r = report(true, vec![p]);
        assert!(
            r.advice().contains("while it holds the permits it waits for (one taken at src/app.rs:9:9): release one before asking again"),
            "{}",
            r.advice()
        );
        let mut idle = w;
        idle.holds.clear();
        idle.hold_ids.clear();
        idle.held_by.clear();
        let r = report(false, vec![idle]);
        assert!(
            r.advice().starts_with("what to do: no task or thread has sent on Queue `q`, or received from it, for 300.0ms"),
            "{}",
            r.advice()
        );
    }

    /// A wait's line says what it waits for as the thread watchdog's
    /// does (it said "waits for Queue `q`" for a send into the full queue,
    /// where the thread watchdog says "space in Queue `q` (a send into the
    /// full queue)"; found by a review).
    #[test]
    fn a_waits_line_words_its_operation_as_the_thread_watchdogs() {
        let mut w = wait(
            "task 5 \"stage\"",
            ("q", 7),
            &[("q", 7)],
            "task 5 \"stage\"",
        );
        w.lock_ref = LockRef::of(7, Class::Named("q"), LockKind::Queue);
        w.lock = w.lock_ref.to_string();
        w.mode = Some(WaitMode::Send);
        let text = report(true, vec![w.clone()]).to_string();
        assert!(
            text.contains("    waits 300.0ms for space in Queue `q` (a send into the full queue) (asked at src/app.rs:10:9)"),
            "{text}"
        );
        w.mode = Some(WaitMode::Recv);
        let r = report(false, vec![w.clone()]);
        assert!(
            r.headline().contains("has waited 300.000ms for an item from Queue `q` (a receive on the empty queue) (pid"),
            "{}",
            r.headline()
        );
        w.lock_ref = LockRef::of(8, Class::Named("slots"), LockKind::AsyncSemaphore);
        w.mode = Some(WaitMode::Permit);
        assert_eq!(w.what(), "a permit of AsyncSemaphore `slots`");
        w.lock_ref = LockRef::of(9, Class::Named("index"), LockKind::AsyncRwLock);
        w.mode = Some(WaitMode::Read);
        assert_eq!(w.what(), "AsyncRwLock `index` (read)");
    }

    /// A deadlock of two tasks: the thread watchdog's first line (pid,
    /// since, action), the cycle, lock names without instance ids, the
    /// async backtraces, then the lock order to adopt and who breaks it
    /// as the last line before the end marker (its first line said only
    /// "DEADLOCK between 2 tasks or threads", locks read `AsyncMutex `a`
    /// (#1)`, and an indented, generic "what to do" came before the
    /// backtraces, with no end marker).
    #[test]
    fn a_deadlock_reads_as_the_thread_watchdogs() {
        let r = report(
            true,
            vec![
                wait("task 7", ("a", 1), &[("b", 2)], "task 5"),
                wait("task 5", ("b", 2), &[("a", 1)], "task 7"),
            ],
        );
        let text = r.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            format!(
                "lockgraph task watchdog: DEADLOCK: 2 tasks or threads wait for each other on AsyncMutex `a` and AsyncMutex `b` (pid {}), since 2026-12-04 19:38:21 UTC; reported only; the process is still hung (these waits never end)",
                pid()
            )
        );
        assert_eq!(
            lines[1],
            "  cycle: task 7 -> AsyncMutex `a` -> task 5 -> AsyncMutex `b` -> task 7"
        );
        assert_eq!(
            lines[lines.len() - 3],
            "  async backtraces: not available (none)"
        );
        assert_eq!(
            lines[lines.len() - 2],
            "what to do: adopt one lock order everywhere, AsyncMutex `a` before AsyncMutex `b`; task 7 breaks it: it asks for AsyncMutex `a` at src/app.rs:10:9 while holding AsyncMutex `b` (taken at src/app.rs:9:9): release it before that call, or take AsyncMutex `a` first"
        );
        assert_eq!(r.advice(), lines[lines.len() - 2]);
        assert!(
            text.ends_with("\n-- end of lockgraph watchdog report --\n"),
            "{text}"
        );
        assert!(!text.contains("(#"), "{text}");
    }

    /// A long wait's first line says who waited how long for what, in
    /// which process, since when, and that it still waits (it read "a task
    /// waits longer than the timeout"); its advice names the hold to
    /// shorten.
    #[test]
    fn a_long_wait_says_who_waits_since_when_and_whose_hold_to_shorten() {
        let mut w = wait("task 3", ("token_cache", 1), &[], "task 4");
        w.held_by = vec![("task 4".into(), site(40))];
        w.waited = Duration::from_secs(2);
        let r = report(false, vec![w.clone()]);
        let text = r.to_string();
        assert_eq!(
            text.lines().next(),
            Some(
                format!(
                    "lockgraph task watchdog: LONG WAIT: task 3 has waited 2.000s for AsyncMutex `token_cache` (pid {}), since 2026-12-04 19:38:20 UTC; reported only; the task still waits",
                    pid()
                )
                .as_str()
            )
        );
        let advice = "what to do: shorten the hold of AsyncMutex `token_cache` by task 4 (taken at src/app.rs:40:9): look at what it does while it holds the lock (a long await, or a wait of its own): move that out of the critical section, or find why it does not end";
        assert_eq!(r.advice(), advice);
        assert!(
            text.ends_with(&format!(
                "  async backtraces: not available (none)\n{advice}\n-- end of lockgraph watchdog report --\n"
            )),
            "{text}"
        );
        // A thread outside any task waits in `blocking_lock`.
        w.owner = "thread `plain` (outside any task)".into();
        let r = report(false, vec![w]);
        assert!(
            r.headline()
                .ends_with("; reported only; the thread still waits"),
            "{}",
            r.headline()
        );
    }

    /// Locks are named as the thread watchdog names them: a name alone,
    /// else the creation site, never the instance id beside them.
    #[test]
    fn locks_are_named_without_instance_ids() {
        use crate::task::sets::lock_text;
        let class = Class::here();
        let at = class.site().unwrap();
        assert_eq!(
            lock_text(LockKind::AsyncMutex, Class::Named("sessions"), 1),
            "AsyncMutex `sessions`"
        );
        assert_eq!(
            lock_text(LockKind::Mutex, Class::Named("metrics"), 1025),
            "Mutex `metrics`"
        );
        assert_eq!(
            lock_text(LockKind::AsyncRwLock, class, 3),
            format!("AsyncRwLock created at {at}")
        );
        assert_eq!(
            lock_text(LockKind::AsyncMutex, Class::Anonymous, 9),
            "AsyncMutex #9"
        );
    }
}
