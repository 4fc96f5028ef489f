//! Whole-graph analysis for offline checkers: insertion without the cycle
//! search, strongly connected components, and the shortest deadlock-capable
//! cycle inside a component.
//!
//! The runtime searches for a cycle each time an edge is added. A checker that
//! merges many recordings first builds the whole graph with [`Graph::insert`]
//! and then looks at each cyclic component once, with the same strong-path and
//! gate-lock rules as [`Graph::cycle_through`].

use petgraph::visit::{EdgeRef, NodeIndexable};
use petgraph::Direction;

use crate::search::Search;
use crate::{Change, Cycle, EdgeKinds, Graph, NodeId};

impl<N, M> Graph<N, M> {
    /// Adds or widens the edge `from -> to` with every kind in `kinds` and the
    /// gate locks `gates`, without looking for a cycle.
    ///
    /// Like [`Graph::add_edge`], a new edge gets `meta()` and a sorted copy of
    /// `gates`; an existing edge gains the kinds and keeps only the gates also
    /// in `gates`, each in the weaker of its two modes
    /// ([`gates::intersect`](crate::gates::intersect)). Self edges, unknown
    /// nodes and an empty `kinds` change nothing.
    pub fn insert(
        &mut self,
        from: NodeId,
        to: NodeId,
        kinds: EdgeKinds,
        gates: &[u64],
        meta: impl FnOnce() -> M,
    ) -> Change {
        self.insert_edge(from, to, kinds, gates, meta).0
    }

    /// The strongly connected components that contain a cycle (ignoring kinds
    /// and gates), each sorted by node index, ordered by their first node.
    ///
    /// Since self edges are never stored, these are the components of two or
    /// more nodes. Every cycle of the graph lies inside one of them.
    pub fn cyclic_components(&self) -> Vec<Vec<NodeId>> {
        let mut comps: Vec<Vec<NodeId>> = petgraph::algo::tarjan_scc(&self.g)
            .into_iter()
            .filter(|c| c.len() > 1)
            .map(|mut c| {
                c.sort_unstable();
                c
            })
            .collect();
        comps.sort_unstable_by_key(|c| c[0]);
        comps
    }

    /// The shortest deadlock-capable cycle through the existing edge
    /// `from -> to` that has at most `max_len` edges.
    ///
    /// With `max_len == usize::MAX` this finds the cycle
    /// [`Graph::cycle_through`] finds, up to ties between equally short ones.
    pub fn cycle_through_within(
        &mut self,
        from: NodeId,
        to: NodeId,
        max_len: usize,
    ) -> Option<Cycle> {
        self.bounded_cycle(from, to, max_len, None)
    }

    /// The shortest deadlock-capable cycle made of edges between the nodes of
    /// `component` (normally one of [`Graph::cyclic_components`]).
    ///
    /// `nodes[0]` of the result is the start of the first edge, in node-index
    /// order, through which a cycle of that length exists. `None` when every
    /// cycle there is broken by the read-lock rule or by a gate lock.
    pub fn shortest_cycle_in(&mut self, component: &[NodeId]) -> Option<Cycle> {
        let bound = self.g.node_bound();
        let mut inside = vec![false; bound];
        for n in component {
            if let Some(slot) = inside.get_mut(n.index()) {
                *slot = self.g.node_weight(*n).is_some();
            }
        }
        let mut edges: Vec<(NodeId, NodeId)> = Vec::new();
        for &n in component {
            if !inside.get(n.index()).copied().unwrap_or(false) {
                continue;
            }
            for e in self.g.edges_directed(n, Direction::Outgoing) {
                if inside[e.target().index()] {
                    edges.push((n, e.target()));
                }
            }
        }
        edges.sort_unstable();
        edges.dedup();
        // Two locks taken in both orders are the common case and the
        // shortest possible cycle: look for those first, cheaply.
        for &(a, b) in &edges {
            if self.find_edge(b, a).is_some() {
                if let Some(c) = self.bounded_cycle(a, b, 2, Some(&inside)) {
                    return Some(c);
                }
            }
        }
        let mut best: Option<Cycle> = None;
        for &(a, b) in &edges {
            let limit = best.as_ref().map_or(usize::MAX, |c| c.len() - 1);
            if limit < 3 {
                break;
            }
            if let Some(c) = self.bounded_cycle(a, b, limit, Some(&inside)) {
                best = Some(c);
            }
        }
        best
    }

    /// [`Graph::cycle_through`] with a length bound and an optional node filter.
    fn bounded_cycle(
        &mut self,
        from: NodeId,
        to: NodeId,
        max_len: usize,
        inside: Option<&[bool]>,
    ) -> Option<Cycle> {
        if max_len < 2 {
            return None;
        }
        let edge = self.edge(from, to)?;
        let (kinds, gates) = (edge.kinds, edge.gates.clone());
        match self.constrained_cycle(from, to, kinds, &gates, max_len, inside) {
            Search::Found(c) => Some(c),
            Search::NotFound => None,
            Search::OverBudget => self
                .unconstrained_cycle(from, to, kinds)
                .filter(|c| c.len() <= max_len),
        }
    }
}
