//! Queries of this thread's state, the pending site, and what the
//! watchdog's slots need from the state.

use super::*;

/// The class, kind and per-thread key of every lock this thread holds
/// (for the profile's charge of a blocking call).
pub(crate) fn snapshot() -> Vec<(Class, LockKind, u64)> {
    STATE.with(|t| {
        t.snapshot()
            .into_iter()
            .map(|h| (h.class, h.kind, h.key))
            .collect()
    })
}

/// This thread's held entry of `meta` (its id, hold and site), if the lock is
/// tracked as held and the thread is not inside lockgraph's bookkeeping.
pub(crate) fn tracked_entry(
    meta: &LockMeta,
) -> Option<(u64, Hold, Option<&'static Location<'static>>)> {
    let t = state();
    if t.stack.len.get() & BUSY != 0 {
        return None;
    }
    let id = meta.id();
    let i = t.find(id)?;
    Some((
        id,
        word_hold(t.stack.words[i].get()),
        t.stack.sites[i].get(),
    ))
}

/// What the held-lock state does for the watchdog's slots it points to.
pub(crate) static SLOT_OWNER: crate::watchdog::SlotOwner = crate::watchdog::SlotOwner {
    forget_slot: clear_watchdog_slot,
    republish: republish_for_watchdog,
};

/// Forgets this thread's watchdog slot (its owner is being dropped).
fn clear_watchdog_slot() {
    let _ = STATE.try_with(|t| t.wd_slot.set(std::ptr::null()));
}

/// Registers this thread's held-lock stack with a new watchdog slot (in a
/// forked child, for the thread that forked: its slot was the parent's).
fn republish_for_watchdog() {
    let _ = state().register_watchdog_slot();
}

/// Registers this thread's held-lock stack with the watchdog (tests: a
/// thread whose holds the watchdog should see without a feature on).
#[cfg(test)]
pub(crate) fn register_for_watchdog() {
    let _ = state().register_watchdog_slot();
}

/// This thread's part of the atomicity checker.
pub(crate) fn atom_thread() -> &'static crate::atomicity::AtomThread {
    &state().atom
}

/// Records `site` as the call site of the next untracked-site acquisition on
/// this thread, for lock types whose raw lock is reached through lock_api
/// (the reentrant mutex). Cleared when used or by [`clear_pending_site`].
#[inline]
pub fn set_pending_site(site: &'static Location<'static>) {
    STATE.with(|t| t.pending_site.set(Some(site)));
}

/// The site set by [`set_pending_site`], if any (left in place).
pub(crate) fn pending_site() -> Option<&'static Location<'static>> {
    STATE.with(|t| t.pending_site.get())
}

/// Clears a site set by [`set_pending_site`] that no acquisition used.
#[inline]
pub fn clear_pending_site() {
    STATE.with(|t| t.pending_site.set(None));
}

/// The locks this thread holds, outermost first, as (kind, class, site taken).
pub fn held_locks() -> Vec<(LockKind, Class, Option<crate::Site>)> {
    STATE.with(|t| {
        t.claim_moved();
        t.snapshot()
            .into_iter()
            .map(|e| (e.kind, e.class, e.site.map(crate::Site::from)))
            .collect()
    })
}

/// The instance ids of the locks this thread holds, outermost first, in the
/// order of [`held_locks`].
pub fn held_lock_ids() -> Vec<u64> {
    STATE.with(|t| {
        t.claim_moved();
        t.snapshot().into_iter().map(|e| e.id).collect()
    })
}

/// The locks this thread holds, outermost first, as the recorder sees them
/// (for async acquisitions, which add the thread's sync holds to their
/// task's). Empty, without allocating, when it holds none.
/// Whether [`held_entries`] would be empty: the thread holds no tracked
/// lock, or is inside lockgraph's own bookkeeping. One thread-local load,
/// inlined (an async acquisition asks it first: `task::hold`).
#[inline(always)]
pub(crate) fn holds_nothing() -> bool {
    let len = state().stack.len.get();
    len & !BUSY == 0 || len & BUSY != 0
}

pub(crate) fn held_entries() -> Vec<Held> {
    if holds_nothing() {
        return Vec::new();
    }
    let t = state();
    t.claim_moved();
    t.snapshot()
}
