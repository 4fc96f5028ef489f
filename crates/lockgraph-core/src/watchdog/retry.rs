//! Retry loops of timed waits (`try_lock_for` called again and again): a
//! thread's tries of one lock that gave up, each asked within the timeout
//! of the previous one's end, are one wait, which began with the first
//! try. The owner keeps the loop in its slot's [`Streak`] (`wait.rs`);
//! a scan reads it here, finds the loop's thread between two tries, and
//! ends the loop when the thread turns out to hold the lock.

use super::*;

/// When the retry loop that `w` (a wait of `s`'s thread) belongs to made
/// its first try (its own start, if it is the first): `None` for a wait
/// without a limit.
pub(super) fn retry_since(s: &Snap, w: &WaitView) -> Option<u64> {
    w.limit?;
    // The first try too: a loop of tries longer than the timeout is
    // reported at its first (found by a review: reported again at its
    // second).
    s.slot.streak.lock().began(w.serial, w.since, true)
}

/// The last try of `s`'s retry loop, as a wait, when the thread waits for
/// nothing now (in the scan's copy `s`) but is between two tries of a loop that has lasted the
/// timeout (`gap`): its last timed wait of a lock gave up no longer ago
/// than the timeout, the loop's tries span it (from the first's start to
/// the last's end: a single try that gave up before the timeout is no
/// loop, whatever the thread does after it), and the thread has not been
/// seen to hold that lock since the loop began. A loop that
/// backs off between tries spends most of its time out of any wait, where
/// a scan saw nothing (found by an outside test: a loop that slept 150 ms
/// after each try was never reported).
///
/// A hold of the loop's lock first seen after the loop began ends the
/// loop, whatever the thread waits for now but that lock (it got the lock
/// by a call that registers no wait: an uncontended `lock()` or a
/// `try_lock()`, between two tries).
pub(super) fn between_tries(s: &Snap, now: u64, gap: u64) -> Option<WaitView> {
    let mut st = s.slot.streak.lock();
    if st.last_end == 0 || now.saturating_sub(st.last_end) > gap {
        return None;
    }
    let since = st.since;
    let waits_for_it = matches!(
        s.wait.map(|w| w.target),
        Some(Target::Lock { id, .. }) if id == st.last_id
    );
    if !waits_for_it && s.held.iter().any(|h| h.id == st.last_id && h.since > since) {
        // Ended: a try that gives up next begins a new loop. A try begun
        // since this copy was taken (the hold released meanwhile) joined
        // the old one: the loop restarts now, past that try's start.
        st.last_end = 0;
        st.since = now;
        st.first_serial = st.serial.wrapping_add(1);
        return None;
    }
    if s.wait.is_some() || st.last_end.saturating_sub(since) <= gap {
        return None;
    }
    let e = st.last;
    if e.id != st.last_id {
        return None;
    }
    // SAFETY: `last` was stored by `wait::register`, under the streak's
    // lock (held here), from words made by `encode_class` and
    // `site_word`: not torn, and its pointers are `'static`.
    let (class, site) = unsafe { decode(&e) };
    let mode = WaitMode::decode(e.mode);
    if mode == WaitMode::Condvar {
        // A condvar wait that timed out got no notification: its thread
        // does not wait for a lock between two waits.
        return None;
    }
    Some(WaitView {
        serial: st.serial,
        target: Target::Lock {
            id: e.id,
            class,
            kind: decode_kind(e.kind),
            mode,
        },
        site,
        since: e.since,
        limit: (st.last_limit != NO_LIMIT).then(|| Duration::from_nanos(st.last_limit)),
        gave_up_at: Some(st.last_end),
    })
}

/// The stack `slot`'s thread captured for its wait `serial`: captured for
/// that wait, or for another try of the same retry loop (a loop's tries
/// keep one stack, and a report built after the copy `serial` is from
/// finds it under a later try's serial; found by a review: a loop of
/// 20 ms tries was reported with no stack of its own).
pub(super) fn stack_of(slot: &Slot, serial: u64) -> Option<Backtrace> {
    let (captured, bt) = slot.stack.lock().clone()?;
    if captured == serial {
        return Some(bt);
    }
    let st = slot.streak.lock();
    let run = st.first_serial..=st.serial;
    (run.contains(&captured) && run.contains(&serial)).then_some(bt)
}
