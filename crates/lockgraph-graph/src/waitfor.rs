//! Cycles in a small wait-for graph: "this waits for that", over nodes the
//! caller names (threads in a watchdog snapshot, streams and locks in the
//! CUDA model), with the edges given by a function.
//!
//! No kinds, no gates: a wait-for edge is a wait that is happening (or, in
//! the CUDA model, one that must happen), so any cycle of them is a deadlock.
//! The graphs are small (the threads of one process, the items of one
//! model), so a breadth-first search from each node is enough, and it finds
//! the *shortest* cycle through it, which is the one a report should show.
//!
//! ```
//! use lockgraph_graph::waitfor::{cycles, shortest_cycle_from};
//!
//! // 0 waits for 1, 1 for 2, 2 for 0; 3 waits for 0 but is on no cycle.
//! let waits = [vec![1], vec![2], vec![0], vec![0]];
//! let succ = |n: usize| waits[n].iter().map(|&m| (m, ()));
//! let c = shortest_cycle_from(1, succ).unwrap();
//! assert_eq!(c.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [1, 2, 0]);
//! assert_eq!(cycles(0..4, succ), vec![vec![0, 1, 2]]);
//! ```

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;

/// The shortest cycle through `start`, following `successors(n)` (each
/// successor with the edge's label), as `(node, edge leaving it)` pairs in
/// cycle order from `start`: the last edge leads back to `start`. `None`
/// when no cycle goes through `start` (a node that waits for a cycle it is
/// not on has none). A self edge is a cycle of one.
pub fn shortest_cycle_from<N, E, I>(
    start: N,
    mut successors: impl FnMut(N) -> I,
) -> Option<Vec<(N, E)>>
where
    N: Copy + Eq + Hash,
    I: IntoIterator<Item = (N, E)>,
{
    let mut prev: HashMap<N, (N, E)> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    let mut seen = HashSet::from([start]);
    while let Some(n) = queue.pop_front() {
        for (to, e) in successors(n) {
            if to == start {
                let mut path = vec![(n, e)];
                let mut cur = n;
                while cur != start {
                    let (p, pe) = prev.remove(&cur)?;
                    path.push((p, pe));
                    cur = p;
                }
                path.reverse();
                return Some(path);
            }
            if seen.insert(to) {
                prev.insert(to, (n, e));
                queue.push_back(to);
            }
        }
    }
    None
}

/// Cycles of the graph over `nodes`: for each node, in the order given,
/// that is on no cycle found so far, the shortest cycle through it. Each
/// cycle is rotated to start at its smallest node. Every node that lies on
/// some cycle is on one of those returned; two returned cycles may share
/// nodes only when neither could be found without the other's node first.
pub fn cycles<N, E, I>(
    nodes: impl IntoIterator<Item = N>,
    mut successors: impl FnMut(N) -> I,
) -> Vec<Vec<N>>
where
    N: Copy + Eq + Hash + Ord,
    I: IntoIterator<Item = (N, E)>,
{
    let mut covered: HashSet<N> = HashSet::new();
    let mut out = Vec::new();
    for n in nodes {
        if covered.contains(&n) {
            continue;
        }
        let Some(c) = shortest_cycle_from(n, &mut successors) else {
            continue;
        };
        let mut c: Vec<N> = c.into_iter().map(|(n, _)| n).collect();
        let min = c
            .iter()
            .enumerate()
            .min_by_key(|(_, x)| **x)
            .map_or(0, |(i, _)| i);
        c.rotate_left(min);
        covered.extend(c.iter().copied());
        out.push(c);
    }
    out
}

/// How a waiting node waits for the nodes it waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Every one of them must go on (a lock's holders: a write waits for
    /// every reader; a barrier's parties not yet arrived).
    All,
    /// Any one of them going on may end the wait (a permit any holder can
    /// give back, a full queue any of its consumers can drain).
    Any,
}

/// The nodes that can never go on: what is left of `nodes` once every
/// node that can go on is taken out, over and over (the reduction of a
/// wait-for graph whose waits are ANDs and ORs). A node that does not wait
/// (`waits` gives `None`) goes on; one that waits for [`Need::All`] of its
/// successors goes on once every one of them does (at once, for none), one
/// that waits for [`Need::Any`] once one of them does (never, for none: a
/// wait nobody known can end, a condvar's, is given so); a successor that
/// is not among `nodes` goes on. A cycle of stuck nodes is a deadlock; a
/// cycle with a node that goes on is not (a permit holder on the cycle
/// whose permit another, running holder can replace).
///
/// ```
/// use lockgraph_graph::waitfor::{stuck, Need};
///
/// // 0 waits for a permit held by 1 and 2; 1 waits for a lock 0 holds;
/// // 2 runs (it will give its permit back): nobody is stuck.
/// let waits = |n: usize| match n {
///     0 => Some((Need::Any, vec![1, 2])),
///     1 => Some((Need::All, vec![0])),
///     _ => None,
/// };
/// assert!(stuck(0..3, waits).is_empty());
/// // With 2 waiting for 0 too, all three are.
/// let waits = |n: usize| match n {
///     0 => Some((Need::Any, vec![1, 2])),
///     _ => Some((Need::All, vec![0])),
/// };
/// assert_eq!(stuck(0..3, waits).len(), 3);
/// ```
pub fn stuck<N, I>(
    nodes: impl IntoIterator<Item = N>,
    mut waits: impl FnMut(N) -> Option<(Need, I)>,
) -> HashSet<N>
where
    N: Copy + Eq + Hash,
    I: IntoIterator<Item = N>,
{
    let mut waiting: Vec<(N, Need, Vec<N>)> = nodes
        .into_iter()
        .filter_map(|n| {
            let (need, on) = waits(n)?;
            let on: Vec<N> = on.into_iter().collect();
            (need == Need::Any || !on.is_empty()).then_some((n, need, on))
        })
        .collect();
    let mut left: HashSet<N> = waiting.iter().map(|(n, _, _)| *n).collect();
    loop {
        let before = waiting.len();
        waiting.retain(|(n, need, on)| {
            let goes_on = |m: &N| !left.contains(m);
            let free = match need {
                Need::All => on.iter().all(goes_on),
                Need::Any => on.iter().any(goes_on),
            };
            if free {
                left.remove(n);
            }
            !free
        });
        if waiting.len() == before {
            return left;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_and_wait_is_stuck_behind_one_stuck_node_an_or_wait_only_behind_all() {
        // 0 <-> 1 a cycle of lock waits; 2 waits for all of 0 and 3 (3
        // runs); 4 waits for any of 0 and 3; 5 waits for any of 0 and 1.
        let waits = |n: usize| match n {
            0 => Some((Need::All, vec![1])),
            1 => Some((Need::All, vec![0])),
            2 => Some((Need::All, vec![0, 3])),
            4 => Some((Need::Any, vec![0, 3])),
            5 => Some((Need::Any, vec![0, 1])),
            _ => None,
        };
        let s = stuck(0..6, waits);
        assert_eq!(s, HashSet::from([0, 1, 2, 5]));
        // A wait for nobody, or for a node outside the graph, goes on; a
        // wait that nobody known can end (any of none) does not.
        let s = stuck(0..2, |n: usize| {
            Some((Need::All, if n == 0 { vec![] } else { vec![9] }))
        });
        assert!(s.is_empty());
        let s = stuck(0..2, |n: usize| {
            Some((Need::Any, if n == 0 { vec![] } else { vec![0] }))
        });
        assert_eq!(s, HashSet::from([0, 1]));
    }

    fn of(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
        cycles(0..edges.len(), |n| edges[n].iter().map(|&m| (m, ())))
    }

    #[test]
    fn two_and_three_node_cycles_and_self_waits_are_found() {
        assert_eq!(of(&[vec![1], vec![0]]), vec![vec![0, 1]]);
        assert_eq!(
            of(&[vec![2], vec![0], vec![1], vec![]]),
            vec![vec![0, 2, 1]]
        );
        assert_eq!(of(&[vec![0]]), vec![vec![0]]);
        // A chain that ends is no cycle.
        assert!(of(&[vec![1], vec![2], vec![]]).is_empty());
        // Two separate cycles, and a node waiting on one of them.
        assert_eq!(
            of(&[vec![1], vec![0], vec![3], vec![2], vec![0]]),
            vec![vec![0, 1], vec![2, 3]]
        );
        // Several out-edges, one closes the cycle.
        assert_eq!(of(&[vec![1, 2], vec![], vec![0]]), vec![vec![0, 2]]);
    }

    #[test]
    fn the_shortest_cycle_through_the_start_is_chosen() {
        // 0 -> 1 -> 2 -> 3 -> 0 and the shortcut 1 -> 3.
        let edges = [vec![1], vec![2, 3], vec![3], vec![0]];
        let c = shortest_cycle_from(0, |n: usize| edges[n].iter().map(move |&m| (m, (n, m))));
        let c = c.unwrap();
        assert_eq!(c, vec![(0, (0, 1)), (1, (1, 3)), (3, (3, 0))]);
        // Node 2 is only on the long cycle.
        let c = shortest_cycle_from(2, |n: usize| edges[n].iter().map(|&m| (m, ()))).unwrap();
        assert_eq!(c.len(), 4);
    }

    /// Brute force: whether `n` lies on some cycle.
    fn on_a_cycle(edges: &[Vec<usize>], n: usize) -> bool {
        let mut seen = vec![false; edges.len()];
        let mut stack = edges[n].clone();
        while let Some(m) = stack.pop() {
            if m == n {
                return true;
            }
            if !std::mem::replace(&mut seen[m], true) {
                stack.extend(&edges[m]);
            }
        }
        false
    }

    #[test]
    fn every_node_on_a_cycle_is_covered_and_every_cycle_is_real() {
        // A small deterministic sweep of graphs (a linear congruential
        // generator): 5 nodes, up to 8 edges.
        let mut x: u64 = 7;
        let mut next = |m: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % m
        };
        for _ in 0..500 {
            let mut edges = vec![Vec::new(); 5];
            for _ in 0..next(9) {
                let (a, b) = (next(5) as usize, next(5) as usize);
                if !edges[a].contains(&b) {
                    edges[a].push(b);
                }
            }
            let found = of(&edges);
            for c in &found {
                for i in 0..c.len() {
                    assert!(
                        edges[c[i]].contains(&c[(i + 1) % c.len()]),
                        "{edges:?}: {c:?}"
                    );
                }
            }
            for n in 0..5 {
                let covered = found.iter().any(|c| c.contains(&n));
                assert_eq!(
                    covered,
                    on_a_cycle(&edges, n),
                    "{edges:?}: node {n}, {found:?}"
                );
            }
        }
    }
}
