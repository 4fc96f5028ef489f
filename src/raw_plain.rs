//! Release builds without `track-in-release`: the raw locks are parking_lot's
//! own, and the site hooks compile to nothing.

use std::panic::Location;

use lock_api::{RawMutex as _, RawRwLock as _};
use lockgraph_core::{Class, LockKind};

pub use parking_lot::{RawFairMutex, RawMutex, RawRwLock};

#[inline(always)]
pub(crate) fn set_site(_site: &'static Location<'static>) {}

#[inline(always)]
pub(crate) fn clear_site() {}

#[inline(always)]
pub(crate) fn lock<'a, R: lock_api::RawMutex, T: ?Sized>(
    mutex: &'a lock_api::Mutex<R, T>,
    _site: &'static Location<'static>,
) -> lock_api::MutexGuard<'a, R, T> {
    mutex.lock()
}

#[inline(always)]
pub(crate) fn read<'a, T: ?Sized>(
    rwlock: &'a lock_api::RwLock<RawRwLock, T>,
    _site: &'static Location<'static>,
) -> lock_api::RwLockReadGuard<'a, RawRwLock, T> {
    rwlock.read()
}

#[inline(always)]
pub(crate) fn write<'a, T: ?Sized>(
    rwlock: &'a lock_api::RwLock<RawRwLock, T>,
    _site: &'static Location<'static>,
) -> lock_api::RwLockWriteGuard<'a, RawRwLock, T> {
    rwlock.write()
}

#[inline]
pub(crate) const fn mutex(_kind: LockKind, _class: Class) -> RawMutex {
    RawMutex::INIT
}

#[inline]
pub(crate) const fn fair_mutex(_class: Class) -> RawFairMutex {
    RawFairMutex::INIT
}

#[inline]
pub(crate) const fn rwlock(_class: Class) -> RawRwLock {
    RawRwLock::INIT
}
