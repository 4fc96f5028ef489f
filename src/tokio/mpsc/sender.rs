//! The sending ends: [`Sender`], [`WeakSender`] and [`OwnedPermit`].

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::ends::SenderEnd;
use super::error::{SendError, TrySendError};
use super::tracked::{Blocked, Chan, Waiting};
use super::{Permit, PermitIterator};
use crate::pipeline::Side;

/// The sending end of a bounded [`channel`](super::channel).
pub struct Sender<T> {
    inner: mpsc::Sender<T>,
    chan: SenderEnd,
}

/// The fill level tokio's sender `tx` sees: items in the queue and room
/// reserved.
fn fill<T>(tx: &mpsc::Sender<T>) -> usize {
    tx.max_capacity() - tx.capacity()
}

impl<T> Sender<T> {
    pub(super) fn new(inner: mpsc::Sender<T>, chan: SenderEnd) -> Self {
        Sender { inner, chan }
    }

    /// The queue's shared state (for the ends' tests).
    #[cfg(test)]
    pub(super) fn chan(&self) -> &Chan {
        &self.chan
    }

    /// For the profile: a send or reservation at `site` that did not
    /// wait, `sent` items (0: it failed).
    #[inline]
    fn counted(&self, site: &'static Location<'static>, sent: usize) {
        if self.chan.stats.is_some() {
            self.chan
                .counted(Side::Send, Some(site), sent, || fill(&self.inner));
        }
    }

    /// Sends `value`, waiting for room while the queue is full; fails
    /// once the receiver is closed or gone. Records "held -> this
    /// queue" first, every time.
    #[track_caller]
    pub fn send(&self, value: T) -> impl Future<Output = Result<(), SendError<T>>> + '_ {
        let tx = &self.inner;
        Waiting::new(
            tx.send(value),
            &*self.chan,
            Location::caller(),
            true,
            1,
            move || fill(tx),
        )
    }

    /// Sends `value` if there is room now (never waits: no edge).
    #[track_caller]
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let r = self.inner.try_send(value);
        self.counted(Location::caller(), usize::from(r.is_ok()));
        r
    }

    /// [`send`](Self::send) from outside the runtime, blocking the
    /// thread (panics inside an async context, as tokio's does).
    #[track_caller]
    pub fn blocking_send(&self, value: T) -> Result<(), SendError<T>> {
        let site = Location::caller();
        self.chan.request(site);
        let value = match self.inner.try_send(value) {
            Ok(()) => {
                self.counted(site, 1);
                return Ok(());
            }
            Err(TrySendError::Closed(v)) => return Err(SendError(v)),
            Err(TrySendError::Full(v)) => v,
        };
        let blocked = self.blocked(site);
        let r = {
            let _wait = self.chan.wait_begins(Side::Send, site, true);
            self.inner.blocking_send(value)
        };
        if blocked.is_some() {
            drop(blocked);
            self.counted(site, usize::from(r.is_ok()));
        }
        r
    }

    /// For the profile: a wait for room at `site` begins.
    fn blocked(&self, site: &'static Location<'static>) -> Option<Blocked> {
        if self.chan.stats.is_some() {
            self.chan.blocked(Side::Send, Some(site))
        } else {
            None
        }
    }

    /// Waits for room for one item and reserves it (a request of the
    /// queue, as a send is); the permit's `send` never waits.
    #[track_caller]
    pub fn reserve(&self) -> impl Future<Output = Result<Permit<'_, T>, SendError<()>>> + '_ {
        let tx = &self.inner;
        Waiting::new(
            tx.reserve(),
            &*self.chan,
            Location::caller(),
            true,
            1,
            move || fill(tx),
        )
    }

    /// Waits for room for `n` items and reserves it all (a request of the
    /// queue, as a send is; tokio's semaphore is fair, so it waits for `n`
    /// receives at most). Fails at once, with no request, if `n` is more
    /// than the bound, as tokio's does. The permits' `send`s never wait.
    #[track_caller]
    pub fn reserve_many(
        &self,
        n: usize,
    ) -> impl Future<Output = Result<PermitIterator<'_, T>, SendError<()>>> + '_ {
        let tx = &self.inner;
        Waiting::new(
            tx.reserve_many(n),
            &*self.chan,
            Location::caller(),
            n <= tx.max_capacity(),
            n,
            move || fill(tx),
        )
    }

    /// [`reserve`](Self::reserve) that takes the sender and gives an
    /// [`OwnedPermit`] (`'static`), whose `send` gives the sender back.
    /// A request of the queue, as a send is.
    ///
    /// ```
    /// use lockgraph::tokio::mpsc;
    ///
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// rt.block_on(async {
    ///     let (tx, mut rx) = mpsc::channel_named::<u32>("owned-permit-doc", 1);
    ///     let permit = tx.clone().reserve_owned().await.unwrap();
    ///     assert!(tx.try_send(1).is_err(), "the one place is reserved");
    ///     let back = permit.send(7); // never waits
    ///     assert!(back.same_channel(&tx));
    ///     assert_eq!(rx.recv().await, Some(7));
    /// });
    /// ```
    #[track_caller]
    pub fn reserve_owned(self) -> impl Future<Output = Result<OwnedPermit<T>, SendError<()>>> {
        let site = Location::caller();
        let Sender { inner, chan } = self;
        // The fill level is counted at the permit's send (the permit has
        // no view of the queue).
        let waiting = Waiting::new(
            inner.reserve_owned(),
            Arc::clone(chan.chan()),
            site,
            true,
            0,
            || 0,
        );
        async move {
            let permit = waiting.await?;
            Ok(OwnedPermit {
                inner: permit,
                chan,
            })
        }
    }

    /// Reserves room for one item if there is some now (no edge).
    #[track_caller]
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        let r = self.inner.try_reserve();
        self.counted(Location::caller(), usize::from(r.is_ok()));
        r
    }

    /// Reserves room for `n` items if there is that much now (no edge;
    /// `Full` if `n` is more than the bound, as tokio's).
    #[track_caller]
    pub fn try_reserve_many(&self, n: usize) -> Result<PermitIterator<'_, T>, TrySendError<()>> {
        let r = self.inner.try_reserve_many(n);
        self.counted(Location::caller(), if r.is_ok() { n } else { 0 });
        r
    }

    /// [`try_reserve`](Self::try_reserve) that takes the sender and gives
    /// an [`OwnedPermit`]; the error gives the sender back.
    #[track_caller]
    pub fn try_reserve_owned(self) -> Result<OwnedPermit<T>, TrySendError<Self>> {
        let site = Location::caller();
        let Sender { inner, chan } = self;
        if chan.stats.is_some() {
            // The fill level is counted at the permit's send.
            chan.counted(Side::Send, Some(site), 0, || 0);
        }
        match inner.try_reserve_owned() {
            Ok(inner) => Ok(OwnedPermit { inner, chan }),
            Err(TrySendError::Full(inner)) => Err(TrySendError::Full(Sender { inner, chan })),
            Err(TrySendError::Closed(inner)) => Err(TrySendError::Closed(Sender { inner, chan })),
        }
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

    /// A [`WeakSender`]: it does not keep the channel open, and gives a
    /// `Sender` back with [`WeakSender::upgrade`] while one is alive.
    ///
    /// ```
    /// use lockgraph::tokio::mpsc;
    ///
    /// let (tx, rx) = mpsc::channel_named::<u32>("weak-sender-doc", 1);
    /// let weak = tx.downgrade();
    /// assert_eq!((tx.strong_count(), tx.weak_count()), (1, 1));
    /// assert!(weak.upgrade().is_some_and(|t| t.same_channel(&tx)));
    /// drop(tx);
    /// assert!(weak.upgrade().is_none(), "no Sender left");
    /// # drop(rx);
    /// ```
    pub fn downgrade(&self) -> WeakSender<T> {
        WeakSender {
            inner: self.inner.downgrade(),
            chan: Arc::clone(self.chan.chan()),
        }
    }

    /// How many `Sender`s (and owned permits) of the channel are alive.
    pub fn strong_count(&self) -> usize {
        self.inner.strong_count()
    }

    /// How many [`WeakSender`]s of the channel are alive.
    pub fn weak_count(&self) -> usize {
        self.inner.weak_count()
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

/// A sender that does not keep the channel open (tokio's `WeakSender`):
/// it cannot send; [`upgrade`](Self::upgrade) gives a [`Sender`] of the
/// same queue (same class, same identity in the graph) while any is
/// alive.
pub struct WeakSender<T> {
    inner: mpsc::WeakSender<T>,
    chan: Arc<Chan>,
}

impl<T> WeakSender<T> {
    /// A [`Sender`], if any `Sender` (or owned permit) of the channel is
    /// still alive.
    pub fn upgrade(&self) -> Option<Sender<T>> {
        Some(Sender {
            inner: self.inner.upgrade()?,
            chan: SenderEnd::new(self.chan.clone()),
        })
    }

    /// How many `Sender`s (and owned permits) of the channel are alive.
    pub fn strong_count(&self) -> usize {
        self.inner.strong_count()
    }

    /// How many `WeakSender`s of the channel are alive.
    pub fn weak_count(&self) -> usize {
        self.inner.weak_count()
    }
}

impl<T> Clone for WeakSender<T> {
    fn clone(&self) -> Self {
        WeakSender {
            inner: self.inner.clone(),
            chan: self.chan.clone(),
        }
    }
}

impl<T> fmt::Debug for WeakSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

/// Room for one item, reserved by [`Sender::reserve_owned`] or
/// [`Sender::try_reserve_owned`] (tokio's `OwnedPermit`): its
/// [`send`](Self::send) never waits and gives the [`Sender`] back; dropped
/// unsent, the room is given back to the queue.
pub struct OwnedPermit<T> {
    inner: mpsc::OwnedPermit<T>,
    chan: SenderEnd,
}

impl<T> OwnedPermit<T> {
    /// Sends `value` into the reserved room (never waits: no edge), and
    /// gives the sender back.
    pub fn send(self, value: T) -> Sender<T> {
        let tx = Sender {
            inner: self.inner.send(value),
            chan: self.chan,
        };
        if let Some(stats) = &tx.chan.stats {
            stats.sent(fill(&tx.inner));
        }
        tx
    }

    /// Gives the reserved room back unused, and the sender.
    pub fn release(self) -> Sender<T> {
        Sender {
            inner: self.inner.release(),
            chan: self.chan,
        }
    }

    /// Whether `other` is a permit of the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        self.inner.same_channel(&other.inner)
    }

    /// Whether `sender` sends into this permit's channel.
    pub fn same_channel_as_sender(&self, sender: &Sender<T>) -> bool {
        self.inner.same_channel_as_sender(&sender.inner)
    }
}

impl<T> fmt::Debug for OwnedPermit<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}
