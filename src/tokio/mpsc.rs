//! tokio's `mpsc`, tracked per task: a bounded queue in the lock-order
//! graph and the task watchdog, by the rules of `lockgraph::mpsc`
//! (docs/pipelines.md, docs/async.md).
//!
//! [`channel`], [`Sender`], [`Receiver`] and [`error`] as in
//! `tokio::sync::mpsc`, with tokio's method names and semantics, plus
//! [`channel_named`] for a class of your choosing (otherwise the class is
//! the creation site and the item type). [`unbounded_channel`] is tokio's
//! own: an unbounded send never waits, so it is no edge, and its receiver
//! serves nothing.
//!
//! A send on a bounded queue (`send().await`, `reserve().await`,
//! `blocking_send`) can wait until the consumer receives, so every such
//! send records "every lock the task holds (async) and every sync lock its
//! thread holds -> the queue", before it tries, full or not. The task (or,
//! with `blocking_recv`, the thread) that receives holds the queue from its
//! first receive that returned an item until a receive finds the channel
//! closed and empty, or the receiver is dropped: the locks it takes
//! meanwhile are the queue's needs. A producer task that sends while
//! holding a lock its consumer task takes between receives is a cycle,
//! reported at the send, before the queue is ever full. `try_send` and
//! `try_reserve` never wait: no edge.
//!
//! With the watchdog on, a task waiting in `send().await` (room) or
//! `recv().await` (an item) longer than the timeout is reported like an
//! async lock wait; a send waits for the task that consumes the queue, so
//! a wait-for cycle through a full queue is reported as a task deadlock.
//!
//! In release builds without `track-in-release`, these are tokio's own
//! types and functions (`channel_named` ignores its name).
//!
//! ```
//! use std::sync::Arc;
//! use lockgraph::tokio::{mpsc, Mutex};
//!
//! let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! let stats = Arc::new(Mutex::named("tokio-mpsc-doc-stats", 0u32));
//! let reports = lockgraph::capture(|| {
//!     rt.block_on(async {
//!         let (tx, mut rx) = mpsc::channel_named::<u32>("tokio-mpsc-doc-queue", 4);
//!         let s = stats.clone();
//!         let consumer = tokio::spawn(async move {
//!             while let Some(item) = rx.recv().await {
//!                 *s.lock().await += item; // between two receives
//!             }
//!         });
//!         tx.send(1).await.unwrap();
//!         while *stats.lock().await == 0 {
//!             tokio::task::yield_now().await;
//!         }
//!         let g = stats.lock().await;
//!         tx.send(2).await.unwrap(); // holding `stats`: reported here, not full
//!         drop(g);
//!         drop(tx);
//!         consumer.await.unwrap();
//!     })
//! });
//! assert_eq!(reports.len(), usize::from(lockgraph::TRACKING));
//! ```

pub use tokio::sync::mpsc::error;
pub use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
pub use tracked::{channel, channel_named, Permit, Receiver, Sender};

#[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
pub use tokio::sync::mpsc::{channel, Permit, Receiver, Sender};

/// tokio's `channel(buffer)` (release build without tracking: the name is
/// for tracking builds).
#[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
#[inline]
pub fn channel_named<T>(name: &'static str, buffer: usize) -> (Sender<T>, Receiver<T>) {
    let _ = name;
    channel(buffer)
}

#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
mod tracked {
    use std::fmt;
    use std::future::{poll_fn, Future};
    use std::panic::Location;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use lockgraph_core::task::{self, AsyncHold, AsyncWait};
    use lockgraph_core::{Class, Hold, LockKind, LockMeta, Request};
    use tokio::sync::mpsc;

    use super::error::{SendError, TryRecvError, TrySendError};
    use crate::tokio::track;

    pub use tokio::sync::mpsc::Permit;

    /// What the ends share: the queue's identity, and the identity its
    /// receives wait on.
    struct Chan {
        /// The queue: requested by a send, held by its consumer.
        queue: LockMeta,
        /// What a receive waits for (an item): held by no one, so a long
        /// receive is reported as such, never as a cycle through the
        /// consumer's own hold of the queue.
        items: LockMeta,
    }

    /// A bounded channel of `buffer` items (tokio's `channel`; panics if
    /// `buffer` is 0, as tokio does), of the class of the call site and
    /// the item type.
    #[track_caller]
    pub fn channel<T>(buffer: usize) -> (Sender<T>, Receiver<T>) {
        make(buffer, Class::here_of::<T>())
    }

    /// [`channel`], of the class `name` (the queue's name in reports).
    pub fn channel_named<T>(name: &'static str, buffer: usize) -> (Sender<T>, Receiver<T>) {
        make(buffer, Class::Named(name))
    }

    fn make<T>(buffer: usize, class: Class) -> (Sender<T>, Receiver<T>) {
        let (tx, rx) = mpsc::channel(buffer);
        let chan = Arc::new(Chan {
            queue: LockMeta::new(LockKind::Queue, class),
            items: LockMeta::new(LockKind::Queue, class),
        });
        (
            Sender {
                inner: tx,
                chan: chan.clone(),
            },
            Receiver {
                inner: rx,
                chan,
                consumer: AsyncHold::none(),
            },
        )
    }

    /// `fut` (tokio's operation on the queue), with lockgraph's part
    /// around it: `before` on the first poll (a send's request), and once
    /// `fut` returns `Pending` for the first time, the wait on `meta`
    /// begun: a sync lock the thread holds now stays held while the task
    /// is suspended (reported), and the watchdog sees the wait until `fut`
    /// is ready or this is dropped. A future of its own rather than an
    /// `async fn`: one state machine less around tokio's.
    #[must_use = "futures do nothing unless polled"]
    struct Waiting<'a, F, B> {
        fut: F,
        before: Option<B>,
        meta: &'a LockMeta,
        what: &'static str,
        site: &'static Location<'static>,
        wait: Option<Option<AsyncWait>>,
    }

    impl<'a, F, B> Waiting<'a, F, B> {
        fn new(
            fut: F,
            before: Option<B>,
            meta: &'a LockMeta,
            what: &'static str,
            site: &'static Location<'static>,
        ) -> Self {
            Waiting {
                fut,
                before,
                meta,
                what,
                site,
                wait: None,
            }
        }
    }

    impl<F: Future, B: FnOnce()> Future for Waiting<'_, F, B> {
        type Output = F::Output;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            // SAFETY: `fut` is pinned structurally: it is never moved out
            // of `self` (no method takes it by value, `Waiting` has no
            // `Drop` and is `Unpin` only when `F` is); the other fields
            // are never pinned.
            let this = unsafe { self.get_unchecked_mut() };
            if let Some(before) = this.before.take() {
                before();
            }
            // SAFETY: see above.
            let fut = unsafe { Pin::new_unchecked(&mut this.fut) };
            match fut.poll(cx) {
                Poll::Ready(r) => Poll::Ready(r),
                Poll::Pending => {
                    if this.wait.is_none() {
                        this.wait = Some(begins(this.meta, this.what, this.site));
                    }
                    Poll::Pending
                }
            }
        }
    }

    #[cold]
    fn begins(
        meta: &LockMeta,
        what: &'static str,
        site: &'static Location<'static>,
    ) -> Option<AsyncWait> {
        track::register();
        let label = match meta.class() {
            Class::Named(n) => format!("`{n}`"),
            Class::Site(l, _) => format!("created at {l}"),
            Class::Anonymous => format!("#{}", meta.id()),
        };
        task::check_pending(0, &format!("{what} Queue {label}"), Some(site));
        task::wait_begins(meta, Request::Exclusive, Some(site))
    }

    /// The sending end of a bounded [`channel`].
    pub struct Sender<T> {
        inner: mpsc::Sender<T>,
        chan: Arc<Chan>,
    }

    impl<T> Sender<T> {
        /// A send that can wait, asked at `site`: "held -> the queue".
        #[inline]
        fn request(&self, site: &'static Location<'static>) {
            track::register();
            let _ = task::before_wait(&self.chan.queue, Request::Exclusive, Some(site));
        }

        /// Sends `value`, waiting for room while the queue is full; fails
        /// once the receiver is closed or gone. Records "held -> this
        /// queue" first, every time.
        #[track_caller]
        pub fn send(&self, value: T) -> impl Future<Output = Result<(), SendError<T>>> + '_ {
            let site = Location::caller();
            Waiting::new(
                self.inner.send(value),
                Some(move || self.request(site)),
                &self.chan.queue,
                "waiting for room in",
                site,
            )
        }

        /// Sends `value` if there is room now (never waits: no edge).
        pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
            self.inner.try_send(value)
        }

        /// [`send`](Self::send) from outside the runtime, blocking the
        /// thread (panics inside an async context, as tokio's does).
        #[track_caller]
        pub fn blocking_send(&self, value: T) -> Result<(), SendError<T>> {
            let site = Location::caller();
            self.request(site);
            let value = match self.inner.try_send(value) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(v)) => return Err(SendError(v)),
                Err(TrySendError::Full(v)) => v,
            };
            let _wait = task::wait_begins(&self.chan.queue, Request::Exclusive, Some(site));
            self.inner.blocking_send(value)
        }

        /// Waits for room for one item and reserves it (a request of the
        /// queue, as a send is); the permit's `send` never waits.
        #[track_caller]
        pub fn reserve(&self) -> impl Future<Output = Result<Permit<'_, T>, SendError<()>>> + '_ {
            let site = Location::caller();
            Waiting::new(
                self.inner.reserve(),
                Some(move || self.request(site)),
                &self.chan.queue,
                "waiting for room in",
                site,
            )
        }

        /// Reserves room for one item if there is some now (no edge).
        pub fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
            self.inner.try_reserve()
        }

        /// Waits until the receiver is closed or dropped (not a request of
        /// the queue: nothing is sent).
        pub async fn closed(&self) {
            self.inner.closed().await
        }

        /// Whether the receiver is closed or dropped.
        pub fn is_closed(&self) -> bool {
            self.inner.is_closed()
        }

        /// The room left now.
        pub fn capacity(&self) -> usize {
            self.inner.capacity()
        }

        /// The bound the channel was made with.
        pub fn max_capacity(&self) -> usize {
            self.inner.max_capacity()
        }

        /// Whether `other` sends into the same channel.
        pub fn same_channel(&self, other: &Self) -> bool {
            self.inner.same_channel(&other.inner)
        }
    }

    impl<T> Clone for Sender<T> {
        fn clone(&self) -> Self {
            Sender {
                inner: self.inner.clone(),
                chan: self.chan.clone(),
            }
        }
    }

    impl<T> fmt::Debug for Sender<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.inner.fmt(f)
        }
    }

    /// The receiving end of a bounded [`channel`]. The task (or thread)
    /// that receives holds the queue from its first receive that returned
    /// an item until a receive finds the channel closed and empty, or the
    /// receiver is dropped; a receiver moved to another task moves the
    /// hold with its next receive.
    pub struct Receiver<T> {
        inner: mpsc::Receiver<T>,
        chan: Arc<Chan>,
        /// The consumer's hold of the queue (none before the first item).
        consumer: AsyncHold,
    }

    impl<T> Receiver<T> {
        /// After an item was received at `site`: the receiving task (or
        /// thread) holds the queue.
        fn took(&mut self, site: Option<&'static Location<'static>>) {
            track::register();
            let me = task::current_owner();
            if self.consumer.owner() == Some(me) {
                return;
            }
            self.consumer.release(&self.chan.queue);
            self.consumer = task::acquired_by(me, &self.chan.queue, Hold::Shared, site);
        }

        /// The channel is closed and empty: nothing waits for a consumer.
        fn finished(&mut self) {
            self.consumer.release(&self.chan.queue);
        }

        fn after(&mut self, r: Option<T>, site: Option<&'static Location<'static>>) -> Option<T> {
            match r {
                Some(t) => {
                    self.took(site);
                    Some(t)
                }
                None => {
                    self.finished();
                    None
                }
            }
        }

        /// Receives the next item, waiting while the queue is empty;
        /// `None` once the channel is closed (or every sender gone) and
        /// empty. Cancel safe, as tokio's.
        #[track_caller]
        pub fn recv(&mut self) -> impl Future<Output = Option<T>> + '_ {
            let site = Location::caller();
            let mut wait = None;
            // tokio's `recv` is this `poll_recv` in a `poll_fn` (the same
            // cooperative budget, the same cancel safety).
            poll_fn(move |cx| match self.inner.poll_recv(cx) {
                Poll::Ready(r) => Poll::Ready(self.after(r, Some(site))),
                Poll::Pending => {
                    self.waits(&mut wait, site);
                    Poll::Pending
                }
            })
        }

        /// A receive at `site` got `Pending`: its wait begins, once.
        #[inline]
        fn waits(&self, wait: &mut Option<Option<AsyncWait>>, site: &'static Location<'static>) {
            if wait.is_none() {
                *wait = Some(begins(&self.chan.items, "waiting for an item of", site));
            }
        }

        /// Receives up to `limit` items into `buffer`, waiting while the
        /// queue is empty; how many (0: closed and empty, or `limit` 0).
        #[track_caller]
        pub fn recv_many<'a>(
            &'a mut self,
            buffer: &'a mut Vec<T>,
            limit: usize,
        ) -> impl Future<Output = usize> + 'a {
            let site = Location::caller();
            let mut wait = None;
            poll_fn(
                move |cx| match self.inner.poll_recv_many(cx, buffer, limit) {
                    Poll::Ready(n) => {
                        if n > 0 {
                            self.took(Some(site));
                        } else if limit > 0 {
                            self.finished();
                        }
                        Poll::Ready(n)
                    }
                    Poll::Pending => {
                        self.waits(&mut wait, site);
                        Poll::Pending
                    }
                },
            )
        }

        /// Receives an item if one is there now.
        #[track_caller]
        pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
            let site = Location::caller();
            match self.inner.try_recv() {
                Ok(t) => {
                    self.took(Some(site));
                    Ok(t)
                }
                Err(TryRecvError::Disconnected) => {
                    self.finished();
                    Err(TryRecvError::Disconnected)
                }
                Err(e) => Err(e),
            }
        }

        /// [`recv`](Self::recv) from outside the runtime, blocking the
        /// thread (panics inside an async context, as tokio's does).
        #[track_caller]
        pub fn blocking_recv(&mut self) -> Option<T> {
            let site = Location::caller();
            let r = match self.inner.try_recv() {
                Ok(t) => Some(t),
                Err(TryRecvError::Disconnected) => None,
                Err(TryRecvError::Empty) => {
                    track::register();
                    let _wait = task::wait_begins(&self.chan.items, Request::Exclusive, Some(site));
                    self.inner.blocking_recv()
                }
            };
            self.after(r, Some(site))
        }

        /// Polls for the next item (for hand-written futures and streams).
        pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
            match self.inner.poll_recv(cx) {
                Poll::Ready(r) => Poll::Ready(self.after(r, None)),
                Poll::Pending => Poll::Pending,
            }
        }

        /// Closes the channel for sending; the items in it can still be
        /// received.
        pub fn close(&mut self) {
            self.inner.close()
        }

        /// Whether the channel is closed.
        pub fn is_closed(&self) -> bool {
            self.inner.is_closed()
        }

        /// Whether the queue is empty now.
        pub fn is_empty(&self) -> bool {
            self.inner.is_empty()
        }

        /// Items in the queue now.
        pub fn len(&self) -> usize {
            self.inner.len()
        }

        /// The room left now.
        pub fn capacity(&self) -> usize {
            self.inner.capacity()
        }

        /// The bound the channel was made with.
        pub fn max_capacity(&self) -> usize {
            self.inner.max_capacity()
        }
    }

    impl<T> Drop for Receiver<T> {
        fn drop(&mut self) {
            self.consumer.release(&self.chan.queue);
        }
    }

    impl<T> fmt::Debug for Receiver<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.inner.fmt(f)
        }
    }
}
