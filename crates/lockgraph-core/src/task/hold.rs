//! A hold of an async lock: pushed on the owner's set when the lock is
//! taken, removed from that same set when the guard goes, wherever it goes.

use std::panic::Location;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::sets::{self, HeldSet, Owner};
use crate::meta::{Held, LockMeta};
use crate::report::Hold;

/// One hold of an async lock by the task (or thread) that took it. Kept in
/// the lock's guard; [`AsyncHold::release`] (or dropping it) ends the hold
/// in the taker's set, whichever task or thread runs the release.
#[must_use = "the hold ends when this is dropped"]
pub struct AsyncHold {
    set: Option<Arc<HeldSet>>,
    token: u64,
}

impl std::fmt::Debug for AsyncHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncHold")
            .field("owner", &self.set.as_ref().map(|s| s.owner))
            .field("token", &self.token)
            .finish()
    }
}

/// Records that the current task (else thread) took `meta` as `hold`,
/// asked at `site` (any acquisition: blocking, `try_*`, owned).
pub fn acquired(
    meta: &LockMeta,
    hold: Hold,
    site: Option<&'static Location<'static>>,
) -> AsyncHold {
    if !sets::ASYNC_USED.load(Ordering::Relaxed) {
        sets::ASYNC_USED.store(true, Ordering::Relaxed);
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
    let owner = sets::current_owner();
    sets::with_holds(owner, true, |set, holds| AsyncHold {
        set: Some(set.clone()),
        token: HeldSet::push(holds, held),
    })
    .unwrap_or(AsyncHold {
        set: None,
        token: 0,
    })
}

impl AsyncHold {
    /// A hold that tracks nothing (the lock was not tracked).
    pub const fn none() -> AsyncHold {
        AsyncHold {
            set: None,
            token: 0,
        }
    }

    /// Who took the lock.
    pub fn owner(&self) -> Option<Owner> {
        self.set.as_ref().map(|s| s.owner)
    }

    /// Ends the hold of `meta` (call before the raw release): the entry
    /// leaves the set of the task that took it.
    pub fn release(&mut self, meta: &LockMeta) {
        let Some(set) = self.set.take() else { return };
        let mut holds = set.holds.lock();
        if let Some(i) = holds.entries.iter().rposition(|e| e.token == self.token) {
            let e = holds.entries.remove(i);
            if e.in_graph {
                meta.mark_in_graph();
            }
        }
    }

    /// The hold changes mode in place (a write guard downgraded to a read).
    pub fn rehold(&self, hold: Hold) {
        let Some(set) = &self.set else { return };
        let mut holds = set.holds.lock();
        if let Some(e) = holds.entries.iter_mut().find(|e| e.token == self.token) {
            e.held.hold = hold;
        }
    }

    /// A second hold of the same lock, by the same owner, in the same mode
    /// (a semaphore permit split in two).
    pub fn split(&self) -> AsyncHold {
        let Some(set) = &self.set else {
            return AsyncHold::none();
        };
        let mut holds = set.holds.lock();
        let Some(e) = holds
            .entries
            .iter()
            .find(|e| e.token == self.token)
            .copied()
        else {
            return AsyncHold::none();
        };
        AsyncHold {
            set: Some(set.clone()),
            token: HeldSet::push(&mut holds, e.held),
        }
    }
}

impl Drop for AsyncHold {
    fn drop(&mut self) {
        // A hold dropped without `release` (the lock is being dropped with
        // its guard forgotten, or a panic): the entry still leaves.
        if let Some(set) = self.set.take() {
            let mut holds = set.holds.lock();
            if let Some(i) = holds.entries.iter().rposition(|e| e.token == self.token) {
                holds.entries.remove(i);
            }
        }
    }
}
