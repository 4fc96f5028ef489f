//! The "fix:" lines of a cycle through waits that no lock order fixes: a
//! pipeline resource (a queue, a semaphore, a barrier, a joined thread),
//! where the hold to release is the one kept across the wait, and a
//! condvar, where it is the one kept across the wait on it or the one its
//! notifier needs before it notifies. One function for the runtime's
//! reports and `lockgraph check`'s (which reads a lock's kind from its
//! records).

use super::resource_words::resource_words;
use crate::LockKind;

/// The "fix:" lines of a cycle through pipeline resources or condvars:
/// for each lock `i` of `kinds` (the cycle's locks in order, each edge
/// from one to the next) that is a resource waited on, the hold of the
/// lock before it to release before the wait; for each condvar, the hold
/// kept across its wait and what its notifier holds when it notifies.
/// `by_task(i)`: whether edge `i` (from lock `i` to the next) was
/// recorded by an async task; `named(i)`: how the lines name lock `i`.
/// Empty when no resource or condvar is in the cycle.
pub fn resource_fix_lines(
    kinds: &[LockKind],
    by_task: impl Fn(usize) -> bool,
    named: impl Fn(usize) -> String,
) -> Vec<String> {
    let n = kinds.len();
    let mut out = Vec::new();
    if n < 2 {
        return out;
    }
    for (i, &kind) in kinds.iter().enumerate() {
        let before = (i + n - 1) % n;
        let who = || {
            if by_task(before) {
                "a task"
            } else {
                "a thread"
            }
        };
        if kind == LockKind::Condvar {
            notify_lines(kinds, i, who(), &named, &mut out);
            continue;
        }
        let Some(w) = resource_words(kind) else {
            continue;
        };
        if kinds[before] == LockKind::Condvar {
            // "condvar -> this": a notification made while holding it,
            // not a wait on it; the condvar's lines say what to do.
            continue;
        }
        let (before, it) = (named(before), named(i));
        out.push(format!(
            "{} {} holds {before} while {} {it}, and {}:",
            lead(&out),
            who(),
            w.waiting,
            w.holders,
        ));
        out.push(format!(
            "     release {before} before {} {it} (a {} is taken in no order: no lock order fixes this).",
            w.the_wait, w.noun
        ));
    }
    out
}

fn lead(out: &[String]) -> &'static str {
    if out.is_empty() {
        "fix:"
    } else {
        "    "
    }
}

/// The two lines of condvar `c` of a cycle: the edge into it is a wait
/// made holding the lock before it (`w`); the edge out of it, a
/// notification made holding the lock after it (`h`), which the notifier
/// was on its way to before it could notify. What comes after `h` (`y`,
/// when the cycle has a third lock) is what `h`'s holders take meanwhile:
/// for a role (a consumer between receives, a party between waits) the
/// reason the notifier's next notification waits for it.
fn notify_lines(
    kinds: &[LockKind],
    c: usize,
    who: &str,
    named: &impl Fn(usize) -> String,
    out: &mut Vec<String>,
) {
    let n = kinds.len();
    let (w, h) = ((c + n - 1) % n, (c + 1) % n);
    let y = Some((h + 1) % n).filter(|&y| y != c);
    let words = |i: usize| resource_words(kinds[i]);
    let held = |i: usize| words(i).map_or("", |r| r.held);
    let (wait, cv, hold) = (named(w), named(c), named(h));
    let takes = |y: usize| match words(y) {
        Some(r) => format!("is {} {}", r.waiting, named(y)),
        None => format!("takes {}", named(y)),
    };
    let (notifier, fix) = match (words(h).is_some(), kinds[h], y) {
        (true, LockKind::Queue, Some(y)) => (
            format!(
                "its notifier, a consumer of {hold}, notifies it between receives, and a consumer of {hold} {} before it receives again",
                takes(y)
            ),
            format!("stop taking {} in the consumers of {hold} between receives", named(y)),
        ),
        (true, LockKind::Barrier, Some(y)) => (
            format!(
                "its notifier, a party of {hold}, notifies it between barrier waits, and a party of {hold} {} before it arrives at the next wait",
                takes(y)
            ),
            format!("stop taking {} in the parties of {hold} between waits", named(y)),
        ),
        (true, LockKind::Thread, Some(y)) => (
            format!("its notifier runs in {hold}, and that thread {}", takes(y)),
            format!("stop taking {} in that thread", named(y)),
        ),
        (true, _, Some(y)) => (
            format!(
                "its notifier holds a permit of {hold} when it notifies, and a permit holder {} before it gives its permit back",
                takes(y)
            ),
            format!("notify {cv} before the notifier acquires a permit of {hold}"),
        ),
        // A lock, or a resource the waiter holds too (a cycle of two).
        (role, kind, _) => (
            format!(
                "its notifier holds {}{} when it notifies",
                if h == w { "it".to_string() } else { hold.clone() },
                held(h)
            ),
            match kind {
                LockKind::Semaphore | LockKind::AsyncSemaphore => {
                    format!("notify {cv} before the notifier acquires a permit of {hold}")
                }
                _ if role => format!("notify {cv} where the notifier does not hold {hold}{}", held(h)),
                _ => format!("notify {cv} before the notifier takes {hold}"),
            },
        ),
    };
    out.push(format!(
        "{} {who} holds {wait}{} across its wait on {cv}, and {notifier}:",
        lead(out),
        held(w)
    ));
    out.push(format!(
        "     release {wait} before the wait on {cv}, or {fix} (a condvar is not a lock: no order of taking it fixes this)."
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fix lines of a cycle of `kinds`, locks named `L1 `a`` and so
    /// on, every edge a thread's but those listed in `tasks`.
    fn fix(kinds: &[LockKind], tasks: &[usize]) -> Vec<String> {
        let names = ["a", "b", "c", "d"];
        resource_fix_lines(
            kinds,
            |i| tasks.contains(&i),
            |i| format!("L{} `{}`", i + 1, names[i]),
        )
    }

    /// The waiter holds `a` across its wait on `b`, and the notifier holds
    /// `a` when it notifies: nobody holds a condvar, nor joins or sends
    /// (the words of a queue's or a join's fix were given to the
    /// notification's edge; found by an outside test).
    #[test]
    fn a_lock_held_across_the_wait_and_at_the_notification_is_fixed_on_either_side() {
        use LockKind::{Condvar, Mutex};
        assert_eq!(
            fix(&[Mutex, Condvar], &[]),
            [
                "fix: a thread holds L1 `a` across its wait on L2 `b`, and its notifier holds it when it notifies:",
                "     release L1 `a` before the wait on L2 `b`, or notify L2 `b` before the notifier takes L1 `a` (a condvar is not a lock: no order of taking it fixes this).",
            ]
        );
        // Three locks: the notifier holds `c`, which leads back to `a`.
        assert_eq!(
            fix(&[Mutex, Condvar, Mutex], &[])[0],
            "fix: a thread holds L1 `a` across its wait on L2 `b`, and its notifier holds L3 `c` when it notifies:"
        );
    }

    /// A consumer notifies once per item, then takes `a`, which the waiter
    /// holds across its wait (a real deadlock: before its next
    /// notification the consumer waits for `a`). Neither "take `a`
    /// before notifying" nor a lock order fixes it.
    #[test]
    fn a_notifier_that_consumes_a_queue_is_told_what_it_takes_between_receives() {
        use LockKind::{Condvar, Mutex, Queue};
        let lines = fix(&[Mutex, Condvar, Queue], &[]);
        assert_eq!(
            lines,
            [
                "fix: a thread holds L1 `a` across its wait on L2 `b`, and its notifier, a consumer of L3 `c`, notifies it between receives, and a consumer of L3 `c` takes L1 `a` before it receives again:",
                "     release L1 `a` before the wait on L2 `b`, or stop taking L1 `a` in the consumers of L3 `c` between receives (a condvar is not a lock: no order of taking it fixes this).",
            ]
        );
        for line in &lines {
            assert!(!line.contains("sending into"), "{line}");
        }
        // A consumer that sends into another queue between receives.
        assert!(fix(&[Mutex, Condvar, Queue, Queue], &[])[0]
            .contains("a consumer of L3 `c` is sending into L4 `d` before it receives again"));
        // The send into `d` is a wait of its own, with its own lines.
        assert_eq!(fix(&[Mutex, Condvar, Queue, Queue], &[]).len(), 4);
    }

    #[test]
    fn a_notifier_that_is_a_party_or_holds_a_permit_has_its_own_words() {
        use LockKind::{Barrier, Condvar, Mutex, Semaphore, Thread};
        assert_eq!(
            fix(&[Mutex, Condvar, Barrier], &[])[1],
            "     release L1 `a` before the wait on L2 `b`, or stop taking L1 `a` in the parties of L3 `c` between waits (a condvar is not a lock: no order of taking it fixes this)."
        );
        assert!(fix(&[Mutex, Condvar, Semaphore], &[])[0].ends_with(
            "its notifier holds a permit of L3 `c` when it notifies, and a permit holder takes L1 `a` before it gives its permit back:"
        ));
        // The waiter holds the only permit across its wait.
        assert_eq!(
            fix(&[Semaphore, Condvar], &[]),
            [
                "fix: a thread holds L1 `a` (a permit) across its wait on L2 `b`, and its notifier holds it (a permit) when it notifies:",
                "     release L1 `a` before the wait on L2 `b`, or notify L2 `b` before the notifier acquires a permit of L1 `a` (a condvar is not a lock: no order of taking it fixes this).",
            ]
        );
        // A thread's own pseudo-lock gives no notification's edge now;
        // a record of an older version may still hold one.
        let thread = fix(&[Mutex, Condvar, Thread], &[]);
        assert!(thread[0].contains("its notifier runs in L3 `c`, and that thread takes L1 `a`"));
        assert!(!thread.iter().any(|l| l.contains("join")), "{thread:?}");
    }

    /// A queue's fix names a task where a task waited (found by an
    /// outside test: "a thread holds L2 `stats`" for two tasks).
    #[test]
    fn the_waiter_is_a_task_where_a_task_recorded_the_wait() {
        use LockKind::{Mutex, Queue};
        assert_eq!(
            fix(&[Queue, Mutex], &[1])[0],
            "fix: a task holds L2 `b` while sending into L1 `a`, and its consumer takes it before it receives again:"
        );
        assert!(fix(&[Queue, Mutex], &[0])[0].starts_with("fix: a thread holds"));
        // Nothing to wait on but locks: no lines (the lock order's fix).
        assert!(fix(&[Mutex, Mutex], &[]).is_empty());
    }
}
