//! crossbeam-channel, tracked (the `crossbeam` feature): bounded queues in
//! the lock-order graph, the watchdog and the backpressure profile, by the
//! same rules as [`crate::mpsc`] (`docs/pipelines.md`).
//!
//! `bounded`, `unbounded`, `Sender`, `Receiver` and the error types, as in
//! crossbeam-channel, plus `bounded_named`/`unbounded_named` for a class of
//! your choosing (otherwise the class is the creation site and the item
//! type). In release builds without tracking these are crossbeam's own
//! types. `select!` and `Select` are not wrapped: select over crossbeam's
//! own channels (untracked).
//!
//! A send on a bounded channel can block until a consumer receives, so
//! every such send records "held locks -> the queue"; each thread that
//! receives (a crossbeam `Receiver` can be cloned: every receiving thread)
//! holds the queue from one receive to the next, so the locks it takes
//! meanwhile are the queue's needs:
//!
//! ```
//! use lockgraph::channel::bounded_named;
//! use lockgraph::Mutex;
//!
//! let stats = std::sync::Arc::new(Mutex::named("channel-doc-stats", 0u32));
//! let (tx, rx) = bounded_named::<u32>("channel-doc-queue", 4);
//! let reports = lockgraph::capture(|| {
//!     let s = stats.clone();
//!     let consumer = lockgraph::thread::spawn(move || {
//!         for item in rx.iter() {
//!             *s.lock() += item; // between two receives
//!         }
//!     });
//!     tx.send(1).unwrap();
//!     while *stats.lock() == 0 {}
//!     let g = stats.lock();
//!     tx.send(2).unwrap(); // holding `stats`: reported here, not full
//!     drop(g);
//!     drop(tx);
//!     consumer.join().unwrap();
//! });
//! if lockgraph::TRACKING {
//!     assert_eq!(reports.len(), 1);
//! }
//! ```
//!
//! An unbounded channel's send never blocks: no edge. `try_send` never
//! blocks: no edge. A receive is not an edge.

use std::cell::Cell;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel as cb;
use lockgraph_core::__private::{
    features_off, watch_queue, Blocking, Deadline, QueueProbe, QueueState, WaitMode,
};
use lockgraph_core::resource::Resource;
use lockgraph_core::{Class, LockKind};

use crate::pipeline::{self, profile_on, using, QueueStats, Side};

pub use crossbeam_channel::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};

/// What the ends share: the queue's identity, its live ends, its profile.
struct Chan {
    res: Resource,
    /// `None`: unbounded.
    bound: Option<usize>,
    senders: AtomicUsize,
    receivers: AtomicUsize,
    /// Whether the watchdog has this queue's probe.
    watched: AtomicBool,
    stats: Arc<QueueStats>,
}

impl QueueProbe for Chan {
    fn state(&self) -> QueueState {
        QueueState::new(
            self.bound,
            self.senders.load(Ordering::Relaxed),
            self.receivers.load(Ordering::Relaxed) > 0,
        )
    }
}

impl Chan {
    fn new(bound: Option<usize>, class: Class) -> Arc<Chan> {
        let chan = Arc::new(Chan {
            res: Resource::new(LockKind::Queue, class),
            bound,
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
            watched: AtomicBool::new(false),
            stats: Default::default(),
        });
        pipeline::register_queue(class, bound, &chan.stats);
        chan
    }

    fn key(&self) -> usize {
        pipeline::key(&self.stats)
    }
}

/// Called in a blocked send's or receive's slices: the watchdog learns the
/// queue's state, once.
fn watch(chan: &Arc<Chan>) {
    if !chan.watched.swap(true, Ordering::Relaxed) {
        let weak = Arc::downgrade(chan);
        watch_queue(chan.res.meta(), weak);
    }
}

/// A channel of at most `cap` items (0: a rendezvous): its sends block
/// while it is full.
#[track_caller]
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    make(cb::bounded(cap), Some(cap), Class::here_of::<T>())
}

/// [`bounded`], of the class `name` (the queue's name in reports and in the
/// pipeline profile).
pub fn bounded_named<T>(name: &'static str, cap: usize) -> (Sender<T>, Receiver<T>) {
    make(cb::bounded(cap), Some(cap), Class::Named(name))
}

/// An unbounded channel: its sends never block.
#[track_caller]
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    make(cb::unbounded(), None, Class::here_of::<T>())
}

/// [`unbounded`], of the class `name`.
pub fn unbounded_named<T>(name: &'static str) -> (Sender<T>, Receiver<T>) {
    make(cb::unbounded(), None, Class::Named(name))
}

fn make<T>(
    (tx, rx): (cb::Sender<T>, cb::Receiver<T>),
    bound: Option<usize>,
    class: Class,
) -> (Sender<T>, Receiver<T>) {
    let chan = Chan::new(bound, class);
    (
        Sender {
            inner: tx,
            chan: chan.clone(),
        },
        Receiver { inner: rx, chan },
    )
}

/// The sending end of a channel.
pub struct Sender<T> {
    inner: cb::Sender<T>,
    chan: Arc<Chan>,
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

/// The receiving end of a channel (cloneable: crossbeam's channels are
/// multi-consumer). For a bounded channel, each thread that receives
/// serves the queue from its first receive until a receive finds every
/// sender gone or it drops its receiver.
pub struct Receiver<T> {
    inner: cb::Receiver<T>,
    chan: Arc<Chan>,
}

/// A receive's raw operations.
struct RecvOp<'a, T> {
    rx: &'a cb::Receiver<T>,
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
        let r = match deadline.instant() {
            Some(end) => self.rx.recv_deadline(end),
            None => self
                .rx
                .recv()
                .map_err(|RecvError| RecvTimeoutError::Disconnected),
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
    /// After an item was received at `site`.
    #[inline(always)]
    fn took(&self, site: &'static Location<'static>) {
        if self.chan.bound.is_some() {
            self.chan.res.serve(Some(site));
        }
    }

    /// Receives the next item, blocking while the channel is empty; fails
    /// once every sender is gone and the channel is empty.
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
                    self.took(site);
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

    /// Receives the next item, waiting until `deadline` at the latest.
    #[track_caller]
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.recv_until(Location::caller(), Some(Deadline::At(deadline)))
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
        match self.inner.try_recv() {
            Ok(t) => {
                self.took(site);
                Ok(t)
            }
            Err(e) => {
                if e == TryRecvError::Disconnected {
                    self.chan.res.stop_serving();
                }
                Err(e)
            }
        }
    }

    /// The items, blocking for each, until every sender is gone. Each
    /// receive is reported as asked where `iter` was called (the caller of
    /// `next` may be an adapter in the standard library: `count`, `collect`).
    #[track_caller]
    pub fn iter(&self) -> Iter<'_, T> {
        Iter {
            rx: self,
            site: Location::caller(),
        }
    }

    /// The items there now, without blocking (each receive asked where
    /// `try_iter` was called).
    #[track_caller]
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter {
            rx: self,
            site: Location::caller(),
        }
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

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.receivers.fetch_add(1, Ordering::Relaxed);
        Receiver {
            inner: self.inner.clone(),
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.res.stop_serving();
        self.chan.receivers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

/// [`Receiver::iter`].
#[derive(Debug)]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
    site: &'static Location<'static>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv_at(self.site).ok()
    }
}

/// [`Receiver::try_iter`].
#[derive(Debug)]
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
    site: &'static Location<'static>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv_at(self.site).ok()
    }
}

/// [`Receiver`]'s owning iterator (each receive asked where it was made:
/// a `for` loop's line).
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
    site: &'static Location<'static>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv_at(self.site).ok()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    #[track_caller]
    fn into_iter(self) -> IntoIter<T> {
        IntoIter {
            rx: self,
            site: Location::caller(),
        }
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    #[track_caller]
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}
