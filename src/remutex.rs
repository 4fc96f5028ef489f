use std::panic::Location;
use std::time::{Duration, Instant};

pub use crate::sync::RawThreadId;
#[cfg(feature = "arc_lock")]
use lock_api::ArcReentrantMutexGuard;
use lock_api::GetThreadId as _;
use lockgraph_core::{Class, LockKind};
#[cfg(feature = "arc_lock")]
use std::sync::Arc;

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

    /// A new reentrant mutex from a raw lock and thread-id source, as
    /// `lock_api::ReentrantMutex::const_new`; the class is the raw lock's own
    /// (`INIT`: an anonymous class, see
    /// [`Mutex::const_new`](crate::Mutex::const_new)).
    #[inline]
    pub const fn const_new(
        raw: RawMutex,
        get_thread_id: RawThreadId,
        value: T,
    ) -> ReentrantMutex<T> {
        ReentrantMutex(lock_api::ReentrantMutex::from_raw(
            raw,
            get_thread_id,
            value,
        ))
    }

    /// [`const_new`](Self::const_new) under lock_api's newer name.
    #[inline]
    pub const fn from_raw(
        raw: RawMutex,
        get_thread_id: RawThreadId,
        value: T,
    ) -> ReentrantMutex<T> {
        Self::const_new(raw, get_thread_id, value)
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

    /// This crate's lock around lock_api's, as
    /// [`Mutex::from_lock_api`](crate::Mutex::from_lock_api): what
    /// `ReentrantMutexGuard::remutex(&guard)` returns is the lock_api lock
    /// inside.
    #[inline]
    pub fn from_lock_api(
        inner: &lock_api::ReentrantMutex<RawMutex, RawThreadId, T>,
    ) -> &ReentrantMutex<T> {
        let p = inner as *const lock_api::ReentrantMutex<RawMutex, RawThreadId, T>
            as *const ReentrantMutex<T>;
        // SAFETY: `repr(transparent)` over the lock_api lock: a valid `&Self`
        // for the same lifetime.
        unsafe { &*p }
    }

    /// The `Arc` of lock_api's lock inside this one (the same allocation).
    #[cfg(feature = "arc_lock")]
    fn inner_arc(this: &Arc<Self>) -> Arc<lock_api::ReentrantMutex<RawMutex, RawThreadId, T>> {
        let p = Arc::into_raw(Arc::clone(this));
        // SAFETY: `repr(transparent)`: the pointee has the layout of the
        // lock_api lock, as `Arc::from_raw` requires.
        unsafe { Arc::from_raw(p as *const lock_api::ReentrantMutex<RawMutex, RawThreadId, T>) }
    }

    /// [`lock`](Self::lock) through an `Arc`; the guard keeps the `Arc`
    /// alive (`arc_lock`).
    #[cfg(feature = "arc_lock")]
    #[track_caller]
    #[inline]
    pub fn lock_arc(self: &Arc<Self>) -> ArcReentrantMutexGuard<RawMutex, RawThreadId, T> {
        raw::set_site(Location::caller());
        let g = Self::inner_arc(self).lock_arc();
        raw::clear_site();
        g
    }

    /// [`try_lock`](Self::try_lock) through an `Arc` (`arc_lock`).
    #[cfg(feature = "arc_lock")]
    #[track_caller]
    #[inline]
    pub fn try_lock_arc(
        self: &Arc<Self>,
    ) -> Option<ArcReentrantMutexGuard<RawMutex, RawThreadId, T>> {
        raw::set_site(Location::caller());
        let g = Self::inner_arc(self).try_lock_arc();
        raw::clear_site();
        g
    }

    /// [`try_lock_for`](Self::try_lock_for) through an `Arc` (`arc_lock`).
    #[cfg(feature = "arc_lock")]
    #[track_caller]
    #[inline]
    pub fn try_lock_arc_for(
        self: &Arc<Self>,
        timeout: Duration,
    ) -> Option<ArcReentrantMutexGuard<RawMutex, RawThreadId, T>> {
        raw::set_site(Location::caller());
        let g = Self::inner_arc(self).try_lock_arc_for(timeout);
        raw::clear_site();
        g
    }

    /// [`try_lock_until`](Self::try_lock_until) through an `Arc` (`arc_lock`).
    #[cfg(feature = "arc_lock")]
    #[track_caller]
    #[inline]
    pub fn try_lock_arc_until(
        self: &Arc<Self>,
        deadline: Instant,
    ) -> Option<ArcReentrantMutexGuard<RawMutex, RawThreadId, T>> {
        raw::set_site(Location::caller());
        let g = Self::inner_arc(self).try_lock_arc_until(deadline);
        raw::clear_site();
        g
    }
}

impl<'a, T: ?Sized> From<&'a lock_api::ReentrantMutex<RawMutex, RawThreadId, T>>
    for &'a ReentrantMutex<T>
{
    /// [`ReentrantMutex::from_lock_api`].
    fn from(
        inner: &'a lock_api::ReentrantMutex<RawMutex, RawThreadId, T>,
    ) -> &'a ReentrantMutex<T> {
        ReentrantMutex::from_lock_api(inner)
    }
}

/// A new [`ReentrantMutex`], as parking_lot's `const_reentrant_mutex`
/// ([`ReentrantMutex::new`] is `const` too); its class is the caller's
/// location and `T`.
#[track_caller]
#[inline]
pub const fn const_reentrant_mutex<T>(value: T) -> ReentrantMutex<T> {
    ReentrantMutex::new(value)
}

crate::wrapper_impls!(ReentrantMutex, lock_api::ReentrantMutex<RawMutex, RawThreadId, T>, lock);
