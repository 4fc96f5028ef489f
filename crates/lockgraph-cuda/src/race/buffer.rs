//! One tracked buffer's accesses, bounded: its last write and, for the reads
//! since, the latest read of each actor (a stream or the host). An actor's
//! clock only grows, so its latest read is ordered before everything its
//! earlier ones are: a later write races with some read since the last
//! write iff it races with one of these.
//!
//! Accesses usually arrive in an order consistent with happens-before (stream
//! work when it is enqueued, host accesses when they are made). A host
//! function's accesses arrive when it runs, possibly after work enqueued
//! behind it on its stream was recorded: it is stamped with the place it
//! was enqueued at, and each stored access keeps its clock, so an access
//! ordered *before* a stored one is told apart from a concurrent one.

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

#[derive(Default)]
pub(super) struct BufState {
    write: Option<Stored>,
    /// Per actor, its latest read since the last write.
    reads: BTreeMap<usize, Stored>,
}

impl BufState {
    /// Records `new`, made at `clock`, and returns the stored accesses it
    /// conflicts with and is not ordered with either way (the last write
    /// first).
    pub(super) fn access(&mut self, new: Access, clock: &VectorClock) -> Vec<Access> {
        let races = (self.write.iter().chain(self.reads.values()))
            .filter(|a| a.access.write || new.write)
            .filter(|a| !a.before(clock) && !a.after(&new))
            .map(|a| a.access.clone())
            .collect();
        // Ordered before the last write (a host function's access arriving
        // late): the write stands for it in every later check.
        if self.write.as_ref().is_some_and(|w| w.after(&new)) {
            return races;
        }
        let actor = new.epoch.actor;
        let stored = Stored {
            access: new,
            clock: clock.clone(),
        };
        if stored.access.write {
            // Reads since the new write: those ordered after it (recorded
            // before it arrived). The others are before it or raced with it.
            self.reads
                .retain(|_, r| r.after(&stored.access) && !r.before(clock));
            self.write = Some(stored);
        } else {
            let keep = self
                .reads
                .get(&actor)
                .is_some_and(|r| r.access.epoch.time >= stored.access.epoch.time);
            if !keep {
                self.reads.insert(actor, stored);
            }
        }
        races
    }

    /// How many accesses are stored (the bound's test).
    #[cfg(test)]
    pub(super) fn stored(&self) -> usize {
        self.reads.len() + usize::from(self.write.is_some())
    }
}
