//! loom model checking of code written against lockgraph's locks.
//!
//! Run with (one test at a time: lockgraph's graph is process-wide and is
//! reset at each model iteration):
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --test loom -- --test-threads=1`
#![cfg(loom)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use loom::sync::Arc;
use loom::thread;

use lockgraph::{
    capture, capture_atomicity, set_atomicity, Atomicity, Condvar, Mutex, ReentrantMutex, RwLock,
    RwLockUpgradableReadGuard, Severity,
};
use lockgraph_testkit::{child, is_child};

/// The ABBA model, run in a child process: when loom finds the deadlock it
/// panics, and unwinding the blocked loom threads aborts the process.
fn abba_model() {
    loom::model(|| {
        let a = Arc::new(Mutex::named("loom-abba-a", ()));
        let b = Arc::new(Mutex::named("loom-abba-b", ()));
        let mut threads = Vec::new();
        for (first, second) in [(a.clone(), b.clone()), (b, a)] {
            // Reports are built on the reporting thread's stack: give the
            // loom threads room (their default is small).
            let t = thread::Builder::new()
                .stack_size(1 << 20)
                .spawn(move || {
                    let reports = capture(|| {
                        let _x = first.lock();
                        let _y = second.lock();
                    });
                    if !reports.is_empty() {
                        eprintln!("lockgraph reported the cycle: {}", reports[0].locks.len());
                    }
                })
                .unwrap();
            threads.push(t);
        }
        for t in threads {
            t.join().unwrap();
        }
    });
}

#[test]
fn loom_finds_a_real_abba_deadlock() {
    if is_child() {
        abba_model();
        return;
    }
    let out = child!(loom_finds_a_real_abba_deadlock)
        .env("RUST_BACKTRACE", "0")
        .deadline(Duration::from_secs(300))
        .run();
    assert!(!out.timed_out, "loom did not finish:\n{}", out.both());
    let err = &out.stderr;
    assert!(!out.success(), "{err}");
    assert!(err.contains("deadlock; threads"), "{err}");
    // Iterations that did not hang ran both orders: lockgraph reported them.
    assert!(err.contains("lockgraph reported the cycle: 2"), "{err}");
}

#[test]
fn loom_passes_but_lockgraph_reports_the_potential_cycle() {
    static ITERATIONS: AtomicUsize = AtomicUsize::new(0);
    static REPORTED: AtomicUsize = AtomicUsize::new(0);
    loom::model(|| {
        ITERATIONS.fetch_add(1, Ordering::Relaxed);
        let a = Arc::new(Mutex::named("loom-seq-a", ()));
        let b = Arc::new(Mutex::named("loom-seq-b", ()));
        let counter = Arc::new(Mutex::named("loom-seq-counter", 0u32));
        let (a2, b2, c2) = (a.clone(), b.clone(), counter.clone());
        let other = thread::spawn(move || *c2.lock() += 1);
        // a then b, in a thread that is joined before b then a: never a
        // deadlock, so loom passes ...
        let t = thread::spawn(move || {
            let _a = a2.lock();
            let _b = b2.lock();
        });
        t.join().unwrap();
        *counter.lock() += 1;
        let reports = capture(|| {
            let _b = b.lock();
            let _a = a.lock();
        });
        // ... and lockgraph reports the inversion in every iteration (the
        // graph is reset per iteration).
        assert_eq!(reports.len(), 1, "{reports:#?}");
        REPORTED.fetch_add(1, Ordering::Relaxed);
        other.join().unwrap();
        assert_eq!(*counter.lock(), 2);
    });
    let n = ITERATIONS.load(Ordering::Relaxed);
    assert!(n > 1, "loom explored {n} interleavings");
    assert_eq!(REPORTED.load(Ordering::Relaxed), n);
}

fn check_then_act(fixed: bool) -> (usize, usize, usize) {
    static VIOLATIONS: AtomicUsize = AtomicUsize::new(0);
    static WARNINGS: AtomicUsize = AtomicUsize::new(0);
    static CLEAN: AtomicUsize = AtomicUsize::new(0);
    for c in [&VIOLATIONS, &WARNINGS, &CLEAN] {
        c.store(0, Ordering::Relaxed);
    }
    set_atomicity(Atomicity::Warn);
    loom::model(move || {
        let map = Arc::new(RwLock::named("loom-map", HashSet::new()));
        let map2 = map.clone();
        let writer = thread::spawn(move || {
            map2.write().insert(1u32);
        });
        let reports = capture_atomicity(|| {
            if fixed {
                let up = map.upgradable_read();
                if !up.contains(&2) {
                    RwLockUpgradableReadGuard::upgrade(up).insert(2);
                }
            } else if !map.read().contains(&2) {
                map.write().insert(2);
            }
        });
        writer.join().unwrap();
        assert_eq!(map.read().len(), 2);
        match reports.first().map(|r| r.severity) {
            Some(Severity::Violation) => {
                let w = reports[0].interleaving.as_ref().unwrap();
                assert!(w.site.unwrap().file.ends_with("loom.rs"));
                VIOLATIONS.fetch_add(1, Ordering::Relaxed)
            }
            Some(_) => WARNINGS.fetch_add(1, Ordering::Relaxed),
            None => CLEAN.fetch_add(1, Ordering::Relaxed),
        };
    });
    set_atomicity(Atomicity::Off);
    (
        VIOLATIONS.load(Ordering::Relaxed),
        WARNINGS.load(Ordering::Relaxed),
        CLEAN.load(Ordering::Relaxed),
    )
}

#[test]
fn check_then_act_is_a_violation_only_when_the_writer_comes_in_between() {
    let (violations, warnings, clean) = check_then_act(false);
    // Some interleavings put the writer between the read and the write,
    // others before the read or after the write: a warning only.
    assert!(violations > 0, "{violations} {warnings} {clean}");
    assert!(warnings > 0, "{violations} {warnings} {clean}");
    assert_eq!(clean, 0);
}

#[test]
fn check_then_act_fixed_with_upgradable_read_is_silent() {
    let (violations, warnings, clean) = check_then_act(true);
    assert_eq!((violations, warnings), (0, 0));
    assert!(clean > 1);
}

#[test]
fn condvar_and_reentrant_mutex_work_under_loom() {
    loom::model(|| {
        let pair = Arc::new((Mutex::named("loom-flag", false), Condvar::named("loom-cv")));
        let re = Arc::new(ReentrantMutex::named("loom-re", ()));
        let (pair2, re2) = (pair.clone(), re.clone());
        let t = thread::spawn(move || {
            let _outer = re2.lock();
            let _inner = re2.lock();
            *pair2.0.lock() = true;
            pair2.1.notify_one();
        });
        {
            let _r = re.lock();
        }
        let mut ready = pair.0.lock();
        pair.1.wait_while(&mut ready, |r| !*r);
        drop(ready);
        t.join().unwrap();
    });
}

/// A small model that takes two locks in order, `iterations` times over
/// (each `loom::model` explores a handful of interleavings).
fn ordered_pair_models(iterations: usize) {
    for _ in 0..iterations {
        loom::model(|| {
            let a = Arc::new(Mutex::named("loom-par-a", 0));
            let b = Arc::new(Mutex::named("loom-par-b", 0));
            let (a2, b2) = (a.clone(), b.clone());
            let t = thread::spawn(move || {
                let _a = a2.lock();
                *b2.lock() += 1;
            });
            {
                let _a = a.lock();
                *b.lock() += 1;
            }
            t.join().unwrap();
        });
    }
}

const PARALLEL: &str = "loom models are running on two threads at once";

#[test]
fn models_run_at_once_on_two_threads_are_said_once() {
    if is_child() {
        // Both threads run models at once, for longer than the 200 ms that a
        // model waits for another thread's to end (about 1 s each here).
        let both = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    both.wait();
                    ordered_pair_models(2_000);
                });
            }
        });
        return;
    }
    let out = child!(models_run_at_once_on_two_threads_are_said_once)
        .deadline(Duration::from_secs(300))
        .run();
    assert!(out.success(), "{}", out.both());
    assert_eq!(out.stderr.matches(PARALLEL).count(), 1, "{}", out.both());
}

#[test]
fn models_run_one_after_another_on_new_threads_are_not_said() {
    if is_child() {
        // As libtest runs tests with --test-threads=1: a new thread each.
        for _ in 0..3 {
            std::thread::spawn(|| ordered_pair_models(20))
                .join()
                .unwrap();
        }
        return;
    }
    let out = child!(models_run_one_after_another_on_new_threads_are_not_said)
        .deadline(Duration::from_secs(300))
        .run();
    assert!(out.success(), "{}", out.both());
    assert!(!out.stderr.contains(PARALLEL), "{}", out.both());
}
