//! Async locks for tokio, tracked per task (the `tokio` feature).
//!
//! [`Mutex`], [`RwLock`] and [`Semaphore`] are tokio's, with the same
//! methods and semantics, plus `named(..)` and `#[track_caller]` class
//! sites as the sync locks have. With tracking on, a lock taken inside a
//! tokio task is held by that *task* (by its id) wherever it runs next, and
//! outside a task by the thread; a guard dropped in another task or thread
//! ends the hold of the task that took it; tasks interleaved on one worker
//! never see each other's holds. The locks land in the one lock-order graph
//! the sync locks use: an inversion between two tasks, or between a task
//! and a thread through a sync lock, is reported before anything hangs,
//! naming the tasks, and recorded for `lockgraph check`.
//!
//! [`spawn`] and [`instrument`] give a task a name and spawn site for
//! reports, and report a sync lock held across an `.await` (the task's
//! poll returned `Pending` while its thread held a lockgraph sync lock
//! taken in that poll); an async acquisition that has to wait reports the
//! same. See docs/async.md for what is tracked and what is not.
//!
//! In release builds without `track-in-release` the lock types are
//! `repr(transparent)` newtypes of tokio's whose guards are tokio's own,
//! but for [`MutexGuard`] and [`SemaphorePermit`], `repr(transparent)`
//! newtypes of tokio's whose `MutexGuard::mutex` and `semaphore()` return
//! the lockgraph lock as in tracking builds. The owned guards' accessors
//! return an `Arc` of the lockgraph lock in tracking builds and of tokio's
//! lock in those release builds (see docs/async.md).
//!
//! ```
//! use std::sync::Arc;
//! use lockgraph::tokio::Mutex;
//!
//! let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! let (a, b) = (Arc::new(Mutex::new(0)), Arc::new(Mutex::new(0)));
//! // Tasks of a current_thread runtime run on this thread: `capture` sees
//! // their reports.
//! let reports = lockgraph::capture(|| {
//!     rt.block_on(async {
//!         let (a1, b1) = (a.clone(), b.clone());
//!         tokio::spawn(async move {
//!             let _ga = a1.lock().await;
//!             let _gb = b1.lock().await; // a -> b
//!         })
//!         .await
//!         .unwrap();
//!         let (a2, b2) = (a.clone(), b.clone());
//!         tokio::spawn(async move {
//!             let _gb = b2.lock().await;
//!             let _ga = a2.lock().await; // b -> a: reported before it waits
//!         })
//!         .await
//!         .unwrap();
//!     })
//! });
//! assert_eq!(reports.len(), usize::from(lockgraph::TRACKING));
//! ```

#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
mod mutex;
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
mod rwlock;
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
mod semaphore;
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
mod track;

#[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
mod plain;

pub mod mpsc;
mod spawn;
#[cfg(all(
    any(debug_assertions, feature = "track-in-release", loom),
    tokio_unstable,
    feature = "tokio-taskdump",
    target_os = "linux"
))]
mod taskdump;

#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
pub use mutex::{MappedMutexGuard, Mutex, MutexGuard, OwnedMappedMutexGuard, OwnedMutexGuard};
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
pub use rwlock::{
    OwnedRwLockMappedWriteGuard, OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock,
    RwLockMappedWriteGuard, RwLockReadGuard, RwLockWriteGuard,
};
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
pub use semaphore::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};

#[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
pub use plain::{Mutex, MutexGuard, RwLock, Semaphore, SemaphorePermit};
#[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
pub use tokio::sync::{
    MappedMutexGuard, OwnedMappedMutexGuard, OwnedMutexGuard, OwnedRwLockMappedWriteGuard,
    OwnedRwLockReadGuard, OwnedRwLockWriteGuard, OwnedSemaphorePermit, RwLockMappedWriteGuard,
    RwLockReadGuard, RwLockWriteGuard,
};

pub use spawn::{instrument, instrument_named, spawn, spawn_named, Instrumented};
/// tokio's error types, re-exported for the signatures above.
pub use tokio::sync::{AcquireError, TryAcquireError, TryLockError};
