//! The checker's per-lock block ([`LockAtom`]): the lock's last write and
//! the clock of its last exclusive release, allocated on first use and
//! kept in the lock's [`LockMeta`] as an untyped pointer.

use std::cell::UnsafeCell;
use std::panic::Location;
use std::sync::atomic::Ordering;

use lockgraph_graph::vclock::{Epoch, VectorClock};

use crate::meta::LockMeta;

/// The last write of a lock.
#[derive(Clone, Copy)]
pub(super) struct Write {
    pub(super) epoch: Epoch,
    pub(super) site: Option<&'static Location<'static>>,
}

/// No actor (a lock nobody released exclusively yet).
pub(super) const NO_ACTOR: usize = usize::MAX;

/// Per-lock state, allocated on first use while detection is on.
///
/// The clock of the last exclusive release is kept as the releaser's id and
/// time plus a copy of the releaser's clock of the *other* actors, stamped
/// with the releaser's generation of that clock: a thread that releases a
/// lock it released last, without having learnt anything from other threads
/// since, only stores its time (no clock copy).
pub(crate) struct LockAtom {
    pub(super) releaser: UnsafeCell<usize>,
    pub(super) released_at: UnsafeCell<u64>,
    /// The releaser's [`AtomThread::generation`](super::thread::AtomThread::generation) when `others` was copied.
    pub(super) generation: UnsafeCell<u64>,
    pub(super) others: UnsafeCell<VectorClock>,
    pub(super) last_write: UnsafeCell<Option<Write>>,
}

impl LockAtom {
    fn new() -> LockAtom {
        LockAtom {
            releaser: UnsafeCell::new(NO_ACTOR),
            released_at: UnsafeCell::new(0),
            generation: UnsafeCell::new(0),
            others: UnsafeCell::new(VectorClock::new()),
            last_write: UnsafeCell::new(None),
        }
    }
}

/// Frees a lock's block, if it has one (the lock is being dropped).
pub(crate) fn free(meta: &mut LockMeta) {
    let atom = *meta.atom.get_mut();
    if !atom.is_null() {
        // SAFETY: a non-null block came from `Box::into_raw` of a `LockAtom`
        // in `LockMeta::atom`, and the lock is being dropped, so no thread
        // holds or uses it.
        drop(unsafe { Box::from_raw(atom.cast::<LockAtom>()) });
    }
}

/// The checker's per-lock block, kept in [`LockMeta`] as an untyped pointer
/// (identity does not depend on the checker): always null or a
/// `Box<LockAtom>` made by [`LockMeta::atom`].
impl LockMeta {
    /// The atomicity checker's state for this lock, if it has any yet.
    #[inline]
    pub(crate) fn atom_if_any(&self) -> Option<&LockAtom> {
        let p = self.atom.load(Ordering::Acquire).cast::<LockAtom>();
        // SAFETY: a non-null `p` is a live `LockAtom` from `Box::into_raw`,
        // freed only when the lock is dropped, which cannot happen while
        // `self` is borrowed.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// The atomicity checker's state for this lock, allocated on first use.
    #[inline]
    pub(crate) fn atom(&self) -> &LockAtom {
        let mut p = self.atom.load(Ordering::Acquire).cast::<LockAtom>();
        if p.is_null() {
            p = self.alloc_atom();
        }
        // SAFETY: `p` is a live `LockAtom` from `Box::into_raw`, freed only
        // when the lock is dropped, which cannot happen while `self` is
        // borrowed.
        unsafe { &*p }
    }

    #[cold]
    #[inline(never)]
    fn alloc_atom(&self) -> *mut LockAtom {
        let fresh = Box::into_raw(Box::new(LockAtom::new()));
        match self.atom.compare_exchange(
            std::ptr::null_mut(),
            fresh.cast::<()>(),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(winner) => {
                // SAFETY: `fresh` was made above and never shared.
                drop(unsafe { Box::from_raw(fresh) });
                winner.cast::<LockAtom>()
            }
        }
    }
}
