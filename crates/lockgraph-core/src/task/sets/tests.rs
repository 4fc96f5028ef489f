//! Tests of the held sets: their contents, the sweep, the cache.

use std::sync::atomic::Ordering;

use super::held_set::entry;
use super::registry::{registered, SHARDS, SWEEP_EVERY};
use super::*;
use crate::meta::Held;
use crate::report::Hold;

/// Sets of exclusive holds whose ids sum alike are told apart (the
/// nested acquisition's memo keys on the sum of the shares), and so are
/// the modes of one lock.
#[test]
fn sets_with_equal_id_sums_have_different_contents() {
    let e = |ids: &[u64]| -> u64 {
        ids.iter()
            .fold(0u64, |c, &id| c.wrapping_add(entry(id, Hold::Exclusive)))
    };
    for n in [1u64, 7, 1000, 1 << 40] {
        assert_ne!(e(&[n, n + 3]), e(&[n + 1, n + 2]), "{n}");
        assert_ne!(e(&[n, n + 5, n + 10]), e(&[n, n + 6, n + 9]), "{n}");
    }
    assert_ne!(entry(9, Hold::Exclusive), entry(9, Hold::Shared));
}

/// Sets of tasks that hold nothing leave the registry (tasks end
/// without telling anyone), those that hold something stay.
#[test]
fn empty_sets_are_swept() {
    let base = 1 << 40;
    let n = (SHARDS as u64) * u64::from(SWEEP_EVERY) * 2;
    let held = Held {
        id: 1,
        key: 1,
        class: crate::class::Class::Named("sweep"),
        kind: crate::class::LockKind::AsyncMutex,
        hold: crate::report::Hold::Exclusive,
        site: None,
    };
    let (set, i, token) = push(Owner::Task(base - 1), held).unwrap();
    for i in 0..n {
        with_set(Owner::Task(base + i), true, |_| ());
    }
    let n_sets = registered();
    assert!(n_sets < n as usize, "{n_sets} sets for {n} idle tasks");
    let kept = with_set(Owner::Task(base - 1), false, |s| !s.is_empty());
    assert_eq!(kept, Some(true));
    // SAFETY: the set holds a hold, so the registry keeps it.
    assert!(!unsafe { &*set }.release(i, token, false));
}

/// The owner's releases lower `top` past the slots they free, from
/// the top only; a release from elsewhere leaves it to `is_empty`'s
/// scan; either way the set reads empty once nothing is held, and the
/// holds left are still seen.
#[test]
fn releases_lower_top() {
    let set = HeldSet::new(Owner::Task(3));
    let held = |id| Held {
        id,
        key: id,
        class: crate::class::Class::Anonymous,
        kind: crate::class::LockKind::AsyncMutex,
        hold: crate::report::Hold::Exclusive,
        site: None,
    };
    let (a, ta) = set.push(held(1)).unwrap();
    let (b, tb) = set.push(held(2)).unwrap();
    let (c, tc) = set.push(held(3)).unwrap();
    assert_eq!((a, b, c), (0, 1, 2));
    // Not the top slot: `top` stays, the others are still seen.
    set.release(b, tb, true);
    assert_eq!(set.top.load(Ordering::Relaxed), 3);
    let mut ids = Vec::new();
    set.for_each_key(|_, _, id| ids.push(id));
    assert_eq!(ids, [1, 3]);
    // The top slot, by its owner: `top` goes below it at once.
    set.release(c, tc, true);
    assert_eq!(set.top.load(Ordering::Relaxed), 2);
    assert!(!set.is_empty());
    // The last one from elsewhere: the scan finds the set empty.
    set.release(a, ta, false);
    assert!(set.is_empty());
    assert_eq!(set.top.load(Ordering::Relaxed), 0);
    assert_eq!(set.push(held(4)).map(|(i, _)| i), Some(0));
}

/// A slot refilled by a lock of another class, or of the same class
/// key and another kind, reads as the new lock (the class words are
/// kept only for the same key and kind).
#[test]
fn a_refilled_slot_reads_as_its_new_lock() {
    use crate::class::{Class, LockKind};
    let set = HeldSet::new(Owner::Task(5));
    let held = |key, class, kind| Held {
        id: 9,
        key,
        class,
        kind,
        hold: crate::report::Hold::Exclusive,
        site: None,
    };
    let read = |set: &HeldSet| {
        let mut v = Vec::new();
        set.for_each(|_, h| v.push(format!("{} {:?} {:?}", h.key, h.class, h.kind)));
        v
    };
    for (key, class, kind) in [
        (11, Class::Named("a"), LockKind::AsyncMutex),
        (11, Class::Named("a"), LockKind::AsyncMutex),
        (11, Class::Named("a"), LockKind::AsyncRwLock),
        (12, Class::Named("b"), LockKind::AsyncRwLock),
        (14, Class::Anonymous, LockKind::AsyncSemaphore),
    ] {
        let (i, t) = set.push(held(key, class, kind)).unwrap();
        assert_eq!(i, 0);
        assert_eq!(read(&set), [format!("{key} {class:?} {kind:?}")]);
        set.release(i, t, true);
    }
}

/// A set this thread has cached is not swept while empty: its owner
/// fills it through the cache, without the registry's lock, so a sweep
/// then would lose the hold (the watchdog, and the owner on another
/// thread, would not see it).
#[test]
fn a_cached_set_is_not_swept() {
    let owner = Owner::Task((1 << 41) + 7);
    with_set(owner, true, |_| ());
    // Sweeps of every shard from another thread, whose cache moves on.
    std::thread::spawn(|| {
        let base = 1 << 42;
        for i in 0..(SHARDS as u64) * u64::from(SWEEP_EVERY) * 2 {
            with_set(Owner::Task(base + i), true, |_| ());
        }
    })
    .join()
    .unwrap();
    let held = Held {
        id: 77,
        key: 1,
        class: crate::class::Class::Named("cached"),
        kind: crate::class::LockKind::AsyncMutex,
        hold: crate::report::Hold::Exclusive,
        site: None,
    };
    let (set, i, token) = push(owner, held).unwrap();
    let seen = all_holds().iter().any(|h| h.owner == owner && h.id == 77);
    // SAFETY: the set holds a hold, so it is alive.
    assert!(!unsafe { &*set }.release(i, token, true));
    assert!(seen, "a hold pushed through the cache is in the registry");
}
