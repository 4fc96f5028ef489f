//! Vector clocks for happens-before checks: shared by the stream race
//! sanitizer (streams and the host are actors) and the atomicity checker
//! (threads are actors).
//!
//! Each actor (a thread, a CUDA stream, the host) has a small integer id and
//! its own [`VectorClock`]. An actor [`tick`](VectorClock::tick)s its own
//! component at each event it wants to tell apart; synchronisation copies a
//! clock (a release: an event record, a lock release) and
//! [`join`](VectorClock::join)s it into another (an acquire: a stream wait, a
//! lock acquisition, a synchronize). An access is stamped with an [`Epoch`]
//! (actor, time); it happens before everything whose clock has reached that
//! time for that actor.
//!
//! ```
//! use lockgraph_graph::vclock::{Epoch, VectorClock};
//!
//! let (host, stream) = (0, 1);
//! let mut h = VectorClock::new();
//! let mut s = VectorClock::new();
//! // The stream writes a buffer.
//! let write = Epoch::new(stream, s.tick(stream));
//! // The host reads it without synchronizing: a race.
//! assert!(!write.happens_before(&h));
//! // After a stream synchronize the host has joined the stream's clock.
//! h.join(&s);
//! assert!(write.happens_before(&h));
//! ```

use std::cmp::Ordering;
use std::fmt;

/// A vector clock: one logical time per actor, absent entries are zero.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct VectorClock {
    times: Vec<u64>,
}

impl VectorClock {
    /// The zero clock.
    pub const fn new() -> VectorClock {
        VectorClock { times: Vec::new() }
    }

    /// The time of `actor` in this clock.
    pub fn get(&self, actor: usize) -> u64 {
        self.times.get(actor).copied().unwrap_or(0)
    }

    /// Sets `actor`'s time (used when building clocks by hand).
    pub fn set(&mut self, actor: usize, time: u64) {
        if self.times.len() <= actor {
            self.times.resize(actor + 1, 0);
        }
        self.times[actor] = time;
    }

    /// Advances `actor`'s own component and returns the new time.
    pub fn tick(&mut self, actor: usize) -> u64 {
        let t = self.get(actor) + 1;
        self.set(actor, t);
        t
    }

    /// Takes the element-wise maximum with `other` (an acquire).
    pub fn join(&mut self, other: &VectorClock) {
        if self.times.len() < other.times.len() {
            self.times.resize(other.times.len(), 0);
        }
        for (mine, theirs) in self.times.iter_mut().zip(&other.times) {
            *mine = (*mine).max(*theirs);
        }
    }

    /// Whether every component of `self` is at most the same component of
    /// `other`: everything `self` has seen, `other` has seen.
    pub fn le(&self, other: &VectorClock) -> bool {
        self.times
            .iter()
            .enumerate()
            .all(|(a, &t)| t <= other.get(a))
    }

    /// The happens-before order: `Less` when `self` is before `other`,
    /// `Greater` when after, `Equal` when equal, `None` when concurrent.
    pub fn compare(&self, other: &VectorClock) -> Option<Ordering> {
        match (self.le(other), other.le(self)) {
            (true, true) => Some(Ordering::Equal),
            (true, false) => Some(Ordering::Less),
            (false, true) => Some(Ordering::Greater),
            (false, false) => None,
        }
    }

    /// Whether neither clock is before the other.
    pub fn concurrent(&self, other: &VectorClock) -> bool {
        self.compare(other).is_none()
    }
}

impl fmt::Debug for VectorClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.times.iter().enumerate().filter(|(_, t)| **t > 0))
            .finish()
    }
}

/// One event of one actor: its time in its own component.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Epoch {
    /// The actor.
    pub actor: usize,
    /// The actor's time at the event.
    pub time: u64,
}

impl Epoch {
    /// The event at `time` of `actor`.
    pub fn new(actor: usize, time: u64) -> Epoch {
        Epoch { actor, time }
    }

    /// Whether this event happens before the point that has clock `clock`.
    pub fn happens_before(&self, clock: &VectorClock) -> bool {
        self.time <= clock.get(self.actor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn release_acquire_orders_events() {
        let (a, b) = (0, 1);
        let mut ca = VectorClock::new();
        let mut cb = VectorClock::new();
        let e = Epoch::new(a, ca.tick(a));
        let released = ca.clone();
        ca.tick(a);
        assert!(!e.happens_before(&cb));
        cb.join(&released);
        assert!(e.happens_before(&cb));
        // A later event of `a` is not seen by `b`.
        let later = Epoch::new(a, ca.get(a));
        assert!(!later.happens_before(&cb));
        assert_eq!(released.compare(&cb), Some(Ordering::Equal));
        cb.tick(b);
        assert_eq!(released.compare(&cb), Some(Ordering::Less));
        assert!(ca.concurrent(&cb));
    }

    fn clock() -> impl Strategy<Value = VectorClock> {
        proptest::collection::vec(0u64..5, 0..5).prop_map(|times| VectorClock { times })
    }

    proptest! {
        #[test]
        fn join_is_the_least_upper_bound(a in clock(), b in clock(), c in clock()) {
            let mut j = a.clone();
            j.join(&b);
            prop_assert!(a.le(&j) && b.le(&j));
            // Any upper bound of both is above the join.
            if a.le(&c) && b.le(&c) {
                prop_assert!(j.le(&c));
            }
            // Commutative.
            let mut k = b.clone();
            k.join(&a);
            prop_assert!(j.le(&k) && k.le(&j));
        }

        #[test]
        fn compare_is_antisymmetric(a in clock(), b in clock()) {
            let ab = a.compare(&b);
            let ba = b.compare(&a);
            prop_assert_eq!(ab.map(Ordering::reverse), ba);
        }
    }
}
