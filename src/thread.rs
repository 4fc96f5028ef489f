//! `std::thread`, with joins in the lock-order graph and the watchdog
//! (`docs/pipelines.md`): a join while holding a lock the joined thread
//! takes is a cycle, reported at the join (whether or not the thread has
//! finished by then).
//!
//! A thread spawned here holds a pseudo-lock of its own while it runs (its
//! class: the thread's name, or the spawn site for an unnamed thread), so
//! the locks it takes are its needs; `join` requests it. In release builds
//! without tracking this module is `std::thread`.
//!
//! In tracking builds [`scope`] hands its closure this module's [`Scope`],
//! not std's (whose `spawn` cannot be tracked): a helper that takes the
//! scope names it `lockgraph::thread::Scope<'scope, 'env>`, which is std's
//! own type in release builds, so the helper compiles in both.
//!
//! ```
//! use lockgraph::Mutex;
//! use std::sync::Arc;
//!
//! let config = Arc::new(Mutex::named("thread-doc-config", 0));
//! let reports = lockgraph::capture(|| {
//!     let c = config.clone();
//!     let worker = lockgraph::thread::Builder::new()
//!         .name("thread-doc-worker".into())
//!         .spawn(move || *c.lock() += 1)
//!         .unwrap();
//!     // Joined before anything is held: fine. The same join made while
//!     // holding `config` could hang, and would be reported.
//!     worker.join().unwrap();
//! });
//! assert!(reports.is_empty());
//! ```

use std::fmt;
use std::io;
use std::panic::Location;
use std::sync::Arc;

use lockgraph_core::__private::{Blocking, Deadline, WaitMode};
use lockgraph_core::{resource::Resource, Class, LockKind};

pub use std::thread::{
    available_parallelism, current, panicking, park, park_timeout, sleep, yield_now, AccessError,
    LocalKey, Result, Thread, ThreadId,
};

/// A thread's pseudo-lock and its end.
struct Running {
    res: Resource,
    done: parking_lot::Mutex<bool>,
    ended: parking_lot::Condvar,
    /// Joined through its handle (a scope's implicit join skips it).
    joined: std::sync::atomic::AtomicBool,
}

impl Running {
    fn new(name: Option<&str>, site: &'static Location<'static>) -> Arc<Running> {
        let class = match name {
            Some(n) => Class::Named(intern(n)),
            None => Class::Site(site, no_type),
        };
        Arc::new(Running {
            res: Resource::new(LockKind::Thread, class),
            done: parking_lot::Mutex::new(false),
            ended: parking_lot::Condvar::new(),
            joined: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Runs the thread's body holding its pseudo-lock; marks it done after,
    /// even when it unwinds.
    fn run<T>(&self, site: &'static Location<'static>, f: impl FnOnce() -> T) -> T {
        struct Done<'a>(&'a Running);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                *self.0.done.lock() = true;
                self.0.ended.notify_all();
            }
        }
        let _done = Done(self);
        self.res.serve_while(Some(site), f)
    }

    /// A join's request and wait for the thread to end, asked at `site`.
    fn wait_done(&self, site: &'static Location<'static>) {
        self.joined
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.res.before_block(Some(site));
        self.res.wait(Ended(self), WaitMode::Join, Some(site), None);
        self.res.blocked_done();
    }
}

fn no_type() -> &'static str {
    ""
}

/// Thread names are few (a program's stages); each distinct one is kept
/// for the process as a class name.
fn intern(name: &str) -> &'static str {
    static NAMES: parking_lot::Mutex<Vec<&'static str>> = parking_lot::Mutex::new(Vec::new());
    let mut g = NAMES.lock();
    if let Some(n) = g.iter().find(|n| **n == name) {
        return n;
    }
    let n: &'static str = Box::leak(name.to_string().into_boxed_str());
    g.push(n);
    n
}

#[derive(Clone, Copy)]
struct Ended<'a>(&'a Running);

impl Blocking for Ended<'_> {
    fn try_now(&self) -> bool {
        *self.0.done.lock()
    }
    fn block(&self) {
        let mut g = self.0.done.lock();
        while !*g {
            self.0.ended.wait(&mut g);
        }
    }
    fn block_until(&self, deadline: Deadline) -> bool {
        let Some(end) = deadline.instant() else {
            self.block();
            return true;
        };
        let mut g = self.0.done.lock();
        while !*g {
            if self.0.ended.wait_until(&mut g, end).timed_out() {
                return *g;
            }
        }
        true
    }
}

/// A tracked thread's handle: `join` is a request of the thread.
pub struct JoinHandle<T> {
    inner: std::thread::JoinHandle<T>,
    running: Arc<Running>,
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to finish; its result, or its panic.
    #[track_caller]
    pub fn join(self) -> Result<T> {
        self.running.wait_done(Location::caller());
        self.inner.join()
    }

    /// The thread.
    pub fn thread(&self) -> &Thread {
        self.inner.thread()
    }

    /// Whether the thread has finished.
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// std's handle (its joins are not tracked).
    pub fn into_std(self) -> std::thread::JoinHandle<T> {
        self.inner
    }
}

/// The pthread of the handle's thread, as std's handle gives it.
#[cfg(unix)]
impl<T> std::os::unix::thread::JoinHandleExt for JoinHandle<T> {
    fn as_pthread_t(&self) -> std::os::unix::thread::RawPthread {
        self.inner.as_pthread_t()
    }

    fn into_pthread_t(self) -> std::os::unix::thread::RawPthread {
        self.inner.into_pthread_t()
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").finish_non_exhaustive()
    }
}

/// Spawns a tracked thread (panics if the OS cannot, as std's `spawn`).
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().spawn(f).expect("failed to spawn thread")
}

/// std's thread `Builder`, spawning tracked threads.
#[derive(Debug)]
pub struct Builder {
    inner: std::thread::Builder,
    name: Option<String>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// A builder with std's defaults.
    pub fn new() -> Builder {
        Builder {
            inner: std::thread::Builder::new(),
            name: None,
        }
    }

    /// The thread's name (also its class in the lock-order graph, and its
    /// stage in the pipeline profile).
    pub fn name(self, name: String) -> Builder {
        Builder {
            inner: self.inner.name(name.clone()),
            name: Some(name),
        }
    }

    /// The thread's stack size.
    pub fn stack_size(self, size: usize) -> Builder {
        Builder {
            inner: self.inner.stack_size(size),
            name: self.name,
        }
    }

    /// Spawns the thread.
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let site = Location::caller();
        let running = Running::new(self.name.as_deref(), site);
        let r = running.clone();
        let inner = self.inner.spawn(move || r.run(site, f))?;
        Ok(JoinHandle { inner, running })
    }

    /// Spawns the thread without the `'static` bounds (std's
    /// `Builder::spawn_unchecked`).
    ///
    /// # Safety
    /// As std's: the caller ensures that the thread is joined before any
    /// value that `f` or its result borrows is dropped.
    #[track_caller]
    pub unsafe fn spawn_unchecked<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        let site = Location::caller();
        let running = Running::new(self.name.as_deref(), site);
        let r = running.clone();
        // SAFETY: the caller's contract is std's (this function's docs): the
        // thread is joined before what `f` borrows goes away; the tracking
        // around `f` borrows nothing but the `Arc` it owns.
        let inner = unsafe { self.inner.spawn_unchecked(move || r.run(site, f))? };
        Ok(JoinHandle { inner, running })
    }

    /// Spawns a scoped thread in `scope`.
    #[track_caller]
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &Scope<'scope, 'env>,
        f: F,
    ) -> io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let site = Location::caller();
        let running = Running::new(self.name.as_deref(), site);
        let r = running.clone();
        let inner = self
            .inner
            .spawn_scoped(scope.inner, move || r.run(site, f))?;
        scope.unjoined.lock().push(running.clone());
        Ok(ScopedJoinHandle { inner, running })
    }
}

/// A scope for threads that borrow (std's `thread::scope`): the threads
/// not joined by the end of the closure are joined there, and those joins
/// are requests made at the `scope` call.
pub struct Scope<'scope, 'env: 'scope> {
    inner: &'scope std::thread::Scope<'scope, 'env>,
    unjoined: parking_lot::Mutex<Vec<Arc<Running>>>,
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Spawns a tracked scoped thread.
    #[track_caller]
    pub fn spawn<F, T>(&self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        Builder::new()
            .spawn_scoped(self, f)
            .expect("failed to spawn thread")
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope").finish_non_exhaustive()
    }
}

/// A scoped thread's handle.
pub struct ScopedJoinHandle<'scope, T> {
    inner: std::thread::ScopedJoinHandle<'scope, T>,
    running: Arc<Running>,
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the thread to finish; its result, or its panic.
    #[track_caller]
    pub fn join(self) -> Result<T> {
        self.running.wait_done(Location::caller());
        self.inner.join()
    }

    /// The thread.
    pub fn thread(&self) -> &Thread {
        self.inner.thread()
    }

    /// Whether the thread has finished.
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }
}

impl<T> fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedJoinHandle").finish_non_exhaustive()
    }
}

/// std's `thread::scope` with tracked threads. The closure gets the scope
/// by reference for its own body: unlike std's, it cannot be moved into a
/// spawned thread to spawn from there (use `std::thread::scope` for that).
#[track_caller]
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&Scope<'scope, 'env>) -> T,
{
    let site = Location::caller();
    std::thread::scope(|s| {
        let ours = Scope {
            inner: s,
            unjoined: parking_lot::Mutex::new(Vec::new()),
        };
        let r = f(&ours);
        // The implicit joins, as requests made at the `scope` call.
        for t in ours.unjoined.into_inner() {
            if !t.joined.load(std::sync::atomic::Ordering::Relaxed) {
                t.wait_done(site);
            }
        }
        r
    })
}
