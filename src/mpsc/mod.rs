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

use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use lockgraph_core::__private::{watch_queue, QueueProbe, QueueState};
use lockgraph_core::resource::Resource;
use lockgraph_core::{Class, LockKind};

use crate::pipeline::{self, profile_on, QueueStats};

mod receiver;
mod sender;

pub use receiver::{IntoIter, Iter, Receiver, TryIter};
pub use sender::{Sender, SyncSender};

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

    /// After a send: its fill level, for the profile. At most the bound:
    /// a send into a full queue went in once a receive made room, but the
    /// receiver counts its item out only after std's `recv` returned, and
    /// the blocked senders were counted in before their attempts, so the
    /// count can read over the bound here (bound 1: a mean of 1.29 where
    /// every send left the queue full; found by an outside test). No send
    /// leaves more than the bound in a bounded queue.
    #[inline]
    fn sent(&self) {
        if profile_on() {
            let len = self.len.load(Ordering::Relaxed).max(0) as usize;
            self.stats.sent(self.bound.map_or(len, |b| len.min(b)));
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
