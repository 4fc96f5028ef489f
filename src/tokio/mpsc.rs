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
//! `reserve_many(n).await`, `reserve_owned().await`, `blocking_send`) can
//! wait until the consumer receives, so every such
//! send records "every lock the task holds (async) and every sync lock its
//! thread holds -> the queue", before it tries, full or not. The task (or,
//! with `blocking_recv`, the thread) that receives holds the queue from its
//! first receive that returned an item until a receive finds the channel
//! closed and empty, or the receiver is dropped: the locks it takes
//! meanwhile are the queue's needs. A producer task that sends while
//! holding a lock its consumer task takes between receives is a cycle,
//! reported at the send, before the queue is ever full. `try_send`,
//! `try_reserve`, `try_reserve_many`, `try_reserve_owned` and a permit's
//! `send` never wait: no edge. [`WeakSender`] (`downgrade`, `upgrade`)
//! sends nothing; its upgrade is a [`Sender`] of the same queue.
//!
//! With the watchdog on, a task waiting in `send().await` (room) or
//! `recv().await` (an item) longer than the timeout is reported like an
//! async lock wait; a send waits for the task that consumes the queue, so
//! a wait-for cycle through a full queue is reported as a task deadlock.
//!
//! With the profile on (`LOCKGRAPH_PROFILE=1`) when the queue is made, its
//! sends, receives, waits and fill level are counted per task for the
//! backpressure profile ([`crate::pipeline::report`]); a task's stage is
//! its name (`spawn_named`, `instrument_named`).
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

pub use tokio::sync::mpsc::{Permit, PermitIterator};

#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
mod ends;
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
mod receiver;
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
mod sender;
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
mod tracked;

#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
pub use receiver::Receiver;
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
pub use sender::{OwnedPermit, Sender, WeakSender};

/// A bounded channel of `buffer` items (tokio's `channel`; panics if
/// `buffer` is 0, as tokio does), of the class of the call site and the
/// item type.
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
#[track_caller]
pub fn channel<T>(buffer: usize) -> (Sender<T>, Receiver<T>) {
    make(buffer, lockgraph_core::Class::here_of::<T>())
}

/// [`channel`], of the class `name` (the queue's name in reports).
#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
pub fn channel_named<T>(name: &'static str, buffer: usize) -> (Sender<T>, Receiver<T>) {
    make(buffer, lockgraph_core::Class::Named(name))
}

#[cfg(any(debug_assertions, feature = "track-in-release", loom))]
fn make<T>(buffer: usize, class: lockgraph_core::Class) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = tokio::sync::mpsc::channel(buffer);
    let chan = tracked::Chan::new(buffer, class);
    (
        Sender::new(tx, ends::SenderEnd::new(chan.clone())),
        Receiver::new(rx, chan),
    )
}

#[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
pub use tokio::sync::mpsc::{channel, OwnedPermit, Receiver, Sender, WeakSender};

/// tokio's `channel(buffer)` (release build without tracking: the name is
/// for tracking builds).
#[cfg(not(any(debug_assertions, feature = "track-in-release", loom)))]
#[inline]
pub fn channel_named<T>(name: &'static str, buffer: usize) -> (Sender<T>, Receiver<T>) {
    let _ = name;
    channel(buffer)
}
