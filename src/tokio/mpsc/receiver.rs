//! The receiving end: [`Receiver`], the queue's consumer.

use std::fmt;
use std::future::{poll_fn, Future};
use std::panic::Location;
use std::sync::Arc;
use std::task::{Context, Poll};

use lockgraph_core::task::{self, AsyncHold};
use lockgraph_core::Hold;
use tokio::sync::mpsc;

use super::error::TryRecvError;
use super::tracked::{Blocked, Chan, WaitSlot};
use crate::pipeline::Side;
use crate::tokio::track;

/// The receiving end of a bounded [`channel`](super::channel). The task
/// (or thread) that receives holds the queue from its first receive that
/// returned an item until a receive finds the channel closed and empty, or
/// the receiver is dropped; a receiver moved to another task moves the
/// hold with its next receive.
pub struct Receiver<T> {
    inner: mpsc::Receiver<T>,
    chan: Arc<Chan>,
    /// The consumer's hold of the queue (none before the first item).
    consumer: AsyncHold,
    /// For the profile: the wait of [`poll_recv`](Self::poll_recv) and
    /// [`poll_recv_many`](Self::poll_recv_many) since their first
    /// `Pending` (they keep no state of their own between polls).
    polled: Option<Blocked>,
}

impl<T> Receiver<T> {
    pub(super) fn new(inner: mpsc::Receiver<T>, chan: Arc<Chan>) -> Self {
        Receiver {
            inner,
            chan,
            consumer: AsyncHold::none(),
            polled: None,
        }
    }

    /// After `n` items were received at `site`: the receiving task (or
    /// thread) holds the queue.
    #[inline]
    fn took(&mut self, site: Option<&'static Location<'static>>) {
        track::register();
        if self.chan.stats.is_some() {
            self.chan.counted(Side::Recv, site, 0, || 0);
        }
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

    #[inline]
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

    /// After a receive of up to `limit` items got `n`.
    fn after_many(&mut self, n: usize, limit: usize, site: Option<&'static Location<'static>>) {
        if n > 0 {
            self.took(site);
        } else if limit > 0 {
            self.finished();
        }
    }

    /// A receive at `site` got `Pending`: its waits begin, once.
    #[inline]
    fn waits(&self, w: &mut WaitSlot, site: &'static Location<'static>) {
        if !w.begun() {
            w.begin(self.chan.waits(Side::Recv, "waiting for an item of", site));
        }
    }

    /// Receives the next item, waiting while the queue is empty; `None`
    /// once the channel is closed (or every sender gone) and empty.
    /// Cancel safe, as tokio's.
    #[track_caller]
    pub fn recv(&mut self) -> impl Future<Output = Option<T>> + '_ {
        let site = Location::caller();
        let mut w = WaitSlot::default();
        // tokio's `recv` is this `poll_recv` in a `poll_fn` (the same
        // cooperative budget, the same cancel safety).
        poll_fn(move |cx| match self.inner.poll_recv(cx) {
            // The waits end when the future is dropped (right after).
            Poll::Ready(r) => Poll::Ready(self.after(r, Some(site))),
            Poll::Pending => {
                self.waits(&mut w, site);
                Poll::Pending
            }
        })
    }

    /// Receives up to `limit` items into `buffer`, waiting while the queue
    /// is empty; how many (0: closed and empty, or `limit` 0).
    #[track_caller]
    pub fn recv_many<'a>(
        &'a mut self,
        buffer: &'a mut Vec<T>,
        limit: usize,
    ) -> impl Future<Output = usize> + 'a {
        let site = Location::caller();
        let mut w = WaitSlot::default();
        poll_fn(
            move |cx| match self.inner.poll_recv_many(cx, buffer, limit) {
                Poll::Ready(n) => {
                    self.after_many(n, limit, Some(site));
                    Poll::Ready(n)
                }
                Poll::Pending => {
                    self.waits(&mut w, site);
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

    /// The blocking part of a blocking receive at `site`: registered with
    /// the watchdog, counted for the profile.
    fn blocking<R>(
        &mut self,
        site: &'static Location<'static>,
        f: impl FnOnce(&mut Self) -> R,
    ) -> R {
        track::register();
        let blocked = if self.chan.stats.is_some() {
            self.chan.blocked(Side::Recv, Some(site))
        } else {
            None
        };
        let _wait = self.chan.wait_begins(Side::Recv, site, true);
        let r = f(self);
        drop(blocked);
        r
    }

    /// [`recv`](Self::recv) from outside the runtime, blocking the thread
    /// (panics inside an async context, as tokio's does).
    #[track_caller]
    pub fn blocking_recv(&mut self) -> Option<T> {
        let site = Location::caller();
        let r = match self.inner.try_recv() {
            Ok(t) => Some(t),
            Err(TryRecvError::Disconnected) => None,
            Err(TryRecvError::Empty) => self.blocking(site, |me| me.inner.blocking_recv()),
        };
        self.after(r, Some(site))
    }

    /// [`recv_many`](Self::recv_many) from outside the runtime, blocking
    /// the thread (panics inside an async context, as tokio's does).
    #[track_caller]
    pub fn blocking_recv_many(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
        let site = Location::caller();
        let n = if limit == 0 || !self.inner.is_empty() || self.inner.is_closed() {
            self.inner.blocking_recv_many(buffer, limit)
        } else {
            self.blocking(site, |me| me.inner.blocking_recv_many(buffer, limit))
        };
        self.after_many(n, limit, Some(site));
        n
    }

    /// Polls for the next item (for hand-written futures and streams).
    /// Its wait is counted for the profile from its first `Pending` to the
    /// next `Ready`; it is not registered with the watchdog.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        match self.inner.poll_recv(cx) {
            Poll::Ready(r) => {
                drop(self.polled.take());
                Poll::Ready(self.after(r, None))
            }
            Poll::Pending => {
                self.polls_pending();
                Poll::Pending
            }
        }
    }

    /// Polls for up to `limit` items into `buffer` (for hand-written
    /// futures): as [`poll_recv`](Self::poll_recv).
    pub fn poll_recv_many(
        &mut self,
        cx: &mut Context<'_>,
        buffer: &mut Vec<T>,
        limit: usize,
    ) -> Poll<usize> {
        match self.inner.poll_recv_many(cx, buffer, limit) {
            Poll::Ready(n) => {
                drop(self.polled.take());
                self.after_many(n, limit, None);
                Poll::Ready(n)
            }
            Poll::Pending => {
                self.polls_pending();
                Poll::Pending
            }
        }
    }

    fn polls_pending(&mut self) {
        if self.polled.is_none() && self.chan.stats.is_some() {
            self.polled = self.chan.blocked(Side::Recv, None);
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

    /// How many `Sender`s (and owned permits) of the channel are alive.
    pub fn sender_strong_count(&self) -> usize {
        self.inner.sender_strong_count()
    }

    /// How many `WeakSender`s of the channel are alive.
    pub fn sender_weak_count(&self) -> usize {
        self.inner.sender_weak_count()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.ends.receiver_dropped();
        self.consumer.release(&self.chan.queue);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}
