//! The gate-lock rule: which gate sets let a closed walk deadlock.
//!
//! A gate of an edge is a lock held at every recording of the edge, other
//! than its two ends, with the mode it was held in ([`GateMode`]: write or
//! mutex, upgradable read, read). A deadlock along a closed walk needs one
//! thread per edge, each holding its edge's gates while it waits; no two
//! threads hold one lock in modes that exclude each other ([`excludes`]: a
//! write excludes every hold, an upgradable read another upgradable read;
//! two reads, or a read and an upgradable read, do not), so the walk can
//! deadlock only when no gate of one of its edges excludes a gate of
//! another (an edge taken twice counts twice). That is [`gates_disjoint`].
//!
//! It is stronger than the first form of the rule, "a gate of the first
//! edge that every other edge's gates exclude", which the searches still use
//! as a first pass because its states are few ([`Common`]: the first edge's
//! gates still excluded by every edge, a mask); the walk it finds is kept
//! when its gates are disjoint, and otherwise a search over [`Disjoint`]
//! states (the gates held so far, interned) looks for the shortest walk
//! that obeys the rule. `a -> b` and `b -> a` both taken under `g`, `b ->
//! c` and `c -> b` both under `h`: no gate is common to the walk `c b a b`,
//! but `g` is held on two of its edges, and so is `h`. Both searches stop
//! at a state budget; when the second does, the first one's walk is
//! reported, marked not exact (a report more, never one fewer). The second
//! search tracks only the locks found as gates on two or more edges of the
//! graph ([`shared_gates`]): a gate of one edge is held twice only by a
//! walk that takes that edge twice, which the search then lets through (a
//! report more), and the gates of one edge each (a lock held around
//! everything a request does, a different one each time) would otherwise
//! make a state of every path.
//!
//! A gate is one number: the lock's id in the low 62 bits, compared as a
//! number (the caller makes it identify one lock: the runtime's lock ids,
//! unique in a process; the checker's interned `"<pid>:<id>"` strings), and
//! the mode in the top two bits, 0 for an exclusive hold, so that a lock id
//! alone is its exclusive gate ([`gate`], [`gate_id`], [`gate_mode`]).

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::hash::Hash;

/// How a gate lock was held at every recording of an edge: the weakest of
/// the recordings' modes ([`meet`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GateMode {
    /// Held exclusively: a mutex, a write, a reentrant mutex.
    Exclusive = 0,
    /// Held as an upgradable read: excludes writes and other upgradable
    /// reads, not reads.
    Upgradable = 1,
    /// Held as a read: excludes writes only.
    Shared = 2,
}

const MODE_SHIFT: u32 = 62;

/// The bits of a gate that hold the lock's id.
const GATE_ID_MASK: u64 = (1 << MODE_SHIFT) - 1;

/// The gate of lock `id` (its low 62 bits) held in `mode`.
pub const fn gate(id: u64, mode: GateMode) -> u64 {
    (id & GATE_ID_MASK) | (mode as u64) << MODE_SHIFT
}

/// The lock of gate `g`.
pub const fn gate_id(g: u64) -> u64 {
    g & GATE_ID_MASK
}

/// The mode of gate `g` (a fourth value in the top bits reads as a read:
/// it can only take away a gate's effect, never add one).
pub const fn gate_mode(g: u64) -> GateMode {
    match g >> MODE_SHIFT {
        0 => GateMode::Exclusive,
        1 => GateMode::Upgradable,
        _ => GateMode::Shared,
    }
}

/// Whether two holds in modes `a` and `b` of one lock exclude each other
/// (cannot be held by two threads at once).
pub const fn modes_exclude(a: GateMode, b: GateMode) -> bool {
    matches!(
        (a, b),
        (GateMode::Exclusive, _)
            | (_, GateMode::Exclusive)
            | (GateMode::Upgradable, GateMode::Upgradable)
    )
}

/// Whether gates `a` and `b` are one lock held in modes that exclude each
/// other.
pub const fn excludes(a: u64, b: u64) -> bool {
    gate_id(a) == gate_id(b) && modes_exclude(gate_mode(a), gate_mode(b))
}

/// Whether the sorted gate set `set` holds a gate that excludes `g`.
pub fn excluded_by(set: &[u64], g: u64) -> bool {
    let (id, mode) = (gate_id(g), gate_mode(g));
    [GateMode::Exclusive, GateMode::Upgradable, GateMode::Shared]
        .into_iter()
        .any(|m| modes_exclude(mode, m) && set.binary_search(&gate(id, m)).is_ok())
}

/// What two recordings' gates of one lock leave: the weaker mode (a read
/// and a write: a read), or `None` for gates of two locks.
pub fn meet(a: u64, b: u64) -> Option<u64> {
    (gate_id(a) == gate_id(b)).then(|| gate(gate_id(a), gate_mode(a).max(gate_mode(b))))
}

/// The gates of `old` still held, in their weakest mode, by a recording
/// whose gates are `new` (sorted): the gate set of an edge after one more
/// recording. Sorted.
pub fn intersect(old: &[u64], new: &[u64]) -> Vec<u64> {
    let mut out: Vec<u64> = old
        .iter()
        .filter_map(|&o| new.iter().filter_map(|&n| meet(o, n)).max())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

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
    // By lock, then by mode, the exclusive first: two holds of a lock
    // exclude each other when the first of them in this order does the
    // first two.
    all.sort_unstable_by_key(|&g| (gate_id(g), gate_mode(g)));
    all.windows(2).all(|w| !excludes(w[0], w[1]))
}

/// The locks (their [`gate_id`]) found as gates on two or more of the
/// edges whose gate sets `sets` yields (each edge once): the only ones
/// [`Disjoint`] needs to track.
pub fn shared_gates<'a>(sets: impl IntoIterator<Item = &'a [u64]>) -> HashSet<u64> {
    let mut seen = HashSet::new();
    let mut shared = HashSet::new();
    let mut ids = Vec::new();
    for s in sets {
        ids.clear();
        ids.extend(s.iter().map(|&g| gate_id(g)));
        ids.sort_unstable();
        ids.dedup();
        for &id in &ids {
            if !seen.insert(id) {
                shared.insert(id);
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
/// [`MAX_TRACKED_GATES`]) still excluded by a gate of every edge so far, as
/// a mask. A walk is accepted once none is left.
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
            if !excluded_by(gates, self.tracked[i]) {
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
            Some(s) => self
                .buf
                .extend(gates.iter().filter(|&&g| s.contains(&gate_id(g)))),
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
        if gates.iter().any(|&g| excluded_by(held, g)) {
            return None;
        }
        let mut set = Vec::with_capacity(held.len() + gates.len());
        set.extend_from_slice(held);
        set.extend_from_slice(gates);
        set.sort_unstable();
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

    const W: GateMode = GateMode::Exclusive;
    const U: GateMode = GateMode::Upgradable;
    const R: GateMode = GateMode::Shared;

    #[test]
    fn a_lock_id_is_its_exclusive_gate_and_modes_round_trip() {
        assert_eq!(gate(17, W), 17);
        for m in [W, U, R] {
            assert_eq!(gate_id(gate(17, m)), 17);
            assert_eq!(gate_mode(gate(17, m)), m);
        }
        assert_eq!(gate_mode(3 << 62 | 17), R);
    }

    #[test]
    fn which_modes_exclude_which() {
        // A write excludes every hold; two upgradable reads exclude each
        // other; a read excludes only a write.
        let table = [
            (W, W, true),
            (W, U, true),
            (W, R, true),
            (U, U, true),
            (U, R, false),
            (R, R, false),
        ];
        for (a, b, ex) in table {
            assert_eq!(modes_exclude(a, b), ex, "{a:?} {b:?}");
            assert_eq!(modes_exclude(b, a), ex, "{b:?} {a:?}");
            assert_eq!(excludes(gate(5, a), gate(5, b)), ex);
            assert!(!excludes(gate(5, a), gate(6, b)));
        }
    }

    #[test]
    fn a_write_and_a_read_of_one_gate_break_the_walk_two_reads_do_not() {
        let (w, u, r) = (gate(9, W), gate(9, U), gate(9, R));
        assert!(!gates_disjoint([&[w][..], &[r]]));
        assert!(!gates_disjoint([&[r][..], &[1, w]]));
        assert!(!gates_disjoint([&[u][..], &[u]]));
        assert!(gates_disjoint([&[r][..], &[r]]));
        assert!(gates_disjoint([&[u][..], &[r], &[r]]));
        // Three edges: the write on the third meets the first's read.
        assert!(!gates_disjoint([&[r][..], &[r], &[w]]));
    }

    #[test]
    fn an_edge_keeps_the_weakest_mode_of_its_recordings() {
        let (w, u, r) = (gate(9, W), gate(9, U), gate(9, R));
        assert_eq!(intersect(&[w, 4], &[r, 4]), {
            let mut v = vec![4, r];
            v.sort_unstable();
            v
        });
        assert_eq!(intersect(&[w], &[u]), vec![u]);
        assert_eq!(intersect(&[u], &[w]), vec![u]);
        assert_eq!(intersect(&[r], &[w]), vec![r]);
        assert_eq!(intersect(&[w], &[gate(8, W)]), Vec::<u64>::new());
        assert_eq!(meet(w, gate(8, R)), None);
    }

    #[test]
    fn common_and_disjoint_follow_the_modes() {
        let (w, u, r) = (gate(9, W), gate(9, U), gate(9, R));
        let mut c = Common::new();
        let k = c.start(&[r]);
        // Another read of the gate does not exclude the first edge's read.
        assert_eq!(c.step(k, &[r]), Some(0));
        assert_eq!(c.step(k, &[w]), Some(k));
        let k = c.start(&[u]);
        assert_eq!(c.step(k, &[r]), Some(0));
        assert_eq!(c.step(k, &[u]), Some(k));

        let shared = shared_gates([&[r][..], &[w]]);
        assert_eq!(shared, HashSet::from([9]));
        let mut d = Disjoint::new(Some(&shared));
        let k = d.start(&[r]);
        assert_eq!(d.step(k, &[w]), None);
        let k2 = d.step(k, &[u]).unwrap();
        assert_eq!(d.step(k2, &[r]), Some(k2));
        assert_eq!(d.step(k2, &[u]), None);
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
