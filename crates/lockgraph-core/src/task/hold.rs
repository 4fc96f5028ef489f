//! A hold of an async lock: pushed on the owner's set when the lock is
//! taken, removed from that same set when the guard goes, wherever it goes.

use std::panic::Location;

use super::sets::{self, HeldSet, Owner};
use crate::meta::{Held, LockMeta};
use crate::report::Hold;

/// One hold of an async lock by the task (or thread) that took it. Kept in
/// the lock's guard; [`AsyncHold::release`] (or dropping it) ends the hold
/// in the taker's set, whichever task or thread runs the release.
#[must_use = "the hold ends when this is dropped"]
pub struct AsyncHold {
    /// The taker's set (null: not tracked). Valid while the hold is live:
    /// a set with a live hold is never swept from the registry.
    set: *const HeldSet,
    /// The hold's token and slot, `token << SLOT_BITS | slot`: one word,
    /// so that the hold (and a guard) is two words to move. (Tokens count
    /// one owner's acquisitions from 1: 2^59 of them are out of reach.)
    word: u64,
}

/// Bits of [`AsyncHold::word`] for the slot (`sets::SLOTS` is 32).
const SLOT_BITS: u32 = 5;
const _: () = assert!(sets::SLOTS == 1 << SLOT_BITS);

// SAFETY: the set is `Sync` and outlives the hold (see `set`); a hold may
// be released from any thread (that is its point).
unsafe impl Send for AsyncHold {}
// SAFETY: as above; `&AsyncHold` only reads or downgrades atomically.
unsafe impl Sync for AsyncHold {}

impl std::fmt::Debug for AsyncHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncHold")
            .field("owner", &self.owner())
            .field("token", &self.token())
            .finish()
    }
}

/// Records that the current task (else thread) took `meta` as `hold`,
/// asked at `site` (any acquisition: blocking, `try_*`, owned).
#[inline]
pub fn acquired(
    meta: &LockMeta,
    hold: Hold,
    site: Option<&'static Location<'static>>,
) -> AsyncHold {
    acquired_by(sets::current_owner(), meta, hold, site)
}

/// A request of `meta` as `request` that was granted at once (its first,
/// non-blocking attempt succeeded): the order check that
/// [`before_wait`](super::before_wait) makes ("every lock the current task
/// holds, and every sync lock its thread holds -> `meta`"), then the hold,
/// with one look-up of the owner and its set for both. The check after the
/// grant finds the same edges and cycles as before it: nothing waited.
#[inline]
pub fn acquired_now(
    meta: &LockMeta,
    request: crate::report::Request,
    hold: Hold,
    site: Option<&'static Location<'static>>,
) -> AsyncHold {
    acquired_now_by(sets::current_owner(), meta, request, hold, site, || ())
}

/// [`acquired_now`] by `owner`, the current task or thread (the facade
/// reads tokio's task id in place). `first` runs before anything else
/// unless the hold went into the owner's cached set at once (the facade
/// registers its task-id function there: a set is cached only after an
/// acquisition that registered it). Inlined into the caller's future:
/// the call's frame and argument moves are a tenth of its cost.
#[inline(always)]
pub fn acquired_now_by(
    owner: Owner,
    meta: &LockMeta,
    request: crate::report::Request,
    hold: Hold,
    site: Option<&'static Location<'static>>,
    first: impl FnOnce(),
) -> AsyncHold {
    let held = held_of(meta, hold, site);
    if crate::state::holds_nothing() {
        // Nothing held by the thread, and (when its set is cached) nothing
        // by the task (no edge: the hold goes in slot 0), or holds whose
        // check before this lock this thread made already.
        let pushed = sets::push_if(owner, &held, |set| {
            super::edges::checked_before(set, held.id, request)
        });
        if let Some((set, slot, token)) = pushed {
            let h = AsyncHold::new(set, slot, token);
            if crate::profile::on() {
                profiled(owner, meta, hold, None, &h);
            }
            return h;
        }
    }
    first();
    acquired_now_held(owner, crate::state::held_entries(), held, meta, request)
}

/// [`acquired_now`] when something is held (or the set is not cached).
#[inline(never)]
fn acquired_now_held(
    owner: Owner,
    thread_held: Vec<Held>,
    held: Held,
    meta: &LockMeta,
    request: crate::report::Request,
) -> AsyncHold {
    if !thread_held.is_empty() {
        super::edges::before_wait_held(owner, thread_held, meta, request, held.site);
    } else if !sets::surely_empty(owner) {
        super::edges::before_wait_nested(owner, meta, request, held.site);
    }
    hold_in(owner, meta, held, None)
}

/// The hold of `meta` as `hold`, taken at `site`.
#[inline(always)]
fn held_of(meta: &LockMeta, hold: Hold, site: Option<&'static Location<'static>>) -> Held {
    let id = meta.id();
    Held {
        id,
        key: meta.hot_key(id),
        class: meta.class(),
        kind: meta.kind(),
        hold,
        site,
    }
}

/// [`acquired`] by `owner` (as [`before_wait`](super::before_wait) returned
/// it: the current task or thread), without a wait.
#[inline]
pub fn acquired_by(
    owner: Owner,
    meta: &LockMeta,
    hold: Hold,
    site: Option<&'static Location<'static>>,
) -> AsyncHold {
    acquired_after(owner, meta, hold, site, None)
}

/// [`acquired_by`] after a wait of `waited` (measured by the caller while
/// the contention profile is on, `crate::profile::on`; `None` when the
/// request was granted at once): the profile counts the acquisition, its
/// wait, and samples its hold time.
#[inline]
pub fn acquired_after(
    owner: Owner,
    meta: &LockMeta,
    hold: Hold,
    site: Option<&'static Location<'static>>,
    waited: Option<std::time::Duration>,
) -> AsyncHold {
    hold_in(owner, meta, held_of(meta, hold, site), waited)
}

/// `held` pushed into `owner`'s set, counted by the profile when on.
#[inline]
fn hold_in(
    owner: Owner,
    meta: &LockMeta,
    held: Held,
    waited: Option<std::time::Duration>,
) -> AsyncHold {
    let hold = held.hold;
    let h = match sets::push(owner, held) {
        Some((set, slot, token)) => AsyncHold::new(set, slot, token),
        None => {
            full_warning();
            AsyncHold::none()
        }
    };
    if crate::profile::on() {
        profiled(owner, meta, hold, waited, &h);
    }
    h
}

/// The contention profile's share of an acquisition by `owner`: counted
/// (with its wait, and `owner` as one of the class's waiters when it
/// waited), and one in `profile::HOLD_SAMPLE` per thread has its hold time
/// measured from now to the release.
#[cold]
#[inline(never)]
fn profiled(
    owner: Owner,
    meta: &LockMeta,
    hold: Hold,
    waited: Option<std::time::Duration>,
    h: &AsyncHold,
) {
    let access = match hold {
        Hold::Exclusive => crate::profile::Access::Write,
        Hold::Shared | Hold::Upgradable => crate::profile::Access::Read,
    };
    crate::profile::acquired_by_owner(meta, access, waited, owner.key());
    if let Some(set) = h.set() {
        if crate::profile::sample_hold() {
            let ns = sets::profile_epoch().elapsed().as_nanos() as u64;
            set.stamp(h.slot(), ns);
        }
    }
}

#[cold]
fn full_warning() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        crate::stderr::line(&format!(
            "lockgraph: a task holds more than {} async locks at once; the ones beyond are not tracked",
            sets::SLOTS
        ));
    });
}

impl AsyncHold {
    /// A hold that tracks nothing (the lock was not tracked).
    pub const fn none() -> AsyncHold {
        AsyncHold {
            set: std::ptr::null(),
            word: 0,
        }
    }

    #[inline(always)]
    fn new(set: *const HeldSet, slot: usize, token: u64) -> AsyncHold {
        AsyncHold {
            set,
            word: token << SLOT_BITS | slot as u64,
        }
    }

    /// The slot (below `SLOTS`: no bounds check where it indexes).
    #[inline(always)]
    fn slot(&self) -> usize {
        (self.word % (1 << SLOT_BITS)) as usize
    }

    #[inline(always)]
    fn token(&self) -> u64 {
        self.word >> SLOT_BITS
    }

    fn set(&self) -> Option<&HeldSet> {
        // SAFETY: non-null only while the hold is live, during which the
        // set is kept (see the field).
        unsafe { self.set.as_ref() }
    }

    /// Who took the lock.
    pub fn owner(&self) -> Option<Owner> {
        self.set().map(|s| s.owner)
    }

    /// Ends the hold of `meta` (call before the raw release): the entry
    /// leaves the set of the task that took it.
    #[inline]
    pub fn release(&mut self, meta: &LockMeta) {
        self.release_by(meta, sets::current_owner);
    }

    /// [`release`](Self::release), the current task or thread given by
    /// `current` (the facade reads tokio's task id in place: no call
    /// through the registered function). Inlined into the guard's drop.
    #[inline(always)]
    pub fn release_by(&mut self, meta: &LockMeta, current: impl FnOnce() -> Owner) {
        let Some(set) = self.set() else { return };
        let slot = self.slot();
        let since = set.take_since(slot);
        if since != 0 {
            held_for(meta, since);
        }
        let by_owner = set.owner == current();
        let in_graph = set.release(slot, self.token(), by_owner);
        self.set = std::ptr::null();
        if in_graph {
            meta.mark_in_graph();
        }
    }

    /// Ends the hold in its taker's set at once, for an owned guard (from
    /// `lock_owned`, `write_owned`, `acquire_owned`, ...): such a guard
    /// exists to move to another task, and a hold left in its taker's set
    /// would stay the taker's wherever the guard went, so that the taker's
    /// next request of the lock read as a request of a lock it held (a
    /// self-deadlock, certain), and its other requests as edges from it.
    /// The request that took the lock keeps its edges; the hold is not
    /// timed by the profile. Call right after the acquisition, on the
    /// taker.
    pub fn detach(&mut self, meta: &LockMeta) {
        let Some(set) = self.set() else { return };
        let slot = self.slot();
        let _ = set.take_since(slot);
        let in_graph = set.release(slot, self.token(), set.owner == sets::current_owner());
        self.set = std::ptr::null();
        if in_graph {
            meta.mark_in_graph();
        }
    }

    /// The hold became shared in place (a write guard downgraded).
    pub fn rehold(&self, hold: Hold) {
        if hold == Hold::Shared {
            if let Some(set) = self.set() {
                set.downgrade(self.slot(), self.token());
            }
        }
    }
}

impl Drop for AsyncHold {
    #[inline]
    fn drop(&mut self) {
        if !self.set.is_null() {
            self.drop_live();
        }
    }
}

impl AsyncHold {
    #[cold]
    #[inline(never)]
    fn drop_live(&mut self) {
        // A hold dropped without `release` (a panic, a guard taken apart):
        // the entry still leaves.
        if let Some(set) = self.set() {
            set.take_since(self.slot());
            set.release(self.slot(), self.token(), false);
            self.set = std::ptr::null();
        }
    }
}

/// A sampled hold of `meta` that began `since` ns after the profile's
/// epoch ends now.
#[cold]
#[inline(never)]
fn held_for(meta: &LockMeta, since: u64) {
    let now = sets::profile_epoch().elapsed().as_nanos() as u64;
    crate::profile::held_for(
        meta,
        std::time::Duration::from_nanos(now.saturating_sub(since)),
    );
}
