//! The task watchdog's words: first lines, bodies and advice.

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
        capacity: None,
        queue: None,
        asked_at: site(10),
        waited: Duration::from_millis(300),
        holds: holds
            .iter()
            .map(|&l| (mutex(l).to_string(), site(9)))
            .collect(),
        hold_ids: holds.iter().map(|&(_, id)| id).collect(),
        hold_kinds: holds.iter().map(|_| LockKind::AsyncMutex).collect(),
        hold_modes: holds
            .iter()
            .map(|_| crate::report::Hold::Exclusive)
            .collect(),
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
/// send into a queue nobody consumes says so.
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
    // Permits moved into other tasks are theirs, which no lock can see: the
    // advice says so, and what to use (an outside test's false DEADLOCK).
    assert!(
        r.advice()
            .contains("if those permits were moved into other tasks")
            && r.advice()
                .contains("take permits that move with `acquire_owned`"),
        "{}",
        r.advice()
    );
    let mut idle = w;
    idle.holds.clear();
    idle.hold_ids.clear();
    idle.held_by.clear();
    idle.hold_kinds.clear();
    idle.mode = Some(WaitMode::Send);
    let r = report(false, vec![idle]);
    assert_eq!(
        r.advice(),
        "what to do: nothing receives from Queue `q`: keep a consumer receiving until the senders are done, or drop its Receiver when it stops (a send then fails instead of waiting)"
    );
}

/// A long wait on a queue gets the advice of its operation, in the
/// thread watchdog's words: a receive, who would send; a send, who would
/// receive, and not to hold a lock across it (it said "a receive waits
/// ...; a send waits ..." whichever waited).
#[test]
fn a_long_wait_on_a_queue_gets_the_advice_of_its_operation() {
    let mut w = wait("task 5 \"sink\"", ("q", 7), &[], "task 6 \"stage\"");
    w.lock_ref = LockRef::of(7, Class::Named("q"), LockKind::Queue);
    w.lock = w.lock_ref.to_string();
    w.held_by.clear();
    w.mode = Some(WaitMode::Recv);
    let advice = |w: &TaskWait| report(false, vec![w.clone()]).advice();
    assert_eq!(
        advice(&w),
        "what to do: nothing has been sent on Queue `q` for 300.0ms: if the producers are done, drop every Sender (one kept by this task's joiner, or by this task itself, too) so that the receive ends"
    );
    // The queue's probe says its live Senders, as the thread watchdog's
    // advice does (the task watchdog's had no count).
    w.queue = Some(crate::watchdog::QueueState::new(Some(4), 2, true));
    assert!(
        advice(&w).starts_with(
            "what to do: nothing has been sent on Queue `q` for 300.0ms and 2 Senders are alive: "
        ),
        "{}",
        advice(&w)
    );
    w.queue = None;
    // Holding a lock (and the consumer's role of another queue, no lock).
    w.holds = vec![
        (mutex(("m", 3)).to_string(), site(9)),
        ("Queue `in`".to_string(), site(8)),
    ];
    w.hold_ids = vec![3, 4];
    w.hold_kinds = vec![LockKind::AsyncMutex, LockKind::Queue];
    assert_eq!(
        advice(&w),
        "what to do: nothing has been sent on Queue `q` for 300.0ms: if the producers are done, drop every Sender (one kept by this task's joiner, or by this task itself, too) so that the receive ends; meanwhile it holds AsyncMutex `m`: if a task or thread waiting for it is the one that would end this wait, it never ends; do not hold it across the receive"
    );
    // A send, its consumer known: who should receive.
    w.mode = Some(WaitMode::Send);
    w.held_by = vec![("task 6 \"stage\"".into(), site(4))];
    assert_eq!(
        advice(&w),
        "what to do: Queue `q` is full and its consumer, task 6 \"stage\" (taken at src/app.rs:4:9), has not received for 300.0ms: find why it does not (it waits for something else, or is slower than its producers); meanwhile it holds AsyncMutex `m`: if a task or thread waiting for it is the one that would end this wait, it never ends; do not hold it across the send"
    );
    // A thread's receive (`blocking_recv`), no lock held.
    w.owner = "thread `main` (outside any task)".into();
    w.mode = Some(WaitMode::Recv);
    w.holds.truncate(0);
    w.hold_ids.clear();
    w.hold_kinds.clear();
    assert!(
        advice(&w).contains("(one kept by this thread's joiner, or by this thread itself, too)"),
        "{}",
        advice(&w)
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
        r.headline().contains(
            "has waited 300.000ms for an item from Queue `q` (a receive on the empty queue) (pid"
        ),
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

/// A wait's line shows the size of what it waits for where the thread
/// watchdog's does: an async semaphore's permits in the line, a bounded
/// queue's fill level under it (neither was shown: tokio's primitives
/// published no size).
#[test]
fn a_waits_line_shows_the_permits_and_the_queues_fill_as_the_thread_watchdogs() {
    let mut w = wait("task 5 \"gpu\"", ("slots", 8), &[], "task 6");
    w.lock_ref = LockRef::of(8, Class::Named("slots"), LockKind::AsyncSemaphore);
    w.lock = w.lock_ref.to_string();
    w.mode = Some(WaitMode::Permit);
    w.capacity = Some(3);
    let text = report(false, vec![w.clone()]).to_string();
    assert!(
        text.contains("\n    waits 300.0ms for a permit of AsyncSemaphore `slots` (3 permits) (asked at src/app.rs:10:9)\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "has waited 300.000ms for a permit of AsyncSemaphore `slots` (3 permits) (pid"
        ),
        "{text}"
    );
    w.capacity = Some(1);
    assert_eq!(w.what(), "a permit of AsyncSemaphore `slots` (1 permit)");
    w.capacity = None;
    assert_eq!(w.what(), "a permit of AsyncSemaphore `slots`");
    // A queue: its bound in the line under the wait's.
    w.lock_ref = LockRef::of(7, Class::Named("q"), LockKind::Queue);
    w.lock = w.lock_ref.to_string();
    w.mode = Some(WaitMode::Send);
    w.capacity = Some(2);
    let text = report(false, vec![w.clone()]).to_string();
    assert!(
        text.contains("    waits 300.0ms for space in Queue `q` (a send into the full queue) (asked at src/app.rs:10:9)\n      Queue `q` full: 2 of 2\n"),
        "{text}"
    );
    w.mode = Some(WaitMode::Recv);
    let text = report(false, vec![w.clone()]).to_string();
    assert!(
        text.contains("(a receive on the empty queue) (asked at src/app.rs:10:9)\n      Queue `q` empty: 0 of 2\n"),
        "{text}"
    );
    // Unknown: no line.
    w.capacity = None;
    let text = report(false, vec![w]).to_string();
    assert!(!text.contains("empty:"), "{text}");
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

/// A task's holds say how they are held, as the thread watchdog's do: an
/// `AsyncRwLock` read is shared, a write exclusive, a permit a permit (they
/// all read `holds AsyncRwLock `l` (taken at ...)`; outside test, async
/// finding 7), in the text and in the JSON's `hold`.
#[test]
fn a_read_hold_and_a_write_hold_are_told_apart() {
    let rw = |name, id| LockRef::of(id, Class::Named(name), LockKind::AsyncRwLock);
    let mut w = wait("task 3", ("m", 1), &[], "task 4");
    w.holds = vec![
        (rw("r", 2).to_string(), site(7)),
        (rw("w", 3).to_string(), site(8)),
        (
            LockRef::of(4, Class::Named("s"), LockKind::AsyncSemaphore).to_string(),
            None,
        ),
    ];
    w.hold_ids = vec![2, 3, 4];
    w.hold_kinds = vec![
        LockKind::AsyncRwLock,
        LockKind::AsyncRwLock,
        LockKind::AsyncSemaphore,
    ];
    w.hold_modes = vec![
        crate::report::Hold::Shared,
        crate::report::Hold::Exclusive,
        crate::report::Hold::Shared,
    ];
    let r = report(false, vec![w]);
    let text = r.to_string();
    assert!(
        text.contains("\n    holds AsyncRwLock `r` (shared, taken at src/app.rs:7:9)\n    holds AsyncRwLock `w` (exclusive, taken at src/app.rs:8:9)\n    holds AsyncSemaphore `s` (a permit)\n"),
        "{text}"
    );
    let line = r.to_json();
    assert!(
        line.contains("\"holds\":[{\"lock\":\"AsyncRwLock `r`\",\"hold\":\"shared\",\"taken_at\":\"src/app.rs:7:9\"},{\"lock\":\"AsyncRwLock `w`\",\"hold\":\"exclusive\",\"taken_at\":\"src/app.rs:8:9\"},{\"lock\":\"AsyncSemaphore `s`\",\"hold\":\"shared\",\"taken_at\":null}]"),
        "{line}"
    );
}
