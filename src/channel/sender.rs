//! The sending end: [`Sender`].

use std::cell::Cell;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel as cb;
use lockgraph_core::__private::{features_off, Blocking, Deadline, WaitMode};

use super::{watch, Chan, SendError, SendTimeoutError, TrySendError};
use crate::pipeline::{profile_on, using, Side};

/// The sending end of a channel.
pub struct Sender<T> {
    pub(super) inner: cb::Sender<T>,
    pub(super) chan: Arc<Chan>,
}

/// A send's raw operations.
struct SendOp<'a, T> {
    tx: &'a cb::Sender<T>,
    chan: &'a Arc<Chan>,
    /// The item until it is sent.
    item: &'a Cell<Option<T>>,
}

impl<T> SendOp<'_, T> {
    fn sent(&self) {
        if profile_on() {
            self.chan.stats.sent(self.tx.len());
        }
    }
}

impl<T> Blocking for SendOp<'_, T> {
    fn try_now(&self) -> bool {
        let Some(t) = self.item.take() else {
            return true;
        };
        match self.tx.try_send(t) {
            Ok(()) => {
                self.sent();
                true
            }
            Err(TrySendError::Full(t)) => {
                self.item.set(Some(t));
                false
            }
            Err(TrySendError::Disconnected(t)) => {
                // Over, failed: the item stays for the error.
                self.item.set(Some(t));
                true
            }
        }
    }

    fn block(&self) {
        if let Some(t) = self.item.take() {
            match self.tx.send(t) {
                Ok(()) => self.sent(),
                Err(SendError(t)) => self.item.set(Some(t)),
            }
        }
    }

    fn block_until(&self, deadline: Deadline) -> bool {
        watch(self.chan);
        let Some(t) = self.item.take() else {
            return true;
        };
        let r = match deadline.instant() {
            Some(end) => self.tx.send_deadline(t, end),
            None => self
                .tx
                .send(t)
                .map_err(|SendError(t)| SendTimeoutError::Disconnected(t)),
        };
        match r {
            Ok(()) => {
                self.sent();
                true
            }
            Err(SendTimeoutError::Timeout(t)) => {
                self.item.set(Some(t));
                false
            }
            Err(SendTimeoutError::Disconnected(t)) => {
                self.item.set(Some(t));
                true
            }
        }
    }
}

impl<T> Sender<T> {
    /// Sends `t`, blocking while a bounded channel is full; fails once every
    /// receiver is gone. On a bounded channel, records "held locks -> this
    /// queue" first, every time.
    #[track_caller]
    #[inline]
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        let chan = &self.chan;
        if features_off() && chan.bound.is_some() {
            // Every feature off (no watchdog to register a wait with, no
            // profile to count): the request, then one attempt; only a
            // full queue goes the long way.
            let site = Location::caller();
            chan.res.before_block(Some(site));
            match self.inner.try_send(t) {
                Ok(()) => {
                    chan.res.blocked_done();
                    return Ok(());
                }
                Err(TrySendError::Disconnected(t)) => {
                    chan.res.blocked_done();
                    return Err(SendError(t));
                }
                Err(TrySendError::Full(t)) => {
                    // The long way records the request again (a look-up
                    // in the thread's cache of recorded chains).
                    chan.res.blocked_done();
                    return self.send_slow(site, t);
                }
            }
        }
        self.send_slow(Location::caller(), t)
    }

    /// [`send`](Self::send) the long way.
    #[inline(never)]
    fn send_slow(&self, site: &'static Location<'static>, t: T) -> Result<(), SendError<T>> {
        match self.send_until(site, t, None) {
            Ok(()) => Ok(()),
            Err(SendTimeoutError::Disconnected(t) | SendTimeoutError::Timeout(t)) => {
                Err(SendError(t))
            }
        }
    }

    /// Sends `t`, waiting at most `timeout` for room.
    #[track_caller]
    pub fn send_timeout(&self, t: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_until(Location::caller(), t, Some(Deadline::After(timeout)))
    }

    /// Sends `t`, waiting until `deadline` at the latest for room.
    #[track_caller]
    pub fn send_deadline(&self, t: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.send_until(Location::caller(), t, Some(Deadline::At(deadline)))
    }

    fn send_until(
        &self,
        site: &'static Location<'static>,
        t: T,
        deadline: Option<Deadline>,
    ) -> Result<(), SendTimeoutError<T>> {
        let chan = &self.chan;
        using(chan.key(), Side::Send);
        if chan.bound.is_none() {
            // Never blocks: no edge.
            return match self.inner.send(t) {
                Ok(()) => {
                    if profile_on() {
                        chan.stats.sent(self.inner.len());
                    }
                    Ok(())
                }
                Err(SendError(t)) => Err(SendTimeoutError::Disconnected(t)),
            };
        }
        chan.res.before_block(Some(site));
        let item = Cell::new(Some(t));
        let op = SendOp {
            tx: &self.inner,
            chan,
            item: &item,
        };
        let (ok, waited) = chan.res.wait(&op, WaitMode::Send, Some(site), deadline);
        chan.res.blocked_done();
        if !waited.is_zero() {
            chan.stats.send_blocked(waited);
        }
        match item.take() {
            None => Ok(()),
            Some(t) if ok => Err(SendTimeoutError::Disconnected(t)),
            Some(t) => Err(SendTimeoutError::Timeout(t)),
        }
    }

    /// Sends `t` if there is room now (never blocks: no edge).
    pub fn try_send(&self, t: T) -> Result<(), TrySendError<T>> {
        using(self.chan.key(), Side::Send);
        self.inner.try_send(t)?;
        if profile_on() {
            self.chan.stats.sent(self.inner.len());
        }
        Ok(())
    }

    /// Items in the channel now.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the channel is empty now.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Whether the channel is full now.
    pub fn is_full(&self) -> bool {
        self.inner.is_full()
    }

    /// The bound (`None`: unbounded).
    pub fn capacity(&self) -> Option<usize> {
        self.inner.capacity()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            inner: self.inner.clone(),
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.senders.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}
