//! The lean production mode (the watchdog on, the lock-order graph off):
//! what an acquisition publishes for the watchdog, and the graph turned
//! back on at run time.

use std::panic::Location;
use std::sync::mpsc;
use std::time::Duration;

use lockgraph::watchdog::{self, Config, Dump, HeldInfo};
use lockgraph::{Mutex, RwLock};
use lockgraph_testkit::{child, is_child};

use crate::{child_abba, run_child, thread_section};

/// The locks the thread named `name` holds in `d`, as
/// `name mode line`, outermost first.
fn held_by(d: &Dump, name: &str) -> Vec<String> {
    let Some(t) = d.threads.iter().find(|t| t.name == name) else {
        return Vec::new();
    };
    t.held.iter().map(describe).collect()
}

fn describe(h: &HeldInfo) -> String {
    let mode = match (h.hold, h.upgradable) {
        (_, true) => "upgradable",
        (lockgraph::Hold::Exclusive, _) => "exclusive",
        _ => "shared",
    };
    let line = h.site.as_ref().map_or(0, |s| s.line);
    format!("{} {mode} {line}", h.lock.name.unwrap_or("?"))
}

/// The holder thread's steps: each sends the locks it should hold now and
/// waits for the main thread's dump.
#[test]
fn child_lean_publication() {
    if !is_child() {
        return;
    }
    assert!(watchdog::start(
        Config::default()
            .timeout(Duration::from_secs(60))
            .scan_period(Duration::from_millis(50))
    ));
    assert!(
        !lockgraph::order_graph(),
        "LOCKGRAPH_ORDER=off was not honoured"
    );
    let (to_main, from_holder) = mpsc::channel::<Vec<String>>();
    let (to_holder, from_main) = mpsc::channel::<()>();
    let holder = std::thread::Builder::new()
        .name("lean-holder".into())
        .spawn(move || {
            let step = |expect: Vec<String>| {
                to_main.send(expect).unwrap();
                from_main.recv().unwrap();
            };
            let line = |l: &Location| l.line();
            let a = Mutex::named("lean-a", 0u32);
            let b = RwLock::named("lean-b", 0u32);
            let c = RwLock::named("lean-c", 0u32);
            // The same lock taken again and again from one site (the path
            // that stores only the mode, the site and the start)...
            for _ in 0..3 {
                *a.lock() += 1;
            }
            let (ga, la) = (a.lock(), line(Location::caller()));
            let gb = b.read();
            let lb = line(Location::caller()) - 1;
            let gc = c.upgradable_read();
            let lc = line(Location::caller()) - 1;
            step(vec![
                format!("lean-a exclusive {la}"),
                format!("lean-b shared {lb}"),
                format!("lean-c upgradable {lc}"),
            ]);
            // A release from the middle of the stack, then from the top.
            drop(gb);
            step(vec![
                format!("lean-a exclusive {la}"),
                format!("lean-c upgradable {lc}"),
            ]);
            drop(gc);
            drop(ga);
            step(vec![]);
            // ...then the same lock from another site and in another mode:
            // the published entry follows.
            let gb = b.write();
            let lb2 = line(Location::caller()) - 1;
            step(vec![format!("lean-b exclusive {lb2}")]);
            drop(gb);
            let gb = b.read();
            let lb3 = line(Location::caller()) - 1;
            step(vec![format!("lean-b shared {lb3}")]);
            drop(gb);
            step(vec![]);
        })
        .unwrap();
    while let Ok(expect) = from_holder.recv() {
        let got = held_by(&watchdog::dump(), "lean-holder");
        if got != expect {
            eprintln!("LEAN MISMATCH: expected {expect:?}, dump says {got:?}");
            std::process::exit(3);
        }
        eprintln!("LEAN STEP OK: {got:?}");
        if to_holder.send(()).is_err() {
            break;
        }
    }
    holder.join().unwrap();
    eprintln!("LEAN DONE");
}

#[test]
fn the_lean_mode_publishes_every_hold_and_its_release_for_the_watchdog() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_lean_publication),
        &[("LOCKGRAPH_ORDER", "off")],
        Duration::from_secs(30),
        |t| t.contains("LEAN DONE") || t.contains("LEAN MISMATCH"),
    );
    assert!(ok, "the child did not finish:\n{text}");
    assert!(!text.contains("LEAN MISMATCH"), "{text}");
    assert_eq!(text.matches("LEAN STEP OK").count(), 6, "{text}");
}

#[test]
fn child_graph_back_on() {
    if !is_child() {
        return;
    }
    assert!(watchdog::start(
        Config::default().scan_period(Duration::from_millis(50))
    ));
    assert!(!lockgraph::order_graph());
    let a = Mutex::named("lean-on-a", ());
    let b = Mutex::named("lean-on-b", ());
    let c = Mutex::named("lean-on-c", ());
    let before = lockgraph::stats().class_edges;
    {
        // Taken in the lean mode, released after the graph came back on.
        let _ga = a.lock();
        let _gb = b.lock();
        lockgraph::set_order_graph(true);
        let _gc = c.lock();
    }
    let after_on = lockgraph::stats().class_edges;
    // Held locks of the lean mode are the graph's held locks: b -> c and
    // a -> c recorded.
    eprintln!("EDGES {}", after_on - before);
    // Taken with the graph on, released in the lean mode.
    let ga = a.lock();
    lockgraph::set_order_graph(false);
    drop(ga);
    let held_threads = || {
        watchdog::dump()
            .threads
            .iter()
            .filter(|t| !t.held.is_empty())
            .count()
    };
    eprintln!("HELD THREADS {}", held_threads());
    // Back in the lean mode with the same locks, after the graph recorded
    // edges for them: each hold is published (from the second round on by
    // the lean push's steady way, the lock's slot word found in the slot)
    // and each release unpublishes it (the exact compare with that word
    // in a `watchdog-in-release` build).
    let me = std::thread::current().name().unwrap_or("").to_string();
    for round in 0..3 {
        let ga = a.lock();
        let gb = b.lock();
        let names: Vec<_> = held_by(&watchdog::dump(), &me)
            .iter()
            .map(|h| h.split(' ').take(2).collect::<Vec<_>>().join(" "))
            .collect();
        eprintln!("LEAN AGAIN {round} {names:?}");
        drop(gb);
        drop(ga);
    }
    eprintln!("HELD THREADS AFTER {}", held_threads());
    eprintln!("LEAN DONE");
}

/// The graph turned back on records edges from the locks taken in the
/// lean mode; turned off again, the lean mode publishes and unpublishes
/// holds of the same locks.
#[test]
fn the_order_graph_turned_back_on_records_edges_from_locks_taken_in_the_lean_mode() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_graph_back_on),
        &[("LOCKGRAPH_ORDER", "off")],
        Duration::from_secs(30),
        |t| t.contains("LEAN DONE"),
    );
    assert!(ok, "the child did not finish:\n{text}");
    assert!(text.contains("EDGES 2"), "{text}");
    assert!(text.contains("HELD THREADS 0"), "{text}");
    for round in 0..3 {
        let line = format!("LEAN AGAIN {round} [\"lean-on-a exclusive\", \"lean-on-b exclusive\"]");
        assert!(text.contains(&line), "no {line:?} in:\n{text}");
    }
    assert!(text.contains("HELD THREADS AFTER 0"), "{text}");
}

/// A deadlock with the lock-order graph off (the lean mode): the watchdog
/// reads each thread's held-lock stack in place, and its report names
/// every holder's lock, mode and site.
#[test]
fn a_lean_deadlock_names_each_holders_lock_mode_and_site() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_abba),
        &[("LOCKGRAPH_WATCHDOG", "300ms"), ("LOCKGRAPH_ORDER", "off")],
        Duration::from_secs(20),
        |t| t.contains("DEADLOCK") && t.contains(lockgraph_testkit::END),
    );
    assert!(ok, "no deadlock report in time:\n{text}");
    let report = &text[text.find("lockgraph watchdog: DEADLOCK").unwrap()..];
    for (thread, held) in [("wd-a", "lock-x"), ("wd-b", "lock-y")] {
        let section = thread_section(report, thread);
        let line = format!("Mutex `{held}` (exclusive), taken at tests/watchdog/main.rs:");
        assert!(section.contains(&line), "{line} missing:\n{section}");
    }
}

/// Threads that take locks in the lean mode and exit, many of them, while
/// the watchdog scans every millisecond and another thread asks for dumps
/// in a loop: a reader copies a thread's stack only under the lock that
/// the exiting thread's slot takes to unregister it, so none reads a stack
/// that is gone (the child would crash or hang).
#[test]
fn child_threads_exit_while_the_watchdog_reads_their_stacks() {
    if !is_child() {
        return;
    }
    assert!(watchdog::start(
        Config::default()
            .timeout(Duration::from_secs(60))
            .scan_period(Duration::from_millis(1))
    ));
    assert!(!lockgraph::order_graph());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let dumper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut dumps = 0u64;
            let mut holds_seen = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let d = watchdog::dump();
                holds_seen += d.threads.iter().map(|t| t.held.len()).sum::<usize>();
                dumps += 1;
            }
            (dumps, holds_seen)
        })
    };
    let a = std::sync::Arc::new(Mutex::named("exit-a", 0u64));
    let b = std::sync::Arc::new(RwLock::named("exit-b", 0u64));
    let start = std::time::Instant::now();
    let mut threads = 0u64;
    while start.elapsed() < Duration::from_millis(1500) {
        let batch: Vec<_> = (0..8)
            .map(|_| {
                let (a, b) = (a.clone(), b.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let mut ga = a.lock();
                        let gb = b.read();
                        *ga += *gb;
                        drop(gb);
                        drop(ga);
                    }
                    // Held while the thread exits: its stack is read until
                    // it unregisters.
                    std::mem::forget(b.read());
                })
            })
            .collect();
        for t in batch {
            t.join().unwrap();
            threads += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (dumps, holds_seen) = dumper.join().unwrap();
    eprintln!("EXIT SAFE: {threads} threads, {dumps} dumps, {holds_seen} holds seen");
}

#[test]
fn threads_exiting_while_the_watchdog_reads_their_stacks_is_safe() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_threads_exit_while_the_watchdog_reads_their_stacks),
        &[
            ("LOCKGRAPH_ORDER", "off"),
            ("LOCKGRAPH_REMOTE_STACKS", "off"),
        ],
        Duration::from_secs(60),
        |t| t.contains("EXIT SAFE"),
    );
    assert!(ok, "the child did not finish:\n{text}");
    let line = text.lines().find(|l| l.contains("EXIT SAFE")).unwrap();
    let dumps: u64 = line
        .split(", ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(dumps > 0, "{line}");
    // Shown with --nocapture: how much racing the run did.
    println!("{line}");
}

/// A lean acquisition's first attempt is `lock`-shaped (it may spin, and
/// park until a deadline already passed, before it fails): a wait that
/// outlasts the attempt is published for the watchdog, and, as a stress
/// test of the attempt's slow path, contended acquisitions of a `Mutex`
/// and of a `FairMutex` (whose `unlock_fair` hands the lock to a parked
/// thread, which may be one whose zero deadline is running out: nothing
/// here forces that case) stay exclusive and are all counted.
#[test]
fn child_lean_contention() {
    if !is_child() {
        return;
    }
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::Arc;
    assert!(watchdog::start(
        Config::default()
            .timeout(Duration::from_secs(60))
            .scan_period(Duration::from_millis(10))
    ));
    assert!(!lockgraph::order_graph());
    // The lock path this test is for: the lean mode's, no other feature on.
    assert!(lockgraph::__private::lean_mode(), "not in the lean mode");

    // A wait past the attempt is published: the holder keeps the lock until
    // the dump shows the waiter on it.
    let held = Arc::new(Mutex::named("lean-contended", 0u32));
    let guard = held.lock();
    let waiter = {
        let held = held.clone();
        std::thread::Builder::new()
            .name("lean-waiter".into())
            .spawn(move || *held.lock() += 1)
            .unwrap()
    };
    let start = std::time::Instant::now();
    let seen = loop {
        let d = watchdog::dump();
        let waits = d.threads.iter().any(|t| {
            t.name == "lean-waiter"
                && t.waiting.as_ref().and_then(|w| w.lock.name) == Some("lean-contended")
        });
        if waits || start.elapsed() > Duration::from_secs(10) {
            break waits;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    drop(guard);
    waiter.join().unwrap();
    assert_eq!(*held.lock(), 1);
    if !seen {
        eprintln!("LEAN CONTENTION: the waiter's wait was never published");
        return;
    }

    // Exclusion and counts under contention, both kinds of mutex.
    const THREADS: u64 = 4;
    const ROUNDS: u64 = 20_000;
    let plain = Arc::new(Mutex::named("lean-plain", 0u64));
    let fair = Arc::new(lockgraph::FairMutex::named("lean-fair", 0u64));
    let inside = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (plain, fair, inside) = (plain.clone(), fair.clone(), inside.clone());
            std::thread::spawn(move || {
                let mut overlaps = 0u64;
                for _ in 0..ROUNDS {
                    let mut g = plain.lock();
                    overlaps += u64::from(inside[0].swap(true, SeqCst));
                    *g += 1;
                    inside[0].store(false, SeqCst);
                    drop(g);
                    let mut g = fair.lock();
                    overlaps += u64::from(inside[1].swap(true, SeqCst));
                    *g += 1;
                    inside[1].store(false, SeqCst);
                    drop(g);
                }
                overlaps
            })
        })
        .collect();
    let overlaps: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    eprintln!(
        "LEAN CONTENTION: plain {}, fair {}, overlaps {overlaps}, expected {}",
        *plain.lock(),
        *fair.lock(),
        THREADS * ROUNDS
    );
}

#[test]
fn contended_lean_acquisitions_stay_exclusive_and_a_long_wait_is_published() {
    if is_child() {
        return;
    }
    let (text, ok) = run_child(
        child!(child_lean_contention),
        &[("LOCKGRAPH_ORDER", "off")],
        Duration::from_secs(60),
        |t| t.contains("LEAN CONTENTION"),
    );
    assert!(ok, "the child did not finish:\n{text}");
    assert!(
        text.contains("LEAN CONTENTION: plain 80000, fair 80000, overlaps 0, expected 80000"),
        "{text}"
    );
}
