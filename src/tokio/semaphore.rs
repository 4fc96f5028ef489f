//! `lockgraph::tokio::Semaphore`: a resource of N permits. Each permit a
//! task holds is a shared hold of the semaphore; each acquisition that can
//! wait is an exclusive request (it waits when the permits run out, for
//! any holder). The order graph does not count permits: a cycle through a
//! semaphore is reported even when it has a permit for every holder
//! (docs/async.md, "Semaphores").

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use lockgraph_core::resource::PublishedSize;
use lockgraph_core::{Class, Hold, LockKind, LockMeta, Request};
use tokio::sync::{AcquireError, TryAcquireError};

use super::track::{self, Tracked};

/// An async semaphore: [`tokio::sync::Semaphore`] whose permits are tracked
/// as holds of the task that acquired them.
pub struct Semaphore {
    meta: LockMeta,
    inner: tokio::sync::Semaphore,
    /// Its permits, free or not (the task watchdog's reports say them):
    /// given, added, less those forgotten.
    total: AtomicUsize,
    /// `total` as published for the reports, when an acquire waits.
    size: PublishedSize,
}

impl Semaphore {
    /// The most permits a semaphore can hold (tokio's).
    pub const MAX_PERMITS: usize = tokio::sync::Semaphore::MAX_PERMITS;

    /// A semaphore of `permits` permits whose class is the caller's site.
    #[track_caller]
    pub fn new(permits: usize) -> Semaphore {
        Semaphore::const_new(permits)
    }

    /// [`new`](Self::new), in a `const` context.
    #[track_caller]
    pub const fn const_new(permits: usize) -> Semaphore {
        Semaphore {
            meta: LockMeta::new(LockKind::AsyncSemaphore, Class::here_of::<Semaphore>()),
            inner: tokio::sync::Semaphore::const_new(permits),
            total: AtomicUsize::new(permits),
            size: PublishedSize::new(),
        }
    }

    /// A semaphore of `permits` permits whose class is `name`.
    pub const fn named(name: &'static str, permits: usize) -> Semaphore {
        Semaphore {
            meta: LockMeta::new(LockKind::AsyncSemaphore, Class::Named(name)),
            inner: tokio::sync::Semaphore::const_new(permits),
            total: AtomicUsize::new(permits),
            size: PublishedSize::new(),
        }
    }

    /// The permits available now.
    pub fn available_permits(&self) -> usize {
        self.inner.available_permits()
    }

    /// Adds `n` permits.
    pub fn add_permits(&self, n: usize) {
        self.total.fetch_add(n, Ordering::Relaxed);
        self.inner.add_permits(n)
    }

    /// Removes up to `n` available permits; how many it removed.
    pub fn forget_permits(&self, n: usize) -> usize {
        let gone = self.inner.forget_permits(n);
        self.total.fetch_sub(gone, Ordering::Relaxed);
        gone
    }

    /// `n` permits taken out of the semaphore for good (a permit's
    /// `forget`).
    fn forgot(&self, n: usize) {
        self.total.fetch_sub(n, Ordering::Relaxed);
    }

    /// Closes the semaphore: waiting and later acquisitions fail.
    pub fn close(&self) {
        self.inner.close()
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Acquires one permit, waiting until one is available.
    #[track_caller]
    pub fn acquire(&self) -> impl Future<Output = Result<SemaphorePermit<'_>, AcquireError>> + '_ {
        self.acquire_n(1, Location::caller())
    }

    /// Acquires `n` permits at once.
    #[track_caller]
    pub fn acquire_many(
        &self,
        n: u32,
    ) -> impl Future<Output = Result<SemaphorePermit<'_>, AcquireError>> + '_ {
        self.acquire_n(n, Location::caller())
    }

    async fn acquire_n(
        &self,
        n: u32,
        site: &'static Location<'static>,
    ) -> Result<SemaphorePermit<'_>, AcquireError> {
        if let Ok(p) = self.inner.try_acquire_many(n) {
            // Granted at once: the order check and the hold in one call.
            let hold = lockgraph_core::task::acquired_now_by(
                track::owner_now(),
                &self.meta,
                Request::Exclusive,
                Hold::Shared,
                Some(site),
                track::register,
            );
            return Ok(SemaphorePermit {
                g: Tracked::new(&self.meta, (p, hold)),
                sem: self,
            });
        }
        let (p, owner, waited) = track::request_then(
            &self.meta,
            Request::Exclusive,
            site,
            || self.inner.try_acquire_many(n).ok().map(Ok),
            || {
                // The wait begins: its report says the permits (a cold
                // path; a size published already is one load).
                self.size
                    .publish(&self.meta, self.total.load(Ordering::Relaxed));
                self.inner.acquire_many(n)
            },
        )
        .await;
        let p = p?;
        let hold = lockgraph_core::task::acquired_after(
            owner,
            &self.meta,
            Hold::Shared,
            Some(site),
            waited,
        );
        Ok(SemaphorePermit {
            g: Tracked::new(&self.meta, (p, hold)),
            sem: self,
        })
    }

    /// Tries to acquire one permit now (no edge into the semaphore).
    #[track_caller]
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Tries to acquire `n` permits now.
    #[track_caller]
    pub fn try_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        let parts = track::try_acquire(
            &self.meta,
            Hold::Shared,
            Location::caller(),
            self.inner.try_acquire_many(n),
        )?;
        Ok(SemaphorePermit {
            g: Tracked::new(&self.meta, parts),
            sem: self,
        })
    }

    /// [`acquire`](Self::acquire) with an owned permit.
    #[track_caller]
    pub fn acquire_owned(
        self: Arc<Self>,
    ) -> impl Future<Output = Result<OwnedSemaphorePermit, AcquireError>> {
        Semaphore::acquire_many_owned_at(self, 1, Location::caller())
    }

    /// [`acquire_many`](Self::acquire_many) with an owned permit.
    #[track_caller]
    pub fn acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> impl Future<Output = Result<OwnedSemaphorePermit, AcquireError>> {
        Semaphore::acquire_many_owned_at(self, n, Location::caller())
    }

    async fn acquire_many_owned_at(
        self: Arc<Self>,
        n: u32,
        site: &'static Location<'static>,
    ) -> Result<OwnedSemaphorePermit, AcquireError> {
        let p = self.acquire_n(n, site).await?;
        Ok(OwnedSemaphorePermit::new(p, self.clone()))
    }

    /// [`try_acquire`](Self::try_acquire) with an owned permit.
    #[track_caller]
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        let p = self.try_acquire_many(1)?;
        Ok(OwnedSemaphorePermit::new(p, self.clone()))
    }

    /// [`try_acquire_many`](Self::try_acquire_many) with an owned permit.
    #[track_caller]
    pub fn try_acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        let p = self.try_acquire_many(n)?;
        Ok(OwnedSemaphorePermit::new(p, self.clone()))
    }
}

impl Drop for Semaphore {
    fn drop(&mut self) {
        self.size.forget(&self.meta);
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

/// Permits of a [`Semaphore`], held by the task that acquired them until
/// dropped (or forgotten).
#[must_use]
pub struct SemaphorePermit<'a> {
    g: Tracked<'a, tokio::sync::SemaphorePermit<'a>>,
    sem: &'a Semaphore,
}

impl<'a> SemaphorePermit<'a> {
    /// Keeps the permits from returning to the semaphore; the hold ends.
    pub fn forget(self) {
        let sem = self.sem;
        let (meta, mut hold, p) = self.g.into_parts();
        hold.release(meta);
        sem.forgot(p.num_permits());
        p.forget();
    }

    /// Merges `other`'s permits into this one (same semaphore).
    pub fn merge(&mut self, other: Self) {
        let (meta, mut hold, p) = other.g.into_parts();
        hold.release(meta);
        self.g.inner_mut().merge(p);
    }

    /// Splits `n` permits off into a new permit (a second hold).
    pub fn split(&mut self, n: usize) -> Option<Self> {
        let p = self.g.inner_mut().split(n)?;
        // The split-off permits: a hold of the task that splits them.
        let hold = lockgraph_core::task::acquired(&self.sem.meta, Hold::Shared, None);
        Some(SemaphorePermit {
            g: Tracked::new(&self.sem.meta, (p, hold)),
            sem: self.sem,
        })
    }

    /// How many permits this is.
    pub fn num_permits(&self) -> usize {
        self.g.inner().num_permits()
    }

    /// The semaphore these permits are of.
    pub fn semaphore(&self) -> &Semaphore {
        self.sem
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.g.inner().fmt(f)
    }
}

/// Owned permits of a [`Semaphore`] (they keep it alive through an `Arc`).
#[must_use]
pub struct OwnedSemaphorePermit {
    // Declared (so dropped) before `sem`, whose allocation it borrows.
    g: Tracked<'static, tokio::sync::SemaphorePermit<'static>>,
    sem: Arc<Semaphore>,
}

impl OwnedSemaphorePermit {
    fn new(p: SemaphorePermit<'_>, sem: Arc<Semaphore>) -> Self {
        let (_, mut hold, p) = p.g.into_parts();
        // Owned permits may move to another task: not their taker's hold.
        hold.detach(&sem.meta);
        // SAFETY: `p` borrows the semaphore inside `sem`'s allocation, which
        // stays where it is while `sem` lives; `g` is dropped before `sem`.
        let p = unsafe {
            std::mem::transmute::<
                tokio::sync::SemaphorePermit<'_>,
                tokio::sync::SemaphorePermit<'static>,
            >(p)
        };
        // SAFETY: as above, for the semaphore's identity.
        let meta: &'static LockMeta = unsafe { &*(&sem.meta as *const LockMeta) };
        OwnedSemaphorePermit {
            g: Tracked::new(meta, (p, hold)),
            sem,
        }
    }

    /// Keeps the permits from returning to the semaphore; the hold ends.
    pub fn forget(self) {
        let OwnedSemaphorePermit { g, sem } = self;
        let (meta, mut hold, p) = g.into_parts();
        hold.release(meta);
        sem.forgot(p.num_permits());
        p.forget();
        drop(sem);
    }

    /// Merges `other`'s permits into this one (same semaphore).
    pub fn merge(&mut self, other: Self) {
        let OwnedSemaphorePermit { g, sem } = other;
        let (meta, mut hold, p) = g.into_parts();
        hold.release(meta);
        self.g.inner_mut().merge(p);
        drop(sem);
    }

    /// Splits `n` permits off into a new permit (a second hold).
    pub fn split(&mut self, n: usize) -> Option<Self> {
        let p = self.g.inner_mut().split(n)?;
        // The split-off permits are owned ones too: no task's hold (`new`).
        let mut hold = lockgraph_core::task::acquired(&self.sem.meta, Hold::Shared, None);
        hold.detach(&self.sem.meta);
        // SAFETY: as in `new`: the new permit keeps its own `Arc`.
        let meta: &'static LockMeta = unsafe { &*(&self.sem.meta as *const LockMeta) };
        Some(OwnedSemaphorePermit {
            g: Tracked::new(meta, (p, hold)),
            sem: self.sem.clone(),
        })
    }

    /// How many permits this is.
    pub fn num_permits(&self) -> usize {
        self.g.inner().num_permits()
    }

    /// The semaphore these permits are of.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.g.inner().fmt(f)
    }
}
