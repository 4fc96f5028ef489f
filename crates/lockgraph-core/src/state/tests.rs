use super::*;
use crate::held_stack::EMPTY_WORD;
use crate::meta::{ID_SHIFT, LOCK_FLAGS};

static A: LockMeta = LockMeta::new(LockKind::Mutex, Class::Named("state-test-a"));
static B: LockMeta = LockMeta::new(LockKind::Mutex, Class::Named("state-test-b"));
static C: LockMeta = LockMeta::new(LockKind::RwLock, Class::Named("state-test-c"));

fn top_chain() -> (u64, u64, u64) {
    STATE.with(|t| {
        let len = t.stack.len.get();
        t.link_up_to(len);
        (
            t.chains[len - 1].get(),
            t.insts[len - 1].get(),
            t.blooms[len - 1].get(),
        )
    })
}

#[test]
fn out_of_order_release_relinks_the_running_hashes() {
    A.acquired(Hold::Exclusive, None);
    C.acquired(Hold::Shared, None);
    let direct = top_chain();
    C.released();
    A.released();

    A.acquired(Hold::Exclusive, None);
    B.acquired(Hold::Exclusive, None);
    C.acquired(Hold::Shared, None);
    B.released(); // not the top: removed from the middle
    assert_eq!(top_chain(), direct);
    assert_eq!(held_locks().len(), 2);
    C.released();
    A.released();
    assert!(held_locks().is_empty());
}

#[test]
fn a_mode_change_in_place_is_seen_by_the_chain() {
    C.acquired(Hold::Shared, None);
    let shared = top_chain();
    C.rehold(Hold::Exclusive);
    let exclusive = top_chain();
    assert_ne!(shared, exclusive);
    C.rehold(Hold::Shared);
    assert_eq!(top_chain(), shared);
    C.released();
}

/// Whether each held slot is published as an upgradable read.
fn upgradable_slots() -> Vec<bool> {
    STATE.with(|t| {
        (0..t.stack.len.get())
            .map(|i| word_upgradable(t.stack.words[i].get()))
            .collect()
    })
}

#[test]
fn an_upgradable_read_is_a_shared_hold_that_the_watchdog_sees_as_upgradable() {
    // The chain tells it from a read: it is a gate of the edges recorded
    // under it (`global::add_edges`), a read is not.
    C.acquired(Hold::Shared, None);
    let read = top_chain();
    C.released();
    C.acquired_upgradable(None);
    let upgradable = top_chain();
    assert_ne!(upgradable, read);
    assert_eq!(upgradable_slots(), [true]);
    assert_eq!(
        tracked_entry(&C).map(|(_, hold, _)| hold),
        Some(Hold::Shared)
    );
    C.released();
    // A read pushed where an upgradable read was is not upgradable.
    C.acquired(Hold::Shared, None);
    assert_eq!(upgradable_slots(), [false]);
    C.released();
    // Upgraded, it is exclusive; downgraded to upgradable, upgradable
    // again; downgraded to a read, a plain read.
    C.acquired_upgradable(None);
    C.rehold(Hold::Exclusive);
    assert_eq!(upgradable_slots(), [false]);
    assert_ne!(top_chain(), read);
    C.rehold_upgradable();
    assert_eq!(upgradable_slots(), [true]);
    assert_eq!(top_chain(), upgradable);
    C.rehold(Hold::Shared);
    assert_eq!(upgradable_slots(), [false]);
    assert_eq!(top_chain(), read);
    C.released();
    // A removal from the middle moves the mark along with its slot.
    A.acquired(Hold::Exclusive, None);
    C.acquired_upgradable(None);
    B.acquired(Hold::Exclusive, None);
    assert_eq!(upgradable_slots(), [false, true, false]);
    A.released();
    assert_eq!(upgradable_slots(), [true, false]);
    B.released();
    C.released();
    A.acquired(Hold::Exclusive, None);
    B.acquired(Hold::Exclusive, None);
    assert_eq!(upgradable_slots(), [false, false]);
    B.released();
    A.released();
}

#[test]
fn releasing_an_upgradable_read_keeps_a_later_read_of_the_same_lock() {
    let (up_site, read_site) = (Location::caller(), Location::caller());
    C.acquired_upgradable(Some(up_site));
    C.acquired(Hold::Shared, Some(read_site));
    assert_eq!(upgradable_slots(), [true, false]);
    C.released_upgradable();
    assert_eq!(upgradable_slots(), [false]);
    assert_eq!(
        tracked_entry(&C).map(|(_, _, site)| site),
        Some(Some(read_site))
    );
    C.released();
    // In the order taken, nothing moves.
    C.acquired(Hold::Shared, Some(read_site));
    C.acquired_upgradable(Some(up_site));
    C.released_upgradable();
    assert_eq!(upgradable_slots(), [false]);
    assert_eq!(
        tracked_entry(&C).map(|(_, _, site)| site),
        Some(Some(read_site))
    );
    C.released();
    assert!(held_locks().is_empty());
}

#[test]
fn a_mode_change_applies_to_the_upgradable_hold_not_to_a_later_read() {
    let (up_site, read_site) = (Location::caller(), Location::caller());
    C.acquired_upgradable(Some(up_site));
    C.acquired(Hold::Shared, Some(read_site));
    // Downgraded: two plain reads.
    C.rehold(Hold::Shared);
    assert_eq!(upgradable_slots(), [false, false]);
    C.released_read();
    C.released_read();
    // Upgraded (try_upgrade): the upgradable slot becomes exclusive.
    C.acquired_upgradable(Some(up_site));
    C.acquired(Hold::Shared, Some(read_site));
    C.rehold(Hold::Exclusive);
    let holds: Vec<Hold> = STATE.with(|t| {
        (0..t.stack.len.get())
            .map(|i| word_hold(t.stack.words[i].get()))
            .collect()
    });
    assert_eq!(holds, [Hold::Exclusive, Hold::Shared]);
    C.released_read();
    C.released();
    assert!(held_locks().is_empty());
}

#[test]
fn releasing_a_read_keeps_a_later_upgradable_read_of_the_same_lock() {
    let (up_site, read_site) = (Location::caller(), Location::caller());
    C.acquired(Hold::Shared, Some(read_site));
    C.acquired_upgradable(Some(up_site));
    assert_eq!(upgradable_slots(), [false, true]);
    C.released_read();
    assert_eq!(upgradable_slots(), [true]);
    assert_eq!(
        tracked_entry(&C).map(|(_, _, site)| site),
        Some(Some(up_site))
    );
    C.released_upgradable();
    // In the order taken, and with another lock on top, nothing moves.
    A.acquired(Hold::Exclusive, None);
    C.acquired_upgradable(Some(up_site));
    C.acquired(Hold::Shared, Some(read_site));
    B.acquired(Hold::Exclusive, None);
    C.released_read();
    assert_eq!(upgradable_slots(), [false, true, false]);
    assert_eq!(
        tracked_entry(&C).map(|(_, _, site)| site),
        Some(Some(up_site))
    );
    B.released();
    C.released_upgradable();
    A.released();
    assert!(held_locks().is_empty());
}

#[test]
fn ids_are_assigned_once_and_never_reused() {
    let a = LockMeta::new(LockKind::Mutex, Class::Anonymous);
    let b = LockMeta::new(LockKind::Mutex, Class::Anonymous);
    let (ia, ib) = (a.id(), b.id());
    assert_ne!(ia, ib);
    assert_eq!(a.id(), ia);
    drop(a);
    let c = LockMeta::new(LockKind::Mutex, Class::Anonymous);
    assert!(c.id() != ia && c.id() != ib);
}

#[test]
fn the_held_stack_is_bounded_and_counts_what_it_cannot_hold() {
    let metas: Vec<LockMeta> = (0..MAX_HELD + 3)
        .map(|_| LockMeta::new(LockKind::Mutex, Class::Anonymous))
        .collect();
    for m in &metas {
        m.acquired(Hold::Exclusive, None);
    }
    assert_eq!(held_locks().len(), MAX_HELD);
    STATE.with(|t| assert_eq!(t.untracked.get(), 3));
    for m in metas.iter().rev() {
        m.released();
    }
    assert!(held_locks().is_empty());
    STATE.with(|t| assert_eq!(t.untracked.get(), 0));
}

/// The word of this thread's slot `i`.
fn slot_word(i: usize) -> u64 {
    STATE.with(|t| t.stack.words[i].get())
}

/// A hold pushed while a feature with release hooks was on carries
/// `S_HOOKS`: its release leaves the fast pop (whatever the features are by
/// then) and pops it; the next push without hooks rewrites the word, and
/// from then on the lock taken the same way is steady again.
#[test]
fn a_hold_pushed_with_hooks_leaves_the_fast_pop_and_comes_back_clean() {
    std::thread::spawn(|| {
        let x = LockMeta::new(LockKind::Mutex, Class::Named("state-test-hooks"));
        let slot = STATE.with(|t| {
            let slot = t.push(&x, Hold::Exclusive, 0, None);
            t.mark_hooks(slot);
            slot
        });
        assert_eq!(slot, Some(0));
        let w = slot_word(0);
        assert_ne!(w & S_HOOKS, 0);
        assert_eq!(word_id(w), x.id());
        assert!(
            !same_id(w, x.id.load(Ordering::Relaxed)),
            "the fast pop must refuse it"
        );
        x.released();
        assert!(held_locks().is_empty());
        let slot = STATE.with(|t| t.push(&x, Hold::Exclusive, 0, None));
        assert_eq!(slot, Some(0));
        assert_eq!(slot_word(0) & SLOW, 0);
        assert!(same_id(slot_word(0), x.id.load(Ordering::Relaxed)));
        x.released();
        assert!(held_locks().is_empty());
        let tag = crate::features::steady_tag();
        if crate::features::raw() == 0 {
            assert_eq!(tag, 0);
            assert_eq!(x.steady(crate::watchdog::WaitMode::Lock, tag), Some(0));
        }
        // With a feature on, the tag matches no slot: the same slot is not
        // steady.
        let on = crate::features::TAG_ON;
        assert_eq!(x.steady(crate::watchdog::WaitMode::Lock, on), None);
    })
    .join()
    .unwrap();
}

/// The steady tests' tags (`features::steady_tag`, `features::or_lean_tag`,
/// both 0 in their own mode): a slot that matches one test with its mode's
/// tag matches with no other tag and not the other test, at depth 0, above
/// it, and for the largest id handed out (just below `ID_LIMIT`); an empty
/// slot (`EMPTY_WORD`, bit 63 set) and the word at a full or busy stack's
/// length match no tag, whatever the lock's mode.
#[test]
fn the_steady_tests_match_only_with_their_modes_tag() {
    std::thread::spawn(|| {
        use crate::features::{LEAN_TAG, TAG_ON};
        use crate::watchdog::WaitMode;
        let x = LockMeta::new(LockKind::RwLock, Class::Named("state-test-tag-x"));
        let y = LockMeta::new(LockKind::Mutex, Class::Named("state-test-tag-y"));
        // The largest id a lock is handed.
        x.id.store((ID_LIMIT - 1) << ID_SHIFT, Ordering::Relaxed);
        x.slot_word
            .store((ID_LIMIT - 1) << ID_SHIFT | M_LEAN, Ordering::Relaxed);
        let _ = y.id();
        let modes = [WaitMode::Lock, WaitMode::Read, WaitMode::UpgradableRead];
        let tags = [0, TAG_ON, LEAN_TAG];
        // A fresh stack: every slot empty.
        assert_eq!(slot_word(0), EMPTY_WORD);
        for (m, tag) in modes.iter().flat_map(|m| tags.map(|t| (*m, t))) {
            assert_eq!(x.steady(m, tag), None, "{m:?} {tag:#x}");
            assert_eq!(x.lean_steady(m, tag), None, "{m:?} {tag:#x}");
        }
        STATE.with(|t| {
            assert_eq!(t.push(&x, Hold::Exclusive, 0, None), Some(0));
            // Depth 1: the word of a recorded `lock()` of y, verified.
            let req = WaitMode::Lock.request() as u8 + 1;
            let yw = y.id.load(Ordering::Relaxed);
            t.stack.words[1].set(expect(yw, nibble(Hold::Exclusive, req, 0), 0));
            t.verified.set(2);
        });
        assert_eq!(slot_word(0) & TAG_ON, 0);
        assert_eq!(y.steady(WaitMode::Lock, 0), Some(1));
        assert_eq!(y.steady(WaitMode::Lock, TAG_ON), None);
        assert_eq!(y.lean_steady(WaitMode::Lock, LEAN_TAG), None);
        x.released();
        assert_eq!(x.steady(WaitMode::Lock, 0), Some(0));
        assert_eq!(x.steady(WaitMode::Lock, TAG_ON), None);
        assert_eq!(x.lean_steady(WaitMode::Lock, LEAN_TAG), None);
        // The same slot as the lean push writes it (a shared hold).
        STATE.with(|t| {
            let w = x.id.load(Ordering::Relaxed);
            t.stack.words[0].set(expect(w, nibble(Hold::Shared, 0, 0) | M_LEAN, 0));
        });
        assert_eq!(slot_word(0) & TAG_ON, 0);
        assert_eq!(x.lean_steady(WaitMode::Read, LEAN_TAG), Some(0));
        assert_eq!(x.lean_steady(WaitMode::Read, TAG_ON), None);
        assert_eq!(x.lean_steady(WaitMode::Lock, LEAN_TAG), None);
        assert_eq!(x.lean_steady(WaitMode::UpgradableRead, LEAN_TAG), None);
        assert_eq!(x.steady(WaitMode::Read, 0), None);
        // The lean push's word of an exclusive hold is the lock's slot
        // word: the lean test takes it, the full path's does not.
        STATE.with(|t| {
            t.stack.words[0].set(x.slot_word.load(Ordering::Relaxed));
        });
        assert_eq!(x.lean_steady(WaitMode::Lock, LEAN_TAG), Some(0));
        assert_eq!(x.lean_steady(WaitMode::Lock, TAG_ON), None);
        assert_eq!(x.lean_steady(WaitMode::Read, LEAN_TAG), None);
        assert_eq!(x.steady(WaitMode::Lock, 0), None);
        // A full stack, and a busy one: the word at the length is a pad.
        for len in [MAX_HELD, BUSY, MAX_HELD | BUSY] {
            STATE.with(|t| t.stack.len.set(len));
            for (m, tag) in modes.iter().flat_map(|m| tags.map(|t| (*m, t))) {
                assert_eq!(x.steady(m, tag), None, "{len} {m:?} {tag:#x}");
                assert_eq!(x.lean_steady(m, tag), None, "{len} {m:?} {tag:#x}");
            }
        }
        STATE.with(|t| t.stack.len.set(0));
    })
    .join()
    .unwrap();
}

/// A held lock the recorder put in the instance graph has `S_IN_GRAPH` in
/// its slot word: its release (from the top or out of order) hands
/// `IN_GRAPH` to the lock's word and clears the slot's slow bits.
#[test]
fn a_slot_with_edges_to_hand_over_takes_the_slow_pop_in_any_order() {
    if !crate::features::order_graph_on() || !crate::TRACKING {
        return;
    }
    std::thread::spawn(|| {
        let x = LockMeta::new(LockKind::Mutex, Class::Named("state-test-flags"));
        let y = LockMeta::new(LockKind::Mutex, Class::Named("state-test-flags"));
        let z = LockMeta::new(LockKind::Mutex, Class::Named("state-test-flags"));
        // From the top: x, then y (one class: the instance edge x -> y puts x
        // in the instance graph).
        x.acquired(Hold::Exclusive, None);
        y.before_wait(Request::Exclusive, None);
        y.acquired(Hold::Exclusive, None);
        assert_ne!(slot_word(0) & S_IN_GRAPH, 0, "{:#x}", slot_word(0));
        assert_eq!(x.id.load(Ordering::Relaxed) & IN_GRAPH, 0);
        y.released();
        x.released();
        assert_ne!(x.id.load(Ordering::Relaxed) & IN_GRAPH, 0);
        assert_eq!(slot_word(0) & SLOW, 0);
        assert!(held_locks().is_empty());
        // Out of order: z, then y; z released first, from under y.
        z.acquired(Hold::Exclusive, None);
        y.before_wait(Request::Exclusive, None);
        y.acquired(Hold::Exclusive, None);
        assert_ne!(slot_word(0) & S_IN_GRAPH, 0);
        z.released();
        assert_ne!(z.id.load(Ordering::Relaxed) & IN_GRAPH, 0);
        assert_eq!(held_lock_ids(), [y.id()]);
        assert_eq!(slot_word(0) & SLOW, 0, "y moved down, clean");
        y.released();
        assert!(held_locks().is_empty());
    })
    .join()
    .unwrap();
}

/// The packed word keeps what the separate fields kept: id, hold, request
/// and the upgradable flag, whatever the lock's own flags.
#[test]
fn the_slot_word_packs_id_hold_request_and_upgradable() {
    let w = expect(
        77 << ID_SHIFT | LOCK_FLAGS,
        nibble(Hold::Shared, 2, UPGRADABLE),
        0,
    );
    assert_eq!(word_id(w), 77);
    assert_eq!(word_hold(w), Hold::Shared);
    assert_eq!(word_req(w), 2);
    assert!(word_upgradable(w));
    assert!(same_id(w, 77 << ID_SHIFT | IN_GRAPH));
    assert!(!same_id(w | S_YOUNG_FROM, 77 << ID_SHIFT));
    assert!(!same_id(w, 78 << ID_SHIFT));
    assert!(!same_id(EMPTY_WORD, 0));
    assert_ne!(expect(0, 0, 0), EMPTY_WORD);
}

/// A lock dropped while this thread holds it (its guard forgotten) leaves
/// the stack, whether or not it has edges: the drop's inlined common case
/// (no edge, no atomicity block, nothing held) must not skip a held one.
#[test]
fn a_lock_dropped_while_held_leaves_the_stack() {
    std::thread::spawn(|| {
        let a = LockMeta::new(LockKind::Mutex, Class::Named("state-test-drop-a"));
        let b = LockMeta::new(LockKind::Mutex, Class::Named("state-test-drop-b"));
        a.acquired(Hold::Exclusive, None);
        b.acquired(Hold::Exclusive, None);
        let ia = a.id();
        assert_eq!(b.id.load(Ordering::Relaxed) & crate::meta::HAS_EDGES, 0);
        drop(b);
        assert_eq!(held_lock_ids(), [ia]);
        a.released();
        // Alone on the stack, no edge anywhere.
        let c = LockMeta::new(LockKind::Mutex, Class::Named("state-test-drop-c"));
        c.acquired(Hold::Exclusive, None);
        assert_eq!(held_lock_ids(), [c.id()]);
        drop(c);
        assert!(held_locks().is_empty());
        // And a lock never used: nothing to do.
        drop(LockMeta::new(
            LockKind::Mutex,
            Class::Named("state-test-drop-d"),
        ));
        assert!(held_locks().is_empty());
    })
    .join()
    .unwrap();
}

/// A policy panic unwinds out of lockgraph's bookkeeping (`Busy`), with the
/// lock not taken: the site the lock call left pending is used up, so that
/// a caught panic does not name it at the thread's next acquisition.
/// The task path's recorder (`task::edges`) holds the same guard without
/// `Busy`: a report's panic there uses the site up too (it was left
/// pending, and a later re-lock without a site took it for its own).
#[test]
fn a_panic_under_the_site_guard_leaves_no_pending_site() {
    std::thread::spawn(|| {
        set_pending_site(std::panic::Location::caller());
        let r = std::panic::catch_unwind(|| {
            let _used = SiteUsedOnPanic;
            panic!("a report");
        });
        assert!(r.is_err());
        assert_eq!(pending_site(), None);
    })
    .join()
    .unwrap();
}

#[test]
fn a_policy_panic_leaves_no_pending_site() {
    std::thread::spawn(|| {
        set_pending_site(std::panic::Location::caller());
        let r = std::panic::catch_unwind(|| {
            let _busy = Busy::enter(state());
            panic!("a report");
        });
        assert!(r.is_err());
        assert_eq!(pending_site(), None);
    })
    .join()
    .unwrap();
}
