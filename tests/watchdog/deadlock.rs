//! Deadlocks of mutexes: two threads (the full report: threads, locks,
//! sites, cycle, stacks, the lock-order graph's view, the JSON dump), three
//! threads, and re-entrant mutexes.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use lockgraph::{Mutex, ReentrantMutex};
use lockgraph_testkit::{child, is_child, spawn_named, END};

use crate::{child_abba, crossing, ring_of_three, run_child, site_line, start};

#[test]
fn the_order_graphs_line_says_whether_the_cycle_was_reported() {
    if is_child() {
        return;
    }
    if !lockgraph::order_graph() {
        // The graph starts off in this build: the line then says so (the
        // test below).
        return;
    }
    // Under `warn` the graph reported the cycle before the threads blocked;
    // under `off` (what `run_child` sets, and the test below checks) it
    // found it and said nothing, and the line must not claim a report.
    let (text, ok) = run_child(
        child!(child_abba),
        &[
            ("LOCKGRAPH_WATCHDOG", "300ms"),
            ("LOCKGRAPH_ON_CYCLE", "warn"),
        ],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let at = text.find("lockgraph watchdog: DEADLOCK").unwrap();
    assert!(
        text[..at].contains("lockgraph: potential deadlock: lock-order cycle"),
        "{text}"
    );
    assert!(
        text[at..].contains(
            "lock-order graph: it knew this cycle and reported it as a potential deadlock when its last edge was recorded:"
        ),
        "{text}"
    );
}

#[test]
fn a_two_thread_abba_deadlock_is_reported_with_threads_locks_sites_and_cycle() {
    if is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockgraph-wd-abba-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (text, ok) = run_child(
        child!(child_abba),
        &[
            ("LOCKGRAPH_WATCHDOG", "300ms"),
            ("LOCKGRAPH_DUMP_DIR", dir.to_str().unwrap()),
        ],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    assert!(report.contains("2 threads wait for each other"), "{report}");
    for name in [
        "thread `wd-a`",
        "thread `wd-b`",
        "Mutex `lock-x`",
        "Mutex `lock-y`",
    ] {
        assert!(report.contains(name), "{name} missing:\n{report}");
    }
    let cycle = report.lines().find(|l| l.contains("cycle:")).unwrap();
    let ab = "thread `wd-a` -> Mutex `lock-y` -> thread `wd-b` -> Mutex `lock-x` -> thread `wd-a`";
    assert!(cycle.ends_with(ab), "{cycle}");
    // Each waiter's own stack, resolved by the watchdog. Optimised builds
    // without debug info inline the test's frames away: only debug builds
    // can name them.
    if cfg!(debug_assertions) {
        assert_eq!(
            report.matches("its stack while waiting:").count(),
            2,
            "{report}"
        );
        assert!(report.contains("watchdog::crossing"), "{report}");
    }
    for name in ["wd-a", "wd-b"] {
        let site = format!(
            "requested at tests/watchdog/main.rs:{}:",
            site_line(&text, name)
        );
        assert!(report.contains(&site), "{site} missing:\n{report}");
    }
    // Each holder: where it took its lock; each thread: where it is now.
    assert!(
        report.contains("(exclusive), taken at tests/watchdog/main.rs:"),
        "{report}"
    );
    // Where each thread is now, in words: parked in the kernel, or (on a
    // loaded machine, between two slices of its wait) runnable.
    let nows: Vec<&str> = report.lines().filter(|l| l.contains("now: ")).collect();
    assert_eq!(nows.len(), 2, "{report}");
    for now in nows {
        let words = now.trim_start().trim_start_matches("now: ");
        assert!(
            words == "blocked in a futex wait" || words.starts_with("running"),
            "{now}"
        );
    }
    // The first line: what, since when, what the watchdog did; the last:
    // the order to adopt and the thread that breaks it.
    let first = report.lines().next().unwrap();
    assert!(
        first.contains("on Mutex `lock-y` and Mutex `lock-x`")
            && first.contains(", since 20")
            && first.ends_with(
                "UTC; reported only; the process is still hung (these threads never wake)"
            ),
        "{first}"
    );
    // The order is the one `wd-a` set (it asked for `lock-y` holding
    // `lock-x` 100ms before `wd-b` asked the other way), and `wd-b`, whose
    // request closed the cycle, breaks it; not the order of the names.
    // Without the lock-order graph: an example order, and the thread that
    // goes against it.
    let graph = lockgraph::order_graph();
    let advice = report.lines().rev().nth(1).unwrap();
    if graph {
        assert!(
            advice.starts_with(
                "what to do: adopt one lock order everywhere, Mutex `lock-x` before Mutex `lock-y`; \
                 thread `wd-b` breaks it: it asks for Mutex `lock-x` at tests/watchdog/main.rs:"
            ),
            "{advice}"
        );
    } else {
        // An order by lock id (ids come in blocks per thread: either one),
        // and the thread that asks for its first lock holding its last.
        assert!(
            [
                ("`lock-x` before Mutex `lock-y`", "wd-b", "lock-x"),
                ("`lock-y` before Mutex `lock-x`", "wd-a", "lock-y")
            ]
            .iter()
            .any(|(o, t, l)| advice.starts_with(&format!(
                "what to do: adopt one lock order everywhere, for example Mutex {o}; \
                 in that order thread `{t}` breaks it: it asks for Mutex `{l}` at "
            ))),
            "{advice}"
        );
    }
    assert!(!report.contains("LONG WAIT"), "{report}");
    // With the lock-order graph on (the default unless the build has
    // `watchdog-in-release`), the graph saw both edges before the threads
    // blocked (each records its edge before it waits), and reported the cycle.
    if !graph {
        assert!(report.contains("lock-order graph: off ("), "{report}");
    }
    assert_eq!(
        report.contains(
            "lock-order graph: it found this cycle when its last edge was recorded, and did not report it (the policy was off then"
        ),
        graph,
        "{report}"
    );
    for (from, to, name) in [("lock-y", "lock-x", "wd-b"), ("lock-x", "lock-y", "wd-a")] {
        if !graph {
            break;
        }
        let step = format!(
            "Mutex `{from}` -> Mutex `{to}`: first by thread `{name}`, holding since tests/watchdog/main.rs:"
        );
        let line = report
            .lines()
            .find(|l| l.contains(&step))
            .unwrap_or_else(|| panic!("{step} missing:\n{report}"));
        let site = format!(
            "requested at tests/watchdog/main.rs:{}:",
            site_line(&text, name)
        );
        assert!(line.contains(&site), "{site} missing: {line}");
    }
    // The same report as JSON in the dump dir.
    let json = crate::first_report_line(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        json.starts_with("{\"lockgraph_watchdog\":1,\"kind\":\"deadlock\""),
        "{json}"
    );
    for needle in [
        "\"name\":\"wd-a\"",
        "\"name\":\"wd-b\"",
        "\"name\":\"lock-x\"",
        "\"cycle\":",
    ] {
        assert!(json.contains(needle), "{needle} missing: {json}");
    }
    let order: &[&str] = if graph {
        &[
            // Found, not reported: `run_child` sets LOCKGRAPH_ON_CYCLE=off.
            "\"order\":{\"graph_on\":true,\"found\":true,\"reported\":false,\"edges\":[{\"from\":",
            "\"first\":{\"thread\":\"wd-a\",\"held_at\":\"tests/watchdog/main.rs:",
        ]
    } else {
        &["\"order\":{\"graph_on\":false,\"found\":false,\"reported\":false,\"edges\":[{\"from\":"]
    };
    for needle in order {
        assert!(json.contains(needle), "{needle} missing: {json}");
    }
}

#[test]
fn child_three_cycle() {
    if !is_child() {
        return;
    }
    start(300);
    ring_of_three(["lock-1", "lock-2", "lock-3"], ["wd-1", "wd-2", "wd-3"]);
}

#[test]
fn a_three_thread_cycle_is_reported_whole() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_three_cycle),
        &[],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    assert!(report.contains("3 threads wait for each other"), "{report}");
    let cycle = report.lines().find(|l| l.contains("cycle:")).unwrap();
    assert!(
        cycle.ends_with(
            "thread `wd-1` -> Mutex `lock-2` -> thread `wd-2` -> Mutex `lock-3` -> \
             thread `wd-3` -> Mutex `lock-1` -> thread `wd-1`"
        ),
        "{cycle}"
    );
    for name in ["wd-1", "wd-2", "wd-3"] {
        let site = format!(
            "requested at tests/watchdog/main.rs:{}:",
            site_line(&text, name)
        );
        assert!(report.contains(&site), "{site} missing:\n{report}");
    }
}

/// Unnamed threads are named by their `ThreadId`, as the lock-order
/// graph's reports name them: both were `<unnamed>`, and the cycle line and
/// the advice could not tell them apart (found by an outside test).
#[test]
fn child_unnamed_abba() {
    if !is_child() {
        return;
    }
    start(300);
    let (a, b) = (
        Arc::new(Mutex::named("un-a", ())),
        Arc::new(Mutex::named("un-b", ())),
    );
    let barrier = Arc::new(Barrier::new(2));
    let cross = |x: Arc<Mutex<()>>, y: Arc<Mutex<()>>, barrier: Arc<Barrier>| {
        std::thread::spawn(move || {
            let _x = x.lock();
            barrier.wait();
            let _y = y.lock();
        })
    };
    let t1 = cross(a.clone(), b.clone(), barrier.clone());
    let t2 = cross(b, a, barrier);
    t1.join().unwrap();
    t2.join().unwrap();
}

#[test]
fn unnamed_threads_are_named_by_their_thread_ids() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_unnamed_abba),
        &[],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    assert!(!report.contains("<unnamed>"), "{report}");
    let cycle = report.lines().find(|l| l.contains("cycle:")).unwrap();
    // By their OS thread ids (on Linux), which `top` and `gdb` show.
    let unnamed = if cfg!(target_os = "linux") {
        "thread `unnamed, tid "
    } else {
        "thread `ThreadId("
    };
    assert_eq!(cycle.matches(unnamed).count(), 3, "{cycle}");
}

#[test]
fn child_reentrant_abba() {
    if !is_child() {
        return;
    }
    start(300);
    let x = Arc::new(ReentrantMutex::named("re-x", ()));
    let y = Arc::new(ReentrantMutex::named("re-y", ()));
    let barrier = Arc::new(Barrier::new(2));
    let a = crossing("wd-re-a", x.clone(), y.clone(), barrier.clone());
    let b = crossing("wd-re-b", y, x, barrier);
    a.join().unwrap();
    b.join().unwrap();
}

#[test]
fn a_reentrant_mutex_abba_is_a_deadlock() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_reentrant_abba),
        &[],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    assert!(report.contains("2 threads wait for each other"), "{report}");
    let cycle = report.lines().find(|l| l.contains("cycle:")).unwrap();
    assert!(
        cycle.ends_with(
            "thread `wd-re-a` -> ReentrantMutex `re-y` -> thread `wd-re-b` -> \
             ReentrantMutex `re-x` -> thread `wd-re-a`"
        ),
        "{cycle}"
    );
    assert!(
        report.contains("waits for ReentrantMutex `re-y` (exclusive)"),
        "{report}"
    );
    for name in ["wd-re-a", "wd-re-b"] {
        let site = format!(
            "requested at tests/watchdog/main.rs:{}:",
            site_line(&text, name)
        );
        assert!(report.contains(&site), "{site} missing:\n{report}");
    }
}

#[test]
fn child_abba_seen_late() {
    if !is_child() {
        return;
    }
    // Scans far apart against the timeout: the first scan that sees the
    // cycle finds both waits already past the timeout, as a watchdog
    // thread delayed on a loaded machine would.
    assert!(lockgraph::watchdog::start(
        lockgraph::watchdog::Config::default()
            .timeout(Duration::from_millis(20))
            .scan_period(Duration::from_millis(400))
            .action(lockgraph::watchdog::Action::Abort)
    ));
    crate::abba_deadlock(["late-x", "late-y"], ["late-a", "late-b"]);
}

#[test]
fn a_cycle_first_seen_past_the_timeout_is_a_deadlock_not_a_long_wait() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_abba_seen_late),
        &[],
        Duration::from_secs(20),
        |t| t.contains("lockgraph: aborting"),
    );
    assert!(ok, "no abort in time:\n{text}");
    assert!(text.contains("lockgraph watchdog: DEADLOCK"), "{text}");
    assert!(!text.contains("LONG WAIT"), "{text}");
}

/// A process under load: twelve threads nesting pairs of 32 locks in
/// order, timed tries, fresh locks, short-lived threads, and a hot lock
/// held past the timeout now and then (so long waits go out all along);
/// then an ABBA between two more threads. Never returns.
#[test]
fn child_abba_under_load() {
    if !is_child() {
        return;
    }
    let locks: Arc<Vec<Mutex<u64>>> = Arc::new((0..32).map(|_| Mutex::new(0)).collect());
    let hot = Arc::new(Mutex::named("load-hot", 0u64));
    for t in 0..12u64 {
        let (locks, hot) = (locks.clone(), hot.clone());
        spawn_named(&format!("load-{t}"), move || {
            let mut x = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            for i in 0u64.. {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let (a, b) = ((x % 32) as usize, ((x >> 8) % 32) as usize);
                let (a, b) = (a.min(b), a.max(b));
                match i % 64 {
                    0 => {
                        // The hot lock: held past the timeout by one thread.
                        let mut g = hot.lock();
                        *g += 1;
                        if t == 0 && i % 4096 == 0 {
                            std::thread::sleep(Duration::from_millis(450));
                        }
                    }
                    1 => {
                        drop(locks[a].try_lock_for(Duration::from_millis(1)));
                    }
                    2 => {
                        let fresh = Mutex::new(0u64);
                        let _g = locks[a].lock();
                        *fresh.lock() += 1;
                    }
                    3 if i % 1024 == 3 => {
                        let l = locks.clone();
                        let _ = std::thread::spawn(move || *l[a].lock() += 1).join();
                    }
                    _ if a != b => {
                        let mut ga = locks[a].lock();
                        let mut gb = locks[b].lock();
                        *ga += 1;
                        *gb += 1;
                    }
                    _ => *locks[a].lock() += 1,
                }
            }
        });
    }
    std::thread::sleep(Duration::from_millis(700));
    eprintln!("ABBA STARTS");
    crate::abba_deadlock(["load-x", "load-y"], ["load-abba-1", "load-abba-2"]);
}

/// The deadlock of two threads is reported while twelve others keep the
/// process busy (and long waits on a hot lock keep going out).
#[test]
fn an_abba_under_load_is_reported() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_abba_under_load),
        &[("LOCKGRAPH_WATCHDOG", "300ms")],
        Duration::from_secs(30),
        |t| {
            t.contains("lockgraph watchdog: DEADLOCK")
                && t[t.find("lockgraph watchdog: DEADLOCK").unwrap()..].contains(END)
        },
    );
    assert!(ok, "no DEADLOCK under load:\n{text}");
    let at = text.find("lockgraph watchdog: DEADLOCK").unwrap();
    let report = &text[at..];
    for name in ["load-abba-1", "load-abba-2", "load-x", "load-y"] {
        assert!(report.contains(name), "{name} missing:\n{report}");
    }
}
