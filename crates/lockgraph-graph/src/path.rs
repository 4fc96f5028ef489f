//! Shortest paths ignoring kinds and gates: the bidirectional breadth-first
//! search, and a path read back from the search's marks.

use petgraph::stable_graph::{EdgeIndex, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

use crate::{EdgeId, Graph, NodeId};

impl<N, M> Graph<N, M> {
    /// Whether `target` is reachable from `start`, ignoring kinds and gates.
    pub fn reachable(&mut self, start: NodeId, target: NodeId) -> bool {
        self.shortest_path(start, target).is_some()
    }

    /// The shortest path `start ->* target` ignoring kinds and gates, as the
    /// nodes from `start` to `target` inclusive.
    ///
    /// A bidirectional breadth-first search that grows, a whole layer at a
    /// time, the side that has done less work so far: an edge that merely
    /// points "against" a long chain (a new lock in front of it, say) costs
    /// what the short side costs.
    pub fn shortest_path(&mut self, start: NodeId, target: NodeId) -> Option<Vec<NodeId>> {
        self.shortest_walk(start, target).map(|w| w.nodes)
    }

    /// [`shortest_path`](Self::shortest_path) with the edges it takes.
    pub(crate) fn shortest_walk(&mut self, start: NodeId, target: NodeId) -> Option<Walk> {
        if start == target {
            return Some(Walk {
                nodes: vec![start],
                edges: Vec::new(),
            });
        }
        // No edge leaves `start` or none enters `target` (a lock taken for
        // the first time, a fresh instance): nothing to search, and nothing
        // allocated. This is the common case of a new edge.
        if self
            .g
            .neighbors_directed(start, Direction::Outgoing)
            .next()
            .is_none()
            || self
                .g
                .neighbors_directed(target, Direction::Incoming)
                .next()
                .is_none()
        {
            return None;
        }
        let epoch = self.next_epoch();
        let bound = self.fwd.len();
        for v in [
            &mut self.fpar,
            &mut self.bpar,
            &mut self.fdep,
            &mut self.bdep,
        ] {
            if v.len() < bound {
                v.resize(bound, 0);
            }
        }
        let mut fq = vec![start];
        let mut bq = vec![target];
        self.fwd[start.index()] = epoch;
        self.fdep[start.index()] = 0;
        self.bwd[target.index()] = epoch;
        self.bdep[target.index()] = 0;
        let mut next = Vec::new();
        let (mut fwork, mut bwork) = (0usize, 0usize);
        while !fq.is_empty() && !bq.is_empty() {
            let forward = fwork <= bwork;
            if forward {
                fwork += fq.len();
            } else {
                bwork += bq.len();
            }
            let (queue, dir) = if forward {
                (&mut fq, Direction::Outgoing)
            } else {
                (&mut bq, Direction::Incoming)
            };
            next.clear();
            // (length, node on this side, node on the other side, the edge
            // between them)
            let mut best: Option<(u32, usize, usize, EdgeId)> = None;
            for &n in queue.iter() {
                let ni = n.index();
                for e in self.g.edges_directed(n, dir) {
                    let m = if forward { e.target() } else { e.source() };
                    let mi = m.index();
                    let (mine, other, par, dep, odep) = if forward {
                        (
                            &mut self.fwd,
                            &self.bwd,
                            &mut self.fpar,
                            &mut self.fdep,
                            &self.bdep,
                        )
                    } else {
                        (
                            &mut self.bwd,
                            &self.fwd,
                            &mut self.bpar,
                            &mut self.bdep,
                            &self.fdep,
                        )
                    };
                    if other[mi] == epoch {
                        let len = dep[ni] + 1 + odep[mi];
                        if best.is_none_or(|b| len < b.0) {
                            best = Some((len, ni, mi, e.id()));
                        }
                    }
                    if mine[mi] != epoch {
                        mine[mi] = epoch;
                        par[mi] = e.id().index() as u32;
                        dep[mi] = dep[ni] + 1;
                        next.push(m);
                    }
                }
            }
            if let Some((_, here, there, middle)) = best {
                // Forward: start..here -> there..target; backward: the mirror.
                let (f_end, b_start) = if forward {
                    (here, there)
                } else {
                    (there, here)
                };
                // Its length: the depths on both sides, and the middle edge.
                let room = (self.fdep[f_end] + 1 + self.bdep[b_start]) as usize;
                let mut walk = self.walk_back(&self.fpar, start, NodeIndex::new(f_end), room);
                walk.edges.push(middle);
                let mut cur = NodeIndex::new(b_start);
                walk.nodes.push(cur);
                while cur != target {
                    let e = EdgeIndex::new(self.bpar[cur.index()] as usize);
                    cur = self.g.edge_endpoints(e)?.1;
                    walk.edges.push(e);
                    walk.nodes.push(cur);
                }
                return Some(walk);
            }
            std::mem::swap(queue, &mut next);
        }
        None
    }

    /// The path `start ->* end` a forward search marked in `par` (each
    /// node's edge in), read back from `end`, with room for `room` edges in
    /// all (it grows past them as needed).
    pub(crate) fn walk_back(&self, par: &[u32], start: NodeId, end: NodeId, room: usize) -> Walk {
        let mut walk = Walk {
            nodes: Vec::with_capacity(room + 1),
            edges: Vec::with_capacity(room),
        };
        walk.nodes.push(end);
        let mut cur = end;
        while cur != start {
            let e = EdgeIndex::new(par[cur.index()] as usize);
            let Some((tail, _)) = self.g.edge_endpoints(e) else {
                break;
            };
            cur = tail;
            walk.edges.push(e);
            walk.nodes.push(cur);
        }
        walk.nodes.reverse();
        walk.edges.reverse();
        walk
    }
}

/// A path: its nodes, and the edge from each to the next.
pub(crate) struct Walk {
    pub(crate) nodes: Vec<NodeId>,
    pub(crate) edges: Vec<EdgeId>,
}
