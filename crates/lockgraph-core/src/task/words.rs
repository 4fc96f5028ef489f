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
use crate::watchdog::{
    advice, and_list, fill_line, opt_site, utc, waits_for_sized, WaitMode, ABORTS, REPORT_END,
};

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
    /// the full queue)`, `a permit of AsyncSemaphore `gpu` (3 permits)`),
    /// and ` (read)` for a read; its lock's name where its mode is unknown.
    pub fn what(&self) -> String {
        let Some(mode) = self.mode else {
            return self.lock.clone();
        };
        let read = match mode {
            WaitMode::Read | WaitMode::RecursiveRead => " (read)",
            _ => "",
        };
        let words = waits_for_sized(&self.lock_ref, Some(mode), self.capacity, None);
        format!("{words}{read}")
    }

    /// The line under the wait's, as the thread watchdog's: a bounded
    /// queue's fill level (`Queue `jobs` full: 8 of 8`), where its
    /// capacity is known.
    pub(super) fn fill(&self) -> Option<String> {
        fill_line(&self.lock_ref, self.mode, Some(self.capacity?))
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
            crate::class::LockKind::AsyncSemaphore => format!(
                "{}; if those permits were moved into other tasks (a `static` semaphore's \
                 `acquire()` permit moved into a spawned task), those tasks hold them and this \
                 wait ends when they release them: lockgraph cannot see a move, so take \
                 permits that move with `acquire_owned`, which are no task's holds",
                advice::self_permit(&w.owner, &w.lock, &asked_at(w), at.as_deref())
            ),
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
    if let Some(at) = (w.owner.starts_with("task "))
        .then(|| held_at(w, lock.id))
        .flatten()
    {
        return own_hold_advice(w, &at);
    }
    if lock.kind == crate::class::LockKind::Queue {
        return queue_advice(w, &holders(&w.held_by));
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

/// A task's long wait for a lock (a queue, a semaphore) it holds itself,
/// taken at `at`: the watchdog cannot tell whether the guard is the waiting
/// future's own, a deadlock, or a joined future's, which ends the wait when
/// it goes on (`View::cycle`), so the advice says both.
fn own_hold_advice(w: &TaskWait, at: &str) -> String {
    let lock = &w.lock_ref;
    let asked = asked_at(w);
    let (mine, theirs) = match lock.kind {
        crate::class::LockKind::Queue => (
            "a consumer of the full queue sends into it and never wakes: send from another task, or receive first",
            "the wait ends when that future receives",
        ),
        crate::class::LockKind::AsyncSemaphore => (
            "it waits for permits it keeps and may never wake: give the first permit back before asking again",
            "the wait ends when that future gives its permit back",
        ),
        _ => (
            "it waits for itself and never wakes (tokio's locks are not reentrant): drop the first guard before locking again",
            "the wait ends when that future drops its guard: shorten that hold",
        ),
    };
    format!(
        "what to do: {} waits at {asked} for {lock}, which it holds itself (taken at {at}). If that hold is this same future's (sequential code), {mine}. If a future joined with it in the task holds it (`join!`, `select!`, `join_all`: lockgraph sees one owner per task), {theirs}",
        w.owner
    )
}

/// A long wait on a queue, worded for the operation that waits as the
/// thread watchdog's (`advice::nothing_sent`, `nothing_receives`,
/// `held_across`): a receive on the empty queue ends with a producer's
/// send; a send into the full queue with its consumer's receive (`consumer`:
/// who holds the queue, and where), which a lock the sender holds may keep
/// from coming (it said "a receive waits ...; a send waits ..." whichever
/// waited).
fn queue_advice(w: &TaskWait, consumer: &str) -> String {
    let queue = w.lock_ref.to_string();
    let who = if w.owner.starts_with("task ") {
        "task"
    } else {
        "thread"
    };
    let (first, across) = match w.mode {
        Some(WaitMode::Recv) => (
            advice::nothing_sent(&queue, w.waited, w.queue.map(|q| q.senders), who),
            "the receive",
        ),
        _ if w.held_by.is_empty() => (advice::nothing_receives(&queue), "the send"),
        _ => (
            format!(
                "what to do: {queue} is full and its consumer, {consumer}, has not received for {:.1?}: find why it does not (it waits for something else, or is slower than its producers)",
                w.waited
            ),
            "the send",
        ),
    };
    // Its locks (a consumer's role is none), which whoever would end the
    // wait may be waiting for.
    let locks: Vec<String> = (w.holds.iter().zip(&w.hold_kinds))
        .filter(|(_, k)| !k.is_role())
        .map(|((l, _), _)| l.clone())
        .collect();
    if locks.is_empty() {
        return first;
    }
    let many = locks.len() > 1;
    let ender = format!(
        "a task or thread waiting for {}",
        if many { "one of them" } else { "it" }
    );
    format!(
        "{first}; {}",
        advice::held_across(&and_list(&locks), many, &ender, across)
    )
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
            if let Some(fill) = w.fill() {
                writeln!(f, "      {fill}")?;
            }
            for (i, (l, s)) in w.holds.iter().enumerate() {
                let mode = (w.hold_kinds.get(i).zip(w.hold_modes.get(i)))
                    .map(|(&k, &h)| crate::watchdog::async_hold_text(k, h));
                crate::watchdog::write_hold(f, l, mode, s.as_ref())?;
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
pub(super) mod tests;
