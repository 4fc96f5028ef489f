//! One test (or a few) per detection rule of the lock-order graph.
//!
//! Every test creates its own locks at its own source lines (so its own lock
//! classes) and reads reports through `lockgraph::capture`, so the tests run in
//! parallel in one process without a global test lock. Acquisitions that would
//! really self-deadlock use a timed `try_*_for`, which records edges like a
//! blocking call but cannot hang.
#![cfg(any(debug_assertions, feature = "track-in-release"))]

use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::Duration;

use lockgraph::{
    capture, Condvar, CycleReport, Level, LockKind, Mutex, ReentrantMutex, ReportKind, RwLock,
    RwLockUpgradableReadGuard,
};

const SHORT: Duration = Duration::from_millis(20);

fn cycles(reports: &[CycleReport]) -> Vec<&CycleReport> {
    reports
        .iter()
        .filter(|r| r.kind == ReportKind::LockOrderCycle)
        .collect()
}

// ---- rule 1: blocking acquisitions record edges; cycles are reported -------

#[test]
fn abba_in_one_thread_is_reported_at_the_closing_acquisition() {
    let a = Mutex::new(0);
    let b = Mutex::new(0);
    let (held_line, closing_line) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    let reports = capture(|| {
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        held_line.set(line!() + 1);
        let _b = b.lock();
        closing_line.set(line!() + 1);
        let _a = a.lock(); // closes the cycle
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let r = &reports[0];
    assert_eq!(r.kind, ReportKind::LockOrderCycle);
    assert_eq!(r.locks.len(), 2);
    let closing = r.closing_edge().unwrap();
    assert_eq!(closing.requested_at.unwrap().line, closing_line.get());
    assert_eq!(closing.held_at.unwrap().line, held_line.get());
    assert_eq!(closing.requested_at.unwrap().file, file!());
    // Doing it again reports nothing new.
    assert!(capture(|| {
        let _b = b.lock();
        let _a = a.lock();
    })
    .is_empty());
}

#[test]
fn a_real_two_thread_abba_is_reported_before_anything_blocks() {
    let a = Arc::new(Mutex::new(()));
    let b = Arc::new(Mutex::new(()));
    // Thread `first` records a -> b and keeps holding a.
    let (hold_tx, hold_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let (a2, b2) = (Arc::clone(&a), Arc::clone(&b));
    let first = thread::Builder::new()
        .name("first".into())
        .spawn(move || {
            let ga = a2.lock();
            drop(b2.lock());
            hold_tx.send(()).unwrap();
            done_rx.recv().unwrap();
            drop(ga);
        })
        .unwrap();
    hold_rx.recv().unwrap();
    let reports = capture(|| {
        let _gb = b.lock();
        // `a` is held by `first`: this would deadlock-wait. The report is
        // raised before waiting; the timed attempt then gives up.
        assert!(a.try_lock_for(SHORT).is_none());
    });
    done_tx.send(()).unwrap();
    first.join().unwrap();
    let r = cycles(&reports);
    assert_eq!(r.len(), 1);
    assert!(r[0].threads().contains(&"first"), "{:?}", r[0].threads());
    assert_eq!(r[0].level, Level::Instance);
}

#[test]
fn the_report_names_the_shortest_cycle_through_the_new_edge() {
    let l: Vec<Mutex<usize>> = vec![
        Mutex::named("short-0", 0),
        Mutex::named("short-1", 1),
        Mutex::named("short-2", 2),
        Mutex::named("short-3", 3),
        Mutex::named("short-4", 4),
    ];
    let nest = |x: usize, y: usize| {
        let _x = l[x].lock();
        let _y = l[y].lock();
    };
    let reports = capture(|| {
        nest(0, 1);
        nest(1, 2);
        nest(2, 3);
        nest(3, 4);
        nest(1, 4); // a shortcut
        nest(4, 0); // closes 4,0,1,2,3 and the shorter 4,0,1
    });
    let r = cycles(&reports);
    assert_eq!(r.len(), 1);
    let names: Vec<_> = r[0].locks.iter().map(|l| l.name.unwrap()).collect();
    assert_eq!(names, ["short-4", "short-0", "short-1"]);
}

#[test]
fn a_three_thread_cycle_has_one_scenario_column_per_thread() {
    let a = Arc::new(Mutex::new(()));
    let b = Arc::new(Mutex::new(()));
    let c = Arc::new(Mutex::new(()));
    let spawn = |name: &str, x: Arc<Mutex<()>>, y: Arc<Mutex<()>>| {
        thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let _x = x.lock();
                let _y = y.lock();
            })
            .unwrap()
            .join()
            .unwrap();
    };
    spawn("t-ab", a.clone(), b.clone());
    spawn("t-bc", b.clone(), c.clone());
    let reports = capture(|| {
        let _c = c.lock();
        let _a = a.lock();
    });
    let r = cycles(&reports);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].locks.len(), 3);
    let text = r[0].to_string();
    for needle in [
        "thread `t-ab`",
        "thread `t-bc`",
        "L1 -> L2",
        "L3 -> L1",
        "waits for L1",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn a_one_thread_inversion_does_not_claim_two_threads_at_once() {
    let a = Mutex::named("one-thread-a", ());
    let b = Mutex::named("one-thread-b", ());
    let reports = thread::Builder::new()
        .name("alone".into())
        .spawn(move || {
            capture(|| {
                {
                    let _a = a.lock();
                    let _b = b.lock();
                }
                let _b = b.lock();
                let _a = a.lock(); // closes the cycle, in the same thread
            })
        })
        .unwrap()
        .join()
        .unwrap();
    let r = cycles(&reports);
    assert_eq!(r.len(), 1);
    let text = r[0].to_string();
    assert!(
        !text.contains("each column a thread, all at once"),
        "one thread is not two threads at once:\n{text}"
    );
    assert!(
        text.contains(
            "how it deadlocks when each column runs in a thread of its own, all at once\n  \
             (thread `alone` recorded 2 of these columns itself):"
        ),
        "{text}"
    );
    // The columns still name the thread that recorded each side.
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("thread `alone`"))
        .unwrap();
    assert_eq!(row.matches("thread `alone`").count(), 2, "{text}");
}

#[test]
fn a_two_thread_inversion_is_two_columns_at_once() {
    let a = Arc::new(Mutex::named("two-thread-a", ()));
    let b = Arc::new(Mutex::named("two-thread-b", ()));
    let (a2, b2) = (Arc::clone(&a), Arc::clone(&b));
    thread::Builder::new()
        .name("other".into())
        .spawn(move || {
            let _a = a2.lock();
            let _b = b2.lock();
        })
        .unwrap()
        .join()
        .unwrap();
    let reports = capture(|| {
        let _b = b.lock();
        let _a = a.lock();
    });
    let r = cycles(&reports);
    assert_eq!(r.len(), 1);
    let text = r[0].to_string();
    assert!(
        text.contains("how it deadlocks (each column a thread, all at once):"),
        "{text}"
    );
    assert!(!text.contains("of these columns itself"), "{text}");
}

// ---- rule 2: try_lock ---------------------------------------------------------

#[test]
fn a_successful_try_lock_adds_no_edge_into_the_tried_lock() {
    let a = Mutex::new(());
    let b = Mutex::new(());
    let reports = capture(|| {
        {
            let _a = a.lock();
            let _b = b.try_lock().unwrap(); // no a -> b
        }
        let _b = b.lock();
        let _a = a.lock(); // b -> a: no cycle
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

#[test]
fn a_try_locked_lock_is_an_ordinary_held_lock_afterwards() {
    let a = Mutex::new(());
    let b = Mutex::new(());
    let reports = capture(|| {
        {
            let _a = a.try_lock().unwrap();
            let _b = b.lock(); // a -> b recorded: a is held
        }
        let _b = b.lock();
        let _a = a.lock();
    });
    assert_eq!(cycles(&reports).len(), 1);
}

#[test]
fn timed_try_locks_wait_so_they_add_edges() {
    let a = Mutex::new(());
    let b = Mutex::new(());
    let reports = capture(|| {
        {
            let _a = a.lock();
            let _b = b.try_lock_for(SHORT).unwrap();
        }
        let _b = b.lock();
        let _a = a.try_lock_until(std::time::Instant::now() + SHORT).unwrap();
    });
    assert_eq!(cycles(&reports).len(), 1);
}

// ---- rule 3: read locks and the strong-path rule ----------------------------

#[test]
fn recursive_reads_of_shared_holds_are_not_a_cycle() {
    let a = RwLock::new(());
    let b = RwLock::new(());
    let reports = capture(|| {
        {
            let _a = a.read();
            let _b = b.read_recursive();
        }
        let _b = b.read();
        let _a = a.read_recursive();
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

#[test]
fn plain_reads_in_opposite_orders_are_a_cycle() {
    let a = RwLock::new(());
    let b = RwLock::new(());
    let reports = capture(|| {
        {
            let _a = a.read();
            let _b = b.read();
        }
        let _b = b.read();
        let _a = a.read();
    });
    assert_eq!(cycles(&reports).len(), 1);
    // Each step waits only behind a queued writer: the report says so, and
    // what takes a read that does not queue (its table said "waits for" as
    // of a write; found by an outside test).
    let text = reports[0].to_string();
    assert_eq!(
        text.matches("that read waits only behind a writer").count(),
        2,
        "{text}"
    );
    assert!(
        text.contains("a read taken with read_recursive() does not queue behind writers"),
        "{text}"
    );
    // A write in the cycle: that step needs no writer of its own.
    let (c, d) = (RwLock::new(()), RwLock::new(()));
    let reports = capture(|| {
        {
            let _c = c.read();
            let _d = d.write();
        }
        let _d = d.read();
        let _c = c.read();
    });
    let text = reports[0].to_string();
    assert_eq!(
        text.matches("that read waits only behind a writer").count(),
        1,
        "{text}"
    );
}

#[test]
fn a_recursive_read_into_a_lock_that_is_then_only_read_held_breaks_the_cycle() {
    // T1: write(a) then read_recursive(b); T2: read(b) then write(a).
    // T1's recursive read never waits for T2's read: no deadlock.
    let a = RwLock::new(());
    let b = RwLock::new(());
    let reports = capture(|| {
        {
            let _a = a.write();
            let _b = b.read_recursive();
        }
        let _b = b.read();
        let _a = a.write();
    });
    assert!(reports.is_empty(), "{reports:#?}");
    // With a write of b instead, it is a cycle.
    let reports = capture(|| {
        let _b = b.write();
        let _a = a.write();
    });
    assert_eq!(cycles(&reports).len(), 1);
}

/// A plain read never waits for another thread's upgradable read (no
/// writer can take the bit that queues reads while one is held), so
/// `upgradable_read(); m.lock()` against `m.lock(); read()` cannot hang
/// and is no cycle: here the two really overlap, and the read gets in (it
/// was reported; found by an outside test). Under `m`, an upgradable read
/// or a write of the lock waits for the upgradable read: a cycle, whose
/// edge out of the upgradable read says so.
#[test]
fn a_plain_read_against_an_upgradable_read_is_no_cycle() {
    let a = Arc::new(RwLock::new(0u32));
    let m = Arc::new(Mutex::new(()));
    let (recorded_tx, recorded_rx) = mpsc::channel();
    let (held_tx, held_rx) = mpsc::channel::<()>();
    let (a2, m2) = (Arc::clone(&a), Arc::clone(&m));
    let first = thread::spawn(move || {
        let u = a2.upgradable_read();
        // `a -> m` from the upgradable read, recorded before the other
        // order is.
        drop(m2.lock());
        recorded_tx.send(()).unwrap();
        held_rx.recv().unwrap();
        // Waits for the main thread, which holds `m` and reads `a`.
        assert!(m2.try_lock_for(Duration::from_secs(10)).is_some());
        drop(u);
    });
    recorded_rx.recv().unwrap();
    let reports = capture(|| {
        let _m = m.lock();
        held_tx.send(()).unwrap();
        thread::sleep(SHORT);
        // `first` holds `a` upgradable and waits for `m`: the read gets in.
        assert!(a.try_read_for(Duration::from_secs(10)).is_some());
    });
    first.join().unwrap();
    assert!(reports.is_empty(), "{reports:#?}");
    // An upgradable read of `a` under `m` waits for `first`'s: a cycle.
    let reports = capture(|| {
        let _m = m.lock();
        let _u = a.upgradable_read();
    });
    let r = cycles(&reports);
    assert_eq!(r.len(), 1, "{reports:#?}");
    let text = r[0].to_string();
    assert!(text.contains("for an upgradable read (taken at"), "{text}");
    // So does a write, and a read against a plain read hold.
    let (b, n) = (RwLock::new(()), Mutex::new(()));
    let reports = capture(|| {
        {
            let _b = b.upgradable_read();
            let _n = n.lock();
        }
        let _n = n.lock();
        let _b = b.write();
    });
    assert_eq!(cycles(&reports).len(), 1, "{reports:#?}");
    let (c, o) = (RwLock::new(()), Mutex::new(()));
    let reports = capture(|| {
        {
            let _c = c.read();
            let _o = o.lock();
        }
        let _o = o.lock();
        let _c = c.read();
    });
    assert_eq!(cycles(&reports).len(), 1, "{reports:#?}");
}

/// The same between two locks of one class, the second fresh when the
/// upgradable read is held: the edge into a fresh lock is buffered
/// (`global::young`), and keeps its upgradable hold there.
#[test]
fn a_plain_read_against_an_upgradable_read_of_one_class_is_no_cycle() {
    let v: Vec<RwLock<u32>> = (0..2).map(|_| RwLock::new(0)).collect();
    let reports = capture(|| {
        {
            let _a = v[0].upgradable_read();
            let _b = v[1].write();
        }
        let _b = v[1].write();
        let _a = v[0].read();
    });
    assert!(reports.is_empty(), "{reports:#?}");
    let reports = capture(|| {
        let _b = v[1].write();
        let _a = v[0].upgradable_read();
    });
    assert_eq!(cycles(&reports).len(), 1, "{reports:#?}");
}

/// An upgradable read on the thread's own plain read is named as one in
/// its self-deadlock report (`upgradable_request` was false there).
#[test]
fn a_self_deadlock_names_an_upgradable_request() {
    let a = RwLock::new(0);
    let reports = capture(|| {
        let _r = a.read();
        let _u = a.try_upgradable_read_for(SHORT);
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let e = reports[0].closing_edge().unwrap();
    assert!(e.upgradable_request, "{reports:#?}");
}

/// A bump of an upgradable read takes it back as an upgradable read: the
/// edges from the other held locks name it so (they said "for write").
#[test]
fn a_bump_of_an_upgradable_read_names_its_request_as_one() {
    let (b, m) = (RwLock::new(0), Mutex::new(()));
    let reports = capture(|| {
        let mut u = b.upgradable_read();
        let _m = m.lock();
        RwLockUpgradableReadGuard::bump(&mut u);
    });
    let r = cycles(&reports);
    assert_eq!(r.len(), 1, "{reports:#?}");
    assert!(
        r[0].closing_edge().unwrap().upgradable_request,
        "{reports:#?}"
    );
    let text = r[0].to_string();
    assert!(
        text.contains("for an upgradable read at an unknown site"),
        "{text}"
    );
    assert!(!text.contains("for write"), "{text}");
}

#[test]
fn a_second_read_of_a_read_held_lock_is_reported_but_read_recursive_is_not() {
    let l = RwLock::new(());
    let reports = capture(|| {
        let _r1 = l.read();
        let _r2 = l.read_recursive();
    });
    assert!(reports.is_empty(), "{reports:#?}");
    let reports = capture(|| {
        let _r1 = l.read();
        let _r2 = l.try_read_for(SHORT).unwrap();
    });
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].kind, ReportKind::SelfDeadlock { certain: false });
    assert!(reports[0].to_string().contains("read_recursive"));
}

/// The advice of a second read applies to `stdsync`'s `RwLock` too: it has
/// `read_recursive` (it had not, and the report advised it; found by an
/// outside test), which passes a writer queued behind the first read.
#[test]
fn a_second_stdsync_read_is_told_to_use_read_recursive_which_it_has() {
    let l = Arc::new(lockgraph::stdsync::RwLock::new(0));
    let reports = capture(|| {
        let _r1 = l.read().unwrap();
        let _r2 = l.read().unwrap();
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert!(reports[0].to_string().contains("Use read_recursive()"));
    let reports = capture(|| {
        let r1 = l.read().unwrap();
        let writer = {
            let l = Arc::clone(&l);
            thread::spawn(move || *l.write().unwrap() += 1)
        };
        // The writer queues behind `r1`; a recursive read passes it.
        while !writer_queued(&l) {
            thread::yield_now();
        }
        assert_eq!(*l.read_recursive().unwrap(), 0);
        drop(r1);
        writer.join().unwrap();
    });
    assert!(reports.is_empty(), "{reports:#?}");
    assert_eq!(*l.read().unwrap(), 1);
}

/// Whether a writer waits on `l`: a plain `try_read` fails behind it.
fn writer_queued(l: &lockgraph::stdsync::RwLock<i32>) -> bool {
    l.try_read().is_err()
}

// ---- rule 4: re-locking a held lock -------------------------------------------

#[test]
fn locking_a_held_mutex_again_is_reported_before_it_self_deadlocks() {
    let m = Mutex::new(());
    let reports = capture(|| {
        let _g = m.lock();
        assert!(m.try_lock_for(SHORT).is_none());
    });
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert_eq!(r.kind, ReportKind::SelfDeadlock { certain: true });
    assert_eq!(r.locks[0].kind, LockKind::Mutex);
    assert_eq!(r.edges[0].held_at.unwrap().line, line!() - 7);
}

/// A capture sees a self-deadlock each time it happens on a lock its thread
/// has not asked before: reports a policy delivers are said once per class
/// and sites (tests/policy.rs), but a capture is a test's, which must not
/// depend on another test having made the same mistake first.
#[test]
fn a_captured_self_deadlock_is_reported_each_time() {
    fn shard() -> RwLock<u32> {
        RwLock::new(0)
    }
    fn read_twice(l: &RwLock<u32>) -> bool {
        let _r = l.read();
        l.try_read_for(SHORT).is_some()
    }
    let shards: Vec<RwLock<u32>> = (0..3).map(|_| shard()).collect();
    let first = capture(|| assert!(read_twice(&shards[0])));
    assert_eq!(first.len(), 1, "{first:#?}");
    assert_eq!(first[0].kind, ReportKind::SelfDeadlock { certain: false });
    let again = capture(|| {
        assert!(read_twice(&shards[1]));
        assert!(read_twice(&shards[2]));
    });
    assert_eq!(again.len(), 2, "{again:#?}");
}

#[test]
fn write_after_read_on_one_rwlock_is_reported() {
    let l = RwLock::new(());
    let reports = capture(|| {
        let _r = l.read();
        assert!(l.try_write_for(SHORT).is_none());
    });
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].kind, ReportKind::SelfDeadlock { certain: true });
}

/// An upgradable read asked on a read the thread holds waits only for a
/// writer queued in between (or another thread's upgradable read): a
/// potential self-deadlock, in the words of an upgradable read (it was
/// called certain, "requests it exclusively", with a ReentrantMutex's
/// advice). Found by an outside test.
#[test]
fn an_upgradable_read_on_a_held_read_is_a_potential_self_deadlock() {
    let l = RwLock::named("rules-read-then-upgradable", 0u32);
    let reports = capture(|| {
        let r = l.read();
        let up = l.upgradable_read();
        drop(r);
        *RwLockUpgradableReadGuard::upgrade(up) += 1;
    });
    assert_eq!(*l.read(), 1);
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].kind, ReportKind::SelfDeadlock { certain: false });
    let text = reports[0].to_string();
    assert!(
        text.contains("potential deadlock: a thread asks for an upgradable read of a lock it already read-holds"),
        "{text}"
    );
    assert!(
        text.contains("requests   it for an upgradable read at"),
        "{text}"
    );
    assert!(!text.contains("ReentrantMutex"), "{text}");
    assert!(!text.contains("never wakes"), "{text}");
}

/// A read of a lock the thread holds an upgradable read of never waits: a
/// writer takes the bit that queues new reads only once no upgradable read
/// is held (it was reported as "read-locks a lock it already read-holds",
/// with a queued writer's advice; found by an outside test).
#[test]
fn a_read_under_the_threads_own_upgradable_read_is_no_self_deadlock() {
    let l = RwLock::named("rules-upgradable-then-read", 0u32);
    let reports = capture(|| {
        let u = l.upgradable_read();
        let r = l.read();
        let rr = l.read_recursive();
        assert!(l.try_read_for(SHORT).is_some());
        drop((r, rr));
        // A writer queued meanwhile waits for the upgradable read, and the
        // reads still get in.
        std::thread::scope(|s| {
            let w = s.spawn(|| *l.write() += 1);
            std::thread::sleep(Duration::from_millis(50));
            let again = l.read();
            assert_eq!(*again, 0);
            drop(again);
            drop(u);
            w.join().unwrap();
        });
    });
    assert!(reports.is_empty(), "{reports:#?}");
    assert_eq!(*l.read(), 1);
}

/// An upgrade waits for every other reader, the thread's own plain read of
/// the lock too: a certain self-deadlock, reported before it waits (the
/// read under the upgradable read, no longer reported itself, was the only
/// sign of it; found by a review).
#[test]
fn an_upgrade_with_the_threads_own_read_held_is_a_certain_self_deadlock() {
    let l = RwLock::named("rules-upgrade-over-own-read", 0u32);
    let reports = capture(|| {
        let u = l.upgradable_read();
        let r = l.read();
        let up = RwLockUpgradableReadGuard::try_upgrade_for(u, SHORT);
        assert!(up.is_err());
        drop(r);
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].kind, ReportKind::SelfDeadlock { certain: true });
    // Without the read, the upgrade is no self-deadlock.
    let reports = capture(|| {
        let u = l.upgradable_read();
        *RwLockUpgradableReadGuard::upgrade(u) += 1;
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

/// An upgradable read on an upgradable read, and a write on a read, wait
/// for the thread itself: certain, with an RwLock's advice.
#[test]
fn an_upgradable_read_on_a_held_upgradable_read_is_certain() {
    let l = RwLock::named("rules-upgradable-twice", ());
    let reports = capture(|| {
        let _u = l.upgradable_read();
        assert!(l.try_upgradable_read_for(SHORT).is_none());
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].kind, ReportKind::SelfDeadlock { certain: true });
    let text = reports[0].to_string();
    assert!(text.contains("upgradable read upgrades in place"), "{text}");
    assert!(!text.contains("ReentrantMutex"), "{text}");
}

/// A plain read and an upgradable read held, another upgradable read asked
/// for: it waits for the thread's own upgradable read, certain (the plain
/// read beside it made it a potential one; found by a review).
#[test]
fn an_upgradable_read_beside_a_read_and_an_upgradable_read_is_certain() {
    let l = RwLock::named("rules-read-upgradable-upgradable", ());
    let reports = capture(|| {
        let _r = l.read();
        let _u = l.upgradable_read();
        assert!(l.try_upgradable_read_for(SHORT).is_none());
    });
    let selfs: Vec<_> = reports
        .iter()
        .filter(|r| matches!(r.kind, ReportKind::SelfDeadlock { .. }))
        .collect();
    assert_eq!(
        selfs.last().map(|r| r.kind),
        Some(ReportKind::SelfDeadlock { certain: true }),
        "{reports:#?}"
    );
}

#[test]
fn reentrant_mutex_reentry_and_upgrades_are_fine() {
    let r = ReentrantMutex::new(());
    let l = RwLock::new(0);
    let other = Mutex::new(());
    let reports = capture(|| {
        let _a = r.lock();
        let _b = r.lock();
        let _c = r.try_lock().unwrap();
        let up = l.upgradable_read();
        let _r = l.read_recursive();
        drop(_r);
        let mut w = RwLockUpgradableReadGuard::upgrade(up);
        *w += 1;
        let _o = other.lock();
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

/// The upgrade waits for the other readers, so a reader of `l` that waits
/// for `m` deadlocks with it. (With the first edge recorded under an
/// upgradable read of `l` instead, the two edges need that one upgradable
/// read, which no two threads hold at once:
/// `an_upgrade_under_a_lock_taken_while_upgradable_is_no_cycle`.)
#[test]
fn an_upgrade_waits_so_it_records_edges_from_other_held_locks() {
    let m = Mutex::new(());
    let l = RwLock::new(());
    let reports = capture(|| {
        {
            let r = l.read();
            let _m = m.lock(); // l (shared) -> m
            drop(r);
        }
        let up = l.upgradable_read();
        let _m = m.lock();
        drop(_m);
        let _m = m.lock();
        let _w = RwLockUpgradableReadGuard::upgrade(up); // m -> l
    });
    assert_eq!(cycles(&reports).len(), 1, "{reports:#?}");
}

// ---- rule 5: gate locks ---------------------------------------------------------

#[test]
fn a_cycle_under_one_exclusive_gate_lock_is_not_reported() {
    let gate = Mutex::new(());
    let a = Mutex::new(());
    let b = Mutex::new(());
    let reports = capture(|| {
        {
            let _g = gate.lock();
            let _a = a.lock();
            let _b = b.lock();
        }
        let _g = gate.lock();
        let _b = b.lock();
        let _a = a.lock();
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

/// A gate held on two of a cycle's three edges serialises the two threads
/// that would take them (they cannot both hold it), though the third edge
/// lacks it: no deadlock. Without the gate on `b -> c` it is one.
#[test]
fn a_gate_on_two_of_three_edges_is_enough() {
    let gate = Mutex::new(());
    let (a, b, c) = (Mutex::new(()), Mutex::new(()), Mutex::new(()));
    let nest = |gated: bool, x: &Mutex<()>, y: &Mutex<()>| {
        let _g = gated.then(|| gate.lock());
        let _x = x.lock();
        let _y = y.lock();
    };
    let reports = capture(|| {
        nest(true, &a, &b);
        nest(true, &b, &c);
        nest(false, &c, &a);
    });
    assert!(reports.is_empty(), "{reports:#?}");
    let reports = capture(|| nest(false, &b, &c));
    assert_eq!(cycles(&reports).len(), 1, "{reports:#?}");
}

#[test]
fn a_read_held_gate_is_no_gate() {
    let gate = RwLock::new(());
    let a = Mutex::new(());
    let b = Mutex::new(());
    let reports = capture(|| {
        {
            let _g = gate.read();
            let _a = a.lock();
            let _b = b.lock();
        }
        let _g = gate.read();
        let _b = b.lock();
        let _a = a.lock();
    });
    assert_eq!(cycles(&reports).len(), 1);
}

/// A read excludes writes: under one `RwLock` taken for write by one order
/// and for read by the other, the two orders cannot run at once (it was
/// reported: gates were lock ids without their modes). Under two reads
/// they can (`a_read_held_gate_is_no_gate`), and so once the write's order
/// is also taken under a read.
#[test]
fn a_gate_held_for_write_by_one_order_and_for_read_by_the_other_serialises_them() {
    let gate = RwLock::named("rules-gate-write-read", ());
    let a = Mutex::named("rules-gate-write-read-a", ());
    let b = Mutex::named("rules-gate-write-read-b", ());
    let nest = |write: bool, x: &Mutex<()>, y: &Mutex<()>| {
        let _w = write.then(|| gate.write());
        let _r = (!write).then(|| gate.read());
        let _x = x.lock();
        let _y = y.lock();
    };
    let reports = capture(|| {
        nest(true, &a, &b);
        nest(false, &b, &a);
    });
    assert!(reports.is_empty(), "{reports:#?}");
    // The write's order under a read too: the edge keeps the weaker mode.
    let reports = capture(|| nest(false, &a, &b));
    assert_eq!(cycles(&reports).len(), 1, "{reports:#?}");
}

/// A read gate per instance: a chain the thread took under one instance's
/// read, then under another's, is two recordings (the second loses the
/// gate), whatever the chain cache kept of the first.
#[test]
fn a_read_gate_of_another_instance_is_recorded_again() {
    let gates = [0, 1].map(|_| RwLock::named("rules-read-gate-instance", ()));
    let a = Mutex::named("rules-read-gate-instance-a", ());
    let b = Mutex::named("rules-read-gate-instance-b", ());
    let reports = capture(|| {
        for g in &gates {
            let _r = g.read();
            let _a = a.lock();
            let _b = b.lock();
        }
        // Under the first instance's write: gated against its own read,
        // not against the second's.
        let _w = gates[0].write();
        let _b = b.lock();
        let _a = a.lock();
    });
    assert_eq!(cycles(&reports).len(), 1, "{reports:#?}");
}

/// An upgradable read excludes writers and other upgradable reads: under
/// one lock taken upgradable by one order and upgradable or for write by
/// the other, the two orders cannot run at once (both were reported; found
/// by an outside test). Under an upgradable read and a plain read they can.
#[test]
fn an_upgradable_read_is_a_gate_against_writes_and_upgradable_reads() {
    let gate = RwLock::new(());
    let (a, b) = (Mutex::new(()), Mutex::new(()));
    let reports = capture(|| {
        {
            let _g = gate.upgradable_read();
            let _a = a.lock();
            let _b = b.lock();
        }
        {
            let _g = gate.upgradable_read();
            let _b = b.lock();
            let _a = a.lock();
        }
        let _g = gate.write();
        let _b = b.lock();
        let _a = a.lock();
    });
    assert!(reports.is_empty(), "{reports:#?}");
    let (c, d) = (Mutex::new(()), Mutex::new(()));
    let reports = capture(|| {
        {
            let _g = gate.upgradable_read();
            let _c = c.lock();
            let _d = d.lock();
        }
        let _g = gate.read();
        let _d = d.lock();
        let _c = c.lock();
    });
    assert_eq!(cycles(&reports).len(), 1, "{reports:#?}");
}

/// `upgrade` under a lock taken while the upgradable read was held: the
/// two edges (`a -> m` from the upgradable read, `m -> a` by the upgrade)
/// both need `a`'s upgradable read, which two threads cannot hold at once:
/// no deadlock (it was reported on its own; found by an outside test). A
/// write of `a` under `m` elsewhere is one.
#[test]
fn an_upgrade_under_a_lock_taken_while_upgradable_is_no_cycle() {
    let a = RwLock::named("rules-upgrade-under-m", 0u32);
    let m = Mutex::named("rules-upgrade-under-m-mutex", ());
    let reports = capture(|| {
        let u = a.upgradable_read();
        let _m = m.lock();
        *RwLockUpgradableReadGuard::upgrade(u) += 1;
    });
    assert!(reports.is_empty(), "{reports:#?}");
    let reports = capture(|| {
        let _m = m.lock();
        *a.write() += 1;
    });
    assert_eq!(cycles(&reports).len(), 1, "{reports:#?}");
}

/// A bump of an upgradable read lets it go and takes it back: another
/// thread can hold the lock upgradable meanwhile, so the bumped lock is no
/// gate of the bump's edges (it was, as an upgrade's; found by a review).
#[test]
fn a_bumped_upgradable_read_is_no_gate_of_its_bump() {
    let a = RwLock::named("rules-bump-a", ());
    let m = Mutex::named("rules-bump-m", ());
    let reports = capture(|| {
        let mut u = a.upgradable_read();
        let _m = m.lock(); // a (upgradable) -> m
        RwLockUpgradableReadGuard::bump(&mut u); // m -> a
    });
    assert_eq!(cycles(&reports).len(), 1, "{reports:#?}");
}

/// A read's bump (`RwLockReadGuard::bump`) lets the read go and takes it
/// back as a plain read, which queues behind a waiting writer: the other
/// held locks get their edges to it. `a.read(); m.lock(); bump` against
/// itself on another thread deadlocks once a writer of `a` waits (it
/// recorded no edge; found by a review).
#[test]
fn a_bumped_read_records_its_edges_as_a_read() {
    let a = RwLock::named("rules-bump-read-a", ());
    let m = Mutex::named("rules-bump-read-m", ());
    let reports = capture(|| {
        let mut r = a.read();
        let _m = m.lock(); // a (read) -> m
        lockgraph::RwLockReadGuard::bump(&mut r); // m -> a (read)
    });
    assert_eq!(cycles(&reports).len(), 1, "{reports:#?}");
}

/// An upgradable read's bump over the thread's own plain read of the lock:
/// the bump hands the lock to a waiting writer, which waits for that read,
/// and takes the upgradable read back behind the writer: a potential
/// self-deadlock, as the same re-take through `unlocked` is (found by a
/// review).
#[test]
fn a_bumped_upgradable_read_over_the_threads_own_read_is_a_potential_self_deadlock() {
    let a = RwLock::named("rules-bump-upgradable-over-read", ());
    let reports = capture(|| {
        let mut u = a.upgradable_read();
        let _r = a.read();
        RwLockUpgradableReadGuard::bump(&mut u);
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].kind, ReportKind::SelfDeadlock { certain: false });
}

/// A plain read traded into the place of an upgradable read (the
/// upgradable read released first) is recorded as a read, not as the
/// upgradable read the thread's chain remembered: its edge takes no gate,
/// and the upgrade's cycle through it is reported (it was hidden by the
/// cache; found by a review).
#[test]
fn a_read_traded_for_an_upgradable_read_records_its_edges_ungated() {
    let a = RwLock::named("rules-trade-a", 0u32);
    let m = Mutex::named("rules-trade-m", ());
    let reports = capture(|| {
        {
            let _u = a.upgradable_read();
            let _m = m.lock(); // a -> m, under a's upgradable read
        }
        {
            let u = a.upgradable_read();
            let _r = a.read();
            drop(u); // the read takes the upgradable read's slot
            let _m = m.lock(); // a -> m, under a plain read
        }
        let u = a.upgradable_read();
        let _m = m.lock();
        *RwLockUpgradableReadGuard::upgrade(u) += 1; // m -> a
    });
    assert_eq!(cycles(&reports).len(), 1, "{reports:#?}");
}

#[test]
fn one_ungated_recording_makes_the_cycle_real() {
    let gate = Mutex::new(());
    let a = Mutex::new(());
    let b = Mutex::new(());
    let reports = capture(|| {
        {
            let _g = gate.lock();
            let _a = a.lock();
            let _b = b.lock();
        }
        {
            let _a = a.lock();
            let _b = b.lock(); // a -> b, now without the gate
        }
        let _g = gate.lock();
        let _b = b.lock();
        let _a = a.lock();
    });
    assert_eq!(cycles(&reports).len(), 1);
}

/// Gates are instances: the same nesting under another gate of the gate's
/// class is another recording (the chain cache keys the held exclusive
/// locks' ids), and without a gate common to both orders the cycle is real.
#[test]
fn the_same_nesting_under_two_gates_of_one_class_has_no_common_gate() {
    fn gate() -> Mutex<()> {
        Mutex::new(())
    }
    let (g1, g2) = (gate(), gate());
    let a = Mutex::new(());
    let b = Mutex::new(());
    let reports = capture(|| {
        for g in [&g1, &g2] {
            let _g = g.lock();
            let _a = a.lock();
            let _b = b.lock(); // a -> b under g1, then under g2
        }
        let _g = g1.lock();
        let _b = b.lock();
        let _a = a.lock(); // b -> a under g1 only
    });
    assert_eq!(cycles(&reports).len(), 1, "{reports:#?}");
}

// ---- rule 6: instances and classes -------------------------------------------

fn account() -> Mutex<i64> {
    Mutex::new(0)
}
fn ledger() -> Mutex<i64> {
    Mutex::new(0)
}

#[test]
fn an_inversion_between_different_instances_is_caught_at_class_level() {
    let (a1, b1) = (account(), ledger());
    let (a2, b2) = (account(), ledger());
    let reports = capture(|| {
        {
            let _a = a1.lock();
            let _b = b1.lock();
        }
        let _b = b2.lock();
        let _a = a2.lock();
    });
    let r = cycles(&reports);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].level, Level::Class);
    assert!(r[0].to_string().contains("level: class"));
}

#[test]
fn the_same_instances_in_both_orders_are_an_instance_level_cycle() {
    let a = Mutex::new(());
    let b = Mutex::new(());
    let reports = capture(|| {
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        let _b = b.lock();
        let _a = a.lock();
    });
    assert_eq!(cycles(&reports)[0].level, Level::Instance);
}

#[test]
fn nesting_locks_of_one_class_is_fine_until_two_instances_invert() {
    let accounts: Vec<Mutex<i64>> = (0..4).map(|_| Mutex::new(100)).collect();
    let transfer = |from: usize, to: usize| {
        let mut a = accounts[from].lock();
        let mut b = accounts[to].lock();
        *a -= 1;
        *b += 1;
    };
    let reports = capture(|| {
        // Always lower index first: consistent, whatever the pairs.
        transfer(0, 1);
        transfer(1, 2);
        transfer(0, 3);
        transfer(2, 3);
    });
    assert!(reports.is_empty(), "{reports:#?}");
    let reports = capture(|| transfer(3, 0));
    let r = cycles(&reports);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].level, Level::Instance);
    assert_eq!(r[0].locks.len(), 2);
    assert!(r[0].locks.iter().all(|l| l.instance.is_some()));
}

// ---- rule 7: condvars ---------------------------------------------------------

#[test]
fn waiting_on_a_condvar_holding_a_lock_the_notifier_needs_is_reported() {
    let a = Mutex::new(());
    let m = Mutex::new(false);
    let cv = Condvar::new();
    let reports = capture(|| {
        {
            let _a = a.lock();
            let mut g = m.lock();
            let _ = cv.wait_for(&mut g, Duration::from_millis(1)); // a -> cv
        }
        let _a = a.lock();
        cv.notify_one(); // cv -> a
    });
    let r = cycles(&reports);
    assert_eq!(r.len(), 1, "{reports:#?}");
    let kinds: Vec<_> = r[0].locks.iter().map(|l| l.kind).collect();
    assert!(kinds.contains(&LockKind::Condvar) && kinds.contains(&LockKind::Mutex));
}

/// A notification's edge `cv -> x` stands for the notifier blocked on its
/// way to `x`: its gates are the locks taken before `x`, not `m`, taken
/// after it. The cycle `cv -> x -> y -> cv` is real: N waits for `x`, T
/// holds `x` (and `m`) and waits for `y`, W holds `y` and waits on `cv`;
/// `m` is held by T alone.
#[test]
fn a_notifications_gates_are_the_locks_taken_before_the_notifiers_lock() {
    let (x, y, m) = (Mutex::new(()), Mutex::new(()), Mutex::new(()));
    let cm = Mutex::new(false);
    let cv = Condvar::new();
    let reports = capture(|| {
        {
            // T: x, then m (a try, which adds no edge into m), then y.
            let _x = x.lock();
            let _m = m.try_lock().expect("free");
            let _y = y.lock(); // x -> y under m
        }
        {
            // W: y, then waits on cv.
            let _y = y.lock();
            let mut g = cm.lock();
            let _ = cv.wait_for(&mut g, Duration::from_millis(1)); // y -> cv
        }
        // N: x, then m, then notifies.
        let _x = x.lock();
        let _m = m.try_lock().expect("free");
        cv.notify_one(); // cv -> x (no gate), cv -> m (under x)
    });
    let r = cycles(&reports);
    assert_eq!(r.len(), 1, "{reports:#?}");
    assert_eq!(r[0].locks.len(), 3, "{}", r[0]);
}

#[test]
fn the_condvars_own_mutex_is_not_part_of_the_order() {
    let m = Mutex::new(0);
    let cv = Arc::new(Condvar::new());
    let reports = capture(|| {
        let mut g = m.lock();
        let _ = cv.wait_for(&mut g, Duration::from_millis(1));
        *g += 1;
        cv.notify_all(); // notifying under the condvar's own mutex is normal
    });
    assert!(reports.is_empty(), "{reports:#?}");
}

#[test]
fn condvar_wait_and_notify_work_across_threads() {
    let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
    let barrier = Arc::new(Barrier::new(2));
    let (p2, b2) = (Arc::clone(&pair), Arc::clone(&barrier));
    let t = thread::spawn(move || {
        b2.wait();
        for _ in 0..100 {
            let (m, cv) = &*p2;
            *m.lock() += 1;
            cv.notify_all();
        }
    });
    barrier.wait();
    let (m, cv) = &*pair;
    let mut g = m.lock();
    let r = cv.wait_while_for(&mut g, |n| *n < 100, Duration::from_secs(10));
    assert!(!r.timed_out());
    assert_eq!(*g, 100);
    drop(g);
    t.join().unwrap();
}

// ---- rule 8: dropped locks leave the graph; memory stays bounded -----------------

#[test]
fn lock_churn_does_not_grow_the_graphs() {
    let churn = |n: usize| {
        for _ in 0..n {
            // Two locks of one class (same site), nested: instance graph.
            let pair: Vec<Mutex<()>> = (0..2).map(|_| Mutex::new(())).collect();
            let _a = pair[0].lock();
            let _b = pair[1].lock();
            // And two of different classes: class graph.
            let x = Mutex::new(());
            let y = Mutex::new(());
            let _x = x.lock();
            let _y = y.lock();
        }
    };
    churn(1_000);
    let before = lockgraph::stats();
    // A million rounds where it is fast enough (optimised builds with
    // `track-in-release`, run by CI); a fifth of that in debug builds.
    churn(if cfg!(debug_assertions) {
        200_000
    } else {
        1_000_000
    });
    let after = lockgraph::stats();
    // Other tests run in parallel and add their own locks: allow them a margin.
    assert!(
        after.classes <= before.classes + 200,
        "{before:?} -> {after:?}"
    );
    assert!(
        after.instances <= before.instances + 200,
        "{before:?} -> {after:?}"
    );
    assert!(
        after.instance_edges <= before.instance_edges + 200,
        "{before:?} -> {after:?}"
    );
}

#[test]
fn a_new_cycle_through_new_locks_is_reported_after_an_old_one_was_dropped() {
    // Instance-graph slots are reused once locks are dropped; each round's
    // cycle is new and must be reported.
    for round in 0..3 {
        let pair: Vec<Mutex<()>> = (0..2).map(|_| Mutex::new(())).collect();
        let reports = capture(|| {
            {
                let _a = pair[0].lock();
                let _b = pair[1].lock();
            }
            let _b = pair[1].lock();
            let _a = pair[0].lock();
        });
        assert_eq!(cycles(&reports).len(), 1, "round {round}: {reports:#?}");
    }
}

#[test]
fn a_failed_timed_lock_does_not_vouch_for_a_later_acquisition() {
    // A timed attempt on `l` under `a` fails; later `l` is try-locked under
    // `b` (no edge), then locked under `b` for real: b -> l must be recorded.
    let a = Mutex::new(());
    let b = Mutex::new(());
    let l = Arc::new(Mutex::new(()));
    let reports = capture(|| {
        let l2 = Arc::clone(&l);
        let (tx, rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let holder = thread::spawn(move || {
            let _g = l2.lock();
            tx.send(()).unwrap();
            done_rx.recv().unwrap();
        });
        rx.recv().unwrap();
        {
            let _a = a.lock();
            assert!(l.try_lock_for(Duration::from_millis(1)).is_none());
        }
        done_tx.send(()).unwrap();
        holder.join().unwrap();
        {
            let _b = b.lock();
            let _l = l.try_lock().unwrap();
        }
        for _ in 0..2 {
            let _b = b.lock();
            let _l = l.lock(); // b -> l
        }
        let _l = l.lock();
        let _b = b.lock(); // l -> b: closes b -> l -> b
    });
    assert_eq!(cycles(&reports).len(), 1, "{reports:#?}");
}

#[test]
fn repeated_identical_nesting_is_recorded_once_and_still_checked() {
    let locks: Vec<Mutex<()>> = (0..8).map(|_| Mutex::new(())).collect();
    let reports = capture(|| {
        for _ in 0..100 {
            let _g: Vec<_> = locks.iter().map(|l| l.lock()).collect();
        }
        // A different top lock on the same stack is still checked.
        let _g: Vec<_> = locks[..4].iter().map(|l| l.lock()).collect();
        let _x = locks[0].try_lock_for(SHORT);
    });
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].kind, ReportKind::SelfDeadlock { certain: true });
}
