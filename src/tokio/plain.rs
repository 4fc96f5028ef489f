//! Release builds without tracking: `repr(transparent)` newtypes of tokio's
//! locks (for `named` and the `#[track_caller]` constructors), whose
//! methods and guards are tokio's own, but for the two borrowed guards with
//! an accessor of their lock ([`MutexGuard`], [`SemaphorePermit`]): they
//! are `repr(transparent)` newtypes of tokio's too, whose accessor returns
//! the lockgraph lock, as in tracking builds.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use tokio::sync::{AcquireError, TryAcquireError, TryLockError};

macro_rules! newtype {
    ($name:ident, $inner:ident, [$($gen:tt)*], [$($arg:tt)*]) => {
        impl<$($gen)*> Deref for $name<$($arg)*> {
            type Target = tokio::sync::$inner<$($arg)*>;
            #[inline(always)]
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }
        impl<$($gen)*> DerefMut for $name<$($arg)*> {
            #[inline(always)]
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.0
            }
        }
        impl<$($gen)*> std::fmt::Debug for $name<$($arg)*> where tokio::sync::$inner<$($arg)*>: std::fmt::Debug {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
        impl<$($gen)*> $name<$($arg)*> {
            /// The `Arc` of tokio's lock inside (same allocation).
            #[inline(always)]
            fn arc_inner(this: Arc<Self>) -> Arc<tokio::sync::$inner<$($arg)*>> {
                // SAFETY: `Self` is `repr(transparent)` over tokio's type, so
                // the allocation holds a value of that type, laid out the same.
                unsafe { Arc::from_raw(Arc::into_raw(this) as *const tokio::sync::$inner<$($arg)*>) }
            }
        }
    };
}

/// tokio's `Mutex` (release build without tracking).
#[repr(transparent)]
pub struct Mutex<T: ?Sized>(tokio::sync::Mutex<T>);
newtype!(Mutex, Mutex, [T: ?Sized], [T]);

impl<T> Mutex<T> {
    /// tokio's `Mutex::new`.
    #[inline]
    pub fn new(value: T) -> Mutex<T> {
        Mutex(tokio::sync::Mutex::new(value))
    }
    /// tokio's `Mutex::const_new`.
    #[inline]
    pub const fn const_new(value: T) -> Mutex<T> {
        Mutex(tokio::sync::Mutex::const_new(value))
    }
    /// A new mutex (the name is for tracking builds).
    #[inline]
    pub const fn named(_name: &'static str, value: T) -> Mutex<T> {
        Mutex(tokio::sync::Mutex::const_new(value))
    }
    /// Consumes the mutex and returns its data.
    #[inline]
    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// tokio's `lock`.
    #[inline]
    pub async fn lock(&self) -> MutexGuard<'_, T> {
        MutexGuard(self.0.lock().await)
    }
    /// tokio's `blocking_lock`.
    #[inline]
    pub fn blocking_lock(&self) -> MutexGuard<'_, T> {
        MutexGuard(self.0.blocking_lock())
    }
    /// tokio's `try_lock`.
    #[inline]
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        self.0.try_lock().map(MutexGuard)
    }
    /// tokio's `lock_owned`.
    pub async fn lock_owned(self: Arc<Self>) -> tokio::sync::OwnedMutexGuard<T> {
        Mutex::arc_inner(self).lock_owned().await
    }
    /// tokio's `blocking_lock_owned`.
    pub fn blocking_lock_owned(self: Arc<Self>) -> tokio::sync::OwnedMutexGuard<T> {
        Mutex::arc_inner(self).blocking_lock_owned()
    }
    /// tokio's `try_lock_owned`.
    pub fn try_lock_owned(
        self: Arc<Self>,
    ) -> Result<tokio::sync::OwnedMutexGuard<T>, TryLockError> {
        Mutex::arc_inner(self).try_lock_owned()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

/// tokio's `MutexGuard` (release build without tracking), whose
/// [`mutex`](Self::mutex) returns the lockgraph [`Mutex`].
///
/// Invariant: the guard inside locks the tokio mutex inside a lockgraph
/// [`Mutex`]: it is made only by that `Mutex`'s `lock`, `blocking_lock`
/// and `try_lock` (the field is private), and `try_map` gives back the
/// same guard.
#[clippy::has_significant_drop]
#[must_use = "if unused the Mutex will immediately unlock"]
#[repr(transparent)]
pub struct MutexGuard<'a, T: ?Sized>(tokio::sync::MutexGuard<'a, T>);

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// tokio's `MutexGuard::map`.
    #[inline]
    pub fn map<U: ?Sized, F: FnOnce(&mut T) -> &mut U>(
        this: Self,
        f: F,
    ) -> tokio::sync::MappedMutexGuard<'a, U> {
        tokio::sync::MutexGuard::map(this.0, f)
    }
    /// tokio's `MutexGuard::try_map`.
    #[inline]
    pub fn try_map<U: ?Sized, F: FnOnce(&mut T) -> Option<&mut U>>(
        this: Self,
        f: F,
    ) -> Result<tokio::sync::MappedMutexGuard<'a, U>, Self> {
        tokio::sync::MutexGuard::try_map(this.0, f).map_err(MutexGuard)
    }
    /// The mutex this guard locks (the lockgraph [`Mutex`], as in tracking
    /// builds).
    #[inline]
    pub fn mutex(this: &Self) -> &'a Mutex<T> {
        let inner: &'a tokio::sync::Mutex<T> = tokio::sync::MutexGuard::mutex(&this.0);
        // SAFETY: by the type's invariant `inner` is the tokio mutex inside
        // a lockgraph `Mutex`, which is `repr(transparent)` over it: the
        // pointer to it is a valid pointer to that `Mutex` (same address,
        // layout and metadata), borrowed for the same `'a`.
        unsafe { &*(inner as *const tokio::sync::Mutex<T> as *const Mutex<T>) }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// tokio's `RwLock` (release build without tracking).
#[repr(transparent)]
pub struct RwLock<T: ?Sized>(tokio::sync::RwLock<T>);
newtype!(RwLock, RwLock, [T: ?Sized], [T]);

impl<T> RwLock<T> {
    /// tokio's `RwLock::new`.
    #[inline]
    pub fn new(value: T) -> RwLock<T> {
        RwLock(tokio::sync::RwLock::new(value))
    }
    /// tokio's `RwLock::with_max_readers`.
    #[inline]
    pub fn with_max_readers(value: T, max_reads: u32) -> RwLock<T> {
        RwLock(tokio::sync::RwLock::with_max_readers(value, max_reads))
    }
    /// tokio's `RwLock::const_new`.
    #[inline]
    pub const fn const_new(value: T) -> RwLock<T> {
        RwLock(tokio::sync::RwLock::const_new(value))
    }
    /// tokio's `RwLock::const_with_max_readers`.
    #[inline]
    pub const fn const_with_max_readers(value: T, max_reads: u32) -> RwLock<T> {
        RwLock(tokio::sync::RwLock::const_with_max_readers(
            value, max_reads,
        ))
    }
    /// A new lock (the name is for tracking builds).
    #[inline]
    pub const fn named(_name: &'static str, value: T) -> RwLock<T> {
        RwLock(tokio::sync::RwLock::const_new(value))
    }
    /// Consumes the lock and returns its data.
    #[inline]
    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// tokio's `read_owned`.
    pub async fn read_owned(self: Arc<Self>) -> tokio::sync::OwnedRwLockReadGuard<T> {
        RwLock::arc_inner(self).read_owned().await
    }
    /// tokio's `try_read_owned`.
    pub fn try_read_owned(
        self: Arc<Self>,
    ) -> Result<tokio::sync::OwnedRwLockReadGuard<T>, TryLockError> {
        RwLock::arc_inner(self).try_read_owned()
    }
    /// tokio's `write_owned`.
    pub async fn write_owned(self: Arc<Self>) -> tokio::sync::OwnedRwLockWriteGuard<T> {
        RwLock::arc_inner(self).write_owned().await
    }
    /// tokio's `try_write_owned`.
    pub fn try_write_owned(
        self: Arc<Self>,
    ) -> Result<tokio::sync::OwnedRwLockWriteGuard<T>, TryLockError> {
        RwLock::arc_inner(self).try_write_owned()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> RwLock<T> {
        RwLock::new(value)
    }
}

/// tokio's `Semaphore` (release build without tracking).
#[repr(transparent)]
pub struct Semaphore(tokio::sync::Semaphore);
newtype!(Semaphore, Semaphore, [], []);

impl Semaphore {
    /// tokio's `Semaphore::MAX_PERMITS`.
    pub const MAX_PERMITS: usize = tokio::sync::Semaphore::MAX_PERMITS;
    /// tokio's `Semaphore::new`.
    #[inline]
    pub fn new(permits: usize) -> Semaphore {
        Semaphore(tokio::sync::Semaphore::new(permits))
    }
    /// tokio's `Semaphore::const_new`.
    #[inline]
    pub const fn const_new(permits: usize) -> Semaphore {
        Semaphore(tokio::sync::Semaphore::const_new(permits))
    }
    /// A new semaphore (the name is for tracking builds).
    #[inline]
    pub const fn named(_name: &'static str, permits: usize) -> Semaphore {
        Semaphore(tokio::sync::Semaphore::const_new(permits))
    }
    /// tokio's `acquire`.
    #[inline]
    pub async fn acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.0.acquire().await.map(SemaphorePermit)
    }
    /// tokio's `acquire_many`.
    #[inline]
    pub async fn acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.0.acquire_many(n).await.map(SemaphorePermit)
    }
    /// tokio's `try_acquire`.
    #[inline]
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.0.try_acquire().map(SemaphorePermit)
    }
    /// tokio's `try_acquire_many`.
    #[inline]
    pub fn try_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.0.try_acquire_many(n).map(SemaphorePermit)
    }
    /// tokio's `acquire_owned`.
    pub async fn acquire_owned(
        self: Arc<Self>,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, AcquireError> {
        Semaphore::arc_inner(self).acquire_owned().await
    }
    /// tokio's `acquire_many_owned`.
    pub async fn acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, AcquireError> {
        Semaphore::arc_inner(self).acquire_many_owned(n).await
    }
    /// tokio's `try_acquire_owned`.
    pub fn try_acquire_owned(
        self: Arc<Self>,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, TryAcquireError> {
        Semaphore::arc_inner(self).try_acquire_owned()
    }
    /// tokio's `try_acquire_many_owned`.
    pub fn try_acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, TryAcquireError> {
        Semaphore::arc_inner(self).try_acquire_many_owned(n)
    }
}

/// tokio's `SemaphorePermit` (release build without tracking), whose
/// [`semaphore`](Self::semaphore) returns the lockgraph [`Semaphore`].
///
/// Invariant: the permit inside is of the tokio semaphore inside a
/// lockgraph [`Semaphore`]: it is made only by that `Semaphore`'s
/// `acquire`, `acquire_many`, `try_acquire` and `try_acquire_many` (the
/// field is private), or split off such a permit.
#[clippy::has_significant_drop]
#[must_use]
#[repr(transparent)]
pub struct SemaphorePermit<'a>(tokio::sync::SemaphorePermit<'a>);

impl SemaphorePermit<'_> {
    /// tokio's `SemaphorePermit::forget`.
    #[inline]
    pub fn forget(self) {
        self.0.forget()
    }
    /// tokio's `SemaphorePermit::merge` (panics if `other` is of another
    /// semaphore).
    #[inline]
    pub fn merge(&mut self, other: Self) {
        self.0.merge(other.0)
    }
    /// tokio's `SemaphorePermit::split`.
    #[inline]
    pub fn split(&mut self, n: usize) -> Option<Self> {
        self.0.split(n).map(SemaphorePermit)
    }
    /// tokio's `SemaphorePermit::num_permits`.
    #[inline]
    pub fn num_permits(&self) -> usize {
        self.0.num_permits()
    }
    /// The semaphore these permits are of (the lockgraph [`Semaphore`], as
    /// in tracking builds).
    #[inline]
    pub fn semaphore(&self) -> &Semaphore {
        let inner: &tokio::sync::Semaphore = self.0.semaphore();
        // SAFETY: by the type's invariant `inner` is the tokio semaphore
        // inside a lockgraph `Semaphore`, which is `repr(transparent)` over
        // it: the pointer to it is a valid pointer to that `Semaphore`, for
        // the same lifetime.
        unsafe { &*(inner as *const tokio::sync::Semaphore as *const Semaphore) }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
