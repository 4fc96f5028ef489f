//! What the tracked async locks share: the task id for the core, and the
//! request protocol around an async wait.

use std::future::Future;
use std::hash::{Hash, Hasher};
use std::panic::Location;
use std::time::{Duration, Instant};

use lockgraph_core::task::{self, AsyncHold};
use lockgraph_core::{Hold, LockMeta, Request};

/// Reads the number out of a `tokio::task::Id` (its `Hash` writes it as one
/// `u64`; its `Display` prints it).
#[derive(Default)]
struct IdNumber(u64);

impl Hasher for IdNumber {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The id of the tokio task running on this thread, if any.
#[inline]
pub(crate) fn task_id() -> Option<u64> {
    tokio::task::try_id().map(id_number)
}

/// The task (else thread) running on this thread, read in place.
#[inline]
pub(crate) fn owner_now() -> task::Owner {
    match tokio::task::try_id() {
        Some(id) => task::Owner::Task(id_number(id)),
        None => task::current_owner(),
    }
}

/// The number of a tokio task id.
#[inline]
pub(crate) fn id_number(id: tokio::task::Id) -> u64 {
    let mut h = IdNumber::default();
    id.hash(&mut h);
    h.finish()
}

/// Tells the core how to find the running task (once is enough; the
/// check is one relaxed load).
#[inline]
pub(crate) fn register() {
    if !task::async_used() {
        task::set_current_task(task_id);
    }
}

/// A request of `meta` that may wait, asked at `site`: `try_now`, and the
/// order check with the hold when it succeeded; else the order check, then
/// `wait` (the await), after the "sync lock held across an await" check.
///
/// The request that needs no wait runs straight through in the first poll
/// (one async body, no nested future); only a wait goes through
/// [`wait_for`].
pub(crate) async fn acquire<G, W: Future<Output = G>>(
    meta: &LockMeta,
    request: Request,
    hold: Hold,
    site: &'static Location<'static>,
    try_now: impl FnOnce() -> Option<G>,
    wait: impl FnOnce() -> W,
) -> (G, AsyncHold) {
    if let Some(g) = try_now() {
        // Granted at once: the order check and the hold in one call.
        return (
            g,
            task::acquired_now_by(owner_now(), meta, request, hold, Some(site), register),
        );
    }
    register();
    let owner = task::before_wait(meta, request, Some(site));
    let (g, waited) = wait_for(meta, request, site, wait()).await;
    (
        g,
        task::acquired_after(owner, meta, hold, Some(site), waited),
    )
}

/// [`acquire`] without the hold (the caller takes it with
/// `task::acquired_after` if the request succeeded: a semaphore can be
/// closed): what was granted, the owner, and the wait when there was one
/// and the contention profile is on.
pub(crate) async fn request_then<G, W: Future<Output = G>>(
    meta: &LockMeta,
    request: Request,
    site: &'static Location<'static>,
    try_now: impl FnOnce() -> Option<G>,
    wait: impl FnOnce() -> W,
) -> (G, task::Owner, Option<Duration>) {
    register();
    let owner = task::before_wait(meta, request, Some(site));
    match try_now() {
        Some(g) => (g, owner, None),
        None => {
            let (g, waited) = wait_for(meta, request, site, wait()).await;
            (g, owner, waited)
        }
    }
}

/// The wait of a request that could not be granted at once: the "sync
/// lock held across an await" check, the task watchdog's registration
/// (when on) for as long as it waits, then `wait`; how long it took when
/// the contention profile is on.
async fn wait_for<G>(
    meta: &LockMeta,
    request: Request,
    site: &'static Location<'static>,
    wait: impl Future<Output = G>,
) -> (G, Option<Duration>) {
    waits(meta, site);
    let start = lockgraph_core::profile::on().then(Instant::now);
    let _wait = task::wait_begins(meta, request, Some(site));
    let g = wait.await;
    (g, start.map(|t| t.elapsed()))
}

/// The async acquisition of `meta` has to wait: a sync lock the thread
/// holds now stays held while the task is suspended.
#[cold]
fn waits(meta: &LockMeta, site: &'static Location<'static>) {
    #[cfg(all(tokio_unstable, feature = "tokio-taskdump", target_os = "linux"))]
    super::taskdump::note_runtime();
    task::check_pending(
        0,
        || format!("waiting for {} {}", meta.kind().name(), describe(meta)),
        Some(site),
    );
}

fn describe(meta: &LockMeta) -> String {
    match meta.class() {
        lockgraph_core::Class::Named(n) => format!("`{n}`"),
        lockgraph_core::Class::Site(l, _) => format!("created at {l}"),
        lockgraph_core::Class::Anonymous => format!("#{}", meta.id()),
    }
}

/// A blocking request (`blocking_lock`, outside the runtime): the order
/// check, then `try_now`, and only if that fails `block`.
pub(crate) fn acquire_blocking<G>(
    meta: &LockMeta,
    request: Request,
    hold: Hold,
    site: &'static Location<'static>,
    try_now: impl FnOnce() -> Option<G>,
    block: impl FnOnce() -> G,
) -> (G, AsyncHold) {
    register();
    let owner = task::before_wait(meta, request, Some(site));
    if let Some(g) = try_now() {
        return (g, task::acquired_by(owner, meta, hold, Some(site)));
    }
    let start = lockgraph_core::profile::on().then(Instant::now);
    let g = {
        let _wait = task::blocking_wait_begins(meta, request, Some(site));
        block()
    };
    let waited = start.map(|t| t.elapsed());
    (
        g,
        task::acquired_after(owner, meta, hold, Some(site), waited),
    )
}

/// A try: no edge into `meta`; the hold when it succeeded.
pub(crate) fn try_acquire<G, E>(
    meta: &LockMeta,
    hold: Hold,
    site: &'static Location<'static>,
    r: Result<G, E>,
) -> Result<(G, AsyncHold), E> {
    match r {
        Ok(g) => {
            register();
            Ok((g, task::acquired(meta, hold, Some(site))))
        }
        Err(e) => Err(e),
    }
}

impl<G, T, Mk, W, F> Drop for LockFuture<'_, G, T, Mk, W, F> {
    #[inline]
    fn drop(&mut self) {
        if self.waiting.is_some() {
            self.drop_waiting();
        }
    }
}

impl<G, T, Mk, W, F> LockFuture<'_, G, T, Mk, W, F> {
    /// A future dropped while it waits (cancelled): tokio's future and the
    /// registration go. Out of line: the drop of a future that was granted
    /// at once is then one inline check.
    #[cold]
    #[inline(never)]
    fn drop_waiting(&mut self) {
        // SAFETY: dropped once, here (a `poll` that drops it leaves
        // `None`, and this runs from `drop` only); in place, as it is
        // pinned.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.waiting) };
    }
}

/// A guard of tokio's (`G`) with the hold it stands for: the hold ends
/// (in the set of the task that took it) before tokio's guard unlocks.
pub(crate) struct Tracked<'a, G> {
    meta: &'a LockMeta,
    hold: AsyncHold,
    inner: std::mem::ManuallyDrop<G>,
}

impl<'a, G> Tracked<'a, G> {
    pub(crate) fn new(meta: &'a LockMeta, (inner, hold): (G, AsyncHold)) -> Self {
        Tracked {
            meta,
            hold,
            inner: std::mem::ManuallyDrop::new(inner),
        }
    }

    pub(crate) fn inner(&self) -> &G {
        &self.inner
    }

    pub(crate) fn inner_mut(&mut self) -> &mut G {
        &mut self.inner
    }

    pub(crate) fn hold(&self) -> &AsyncHold {
        &self.hold
    }

    /// The parts, without running `Drop`.
    pub(crate) fn into_parts(self) -> (&'a LockMeta, AsyncHold, G) {
        let mut this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; each field is
        // read exactly once.
        unsafe {
            (
                this.meta,
                std::ptr::read(&this.hold),
                std::mem::ManuallyDrop::take(&mut this.inner),
            )
        }
    }

    /// Tokio's guard turned into another (mapped, downgraded); the hold
    /// goes with it.
    pub(crate) fn map<H>(self, f: impl FnOnce(G) -> H) -> Tracked<'a, H> {
        let (meta, hold, inner) = self.into_parts();
        Tracked::new(meta, (f(inner), hold))
    }

    /// [`map`](Self::map) with a conversion that can fail and give the
    /// guard back.
    pub(crate) fn try_map<H>(
        self,
        f: impl FnOnce(G) -> Result<H, G>,
    ) -> Result<Tracked<'a, H>, Tracked<'a, G>> {
        let (meta, hold, inner) = self.into_parts();
        match f(inner) {
            Ok(h) => Ok(Tracked::new(meta, (h, hold))),
            Err(g) => Err(Tracked::new(meta, (g, hold))),
        }
    }
}

impl<G> Drop for Tracked<'_, G> {
    fn drop(&mut self) {
        self.hold.release_by(self.meta, owner_now);
        // SAFETY: dropped once, here; not used afterwards.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.inner) };
    }
}

/// The future of a borrowed async acquisition (`Mutex::lock`,
/// `RwLock::read`, `RwLock::write`), written by hand: its first poll tries
/// the lock and, granted, makes the order check and takes the hold
/// ([`task::acquired_now`]) and is ready, without the state machines of
/// nested async bodies; else it makes the order check, the "sync lock held
/// across an await" check and the watchdog's registration, and polls
/// tokio's own future (`make()`) until it grants the lock. `finish` makes
/// the guard. (The owned acquisitions keep [`acquire`]: their future owns
/// the `Arc` that tokio's future borrows.)
pub(crate) struct LockFuture<'a, G, T, Mk, W, F> {
    meta: &'a LockMeta,
    request: Request,
    hold: Hold,
    site: &'static Location<'static>,
    try_now: Option<T>,
    make: Option<Mk>,
    finish: Option<F>,
    /// Structurally pinned: set once, never moved, dropped in place (by
    /// `poll` once it is ready, else by `drop`): a `ManuallyDrop`, so that
    /// the future's drop, after a lock granted at once, is one inline check.
    waiting: std::mem::ManuallyDrop<Option<Waiting<W>>>,
    _guard: std::marker::PhantomData<fn() -> G>,
}

struct Waiting<W> {
    fut: W,
    owner: task::Owner,
    /// The task watchdog's registration, while it waits.
    _registered: Option<task::AsyncWait>,
    /// When the wait began, while the contention profile is on.
    start: Option<Instant>,
}

impl<'a, G, T, Mk, W, F> LockFuture<'a, G, T, Mk, W, F> {
    pub(crate) fn new(
        meta: &'a LockMeta,
        request: Request,
        hold: Hold,
        site: &'static Location<'static>,
        try_now: T,
        make: Mk,
        finish: F,
    ) -> Self {
        LockFuture {
            meta,
            request,
            hold,
            site,
            try_now: Some(try_now),
            make: Some(make),
            finish: Some(finish),
            waiting: std::mem::ManuallyDrop::new(None),
            _guard: std::marker::PhantomData,
        }
    }
}

impl<'a, G, R, T, Mk, W, F> Future for LockFuture<'a, G, T, Mk, W, F>
where
    T: FnOnce() -> Option<G>,
    Mk: FnOnce() -> W,
    W: Future<Output = G>,
    F: FnOnce((G, AsyncHold)) -> R,
{
    type Output = R;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<R> {
        use std::task::Poll;
        // SAFETY: only `waiting.fut` is structurally pinned: it is set
        // once (below, while `waiting` is `None`), never moved out, and
        // dropped in place (by `poll` once ready, or by `drop`); no other
        // field is pinned, and `LockFuture` is `Unpin` only when `W` is.
        let this = unsafe { self.get_unchecked_mut() };
        let (meta, site) = (this.meta, this.site);
        if let Some(try_now) = this.try_now.take() {
            if let Some(g) = try_now() {
                let hold = task::acquired_now_by(
                    owner_now(),
                    meta,
                    this.request,
                    this.hold,
                    Some(site),
                    register,
                );
                let finish = this.finish.take().expect("a lock future finishes once");
                return Poll::Ready(finish((g, hold)));
            }
            register();
            let owner = task::before_wait(meta, this.request, Some(site));
            waits(meta, site);
            let start = lockgraph_core::profile::on().then(Instant::now);
            let registered = task::wait_begins(meta, this.request, Some(site));
            let make = this.make.take().expect("a lock future waits once");
            this.waiting = std::mem::ManuallyDrop::new(Some(Waiting {
                fut: make(),
                owner,
                _registered: registered,
                start,
            }));
        }
        let w = this
            .waiting
            .as_mut()
            .expect("a lock future polled after it finished");
        // SAFETY: `w.fut` is pinned in place (see above).
        let fut = unsafe { std::pin::Pin::new_unchecked(&mut w.fut) };
        match fut.poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(g) => {
                let (owner, waited) = (w.owner, w.start.map(|t| t.elapsed()));
                // Dropped in place: tokio's finished future and the
                // watchdog's registration.
                // SAFETY: dropped once, here; `None` from now on.
                unsafe { std::mem::ManuallyDrop::drop(&mut this.waiting) };
                this.waiting = std::mem::ManuallyDrop::new(None);
                let hold = task::acquired_after(owner, meta, this.hold, Some(site), waited);
                let finish = this.finish.take().expect("a lock future finishes once");
                Poll::Ready(finish((g, hold)))
            }
        }
    }
}
