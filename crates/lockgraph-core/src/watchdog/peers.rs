//! What a report says of a wait's peers: a queue's fill level and its live
//! ends (from the queue itself, through a [`QueueProbe`] it registers on its
//! first watched wait), and, for a wait that waits for other threads (a
//! send into a full queue, a join, an acquire, a barrier wait), which of
//! those threads are themselves blocked, or deadlocked, and on what.

use std::sync::Weak;

use super::*;

/// A queue's state as the watchdog reports it (`docs/pipelines.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueState {
    /// Its bound (`None`: unbounded; `Some(0)`: a rendezvous).
    pub bound: Option<usize>,
    /// Sending ends alive (clones included).
    pub senders: usize,
    /// Whether its receiving end is alive.
    pub receiver_alive: bool,
}

impl QueueState {
    /// A queue's state.
    pub fn new(bound: Option<usize>, senders: usize, receiver_alive: bool) -> QueueState {
        QueueState {
            bound,
            senders,
            receiver_alive,
        }
    }
}

/// A queue that can say its state (implemented by the queues of the
/// facade, `lockgraph::mpsc`).
pub trait QueueProbe: Send + Sync {
    /// Its state now.
    fn state(&self) -> QueueState;
}

/// The probes of the queues that have had a watched wait, by resource id.
static PROBES: Mutex<Vec<(u64, Weak<dyn QueueProbe>)>> = Mutex::new(Vec::new());

/// Registers `probe` as the state of the queue `meta` (once per queue, on
/// its first wait registered with the watchdog: not on any fast path).
/// Dead probes are dropped here.
pub fn watch_queue(meta: &LockMeta, probe: Weak<dyn QueueProbe>) {
    let id = meta.id();
    let mut all = PROBES.lock();
    all.retain(|(i, p)| *i != id && p.strong_count() > 0);
    all.push((id, probe));
}

/// The state of the queue with resource id `id`, if it registered a probe
/// and is alive.
pub(crate) fn queue_state(id: u64) -> Option<QueueState> {
    let probe = PROBES
        .lock()
        .iter()
        .find(|(i, _)| *i == id)
        .and_then(|(_, p)| p.upgrade())?;
    Some(probe.state())
}

/// A thread that a waiter waits for, itself blocked.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BlockedPeer {
    /// Its name.
    pub thread: String,
    /// What it waits for ([`WaitInfo::what`]).
    pub waits_for: String,
    /// Whether it is on a wait-for cycle (deadlocked), not only blocked.
    pub deadlocked: bool,
}

/// Fills in, for each thread of a report built from `snaps[idx[k]]`, the
/// threads it waits for that are themselves blocked (`edges`: the
/// wait-for graph; `on_cycle`: the threads on a wait-for cycle). A long
/// wait (its waiter, `idx[0]`, on no cycle) behind a queued writer also
/// gets the holders that writer waits for ([`add_queue_holders`]).
pub(super) fn add_blocked_peers(
    threads: &mut Vec<ThreadInfo>,
    idx: &[usize],
    snaps: &[Snap],
    edges: &[Vec<usize>],
    on_cycle: &HashSet<usize>,
    now: u64,
) {
    add_peers(threads, idx, snaps, edges, on_cycle, now);
    if let Some(&i) = idx.first() {
        if !on_cycle.contains(&i) {
            add_queue_holders(threads, idx, snaps, edges, on_cycle, now);
        }
    }
}

/// For each of `threads` (snapshot indices `idx`) waiting for a send, a
/// join, an acquire or a barrier: the threads it waits for that are
/// themselves blocked (deadlocked when on a cycle of `on_cycle`).
pub(super) fn add_peers(
    threads: &mut [ThreadInfo],
    idx: &[usize],
    snaps: &[Snap],
    edges: &[Vec<usize>],
    on_cycle: &HashSet<usize>,
    now: u64,
) {
    for (t, &i) in threads.iter_mut().zip(idx) {
        let Some(w) = t.waiting.as_mut() else {
            continue;
        };
        if !w.mode.is_some_and(WaitMode::served_by_threads) {
            continue;
        }
        for &j in &edges[i] {
            if j == i || snaps[j].wait.is_none() {
                continue;
            }
            let peer = thread_info(&snaps[j], now, false, false);
            if let Some(pw) = &peer.waiting {
                w.blocked_peers.push(BlockedPeer {
                    thread: peer.name.clone(),
                    waits_for: format!("{}{}", pw.what(), pw.notes()),
                    deadlocked: on_cycle.contains(&j),
                });
            }
        }
        // Who it waits for: a send with no consumer, said as such.
        if w.mode == Some(WaitMode::Send) {
            w.no_consumer = edges[i].is_empty();
        }
    }
}

/// For a long wait's report (waiter `idx[0]`, then the threads it waits
/// for): when the waiter is a `read()` or `upgradable_read()` kept out by a
/// queued `write()` or `upgrade()` of the lock (parking_lot lets no new
/// reader past a waiting writer), adds the threads that writer waits for
/// (the readers holding the lock), so that the report shows who keeps the
/// whole queue out and its advice can name that hold.
fn add_queue_holders(
    threads: &mut Vec<ThreadInfo>,
    idx: &[usize],
    snaps: &[Snap],
    edges: &[Vec<usize>],
    on_cycle: &HashSet<usize>,
    now: u64,
) {
    let Some(&i) = idx.first() else {
        return;
    };
    let Some(Target::Lock { id, mode, .. }) = snaps[i].wait.map(|w| w.target) else {
        return;
    };
    if !matches!(mode, WaitMode::Read | WaitMode::UpgradableRead) {
        return;
    }
    let mut shown: Vec<usize> = idx.to_vec();
    for &j in &edges[i] {
        let queued = matches!(
            snaps[j].wait.map(|w| w.target),
            Some(Target::Lock { id: qid, mode: WaitMode::Write | WaitMode::Upgrade, .. }) if qid == id
        );
        if !queued {
            continue;
        }
        for &k in &edges[j] {
            if !shown.contains(&k) {
                shown.push(k);
                let mut holder = thread_info(&snaps[k], now, true, true);
                if let Some(w) = holder.waiting.as_mut() {
                    w.deadlocked = on_cycle.contains(&k);
                }
                threads.push(holder);
            }
        }
    }
}

/// The fill level of `queue` as a wait on it in `mode` sees it, from its
/// bound (`None`: unbounded): `Queue `q` full: 8 of 8` (a send), `Queue
/// `q` empty: 0 of 8` (a receive), under the wait's line in the reports of
/// both watchdogs; `None` for a wait of another mode.
pub(crate) fn fill_line(
    queue: &LockRef,
    mode: Option<WaitMode>,
    bound: Option<usize>,
) -> Option<String> {
    Some(match (mode?, bound) {
        (WaitMode::Send, Some(0)) => {
            format!("{queue} is a rendezvous (bound 0): no receive is waiting")
        }
        (WaitMode::Send, Some(b)) => format!("{queue} full: {b} of {b}"),
        (WaitMode::Recv, Some(b)) => format!("{queue} empty: 0 of {b}"),
        (WaitMode::Recv, None) => format!("{queue} empty (unbounded)"),
        _ => return None,
    })
}

impl WaitInfo {
    /// The lines a report adds under "waits for": the queue's fill level
    /// and live ends, and the threads waited for that are blocked.
    pub(super) fn peer_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(q) = &self.queue {
            if let Some(fill) = fill_line(&self.lock, self.mode, q.bound) {
                out.push(fill);
            }
            if self.mode == Some(WaitMode::Recv) {
                out.push(format!(
                    "{} Sender{} of {} alive (a receive on the empty queue ends when one sends or all are dropped; which threads hold them is not tracked)",
                    q.senders,
                    if q.senders == 1 { "" } else { "s" },
                    self.lock
                ));
            }
            if self.mode == Some(WaitMode::Send) && self.no_consumer {
                out.push(if q.receiver_alive {
                    format!(
                        "no live consumer: the Receiver of {} is alive, but no thread is receiving from it (its consumer has not received yet, or ended or moved on without dropping the Receiver)",
                        self.lock
                    )
                } else {
                    format!(
                        "no live receiver: every Receiver of {} was dropped",
                        self.lock
                    )
                });
            }
        }
        for p in &self.blocked_peers {
            let state = if p.deadlocked {
                "deadlocked"
            } else {
                "blocked"
            };
            out.push(match self.mode {
                // A synchronize: the holder is the executor running host
                // functions, the stream's or one it is queued behind
                // (`primitive::wait_for_holders`).
                Some(WaitMode::Join) if self.lock.kind == LockKind::Stream => format!(
                    "the stream's work waits for thread `{}`, which runs the host functions and is itself {state}, waiting for {}",
                    p.thread, p.waits_for
                ),
                Some(WaitMode::Join) => format!(
                    "joins thread `{}`, which is itself {state}, waiting for {}",
                    p.thread, p.waits_for
                ),
                Some(WaitMode::Send) => format!(
                    "its consumer thread `{}` is itself {state}, waiting for {}",
                    p.thread, p.waits_for
                ),
                Some(WaitMode::Permit) => format!(
                    "the permit holder thread `{}` is itself {state}, waiting for {}",
                    p.thread, p.waits_for
                ),
                _ => format!(
                    "the party thread `{}` is itself {state}, waiting for {}",
                    p.thread, p.waits_for
                ),
            });
        }
        out
    }
}

impl WaitInfo {
    /// A long wait's advice when its peers say more than its holders: a
    /// send that nothing consumes, a receive with live senders, a wait on a
    /// thread that is itself blocked.
    pub(super) fn peer_advice(&self) -> Option<String> {
        if self.mode == Some(WaitMode::Send) && self.no_consumer {
            let q = self.queue?;
            return Some(if q.receiver_alive {
                advice::nothing_receives(&self.lock.to_string())
            } else {
                format!(
                    "what to do: every Receiver of {} was dropped: stop sending once the consumer is gone",
                    self.lock
                )
            });
        }
        if self.mode == Some(WaitMode::Recv) {
            let q = self.queue?;
            return Some(advice::nothing_sent(
                &self.lock.to_string(),
                self.waited,
                Some(q.senders),
                "thread",
            ));
        }
        let p = self.blocked_peers.first()?;
        if let Some(all) = self.several_blocked_peers() {
            return Some(all);
        }
        Some(if p.deadlocked {
            format!(
                "what to do: thread `{}`, which this wait waits for, is deadlocked (its DEADLOCK report): break that cycle, and this wait ends with it",
                p.thread
            )
        } else {
            format!(
                "what to do: thread `{}`, which this wait waits for, is itself blocked, waiting for {}: follow that wait (its own report, or `lockgraph::dump()`); this one ends when it does",
                p.thread, p.waits_for
            )
        })
    }

    /// A wait on several blocked threads (permit holders: any one's
    /// release ends it; parties: all must arrive): it names them all (it
    /// named the first, "this one ends when it does"). `None` with fewer
    /// than two, or where one is deadlocked (its own advice says so).
    fn several_blocked_peers(&self) -> Option<String> {
        let peers = &self.blocked_peers;
        if peers.len() < 2 || peers.iter().any(|p| p.deadlocked) {
            return None;
        }
        let names: Vec<String> = peers.iter().map(|p| format!("`{}`", p.thread)).collect();
        let mut waits: Vec<String> = Vec::new();
        for p in peers {
            if !waits.contains(&p.waits_for) {
                waits.push(p.waits_for.clone());
            }
        }
        let (needs, ends) = if self.mode == Some(WaitMode::Permit) {
            (
                "a release by any one of them ends it",
                "any one of them does",
            )
        } else {
            ("it needs them all", "they all do")
        };
        Some(format!(
            "what to do: threads {}, which this wait waits for ({needs}), are themselves blocked, waiting for {}: follow those waits (their own reports, or `lockgraph::dump()`); this one ends when {ends}",
            and_list(&names),
            and_list(&waits)
        ))
    }
}
