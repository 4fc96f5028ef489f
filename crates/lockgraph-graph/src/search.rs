//! The cycle search through one edge: the strong-path rule for read locks
//! and the gate rule's two forms ([`crate::gates`]), over breadth-first
//! search states; the plain shortest cycle when a search runs out of its
//! budget.

use std::collections::VecDeque;

use petgraph::visit::EdgeRef;
use petgraph::Direction;

use crate::gates::{self, GateRule};
use crate::{
    Cycle, EdgeId, EdgeKinds, FastMap, Graph, NodeId, Request, EXACT_GATES_BUDGET, STATE_BUDGET,
};

/// Where a strong-path search may go: cycles of at most `max_len` edges,
/// only the nodes marked in `inside` (when given), at most `budget` states.
#[derive(Clone, Copy)]
pub(crate) struct Bounds<'a> {
    pub(crate) max_len: usize,
    pub(crate) inside: Option<&'a [bool]>,
    pub(crate) budget: usize,
}

impl<N, M> Graph<N, M> {
    /// The shortest deadlock-capable cycle through the existing edge `from -> to`.
    pub fn cycle_through(&mut self, from: NodeId, to: NodeId) -> Option<Cycle> {
        let e = self.find_edge(from, to)?;
        self.cycle_through_edge(e, from, to)
    }

    /// [`cycle_through`](Self::cycle_through) for the edge `e`, `from -> to`.
    pub(crate) fn cycle_through_edge(
        &mut self,
        e: EdgeId,
        from: NodeId,
        to: NodeId,
    ) -> Option<Cycle> {
        if self.in_order(from, to) {
            // Consistent with a topological order of a graph without a
            // cycle: none goes through it.
            return None;
        }
        let edge = self.g.edge_weight(e)?;
        let (kinds, gates) = (edge.kinds, edge.gates.clone());
        let path = match self.found_path.take() {
            Some((f, t, path)) if (f, t) == (from, to) => path,
            _ => self.shortest_walk(to, from)?,
        };
        // The plain shortest walk is the answer whenever it obeys the rules
        // (no valid cycle can be shorter); only otherwise search the states.
        let mut nodes = Vec::with_capacity(path.nodes.len());
        nodes.push(from);
        nodes.extend_from_slice(&path.nodes[..path.nodes.len() - 1]);
        let mut edges = Vec::with_capacity(path.nodes.len());
        edges.push(e);
        edges.extend_from_slice(&path.edges);
        if let Some(c) = self.check_walk(nodes, edges, kinds) {
            return Some(c);
        }
        match self.constrained_cycle(from, to, kinds, &gates, usize::MAX, None) {
            Search::Found(c) => Some(c),
            Search::NotFound => None,
            Search::OverBudget => self.unconstrained_cycle(from, to, kinds),
        }
    }

    /// The shortest deadlock-capable cycle through `from -> to` (of kinds
    /// `kinds`, gates `gates`) of at most `max_len` edges, never leaving the
    /// nodes marked in `inside` (when given): the strong-path search with
    /// the first form of the gate rule ([`gates::Common`]), and, when the
    /// walk it finds holds a gate on two edges, again with the exact one
    /// ([`gates::Disjoint`], tracking the gates found on two or more edges,
    /// [`EXACT_GATES_BUDGET`] states); past that search's budget, the first
    /// walk, marked not exact ([`gates`]). `OverBudget` only when the first
    /// search ran out.
    pub(crate) fn constrained_cycle(
        &self,
        from: NodeId,
        to: NodeId,
        kinds: EdgeKinds,
        gates: &[u64],
        max_len: usize,
        inside: Option<&[bool]>,
    ) -> Search {
        let bounds = Bounds {
            max_len,
            inside,
            budget: STATE_BUDGET,
        };
        let mut first = match self.shortest_over_kinds(
            from,
            to,
            kinds,
            gates,
            bounds,
            &mut gates::Common::new(),
        ) {
            Search::Found(c) => c,
            other => return other,
        };
        if self.gates_disjoint(&first.edges) {
            return Search::Found(first);
        }
        let shared = gates::shared_gates(self.g.edge_weights().map(|w| &w.gates[..]));
        let bounds = Bounds {
            budget: EXACT_GATES_BUDGET,
            ..bounds
        };
        let mut exact = gates::Disjoint::new(Some(&shared));
        match self.shortest_over_kinds(from, to, kinds, gates, bounds, &mut exact) {
            Search::OverBudget => {
                first.exact = false;
                Search::Found(first)
            }
            found => found,
        }
    }

    /// [`strong_path`](Self::strong_path) for each kind of the first edge:
    /// the shortest cycle found.
    fn shortest_over_kinds<R: GateRule>(
        &self,
        from: NodeId,
        to: NodeId,
        kinds: EdgeKinds,
        gates: &[u64],
        bounds: Bounds<'_>,
        rule: &mut R,
    ) -> Search {
        let mut best: Option<Cycle> = None;
        for k0 in kinds.iter() {
            let limit = best.as_ref().map_or(bounds.max_len, |b| b.len() - 1);
            if limit < 2 {
                break;
            }
            let bounds = Bounds {
                max_len: limit,
                ..bounds
            };
            match self.strong_path(from, to, k0, gates, bounds, rule) {
                Search::Found(c) => best = Some(c),
                Search::NotFound => {}
                Search::OverBudget => return Search::OverBudget,
            }
        }
        best.map_or(Search::NotFound, Search::Found)
    }

    /// Whether no gate is held on two of the edges `edges` (the gate rule,
    /// exactly: [`gates::gates_disjoint`]).
    fn gates_disjoint(&self, edges: &[EdgeId]) -> bool {
        gates::gates_disjoint(
            edges
                .iter()
                .map(|&e| self.g.edge_weight(e).map_or(&[][..], |w| &w.gates[..])),
        )
    }

    /// The cycle `nodes` (edge i, `edges[i]`, from `nodes[i]` to the next,
    /// wrapping) with kinds chosen to obey the strong-path rule, if it does
    /// and no gate is held on two of its edges.
    fn check_walk(
        &self,
        nodes: Vec<NodeId>,
        edges: Vec<EdgeId>,
        kinds: EdgeKinds,
    ) -> Option<Cycle> {
        if !self.gates_disjoint(&edges) {
            return None;
        }
        'k0: for k0 in kinds.iter() {
            // The kinds the walk may take next (`strong_step` with the
            // request arrived with, kept as its mask).
            let mut next = k0.next_mask();
            let mut used_kinds = Vec::with_capacity(nodes.len());
            used_kinds.push(k0);
            for &e in &edges[1..] {
                let w = self.g.edge_weight(e)?;
                let Some(used) = w.kinds.step_within(next) else {
                    continue 'k0;
                };
                next = used.next_mask();
                used_kinds.push(used);
            }
            if k0.step_within(next).is_some() {
                return Some(Cycle {
                    nodes,
                    kinds: used_kinds,
                    edges,
                    exact: true,
                });
            }
        }
        None
    }

    /// The strong-path search: a breadth-first search from `to` back to
    /// `from` over (node, the request it was arrived at with, `rule`'s key
    /// of the gates) states, the first edge `from -> to` having kind `k0` and the
    /// gates `gates`, within `bounds`: it stops at paths that would make
    /// the cycle longer than `max_len` edges and never leaves the nodes
    /// marked in `inside` (when given). The shortest cycle within the bound
    /// that obeys the read rule and `rule` is found; past `budget` states it
    /// gives up (`Search::OverBudget`).
    pub(crate) fn strong_path<R: GateRule>(
        &self,
        from: NodeId,
        to: NodeId,
        k0: EdgeKinds,
        gates: &[u64],
        bounds: Bounds<'_>,
        rule: &mut R,
    ) -> Search {
        let Bounds {
            max_len,
            inside,
            budget,
        } = bounds;
        let start = State {
            node: to,
            arrived: k0.request(),
            key: rule.start(gates),
        };
        let accept =
            |rule: &R, s: &State<R::Key>| rule.accepts(s.key) && s.arrived.waits_for(k0.hold());
        let mut parent: Parents<R::Key> = FastMap::default();
        // (state, edges from `to` to the state's node)
        let mut queue = VecDeque::from([(start, 0usize)]);
        parent.insert(start, (start, k0));
        while let Some((s, depth)) = queue.pop_front() {
            if s.node == from {
                if accept(rule, &s) {
                    return Search::Found(self.unwind(&parent, start, s, from, k0));
                }
                continue;
            }
            // Another edge makes a cycle of at least depth + 2 edges.
            if depth + 2 > max_len {
                continue;
            }
            for e in self.g.edges_directed(s.node, Direction::Outgoing) {
                let target = e.target();
                if let Some(inside) = inside {
                    if !inside.get(target.index()).copied().unwrap_or(false) {
                        continue;
                    }
                }
                let Some(used) = e.weight().kinds.strong_step(s.arrived) else {
                    continue;
                };
                let Some(key) = rule.step(s.key, &e.weight().gates) else {
                    continue;
                };
                let next = State {
                    node: target,
                    arrived: used.request(),
                    key,
                };
                if let std::collections::hash_map::Entry::Vacant(v) = parent.entry(next) {
                    v.insert((s, used));
                    queue.push_back((next, depth + 1));
                }
            }
            if parent.len() > budget {
                return Search::OverBudget;
            }
        }
        Search::NotFound
    }

    fn unwind<K: Copy + Eq + std::hash::Hash>(
        &self,
        parent: &Parents<K>,
        start: State<K>,
        end: State<K>,
        from: NodeId,
        k0: EdgeKinds,
    ) -> Cycle {
        // Walk back from `from` to `to`, collecting nodes and the kinds used.
        let mut rev_nodes = Vec::new();
        let mut rev_kinds = Vec::new();
        let mut s = end;
        while s != start {
            let (p, k) = parent[&s];
            rev_kinds.push(k);
            rev_nodes.push(p.node);
            s = p;
        }
        let mut nodes = vec![from];
        nodes.extend(rev_nodes.into_iter().rev());
        let mut kinds = vec![k0];
        kinds.extend(rev_kinds.into_iter().rev());
        Cycle {
            edges: self.edges_along(&nodes),
            nodes,
            kinds,
            exact: true,
        }
    }

    /// The plain shortest cycle through `from -> to`, ignoring kinds and gates.
    pub(crate) fn unconstrained_cycle(
        &self,
        from: NodeId,
        to: NodeId,
        k0s: EdgeKinds,
    ) -> Option<Cycle> {
        let mut parent: FastMap<NodeId, NodeId> = FastMap::default();
        let mut queue = VecDeque::from([to]);
        parent.insert(to, to);
        while let Some(n) = queue.pop_front() {
            if n == from {
                let mut rev = Vec::new();
                let mut cur = from;
                while cur != to {
                    cur = parent[&cur];
                    rev.push(cur);
                }
                let mut nodes = vec![from];
                nodes.extend(rev.into_iter().rev());
                let mut kinds = vec![k0s];
                for (i, &a) in nodes.iter().enumerate().skip(1) {
                    let b = nodes[(i + 1) % nodes.len()];
                    kinds.push(self.edge(a, b).map_or(EdgeKinds::EN, |e| e.kinds));
                }
                return Some(Cycle {
                    edges: self.edges_along(&nodes),
                    nodes,
                    kinds,
                    exact: false,
                });
            }
            for m in self.g.neighbors_directed(n, Direction::Outgoing) {
                parent.entry(m).or_insert_with(|| {
                    queue.push_back(m);
                    n
                });
            }
        }
        None
    }
}

/// Per state of a strong-path search, the state it was reached from and
/// the kind of the edge taken.
type Parents<K> = FastMap<State<K>, (State<K>, EdgeKinds)>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct State<K> {
    node: NodeId,
    /// The request of the walk's edge into `node`: which kinds may follow.
    arrived: Request,
    key: K,
}

pub(crate) enum Search {
    Found(Cycle),
    NotFound,
    OverBudget,
}
