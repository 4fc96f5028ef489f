//! What an on-call needs from a report (an outside on-call test's findings
//! 4 to 6): the size of the crowd waiting for a lock, the thread that
//! exited leaving a lock held, and, without the lock-order graph, the
//! thread that goes against the example lock order.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use lockgraph::Mutex;
use lockgraph_testkit::{child, is_child, spawn_named, END};
use serde_json::Value;

use crate::golden::assert_fits_schema;
use crate::{first_report_line, ring_of_three, run_child, site_line, start};

/// Runs `child` with `LOCKGRAPH_DUMP_DIR` (and `env`) until its first
/// report of `kind` (`LONG WAIT`, `DEADLOCK`); returns that report's text
/// and JSON, and all of the child's stderr.
fn first_report(
    child: lockgraph_testkit::Child,
    tag: &str,
    kind: &str,
    env: &[(&str, &str)],
) -> (String, Value, String) {
    let dir = std::env::temp_dir().join(format!("lockgraph-oncall-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut all = vec![("LOCKGRAPH_DUMP_DIR", dir.to_str().unwrap())];
    all.extend_from_slice(env);
    let (text, ok) = run_child(child, &all, Duration::from_secs(20), |t| {
        t.contains(kind) && t.contains(END)
    });
    assert!(ok, "no {kind} report in time:\n{text}");
    let line = first_report_line(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let at = text.find(&format!("lockgraph watchdog: {kind}")).unwrap();
    let report = text[at..at + text[at..].find(END).unwrap()].to_string();
    (report, serde_json::from_str(&line).unwrap(), text)
}

/// `crowd-holder` holds `crowd-lock` for good; six threads wait for it.
#[test]
fn child_crowd() {
    if !is_child() {
        return;
    }
    start(500);
    let m = Arc::new(Mutex::named("crowd-lock", ()));
    let held = Arc::new(Barrier::new(2));
    let (m1, held1) = (m.clone(), held.clone());
    let _holder = spawn_named("crowd-holder", move || {
        let _g = m1.lock();
        held1.wait();
        std::thread::sleep(Duration::from_secs(60));
    });
    held.wait();
    let waiters: Vec<_> = (0..6)
        .map(|i| {
            let m = m.clone();
            spawn_named(&format!("crowd-w{i}"), move || drop(m.lock()))
        })
        .collect();
    for w in waiters {
        w.join().unwrap();
    }
}

/// The first report of a lock a crowd waits for says how many others wait
/// for it (it did not: the crowd's size came a minute later, in the rate
/// limit's count of the reports it held back).
#[test]
fn a_long_wait_says_how_many_other_threads_wait_for_the_lock() {
    if is_child() {
        return;
    }
    let (report, json, _) = first_report(child!(child_crowd), "crowd", "LONG WAIT", &[]);
    let first = report.lines().next().unwrap();
    assert!(
        first.contains(" for Mutex `crowd-lock`, and 5 other threads wait for it (pid "),
        "{first}"
    );
    assert_eq!(json["other_waiters"], 5, "{json}");
    assert_fits_schema(&json);
}

/// `ex-leaver` leaks its guard of `ex-lock` and exits; `ex-waiter` then
/// waits for the lock.
#[test]
fn child_exit_holding() {
    if !is_child() {
        return;
    }
    start(500);
    let m = Arc::new(Mutex::named("ex-lock", ()));
    let m1 = m.clone();
    spawn_named("ex-leaver", move || {
        eprintln!("SITE ex-leaver={}", line!() + 1);
        std::mem::forget(m1.lock());
    })
    .join()
    .unwrap();
    spawn_named("ex-waiter", move || drop(m.lock()))
        .join()
        .unwrap();
}

/// A lock no thread holds, left held by a thread that exited (its guard
/// leaked): the report names that thread, when it exited and where it took
/// the lock (it could not: the thread was gone, and the advice pointed to
/// `lockgraph::dump()`, which cannot show it either).
#[test]
fn a_wait_for_a_lock_left_held_by_an_exited_thread_names_that_thread() {
    if is_child() {
        return;
    }
    let (report, json, text) = first_report(child!(child_exit_holding), "exit", "LONG WAIT", &[]);
    let taken = format!(
        "tests/watchdog/oncall.rs:{}:",
        site_line(&text, "ex-leaver")
    );
    let line = report
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with("held by thread `ex-leaver` (tid ")
        })
        .unwrap_or_else(|| panic!("no exited holder in:\n{report}"));
    assert!(
        line.contains(" UTC holding it (taken at ") && line.contains(&taken),
        "{line}"
    );
    let advice = report.lines().last().unwrap();
    assert!(
        advice.starts_with(&format!(
            "what to do: thread `ex-leaver` took it at {taken}"
        )) && advice.contains("without releasing it, so no thread can take Mutex `ex-lock` again"),
        "{advice}"
    );
    let left = &json["threads"][0]["waiting"]["left_held_by"];
    assert_eq!(left["thread"], "ex-leaver", "{json}");
    assert!(left["site"].as_str().unwrap().starts_with(&taken), "{json}");
    assert!(
        left["exited_at_unix_ms"].as_u64().unwrap()
            <= json["reported_at_unix_ms"].as_u64().unwrap()
    );
    assert_fits_schema(&json);
}

/// Three threads take `lock-1..3` in a ring (each its own, then the
/// next's), with the lock-order graph off.
#[test]
fn child_ring_of_three() {
    if !is_child() {
        return;
    }
    start(300);
    ring_of_three(
        ["ring-1", "ring-2", "ring-3"],
        ["ring-a", "ring-b", "ring-c"],
    );
}

/// Without the lock-order graph the advice's example order (from the
/// lowest lock id) has one thread against it, which it names: the one that
/// asks for the order's first lock while holding its last (it named none,
/// and said "the thread that takes them the other way", odd for three
/// locks).
#[test]
fn without_the_graph_a_three_thread_deadlock_names_the_thread_against_the_example_order() {
    if is_child() {
        return;
    }
    let (report, json, text) = first_report(
        child!(child_ring_of_three),
        "ring",
        "DEADLOCK",
        &[("LOCKGRAPH_ORDER", "off")],
    );
    let advice = report.lines().last().unwrap();
    // Ids need not follow the locks' creation: any rotation of the ring,
    // with the thread that asks for its first lock (`ring-c` asks for
    // `ring-1` holding `ring-3`, and so on round the ring).
    let ring = ["ring-1", "ring-2", "ring-3"];
    let asker = ["ring-c", "ring-a", "ring-b"];
    let wants: Vec<String> = (0..3)
        .map(|k| {
            format!(
                "what to do: adopt one lock order everywhere, for example Mutex `{}` before Mutex \
                 `{}` before Mutex `{}`; in that order thread `{}` breaks it: it asks for Mutex \
                 `{}` at tests/watchdog/main.rs:{}:",
                ring[k],
                ring[(k + 1) % 3],
                ring[(k + 2) % 3],
                asker[k],
                ring[k],
                site_line(&text, asker[k])
            )
        })
        .collect();
    assert!(
        wants.iter().any(|w| advice.starts_with(w)),
        "{advice}\nwant one of: {wants:#?}"
    );
    assert!(!advice.contains("the other way"), "{advice}");
    assert_eq!(json["advice"], advice, "{json}");
    assert_fits_schema(&json);
}
