//! `lockgraph::tokio::Mutex`: tokio's async mutex, held by tasks.

use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::Arc;

use lockgraph_core::task::AsyncHold;
use lockgraph_core::{Class, Hold, LockKind, LockMeta, Request};
use tokio::sync::TryLockError;

use super::track;

/// An async mutex: [`tokio::sync::Mutex`] whose holds are tracked per task
/// (see the [module docs](super)). Same methods, same semantics.
pub struct Mutex<T: ?Sized> {
    meta: LockMeta,
    inner: tokio::sync::Mutex<T>,
}

impl<T> Mutex<T> {
    /// A new unlocked mutex whose class is the caller's source location
    /// and the type `T`.
    #[track_caller]
    pub fn new(value: T) -> Mutex<T> {
        Mutex::const_new(value)
    }

    /// [`new`](Self::new), in a `const` context.
    #[track_caller]
    pub const fn const_new(value: T) -> Mutex<T> {
        Mutex {
            meta: LockMeta::new(LockKind::AsyncMutex, Class::here_of::<T>()),
            inner: tokio::sync::Mutex::const_new(value),
        }
    }

    /// A new unlocked mutex whose class is `name`.
    pub const fn named(name: &'static str, value: T) -> Mutex<T> {
        Mutex {
            meta: LockMeta::new(LockKind::AsyncMutex, Class::Named(name)),
            inner: tokio::sync::Mutex::const_new(value),
        }
    }

    /// Consumes the mutex and returns its data.
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, waiting (asynchronously) until it is free. The
    /// lock-order check (held locks of this task -> this one) runs before
    /// the wait.
    #[track_caller]
    pub fn lock(&self) -> impl Future<Output = MutexGuard<'_, T>> + '_ {
        track::LockFuture::new(
            &self.meta,
            Request::Exclusive,
            Hold::Exclusive,
            Location::caller(),
            || self.inner.try_lock().ok(),
            || self.inner.lock(),
            move |(inner, hold)| MutexGuard {
                hold,
                inner: ManuallyDrop::new(inner),
                lock: self,
            },
        )
    }

    /// Locks the mutex from outside the runtime, blocking the thread.
    #[track_caller]
    pub fn blocking_lock(&self) -> MutexGuard<'_, T> {
        let (inner, hold) = track::acquire_blocking(
            &self.meta,
            Request::Exclusive,
            Hold::Exclusive,
            Location::caller(),
            || self.inner.try_lock().ok(),
            || self.inner.blocking_lock(),
        );
        MutexGuard {
            hold,
            inner: ManuallyDrop::new(inner),
            lock: self,
        }
    }

    /// Tries to lock the mutex now. A try never waits: it records no edge
    /// into this lock.
    #[track_caller]
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        let (inner, hold) = track::try_acquire(
            &self.meta,
            Hold::Exclusive,
            Location::caller(),
            self.inner.try_lock(),
        )?;
        Ok(MutexGuard {
            hold,
            inner: ManuallyDrop::new(inner),
            lock: self,
        })
    }

    /// A mutable reference to the data (no locking: `&mut self` is unique).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }
}

impl<T: ?Sized + 'static> Mutex<T> {
    /// [`lock`](Self::lock) with a guard that owns an `Arc` of the mutex
    /// (it may move to another task; its drop ends the hold of the task
    /// that took it).
    #[track_caller]
    pub fn lock_owned(self: Arc<Self>) -> impl Future<Output = OwnedMutexGuard<T>> {
        let site = Location::caller();
        async move {
            let (inner, hold) = track::acquire(
                &self.meta,
                Request::Exclusive,
                Hold::Exclusive,
                site,
                || self.inner.try_lock().ok(),
                || self.inner.lock(),
            )
            .await;
            // SAFETY: `inner` guards the mutex inside `self`, kept beside it.
            unsafe { OwnedMutexGuard::new(erase(inner), hold, self) }
        }
    }

    /// [`blocking_lock`](Self::blocking_lock) with an owned guard.
    #[track_caller]
    pub fn blocking_lock_owned(self: Arc<Self>) -> OwnedMutexGuard<T> {
        let (inner, hold) = track::acquire_blocking(
            &self.meta,
            Request::Exclusive,
            Hold::Exclusive,
            Location::caller(),
            || self.inner.try_lock().ok(),
            || self.inner.blocking_lock(),
        );
        // SAFETY: `inner` guards the mutex inside `self`, kept beside it.
        unsafe { OwnedMutexGuard::new(erase(inner), hold, self) }
    }

    /// [`try_lock`](Self::try_lock) with an owned guard.
    #[track_caller]
    pub fn try_lock_owned(self: Arc<Self>) -> Result<OwnedMutexGuard<T>, TryLockError> {
        let (inner, hold) = track::try_acquire(
            &self.meta,
            Hold::Exclusive,
            Location::caller(),
            self.inner.try_lock(),
        )?;
        // SAFETY: `inner` guards the mutex inside `self`, kept beside it.
        Ok(unsafe { OwnedMutexGuard::new(erase(inner), hold, self) })
    }
}

impl<T: Default> Default for Mutex<T> {
    #[track_caller]
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    #[track_caller]
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

/// A guard of [`Mutex::lock`]: tokio's guard and the task's hold.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized> {
    hold: AsyncHold,
    inner: ManuallyDrop<tokio::sync::MutexGuard<'a, T>>,
    lock: &'a Mutex<T>,
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// The guard's parts, without running its `Drop`.
    fn into_parts(this: Self) -> (&'a LockMeta, AsyncHold, tokio::sync::MutexGuard<'a, T>) {
        let mut this = ManuallyDrop::new(this);
        // SAFETY: `this` is never used or dropped again; each field is
        // read exactly once (the inner guard out of its `ManuallyDrop`).
        unsafe {
            (
                &this.lock.meta,
                std::ptr::read(&this.hold),
                ManuallyDrop::take(&mut this.inner),
            )
        }
    }

    /// A guard of a part of the data (tokio's `MutexGuard::map`); the hold
    /// goes with it.
    pub fn map<U: ?Sized, F: FnOnce(&mut T) -> &mut U>(
        this: Self,
        f: F,
    ) -> MappedMutexGuard<'a, U> {
        let (meta, hold, inner) = Self::into_parts(this);
        MappedMutexGuard {
            meta,
            hold,
            inner: ManuallyDrop::new(tokio::sync::MutexGuard::map(inner, f)),
        }
    }

    /// [`map`](Self::map) when `f` returns `Some`; the guard back otherwise.
    pub fn try_map<U: ?Sized, F: FnOnce(&mut T) -> Option<&mut U>>(
        this: Self,
        f: F,
    ) -> Result<MappedMutexGuard<'a, U>, Self> {
        let lock = this.lock;
        let (meta, hold, inner) = Self::into_parts(this);
        match tokio::sync::MutexGuard::try_map(inner, f) {
            Ok(inner) => Ok(MappedMutexGuard {
                meta,
                hold,
                inner: ManuallyDrop::new(inner),
            }),
            Err(inner) => Err(MutexGuard {
                hold,
                inner: ManuallyDrop::new(inner),
                lock,
            }),
        }
    }

    /// The mutex this guard locks.
    pub fn mutex(this: &Self) -> &'a Mutex<T> {
        this.lock
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.hold.release_by(&self.lock.meta, track::owner_now);
        // SAFETY: dropped once, here; the field is not used afterwards.
        unsafe { ManuallyDrop::drop(&mut self.inner) };
    }
}

/// A guard of a part of a [`Mutex`]'s data.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MappedMutexGuard<'a, T: ?Sized> {
    meta: &'a LockMeta,
    hold: AsyncHold,
    inner: ManuallyDrop<tokio::sync::MappedMutexGuard<'a, T>>,
}

impl<'a, T: ?Sized> MappedMutexGuard<'a, T> {
    fn into_parts(
        this: Self,
    ) -> (
        &'a LockMeta,
        AsyncHold,
        tokio::sync::MappedMutexGuard<'a, T>,
    ) {
        let mut this = ManuallyDrop::new(this);
        // SAFETY: as in `MutexGuard::into_parts`.
        unsafe {
            (
                this.meta,
                std::ptr::read(&this.hold),
                ManuallyDrop::take(&mut this.inner),
            )
        }
    }

    /// A guard of a part of this part.
    pub fn map<U, F: FnOnce(&mut T) -> &mut U>(this: Self, f: F) -> MappedMutexGuard<'a, U> {
        let (meta, hold, inner) = Self::into_parts(this);
        MappedMutexGuard {
            meta,
            hold,
            inner: ManuallyDrop::new(tokio::sync::MappedMutexGuard::map(inner, f)),
        }
    }

    /// [`map`](Self::map) when `f` returns `Some`; the guard back otherwise.
    pub fn try_map<U, F: FnOnce(&mut T) -> Option<&mut U>>(
        this: Self,
        f: F,
    ) -> Result<MappedMutexGuard<'a, U>, Self> {
        let (meta, hold, inner) = Self::into_parts(this);
        match tokio::sync::MappedMutexGuard::try_map(inner, f) {
            Ok(inner) => Ok(MappedMutexGuard {
                meta,
                hold,
                inner: ManuallyDrop::new(inner),
            }),
            Err(inner) => Err(MappedMutexGuard {
                meta,
                hold,
                inner: ManuallyDrop::new(inner),
            }),
        }
    }
}

impl<T: ?Sized> Drop for MappedMutexGuard<'_, T> {
    fn drop(&mut self) {
        self.hold.release(self.meta);
        // SAFETY: dropped once, here.
        unsafe { ManuallyDrop::drop(&mut self.inner) };
    }
}

/// An owned guard of a [`Mutex`] (from [`Mutex::lock_owned`]): it keeps
/// the mutex alive through an `Arc` and may move between tasks.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct OwnedMutexGuard<T: ?Sized + 'static> {
    hold: AsyncHold,
    /// Borrows from `lock`'s allocation, which does not move and outlives
    /// it (dropped first, in `Drop`).
    inner: ManuallyDrop<tokio::sync::MutexGuard<'static, T>>,
    lock: Arc<Mutex<T>>,
}

impl<T: ?Sized + 'static> OwnedMutexGuard<T> {
    /// # Safety
    /// `inner` must be a guard of the mutex inside `lock`'s allocation,
    /// its lifetime erased by [`erase`].
    unsafe fn new(
        inner: tokio::sync::MutexGuard<'static, T>,
        mut hold: AsyncHold,
        lock: Arc<Mutex<T>>,
    ) -> Self {
        // An owned guard may move to another task: not its taker's hold.
        hold.detach(&lock.meta);
        OwnedMutexGuard {
            hold,
            inner: ManuallyDrop::new(inner),
            lock,
        }
    }

    /// The mutex this guard locks.
    pub fn mutex(this: &Self) -> &Arc<Mutex<T>> {
        &this.lock
    }

    /// A guard of a part of the data.
    pub fn map<U: ?Sized + 'static, F: FnOnce(&mut T) -> &mut U>(
        this: Self,
        f: F,
    ) -> OwnedMappedMutexGuard<T, U> {
        let mut this = ManuallyDrop::new(this);
        // SAFETY: `this` is never used or dropped again; each field is
        // read once; the inner guard keeps borrowing the same allocation,
        // now kept alive by the new guard's `Arc`.
        let (hold, inner, lock) = unsafe {
            (
                std::ptr::read(&this.hold),
                ManuallyDrop::take(&mut this.inner),
                std::ptr::read(&this.lock),
            )
        };
        OwnedMappedMutexGuard {
            hold,
            inner: ManuallyDrop::new(tokio::sync::MutexGuard::map(inner, f)),
            lock,
        }
    }
}

/// Erases the borrow of a guard of a mutex kept alive beside it.
///
/// # Safety
/// The guard borrows the mutex inside an `Arc`'s allocation, which stays
/// where it is while that `Arc` lives; the caller keeps the `Arc` in the
/// same owned guard, which drops this guard first (see its `Drop`) and
/// never hands the guard out with the `'static` lifetime.
unsafe fn erase<T: ?Sized + 'static>(
    g: tokio::sync::MutexGuard<'_, T>,
) -> tokio::sync::MutexGuard<'static, T> {
    // SAFETY: see the function's contract.
    unsafe {
        std::mem::transmute::<tokio::sync::MutexGuard<'_, T>, tokio::sync::MutexGuard<'static, T>>(
            g,
        )
    }
}

impl<T: ?Sized + 'static> Drop for OwnedMutexGuard<T> {
    fn drop(&mut self) {
        self.hold.release(&self.lock.meta);
        // SAFETY: dropped once, here, before `lock` (a field, dropped
        // after this body).
        unsafe { ManuallyDrop::drop(&mut self.inner) };
    }
}

/// An owned guard of a part of a [`Mutex`]'s data.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct OwnedMappedMutexGuard<T: ?Sized + 'static, U: ?Sized + 'static> {
    hold: AsyncHold,
    inner: ManuallyDrop<tokio::sync::MappedMutexGuard<'static, U>>,
    lock: Arc<Mutex<T>>,
}

impl<T: ?Sized + 'static, U: ?Sized + 'static> OwnedMappedMutexGuard<T, U> {
    /// The mutex this guard locks.
    pub fn mutex(this: &Self) -> &Arc<Mutex<T>> {
        &this.lock
    }
}

impl<T: ?Sized + 'static, U: ?Sized + 'static> Drop for OwnedMappedMutexGuard<T, U> {
    fn drop(&mut self) {
        self.hold.release(&self.lock.meta);
        // SAFETY: dropped once, here, before `lock`.
        unsafe { ManuallyDrop::drop(&mut self.inner) };
    }
}

macro_rules! deref {
    ($($g:ty => $t:ident, [$($gen:tt)*]);* $(;)?) => {$(
        impl<$($gen)*> Deref for $g {
            type Target = $t;
            fn deref(&self) -> &$t {
                &self.inner
            }
        }
        impl<$($gen)*> DerefMut for $g {
            fn deref_mut(&mut self) -> &mut $t {
                &mut self.inner
            }
        }
        impl<$($gen)*> fmt::Debug for $g where $t: fmt::Debug {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&**self, f)
            }
        }
        impl<$($gen)*> fmt::Display for $g where $t: fmt::Display {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&**self, f)
            }
        }
    )*};
}

deref! {
    MutexGuard<'_, T> => T, [T: ?Sized];
    MappedMutexGuard<'_, T> => T, [T: ?Sized];
    OwnedMutexGuard<T> => T, [T: ?Sized + 'static];
    OwnedMappedMutexGuard<T, U> => U, [T: ?Sized + 'static, U: ?Sized + 'static];
}
