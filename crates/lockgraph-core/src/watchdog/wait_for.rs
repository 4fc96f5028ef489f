//! Snapshots of every slot, and the wait-for graph built from them: who
//! keeps each waiter out.

use super::*;

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

#[derive(Clone, Copy)]
pub(super) struct WaitView {
    pub(super) serial: u64,
    pub(super) target: Target,
    pub(super) site: Option<&'static Location<'static>>,
    pub(super) since: u64,
    /// A timed wait's limit.
    pub(super) limit: Option<Duration>,
}

pub(super) struct Snap {
    pub(super) slot: Arc<Slot>,
    pub(super) held: Vec<HeldView>,
    pub(super) wait: Option<WaitView>,
}

/// A published hold mode: the hold, and whether it is an upgradable read.
pub(super) fn decode_hold(m: u8) -> (Hold, bool) {
    if m == HOLD_UPGRADABLE {
        (Hold::Shared, true)
    } else if m == Hold::Shared as u8 {
        (Hold::Shared, false)
    } else {
        (Hold::Exclusive, false)
    }
}

/// Every live thread's published state.
pub(super) fn snapshot() -> Vec<Snap> {
    let slots: Vec<Arc<Slot>> = {
        let mut all = SLOTS.lock();
        all.retain(|s| s.alive.load(Ordering::Relaxed));
        all.clone()
    };
    slots
        .into_iter()
        .map(|slot| {
            let (held, ws, serial, w, limit) = slot.read();
            let held = held
                .iter()
                .map(|e| {
                    // SAFETY: read under a validated sequence count.
                    let (class, site) = unsafe { decode(e) };
                    let (hold, upgradable) = decode_hold(e.mode);
                    HeldView {
                        id: e.id,
                        class,
                        kind: decode_kind(e.kind),
                        hold,
                        upgradable,
                        site,
                        since: e.since,
                    }
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
            });
            Snap { slot, held, wait }
        })
        .collect()
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
    snaps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let Some(WaitView {
                target: Target::Lock { id, mode, .. },
                ..
            }) = s.wait
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
                    let keeps_out = match mode {
                        // Every other holder, and the waiter's own plain
                        // reads (it waits for itself then).
                        WaitMode::Upgrade => j != i || !h.upgradable,
                        WaitMode::UpgradableRead => exclusive || h.upgradable,
                        WaitMode::Read | WaitMode::RecursiveRead => exclusive,
                        _ => true,
                    };
                    if keeps_out {
                        out.push(j);
                    }
                    exclusive_holder |= exclusive;
                    upgradable_holder |= h.upgradable;
                }
            }
            if matches!(mode, WaitMode::Read | WaitMode::UpgradableRead) && !exclusive_holder {
                // A waiting upgrade, or a write that waits for readers only,
                // lets no new reader or upgradable reader in.
                for (j, o) in snaps.iter().enumerate() {
                    if let Some(WaitView {
                        target:
                            Target::Lock {
                                id: oid,
                                mode: omode,
                                ..
                            },
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
        })
        .collect()
}

/// Elementary cycles found by a depth-first search over `edges` (at least one
/// per strongly connected component that has a cycle), each rotated so that
/// its smallest node comes first.
pub(crate) fn find_cycles(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    // 0 unvisited, 1 on the stack, 2 done.
    let mut color = vec![0u8; n];
    let mut out: Vec<Vec<usize>> = Vec::new();
    for root in 0..n {
        if color[root] != 0 {
            continue;
        }
        let mut path: Vec<usize> = vec![root];
        let mut next: Vec<usize> = vec![0];
        color[root] = 1;
        while let Some(&v) = path.last() {
            let k = next.last_mut().expect("one cursor per path node");
            if let Some(&w) = edges[v].get(*k) {
                *k += 1;
                match color.get(w) {
                    Some(0) => {
                        color[w] = 1;
                        path.push(w);
                        next.push(0);
                    }
                    Some(1) => {
                        let at = path.iter().position(|&p| p == w).expect("on the path");
                        let mut c = path[at..].to_vec();
                        let min = c.iter().enumerate().min_by_key(|(_, &x)| x).map(|(i, _)| i);
                        c.rotate_left(min.unwrap_or(0));
                        if !out.contains(&c) {
                            out.push(c);
                        }
                    }
                    _ => {}
                }
            } else {
                color[v] = 2;
                path.pop();
                next.pop();
            }
        }
    }
    out
}
