//! A condition variable for tracked mutexes (tracking builds only; release
//! builds use `parking_lot::Condvar` itself).

use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lockgraph_core::__private::primitive;
use lockgraph_core::{Class, LockKind, LockMeta};

use crate::raw::RawMutex;
use crate::sync::{Parked, WaitQueue};
use crate::MutexGuard;

/// Whether a timed wait returned because the time ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// Whether the wait timed out.
    #[inline]
    pub fn timed_out(self) -> bool {
        self.0
    }
}

/// A condition variable: `parking_lot::Condvar`'s API, tracked as a
/// pseudo-lock.
///
/// Waiting while holding locks other than the guard's own mutex records
/// "held -> condvar"; notifying while holding a lock L records
/// "condvar -> L" (the waiter needs the notifier to get that far). So
/// "wait on cv holding A" plus "take A, then notify cv" is reported.
///
/// ```
/// use std::sync::Arc;
/// use lockgraph::{Condvar, Mutex};
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let pair2 = Arc::clone(&pair);
/// let t = std::thread::spawn(move || {
///     let (lock, cv) = &*pair2;
///     *lock.lock() = true;
///     cv.notify_one();
/// });
/// let (lock, cv) = &*pair;
/// let mut ready = lock.lock();
/// cv.wait_while(&mut ready, |ready| !*ready);
/// drop(ready);
/// t.join().unwrap();
/// ```
///
/// Like parking_lot's, a condvar waits with one mutex at a time: a wait with
/// another mutex while threads wait with the first panics ("attempted to use
/// a condition variable with more than one mutex") instead of sleeping.
pub struct Condvar {
    /// The address of the raw mutex of the threads waiting now (0: none).
    mutex: AtomicUsize,
    meta: LockMeta,
    queue: WaitQueue,
}

impl Condvar {
    /// A new condition variable whose class is the caller's location.
    #[track_caller]
    #[inline]
    pub const fn new() -> Condvar {
        Condvar {
            mutex: AtomicUsize::new(0),
            meta: LockMeta::new(LockKind::Condvar, Class::here()),
            queue: WaitQueue::new(),
        }
    }

    /// A new condition variable whose class is `name`.
    #[inline]
    pub const fn named(name: &'static str) -> Condvar {
        Condvar {
            mutex: AtomicUsize::new(0),
            meta: LockMeta::new(LockKind::Condvar, Class::Named(name)),
            queue: WaitQueue::new(),
        }
    }

    /// Wakes one waiting thread; returns whether one was woken.
    #[track_caller]
    #[inline]
    pub fn notify_one(&self) -> bool {
        self.meta.notified(Some(Location::caller()));
        if self.mutex.load(Ordering::Relaxed) == 0 {
            return false;
        }
        // SAFETY: the callback only stores to an atomic.
        unsafe {
            self.queue.unpark_one(self.key(), |more| {
                if !more {
                    self.mutex.store(0, Ordering::Relaxed);
                }
            })
        }
    }

    /// Wakes every waiting thread; returns how many were woken.
    #[track_caller]
    #[inline]
    pub fn notify_all(&self) -> usize {
        self.meta.notified(Some(Location::caller()));
        if self.mutex.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        // SAFETY: the callback only stores to an atomic.
        unsafe {
            self.queue
                .unpark_all(self.key(), || self.mutex.store(0, Ordering::Relaxed))
        }
    }

    /// Blocks until notified, releasing the guard's mutex meanwhile.
    #[track_caller]
    pub fn wait<T: ?Sized>(&self, guard: &mut MutexGuard<'_, T>) {
        self.wait_at(guard, None, Location::caller());
    }

    /// Blocks until notified or `deadline` passes.
    #[track_caller]
    pub fn wait_until<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        deadline: Instant,
    ) -> WaitTimeoutResult {
        WaitTimeoutResult(self.wait_at(guard, Some(deadline), Location::caller()))
    }

    /// Blocks until notified or `timeout` elapses.
    #[track_caller]
    pub fn wait_for<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        let deadline = Instant::now().checked_add(timeout);
        WaitTimeoutResult(self.wait_at(guard, deadline, Location::caller()))
    }

    /// Blocks while `condition` returns true.
    #[track_caller]
    pub fn wait_while<T, F>(&self, guard: &mut MutexGuard<'_, T>, mut condition: F)
    where
        T: ?Sized,
        F: FnMut(&mut T) -> bool,
    {
        let site = Location::caller();
        while condition(&mut *guard) {
            self.wait_at(guard, None, site);
        }
    }

    /// Blocks while `condition` returns true, until `deadline` at most.
    /// As in parking_lot, the condition is not checked again once the time
    /// ran out: the result says whether it did.
    #[track_caller]
    pub fn wait_while_until<T, F>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        mut condition: F,
        deadline: Instant,
    ) -> WaitTimeoutResult
    where
        T: ?Sized,
        F: FnMut(&mut T) -> bool,
    {
        let site = Location::caller();
        let mut timed_out = false;
        while !timed_out && condition(&mut *guard) {
            timed_out = self.wait_at(guard, Some(deadline), site);
        }
        WaitTimeoutResult(timed_out)
    }

    /// Blocks while `condition` returns true, for `timeout` at most.
    #[track_caller]
    pub fn wait_while_for<T, F>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        condition: F,
        timeout: Duration,
    ) -> WaitTimeoutResult
    where
        T: ?Sized,
        F: FnMut(&mut T) -> bool,
    {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.wait_while_until(guard, condition, deadline),
            None => {
                self.wait_while(guard, condition);
                WaitTimeoutResult(false)
            }
        }
    }

    fn key(&self) -> usize {
        self as *const Condvar as usize
    }

    /// Waits; returns whether the deadline passed. Panics, with the guard
    /// still held, when other threads wait on this condvar with another
    /// mutex.
    fn wait_at<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        deadline: Option<Instant>,
        site: &'static Location<'static>,
    ) -> bool {
        // SAFETY: we only use the raw lock to unlock and re-lock it around the
        // wait, and the guard proves this thread holds it.
        let raw: &RawMutex = unsafe { MutexGuard::mutex(guard).raw() };
        let addr = raw as *const RawMutex as usize;
        let park = || {
            // SAFETY: the callbacks neither panic nor park: `validate` and
            // `timed_out` touch an atomic, `before_sleep` only unlocks the
            // mutex (which may unpark its waiters, as allowed) and pops our
            // held-lock stack.
            unsafe {
                self.queue.park(
                    self.key(),
                    // Under the queue's lock, so a notifier cannot clear the
                    // mutex in between: one mutex for all waiters.
                    || match self.mutex.load(Ordering::Relaxed) {
                        0 => {
                            self.mutex.store(addr, Ordering::Relaxed);
                            true
                        }
                        m => m == addr,
                    },
                    // SAFETY: the guard proves the mutex is held by this thread.
                    || raw.unlock_for_wait(),
                    |last| {
                        if last {
                            self.mutex.store(0, Ordering::Relaxed);
                        }
                    },
                    deadline,
                )
            }
        };
        // The core's wait protocol: the edges into the condvar, the
        // watchdog's registration (one park, not slices: a notification
        // between two parks would be lost).
        let parked = primitive::wait(&self.meta, raw.meta(), site, deadline, park);
        if parked == Parked::Invalid {
            // The mutex was never released: the guard unlocks it on unwind.
            panic!("attempted to use a condition variable with more than one mutex");
        }
        raw.relock_after_wait(site);
        parked == Parked::TimedOut
    }
}

impl Default for Condvar {
    #[track_caller]
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Condvar { .. }")
    }
}
