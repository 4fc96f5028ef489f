use super::*;

static A: LockMeta = LockMeta::new(LockKind::Mutex, Class::Named("state-test-a"));
static B: LockMeta = LockMeta::new(LockKind::Mutex, Class::Named("state-test-b"));
static C: LockMeta = LockMeta::new(LockKind::RwLock, Class::Named("state-test-c"));

fn top_chain() -> (u64, u64, u64) {
    STATE.with(|t| {
        let len = t.len.get();
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
        (0..t.len.get())
            .map(|i| t.published(i).upgradable)
            .collect()
    })
}

#[test]
fn an_upgradable_read_is_a_shared_hold_that_the_watchdog_sees_as_upgradable() {
    // The order graph sees the same chain as for a read.
    C.acquired(Hold::Shared, None);
    let read = top_chain();
    C.released();
    C.acquired_upgradable(None);
    assert_eq!(top_chain(), read);
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
    assert_eq!(top_chain(), read);
    C.rehold(Hold::Shared);
    assert_eq!(upgradable_slots(), [false]);
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
    let holds: Vec<Hold> = STATE.with(|t| (0..t.len.get()).map(|i| t.holds[i].get()).collect());
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
