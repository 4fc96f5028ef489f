//! `lockgraph::tokio`: async locks held by tasks (the `tokio` feature).
//!
//! Scenarios on a `current_thread` runtime run on the test's own thread, so
//! `capture` sees their reports; the multi-thread one runs in a child
//! process (its reports are raised on worker threads) and is read from its
//! stderr.
#![cfg(feature = "tokio")]

use lockgraph::tokio::{Mutex, RwLock, Semaphore};

/// A multi-thread runtime of two workers, its drivers on (the tracking
/// builds' scenarios).
#[cfg(any(debug_assertions, feature = "track-in-release"))]
fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

mod both;

#[cfg(any(debug_assertions, feature = "track-in-release"))]
mod tracked;

#[cfg(any(debug_assertions, feature = "track-in-release"))]
mod gates;

#[cfg(any(debug_assertions, feature = "track-in-release"))]
mod profile;

#[cfg(any(debug_assertions, feature = "track-in-release"))]
mod sizes;

#[cfg(any(debug_assertions, feature = "track-in-release"))]
mod watchdog;

/// Release builds without tracking: tokio's own types underneath, of the
/// same size, with tokio's guards, but for `MutexGuard` and
/// `SemaphorePermit`: newtypes of tokio's of the same size, whose accessor
/// gives the lockgraph lock (tests/tokio/both.rs).
#[cfg(not(any(debug_assertions, feature = "track-in-release")))]
#[test]
fn release_types_are_tokios() {
    use std::any::TypeId;
    use std::mem::{align_of, size_of};
    assert_eq!(
        size_of::<Mutex<u64>>(),
        size_of::<tokio::sync::Mutex<u64>>()
    );
    assert_eq!(
        size_of::<RwLock<u64>>(),
        size_of::<tokio::sync::RwLock<u64>>()
    );
    assert_eq!(size_of::<Semaphore>(), size_of::<tokio::sync::Semaphore>());
    assert_eq!(
        (
            size_of::<lockgraph::tokio::MutexGuard<'static, u64>>(),
            align_of::<lockgraph::tokio::MutexGuard<'static, u64>>()
        ),
        (
            size_of::<tokio::sync::MutexGuard<'static, u64>>(),
            align_of::<tokio::sync::MutexGuard<'static, u64>>()
        )
    );
    assert_eq!(
        size_of::<lockgraph::tokio::SemaphorePermit<'static>>(),
        size_of::<tokio::sync::SemaphorePermit<'static>>()
    );
    assert_eq!(
        TypeId::of::<lockgraph::tokio::RwLockWriteGuard<'static, u64>>(),
        TypeId::of::<tokio::sync::RwLockWriteGuard<'static, u64>>()
    );
    assert_eq!(
        TypeId::of::<lockgraph::tokio::MappedMutexGuard<'static, u64>>(),
        TypeId::of::<tokio::sync::MappedMutexGuard<'static, u64>>()
    );
    assert_eq!(
        TypeId::of::<lockgraph::tokio::OwnedMutexGuard<u64>>(),
        TypeId::of::<tokio::sync::OwnedMutexGuard<u64>>()
    );
    let m = Mutex::named("release", 1);
    let g = current_thread().block_on(m.lock());
    assert_eq!(*g, 1);
}
