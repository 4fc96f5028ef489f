//! Lock-order graph algorithms for lockgraph.
//!
//! A [`Graph`] holds lock-order edges "holding A, then asked for B". Each edge
//! remembers which dependency kinds it was seen with ([`EdgeKinds`]:
//! lockdep's four, with an upgradable read a hold of its own and a plain
//! read a request of its own) and the *gate locks* that were held every time it
//! was recorded. [`Graph::add_edge`] adds or widens an edge and, when that changed
//! anything, looks for the shortest cycle through it that can really deadlock:
//!
//! * **strong paths** (lockdep's rule for read locks, with parking_lot's
//!   upgradable reads): a cycle is only a deadlock when at every lock on it
//!   the request of the edge in waits for the hold of the edge out
//!   ([`Request::waits_for`]): a *recursive read* never waits for a *shared*
//!   or *upgradable* hold, and a *plain read* never waits for an
//!   *upgradable* one (no writer can queue reads while it is held);
//! * **gate locks** (the GoodLock idea): a lock held at every recording of
//!   two of the cycle's edges, in modes that exclude each other (a write and
//!   anything; two upgradable reads), serialises the two threads that would
//!   take them, and the cycle cannot deadlock ([`gates`]).
//!
//! The crate is pure: no globals, no threads, no unsafe code. Callers decide what
//! a node is (a lock instance, a lock class, a CUDA stream) and what metadata an
//! edge carries.
//!
//! ```
//! use lockgraph_graph::{Graph, Hold, Request};
//!
//! let mut g: Graph<&str, ()> = Graph::new();
//! let a = g.add_node("a");
//! let b = g.add_node("b");
//! // One thread takes a then b ...
//! assert!(g.add_edge(a, b, Hold::Exclusive, Request::Exclusive, &[], || ()).cycle.is_none());
//! // ... another takes b then a: the new edge closes a cycle.
//! let rec = g.add_edge(b, a, Hold::Exclusive, Request::Exclusive, &[], || ());
//! let cycle = rec.cycle.expect("ABBA is a cycle");
//! assert_eq!(cycle.nodes, vec![b, a]);
//! ```
#![forbid(unsafe_code)]

use petgraph::stable_graph::{EdgeIndex, NodeIndex, StableDiGraph};
use petgraph::visit::{EdgeRef, IntoEdgeReferences, NodeIndexable};
use petgraph::Direction;

use hash::FastMap;
pub use hash::{FastBuildHasher, FastHasher};
use hubs::Hubs;
pub use kinds::{EdgeKinds, Hold, Request};
use path::Walk;

/// A node of the graph.
pub type NodeId = NodeIndex<u32>;

/// An edge of the graph, as [`Graph::add_edge`] hands it back: valid until
/// the edge or one of its nodes is removed.
pub type EdgeId = EdgeIndex<u32>;

/// One edge of the graph.
#[derive(Clone, Debug)]
pub struct Edge<M> {
    kinds: EdgeKinds,
    /// Sorted; a boxed slice (two words, no spare capacity): most edges
    /// have none, and a big graph keeps one per edge.
    gates: Box<[u64]>,
    /// The caller's data, made when the edge was first recorded.
    pub meta: M,
}

impl<M> Edge<M> {
    /// Every kind this edge was recorded with.
    pub fn kinds(&self) -> EdgeKinds {
        self.kinds
    }

    /// The gate locks held at every recording of this edge, each in the
    /// weakest mode it was held in ([`gates`]; sorted).
    pub fn gates(&self) -> &[u64] {
        &self.gates
    }
}

/// What [`Graph::add_edge`] did to the edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The edge already had this kind and no gate was lost: nothing to check.
    None,
    /// A new edge.
    Added,
    /// An existing edge gained a kind or lost a gate.
    Widened,
}

/// The result of [`Graph::add_edge`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EdgeAdded {
    /// What happened to the edge.
    pub change: Change,
    /// The edge recorded (`None` for a self edge or an unknown node, which
    /// are never stored): [`Graph::edge_at`] reaches it without a lookup.
    pub edge: Option<EdgeId>,
    /// The shortest deadlock-capable cycle through the edge, if one exists.
    pub cycle: Option<Cycle>,
}

/// A cycle through a recorded edge `from -> to`.
///
/// `nodes[0]` is `from`, `nodes[1]` is `to`; edge `i` runs from `nodes[i]` to
/// `nodes[(i + 1) % len]`, so the last edge returns to `from`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cycle {
    /// The nodes in cycle order, starting at the new edge.
    pub nodes: Vec<NodeId>,
    /// For every edge, the kind that makes the cycle a strong path.
    pub kinds: Vec<EdgeKinds>,
    /// Every edge, in cycle order ([`Graph::edge_at`] reads it without a
    /// lookup): the search walked them, and a caller reading each edge of a
    /// long cycle would otherwise look each up by its two nodes.
    pub edges: Vec<EdgeId>,
    /// `false` when a search ran out of its state budget: the cycle was
    /// found ignoring the read-lock and gate rules, or obeys only the gate
    /// rule's first form (no gate common to all its edges) while a gate is
    /// held on two of them ([`gates`]). Reported to be safe.
    pub exact: bool,
}

impl Cycle {
    /// The number of edges (and nodes) in the cycle.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a cycle has at least one edge.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// At most this many search states are explored for one cycle check before the
/// search falls back to ignoring the read and gate rules.
pub const STATE_BUDGET: usize = 1 << 20;

/// At most this many states are explored by the gate rule's exact search
/// ([`gates`]), which runs only when the first search's cycle holds a gate
/// on two edges; past it, that cycle is reported, marked not exact. It is
/// smaller than [`STATE_BUDGET`]: the search runs under the caller's graph
/// lock, and its states multiply with the gate sets a walk can hold.
pub const EXACT_GATES_BUDGET: usize = 1 << 16;

pub use gates::MAX_TRACKED_GATES;

/// A directed lock-order graph with lockdep's edge kinds and gate locks.
pub struct Graph<N, M> {
    g: StableDiGraph<N, Edge<M>, u32>,
    /// The edges of nodes with many successors, by their two nodes
    /// ([`Hubs`]); the others are found by walking.
    hubs: Hubs,
    fwd: Vec<u32>,
    bwd: Vec<u32>,
    /// Per node reached by a search, the edge it was reached by (forward
    /// and backward): a path is read back edge by edge, without lookups.
    fpar: Vec<u32>,
    bpar: Vec<u32>,
    fdep: Vec<u32>,
    bdep: Vec<u32>,
    epoch: u32,
    /// A topological order of the nodes (by node index), kept while the
    /// graph has no cycle at all (kinds and gates ignored): a new edge
    /// `from -> to` with `ord[from] < ord[to]` closes no cycle, so it needs
    /// no search (see [`Graph::add_edge`]).
    ord: Vec<u64>,
    /// The rank a node put last gets next, and the last rank a node put
    /// first got (they start in the middle of the range).
    next_ord: u64,
    first_ord: u64,
    /// Whether `ord` is a topological order: false for good once an edge
    /// closed a cycle (deadlock-capable or not: a gated or read-only cycle
    /// has no order either), and every new edge is searched from then on.
    ordered: bool,
    /// The shortest path `to ->* from` the order's walk found when the new
    /// edge `from -> to` (the first two) gave the order up: its cycle
    /// search starts from it instead of searching again.
    found_path: Option<(NodeId, NodeId, Walk)>,
}

impl<N, M> Default for Graph<N, M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<N, M> Graph<N, M> {
    /// An empty graph.
    pub fn new() -> Self {
        Graph {
            g: StableDiGraph::default(),
            hubs: Hubs::default(),
            fwd: Vec::new(),
            bwd: Vec::new(),
            fpar: Vec::new(),
            bpar: Vec::new(),
            fdep: Vec::new(),
            bdep: Vec::new(),
            epoch: 0,
            ord: Vec::new(),
            next_ord: 1 << 62,
            first_ord: 1 << 62,
            ordered: true,
            found_path: None,
        }
    }

    /// Adds a node.
    pub fn add_node(&mut self, weight: N) -> NodeId {
        let n = self.g.add_node(weight);
        // A node without edges may go anywhere in the order: last.
        if self.ord.len() <= n.index() {
            self.ord.resize(n.index() + 1, 0);
        }
        self.ord[n.index()] = self.next_ord;
        self.next_ord += 1;
        n
    }

    /// Removes a node and every edge touching it.
    pub fn remove_node(&mut self, node: NodeId) -> Option<N> {
        self.found_path = None;
        self.hubs.removing(&self.g, node);
        self.g.remove_node(node)
    }

    /// The edge `from -> to`.
    pub(crate) fn find_edge(&self, from: NodeId, to: NodeId) -> Option<EdgeId> {
        self.hubs.find(&self.g, from, to)
    }

    /// The weight of a node.
    pub fn node(&self, node: NodeId) -> Option<&N> {
        self.g.node_weight(node)
    }

    /// The number of nodes.
    pub fn node_count(&self) -> usize {
        self.g.node_count()
    }

    /// The number of edges.
    pub fn edge_count(&self) -> usize {
        self.g.edge_count()
    }

    /// The edge `from -> to`, if recorded.
    pub fn edge(&self, from: NodeId, to: NodeId) -> Option<&Edge<M>> {
        self.find_edge(from, to).and_then(|e| self.g.edge_weight(e))
    }

    /// The edge `from -> to`, mutably (to update its metadata).
    pub fn edge_mut(&mut self, from: NodeId, to: NodeId) -> Option<&mut Edge<M>> {
        self.find_edge(from, to)
            .and_then(|e| self.g.edge_weight_mut(e))
    }

    /// The edge `id` (from [`EdgeAdded::edge`]), without a lookup.
    pub fn edge_at(&self, id: EdgeId) -> Option<&Edge<M>> {
        self.g.edge_weight(id)
    }

    /// The edge `id`, mutably.
    pub fn edge_at_mut(&mut self, id: EdgeId) -> Option<&mut Edge<M>> {
        self.g.edge_weight_mut(id)
    }

    /// Every edge as `(from, to, edge)`.
    pub fn edges(&self) -> impl Iterator<Item = (NodeId, NodeId, &Edge<M>)> {
        self.g
            .edge_references()
            .map(|e| (e.source(), e.target(), e.weight()))
    }

    /// The edges leaving `node`, as `(to, edge)`.
    pub fn successors(&self, node: NodeId) -> impl Iterator<Item = (NodeId, &Edge<M>)> {
        self.g
            .edges_directed(node, Direction::Outgoing)
            .map(|e| (e.target(), e.weight()))
    }

    /// Records one acquisition "holding `from` (held as `hold`), request `to` (as
    /// `request`)" made while the locks in `gates` were held, each in its
    /// mode ([`gates::gate`]).
    ///
    /// The edge is created on first sight with `meta()`; later recordings add
    /// their kind and intersect the gate set. When the edge changed, the
    /// shortest cycle through it that can deadlock is returned. A self edge
    /// (`from == to`) is never stored: re-acquiring a held lock is the caller's
    /// check, not a graph property.
    pub fn add_edge(
        &mut self,
        from: NodeId,
        to: NodeId,
        hold: Hold,
        request: Request,
        gates: &[u64],
        meta: impl FnOnce() -> M,
    ) -> EdgeAdded {
        let (change, edge) = self.insert_edge(from, to, EdgeKinds::of(hold, request), gates, meta);
        let cycle = match (change, edge) {
            (Change::None, _) | (_, None) => None,
            (_, Some(e)) => self.cycle_through_edge(e, from, to),
        };
        EdgeAdded {
            change,
            edge,
            cycle,
        }
    }

    /// Adds or widens the edge `from -> to` (see [`Graph::insert`]); the
    /// change and the edge's handle.
    pub(crate) fn insert_edge(
        &mut self,
        from: NodeId,
        to: NodeId,
        kinds: EdgeKinds,
        gates: &[u64],
        meta: impl FnOnce() -> M,
    ) -> (Change, Option<EdgeId>) {
        self.found_path = None;
        if from == to
            || kinds.is_empty()
            || self.g.node_weight(from).is_none()
            || self.g.node_weight(to).is_none()
        {
            return (Change::None, None);
        }
        match self.find_edge(from, to) {
            None => {
                let gates: Box<[u64]> = if gates.is_empty() {
                    Box::default()
                } else {
                    let mut gates = gates.to_vec();
                    gates.sort_unstable();
                    gates.dedup();
                    gates.into_boxed_slice()
                };
                let e = self.g.add_edge(
                    from,
                    to,
                    Edge {
                        kinds,
                        gates,
                        meta: meta(),
                    },
                );
                self.hubs.added(&self.g, from, to, e);
                self.keep_order(from, to);
                (Change::Added, Some(e))
            }
            Some(e) => {
                let edge = &mut self.g[e];
                let kinds_before = edge.kinds;
                edge.kinds = edge.kinds.union(kinds);
                // A gate lost, or held in a weaker mode than before.
                let mut lost_gate = false;
                if edge.gates.iter().any(|g| !gates.contains(g)) {
                    let kept = gates::intersect(&edge.gates, gates);
                    lost_gate = kept[..] != edge.gates[..];
                    edge.gates = kept.into_boxed_slice();
                }
                let change = if kinds_before == edge.kinds && !lost_gate {
                    Change::None
                } else {
                    Change::Widened
                };
                (change, Some(e))
            }
        }
    }

    fn next_epoch(&mut self) -> u32 {
        let bound = self.g.node_bound();
        if self.fwd.len() < bound {
            self.fwd.resize(bound, 0);
            self.bwd.resize(bound, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.fwd.iter_mut().for_each(|m| *m = 0);
            self.bwd.iter_mut().for_each(|m| *m = 0);
            self.epoch = 1;
        }
        self.epoch
    }

    /// The edges of the cycle `nodes` (edge i from `nodes[i]` to the next,
    /// wrapping), looked up by their nodes.
    fn edges_along(&self, nodes: &[NodeId]) -> Vec<EdgeId> {
        (0..nodes.len())
            .map(|i| {
                let (a, b) = (nodes[i], nodes[(i + 1) % nodes.len()]);
                self.find_edge(a, b).unwrap_or_else(EdgeIndex::end)
            })
            .collect()
    }
}

mod components;
pub mod gates;
mod hash;
mod hubs;
mod kinds;
mod order;
mod path;
mod search;
pub mod vclock;
pub mod waitfor;

#[cfg(test)]
mod tests;
