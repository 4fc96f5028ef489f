//! Each cycle is reported once per process, and only that cycle: a cycle of
//! other locks is never taken for one already reported.
#![cfg(any(debug_assertions, feature = "track-in-release"))]

use std::time::Duration;

use lockgraph::{capture, Mutex};
use lockgraph_testkit::{child, is_child};

fn nest(x: &Mutex<()>, y: &Mutex<()>) {
    let _x = x.lock();
    let _y = y.lock();
}

/// In a fresh process the class graph numbers classes in the order they are
/// first recorded, so this test picks which cycles have which node numbers:
/// b 0, a 1, d 2, c 3, f 4, e 5. The cycles {a, f} (nodes 1 and 4) and
/// {b, e} (0 and 5) once had the same key (an additive hash of the nodes).
#[test]
fn child_two_cycles_of_other_nodes() {
    if !is_child() {
        return;
    }
    let [a, b, c, d, e, f] = ["a", "b", "c", "d", "e", "f"].map(|n| Mutex::named(n, ()));
    let reports = capture(|| {
        nest(&a, &b);
        nest(&c, &d);
        nest(&e, &f);
        nest(&a, &f);
        nest(&f, &a); // cycle {a, f}
        nest(&b, &e); // closes a -> b -> e -> f -> a
        nest(&e, &b); // cycle {b, e}
        nest(&e, &b); // the same again: not reported twice
    });
    for r in &reports {
        let mut names: Vec<_> = r.locks.iter().filter_map(|l| l.name).collect();
        names.sort();
        println!("CYCLE {}", names.join(" "));
    }
    println!("REPORTS {}", reports.len());
}

#[test]
fn a_cycle_of_other_locks_is_never_taken_for_one_already_reported() {
    if is_child() {
        return;
    }
    let out = child!(child_two_cycles_of_other_nodes)
        .env("LOCKGRAPH_ORDER", "on")
        .deadline(Duration::from_secs(60))
        .run();
    assert!(out.success(), "{}", out.both());
    let cycles: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("CYCLE "))
        .collect();
    assert!(out.stdout.contains("REPORTS 3"), "{}", out.both());
    assert_eq!(
        cycles.iter().filter(|c| **c == "CYCLE b e").count(),
        1,
        "{cycles:?}"
    );
}
