//! [`Hubs`]: the edges of nodes with many successors, by their two nodes.
//!
//! petgraph finds the edge `a -> b` by walking `a`'s edges, and unlinks an
//! edge into `b` by walking the list of `a`'s edges too. For a lock with a
//! few successors that is the cheapest lookup there is; a lock with
//! thousands of children of its class (a tree's root, a queue's lock over
//! per-request objects) made each acquisition of a child cost microseconds
//! (found by an outside test). So the edges of a node with more than
//! [`DEGREE`] successors are also kept in a table; the others are walked.

use petgraph::stable_graph::StableDiGraph;
use petgraph::visit::EdgeRef;
use petgraph::Direction;

use super::hash::PairMap;
use super::{Edge, EdgeId, NodeId};

/// The most successors a node may have and still be walked.
pub(crate) const DEGREE: u32 = 8;

/// The out-degree of each node, and the edges of those over [`DEGREE`]
/// (exactly those: the table holds no other edge).
#[derive(Default)]
pub(crate) struct Hubs {
    degree: Vec<u32>,
    table: PairMap<EdgeId>,
}

/// The key of the edge `from -> to`.
fn pair(from: NodeId, to: NodeId) -> u64 {
    (from.index() as u64) << 32 | to.index() as u64
}

impl Hubs {
    fn degree(&self, n: NodeId) -> u32 {
        self.degree.get(n.index()).copied().unwrap_or(0)
    }

    fn set_degree(&mut self, n: NodeId, d: u32) {
        if self.degree.len() <= n.index() {
            self.degree.resize(n.index() + 1, 0);
        }
        self.degree[n.index()] = d;
    }

    /// The edge `from -> to` of `g`.
    pub(crate) fn find<N, M>(
        &self,
        g: &StableDiGraph<N, Edge<M>, u32>,
        from: NodeId,
        to: NodeId,
    ) -> Option<EdgeId> {
        if self.degree(from) > DEGREE {
            self.table.get(&pair(from, to)).copied()
        } else {
            g.find_edge(from, to)
        }
    }

    /// `g` gained the edge `e`, `from -> to`.
    pub(crate) fn added<N, M>(
        &mut self,
        g: &StableDiGraph<N, Edge<M>, u32>,
        from: NodeId,
        to: NodeId,
        e: EdgeId,
    ) {
        let d = self.degree(from) + 1;
        self.set_degree(from, d);
        if d == DEGREE + 1 {
            // A hub now: every edge of it in the table.
            for out in g.edges_directed(from, Direction::Outgoing) {
                self.table.insert(pair(from, out.target()), out.id());
            }
        } else if d > DEGREE + 1 {
            self.table.insert(pair(from, to), e);
        }
    }

    /// `node` of `g` and its edges are about to be removed.
    pub(crate) fn removing<N, M>(&mut self, g: &StableDiGraph<N, Edge<M>, u32>, node: NodeId) {
        if self.degree(node) > DEGREE {
            for out in g.edges_directed(node, Direction::Outgoing) {
                self.table.remove(&pair(node, out.target()));
            }
        }
        self.set_degree(node, 0);
        for inc in g.edges_directed(node, Direction::Incoming) {
            let s = inc.source();
            let d = self.degree(s);
            if d > DEGREE {
                self.table.remove(&pair(s, node));
            }
            self.set_degree(s, d.saturating_sub(1));
            if d == DEGREE + 1 {
                // Walked again: its other edges leave the table.
                for out in g.edges_directed(s, Direction::Outgoing) {
                    self.table.remove(&pair(s, out.target()));
                }
            }
        }
    }

    /// How many edges the table holds (for tests).
    #[cfg(test)]
    pub(crate) fn table_len(&self) -> usize {
        self.table.len()
    }
}
