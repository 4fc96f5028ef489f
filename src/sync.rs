//! Every synchronisation primitive the facade's locks are built on, in one
//! place: parking_lot's raw locks, parking and thread ids in normal builds;
//! under `--cfg loom` (see `docs/loom.md`), raw locks made of loom's `Mutex`
//! and `Condvar`, so that loom explores every interleaving of code written
//! against lockgraph's locks (loom has no parking_lot).

#[cfg(not(loom))]
pub use parking_lot::RawThreadId;
#[cfg(not(loom))]
pub(crate) use parking_lot::{RawMutex, RawRwLock};

#[cfg(loom)]
pub use self::loom_impl::RawThreadId;
#[cfg(loom)]
pub(crate) use self::loom_impl::{RawMutex, RawRwLock};

/// How a park on a [`WaitQueue`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Parked {
    /// Woken by an unpark.
    Unparked,
    /// The deadline passed.
    TimedOut,
    /// `validate` said no: the thread never slept (nor ran `before_sleep`).
    Invalid,
}

/// The queue a tracked condvar parks its waiters on.
#[cfg(not(loom))]
pub(crate) struct WaitQueue;

#[cfg(not(loom))]
impl WaitQueue {
    pub(crate) const fn new() -> WaitQueue {
        WaitQueue
    }

    /// Parks the calling thread on `key`: under the queue's lock, `validate`
    /// decides whether to sleep at all; then the thread is queued and
    /// `before_sleep` runs. `timed_out` runs (under the queue's lock) when
    /// the deadline passed, told whether this was the last thread queued.
    ///
    /// # Safety
    /// As `parking_lot_core::park`: the callbacks must not panic or call
    /// into parking_lot's parking.
    pub(crate) unsafe fn park(
        &self,
        key: usize,
        validate: impl FnOnce() -> bool,
        before_sleep: impl FnOnce(),
        timed_out: impl FnOnce(bool),
        deadline: Option<std::time::Instant>,
    ) -> Parked {
        use parking_lot_core::{ParkResult, DEFAULT_PARK_TOKEN};
        // SAFETY: the caller vouches for the callbacks.
        let r = unsafe {
            parking_lot_core::park(
                key,
                validate,
                before_sleep,
                |_, last| timed_out(last),
                DEFAULT_PARK_TOKEN,
                deadline,
            )
        };
        match r {
            ParkResult::Unparked(_) => Parked::Unparked,
            ParkResult::TimedOut => Parked::TimedOut,
            ParkResult::Invalid => Parked::Invalid,
        }
    }

    /// Wakes one thread parked on `key`; returns whether there was one.
    /// `then` runs under the queue's lock, told whether threads remain.
    ///
    /// # Safety
    /// `then` must not panic or call into parking_lot's parking.
    pub(crate) unsafe fn unpark_one(&self, key: usize, then: impl FnOnce(bool)) -> bool {
        // SAFETY: the callback only runs `then` (the caller's contract).
        let r = unsafe {
            parking_lot_core::unpark_one(key, |r| {
                then(r.have_more_threads);
                parking_lot_core::DEFAULT_UNPARK_TOKEN
            })
        };
        r.unparked_threads != 0
    }

    /// Wakes every thread parked on `key`; returns how many. `then` runs
    /// under the queue's lock once they are off the queue.
    ///
    /// # Safety
    /// `then` must not panic or call into parking_lot's parking.
    pub(crate) unsafe fn unpark_all(&self, key: usize, then: impl FnOnce()) -> usize {
        use parking_lot_core::{FilterOp, DEFAULT_UNPARK_TOKEN};
        // SAFETY: the filter and the callback neither panic nor park (the
        // caller's contract for `then`).
        let r = unsafe {
            parking_lot_core::unpark_filter(
                key,
                |_| FilterOp::Unpark,
                |_| {
                    then();
                    DEFAULT_UNPARK_TOKEN
                },
            )
        };
        r.unparked_threads
    }
}

#[cfg(loom)]
pub(crate) use self::loom_impl::WaitQueue;

#[cfg(loom)]
mod loom_impl {
    //! Raw locks on loom's `Mutex` + `Condvar`. loom's primitives cannot be
    //! made in a `const` (lock_api's `INIT`), so each lock makes its loom
    //! objects on first use, inside the model execution that uses it.
    //!
    //! The read-write lock lets readers in while a writer waits, so loom
    //! never sees the "second `read()` queues behind a writer" deadlock:
    //! lockgraph still reports it (a recursive `read()`), loom cannot model it.
    //! Timed acquisitions try once and time out otherwise (loom has no time).

    use std::num::NonZeroUsize;
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    use loom::sync::{Condvar, Mutex, MutexGuard};

    #[derive(Default)]
    struct State {
        readers: usize,
        writer: bool,
        upgradable: bool,
    }

    struct Inner {
        state: Mutex<State>,
        cv: Condvar,
    }

    /// A read-write lock (with upgradable reads) on loom's primitives.
    pub struct RawRwLock {
        inner: OnceLock<Inner>,
    }

    impl RawRwLock {
        fn inner(&self) -> &Inner {
            self.inner.get_or_init(|| Inner {
                state: Mutex::new(State::default()),
                cv: Condvar::new(),
            })
        }

        fn state(&self) -> MutexGuard<'_, State> {
            self.inner().state.lock().unwrap()
        }

        fn acquire(&self, ready: impl Fn(&State) -> bool, take: impl FnOnce(&mut State)) {
            let inner = self.inner();
            let mut s = inner.state.lock().unwrap();
            while !ready(&s) {
                s = inner.cv.wait(s).unwrap();
            }
            take(&mut s);
        }

        fn try_acquire(
            &self,
            ready: impl Fn(&State) -> bool,
            take: impl FnOnce(&mut State),
        ) -> bool {
            let mut s = self.state();
            let ok = ready(&s);
            if ok {
                take(&mut s);
            }
            ok
        }

        fn release(&self, f: impl FnOnce(&mut State)) {
            let inner = self.inner();
            f(&mut inner.state.lock().unwrap());
            inner.cv.notify_all();
        }
    }

    fn can_read(s: &State) -> bool {
        !s.writer
    }
    fn can_write(s: &State) -> bool {
        !s.writer && !s.upgradable && s.readers == 0
    }
    fn can_upgradable(s: &State) -> bool {
        !s.writer && !s.upgradable
    }
    fn can_upgrade(s: &State) -> bool {
        s.readers == 0
    }
    fn read(s: &mut State) {
        s.readers += 1;
    }
    fn write(s: &mut State) {
        s.writer = true;
    }
    fn upgradable(s: &mut State) {
        s.upgradable = true;
    }
    fn upgrade(s: &mut State) {
        s.upgradable = false;
        s.writer = true;
    }

    // SAFETY: the state behind loom's mutex grants shared holds only while no
    // writer holds, and an exclusive hold only with no other hold.
    unsafe impl lock_api::RawRwLock for RawRwLock {
        #[allow(clippy::declare_interior_mutable_const)]
        const INIT: RawRwLock = RawRwLock {
            inner: OnceLock::new(),
        };
        type GuardMarker = lock_api::GuardNoSend;

        fn lock_shared(&self) {
            self.acquire(can_read, read);
        }
        fn try_lock_shared(&self) -> bool {
            self.try_acquire(can_read, read)
        }
        unsafe fn unlock_shared(&self) {
            self.release(|s| s.readers -= 1);
        }
        fn lock_exclusive(&self) {
            self.acquire(can_write, write);
        }
        fn try_lock_exclusive(&self) -> bool {
            self.try_acquire(can_write, write)
        }
        unsafe fn unlock_exclusive(&self) {
            self.release(|s| s.writer = false);
        }
        fn is_locked(&self) -> bool {
            let s = self.state();
            s.writer || s.upgradable || s.readers > 0
        }
        fn is_locked_exclusive(&self) -> bool {
            self.state().writer
        }
    }

    // SAFETY: as the plain unlocks.
    unsafe impl lock_api::RawRwLockFair for RawRwLock {
        unsafe fn unlock_shared_fair(&self) {
            // SAFETY: forwarded; same contract.
            unsafe { lock_api::RawRwLock::unlock_shared(self) }
        }
        unsafe fn unlock_exclusive_fair(&self) {
            // SAFETY: forwarded; same contract.
            unsafe { lock_api::RawRwLock::unlock_exclusive(self) }
        }
    }

    // SAFETY: the exclusive hold becomes one shared hold atomically.
    unsafe impl lock_api::RawRwLockDowngrade for RawRwLock {
        unsafe fn downgrade(&self) {
            self.release(|s| {
                s.writer = false;
                s.readers += 1;
            });
        }
    }

    // SAFETY: a timed attempt that does not get the lock at once times out.
    unsafe impl lock_api::RawRwLockTimed for RawRwLock {
        type Duration = Duration;
        type Instant = Instant;

        fn try_lock_shared_for(&self, _: Duration) -> bool {
            self.try_acquire(can_read, read)
        }
        fn try_lock_shared_until(&self, _: Instant) -> bool {
            self.try_acquire(can_read, read)
        }
        fn try_lock_exclusive_for(&self, _: Duration) -> bool {
            self.try_acquire(can_write, write)
        }
        fn try_lock_exclusive_until(&self, _: Instant) -> bool {
            self.try_acquire(can_write, write)
        }
    }

    // SAFETY: readers never wait for a waiting writer, so recursion is safe.
    unsafe impl lock_api::RawRwLockRecursive for RawRwLock {
        fn lock_shared_recursive(&self) {
            self.acquire(can_read, read);
        }
        fn try_lock_shared_recursive(&self) -> bool {
            self.try_acquire(can_read, read)
        }
    }

    // SAFETY: as the timed attempts above.
    unsafe impl lock_api::RawRwLockRecursiveTimed for RawRwLock {
        fn try_lock_shared_recursive_for(&self, _: Duration) -> bool {
            self.try_acquire(can_read, read)
        }
        fn try_lock_shared_recursive_until(&self, _: Instant) -> bool {
            self.try_acquire(can_read, read)
        }
    }

    // SAFETY: one upgradable hold at a time, beside readers, never beside a
    // writer; upgrading waits for the readers to leave.
    unsafe impl lock_api::RawRwLockUpgrade for RawRwLock {
        fn lock_upgradable(&self) {
            self.acquire(can_upgradable, upgradable);
        }
        fn try_lock_upgradable(&self) -> bool {
            self.try_acquire(can_upgradable, upgradable)
        }
        unsafe fn unlock_upgradable(&self) {
            self.release(|s| s.upgradable = false);
        }
        unsafe fn upgrade(&self) {
            self.acquire(can_upgrade, upgrade);
        }
        unsafe fn try_upgrade(&self) -> bool {
            self.try_acquire(can_upgrade, upgrade)
        }
    }

    // SAFETY: as the plain unlock.
    unsafe impl lock_api::RawRwLockUpgradeFair for RawRwLock {
        unsafe fn unlock_upgradable_fair(&self) {
            // SAFETY: forwarded; same contract.
            unsafe { lock_api::RawRwLockUpgrade::unlock_upgradable(self) }
        }
    }

    // SAFETY: each transition is one step under loom's mutex.
    unsafe impl lock_api::RawRwLockUpgradeDowngrade for RawRwLock {
        unsafe fn downgrade_upgradable(&self) {
            self.release(|s| {
                s.upgradable = false;
                s.readers += 1;
            });
        }
        unsafe fn downgrade_to_upgradable(&self) {
            self.release(|s| {
                s.writer = false;
                s.upgradable = true;
            });
        }
    }

    // SAFETY: as the timed attempts above.
    unsafe impl lock_api::RawRwLockUpgradeTimed for RawRwLock {
        fn try_lock_upgradable_for(&self, _: Duration) -> bool {
            self.try_acquire(can_upgradable, upgradable)
        }
        fn try_lock_upgradable_until(&self, _: Instant) -> bool {
            self.try_acquire(can_upgradable, upgradable)
        }
        unsafe fn try_upgrade_for(&self, _: Duration) -> bool {
            self.try_acquire(can_upgrade, upgrade)
        }
        unsafe fn try_upgrade_until(&self, _: Instant) -> bool {
            self.try_acquire(can_upgrade, upgrade)
        }
    }

    /// A mutex on loom's primitives: the exclusive side of [`RawRwLock`].
    pub struct RawMutex {
        rw: RawRwLock,
    }

    // SAFETY: forwarded to the exclusive side of the read-write lock.
    unsafe impl lock_api::RawMutex for RawMutex {
        #[allow(clippy::declare_interior_mutable_const)]
        const INIT: RawMutex = RawMutex {
            rw: <RawRwLock as lock_api::RawRwLock>::INIT,
        };
        type GuardMarker = lock_api::GuardNoSend;

        fn lock(&self) {
            self.rw.acquire(can_write, write);
        }
        fn try_lock(&self) -> bool {
            self.rw.try_acquire(can_write, write)
        }
        unsafe fn unlock(&self) {
            self.rw.release(|s| s.writer = false);
        }
        fn is_locked(&self) -> bool {
            self.rw.state().writer
        }
    }

    // SAFETY: as the plain unlock.
    unsafe impl lock_api::RawMutexFair for RawMutex {
        unsafe fn unlock_fair(&self) {
            // SAFETY: forwarded; same contract.
            unsafe { lock_api::RawMutex::unlock(self) }
        }
    }

    // SAFETY: a timed attempt that does not get the lock at once times out.
    unsafe impl lock_api::RawMutexTimed for RawMutex {
        type Duration = Duration;
        type Instant = Instant;

        fn try_lock_for(&self, _: Duration) -> bool {
            self.rw.try_acquire(can_write, write)
        }
        fn try_lock_until(&self, _: Instant) -> bool {
            self.rw.try_acquire(can_write, write)
        }
    }

    loom::thread_local! {
        static THREAD_TAG: u8 = 0;
    }

    /// Thread ids for the reentrant mutex: one per loom thread (they all run
    /// on one OS thread, so parking_lot's id would be shared).
    pub struct RawThreadId;

    // SAFETY: each loom thread has its own boxed thread-local, alive (and so
    // at a unique address) while the thread runs.
    unsafe impl lock_api::GetThreadId for RawThreadId {
        const INIT: RawThreadId = RawThreadId;

        fn nonzero_thread_id(&self) -> NonZeroUsize {
            THREAD_TAG.with(|t| NonZeroUsize::new(t as *const u8 as usize).expect("non-null"))
        }
    }

    /// A condvar's waiters: a loom mutex (held while the caller's mutex is
    /// released, so a notifier cannot slip in between) and a loom condvar.
    pub struct WaitQueue {
        inner: OnceLock<(Mutex<usize>, Condvar)>,
    }

    impl WaitQueue {
        pub(crate) const fn new() -> WaitQueue {
            WaitQueue {
                inner: OnceLock::new(),
            }
        }

        fn inner(&self) -> &(Mutex<usize>, Condvar) {
            self.inner.get_or_init(|| (Mutex::new(0), Condvar::new()))
        }

        /// Waits on the queue after `before_sleep` (unless `validate`
        /// says no); a timed wait (loom has no time) gives other threads
        /// one chance to run and times out.
        ///
        /// # Safety
        /// None beyond the normal build's contract; `unsafe` for symmetry.
        pub(crate) unsafe fn park(
            &self,
            _key: usize,
            validate: impl FnOnce() -> bool,
            before_sleep: impl FnOnce(),
            timed_out: impl FnOnce(bool),
            deadline: Option<Instant>,
        ) -> super::Parked {
            let (m, cv) = self.inner();
            let mut waiting = m.lock().unwrap();
            if !validate() {
                return super::Parked::Invalid;
            }
            before_sleep();
            if deadline.is_some() {
                timed_out(*waiting == 0);
                drop(waiting);
                loom::thread::yield_now();
                return super::Parked::TimedOut;
            }
            *waiting += 1;
            // The notifier takes this thread off the count.
            drop(cv.wait(waiting).unwrap());
            super::Parked::Unparked
        }

        /// # Safety
        /// None; `unsafe` for symmetry.
        pub(crate) unsafe fn unpark_one(&self, _key: usize, then: impl FnOnce(bool)) -> bool {
            let (m, cv) = self.inner();
            let mut waiting = m.lock().unwrap();
            let woke = *waiting > 0;
            if woke {
                *waiting -= 1;
                cv.notify_one();
            }
            then(*waiting > 0);
            woke
        }

        /// # Safety
        /// None; `unsafe` for symmetry.
        pub(crate) unsafe fn unpark_all(&self, _key: usize, then: impl FnOnce()) -> usize {
            let (m, cv) = self.inner();
            let mut waiting = m.lock().unwrap();
            let n = std::mem::take(&mut *waiting);
            cv.notify_all();
            then();
            n
        }
    }
}
