//! Where a lock-order cycle's report is built (`global/found.rs`): off the
//! thread that closed the cycle under `warn`, when the capture returns
//! under `capture`. A module of its own: it drives the primitive protocol,
//! the policy and the graph together, which no module of the crate may
//! import all at once without a loop.

use std::cell::Cell;
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
