//! Queries of this thread's state and the blocking-call wrapper.

use super::*;

/// Runs `f`, a call that blocks (a channel receive, a join, a stream
/// synchronize), naming it `what`. With profiling on, every lock class this
/// thread holds meanwhile is charged with the call and its duration, and the
/// profile advises moving the call out of the critical section. With the
/// [`watchdog`](crate::watchdog) on, the call is registered as a wait on the
/// resource `what`: a long one is reported, and it shows in [`crate::dump`].
///
/// ```
/// let (tx, rx) = std::sync::mpsc::channel();
/// tx.send(42).unwrap();
/// let n = lockgraph_core::blocking("channel recv", || rx.recv().unwrap());
/// assert_eq!(n, 42);
/// ```
#[track_caller]
pub fn blocking<R>(what: &'static str, f: impl FnOnce() -> R) -> R {
    if crate::watchdog::on() {
        return crate::watchdog::blocking(what, || profiled_blocking(what, f));
    }
    profiled_blocking(what, f)
}

fn profiled_blocking<R>(what: &'static str, f: impl FnOnce() -> R) -> R {
    if !crate::profile::on() {
        return f();
    }
    let held: Vec<(Class, LockKind, u64)> = STATE.with(|t| {
        t.snapshot()
            .into_iter()
            .map(|h| (h.class, h.kind, h.key))
            .collect()
    });
    let start = Instant::now();
    let r = f();
    if !held.is_empty() {
        crate::profile::blocked_holding(&held, what, start.elapsed());
    }
    r
}

/// This thread's held entry of `meta` (its id, hold and site), if the lock is
/// tracked as held and the thread is not inside lockgraph's bookkeeping.
pub(crate) fn tracked_entry(
    meta: &LockMeta,
) -> Option<(u64, Hold, Option<&'static Location<'static>>)> {
    let t = state();
    if t.len.get() & BUSY != 0 {
        return None;
    }
    let id = meta.id();
    let i = t.find(id)?;
    Some((id, t.holds[i].get(), t.sites[i].get()))
}

/// Forgets this thread's watchdog slot (its owner is being dropped).
pub(crate) fn clear_watchdog_slot() {
    state().wd_slot.set(std::ptr::null());
}

/// Publishes this thread's held locks into a new watchdog slot (in a forked
/// child, for the thread that forked: its slot was the parent's).
pub(crate) fn republish_for_watchdog() {
    let t = state();
    if t.len.get() & BUSY == 0 {
        t.publish(0);
    }
}

/// This thread's part of the atomicity checker.
pub(crate) fn atom_thread() -> &'static crate::atomicity::AtomThread {
    &state().atom
}

/// Runs `f` with this thread marked busy: locks it takes are not tracked.
pub(crate) fn while_busy<R>(f: impl FnOnce() -> R) -> R {
    let _busy = Busy::enter(state());
    f()
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
