//! The model's lock-order graph: edges with their gates, and the search
//! for deadlock-capable cycles and walks through a changed edge.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

/// One lock-order graph of the model: each edge with the gates common to
/// all its recordings.
#[derive(Default)]
pub(crate) struct Graph {
    pub(crate) edges: BTreeMap<(u64, u64), BTreeSet<u64>>,
}

impl Graph {
    /// Records `from -> to` under `gates`; whether the edge changed (new,
    /// or a gate lost).
    pub(crate) fn record(&mut self, from: u64, to: u64, gates: &BTreeSet<u64>) -> bool {
        match self.edges.get_mut(&(from, to)) {
            None => {
                self.edges.insert((from, to), gates.clone());
                true
            }
            Some(common) => {
                let before = common.len();
                common.retain(|g| gates.contains(g));
                common.len() != before
            }
        }
    }

    /// The same edges without gates.
    pub(crate) fn ungated(&self) -> Graph {
        Graph {
            edges: self.edges.keys().map(|&e| (e, BTreeSet::new())).collect(),
        }
    }

    /// Removes `node` and its edges.
    pub(crate) fn forget(&mut self, node: u64) {
        self.edges.retain(|&(a, b), _| a != node && b != node);
    }

    pub(crate) fn successors(&self, node: u64) -> impl Iterator<Item = (u64, &BTreeSet<u64>)> {
        self.edges
            .range((node, 0)..=(node, u64::MAX))
            .map(|(&(_, b), gates)| (b, gates))
    }

    /// Whether the closed walk `nodes` (edge i from `nodes[i]` to the
    /// next, wrapping) is in the graph with no gate held on two of its
    /// edges (an edge taken twice holds its gates twice): each edge is a
    /// thread holding its gates while it waits, and no two threads hold
    /// one lock.
    pub(crate) fn deadlock_capable(&self, nodes: &[u64]) -> bool {
        let mut held = BTreeSet::new();
        for (i, &a) in nodes.iter().enumerate() {
            let b = nodes[(i + 1) % nodes.len()];
            let Some(gates) = self.edges.get(&(a, b)) else {
                return false;
            };
            if !gates.iter().all(|&g| held.insert(g)) {
                return false;
            }
        }
        !nodes.is_empty()
    }

    /// The length (in locks) of the shortest deadlock-capable simple cycle
    /// through `from -> to`.
    pub(crate) fn shortest_simple(&self, from: u64, to: u64) -> Option<usize> {
        fn search(g: &Graph, path: &mut Vec<u64>, best: &mut Option<usize>) {
            if best.is_some_and(|b| b <= path.len()) {
                return;
            }
            let last = *path.last().unwrap();
            let next: Vec<u64> = g.successors(last).map(|(n, _)| n).collect();
            for n in next {
                if n == path[0] {
                    if g.deadlock_capable(path) {
                        *best = Some(path.len());
                    }
                } else if !path.contains(&n) {
                    path.push(n);
                    search(g, path, best);
                    path.pop();
                }
            }
        }
        let mut best = None;
        search(self, &mut vec![from, to], &mut best);
        best
    }

    /// The length of the shortest deadlock-capable closed walk through
    /// `from -> to`, any lock repeated: a breadth-first search over (lock,
    /// gates held on the walk so far).
    pub(crate) fn shortest_walk(&self, from: u64, to: u64) -> Option<usize> {
        let start = (to, self.edges.get(&(from, to))?.clone());
        let mut seen = HashSet::from([start.clone()]);
        let mut queue = VecDeque::from([(start, 1usize)]);
        while let Some(((node, held), len)) = queue.pop_front() {
            for (n, gates) in self.successors(node) {
                if !held.is_disjoint(gates) {
                    continue;
                }
                if n == from {
                    return Some(len + 1);
                }
                let h: BTreeSet<u64> = held.union(gates).copied().collect();
                if seen.insert((n, h.clone())) {
                    queue.push_back(((n, h), len + 1));
                }
            }
        }
        None
    }

    /// Whether a deadlock-capable closed walk through `from -> to` of at
    /// most `max` locks has its locks (sorted) in `reported`.
    pub(crate) fn reported_walk(
        &self,
        from: u64,
        to: u64,
        max: usize,
        reported: &HashSet<Vec<u64>>,
    ) -> bool {
        fn search(g: &Graph, path: &mut Vec<u64>, max: usize, r: &HashSet<Vec<u64>>) -> bool {
            if g.deadlock_capable(path) && r.contains(&sorted(path)) {
                return true;
            }
            if path.len() >= max {
                return false;
            }
            let last = *path.last().unwrap();
            let next: Vec<u64> = g.successors(last).map(|(n, _)| n).collect();
            next.into_iter().any(|n| {
                path.push(n);
                let found = search(g, path, max, r);
                path.pop();
                found
            })
        }
        search(self, &mut vec![from, to], max, reported)
    }
}

pub(crate) fn sorted(nodes: &[u64]) -> Vec<u64> {
    let mut v = nodes.to_vec();
    v.sort_unstable();
    v
}
