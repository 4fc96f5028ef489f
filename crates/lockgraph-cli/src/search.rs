//! The deadlock rule over the class graph: which closed walks can deadlock,
//! and a breadth-first search for the shortest one through a given edge.
//!
//! The rule is the runtime's (`lockgraph-graph`, lockdep's with
//! parking_lot's upgradable reads): a walk of lock-order edges is a
//! deadlock only when it is a *strong path* (at every class, the request of
//! the edge in waits for the hold of the edge out,
//! `lockgraph_graph::Request::waits_for`: a recursive read never waits for
//! a shared or upgradable hold, a plain read never for an upgradable one)
//! and no *gate* lock was held on two of its edges
//! (`lockgraph_graph::gates`). The search runs over states (class, the
//! request it was arrived at with, the gate rule's key), like `lockgraph_graph::Graph::cycle_through`, with the
//! graph crate's two forms of the gate rule (the first edge's gates still
//! common, then, when the walk found holds a gate twice, the gates held so
//! far), but on the compressed graph with dense visit marks, a
//! caller-supplied set of classes it may visit, and a step budget shared by
//! every search of one check.

use std::collections::{HashMap, HashSet};

use lockgraph_graph::gates::{gates_disjoint, shared_gates, Common, Disjoint, GateRule};
use lockgraph_graph::{EdgeKinds, Request};

use crate::graph::ClassGraph;

/// A closed walk: edge `i` runs from `nodes[i]` to `nodes[(i + 1) % len]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Walk {
    /// The classes, starting where the first edge starts.
    pub(crate) nodes: Vec<usize>,
    /// The edges, as indices into the graph's edges.
    pub(crate) edges: Vec<usize>,
    /// `false` when the walk was found ignoring the read-lock and gate rules.
    pub(crate) exact: bool,
}

/// What one search found.
pub(crate) enum Found {
    /// The shortest deadlock-capable walk through the edge within the bound.
    Walk(Walk),
    /// None within the bound.
    Nothing,
    /// The step budget ran out first.
    OverBudget,
}

/// The runtime's strong-path rule for one edge (see
/// [`EdgeKinds::strong_step`]).
fn step_kind(kinds: EdgeKinds, arrived: Request) -> Option<EdgeKinds> {
    kinds.strong_step(arrived)
}

/// A search state: class, the request of the walk's edge into it (which
/// kinds may follow), the gate rule's key (0: the key most states have, no
/// gate left to track).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct State {
    node: u32,
    arrived: Request,
    key: u32,
}

/// Dense states per class: one per request a class can be arrived at with.
const ARRIVALS: usize = 3;

impl State {
    /// The slot in the dense arrays (states whose key is 0).
    fn dense(self) -> usize {
        let arrived = match self.arrived {
            Request::Exclusive => 0,
            Request::Read => 1,
            Request::RecursiveRead => 2,
        };
        self.node as usize * ARRIVALS + arrived
    }
}

/// Where a state was first reached from.
#[derive(Clone, Copy)]
struct Parent {
    state: State,
    edge: u32,
}

const ROOT: u32 = u32::MAX;

/// Searches the class graph; keeps its buffers between searches.
pub(crate) struct Searcher<'g, 'm> {
    g: &'g ClassGraph<'m>,
    /// Visit marks of the dense states (this search's epoch when seen).
    seen: Vec<u32>,
    parent: Vec<Parent>,
    epoch: u32,
    /// States with another key (gates tracked): few, kept in a map.
    keyed: HashMap<State, Parent>,
    layer: Vec<State>,
    next: Vec<State>,
    /// Steps (edges looked at) left for every search of this searcher.
    pub(crate) budget: u64,
    /// The gates found on two or more edges: the only ones the exact gate
    /// search tracks (`lockgraph_graph::gates::shared_gates`); found the
    /// first time that search runs.
    shared: Option<HashSet<u64>>,
}

impl<'g, 'm> Searcher<'g, 'm> {
    /// A searcher over `g` that may take `budget` steps in all.
    pub(crate) fn new(g: &'g ClassGraph<'m>, budget: u64) -> Searcher<'g, 'm> {
        let slots = g.nodes() * ARRIVALS;
        let none = Parent {
            state: State {
                node: ROOT,
                arrived: Request::Exclusive,
                key: 0,
            },
            edge: ROOT,
        };
        Searcher {
            g,
            seen: vec![0; slots],
            parent: vec![none; slots],
            epoch: 0,
            keyed: HashMap::new(),
            layer: Vec::new(),
            next: Vec::new(),
            budget,
            shared: None,
        }
    }

    fn next_epoch(&mut self) -> u32 {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.seen.iter_mut().for_each(|s| *s = 0);
            self.epoch = 1;
        }
        self.keyed.clear();
        self.epoch
    }

    /// Marks `s` reached from `p`; false when it was already reached.
    fn visit(&mut self, s: State, p: Parent, epoch: u32) -> bool {
        if s.key == 0 {
            let i = s.dense();
            if self.seen[i] == epoch {
                return false;
            }
            self.seen[i] = epoch;
            self.parent[i] = p;
            true
        } else {
            match self.keyed.entry(s) {
                std::collections::hash_map::Entry::Occupied(_) => false,
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(p);
                    true
                }
            }
        }
    }

    fn parent_of(&self, s: State) -> Parent {
        if s.key == 0 {
            self.parent[s.dense()]
        } else {
            self.keyed[&s]
        }
    }

    /// The shortest closed walk through edge `e0` (from `u` to `v`) that
    /// can deadlock, of at most `max_len` edges, visiting only classes for
    /// which `inside` is true (`u` and `v` included). With `rules` false the
    /// read-lock and gate rules are ignored (the plain shortest cycle).
    ///
    /// With the rules, the first search carries the first form of the gate
    /// rule ([`Common`]); when the walk it finds holds a gate on two edges,
    /// a second search carries the exact one ([`Disjoint`], tracking the
    /// gates found on two or more edges) with at most half the budget left,
    /// and when that runs out the first walk stands, marked not exact (a
    /// report more, never one fewer).
    pub(crate) fn through(
        &mut self,
        e0: usize,
        max_len: usize,
        inside: &[bool],
        rules: bool,
    ) -> Found {
        let first = self.through_rule(e0, max_len, inside, rules, &mut Common::new());
        let Found::Walk(w) = &first else {
            return first;
        };
        if !rules || gates_disjoint(w.edges.iter().map(|&e| self.g.gates(e))) {
            return first;
        }
        let budget = self.budget;
        self.budget = budget / 2;
        let g = self.g;
        let shared = self
            .shared
            .take()
            .unwrap_or_else(|| shared_gates((0..g.edge_count()).map(|e| g.gates(e))));
        let exact = self.through_rule(e0, max_len, inside, true, &mut Disjoint::new(Some(&shared)));
        self.shared = Some(shared);
        self.budget += budget - budget / 2;
        match (exact, first) {
            (Found::OverBudget, Found::Walk(mut w)) => {
                w.exact = false;
                Found::Walk(w)
            }
            (exact, _) => exact,
        }
    }

    /// [`through`](Self::through) with the gate rule `rule`.
    fn through_rule<R: GateRule<Key = u32>>(
        &mut self,
        e0: usize,
        max_len: usize,
        inside: &[bool],
        rules: bool,
        rule: &mut R,
    ) -> Found {
        if max_len < 2 {
            return Found::Nothing;
        }
        let mut best: Option<Walk> = None;
        let kinds = if rules {
            self.g.kinds(e0)
        } else {
            EdgeKinds::EN
        };
        for k0 in kinds.iter() {
            let limit = best.as_ref().map_or(max_len, |b| b.edges.len() - 1);
            if limit < 2 {
                break;
            }
            match self.through_with(e0, k0, limit, inside, rules, rule) {
                Found::Walk(w) => best = Some(w),
                Found::Nothing => {}
                Found::OverBudget => return Found::OverBudget,
            }
        }
        best.map_or(Found::Nothing, Found::Walk)
    }

    fn through_with<R: GateRule<Key = u32>>(
        &mut self,
        e0: usize,
        k0: EdgeKinds,
        max_len: usize,
        inside: &[bool],
        rules: bool,
        rule: &mut R,
    ) -> Found {
        let g = self.g;
        let (from, to) = (g.source(e0), g.target(e0));
        let start = State {
            node: to as u32,
            // Without the rules, `k0` is EN: every kind follows, and the
            // walk closes.
            arrived: k0.request(),
            key: if rules { rule.start(g.gates(e0)) } else { 0 },
        };
        let accept =
            |rule: &R, s: &State| (!rules || rule.accepts(s.key)) && s.arrived.waits_for(k0.hold());
        let epoch = self.next_epoch();
        let root = Parent {
            state: start,
            edge: ROOT,
        };
        self.visit(start, root, epoch);
        let mut layer = std::mem::take(&mut self.layer);
        let mut next = std::mem::take(&mut self.next);
        layer.clear();
        layer.push(start);
        let mut depth = 0usize;
        let mut result = Found::Nothing;
        'search: while !layer.is_empty() {
            next.clear();
            for &s in &layer {
                if s.node as usize == from {
                    if accept(rule, &s) {
                        result = Found::Walk(self.unwind(e0, s));
                        break 'search;
                    }
                    continue;
                }
                // Another edge makes a walk of at least depth + 2 edges.
                if depth + 2 > max_len {
                    continue;
                }
                let out = g.out(s.node as usize);
                let steps = out.len() as u64;
                if steps >= self.budget {
                    self.budget = 0;
                    result = Found::OverBudget;
                    break 'search;
                }
                self.budget -= steps;
                for e in out {
                    let t = g.target(e);
                    if !inside[t] {
                        continue;
                    }
                    let (arrived, key) = if rules {
                        let Some(used) = step_kind(g.kinds(e), s.arrived) else {
                            continue;
                        };
                        let Some(key) = rule.step(s.key, g.gates(e)) else {
                            continue;
                        };
                        (used.request(), key)
                    } else {
                        (Request::Exclusive, 0)
                    };
                    let n = State {
                        node: t as u32,
                        arrived,
                        key,
                    };
                    let p = Parent {
                        state: s,
                        edge: e as u32,
                    };
                    if self.visit(n, p, epoch) {
                        next.push(n);
                    }
                }
            }
            std::mem::swap(&mut layer, &mut next);
            depth += 1;
        }
        self.layer = layer;
        self.next = next;
        if !rules {
            if let Found::Walk(w) = &mut result {
                w.exact = false;
            }
        }
        result
    }

    /// The walk from the first edge `e0` to state `end` (at `e0`'s source).
    fn unwind(&self, e0: usize, end: State) -> Walk {
        let mut rev_edges = Vec::new();
        let mut s = end;
        loop {
            let p = self.parent_of(s);
            if p.edge == ROOT {
                break;
            }
            rev_edges.push(p.edge as usize);
            s = p.state;
        }
        let mut edges = vec![e0];
        edges.extend(rev_edges.into_iter().rev());
        let nodes = edges.iter().map(|&e| self.g.source(e)).collect();
        Walk {
            nodes,
            edges,
            exact: true,
        }
    }
}

/// Whether the closed walk `edges` (each edge's target the next one's
/// source, the last returning to the first's source) can deadlock: some
/// kind of the first edge starts a strong path around it, and no gate is
/// held on two of its edges.
pub(crate) fn can_deadlock(g: &ClassGraph<'_>, edges: &[usize]) -> bool {
    let Some(&e0) = edges.first() else {
        return false;
    };
    if !gates_disjoint(edges.iter().map(|&e| g.gates(e))) {
        return false;
    }
    'k0: for k0 in g.kinds(e0).iter() {
        let mut arrived = k0.request();
        for &e in &edges[1..] {
            let Some(used) = step_kind(g.kinds(e), arrived) else {
                continue 'k0;
            };
            arrived = used.request();
        }
        if arrived.waits_for(k0.hold()) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_prefers_kinds_that_end_non_recursively() {
        let all = EdgeKinds::EN
            .union(EdgeKinds::ER)
            .union(EdgeKinds::SN)
            .union(EdgeKinds::SR);
        assert_eq!(step_kind(all, Request::Exclusive), Some(EdgeKinds::EN));
        assert_eq!(
            step_kind(EdgeKinds::SR, Request::Exclusive),
            Some(EdgeKinds::SR)
        );
        // After a recursive read only exclusive holds may follow.
        assert_eq!(step_kind(EdgeKinds::SR, Request::RecursiveRead), None);
        assert_eq!(
            step_kind(EdgeKinds::SN.union(EdgeKinds::ER), Request::RecursiveRead),
            Some(EdgeKinds::ER)
        );
        // After a plain read, anything but an upgradable hold.
        assert_eq!(step_kind(EdgeKinds::UN, Request::Read), None);
        assert_eq!(
            step_kind(EdgeKinds::UN.union(EdgeKinds::SP), Request::Read),
            Some(EdgeKinds::SP)
        );
        assert_eq!(
            step_kind(EdgeKinds::UN, Request::Exclusive),
            Some(EdgeKinds::UN)
        );
    }
}
