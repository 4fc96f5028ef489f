//! Every owner's holds, read from another thread (the task watchdog's
//! scan, dumps), and a lock named as the thread watchdog's reports name it.

use std::panic::Location;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::held_set::{decode_class, hold_of};
use super::registry::REGISTRY;
use super::{HeldSet, Owner};
use crate::class::{Class, LockKind};

/// A lock as the thread watchdog's reports name it ([`LockRef`]'s text):
/// its kind and name, else where its class was created, else its id
/// (`AsyncMutex `sessions``, `AsyncMutex created at src/db.rs:4:9`). It
/// added the instance id to every lock (`AsyncMutex `sessions` (#1)`),
/// which the thread watchdog's reports do not.
///
/// [`LockRef`]: crate::watchdog::LockRef
pub(crate) fn lock_text(kind: LockKind, class: Class, id: u64) -> String {
    crate::watchdog::LockRef::of(id, class, kind).to_string()
}

/// One live hold as the task watchdog's scan reads it.
pub(crate) struct PubHold {
    pub(crate) owner: Owner,
    pub(crate) id: u64,
    pub(crate) site: Option<&'static Location<'static>>,
    /// Exclusive, or shared (a read, a permit, a downgraded write).
    pub(crate) hold: crate::report::Hold,
    /// The lock: its kind, name (or creation site) and id.
    pub(crate) lock: crate::watchdog::LockRef,
}

/// Every live hold of every owner, read from any thread (the task
/// watchdog's scan, dumps).
pub(crate) fn all_holds() -> Vec<PubHold> {
    let mut out = Vec::new();
    for shard in REGISTRY.iter() {
        let sets: Vec<Arc<HeldSet>> = shard.lock().sets.values().cloned().collect();
        for set in sets {
            for slot in &set.slots {
                let s = slot.state.load(Ordering::Acquire);
                if s == 0 {
                    continue;
                }
                let id = slot.id.load(Ordering::Relaxed);
                let site = slot.site.load(Ordering::Relaxed);
                let (a, b, w) = (
                    slot.class_a.load(Ordering::Relaxed),
                    slot.class_b.load(Ordering::Relaxed),
                    slot.tag_kind.load(Ordering::Relaxed),
                );
                // Still the same hold: the words belong to it (decoded
                // only then: torn words are no class).
                std::sync::atomic::fence(Ordering::Acquire);
                if slot.state.load(Ordering::Relaxed) != s {
                    continue;
                }
                // SAFETY: a non-zero word was stored from a
                // `&'static Location` in `push`.
                let site = (site != 0).then(|| unsafe { &*(site as *const Location<'static>) });
                // SAFETY: stored together by `encode_class` in `push`, for
                // this hold (the state did not change).
                let (class, kind) = unsafe { decode_class(a, b, w) };
                out.push(PubHold {
                    owner: set.owner,
                    id,
                    site,
                    hold: hold_of(s),
                    lock: crate::watchdog::LockRef::of(id, class, kind),
                });
            }
        }
    }
    out
}
