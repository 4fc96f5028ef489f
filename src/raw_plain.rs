//! Release builds without `track-in-release`: the raw locks are parking_lot's
//! own, and the site hooks compile to nothing.

use std::panic::Location;

use lock_api::{RawMutex as _, RawRwLock as _};
use lockgraph_core::{Class, LockKind};

pub use parking_lot::{RawMutex, RawRwLock};

#[inline(always)]
pub(crate) fn set_site(_site: &'static Location<'static>) {}

#[inline(always)]
pub(crate) fn clear_site() {}

pub(crate) const fn mutex(_kind: LockKind, _class: Class) -> RawMutex {
    RawMutex::INIT
}

pub(crate) const fn rwlock(_class: Class) -> RawRwLock {
    RawRwLock::INIT
}
