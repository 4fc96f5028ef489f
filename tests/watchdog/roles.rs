//! Waits whose holder holds a role, not a lock: a barrier's party on its
//! way to its next wait, a joined thread still running. The advice is to
//! find why the party does not arrive or the thread does not end, not to
//! "shorten the hold" of a critical section (found by an outside on-call
//! test).

use std::sync::Arc;
use std::time::Duration;

use lockgraph::Barrier;
use lockgraph_testkit::{child, is_child, Child, END};

use crate::run_child;

/// The advice line of the first LONG WAIT report of `thread` in `child`'s
/// output, with the watchdog on.
fn advice(child: Child, thread: &str) -> String {
    let head = format!("lockgraph watchdog: LONG WAIT: thread `{thread}`");
    let find = |t: &str| -> Option<String> {
        let report = &t[t.find(&head)?..];
        let report = &report[..report.find(END)?];
        Some(report.lines().last()?.to_string())
    };
    let (text, ok) = run_child(
        child,
        &[("LOCKGRAPH_WATCHDOG", "300ms")],
        Duration::from_secs(30),
        |t| find(t).is_some(),
    );
    assert!(ok, "no LONG WAIT report of `{thread}` in time:\n{text}");
    find(&text).unwrap()
}

#[test]
fn a_barrier_wait_for_a_party_on_its_way_says_it_has_not_arrived() {
    if is_child() {
        return;
    }
    let advice = advice(child!(child_party_on_its_way), "ro-waiter");
    assert!(
        advice.starts_with(
            "what to do: thread `ro-sleeper`, a party of Barrier `ro-round`, has not arrived since it left its last wait (at tests/watchdog/roles.rs:"
        ),
        "{advice}"
    );
    assert!(
        advice.contains("; now sleeping (")
            && advice.ends_with("find why it does not reach the wait"),
        "{advice}"
    );
    assert!(!advice.contains("critical section"), "{advice}");
}

#[test]
fn child_party_on_its_way() {
    if !is_child() {
        return;
    }
    let round = Arc::new(Barrier::named("ro-round", 2));
    let r = round.clone();
    // A party of the first round, which then sleeps before its second wait.
    let sleeper = lockgraph::thread::Builder::new()
        .name("ro-sleeper".into())
        .spawn(move || {
            r.wait();
            std::thread::sleep(Duration::from_secs(60));
            r.wait();
        })
        .unwrap();
    let waiter = lockgraph::thread::Builder::new()
        .name("ro-waiter".into())
        .spawn(move || {
            round.wait();
            round.wait();
        })
        .unwrap();
    waiter.join().unwrap();
    sleeper.join().unwrap();
}

#[test]
fn a_join_of_a_running_thread_says_it_has_not_ended() {
    if is_child() {
        return;
    }
    let advice = advice(child!(child_join_of_a_sleeper), "ro-joiner");
    assert!(
        advice.starts_with("what to do: thread `ro-worker` (spawned at tests/watchdog/roles.rs:")
            && advice.contains(") has not ended: it has run for at least "),
        "{advice}"
    );
    assert!(
        advice.contains(", now sleeping (")
            && advice.ends_with("find why it does not return, or do not join it while it may not"),
        "{advice}"
    );
    assert!(!advice.contains("critical section"), "{advice}");
}

#[test]
fn child_join_of_a_sleeper() {
    if !is_child() {
        return;
    }
    let joiner = lockgraph::thread::Builder::new()
        .name("ro-joiner".into())
        .spawn(|| {
            let worker = lockgraph::thread::Builder::new()
                .name("ro-worker".into())
                .spawn(|| std::thread::sleep(Duration::from_secs(60)))
                .unwrap();
            worker.join().unwrap();
        })
        .unwrap();
    joiner.join().unwrap();
}
