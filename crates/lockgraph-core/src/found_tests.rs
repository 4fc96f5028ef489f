//! Where a lock-order cycle's report is built (`global/found.rs`): off the
//! thread that closed the cycle under `warn`, when the capture returns
//! under `capture`. A module of its own: it drives the primitive protocol,
//! the policy and the graph together, which no module of the crate may
//! import all at once without a loop.

use std::cell::Cell;
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::class::{Class, LockKind};
use crate::global::counters::{BUILT, BUILT_HERE};
use crate::meta::LockMeta;
use crate::primitive::{acquire, release, Blocking, Deadline, WaitMode};
use crate::report::Level;

/// A raw lock that is always free.
struct Free;

impl Blocking for Free {
    fn try_now(&self) -> bool {
        true
    }
    fn block(&self) {}
    fn block_until(&self, _: Deadline) -> bool {
        true
    }
}

fn nest(a: &LockMeta, b: &LockMeta) {
    acquire(a, Free, WaitMode::Lock, None);
    acquire(b, Free, WaitMode::Lock, None);
    release(b, WaitMode::Lock);
    release(a, WaitMode::Lock);
}

fn built_here() -> usize {
    BUILT_HERE.with(Cell::get)
}

#[test]
fn a_delivered_report_is_built_off_the_thread_that_closed_the_cycle() {
    if !crate::TRACKING || crate::policy::on_cycle() != crate::OnCycle::Warn {
        return;
    }
    // A cycle of four locks of one class (the instance graph) and one
    // of two classes (the class graph).
    let ring: Vec<LockMeta> = (0..4)
        .map(|_| LockMeta::new(LockKind::Mutex, Class::Named("found-test-ring")))
        .collect();
    let a = LockMeta::new(LockKind::Mutex, Class::Named("found-test-a"));
    let b = LockMeta::new(LockKind::Mutex, Class::Named("found-test-b"));
    let before = built_here();
    let anywhere = BUILT.load(Ordering::Relaxed);
    for w in ring.windows(2) {
        nest(&w[0], &w[1]);
    }
    nest(&ring[3], &ring[0]);
    nest(&a, &b);
    nest(&b, &a);
    // Delivered: nothing is built on this thread.
    assert_eq!(built_here(), before, "built on the closing thread");
    assert!(crate::flush_reports(Duration::from_secs(10)));
    assert_eq!(built_here(), before);
    // ... but on the reporter thread, which delivered both.
    assert!(BUILT.load(Ordering::Relaxed) >= anywhere + 2);
    // Fresh locks, the same shape, captured: built when the capture
    // returns, whole.
    let ring: Vec<LockMeta> = (0..4)
        .map(|_| LockMeta::new(LockKind::Mutex, Class::Named("found-test-ring")))
        .collect();
    let reports = crate::policy::capture(|| {
        for w in ring.windows(2) {
            nest(&w[0], &w[1]);
        }
        nest(&ring[3], &ring[0]);
    });
    assert_eq!(built_here(), before + 1);
    assert_eq!(reports.len(), 1, "{reports:?}");
    let r = &reports[0];
    assert_eq!(r.level, Level::Instance);
    let ids: Vec<Option<u64>> = r.locks.iter().map(|l| l.instance).collect();
    assert_eq!(
        ids,
        [3, 0, 1, 2].map(|i| Some(ring[i].id())),
        "the cycle starts at the closing edge"
    );
    assert!(r.locks.iter().all(|l| l.name == Some("found-test-ring")));
    assert_eq!(r.edges.len(), 4);
    for (i, e) in r.edges.iter().enumerate() {
        assert_eq!((e.from, e.to, e.closing), (i, (i + 1) % 4, i == 0));
        assert!(e.held_at.is_none() && e.requested_at.is_none());
    }
}

/// `a` then `b`, each asked at the given site.
fn nest_at(
    a: &LockMeta,
    b: &LockMeta,
    (held_at, requested_at): (&'static Location<'static>, &'static Location<'static>),
) {
    acquire(a, Free, WaitMode::Lock, Some(held_at));
    acquire(b, Free, WaitMode::Lock, Some(requested_at));
    release(b, WaitMode::Lock);
    release(a, WaitMode::Lock);
}

/// The report of a long cycle holds every lock and edge, in cycle order,
/// each with its own recording: the compact form a lock call keeps (runs
/// of equal locks and of edges sharing a recording) loses and reorders
/// nothing.
#[test]
fn a_long_cycle_report_keeps_every_lock_and_edge_in_cycle_order() {
    if !crate::TRACKING {
        return;
    }
    // Longer than the cycles whose middle stacks are dropped (64 edges).
    const N: usize = 150;
    // Same-class locks (the instance graph), chained at two alternating
    // pairs of sites (so the edges' recordings alternate).
    let ring: Vec<LockMeta> = (0..N)
        .map(|_| LockMeta::new(LockKind::Mutex, Class::Named("found-test-long")))
        .collect();
    // Six sites, one per line.
    let even = (Location::caller(), Location::caller());
    let even = (even.0, Location::caller());
    let odd = (Location::caller(), Location::caller());
    let odd = (odd.0, Location::caller());
    let close = (Location::caller(), Location::caller());
    let close = (close.0, Location::caller());
    assert_ne!(even, odd);
    let reports = crate::policy::capture(|| {
        for (i, w) in ring.windows(2).enumerate() {
            nest_at(&w[0], &w[1], if i % 2 == 0 { even } else { odd });
        }
        nest_at(&ring[N - 1], &ring[0], close);
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    let r = &reports[0];
    // The cycle starts at the closing edge's held lock.
    let order: Vec<usize> = std::iter::once(N - 1).chain(0..N - 1).collect();
    assert_eq!(r.locks.len(), N);
    for (lock, &k) in r.locks.iter().zip(&order) {
        assert_eq!(lock.instance, Some(ring[k].id()), "lock {k}");
        assert_eq!(lock.kind, LockKind::Mutex, "lock {k}");
        assert_eq!(lock.name, Some("found-test-long"));
    }
    assert_eq!(r.edges.len(), N);
    let with_stack = r.edges.iter().filter(|e| e.backtrace.is_some()).count();
    for (i, e) in r.edges.iter().enumerate() {
        assert_eq!(
            (e.from, e.to, e.closing),
            (i, (i + 1) % N, i == 0),
            "edge {i}"
        );
        // Edge i >= 1 is the chain's edge from lock i - 1.
        let at = match i {
            0 => close,
            i if (i - 1) % 2 == 0 => even,
            _ => odd,
        };
        let site = |l: &'static Location<'static>| Some(crate::class::Site::from(l));
        assert_eq!(
            (e.held_at, e.requested_at),
            (site(at.0), site(at.1)),
            "edge {i}"
        );
        // The middle stacks of a long cycle are not kept.
        if (6..N - 6).contains(&i) {
            assert!(e.backtrace.is_none(), "edge {i}");
        }
    }
    // With stacks captured, the first and last six edges keep theirs.
    assert!(
        with_stack == 0 || with_stack == 12,
        "{with_stack} edges kept a stack"
    );
}

/// A long cycle's report as the lock call builds it: runs of equal locks
/// and of edges sharing a recording (of lengths 1, 2, 3, ...), not one
/// entry per lock. Every entry, read in place one by one, in order, or
/// laid out as a slice, is its own lock's and edge's (instance, name,
/// kind, sites), in cycle order; printing reads the entries in place.
#[test]
fn a_long_cycle_report_holds_runs_and_reads_each_entry_in_place() {
    if !crate::TRACKING {
        return;
    }
    const N: usize = 120;
    let ring: Vec<LockMeta> = (0..N)
        .map(|_| LockMeta::new(LockKind::RwLock, Class::Named("found-test-runs")))
        .collect();
    // Three pairs of sites, one site per line.
    let p0 = (Location::caller(), Location::caller());
    let p0 = (p0.0, Location::caller());
    let p1 = (Location::caller(), Location::caller());
    let p1 = (p1.0, Location::caller());
    let p2 = (Location::caller(), Location::caller());
    let p2 = (p2.0, Location::caller());
    let close = (Location::caller(), Location::caller());
    let close = (close.0, Location::caller());
    let pairs = [p0, p1, p2];
    // Chain edge j's pair: runs of lengths 1, 2, 3, ... taking the pairs in
    // turn.
    let mut pair_of = Vec::with_capacity(N - 1);
    let mut run = 0;
    while pair_of.len() < N - 1 {
        for _ in 0..=run {
            pair_of.push(run % 3);
        }
        run += 1;
    }
    pair_of.truncate(N - 1);
    let reports = crate::policy::capture(|| {
        for (j, w) in ring.windows(2).enumerate() {
            nest_at(&w[0], &w[1], pairs[pair_of[j]]);
        }
        nest_at(&ring[N - 1], &ring[0], close);
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    let r = &reports[0];
    // Stored as runs: one of locks, one of edges per run of sites.
    assert_eq!(r.locks.stored(), (1, false));
    assert_eq!(r.edges.stored(), (run + 1, false));
    // Printing reads the entries in place.
    let text = r.to_string();
    assert!(text.contains("cycle through 120 locks"), "{text}");
    assert_eq!(r.locks.stored(), (1, false));
    assert_eq!(r.edges.stored(), (run + 1, false));
    let site = |l: &'static Location<'static>| Some(crate::class::Site::from(l));
    let order: Vec<usize> = std::iter::once(N - 1).chain(0..N - 1).collect();
    let by_one: Vec<_> = (0..N).map(|i| r.locks.entry(i).expect("lock")).collect();
    let in_order: Vec<_> = r.locks.entries().collect();
    assert!(r.locks.entry(N).is_none());
    for (i, &k) in order.iter().enumerate() {
        for l in [&by_one[i], &in_order[i], &r.locks[i]] {
            assert_eq!(l.instance, Some(ring[k].id()), "lock {i}");
            assert_eq!(l.kind, LockKind::RwLock, "lock {i}");
            assert_eq!(l.name, Some("found-test-runs"), "lock {i}");
        }
    }
    let by_one: Vec<_> = (0..N).map(|i| r.edges.entry(i).expect("edge")).collect();
    let in_order: Vec<_> = r.edges.entries().collect();
    assert!(r.edges.entry(N).is_none());
    for i in 0..N {
        // Edge i >= 1 is the chain's edge j = i - 1.
        let at = if i == 0 { close } else { pairs[pair_of[i - 1]] };
        for e in [&by_one[i], &in_order[i], &r.edges[i]] {
            assert_eq!(
                (e.from, e.to, e.closing),
                (i, (i + 1) % N, i == 0),
                "edge {i}"
            );
            assert_eq!(
                (e.held_at, e.requested_at),
                (site(at.0), site(at.1)),
                "edge {i}"
            );
            if (6..N - 6).contains(&i) {
                assert!(e.backtrace.is_none(), "edge {i}");
            }
        }
    }
    assert_eq!(r.closing_edge().map(|e| e.held_at), Some(site(close.0)));
    // The slices were laid out by the reads above, once.
    assert_eq!(r.locks.stored(), (1, true));
    assert_eq!(r.edges.stored(), (run + 1, true));
    // Printed from the runs, the report reads as the same report listed
    // entry by entry (as every report was before runs).
    let listed =
        crate::report::CycleReport::new(r.kind, r.level, r.locks.to_vec(), r.edges.to_vec());
    assert_eq!(listed.locks.stored(), (N, true));
    assert_eq!(text, listed.to_string());
    assert_eq!(format!("{r:?}"), format!("{listed:?}"));
}

/// The same through the class graph: a cycle of classes, each its own
/// lock, kinds alternating.
#[test]
fn a_long_class_cycle_report_keeps_every_lock_in_cycle_order() {
    if !crate::TRACKING {
        return;
    }
    const N: usize = 100;
    let names: Vec<&'static str> = (0..N)
        .map(|i| &*Box::leak(format!("found-test-class-{i}").into_boxed_str()))
        .collect();
    let locks: Vec<LockMeta> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let kind = if i % 3 == 0 {
                LockKind::ReentrantMutex
            } else {
                LockKind::Mutex
            };
            LockMeta::new(kind, Class::Named(n))
        })
        .collect();
    let reports = crate::policy::capture(|| {
        for w in locks.windows(2) {
            nest(&w[0], &w[1]);
        }
        nest(&locks[N - 1], &locks[0]);
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    let r = &reports[0];
    let order: Vec<usize> = std::iter::once(N - 1).chain(0..N - 1).collect();
    let got: Vec<(Option<&str>, LockKind)> = r.locks.iter().map(|l| (l.name, l.kind)).collect();
    let want: Vec<(Option<&str>, LockKind)> = order
        .iter()
        .map(|&k| (Some(names[k]), locks[k].kind()))
        .collect();
    assert_eq!(got, want);
    let in_place: Vec<(Option<&str>, LockKind)> =
        r.locks.entries().map(|l| (l.name, l.kind)).collect();
    assert_eq!(in_place, want);
    let listed =
        crate::report::CycleReport::new(r.kind, r.level, r.locks.to_vec(), r.edges.to_vec());
    assert_eq!(r.to_string(), listed.to_string());
    assert_eq!(r.edges.len(), N);
    for (i, e) in r.edges.iter().enumerate() {
        assert_eq!(
            (e.from, e.to, e.closing),
            (i, (i + 1) % N, i == 0),
            "edge {i}"
        );
    }
}
