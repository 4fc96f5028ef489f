use std::panic::Location;
use std::time::{Duration, Instant};

use crate::sync::RawThreadId;
use lock_api::GetThreadId as _;
use lockgraph_core::{Class, LockKind};

use crate::raw::{self, RawMutex};

/// A mutex the owning thread may lock again: `parking_lot::ReentrantMutex`
/// with lock-order tracking.
///
/// Only the first acquisition by a thread takes the inner lock, so re-entry
/// records nothing and is never reported; the first acquisition is tracked
/// like a [`Mutex`](crate::Mutex).
///
/// ```
/// use lockgraph::ReentrantMutex;
///
/// let m = ReentrantMutex::new(5);
/// let a = m.lock();
/// let b = m.lock(); // same thread: fine
/// assert_eq!(*a + *b, 10);
/// ```
#[repr(transparent)]
pub struct ReentrantMutex<T: ?Sized>(lock_api::ReentrantMutex<RawMutex, RawThreadId, T>);

/// An RAII guard of a [`ReentrantMutex`] (shared access only).
pub type ReentrantMutexGuard<'a, T> = lock_api::ReentrantMutexGuard<'a, RawMutex, RawThreadId, T>;
/// A guard of a [`ReentrantMutex`] narrowed by `map`.
pub type MappedReentrantMutexGuard<'a, T> =
    lock_api::MappedReentrantMutexGuard<'a, RawMutex, RawThreadId, T>;

impl<T> ReentrantMutex<T> {
    /// A new unlocked reentrant mutex whose class is the caller's location.
    #[track_caller]
    #[inline]
    pub const fn new(value: T) -> ReentrantMutex<T> {
        ReentrantMutex(lock_api::ReentrantMutex::from_raw(
            raw::mutex(LockKind::ReentrantMutex, Class::here_of::<T>()),
            RawThreadId::INIT,
            value,
        ))
    }

    /// A new unlocked reentrant mutex whose class is `name`.
    #[inline]
    pub const fn named(name: &'static str, value: T) -> ReentrantMutex<T> {
        ReentrantMutex(lock_api::ReentrantMutex::from_raw(
            raw::mutex(LockKind::ReentrantMutex, Class::Named(name)),
            RawThreadId::INIT,
            value,
        ))
    }

    /// Consumes the mutex and returns its data.
    #[inline]
    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

impl<T: ?Sized> ReentrantMutex<T> {
    /// Acquires the mutex, blocking unless this thread already owns it.
    #[track_caller]
    #[inline]
    pub fn lock(&self) -> ReentrantMutexGuard<'_, T> {
        raw::set_site(Location::caller());
        let g = self.0.lock();
        raw::clear_site();
        g
    }

    /// Attempts to acquire the mutex without blocking.
    #[track_caller]
    #[inline]
    pub fn try_lock(&self) -> Option<ReentrantMutexGuard<'_, T>> {
        raw::set_site(Location::caller());
        let g = self.0.try_lock();
        raw::clear_site();
        g
    }

    /// Attempts to acquire the mutex, waiting at most `timeout`.
    #[track_caller]
    #[inline]
    pub fn try_lock_for(&self, timeout: Duration) -> Option<ReentrantMutexGuard<'_, T>> {
        raw::set_site(Location::caller());
        let g = self.0.try_lock_for(timeout);
        raw::clear_site();
        g
    }

    /// Attempts to acquire the mutex, waiting until `deadline` at most.
    #[track_caller]
    #[inline]
    pub fn try_lock_until(&self, deadline: Instant) -> Option<ReentrantMutexGuard<'_, T>> {
        raw::set_site(Location::caller());
        let g = self.0.try_lock_until(deadline);
        raw::clear_site();
        g
    }

    /// A mutable reference to the data; no locking needed.
    #[inline]
    pub fn get_mut(&mut self) -> &mut T {
        self.0.get_mut()
    }

    /// Whether the mutex is locked by any thread.
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.0.is_locked()
    }

    /// Whether the current thread owns the mutex.
    #[inline]
    pub fn is_owned_by_current_thread(&self) -> bool {
        self.0.is_owned_by_current_thread()
    }
}

crate::wrapper_impls!(ReentrantMutex, lock_api::ReentrantMutex<RawMutex, RawThreadId, T>);
