//! What the tracked ends share: the queue's identities, the futures that
//! wait on it, and the backpressure profile's part.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lockgraph_core::resource::PublishedSize;
use lockgraph_core::task::{self, AsyncWait};
use lockgraph_core::watchdog::WaitMode;
use lockgraph_core::{Class, LockKind, LockMeta, Request};

use super::ends::Ends;
use crate::pipeline::{self, QueueStats, Side};
use crate::tokio::track;

/// What the ends share: the queue's identity, the identity its receives
/// wait on, and its profile counters.
pub(super) struct Chan {
    /// The queue: requested by a send, held by its consumer.
    pub(super) queue: LockMeta,
    /// What a receive waits for (an item): held by no one, so a long
    /// receive is reported as such, never as a cycle through the
    /// consumer's own hold of the queue.
    pub(super) items: LockMeta,
    /// The backpressure profile's counters: only for a queue made while
    /// the profile was on.
    pub(super) stats: Option<Arc<QueueStats>>,
    /// Its bound, which the task watchdog's reports say (`Queue `q` full:
    /// 8 of 8`): published, for `queue` and for `items`, when a wait on
    /// it begins.
    capacity: usize,
    sizes: [PublishedSize; 2],
    /// Its live ends, said by its probe to the watchdog.
    pub(super) ends: Ends,
}

impl Chan {
    /// A bounded queue's identities, of class `class` (and its counters,
    /// registered, while the profile is on).
    pub(super) fn new(buffer: usize, class: Class) -> Arc<Chan> {
        let stats = pipeline::profile_on().then(|| {
            let stats = Arc::new(QueueStats::default());
            pipeline::register_queue(class, Some(buffer), &stats);
            stats
        });
        Arc::new_cyclic(|me| Chan {
            queue: LockMeta::new(LockKind::Queue, class),
            items: LockMeta::new(LockKind::Queue, class),
            stats,
            capacity: buffer,
            sizes: [PublishedSize::new(), PublishedSize::new()],
            ends: Ends::new(me.clone()),
        })
    }

    /// The bound it was made with.
    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }
}

impl Drop for Chan {
    fn drop(&mut self) {
        let [queue, items] = &mut self.sizes;
        queue.forget(&self.queue);
        items.forget(&self.items);
    }
}

impl Chan {
    /// A send (or reservation) that can wait, asked at `site`: "held ->
    /// the queue".
    #[inline]
    pub(super) fn request(&self, site: &'static Location<'static>) {
        track::register();
        let _ = task::before_wait(&self.queue, Request::Exclusive, Some(site));
    }

    /// For the profile: an operation on `side` at `site` that did not wait
    /// (and when `sent` is more than 0, that many items sent or reserved,
    /// leaving `fill` in the queue).
    #[cold]
    pub(super) fn counted(
        &self,
        side: Side,
        site: Option<&'static Location<'static>>,
        sent: usize,
        fill: impl FnOnce() -> usize,
    ) {
        if let Some(stats) = &self.stats {
            counted(track::task_id(), pipeline::key(stats), side, None, site);
            if sent > 0 {
                stats.sent_n(sent, fill());
            }
        }
    }

    /// For the profile: an operation on `side` at `site` that waits from
    /// now until the result is dropped (`None` unless the queue is
    /// counted).
    #[cold]
    pub(super) fn blocked(
        &self,
        side: Side,
        site: Option<&'static Location<'static>>,
    ) -> Option<Blocked> {
        let stats = self.stats.as_ref()?;
        let b = Since {
            task: track::task_id(),
            key: pipeline::key(stats),
            side,
            site,
            since: Instant::now(),
        };
        counted(b.task, b.key, side, None, site);
        Some(Blocked(Box::new(b)))
    }
}

/// An operation of `task` (else the thread) on queue `key`'s `side` at
/// `site`, for the profile.
fn counted(
    task: Option<u64>,
    key: usize,
    side: Side,
    blocked: Option<Duration>,
    site: Option<&'static Location<'static>>,
) {
    pipeline::op(task, key, side, blocked, || {
        let id = task.unwrap_or_default();
        let first = site.map_or_else(|| "(poll_recv)".to_string(), |s| s.to_string());
        pipeline::task_stage(&task::task_label(id), id, &first)
    });
}

/// A wait on a counted queue, for the profile: its time is counted when
/// this is dropped (the operation finished, or its future was dropped).
/// Boxed: one word in the futures that may carry it (made only while the
/// profile is on).
pub(super) struct Blocked(Box<Since>);

struct Since {
    task: Option<u64>,
    key: usize,
    side: Side,
    site: Option<&'static Location<'static>>,
    since: Instant,
}

impl Drop for Blocked {
    fn drop(&mut self) {
        let b = &self.0;
        counted(b.task, b.key, b.side, Some(b.since.elapsed()), b.site);
    }
}

impl Chan {
    /// A wait on `side` (a send's or reservation's for room, a receive's
    /// for an item) at `site` has just begun (a future got `Pending`): the
    /// watchdog's and the profile's parts.
    #[cold]
    pub(super) fn waits(
        &self,
        side: Side,
        what: &'static str,
        site: &'static Location<'static>,
    ) -> Waits {
        Waits {
            _watchdog: self.begins(side, what, site),
            profile: self.blocked(side, Some(site)),
        }
    }

    /// The watchdog's part of a wait on `side` at `site` that has just
    /// begun (a future got `Pending`): a sync lock the thread holds now
    /// stays held while the task is suspended (reported), and the task
    /// watchdog sees the wait until the result is dropped.
    #[cold]
    fn begins(
        &self,
        side: Side,
        what: &'static str,
        site: &'static Location<'static>,
    ) -> Option<AsyncWait> {
        track::register();
        let meta = self.waits_on(side);
        // The words only for a report: a task's yields (tokio's budget
        // makes one every 128 operations) format nothing.
        let how = || {
            let label = match meta.class() {
                Class::Named(n) => format!("`{n}`"),
                Class::Site(l, _) => format!("created at {l}"),
                Class::Anonymous => format!("#{}", meta.id()),
            };
            format!("{what} Queue {label}")
        };
        task::check_pending(0, how, Some(site));
        self.wait_begins(side, site, false)
    }

    /// What a wait on `side` waits on: the queue (a send, for room), or
    /// its items (a receive).
    fn waits_on(&self, side: Side) -> &LockMeta {
        match side {
            Side::Send => &self.queue,
            Side::Recv => &self.items,
        }
    }

    /// The task watchdog's registration of a wait on `side` at `site` (a
    /// future's first `Pending`, a blocking call about to block), worded
    /// as the thread watchdog words it (a send waits for room, a receive
    /// for an item), and the queue's bound published for its report: a
    /// cold path (a bound published already is one load). `blocks`: a
    /// blocking call's wait, which blocks the calling thread.
    #[cold]
    pub(super) fn wait_begins(
        &self,
        side: Side,
        site: &'static Location<'static>,
        blocks: bool,
    ) -> Option<AsyncWait> {
        let meta = self.waits_on(side);
        let (size, mode) = match side {
            Side::Send => (&self.sizes[0], WaitMode::Send),
            Side::Recv => (&self.sizes[1], WaitMode::Recv),
        };
        size.publish(meta, self.capacity);
        self.ends.watch(self);
        if blocks {
            task::blocking_wait_begins_as(meta, mode, Some(site))
        } else {
            task::wait_begins_as(meta, mode, Some(site))
        }
    }
}

/// Whether an operation's result means it sent (or reserved).
pub(super) trait Outcome {
    fn ok(&self) -> bool;
}

impl<A, E> Outcome for Result<A, E> {
    fn ok(&self) -> bool {
        self.is_ok()
    }
}

/// `fut` (tokio's send or reservation on the queue of `chan`), with
/// lockgraph's part around it: the request of the queue on the first poll
/// (unless `request` is false: an operation that fails at once), and once
/// `fut` returns `Pending` for the first time, the wait begun for the
/// watchdog and the profile. For the profile, `count` items (0: none) are
/// counted sent when it succeeds, leaving `fill()` in the queue. A future
/// of its own rather than an `async fn`: one state machine less around
/// tokio's.
#[must_use = "futures do nothing unless polled"]
pub(super) struct Waiting<Q, F, L> {
    fut: F,
    chan: Q,
    site: &'static Location<'static>,
    request: bool,
    count: usize,
    fill: L,
    /// From the first `Pending` on: the wait's registrations.
    wait: WaitSlot,
}

/// A wait's registrations once it has begun: dropping (or ending) one
/// that never began tests one word, inline; the rest is out of line.
#[derive(Default)]
pub(super) struct WaitSlot(ManuallyDrop<Option<Waits>>);

impl WaitSlot {
    /// Whether the wait has begun.
    #[inline]
    pub(super) fn begun(&self) -> bool {
        self.0.is_some()
    }

    /// The wait has begun, with these registrations.
    pub(super) fn begin(&mut self, w: Waits) {
        self.end();
        *self.0 = Some(w);
    }

    /// The profile's part, taken out.
    pub(super) fn take_profile(&mut self) -> Option<Blocked> {
        self.0.as_mut().and_then(|w| w.profile.take())
    }

    /// The wait is over: its registrations end.
    #[inline]
    pub(super) fn end(&mut self) {
        if self.0.is_some() {
            self.ended();
        }
    }

    #[cold]
    #[inline(never)]
    fn ended(&mut self) {
        drop(self.0.take());
    }
}

impl Drop for WaitSlot {
    #[inline]
    fn drop(&mut self) {
        // What is left in the `ManuallyDrop` is `None`: nothing leaks.
        self.end();
    }
}

/// A wait's registrations, from its first `Pending`: with the watchdog
/// (when on) and with the profile (when the queue is counted).
pub(super) struct Waits {
    pub(super) _watchdog: Option<AsyncWait>,
    pub(super) profile: Option<Blocked>,
}

impl<Q, F, L> Waiting<Q, F, L> {
    pub(super) fn new(
        fut: F,
        chan: Q,
        site: &'static Location<'static>,
        request: bool,
        count: usize,
        fill: L,
    ) -> Self {
        Waiting {
            fut,
            chan,
            site,
            request,
            count,
            fill,
            wait: WaitSlot::default(),
        }
    }
}

impl<Q, F, L> Future for Waiting<Q, F, L>
where
    Q: Deref<Target = Chan>,
    F: Future,
    F::Output: Outcome,
    L: Fn() -> usize,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `fut` is pinned structurally: it is never moved out of
        // `self` (no method takes it by value, `Waiting` has no `Drop` and
        // is `Unpin` only when `F` is); the other fields are never pinned.
        let this = unsafe { self.get_unchecked_mut() };
        if std::mem::take(&mut this.request) {
            this.chan.request(this.site);
        }
        // SAFETY: see above.
        let fut = unsafe { Pin::new_unchecked(&mut this.fut) };
        match fut.poll(cx) {
            Poll::Ready(r) => {
                if this.chan.stats.is_some() {
                    this.ready(r.ok());
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                if !this.wait.begun() {
                    this.wait.begin(
                        this.chan
                            .waits(Side::Send, "waiting for room in", this.site),
                    );
                }
                Poll::Pending
            }
        }
    }
}

impl<Q: Deref<Target = Chan>, F, L: Fn() -> usize> Waiting<Q, F, L> {
    /// For the profile: the operation is over (`ok`: it sent or reserved).
    #[cold]
    fn ready(&mut self, ok: bool) {
        let count = if ok { self.count } else { 0 };
        match self.wait.take_profile() {
            Some(b) => {
                drop(b);
                if let Some(stats) = &self.chan.stats {
                    if count > 0 {
                        stats.sent_n(count, (self.fill)());
                    }
                }
            }
            None => self
                .chan
                .counted(Side::Send, Some(self.site), count, &self.fill),
        }
    }
}
