//! The lock-order graph's switch (`LOCKGRAPH_ORDER`, `set_order_graph`):
//! off, locks keep their held-lock stacks but record no order edges. One
//! in-process test flips the process-wide switch; the environment cases run
//! in child processes (this binary re-run with one `child_*` test selected,
//! by `lockgraph_testkit`).
#![cfg(any(debug_assertions, feature = "track-in-release"))]

use std::time::Duration;

use lockgraph::{capture, held_locks, order_graph, set_order_graph, stats, Mutex};
use lockgraph_testkit::{child, is_child};

/// Takes `a` then `b`, then `b` then `a`; returns the cycle reports.
fn abba(a: &Mutex<()>, b: &Mutex<()>) -> usize {
    capture(|| {
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        let _b = b.lock();
        let _a = a.lock();
    })
    .len()
}

/// The default when `LOCKGRAPH_ORDER` is unset.
const DEFAULT_ON: bool = !(cfg!(feature = "watchdog-in-release") && !cfg!(debug_assertions));

/// Flips the process-wide switch: safe beside the other tests of this binary
/// because, in the parent process, none of them takes a tracked lock (their
/// locks are taken in child processes).
#[test]
fn off_records_nothing_but_keeps_the_held_locks_and_on_records_again() {
    if is_child() {
        return;
    }
    if std::env::var_os("LOCKGRAPH_ORDER").is_none() {
        assert_eq!(order_graph(), DEFAULT_ON);
    }
    set_order_graph(false);
    assert!(!order_graph());
    let (a, b) = (Mutex::named("order-a", ()), Mutex::named("order-b", ()));
    let before = stats().class_edges;
    assert_eq!(abba(&a, &b), 0, "the graph is off: no report");
    assert_eq!(stats().class_edges, before, "the graph is off: no edge");
    {
        // The held-lock stack (which the watchdog publishes) is still kept.
        let _a = a.lock();
        let _b = b.lock();
        let names: Vec<String> = held_locks()
            .iter()
            .map(|(_, class, _)| format!("{class:?}"))
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names[0].contains("order-a") && names[1].contains("order-b"));
    }

    set_order_graph(true);
    assert!(order_graph());
    // What was taken while off was not recorded: b -> a alone closes nothing.
    let reports = capture(|| {
        let _b = b.lock();
        let _a = a.lock();
    });
    assert!(reports.is_empty(), "{reports:?}");
    assert_eq!(stats().class_edges, before + 1);
    // From now on every acquisition is recorded: a -> b closes the cycle.
    let reports = capture(|| {
        let _a = a.lock();
        let _b = b.lock();
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
}

#[test]
fn child_abba_count() {
    if !is_child() {
        return;
    }
    let (a, b) = (Mutex::named("env-a", ()), Mutex::named("env-b", ()));
    println!("REPORTS {} ORDER {}", abba(&a, &b), order_graph());
}

/// Runs `child_abba_count` with `LOCKGRAPH_ORDER=value`: (stdout, stderr).
/// A child that does not finish within a minute is killed and fails the test.
fn child_with(value: &str) -> (String, String) {
    let out = child!(child_abba_count)
        .env("LOCKGRAPH_ORDER", value)
        .deadline(Duration::from_secs(60))
        .run();
    assert!(
        !out.timed_out,
        "the child with LOCKGRAPH_ORDER={value} did not finish in a minute"
    );
    assert!(out.success(), "{out:?}");
    (out.stdout, out.stderr)
}

#[test]
fn the_environment_turns_the_graph_off_and_on() {
    if is_child() {
        return;
    }
    let (out, _) = child_with("off");
    assert!(out.contains("REPORTS 0 ORDER false"), "{out}");
    let (out, _) = child_with("on");
    assert!(out.contains("REPORTS 1 ORDER true"), "{out}");
}

#[test]
fn an_unknown_value_is_named_and_the_default_kept() {
    if is_child() {
        return;
    }
    let (out, err) = child_with("sometimes");
    assert!(
        err.contains("LOCKGRAPH_ORDER: unknown value \"sometimes\" (expected on or off)"),
        "{err}"
    );
    let want = if DEFAULT_ON {
        "REPORTS 1 ORDER true"
    } else {
        "REPORTS 0 ORDER false"
    };
    assert!(out.contains(want), "{out}");
}

/// In the lean production mode (the watchdog on, the graph off) `a` then
/// `b` taken until each is the lean steady case, then the graph turned on:
/// the next `a` then `b` is recorded, so `b` then `a` closes a cycle. The
/// lean steady test must not match once the mode is another (its tag).
#[test]
fn child_lean_then_graph_on() {
    if !is_child() {
        return;
    }
    let (a, b) = (Mutex::named("lean-a", ()), Mutex::named("lean-b", ()));
    for _ in 0..100 {
        let _a = a.lock();
        let _b = b.lock();
    }
    let off = stats().class_edges;
    set_order_graph(true);
    let reports = capture(|| {
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        let _b = b.lock();
        let _a = a.lock();
    });
    println!(
        "LEAN EDGES {off} REPORTS {} ORDER {}",
        reports.len(),
        order_graph()
    );
}

#[test]
fn the_lean_mode_records_again_once_the_graph_is_on() {
    if is_child() {
        return;
    }
    let out = child!(child_lean_then_graph_on)
        .env("LOCKGRAPH_ORDER", "off")
        .env("LOCKGRAPH_WATCHDOG", "30s")
        .deadline(Duration::from_secs(60))
        .run();
    assert!(!out.timed_out, "the child did not finish in a minute");
    assert!(out.success(), "{out:?}");
    assert!(
        out.stdout.contains("LEAN EDGES 0 REPORTS 1 ORDER true"),
        "{out:?}"
    );
}
