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

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel as cb;
use lockgraph_core::__private::{watch_queue, QueueProbe, QueueState};
use lockgraph_core::resource::Resource;
use lockgraph_core::{Class, LockKind};

use crate::pipeline::{self, QueueStats};

mod receiver;
mod sender;

pub use receiver::{IntoIter, Iter, Receiver, TryIter};
pub use sender::Sender;

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
