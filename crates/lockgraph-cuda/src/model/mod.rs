//! The deadlock model: streams' pending host functions and event waits,
//! the shared host-function executor, signals and locks, as one wait-for
//! graph checked at every call that adds an edge, before anything blocks.
//!
//! Locks taken inside host functions are observed through lockgraph's own
//! lock-order graph: while a host function runs, its thread holds a
//! pseudo-lock for its stream and one for the site that enqueued it on
//! that stream, so every lock it takes records "stream -> lock" and
//! "site -> lock" edges (and a shared one for its context's executor,
//! which the watchdog's view of a synchronize waits for: `wait_lock`). The site's edges are the locks later host functions
//! enqueued there (on a stream of that name) are taken to need; a thread that
//! holds a lock and synchronizes a stream records "lock -> stream", and a
//! cycle through it is a lock-order cycle.
//!
//! Which host functions set a signal is declared (`HostFn::feeds`) or
//! learned: a `Signal::set` inside a host function records that host
//! functions of its enqueue site and stream name set signals of that name
//! (`feeds`), and a pending one of them is then taken as a possible setter
//! of an unset signal of that name that no one declared a setter of.
//! A wait on a signal is checked before it blocks: a host function's as
//! its node's wait, a thread's as a waiter holding its locks (`wait`).
//!
//! The model is cut in layers, each importing only the ones above it in this
//! list: `state` (the table), `names` (labels), `feeds` (learned signal
//! setters), `graph` (edges, cycles, reports), `host` (thread keys,
//! pseudo-locks, the running host function), `wait` (waits on signals, the
//! guard of a registered wait, delivery), and this module (the entry points
//! the API calls).

mod feeds;
mod graph;
mod host;
mod names;
mod state;
mod wait;

use std::any::TypeId;
use std::collections::BTreeMap;
use std::panic::Location;

use lockgraph_core::{Class, CycleReport, EdgeInfo, Level, LockKind, LockMeta, ReportKind};

use crate::Error;

pub(crate) use host::{thread_key, Running};
pub(crate) use state::{ItemId, ModelLock, Needs, Target};
pub(crate) use wait::{signal_waits, WaitGuard};

use host::{current_host_fn, held_now, holds_now, pseudo_lock, site_lock, thread_name};
use state::{with, ItemKind, Node, Seen, SignalRec, StreamRec, Waiter};
use wait::{add_waiter, deliver, order_edges};

/// The model's context for the back end `backend`'s context `key` (see
/// `Backend::key`): one per key, made at its first use.
pub(crate) fn new_context(backend: TypeId, key: u64) -> usize {
    with(|m| {
        if let Some(c) = m.contexts.iter().position(|&c| c == (backend, key)) {
            return c;
        }
        m.contexts.push((backend, key));
        m.contexts.len() - 1
    })
}

/// A new stream of the model's context `ctx`.
pub(crate) fn new_stream(name: &'static str, ctx: usize) -> usize {
    // Suffixed: a lock named like the stream must not share its class.
    // One instance per stream, of its name's class: two streams of one
    // name are two locks (a synchronize of one waited for the other's
    // host functions; found by an outside test), one class, as named
    // locks are. The model keeps every stream (`streams`), so one lock
    // each is the same bound.
    let lock: &'static LockMeta = Box::leak(Box::new(LockMeta::new(
        LockKind::Stream,
        Class::Named(names::intern(format!("{name} (CUDA stream)"))),
    )));
    let executor = executor_lock(ctx);
    with(|m| {
        m.streams.push(StreamRec {
            name,
            ctx,
            lock,
            executor,
            next_pos: 0,
            pending: BTreeMap::new(),
            first_host_fn: None,
        });
        m.streams.len() - 1
    })
}

/// The model's streams of context `ctx`.
pub(crate) fn context_streams(ctx: usize) -> Vec<usize> {
    with(|m| {
        (0..m.streams.len())
            .filter(|&s| m.streams[s].ctx == ctx)
            .collect()
    })
}

pub(crate) fn new_signal(name: &'static str) -> usize {
    with(|m| {
        m.signals.push(SignalRec { name, set: false });
        m.signals.len() - 1
    })
}

/// Work without a host participant (a kernel, a copy, a record) takes a
/// position on the stream.
pub(crate) fn enqueue_work(stream: usize) -> u64 {
    with(|m| {
        let s = &mut m.streams[stream];
        s.next_pos += 1;
        s.next_pos
    })
}

/// The position up to which an event recorded now on `stream` covers.
pub(crate) fn position(stream: usize) -> u64 {
    with(|m| m.streams[stream].next_pos)
}

/// A report to deliver once the caller has queued the work: under the
/// `panic` policy delivering unwinds, and the queue must match the model.
#[must_use]
pub(crate) struct Deferred(Option<CycleReport>, &'static Location<'static>);

impl Deferred {
    pub(crate) fn deliver(self) {
        deliver(self.0, Some(self.1));
    }
}

/// An item (host function, event wait) pending on its stream: done, and out
/// of the model, when dropped (when it ran, or when it never will).
pub(crate) struct Pending(ItemId);

impl Pending {
    pub(crate) fn id(&self) -> ItemId {
        self.0
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let id = self.0;
        with(|m| {
            if let Some(it) = m.items.remove(&id) {
                m.streams[it.stream].pending.remove(&it.pos);
            }
        });
    }
}

/// A host function enqueued at `site` on `stream`, needing `needs`: checked
/// for a cycle through it (or a signal it feeds).
pub(crate) fn enqueue_host_fn(
    stream: usize,
    mut needs: Needs,
    site: &'static Location<'static>,
) -> (Pending, Deferred) {
    let enqueuer = thread_key();
    let enqueuer_held = holds_now();
    if lockgraph::TRACKING {
        // What host functions enqueued here before were seen to lock.
        let (name, ctx) = with(|m| (m.streams[stream].name, m.streams[stream].ctx));
        needs.learned = lockgraph_core::taken_while_holding(site_lock(site, name, ctx));
    }
    let (id, report) = with(|m| {
        for l in &needs.locks {
            m.locks.insert(l.id, *l);
        }
        let id = m.add_item(
            stream,
            site,
            ItemKind::HostFn {
                needs: needs.clone(),
                enqueuer,
                enqueuer_held,
            },
        );
        // A signal the new host function may set as its site was seen to
        // (learned by name) has an edge into it: a cycle through that edge
        // passes through its node.
        let mut starts = vec![Node::Item(id)];
        starts.extend(needs.feeds.iter().map(|&c| Node::Signal(c)));
        (id, m.check(&starts))
    });
    (Pending(id), Deferred(report, site))
}

/// `stream` waits (from `site`) for event `event`, recorded on stream
/// `recorded.0` at position `recorded.1`: checked for a cycle through it.
pub(crate) fn enqueue_wait(
    stream: usize,
    event: &'static str,
    recorded: (usize, u64),
    site: &'static Location<'static>,
) -> (Pending, Deferred) {
    let (id, report) = with(|m| {
        let (s2, pos) = recorded;
        let dep = m.last_pending(s2, pos + 1);
        let id = m.add_item(stream, site, ItemKind::Wait { event, dep });
        (id, m.check(&[Node::Item(id)]))
    });
    (Pending(id), Deferred(report, site))
}

/// Registers this thread as waiting for `target` and checks for a cycle
/// before the caller really waits. Returns the label of the wait for the
/// watchdog ("synchronize stream `s` (host fn enqueued at ...)").
pub(crate) fn begin_wait(
    target: Target,
    site: &'static Location<'static>,
) -> (WaitGuard, &'static str) {
    let key = thread_key();
    let held = held_now();
    let holds = holds_now();
    let (what, (found, report), streams) = with(|m| {
        let targets: Vec<ItemId> = match target {
            Target::Stream(s) => m.last_pending(s, u64::MAX).into_iter().collect(),
            Target::Upto(s, k, _) => m.last_pending(s, k + 1).into_iter().collect(),
            Target::Context(c) => (0..m.streams.len())
                .filter(|&s| m.streams[s].ctx == c)
                .filter_map(|s| m.last_pending(s, u64::MAX))
                .collect(),
        };
        let what = m.wait_label(target, &targets);
        let found = add_waiter(
            m,
            key,
            Waiter {
                thread: thread_name(),
                held: held.clone(),
                holds,
                targets,
                signals: Vec::new(),
                site,
                what,
            },
        );
        // No cycle in the model: the wait is still an order edge for every
        // lock held (`order_edges`).
        let streams: Vec<&'static LockMeta> = if found.0 || !lockgraph::TRACKING {
            Vec::new()
        } else {
            m.target_streams(target)
                .into_iter()
                .map(|s| m.streams[s].lock)
                .collect()
        };
        (what, found, streams)
    });
    // Made before delivering: under the `panic` policy the report unwinds,
    // and the guard then unregisters the wait.
    let guard = WaitGuard(key);
    deliver(report, Some(site));
    if !found && !held.is_empty() {
        order_edges(streams, site);
    }
    (guard, what)
}

/// The pseudo-lock of context `ctx`'s host-function executor, which the
/// executor holds (shared: no gate, host functions of different streams
/// may run at once) while it runs any host function of the context.
fn executor_lock(ctx: usize) -> &'static LockMeta {
    pseudo_lock(
        LockKind::Stream,
        "host-function executor (CUDA context)".into(),
        ctx,
    )
}

/// What a wait for `target` waits for, for the watchdog
/// (`lockgraph_core::primitive::wait_for_holders`): while it ends with a
/// pending host function ([`Model::ends_with_pending_host_fn`]), the
/// context's executor, which runs host functions one at a time, so that a
/// host function (the awaited one, or another stream's that it is queued
/// behind) waiting for a lock the waiting thread holds is one DEADLOCK,
/// not two long waits; else the stream's pseudo-lock, which the executor
/// holds while it runs one of the stream's host functions (and no one
/// otherwise: the device's wait); `None` for a context's (a blocking
/// call).
pub(crate) fn wait_lock(target: Target) -> Option<&'static LockMeta> {
    with(|m| match target {
        Target::Stream(s) | Target::Upto(s, ..) if m.ends_with_pending_host_fn(target) => {
            Some(m.streams[s].executor)
        }
        Target::Stream(s) | Target::Upto(s, ..) => Some(m.streams[s].lock),
        Target::Context(_) => None,
    })
}

/// `signal` is being set (`first`: it was unset). The model keeps that it is
/// set (a wait on it no longer blocks, so a setter learned by name is no
/// setter of it); inside a host function, its site learns that it sets
/// signals of that name. Outside host functions only the first set reaches
/// the model's table.
pub(crate) fn signal_set(signal: usize, first: bool) {
    if !lockgraph::TRACKING {
        return;
    }
    let item = current_host_fn();
    if !first && item.is_none() {
        return;
    }
    with(|m| {
        if first {
            m.signals[signal].set = true;
        }
        if let Some(item) = item {
            m.learn_set(item, signal);
        }
    });
}

/// This thread says it will set `signal` (until the guard drops).
pub(crate) fn will_produce(signal: usize) -> u64 {
    let key = thread_key();
    with(|m| m.producers.entry(signal).or_default().push(key));
    key
}

pub(crate) fn produced(signal: usize, key: u64) {
    with(|m| {
        if let Some(v) = m.producers.get_mut(&signal) {
            v.retain(|&k| k != key);
        }
    });
}

/// Refuses a CUDA API call (`call`, made at `site`) inside a host function:
/// reported at once, as a certain one-node cycle on its stream, and
/// returned as [`Error::CudaCallInHostFn`]. Outside host functions: `Ok`.
pub(crate) fn refuse_in_host_fn(
    call: &'static str,
    site: &'static Location<'static>,
) -> Result<(), Error> {
    let Some(item) = current_host_fn() else {
        return Ok(());
    };
    let report = with(|m| {
        let node = Node::Item(item);
        // Each illegal call's site once, for each place host functions are
        // enqueued: a host function making several is told of each.
        if !m
            .reported
            .insert((true, vec![m.seen(node), Seen::Call(site)]))
        {
            return None;
        }
        let stream = m.items.get(&item).map_or("?", |i| m.streams[i.stream].name);
        let actor = format!(
            "{} calls CUDA ({call}) inside the host function: it waits for its own stream `{stream}` or the driver, which waits for it",
            m.describe(node)
        );
        Some(CycleReport::new(
            ReportKind::DeviceCycle { certain: true },
            Level::Instance,
            vec![m.info(node)],
            vec![EdgeInfo::new(
                0,
                0,
                actor.into(),
                None,
                Some(site.into()),
                true,
            )],
        ))
    });
    deliver(report, Some(site));
    Err(Error::CudaCallInHostFn(call))
}
