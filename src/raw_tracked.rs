//! Tracking raw locks: parking_lot's raw locks plus a [`LockMeta`], calling
//! the core's hooks around every lock_api operation. Compiled when tracking is
//! on (debug builds, or the `track-in-release` feature).

use std::panic::Location;
use std::time::{Duration, Instant};

use lock_api::{
    RawMutex as _, RawMutexTimed as _, RawRwLock as _, RawRwLockRecursive as _,
    RawRwLockRecursiveTimed as _, RawRwLockTimed as _, RawRwLockUpgrade as _,
    RawRwLockUpgradeTimed as _,
};
use lockgraph_core::profile::{self, Access};
use lockgraph_core::watchdog::{self, WaitMode};
use lockgraph_core::{Class, Hold, LockKind, LockMeta, Request};

/// The profile's read/write split for a hold mode.
#[inline]
fn access(hold: Hold) -> Access {
    match hold {
        Hold::Exclusive => Access::Write,
        Hold::Shared => Access::Read,
    }
}

/// Records the caller's site for the raw operation that follows on this thread.
#[inline(always)]
pub(crate) fn set_site(site: &'static Location<'static>) {
    lockgraph_core::set_pending_site(site);
}

/// Forgets a site that no raw operation used (a reentrant re-lock).
#[inline(always)]
pub(crate) fn clear_site() {
    lockgraph_core::clear_pending_site();
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

/// `rwlock.read()`, recording `site` directly.
#[inline]
pub(crate) fn read<'a, T: ?Sized>(
    rwlock: &'a lock_api::RwLock<RawRwLock, T>,
    site: &'static Location<'static>,
) -> lock_api::RwLockReadGuard<'a, RawRwLock, T> {
    // SAFETY: the raw lock is only locked here; the guard made below owns it.
    let raw = unsafe { rwlock.raw() };
    raw.blocking(
        WaitMode::Read,
        Hold::Shared,
        Some(site),
        || raw.inner.try_lock_shared(),
        || raw.inner.lock_shared(),
        |d| raw.inner.try_lock_shared_for(d),
    );
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
    raw.blocking(
        WaitMode::Write,
        Hold::Exclusive,
        Some(site),
        || raw.inner.try_lock_exclusive(),
        || raw.inner.lock_exclusive(),
        |d| raw.inner.try_lock_exclusive_for(d),
    );
    // SAFETY: this thread has just acquired an exclusive lock.
    unsafe { rwlock.make_write_guard_unchecked() }
}

/// A tracked mutex of `kind` in `class`.
pub(crate) const fn mutex(kind: LockKind, class: Class) -> RawMutex {
    RawMutex {
        inner: crate::sync::RawMutex::INIT,
        meta: LockMeta::new(kind, class),
    }
}

/// A tracked fair mutex in `class`.
pub(crate) const fn fair_mutex(class: Class) -> RawFairMutex {
    RawFairMutex(mutex(LockKind::FairMutex, class))
}

/// A tracked read-write lock in `class`.
pub(crate) const fn rwlock(class: Class) -> RawRwLock {
    RawRwLock {
        inner: crate::sync::RawRwLock::INIT,
        meta: LockMeta::new(LockKind::RwLock, class),
    }
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

impl std::fmt::Debug for RawRwLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRwLock")
            .field("meta", &self.meta)
            .finish()
    }
}

/// Takes a lock that blocks: `lock` (the inner lock's own call) when every
/// optional feature is off. With a feature on, an uncontended acquisition is
/// still one `fast` (non-blocking) attempt; the watchdog and the profile
/// (which counts every acquisition, so it always goes the long way) take
/// over from there.
#[inline(always)]
fn take(
    meta: &LockMeta,
    access: Access,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
    fast: impl Fn() -> bool + Copy,
    lock: impl FnOnce(),
    timed: impl FnMut(Duration) -> bool,
) {
    if lockgraph_core::features_off() {
        lock();
    } else if profile::on() || !fast() {
        take_with_features(meta, access, mode, site, fast, lock, timed);
    }
}

/// The watchdog's and the profile's part of [`take`].
#[cold]
#[inline(never)]
fn take_with_features(
    meta: &LockMeta,
    access: Access,
    mode: WaitMode,
    site: Option<&'static Location<'static>>,
    fast: impl Fn() -> bool + Copy,
    lock: impl FnOnce(),
    timed: impl FnMut(Duration) -> bool,
) {
    if watchdog::on() {
        watchdog::take(meta, access, mode, site, fast, timed);
    } else if profile::on() {
        profile::take(meta, access, fast, lock);
    } else {
        lock();
    }
}

impl RawMutex {
    /// The tracking metadata of this lock.
    pub fn meta(&self) -> &LockMeta {
        &self.meta
    }

    /// Locks, blocking, recording `site`.
    #[inline(always)]
    fn lock_site(&self, site: Option<&'static Location<'static>>) {
        self.meta.before_wait(Request::Exclusive, site);
        take(
            &self.meta,
            Access::Write,
            WaitMode::Lock,
            site,
            || self.inner.try_lock(),
            || self.inner.lock(),
            |slice| self.inner.try_lock_for(slice),
        );
        self.meta.acquired(Hold::Exclusive, site);
    }

    /// Re-locks after a condvar wait. The caller's guard still exists, so the
    /// lock is taken even when the policy panics on a report: the panic is
    /// resumed once the guard is valid again.
    pub(crate) fn relock_after_wait(&self, site: &'static Location<'static>) {
        let report = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.meta.before_wait(Request::Exclusive, Some(site));
        }));
        if !lockgraph_core::features_off() && watchdog::on() {
            // A registered wait, like `lock` (not counted in the profile).
            watchdog::take_until(
                &self.meta,
                WaitMode::Lock,
                Some(site),
                || None,
                || self.inner.try_lock(),
                |slice| self.inner.try_lock_for(slice),
            );
        } else {
            self.inner.lock();
        }
        self.meta.acquired(Hold::Exclusive, Some(site));
        if let Err(panic) = report {
            std::panic::resume_unwind(panic);
        }
    }

    /// A timed acquisition: `untracked` (the inner lock's own timed call)
    /// unless the watchdog is on, which registers the wait once a first
    /// non-blocking attempt failed and gives up at `deadline`.
    #[inline]
    fn timed(
        &self,
        deadline: impl FnOnce() -> Option<Instant>,
        untracked: impl FnOnce(&crate::sync::RawMutex) -> bool,
    ) -> bool {
        self.meta.before_wait(Request::Exclusive, None);
        let ok = if !lockgraph_core::features_off() && watchdog::on() {
            watchdog::take_until(
                &self.meta,
                WaitMode::Lock,
                None,
                deadline,
                || self.inner.try_lock(),
                |slice| self.inner.try_lock_for(slice),
            )
        } else {
            untracked(&self.inner)
        };
        if ok {
            self.meta.acquired(Hold::Exclusive, None);
        } else {
            self.meta.abandoned();
        }
        ok
    }

    /// Unlocks for a condvar wait.
    ///
    /// # Safety
    /// The lock must be held by the current thread.
    #[inline]
    pub(crate) unsafe fn unlock_for_wait(&self) {
        self.meta.released();
        // SAFETY: the caller guarantees the lock is held by this thread.
        unsafe { self.inner.unlock() }
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
        self.lock_site(None);
    }

    #[inline]
    fn try_lock(&self) -> bool {
        let ok = self.inner.try_lock();
        if ok {
            if !lockgraph_core::features_off() && profile::on() {
                profile::took(&self.meta, Access::Write);
            }
            self.meta.acquired(Hold::Exclusive, None);
        }
        ok
    }

    #[inline(always)]
    unsafe fn unlock(&self) {
        self.meta.released();
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
        self.meta.released();
        // SAFETY: the caller guarantees the lock is held.
        unsafe { self.inner.unlock_fair() }
    }

    #[inline]
    unsafe fn bump(&self) {
        // The lock is handed to a waiting thread and taken back: it stays
        // held (its slot in the held-lock stack stays), and the re-take
        // waits while every other held lock is still held, so those locks
        // get their edges to this one, as for an upgrade.
        self.meta.before_upgrade(None);
        // SAFETY: the caller guarantees the lock is held.
        unsafe { self.inner.bump() }
    }
}

impl LockAt for RawMutex {
    #[inline(always)]
    fn lock_at(&self, site: Option<&'static Location<'static>>) {
        self.lock_site(site);
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
    /// The tracking metadata of this lock.
    pub fn meta(&self) -> &LockMeta {
        &self.0.meta
    }
}

impl LockAt for RawFairMutex {
    #[inline(always)]
    fn lock_at(&self, site: Option<&'static Location<'static>>) {
        self.0.lock_site(site);
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
        self.0.lock_site(None);
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

// SAFETY: forwarded to parking_lot's implementation; see above.
unsafe impl lock_api::RawMutexTimed for RawMutex {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    fn try_lock_for(&self, timeout: Duration) -> bool {
        self.timed(
            || Instant::now().checked_add(timeout),
            |inner| inner.try_lock_for(timeout),
        )
    }

    #[inline]
    fn try_lock_until(&self, timeout: Instant) -> bool {
        self.timed(|| Some(timeout), |inner| inner.try_lock_until(timeout))
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

impl RawRwLock {
    /// The tracking metadata of this lock.
    pub fn meta(&self) -> &LockMeta {
        &self.meta
    }

    /// The order graph's check before a blocking or timed acquisition in
    /// `mode`.
    #[inline(always)]
    fn before_wait(&self, mode: WaitMode, site: Option<&'static Location<'static>>) {
        if mode == WaitMode::UpgradableRead {
            self.meta.before_wait_upgradable(site);
        } else {
            self.meta.before_wait(mode.request(), site);
        }
    }

    /// Records the hold taken in `mode` (an upgradable read as such).
    #[inline(always)]
    fn acquired(&self, mode: WaitMode, hold: Hold, site: Option<&'static Location<'static>>) {
        if mode == WaitMode::UpgradableRead {
            self.meta.acquired_upgradable(site);
        } else {
            self.meta.acquired(hold, site);
        }
    }

    #[inline]
    fn blocking(
        &self,
        mode: WaitMode,
        hold: Hold,
        site: Option<&'static Location<'static>>,
        fast: impl Fn() -> bool + Copy,
        lock: impl FnOnce(),
        timed: impl FnMut(Duration) -> bool,
    ) {
        self.before_wait(mode, site);
        take(&self.meta, access(hold), mode, site, fast, lock, timed);
        self.acquired(mode, hold, site);
    }

    /// A timed acquisition: `untracked` (the inner lock's own timed call)
    /// unless the watchdog is on, which registers the wait once `fast`
    /// failed and blocks in `timed` slices until `deadline`.
    #[inline]
    fn timed(
        &self,
        mode: WaitMode,
        hold: Hold,
        deadline: impl FnOnce() -> Option<Instant>,
        fast: impl FnOnce() -> bool,
        timed: impl FnMut(Duration) -> bool,
        untracked: impl FnOnce() -> bool,
    ) -> bool {
        self.before_wait(mode, None);
        let ok = if !lockgraph_core::features_off() && watchdog::on() {
            watchdog::take_until(&self.meta, mode, None, deadline, fast, timed)
        } else {
            untracked()
        };
        let ok = self.tried(mode, hold, ok);
        if !ok {
            self.meta.abandoned();
        }
        ok
    }

    /// Upgrades the held upgradable read: `untracked` (the inner lock's own
    /// call) unless the watchdog is on, which registers the wait once a
    /// first `try_upgrade` failed and blocks in timed slices until
    /// `deadline` (`None`: no limit). Returns whether it upgraded.
    ///
    /// # Safety
    /// This thread must hold an upgradable read of this lock.
    #[inline]
    unsafe fn upgrading(
        &self,
        deadline: impl FnOnce() -> Option<Instant>,
        untracked: impl FnOnce() -> bool,
    ) -> bool {
        self.meta.before_upgrade(None);
        let ok = if !lockgraph_core::features_off() && watchdog::on() {
            watchdog::take_until(
                &self.meta,
                WaitMode::Upgrade,
                None,
                deadline,
                // SAFETY: the caller guarantees an upgradable read is held.
                || unsafe { self.inner.try_upgrade() },
                // SAFETY: as above; a slice that times out leaves the lock
                // upgradable-read held, as before it.
                |slice| unsafe { self.inner.try_upgrade_for(slice) },
            )
        } else {
            untracked()
        };
        if ok {
            self.meta.rehold(Hold::Exclusive);
        }
        ok
    }

    /// Records an acquisition in `mode` that succeeded (`ok`).
    #[inline]
    fn tried(&self, mode: WaitMode, hold: Hold, ok: bool) -> bool {
        if ok {
            if !lockgraph_core::features_off() && profile::on() {
                profile::took(&self.meta, access(hold));
            }
            self.acquired(mode, hold, None);
        }
        ok
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
        self.blocking(
            WaitMode::Read,
            Hold::Shared,
            None,
            || self.inner.try_lock_shared(),
            || self.inner.lock_shared(),
            |d| self.inner.try_lock_shared_for(d),
        );
    }

    #[inline]
    fn try_lock_shared(&self) -> bool {
        self.tried(WaitMode::Read, Hold::Shared, self.inner.try_lock_shared())
    }

    #[inline]
    unsafe fn unlock_shared(&self) {
        self.meta.released_read();
        // SAFETY: the caller guarantees a shared lock is held.
        unsafe { self.inner.unlock_shared() }
    }

    #[inline]
    fn lock_exclusive(&self) {
        self.blocking(
            WaitMode::Write,
            Hold::Exclusive,
            None,
            || self.inner.try_lock_exclusive(),
            || self.inner.lock_exclusive(),
            |d| self.inner.try_lock_exclusive_for(d),
        );
    }

    #[inline]
    fn try_lock_exclusive(&self) -> bool {
        self.tried(
            WaitMode::Write,
            Hold::Exclusive,
            self.inner.try_lock_exclusive(),
        )
    }

    #[inline]
    unsafe fn unlock_exclusive(&self) {
        self.meta.released();
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
        self.meta.released_read();
        // SAFETY: the caller guarantees a shared lock is held.
        unsafe { self.inner.unlock_shared_fair() }
    }

    #[inline]
    unsafe fn unlock_exclusive_fair(&self) {
        self.meta.released();
        // SAFETY: the caller guarantees an exclusive lock is held.
        unsafe { self.inner.unlock_exclusive_fair() }
    }

    #[inline]
    unsafe fn bump_shared(&self) {
        // parking_lot takes a bumped read back as a recursive read, which no
        // queued writer can block behind: no edge to record.
        // SAFETY: the caller guarantees a shared lock is held.
        unsafe { self.inner.bump_shared() }
    }

    #[inline]
    unsafe fn bump_exclusive(&self) {
        // Handed over and taken back while every other lock stays held: as
        // the mutex's `bump`.
        self.meta.before_upgrade(None);
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

// SAFETY: forwarded to parking_lot's implementation; see above.
unsafe impl lock_api::RawRwLockTimed for RawRwLock {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    fn try_lock_shared_for(&self, timeout: Duration) -> bool {
        self.timed(
            WaitMode::Read,
            Hold::Shared,
            || Instant::now().checked_add(timeout),
            || self.inner.try_lock_shared(),
            |slice| self.inner.try_lock_shared_for(slice),
            || self.inner.try_lock_shared_for(timeout),
        )
    }

    #[inline]
    fn try_lock_shared_until(&self, timeout: Instant) -> bool {
        self.timed(
            WaitMode::Read,
            Hold::Shared,
            || Some(timeout),
            || self.inner.try_lock_shared(),
            |slice| self.inner.try_lock_shared_for(slice),
            || self.inner.try_lock_shared_until(timeout),
        )
    }

    #[inline]
    fn try_lock_exclusive_for(&self, timeout: Duration) -> bool {
        self.timed(
            WaitMode::Write,
            Hold::Exclusive,
            || Instant::now().checked_add(timeout),
            || self.inner.try_lock_exclusive(),
            |slice| self.inner.try_lock_exclusive_for(slice),
            || self.inner.try_lock_exclusive_for(timeout),
        )
    }

    #[inline]
    fn try_lock_exclusive_until(&self, timeout: Instant) -> bool {
        self.timed(
            WaitMode::Write,
            Hold::Exclusive,
            || Some(timeout),
            || self.inner.try_lock_exclusive(),
            |slice| self.inner.try_lock_exclusive_for(slice),
            || self.inner.try_lock_exclusive_until(timeout),
        )
    }
}

// SAFETY: forwarded to parking_lot's implementation; see above.
unsafe impl lock_api::RawRwLockRecursive for RawRwLock {
    #[inline]
    fn lock_shared_recursive(&self) {
        self.blocking(
            WaitMode::RecursiveRead,
            Hold::Shared,
            None,
            || self.inner.try_lock_shared_recursive(),
            || self.inner.lock_shared_recursive(),
            |d| self.inner.try_lock_shared_recursive_for(d),
        );
    }

    #[inline]
    fn try_lock_shared_recursive(&self) -> bool {
        self.tried(
            WaitMode::RecursiveRead,
            Hold::Shared,
            self.inner.try_lock_shared_recursive(),
        )
    }
}

// SAFETY: forwarded to parking_lot's implementation; see above.
unsafe impl lock_api::RawRwLockRecursiveTimed for RawRwLock {
    #[inline]
    fn try_lock_shared_recursive_for(&self, timeout: Duration) -> bool {
        self.timed(
            WaitMode::RecursiveRead,
            Hold::Shared,
            || Instant::now().checked_add(timeout),
            || self.inner.try_lock_shared_recursive(),
            |slice| self.inner.try_lock_shared_recursive_for(slice),
            || self.inner.try_lock_shared_recursive_for(timeout),
        )
    }

    #[inline]
    fn try_lock_shared_recursive_until(&self, timeout: Instant) -> bool {
        self.timed(
            WaitMode::RecursiveRead,
            Hold::Shared,
            || Some(timeout),
            || self.inner.try_lock_shared_recursive(),
            |slice| self.inner.try_lock_shared_recursive_for(slice),
            || self.inner.try_lock_shared_recursive_until(timeout),
        )
    }
}

// SAFETY: forwarded to parking_lot's implementation; see above.
unsafe impl lock_api::RawRwLockUpgrade for RawRwLock {
    #[inline]
    fn lock_upgradable(&self) {
        self.blocking(
            WaitMode::UpgradableRead,
            Hold::Shared,
            None,
            || self.inner.try_lock_upgradable(),
            || self.inner.lock_upgradable(),
            |d| self.inner.try_lock_upgradable_for(d),
        );
    }

    #[inline]
    fn try_lock_upgradable(&self) -> bool {
        self.tried(
            WaitMode::UpgradableRead,
            Hold::Shared,
            self.inner.try_lock_upgradable(),
        )
    }

    #[inline]
    unsafe fn unlock_upgradable(&self) {
        self.meta.released_upgradable();
        // SAFETY: the caller guarantees an upgradable lock is held.
        unsafe { self.inner.unlock_upgradable() }
    }

    #[inline]
    unsafe fn upgrade(&self) {
        // SAFETY: the caller guarantees an upgradable lock is held.
        let ok = unsafe {
            self.upgrading(
                || None,
                || {
                    self.inner.upgrade();
                    true
                },
            )
        };
        debug_assert!(ok, "an upgrade without a deadline always upgrades");
    }

    #[inline]
    unsafe fn try_upgrade(&self) -> bool {
        // SAFETY: the caller guarantees an upgradable lock is held.
        let ok = unsafe { self.inner.try_upgrade() };
        if ok {
            self.meta.rehold(Hold::Exclusive);
        }
        ok
    }
}

// SAFETY: forwarded to parking_lot's implementation; see above.
unsafe impl lock_api::RawRwLockUpgradeFair for RawRwLock {
    #[inline]
    unsafe fn unlock_upgradable_fair(&self) {
        self.meta.released_upgradable();
        // SAFETY: the caller guarantees an upgradable lock is held.
        unsafe { self.inner.unlock_upgradable_fair() }
    }

    #[inline]
    unsafe fn bump_upgradable(&self) {
        // Taken back as an upgradable read, which excludes writers and other
        // upgraders: edges from the other held locks, as the mutex's `bump`.
        self.meta.before_upgrade(None);
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
        self.timed(
            WaitMode::UpgradableRead,
            Hold::Shared,
            || Instant::now().checked_add(timeout),
            || self.inner.try_lock_upgradable(),
            |slice| self.inner.try_lock_upgradable_for(slice),
            || self.inner.try_lock_upgradable_for(timeout),
        )
    }

    #[inline]
    fn try_lock_upgradable_until(&self, timeout: Instant) -> bool {
        self.timed(
            WaitMode::UpgradableRead,
            Hold::Shared,
            || Some(timeout),
            || self.inner.try_lock_upgradable(),
            |slice| self.inner.try_lock_upgradable_for(slice),
            || self.inner.try_lock_upgradable_until(timeout),
        )
    }

    #[inline]
    unsafe fn try_upgrade_for(&self, timeout: Duration) -> bool {
        // SAFETY: the caller guarantees an upgradable lock is held.
        unsafe {
            self.upgrading(
                || Instant::now().checked_add(timeout),
                || self.inner.try_upgrade_for(timeout),
            )
        }
    }

    #[inline]
    unsafe fn try_upgrade_until(&self, timeout: Instant) -> bool {
        // SAFETY: the caller guarantees an upgradable lock is held.
        unsafe { self.upgrading(|| Some(timeout), || self.inner.try_upgrade_until(timeout)) }
    }
}
