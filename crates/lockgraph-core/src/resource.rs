//! Resources whose progress is made by other threads: bounded queues,
//! semaphores, joins, barriers (`docs/pipelines.md`).
//!
//! The model is the one the CUDA crate uses for streams. A thread that
//! blocks on such a resource waits for the threads that *serve* it: a send
//! into a full queue for the queue's consumers, an acquire for the permit
//! holders, a join for the joined thread, a barrier wait for the parties
//! that have not arrived. So:
//!
//! * a blocking operation on the resource is a request of it: the edges
//!   "every held lock -> the resource" are recorded (and a cycle they close
//!   reported) *before* the operation, every time, whether or not it would
//!   block this time — so the cycle is found before any queue is full;
//! * a thread serving the resource *holds* it (a hold on the thread's
//!   held-lock stack, of a [`LockMeta`] of a resource kind), so the locks it
//!   takes meanwhile get the edges "resource -> lock": they are the
//!   resource's needs. A queue's consumer holds it from each receive to the
//!   next, a permit holder from acquire to release, a barrier's party from
//!   one wait to the next, a thread while it runs.
//!
//! A cycle `L -> Q -> L` is then an ordinary lock-order cycle, reported by
//! the ordinary path with both sides' sites and stacks. The watchdog sees
//! the same holds: a thread blocked on the resource is a registered wait in
//! one of the [`WaitMode`]s `Send`, `Permit`, `Join`, `Barrier`, which wait
//! for every holder (`WaitMode::kept_out_by`), and `Recv`, which waits for
//! no one in particular (who will send is unknown).
//!
//! The rules are generic: a semaphore is N permits and their holders,
//! whatever its flavour (a thread semaphore here, an async one elsewhere).
//!
//! ```
//! use lockgraph_core::resource::Resource;
//! use lockgraph_core::{capture, Class, Hold, LockKind, LockMeta, Request};
//!
//! let queue = Resource::new(LockKind::Queue, Class::Named("resource-doc-queue"));
//! let stats = LockMeta::new(LockKind::Mutex, Class::Named("resource-doc-stats"));
//! let reports = capture(|| {
//!     // The consumer, between two receives, takes `stats`.
//!     queue.serve(None);
//!     stats.before_wait(Request::Exclusive, None);
//!     stats.acquired(Hold::Exclusive, None);
//!     stats.released();
//!     queue.stop_serving();
//!     // A producer sends while holding `stats`: reported now, full or not.
//!     stats.before_wait(Request::Exclusive, None);
//!     stats.acquired(Hold::Exclusive, None);
//!     queue.before_block(None);
//!     queue.blocked_done();
//!     stats.released();
//! });
//! if lockgraph_core::TRACKING {
//!     assert_eq!(reports.len(), 1);
//! }
//! ```

use std::cell::Cell;
use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::class::{Class, LockKind};
use crate::meta::LockMeta;
use crate::primitive::{Blocking, Deadline};
use crate::report::{Hold, Request};
use crate::watchdog::WaitMode;

crate::sync::thread_local_const! {
    /// The id of the resource this thread last found itself serving (0:
    /// none), so that a consumer's receive, which re-asserts its hold every
    /// time, costs one thread-local word. Only [`Resource::serve`] sets it,
    /// once the hold is on the thread's held-lock stack, and only
    /// [`Resource::stop_serving`] pops that hold, clearing it first: the
    /// cache never names a resource the thread does not hold. (A resource's
    /// hold also leaves the stack when its `LockMeta` is dropped; its id is
    /// never reused, so a stale entry matches nothing.)
    static SERVED: Cell<u64> = const { Cell::new(0) };
}

/// The identity of a resource served by other threads: a pseudo-lock of a
/// resource kind ([`LockKind::Queue`], [`LockKind::Semaphore`],
/// [`LockKind::Barrier`], [`LockKind::Thread`]) and its class.
#[derive(Debug)]
pub struct Resource {
    meta: LockMeta,
    /// The size published for the watchdog's reports
    /// ([`publish_size`](Self::publish_size)).
    size: PublishedSize,
}

impl Resource {
    /// A resource of `kind` and `class`.
    pub const fn new(kind: LockKind, class: Class) -> Resource {
        Resource {
            meta: LockMeta::new(kind, class),
            size: PublishedSize::new(),
        }
    }

    /// Tells the watchdog the resource's size (a barrier's party count, a
    /// semaphore's permits), which its reports show (`Barrier `step` (4
    /// parties; 3 waiting now)`). Call it where an operation on the
    /// resource is about to block, every time: the size it published
    /// already costs one load; a new one (permits added) is published
    /// again. Nothing while the watchdog is off. The resource's drop takes
    /// the size back.
    #[inline]
    pub fn publish_size(&self, size: usize) {
        self.size.publish(&self.meta, size);
    }

    /// Its lock-graph identity.
    pub fn meta(&self) -> &LockMeta {
        &self.meta
    }

    /// Before an operation that can block on the resource until a thread
    /// serving it makes progress (a send into a bounded queue, an acquire,
    /// a join, a barrier wait), asked at `site`: records "every lock held
    /// -> the resource" and reports a cycle this closes, now. Call it on
    /// every such operation, whether it will block or not; end it with
    /// [`blocked_done`](Self::blocked_done) (or [`serve`](Self::serve)
    /// for an operation that makes the thread a server: an acquire).
    #[inline]
    pub fn before_block(&self, site: Option<&'static Location<'static>>) {
        self.meta.before_wait(Request::Exclusive, site);
    }

    /// After an operation checked with [`before_block`](Self::before_block)
    /// that leaves no hold (it blocked or not, it succeeded or gave up).
    #[inline]
    pub fn blocked_done(&self) {
        self.meta.abandoned();
    }

    /// Waits on `p` until it succeeds (or `deadline`, when given, passes):
    /// one non-blocking attempt, then, with the watchdog on, a wait
    /// registered in `mode` and blocked in slices; otherwise `p`'s own
    /// blocking call. Records nothing in the order graph (call
    /// [`before_block`](Self::before_block) first). Whether it succeeded,
    /// and how long it waited (zero when the first attempt succeeded: no
    /// clock read).
    pub fn wait<P: Blocking>(
        &self,
        p: P,
        mode: WaitMode,
        site: Option<&'static Location<'static>>,
        deadline: Option<Deadline>,
    ) -> (bool, std::time::Duration) {
        if p.try_now() {
            return (true, std::time::Duration::ZERO);
        }
        let start = Instant::now();
        let ok = crate::primitive::block_for(&self.meta, &p, mode, site, deadline);
        (ok, start.elapsed())
    }

    /// This thread starts serving the resource (a consumer after a receive,
    /// a permit holder, a party leaving a barrier, a thread starting): the
    /// locks it takes from now on are the resource's needs. Serving twice
    /// is serving once.
    ///
    /// A consumer calls this after every receive, so the common case, "this
    /// thread already serves the queue", is one thread-local word compared
    /// with the resource's id: the thread's cache of the resource it last
    /// found itself serving (`SERVED`), not a look-up on its held-lock
    /// stack.
    #[inline]
    pub fn serve(&self, site: Option<&'static Location<'static>>) {
        if !crate::TRACKING {
            return;
        }
        let id = self.meta.id();
        if SERVED.with(Cell::get) == id {
            return;
        }
        self.serve_uncached(id, site);
    }

    /// [`serve`](Self::serve) when the thread's cache names another
    /// resource (or none): the held-lock stack says, and the cache learns.
    #[cold]
    #[inline(never)]
    fn serve_uncached(&self, id: u64, site: Option<&'static Location<'static>>) {
        if !self.serving() {
            // Shared: several threads serve one resource at once (the
            // parties of a barrier), so a role never gates another edge.
            self.meta.acquired(Hold::Shared, site);
        }
        // Cached only once the hold is on the stack (a push can be refused:
        // a stack too deep, or the thread inside lockgraph's bookkeeping).
        if self.serving() {
            SERVED.with(|c| c.set(id));
        }
    }

    /// This thread stops serving the resource (a consumer about to receive
    /// again or dropping its receiver, a permit released, a party arriving,
    /// a thread ending). Nothing when it was not serving.
    #[inline]
    pub fn stop_serving(&self) {
        if !crate::TRACKING || !self.meta.has_id() {
            return;
        }
        let id = self.meta.id();
        SERVED.with(|c| {
            if c.get() == id {
                c.set(0);
            }
        });
        if self.serving() {
            self.meta.released();
        }
    }

    /// Whether this thread serves the resource now.
    pub fn serving(&self) -> bool {
        self.meta.has_id() && crate::state::tracked_entry(&self.meta).is_some()
    }

    /// Runs `f` serving the resource (a spawned thread's body): the hold
    /// ends when `f` returns or unwinds.
    pub fn serve_while<R>(
        &self,
        site: Option<&'static Location<'static>>,
        f: impl FnOnce() -> R,
    ) -> R {
        struct Serving<'a>(&'a Resource);
        impl Drop for Serving<'_> {
            fn drop(&mut self) {
                self.0.stop_serving();
            }
        }
        self.serve(site);
        let _serving = Serving(self);
        f()
    }
}

impl Drop for Resource {
    fn drop(&mut self) {
        self.size.forget(&self.meta);
    }
}

/// A size published for the watchdog's reports (a semaphore's permits, a
/// bounded queue's capacity) by a primitive whose identity is a bare
/// [`LockMeta`] rather than a [`Resource`] (`lockgraph::tokio`'s semaphore
/// and bounded queue, whose waits the task watchdog reports): the side
/// table [`Resource::publish_size`] fills, which the reports of both
/// watchdogs read. Publish where a wait begins (a cold path), never on an
/// operation that does not wait; the primitive's drop calls
/// [`forget`](Self::forget).
#[derive(Debug, Default)]
pub struct PublishedSize(
    /// The size published, plus one; 0: none.
    AtomicUsize,
);

impl PublishedSize {
    /// Nothing published yet.
    pub const fn new() -> PublishedSize {
        PublishedSize(AtomicUsize::new(0))
    }

    /// Publishes `size` as the size of the primitive `meta`: a size it
    /// published already costs one load; a new one (permits added) is
    /// published again. Nothing while the watchdog is off.
    #[inline]
    pub fn publish(&self, meta: &LockMeta, size: usize) {
        if crate::TRACKING && self.0.load(Ordering::Relaxed) != size.wrapping_add(1) {
            self.publish_now(meta, size);
        }
    }

    /// [`publish`](Self::publish) of a size not published yet.
    #[cold]
    #[inline(never)]
    fn publish_now(&self, meta: &LockMeta, size: usize) {
        if crate::watchdog::on() {
            crate::capacity::publish(meta.id(), size, &self.0);
        }
    }

    /// The primitive `meta` is gone: its size leaves the table (nothing
    /// to do when it published none).
    pub fn forget(&mut self, meta: &LockMeta) {
        if std::mem::take(self.0.get_mut()) != 0 {
            crate::capacity::forget(meta.id());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::capture;

    fn lock(m: &LockMeta) {
        m.before_wait(Request::Exclusive, None);
        m.acquired(Hold::Exclusive, None);
    }

    #[test]
    fn a_send_holding_what_the_consumer_takes_is_a_cycle_before_anything_blocks() {
        let q = Resource::new(LockKind::Queue, Class::Named("res-test-q"));
        let l = LockMeta::new(LockKind::Mutex, Class::Named("res-test-l"));
        let reports = capture(|| {
            q.serve(None);
            lock(&l);
            l.released();
            q.stop_serving();
            lock(&l);
            q.before_block(None);
            q.blocked_done();
            l.released();
        });
        if crate::TRACKING {
            assert_eq!(reports.len(), 1, "{reports:?}");
            let text = reports[0].to_string();
            assert!(text.contains("Queue `res-test-q`"), "{text}");
            assert!(text.contains("as its consumer"), "{text}");
        }
        assert!(crate::state::held_lock_ids().is_empty());
    }

    #[test]
    fn the_same_code_in_a_safe_order_is_silent() {
        let q = Resource::new(LockKind::Queue, Class::Named("res-safe-q"));
        let l = LockMeta::new(LockKind::Mutex, Class::Named("res-safe-l"));
        let reports = capture(|| {
            q.serve(None);
            lock(&l);
            l.released();
            q.stop_serving();
            // The send made after the lock is released.
            q.before_block(None);
            q.blocked_done();
        });
        assert!(reports.is_empty(), "{reports:?}");
    }

    #[test]
    fn serving_twice_is_serving_once() {
        let q = Resource::new(LockKind::Barrier, Class::Named("res-twice"));
        q.serve(None);
        q.serve(None);
        if crate::TRACKING {
            assert!(q.serving());
            assert_eq!(crate::state::held_lock_ids().len(), 1);
        }
        q.stop_serving();
        q.stop_serving();
        assert!(!q.serving());
        assert!(crate::state::held_lock_ids().is_empty());
        let r = q.serve_while(None, || crate::state::held_lock_ids().len());
        assert_eq!(r, usize::from(crate::TRACKING));
        assert!(!q.serving());
    }

    #[test]
    fn the_served_cache_never_outlives_the_hold() {
        let q = Resource::new(LockKind::Queue, Class::Named("res-cache-q"));
        let r = Resource::new(LockKind::Queue, Class::Named("res-cache-r"));
        // Served, stopped, served again: held again (a stale cache would
        // skip the push).
        q.serve(None);
        q.stop_serving();
        q.serve(None);
        assert_eq!(q.serving(), crate::TRACKING);
        // Two resources in turn: each served once.
        r.serve(None);
        q.serve(None);
        r.serve(None);
        if crate::TRACKING {
            assert!(q.serving() && r.serving());
            assert_eq!(crate::state::held_lock_ids().len(), 2);
        }
        r.stop_serving();
        q.stop_serving();
        assert!(!q.serving() && !r.serving());
        assert!(crate::state::held_lock_ids().is_empty());
        // Another thread serving the same resource has a cache of its own.
        q.serve(None);
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(!q.serving());
                q.serve(None);
                assert_eq!(q.serving(), crate::TRACKING);
                q.stop_serving();
            });
        });
        assert_eq!(q.serving(), crate::TRACKING);
        q.stop_serving();
    }

    /// A primitive's published size leaves the table with it (the
    /// `lockgraph::tokio` semaphore's drop, the queue's last end).
    #[test]
    fn a_published_size_is_forgotten_with_its_primitive() {
        let meta = LockMeta::new(LockKind::AsyncSemaphore, Class::Named("sized"));
        let mut size = PublishedSize::new();
        // As `publish` does with the watchdog on.
        crate::capacity::publish(meta.id(), 3, &size.0);
        assert_eq!(crate::capacity::get(meta.id()), Some(3));
        size.publish(&meta, 3);
        assert_eq!(crate::capacity::get(meta.id()), Some(3));
        size.forget(&meta);
        assert_eq!(crate::capacity::get(meta.id()), None);
        assert_eq!(size.0.load(Ordering::Relaxed), 0);
    }
}
