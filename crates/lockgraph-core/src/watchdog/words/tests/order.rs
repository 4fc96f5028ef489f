//! A deadlock's lock order to adopt, and the thread that breaks it.

use super::*;

/// The ring `t0` (holds `c`, waits for `a`), `t1` (holds `a`, waits for
/// `b`), `t2` (holds `b`, waits for `c`), with `order` as what the
/// lock-order graph knew of it.
fn ring(order: Option<OrderContext>) -> WatchdogReport {
    let (a, b, c) = (lock("a", 1), lock("b", 2), lock("c", 3));
    let ex = Some(WaitMode::Lock);
    let mut r = report(
        WatchdogKind::Deadlock,
        Action::Report,
        vec![
            thread(
                "t0",
                Some(wait(a.clone(), ex, 10, 2)),
                vec![held(c.clone(), 11, 3)],
            ),
            thread(
                "t1",
                Some(wait(b.clone(), ex, 20, 1)),
                vec![held(a.clone(), 21, 3)],
            ),
            thread("t2", Some(wait(c, ex, 30, 2)), vec![held(b, 31, 3)]),
        ],
    );
    r.order = order;
    r
}

/// The graph's steps of the ring, in wait order, `closed_by` the one
/// recorded last.
fn context(closed_by: Option<usize>) -> OrderContext {
    let (a, b, c) = (lock("a", 1), lock("b", 2), lock("c", 3));
    let step = |from: &LockRef, to: &LockRef| OrderStep {
        from: from.clone(),
        to: to.clone(),
        first: None,
    };
    OrderContext {
        steps: vec![step(&c, &a), step(&a, &b), step(&b, &c)],
        found: closed_by.is_some(),
        reported: closed_by.is_some(),
        graph_on: true,
        closed_by,
        off_cause: None,
    }
}

/// The order to adopt is the one the lock-order graph saw set first, and
/// the thread that breaks it the one whose request closed the cycle (`t1`,
/// `a -> b`), whatever the threads are called: it named the thread whose
/// name sorts first, and its order, so renaming a thread flipped it.
#[test]
fn a_deadlock_names_the_order_the_graph_saw_first_and_the_thread_that_closed_it() {
    let r = ring(Some(context(Some(1))));
    assert_eq!(
        r.headline(),
        "lockgraph watchdog: DEADLOCK: 3 threads wait for each other on Mutex `a`, Mutex `b` and Mutex `c` (pid 42), since 2026-12-04 19:38:21 UTC; reported only; the process is still hung (these threads never wake)"
    );
    assert_eq!(
        r.advice(),
        "what to do: adopt one lock order everywhere, Mutex `b` before Mutex `c` before Mutex `a`; thread `t1` breaks it: it asks for Mutex `b` at src/job.rs:20:9 while holding Mutex `a` (taken at src/job.rs:21:9): release it before that call, or take Mutex `b` first"
    );
    // The last edge another one: the order and the thread follow it.
    let r = ring(Some(context(Some(2))));
    assert!(
        r.advice().starts_with(
            "what to do: adopt one lock order everywhere, Mutex `c` before Mutex `a` before Mutex `b`; thread `t2` breaks it: it asks for Mutex `c` at src/job.rs:30:9 while holding Mutex `b`"
        ),
        "{}",
        r.advice()
    );
}

/// Without the lock-order graph's word (off, or it did not find the cycle)
/// the advice names an example order, from the lowest lock id, and the one
/// thread whose hold and request go against it (`t0`: it holds `c`, the
/// order's last, and asks for `a`, its first). It named no thread, and
/// told to change "the thread that takes them the other way", which reads
/// oddly for three locks (found by an outside test).
#[test]
fn without_the_graph_a_deadlock_names_an_example_order_and_the_thread_against_it() {
    let want = "what to do: adopt one lock order everywhere, for example Mutex `a` before Mutex `b` before Mutex `c`; in that order thread `t0` breaks it: it asks for Mutex `a` at src/job.rs:10:9 while holding Mutex `c` (taken at src/job.rs:11:9): release it before that call, or take Mutex `a` first (the lock-order graph did not see which order the program set first: another order of these locks moves the change to another thread of the cycle)";
    for order in [None, Some(context(None))] {
        let mut r = ring(order);
        assert_eq!(r.advice(), want);
        // The threads' order in the report does not matter.
        r.threads.rotate_left(1);
        assert_eq!(r.advice(), want);
        assert!(!r.advice().contains("the other way"));
    }
    // Nor do the locks' ids, which follow which lock was used first (two
    // runs of one program gave two orders): `a` has the highest id here.
    let mut r = ring(None);
    for t in &mut r.threads {
        for h in &mut t.held {
            h.lock.id = 10 - h.lock.id;
        }
        if let Some(w) = &mut t.waiting {
            w.lock.id = 10 - w.lock.id;
        }
    }
    assert_eq!(r.advice(), want);
}
