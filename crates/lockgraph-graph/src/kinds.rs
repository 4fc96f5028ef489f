//! Hold and request modes, and the sets of dependency kinds an edge keeps,
//! with the strong-path rule for one step of a walk ([`EdgeKinds::strong_step`]).

use std::fmt;

/// How the lock at the start of an edge was held when the edge was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hold {
    /// Held exclusively: a mutex, a write lock, a reentrant mutex.
    Exclusive,
    /// Held shared: a read lock, a recursive read lock, a permit.
    Shared,
    /// Held as an upgradable read: shared with plain reads, but no writer
    /// can queue the reads that come after it while it is held, so no
    /// `read()` ever waits for it.
    Upgradable,
}

/// How the lock at the end of an edge was requested.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Request {
    /// An exclusive request: `lock`, `write`, `upgradable_read`, `upgrade`.
    /// It can wait for any hold.
    Exclusive,
    /// A non-recursive read (`read`): it can queue behind a waiting writer
    /// that waits for a shared hold, but never waits for an upgradable
    /// read (a writer cannot queue reads while one is held).
    Read,
    /// A recursive read (`read_recursive`): it never waits for another reader.
    RecursiveRead,
}

impl Request {
    /// Whether a thread making this request of a lock can wait for a thread
    /// that holds the lock as `hold` (the strong-path rule at one node):
    /// always, except a recursive read against a shared or upgradable hold,
    /// and a plain read against an upgradable hold.
    pub const fn waits_for(self, hold: Hold) -> bool {
        matches!(
            (self, hold),
            (Request::Exclusive, _) | (_, Hold::Exclusive) | (Request::Read, Hold::Shared)
        )
    }
}

/// A set of dependency kinds: {exclusive, shared, upgradable} hold times
/// {exclusive, read, recursive-read} request. lockdep's four kinds split
/// its non-recursive request into an exclusive one and a plain read (which
/// never waits for an upgradable read), and its shared hold into a shared
/// one and an upgradable read.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EdgeKinds(u16);

impl EdgeKinds {
    /// Exclusive hold, exclusive request.
    pub const EN: EdgeKinds = EdgeKinds::of(Hold::Exclusive, Request::Exclusive);
    /// Exclusive hold, plain-read request.
    pub const EP: EdgeKinds = EdgeKinds::of(Hold::Exclusive, Request::Read);
    /// Exclusive hold, recursive-read request.
    pub const ER: EdgeKinds = EdgeKinds::of(Hold::Exclusive, Request::RecursiveRead);
    /// Shared hold, exclusive request.
    pub const SN: EdgeKinds = EdgeKinds::of(Hold::Shared, Request::Exclusive);
    /// Shared hold, plain-read request.
    pub const SP: EdgeKinds = EdgeKinds::of(Hold::Shared, Request::Read);
    /// Shared hold, recursive-read request.
    pub const SR: EdgeKinds = EdgeKinds::of(Hold::Shared, Request::RecursiveRead);
    /// Upgradable hold, exclusive request.
    pub const UN: EdgeKinds = EdgeKinds::of(Hold::Upgradable, Request::Exclusive);
    /// Upgradable hold, plain-read request.
    pub const UP: EdgeKinds = EdgeKinds::of(Hold::Upgradable, Request::Read);
    /// Upgradable hold, recursive-read request.
    pub const UR: EdgeKinds = EdgeKinds::of(Hold::Upgradable, Request::RecursiveRead);
    /// Every single kind with its name, by hold, then request (EN, EP, ER, SN, SP,
    /// SR, UN, UP, UR).
    pub const NAMED: [(EdgeKinds, &'static str); 9] = [
        (Self::EN, "EN"),
        (Self::EP, "EP"),
        (Self::ER, "ER"),
        (Self::SN, "SN"),
        (Self::SP, "SP"),
        (Self::SR, "SR"),
        (Self::UN, "UN"),
        (Self::UP, "UP"),
        (Self::UR, "UR"),
    ];
    /// The kinds that end in an exclusive request, in a plain read.
    const TO_EXCLUSIVE: u16 = 0b000_000_111;
    const TO_READ: u16 = 0b000_111_000;
    /// The kinds that start from an exclusive hold, a shared one.
    const FROM_EXCLUSIVE: u16 = 0b001_001_001;
    const FROM_SHARED: u16 = 0b010_010_010;
    /// Per request a strong path arrives with (by `Request as usize`), the
    /// kinds it may take next: those whose hold the request waits for.
    const AFTER: [u16; 3] = [
        0b111_111_111,
        Self::FROM_EXCLUSIVE | Self::FROM_SHARED,
        Self::FROM_EXCLUSIVE,
    ];

    /// The single kind of one acquisition: bit `3 * request + hold`, so
    /// that the lowest bit of a set is its kind whose request lets the
    /// most kinds follow ([`strong_step`](Self::strong_step)).
    pub const fn of(hold: Hold, request: Request) -> EdgeKinds {
        let h = match hold {
            Hold::Exclusive => 0,
            Hold::Shared => 1,
            Hold::Upgradable => 2,
        };
        let r = match request {
            Request::Exclusive => 0,
            Request::Read => 1,
            Request::RecursiveRead => 2,
        };
        EdgeKinds(1 << (3 * r + h))
    }

    /// The union of two sets.
    pub fn union(self, other: EdgeKinds) -> EdgeKinds {
        EdgeKinds(self.0 | other.0)
    }

    /// Whether every kind of `other` is in `self`.
    pub fn contains(self, other: EdgeKinds) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The single kinds in this set, in the order of [`NAMED`](Self::NAMED) (EN, EP, ER, SN, SP, SR,
    /// UN, UP, UR).
    pub fn iter(self) -> impl Iterator<Item = EdgeKinds> {
        Self::NAMED
            .into_iter()
            .map(|(k, _)| k)
            .filter(move |k| self.contains(*k))
    }

    /// The hold of the set's strongest kind (exclusive, else shared, else
    /// upgradable); `Exclusive` for an empty set. For a single kind, its
    /// hold.
    pub fn hold(self) -> Hold {
        if self.0 & Self::FROM_EXCLUSIVE != 0 || self.0 == 0 {
            Hold::Exclusive
        } else if self.0 & Self::FROM_SHARED != 0 {
            Hold::Shared
        } else {
            Hold::Upgradable
        }
    }

    /// The request of the set's strongest kind (exclusive, else a plain
    /// read, else a recursive read); `Exclusive` for an empty set. For a
    /// single kind, its request.
    pub fn request(self) -> Request {
        if self.0 & Self::TO_EXCLUSIVE != 0 || self.0 == 0 {
            Request::Exclusive
        } else if self.0 & Self::TO_READ != 0 {
            Request::Read
        } else {
            Request::RecursiveRead
        }
    }

    /// The strong-path rule for one edge of these kinds, reached with the
    /// request `arrived` (the request of the walk's edge into its start):
    /// the kind a strong path uses on it, the one whose request lets the
    /// most kinds follow (exclusive, else a plain read, else a recursive
    /// read: each allows a superset of what the next allows; the
    /// strongest hold among those), or `None` when no kind's hold is one
    /// `arrived` waits for. One mask and the lowest bit, as lockdep's two
    /// kinds were (the bit order puts the requests first). (The offline
    /// checker, `lockgraph-cli`, walks its own compressed graph with this
    /// rule.)
    #[inline]
    pub fn strong_step(self, arrived: Request) -> Option<EdgeKinds> {
        self.step_within(Self::AFTER[arrived as usize])
    }

    /// [`strong_step`](Self::strong_step) with the kinds allowed given as
    /// a mask ([`next_mask`](Self::next_mask) of the kind used before): a
    /// walk along a long cycle keeps the mask, not the request.
    #[inline]
    pub(crate) fn step_within(self, mask: u16) -> Option<EdgeKinds> {
        let allowed = self.0 & mask;
        (allowed != 0).then_some(EdgeKinds(allowed & allowed.wrapping_neg()))
    }

    /// The kinds a strong path may take after the single kind `self` (those
    /// whose hold its request waits for), as a mask for
    /// [`step_within`](Self::step_within): the request is the bit's third.
    #[inline]
    pub(crate) fn next_mask(self) -> u16 {
        const NEXT: [u16; 16] = {
            let mut t = [EdgeKinds::AFTER[0]; 16];
            let mut bit = 0;
            while bit < 9 {
                t[bit] = EdgeKinds::AFTER[bit / 3];
                bit += 1;
            }
            t
        };
        NEXT[self.0.trailing_zeros() as usize & 15]
    }
}

impl fmt::Debug for EdgeKinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut set = f.debug_set();
        for (k, name) in Self::NAMED {
            if self.contains(k) {
                set.entry(&format_args!("{name}"));
            }
        }
        set.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{graph, E, RD, RR, S, U, X};

    #[test]
    fn recursive_reads_from_shared_holds_do_not_deadlock() {
        // T1: read(A) then read_recursive(B); T2: read(B) then read_recursive(A).
        let (mut g, n) = graph(2);
        g.add_edge(n[0], n[1], S, RR, &[], || ());
        assert!(g.add_edge(n[1], n[0], S, RR, &[], || ()).cycle.is_none());
    }

    #[test]
    fn a_recursive_read_followed_by_a_shared_hold_breaks_the_cycle() {
        // T1: write(A) then read_recursive(B); T2: read(B) then write(A).
        let (mut g, n) = graph(2);
        g.add_edge(n[0], n[1], E, RR, &[], || ());
        assert!(g.add_edge(n[1], n[0], S, X, &[], || ()).cycle.is_none());
        // Once T2 holds B exclusively instead, the path is strong.
        let c = g.add_edge(n[1], n[0], E, X, &[], || ()).cycle.unwrap();
        assert_eq!(c.kinds, vec![EdgeKinds::EN, EdgeKinds::ER]);
    }

    #[test]
    fn plain_reads_can_deadlock_behind_writers() {
        let (mut g, n) = graph(2);
        g.add_edge(n[0], n[1], S, RD, &[], || ());
        assert!(g.add_edge(n[1], n[0], S, RD, &[], || ()).cycle.is_some());
    }

    #[test]
    fn a_plain_read_never_waits_for_an_upgradable_read() {
        // T1: a.upgradable_read(); m.lock(). T2: m.lock(); a.read(): the read
        // waits only for a writer's bit, which no writer takes while T1 holds
        // `a` upgradable, so T2 gets `a` and nothing hangs.
        let (mut g, n) = graph(2);
        let (a, m) = (n[0], n[1]);
        g.add_edge(a, m, U, X, &[], || ());
        assert!(g.add_edge(m, a, E, RD, &[], || ()).cycle.is_none());
        // The other order of recording finds nothing either.
        let (mut g, n) = graph(2);
        g.add_edge(n[1], n[0], E, RD, &[], || ());
        assert!(g.add_edge(n[0], n[1], U, X, &[], || ()).cycle.is_none());
        // A recursive read does not wait for it either.
        let (mut g, n) = graph(2);
        g.add_edge(n[0], n[1], U, X, &[], || ());
        assert!(g.add_edge(n[1], n[0], E, RR, &[], || ()).cycle.is_none());
    }

    #[test]
    fn an_upgradable_read_still_waits_for_writes_and_upgradable_reads() {
        // T2 asks for `a` upgradable (an exclusive request) or for write: it
        // waits for T1's upgradable read.
        for (hold, request) in [(E, X), (S, X), (U, X)] {
            let (mut g, n) = graph(2);
            let (a, m) = (n[0], n[1]);
            g.add_edge(a, m, U, X, &[], || ());
            let c = g.add_edge(m, a, hold, request, &[], || ()).cycle;
            let c = c.unwrap_or_else(|| panic!("{hold:?} {request:?}"));
            assert_eq!(c.kinds, vec![EdgeKinds::of(hold, request), EdgeKinds::UN]);
        }
        // A plain read still waits for a plain read hold (through a queued
        // writer): the upgradable read's rule is its own.
        let (mut g, n) = graph(2);
        g.add_edge(n[0], n[1], S, X, &[], || ());
        assert!(g.add_edge(n[1], n[0], E, RD, &[], || ()).cycle.is_some());
        // An edge recorded both ways out of `a` is a cycle by its shared kind.
        let (mut g, n) = graph(2);
        g.add_edge(n[0], n[1], U, X, &[], || ());
        assert!(g.add_edge(n[1], n[0], E, RD, &[], || ()).cycle.is_none());
        let c = g.add_edge(n[0], n[1], S, X, &[], || ()).cycle.unwrap();
        assert_eq!(c.kinds, vec![EdgeKinds::SN, EdgeKinds::EP]);
    }

    #[test]
    fn a_longer_cycle_mixing_kinds_breaks_only_where_a_read_meets_an_upgradable_read() {
        // a -(upgradable, exclusive)-> b -(exclusive, read)-> c -(shared, read)-> a:
        // at `a` a plain read meets an upgradable read, so it cannot close.
        let (mut g, n) = graph(3);
        let (a, b, c) = (n[0], n[1], n[2]);
        g.add_edge(a, b, U, X, &[], || ());
        g.add_edge(b, c, E, RD, &[], || ());
        assert!(g.add_edge(c, a, S, RD, &[], || ()).cycle.is_none());
        // At `c` the read meets a shared hold: that one waits (a queued
        // writer). Asking for `a` exclusively closes the cycle.
        let cyc = g.add_edge(c, a, S, X, &[], || ()).cycle.unwrap();
        assert_eq!(cyc.nodes, vec![c, a, b]);
        assert_eq!(cyc.kinds, vec![EdgeKinds::SN, EdgeKinds::UN, EdgeKinds::EP]);
        // Through a fourth lock: the read into `a` comes from `d`, and the
        // exclusive request into `a` is no longer on the way.
        let (mut g, n) = graph(4);
        let (a, b, c, d) = (n[0], n[1], n[2], n[3]);
        g.add_edge(a, b, U, X, &[], || ());
        g.add_edge(b, c, S, RD, &[], || ());
        g.add_edge(c, d, S, X, &[], || ());
        assert!(g.add_edge(d, a, E, RD, &[], || ()).cycle.is_none());
        // Taken as an exclusive request of `a`, it closes.
        let cyc = g.add_edge(d, a, E, X, &[], || ()).cycle.unwrap();
        assert_eq!(cyc.len(), 4);
    }

    /// The strong-path step picks, among the kinds whose hold the arriving
    /// request waits for, the first (in the order of `NAMED`) that ends in an exclusive
    /// request, else in a plain read, else the first: checked against that
    /// definition for every set of kinds.
    #[test]
    fn strong_step_picks_the_strongest_allowed_kind() {
        for bits in 0u16..512 {
            let kinds = EdgeKinds(bits);
            for arrived in [X, RD, RR] {
                let allowed: Vec<EdgeKinds> = kinds
                    .iter()
                    .filter(|k| arrived.waits_for(k.hold()))
                    .collect();
                let first = |r: Request| allowed.iter().copied().find(|k| k.request() == r);
                let want = first(X)
                    .or_else(|| first(RD))
                    .or_else(|| allowed.first().copied());
                assert_eq!(kinds.strong_step(arrived), want, "{kinds:?} {arrived:?}");
            }
        }
    }

    /// Each single kind reads back as the hold and request it was made of,
    /// and lets the kinds its request allows follow it.
    #[test]
    fn a_kind_is_its_hold_and_request() {
        for h in [E, S, U] {
            for r in [X, RD, RR] {
                let k = EdgeKinds::of(h, r);
                assert_eq!((k.hold(), k.request()), (h, r));
                assert_eq!(k.next_mask(), EdgeKinds::AFTER[r as usize]);
                assert_eq!(k.iter().collect::<Vec<_>>(), vec![k]);
            }
        }
        assert_eq!(
            EdgeKinds::NAMED
                .iter()
                .fold(EdgeKinds::default(), |a, k| a.union(k.0))
                .0,
            0x1ff
        );
    }
}
