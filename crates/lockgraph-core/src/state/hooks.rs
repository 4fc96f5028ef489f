//! The hooks a lock type calls on its [`LockMeta`]: before a wait, after an
//! acquisition, on release, on a change of mode in place.

use super::*;

/// Tracking state embedded in every tracked lock: its class and its instance id.
///
/// The id is assigned lazily on first tracked use (one relaxed load afterwards)
/// and is never reused, so a moved lock keeps its identity and a dropped lock's
/// id never aliases a new one.
pub struct LockMeta {
    pub(super) class: Class,
    pub(super) kind: LockKind,
    pub(super) named_key: u64,
    pub(super) id: AtomicU64,
    /// The atomicity checker's state for this lock, allocated on first use
    /// while the checker is on.
    pub(super) atom: AtomicPtr<crate::atomicity::LockAtom>,
}

impl std::fmt::Debug for LockMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockMeta")
            .field("class", &self.class)
            .field("kind", &self.kind)
            .field("id", &(self.id.load(Ordering::Relaxed) & ID_MASK))
            .finish()
    }
}

impl LockMeta {
    /// Metadata for a lock of `kind` in `class`.
    pub const fn new(kind: LockKind, class: Class) -> LockMeta {
        let named_key = match class {
            Class::Named(n) => fnv(n) | 1,
            _ => 0,
        };
        LockMeta {
            class,
            kind,
            named_key,
            id: AtomicU64::new(0),
            atom: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// The lock's class.
    pub fn class(&self) -> Class {
        self.class
    }

    /// The lock's kind.
    pub fn kind(&self) -> LockKind {
        self.kind
    }

    /// The instance id, assigning one on first use.
    #[inline]
    pub fn id(&self) -> u64 {
        let v = self.id.load(Ordering::Relaxed);
        if v != 0 {
            return v & ID_MASK;
        }
        self.assign_id()
    }

    #[cold]
    pub(super) fn assign_id(&self) -> u64 {
        let fresh = STATE.with(|t| {
            let next = t.next_id.get();
            if next < t.end_id.get() {
                t.next_id.set(next + 1);
                next
            } else {
                let start = NEXT_ID_BLOCK.fetch_add(ID_BLOCK, Ordering::Relaxed);
                t.next_id.set(start + 1);
                t.end_id.set(start + ID_BLOCK);
                start
            }
        });
        match self
            .id
            .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => fresh,
            Err(winner) => winner & ID_MASK,
        }
    }

    /// Whether a shared guard of this lock was ever released while the
    /// atomicity checker was on.
    #[inline]
    pub(crate) fn watched(&self) -> bool {
        self.id.load(Ordering::Relaxed) & WATCHED != 0
    }

    pub(crate) fn mark_watched(&self) {
        self.id.fetch_or(WATCHED, Ordering::Relaxed);
    }

    /// The atomicity checker's state for this lock, if it has any yet.
    #[inline]
    pub(crate) fn atom_if_any(&self) -> Option<&crate::atomicity::LockAtom> {
        let p = self.atom.load(Ordering::Acquire);
        // SAFETY: a non-null `p` is a live block from `Box::into_raw`, freed
        // only when the lock is dropped, which cannot happen while `self` is
        // borrowed.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// The atomicity checker's state for this lock, allocated on first use.
    #[inline]
    pub(crate) fn atom(&self) -> &crate::atomicity::LockAtom {
        let mut p = self.atom.load(Ordering::Acquire);
        if p.is_null() {
            p = self.alloc_atom();
        }
        // SAFETY: `p` is a live block from `Box::into_raw`, freed only when
        // the lock is dropped, which cannot happen while `self` is borrowed.
        unsafe { &*p }
    }

    #[cold]
    #[inline(never)]
    pub(super) fn alloc_atom(&self) -> *mut crate::atomicity::LockAtom {
        let fresh = crate::atomicity::alloc();
        match self.atom.compare_exchange(
            std::ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(winner) => {
                crate::atomicity::free(fresh);
                winner
            }
        }
    }

    /// The per-thread key of this lock's class in the contention profile.
    pub(crate) fn profile_key(&self) -> u64 {
        self.hot_key(self.id())
    }

    /// The key hashed into chains: the class's address or name hash, or the
    /// instance for anonymous classes.
    #[inline]
    pub(super) fn hot_key(&self, id: u64) -> u64 {
        match self.class {
            Class::Site(l, t) => Class::site_hot_key(l, t),
            Class::Named(_) => self.named_key,
            Class::Anonymous => (id << 2) | 2,
        }
    }

    pub(crate) fn mark_in_graph(&self) {
        self.id.fetch_or(IN_GRAPH, Ordering::Relaxed);
    }

    /// Call before a blocking or timed acquisition (not before `try_lock`):
    /// records "every held lock -> this one" and reports a cycle it closes,
    /// before the caller blocks.
    #[inline(always)]
    pub fn before_wait(&self, request: Request, site: Option<&'static Location<'static>>) {
        state().before_wait(self, request, 0, site, Op::Acquire);
    }

    /// [`before_wait`](Self::before_wait) for a blocking or timed upgradable
    /// read (an exclusive request), to be followed by
    /// [`acquired_upgradable`](Self::acquired_upgradable).
    #[inline]
    pub fn before_wait_upgradable(&self, site: Option<&'static Location<'static>>) {
        state().before_wait(self, Request::Exclusive, UPGRADABLE, site, Op::Acquire);
    }

    /// Call after the lock was taken (by any method, `try_lock` included).
    #[inline(always)]
    pub fn acquired(&self, hold: Hold, site: Option<&'static Location<'static>>) {
        let t = state();
        let slot = t.push(self, hold, 0, site);
        let features = crate::features::hooks();
        // The atomicity checker alone, with nothing to do (the common case
        // of a test run with it on), is decided here without a call.
        if features == ATOMICITY {
            if !t.atom.quiet_acquire(self) {
                t.acquired_with_features(self, slot, features);
            }
        } else if features != 0 {
            t.acquired_with_features(self, slot, features);
        }
    }

    /// Call after an upgradable read was taken (by any method), instead of
    /// [`acquired`](Self::acquired): a shared hold for the lock-order graph,
    /// shown to the [`watchdog`](crate::watchdog) as an upgradable one.
    #[inline]
    pub fn acquired_upgradable(&self, site: Option<&'static Location<'static>>) {
        let t = state();
        let slot = t.push(self, Hold::Shared, UPGRADABLE, site);
        let features = crate::features::hooks();
        if features != 0 {
            t.acquired_with_features(self, slot, features);
        }
    }

    /// Call when a timed acquisition checked with [`before_wait`](Self::before_wait)
    /// gave up without the lock.
    pub fn abandoned(&self) {
        STATE.with(|t| t.checked_id.set(0));
    }

    /// Call when the lock is released (before the raw unlock).
    #[inline(always)]
    pub fn released(&self) {
        let features = crate::features::hooks();
        if features == 0 {
            let _ = state().pop(self);
        } else {
            state().released_with_features(self, features);
        }
    }

    /// Call when an upgradable read is released (before the raw unlock),
    /// instead of [`released`](Self::released): when the thread also holds
    /// a plain read of the lock taken later, that one stays (as a read).
    #[inline]
    pub fn released_upgradable(&self) {
        state().before_upgradable_release(self);
        self.released();
    }

    /// Call when a read guard (shared, not upgradable) is released (before
    /// the raw unlock), instead of [`released`](Self::released): when the
    /// thread also holds an upgradable read of the lock taken later, that
    /// one stays (as an upgradable read).
    #[inline]
    pub fn released_read(&self) {
        state().before_read_release(self);
        self.released();
    }

    /// Call before an exclusive hold is downgraded to a shared one (before
    /// the raw downgrade): for the atomicity checker, the exclusive hold wrote.
    pub fn downgrading(&self) {
        if crate::atomicity::on() {
            crate::atomicity::downgrading(&state().atom, self);
        }
    }

    /// Call when a held lock changes mode in place (downgrade, finished upgrade).
    /// The hold is no longer an upgradable read, if it was one.
    pub fn rehold(&self, hold: Hold) {
        STATE.with(|t| t.rehold(self, hold, 0));
    }

    /// Call when a held write lock is downgraded to an upgradable read in
    /// place: a shared hold, which the watchdog shows as upgradable.
    pub fn rehold_upgradable(&self) {
        STATE.with(|t| t.rehold(self, Hold::Shared, UPGRADABLE));
    }

    /// Call before upgrading a held upgradable read lock: records the other
    /// held locks -> this one as an exclusive request.
    pub fn before_upgrade(&self, site: Option<&'static Location<'static>>) {
        STATE.with(|t| t.before_wait(self, Request::Exclusive, 0, site, Op::Upgrade));
    }

    /// Call on a condvar's metadata before waiting on it with `mutex`'s guard:
    /// every other held lock -> the condvar.
    pub fn before_condvar_wait(&self, mutex: &LockMeta, site: Option<&'static Location<'static>>) {
        let m = mutex.id();
        STATE.with(|t| t.before_wait(self, Request::Exclusive, 0, site, Op::CondvarWait(m)));
    }

    /// Call on a condvar's metadata when notifying it: the condvar -> every
    /// lock the notifier holds (a waiter needs the notifier to get that far).
    pub fn notified(&self, site: Option<&'static Location<'static>>) {
        STATE.with(|t| t.before_wait(self, Request::Exclusive, 0, site, Op::Notify));
    }
}

impl Drop for LockMeta {
    fn drop(&mut self) {
        let atom = *self.atom.get_mut();
        if !atom.is_null() {
            crate::atomicity::free(atom);
        }
        let v = *self.id.get_mut();
        if v == 0 {
            return;
        }
        // A lock dropped while this thread still holds it (its guard was
        // forgotten) leaves the held stack too.
        let id = v & ID_MASK;
        let _ = STATE.try_with(|t| t.forget(id));
        if v & IN_GRAPH != 0 {
            global::forget_instance(id);
        }
    }
}
