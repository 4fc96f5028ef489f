//! Waits on signals, by host functions and by threads, checked against the
//! model before they block; the guard of a registered wait; the delivery
//! of a report. The layer below the entry points (`super`): it imports the
//! ones above it (`state`, `names`, `graph`, `feeds`, `host`) and none of
//! the entry points.

use std::panic::Location;

use lockgraph_core::{CycleReport, LockMeta, Request};

use super::host::{current_host_fn, held_now, holds_now, thread_key, thread_name};
use super::names::intern;
use super::state::{with, Item, ItemId, ItemKind, Model, Node, Waiter};

/// A registered wait; unregistered when dropped.
pub(crate) struct WaitGuard(pub(super) u64);

impl Drop for WaitGuard {
    fn drop(&mut self) {
        let k = self.0;
        with(|m| {
            m.waiters.remove(&k);
        });
    }
}

/// Registers `w` as the wait of the thread `key` (its held locks known to
/// the model) and checks the model through its holds and the signals the
/// thread promised to set: whether a cycle was found, and its report (the
/// first time). For a synchronize (`super::begin_wait`) and a signal wait.
pub(super) fn add_waiter(m: &mut Model, key: u64, w: Waiter) -> (bool, Option<CycleReport>) {
    for l in &w.held {
        m.locks.insert(l.id, *l);
    }
    let mut starts: Vec<Node> = w.held.iter().map(|l| Node::Lock(l.id)).collect();
    starts.extend(m.promised_by(key).map(Node::Signal));
    m.waiters.insert(key, w);
    m.check_found(&starts)
}

/// A wait holding locks that found no cycle in the model: "holding L,
/// waits for stream S" is L -> S in lockgraph's graph for each of
/// `streams`, where a host function on S that took L recorded S -> L: a
/// lock-order cycle (potential) even when the two never coincide. A
/// cycle found says more than these edges would (and they would report
/// it again when the host function takes the lock).
pub(super) fn order_edges(streams: Vec<&'static LockMeta>, site: &'static Location<'static>) {
    for s in streams {
        s.before_wait(Request::Exclusive, Some(site));
        s.abandoned();
    }
}

/// Emits `report`, raised by the call at `site` when it is known (a panic
/// by policy names it first).
pub(super) fn deliver(report: Option<CycleReport>, site: Option<&'static Location<'static>>) {
    if let Some(r) = report {
        lockgraph_core::emit_at(r, site);
    }
}

/// This thread is about to wait on `signal`, at `site`, checked before it
/// blocks: inside a host function the wait is the host function's (its
/// node waits on the signal); on a thread, the thread is registered as
/// waiting on it, holding what it holds, until the guard drops (none when
/// the signal is already set: the wait does not block). Returns the label
/// of the wait for the watchdog, naming the setter the model knows, and
/// what the watchdog takes it to wait for.
pub(crate) fn signal_waits(signal: usize, site: &'static Location<'static>) -> SignalWait {
    match current_host_fn() {
        Some(item) => SignalWait {
            guard: None,
            what: host_fn_waits(item, signal, site),
            executor: None,
        },
        None => thread_waits(signal, site),
    }
}

/// A wait on a signal, as the model registered it ([`signal_waits`]).
pub(crate) struct SignalWait {
    /// The thread's registration (none in a host function, or when the
    /// signal is set).
    pub(crate) guard: Option<WaitGuard>,
    /// The label of the wait for the watchdog.
    pub(crate) what: &'static str,
    /// For a thread's wait on a signal that a pending host function
    /// declares it sets (`feeds`): the executor of that host function's
    /// context, which the wait waits for (it ends once the executor has
    /// run the setter), so that the watchdog sees a wait for the
    /// executor's thread (as a synchronize's, `super::wait_lock`) and a
    /// setter blocked on a lock the waiting thread holds is one DEADLOCK.
    pub(crate) executor: Option<&'static LockMeta>,
}

/// The running host function `item` waits on `signal`.
fn host_fn_waits(item: ItemId, signal: usize, site: &'static Location<'static>) -> &'static str {
    let (what, report) = with(|m| {
        if let Some(Item {
            kind: ItemKind::HostFn { needs, .. },
            ..
        }) = m.items.get_mut(&item)
        {
            if !needs.waits.contains(&signal) {
                needs.waits.push(signal);
            }
        }
        // Through the signal too: a setter queued behind this host function
        // on the shared executor closes a cycle through the executor and
        // the signal that does not pass through this host function's node.
        let mut starts = vec![Node::Item(item)];
        if !m.signals[signal].set {
            starts.push(Node::Signal(signal));
        }
        let report = m.check(&starts);
        // The setter the model knows to wait for this host function, for
        // the watchdog's reports (found by an outside test: they never
        // named it, though the model had reported the cycle).
        let setter = (!m.signals[signal].set)
            .then(|| m.cycle_from(Node::Signal(signal), 2))
            .flatten()
            .and_then(|c| c.first().map(|(_, e)| (e.to, e.forced)))
            .map(|(to, forced)| {
                format!(
                    " ({} by {}, which cannot run before this wait ends)",
                    set_word(forced),
                    m.describe(to)
                )
            })
            .unwrap_or_default();
        let what = intern(format!(
            "{} waits on {}{setter}",
            m.describe(Node::Item(item)),
            m.describe(Node::Signal(signal))
        ));
        (what, report)
    });
    deliver(report, Some(site));
    what
}

/// A thread waits on `signal`: registered as a waiter holding its locks,
/// whose wait is the signal, and checked through its holds (a pending host
/// function that sets the signal and needs a lock it holds: a cycle) and
/// the signals it promised to set. No cycle: each lock held gets an order
/// edge to the streams of the signal's pending setters, as a synchronize
/// gets to its stream.
fn thread_waits(signal: usize, site: &'static Location<'static>) -> SignalWait {
    let key = thread_key();
    let (held, holds) = if lockgraph::TRACKING {
        (held_now(), holds_now())
    } else {
        Default::default()
    };
    let (what, executor, registered, (found, report), streams) = with(|m| {
        let setters = m.setters(signal);
        let setter = setters
            .first()
            .map(|&(item, forced)| {
                format!(
                    " ({} by {})",
                    set_word(forced),
                    m.describe(Node::Item(item))
                )
            })
            .unwrap_or_default();
        let what = intern(format!(
            "wait on {}{setter}",
            m.describe(Node::Signal(signal))
        ));
        let executor = setters
            .iter()
            .find(|&&(_, declared)| declared)
            .and_then(|(i, _)| m.items.get(i))
            .map(|it| m.streams[it.stream].executor);
        if m.signals[signal].set || !lockgraph::TRACKING {
            return (what, executor, false, (false, None), Vec::new());
        }
        let found = add_waiter(
            m,
            key,
            Waiter {
                thread: thread_name(),
                held: held.clone(),
                holds,
                targets: Vec::new(),
                signals: vec![signal],
                site,
                what,
            },
        );
        let streams = if found.0 {
            Vec::new()
        } else {
            m.setter_streams(signal)
        };
        (what, executor, true, found, streams)
    });
    // Made before delivering: under the `panic` policy the report unwinds,
    // and the guard then unregisters the wait.
    let guard = registered.then_some(WaitGuard(key));
    deliver(report, Some(site));
    if !found && !held.is_empty() {
        // The setters' streams: a host function there sets the signal.
        order_edges(streams, site);
    }
    SignalWait {
        guard,
        what,
        executor,
    }
}

/// "set" for a declared setter (a forced edge), "maybe set" for one
/// learned by name.
fn set_word(forced: bool) -> &'static str {
    if forced {
        "set"
    } else {
        "maybe set"
    }
}

impl Model {
    /// The signals the thread `key` promised to set (`Signal::will_set`).
    pub(super) fn promised_by(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
        self.producers
            .iter()
            .filter(move |(_, ts)| ts.contains(&key))
            .map(|(&c, _)| c)
    }

    /// The pending host functions that set `signal`: those that declare it
    /// (`HostFn::feeds`: `true`), then those learned to by name, each by
    /// id in enqueue order. None once it is set.
    fn setters(&self, signal: usize) -> Vec<(ItemId, bool)> {
        if self.signals[signal].set {
            return Vec::new();
        }
        let mut out: Vec<(ItemId, bool)> = self
            .items
            .iter()
            .filter(|(_, it)| {
                matches!(&it.kind, ItemKind::HostFn { needs, .. } if needs.feeds.contains(&signal))
            })
            .map(|(&id, _)| (id, true))
            .collect();
        out.sort_unstable();
        out.extend(
            self.learned_feeders(signal)
                .into_iter()
                .map(|id| (id, false)),
        );
        out
    }

    /// The pseudo-locks of the streams of `signal`'s pending setters (host
    /// functions; a thread's promise is no stream), each once.
    fn setter_streams(&self, signal: usize) -> Vec<&'static LockMeta> {
        let mut out: Vec<usize> = Vec::new();
        for (i, _) in self.setters(signal) {
            if let Some(it) = self.items.get(&i) {
                if !out.contains(&it.stream) {
                    out.push(it.stream);
                }
            }
        }
        out.into_iter().map(|s| self.streams[s].lock).collect()
    }
}
