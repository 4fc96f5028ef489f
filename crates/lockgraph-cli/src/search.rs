//! The deadlock rule over the class graph: which closed walks can deadlock,
//! and a breadth-first search for the shortest one through a given edge.
//!
//! The rule is the runtime's (`lockgraph-graph`, lockdep's): a walk of
//! lock-order edges is a deadlock only when it is a *strong path* (an edge
//! that ends in a recursive read is never followed by one that starts from a
//! shared hold: a recursive reader never waits for another reader) and no
//! *gate* lock was held across every one of its edges. The search runs over
//! states (class, arrived by a recursive read, gates of the first edge still
//! common), like `lockgraph_graph::Graph::cycle_through`, but on the
//! compressed graph with dense visit marks, a caller-supplied set of classes
//! it may visit, and a step budget shared by every search of one check.

use std::collections::HashMap;

use lockgraph_graph::EdgeKinds;

use crate::graph::ClassGraph;

/// Only the first this many gates of the first edge are tracked exactly
/// (as in `lockgraph-graph`): a gate past them is treated as absent, which
/// can only add reports, never hide one.
const TRACKED_GATES: usize = 32;

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
fn step_kind(kinds: EdgeKinds, recursive: bool) -> Option<EdgeKinds> {
    kinds.strong_step(recursive)
}

/// The bits of `mask` (over `tracked`) whose gate `gates` also holds.
fn keep_gates(mask: u32, tracked: &[u64], gates: &[u64]) -> u32 {
    let mut mask = mask;
    let mut bits = mask;
    while bits != 0 {
        let i = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        if gates.binary_search(&tracked[i]).is_err() {
            mask &= !(1 << i);
        }
    }
    mask
}

fn full_mask(tracked: &[u64]) -> u32 {
    if tracked.len() >= 32 {
        u32::MAX
    } else {
        (1u32 << tracked.len()) - 1
    }
}

/// A search state: class, arrived by a recursive read, gates still common.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct State {
    node: u32,
    recursive: bool,
    mask: u32,
}

impl State {
    /// The slot in the dense arrays (states whose mask is empty).
    fn dense(self) -> usize {
        self.node as usize * 2 + usize::from(self.recursive)
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
    /// States with gates still common: few, kept in a map.
    masked: HashMap<State, Parent>,
    layer: Vec<State>,
    next: Vec<State>,
    /// Steps (edges looked at) left for every search of this searcher.
    pub(crate) budget: u64,
}

impl<'g, 'm> Searcher<'g, 'm> {
    /// A searcher over `g` that may take `budget` steps in all.
    pub(crate) fn new(g: &'g ClassGraph<'m>, budget: u64) -> Searcher<'g, 'm> {
        let slots = g.nodes() * 2;
        let none = Parent {
            state: State {
                node: ROOT,
                recursive: false,
                mask: 0,
            },
            edge: ROOT,
        };
        Searcher {
            g,
            seen: vec![0; slots],
            parent: vec![none; slots],
            epoch: 0,
            masked: HashMap::new(),
            layer: Vec::new(),
            next: Vec::new(),
            budget,
        }
    }

    fn next_epoch(&mut self) -> u32 {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.seen.iter_mut().for_each(|s| *s = 0);
            self.epoch = 1;
        }
        self.masked.clear();
        self.epoch
    }

    /// Marks `s` reached from `p`; false when it was already reached.
    fn visit(&mut self, s: State, p: Parent, epoch: u32) -> bool {
        if s.mask == 0 {
            let i = s.dense();
            if self.seen[i] == epoch {
                return false;
            }
            self.seen[i] = epoch;
            self.parent[i] = p;
            true
        } else {
            match self.masked.entry(s) {
                std::collections::hash_map::Entry::Occupied(_) => false,
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(p);
                    true
                }
            }
        }
    }

    fn parent_of(&self, s: State) -> Parent {
        if s.mask == 0 {
            self.parent[s.dense()]
        } else {
            self.masked[&s]
        }
    }

    /// The shortest closed walk through edge `e0` (from `u` to `v`) that
    /// can deadlock, of at most `max_len` edges, visiting only classes for
    /// which `inside` is true (`u` and `v` included). With `rules` false the
    /// read-lock and gate rules are ignored (the plain shortest cycle).
    pub(crate) fn through(
        &mut self,
        e0: usize,
        max_len: usize,
        inside: &[bool],
        rules: bool,
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
            match self.through_with(e0, k0, limit, inside, rules) {
                Found::Walk(w) => best = Some(w),
                Found::Nothing => {}
                Found::OverBudget => return Found::OverBudget,
            }
        }
        best.map_or(Found::Nothing, Found::Walk)
    }

    fn through_with(
        &mut self,
        e0: usize,
        k0: EdgeKinds,
        max_len: usize,
        inside: &[bool],
        rules: bool,
    ) -> Found {
        let g = self.g;
        let (from, to) = (g.source(e0), g.target(e0));
        let gates = g.gates(e0);
        let tracked: &[u64] = if rules {
            &gates[..gates.len().min(TRACKED_GATES)]
        } else {
            &[]
        };
        let start = State {
            node: to as u32,
            recursive: rules && !k0.ends_non_recursive(),
            mask: full_mask(tracked),
        };
        let accept = |s: &State| s.mask == 0 && (!s.recursive || k0.starts_exclusive());
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
                    if accept(&s) {
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
                    let (recursive, mask) = if rules {
                        let Some(used) = step_kind(g.kinds(e), s.recursive) else {
                            continue;
                        };
                        let mask = if s.mask == 0 {
                            0
                        } else {
                            keep_gates(s.mask, tracked, g.gates(e))
                        };
                        (!used.ends_non_recursive(), mask)
                    } else {
                        (false, 0)
                    };
                    let n = State {
                        node: t as u32,
                        recursive,
                        mask,
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
/// kind of the first edge starts a strong path around it, and no tracked
/// gate of the first edge is common to all of them.
pub(crate) fn can_deadlock(g: &ClassGraph<'_>, edges: &[usize]) -> bool {
    let Some(&e0) = edges.first() else {
        return false;
    };
    let gates = g.gates(e0);
    let tracked = &gates[..gates.len().min(TRACKED_GATES)];
    'k0: for k0 in g.kinds(e0).iter() {
        let mut recursive = !k0.ends_non_recursive();
        let mut mask = full_mask(tracked);
        for &e in &edges[1..] {
            let Some(used) = step_kind(g.kinds(e), recursive) else {
                continue 'k0;
            };
            mask = keep_gates(mask, tracked, g.gates(e));
            recursive = !used.ends_non_recursive();
        }
        if mask == 0 && (!recursive || k0.starts_exclusive()) {
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
        assert_eq!(step_kind(all, false), Some(EdgeKinds::EN));
        assert_eq!(step_kind(EdgeKinds::SR, false), Some(EdgeKinds::SR));
        // After a recursive read only exclusive holds may follow.
        assert_eq!(step_kind(EdgeKinds::SR, true), None);
        assert_eq!(
            step_kind(EdgeKinds::SN.union(EdgeKinds::ER), true),
            Some(EdgeKinds::ER)
        );
    }

    #[test]
    fn gates_drop_out_of_the_mask_when_an_edge_lacks_them() {
        let tracked = [3, 7, 9];
        assert_eq!(keep_gates(0b111, &tracked, &[3, 9]), 0b101);
        assert_eq!(keep_gates(0b100, &tracked, &[1]), 0);
        assert_eq!(full_mask(&tracked), 0b111);
        assert_eq!(full_mask(&[0; 40]), u32::MAX);
    }
}
