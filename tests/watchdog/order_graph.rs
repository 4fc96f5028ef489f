//! What a deadlock report says about the lock-order graph: edges recorded
//! before the graph was turned off, the graph off from the start, and an
//! edge the full graph could not record.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use lockgraph::watchdog::{self, Config};
use lockgraph::Mutex;
use lockgraph_testkit::{child, is_child, END};

use crate::{child_abba, crossing, run_child, site_line};

#[test]
fn child_abba_then_graph_off() {
    if !is_child() {
        return;
    }
    abba_then(("off-x", "off-y"), || {
        lockgraph::set_order_graph(false);
        eprintln!("GRAPH OFF");
    });
}

/// Threads `wd-a` and `wd-b` take Mutexes named `names` in both orders and
/// deadlock, watched by a watchdog (300 ms timeout, scans 500 ms apart: two
/// scans, the least a deadlock needs, take a second); `then` runs once both
/// recorded their edges, long before the deadlock is reported.
fn abba_then(names: (&'static str, &'static str), then: impl FnOnce()) {
    assert!(watchdog::start(
        Config::default()
            .timeout(Duration::from_millis(300))
            .scan_period(Duration::from_millis(500))
    ));
    let before = lockgraph::stats().class_edges;
    let x = Arc::new(Mutex::named(names.0, ()));
    let y = Arc::new(Mutex::named(names.1, ()));
    let barrier = Arc::new(Barrier::new(2));
    let a = crossing("wd-a", x.clone(), y.clone(), barrier.clone());
    let b = crossing("wd-b", y, x, barrier);
    while lockgraph::stats().class_edges < before + 2 {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Until both wait: the closing request has read the policy by then (an
    // edge is in the graph before its cycle's policy is read, and a policy
    // changed in between reported the cycle: seen once under load).
    while watchdog::dump()
        .threads
        .iter()
        .filter(|t| t.waiting.is_some())
        .count()
        < 2
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    then();
    a.join().unwrap();
    b.join().unwrap();
}

#[test]
fn edges_recorded_before_the_graph_was_turned_off_still_give_the_order_context() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_abba_then_graph_off),
        &[("LOCKGRAPH_ORDER", "on")],
        Duration::from_secs(20),
        // Long waits are reported at the first scan: wait for the end of
        // the deadlock report itself.
        |t| t.find("DEADLOCK").is_some_and(|i| t[i..].contains(END)),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let off = text
        .find("GRAPH OFF")
        .expect("the child did not turn the graph off");
    let at = text.find("lockgraph watchdog: DEADLOCK").unwrap();
    assert!(off < at, "{text}");
    let report = &text[at..];
    // The cause that applies, not all three (found by an outside test).
    assert!(
        report.contains("lock-order graph: off (set_order_graph(false))\n"),
        "{report}"
    );
    assert!(
        report.contains(
            "lock-order graph: it found this cycle when its last edge was recorded, and did not report it (the policy was off then"
        ),
        "{report}"
    );
    assert_eq!(report.matches(": first by thread `").count(), 2, "{report}");
}

#[test]
fn with_the_order_graph_off_a_deadlock_is_still_found_and_says_the_graph_was_off() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_abba),
        &[("LOCKGRAPH_WATCHDOG", "300ms"), ("LOCKGRAPH_ORDER", "off")],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    let ab = "cycle: thread `wd-a` -> Mutex `lock-y` -> thread `wd-b` -> Mutex `lock-x` -> thread `wd-a`";
    assert!(report.contains(ab), "{report}");
    // The cause that applies, and nothing more: no edge was recorded (a
    // second line said so; found by an outside test).
    assert!(
        report.contains("lock-order graph: off (LOCKGRAPH_ORDER=off)\n  thread `"),
        "{report}"
    );
    assert!(!report.contains("first by thread"), "{report}");
    for name in ["wd-a", "wd-b"] {
        let site = format!(
            "requested at tests/watchdog/main.rs:{}:",
            site_line(&text, name)
        );
        assert!(report.contains(&site), "{site} missing:\n{report}");
    }
}

#[test]
fn a_deadlock_the_order_graph_could_not_record_says_which_edge_is_missing() {
    if is_child() {
        return;
    }
    // One class edge at most: the second thread's edge is never recorded.
    // Stacks on: the recorded edge shows the stack it was recorded with.
    let (text, ok) = run_child(
        child!(child_abba),
        &[
            ("LOCKGRAPH_WATCHDOG", "300ms"),
            ("LOCKGRAPH_MAX_EDGES", "1"),
            ("LOCKGRAPH_BACKTRACE", "1"),
            ("LOCKGRAPH_ORDER", "on"),
        ],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    assert!(
        report.contains("lock-order graph: 1 of the cycle's 2 edges was never recorded"),
        "{report}"
    );
    assert_eq!(report.matches(": never recorded").count(), 1, "{report}");
    assert_eq!(report.matches(": first by thread `").count(), 1, "{report}");
    // Optimised builds without debug info inline the test's frames away
    // (nothing of the program's own is left to show).
    if cfg!(debug_assertions) {
        let then = report
            .find("its stack then:")
            .unwrap_or_else(|| panic!("no stack for the recorded edge:\n{report}"));
        let frame = report[then..].lines().nth(1).unwrap_or("");
        assert!(frame.contains("watchdog::crossing"), "{report}");
    }
}

#[test]
fn child_abba_then_policy_warn() {
    if !is_child() {
        return;
    }
    // Found under `off` (`run_child`'s policy); the policy is `warn` by the
    // time the watchdog reports the deadlock.
    abba_then(("late-x", "late-y"), || {
        lockgraph::set_on_cycle(lockgraph::OnCycle::Warn);
        eprintln!("POLICY WARN");
    });
}

#[test]
fn a_cycle_found_under_the_off_policy_is_said_unreported_after_the_policy_changed() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_abba_then_policy_warn),
        &[("LOCKGRAPH_ORDER", "on")],
        Duration::from_secs(20),
        |t| t.find("DEADLOCK").is_some_and(|i| t[i..].contains(END)),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let warn = text
        .find("POLICY WARN")
        .expect("the policy was not changed");
    let at = text.find("lockgraph watchdog: DEADLOCK").unwrap();
    assert!(warn < at, "{text}");
    let report = &text[at..];
    assert!(
        report.contains(
            "lock-order graph: it found this cycle when its last edge was recorded, and did not report it (the policy was off then"
        ),
        "{report}"
    );
    assert!(
        !report.contains("reported it as a potential deadlock"),
        "{report}"
    );
    // Nor did the change report it after the fact.
    assert!(!text.contains("potential deadlock"), "{text}");
}
