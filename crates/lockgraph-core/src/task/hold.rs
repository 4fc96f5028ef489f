//! A hold of an async lock: pushed on the owner's set when the lock is
//! taken, removed from that same set when the guard goes, wherever it goes.

use std::panic::Location;
use std::sync::atomic::Ordering;

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
    slot: u32,
    token: u64,
}

// SAFETY: the set is `Sync` and outlives the hold (see `set`); a hold may
// be released from any thread (that is its point).
unsafe impl Send for AsyncHold {}
// SAFETY: as above; `&AsyncHold` only reads or downgrades atomically.
unsafe impl Sync for AsyncHold {}

impl std::fmt::Debug for AsyncHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncHold")
            .field("owner", &self.owner())
            .field("token", &self.token)
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

/// [`acquired`] by `owner` (as [`before_wait`](super::before_wait) returned
/// it: the current task or thread).
#[inline]
pub fn acquired_by(
    owner: Owner,
    meta: &LockMeta,
    hold: Hold,
    site: Option<&'static Location<'static>>,
) -> AsyncHold {
    if !sets::ASYNC_USED.load(Ordering::Relaxed) {
        sets::ASYNC_USED.store(true, Ordering::Relaxed);
        crate::features::async_used_now();
    }
    let id = meta.id();
    let held = Held {
        id,
        key: meta.hot_key(id),
        class: meta.class(),
        kind: meta.kind(),
        hold,
        site,
    };
    match sets::push(owner, held) {
        Some((set, slot, token)) => AsyncHold {
            set,
            slot: slot as u32,
            token,
        },
        None => {
            full_warning();
            AsyncHold::none()
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
            slot: 0,
            token: 0,
        }
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
        let Some(set) = self.set() else { return };
        let in_graph = set.release(self.slot as usize, self.token);
        self.set = std::ptr::null();
        if in_graph {
            meta.mark_in_graph();
        }
    }

    /// The hold became shared in place (a write guard downgraded).
    pub fn rehold(&self, hold: Hold) {
        if hold == Hold::Shared {
            if let Some(set) = self.set() {
                set.downgrade(self.slot as usize, self.token);
            }
        }
    }
}

impl Drop for AsyncHold {
    fn drop(&mut self) {
        // A hold dropped without `release` (a panic, a guard taken apart):
        // the entry still leaves.
        if let Some(set) = self.set() {
            set.release(self.slot as usize, self.token);
            self.set = std::ptr::null();
        }
    }
}
