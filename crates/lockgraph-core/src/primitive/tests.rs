//! Unit tests of the seam for blocking primitives.

use super::*;
use std::cell::Cell;

use crate::class::{Class, LockKind};

/// A fake primitive that records which raw operations the protocol
/// called, and answers `try_now` from a script.
#[derive(Default)]
struct Fake {
    tries: Cell<u32>,
    blocks: Cell<u32>,
    timed: Cell<u32>,
    /// Whether `try_now` succeeds.
    free: Cell<bool>,
    /// Whether `block_until` succeeds.
    in_time: Cell<bool>,
}

impl Blocking for Fake {
    fn try_now(&self) -> bool {
        self.tries.set(self.tries.get() + 1);
        self.free.get()
    }
    fn block(&self) {
        self.blocks.set(self.blocks.get() + 1);
    }
    fn block_until(&self, _: Deadline) -> bool {
        self.timed.set(self.timed.get() + 1);
        self.in_time.get()
    }
}

fn held_ids() -> Vec<u64> {
    crate::state::held_lock_ids()
}

#[test]
fn a_blocking_acquisition_records_before_and_holds_after() {
    let a = LockMeta::new(LockKind::Mutex, Class::Named("prim-test-a"));
    let b = LockMeta::new(LockKind::Mutex, Class::Named("prim-test-b"));
    let (pa, pb) = (Fake::default(), Fake::default());
    let reports = crate::policy::capture(|| {
        acquire(&a, &pa, WaitMode::Lock, None);
        acquire(&b, &pb, WaitMode::Lock, None);
        assert_eq!(held_ids(), [a.id(), b.id()]);
        release(&b, WaitMode::Lock);
        release(&a, WaitMode::Lock);
        acquire(&b, &pb, WaitMode::Lock, None);
        // The other order: reported before the raw `block`.
        acquire(&a, &pa, WaitMode::Lock, None);
        release(&a, WaitMode::Lock);
        release(&b, WaitMode::Lock);
    });
    assert!(held_ids().is_empty());
    if crate::TRACKING {
        assert_eq!(reports.len(), 1, "{reports:?}");
    }
    // With the features off, each acquisition is exactly one raw block
    // (no try first) unless a feature is on in this test process.
    if features::hooks() == 0 {
        assert_eq!((pa.blocks.get(), pa.tries.get()), (2, 0));
    }
}

/// The steady case (`LockMeta::steady`) is taken only on the same locks
/// below: a chain whose lower lock changed is recorded.
#[test]
fn a_steady_acquisition_needs_the_same_locks_below() {
    let a = LockMeta::new(LockKind::Mutex, Class::Named("prim-steady-a"));
    let b = LockMeta::new(LockKind::Mutex, Class::Named("prim-steady-b"));
    let c = LockMeta::new(LockKind::Mutex, Class::Named("prim-steady-c"));
    let p = Fake::default();
    let nest = |x: &LockMeta, y: &LockMeta| {
        acquire(x, &p, WaitMode::Lock, None);
        acquire(y, &p, WaitMode::Lock, None);
        release(y, WaitMode::Lock);
        release(x, WaitMode::Lock);
    };
    let reports = crate::policy::capture(|| {
        nest(&a, &b);
        nest(&a, &b); // steady: nothing new
        nest(&c, &b); // b again at depth 1, but on c: c -> b recorded
        nest(&b, &c); // closes b -> c -> b
    });
    if crate::TRACKING {
        assert_eq!(reports.len(), 1, "{reports:?}");
    }
    assert!(held_ids().is_empty());
}

/// A hold changed in place (a downgrade) leaves its slot: the next
/// exclusive acquisition of the lock at that depth is exclusive again.
#[test]
fn a_steady_acquisition_takes_the_mode_it_asks_for() {
    let r = LockMeta::new(LockKind::RwLock, Class::Named("prim-steady-rw"));
    let p = Fake::default();
    let hold = || crate::state::tracked_entry(&r).map(|(_, h, _)| h);
    for _ in 0..2 {
        acquire(&r, &p, WaitMode::Write, None);
        assert_eq!(hold(), Some(Hold::Exclusive));
        r.rehold(Hold::Shared);
        assert_eq!(hold(), Some(Hold::Shared));
        release(&r, WaitMode::Read);
        assert_eq!(hold(), None);
    }
}

/// A lock without an id yet matches no slot of a fresh thread's stack
/// (an empty slot's id word is not 0): it gets its id when pushed.
#[test]
fn a_lock_without_an_id_is_pushed_with_its_id() {
    std::thread::spawn(|| {
        let r = LockMeta::new(LockKind::RwLock, Class::Named("prim-steady-new"));
        assert!(!r.has_id());
        let p = Fake::default();
        acquire(&r, &p, WaitMode::Read, None);
        assert!(r.has_id());
        if crate::TRACKING {
            assert_eq!(held_ids(), [r.id()]);
        }
        release(&r, WaitMode::Read);
        assert!(held_ids().is_empty());
    })
    .join()
    .unwrap();
}

#[test]
fn a_try_records_no_edge_into_the_tried_lock() {
    let a = LockMeta::new(LockKind::Mutex, Class::Named("prim-try-a"));
    let b = LockMeta::new(LockKind::Mutex, Class::Named("prim-try-b"));
    let (pa, pb) = (Fake::default(), Fake::default());
    pa.free.set(true);
    pb.free.set(true);
    let reports = crate::policy::capture(|| {
        acquire(&a, &pa, WaitMode::Lock, None);
        assert!(try_acquire(&b, &pb, WaitMode::Lock));
        release(&b, WaitMode::Lock);
        release(&a, WaitMode::Lock);
        acquire(&b, &pb, WaitMode::Lock, None);
        acquire(&a, &pa, WaitMode::Lock, None);
        release(&a, WaitMode::Lock);
        release(&b, WaitMode::Lock);
    });
    assert!(reports.is_empty(), "{reports:?}");
    // A failed try pushes nothing.
    pb.free.set(false);
    assert!(!try_acquire(&b, &pb, WaitMode::Lock));
    assert!(held_ids().is_empty());
}

#[test]
fn a_timed_request_that_gives_up_leaves_no_hold() {
    let a = LockMeta::new(LockKind::RwLock, Class::Named("prim-timed-a"));
    let p = Fake::default();
    assert!(!acquire_until(
        &a,
        &p,
        WaitMode::Write,
        Deadline::After(Duration::from_millis(1))
    ));
    assert!(held_ids().is_empty());
    p.in_time.set(true);
    assert!(acquire_until(
        &a,
        &p,
        WaitMode::Read,
        Deadline::At(Instant::now())
    ));
    assert_eq!(held_ids(), [a.id()]);
    release(&a, WaitMode::Read);
    assert!(held_ids().is_empty());
}

#[test]
fn modes_take_their_holds_and_an_upgrade_changes_the_hold_in_place() {
    let r = LockMeta::new(LockKind::RwLock, Class::Named("prim-up"));
    let p = Fake::default();
    p.free.set(true);
    acquire(&r, &p, WaitMode::UpgradableRead, None);
    let hold = || crate::state::tracked_entry(&r).map(|(_, h, _)| h);
    assert_eq!(hold(), Some(Hold::Shared));
    assert!(upgrade(&r, &p, None));
    assert_eq!(hold(), Some(Hold::Exclusive));
    release(&r, WaitMode::Write);
    assert_eq!(hold(), None);
    assert_eq!(WaitMode::RecursiveRead.hold(), Hold::Shared);
    assert_eq!(WaitMode::Upgrade.hold(), Hold::Exclusive);
}

#[test]
fn a_request_held_while_running_and_only_requested_otherwise() {
    let once = LockMeta::new(LockKind::Once, Class::Named("prim-once"));
    let site = Location::caller();
    request(&once, site);
    let inside = run_holding(&once, site, held_ids);
    assert_eq!(inside, [once.id()]);
    assert!(held_ids().is_empty());
    request(&once, site);
    requested_only(&once);
    // Calling it again from inside its own run is a self-deadlock.
    let reports = crate::policy::capture(|| {
        run_holding(&once, site, || request(&once, site));
    });
    if crate::TRACKING {
        assert_eq!(reports.len(), 1, "{reports:?}");
    }
}
