//! `lockgraph::deadlock`: parking_lot's `check_deadlock`, for code written
//! for it (a swap of parking_lot failed to build on `use
//! parking_lot::deadlock`; found by an outside test).

use super::*;
use lockgraph_testkit::child;

/// An ABBA between two threads, and a checking thread written as
/// parking_lot's docs show it; nothing starts the watchdog but the check.
#[test]
fn child_check_deadlock() {
    if !is_child() {
        return;
    }
    assert!(!watchdog::on());
    // Before any deadlock: nothing, and the first call starts the watchdog.
    assert!(lockgraph::deadlock::check_deadlock().is_empty());
    assert!(watchdog::on());
    let a = Arc::new(Mutex::named("compat-a", ()));
    let b = Arc::new(Mutex::named("compat-b", ()));
    let barrier = Arc::new(Barrier::new(2));
    let _one = crossing("compat-one", a.clone(), b.clone(), barrier.clone());
    let _two = crossing("compat-two", b, a, barrier);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let found = loop {
        let found = lockgraph::deadlock::check_deadlock();
        if !found.is_empty() || std::time::Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(found.len(), 1, "{found:#?}");
    for t in &found[0] {
        eprintln!(
            "CHECK thread {} tid {} frames {}",
            t.info().name,
            t.thread_id(),
            t.backtrace().frames().len()
        );
        eprintln!("{:#?}", t.backtrace());
    }
    // Each deadlock once, as parking_lot's.
    assert!(lockgraph::deadlock::check_deadlock().is_empty());
    eprintln!("CHECK DONE");
}

#[test]
fn check_deadlock_returns_each_deadlock_once_with_its_threads_and_stacks() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_check_deadlock),
        &[],
        Duration::from_secs(40),
        |t| t.contains("CHECK DONE"),
    );
    assert!(ok, "no deadlock found by check_deadlock:\n{text}");
    let mut threads: Vec<(&str, u64, usize)> = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("CHECK thread ")?;
            let mut w = rest.split_whitespace();
            let name = w.next()?;
            let tid = w.nth(1)?.parse().ok()?;
            let frames = w.nth(1)?.parse().ok()?;
            Some((name, tid, frames))
        })
        .collect();
    threads.sort();
    let names: Vec<&str> = threads.iter().map(|t| t.0).collect();
    assert_eq!(names, ["compat-one", "compat-two"], "{text}");
    assert!(threads.iter().all(|t| t.1 != 0), "{text}");
    assert_ne!(threads[0].1, threads[1].1, "{text}");
    // Each waiter's stack, with the line that asks (debug builds: an
    // optimised build without line tables resolves no frame of its own).
    if cfg!(debug_assertions) {
        assert!(threads.iter().all(|t| t.2 > 0), "{text}");
        for name in ["compat-one", "compat-two"] {
            let line = site_line(&text, name);
            assert!(
                text.contains(&format!("tests/watchdog/main.rs:{line})")),
                "{name}'s request at main.rs:{line} not in its stack:\n{text}"
            );
        }
    }
}
