//! `std::sync::mpsc`, tracked: bounded queues in the lock-order graph and
//! the watchdog (`docs/pipelines.md`).
//!
//! Same API as std (`channel`, `sync_channel`, `Sender`, `SyncSender`,
//! `Receiver`, the error types), plus `channel_named`/`sync_channel_named`
//! for a class of your choosing (otherwise the class is the creation site
//! and the item type, as for the locks). In release builds without tracking
//! these are std's own types.
//!
//! A send on a bounded channel (`sync_channel`) can block until the
//! consumer receives, so every such send records "held locks -> the queue";
//! the consumer holds the queue from one receive to the next, so the locks
//! it takes meanwhile are the queue's needs. A stage that sends while
//! holding a lock its consumer takes between receives is reported at that
//! send, full queue or not:
//!
//! ```
//! use lockgraph::mpsc::sync_channel_named;
//! use lockgraph::Mutex;
//!
//! let stats = std::sync::Arc::new(Mutex::named("mpsc-doc-stats", 0u32));
//! let (tx, rx) = sync_channel_named::<u32>("mpsc-doc-queue", 4);
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
//! blocks: no edge. A receive is not an edge either (who will send next is
//! up to the program's protocol, as with a condvar); the watchdog still
//! shows a long receive.

use std::cell::Cell;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use lockgraph_core::__private::{
    features_off, watch_queue, Blocking, Deadline, QueueProbe, QueueState, WaitMode,
};
use lockgraph_core::resource::Resource;
use lockgraph_core::{Class, LockKind};

use crate::pipeline::{self, profile_on, using, QueueStats, Side};

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

/// What the sending and receiving ends share: the queue's identity, its
/// fill level, and the parking place of senders waiting for space.
struct Chan {
    res: Resource,
    /// `None`: unbounded.
    bound: Option<usize>,
    /// Items sent and not yet received.
    len: AtomicIsize,
    /// Senders parked for space.
    waiting: AtomicUsize,
    space: parking_lot::Mutex<()>,
    freed: parking_lot::Condvar,
    stats: Arc<QueueStats>,
    /// Sending ends alive, and whether the receiving end is: what the
    /// watchdog says of a blocked send or receive.
    senders: AtomicUsize,
    receiver_alive: AtomicBool,
    /// Whether the watchdog has this queue's probe (registered on its
    /// first wait in slices).
    watched: AtomicBool,
}

impl QueueProbe for Chan {
    fn state(&self) -> QueueState {
        QueueState::new(
            self.bound,
            self.senders.load(Ordering::Relaxed),
            self.receiver_alive.load(Ordering::Relaxed),
        )
    }
}

/// Called in a blocked send's or receive's slices (the watchdog is on, or
/// a deadline was given): the watchdog learns the queue's state, once.
fn watch(chan: &Arc<Chan>) {
    if !chan.watched.swap(true, Ordering::Relaxed) {
        let weak = Arc::downgrade(chan);
        watch_queue(chan.res.meta(), weak);
    }
}

impl Chan {
    fn new(bound: Option<usize>, class: Class) -> Arc<Chan> {
        let chan = Arc::new(Chan {
            res: Resource::new(LockKind::Queue, class),
            bound,
            len: AtomicIsize::new(0),
            waiting: AtomicUsize::new(0),
            space: parking_lot::Mutex::new(()),
            freed: parking_lot::Condvar::new(),
            stats: Default::default(),
            senders: AtomicUsize::new(1),
            receiver_alive: AtomicBool::new(true),
            watched: AtomicBool::new(false),
        });
        pipeline::register_queue(class, bound, &chan.stats);
        chan
    }

    fn key(&self) -> usize {
        pipeline::key(&self.stats)
    }

    /// Before an attempt to send: counted in, so that a receive, which
    /// may come before the sender returns, does not count below zero. The
    /// fill level is for the profile: counted only while it is on (a
    /// profile turned on mid-run sees a level too low at first, never
    /// below zero).
    #[inline]
    fn sending(&self) {
        if profile_on() {
            self.len.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// After a send: its fill level, for the profile.
    #[inline]
    fn sent(&self) {
        if profile_on() {
            let len = self.len.load(Ordering::Relaxed).max(0) as usize;
            self.stats.sent(len);
        }
    }

    /// After an attempt that did not send.
    #[inline]
    fn unsent(&self) {
        if profile_on() {
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// After an item left the queue: wakes a sender parked for space.
    #[inline]
    fn received(&self) {
        if profile_on() {
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
        // Only a sender registered with the watchdog parks here (one
        // without it blocks in std's own `send`), and it parks in the
        // watchdog's short slices: a wake-up this misses (no fence: the
        // uncontended receive stays cheap) costs it one slice at most.
        if self.waiting.load(Ordering::Relaxed) > 0 {
            let _g = self.space.lock();
            self.freed.notify_all();
        }
    }

    /// The receiver went away: senders parked for space see it now.
    fn closed(&self) {
        let _g = self.space.lock();
        self.freed.notify_all();
    }
}

/// An unbounded channel (std's `channel`): its sends never block.
#[track_caller]
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    channel_with(Class::here_of::<T>())
}

/// [`channel`], of the class `name`.
pub fn channel_named<T>(name: &'static str) -> (Sender<T>, Receiver<T>) {
    channel_with(Class::Named(name))
}

fn channel_with<T>(class: Class) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = mpsc::channel();
    let chan = Chan::new(None, class);
    (
        Sender {
            inner: tx,
            chan: chan.clone(),
        },
        Receiver::new(rx, chan),
    )
}

/// A bounded channel of `bound` items (std's `sync_channel`; 0 is a
/// rendezvous): its sends block while it is full.
#[track_caller]
pub fn sync_channel<T>(bound: usize) -> (SyncSender<T>, Receiver<T>) {
    sync_channel_with(bound, Class::here_of::<T>())
}

/// [`sync_channel`], of the class `name` (the queue's name in reports and
/// in the pipeline profile).
pub fn sync_channel_named<T>(name: &'static str, bound: usize) -> (SyncSender<T>, Receiver<T>) {
    sync_channel_with(bound, Class::Named(name))
}

fn sync_channel_with<T>(bound: usize, class: Class) -> (SyncSender<T>, Receiver<T>) {
    let (tx, rx) = mpsc::sync_channel(bound);
    let chan = Chan::new(Some(bound), class);
    (
        SyncSender {
            inner: tx,
            chan: chan.clone(),
        },
        Receiver::new(rx, chan),
    )
}

/// The sending end of an unbounded [`channel`].
pub struct Sender<T> {
    inner: mpsc::Sender<T>,
    chan: Arc<Chan>,
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

/// The sending end of a bounded [`sync_channel`].
pub struct SyncSender<T> {
    inner: mpsc::SyncSender<T>,
    chan: Arc<Chan>,
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
    fn new(inner: mpsc::Receiver<T>, chan: Arc<Chan>) -> Receiver<T> {
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
