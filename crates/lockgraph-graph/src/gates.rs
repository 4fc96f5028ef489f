//! The gate-lock rule: which gate sets let a closed walk deadlock.
//!
//! A gate of an edge is a lock held *exclusively* at every recording of the
//! edge, other than its two ends. A deadlock along a closed walk needs one
//! thread per edge, each holding its edge's gates while it waits; no lock
//! is held exclusively by two threads at once, so the walk can deadlock
//! only when no gate belongs to two of its edges (an edge taken twice
//! counts twice). That is [`gates_disjoint`].
//!
//! It is stronger than the first form of the rule, "no gate common to every
//! edge", which the searches still use as a first pass because its states
//! are few ([`Common`]: the first edge's gates still common, a mask); the
//! walk it finds is kept when its gates are disjoint, and otherwise a
//! search over [`Disjoint`] states (the gates held so far, interned) looks
//! for the shortest walk that obeys the rule. `a -> b` and `b -> a` both
//! taken under `g`, `b -> c` and `c -> b` both under `h`: no gate is common
//! to the walk `c b a b`, but `g` is held on two of its edges, and so is
//! `h`. Both searches stop at a state budget; when the second does, the
//! first one's walk is reported, marked not exact (a report more, never
//! one fewer). The second search tracks only the gates found on two or more
//! edges of the graph ([`shared_gates`]): a gate of one edge is held twice
//! only by a walk that takes that edge twice, which the search then lets
//! through (a report more), and the gates of one edge each (a lock held
//! around everything a request does, a different one each time) would
//! otherwise make a state of every path.
//!
//! Gates are compared as numbers: the caller makes them identify one lock
//! (the runtime's lock ids, unique in a process; the checker's interned
//! `"<pid>:<id>"` strings).

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::hash::Hash;

/// Only this many gates are tracked exactly: of the first edge by
/// [`Common`], of a whole walk by [`Disjoint`]. A gate past them is treated
/// as absent, which can only add reports, never hide one.
pub const MAX_TRACKED_GATES: usize = 32;

/// Whether no gate belongs to two of the edges whose sorted gate sets
/// `sets` yields (one per edge of a walk, an edge taken twice given twice):
/// the gate rule for a whole walk, exactly.
pub fn gates_disjoint<'a>(sets: impl IntoIterator<Item = &'a [u64]>) -> bool {
    let mut all: Vec<u64> = Vec::new();
    for s in sets {
        all.extend_from_slice(s);
    }
    all.sort_unstable();
    all.windows(2).all(|w| w[0] != w[1])
}

/// The gates found on two or more of the edges whose gate sets `sets`
/// yields (each edge once): the only ones [`Disjoint`] needs to track.
pub fn shared_gates<'a>(sets: impl IntoIterator<Item = &'a [u64]>) -> HashSet<u64> {
    let mut seen = HashSet::new();
    let mut shared = HashSet::new();
    for s in sets {
        for &g in s {
            if !seen.insert(g) {
                shared.insert(g);
            }
        }
    }
    shared
}

/// A form of the gate rule a breadth-first search can carry in its states:
/// a key per state, moved along each edge, and whether a walk that ends
/// with a key may deadlock.
pub trait GateRule {
    /// What a state carries.
    type Key: Copy + Eq + Hash + Debug;
    /// The key after the first edge, whose gates are `first`.
    fn start(&mut self, first: &[u64]) -> Self::Key;
    /// The key after one more edge with the gates `gates` (sorted), or
    /// `None` when the rule forbids taking it.
    fn step(&mut self, key: Self::Key, gates: &[u64]) -> Option<Self::Key>;
    /// Whether a closed walk whose key is `key` may deadlock.
    fn accepts(&self, key: Self::Key) -> bool;
    /// Whether `key` is the one most states share (a search may keep those
    /// states in dense arrays and the others in a map).
    fn is_plain(&self, key: Self::Key) -> bool;
}

/// The first pass: the first edge's gates (the first
/// [`MAX_TRACKED_GATES`]) still common to every edge so far, as a mask. A
/// walk is accepted once none is left.
#[derive(Debug, Default)]
pub struct Common {
    tracked: Vec<u64>,
}

impl Common {
    /// The rule, with no first edge yet.
    pub fn new() -> Common {
        Common::default()
    }
}

impl GateRule for Common {
    type Key = u32;

    fn start(&mut self, first: &[u64]) -> u32 {
        self.tracked.clear();
        self.tracked
            .extend_from_slice(&first[..first.len().min(MAX_TRACKED_GATES)]);
        if self.tracked.len() == 32 {
            u32::MAX
        } else {
            (1u32 << self.tracked.len()) - 1
        }
    }

    #[inline]
    fn step(&mut self, key: u32, gates: &[u64]) -> Option<u32> {
        let mut mask = key;
        let mut bits = key;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if gates.binary_search(&self.tracked[i]).is_err() {
                mask &= !(1 << i);
            }
        }
        Some(mask)
    }

    fn accepts(&self, key: u32) -> bool {
        key == 0
    }

    fn is_plain(&self, key: u32) -> bool {
        key == 0
    }
}

/// The exact rule: the gates of every edge so far (at most
/// [`MAX_TRACKED_GATES`], the smallest kept; only those in the shared set
/// when one is given, [`shared_gates`]), interned, so that a state stays
/// one word. An edge with a gate already held is not taken; every closed
/// walk that gets back is accepted.
#[derive(Debug)]
pub struct Disjoint<'s> {
    /// Set `i`, sorted; set 0 is the empty one.
    sets: Vec<Box<[u64]>>,
    ids: HashMap<Box<[u64]>, u32>,
    shared: Option<&'s HashSet<u64>>,
    buf: Vec<u64>,
}

impl Default for Disjoint<'_> {
    fn default() -> Self {
        Disjoint::new(None)
    }
}

impl<'s> Disjoint<'s> {
    /// The rule, with only the empty set interned, tracking every gate, or
    /// only those in `shared`.
    pub fn new(shared: Option<&'s HashSet<u64>>) -> Disjoint<'s> {
        Disjoint {
            sets: vec![Box::default()],
            ids: HashMap::new(),
            shared,
            buf: Vec::new(),
        }
    }

    /// `gates` without those it does not track, in `self.buf`.
    fn tracked(&mut self, gates: &[u64]) {
        self.buf.clear();
        match self.shared {
            Some(s) => self.buf.extend(gates.iter().filter(|g| s.contains(g))),
            None => self.buf.extend_from_slice(gates),
        }
    }

    /// The gates a key stands for (sorted).
    pub fn gates(&self, key: u32) -> &[u64] {
        &self.sets[key as usize]
    }

    fn intern(&mut self, set: Vec<u64>) -> u32 {
        if set.is_empty() {
            return 0;
        }
        let set = set.into_boxed_slice();
        if let Some(&id) = self.ids.get(&set) {
            return id;
        }
        let id = u32::try_from(self.sets.len()).unwrap_or(u32::MAX);
        if id == u32::MAX {
            // Past four billion sets (a search's budget stops far earlier):
            // forget the gates, which can only add reports.
            return 0;
        }
        self.sets.push(set.clone());
        self.ids.insert(set, id);
        id
    }
}

impl GateRule for Disjoint<'_> {
    type Key = u32;

    fn start(&mut self, first: &[u64]) -> u32 {
        self.tracked(first);
        let mut set = std::mem::take(&mut self.buf);
        set.sort_unstable();
        set.dedup();
        set.truncate(MAX_TRACKED_GATES);
        self.intern(set)
    }

    fn step(&mut self, key: u32, gates: &[u64]) -> Option<u32> {
        if gates.is_empty() {
            return Some(key);
        }
        self.tracked(gates);
        if self.buf.is_empty() {
            return Some(key);
        }
        let gates = std::mem::take(&mut self.buf);
        let r = self.step_tracked(key, &gates);
        self.buf = gates;
        r
    }

    fn accepts(&self, _key: u32) -> bool {
        true
    }

    fn is_plain(&self, key: u32) -> bool {
        key == 0
    }
}

impl Disjoint<'_> {
    /// [`GateRule::step`] with `gates` already filtered (sorted).
    fn step_tracked(&mut self, key: u32, gates: &[u64]) -> Option<u32> {
        let held = &self.sets[key as usize];
        let mut set = Vec::with_capacity(held.len() + gates.len());
        let (mut i, mut j) = (0, 0);
        while i < held.len() && j < gates.len() {
            match held[i].cmp(&gates[j]) {
                std::cmp::Ordering::Equal => return None,
                std::cmp::Ordering::Less => {
                    set.push(held[i]);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    set.push(gates[j]);
                    j += 1;
                }
            }
        }
        set.extend_from_slice(&held[i..]);
        set.extend_from_slice(&gates[j..]);
        set.dedup();
        set.truncate(MAX_TRACKED_GATES);
        Some(self.intern(set))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_gates_on_two_edges_are_shared_and_tracked() {
        let shared = shared_gates([&[1, 2][..], &[2, 3], &[4], &[3]]);
        assert_eq!(shared, HashSet::from([2, 3]));
        let mut d = Disjoint::new(Some(&shared));
        // 1 and 4 are on one edge each: never tracked.
        let k = d.start(&[1, 2]);
        assert_eq!(d.gates(k), &[2]);
        assert_eq!(d.step(k, &[4]), Some(k));
        assert_eq!(d.step(k, &[2, 4]), None);
        let k3 = d.step(k, &[3]).unwrap();
        assert_eq!(d.gates(k3), &[2, 3]);
    }

    #[test]
    fn a_gate_on_two_edges_breaks_the_walk() {
        assert!(gates_disjoint([&[1, 2][..], &[3], &[]]));
        assert!(!gates_disjoint([&[1, 2][..], &[3], &[2]]));
        // An edge taken twice holds its gate twice.
        assert!(!gates_disjoint([&[5][..], &[], &[5]]));
        assert!(gates_disjoint(std::iter::empty()));
    }

    #[test]
    fn common_drops_a_gate_an_edge_lacks() {
        let mut c = Common::new();
        let k = c.start(&[3, 7, 9]);
        assert_eq!(k, 0b111);
        assert_eq!(c.step(k, &[3, 9]), Some(0b101));
        assert_eq!(c.step(0b100, &[1]), Some(0));
        assert!(c.accepts(0) && !c.accepts(1));
        assert_eq!(c.start(&[0; 40]), u32::MAX);
    }

    #[test]
    fn disjoint_refuses_a_gate_held_already_and_interns_sets() {
        let mut d = Disjoint::new(None);
        let k = d.start(&[7, 3]);
        assert_eq!(d.gates(k), &[3, 7]);
        assert_eq!(d.step(k, &[7]), None);
        let k2 = d.step(k, &[1, 9]).unwrap();
        assert_eq!(d.gates(k2), &[1, 3, 7, 9]);
        assert_eq!(d.step(k2, &[]), Some(k2));
        // The same set reached another way is the same key.
        let other = d.start(&[1, 9]);
        assert_eq!(d.step(other, &[3, 7]), Some(k2));
        assert_eq!(d.start(&[]), 0);
        assert!(d.is_plain(0) && !d.is_plain(k));
    }

    #[test]
    fn disjoint_keeps_at_most_the_tracked_gates() {
        let mut d = Disjoint::new(None);
        let many: Vec<u64> = (0..40).collect();
        let k = d.start(&many);
        assert_eq!(d.gates(k).len(), MAX_TRACKED_GATES);
        // A gate past the kept ones is not seen again: a report more.
        assert!(d.step(k, &[39]).is_some());
        assert!(d.step(k, &[0]).is_none());
    }
}
