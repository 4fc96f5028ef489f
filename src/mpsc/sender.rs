//! The sending ends: [`Sender`] (unbounded) and [`SyncSender`] (bounded).

use std::cell::Cell;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use lockgraph_core::__private::{features_off, Blocking, Deadline, WaitMode};

use super::{watch, Chan, SendError, TrySendError};
use crate::pipeline::{using, Side};

/// The sending end of an unbounded [`channel`](super::channel).
pub struct Sender<T> {
    pub(super) inner: mpsc::Sender<T>,
    pub(super) chan: Arc<Chan>,
}

impl<T> Sender<T> {
    /// Sends `t` (never blocks; fails once the receiver is gone).
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        using(self.chan.key(), Side::Send);
        self.chan.sending();
        if let Err(e) = self.inner.send(t) {
            self.chan.unsent();
            return Err(e);
        }
        self.chan.sent();
        Ok(())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.senders.fetch_sub(1, Ordering::Relaxed);
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

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

/// The sending end of a bounded [`sync_channel`](super::sync_channel).
pub struct SyncSender<T> {
    pub(super) inner: mpsc::SyncSender<T>,
    pub(super) chan: Arc<Chan>,
}

/// A send's raw operations: one attempt, or parking for space in slices.
struct SendOp<'a, T> {
    tx: &'a mpsc::SyncSender<T>,
    chan: &'a Arc<Chan>,
    /// The item until it is sent.
    item: &'a Cell<Option<T>>,
    /// Set when the receiver is gone (the send is over, failed).
    gone: &'a Cell<bool>,
}

impl<T> Blocking for SendOp<'_, T> {
    fn try_now(&self) -> bool {
        let Some(t) = self.item.take() else {
            return true;
        };
        self.chan.sending();
        match self.tx.try_send(t) {
            Ok(()) => {
                self.chan.sent();
                true
            }
            Err(TrySendError::Full(t)) => {
                self.chan.unsent();
                self.item.set(Some(t));
                false
            }
            Err(TrySendError::Disconnected(t)) => {
                self.chan.unsent();
                self.item.set(Some(t));
                self.gone.set(true);
                true
            }
        }
    }

    fn block(&self) {
        // Without the watchdog: std's own blocking send (a rendezvous meets
        // a receiver blocked in its receive, which a parked sender would
        // never hear of).
        if let Some(t) = self.item.take() {
            self.chan.sending();
            match self.tx.send(t) {
                Ok(()) => self.chan.sent(),
                Err(SendError(t)) => {
                    self.chan.unsent();
                    self.item.set(Some(t));
                    self.gone.set(true);
                }
            }
        }
    }

    fn block_until(&self, deadline: Deadline) -> bool {
        watch(self.chan);
        let end = deadline.instant();
        if self.chan.bound == Some(0) {
            // A rendezvous with a deadline: std has no timed send, and a
            // receiver blocked in its receive sends no wake-up; so, polls
            // (the watchdog's slices of a rendezvous send only).
            loop {
                if self.try_now() {
                    return true;
                }
                let left = end.map(|e| e.saturating_duration_since(Instant::now()));
                if left.is_some_and(|l| l.is_zero()) {
                    return false;
                }
                let nap = Duration::from_millis(1);
                std::thread::sleep(left.map_or(nap, |l| l.min(nap)));
            }
        }
        let mut g = self.chan.space.lock();
        self.chan.waiting.fetch_add(1, Ordering::SeqCst);
        let done = loop {
            if self.try_now() {
                break true;
            }
            match end {
                Some(e) => {
                    if self.chan.freed.wait_until(&mut g, e).timed_out() {
                        break self.try_now();
                    }
                }
                None => self.chan.freed.wait(&mut g),
            }
        };
        self.chan.waiting.fetch_sub(1, Ordering::SeqCst);
        done
    }
}

impl<T> SyncSender<T> {
    /// Sends `t`, blocking while the queue is full; fails once the receiver
    /// is gone. Records "held locks -> this queue" first, every time.
    #[track_caller]
    #[inline]
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        let site = Location::caller();
        let chan = &self.chan;
        if features_off() {
            // Every feature off (no watchdog to register a wait with, no
            // profile to count): the request, then one attempt; only a
            // full queue goes the long way.
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
                Err(TrySendError::Full(t)) => return self.send_waiting(site, t),
            }
        }
        chan.res.before_block(Some(site));
        self.send_waiting(site, t)
    }

    /// The rest of a send whose request was recorded: the wait for room
    /// (registered with the watchdog when it is on), counted for the
    /// profile.
    #[inline(never)]
    fn send_waiting(&self, site: &'static Location<'static>, t: T) -> Result<(), SendError<T>> {
        let chan = &self.chan;
        using(chan.key(), Side::Send);
        let item = Cell::new(Some(t));
        let gone = Cell::new(false);
        let op = SendOp {
            tx: &self.inner,
            chan,
            item: &item,
            gone: &gone,
        };
        let (_, waited) = chan.res.wait(&op, WaitMode::Send, Some(site), None);
        chan.res.blocked_done();
        if !waited.is_zero() {
            chan.stats.send_blocked(waited);
        }
        // The item is left only when the receiver is gone.
        let _ = gone;
        match item.take() {
            Some(t) => Err(SendError(t)),
            None => Ok(()),
        }
    }

    /// Sends `t` if there is room now (never blocks: no edge).
    pub fn try_send(&self, t: T) -> Result<(), TrySendError<T>> {
        using(self.chan.key(), Side::Send);
        self.chan.sending();
        if let Err(e) = self.inner.try_send(t) {
            self.chan.unsent();
            return Err(e);
        }
        self.chan.sent();
        Ok(())
    }
}

impl<T> Drop for SyncSender<T> {
    fn drop(&mut self) {
        self.chan.senders.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<T> Clone for SyncSender<T> {
    fn clone(&self) -> Self {
        self.chan.senders.fetch_add(1, Ordering::Relaxed);
        SyncSender {
            inner: self.inner.clone(),
            chan: self.chan.clone(),
        }
    }
}

impl<T> fmt::Debug for SyncSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncSender").finish_non_exhaustive()
    }
}
