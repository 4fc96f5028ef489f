//! A long wait's advice: a reader queued behind a writer, a wait on
//! several blocked threads, a holder that itself waits.

use super::*;

/// Reader `r` (holding `r_holds`) waits to read `model`, behind writer `w`
/// queued for a write, which waits for `slow`'s read.
fn queued_reader(r_holds: Vec<HeldInfo>) -> WatchdogReport {
    let model = LockRef {
        kind: LockKind::RwLock,
        ..lock("model", 1)
    };
    let read = |line| HeldInfo {
        hold: Hold::Shared,
        ..held(model.clone(), line, 3)
    };
    let r_holds = r_holds
        .into_iter()
        .map(|h| {
            if h.lock.id == 1 {
                read(h.site.map_or(0, |s| s.line))
            } else {
                h
            }
        })
        .collect();
    report(
        WatchdogKind::LongWait,
        Action::Report,
        vec![
            thread(
                "r",
                Some(wait(model.clone(), Some(WaitMode::Read), 10, 2)),
                r_holds,
            ),
            thread(
                "w",
                Some(wait(model.clone(), Some(WaitMode::Write), 20, 2)),
                Vec::new(),
            ),
            thread("slow", None, vec![read(30)]),
        ],
    )
}

/// `read_recursive` is advised only where the read would recurse: the
/// reader holds a read of the lock already. It was advised to a reader
/// that held no lock at all.
#[test]
fn read_recursive_is_advised_only_to_a_reader_that_holds_a_read_of_the_lock() {
    let none = queued_reader(Vec::new()).advice();
    assert!(
        none.starts_with("what to do: thread `r` waits behind thread `w`"),
        "{none}"
    );
    assert!(!none.contains("read_recursive"), "{none}");
    let other = queued_reader(vec![held(lock("other", 2), 8, 3)]).advice();
    assert!(!other.contains("read_recursive"), "{other}");
    let again = queued_reader(vec![held(lock("model", 1), 8, 3)]).advice();
    assert!(
        again.ends_with(
            "; thread `r` already holds a read of RwLock `model` (taken at src/job.rs:8:9): take this one with read_recursive, which passes a waiting writer"
        ),
        "{again}"
    );
}

/// A reader queued behind a writer whose wait is for a deadlocked reader's
/// hold: the advice says that holder is deadlocked and to break that cycle
/// (it said to follow its wait, and never that it was the deadlock already
/// reported; found by an outside test).
#[test]
fn a_queued_reader_behind_a_deadlocked_holder_is_told_so() {
    let mut r = queued_reader(Vec::new());
    let cache = lock("cache", 2);
    let mut w = wait(cache.clone(), Some(WaitMode::Lock), 40, 2);
    r.threads[2].waiting = Some(w.clone());
    let blocked = r.advice();
    assert!(
        blocked.contains("itself waiting for Mutex `cache`"),
        "{blocked}"
    );
    assert!(blocked.ends_with("follow the wait of thread `slow` (its own report, or `lockgraph::dump()`), and do not wait while holding RwLock `model`"), "{blocked}");
    w.deadlocked = true;
    r.threads[2].waiting = Some(w);
    let deadlocked = r.advice();
    assert!(
        deadlocked.contains("itself deadlocked, waiting for Mutex `cache`"),
        "{deadlocked}"
    );
    assert!(
        deadlocked.ends_with(": thread `slow` is deadlocked, on a wait-for cycle (the watchdog's DEADLOCK report, or `lockgraph::dump()`, shows it): break that cycle, and this wait ends with it"),
        "{deadlocked}"
    );
}

/// A permit wait whose two holders are both blocked: either release ends
/// it, so both are named (it named the first, "this one ends when it
/// does").
#[test]
fn a_permit_wait_on_two_blocked_holders_names_both() {
    let slots = LockRef {
        kind: LockKind::Semaphore,
        ..lock("gpu-slots", 1)
    };
    let mut w = wait(slots, Some(WaitMode::Permit), 10, 2);
    for name in ["infer-0", "infer-1"] {
        w.blocked_peers.push(BlockedPeer {
            thread: name.into(),
            waits_for: "blocking call `download`".into(),
            deadlocked: false,
        });
    }
    let r = report(
        WatchdogKind::LongWait,
        Action::Report,
        vec![thread("infer-2", Some(w), Vec::new())],
    );
    assert_eq!(
        r.advice(),
        "what to do: threads `infer-0` and `infer-1`, which this wait waits for (a release by any one of them ends it), are themselves blocked, waiting for blocking call `download`: follow those waits (their own reports, or `lockgraph::dump()`); this one ends when any one of them does"
    );
}

/// A waiter behind a holder that itself waits (a consumer holding
/// `cvh-outer` across a condvar wait): the advice says which thread should
/// not wait while holding the lock (it said "do not wait for it while
/// holding ...", read as said to the reported thread, which held nothing).
#[test]
fn a_holder_that_waits_is_named_as_the_one_not_to_wait_holding_the_lock() {
    let outer = lock("cvh-outer", 1);
    let mut cv = lock("cvh-ready", 2);
    cv.kind = LockKind::Condvar;
    let r = report(
        WatchdogKind::LongWait,
        Action::Report,
        vec![
            thread(
                "cvh-producer",
                Some(wait(outer.clone(), Some(WaitMode::Lock), 270, 1)),
                Vec::new(),
            ),
            thread(
                "cvh-consumer",
                Some(wait(cv, Some(WaitMode::Condvar), 266, 2)),
                vec![held(outer, 264, 2)],
            ),
        ],
    );
    assert_eq!(
        r.advice(),
        "what to do: thread `cvh-consumer`, which holds Mutex `cvh-outer`, itself waits for notification on Condvar `cvh-ready`: follow that wait (its own report, or `lockgraph::dump()`); thread `cvh-consumer` should not wait for notification on Condvar `cvh-ready` while holding Mutex `cvh-outer`"
    );
}
