//! A counting semaphore whose permit holders are in the lock-order graph
//! (`docs/pipelines.md`): an acquire while holding a lock that a permit
//! holder takes before releasing is a cycle, reported at the acquire.

use std::fmt;
use std::marker::PhantomData;
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
use lockgraph_core::__private::{primitive, Blocking, Deadline, WaitMode};
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
use lockgraph_core::{resource::Resource, Class, LockKind};

/// A counting semaphore: `acquire` takes one of its permits (blocking while
/// none is left), the returned guard gives it back when dropped.
///
/// In builds that track, an acquire is a request of the semaphore and a
/// permit is a hold of it, as for a lock with several holders: holding `L`
/// while acquiring, with a permit holder taking `L`, is reported at the
/// acquire, whether or not a permit was free at the time. The watchdog
/// sees an acquire blocked for the permit holders.
///
/// ```
/// let slots = lockgraph::Semaphore::named("semaphore-doc-gpu", 2);
/// let a = slots.acquire();
/// let b = slots.try_acquire().unwrap();
/// assert!(slots.try_acquire().is_none());
/// drop((a, b));
/// assert_eq!(slots.available_permits(), 2);
/// ```
pub struct Semaphore {
    permits: AtomicUsize,
    /// Threads parked for a permit.
    waiting: AtomicUsize,
    park: parking_lot::Mutex<()>,
    freed: parking_lot::Condvar,
    /// Its permits, free or not (the watchdog's reports say them): given,
    /// added, less those forgotten.
    #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
    total: AtomicUsize,
    #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
    res: Resource,
}

impl Semaphore {
    /// A semaphore of `permits` permits, of the class of its creation site.
    #[track_caller]
    pub fn new(permits: usize) -> Semaphore {
        #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
        {
            Semaphore::with_class(permits, Class::here())
        }
        #[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
        {
            Semaphore::plain(permits)
        }
    }

    /// A semaphore of `permits` permits, of the class `name`.
    pub fn named(name: &'static str, permits: usize) -> Semaphore {
        #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
        {
            Semaphore::with_class(permits, Class::Named(name))
        }
        #[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
        {
            let _ = name;
            Semaphore::plain(permits)
        }
    }

    #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
    fn with_class(permits: usize, class: Class) -> Semaphore {
        Semaphore {
            permits: AtomicUsize::new(permits),
            waiting: AtomicUsize::new(0),
            park: parking_lot::Mutex::new(()),
            freed: parking_lot::Condvar::new(),
            total: AtomicUsize::new(permits),
            res: Resource::new(LockKind::Semaphore, class),
        }
    }

    #[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
    fn plain(permits: usize) -> Semaphore {
        Semaphore {
            permits: AtomicUsize::new(permits),
            waiting: AtomicUsize::new(0),
            park: parking_lot::Mutex::new(()),
            freed: parking_lot::Condvar::new(),
        }
    }

    /// The permits free now.
    pub fn available_permits(&self) -> usize {
        self.permits.load(Ordering::Relaxed)
    }

    /// Adds `n` permits.
    pub fn add_permits(&self, n: usize) {
        #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
        self.total.fetch_add(n, Ordering::Relaxed);
        self.permits.fetch_add(n, Ordering::SeqCst);
        self.wake();
    }

    /// Takes a permit, blocking while none is free.
    #[track_caller]
    #[inline]
    pub fn acquire(&self) -> SemaphoreGuard<'_> {
        #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
        primitive::acquire(
            self.res.meta(),
            Raw(self),
            WaitMode::Permit,
            Some(Location::caller()),
        );
        #[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
        if !self.take() {
            self.park_until(None);
        }
        SemaphoreGuard::new(self)
    }

    /// Takes a permit if one is free now (never blocks: no edge).
    #[track_caller]
    pub fn try_acquire(&self) -> Option<SemaphoreGuard<'_>> {
        #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
        let ok = at_caller(|| primitive::try_acquire(self.res.meta(), Raw(self), WaitMode::Permit));
        #[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
        let ok = self.take();
        ok.then(|| SemaphoreGuard::new(self))
    }

    /// Takes a permit, waiting at most `timeout`.
    #[track_caller]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphoreGuard<'_>> {
        #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
        let ok = at_caller(|| {
            primitive::acquire_until(
                self.res.meta(),
                Raw(self),
                WaitMode::Permit,
                Deadline::After(timeout),
            )
        });
        #[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
        let ok = self.park_until(std::time::Instant::now().checked_add(timeout));
        ok.then(|| SemaphoreGuard::new(self))
    }

    /// One attempt to take a permit.
    #[inline]
    fn take(&self) -> bool {
        self.permits
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |p| p.checked_sub(1))
            .is_ok()
    }

    /// Parks until a permit is taken or `end` passes; whether it took one.
    #[cold]
    #[inline(never)]
    fn park_until(&self, end: Option<std::time::Instant>) -> bool {
        if self.take() {
            return true;
        }
        // For the watchdog's reports (again when permits were added or
        // forgotten since).
        #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
        self.res.publish_size(self.total.load(Ordering::Relaxed));
        let mut g = self.park.lock();
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let ok = loop {
            if self.take() {
                break true;
            }
            match end {
                Some(e) => {
                    if self.freed.wait_until(&mut g, e).timed_out() {
                        break self.take();
                    }
                }
                None => self.freed.wait(&mut g),
            }
        };
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        ok
    }

    /// Gives a permit back.
    #[inline]
    fn give(&self) {
        self.permits.fetch_add(1, Ordering::SeqCst);
        self.wake();
    }

    #[inline]
    fn wake(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.notify();
        }
    }

    #[cold]
    #[inline(never)]
    fn notify(&self) {
        let _g = self.park.lock();
        self.freed.notify_one();
    }
}

/// Runs `attempt` (a try or a timed acquire, whose primitive takes no site)
/// with the caller's site pending, so that its request and its permit name
/// the line that asked (as `acquire` does); a site that no hold took is
/// cleared.
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
#[track_caller]
#[inline]
fn at_caller(attempt: impl FnOnce() -> bool) -> bool {
    lockgraph_core::__private::set_pending_site(Location::caller());
    let ok = attempt();
    if !ok {
        lockgraph_core::__private::clear_pending_site();
    }
    ok
}

/// The raw operations of an acquire.
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
#[derive(Clone, Copy)]
struct Raw<'a>(&'a Semaphore);

#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
impl Blocking for Raw<'_> {
    #[inline]
    fn try_now(&self) -> bool {
        self.0.take()
    }
    #[inline]
    fn block(&self) {
        // The uncontended case without a call: the attempt inlined here.
        if !self.0.take() {
            self.0.park_until(None);
        }
    }
    fn block_until(&self, deadline: Deadline) -> bool {
        self.0.park_until(deadline.instant())
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .finish_non_exhaustive()
    }
}

/// A permit of a [`Semaphore`], given back when dropped. Not `Send`: the
/// thread that took it holds it (in the lock-order graph too).
#[must_use = "the permit is given back at once if the guard is not kept"]
pub struct SemaphoreGuard<'a> {
    sem: &'a Semaphore,
    _not_send: PhantomData<*const ()>,
}

impl<'a> SemaphoreGuard<'a> {
    #[inline]
    fn new(sem: &'a Semaphore) -> SemaphoreGuard<'a> {
        SemaphoreGuard {
            sem,
            _not_send: PhantomData,
        }
    }

    /// Keeps the permit taken for good (the semaphore has one permit fewer);
    /// the thread no longer holds it.
    pub fn forget(self) {
        #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
        {
            primitive::release(self.sem.res.meta(), WaitMode::Permit);
            self.sem.total.fetch_sub(1, Ordering::Relaxed);
        }
        std::mem::forget(self);
    }
}

impl Drop for SemaphoreGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        #[cfg(any(debug_assertions, feature = "track-in-release", loom))]
        primitive::release(self.sem.res.meta(), WaitMode::Permit);
        self.sem.give();
    }
}

impl fmt::Debug for SemaphoreGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreGuard").finish_non_exhaustive()
    }
}
