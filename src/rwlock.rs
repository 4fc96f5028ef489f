use std::panic::Location;
use std::time::{Duration, Instant};

use lockgraph_core::Class;

use crate::raw::{self, RawRwLock};

/// A reader-writer lock: `parking_lot::RwLock` with lock-order tracking.
///
/// Reads follow lockdep's rules: `read()` can queue behind a waiting writer
/// (parking_lot's lock is fair), so a cycle through it is reported;
/// `read_recursive()` never waits for another reader, so a cycle made only of
/// recursive reads of shared holds is not. A second `read()` of a lock this
/// thread already read-holds is reported; `read_recursive()` is not.
///
/// ```
/// use lockgraph::{RwLock, RwLockUpgradableReadGuard};
///
/// let model = RwLock::named("model", vec![1, 2, 3]);
/// assert_eq!(model.read().len(), 3);
/// let up = model.upgradable_read();
/// if up.len() < 4 {
///     let mut w = RwLockUpgradableReadGuard::upgrade(up);
///     w.push(4);
/// }
/// assert_eq!(model.read().len(), 4);
/// ```
#[repr(transparent)]
pub struct RwLock<T: ?Sized>(lock_api::RwLock<RawRwLock, T>);

/// Shared read access to an [`RwLock`].
pub type RwLockReadGuard<'a, T> = lock_api::RwLockReadGuard<'a, RawRwLock, T>;
/// Exclusive write access to an [`RwLock`].
pub type RwLockWriteGuard<'a, T> = lock_api::RwLockWriteGuard<'a, RawRwLock, T>;
/// Upgradable read access to an [`RwLock`].
pub type RwLockUpgradableReadGuard<'a, T> = lock_api::RwLockUpgradableReadGuard<'a, RawRwLock, T>;
/// A read guard narrowed by `map`.
pub type MappedRwLockReadGuard<'a, T> = lock_api::MappedRwLockReadGuard<'a, RawRwLock, T>;
/// A write guard narrowed by `map`.
pub type MappedRwLockWriteGuard<'a, T> = lock_api::MappedRwLockWriteGuard<'a, RawRwLock, T>;

macro_rules! with_site {
    ($(#[$m:meta])* $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty => $inner:ident, blocking) => {
        $(#[$m])*
        #[track_caller]
        #[inline]
        pub fn $name(&self $(, $arg: $ty)*) -> $ret {
            raw::set_site(Location::caller());
            self.0.$inner($($arg),*)
        }
    };
    ($(#[$m:meta])* $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty => $inner:ident, fallible) => {
        $(#[$m])*
        #[track_caller]
        #[inline]
        pub fn $name(&self $(, $arg: $ty)*) -> $ret {
            raw::set_site(Location::caller());
            let g = self.0.$inner($($arg),*);
            if g.is_none() {
                raw::clear_site();
            }
            g
        }
    };
    ($(#[$m:meta])* $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty => $inner:ident, arc_blocking) => {
        $(#[$m])*
        #[cfg(feature = "arc_lock")]
        #[track_caller]
        #[inline]
        pub fn $name(self: &Arc<Self> $(, $arg: $ty)*) -> $ret {
            raw::set_site(Location::caller());
            Self::inner_arc(self).$inner($($arg),*)
        }
    };
    ($(#[$m:meta])* $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty => $inner:ident, arc_fallible) => {
        $(#[$m])*
        #[cfg(feature = "arc_lock")]
        #[track_caller]
        #[inline]
        pub fn $name(self: &Arc<Self> $(, $arg: $ty)*) -> $ret {
            raw::set_site(Location::caller());
            let g = Self::inner_arc(self).$inner($($arg),*);
            if g.is_none() {
                raw::clear_site();
            }
            g
        }
    };
}

#[cfg(feature = "arc_lock")]
use lock_api::{ArcRwLockReadGuard, ArcRwLockUpgradableReadGuard, ArcRwLockWriteGuard};
#[cfg(feature = "arc_lock")]
use std::sync::Arc;

impl<T> RwLock<T> {
    /// A new unlocked lock whose class is the caller's source location.
    #[track_caller]
    #[inline]
    pub const fn new(value: T) -> RwLock<T> {
        RwLock(lock_api::RwLock::from_raw(
            raw::rwlock(Class::here_of::<T>()),
            value,
        ))
    }

    /// A new lock from a raw lock, as `lock_api::RwLock::const_new`; the
    /// class is the raw lock's own (`INIT`: an anonymous class, see
    /// [`Mutex::const_new`](crate::Mutex::const_new)).
    #[inline]
    pub const fn const_new(raw: RawRwLock, value: T) -> RwLock<T> {
        RwLock(lock_api::RwLock::from_raw(raw, value))
    }

    /// [`const_new`](Self::const_new) under lock_api's newer name.
    #[inline]
    pub const fn from_raw(raw: RawRwLock, value: T) -> RwLock<T> {
        Self::const_new(raw, value)
    }

    /// A new unlocked lock whose class is `name`.
    #[inline]
    pub const fn named(name: &'static str, value: T) -> RwLock<T> {
        RwLock(lock_api::RwLock::from_raw(
            raw::rwlock(Class::Named(name)),
            value,
        ))
    }

    /// Consumes the lock and returns its data.
    #[inline]
    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Locks for shared reading, blocking; may queue behind a waiting writer.
    #[track_caller]
    #[inline]
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        raw::read(&self.0, Location::caller())
    }
    with_site!(
        /// Tries to lock for reading without blocking (records no edge).
        try_read() -> Option<RwLockReadGuard<'_, T>> => try_read, fallible);
    with_site!(
        /// Tries to lock for reading, waiting at most `timeout`.
        try_read_for(timeout: Duration) -> Option<RwLockReadGuard<'_, T>> => try_read_for, fallible);
    with_site!(
        /// Tries to lock for reading, waiting until `deadline` at most.
        try_read_until(deadline: Instant) -> Option<RwLockReadGuard<'_, T>> => try_read_until, fallible);
    with_site!(
        /// Locks for reading even when a writer waits: safe to nest in one thread.
        read_recursive() -> RwLockReadGuard<'_, T> => read_recursive, blocking);
    with_site!(
        /// Tries a recursive read without blocking.
        try_read_recursive() -> Option<RwLockReadGuard<'_, T>> => try_read_recursive, fallible);
    with_site!(
        /// Tries a recursive read, waiting at most `timeout`.
        try_read_recursive_for(timeout: Duration) -> Option<RwLockReadGuard<'_, T>> => try_read_recursive_for, fallible);
    with_site!(
        /// Tries a recursive read, waiting until `deadline` at most.
        try_read_recursive_until(deadline: Instant) -> Option<RwLockReadGuard<'_, T>> => try_read_recursive_until, fallible);
    /// Locks for exclusive writing, blocking.
    #[track_caller]
    #[inline]
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        raw::write(&self.0, Location::caller())
    }
    with_site!(
        /// Tries to lock for writing without blocking (records no edge).
        try_write() -> Option<RwLockWriteGuard<'_, T>> => try_write, fallible);
    with_site!(
        /// Tries to lock for writing, waiting at most `timeout`.
        try_write_for(timeout: Duration) -> Option<RwLockWriteGuard<'_, T>> => try_write_for, fallible);
    with_site!(
        /// Tries to lock for writing, waiting until `deadline` at most.
        try_write_until(deadline: Instant) -> Option<RwLockWriteGuard<'_, T>> => try_write_until, fallible);
    with_site!(
        /// Locks for upgradable reading: shared with readers, exclusive against
        /// writers and other upgradable readers.
        upgradable_read() -> RwLockUpgradableReadGuard<'_, T> => upgradable_read, blocking);
    with_site!(
        /// Tries an upgradable read without blocking.
        try_upgradable_read() -> Option<RwLockUpgradableReadGuard<'_, T>> => try_upgradable_read, fallible);
    with_site!(
        /// Tries an upgradable read, waiting at most `timeout`.
        try_upgradable_read_for(timeout: Duration) -> Option<RwLockUpgradableReadGuard<'_, T>> => try_upgradable_read_for, fallible);
    with_site!(
        /// Tries an upgradable read, waiting until `deadline` at most.
        try_upgradable_read_until(deadline: Instant) -> Option<RwLockUpgradableReadGuard<'_, T>> => try_upgradable_read_until, fallible);

    /// A mutable reference to the data; no locking needed.
    #[inline]
    pub fn get_mut(&mut self) -> &mut T {
        self.0.get_mut()
    }

    /// Whether the lock is held in any mode.
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.0.is_locked()
    }

    /// Whether the lock is held exclusively.
    #[inline]
    pub fn is_locked_exclusive(&self) -> bool {
        self.0.is_locked_exclusive()
    }

    /// This crate's lock around lock_api's, as
    /// [`Mutex::from_lock_api`](crate::Mutex::from_lock_api): what
    /// `RwLockReadGuard::rwlock(&guard)` returns is the lock_api lock inside.
    #[inline]
    pub fn from_lock_api(inner: &lock_api::RwLock<RawRwLock, T>) -> &RwLock<T> {
        let p = inner as *const lock_api::RwLock<RawRwLock, T> as *const RwLock<T>;
        // SAFETY: `repr(transparent)` over the lock_api lock: a valid `&Self`
        // for the same lifetime.
        unsafe { &*p }
    }

    /// The `Arc` of lock_api's lock inside this one (the same allocation).
    #[cfg(feature = "arc_lock")]
    fn inner_arc(this: &Arc<Self>) -> Arc<lock_api::RwLock<RawRwLock, T>> {
        let p = Arc::into_raw(Arc::clone(this));
        // SAFETY: `repr(transparent)`: the pointee has the layout of the
        // lock_api lock, as `Arc::from_raw` requires.
        unsafe { Arc::from_raw(p as *const lock_api::RwLock<RawRwLock, T>) }
    }

    with_site!(
        /// [`read`](Self::read) through an `Arc`; the guard keeps the `Arc`
        /// alive (`arc_lock`).
        read_arc() -> ArcRwLockReadGuard<RawRwLock, T> => read_arc, arc_blocking);
    with_site!(
        /// [`try_read`](Self::try_read) through an `Arc` (`arc_lock`).
        try_read_arc() -> Option<ArcRwLockReadGuard<RawRwLock, T>> => try_read_arc, arc_fallible);
    with_site!(
        /// [`try_read_for`](Self::try_read_for) through an `Arc` (`arc_lock`).
        try_read_arc_for(timeout: Duration) -> Option<ArcRwLockReadGuard<RawRwLock, T>> => try_read_arc_for, arc_fallible);
    with_site!(
        /// [`try_read_until`](Self::try_read_until) through an `Arc` (`arc_lock`).
        try_read_arc_until(deadline: Instant) -> Option<ArcRwLockReadGuard<RawRwLock, T>> => try_read_arc_until, arc_fallible);
    with_site!(
        /// [`read_recursive`](Self::read_recursive) through an `Arc` (`arc_lock`).
        read_arc_recursive() -> ArcRwLockReadGuard<RawRwLock, T> => read_arc_recursive, arc_blocking);
    with_site!(
        /// [`try_read_recursive`](Self::try_read_recursive) through an `Arc` (`arc_lock`).
        try_read_recursive_arc() -> Option<ArcRwLockReadGuard<RawRwLock, T>> => try_read_recursive_arc, arc_fallible);
    with_site!(
        /// [`try_read_recursive_for`](Self::try_read_recursive_for) through an `Arc` (`arc_lock`).
        try_read_arc_recursive_for(timeout: Duration) -> Option<ArcRwLockReadGuard<RawRwLock, T>> => try_read_arc_recursive_for, arc_fallible);
    with_site!(
        /// [`try_read_recursive_until`](Self::try_read_recursive_until) through an `Arc` (`arc_lock`).
        try_read_arc_recursive_until(deadline: Instant) -> Option<ArcRwLockReadGuard<RawRwLock, T>> => try_read_arc_recursive_until, arc_fallible);
    with_site!(
        /// [`write`](Self::write) through an `Arc` (`arc_lock`).
        write_arc() -> ArcRwLockWriteGuard<RawRwLock, T> => write_arc, arc_blocking);
    with_site!(
        /// [`try_write`](Self::try_write) through an `Arc` (`arc_lock`).
        try_write_arc() -> Option<ArcRwLockWriteGuard<RawRwLock, T>> => try_write_arc, arc_fallible);
    with_site!(
        /// [`try_write_for`](Self::try_write_for) through an `Arc` (`arc_lock`).
        try_write_arc_for(timeout: Duration) -> Option<ArcRwLockWriteGuard<RawRwLock, T>> => try_write_arc_for, arc_fallible);
    with_site!(
        /// [`try_write_until`](Self::try_write_until) through an `Arc` (`arc_lock`).
        try_write_arc_until(deadline: Instant) -> Option<ArcRwLockWriteGuard<RawRwLock, T>> => try_write_arc_until, arc_fallible);
    with_site!(
        /// [`upgradable_read`](Self::upgradable_read) through an `Arc` (`arc_lock`).
        upgradable_read_arc() -> ArcRwLockUpgradableReadGuard<RawRwLock, T> => upgradable_read_arc, arc_blocking);
    with_site!(
        /// [`try_upgradable_read`](Self::try_upgradable_read) through an `Arc` (`arc_lock`).
        try_upgradable_read_arc() -> Option<ArcRwLockUpgradableReadGuard<RawRwLock, T>> => try_upgradable_read_arc, arc_fallible);
    with_site!(
        /// [`try_upgradable_read_for`](Self::try_upgradable_read_for) through an `Arc` (`arc_lock`).
        try_upgradable_read_arc_for(timeout: Duration) -> Option<ArcRwLockUpgradableReadGuard<RawRwLock, T>> => try_upgradable_read_arc_for, arc_fallible);
    with_site!(
        /// [`try_upgradable_read_until`](Self::try_upgradable_read_until) through an `Arc` (`arc_lock`).
        try_upgradable_read_arc_until(deadline: Instant) -> Option<ArcRwLockUpgradableReadGuard<RawRwLock, T>> => try_upgradable_read_arc_until, arc_fallible);
}

impl<'a, T: ?Sized> From<&'a lock_api::RwLock<RawRwLock, T>> for &'a RwLock<T> {
    /// [`RwLock::from_lock_api`].
    fn from(inner: &'a lock_api::RwLock<RawRwLock, T>) -> &'a RwLock<T> {
        RwLock::from_lock_api(inner)
    }
}

/// A new [`RwLock`], as parking_lot's `const_rwlock` ([`RwLock::new`] is
/// `const` too); its class is the caller's location and `T`.
#[track_caller]
#[inline]
pub const fn const_rwlock<T>(value: T) -> RwLock<T> {
    RwLock::new(value)
}

crate::wrapper_impls!(RwLock, lock_api::RwLock<RawRwLock, T>, read);
