//! Release builds without tracking: `repr(transparent)` newtypes of tokio's
//! locks (for `named` and the `#[track_caller]` constructors), whose
//! methods and guards are tokio's own.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

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
    ) -> Result<tokio::sync::OwnedMutexGuard<T>, tokio::sync::TryLockError> {
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
    ) -> Result<tokio::sync::OwnedRwLockReadGuard<T>, tokio::sync::TryLockError> {
        RwLock::arc_inner(self).try_read_owned()
    }
    /// tokio's `write_owned`.
    pub async fn write_owned(self: Arc<Self>) -> tokio::sync::OwnedRwLockWriteGuard<T> {
        RwLock::arc_inner(self).write_owned().await
    }
    /// tokio's `try_write_owned`.
    pub fn try_write_owned(
        self: Arc<Self>,
    ) -> Result<tokio::sync::OwnedRwLockWriteGuard<T>, tokio::sync::TryLockError> {
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
    /// tokio's `acquire_owned`.
    pub async fn acquire_owned(
        self: Arc<Self>,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, tokio::sync::AcquireError> {
        Semaphore::arc_inner(self).acquire_owned().await
    }
    /// tokio's `acquire_many_owned`.
    pub async fn acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, tokio::sync::AcquireError> {
        Semaphore::arc_inner(self).acquire_many_owned(n).await
    }
    /// tokio's `try_acquire_owned`.
    pub fn try_acquire_owned(
        self: Arc<Self>,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, tokio::sync::TryAcquireError> {
        Semaphore::arc_inner(self).try_acquire_owned()
    }
    /// tokio's `try_acquire_many_owned`.
    pub fn try_acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, tokio::sync::TryAcquireError> {
        Semaphore::arc_inner(self).try_acquire_many_owned(n)
    }
}
