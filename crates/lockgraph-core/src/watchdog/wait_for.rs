//! Snapshots of every slot, and the wait-for graph built from them: who
//! keeps each waiter out.

use super::*;
use lockgraph_graph::waitfor::{self, Need};

#[derive(Clone, Copy)]
pub(super) struct HeldView {
    pub(super) id: u64,
    pub(super) class: Class,
    pub(super) kind: LockKind,
    pub(super) hold: Hold,
    /// An upgradable read (`hold` is then shared).
    pub(super) upgradable: bool,
    pub(super) site: Option<&'static Location<'static>>,
    pub(super) since: u64,
}

#[derive(Clone, Copy)]
pub(super) enum Target {
    Lock {
        id: u64,
        class: Class,
        kind: LockKind,
        mode: WaitMode,
    },
    Resource(&'static str),
}

impl Target {
    /// Whether no one known ends a wait for this: a condvar's notification,
    /// a receive's item, a blocking call's return.
    pub(super) fn unknown_waker(self) -> bool {
        matches!(
            self,
            Target::Lock {
                mode: WaitMode::Condvar | WaitMode::Recv,
                ..
            } | Target::Resource(_)
        )
    }
}

#[derive(Clone, Copy)]
pub(super) struct WaitView {
    pub(super) serial: u64,
    pub(super) target: Target,
    pub(super) site: Option<&'static Location<'static>>,
    pub(super) since: u64,
    /// A timed wait's limit.
    pub(super) limit: Option<Duration>,
    /// A retry loop's thread found between two tries (it waits for
    /// nothing now; the wait is its last try, `retry.rs`): when that try
    /// gave up. `None` for a wait the thread is in.
    pub(super) gave_up_at: Option<u64>,
}

pub(super) struct Snap {
    pub(super) slot: Arc<Slot>,
    pub(super) held: Vec<HeldView>,
    pub(super) wait: Option<WaitView>,
}

/// Every live thread's published state: its held-lock stack, copied
/// under the [`SLOTS`] lock (see `slot.rs`), and its wait.
pub(super) fn snapshot() -> Vec<Snap> {
    let now = now_ns();
    /// A slot, and its held locks with when each was first seen.
    type Copied = (Arc<Slot>, Vec<(HeldCopy, u64)>);
    let slots: Vec<Copied> = {
        let mut all = SLOTS.lock();
        all.retain(|s| s.alive.load(Ordering::Relaxed));
        let held: Vec<_> = all.iter().map(|s| s.read_held(&all, now)).collect();
        all.iter().cloned().zip(held).collect()
    };
    slots
        .into_iter()
        .map(|(slot, held)| {
            let (ws, serial, w, limit) = slot.read_wait();
            let held = held
                .into_iter()
                .map(|(h, since)| HeldView {
                    id: h.id,
                    class: h.class,
                    kind: h.kind,
                    hold: h.hold,
                    upgradable: h.upgradable,
                    site: h.site,
                    since,
                })
                .collect();
            // SAFETY: read under a validated sequence count.
            let (class, site) = unsafe { decode(&w) };
            let target = match (ws, class) {
                (WAIT_LOCK, _) => Some(Target::Lock {
                    id: w.id,
                    class,
                    kind: decode_kind(w.kind),
                    mode: WaitMode::decode(w.mode),
                }),
                (WAIT_RESOURCE, Class::Named(what)) => Some(Target::Resource(what)),
                _ => None,
            };
            let wait = target.map(|target| WaitView {
                serial,
                target,
                site,
                since: w.since,
                limit: (limit != NO_LIMIT).then(|| Duration::from_nanos(limit)),
                gave_up_at: None,
            });
            Snap { slot, held, wait }
        })
        .collect()
}

impl WaitMode {
    /// Whether a wait in this mode waits for a hold `hold` (`upgradable`:
    /// an upgradable read) of the same resource, held by the waiting
    /// thread itself (`own`) or another. The rule of each mode, in one
    /// place: a new kind of wait says here whom it waits for.
    /// Whether a wait in this mode is served by threads (a queue's
    /// consumers, permit holders, the joined thread, the parties not yet
    /// arrived), any one of which may end it, rather than kept out by a
    /// lock's holders.
    pub(super) fn served_by_threads(self) -> bool {
        matches!(
            self,
            WaitMode::Send | WaitMode::Permit | WaitMode::Join | WaitMode::Barrier
        )
    }

    /// Whether one of the threads a wait in this mode waits for may end it
    /// ([`Need::Any`]: a permit any holder can give back, a full queue
    /// any consumer can drain), or every one must go on first (a lock's
    /// holders, a barrier's parties, the joined thread).
    pub(crate) fn need(self) -> Need {
        match self {
            WaitMode::Send | WaitMode::Permit => Need::Any,
            _ => Need::All,
        }
    }

    pub(super) fn kept_out_by(self, hold: Hold, upgradable: bool, own: bool) -> bool {
        let exclusive = hold == Hold::Exclusive;
        match self {
            // Every other holder, and the waiter's own plain reads (it
            // waits for itself then).
            WaitMode::Upgrade => !own || !upgradable,
            WaitMode::UpgradableRead => exclusive || upgradable,
            WaitMode::Read | WaitMode::RecursiveRead => exclusive,
            // A notification: who will send it is unknown.
            WaitMode::Condvar | WaitMode::Recv => false,
            // The threads serving the resource (consumers, permit holders,
            // the joined thread, the parties not yet arrived): every one,
            // the waiter itself included (a consumer sending into its own
            // full queue waits for itself).
            WaitMode::Send | WaitMode::Permit | WaitMode::Join | WaitMode::Barrier => true,
            WaitMode::Lock | WaitMode::Write => true,
        }
    }
}

/// Wait-for edges: thread `i` waits for the threads in `edges[i]`.
///
/// Who keeps a waiter out follows parking_lot's `RwLock`: a `lock()`,
/// `write()` waits for every holder (itself included: a write after a read on
/// one thread never ends); an `upgrade()` for every *other* holder and for
/// the waiter's own plain reads of the lock (a self-deadlock too); an
/// `upgradable_read()` for the exclusive and upgradable holders (readers do
/// not keep it out); a `read()` or `read_recursive()` for the exclusive
/// holders. A writer that waits for readers only, and an upgrade, keep new
/// readers and upgradable readers out meanwhile: a `read()` or
/// `upgradable_read()` of a lock no one holds exclusively also waits for the
/// threads waiting to `upgrade()` it, and for those waiting to `write()` it
/// when no one holds it upgradable either (a writer kept out by an
/// upgradable holder does not stop readers). A `read_recursive()` passes a
/// waiting writer while readers hold the lock.
pub(super) fn wait_for_edges(snaps: &[Snap]) -> Vec<Vec<usize>> {
    (0..snaps.len()).map(|i| edges_of(snaps, i)).collect()
}

/// The threads `snaps[i]`'s wait waits for ([`wait_for_edges`]' row `i`).
pub(super) fn edges_of(snaps: &[Snap], i: usize) -> Vec<usize> {
    let Some(WaitView {
        target: Target::Lock { id, mode, .. },
        ..
    }) = snaps[i].wait
    else {
        return Vec::new();
    };
    if mode == WaitMode::Condvar {
        // A condvar has no holder: who will notify it is unknown.
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut exclusive_holder = false;
    let mut upgradable_holder = false;
    for (j, o) in snaps.iter().enumerate() {
        for h in o.held.iter().filter(|h| h.id == id) {
            let exclusive = h.hold == Hold::Exclusive;
            if mode.kept_out_by(h.hold, h.upgradable, j == i) {
                out.push(j);
            }
            exclusive_holder |= exclusive;
            upgradable_holder |= h.upgradable;
        }
    }
    if matches!(mode, WaitMode::Read | WaitMode::UpgradableRead) && !exclusive_holder {
        // A waiting upgrade, or a write that waits for readers only,
        // lets no new reader or upgradable reader in (a retry loop's
        // thread between two tries queues no writer: not counted).
        for (j, o) in snaps.iter().enumerate() {
            if let Some(WaitView {
                target:
                    Target::Lock {
                        id: oid,
                        mode: omode,
                        ..
                    },
                gave_up_at: None,
                ..
            }) = o.wait
            {
                let queued = match omode {
                    WaitMode::Upgrade => true,
                    WaitMode::Write => !upgradable_holder,
                    _ => false,
                };
                if queued && oid == id && j != i {
                    out.push(j);
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The cycles of the wait-for graph `edges` (thread `i` waits for the
/// threads in `edges[i]`, in the way `needs[i]` says) that are deadlocks:
/// the shortest one through each thread on a cycle of threads that can
/// never go on (`lockgraph_graph::waitfor::stuck`: a cycle through a
/// permit's holder, or a queue's consumer, is none while another holder
/// or consumer runs), each rotated so that its smallest node comes first.
pub(super) fn find_cycles(edges: &[Vec<usize>], needs: &[Need]) -> Vec<Vec<usize>> {
    let stuck = waitfor::stuck(0..edges.len(), |n| {
        Some((needs[n], edges[n].iter().copied()))
    });
    let stuck = &stuck;
    waitfor::cycles(0..edges.len(), |n| {
        let on = stuck.contains(&n);
        (edges[n].iter())
            .filter(move |m| on && stuck.contains(m))
            .map(|&m| (m, ()))
    })
}

/// How each thread of `snaps` waits for the threads its wait-for edges
/// name ([`WaitMode::need`]). A wait whose waker is not known (a condvar,
/// a receive, a blocking call) is [`Need::Any`] of nobody: its thread does
/// not count as one that can go on, so it frees no permit's or queue's
/// waiter (it did, and a deadlock through a permit holder parked on a
/// condvar went unreported; found by a review). A thread that does not
/// wait is [`Need::All`] of nobody: it goes on.
pub(super) fn wait_needs(snaps: &[Snap]) -> Vec<Need> {
    (snaps.iter())
        .map(|s| match s.wait.map(|w| w.target) {
            None => Need::All,
            Some(t) if t.unknown_waker() => Need::Any,
            Some(Target::Lock { mode, .. }) => mode.need(),
            Some(Target::Resource(_)) => Need::Any,
        })
        .collect()
}
