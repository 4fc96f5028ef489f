//! The receiving end: [`Receiver`] and its iterators.

use std::cell::Cell;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use lockgraph_core::__private::{features_off, Blocking, Deadline, WaitMode};

use super::{watch, Chan, RecvError, RecvTimeoutError, TryRecvError};
use crate::pipeline::{using, Side};

/// The receiving end of a channel. For a bounded channel, the thread that
/// receives serves the queue from its first receive until a receive finds
/// every sender gone or it drops the receiver.
pub struct Receiver<T> {
    inner: mpsc::Receiver<T>,
    chan: Arc<Chan>,
}

/// A receive's raw operations.
struct RecvOp<'a, T> {
    rx: &'a mpsc::Receiver<T>,
    chan: &'a Arc<Chan>,
    got: &'a Cell<Option<Result<T, RecvError>>>,
}

impl<T> Blocking for RecvOp<'_, T> {
    fn try_now(&self) -> bool {
        match self.rx.try_recv() {
            Ok(t) => self.got.set(Some(Ok(t))),
            Err(TryRecvError::Disconnected) => self.got.set(Some(Err(RecvError))),
            Err(TryRecvError::Empty) => return false,
        }
        true
    }

    fn block(&self) {
        self.got.set(Some(self.rx.recv()));
    }

    fn block_until(&self, deadline: Deadline) -> bool {
        watch(self.chan);
        let r = match deadline {
            Deadline::After(d) => self.rx.recv_timeout(d),
            Deadline::At(i) => self
                .rx
                .recv_timeout(i.saturating_duration_since(Instant::now())),
        };
        match r {
            Ok(t) => self.got.set(Some(Ok(t))),
            Err(RecvTimeoutError::Disconnected) => self.got.set(Some(Err(RecvError))),
            Err(RecvTimeoutError::Timeout) => return false,
        }
        true
    }
}

impl<T> Receiver<T> {
    pub(super) fn new(inner: mpsc::Receiver<T>, chan: Arc<Chan>) -> Receiver<T> {
        Receiver { inner, chan }
    }

    /// Whether the thread serves the queue (a bounded one: its senders can
    /// wait for it).
    fn bounded(&self) -> bool {
        self.chan.bound.is_some()
    }

    /// After an item was received at `site`.
    #[inline(always)]
    fn took(&self, site: &'static Location<'static>) {
        self.chan.received();
        if self.bounded() {
            self.chan.res.serve(Some(site));
        }
    }

    /// Receives the next item, blocking while the queue is empty; fails
    /// once every sender is gone and the queue is empty.
    #[track_caller]
    #[inline]
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_at(Location::caller())
    }

    /// [`recv`](Self::recv) asked at `site`.
    #[inline]
    fn recv_at(&self, site: &'static Location<'static>) -> Result<T, RecvError> {
        if features_off() {
            // Every feature off: one attempt; only an empty queue goes the
            // long way.
            match self.inner.try_recv() {
                Ok(t) => {
                    // No profile to count the fill level for, and no
                    // sender parked for space to wake: only a sender
                    // registered with the watchdog parks, in the
                    // watchdog's slices (one that parked while it was on
                    // retries at the end of its slice).
                    if self.bounded() {
                        self.chan.res.serve(Some(site));
                    }
                    return Ok(t);
                }
                Err(TryRecvError::Disconnected) => {
                    self.chan.res.stop_serving();
                    return Err(RecvError);
                }
                Err(TryRecvError::Empty) => {}
            }
        }
        self.recv_until(site, None).map_err(|_| RecvError)
    }

    /// Receives the next item, waiting at most `timeout`.
    #[track_caller]
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_until(Location::caller(), Some(Deadline::After(timeout)))
    }

    #[inline(never)]
    fn recv_until(
        &self,
        site: &'static Location<'static>,
        deadline: Option<Deadline>,
    ) -> Result<T, RecvTimeoutError> {
        let chan = &self.chan;
        using(chan.key(), Side::Recv);
        let got = Cell::new(None);
        let op = RecvOp {
            rx: &self.inner,
            chan,
            got: &got,
        };
        let (_, waited) = chan.res.wait(&op, WaitMode::Recv, Some(site), deadline);
        if !waited.is_zero() {
            chan.stats.recv_blocked(waited);
        }
        match got.take() {
            Some(Ok(t)) => {
                self.took(site);
                Ok(t)
            }
            Some(Err(RecvError)) => {
                // Every sender is gone: nothing waits for this consumer.
                chan.res.stop_serving();
                Err(RecvTimeoutError::Disconnected)
            }
            None => Err(RecvTimeoutError::Timeout),
        }
    }

    /// Receives an item if one is there now.
    #[track_caller]
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.try_recv_at(Location::caller())
    }

    /// [`try_recv`](Self::try_recv) asked at `site`.
    fn try_recv_at(&self, site: &'static Location<'static>) -> Result<T, TryRecvError> {
        using(self.chan.key(), Side::Recv);
        let t = match self.inner.try_recv() {
            Ok(t) => t,
            Err(e) => {
                if e == TryRecvError::Disconnected {
                    self.chan.res.stop_serving();
                }
                return Err(e);
            }
        };
        self.took(site);
        Ok(t)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.res.stop_serving();
        self.chan.receiver_alive.store(false, Ordering::Relaxed);
        self.chan.closed();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

crate::pipeline::receiver_iterators!();
