//! Edges into fresh locks of the held lock's class (per-object locks made by
//! one helper): recorded without the graph lock while they cannot close a
//! cycle (`global::young` in the core), and still part of every cycle found
//! later, from this thread or another, with their thread and stack.
//!
//! The last tests are about new locks of two classes (two sites), whose
//! nested acquisition on one held lock is remembered by class
//! (`before_wait_exclusive` in the core's `state/chain.rs`).
//!
//! Each test makes its own types, so its classes are its own, and reads
//! reports through `lockgraph::capture` (tests run in parallel); the test
//! that counts the graph's instances runs in a child process of its own.
#![cfg(any(debug_assertions, feature = "track-in-release"))]

use std::time::Duration;

use lockgraph::{capture, CycleReport, Level, Mutex, ReportKind, RwLock};
use lockgraph_testkit::{child, is_child, Child};

fn cycles(reports: &[CycleReport]) -> Vec<&CycleReport> {
    reports
        .iter()
        .filter(|r| r.kind == ReportKind::LockOrderCycle)
        .collect()
}

/// The instance ids of a report's locks, sorted.
fn instances(r: &CycleReport) -> Vec<u64> {
    let mut ids: Vec<u64> = r.locks.iter().filter_map(|l| l.instance).collect();
    ids.sort();
    ids
}

/// Whether stacks are captured in this run (`LOCKGRAPH_BACKTRACE`).
fn stacks_on() -> bool {
    std::env::var("LOCKGRAPH_BACKTRACE").map_or(true, |v| v != "0")
}

/// `rounds` fresh pairs of one class (one helper makes both locks), each
/// nested once and dropped; every 500th also the other way round (an
/// inversion, which moves the buffered edges into the graph) and every
/// 7th a count (which moves them too): the reports.
fn churn_fresh_pairs(rounds: usize) -> Vec<CycleReport> {
    struct Cell;
    fn cell() -> Mutex<Cell> {
        Mutex::new(Cell)
    }
    capture(|| {
        for i in 0..rounds {
            let (a, b) = (cell(), cell());
            {
                let _ga = a.lock();
                let _gb = b.lock();
            }
            if i % 500 == 0 {
                let _gb = b.lock();
                let _ga = a.lock();
            }
            if i % 7 == 0 {
                let _ = lockgraph::stats();
            }
        }
    })
}

/// Runs `child` for at most `secs` seconds and asserts that it passed and
/// printed `says`.
fn passes_saying(child: Child, secs: u64, says: &str) {
    let out = child.deadline(Duration::from_secs(secs)).run();
    assert!(out.success() && out.stdout.contains(says), "{}", out.both());
}

/// Asserts that the instance graph is back to `before` instances and has
/// no instance edge, and says "no instances left" (for `passes_saying`).
fn nothing_left_since(before: usize) {
    let after = lockgraph::stats();
    assert_eq!(after.instances, before, "{after:?}");
    assert_eq!(after.instance_edges, 0, "{after:?}");
    println!("no instances left");
}

#[test]
fn an_inversion_of_two_fresh_locks_of_one_helper_is_reported_with_both_stacks() {
    struct Account;
    fn account() -> Mutex<Account> {
        Mutex::new(Account)
    }
    let (a, b) = (account(), account());
    let reports = capture(|| {
        {
            // A fresh pair: the edge a -> b is buffered by this thread.
            let _ga = a.lock();
            let _gb = b.lock();
        }
        // The other order: must see the buffered edge.
        let _gb = b.lock();
        let _ga = a.lock();
    });
    let found = cycles(&reports);
    assert_eq!(found.len(), 1, "{reports:#?}");
    let r = found[0];
    assert_eq!(r.level, Level::Instance, "{r:#?}");
    assert_eq!(r.edges.len(), 2, "{r:#?}");
    let ids = instances(r);
    assert!(ids.len() == 2 && ids[0] != ids[1], "{r:#?}");
    // The buffered edge keeps where and by whom it was taken, and a stack.
    let first = r
        .edges
        .iter()
        .find(|e| !e.closing)
        .expect("a non-closing edge");
    assert!(
        first.held_at.is_some() && first.requested_at.is_some(),
        "{r:#?}"
    );
    assert_eq!(&*first.thread, &*r.edges[0].thread);
    if stacks_on() {
        assert!(r.edges.iter().all(|e| e.backtrace.is_some()), "{r:#?}");
    }
}

#[test]
fn an_inversion_of_fresh_locks_across_threads_is_reported() {
    struct Slot;
    fn slot() -> Mutex<Slot> {
        Mutex::new(Slot)
    }
    let (a, b) = (slot(), slot());
    std::thread::scope(|s| {
        s.spawn(|| {
            let _ga = a.lock();
            let _gb = b.lock();
        })
        .join()
        .unwrap();
    });
    // The other thread's buffered edge a -> b, then b -> a here.
    let reports = capture(|| {
        let _gb = b.lock();
        let _ga = a.lock();
    });
    let found = cycles(&reports);
    assert_eq!(found.len(), 1, "{reports:#?}");
    assert_eq!(found[0].level, Level::Instance);
    let ids = instances(found[0]);
    assert!(ids.len() == 2 && ids[0] != ids[1], "{:#?}", found[0]);
}

#[test]
fn a_longer_cycle_through_several_buffered_edges_is_reported() {
    struct Node;
    fn node() -> Mutex<Node> {
        Mutex::new(Node)
    }
    let (a, b, c) = (node(), node(), node());
    let reports = capture(|| {
        for (x, y) in [(&a, &b), (&b, &c)] {
            let _gx = x.lock();
            let _gy = y.lock();
        }
        let _gc = c.lock();
        let _ga = a.lock();
    });
    let found = cycles(&reports);
    assert_eq!(found.len(), 1, "{reports:#?}");
    assert_eq!(found[0].edges.len(), 3, "{:#?}", found[0]);
}

#[test]
fn fresh_pairs_in_one_order_report_nothing() {
    struct Item;
    fn item() -> Mutex<Item> {
        Mutex::new(Item)
    }
    let reports = capture(|| {
        for _ in 0..500 {
            let (a, b) = (item(), item());
            let _ga = a.lock();
            let _gb = b.lock();
        }
        // Kept pairs, each in its own order: no two share a lock.
        let kept: Vec<_> = (0..50).map(|_| (item(), item())).collect();
        for (i, (a, b)) in kept.iter().enumerate() {
            let (x, y) = if i % 2 == 0 { (a, b) } else { (b, a) };
            let _gx = x.lock();
            let _gy = y.lock();
        }
    });
    assert!(cycles(&reports).is_empty(), "{reports:#?}");
}

#[test]
fn write_locks_of_fresh_objects_take_the_same_path() {
    struct Page;
    fn page() -> RwLock<Page> {
        RwLock::new(Page)
    }
    let (a, b) = (page(), page());
    let reports = capture(|| {
        {
            let _ga = a.write();
            let _gb = b.write();
        }
        let _gb = b.write();
        let _ga = a.write();
    });
    assert_eq!(cycles(&reports).len(), 1, "{reports:#?}");
}

/// Churn of fresh same-class pairs, some kept and later nested into an
/// inversion, some dropped: the instance graph ends as it began.
#[test]
fn child_fresh_pairs_leave_no_instances_behind() {
    if !is_child() {
        return;
    }
    let before = lockgraph::stats().instances;
    let reports = churn_fresh_pairs(3000);
    assert_eq!(cycles(&reports).len(), 6, "{reports:#?}");
    nothing_left_since(before);
}

#[test]
fn fresh_pairs_leave_no_instances_behind() {
    passes_saying(
        child!(child_fresh_pairs_leave_no_instances_behind),
        60,
        "no instances left",
    );
}

/// The same with the atomicity checker on: every release then leaves the
/// fast pop (the slot has the checker's hook bit), and the checker's quick
/// release (`LockMeta::released_quick`) must still hand the slot's edge
/// flags to the lock's word, or a dropped lock's buffered edge stays.
#[test]
fn child_fresh_pairs_with_the_atomicity_checker_leave_no_instances_behind() {
    if !is_child() {
        return;
    }
    lockgraph::set_atomicity(lockgraph::Atomicity::Warn);
    let before = lockgraph::stats().instances;
    let reports = churn_fresh_pairs(2000);
    assert_eq!(cycles(&reports).len(), 4, "{reports:#?}");
    nothing_left_since(before);
}

#[test]
fn fresh_pairs_with_the_atomicity_checker_leave_no_instances_behind() {
    passes_saying(
        child!(child_fresh_pairs_with_the_atomicity_checker_leave_no_instances_behind),
        60,
        "no instances left",
    );
}

/// A held lock the recorder puts in the instance graph (a read of a lock
/// of its class taken under it: a shared request is recorded the usual
/// way, not buffered) has that flag to hand over at its release. With the
/// atomicity checker on, the release is the checker's quick one when it
/// has nothing to record (no region open, the lock never read), and it
/// must still hand the flag to the lock's word, or the lock's drop leaves
/// its instance in the graph.
#[test]
fn child_recorded_pairs_with_the_atomicity_checker_leave_no_instances_behind() {
    if !is_child() {
        return;
    }
    lockgraph::set_atomicity(lockgraph::Atomicity::Warn);
    struct Page;
    fn page() -> RwLock<Page> {
        RwLock::new(Page)
    }
    let other = Mutex::named("recorded-pairs-other", ());
    let before = lockgraph::stats().instances;
    for _ in 0..200 {
        let (a, b) = (page(), page());
        {
            let _ga = a.write();
            drop(b.read());
            // The read's release opened an implicit region, which this
            // acquisition closes: `a`'s release has nothing to record.
            drop(other.lock());
        }
        assert!(lockgraph::stats().instances > before);
    }
    nothing_left_since(before);
}

#[test]
fn recorded_pairs_with_the_atomicity_checker_leave_no_instances_behind() {
    passes_saying(
        child!(child_recorded_pairs_with_the_atomicity_checker_leave_no_instances_behind),
        60,
        "no instances left",
    );
}

/// Several threads nest fresh pairs while another keeps moving the buffers
/// into the graph (`stats`): no report, and nothing left behind.
#[test]
fn child_fresh_pairs_on_several_threads_while_the_graph_flushes() {
    if !is_child() {
        return;
    }
    struct Part;
    fn part() -> Mutex<Part> {
        Mutex::new(Part)
    }
    let before = lockgraph::stats().instances;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let reports: Vec<CycleReport> = std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = lockgraph::stats();
                std::thread::yield_now();
            }
        });
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    capture(|| {
                        let kept: Vec<_> = (0..20).map(|_| part()).collect();
                        for i in 0..3000 {
                            let (a, b) = (part(), part());
                            let _ga = a.lock();
                            let _gb = b.lock();
                            // A kept lock after a fresh one, always in
                            // that order: consistent, never a cycle.
                            let _gk = kept[i % kept.len()].try_lock();
                        }
                    })
                })
            })
            .collect();
        let all = workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        all
    });
    assert!(cycles(&reports).is_empty(), "{reports:#?}");
    let after = lockgraph::stats();
    assert_eq!(after.instances, before, "{after:?}");
    println!("no cycle, no instance left");
}

#[test]
fn fresh_pairs_on_several_threads_while_the_graph_flushes() {
    passes_saying(
        child!(child_fresh_pairs_on_several_threads_while_the_graph_flushes),
        120,
        "no cycle, no instance left",
    );
}

/// A thread's buffer outlives it and goes to the next new thread: the
/// edges it buffered keep its name, and the next owner's edges at the same
/// sites get the next owner's, both in the cycles they close later.
#[test]
fn child_a_buffer_handed_to_a_new_thread_keeps_each_edges_thread() {
    if !is_child() {
        return;
    }
    struct Leaf;
    fn leaf() -> Mutex<Leaf> {
        Mutex::new(Leaf)
    }
    fn nest(x: &Mutex<Leaf>, y: &Mutex<Leaf>) {
        let _gx = x.lock();
        let _gy = y.lock();
    }
    let (a, b, c, d) = (leaf(), leaf(), leaf(), leaf());
    for (name, x, y) in [("first-owner", &a, &b), ("second-owner", &c, &d)] {
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn_scoped(s, || nest(x, y))
                .unwrap()
                .join()
                .unwrap();
        });
    }
    // The main thread holds no buffer yet: the two threads had one between
    // them (the second took the first's when it had exited).
    let reports = capture(|| {
        nest(&b, &a);
        nest(&d, &c);
    });
    let found = cycles(&reports);
    assert_eq!(found.len(), 2, "{reports:#?}");
    for (r, owner) in found.iter().zip(["first-owner", "second-owner"]) {
        let buffered = r.edges.iter().find(|e| !e.closing).expect("an edge");
        assert_eq!(&*buffered.thread, owner, "{r:#?}");
        let closing = r
            .edges
            .iter()
            .find(|e| e.closing)
            .expect("the closing edge");
        let me = std::thread::current().name().map(str::to_owned);
        assert_eq!(Some(&*closing.thread), me.as_deref(), "{r:#?}");
    }
    println!("each edge kept its thread");
}

#[test]
fn a_buffer_handed_to_a_new_thread_keeps_each_edges_thread() {
    passes_saying(
        child!(child_a_buffer_handed_to_a_new_thread_keeps_each_edges_thread),
        60,
        "each edge kept its thread",
    );
}

/// After thousands of churned pairs, at one site and then over more
/// classes than a buffer keeps infos for (it starts over only when no
/// entry needs them), an inversion of a pair buffered before all that is
/// reported once, with its locks' class and both edges' sites.
#[test]
fn an_inversion_after_many_churned_pairs_and_classes_is_reported() {
    struct Obj;
    fn obj() -> Mutex<Obj> {
        Mutex::new(Obj)
    }
    let (a, b) = (obj(), obj());
    let reports = capture(|| {
        for _ in 0..5000 {
            let (x, y) = (obj(), obj());
            let _gx = x.lock();
            let _gy = y.lock();
        }
        // 5,000 classes of their own, each a pair nested once and kept
        // (no drop makes the buffer flush: only its length, every 1,024
        // entries), with the pair `a`, `b` buffered among them, shortly
        // before the buffer has infos for 4,096 classes.
        let mut kept = Vec::new();
        for i in 0..5000 {
            if i == 4000 {
                let _ga = a.lock();
                let _gb = b.lock();
            }
            let name: &'static str = Box::leak(format!("fresh-many-{i}").into_boxed_str());
            let (x, y) = (Mutex::named(name, ()), Mutex::named(name, ()));
            {
                let _gx = x.lock();
                let _gy = y.lock();
            }
            kept.push((x, y));
        }
        let _gb = b.lock();
        let _ga = a.lock();
    });
    let found = cycles(&reports);
    assert_eq!(found.len(), 1, "{reports:#?}");
    let r = found[0];
    assert_eq!(r.level, Level::Instance, "{r:#?}");
    assert_eq!(r.edges.len(), 2, "{r:#?}");
    assert!(
        r.locks
            .iter()
            .all(|l| l.name.is_none() && l.value_type.is_some_and(|t| t.ends_with("Obj"))),
        "{r:#?}"
    );
    assert!(
        r.edges
            .iter()
            .all(|e| e.held_at.is_some() && e.requested_at.is_some()),
        "{r:#?}"
    );
}

/// A buffered pair is not remembered in the chain cache: nested again
/// after another pair took its slot, it is recorded the usual way (its head
/// is marked), and an inversion of it later is one cycle; an inversion of
/// the other pair is another.
#[test]
fn a_buffered_pair_nested_again_after_another_is_recorded_and_inverted_once() {
    struct Row;
    fn row() -> Mutex<Row> {
        Mutex::new(Row)
    }
    fn nest(x: &Mutex<Row>, y: &Mutex<Row>) {
        let _gx = x.lock();
        let _gy = y.lock();
    }
    let (c, d, e) = (row(), row(), row());
    let reports = capture(|| {
        nest(&c, &d); // buffered
        nest(&c, &e); // buffered, in d's slot
        nest(&c, &d); // d is marked: the usual way
        nest(&c, &d); // steady
        nest(&d, &c); // closes c -> d -> c
        nest(&e, &c); // closes c -> e -> c
    });
    let found = cycles(&reports);
    assert_eq!(found.len(), 2, "{reports:#?}");
    for r in &found {
        assert_eq!(r.level, Level::Instance, "{r:#?}");
        assert_eq!(r.edges.len(), 2, "{r:#?}");
    }
    assert_ne!(instances(found[0]), instances(found[1]), "{reports:#?}");
}

/// The kinds of a report's locks, by name, sorted.
fn kinds(r: &CycleReport) -> Vec<&'static str> {
    let mut k: Vec<&'static str> = r.locks.iter().map(|l| l.kind.name()).collect();
    k.sort();
    k
}

/// One name makes one class, whatever the kind of lock: a `RwLock` and a
/// `Mutex` named alike are two locks of one class, so an edge from the first
/// into the second (fresh) has the shape of a buffered edge; each lock keeps
/// its own kind in the cycle that edge is part of. Run on a thread of its
/// own: the held-lock slots it uses start empty.
#[test]
fn a_fresh_lock_of_another_kind_of_the_held_class_keeps_each_kind() {
    std::thread::spawn(|| {
        let a = RwLock::named("fresh_locks::two kinds, fresh", ());
        let b = Mutex::named("fresh_locks::two kinds, fresh", ());
        let reports = capture(|| {
            {
                let _ga = a.write();
                let _gb = b.lock(); // fresh
            }
            let _gb = b.lock();
            let _ga = a.write(); // closes a -> b -> a
        });
        let found = cycles(&reports);
        assert_eq!(found.len(), 1, "{reports:#?}");
        let r = found[0];
        assert_eq!(r.level, Level::Instance, "{r:#?}");
        assert_eq!(kinds(r), ["Mutex", "RwLock"], "{r:#?}");
        let text = r.to_string();
        assert!(text.contains("RwLock") && text.contains("Mutex"), "{text}");
    })
    .join()
    .unwrap();
}

/// The same two kinds of one class, with an edge recorded the usual way
/// (another lock held under them, so nothing is buffered): each lock keeps
/// its own kind there too.
#[test]
fn an_instance_edge_between_two_kinds_of_one_class_keeps_each_kind() {
    std::thread::spawn(|| {
        let outer = Mutex::named("fresh_locks::two kinds, outer", ());
        let a = Mutex::named("fresh_locks::two kinds, recorded", ());
        let b = RwLock::named("fresh_locks::two kinds, recorded", ());
        let reports = capture(|| {
            {
                let _go = outer.lock();
                let _ga = a.lock();
                let _gb = b.write();
            }
            let _gb = b.write();
            let _ga = a.lock(); // closes a -> b -> a
        });
        let found = cycles(&reports);
        assert_eq!(found.len(), 1, "{reports:#?}");
        assert_eq!(kinds(found[0]), ["Mutex", "RwLock"], "{:#?}", found[0]);
    })
    .join()
    .unwrap();
}

/// The from-lock of a buffered pair is not listed dead at its drop when no
/// edge from it can be anywhere but in its thread's buffer
/// (`global::young::forget`); each case here is one where an edge from it
/// did reach the graph, or another thread's buffer, and its drop must
/// still take its node out. Counts the graph's instances: a child process.
#[test]
fn child_a_from_lock_whose_edges_left_its_buffer_leaves_no_instance_behind() {
    if !is_child() {
        return;
    }
    struct Node;
    fn node() -> Mutex<Node> {
        Mutex::new(Node)
    }
    let before = lockgraph::stats().instances;

    // 1. One hold buffers a -> b, a flush moves it into the graph, then
    //    a -> c is buffered in the same hold and leaves with c: a's drop
    //    finds a's last edge gone with its head, but a flush took one of
    //    a's edges before.
    let (a, b, c) = (node(), node(), node());
    let ga = a.lock();
    drop(b.lock());
    let moved = lockgraph::stats();
    assert!(moved.instances >= before + 2, "{moved:?}");
    drop(c.lock());
    drop(ga);
    drop(c);
    drop(b);
    drop(a);
    let after = lockgraph::stats();
    assert_eq!(after.instances, before, "case 1: {after:?}");

    // 2. Two holds on two threads buffer an edge from a, each in its own
    //    buffer: a's drop here finds its edge gone with its head, but the
    //    other thread's buffer still has a -> x.
    let (a, c) = (node(), node());
    let x = std::thread::scope(|s| {
        s.spawn(|| {
            let x = node();
            let _ga = a.lock();
            drop(x.lock());
            x
        })
        .join()
        .unwrap()
    });
    {
        let _ga = a.lock();
        drop(c.lock());
    }
    drop(c);
    drop(a);
    let _ = lockgraph::stats(); // the other buffer's a -> x: a is dead
    drop(x);
    let after = lockgraph::stats();
    assert_eq!(after.instances, before, "case 2: {after:?}");

    // 3. a's guard is forgotten while a -> b waits in the buffer (the
    //    edge flag never reached a's word), a flush moves the edge, and a
    //    is dropped while this thread still holds it.
    let (a, b) = (node(), node());
    let ga = a.lock();
    drop(b.lock());
    std::mem::forget(ga);
    let _ = lockgraph::stats();
    drop(b);
    drop(a);
    assert!(lockgraph::held_locks().is_empty());
    let after = lockgraph::stats();
    assert_eq!(after.instances, before, "case 3: {after:?}");

    // 4. a -> b buffered and b dropped first, which leaves the buffer
    //    empty (a's drop would need no look), then a -> c buffered in the
    //    same hold: a's drop must still find a -> c.
    let (a, b, c) = (node(), node(), node());
    let ga = a.lock();
    drop(b.lock());
    drop(b);
    drop(c.lock());
    drop(ga);
    drop(a);
    let _ = lockgraph::stats(); // a -> c, if it stayed, now in the graph
    drop(c);
    let after = lockgraph::stats();
    assert_eq!(after.instances, before, "case 4: {after:?}");

    // 5. a -> b and a -> c buffered in one hold, c dropped first: the
    //    buffer still holds a -> b, so a's drop must look.
    let (a, b, c) = (node(), node(), node());
    {
        let _ga = a.lock();
        drop(b.lock());
        drop(c.lock());
    }
    drop(c);
    drop(a);
    let _ = lockgraph::stats();
    drop(b);
    let after = lockgraph::stats();
    assert_eq!(after.instances, before, "case 5: {after:?}");
    println!("no instance left");
}

#[test]
fn a_from_lock_whose_edges_left_its_buffer_leaves_no_instance_behind() {
    passes_saying(
        child!(child_a_from_lock_whose_edges_left_its_buffer_leaves_no_instance_behind),
        60,
        "no instance left",
    );
}

/// The churn's tail is dropped without a look at its buffer when its
/// head's drop left the buffer empty (`young::forget`'s clean tail); that
/// rests on a second hold buffering an edge from the tail setting
/// `YOUNG_FROM_AGAIN` at its release. Here the second hold is another
/// thread's read hold taken while this thread's read hold is still out
/// (overlapping, not after it), in both orders of release: the tail must
/// still be listed dead, or the other thread's edge reaches the graph with
/// a node nobody removes. Counts the graph's instances: a child process.
#[test]
fn child_a_clean_tail_read_held_by_two_threads_at_once_leaves_no_instance_behind() {
    if !is_child() {
        return;
    }
    struct Page;
    fn page() -> RwLock<Page> {
        RwLock::new(Page)
    }
    let before = lockgraph::stats().instances;
    for other_releases_first in [true, false] {
        let (a, b) = (page(), page());
        let ga = a.read();
        // a -> b buffered here, b dropped first: the buffer is empty again,
        // and a's drop would need no look.
        drop(b.write());
        drop(b);
        let x = std::thread::scope(|s| {
            let (held, release) = (
                std::sync::mpsc::channel::<()>(),
                std::sync::mpsc::channel::<()>(),
            );
            let (a, held_tx, release_rx) = (&a, held.0, release.1);
            let t = s.spawn(move || {
                let x = page();
                let _ga = a.read();
                drop(x.write()); // a -> x, in this thread's buffer
                held_tx.send(()).unwrap();
                if !other_releases_first {
                    let _ = release_rx.recv_timeout(Duration::from_secs(30));
                }
                x
            });
            held.1.recv_timeout(Duration::from_secs(30)).unwrap();
            if other_releases_first {
                let x = t.join().unwrap();
                drop(ga);
                x
            } else {
                drop(ga);
                release.0.send(()).unwrap();
                t.join().unwrap()
            }
        });
        drop(a);
        let _ = lockgraph::stats(); // the other buffer's a -> x: a is dead
        drop(x);
        let after = lockgraph::stats();
        assert_eq!(
            after.instances, before,
            "other releases first: {other_releases_first}: {after:?}"
        );
    }
    println!("no instance left");
}

#[test]
fn a_clean_tail_read_held_by_two_threads_at_once_leaves_no_instance_behind() {
    passes_saying(
        child!(child_a_clean_tail_read_held_by_two_threads_at_once_leaves_no_instance_behind),
        60,
        "no instance left",
    );
}

/// Churned pairs whose from-locks leave without being listed dead, then
/// two locks of the same helper nested both ways: the inversion is found.
#[test]
fn an_inversion_after_churned_pairs_whose_from_locks_left_quietly_is_reported() {
    struct Item;
    fn item() -> Mutex<Item> {
        Mutex::new(Item)
    }
    let reports = capture(|| {
        for _ in 0..1000 {
            let (a, b) = (item(), item());
            let _ga = a.lock();
            let _gb = b.lock();
        }
        let (p, q) = (item(), item());
        {
            let _gp = p.lock();
            let _gq = q.lock();
        }
        let _gq = q.lock();
        let _gp = p.lock(); // closes p -> q -> p
    });
    let found = cycles(&reports);
    assert_eq!(found.len(), 1, "{reports:#?}");
    assert_eq!(found[0].level, Level::Instance, "{:#?}", found[0]);
    assert_eq!(found[0].edges.len(), 2, "{:#?}", found[0]);
}

/// Two new locks made at two sites, nested, dropped, over and over (the
/// two-class churn): the pair of classes is remembered. Another held
/// class under the same requested class is not that pair: its edge is
/// recorded and closes a cycle; and so does the churned pair's inversion.
#[test]
fn new_locks_of_two_classes_nested_after_a_churn_keep_every_class_edge() {
    struct Left;
    struct Right;
    struct Other;
    fn left() -> Mutex<Left> {
        Mutex::new(Left)
    }
    fn right() -> Mutex<Right> {
        Mutex::new(Right)
    }
    let other = Mutex::new(Other);
    let reports = capture(|| {
        for _ in 0..1000 {
            let (l, r) = (left(), right());
            let _gl = l.lock();
            let _gr = r.lock();
        }
        let r = right();
        {
            // Another held class, the same requested class, one lock held
            // exclusively: other -> Right must be recorded.
            let _go = other.lock();
            let _gr = r.lock();
        }
        {
            let _gr = r.lock();
            let _go = other.lock(); // closes Other -> Right -> Other
        }
        let l = left();
        let _gr = r.lock();
        let _gl = l.lock(); // closes Left -> Right -> Left
    });
    let found = cycles(&reports);
    assert_eq!(found.len(), 2, "{reports:#?}");
    for r in &found {
        assert_eq!(r.edges.len(), 2, "{r:#?}");
    }
}

/// The closing request of a cycle between locks of one class shows its own
/// stack. Each instance edge keeps the first stack its thread captured at
/// the same two sites (`transfer`'s two lock calls): here `transfer(&c, &d)`
/// — which the report showed for the closing edge too, a call on neither
/// lock of the cycle (an outside records test).
#[test]
fn the_closing_request_between_locks_of_one_class_shows_its_own_stack() {
    struct Account {
        bal: Mutex<i64>,
    }
    #[inline(never)]
    fn transfer(from: &Account, to: &Account) {
        let mut f = from.bal.lock();
        let mut t = to.bal.lock();
        *f -= 1;
        *t += 1;
    }
    let new = || Account { bal: Mutex::new(9) };
    let (a, b, c, d) = (new(), new(), new(), new());
    let mut closing_line = 0;
    let reports = capture(|| {
        transfer(&c, &d);
        transfer(&a, &b);
        closing_line = line!() + 1;
        transfer(&b, &a);
    });
    let found = cycles(&reports);
    assert_eq!(found.len(), 1, "{reports:?}");
    let closing = found[0]
        .edges
        .iter()
        .find(|e| e.closing)
        .expect("a closing edge");
    let frames = closing.backtrace.as_ref().expect("a stack").user_frames(16);
    let here = format!("fresh_locks.rs:{closing_line})");
    // (A release build has no line tables: no frame names its line.)
    assert!(
        !cfg!(debug_assertions) || frames.iter().any(|f| f.ends_with(&here)),
        "{here} not in {frames:#?}"
    );
    let text = found[0].to_string();
    assert!(
        text.contains("the closing request's stack is its own"),
        "{text}"
    );
}
