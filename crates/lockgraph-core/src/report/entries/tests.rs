//! A report's locks and edges read from runs: one by one, in order, laid
//! out, and with the stacks a long cycle keeps.

use super::*;
use crate::class::{LockKind, Site};
use crate::report::{Backtrace, Hold, Request};

fn site(line: u32) -> Option<Site> {
    Some(Site {
        file: "src/runs.rs",
        line,
        column: 1,
    })
}

/// Runs of lengths 1, 2, 3, ... : every entry read one by one, in
/// order, and laid out, is the one its run and position say.
#[test]
fn entries_of_runs_are_each_runs_entry_in_order() {
    let lens = [1usize, 2, 3, 1, 5, 1, 1, 7];
    let n: usize = lens.iter().sum();
    let ids: Vec<u64> = (0..n as u64).map(|i| 1000 + i * 3).collect();
    let lock = |r: usize| LockInfo {
        site_classes: r,
        ..LockInfo::new(
            if r.is_multiple_of(2) {
                LockKind::Mutex
            } else {
                LockKind::RwLock
            },
            None,
            site(r as u32),
            None,
        )
    };
    let bt = Backtrace::capture();
    let edge = |r: usize| EdgeInfo {
        thread: format!("t{r}").into(),
        hold: Hold::Shared,
        request: Request::Read,
        backtrace: Some(bt.clone()),
        ..EdgeInfo::new(
            0,
            0,
            "x".into(),
            site(100 + r as u32),
            site(200 + r as u32),
            false,
        )
    };
    let locks = Locks::runs(LockRuns::new(
        lens.iter().enumerate().map(|(r, &len)| (lock(r), len)),
        ids.clone(),
    ));
    // Kept stacks: the first and last 2 of a cycle longer than 4.
    let edges = Edges::runs(EdgeRuns::new(
        lens.iter().enumerate().map(|(r, &len)| (edge(r), len)),
        4,
        2,
    ));
    // The run and the position in it of each entry.
    let want: Vec<usize> = lens
        .iter()
        .enumerate()
        .flat_map(|(r, &len)| std::iter::repeat_n(r, len))
        .collect();
    assert_eq!((locks.len(), edges.len()), (n, n));
    assert!(locks.entry(n).is_none() && edges.entry(n).is_none());
    let one_by_one: Vec<LockInfo> = (0..n).map(|i| locks.entry(i).unwrap()).collect();
    let in_order: Vec<LockInfo> = locks.entries().collect();
    for (i, &r) in want.iter().enumerate() {
        for l in [&one_by_one[i], &in_order[i], &locks[i]] {
            assert_eq!(l.site_classes, r, "lock {i}");
            assert_eq!(l.created, site(r as u32), "lock {i}");
            assert_eq!(l.kind, lock(r).kind, "lock {i}");
            assert_eq!(l.instance, Some(ids[i]), "lock {i}");
        }
    }
    let one_by_one: Vec<EdgeInfo> = (0..n).map(|i| edges.entry(i).unwrap()).collect();
    let in_order: Vec<EdgeInfo> = edges.entries().collect();
    for (i, &r) in want.iter().enumerate() {
        for e in [&one_by_one[i], &in_order[i], &edges[i]] {
            assert_eq!((e.from, e.to, e.closing), (i, (i + 1) % n, i == 0));
            assert_eq!(&*e.thread, format!("t{r}"), "edge {i}");
            assert_eq!(e.held_at, site(100 + r as u32), "edge {i}");
            assert_eq!(e.requested_at, site(200 + r as u32), "edge {i}");
            assert_eq!((e.hold, e.request), (Hold::Shared, Request::Read));
            assert_eq!(
                e.backtrace.is_some(),
                i < 2 || i >= n - 2,
                "edge {i}'s stack"
            );
        }
    }
    assert_eq!(edges.closing().map(|e| e.from), Some(0));
    let threads: Vec<String> = want.iter().map(|r| format!("t{r}")).collect();
    assert_eq!(edges.threads(), threads);
    assert_eq!(
        locks.count_by_run(|l| l.kind == LockKind::Mutex),
        want.iter().filter(|&&r| r.is_multiple_of(2)).count()
    );
    // Debug reads as the laid-out list's.
    assert_eq!(format!("{locks:?}"), format!("{:?}", &locks[..]));
    assert_eq!(format!("{edges:#?}"), format!("{:#?}", &edges[..]));
}

/// A short cycle keeps every edge's stack.
#[test]
fn a_short_cycle_keeps_every_stack() {
    let e = EdgeInfo {
        backtrace: Some(Backtrace::capture()),
        ..EdgeInfo::new(0, 0, "t".into(), None, None, false)
    };
    let edges = Edges::runs(EdgeRuns::new([(e, 4)], 4, 1));
    assert!(edges.entries().all(|e| e.backtrace.is_some()));
    assert_eq!(edges.entry(3).map(|e| e.to), Some(0));
}
