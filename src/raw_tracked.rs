//! Tracking raw locks: parking_lot's raw locks plus a [`LockMeta`]. Every
//! lock_api operation forwards to the core's primitive protocol
//! (`lockgraph_core::primitive`: the order graph's check, the watchdog's
//! wait registration, the profile's timing, the held-lock stack), handing
//! it the inner lock's raw operations as a `Blocking` primitive. Compiled
//! when tracking is on (debug builds, or the `track-in-release` feature).

use std::panic::Location;
use std::time::{Duration, Instant};

use lock_api::{
    RawMutex as _, RawMutexTimed as _, RawRwLock as _, RawRwLockRecursive as _,
    RawRwLockRecursiveTimed as _, RawRwLockTimed as _, RawRwLockUpgrade as _,
    RawRwLockUpgradeTimed as _,
};
use lockgraph_core::__private::primitive::{self, Blocking, Deadline, WaitMode};
use lockgraph_core::{Class, Hold, LockKind, LockMeta, Request};

/// Records the caller's site for the raw operation that follows on this thread.
#[inline(always)]
pub(crate) fn set_site(site: &'static Location<'static>) {
    lockgraph_core::__private::set_pending_site(site);
}

/// Forgets a site that no raw operation used (a reentrant re-lock).
#[inline(always)]
pub(crate) fn clear_site() {
    lockgraph_core::__private::clear_pending_site();
}

/// Guards are `Send` with the `send_guard` feature, as parking_lot's are:
/// a guard released on another thread leaves the held-lock stack of the
/// thread that took it (see `lockgraph_core::LockMeta::released`).
#[cfg(feature = "send_guard")]
type GuardMarker = lock_api::GuardSend;
/// The held-lock stack is per thread: without `send_guard`, a guard is
/// released where it was taken.
#[cfg(not(feature = "send_guard"))]
type GuardMarker = lock_api::GuardNoSend;

// ---------------------------------------------------------------------------
// The inner locks' raw operations, as `Blocking` primitives (one per way of
// taking a lock).

/// Defines a `Blocking` adapter `$name` over a tracked raw lock `&$raw`
/// whose operations are its inner lock's `$try`, `$lock`, `$for` and
/// `$until`. (The adapter holds the tracked lock, not the inner one: one
/// pointer serves both the metadata and the inner lock.)
macro_rules! blocking {
    ($(#[$m:meta])* $name:ident($raw:ty): $try:ident, $lock:ident, $for:ident, $until:ident) => {
        blocking!($(#[$m])* $name($raw): $try, $lock, $for, $until; {});
    };
    ($(#[$m:meta])* $name:ident($raw:ty): $try:ident, $lock:ident, $for:ident, $until:ident;
        undo $unlock:ident $(; lock-shaped by $shaped:ident)? $(; whole = $whole:literal)?) => {
        blocking!($(#[$m])* $name($raw): $try, $lock, $for, $until; {
            const UNDO: bool = true;
            $(const WHOLE: bool = $whole;)?

            #[inline]
            fn undo_try(&self) {
                // SAFETY: called only right after this adapter's `try_now`
                // succeeded (the protocol's contract for `undo_try`): this
                // thread holds the inner lock in this mode.
                unsafe { self.0.inner.$unlock() }
            }

            $(
            /// `$shaped` with no time to wait: the inner lock's `lock`
            /// fast path (one compare-and-swap from unlocked), where `$try`
            /// first loads the state and tests it; when that fails, its
            /// slow path spins a little and parks until a deadline already
            /// passed before it gives up.
            #[inline(always)]
            fn attempt(&self) -> bool {
                self.0.inner.$shaped(std::time::Duration::ZERO)
            }
            )?
        });
    };
    ($(#[$m:meta])* $name:ident($raw:ty): $try:ident, $lock:ident, $for:ident, $until:ident;
        { $($undo:tt)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy)]
        struct $name<'a>(&'a $raw);

        impl Blocking for $name<'_> {
            #[inline(always)]
            fn try_now(&self) -> bool {
                self.0.inner.$try()
            }

            #[inline(always)]
            fn block(&self) {
                self.0.inner.$lock()
            }

            #[inline]
            fn block_until(&self, deadline: Deadline) -> bool {
                match deadline {
                    Deadline::After(d) => self.0.inner.$for(d),
                    Deadline::At(i) => self.0.inner.$until(i),
                }
            }

            $($undo)*
        }
    };
}

blocking!(
    /// A mutex's `lock`. Its first attempt is `lock`-shaped: parking_lot's
    /// `try_lock` costs a load, a test and a branch more than `lock`'s
    /// compare-and-swap, and its `try_lock_for` does not.
    Exclusive(RawMutex): try_lock, lock, try_lock_for, try_lock_until; undo unlock;
        lock-shaped by try_lock_for
);
blocking!(
    /// A read-write lock's `write`: waited for whole (`Blocking::WHOLE`),
    /// since a timed wait that gives up lets the readers queued behind it in.
    Write(RawRwLock): try_lock_exclusive, lock_exclusive,
        try_lock_exclusive_for, try_lock_exclusive_until; undo unlock_exclusive;
        whole = true
);
blocking!(
    /// A read-write lock's `read`.
    Read(RawRwLock): try_lock_shared, lock_shared,
        try_lock_shared_for, try_lock_shared_until
);
blocking!(
    /// A read-write lock's `read_recursive`.
    RecursiveRead(RawRwLock): try_lock_shared_recursive,
        lock_shared_recursive, try_lock_shared_recursive_for, try_lock_shared_recursive_until
);
blocking!(
    /// A read-write lock's `upgradable_read`.
    UpgradableRead(RawRwLock): try_lock_upgradable, lock_upgradable,
        try_lock_upgradable_for, try_lock_upgradable_until
);

/// A read-write lock's `upgrade` of the upgradable read this thread holds
/// (made only by [`Upgrade::new`], whose caller vouches for the hold).
struct Upgrade<'a>(&'a crate::sync::RawRwLock);

impl<'a> Upgrade<'a> {
    /// # Safety
    /// This thread must hold an upgradable read of `lock` for as long as
    /// the value lives (or until one of its operations succeeded).
    #[inline(always)]
    unsafe fn new(lock: &'a crate::sync::RawRwLock) -> Upgrade<'a> {
        Upgrade(lock)
    }
}

/// Waited for whole, as a `write` is: an upgrade that waits for the other
/// readers keeps new ones out, until a timed wait gives up.
impl Blocking for Upgrade<'_> {
    const WHOLE: bool = true;

    #[inline]
    fn try_now(&self) -> bool {
        // SAFETY: an upgradable read is held (`Upgrade::new`'s contract).
        unsafe { self.0.try_upgrade() }
    }

    #[inline]
    fn block(&self) {
        // SAFETY: as above.
        unsafe { self.0.upgrade() }
    }

    #[inline]
    fn block_until(&self, deadline: Deadline) -> bool {
        // SAFETY: as above; a wait that times out leaves the upgradable
        // read held, as before it.
        unsafe {
            match deadline {
                Deadline::After(d) => self.0.try_upgrade_for(d),
                Deadline::At(i) => self.0.try_upgrade_until(i),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Mutex.

/// A raw mutex that can lock recording the caller's site directly.
pub(crate) trait LockAt: lock_api::RawMutex {
    /// Locks, blocking, recording `site`.
    fn lock_at(&self, site: Option<&'static Location<'static>>);
}

/// `mutex.lock()`, recording `site` directly (no pending-site round trip).
#[inline(always)]
pub(crate) fn lock<'a, R: LockAt, T: ?Sized>(
    mutex: &'a lock_api::Mutex<R, T>,
    site: &'static Location<'static>,
) -> lock_api::MutexGuard<'a, R, T> {
    // SAFETY: the raw lock is only locked here; the guard made below owns it.
    let raw = unsafe { mutex.raw() };
    raw.lock_at(Some(site));
    // SAFETY: this thread has just acquired the lock.
    unsafe { mutex.make_guard_unchecked() }
}

/// A tracked mutex of `kind` in `class`.
#[inline]
pub(crate) const fn mutex(kind: LockKind, class: Class) -> RawMutex {
    RawMutex {
        inner: crate::sync::RawMutex::INIT,
        meta: LockMeta::new(kind, class),
    }
}

/// A tracked fair mutex in `class`.
#[inline]
pub(crate) const fn fair_mutex(class: Class) -> RawFairMutex {
    RawFairMutex(mutex(LockKind::FairMutex, class))
}

/// `parking_lot::RawMutex` with lock-order tracking.
///
/// Implements exactly the raw traits its inner lock implements, so every
/// lock_api feature works on top of it.
pub struct RawMutex {
    inner: crate::sync::RawMutex,
    meta: LockMeta,
}

impl std::fmt::Debug for RawMutex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawMutex")
            .field("meta", &self.meta)
            .finish()
    }
}

impl RawMutex {
    /// The tracking metadata of this lock (for lockgraph's own crates).
    #[doc(hidden)]
    pub fn meta(&self) -> &LockMeta {
        &self.meta
    }

    /// Re-locks after a condvar wait, recording `site`.
    pub(crate) fn relock_after_wait(&self, site: &'static Location<'static>) {
        primitive::relock_after_wait(&self.meta, Exclusive(self), site);
    }

    /// Unlocks for a condvar wait.
    ///
    /// # Safety
    /// The lock must be held by the current thread.
    #[inline]
    pub(crate) unsafe fn unlock_for_wait(&self) {
        primitive::release_for_wait(&self.meta);
        // SAFETY: the caller guarantees the lock is held by this thread.
        unsafe { self.inner.unlock() }
    }
}

impl LockAt for RawMutex {
    #[inline(always)]
    fn lock_at(&self, site: Option<&'static Location<'static>>) {
        primitive::acquire(&self.meta, Exclusive(self), WaitMode::Lock, site);
    }
}

// SAFETY: every operation is forwarded to `parking_lot::RawMutex`, which upholds
// the trait's contract; the bookkeeping around it never locks or unlocks it.
unsafe impl lock_api::RawMutex for RawMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawMutex = mutex(LockKind::Other, Class::Anonymous);
    type GuardMarker = GuardMarker;

    #[inline]
    fn lock(&self) {
        primitive::raw_acquire(|| self.lock_at(None));
    }

    #[inline]
    fn try_lock(&self) -> bool {
        primitive::try_acquire(&self.meta, Exclusive(self), WaitMode::Lock)
    }

    #[inline(always)]
    unsafe fn unlock(&self) {
        primitive::release(&self.meta, WaitMode::Lock);
        // SAFETY: the caller guarantees the lock is held (lock_api's contract).
        unsafe { self.inner.unlock() }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }
}

// SAFETY: forwarded to parking_lot's implementation; see above.
unsafe impl lock_api::RawMutexFair for RawMutex {
    #[inline]
    unsafe fn unlock_fair(&self) {
        primitive::release(&self.meta, WaitMode::Lock);
        // SAFETY: the caller guarantees the lock is held.
        unsafe { self.inner.unlock_fair() }
    }

    #[inline]
    unsafe fn bump(&self) {
        // The lock is handed to a waiting thread and taken back: it stays
        // held (its slot in the held-lock stack stays), and the re-take
        // waits while every other held lock is still held, so those locks
        // get their edges to this one, as for an upgrade.
        self.meta.before_bump(Request::Exclusive);
        // SAFETY: the caller guarantees the lock is held.
        unsafe { self.inner.bump() }
    }
}

// SAFETY: forwarded to parking_lot's implementation; see above.
unsafe impl lock_api::RawMutexTimed for RawMutex {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    fn try_lock_for(&self, timeout: Duration) -> bool {
        primitive::acquire_until(
            &self.meta,
            Exclusive(self),
            WaitMode::Lock,
            Deadline::After(timeout),
        )
    }

    #[inline]
    fn try_lock_until(&self, timeout: Instant) -> bool {
        primitive::acquire_until(
            &self.meta,
            Exclusive(self),
            WaitMode::Lock,
            Deadline::At(timeout),
        )
    }
}

/// `parking_lot::RawFairMutex` with lock-order tracking: the tracked
/// [`RawMutex`] whose every unlock is fair (the lock goes straight to a
/// waiting thread).
pub struct RawFairMutex(RawMutex);

impl std::fmt::Debug for RawFairMutex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawFairMutex")
            .field("meta", &self.0.meta)
            .finish()
    }
}

impl RawFairMutex {
    /// The tracking metadata of this lock (for lockgraph's own crates).
    #[doc(hidden)]
    pub fn meta(&self) -> &LockMeta {
        &self.0.meta
    }
}

impl LockAt for RawFairMutex {
    #[inline(always)]
    fn lock_at(&self, site: Option<&'static Location<'static>>) {
        self.0.lock_at(site);
    }
}

// SAFETY: forwarded to the tracked `RawMutex` (itself forwarding to
// parking_lot's), with every unlock made fair, as parking_lot's own
// `RawFairMutex` does.
unsafe impl lock_api::RawMutex for RawFairMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawFairMutex = fair_mutex(Class::Anonymous);
    type GuardMarker = GuardMarker;

    #[inline]
    fn lock(&self) {
        primitive::raw_acquire(|| self.0.lock_at(None));
    }

    #[inline]
    fn try_lock(&self) -> bool {
        self.0.try_lock()
    }

    #[inline]
    unsafe fn unlock(&self) {
        // SAFETY: the caller guarantees the lock is held.
        unsafe { lock_api::RawMutexFair::unlock_fair(&self.0) }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.0.is_locked()
    }
}

// SAFETY: forwarded; see above.
unsafe impl lock_api::RawMutexFair for RawFairMutex {
    #[inline]
    unsafe fn unlock_fair(&self) {
        // SAFETY: the caller guarantees the lock is held.
        unsafe { lock_api::RawMutexFair::unlock_fair(&self.0) }
    }

    #[inline]
    unsafe fn bump(&self) {
        // SAFETY: the caller guarantees the lock is held.
        unsafe { lock_api::RawMutexFair::bump(&self.0) }
    }
}

// SAFETY: forwarded; see above.
unsafe impl lock_api::RawMutexTimed for RawFairMutex {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    fn try_lock_for(&self, timeout: Duration) -> bool {
        lock_api::RawMutexTimed::try_lock_for(&self.0, timeout)
    }

    #[inline]
    fn try_lock_until(&self, timeout: Instant) -> bool {
        lock_api::RawMutexTimed::try_lock_until(&self.0, timeout)
    }
}

// ---------------------------------------------------------------------------
// RwLock.

/// `rwlock.read()`, recording `site` directly.
#[inline]
pub(crate) fn read<'a, T: ?Sized>(
    rwlock: &'a lock_api::RwLock<RawRwLock, T>,
    site: &'static Location<'static>,
) -> lock_api::RwLockReadGuard<'a, RawRwLock, T> {
    // SAFETY: the raw lock is only locked here; the guard made below owns it.
    let raw = unsafe { rwlock.raw() };
    primitive::acquire(&raw.meta, Read(raw), WaitMode::Read, Some(site));
    // SAFETY: this thread has just acquired a shared lock.
    unsafe { rwlock.make_read_guard_unchecked() }
}

/// `rwlock.write()`, recording `site` directly.
#[inline]
pub(crate) fn write<'a, T: ?Sized>(
    rwlock: &'a lock_api::RwLock<RawRwLock, T>,
    site: &'static Location<'static>,
) -> lock_api::RwLockWriteGuard<'a, RawRwLock, T> {
    // SAFETY: the raw lock is only locked here; the guard made below owns it.
    let raw = unsafe { rwlock.raw() };
    primitive::acquire(&raw.meta, Write(raw), WaitMode::Write, Some(site));
    // SAFETY: this thread has just acquired an exclusive lock.
    unsafe { rwlock.make_write_guard_unchecked() }
}

/// A tracked read-write lock in `class`.
#[inline]
pub(crate) const fn rwlock(class: Class) -> RawRwLock {
    RawRwLock {
        inner: crate::sync::RawRwLock::INIT,
        meta: LockMeta::new(LockKind::RwLock, class),
    }
}

/// `parking_lot::RawRwLock` with lock-order tracking.
///
/// Read holds are *shared*, write holds *exclusive*; an upgradable read is a
/// shared hold requested exclusively (it excludes writers and other upgraders),
/// which the watchdog tells apart from a plain read.
pub struct RawRwLock {
    inner: crate::sync::RawRwLock,
    meta: LockMeta,
}

impl std::fmt::Debug for RawRwLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRwLock")
            .field("meta", &self.meta)
            .finish()
    }
}

impl RawRwLock {
    /// The tracking metadata of this lock (for lockgraph's own crates).
    #[doc(hidden)]
    pub fn meta(&self) -> &LockMeta {
        &self.meta
    }
}

// SAFETY: every operation is forwarded to `parking_lot::RawRwLock`, which upholds
// the trait's contract; the bookkeeping around it never locks or unlocks it.
unsafe impl lock_api::RawRwLock for RawRwLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawRwLock = rwlock(Class::Anonymous);
    type GuardMarker = GuardMarker;

    #[inline]
    fn lock_shared(&self) {
        primitive::raw_acquire(|| primitive::acquire(&self.meta, Read(self), WaitMode::Read, None));
    }

    #[inline]
    fn try_lock_shared(&self) -> bool {
        primitive::try_acquire(&self.meta, Read(self), WaitMode::Read)
    }

    #[inline]
    unsafe fn unlock_shared(&self) {
        primitive::release(&self.meta, WaitMode::Read);
        // SAFETY: the caller guarantees a shared lock is held.
        unsafe { self.inner.unlock_shared() }
    }

    #[inline]
    fn lock_exclusive(&self) {
        primitive::raw_acquire(|| {
            primitive::acquire(&self.meta, Write(self), WaitMode::Write, None)
        });
    }

    #[inline]
    fn try_lock_exclusive(&self) -> bool {
        primitive::try_acquire(&self.meta, Write(self), WaitMode::Write)
    }

    #[inline]
    unsafe fn unlock_exclusive(&self) {
        primitive::release(&self.meta, WaitMode::Write);
        // SAFETY: the caller guarantees an exclusive lock is held.
        unsafe { self.inner.unlock_exclusive() }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    #[inline]
    fn is_locked_exclusive(&self) -> bool {
        self.inner.is_locked_exclusive()
    }
}

// SAFETY: forwarded to parking_lot's implementation; see above.
unsafe impl lock_api::RawRwLockFair for RawRwLock {
    #[inline]
    unsafe fn unlock_shared_fair(&self) {
        primitive::release(&self.meta, WaitMode::Read);
        // SAFETY: the caller guarantees a shared lock is held.
        unsafe { self.inner.unlock_shared_fair() }
    }

    #[inline]
    unsafe fn unlock_exclusive_fair(&self) {
        primitive::release(&self.meta, WaitMode::Write);
        // SAFETY: the caller guarantees an exclusive lock is held.
        unsafe { self.inner.unlock_exclusive_fair() }
    }

    #[inline]
    unsafe fn bump_shared(&self) {
        // With a writer waiting, parking_lot lets the read go and takes it
        // back as a plain read, which queues behind that writer: the other
        // held locks get their edges to it as a read's (it recorded none:
        // a real deadlock missed; found by a review).
        self.meta.before_bump(Request::Read);
        // SAFETY: the caller guarantees a shared lock is held.
        unsafe { self.inner.bump_shared() }
    }

    #[inline]
    unsafe fn bump_exclusive(&self) {
        // Handed over and taken back while every other lock stays held: as
        // the mutex's `bump`.
        self.meta.before_bump(Request::Exclusive);
        // SAFETY: the caller guarantees an exclusive lock is held.
        unsafe { self.inner.bump_exclusive() }
    }
}

// SAFETY: forwarded to parking_lot's implementation; see above.
unsafe impl lock_api::RawRwLockDowngrade for RawRwLock {
    #[inline]
    unsafe fn downgrade(&self) {
        self.meta.downgrading();
        // SAFETY: the caller guarantees an exclusive lock is held.
        unsafe { self.inner.downgrade() };
        self.meta.rehold(Hold::Shared);
    }
}

/// A timed acquisition of `lock` in `mode` through the adapter `$p`.
macro_rules! timed {
    ($lock:expr, $p:ident, $mode:expr, $deadline:expr) => {
        primitive::acquire_until(&$lock.meta, $p($lock), $mode, $deadline)
    };
}

// SAFETY: forwarded to parking_lot's implementation; see above.
unsafe impl lock_api::RawRwLockTimed for RawRwLock {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    fn try_lock_shared_for(&self, timeout: Duration) -> bool {
        timed!(self, Read, WaitMode::Read, Deadline::After(timeout))
    }

    #[inline]
    fn try_lock_shared_until(&self, timeout: Instant) -> bool {
        timed!(self, Read, WaitMode::Read, Deadline::At(timeout))
    }

    #[inline]
    fn try_lock_exclusive_for(&self, timeout: Duration) -> bool {
        timed!(self, Write, WaitMode::Write, Deadline::After(timeout))
    }

    #[inline]
    fn try_lock_exclusive_until(&self, timeout: Instant) -> bool {
        timed!(self, Write, WaitMode::Write, Deadline::At(timeout))
    }
}

// SAFETY: forwarded to parking_lot's implementation; see above.
unsafe impl lock_api::RawRwLockRecursive for RawRwLock {
    #[inline]
    fn lock_shared_recursive(&self) {
        primitive::raw_acquire(|| {
            primitive::acquire(
                &self.meta,
                RecursiveRead(self),
                WaitMode::RecursiveRead,
                None,
            )
        });
    }

    #[inline]
    fn try_lock_shared_recursive(&self) -> bool {
        primitive::try_acquire(&self.meta, RecursiveRead(self), WaitMode::RecursiveRead)
    }
}

// SAFETY: forwarded to parking_lot's implementation; see above.
unsafe impl lock_api::RawRwLockRecursiveTimed for RawRwLock {
    #[inline]
    fn try_lock_shared_recursive_for(&self, timeout: Duration) -> bool {
        timed!(
            self,
            RecursiveRead,
            WaitMode::RecursiveRead,
            Deadline::After(timeout)
        )
    }

    #[inline]
    fn try_lock_shared_recursive_until(&self, timeout: Instant) -> bool {
        timed!(
            self,
            RecursiveRead,
            WaitMode::RecursiveRead,
            Deadline::At(timeout)
        )
    }
}

// SAFETY: forwarded to parking_lot's implementation; see above.
unsafe impl lock_api::RawRwLockUpgrade for RawRwLock {
    #[inline]
    fn lock_upgradable(&self) {
        primitive::raw_acquire(|| {
            primitive::acquire(
                &self.meta,
                UpgradableRead(self),
                WaitMode::UpgradableRead,
                None,
            )
        });
    }

    #[inline]
    fn try_lock_upgradable(&self) -> bool {
        primitive::try_acquire(&self.meta, UpgradableRead(self), WaitMode::UpgradableRead)
    }

    #[inline]
    unsafe fn unlock_upgradable(&self) {
        primitive::release(&self.meta, WaitMode::UpgradableRead);
        // SAFETY: the caller guarantees an upgradable lock is held.
        unsafe { self.inner.unlock_upgradable() }
    }

    #[inline]
    unsafe fn upgrade(&self) {
        // SAFETY: the caller guarantees an upgradable lock is held.
        let up = unsafe { Upgrade::new(&self.inner) };
        let ok = primitive::upgrade(&self.meta, up, None);
        debug_assert!(ok, "an upgrade without a deadline always upgrades");
    }

    #[inline]
    unsafe fn try_upgrade(&self) -> bool {
        // SAFETY: the caller guarantees an upgradable lock is held.
        let up = unsafe { Upgrade::new(&self.inner) };
        primitive::try_upgrade(&self.meta, up)
    }
}

// SAFETY: forwarded to parking_lot's implementation; see above.
unsafe impl lock_api::RawRwLockUpgradeFair for RawRwLock {
    #[inline]
    unsafe fn unlock_upgradable_fair(&self) {
        primitive::release(&self.meta, WaitMode::UpgradableRead);
        // SAFETY: the caller guarantees an upgradable lock is held.
        unsafe { self.inner.unlock_upgradable_fair() }
    }

    #[inline]
    unsafe fn bump_upgradable(&self) {
        // Taken back as an upgradable read, which excludes writers and other
        // upgraders: edges from the other held locks, as the mutex's `bump`,
        // named as an upgradable read's.
        self.meta.before_bump_upgradable();
        // SAFETY: the caller guarantees an upgradable lock is held.
        unsafe { self.inner.bump_upgradable() }
    }
}

// SAFETY: forwarded to parking_lot's implementation; see above.
unsafe impl lock_api::RawRwLockUpgradeDowngrade for RawRwLock {
    #[inline]
    unsafe fn downgrade_upgradable(&self) {
        // SAFETY: the caller guarantees an upgradable lock is held.
        unsafe { self.inner.downgrade_upgradable() };
        self.meta.rehold(Hold::Shared);
    }

    #[inline]
    unsafe fn downgrade_to_upgradable(&self) {
        self.meta.downgrading();
        // SAFETY: the caller guarantees an exclusive lock is held.
        unsafe { self.inner.downgrade_to_upgradable() };
        self.meta.rehold_upgradable();
    }
}

// SAFETY: forwarded to parking_lot's implementation; see above.
unsafe impl lock_api::RawRwLockUpgradeTimed for RawRwLock {
    #[inline]
    fn try_lock_upgradable_for(&self, timeout: Duration) -> bool {
        timed!(
            self,
            UpgradableRead,
            WaitMode::UpgradableRead,
            Deadline::After(timeout)
        )
    }

    #[inline]
    fn try_lock_upgradable_until(&self, timeout: Instant) -> bool {
        timed!(
            self,
            UpgradableRead,
            WaitMode::UpgradableRead,
            Deadline::At(timeout)
        )
    }

    #[inline]
    unsafe fn try_upgrade_for(&self, timeout: Duration) -> bool {
        // SAFETY: the caller guarantees an upgradable lock is held.
        let up = unsafe { Upgrade::new(&self.inner) };
        primitive::upgrade(&self.meta, up, Some(Deadline::After(timeout)))
    }

    #[inline]
    unsafe fn try_upgrade_until(&self, timeout: Instant) -> bool {
        // SAFETY: the caller guarantees an upgradable lock is held.
        let up = unsafe { Upgrade::new(&self.inner) };
        primitive::upgrade(&self.meta, up, Some(Deadline::At(timeout)))
    }
}
