//! `Mutex` and `FairMutex`: one body, two raw locks.

use std::panic::Location;
use std::time::{Duration, Instant};

use lockgraph_core::{Class, LockKind};

use crate::raw::{self, RawFairMutex, RawMutex};

/// The lock types' shared body: constructors, the tracked blocking and
/// timed methods, `Arc` locking, the way back from lock_api's type.
macro_rules! mutex_body {
    ($name:ident, $raw:ty, $make:expr, $guard:ident) => {
        impl<T> $name<T> {
            /// A new unlocked lock whose class is the caller's source
            /// location and the type `T` it protects.
            #[track_caller]
            #[inline]
            pub const fn new(value: T) -> $name<T> {
                $name(lock_api::Mutex::from_raw($make(Class::here_of::<T>()), value))
            }

            /// A new unlocked lock whose class is `name`: all locks with one
            /// name are one class, wherever they are created.
            #[inline]
            pub const fn named(name: &'static str, value: T) -> $name<T> {
                $name(lock_api::Mutex::from_raw($make(Class::Named(name)), value))
            }

            /// A new lock from a raw lock, as `lock_api::Mutex::const_new`.
            /// The class is the raw lock's own: `INIT` makes an anonymous
            /// class (the lock is a class of its own, named by its instance
            /// in reports); [`new`](Self::new) and [`named`](Self::named)
            /// are `const` too and give a class.
            #[inline]
            pub const fn const_new(raw: $raw, value: T) -> $name<T> {
                $name(lock_api::Mutex::from_raw(raw, value))
            }

            /// [`const_new`](Self::const_new) under lock_api's newer name.
            #[inline]
            pub const fn from_raw(raw: $raw, value: T) -> $name<T> {
                Self::const_new(raw, value)
            }

            /// Consumes the lock and returns its data.
            #[inline]
            pub fn into_inner(self) -> T {
                self.0.into_inner()
            }
        }

        impl<T: ?Sized> $name<T> {
            /// Acquires the lock, blocking until it is available.
            ///
            /// With tracking on, a lock-order cycle closed by this
            /// acquisition (or a second lock of a lock this thread holds) is
            /// reported first.
            #[track_caller]
            #[inline]
            pub fn lock(&self) -> $guard<'_, T> {
                raw::lock(&self.0, Location::caller())
            }

            /// Attempts to acquire the lock without blocking. A successful
            /// `try_lock` records no edge into this lock (it never waits).
            #[track_caller]
            #[inline]
            pub fn try_lock(&self) -> Option<$guard<'_, T>> {
                raw::set_site(Location::caller());
                let g = self.0.try_lock();
                if g.is_none() {
                    raw::clear_site();
                }
                g
            }

            /// Attempts to acquire the lock, waiting at most `timeout`. It
            /// waits, so it records edges like [`lock`](Self::lock).
            #[track_caller]
            #[inline]
            pub fn try_lock_for(&self, timeout: Duration) -> Option<$guard<'_, T>> {
                raw::set_site(Location::caller());
                let g = self.0.try_lock_for(timeout);
                if g.is_none() {
                    raw::clear_site();
                }
                g
            }

            /// Attempts to acquire the lock, waiting until `deadline` at most.
            #[track_caller]
            #[inline]
            pub fn try_lock_until(&self, deadline: Instant) -> Option<$guard<'_, T>> {
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

            /// Whether the lock is currently locked.
            #[inline]
            pub fn is_locked(&self) -> bool {
                self.0.is_locked()
            }

            /// This crate's lock around lock_api's: what a guard's
            /// `MutexGuard::mutex(&guard)` returns (the guards are lock_api's,
            /// so that release builds use parking_lot's own) is the lock_api
            /// lock inside a lockgraph lock; this gives the lockgraph lock
            /// back. The same lock: tracking lives in its raw lock either way.
            #[inline]
            pub fn from_lock_api(inner: &lock_api::Mutex<$raw, T>) -> &$name<T> {
                let p = inner as *const lock_api::Mutex<$raw, T> as *const $name<T>;
                // SAFETY: the type is `repr(transparent)` over the lock_api
                // lock, so the pointer is a valid `&Self` for the same lifetime.
                unsafe { &*p }
            }

            /// The `Arc` of lock_api's lock inside this one (the same
            /// allocation; see [`from_lock_api`](Self::from_lock_api)).
            #[cfg(feature = "arc_lock")]
            fn inner_arc(this: &std::sync::Arc<Self>) -> std::sync::Arc<lock_api::Mutex<$raw, T>> {
                let p = std::sync::Arc::into_raw(std::sync::Arc::clone(this));
                // SAFETY: `repr(transparent)`: the pointee has the layout of
                // the lock_api lock, as `Arc::from_raw` requires.
                unsafe { std::sync::Arc::from_raw(p as *const lock_api::Mutex<$raw, T>) }
            }

            /// Acquires the lock through an `Arc`, blocking; the guard keeps
            /// the `Arc` alive instead of borrowing the lock (`arc_lock`).
            #[cfg(feature = "arc_lock")]
            #[track_caller]
            #[inline]
            pub fn lock_arc(self: &std::sync::Arc<Self>) -> lock_api::ArcMutexGuard<$raw, T> {
                raw::set_site(Location::caller());
                Self::inner_arc(self).lock_arc()
            }

            /// [`try_lock`](Self::try_lock) through an `Arc` (`arc_lock`).
            #[cfg(feature = "arc_lock")]
            #[track_caller]
            #[inline]
            pub fn try_lock_arc(
                self: &std::sync::Arc<Self>,
            ) -> Option<lock_api::ArcMutexGuard<$raw, T>> {
                raw::set_site(Location::caller());
                let g = Self::inner_arc(self).try_lock_arc();
                if g.is_none() {
                    raw::clear_site();
                }
                g
            }

            /// [`try_lock_for`](Self::try_lock_for) through an `Arc` (`arc_lock`).
            #[cfg(feature = "arc_lock")]
            #[track_caller]
            #[inline]
            pub fn try_lock_arc_for(
                self: &std::sync::Arc<Self>,
                timeout: Duration,
            ) -> Option<lock_api::ArcMutexGuard<$raw, T>> {
                raw::set_site(Location::caller());
                let g = Self::inner_arc(self).try_lock_arc_for(timeout);
                if g.is_none() {
                    raw::clear_site();
                }
                g
            }

            /// [`try_lock_until`](Self::try_lock_until) through an `Arc` (`arc_lock`).
            #[cfg(feature = "arc_lock")]
            #[track_caller]
            #[inline]
            pub fn try_lock_arc_until(
                self: &std::sync::Arc<Self>,
                deadline: Instant,
            ) -> Option<lock_api::ArcMutexGuard<$raw, T>> {
                raw::set_site(Location::caller());
                let g = Self::inner_arc(self).try_lock_arc_until(deadline);
                if g.is_none() {
                    raw::clear_site();
                }
                g
            }
        }

        impl<'a, T: ?Sized> From<&'a lock_api::Mutex<$raw, T>> for &'a $name<T> {
            /// [`from_lock_api`]($name::from_lock_api).
            fn from(inner: &'a lock_api::Mutex<$raw, T>) -> &'a $name<T> {
                $name::from_lock_api(inner)
            }
        }

        crate::wrapper_impls!($name, lock_api::Mutex<$raw, T>, lock);
    };
}

/// A mutual exclusion lock: `parking_lot::Mutex` with lock-order tracking.
///
/// Every blocking acquisition made while other locks are held records
/// "held -> this" in the lock-order graph; an acquisition that closes a cycle
/// is reported before it blocks. In release builds without the
/// `track-in-release` feature this is parking_lot's mutex in a
/// `repr(transparent)` newtype, and its guards are parking_lot's own.
///
/// The lock's *class* is where it was created ([`Mutex::new`], also through
/// `Default` or `From`) together with the type it protects, or its name
/// ([`Mutex::named`]). Everything `lock_api::Mutex` offers is reachable
/// through `Deref`.
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
/// lock_api's guard (parking_lot's own in release builds).
pub type MutexGuard<'a, T> = lock_api::MutexGuard<'a, RawMutex, T>;

/// A guard of a [`Mutex`] narrowed to part of the data by [`MutexGuard::map`].
pub type MappedMutexGuard<'a, T> = lock_api::MappedMutexGuard<'a, RawMutex, T>;

mutex_body!(Mutex, RawMutex, mutex_of_kind, MutexGuard);

#[inline]
const fn mutex_of_kind(class: Class) -> RawMutex {
    raw::mutex(LockKind::Mutex, class)
}

/// A mutex whose every unlock is fair: `parking_lot::FairMutex` with
/// lock-order tracking.
///
/// Unlocking hands the lock straight to a waiting thread, so no thread can
/// take it over and over while others wait. Tracked exactly like a
/// [`Mutex`] (reports call it `FairMutex`); `FairMutexGuard::unlock_fair`
/// releases it, and `FairMutexGuard::bump` (hand over and take back) keeps it
/// held and records edges from every other held lock to it, since taking it
/// back waits while they are held.
///
/// ```
/// use lockgraph::{FairMutex, FairMutexGuard};
///
/// let queue = FairMutex::new(vec![1, 2]);
/// let mut g = queue.lock();
/// g.push(3);
/// FairMutexGuard::bump(&mut g); // lets a waiting thread in, then continues
/// assert_eq!(g.len(), 3);
/// ```
#[repr(transparent)]
pub struct FairMutex<T: ?Sized>(lock_api::Mutex<RawFairMutex, T>);

/// An RAII guard of a [`FairMutex`].
pub type FairMutexGuard<'a, T> = lock_api::MutexGuard<'a, RawFairMutex, T>;

/// A guard of a [`FairMutex`] narrowed by `map`.
pub type MappedFairMutexGuard<'a, T> = lock_api::MappedMutexGuard<'a, RawFairMutex, T>;

mutex_body!(FairMutex, RawFairMutex, raw::fair_mutex, FairMutexGuard);

/// A new [`Mutex`], as parking_lot's `const_mutex` ([`Mutex::new`] is
/// `const` too); its class is the caller's location and `T`.
#[track_caller]
#[inline]
pub const fn const_mutex<T>(value: T) -> Mutex<T> {
    Mutex::new(value)
}

/// A new [`FairMutex`], as parking_lot's `const_fair_mutex`.
#[track_caller]
#[inline]
pub const fn const_fair_mutex<T>(value: T) -> FairMutex<T> {
    FairMutex::new(value)
}
