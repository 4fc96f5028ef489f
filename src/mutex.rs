use std::panic::Location;
use std::time::{Duration, Instant};

use lockgraph_core::{Class, LockKind};

use crate::raw::{self, RawMutex};

/// A mutual exclusion lock: `parking_lot::Mutex` with lock-order tracking.
///
/// Every blocking acquisition made while other locks are held records
/// "held -> this" in the lock-order graph; an acquisition that closes a cycle
/// is reported before it blocks. In release builds without the
/// `track-in-release` feature this is exactly `parking_lot`'s mutex.
///
/// The lock's *class* is where it was created ([`Mutex::new`]) or its name
/// ([`Mutex::named`]). Everything `lock_api::Mutex` offers is reachable through
/// `Deref`.
///
/// ```
/// use lockgraph::Mutex;
///
/// let counter = Mutex::new(0);
/// *counter.lock() += 1;
/// assert_eq!(counter.into_inner(), 1);
/// ```
#[repr(transparent)]
pub struct Mutex<T: ?Sized>(lock_api::Mutex<RawMutex, T>);

/// An RAII guard of a [`Mutex`]; the lock is released when it is dropped.
pub type MutexGuard<'a, T> = lock_api::MutexGuard<'a, RawMutex, T>;

/// A guard of a [`Mutex`] narrowed to part of the data by [`MutexGuard::map`].
pub type MappedMutexGuard<'a, T> = lock_api::MappedMutexGuard<'a, RawMutex, T>;

impl<T> Mutex<T> {
    /// A new unlocked mutex whose class is the caller's source location.
    #[track_caller]
    #[inline]
    pub const fn new(value: T) -> Mutex<T> {
        Mutex(lock_api::Mutex::from_raw(
            raw::mutex(LockKind::Mutex, Class::here_of::<T>()),
            value,
        ))
    }

    /// A new unlocked mutex whose class is `name`: all mutexes with one name
    /// are one class, wherever they are created.
    #[inline]
    pub const fn named(name: &'static str, value: T) -> Mutex<T> {
        Mutex(lock_api::Mutex::from_raw(
            raw::mutex(LockKind::Mutex, Class::Named(name)),
            value,
        ))
    }

    /// Consumes the mutex and returns its data.
    #[inline]
    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Acquires the mutex, blocking until it is available.
    ///
    /// With tracking on, a lock-order cycle closed by this acquisition (or a
    /// second lock of a mutex this thread holds) is reported first.
    #[track_caller]
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        raw::lock(&self.0, Location::caller())
    }

    /// Attempts to acquire the mutex without blocking. A successful `try_lock`
    /// records no edge into this lock (it never waits).
    #[track_caller]
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        raw::set_site(Location::caller());
        let g = self.0.try_lock();
        if g.is_none() {
            raw::clear_site();
        }
        g
    }

    /// Attempts to acquire the mutex, waiting at most `timeout`. It waits, so
    /// it records edges like [`lock`](Self::lock).
    #[track_caller]
    #[inline]
    pub fn try_lock_for(&self, timeout: Duration) -> Option<MutexGuard<'_, T>> {
        raw::set_site(Location::caller());
        let g = self.0.try_lock_for(timeout);
        if g.is_none() {
            raw::clear_site();
        }
        g
    }

    /// Attempts to acquire the mutex, waiting until `deadline` at most.
    #[track_caller]
    #[inline]
    pub fn try_lock_until(&self, deadline: Instant) -> Option<MutexGuard<'_, T>> {
        raw::set_site(Location::caller());
        let g = self.0.try_lock_until(deadline);
        if g.is_none() {
            raw::clear_site();
        }
        g
    }

    /// A mutable reference to the data; no locking needed.
    #[inline]
    pub fn get_mut(&mut self) -> &mut T {
        self.0.get_mut()
    }

    /// Whether the mutex is currently locked.
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.0.is_locked()
    }
}

crate::wrapper_impls!(Mutex, lock_api::Mutex<RawMutex, T>);
