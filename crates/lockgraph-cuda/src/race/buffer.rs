//! One tracked buffer's accesses: its last write and, for the reads since,
//! the latest read of each actor (a stream or the host), plus, while host
//! functions are pending, the accesses these superseded.
//!
//! Accesses arrive in an order consistent with happens-before (stream work
//! when it is enqueued, host accesses when they are made), except a host
//! function's: they arrive when it runs, possibly after work enqueued
//! behind it was recorded. It is stamped with the place it was enqueued at,
//! and each stored access keeps its clock, so an access ordered *before* a
//! stored one is told apart from a concurrent one.
//!
//! Superseded accesses. An actor's clock only grows, so its latest read is
//! ordered after its earlier ones, and the last write after the accesses it
//! replaced (or it raced with them, and that was reported). An access that
//! arrives in happens-before order is not ordered before anything stored,
//! so it races with a superseded access only if it races with the one that
//! superseded it: the bounded form loses nothing. A pending host function's
//! access may be ordered before the superseding one and still race with the
//! superseded one; so an access superseded while host functions are
//! pending is kept (in `held`), checked like the others, until every host
//! function pending when it was superseded has run. A host function
//! enqueued after that cannot be ordered before the superseding access
//! (which was recorded before its place was taken), so it does not need it.

use std::collections::BTreeMap;

use lockgraph_graph::vclock::VectorClock;

use super::report::Access;

/// A stored access and the clock of the actor when it made it.
struct Stored {
    access: Access,
    clock: VectorClock,
}

impl Stored {
    /// Whether the access stamped `access` at clock `clock` happens before
    /// this one.
    fn after(&self, access: &Access) -> bool {
        access.epoch.happens_before(&self.clock)
    }

    /// Whether this access happens before a point with clock `clock`.
    fn before(&self, clock: &VectorClock) -> bool {
        self.access.epoch.happens_before(clock)
    }
}

/// The host functions pending (enqueued, not done running) when an access
/// is recorded, by number (given in enqueue order from 1).
#[derive(Clone, Copy, Debug)]
pub(super) struct Pending {
    /// The oldest pending one's number (none pending: `None`).
    pub(super) oldest: Option<u64>,
    /// The number of the last one enqueued.
    pub(super) last: u64,
}

impl Pending {
    /// Whether a host function numbered `until` or less is still pending.
    fn any_upto(&self, until: u64) -> bool {
        self.oldest.is_some_and(|o| o <= until)
    }
}

#[derive(Default)]
pub(super) struct BufState {
    write: Option<Stored>,
    /// Per actor, its latest read since the last write.
    reads: BTreeMap<usize, Stored>,
    /// Accesses superseded while host functions were pending, each with the
    /// number of the last host function enqueued then: kept while one
    /// numbered up to it is pending (empty when none is).
    held: Vec<(Stored, u64)>,
}

impl BufState {
    /// Records `new`, made at `clock` while `pending` host functions are,
    /// and returns the stored accesses it conflicts with and is not ordered
    /// with either way (the last write first).
    pub(super) fn access(
        &mut self,
        new: Access,
        clock: &VectorClock,
        pending: Pending,
    ) -> Vec<Access> {
        self.collapse(pending);
        let held = self.held.iter().map(|(a, _)| a);
        let races = (self.write.iter().chain(self.reads.values()).chain(held))
            .filter(|a| a.access.write || new.write)
            .filter(|a| !a.before(clock) && !a.after(&new))
            .map(|a| a.access.clone())
            .collect();
        let actor = new.epoch.actor;
        let stored = Stored {
            access: new,
            clock: clock.clone(),
        };
        // Ordered before the last write (a host function's access arriving
        // late): the write stands for it in every later check, but a
        // pending host function's.
        if self.write.as_ref().is_some_and(|w| w.after(&stored.access)) {
            self.hold(stored, pending);
            return races;
        }
        if stored.access.write {
            // Reads since the new write: those ordered after it (recorded
            // before it arrived). The others are before it or raced with it.
            let reads = std::mem::take(&mut self.reads);
            for (actor, r) in reads {
                if r.after(&stored.access) && !r.before(clock) {
                    self.reads.insert(actor, r);
                } else {
                    self.hold(r, pending);
                }
            }
            if let Some(w) = self.write.replace(stored) {
                self.hold(w, pending);
            }
        } else {
            let keep = self
                .reads
                .get(&actor)
                .is_some_and(|r| r.access.epoch.time >= stored.access.epoch.time);
            if keep {
                self.hold(stored, pending);
            } else if let Some(r) = self.reads.insert(actor, stored) {
                self.hold(r, pending);
            }
        }
        races
    }

    /// Keeps superseded access `a` while a host function pending now is.
    fn hold(&mut self, a: Stored, pending: Pending) {
        if pending.oldest.is_some() {
            self.held.push((a, pending.last));
        }
    }

    /// Drops the held accesses no pending host function needs (all of them
    /// when none is pending): back to the bounded form.
    fn collapse(&mut self, pending: Pending) {
        self.held.retain(|(_, until)| pending.any_upto(*until));
    }

    /// How many accesses are stored (the bound's test), the held ones that
    /// a host function pending now needs included.
    #[cfg(test)]
    pub(super) fn stored(&mut self, pending: Pending) -> usize {
        self.collapse(pending);
        self.reads.len() + usize::from(self.write.is_some()) + self.held.len()
    }
}
