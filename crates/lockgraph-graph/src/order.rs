//! The dynamic topological order a [`Graph`] keeps while it has no cycle
//! (Pearce and Kelly): a new edge that follows it needs no cycle search.

use petgraph::visit::EdgeRef;
use petgraph::Direction;

use crate::{Graph, NodeId};

impl<N, M> Graph<N, M> {
    /// Whether the new edge `from -> to` keeps the order (or the order was
    /// given up): restores it when it points against it (the dynamic
    /// topological order of Pearce and Kelly: only the nodes between the two
    /// ends in the order are visited and renumbered), or gives it up when
    /// the edge closed a cycle.
    pub(crate) fn keep_order(&mut self, from: NodeId, to: NodeId) {
        let (lb, ub) = (self.ord[to.index()], self.ord[from.index()]);
        if !self.ordered || ub < lb {
            return;
        }
        // A tail with no edge in may go first, a head with no edge out
        // last: a fresh lock taken before or after the rest costs nothing.
        if self
            .g
            .neighbors_directed(from, Direction::Incoming)
            .next()
            .is_none()
        {
            self.first_ord -= 1;
            self.ord[from.index()] = self.first_ord;
            return;
        }
        if self
            .g
            .neighbors_directed(to, Direction::Outgoing)
            .next()
            .is_none()
        {
            self.ord[to.index()] = self.next_ord;
            self.next_ord += 1;
            return;
        }
        // Forward from `to`, among the nodes before `from` in the order,
        // breadth first; visited nodes are marked with the search's epoch
        // (`fwd`, `bwd`), not kept in a set: a long chain visits thousands.
        let epoch = self.next_epoch();
        if self.fpar.len() < self.fwd.len() {
            self.fpar.resize(self.fwd.len(), 0);
        }
        let mut fwd_set = vec![to];
        self.fwd[to.index()] = epoch;
        let mut next = 0;
        while let Some(&n) = fwd_set.get(next) {
            next += 1;
            for e in self.g.edges_directed(n, Direction::Outgoing) {
                let m = e.target();
                if m == from {
                    // A cycle: no order any more. Every path from `to` to
                    // `from` runs among the nodes before `from` in the
                    // order, so this breadth-first walk found a shortest
                    // one: kept for the cycle search of this edge.
                    self.ordered = false;
                    let mut path = self.walk_back(&self.fpar, to, n, 0);
                    path.nodes.push(from);
                    path.edges.push(e.id());
                    self.found_path = Some((from, to, path));
                    return;
                }
                if self.ord[m.index()] < ub && self.fwd[m.index()] != epoch {
                    self.fwd[m.index()] = epoch;
                    self.fpar[m.index()] = e.id().index() as u32;
                    fwd_set.push(m);
                }
            }
        }
        let mut stack = Vec::new();
        // Backward from `from`, among the nodes after `to` in the order.
        let mut bwd_set = Vec::new();
        stack.push(from);
        self.bwd[from.index()] = epoch;
        while let Some(n) = stack.pop() {
            bwd_set.push(n);
            for m in self.g.neighbors_directed(n, Direction::Incoming) {
                if self.ord[m.index()] > lb && self.bwd[m.index()] != epoch {
                    self.bwd[m.index()] = epoch;
                    stack.push(m);
                }
            }
        }
        // The ranks they held, handed out again: `from`'s side first.
        let by_ord = |v: &mut Vec<NodeId>, ord: &[u64]| v.sort_unstable_by_key(|n| ord[n.index()]);
        by_ord(&mut fwd_set, &self.ord);
        by_ord(&mut bwd_set, &self.ord);
        let mut ranks: Vec<u64> = bwd_set
            .iter()
            .chain(&fwd_set)
            .map(|n| self.ord[n.index()])
            .collect();
        ranks.sort_unstable();
        for (n, r) in bwd_set.iter().chain(&fwd_set).zip(ranks) {
            self.ord[n.index()] = r;
        }
    }

    /// Whether the graph can tell, without a search, that the edge
    /// `from -> to` (recorded) lies on no cycle.
    pub(crate) fn in_order(&self, from: NodeId, to: NodeId) -> bool {
        self.ordered && self.ord[from.index()] < self.ord[to.index()]
    }
}
