//! `lockgraph::tokio::RwLock`: tokio's fair async read-write lock, held by
//! tasks. Fair: a `read` queues behind a waiting writer, so a task that
//! reads a lock it already read-holds can deadlock (reported as such).

use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::Arc;

use lockgraph_core::{Class, Hold, LockKind, LockMeta, Request};
use tokio::sync::TryLockError;

use super::track::{self, Tracked};

/// An async read-write lock: [`tokio::sync::RwLock`] whose holds are
/// tracked per task (see the [module docs](super)).
pub struct RwLock<T: ?Sized> {
    meta: LockMeta,
    inner: tokio::sync::RwLock<T>,
}

impl<T> RwLock<T> {
    /// A new unlocked lock whose class is the caller's location and `T`.
    #[track_caller]
    pub fn new(value: T) -> RwLock<T> {
        RwLock::const_new(value)
    }

    /// [`new`](Self::new) allowing at most `max_reads` concurrent readers.
    #[track_caller]
    pub fn with_max_readers(value: T, max_reads: u32) -> RwLock<T> {
        RwLock {
            meta: LockMeta::new(LockKind::AsyncRwLock, Class::here_of::<T>()),
            inner: tokio::sync::RwLock::with_max_readers(value, max_reads),
        }
    }

    /// [`new`](Self::new), in a `const` context.
    #[track_caller]
    pub const fn const_new(value: T) -> RwLock<T> {
        RwLock {
            meta: LockMeta::new(LockKind::AsyncRwLock, Class::here_of::<T>()),
            inner: tokio::sync::RwLock::const_new(value),
        }
    }

    /// [`with_max_readers`](Self::with_max_readers), in a `const` context.
    #[track_caller]
    pub const fn const_with_max_readers(value: T, max_reads: u32) -> RwLock<T> {
        RwLock {
            meta: LockMeta::new(LockKind::AsyncRwLock, Class::here_of::<T>()),
            inner: tokio::sync::RwLock::const_with_max_readers(value, max_reads),
        }
    }

    /// A new unlocked lock whose class is `name`.
    pub const fn named(name: &'static str, value: T) -> RwLock<T> {
        RwLock {
            meta: LockMeta::new(LockKind::AsyncRwLock, Class::Named(name)),
            inner: tokio::sync::RwLock::const_new(value),
        }
    }

    /// Consumes the lock and returns its data.
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Read-locks, waiting behind a writer that holds or waits for it.
    #[track_caller]
    pub fn read(&self) -> impl Future<Output = RwLockReadGuard<'_, T>> + '_ {
        track::LockFuture::new(
            &self.meta,
            Request::Read,
            Hold::Shared,
            Location::caller(),
            || self.inner.try_read().ok(),
            || self.inner.read(),
            move |parts| RwLockReadGuard(Tracked::new(&self.meta, parts)),
        )
    }

    /// Read-locks from outside the runtime, blocking the thread.
    #[track_caller]
    pub fn blocking_read(&self) -> RwLockReadGuard<'_, T> {
        let parts = track::acquire_blocking(
            &self.meta,
            Request::Read,
            Hold::Shared,
            Location::caller(),
            || self.inner.try_read().ok(),
            || self.inner.blocking_read(),
        );
        RwLockReadGuard(Tracked::new(&self.meta, parts))
    }

    /// Tries to read-lock now (no edge into this lock).
    #[track_caller]
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        let parts = track::try_acquire(
            &self.meta,
            Hold::Shared,
            Location::caller(),
            self.inner.try_read(),
        )?;
        Ok(RwLockReadGuard(Tracked::new(&self.meta, parts)))
    }

    /// Write-locks, waiting until no one holds it.
    #[track_caller]
    pub fn write(&self) -> impl Future<Output = RwLockWriteGuard<'_, T>> + '_ {
        track::LockFuture::new(
            &self.meta,
            Request::Exclusive,
            Hold::Exclusive,
            Location::caller(),
            || self.inner.try_write().ok(),
            || self.inner.write(),
            move |parts| RwLockWriteGuard(Tracked::new(&self.meta, parts)),
        )
    }

    /// Write-locks from outside the runtime, blocking the thread.
    #[track_caller]
    pub fn blocking_write(&self) -> RwLockWriteGuard<'_, T> {
        let parts = track::acquire_blocking(
            &self.meta,
            Request::Exclusive,
            Hold::Exclusive,
            Location::caller(),
            || self.inner.try_write().ok(),
            || self.inner.blocking_write(),
        );
        RwLockWriteGuard(Tracked::new(&self.meta, parts))
    }

    /// Tries to write-lock now (no edge into this lock).
    #[track_caller]
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        let parts = track::try_acquire(
            &self.meta,
            Hold::Exclusive,
            Location::caller(),
            self.inner.try_write(),
        )?;
        Ok(RwLockWriteGuard(Tracked::new(&self.meta, parts)))
    }

    /// A mutable reference to the data (no locking).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }
}

/// Erases the lifetime of a guard of `lock`'s inner lock, for an owned
/// guard that keeps `lock` alive beside it. The hold leaves its taker's set
/// (`AsyncHold::detach`): an owned guard may move to another task.
macro_rules! owned {
    ($lock:expr, $tracked:expr, $inner:ident, $T:ty) => {{
        let (meta, mut hold, g) = $tracked.into_parts();
        hold.detach(meta);
        // SAFETY: `g` borrows the lock inside the `Arc`'s allocation, which
        // stays where it is while the `Arc` kept in the same owned guard
        // lives; that guard's fields drop the tracked guard first.
        let g = unsafe {
            std::mem::transmute::<tokio::sync::$inner<'_, $T>, tokio::sync::$inner<'static, $T>>(g)
        };
        // SAFETY: as above, for the lock's identity.
        let meta: &'static LockMeta = unsafe { &*(&$lock.meta as *const LockMeta) };
        Tracked::new(meta, (g, hold))
    }};
}

impl<T: ?Sized + 'static> RwLock<T> {
    /// [`read`](Self::read) with an owned guard.
    #[track_caller]
    pub fn read_owned(self: Arc<Self>) -> impl Future<Output = OwnedRwLockReadGuard<T>> {
        let site = Location::caller();
        async move {
            let parts = track::acquire(
                &self.meta,
                Request::Read,
                Hold::Shared,
                site,
                || self.inner.try_read().ok(),
                || self.inner.read(),
            )
            .await;
            let g = owned!(self, Tracked::new(&self.meta, parts), RwLockReadGuard, T);
            OwnedRwLockReadGuard { g, lock: self }
        }
    }

    /// [`try_read`](Self::try_read) with an owned guard.
    #[track_caller]
    pub fn try_read_owned(self: Arc<Self>) -> Result<OwnedRwLockReadGuard<T>, TryLockError> {
        let parts = track::try_acquire(
            &self.meta,
            Hold::Shared,
            Location::caller(),
            self.inner.try_read(),
        )?;
        let g = owned!(self, Tracked::new(&self.meta, parts), RwLockReadGuard, T);
        Ok(OwnedRwLockReadGuard { g, lock: self })
    }

    /// [`write`](Self::write) with an owned guard.
    #[track_caller]
    pub fn write_owned(self: Arc<Self>) -> impl Future<Output = OwnedRwLockWriteGuard<T>> {
        let site = Location::caller();
        async move {
            let parts = track::acquire(
                &self.meta,
                Request::Exclusive,
                Hold::Exclusive,
                site,
                || self.inner.try_write().ok(),
                || self.inner.write(),
            )
            .await;
            let g = owned!(self, Tracked::new(&self.meta, parts), RwLockWriteGuard, T);
            OwnedRwLockWriteGuard { g, lock: self }
        }
    }

    /// [`try_write`](Self::try_write) with an owned guard.
    #[track_caller]
    pub fn try_write_owned(self: Arc<Self>) -> Result<OwnedRwLockWriteGuard<T>, TryLockError> {
        let parts = track::try_acquire(
            &self.meta,
            Hold::Exclusive,
            Location::caller(),
            self.inner.try_write(),
        )?;
        let g = owned!(self, Tracked::new(&self.meta, parts), RwLockWriteGuard, T);
        Ok(OwnedRwLockWriteGuard { g, lock: self })
    }
}

impl<T: Default> Default for RwLock<T> {
    #[track_caller]
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    #[track_caller]
    fn from(value: T) -> RwLock<T> {
        RwLock::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

/// A read guard of [`RwLock::read`].
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized>(Tracked<'a, tokio::sync::RwLockReadGuard<'a, T>>);

impl<'a, T: ?Sized> RwLockReadGuard<'a, T> {
    /// A read guard of a part of the data.
    pub fn map<U: ?Sized, F: FnOnce(&T) -> &U>(this: Self, f: F) -> RwLockReadGuard<'a, U> {
        RwLockReadGuard(this.0.map(|g| tokio::sync::RwLockReadGuard::map(g, f)))
    }

    /// [`map`](Self::map) when `f` returns `Some`; the guard back otherwise.
    pub fn try_map<U: ?Sized, F: FnOnce(&T) -> Option<&U>>(
        this: Self,
        f: F,
    ) -> Result<RwLockReadGuard<'a, U>, Self> {
        this.0
            .try_map(|g| tokio::sync::RwLockReadGuard::try_map(g, f))
            .map(RwLockReadGuard)
            .map_err(RwLockReadGuard)
    }
}

/// A write guard of [`RwLock::write`].
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized>(Tracked<'a, tokio::sync::RwLockWriteGuard<'a, T>>);

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// A write guard of a part of the data.
    pub fn map<U: ?Sized, F: FnOnce(&mut T) -> &mut U>(
        this: Self,
        f: F,
    ) -> RwLockMappedWriteGuard<'a, U> {
        RwLockMappedWriteGuard(this.0.map(|g| tokio::sync::RwLockWriteGuard::map(g, f)))
    }

    /// [`map`](Self::map) when `f` returns `Some`; the guard back otherwise.
    pub fn try_map<U: ?Sized, F: FnOnce(&mut T) -> Option<&mut U>>(
        this: Self,
        f: F,
    ) -> Result<RwLockMappedWriteGuard<'a, U>, Self> {
        this.0
            .try_map(|g| tokio::sync::RwLockWriteGuard::try_map(g, f))
            .map(RwLockMappedWriteGuard)
            .map_err(RwLockWriteGuard)
    }

    /// The guard as a mapped write guard of the whole data.
    pub fn into_mapped(this: Self) -> RwLockMappedWriteGuard<'a, T> {
        RwLockMappedWriteGuard(this.0.map(tokio::sync::RwLockWriteGuard::into_mapped))
    }

    /// Turns the write hold into a read hold without letting a writer in.
    pub fn downgrade(self) -> RwLockReadGuard<'a, T> {
        self.0.hold().rehold(Hold::Shared);
        RwLockReadGuard(self.0.map(tokio::sync::RwLockWriteGuard::downgrade))
    }

    /// [`downgrade`](Self::downgrade) to a read guard of a part of the data.
    pub fn downgrade_map<U: ?Sized, F: FnOnce(&T) -> &U>(
        this: Self,
        f: F,
    ) -> RwLockReadGuard<'a, U> {
        this.0.hold().rehold(Hold::Shared);
        RwLockReadGuard(
            this.0
                .map(|g| tokio::sync::RwLockWriteGuard::downgrade_map(g, f)),
        )
    }
}

/// A write guard of a part of an [`RwLock`]'s data.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockMappedWriteGuard<'a, T: ?Sized>(
    Tracked<'a, tokio::sync::RwLockMappedWriteGuard<'a, T>>,
);

impl<'a, T: ?Sized> RwLockMappedWriteGuard<'a, T> {
    /// A write guard of a part of this part.
    pub fn map<U: ?Sized, F: FnOnce(&mut T) -> &mut U>(
        this: Self,
        f: F,
    ) -> RwLockMappedWriteGuard<'a, U> {
        RwLockMappedWriteGuard(
            this.0
                .map(|g| tokio::sync::RwLockMappedWriteGuard::map(g, f)),
        )
    }

    /// [`map`](Self::map) when `f` returns `Some`; the guard back otherwise.
    pub fn try_map<U: ?Sized, F: FnOnce(&mut T) -> Option<&mut U>>(
        this: Self,
        f: F,
    ) -> Result<RwLockMappedWriteGuard<'a, U>, Self> {
        this.0
            .try_map(|g| tokio::sync::RwLockMappedWriteGuard::try_map(g, f))
            .map(RwLockMappedWriteGuard)
            .map_err(RwLockMappedWriteGuard)
    }
}

/// An owned read guard of an [`RwLock`] (of a part `U` of its data once
/// mapped).
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct OwnedRwLockReadGuard<T: ?Sized + 'static, U: ?Sized + 'static = T> {
    // Declared (so dropped) before `lock`, whose allocation it borrows.
    g: Tracked<'static, tokio::sync::RwLockReadGuard<'static, U>>,
    lock: Arc<RwLock<T>>,
}

impl<T: ?Sized + 'static, U: ?Sized + 'static> OwnedRwLockReadGuard<T, U> {
    /// The lock this guard holds.
    pub fn rwlock(this: &Self) -> &Arc<RwLock<T>> {
        &this.lock
    }

    /// A read guard of a part of the data.
    pub fn map<V: ?Sized + 'static, F: FnOnce(&U) -> &V>(
        this: Self,
        f: F,
    ) -> OwnedRwLockReadGuard<T, V> {
        let OwnedRwLockReadGuard { g, lock } = this;
        OwnedRwLockReadGuard {
            g: g.map(|g| tokio::sync::RwLockReadGuard::map(g, f)),
            lock,
        }
    }
}

/// An owned write guard of an [`RwLock`].
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct OwnedRwLockWriteGuard<T: ?Sized + 'static> {
    g: Tracked<'static, tokio::sync::RwLockWriteGuard<'static, T>>,
    lock: Arc<RwLock<T>>,
}

impl<T: ?Sized + 'static> OwnedRwLockWriteGuard<T> {
    /// The lock this guard holds.
    pub fn rwlock(this: &Self) -> &Arc<RwLock<T>> {
        &this.lock
    }

    /// An owned write guard of a part of the data.
    pub fn map<U: ?Sized + 'static, F: FnOnce(&mut T) -> &mut U>(
        this: Self,
        f: F,
    ) -> OwnedRwLockMappedWriteGuard<T, U> {
        let OwnedRwLockWriteGuard { g, lock } = this;
        OwnedRwLockMappedWriteGuard {
            g: g.map(|g| tokio::sync::RwLockWriteGuard::map(g, f)),
            lock,
        }
    }

    /// The guard as an owned mapped write guard of the whole data.
    pub fn into_mapped(this: Self) -> OwnedRwLockMappedWriteGuard<T> {
        let OwnedRwLockWriteGuard { g, lock } = this;
        OwnedRwLockMappedWriteGuard {
            g: g.map(tokio::sync::RwLockWriteGuard::into_mapped),
            lock,
        }
    }

    /// Turns the write hold into a read hold without letting a writer in.
    pub fn downgrade(self) -> OwnedRwLockReadGuard<T> {
        let OwnedRwLockWriteGuard { g, lock } = self;
        g.hold().rehold(Hold::Shared);
        OwnedRwLockReadGuard {
            g: g.map(tokio::sync::RwLockWriteGuard::downgrade),
            lock,
        }
    }
}

/// An owned write guard of a part `U` of an [`RwLock`]'s data.
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct OwnedRwLockMappedWriteGuard<T: ?Sized + 'static, U: ?Sized + 'static = T> {
    g: Tracked<'static, tokio::sync::RwLockMappedWriteGuard<'static, U>>,
    lock: Arc<RwLock<T>>,
}

impl<T: ?Sized + 'static, U: ?Sized + 'static> OwnedRwLockMappedWriteGuard<T, U> {
    /// The lock this guard holds.
    pub fn rwlock(this: &Self) -> &Arc<RwLock<T>> {
        &this.lock
    }

    /// A write guard of a part of this part.
    pub fn map<V: ?Sized + 'static, F: FnOnce(&mut U) -> &mut V>(
        this: Self,
        f: F,
    ) -> OwnedRwLockMappedWriteGuard<T, V> {
        let OwnedRwLockMappedWriteGuard { g, lock } = this;
        OwnedRwLockMappedWriteGuard {
            g: g.map(|g| tokio::sync::RwLockMappedWriteGuard::map(g, f)),
            lock,
        }
    }
}

macro_rules! guard_deref {
    ($($g:ty => $t:ident, mut: $m:tt, [$($gen:tt)*]);* $(;)?) => {$(
        impl<$($gen)*> Deref for $g {
            type Target = $t;
            fn deref(&self) -> &$t {
                self.inner()
            }
        }
        guard_deref!(@mut $m, $g, $t, [$($gen)*]);
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
    (@mut yes, $g:ty, $t:ident, [$($gen:tt)*]) => {
        impl<$($gen)*> DerefMut for $g {
            fn deref_mut(&mut self) -> &mut $t {
                self.inner_mut()
            }
        }
    };
    (@mut no, $g:ty, $t:ident, [$($gen:tt)*]) => {};
}

impl<T: ?Sized> RwLockReadGuard<'_, T> {
    fn inner(&self) -> &T {
        self.0.inner()
    }
}
impl<T: ?Sized> RwLockWriteGuard<'_, T> {
    fn inner(&self) -> &T {
        self.0.inner()
    }
    fn inner_mut(&mut self) -> &mut T {
        self.0.inner_mut()
    }
}
impl<T: ?Sized> RwLockMappedWriteGuard<'_, T> {
    fn inner(&self) -> &T {
        self.0.inner()
    }
    fn inner_mut(&mut self) -> &mut T {
        self.0.inner_mut()
    }
}
impl<T: ?Sized + 'static, U: ?Sized + 'static> OwnedRwLockReadGuard<T, U> {
    fn inner(&self) -> &U {
        self.g.inner()
    }
}
impl<T: ?Sized + 'static> OwnedRwLockWriteGuard<T> {
    fn inner(&self) -> &T {
        self.g.inner()
    }
    fn inner_mut(&mut self) -> &mut T {
        self.g.inner_mut()
    }
}
impl<T: ?Sized + 'static, U: ?Sized + 'static> OwnedRwLockMappedWriteGuard<T, U> {
    fn inner(&self) -> &U {
        self.g.inner()
    }
    fn inner_mut(&mut self) -> &mut U {
        self.g.inner_mut()
    }
}

guard_deref! {
    RwLockReadGuard<'_, T> => T, mut: no, [T: ?Sized];
    RwLockWriteGuard<'_, T> => T, mut: yes, [T: ?Sized];
    RwLockMappedWriteGuard<'_, T> => T, mut: yes, [T: ?Sized];
    OwnedRwLockReadGuard<T, U> => U, mut: no, [T: ?Sized + 'static, U: ?Sized + 'static];
    OwnedRwLockWriteGuard<T> => T, mut: yes, [T: ?Sized + 'static];
    OwnedRwLockMappedWriteGuard<T, U> => U, mut: yes, [T: ?Sized + 'static, U: ?Sized + 'static];
}
